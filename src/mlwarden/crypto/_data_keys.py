"""Per-object data keys, wrapped by the keyring and kept apart from the payloads they protect.

Every encrypted object held by a workspace has its own random 256-bit data key. Its wrapped form
lives in one small record, ``keys/data/<first two hex digits>/<object id hex>.json`` (mode 0600,
replaced atomically)::

    {"format": "mlwarden-data-key", "version": 1, "object_id": "<32 hex>",
     "kek_version": 3, "wrapped": "<base64 of 60 bytes>", "created": "2026-11-25T17:00:00Z"}

Keeping the wrapped key out of the payload is what lets rotation rewrap every data key without
touching a payload byte, and what makes crypto-shredding possible: shredding replaces the record
with a tombstone (who, when) and overwrites the old record's bytes in place before letting go of
them::

    {"format": "mlwarden-data-key", "version": 1, "object_id": "<32 hex>",
     "shredded": "2026-11-25T18:00:00Z", "shredded_by": "alice"}

A filesystem may still keep old blocks of a record somewhere; destroying the key-encryption key
version that wrapped it (``mlwarden keys rotate`` then ``mlwarden keys destroy``) makes any such
copy useless.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlwarden._clock import Clock, timestamp, utc_now
from mlwarden._fsio import atomic_create, atomic_write, file_lock, private_dir
from mlwarden.crypto._keyring import Keyring, WrappedKey
from mlwarden.errors import AlreadyExists, BadInput, IntegrityError, NotFound, Shredded

__all__ = ["DataKeyRecord", "DataKeyStore"]

DATA_KEY_FORMAT = "mlwarden-data-key"
DATA_KEY_VERSION = 1
OBJECT_ID_SIZE = 16
_RECORD_NAME = re.compile(r"^[0-9a-f]{32}\.json$")


@dataclass(frozen=True)
class DataKeyRecord:
    """What is known about one object's data key; no key material."""

    object_id: bytes
    kek_version: int | None
    created: str | None
    shredded: str | None = None
    shredded_by: str | None = None


def _check_object_id(object_id: bytes) -> None:
    if not isinstance(object_id, bytes) or len(object_id) != OBJECT_ID_SIZE:
        raise BadInput(f"an object id is {OBJECT_ID_SIZE} bytes")


