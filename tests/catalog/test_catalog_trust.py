"""A catalog the workspace cannot trust is refused, never recreated, and gc deletes nothing through it.

Regression for issue 13: with ``catalog.db`` deleted or emptied the catalog was silently
recreated empty, every object then looked orphaned, and ``data gc`` deleted them all.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import mlwarden
from mlwarden.catalog import Catalog, NewVersion
from mlwarden.config import Settings
from mlwarden.errors import IntegrityError

_TABLES = ("version_tags", "dataset_versions", "datasets", "model_versions", "mlwarden_meta")


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgresql" else None
    return Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode(), catalog_url=url)


@pytest.fixture
def filled(settings: Settings) -> Settings:
    """A workspace holding a@1, a@2 (tagged), b@1 and b@2 (shredded)."""
    return _fill(settings)


@pytest.fixture
def filled_sqlite(tmp_path: Path) -> Settings:
    """:func:`filled` with its catalog in ``catalog.db`` (for what only a file can suffer)."""
    return _fill(Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode()))


def _fill(settings: Settings) -> Settings:
    with mlwarden.Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(b"a,b\n1,2\n", name="a", format="csv")
        ws.datasets.put(b"a,b\n1,3\n", name="a", format="csv", tags={"k": "v"})
        ws.datasets.put(b"one", name="b")
        ws.datasets.put(b"two", name="b")
        ws.datasets.shred("b", 2)
    return settings


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (a backup), all connections closed after."""
    with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def _access(settings: Settings) -> contextlib.closing[sqlite3.Connection]:
    """The workspace's access.db, edited by hand (autocommit)."""
    return contextlib.closing(sqlite3.connect(settings.home / "access.db", isolation_level=None))


def _url(settings: Settings) -> str:
    return settings.catalog_url or f"sqlite:///{settings.home / 'catalog.db'}"


def _sql(settings: Settings, *statements: str) -> None:
    engine = create_engine(_url(settings))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _objects(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.home / "objects").rglob("*") if p.is_file())


def _refused(settings: Settings, *needles: str) -> str:
    """Opening the catalog (through any dataset operation, gc included) is exit 3; nothing is deleted."""
    before = _objects(settings)
    with mlwarden.Workspace.open(settings=settings) as ws:
        for action in ("list", "check", "collect_garbage"):
            with pytest.raises(IntegrityError) as caught:
                getattr(ws.datasets, action)()
            message = str(caught.value)
            assert "restore it from a backup" in message
            for needle in needles:
                assert needle in message
    assert _objects(settings) == before
    return message


def _readable(settings: Settings) -> None:
    with mlwarden.Workspace.open(settings=settings) as ws:
        assert ws.datasets.read_bytes("a", 1) == b"a,b\n1,2\n"
        assert ws.datasets.read_bytes("a", 2) == b"a,b\n1,3\n"
        assert ws.datasets.read_bytes("b", 1) == b"one"
        assert ws.datasets.info("b", 2).shredded_at is not None
        report = ws.datasets.check()
        assert (report.ok, report.versions, report.shredded, report.orphans) == (True, 3, 1, ())
        assert ws.datasets.collect_garbage() == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(tuple(f"DROP TABLE {t}" for t in _TABLES), id="tables-dropped"),
        pytest.param(("DELETE FROM version_tags", "DELETE FROM dataset_versions"), id="rows-deleted"),
        pytest.param(
            (
                "DELETE FROM version_tags",
                "DELETE FROM dataset_versions WHERE version = 2",
            ),
            id="older-rows",
        ),
        pytest.param(("UPDATE dataset_versions SET shredded_at = NULL, shredded_by = NULL",), id="shred-undone"),
        pytest.param(("DELETE FROM mlwarden_meta WHERE key = 'catalog_id'",), id="identity-lost"),
    ],
)
def test_an_emptied_or_rolled_back_catalog_is_refused(filled: Settings, damage: tuple[str, ...]) -> None:
    _sql(filled, *damage)
    message = _refused(filled)
    assert filled.catalog_url is not None or str(filled.home / "catalog.db") in message
    if "DROP" in damage[0]:  # nothing was recreated
        engine = create_engine(_url(filled))
        try:
            with engine.connect() as conn:
                assert conn.dialect.has_table(conn, "mlwarden_meta") is False
        finally:
            engine.dispose()


def test_a_catalog_replaced_by_a_fresh_one_is_refused(filled: Settings) -> None:
    _sql(filled, *(f"DROP TABLE {t}" for t in _TABLES))
    Catalog.open_url(_url(filled)).close()  # a new, empty catalog with its own identity
    _refused(filled, "replaced")


