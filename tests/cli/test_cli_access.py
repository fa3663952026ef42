"""End-to-end tests of access control through the CLI (real subprocesses): ``mlwarden user``,
``mlwarden log``, ``MLWARDEN_TOKEN``, scoped and refused principals, and the fail-closed audit log.

The main scenario reuses one workspace for the whole story (each CLI call costs about 0.3 s).
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlwarden.usecases import GERMAN_CREDIT_SHA256, german_credit_csv

TOKEN = re.compile(r"mlw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
FIRST_BAD = re.compile(r"first bad entry (\d+)")
HEAVY_MODULES = ("pandas", "pyarrow", "sqlalchemy")
HR = b"name,salary\nbob,7731999\nzed,98765\n"

Proc = subprocess.CompletedProcess[bytes]
ErrorCheck = Callable[..., str]
Show = Callable[[Proc], str]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def single_token(proc: Proc) -> str:
    """The token ``user add`` prints: the only line on stdout."""
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    assert TOKEN.fullmatch(lines[0]), lines[0]
    return lines[0]


def log_lines(ws: Any) -> list[dict[str, Any]]:
    return parse_log(ws.ok("log", "show", "--json"))


def parse_log(proc: Proc) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    return entries


def find(entries: list[dict[str, Any]], **fields: object) -> list[dict[str, Any]]:
    return [e for e in entries if all(e.get(k) == v for k, v in fields.items())]


def imported_modules(importtime_stderr: bytes) -> set[str]:
    """Module names from ``python -X importtime`` output."""
    names = set()
    for line in importtime_stderr.decode(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY_MODULES)


def first_bad(line: str) -> int:
    match = FIRST_BAD.search(line)
    assert match is not None, line
    return int(match.group(1))


# --------------------------------------------------------------------------------------------
# the done-when scenario
# --------------------------------------------------------------------------------------------


def test_scoped_access_end_to_end(workspace: Any, tmp_path: Path, check_error: ErrorCheck, show: Show) -> None:
    ws = workspace
    credit = german_credit_csv()
    (tmp_path / "hr.csv").write_bytes(HR)
    (tmp_path / "x.csv").write_bytes(b"a,b\n1,2\n")
    ws.ok("data", "put", credit, "--name", "credit-german")
    ws.ok("data", "put", "hr.csv", "--name", "hr-salaries")

    # alice: a scientist on credit-*
    added = ws.ok("user", "add", "alice", "--role", "scientist", "--scope", "credit-*")
    alice_token = single_token(added)
    alice_id = alice_token.split("_")[1]
    note = added.stderr.decode()
    assert len(note.splitlines()) == 1, show(added)
    assert "alice" in note
    assert "scientist on credit-*" in note
    assert "only once" in note
    assert alice_token not in note
    alice = ws.cli.with_env(MLWARDEN_TOKEN=alice_token)

    got = alice.run("data", "get", "credit-german", "-o", "out.csv")
    assert got.returncode == 0, show(got)
    assert (tmp_path / "out.csv").read_bytes() == credit.read_bytes()
    line = check_error(alice.run("data", "put", "x.csv", "--name", "credit-german"), 3, "dataset.write", "alice")
    assert "credit-german" in line
    check_error(alice.run("data", "get", "hr-salaries", "-o", "h.csv"), 3, "dataset.read", "hr-salaries")
    assert not (tmp_path / "h.csv").exists()
    check_error(alice.run("data", "info", "hr-salaries"), 3, "dataset.list")
    assert [d["name"] for d in json.loads(alice.ok("data", "ls", "--json").stdout)] == ["credit-german"]
    check_error(alice.run("log", "show"), 3, "log.read")
    check_error(alice.run("user", "ls"), 3, "user.read")

    # carol: an auditor reads the log, never the data
    carol_token = single_token(ws.ok("user", "add", "carol", "--role", "auditor"))
    carol = ws.cli.with_env(MLWARDEN_TOKEN=carol_token)
    shown = carol.ok("log", "show")
    assert b"dataset.write" in shown.stdout
    assert b"denied" in shown.stdout
    check_error(carol.run("data", "get", "credit-german", "-o", "c.csv"), 3, "dataset.read")
    assert not (tmp_path / "c.csv").exists()
    saved = carol.ok("log", "checkpoint", "-o", "head.json")
    assert b"head.json" in saved.stdout
    checkpoint_size = json.loads((tmp_path / "head.json").read_text())["size"]

    # revoked and bogus tokens
    revoked = ws.ok("user", "revoke", "alice")
    assert alice_id.encode() in revoked.stdout
    check_error(alice.run("data", "get", "credit-german", "-o", "o2.csv"), 3, "revoked")
    assert not (tmp_path / "o2.csv").exists()
    check_error(alice.run("data", "ls"), 3, "revoked", "MLWARDEN_TOKEN")
    check_error(ws.cli.with_env(MLWARDEN_TOKEN="garbage").run("data", "ls"), 3, "malformed")
    unknown = f"mlw_{'0' * 16}_{'A' * 43}"
    check_error(ws.cli.with_env(MLWARDEN_TOKEN=unknown).run("data", "ls"), 3, "not valid")

    # the log: intact, consistent with the checkpoint, and holding every decision
    assert b"intact" in ws.ok("log", "verify").stdout
    assert b"consistent with checkpoint" in ws.ok("log", "verify", "--checkpoint", "head.json").stdout

    shown_json = ws.ok("log", "show", "--json")
    entries = parse_log(shown_json)
    read = find(entries, principal="alice", action="dataset.read", resource="dataset:credit-german")
    assert [e["outcome"] for e in read] == ["allowed", "succeeded"]
    assert read[1]["details"]["sha256"] == GERMAN_CREDIT_SHA256
    assert find(entries, principal="alice", action="dataset.write", resource="dataset:credit-german", outcome="denied")
    assert find(entries, principal="alice", action="dataset.read", resource="dataset:hr-salaries", outcome="denied")
    assert find(entries, principal="carol", action="dataset.read", resource="dataset:credit-german", outcome="denied")
    assert find(entries, principal="carol", action="log.checkpoint", outcome="allowed")
    assert find(entries, principal="alice", action="log.read", outcome="denied")
    assert {e["outcome"] for e in find(entries, principal="alice", resource="dataset:hr-salaries")} == {"denied"}
    refusals = find(entries, action="auth.token", outcome="denied", principal="-", resource="workspace")
    reasons = [(e["details"]["reason"], e["details"]["token"]) for e in refusals]
    assert reasons == [("revoked", alice_id), ("revoked", alice_id), ("malformed", None), ("unknown", "0" * 16)]
    assert len(find(entries, action="auth.token")) == len(refusals)
    assert all(e["details"]["token"] == alice_id for e in find(entries, principal="alice"))
    admin_token = (ws.home / "keys" / "admin.token").read_text().strip()
    for secret in (alice_token, carol_token, admin_token):
        assert secret.encode() not in shown_json.stdout
        assert secret.split("_", 2)[2].encode() not in shown_json.stdout
    assert b"7731999" not in shown_json.stdout

    users = {u["name"]: u for u in json.loads(ws.ok("user", "ls", "--json").stdout)}
    assert users["alice"]["state"] == "revoked"
    assert users["alice"]["scopes"] == ["credit-*"]
    assert users["alice"]["token_id"] == alice_id
    assert users["carol"]["state"] == "active"
    assert [u["state"] for u in users.values() if u["role"] == "admin"] == ["active"]
    assert not any("token" in u or "token_hash" in u for u in users.values())
    table = ws.ok("user", "ls").stdout.decode().splitlines()
    assert table[0].split()[:4] == ["NAME", "KIND", "ROLE", "STATE"]
    assert any(row.split()[:4] == ["alice", "user", "scientist", "revoked"] for row in table[1:])

    # the newest entries removed back to an older signed head: only the checkpoint sees it
    db = ws.home / "access.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (signed,) = conn.execute(
            "SELECT MAX(seq) FROM audit_entries WHERE head_signature IS NOT NULL AND seq <= ?",
            (checkpoint_size - 3,),
        ).fetchone()
        removed_from = signed + 1
        conn.execute("DELETE FROM audit_entries WHERE seq >= ?", (removed_from,))
        conn.commit()
    proc = ws.run("log", "verify", "--checkpoint", "head.json")
    line = check_error(proc, 3, "not intact", "removed")
    # Positions removed_from.. were removed; the verifying command's own entry has since taken
    # position removed_from. It was signed after the checkpoint, at a position the checkpoint
    # covers, which is how verification still names removed_from as the first bad entry.
    after = log_lines(ws)
    assert (after[removed_from]["action"], after[removed_from]["outcome"]) == ("log.read", "allowed")
    assert first_bad(line) == removed_from
    assert f"{removed_from}..{checkpoint_size - 1}" in line
    assert b"intact" in ws.ok("log", "verify").stdout  # without the checkpoint, nothing shows

    # an entry edited in place: alice's denied write made to look allowed
    (denied,) = find(entries, principal="alice", action="dataset.write", outcome="denied")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (raw,) = conn.execute("SELECT entry FROM audit_entries WHERE seq = ?", (denied["seq"],)).fetchone()
        edited = bytes(raw).replace(b'"outcome":"denied"', b'"outcome":"allowed"')
        assert edited != bytes(raw)
        conn.execute("UPDATE audit_entries SET entry = ? WHERE seq = ?", (edited, denied["seq"]))
        conn.commit()
    line = check_error(ws.run("log", "verify"), 3, "not intact")
    assert first_bad(line) == denied["seq"]
    as_json = ws.run("log", "verify", "--json")
    assert as_json.returncode == 3, show(as_json)
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["first_bad_entry"]) == (False, denied["seq"])


# --------------------------------------------------------------------------------------------
# user add: bad input and refusals
# --------------------------------------------------------------------------------------------


def test_user_add_bad_input_and_refusals(workspace: Any, check_error: ErrorCheck, show: Show) -> None:
    ws = workspace
    check_error(ws.run("user", "add", "bob", "--role", "scientist", "--expires", "1x"), 2, "duration")
    check_error(ws.run("user", "add", "bob", "--role", "wizard"), 2, "role")
    check_error(ws.run("user", "add", "bob", "--role", "scientist", "--scope", "credit-?"), 2, "scope")
    check_error(ws.run("user", "add", "bad name", "--role", "scientist"), 2, "not allowed")
    check_error(ws.run("user", "revoke", "nobody"), 2, "nobody")
    users = json.loads(ws.ok("user", "ls", "--json").stdout)
    assert len(users) == 1
    (admin,) = users
    check_error(ws.run("user", "add", admin["name"], "--role", "scientist"), 2, "already exists")
    check_error(ws.run("user", "revoke", admin["name"]), 2, "last active admin")

    sci_token = single_token(ws.ok("user", "add", "sci", "--role", "scientist"))
    scientist = ws.cli.with_env(MLWARDEN_TOKEN=sci_token)
    check_error(scientist.run("user", "add", "bob", "--role", "scientist"), 3, "user.manage", "sci")
    check_error(scientist.run("user", "revoke", "sci"), 3, "user.manage")

    svc = ws.ok("user", "add", "svc", "--role", "client", "--service", "--expires", "12h", "--json")
    record = json.loads(svc.stdout)
    assert TOKEN.fullmatch(record["token"])
    assert (record["kind"], record["role"], record["state"], record["scopes"]) == ("service", "client", "active", ["*"])
    assert record["expires"] is not None
    client = ws.cli.with_env(MLWARDEN_TOKEN=record["token"])
    check_error(client.run("data", "ls"), 3, "dataset.list")
    names = {u["name"] for u in json.loads(ws.ok("user", "ls", "--json").stdout)}
    assert names == {admin["name"], "sci", "svc"}


def test_user_add_huge_expiry_is_bad_input(workspace: Any, check_error: ErrorCheck) -> None:
    check_error(workspace.run("user", "add", "bob", "--role", "scientist", "--expires", "999999w"), 2, "expires")


# --------------------------------------------------------------------------------------------
# the saved admin token
# --------------------------------------------------------------------------------------------


def test_init_saves_the_admin_token_privately(
    workspace: Any, cli: Any, tmp_path: Path, check_error: ErrorCheck, show: Show
) -> None:
    token_file = workspace.home / "keys" / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert str(token_file) in workspace.init_output
    assert "0600" in workspace.init_output
    token = token_file.read_text().strip()
    assert TOKEN.fullmatch(token)
    assert token not in workspace.init_output
    as_admin = workspace.cli.with_env(MLWARDEN_TOKEN=token)
    (admin,) = json.loads(as_admin.ok("user", "ls", "--json").stdout)
    assert (admin["role"], admin["token_id"]) == ("admin", token.split("_")[1])
    assert admin["name"] in workspace.init_output

    other = cli.with_env(MLWARDEN_HOME=str(tmp_path / "ws2"))
    made = other.ok("init", "--json")
    doc = json.loads(made.stdout)
    assert Path(doc["admin_token_file"]) == tmp_path / "ws2" / "keys" / "admin.token"
    assert doc["admin"] == admin["name"]

    token_file.unlink()
    check_error(workspace.run("data", "ls"), 3, "no token", "MLWARDEN_TOKEN")
    assert json.loads(as_admin.ok("user", "ls", "--json").stdout)[0]["state"] == "active"


# --------------------------------------------------------------------------------------------
# fail closed
# --------------------------------------------------------------------------------------------


def _tiny_files() -> None:
    """In the child: no file may grow past 1 byte, and exceeding it fails the write (EFBIG)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@contextlib.contextmanager
