"""``--json`` on the commands that return data, ``model verify --json``'s one shape, and the header
row of ``model ls`` (real subprocesses; set-up that is not under test goes through the Python API)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlwarden
from mlwarden.config import Settings

Proc = subprocess.CompletedProcess[bytes]


def as_json(proc: Proc) -> Any:
    return json.loads(proc.stdout)


@contextlib.contextmanager
def opened(ws: Any, token: str | None = None) -> Iterator[mlwarden.Workspace]:
    settings = Settings(home=ws.home, master_key=ws.master_key)
    with mlwarden.Workspace.open(settings=settings, token=token) as workspace:
        yield workspace


def tiny_model() -> bytes:
    from sklearn.linear_model import LogisticRegression

    from mlwarden import models

    return models.dumps(LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], [0, 1, 1, 0]))


def test_data_rm_gc_and_import_fernet_json(workspace: Any, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    ws = workspace
    key = Fernet.generate_key()
    (tmp_path / "secret.key").write_bytes(key)
    (tmp_path / "scores.csv.enc").write_bytes(Fernet(key).encrypt(b"id,score\n1,0.5\n2,0.7\n"))
    imported = as_json(
        ws.ok("data", "import-fernet", "scores.csv.enc", "--key", "secret.key", "--name", "scores", "--json")
    )
    assert (imported["ref"], imported["format"], imported["rows"], imported["created"]) == ("scores@1", "csv", 2, True)
    assert (imported["tags"]["origin"], imported["tags"]["origin.file"]) == ("fernet", "scores.csv.enc")
    assert len(imported["sha256"]) == 64

    objects = [p for p in (ws.home / "objects").glob("*/*") if p.is_file()]
    orphan = objects[0].parent.parent / "ab" / ("ab" + "0" * 30)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(objects[0].read_bytes())
    assert as_json(ws.ok("data", "gc", "--yes", "--json")) == {"removed": [orphan.name]}
    assert not orphan.exists()

    shredded = as_json(ws.ok("data", "rm", "scores@1", "--shred", "--json"))
    assert (shredded["ref"], shredded["shredded"], shredded["sha256"]) == ("scores@1", True, imported["sha256"])
    assert shredded["shredded_at"]
    assert shredded["shredded_by"]


def test_keys_destroy_json(workspace: Any) -> None:
    workspace.ok("keys", "rotate")
    assert as_json(workspace.ok("keys", "destroy", "1", "--yes", "--json")) == {"destroyed": 1}
    assert [v["version"] for v in as_json(workspace.ok("keys", "ls", "--json"))["versions"]] == [2]


def test_user_revoke_suspend_resume_json(workspace: Any) -> None:
    ws = workspace
    ws.ok("user", "add", "bob", "--role", "scientist")
    suspended = as_json(ws.ok("user", "suspend", "bob", "--reason", "on leave", "--json"))
    assert (suspended["name"], suspended["state"], suspended["suspended_reason"]) == ("bob", "suspended", "on leave")
    resumed = as_json(ws.ok("user", "resume", "bob", "--json"))
    assert (resumed["state"], resumed["suspended"]) == ("active", None)
    revoked = as_json(ws.ok("user", "revoke", "bob", "--json"))
    assert (revoked["state"], revoked["token_id"]) == ("revoked", suspended["token_id"])
    assert revoked["revoked"]


def test_model_promote_export_sign_verify_json_and_ls_header(workspace: Any, tmp_path: Path) -> None:
    ws = workspace
    with opened(ws) as admin:
        admin.models.register("m", tiny_model())
        _, reviewer = admin.users.add("rita", "reviewer")
    with opened(ws, reviewer) as rita:
        rita.models.approve("m", 1)

    header, *rows = ws.ok("model", "ls").stdout.decode().splitlines()
    assert header.split() == ["MODEL", "STAGE", "APPROVED", "SIZE", "SHA256", "CREATED", "AUC"]
    assert len(rows) == 1
    assert rows[0].split()[:3] == ["m@1", "none", "rita"]

    promoted = as_json(ws.ok("model", "promote", "m@1", "--stage", "production", "--json"))
    assert (promoted["name"], promoted["version"], promoted["stage"]) == ("m", 1, "production")

    exported = as_json(ws.ok("model", "export", "m@1", "-o", "out", "--json"))
    assert exported == {"path": "out/m.skops", "signature": "out/m.skops.sig"}
    assert (tmp_path / "out" / "m.skops").is_file()

    (tmp_path / "w.bin").write_bytes(b"weights")
    signed = as_json(ws.ok("model", "sign", "w.bin", "--json"))
    assert (signed["path"], signed["signature"]) == ("w.bin", "w.bin.sig")
    assert (tmp_path / "w.bin.sig").is_file()

    # model verify --json: one shape for the file form and the registry form
    by_file = as_json(ws.ok("model", "verify", "out/m.skops", "--json"))
    by_name = as_json(ws.ok("model", "verify", "m@1", "--json"))
    assert set(by_file) == set(by_name)
    assert (by_file["path"], by_file["model"]) == ("out/m.skops", None)
    assert (by_name["path"], by_name["model"]) == (None, "m@1")
    for key in ("verified", "model_name", "sha256", "root_digest", "key_id", "files"):
        assert by_file[key] == by_name[key], key
    assert by_name["sha256"] == promoted["sha256"]
    assert by_name["files"] == [{"name": ".", "sha256": promoted["sha256"]}]
    assert signed["key_id"] == by_name["key_id"]  # the one active key signed both
