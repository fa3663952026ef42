"""A version-3 catalog (before approvals and monitoring) gains the version-4 tables on open."""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from mlwarden._workspace import Workspace
from mlwarden.config import Settings
from mlwarden.errors import IntegrityError

NEW_TABLES = ("model_approvals", "drift_windows", "monitor_reports")


def test_a_version_3_catalog_gains_the_monitoring_tables(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    with Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(b"a,b\n1,2\n", name="tiny", format="csv")
    db = settings.home / "catalog.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for table in NEW_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE mlwarden_meta SET value = '3' WHERE key = 'catalog_version'")
        conn.commit()
    with Workspace.open(settings=settings) as ws:
        assert ws.datasets.read_bytes("tiny") == b"a,b\n1,2\n"
        assert ws.monitoring.reports() == []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM mlwarden_meta WHERE key = 'catalog_version'").fetchone() == ("5",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(NEW_TABLES) <= tables


def test_a_version_4_catalog_that_lost_a_monitoring_table_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    with Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(b"a,b\n1,2\n", name="tiny", format="csv")
    with contextlib.closing(sqlite3.connect(settings.home / "catalog.db")) as conn:
        conn.execute("DROP TABLE drift_windows")
        conn.commit()
    with pytest.raises(IntegrityError, match="drift_windows"), Workspace.open(settings=settings) as ws:
        ws.datasets.read_bytes("tiny")


PRIVACY_TABLES = ("pii_columns", "pii_decisions", "erasures")


def test_a_version_4_catalog_gains_the_personal_data_tables(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    with Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(b"a,b\n1,2\n", name="tiny", format="csv")
    db = settings.home / "catalog.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for table in PRIVACY_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE mlwarden_meta SET value = '4' WHERE key = 'catalog_version'")
        conn.commit()
    with Workspace.open(settings=settings) as ws:
        assert ws.datasets.read_bytes("tiny") == b"a,b\n1,2\n"
        assert ws.privacy.columns("tiny") == {}  # stored before discovery: not classified
        assert ws.privacy.erasures() == []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM mlwarden_meta WHERE key = 'catalog_version'").fetchone() == ("5",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(PRIVACY_TABLES) <= tables