class DataKeyStore:
    """The data keys of a workspace's objects, unwrapped on demand with its :class:`Keyring`."""

    def __init__(self, root: Path, keyring: Keyring, clock: Clock = utc_now, *, lock: Path | None = None) -> None:
        """``lock`` is the workspace's lock file: new keys are then made under its shared lock,
        with the keyring re-read, so they are never wrapped under a version that a concurrent
        rotation has just superseded (rotation holds the lock exclusively)."""
        self._root = root
        self._keyring = keyring
        self._clock = clock
        self._lock = lock

    def _path(self, object_id: bytes) -> Path:
        name = object_id.hex()
        return self._root / name[:2] / f"{name}.json"

    # -- one object -------------------------------------------------------------------------

    def create(self, object_id: bytes) -> bytes:
        """Make, wrap and durably record a fresh data key for a new object; returns the key."""
        return self.create_wrapped(object_id)[0]

    def create_wrapped(self, object_id: bytes, data_key: bytes | None = None) -> tuple[bytes, WrappedKey]:
        """As :meth:`create`, also returning the key's wrapped form (for a file header).

        ``data_key`` is a fresh random key the caller already used (a store writes the object
        first and records its key only once the object is durable); by default a new one.
        """
        _check_object_id(object_id)
        path = self._path(object_id)
        if data_key is None:
            data_key = os.urandom(32)
        elif len(data_key) != 32:
            raise BadInput("a data key is 32 bytes")
        with contextlib.ExitStack() as held:
            if self._lock is not None:
                held.enter_context(file_lock(self._lock, exclusive=False))
                self._keyring.reload()
            wrapped = self._keyring.wrap(data_key, object_id)
            private_dir(path.parent)
            try:
                atomic_create(path, self._record_bytes(object_id, wrapped, timestamp(self._clock())))
            except FileExistsError:
                raise AlreadyExists(f"object {object_id.hex()} already has a data key") from None
        return data_key, wrapped

    def data_key(self, object_id: bytes) -> bytes:
        """The object's data key; :class:`Shredded` if it was destroyed, :class:`NotFound` if unknown."""
        _check_object_id(object_id)
        doc = self._read(object_id)
        if "shredded" in doc:
            raise Shredded(f"object {object_id.hex()} was shredded at {doc['shredded']} by {doc['shredded_by']}")
        return self._keyring.unwrap(self._wrapped(doc), object_id)

    def record(self, object_id: bytes) -> DataKeyRecord:
        _check_object_id(object_id)
        return self._to_record(object_id, self._read(object_id))

    def shred(self, object_id: bytes, *, by: str) -> None:
        """Destroy the object's data key for good, leaving a tombstone that says who and when."""
        _check_object_id(object_id)
        doc = self._read(object_id)
        if "shredded" in doc:
            raise Shredded(f"object {object_id.hex()} was already shredded at {doc['shredded']}")
        path = self._path(object_id)
        tombstone = {
            "format": DATA_KEY_FORMAT,
            "version": DATA_KEY_VERSION,
            "object_id": object_id.hex(),
            "shredded": timestamp(self._clock()),
            "shredded_by": by,
        }
        # Keep the old record's inode open across the atomic replace, then overwrite it in place.
        old = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(old).st_size
            atomic_write(path, _dump(tombstone))
            os.pwrite(old, b"\0" * size, 0)
            os.fsync(old)
        finally:
            os.close(old)

    # -- all objects ------------------------------------------------------------------------

    def object_ids(self) -> Iterator[bytes]:
        if not self._root.is_dir():
            return
        for shard in sorted(self._root.iterdir()):
            if not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                if _RECORD_NAME.match(entry.name):
                    yield bytes.fromhex(entry.name[:-5])

    def count(self) -> int:
        """How many objects have a record (tombstones included); reads no record."""
        return sum(1 for _ in self.object_ids())

    def records(self) -> Iterator[DataKeyRecord]:
        for object_id in self.object_ids():
            yield self.record(object_id)

    def count_by_version(self) -> dict[int, int]:
        """How many live data keys each key-encryption key version wraps."""
        counts: dict[int, int] = {}
        for rec in self.records():
            if rec.kek_version is not None:
                counts[rec.kek_version] = counts.get(rec.kek_version, 0) + 1
        return counts

    def rewrap_all(self, progress: Callable[[int], None] | None = None) -> int:
        """Rewrap every live data key not yet under the primary KEK; returns how many changed.

        Each record is replaced atomically, so an interruption at any point leaves every record
        readable (under the old version or the new one) and a second run finishes the job.
        """
        primary = self._keyring.primary
        changed = 0
        for object_id in self.object_ids():
            doc = self._read(object_id)
            if "shredded" not in doc and doc["kek_version"] != primary:
                data_key = self._keyring.unwrap(self._wrapped(doc), object_id)
                wrapped = self._keyring.wrap(data_key, object_id)
                atomic_write(self._path(object_id), self._record_bytes(object_id, wrapped, doc["created"]))
                changed += 1
            if progress is not None:
                progress(1)
        return changed

    # -- records on disk ----------------------------------------------------------------------

    def _read(self, object_id: bytes) -> dict[str, Any]:
        path = self._path(object_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no data key for object {object_id.hex()} in this workspace") from None
        try:
            doc = json.loads(raw)
            valid = (
                isinstance(doc, dict)
                and doc.get("format") == DATA_KEY_FORMAT
                and doc.get("version") == DATA_KEY_VERSION
                and doc.get("object_id") == object_id.hex()
                and (
                    (
                        isinstance(doc.get("shredded"), str)
                        and isinstance(doc.get("shredded_by"), str)
                        and "wrapped" not in doc
                    )
                    or (
                        "shredded" not in doc
                        and type(doc.get("kek_version")) is int
                        and isinstance(doc.get("wrapped"), str)
                        and isinstance(doc.get("created"), str)
                    )
                )
            )
        except ValueError:
            valid = False
        if not valid:
            raise IntegrityError(f"the data key record of object {object_id.hex()} is damaged")
        return doc  # type: ignore[no-any-return]

    @staticmethod
    def _wrapped(doc: dict[str, Any]) -> WrappedKey:
        try:
            blob = base64.b64decode(doc["wrapped"], validate=True)
        except ValueError:
            raise IntegrityError(f"the data key record of object {doc['object_id']} is damaged") from None
        return WrappedKey(doc["kek_version"], blob)

    @staticmethod
    def _to_record(object_id: bytes, doc: dict[str, Any]) -> DataKeyRecord:
        if "shredded" in doc:
            return DataKeyRecord(object_id, None, None, doc["shredded"], doc["shredded_by"])
        return DataKeyRecord(object_id, doc["kek_version"], doc.get("created"))

    @staticmethod
    def _record_bytes(object_id: bytes, wrapped: WrappedKey, created: str) -> bytes:
        return _dump(
            {
                "format": DATA_KEY_FORMAT,
                "version": DATA_KEY_VERSION,
                "object_id": object_id.hex(),
                "kek_version": wrapped.kek_version,
                "wrapped": base64.b64encode(wrapped.blob).decode(),
                "created": created,
            }
        )


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, sort_keys=True) + "\n").encode()