def held_open(*paths: Path) -> Iterator[None]:
    """Keep each SQLite database's WAL and shared-memory files in place, the WAL emptied.

    The child then needs to grow no file to open them; only appending to the log grows the
    (empty) WAL, which the file-size limit refuses.
    """
    with contextlib.ExitStack() as stack:
        for path in paths:
            conn = stack.enter_context(contextlib.closing(sqlite3.connect(path)))
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
            assert Path(f"{path}-wal").stat().st_size == 0
            assert Path(f"{path}-shm").exists()
        yield


@pytest.mark.parametrize("column", ["entry", "leaf"])
def test_an_entry_stored_as_text_is_tampering_for_verify_and_prove(
    workspace: Any, column: str, check_error: ErrorCheck
) -> None:
    """Once exit 70 ("can't concat str to bytes"): the same bytes stored as TEXT are an edit, exit 3."""
    ws = workspace
    ws.ok("keys", "ls")
    with contextlib.closing(sqlite3.connect(ws.home / "access.db")) as conn:
        conn.execute(f"UPDATE audit_entries SET {column} = CAST({column} AS TEXT) WHERE seq = 1")  # noqa: S608
        conn.commit()
    check_error(ws.run("log", "verify"), 3, "entry 1", f"its {column} is stored as TEXT")
    check_error(ws.run("log", "prove", "0", "-o", "-"), 3, "entry 1", f"its {column} is stored as TEXT")


