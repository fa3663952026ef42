"""Trusting a catalog: the workspace refuses one that holds less than it knows was recorded.

Whatever the catalog does not list looks like garbage: ``data check`` counts it as orphaned and
``data gc`` deletes it. A catalog deleted, emptied, replaced or rolled back to an older backup,
and then silently recreated or believed, would turn every version it lost into garbage. So the
workspace keeps evidence of what its catalog must hold, where the catalog cannot rewrite it:

* the catalog's **identity**, a random ``catalog_id`` in its ``mlwarden_meta`` table, written when
  the catalog is created (or, for a catalog made by an older mlwarden, when the workspace adopts it);
* the **mark**: that identity and three counts that only ever grow (dataset versions, shredded
  dataset versions, model versions: rows are never deleted, a tombstone is never undone), kept in
  the ``catalog_mark`` table of ``access.db`` under an HMAC key derived from the workspace
  identity (so only the master key can forge it). Every committed write that adds a dataset version,
  a tombstone or a model version raises it.

On open, a recorded catalog must exist, carry the recorded identity, have all its tables and
hold at least the recorded counts; anything else is :class:`~mlwarden.errors.IntegrityError`
naming the catalog and saying to restore it from a backup, and nothing is created. A count above
the mark (a process stopped between its catalog commit and raising the mark) raises the mark.

A workspace without a mark (made before marks existed, or whose catalog was never opened) adopts
its catalog on first open and records the mark then, unless the catalog is missing or younger
than the workspace's objects: fewer versions than the audit log records as written, or no
version at all while objects are stored. The same holds on SQLite and on PostgreSQL
(``MLWARDEN_CATALOG_URL``): the mark is in ``access.db`` whichever database holds the catalog.

What this does not catch: someone with write access to the catalog who deletes rows and inserts as
many forged ones; and a rollback to a backup taken after the mark was last raised (a process
stopped between its commit and the mark, then the catalog restored to just before that commit).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hmac import compare_digest
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from mlwarden._access_db import open_access_db
from mlwarden._sqlite import write_transaction
from mlwarden.auditlog import AuditEntry
from mlwarden.errors import IntegrityError, Unavailable

__all__ = ["CatalogCounts", "CatalogMark", "CatalogWitness", "Evidence", "evidence_of"]

_OBJECT_NAME = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class CatalogCounts:
    """Rows a catalog holds; each only grows."""

    dataset_versions: int = 0
    shredded_versions: int = 0
    model_versions: int = 0

    def covers(self, other: CatalogCounts) -> bool:
        return (
            self.dataset_versions >= other.dataset_versions
            and self.shredded_versions >= other.shredded_versions
            and self.model_versions >= other.model_versions
        )

    def merged(self, other: CatalogCounts) -> CatalogCounts:
        return CatalogCounts(
            max(self.dataset_versions, other.dataset_versions),
            max(self.shredded_versions, other.shredded_versions),
            max(self.model_versions, other.model_versions),
        )

    def describe(self) -> str:
        return (
            f"{self.dataset_versions} dataset versions ({self.shredded_versions} shredded) "
            f"and {self.model_versions} model versions"
        )


@dataclass(frozen=True)
class CatalogMark:
    """What the workspace knows its catalog must be and hold."""

    catalog_id: str
    counts: CatalogCounts


@dataclass(frozen=True)
class Evidence:
    """What a workspace without a mark knows its catalog must hold, to adopt it."""

    floor: CatalogCounts = CatalogCounts()  # the versions its audit log records as written and shredded
    dataset_objects: bool = False  # whether dataset objects are stored
    model_objects: bool = False  # whether model objects are stored

    @property
    def expects_catalog(self) -> bool:
        return self.dataset_objects or self.model_objects or self.floor != CatalogCounts()


def _holds_objects(root: Path) -> bool:
    """Whether ``root`` (an object backend's folder, ``<xx>/<object id>``) holds any object."""
    if not root.is_dir():
        return False
    return any(
        _OBJECT_NAME.fullmatch(entry.name) for shard in root.iterdir() if shard.is_dir() for entry in shard.iterdir()
    )


def evidence_of(entries: Iterable[AuditEntry], dataset_objects: Path, model_objects: Path) -> Evidence:
    """The evidence in a workspace's audit log and object folders (read once, to adopt a catalog)."""
    written = shredded = models = 0
    for entry in entries:
        if entry.outcome != "succeeded":
            continue
        if entry.action == "dataset.write" and entry.details.get("created") is True:
            written += 1
        elif entry.action == "dataset.shred":
            shredded += 1
        elif entry.action == "model.register" and "version" in entry.details:
            models += 1  # a registered version (signing a file outside the registry names none)
    return Evidence(
        CatalogCounts(written, shredded, models), _holds_objects(dataset_objects), _holds_objects(model_objects)
    )


class CatalogWitness:
    """The catalog mark in the access database, MAC'd with ``mac_key`` (the workspace's).

    ``evidence`` is called only to adopt a catalog that has no mark yet. Safe to share between
    threads.
    """

    def __init__(self, access_db: Path, mac_key: bytes, evidence: Callable[[], Evidence]) -> None:
        self._path = access_db
        self._mac_key = mac_key
        self._evidence = evidence
        self._evidence_cache: Evidence | None = None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<CatalogWitness {self._path}>"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def evidence(self) -> Evidence:
        """The evidence, gathered once (it reads the whole audit log and the object folders)."""
        if self._evidence_cache is None:
            self._evidence_cache = self._evidence()
        return self._evidence_cache

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = open_access_db(self._path)
            except sqlite3.Error as exc:
                raise Unavailable(f"the access database at {self._path} cannot be opened ({exc})") from None
        return self._conn

    def _mac(self, catalog_id: str, counts: CatalogCounts) -> bytes:
        fields = ["mlwarden-catalog-mark", 1, catalog_id, counts.dataset_versions, counts.shredded_versions]
        mac = hmac.HMAC(self._mac_key, hashes.SHA256())
        mac.update(json.dumps([*fields, counts.model_versions], separators=(",", ":")).encode())
        return mac.finalize()

    def _read(self, conn: sqlite3.Connection) -> CatalogMark | None:
        row = conn.execute(
            "SELECT catalog_id, dataset_versions, shredded_versions, model_versions, mac FROM catalog_mark WHERE id = 0"
        ).fetchone()
        if row is None:
            return None
        catalog_id, *numbers, mac = row
        ok = isinstance(catalog_id, str) and all(isinstance(n, int) and n >= 0 for n in numbers)
        mark = CatalogMark(str(catalog_id), CatalogCounts(*(int(n) for n in numbers))) if ok else None
        expected = None if mark is None else self._mac(mark.catalog_id, mark.counts)
        if mark is None or expected is None or not isinstance(mac, bytes) or not compare_digest(mac, expected):
            raise IntegrityError(
                f"the catalog mark in {self._path} was changed outside mlwarden; "
                f"restore {self._path.name} from a backup"
            )
        return mark

    def read(self) -> CatalogMark | None:
        """The recorded mark, or ``None`` if none was ever recorded."""
        with self._lock:
            try:
                return self._read(self._connection())
            except sqlite3.Error as exc:
                raise Unavailable(f"the access database at {self._path} cannot be read ({exc})") from None

    def record(self, mark: CatalogMark) -> CatalogMark:
        """Raise the recorded mark to ``mark`` (each count to the larger of both); returns the result.

        :class:`~mlwarden.errors.IntegrityError` if a mark for another catalog is recorded.
        """
        with self._lock:
            try:
                with write_transaction(self._connection()) as conn:
                    found = self._read(conn)
                    if found is not None and found.catalog_id != mark.catalog_id:
                        raise IntegrityError(
                            f"this workspace recorded catalog {found.catalog_id}, not {mark.catalog_id}; "
                            "restore the workspace's own catalog from a backup"
                        )
                    counts = mark.counts if found is None else found.counts.merged(mark.counts)
                    if found is None or counts != found.counts:
                        conn.execute(
                            "INSERT OR REPLACE INTO catalog_mark (id, catalog_id, dataset_versions, shredded_versions, "
                            "model_versions, mac) VALUES (0, ?, ?, ?, ?, ?)",
                            (
                                mark.catalog_id,
                                counts.dataset_versions,
                                counts.shredded_versions,
                                counts.model_versions,
                                self._mac(mark.catalog_id, counts),
                            ),
                        )
                    return CatalogMark(mark.catalog_id, counts)
            except sqlite3.Error as exc:
                raise Unavailable(f"the access database at {self._path} cannot be written ({exc})") from None
