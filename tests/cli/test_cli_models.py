"""End-to-end tests of ``mlwarden model ...`` and ``mlwarden train`` (real subprocesses): scanning,
signing and verifying files and folders, the registry (train, info, ls, promote, export), the
model-signing keys, access by role and scope, and the exit codes 0/1/2/3 with one-line errors.

The main scenario trains once (a scientist, through the CLI) and reuses that model for the rest
of the story; each CLI call costs about half a second, so set-up that is not under test (users,
extra registered models) goes through the Python API on the same workspace.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import mlwarden
from mlwarden.config import Settings
from mlwarden.usecases import GERMAN_CREDIT_SHA256, german_credit_csv

Proc = subprocess.CompletedProcess[bytes]
ErrorCheck = Callable[..., str]
Show = Callable[[Proc], str]
MODEL_SIGNING = Path(sys.executable).with_name("model_signing")


# ------------------------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def opened(ws: Any, token: str | None = None) -> Iterator[mlwarden.Workspace]:
    """The CLI's workspace, opened in this process (for set-up and for reading the audit log)."""
    settings = Settings(home=ws.home, master_key=ws.master_key)
    with mlwarden.Workspace.open(settings=settings, token=token) as workspace:
        yield workspace


def tiny_model(c: float = 1.0) -> bytes:
    from sklearn.linear_model import LogisticRegression

    from mlwarden import models

    return models.dumps(LogisticRegression(C=c).fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], [0, 1, 1, 0]))


def as_json(proc: Proc) -> Any:
    return json.loads(proc.stdout)


def flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    path.write_bytes(bytes(data))


def foreign_pem(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    path.write_bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


class _Evil:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.canary}",))


# --------------------------------------------------------------------------------------------- scan


def test_model_scan_exit_codes(bare_cli: Any, tmp_path: Path, check_error: ErrorCheck, show: Show) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    from mlwarden import models

    fitted = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    models.save(fitted, tmp_path / "clean.skops")
    joblib.dump(fitted, tmp_path / "clean.joblib")
    canary = tmp_path / "canary"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Evil(canary), protocol=4))
    (tmp_path / "notes.bin").write_bytes(b"just text, not a model\n")
    (tmp_path / "broken.skops").write_bytes((tmp_path / "clean.skops").read_bytes()[:-300])

    clean = bare_cli.run("model", "scan", "clean.skops", "clean.joblib")
    assert clean.returncode == 0, show(clean)
    lines = clean.stdout.decode().splitlines()
    assert [line.split()[0] for line in lines] == ["clean.skops", "clean.joblib"]
    assert all(line.endswith("clean") for line in lines)
    assert "no findings" in clean.stderr.decode()

    evil = bare_cli.run("model", "scan", "evil.pkl", "clean.skops", "--json")
    assert evil.returncode == 1, show(evil)
    report = as_json(evil)
    assert report["exit_code"] == 1
    bad, good = report["files"]
    assert good["findings"] == []
    assert bad["format"] == "pickle"
    finding = next(f for f in bad["findings"] if f["severity"] == "CRITICAL")
    assert "system" in finding["name"]
    assert isinstance(finding["offset"], int)
    assert finding["offset"] >= 0
    assert report["summary"]["findings"]["CRITICAL"] >= 1
    assert not canary.exists()
    text = bare_cli.run("model", "scan", "evil.pkl")
    assert text.returncode == 1, show(text)
    assert b"CRITICAL" in text.stdout

    for unscannable in ("notes.bin", "broken.skops"):
        proc = bare_cli.run("model", "scan", unscannable, "--json")
        assert proc.returncode == 2, show(proc)
        (scanned,) = as_json(proc)["files"]
        assert scanned["error"]
        assert b"Traceback" not in proc.stderr
    # findings win over a file that could not be scanned (a gate reading 2 as a usage error must not
    # pass a folder of malicious files), and the unscanned file is still reported
    mixed = bare_cli.run("model", "scan", "evil.pkl", "notes.bin")
    assert mixed.returncode == 1, show(mixed)
    out = mixed.stdout.decode()
    assert "CRITICAL" in out
    assert "notes.bin" in out
    assert "ERROR" in out
    assert "1 not scanned" in mixed.stderr.decode()
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("evil.pkl", "notes.bin", "clean.skops"):
        (folder / name).write_bytes((tmp_path / name).read_bytes())
    mixed_json = bare_cli.run("model", "scan", "folder", "--json")
    assert mixed_json.returncode == 1, show(mixed_json)
    report = as_json(mixed_json)
    assert report["exit_code"] == 1
    assert report["summary"]["errors"] == 1
    assert report["summary"]["findings"]["CRITICAL"] >= 1
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["notes.bin"]["error"]
    assert by_name["clean.skops"]["error"] is None

    check_error(bare_cli.run("model", "scan", "absent.pkl"), 2, "absent.pkl", "does not exist")