def test_unwritable_audit_log_refuses_the_put(workspace: Any, tmp_path: Path, check_error: ErrorCheck) -> None:
    ws = workspace
    (tmp_path / "hr.csv").write_bytes(HR)
    (tmp_path / "newer.csv").write_bytes(HR + b"amy,1\n")
    ws.ok("data", "put", "hr.csv", "--name", "hr-salaries")
    listing = json.loads(ws.ok("data", "ls", "--json").stdout)
    objects = sorted((ws.home / "objects").rglob("*"))
    with contextlib.closing(sqlite3.connect(ws.home / "access.db")) as conn:
        (entries_before,) = conn.execute("SELECT COUNT(*) FROM audit_entries").fetchone()

    with held_open(ws.home / "access.db", ws.home / "catalog.db"):
        proc = subprocess.run(
            [sys.executable, "-m", "mlwarden", "data", "put", "newer.csv", "--name", "hr-salaries"],
            cwd=tmp_path,
            env=ws.cli.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
            preexec_fn=_tiny_files,
        )
    check_error(proc, 3, "audit log", "refused")

    assert json.loads(ws.ok("data", "ls", "--json").stdout) == listing
    assert sorted((ws.home / "objects").rglob("*")) == objects
    with contextlib.closing(sqlite3.connect(ws.home / "access.db")) as conn:
        (entries_after,) = conn.execute("SELECT COUNT(*) FROM audit_entries").fetchone()
    assert entries_after == entries_before + 1  # the `data ls` just above; nothing from the refused put
    assert b"intact" in ws.ok("log", "verify").stdout


# --------------------------------------------------------------------------------------------
# start-up cost
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "commands"), [("user", ("add", "ls", "revoke")), ("log", ("show", "checkpoint", "verify"))]
)
def test_help_imports_no_heavy_modules(bare_cli: Any, show: Show, group: str, commands: tuple[str, ...]) -> None:
    proc = bare_cli.run(group, "--help", python_args=("-X", "importtime"))
    assert proc.returncode == 0, show(proc)
    modules = imported_modules(proc.stderr)
    assert {"click", "mlwarden.cli"} <= modules  # the parse works
    assert heavy(modules) == []
    listed = proc.stdout.decode()
    for command in commands:
        assert re.search(rf"^\s+{command}\b", listed, re.MULTILINE), listed


def test_user_and_log_commands_need_no_catalog_modules(workspace: Any, show: Show) -> None:
    for args in (("user", "ls"), ("log", "show"), ("log", "verify")):
        proc = workspace.cli.run(*args, python_args=("-X", "importtime"))
        assert proc.returncode == 0, show(proc)
        assert heavy(imported_modules(proc.stderr)) == [], args
