"""``access.db`` carries a format version (``PRAGMA user_version``): old files are upgraded once, atomically;
newer ones are refused (see ``mlwarden._access_db`` and ``docs/formats.md``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys

import pytest

import mlwarden
from mlwarden import _access_db
from mlwarden._access_db import ACCESS_DB_VERSION
from mlwarden.config import Settings
from mlwarden.errors import BadInput

# The layouts of the releases before the version was recorded (user_version 0).
_V1_PRINCIPALS = (
    "CREATE TABLE principals (name TEXT PRIMARY KEY, kind TEXT NOT NULL, role TEXT NOT NULL, scopes TEXT NOT NULL, "
    "created TEXT NOT NULL, created_by TEXT NOT NULL, expires TEXT, revoked TEXT, revoked_by TEXT, "
    "token_id TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL, mac BLOB NOT NULL)"
)
_V1_COLUMNS = "name, kind, role, scopes, created, created_by, expires, revoked, revoked_by, token_id, token_hash, mac"


def _db(settings: Settings) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(settings.home / "access.db", isolation_level=None))


def _layout(settings: Settings) -> tuple[int, list[str], set[str]]:
    with _db(settings) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(principals)")]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
    return version, columns, names


def _make_old(settings: Settings, version: int) -> None:
    """Turn a workspace's access.db into what release ``version`` (1 or 2) wrote: same rows, old layout."""
    with _db(settings) as conn:
        conn.execute("BEGIN")
        conn.execute("DROP TABLE catalog_mark")
        if version == 1:
            for trigger in ("insert", "update", "delete"):
                conn.execute(f"DROP TRIGGER principals_version_{trigger}")
            conn.execute("DROP TABLE principals_version")
            conn.execute("ALTER TABLE principals RENAME TO principals_new")
            conn.execute(_V1_PRINCIPALS)
            conn.execute(f"INSERT INTO principals SELECT {_V1_COLUMNS} FROM principals_new")  # noqa: S608
            conn.execute("DROP TABLE principals_new")
        conn.execute("PRAGMA user_version = 0")
        conn.execute("COMMIT")


@pytest.fixture
def old_workspace(settings: Settings) -> Settings:
    """A workspace with a user, a dataset and some log entries."""
    with mlwarden.Workspace.init(settings=settings, key_source="env") as ws:
        ws.users.add("bob", "scientist")
        ws.datasets.put(b"x", name="d")
    return settings


def test_new_files_record_the_current_version(old_workspace: Settings) -> None:
    assert ACCESS_DB_VERSION == 3
    version, columns, names = _layout(old_workspace)
    assert version == ACCESS_DB_VERSION
    assert columns[-2:] == ["limits", "suspension"]
    assert {"principals", "principals_version", "audit_entries", "catalog_mark"} <= names


@pytest.mark.parametrize("old", [1, 2])
def test_an_access_db_of_an_earlier_release_is_upgraded_once(old_workspace: Settings, old: int) -> None:
    _make_old(old_workspace, old)
    assert _layout(old_workspace)[0] == 0
    with mlwarden.Workspace.open(settings=old_workspace) as ws:
        assert {p.name for p in ws.users.list()} >= {"bob"}
        assert all(p.intact for p in ws.users.list())  # the MACs of rows from before still verify
        ws.users.set_limits("bob", rate_limit=5)
        assert ws.datasets.read_bytes("d") == b"x"  # the catalog is adopted (no mark before)
        assert ws.log.verify().ok
    version, columns, names = _layout(old_workspace)
    assert version == ACCESS_DB_VERSION
    assert columns[-2:] == ["limits", "suspension"]
    assert {"principals_version_insert", "principals_version_update", "catalog_mark"} <= names
    with _db(old_workspace) as conn:
        assert conn.execute("SELECT dataset_versions FROM catalog_mark").fetchall() == [(1,)]
    # Opened again: nothing to do, nothing written by the upgrade.
    before = _layout(old_workspace)
    with mlwarden.Workspace.open(settings=old_workspace) as ws:
        assert ws.users.get("bob").rate_limit == 5
    assert _layout(old_workspace) == before


def test_a_failed_upgrade_leaves_the_file_as_it_was(old_workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_old(old_workspace, 1)
    before = _layout(old_workspace)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE catalog_mark (id INTEGER)")
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setitem(_access_db._STEPS, 2, broken)  # after step 1 -> 2 has altered the table
    with pytest.raises(mlwarden.MlwardenError):
        mlwarden.Workspace.open(settings=old_workspace)
    assert _layout(old_workspace) == before
    monkeypatch.undo()
    with mlwarden.Workspace.open(settings=old_workspace) as ws:
        assert ws.users.get("bob").intact
    assert _layout(old_workspace)[0] == ACCESS_DB_VERSION


def test_a_newer_access_db_is_refused_and_left_alone(old_workspace: Settings) -> None:
    with _db(old_workspace) as conn:
        conn.execute(f"PRAGMA user_version = {ACCESS_DB_VERSION + 1}")
    before = (old_workspace.home / "access.db").read_bytes()
    with pytest.raises(BadInput, match=r"format version 4, newer than this mlwarden reads \(3\); upgrade mlwarden"):
        mlwarden.Workspace.open(settings=old_workspace)
    assert (old_workspace.home / "access.db").read_bytes() == before
    drop = ("PYTHONWARNINGS", "PYTHONDEVMODE")  # a warning line would break the one-line check
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_") and k not in drop}
    env |= {"MLWARDEN_HOME": str(old_workspace.home), "MLWARDEN_MASTER_KEY": old_workspace.master_key or ""}
    proc = subprocess.run(
        [sys.executable, "-m", "mlwarden", "user", "ls"],
        env=env,
        cwd=old_workspace.home,
        capture_output=True,
        timeout=60,
    )
    lines = proc.stderr.decode().splitlines()
    assert (proc.returncode, len(lines)) == (2, 1), proc.stderr
    assert lines[0].startswith("mlwarden: error: the access database")
    assert "upgrade mlwarden" in lines[0]
