"""The access database's layout and format version (``<home>/access.db``; ``docs/formats.md``).

One SQLite file holds the principals (:mod:`mlwarden.access`), the audit log
(:mod:`mlwarden.auditlog`) and the catalog mark (:mod:`mlwarden.catalog`); each opens its own
connection with :func:`open_access_db`, which makes sure the file is at :data:`ACCESS_DB_VERSION`
first. The version is SQLite's ``PRAGMA user_version``:

* **1** (the first release): ``principals`` (eleven columns and ``mac``) and ``audit_entries``;
* **2**: ``principals.limits``, ``principals.suspension``, the ``principals_version`` counter and
  its three triggers;
* **3**: the ``catalog_mark`` table, and the version number itself.

Versions 1 and 2 did not record their number (``user_version`` is 0): the one upgrade from such a
file tells them apart by ``principals.limits``, the only time a column is looked for. Every
upgrade runs in one ``BEGIN IMMEDIATE`` transaction that ends by writing the new number, so a
file is at its old version or the new one, never between; opening a file already current reads
one pragma and writes nothing. A number above :data:`ACCESS_DB_VERSION` (a newer mlwarden wrote
it) is refused, and the file left alone.

To bump the version: add the new layout to :data:`_CREATE` (for new files), write the step from
the previous version in :data:`_STEPS`, raise :data:`ACCESS_DB_VERSION`, document it in
``docs/formats.md``, and add a test that upgrades a file of the previous version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from mlwarden._sqlite import connect, write_transaction
from mlwarden.errors import BadInput

__all__ = ["ACCESS_DB_VERSION", "access_db_version", "open_access_db"]

ACCESS_DB_VERSION = 3

_BUMP = "BEGIN UPDATE principals_version SET version = version + 1 WHERE id = 0; END"
_COUNTER = (
    "CREATE TABLE IF NOT EXISTS principals_version (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO principals_version (id, version) VALUES (0, 0)",
    *(
        f"CREATE TRIGGER IF NOT EXISTS principals_version_{event.lower()} AFTER {event} ON principals {_BUMP}"
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
)
"""Every change to ``principals``, by any connection, bumps the counter (``PrincipalStore.data_version``)."""
_CATALOG_MARK = (
    "CREATE TABLE IF NOT EXISTS catalog_mark (id INTEGER PRIMARY KEY CHECK (id = 0), catalog_id TEXT NOT NULL, "
    "dataset_versions INTEGER NOT NULL, shredded_versions INTEGER NOT NULL, model_versions INTEGER NOT NULL, "
    "mac BLOB NOT NULL)"
)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS principals (name TEXT PRIMARY KEY, kind TEXT NOT NULL, role TEXT NOT NULL, "
    "scopes TEXT NOT NULL, created TEXT NOT NULL, created_by TEXT NOT NULL, expires TEXT, revoked TEXT, "
    "revoked_by TEXT, token_id TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL, mac BLOB NOT NULL, "
    "limits TEXT, suspension TEXT)",
    *_COUNTER,
    "CREATE TABLE IF NOT EXISTS audit_entries (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf BLOB NOT NULL, "
    "head_time TEXT, head_root BLOB, head_signature BLOB, frontier BLOB)",
    _CATALOG_MARK,
)
"""The current layout, for a new file (and to complete a file that lacks a table)."""


def _to_2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE principals ADD COLUMN limits TEXT")
    conn.execute("ALTER TABLE principals ADD COLUMN suspension TEXT")
    for statement in _COUNTER:
        conn.execute(statement)


def _to_3(conn: sqlite3.Connection) -> None:
    conn.execute(_CATALOG_MARK)


_STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _to_2, 2: _to_3}
"""``_STEPS[n]`` turns a version ``n`` file into version ``n + 1``."""


def access_db_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def _unnumbered_version(conn: sqlite3.Connection) -> int:
    """The version of a file that records none: 0 (empty), 1 or 2 (told apart by ``principals.limits``)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return 0
    if "principals" in tables and "limits" not in {row[1] for row in conn.execute("PRAGMA table_info(principals)")}:
        return 1
    return 2


def _refuse_newer(path: Path, version: int) -> None:
    if version > ACCESS_DB_VERSION:
        raise BadInput(
            f"the access database {path} has format version {version}, newer than this mlwarden reads "
            f"({ACCESS_DB_VERSION}); upgrade mlwarden"
        )


def open_access_db(path: Path) -> sqlite3.Connection:
    """A connection to the access database at ``path`` (created if missing), upgraded to the current version.

    :class:`~mlwarden.errors.BadInput` for a file of a newer version; ``sqlite3.Error`` for one
    that cannot be read (the callers say which part of the workspace failed).
    """
    conn = connect(path)
    try:
        version = access_db_version(conn)
        _refuse_newer(path, version)
        if version < ACCESS_DB_VERSION:
            _upgrade(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    with write_transaction(conn):
        version = access_db_version(conn)  # another process may have upgraded it meanwhile
        _refuse_newer(path, version)
        if version == ACCESS_DB_VERSION:
            return
        if version == 0:
            version = _unnumbered_version(conn)
        if version > 0:
            for step in range(version, ACCESS_DB_VERSION):
                _STEPS[step](conn)
        for statement in _CREATE:  # a new file; or an old one that lacked a table (IF NOT EXISTS)
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {ACCESS_DB_VERSION:d}")
