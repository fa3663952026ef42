"""``ws.files``: envelope encryption of files and bytes, and the workspace's own objects.

An envelope file (``docs/formats.md``) carries its data key wrapped in its header; the workspace
records the key too, so that rotation rewraps it and :meth:`FileService.shred` can destroy it.
Every call is gated and audited: ``file.encrypt``, ``file.decrypt``, ``file.shred``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

from mlwarden.access import Gate
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._envelope import (
    decrypt_envelope,
    encrypt_envelope,
    envelope_data_key,
    open_object,
    read_envelope_header,
    seal_object,
)
from mlwarden.crypto._keyring import Keyring
from mlwarden.crypto._streaming_aead import Progress, StreamingAead
from mlwarden.errors import IntegrityError

__all__ = ["FileService"]


class _Discard(io.RawIOBase):
    """A sink that drops what it is given (verification without keeping plaintext)."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


class FileService:
    """Envelope files and workspace objects under one workspace's keys, through ``gate``."""

    def __init__(
        self,
        *,
        gate: Gate,
        keyring: Keyring,
        data_keys: DataKeyStore,
        shred_key: Callable[[bytes, str], None],
    ) -> None:
        self._gate = gate
        self._keyring = keyring
        self._data_keys = data_keys
        self._shred_key = shred_key

    def __repr__(self) -> str:
        return f"<FileService as {self._gate.principal.name}>"

    # -- envelope files -------------------------------------------------------------------

    def encrypt(self, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None) -> int:
        """Envelope-encrypt ``src`` into ``dst`` under the primary key version; returns plaintext bytes."""
        with self._gate.act("file.encrypt", "keyring") as act:
            size = encrypt_envelope(self._keyring, src, dst, data_keys=self._data_keys, progress=progress)
            act.record(bytes=size)
            return size

    def decrypt(
        self, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None, verify_first: bool = False
    ) -> int:
        """Decrypt an envelope file; raises :class:`~mlwarden.errors.IntegrityError` if tampered
        and :class:`~mlwarden.errors.Shredded` if its data key was shredded.

        ``dst`` may then hold a verified prefix; ``verify_first=True`` (``src`` seekable) checks
        the whole file before writing a byte, for outputs read as they are written (a pipe, a FIFO).
        """
        with self._gate.act("file.decrypt", "keyring") as act:
            if verify_first:
                start = src.tell()
                decrypt_envelope(self._keyring, src, _Discard(), data_keys=self._data_keys)  # type: ignore[arg-type]
                src.seek(start)
            size = decrypt_envelope(self._keyring, src, dst, data_keys=self._data_keys, progress=progress)
            act.record(bytes=size)
            return size

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        """:meth:`encrypt` for a payload held in memory; returns the envelope file's bytes."""
        out = io.BytesIO()
        self.encrypt(io.BytesIO(plaintext), out)
        return out.getvalue()

    def decrypt_bytes(self, ciphertext: bytes) -> bytes:
        """:meth:`decrypt` for an envelope file held in memory; returns the plaintext."""
        out = io.BytesIO()
        self.decrypt(io.BytesIO(ciphertext), out)
        return out.getvalue()

    def shred(self, src: IO[bytes]) -> bytes:
        """Crypto-shred an envelope file: destroy its data key here; returns its object id.

        Every copy of the file becomes unreadable through this workspace. The header still holds
        the wrap made at encryption time, under the key version it names; destroying that version
        after a rotation (``ws.keys.destroy_version``) makes that copy useless too. The tombstone
        names the acting principal.
        """
        with self._gate.act("file.shred", "keyring") as act:
            # Authenticate the whole file first: a forged header could otherwise name another object.
            header = read_envelope_header(src)
            data_key = envelope_data_key(self._keyring, header, self._data_keys)
            try:
                StreamingAead(data_key).decrypt(src, _Discard(), header.raw)
            except IntegrityError:
                raise IntegrityError("the encrypted file failed authentication; nothing was shredded") from None
            self._shred_key(header.object_id, self._gate.principal.name)
            act.record(object=header.object_id.hex())
            return header.object_id

    # -- workspace objects ----------------------------------------------------------------

    def seal_object(self, object_id: bytes, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None) -> int:
        """Encrypt a workspace object under a new data key held in this workspace."""
        self._gate.check("file.encrypt", f"object:{object_id.hex()}")
        return seal_object(self._data_keys.create(object_id), object_id, src, dst, progress=progress)

    def open_object(self, object_id: bytes, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None) -> int:
        """Decrypt a workspace object; :class:`~mlwarden.errors.Shredded` if its key was destroyed."""
        self._gate.check("file.decrypt", f"object:{object_id.hex()}")
        return open_object(self._data_keys.data_key(object_id), object_id, src, dst, progress=progress)

    def shred_object(self, object_id: bytes) -> None:
        """Crypto-shred a workspace object: destroy its data key, leave a tombstone naming the principal."""
        self._gate.check("file.shred", f"object:{object_id.hex()}")
        self._shred_key(object_id, self._gate.principal.name)
