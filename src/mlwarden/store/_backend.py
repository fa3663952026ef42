"""Where encrypted objects live: a small backend interface and the local-filesystem backend.

A backend stores opaque, already-encrypted blobs under short keys (lowercase hex object ids).
It never sees plaintext or keys, so a backend is trusted for availability only: whatever it
returns is authenticated by the store before use. The interface is deliberately the common
ground of a filesystem and an S3-compatible bucket:

* :meth:`ObjectBackend.create` is write-once and atomic: the object becomes visible, complete,
  when the ``with`` block ends, or not at all; an existing key is never replaced (S3 offers
  ``If-None-Match: *`` on a multipart upload's completion for the same guarantee).
* objects are immutable once written; there is no update, only :meth:`ObjectBackend.delete`.

Local layout (folders 0700, objects 0600)::

    <root>/<first two hex digits>/<key>
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from mlwarden._fsio import atomic_output, fsync_dir, private_dir
from mlwarden.errors import AlreadyExists, BadInput, NotFound

__all__ = ["LocalBackend", "ObjectBackend"]

_KEY = re.compile(r"^[0-9a-f]{32}$")


def check_key(key: str) -> None:
    if not _KEY.fullmatch(key):
        raise BadInput(f"object key {key!r} is not 32 lowercase hex digits")


class ObjectBackend(Protocol):
    """Write-once storage of encrypted blobs by key."""

    def create(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A writable stream; the object appears atomically when the block exits without error.

        Raises :class:`~mlwarden.errors.AlreadyExists` if ``key`` is taken.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object; :class:`~mlwarden.errors.NotFound` if absent."""
        ...

    def size(self, key: str) -> int:
        """The stored size in bytes; :class:`~mlwarden.errors.NotFound` if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object durably; nothing happens if it is absent."""
        ...

    def iter_keys(self) -> Iterator[str]:
        """Every stored key, in no particular order."""
        ...


class LocalBackend:
    """Objects as files under a private folder of the workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"<LocalBackend {self.root}>"

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    @contextlib.contextmanager
    def create(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        private_dir(path.parent)
        try:
            with atomic_output(path, 0o600, replace=False) as handle:
                yield handle
        except FileExistsError:
            raise AlreadyExists(f"object {key} already exists") from None

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the store") from None

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the store") from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def iter_keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                # Hidden temporary files (where O_TMPFILE is unavailable) are not objects.
                if _KEY.fullmatch(entry.name) and entry.name.startswith(shard.name):
                    yield entry.name
