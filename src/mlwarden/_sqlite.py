"""Plain :mod:`sqlite3` connections for the workspace's access database (principals, audit log).

The access database is on every command's path (authentication, the audit append), so it uses
the standard library's driver rather than SQLAlchemy, whose import alone costs a CLI call about
0.2 s. Settings: WAL journal, ``synchronous=FULL`` (each commit is fsynced before it returns),
explicit transactions (``BEGIN IMMEDIATE`` for writes), a 30 s busy timeout, file mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["connect", "write_transaction"]

BUSY_TIMEOUT_S = 30.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating, mode 0600) the database at ``path``; autocommit, transactions explicit."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=FULL")
    # Switching to WAL needs a moment alone with the file; another process opening it at the
    # same time makes it report "locked" instead of waiting.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock, waiting up to the busy timeout), then ``COMMIT``; any error rolls back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