def test_a_deleted_catalog_is_refused_and_not_recreated_then_restored(tmp_path: Path, filled_sqlite: Settings) -> None:
    filled = filled_sqlite
    db = filled.home / "catalog.db"
    backup = tmp_path / "backup.db"
    _copy_db(db, backup)
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        (filled.home / name).unlink(missing_ok=True)
    assert "missing" in _refused(filled, str(db))
    assert not db.exists()
    shutil.copyfile(backup, db)
    _readable(filled)


def test_an_older_copy_of_the_catalog_is_refused(tmp_path: Path, filled_sqlite: Settings) -> None:
    filled = filled_sqlite  # on PostgreSQL, "older-rows" above is the same case
    db = filled.home / "catalog.db"
    old = tmp_path / "old.db"
    _copy_db(db, old)
    with mlwarden.Workspace.open(settings=filled) as ws:
        ws.datasets.put(b"three", name="b")
    newest = tmp_path / "newest.db"
    _copy_db(db, newest)
    for name in ("catalog.db-wal", "catalog.db-shm"):
        (filled.home / name).unlink(missing_ok=True)
    shutil.copyfile(old, db)
    assert "fewer than the 5 dataset versions (1 shredded)" in _refused(filled, "older copy")
    shutil.copyfile(newest, db)
    with mlwarden.Workspace.open(settings=filled) as ws:
        assert ws.datasets.read_bytes("b", 3) == b"three"


def test_a_catalog_ahead_of_the_mark_raises_it(filled: Settings) -> None:
    # A process stopped between its catalog commit and raising the mark leaves the catalog ahead.
    plain = Catalog.open_url(_url(filled))  # no witness: the mark stays at 4
    plain.add_version(
        "c",
        NewVersion(os.urandom(16).hex(), "c" * 64, 1, None, "binary", {}, 1, "2026-01-01T00:00:00Z", "x", {}),
    )
    plain.close()
    with mlwarden.Workspace.open(settings=filled) as ws:
        assert ws._open_catalog().counts().dataset_versions == 5
    # The mark is 5 now: taking the row away again is refused.
    _sql(filled, "DELETE FROM dataset_versions WHERE dataset_id = (SELECT id FROM datasets WHERE name = 'c')")
    _refused(filled, "fewer than the 5")


def test_a_forged_mark_is_refused(filled: Settings) -> None:
    with _access(filled) as conn:
        conn.execute("UPDATE catalog_mark SET dataset_versions = 0")
    with mlwarden.Workspace.open(settings=filled) as ws, pytest.raises(IntegrityError, match="catalog mark"):
        ws.datasets.list()


# -- adoption: a workspace without a mark (older than marks) ----------------------------------


def _forget_mark(settings: Settings) -> None:
    with _access(settings) as conn:
        conn.execute("DELETE FROM catalog_mark")


def test_an_older_workspace_adopts_its_catalog_once(filled: Settings) -> None:
    _forget_mark(filled)
    _readable(filled)
    with _access(filled) as conn:
        assert conn.execute("SELECT dataset_versions, shredded_versions FROM catalog_mark").fetchall() == [(4, 1)]


def test_an_older_workspace_whose_catalog_lost_rows_is_not_adopted(filled: Settings) -> None:
    _forget_mark(filled)
    _sql(filled, "DELETE FROM version_tags", "DELETE FROM dataset_versions WHERE version = 2")
    _refused(filled, "the audit log records as written")


def test_an_older_workspace_whose_catalog_is_gone_is_not_adopted(filled: Settings) -> None:
    _forget_mark(filled)
    with contextlib.closing(
        sqlite3.connect(filled.home / "access.db", isolation_level=None)
    ) as conn:  # even without the log's evidence
        conn.execute("DELETE FROM audit_entries")
    _sql(filled, *(f"DROP TABLE {t}" for t in _TABLES))
    if filled.catalog_url is None:
        (filled.home / "catalog.db").unlink()
    _refused(filled)


def test_a_new_workspace_creates_and_records_its_catalog(settings: Settings) -> None:
    with mlwarden.Workspace.init(settings=settings, key_source="env") as ws:
        assert ws.datasets.list() == []
    with _access(settings) as conn:
        assert conn.execute("SELECT dataset_versions, model_versions FROM catalog_mark").fetchall() == [(0, 0)]
    with mlwarden.Workspace.open(settings=settings) as ws:
        ws.datasets.put(b"x", name="x")
    with _access(settings) as conn:
        assert conn.execute("SELECT dataset_versions FROM catalog_mark").fetchall() == [(1,)]
