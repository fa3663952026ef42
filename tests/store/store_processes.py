"""Helpers for the store tests that run mlwarden in other processes (crash, concurrency, large data)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def workspace_env(home: Path, master_key: str) -> dict[str, str]:
    """``os.environ`` for a child using the env-key workspace at ``home``, without other ``MLWARDEN_*``
    settings or Python warning switches (tests read the child's stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.pop("PYTHONWARNINGS", None)
    env.pop("PYTHONDEVMODE", None)
    env.update(MLWARDEN_HOME=str(home), MLWARDEN_MASTER_KEY=master_key)
    return env


def assert_sqlite_intact(db: Path) -> None:
    """SQLite's own integrity and foreign-key checks pass on ``db`` (opened read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
