"""The catalog: numbering, dedup, tombstones, tags, concurrency, portability and durability settings."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from mlwarden.catalog import CATALOG_VERSION, Catalog, NewVersion
from mlwarden.catalog._tables import metadata
from mlwarden.errors import BadInput, NotFound, Unavailable


def _new(sha: str = "a" * 64, object_id: str | None = None, tags: dict[str, str] | None = None) -> NewVersion:
    return NewVersion(
        object_id=object_id or os.urandom(16).hex(),
        sha256=sha,
        size=10,
        rows=2,
        format="csv",
        schema={"format": "csv", "columns": [{"name": "x", "type": "int64"}], "rows": 2, "error": None},
        key_version=1,
        created_at="2026-11-25T18:00:00Z",
        created_by="alice",
        tags=tags or {},
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on the embedded SQLite catalog and on a real PostgreSQL server."""
    if request.param == "sqlite":
        Catalog.open_sqlite(tmp_path / "catalog.db").close()
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("postgres").new_database())


@pytest.fixture
def catalog(catalog_url: str) -> Catalog:
    c = Catalog.open_url(catalog_url)
    yield c
    c.close()


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Catalog:
    c = Catalog.open_sqlite(tmp_path / "catalog.db")
    yield c
    c.close()


def test_schema_compiles_for_postgresql_and_sqlite() -> None:
    for dialect in (postgresql.dialect(), sqlite.dialect()):
        for table in metadata.sorted_tables:
            ddl = str(CreateTable(table).compile(dialect=dialect))
            assert "CREATE TABLE" in ddl
            for index in table.indexes:
                str(CreateIndex(index).compile(dialect=dialect))
    pg = "\n".join(str(CreateTable(t).compile(dialect=postgresql.dialect())) for t in metadata.sorted_tables)
    assert "BIGINT" in pg
    assert "AUTOINCREMENT" not in pg


def test_file_is_private_and_durable(tmp_path: Path, sqlite_catalog: Catalog) -> None:
    catalog = sqlite_catalog
    catalog.add_version("d", _new())
    db = tmp_path / "catalog.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for suffix in ("-wal", "-shm"):
        extra = tmp_path / f"catalog.db{suffix}"
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT value FROM mlwarden_meta WHERE key = 'catalog_version'").fetchone()[0] == str(
        CATALOG_VERSION
    )
    raw.close()
    with catalog._engine.connect() as conn:  # the settings each connection gets
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_versions_count_up_and_identical_content_is_not_a_new_version(catalog: Catalog) -> None:
    first, created = catalog.add_version("credit", _new("a" * 64))
    assert (first.version, created) == (1, True)
    again, created = catalog.add_version("credit", _new("a" * 64))
    assert (again.version, created) == (1, False)
    forced, created = catalog.add_version("credit", _new("a" * 64), force=True)
    assert (forced.version, created) == (2, True)
    third, _ = catalog.add_version("credit", _new("b" * 64))
    assert third.version == 3
    assert [v.version for v in catalog.versions("credit")] == [1, 2, 3]
    assert catalog.version("credit").version == 3
    assert catalog.version("credit", 1).sha256 == "a" * 64
    other, _ = catalog.add_version("other", _new("a" * 64))
    assert other.version == 1  # numbering is per dataset


def test_tags_and_facts_round_trip(catalog: Catalog) -> None:
    new = _new(tags={"source": "uci", "owner": "risk-team", "empty": ""})
    row, _ = catalog.add_version("d", new)
    assert row.tags == {"empty": "", "owner": "risk-team", "source": "uci"}
    assert (row.size, row.rows, row.format, row.key_version, row.created_by) == (10, 2, "csv", 1, "alice")
    assert row.schema == dict(new.schema)
    assert row.object_id == new.object_id
    assert catalog.object_ids() == {new.object_id}


def test_shredded_versions_stay_as_tombstones(catalog: Catalog) -> None:
    catalog.add_version("d", _new("a" * 64))
    catalog.add_version("d", _new("b" * 64))
    gone = catalog.mark_shredded("d", 2, by="bob", at="2026-11-25T19:00:00Z")
    assert (gone.shredded_by, gone.shredded_at) == ("bob", "2026-11-25T19:00:00Z")
    assert catalog.version("d").version == 1  # the newest live version
    assert catalog.version("d", 2).shredded_at is not None
    # Identical to the shredded version but not to the live one: a new version, numbered after it.
    row, created = catalog.add_version("d", _new("b" * 64))
    assert (row.version, created) == (3, True)
    catalog.mark_shredded("d", 1, by="bob", at="t")
    catalog.mark_shredded("d", 3, by="bob", at="t")
    assert catalog.version("d").version == 3  # all shredded: the newest, a tombstone
    summary = {d.name: d for d in catalog.datasets()}["d"]
    assert summary.versions == 3
    assert summary.latest is None


def test_unknown_names_and_versions_are_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        catalog.version("nope")
    with pytest.raises(NotFound, match="no dataset named"):
        catalog.versions("nope")
    catalog.add_version("d", _new())
    with pytest.raises(NotFound, match="has no version 7"):
        catalog.version("d", 7)


def test_concurrent_writers_never_lose_or_duplicate_a_version(catalog_url: str) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        c = Catalog.open_url(catalog_url)
        try:
            for i in range(15):
                c.add_version("shared", _new(f"{n:032x}{i:032x}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = Catalog.open_url(catalog_url)
    rows = c.versions("shared")
    assert [r.version for r in rows] == list(range(1, 91))
    assert len({r.sha256 for r in rows}) == 90
    c.close()


def test_concurrent_writers_of_identical_content_make_one_version(catalog_url: str) -> None:
    results: list[tuple[int, bool]] = []
    barrier = threading.Barrier(4)

    def writer() -> None:
        c = Catalog.open_url(catalog_url)
        barrier.wait()
        row, created = c.add_version("same", _new("c" * 64))
        results.append((row.version, created))
        c.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(1, False), (1, False), (1, False), (1, True)]


def test_newer_catalog_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    Catalog.open_sqlite(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE mlwarden_meta SET value = '99' WHERE key = 'catalog_version'")
    raw.commit()
    raw.close()
    with pytest.raises(BadInput, match="catalog format version 99"):
        Catalog.open_sqlite(path)


def test_a_damaged_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(Unavailable, match="catalog database"):
        Catalog.open_sqlite(path)
    assert Unavailable.exit_code == 3
