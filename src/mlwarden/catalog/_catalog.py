"""The catalog: what the workspace knows about its datasets, over SQLAlchemy Core.

Embedded workspaces keep it in ``<home>/catalog.db``, SQLite in WAL mode with
``synchronous=FULL`` (a commit is on disk before it returns) and ``BEGIN IMMEDIATE`` for
writes (writers queue on the database lock instead of failing on a lock upgrade). Those are
connection settings, applied only when the URL is SQLite; every statement is portable and
a server deployment points ``MLWARDEN_CATALOG_URL`` at PostgreSQL instead.

Concurrent writers are safe on both: versions are numbered inside the writing transaction, and
the ``(dataset, version)`` unique constraint turns a lost race (possible on PostgreSQL's read
committed isolation) into a retry, never a duplicate or a lost version.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden.catalog._tables import (
    CATALOG_VERSION,
    data_audits,
    dataset_versions,
    datasets,
    drift_windows,
    erasures,
    meta,
    metadata,
    model_approvals,
    model_versions,
    monitor_reports,
    pii_columns,
    pii_decisions,
    version_tags,
)
from mlwarden.catalog._trust import CatalogCounts, CatalogMark, CatalogWitness
from mlwarden.errors import BadInput, IntegrityError, NotFound, Unavailable

if TYPE_CHECKING:
    from mlwarden.catalog._approvals import ApprovalCatalog
    from mlwarden.catalog._audits import AuditCatalog
    from mlwarden.catalog._models import ModelCatalog
    from mlwarden.catalog._monitoring import MonitorCatalog
    from mlwarden.catalog._privacy import PrivacyCatalog

__all__ = ["Catalog", "DatasetRow", "NewVersion", "VersionRow"]

_RETRIES = 8
_BUSY_TIMEOUT_MS = 60_000
_SETUP_LOCK = int.from_bytes(b"mlwcat", "big")  # the advisory lock id for creating the tables

# Statements built once (SQLAlchemy then reuses their compiled form): a put runs four or five.
_V = dataset_versions.c
_JOINED = dataset_versions.join(datasets, datasets.c.id == _V.dataset_id)
_ROW = select(
    datasets.c.name,
    _V.id,
    _V.version,
    _V.object_id,
    _V.sha256,
    _V.size,
    _V.rows,
    _V.format,
    _V.schema_json,
    _V.key_version,
    _V.created_at,
    _V.created_by,
    _V.shredded_at,
    _V.shredded_by,
).select_from(_JOINED)
_BY_NAME = datasets.c.name == bindparam("name")
_LIVE = _V.shredded_at.is_(None)
_LATEST_LIVE = _ROW.where(_BY_NAME, _LIVE).order_by(_V.version.desc()).limit(1)
_LATEST_LIVE_SHA = select(_V.sha256).select_from(_JOINED).where(_BY_NAME, _LIVE).order_by(_V.version.desc()).limit(1)
_ONE_VERSION = _ROW.where(_BY_NAME, _V.version == bindparam("version"))
_NEWEST = _ROW.where(_BY_NAME).order_by(_V.version.desc()).limit(1)
_DATASET_ID = select(datasets.c.id).where(_BY_NAME)
_LOCK_DATASET = _DATASET_ID.with_for_update()
_HIGHEST = select(func.max(_V.version)).where(_V.dataset_id == bindparam("dataset_id"))
_COUNTS = select(
    select(func.count()).select_from(dataset_versions).scalar_subquery(),
    select(func.count()).select_from(dataset_versions).where(_V.shredded_at.is_not(None)).scalar_subquery(),
    select(func.count()).select_from(model_versions).scalar_subquery(),
)
_RESTORE = "restore it from a backup (mlwarden never recreates a catalog it recorded)"
_TAGS = select(version_tags.c.version_id, version_tags.c.key, version_tags.c.value).where(
    version_tags.c.version_id.in_(bindparam("ids", expanding=True))
)


@dataclass(frozen=True)
class NewVersion:
    """The facts about a new dataset version, as the store measured them."""

    object_id: str
    sha256: str
    size: int
    rows: int | None
    format: str
    schema: Mapping[str, Any]
    key_version: int
    created_at: str
    created_by: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class VersionRow(NewVersion):
    """One dataset version as recorded in the catalog: its facts, its name and number, and its
    tombstone (``shredded_at`` and ``shredded_by`` are set once its data key was destroyed)."""

    name: str
    version: int
    shredded_at: str | None
    shredded_by: str | None


@dataclass(frozen=True)
class DatasetRow:
    """One dataset: its name, when it appeared, and its versions at a glance."""

    name: str
    created_at: str
    created_by: str
    versions: int
    latest: VersionRow | None  # the newest version not shredded


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("mlwarden_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _enable_wal(cursor: Any) -> None:
    """Put the database in WAL mode (persistent: a no-op once done).

    Switching a new database to WAL needs a moment of exclusive access, and SQLite does not
    wait for it (no busy timeout, to avoid deadlocks): a second process doing the same at that
    instant gets "database is locked" at once. So retry, with backoff, up to the busy timeout.
    """
    import sqlite3

    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            mode = None
        if mode is not None and str(mode[0]).lower() in ("wal", "memory"):  # an in-memory database has no WAL
            return
        if time.monotonic() > deadline:
            raise Unavailable("the catalog database stayed locked; another mlwarden process holds it")
        time.sleep(delay + random.uniform(0, delay))  # noqa: S311 - jitter, not a secret
        delay = min(delay * 2, 0.1)


class Catalog:
    """Datasets, versions and tags. Open with :meth:`open_sqlite` or :meth:`open_url`.

    With a ``witness`` (the workspace's record of its catalog, :mod:`mlwarden.catalog._trust`),
    a recorded catalog that is missing, emptied, replaced or older than recorded is refused
    (:class:`~mlwarden.errors.IntegrityError`) and never recreated; one not yet recorded is
    adopted, and every committed write raises the record. Without one the catalog is trusted
    as it is, and created if missing.
    """

    def __init__(self, engine: Engine, *, witness: CatalogWitness | None = None, where: str | None = None) -> None:
        self._engine = engine
        self._where = where or engine.url.render_as_string(hide_password=True)
        self._witness: CatalogWitness | None = None
        self._catalog_id = ""
        if witness is None:
            self._setup()
            return
        try:
            mark = witness.read()
            if mark is None:
                self._adopt(witness)
            else:
                self._check_recorded(witness, mark)
        except BaseException:
            engine.dispose()
            witness.close()
            raise
        self._witness = witness

    @classmethod
    def open_sqlite(cls, path: Path, *, witness: CatalogWitness | None = None) -> Catalog:
        """The embedded catalog at ``path``; created 0600 if missing, unless ``witness`` says it must exist."""
        if not path.exists():
            if witness is not None and (witness.read() is not None or witness.evidence().expects_catalog):
                raise IntegrityError(f"the catalog {path} is missing; {_RESTORE}")
            # SQLite gives its -wal and -shm files the database file's permissions.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
        engine = create_engine(f"sqlite:///{path}")
        _configure_sqlite(engine)
        return cls(engine, witness=witness, where=str(path))

    @classmethod
    def open_url(cls, url: str, *, witness: CatalogWitness | None = None) -> Catalog:
        """A catalog on a database server (``postgresql+psycopg://...``) or any SQLAlchemy URL."""
        engine = create_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        return cls(engine, witness=witness)

    def __repr__(self) -> str:
        return f"<Catalog {self._engine.dialect.name}>"

    def close(self) -> None:
        self._engine.dispose()
        if self._witness is not None:
            self._witness.close()

    @property
    def models(self) -> ModelCatalog:
        """The model registry's rows (same database)."""
        from mlwarden.catalog._models import ModelCatalog

        return ModelCatalog(self._transaction)

    @property
    def monitoring(self) -> MonitorCatalog:
        """The server's drift windows and the stored monitoring reports' rows (same database)."""
        from mlwarden.catalog._monitoring import MonitorCatalog

        return MonitorCatalog(self._transaction)

    @property
    def approvals(self) -> ApprovalCatalog:
        """The four-eyes approvals of model versions (same database)."""
        from mlwarden.catalog._approvals import ApprovalCatalog

        return ApprovalCatalog(self._transaction)

    @property
    def privacy(self) -> PrivacyCatalog:
        """The personal-data classes of columns, a steward's decisions and erasure requests (same database)."""
        from mlwarden.catalog._privacy import PrivacyCatalog

        return PrivacyCatalog(self._transaction)

    @property
    def audits(self) -> AuditCatalog:
        """The training-data audits' rows (same database)."""
        from mlwarden.catalog._audits import AuditCatalog

        return AuditCatalog(self._transaction)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    # -- transactions -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, *, write: bool, grows: bool = False) -> Iterator[Connection]:
        """A transaction; ``grows``: a write that may add versions or tombstones (the mark follows it)."""
        try:
            with self._engine.connect() as connection:
                if write:
                    connection = connection.execution_options(mlwarden_write=True)
                with connection.begin():
                    yield connection
        except SqlIntegrityError:
            raise
        except OperationalError as exc:
            raise Unavailable(f"the catalog database is unavailable: {_first_line(exc)}") from None
        except DBAPIError as exc:
            raise Unavailable(f"the catalog database failed: {_first_line(exc)}") from None
        if grows and self._witness is not None:
            self._raise_mark()

    # -- trust (see mlwarden.catalog._trust) ----------------------------------------------------

    def _refuse(self, problem: str) -> IntegrityError:
        return IntegrityError(f"the catalog {self._where} {problem}; {_RESTORE}")

    def counts(self) -> CatalogCounts:
        """How many dataset versions (and of them shredded) and model versions the catalog holds."""
        with self._transaction(write=False) as conn:
            row = conn.execute(_COUNTS).one()
        return CatalogCounts(int(row[0]), int(row[1]), int(row[2]))

    def _raise_mark(self) -> None:
        """After a committed write: raise the workspace's mark to what the catalog now holds.

        Best effort: the commit stands either way (failing here would make a put discard the
        object of a version that exists), and a mark left behind is caught up at the next open.
        """
        assert self._witness is not None
        with contextlib.suppress(Exception):
            self._witness.record(CatalogMark(self._catalog_id, self.counts()))

    def _meta(self) -> tuple[dict[str, str], set[str]]:
        """The ``mlwarden_meta`` rows and the names of the tables there are."""
        with self._transaction(write=False) as conn:
            tables = set(inspect(conn).get_table_names())
            if meta.name not in tables:
                return {}, tables
            return {str(k): str(v) for k, v in conn.execute(select(meta.c.key, meta.c.value)).all()}, tables

    def _check_recorded(self, witness: CatalogWitness, mark: CatalogMark) -> None:
        """Refuse a catalog that is not the one recorded, or holds less than recorded; create nothing."""
        values, tables = self._meta()
        if not values:
            raise self._refuse("holds no catalog (it was emptied or recreated)")
        if values.get("catalog_id") != mark.catalog_id:
            raise self._refuse(f"is not the catalog this workspace recorded ({mark.catalog_id}): it was replaced")
        # An older catalog never had the tables added since (model_versions in 2, data_audits in 3, the
        # approvals and monitoring tables in 4, the personal-data tables in 5): _setup adds them.
        five = (pii_columns, pii_decisions, erasures)
        four = (model_approvals, drift_windows, monitor_reports, *five)
        added = {
            "1": (model_versions, data_audits, *four),
            "2": (data_audits, *four),
            "3": four,
            "4": five,
        }.get(values.get("catalog_version", ""), ())
        required = [t for t in metadata.sorted_tables if t not in added]
        lost = sorted(t.name for t in required if t.name not in tables)
        if lost:
            raise self._refuse(f"has lost its table {lost[0]}")
        if values.get("catalog_version") != str(CATALOG_VERSION):
            self._setup()  # upgrades an older format, refuses an unknown one
        self._catalog_id = mark.catalog_id
        counts = self.counts()
        if not counts.covers(mark.counts):
            raise self._refuse(
                f"holds {counts.describe()}, fewer than the {mark.counts.describe()} this workspace recorded "
                "(an older copy, or rows deleted)"
            )
        if counts != mark.counts:
            witness.record(CatalogMark(mark.catalog_id, counts))

    def _adopt(self, witness: CatalogWitness) -> None:
        """Record a catalog the workspace has no mark of yet, unless it is younger than the workspace's objects."""
        evidence = witness.evidence()
        self._setup()
        self._catalog_id = self._identity()
        counts = self.counts()
        if not counts.covers(evidence.floor):
            raise self._refuse(
                f"holds {counts.describe()}, fewer than the {evidence.floor.describe()} "
                "the audit log records as written"
            )
        if (evidence.dataset_objects and not counts.dataset_versions) or (
            evidence.model_objects and not counts.model_versions
        ):
            raise self._refuse("lists no version, but this workspace holds stored objects (emptied or recreated)")
        witness.record(CatalogMark(self._catalog_id, counts))

    def _identity(self) -> str:
        """The catalog's ``catalog_id``, given one first if it has none (made by an older mlwarden)."""
        for attempt in range(_RETRIES):
            try:
                with self._transaction(write=True) as conn:
                    found = conn.execute(select(meta.c.value).where(meta.c.key == "catalog_id")).scalar()
                    if found is None:
                        found = os.urandom(16).hex()
                        conn.execute(insert(meta).values(key="catalog_id", value=found))
                    return str(found)
            except SqlIntegrityError:  # another process gave it one first
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def confirm_trusted(self) -> None:
        """Check again that the catalog holds what the workspace recorded (before acting on what it lacks)."""
        if self._witness is None:
            return
        mark = self._witness.read()
        if mark is None:
            raise self._refuse("is no longer recorded by this workspace")
        self._check_recorded(self._witness, mark)

    def _setup(self) -> None:
        for attempt in range(_RETRIES):
            try:
                with self._transaction(write=True) as conn:
                    if conn.dialect.name == "postgresql":
                        # Processes creating the tables at once would collide ("relation already
                        # exists"): PostgreSQL's DDL is transactional but its existence checks are
                        # not serialised. SQLite's BEGIN IMMEDIATE already is.
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK})
                    metadata.create_all(conn, checkfirst=True)
                    found = conn.execute(select(meta.c.value).where(meta.c.key == "catalog_version")).scalar()
                    if found is None:
                        conn.execute(
                            insert(meta),
                            [
                                {"key": "catalog_version", "value": str(CATALOG_VERSION)},
                                {"key": "catalog_id", "value": os.urandom(16).hex()},
                            ],
                        )
                        return
            except SqlIntegrityError:  # two processes creating the catalog at once
                if attempt == _RETRIES - 1:
                    raise
                continue
            if found in ("1", "2", "3", "4"):  # each lacked tables (see CATALOG_VERSION): create_all just added them
                with self._transaction(write=True) as conn:
                    conn.execute(update(meta).where(meta.c.key == "catalog_version").values(value=str(CATALOG_VERSION)))
                return
            if found != str(CATALOG_VERSION):
                raise BadInput(f"catalog format version {found} is not supported by this mlwarden")
            return

    # -- writing ----------------------------------------------------------------------------

    def add_version(self, name: str, new: NewVersion, *, force: bool = False) -> tuple[VersionRow, bool]:
        """Record a new version of ``name`` (creating the dataset if needed).

        Returns ``(row, True)``; or, when the newest live version has the same SHA-256 and
        ``force`` is false, ``(that version, False)`` and nothing is written.
        """
        for attempt in range(_RETRIES):
            try:
                with self._transaction(write=True, grows=True) as conn:
                    # FOR UPDATE on the dataset's row serialises numbering per dataset on
                    # PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises every writer).
                    dataset_id = conn.execute(_LOCK_DATASET, {"name": name}).scalar()
                    if dataset_id is None:
                        dataset_id = conn.execute(
                            insert(datasets)
                            .values(name=name, created_at=new.created_at, created_by=new.created_by)
                            .returning(datasets.c.id)
                        ).scalar_one()
                    elif not force and conn.execute(_LATEST_LIVE_SHA, {"name": name}).scalar() == new.sha256:
                        latest = self._rows(conn, _LATEST_LIVE, {"name": name})
                        return latest[0], False
                    number = (conn.execute(_HIGHEST, {"dataset_id": dataset_id}).scalar() or 0) + 1
                    values = _version_values(new)
                    version_id = conn.execute(
                        insert(dataset_versions)
                        .values(dataset_id=dataset_id, version=number, **values)
                        .returning(dataset_versions.c.id)
                    ).scalar_one()
                    tags = dict(sorted(new.tags.items()))
                    if tags:
                        conn.execute(
                            insert(version_tags),
                            [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()],
                        )
                    stored = {**values, "name": name, "version": number, "shredded_at": None, "shredded_by": None}
                    return _version_row(stored, tags), True
            except SqlIntegrityError:
                # Another writer created the dataset (or took this number) first: try again.
                if attempt == _RETRIES - 1:
                    raise Unavailable("the catalog is too busy: could not number a new version") from None
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    def mark_shredded(self, name: str, version: int, *, by: str, at: str) -> VersionRow:
        """Record that a version's data key was destroyed (a tombstone: the row stays)."""
        with self._transaction(write=True, grows=True) as conn:
            row = self._version(conn, name, version)
            if row.shredded_at is None:
                dataset_id = select(datasets.c.id).where(datasets.c.name == name).scalar_subquery()
                conn.execute(
                    update(dataset_versions)
                    .where(dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.version == version)
                    .values(shredded_at=at, shredded_by=by)
                )
            return self._version(conn, name, version)

    # -- reading ----------------------------------------------------------------------------

    def version(self, name: str, version: int | None = None) -> VersionRow:
        """A version of ``name``; the newest live one when ``version`` is None (or, when every
        version is shredded, the newest tombstone)."""
        with self._transaction(write=False) as conn:
            if version is not None:
                return self._version(conn, name, version)
            for query in (_LATEST_LIVE, _NEWEST):
                found = self._rows(conn, query, {"name": name})
                if found:
                    return found[0]
            raise NotFound(f"no dataset named {name!r}; see `mlwarden data ls`")

    def latest_sha256(self, name: str) -> str | None:
        """The SHA-256 of the newest live version of ``name``, if any (one cheap query)."""
        with self._transaction(write=False) as conn:
            found = conn.execute(_LATEST_LIVE_SHA, {"name": name}).scalar()
            return None if found is None else str(found)

    def versions(self, name: str) -> list[VersionRow]:
        with self._transaction(write=False) as conn:
            if self._dataset_id(conn, name) is None:
                raise NotFound(f"no dataset named {name!r}; see `mlwarden data ls`")
            return self._rows(conn, _ROW.where(_BY_NAME).order_by(_V.version), {"name": name})

    def all_versions(self) -> list[VersionRow]:
        with self._transaction(write=False) as conn:
            return self._rows(conn, _ROW.order_by(datasets.c.name, _V.version), {})

    def datasets(self) -> list[DatasetRow]:
        with self._transaction(write=False) as conn:
            rows = self._rows(conn, _ROW.order_by(datasets.c.name, _V.version), {})
            found = conn.execute(
                select(datasets.c.name, datasets.c.created_at, datasets.c.created_by).order_by(datasets.c.name)
            ).all()
        by_name: dict[str, list[VersionRow]] = {}
        for row in rows:
            by_name.setdefault(row.name, []).append(row)
        result = []
        for name, created_at, created_by in found:
            versions = by_name.get(name, [])
            live = [v for v in versions if v.shredded_at is None]
            result.append(DatasetRow(name, created_at, created_by, len(versions), live[-1] if live else None))
        return result

    def object_ids(self) -> set[str]:
        with self._transaction(write=False) as conn:
            return set(conn.execute(select(dataset_versions.c.object_id)).scalars())

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _dataset_id(conn: Connection, name: str) -> int | None:
        found = conn.execute(_DATASET_ID, {"name": name}).scalar()
        return None if found is None else int(found)

    def _version(self, conn: Connection, name: str, version: int) -> VersionRow:
        rows = self._rows(conn, _ONE_VERSION, {"name": name, "version": version})
        if rows:
            return rows[0]
        if self._dataset_id(conn, name) is None:
            raise NotFound(f"no dataset named {name!r}; see `mlwarden data ls`")
        raise NotFound(f"dataset {name!r} has no version {version}; see `mlwarden data info {name}`")

    @staticmethod
    def _rows(conn: Connection, query: Any, params: dict[str, Any]) -> list[VersionRow]:
        found = conn.execute(query, params).all()
        ids = [r.id for r in found]
        tags: dict[int, dict[str, str]] = {}
        for start in range(0, len(ids), 500):
            for version_id, key, value in conn.execute(_TAGS, {"ids": ids[start : start + 500]}):
                tags.setdefault(version_id, {})[key] = value
        return [_version_row(r._mapping, dict(sorted(tags.get(r.id, {}).items()))) for r in found]


# The one mapping between a dataset version and its row of dataset_versions (and the dataset's name): the
# columns named as the fields are copied, the schema is stored as JSON.
_VERSION_COLUMNS = ("object_id", "sha256", "size", "rows", "format", "key_version", "created_at", "created_by")
_ROW_COLUMNS = (*_VERSION_COLUMNS, "name", "version", "shredded_at", "shredded_by")


def _version_values(new: NewVersion) -> dict[str, Any]:
    """The columns of a new version's row (but its dataset and number)."""
    values = {column: getattr(new, column) for column in _VERSION_COLUMNS}
    values["schema_json"] = json.dumps(dict(new.schema), sort_keys=True)
    return values


def _version_row(stored: Mapping[Any, Any], tags: dict[str, str]) -> VersionRow:
    """The record of a stored row (the columns of ``_ROW``) and its tags."""
    try:
        schema = json.loads(stored["schema_json"])
    except ValueError:
        raise IntegrityError(f"the catalog entry of {stored['name']}@{stored['version']} is damaged (schema)") from None
    return VersionRow(**{column: stored[column] for column in _ROW_COLUMNS}, schema=schema, tags=tags)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