# ------------------------------------------------------------------------------------ sign, verify


def test_sign_and_verify_a_folder(workspace: Any, tmp_path: Path, check_error: ErrorCheck, show: Show) -> None:
    ws = workspace
    folder = tmp_path / "model"
    (folder / "weights").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}\n')
    (folder / "weights" / "a.bin").write_bytes(os.urandom(5000))
    (folder / "tokenizer.txt").write_text("hello\n")
    (tmp_path / "prov.json").write_text('{"run": "r-17", "params": {"lr": 0.1}}')

    signed = ws.run("model", "sign", "model", "--provenance", "prov.json")
    assert signed.returncode == 0, show(signed)
    assert (tmp_path / "model.sig").is_file()
    assert "model.sig" in signed.stderr.decode()
    verified = ws.run("model", "verify", "model", "--json")
    assert verified.returncode == 0, show(verified)
    report = as_json(verified)
    assert report["verified"] is True
    assert [f["name"] for f in report["files"]] == ["config.json", "tokenizer.txt", "weights/a.bin"]
    assert report["provenance"]["run"] == "r-17"
    assert report["provenance"]["params"] == {"lr": 0.1}
    assert report["provenance"]["signed_by"]
    public = ws.ok("model", "public-key", "-o", "pub.pem")
    assert (tmp_path / "pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert public.stdout == b""
    assert ws.ok("model", "public-key").stdout == (tmp_path / "pub.pem").read_bytes()
    ok = ws.run("model", "verify", "model", "--key", "pub.pem")
    assert ok.returncode == 0, show(ok)

    # every change to the folder fails verification, and undoing it verifies again
    def refused(*needles: str) -> None:
        check_error(ws.run("model", "verify", "model", "--key", "pub.pem"), 3, *needles)

    extra = folder / "weights" / "b.bin"
    extra.write_bytes(b"added")
    refused("weights/b.bin")
    extra.unlink()
    removed = (folder / "tokenizer.txt").read_bytes()
    (folder / "tokenizer.txt").unlink()
    refused("tokenizer.txt")
    (folder / "tokenizer.txt").write_bytes(removed)
    (folder / "config.json").rename(folder / "config2.json")
    refused("config")
    (folder / "config2.json").rename(folder / "config.json")
    flip(folder / "weights" / "a.bin")
    refused("weights/a.bin")
    flip(folder / "weights" / "a.bin")
    assert ws.run("model", "verify", "model").returncode == 0  # back as signed, with the workspace's key

    check_error(ws.run("model", "verify", "model", "--key", foreign_pem(tmp_path / "other.pem")), 3)
    check_error(ws.run("model", "verify", "elsewhere"), 2, "elsewhere")  # neither a file nor a model

    # -o writes elsewhere; a signature inside the folder is left out of what it signs
    ws.ok("model", "sign", "model", "-o", "sigs.json")
    assert (tmp_path / "sigs.json").is_file()
    assert (tmp_path / "model.sig").read_bytes() != (tmp_path / "sigs.json").read_bytes()
    (tmp_path / "model.sig").unlink()
    check_error(ws.run("model", "verify", "model"), 3, "no signature", "model.sig")
    assert ws.run("model", "verify", "model", "--signature", "sigs.json").returncode == 0
    ws.ok("model", "sign", "model", "-o", "model/model.sig")
    inside = ws.run("model", "verify", "model", "--signature", "model/model.sig", "--key", "pub.pem", "--json")
    assert inside.returncode == 0, show(inside)
    assert "model.sig" not in [f["name"] for f in as_json(inside)["files"]]
    # ... while for the older signature kept outside, that file is one too many
    check_error(ws.run("model", "verify", "model", "--signature", "sigs.json"), 3, "model.sig")


def test_sign_refuses_bad_provenance(workspace: Any, tmp_path: Path, check_error: ErrorCheck) -> None:
    (tmp_path / "m.bin").write_bytes(b"weights")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{nope")
    check_error(workspace.run("model", "sign", "m.bin", "--provenance", "list.json"), 2, "JSON object")
    check_error(workspace.run("model", "sign", "m.bin", "--provenance", "broken.json"), 2, "not JSON")
    check_error(workspace.run("model", "sign", "m.bin", "--dataset", "nothing-here"), 2, "nothing-here")
    assert not (tmp_path / "m.bin.sig").exists()


def test_sign_and_verify_the_current_folder(workspace: Any, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"weights")
    here = dataclasses.replace(workspace.cli, cwd=folder)
    for args in (("model", "sign", "."), ("model", "verify", ".")):
        proc = here.run(*args)
        assert proc.returncode in (0, 2, 3)
        assert b"internal error" not in proc.stderr


# ---------------------------------------------------------------------- train and the registry


def test_train_inspect_export_and_tamper(workspace: Any, tmp_path: Path, check_error: ErrorCheck, show: Show) -> None:
    ws = workspace
    ws.ok("data", "put", german_credit_csv(), "--name", "credit-german")
    with opened(ws) as admin:
        _, alice_token = admin.users.add("alice", "scientist", scopes=("credit-*",))
        _, dan_token = admin.users.add("dan", "deployer")
        _, carol_token = admin.users.add("carol", "auditor")
        _, cleo_token = admin.users.add("cleo", "client")
        _, rita_token = admin.users.add("rita", "reviewer")
        admin.models.register("hr-model", tiny_model())
    alice = ws.cli.with_env(MLWARDEN_TOKEN=alice_token)
    dan = ws.cli.with_env(MLWARDEN_TOKEN=dan_token)

    # alice (a scientist on credit-*) trains credit-x
    trained = alice.run(
        "train", "--data", "credit-german@1", "--target", "creditability", "--name", "credit-x", "--json"
    )
    assert trained.returncode == 0, show(trained)
    version = as_json(trained)
    assert (version["name"], version["version"], version["created_by"]) == ("credit-x", 1, "alice")
    dataset = version["provenance"]["dataset"]
    assert (dataset["name"], dataset["version"], dataset["sha256"]) == ("credit-german", 1, GERMAN_CREDIT_SHA256)
    assert 0.5 < version["metrics"]["roc_auc"] <= 1.0
    assert "creditability" not in [c["name"] for c in version["input_schema"]["columns"]]
    assert len(version["input_schema"]["columns"]) == 20

    # ... but not outside her scope, and she may not promote
    check_error(
        alice.run("train", "--data", "credit-german", "--target", "creditability", "--name", "hr-x"),
        3,
        "model.register",
        "hr-x",
    )
    check_error(alice.run("model", "promote", "credit-x@1", "--stage", "production"), 3, "model.promote")
    assert [v["name"] for v in as_json(alice.ok("model", "ls", "--json"))] == ["credit-x"]
    check_error(alice.run("model", "info", "hr-model"), 3, "model.read")

    # what info shows (text and JSON)
    info_text = ws.ok("model", "info", "credit-x").stdout.decode()
    assert f"dataset credit-german@1 sha256 {GERMAN_CREDIT_SHA256}" in info_text
    assert "roc_auc" in info_text
    assert version["sha256"] in info_text
    assert as_json(ws.ok("model", "info", "credit-x@1", "--json")) == {
        **version,
        "approvals": [],
        "needs_retraining": None,
    }
    assert sorted(v["name"] for v in as_json(ws.ok("model", "ls", "--json"))) == ["credit-x", "hr-model"]

    # the deployer promotes (once a reviewer approved) and reads but does not train; auditor and client read nothing
    with opened(ws, rita_token) as rita:
        rita.models.approve("credit-x", 1)
    assert b"production" in dan.ok("model", "promote", "credit-x@1", "--stage", "production").stdout
    assert as_json(dan.ok("model", "info", "credit-x", "--json"))["stage"] == "production"
    check_error(
        dan.run("train", "--data", "credit-german", "--target", "creditability", "--name", "credit-d"),
        3,
        "model.register",
    )
    for token in (carol_token, cleo_token):
        check_error(ws.cli.with_env(MLWARDEN_TOKEN=token).run("model", "info", "credit-x"), 3, "model.read")

    # usage errors: exit 2, one line
    check_error(ws.run("model", "promote", "credit-x", "--stage", "staging"), 2, "version")
    check_error(ws.run("model", "info", "credit-x@9"), 2, "no version 9")
    check_error(ws.run("model", "info", "nothing"), 2, "no model named")
    check_error(
        ws.run("train", "--data", "credit-german", "--target", "nope", "--name", "credit-y"), 2, "no column 'nope'"
    )
    check_error(
        ws.run("train", "--data", "absent-data", "--target", "creditability", "--name", "credit-y"), 2, "absent-data"
    )
    check_error(ws.run("model", "info", "credit-y"), 2, "no model named")

    # export: verified by mlwarden, by the workspace's published key, and by OpenSSF model_signing
    exported = ws.run("model", "export", "credit-x", "-o", "out")
    assert exported.returncode == 0, show(exported)
    model_file = tmp_path / "out" / "credit-x.skops"
    signature = tmp_path / "out" / "credit-x.skops.sig"
    assert model_file.is_file()
    assert signature.is_file()
    ws.ok("model", "public-key", "-o", "pub.pem")
    openssf = subprocess.run(
        [
            str(MODEL_SIGNING),
            "verify",
            "key",
            str(model_file),
            "--signature",
            str(signature),
            "--public_key",
            str(tmp_path / "pub.pem"),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert openssf.returncode == 0, openssf.stdout + openssf.stderr
    file_json = as_json(ws.ok("model", "verify", "out/credit-x.skops", "--json"))
    assert file_json["provenance"]["dataset"]["sha256"] == GERMAN_CREDIT_SHA256
    assert file_json["files"] == [{"name": ".", "sha256": version["sha256"]}]
    assert ws.run("model", "verify", "out/credit-x.skops", "--key", "pub.pem").returncode == 0
    registered = as_json(ws.ok("model", "verify", "credit-x@1", "--json"))
    assert (registered["verified"], registered["sha256"]) == (True, version["sha256"])
    check_error(ws.run("model", "export", "credit-x", "-o", "out"), 2, "exists")

    # one changed byte of the exported file
    flip(model_file)
    check_error(ws.run("model", "verify", "out/credit-x.skops"), 3, "credit-x.skops")
    check_error(ws.run("model", "verify", "out/credit-x.skops", "--key", "pub.pem"), 3)

    # one changed byte of the encrypted object in the store
    db = ws.home / "catalog.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (object_id,) = conn.execute("SELECT object_id FROM model_versions WHERE name = 'credit-x'").fetchone()
    flip(ws.home / "models" / object_id[:2] / object_id)
    check_error(ws.run("model", "verify", "credit-x"), 3, "authentication")
    check_error(ws.run("model", "export", "credit-x", "-o", "out2"), 3)
    assert not (tmp_path / "out2" / "credit-x.skops").exists()

    # the audit log holds every decision
    with opened(ws) as admin:
        log = list(admin._audit.entries())

    def outcomes(principal: str, action: str, resource: str) -> list[str]:
        return [e.outcome for e in log if (e.principal, e.action, e.resource) == (principal, action, resource)]

    assert outcomes("alice", "model.register", "model:credit-x") == ["allowed", "succeeded"]
    succeeded = next(
        e for e in log if e.principal == "alice" and e.action == "model.register" and e.outcome == "succeeded"
    )
    assert succeeded.details["dataset_sha256"] == GERMAN_CREDIT_SHA256
    # read once by the audit before training, once by the fit
    assert outcomes("alice", "dataset.read", "dataset:credit-german") == ["allowed", "succeeded"] * 2
    assert outcomes("alice", "dataset.audit", "dataset:credit-german") == ["allowed", "succeeded"]
    assert outcomes("alice", "model.register", "model:hr-x") == ["denied"]
    assert outcomes("alice", "model.promote", "model:credit-x") == ["denied"]
    assert outcomes("dan", "model.promote", "model:credit-x") == ["allowed", "succeeded"]
    assert outcomes("dan", "model.register", "model:credit-d") == ["denied"]
    assert outcomes("carol", "model.read", "model:credit-x") == ["denied"]
    assert outcomes("cleo", "model.read", "model:credit-x") == ["denied"]


def test_train_refuses_tables_it_cannot_fit_and_counts_unlabelled_rows(
    workspace: Any, check_error: ErrorCheck, show: Show
) -> None:
    """Duplicate names were exit 70, dates a model the registry refused (exit 3); infinities and the
    other refusals are the same BadInput (tests/models/test_training.py)."""
    rows = range(24)
    tables = {
        "dup": "a,a,y\n" + "".join(f"{i},{i},{'yn'[i % 2]}\n" for i in rows),
        "dated": "when,b,y\n" + "".join(f"2024-02-{i + 1:02d},{i},{'yn'[i % 2]}\n" for i in rows),
        "partly": "a,b,y\n" + "".join(f"{i},{i % 3},{'' if i % 6 == 0 else 'yn'[i % 2]}\n" for i in rows),
    }
    with opened(workspace) as ws:
        for name, text in tables.items():
            ws.datasets.put(text.encode(), name=name, format="csv")
    for name, needles in (
        ("dup", ("2 columns named 'a'",)),
        ("dated", ("column 'when'", "dates", "derive numbers")),
    ):
        check_error(workspace.run("train", "--data", name, "--target", "y", "--name", f"m-{name}"), 2, *needles)
    trained = workspace.run("train", "--data", "partly", "--target", "y", "--name", "m-partly", "--json")
    assert trained.returncode == 0, show(trained)
    assert "left out 4 row(s) whose 'y' is empty (unlabelled)" in trained.stderr.decode()
    version = as_json(trained)
    assert version["metrics"]["unlabelled_rows_dropped"] == 4
    assert version["metrics"]["classes"] == ["n", "y"]


def test_sign_with_dataset_provenance(workspace: Any, tmp_path: Path, show: Show) -> None:
    ws = workspace
    ws.ok("data", "put", german_credit_csv(), "--name", "credit-german")
    (tmp_path / "m.bin").write_bytes(b"weights")
    ws.ok("model", "sign", "m.bin", "--dataset", "credit-german@1")
    verified = ws.run("model", "verify", "m.bin", "--json")
    assert verified.returncode == 0, show(verified)
    dataset = as_json(verified)["provenance"]["dataset"]
    assert (dataset["name"], dataset["version"], dataset["sha256"], dataset["rows"]) == (
        "credit-german",
        1,
        GERMAN_CREDIT_SHA256,
        1000,
    )


# ---------------------------------------------------------------------------------- signing keys


def test_rotate_and_revoke_signing_keys(workspace: Any, tmp_path: Path, check_error: ErrorCheck, show: Show) -> None:
    ws = workspace
    with opened(ws) as admin:
        first = admin.models.register("m", tiny_model(1.0))
    keys = as_json(ws.ok("model", "keys", "--json"))
    assert [(k["number"], k["state"], k["key_id"]) for k in keys] == [(1, "active", first.signing_key)]
    assert all("public_pem" not in k for k in keys)

    rotated = ws.ok("model", "rotate-key").stdout.decode()
    assert f"{first.signing_key[:12]} retired" in rotated
    with opened(ws) as admin:
        second = admin.models.register("m", tiny_model(0.5))
    assert second.signing_key != first.signing_key
    assert [k["state"] for k in as_json(ws.ok("model", "keys", "--json"))] == ["retired", "active"]
    assert ws.run("model", "verify", "m@1").returncode == 0  # a retired key's model still verifies
    listed = ws.ok("model", "keys").stdout.decode().splitlines()
    assert len(listed) == 2
    assert "retired" in listed[0]

    check_error(ws.run("model", "revoke-key", first.signing_key[:7]), 2, "names no single")
    revoked = ws.ok("model", "revoke-key", first.signing_key[:8])
    assert first.signing_key[:12].encode() in revoked.stdout
    check_error(ws.run("model", "verify", "m@1"), 3, "revoked")
    check_error(ws.run("model", "export", "m@1", "-o", "out"), 3, "revoked")
    assert not (tmp_path / "out" / "m.skops").exists()
    assert ws.run("model", "verify", "m@2").returncode == 0

    # the key index edited by hand: un-revoking fails its integrity check
    index = ws.home / "keys" / "model-signing.json"
    doc = json.loads(index.read_text())
    doc["keys"][0]["state"] = "active"
    index.write_text(json.dumps(doc))
    check_error(ws.run("model", "verify", "m@1"), 3, "integrity")
    check_error(ws.run("model", "verify", "m@2"), 3, "integrity")


def test_key_commands_need_key_permissions(workspace: Any, check_error: ErrorCheck) -> None:
    with opened(workspace) as admin:
        _, token = admin.users.add("sam", "scientist")
        key_id = admin._signing_keys.active(by="root")[0].key_id
    sam = workspace.cli.with_env(MLWARDEN_TOKEN=token)
    check_error(sam.run("model", "rotate-key"), 3, "key.rotate")
    check_error(sam.run("model", "revoke-key", key_id[:12]), 3, "key.admin")
    check_error(sam.run("model", "keys"), 3, "key.read")
    with opened(workspace) as admin:
        keys = admin._signing_keys.keys()
        assert [k.state for k in keys] == ["active"]


def test_verify_a_file_signed_by_the_reference_tool(workspace: Any, tmp_path: Path, show: Show) -> None:
    """A file signed by OpenSSF ``model_signing sign key`` with a foreign key verifies with --key, not
    with the workspace (which does not know that key)."""
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    foreign_pub = tmp_path / "foreign.pem"
    foreign_pub.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "w.bin").write_bytes(base64.b64encode(os.urandom(300)))
    signed = subprocess.run(
        [
            str(MODEL_SIGNING),
            "sign",
            "key",
            str(tmp_path / "w.bin"),
            "--private_key",
            str(tmp_path / "key.pem"),
            "--signature",
            str(tmp_path / "w.bin.sig"),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert workspace.run("model", "verify", "w.bin", "--key", "foreign.pem").returncode == 0
    refused = workspace.run("model", "verify", "w.bin")
    assert refused.returncode == 3, show(refused)
    assert b"does not know" in refused.stderr


def test_model_scan_starts_without_heavy_libraries(tmp_path: Path) -> None:
    """`model scan` is run on every file a pipeline touches: it imports neither the catalog (SQLAlchemy) nor
    the data and ML stacks (pandas, pyarrow, NumPy, scikit-learn, skops)."""
    model = tmp_path / "m.pkl"
    model.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlwarden", "model", "scan", str(model)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = set()
    for line in proc.stderr.decode(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert not imported & {"sqlalchemy", "pandas", "pyarrow", "numpy", "sklearn", "skops", "h5py"}
