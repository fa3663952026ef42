"""Whole objects sealed under their own data key in one backend: the registry's and the reports'.

A model file, an explanation background, a drift profile, a drift window or a stored report is
written as one streaming-AEAD object (associated data ``b"mlwarden/object/v1" || object_id``,
as a dataset object) under a fresh data key wrapped in the workspace's key store. Reading one back
authenticates every byte; each failure is an :class:`~mlwarden.errors.IntegrityError` naming what
was read (exit 3). The caller checks the plaintext against the digest it recorded.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import TYPE_CHECKING

from mlwarden.crypto._data_keys import OBJECT_ID_SIZE, DataKeyStore
from mlwarden.crypto._envelope import open_object, seal_object
from mlwarden.errors import IntegrityError, NotFound, Shredded

if TYPE_CHECKING:
    from mlwarden.store._backend import ObjectBackend

__all__ = ["SealedObjects"]


class SealedObjects:
    """Seal, open and discard whole objects in ``backend``; ``owner`` names them when discarded."""

    def __init__(self, backend: ObjectBackend, data_keys: DataKeyStore, *, owner: str) -> None:
        self._backend = backend
        self._data_keys = data_keys
        self._owner = owner

    def __repr__(self) -> str:
        return f"<SealedObjects of {self._owner}>"

    def seal(self, data: bytes) -> bytes:
        """Store ``data`` encrypted under a fresh data key; its object id (remove with :meth:`discard`)."""
        object_id = os.urandom(OBJECT_ID_SIZE)
        data_key = os.urandom(32)
        with self._backend.create(object_id.hex()) as out:
            seal_object(data_key, object_id, io.BytesIO(data), out)
        try:
            self._data_keys.create_wrapped(object_id, data_key)
        except BaseException:
            self._backend.delete(object_id.hex())
            raise
        return object_id

    def discard(self, object_id: bytes) -> None:
        """Shred the data key of an object never committed, and delete it."""
        with contextlib.suppress(NotFound, Shredded):
            self._data_keys.shred(object_id, by=f"mlwarden (uncommitted {self._owner})")
        self._backend.delete(object_id.hex())

    def open(self, object_id: bytes, what: str) -> bytes:
        """Decrypt one object; ``what`` names it in errors."""
        try:
            data_key = self._data_keys.data_key(object_id)
        except (NotFound, Shredded):
            raise IntegrityError(f"{what} has lost its data key; it cannot be read") from None
        try:
            src = self._backend.open(object_id.hex())
        except NotFound:
            raise IntegrityError(f"{what} is missing from the store") from None
        out = io.BytesIO()
        with src:
            try:
                open_object(data_key, object_id, src, out)
            except IntegrityError as exc:
                raise IntegrityError(f"{what} failed authentication: {exc}") from None
        return out.getvalue()
