"""Envelope encryption: a fresh data key per object, wrapped by the keyring, payload in a stream.

Two shapes share one payload format (the Tink-compatible stream of :mod:`._streaming_aead`):

**Envelope files** (``mlwarden encrypt``), self-contained, for moving data around. Version 1::

    offset  size  field
    0       6     magic  b"MLWENC"
    6       1     format version (1)
    7       1     flags (0; anything else is refused)
    8       4     key-encryption key version, uint32 big-endian
    12      16    workspace id (names the keyring that can open the file)
    28      16    object id (random)
    44      2     wrapped data key length, uint16 big-endian (60 in version 1)
    46      60    wrapped data key: nonce || AES-256-GCM(kek, data_key) || tag
    106     ...   streaming AEAD ciphertext of the payload, key = data key,
                  associated data = the 106 header bytes above

The wrapped data key is bound to the object id and key version (see :mod:`._keyring`), and the
payload stream is bound to the whole header, so no header byte can change without decryption
failing.

A workspace also records each file's data key in its data key store (below), keyed by the object
id. Decryption prefers that record, which rotation keeps rewrapped under the primary key version
and which ``mlwarden shred`` replaces by a tombstone; the header's own wrap is the fallback for a
file whose record is gone. That wrap uses the key version in the header, so once that version is
destroyed (``mlwarden keys destroy``) the header copy is useless and a shredded file is gone for
good.

**Workspace objects** (the dataset store), whose data key lives in the workspace's
:class:`~._data_keys.DataKeyStore` so that rotation and crypto-shredding reach it. The payload is
the bare stream with associated data ``b"mlwarden/object/v1" || object_id``.

Bump ``ENVELOPE_VERSION`` for any layout change and keep reading every older version.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import IO

from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._keyring import WRAPPED_KEY_SIZE, Keyring, WrappedKey
from mlwarden.crypto._streaming_aead import Progress, StreamingAead, _read_full, _write_all
from mlwarden.errors import AccessDenied, BadInput, IntegrityError, NotFound

__all__ = [
    "ENVELOPE_HEADER_SIZE",
    "ENVELOPE_MAGIC",
    "ENVELOPE_VERSION",
    "EnvelopeHeader",
    "decrypt_envelope",
    "encrypt_envelope",
    "envelope_data_key",
    "open_object",
    "read_envelope_header",
    "seal_object",
    "write_envelope",
]

ENVELOPE_MAGIC = b"MLWENC"
ENVELOPE_VERSION = 1
_FIXED = struct.Struct(">6sBBI16s16sH")
ENVELOPE_HEADER_SIZE = _FIXED.size + WRAPPED_KEY_SIZE  # 106
_OBJECT_AAD = b"mlwarden/object/v1"


@dataclass(frozen=True)
class EnvelopeHeader:
    """The parsed header of an envelope file; nothing here is secret."""

    kek_version: int
    workspace_id: bytes
    object_id: bytes
    wrapped_key: bytes
    raw: bytes

    @property
    def wrapped(self) -> WrappedKey:
        return WrappedKey(self.kek_version, self.wrapped_key)


def _build_header(kek_version: int, workspace_id: bytes, object_id: bytes, wrapped: bytes) -> bytes:
    fixed = _FIXED.pack(ENVELOPE_MAGIC, ENVELOPE_VERSION, 0, kek_version, workspace_id, object_id, len(wrapped))
    return fixed + wrapped


def read_envelope_header(src: IO[bytes]) -> EnvelopeHeader:
    """Read and check the header at the start of ``src``, leaving ``src`` at the payload."""
    head = memoryview(bytearray(_FIXED.size))
    got = _read_full(src, head)
    if got < len(ENVELOPE_MAGIC) or bytes(head[: len(ENVELOPE_MAGIC)]) != ENVELOPE_MAGIC:
        raise BadInput("not an mlwarden-encrypted file (no MLWENC header)")
    if got < _FIXED.size:
        raise IntegrityError("the encrypted file is truncated inside its header")
    _magic, version, flags, kek_version, workspace_id, object_id, wrapped_len = _FIXED.unpack(head)
    if version != ENVELOPE_VERSION:
        raise BadInput(f"envelope format version {version} is not supported by this mlwarden; upgrade it")
    if flags != 0 or wrapped_len != WRAPPED_KEY_SIZE:
        raise IntegrityError("the encrypted file's header is damaged")
    wrapped = memoryview(bytearray(wrapped_len))
    if _read_full(src, wrapped) != wrapped_len:
        raise IntegrityError("the encrypted file is truncated inside its header")
    raw = bytes(head) + bytes(wrapped)
    return EnvelopeHeader(kek_version, workspace_id, object_id, bytes(wrapped), raw)


def encrypt_envelope(
    keyring: Keyring,
    src: IO[bytes],
    dst: IO[bytes],
    *,
    data_keys: DataKeyStore | None = None,
    progress: Progress | None = None,
) -> int:
    """Encrypt ``src`` into ``dst`` as an envelope file under a fresh data key; returns plaintext bytes.

    With ``data_keys`` (a workspace's store) the data key is also recorded there, so that key
    rotation rewraps it and crypto-shredding can destroy it; the header keeps the wrap made now.
    """
    object_id = os.urandom(16)
    if data_keys is not None:
        data_key, wrapped = data_keys.create_wrapped(object_id)
    else:
        data_key = os.urandom(32)
        wrapped = keyring.wrap(data_key, object_id)
    return write_envelope(keyring.workspace_id, object_id, data_key, wrapped, src, dst, progress=progress)


def write_envelope(
    workspace_id: bytes,
    object_id: bytes,
    data_key: bytes,
    wrapped: WrappedKey,
    src: IO[bytes],
    dst: IO[bytes],
    *,
    progress: Progress | None = None,
) -> int:
    """Write the header and the encrypted payload of an envelope file; returns plaintext bytes."""
    header = _build_header(wrapped.kek_version, workspace_id, object_id, wrapped.blob)
    _write_all(dst, header)
    return StreamingAead(data_key).encrypt(src, dst, header, progress=progress)


def envelope_data_key(keyring: Keyring, header: EnvelopeHeader, data_keys: DataKeyStore | None = None) -> bytes:
    """The data key of an envelope file: from ``data_keys`` when it has the object, else from the header.

    Raises :class:`~mlwarden.errors.Shredded` when the workspace shredded the file's key.
    """
    if header.workspace_id != keyring.workspace_id:
        raise AccessDenied(
            f"this file was encrypted by workspace {header.workspace_id.hex()[:12]}, not this one "
            f"({keyring.workspace_id.hex()[:12]})"
        )
    try:
        if data_keys is not None:
            try:
                return data_keys.data_key(header.object_id)
            except NotFound:
                pass  # made without registration (or elsewhere): the header's wrap is the key
        return keyring.unwrap(header.wrapped, header.object_id)
    except IntegrityError:
        raise IntegrityError("the encrypted file failed authentication") from None


def decrypt_envelope(
    keyring: Keyring,
    src: IO[bytes],
    dst: IO[bytes],
    *,
    data_keys: DataKeyStore | None = None,
    progress: Progress | None = None,
) -> int:
    """Decrypt an envelope file from ``src`` into ``dst``; returns plaintext bytes.

    Raises :class:`IntegrityError` on any tampering; ``dst`` then may hold an authenticated
    prefix, which the caller discards.
    """
    header = read_envelope_header(src)
    data_key = envelope_data_key(keyring, header, data_keys)
    try:
        return StreamingAead(data_key).decrypt(src, dst, header.raw, progress=progress)
    except IntegrityError:
        raise IntegrityError("the encrypted file failed authentication") from None


def seal_object(
    data_key: bytes, object_id: bytes, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None
) -> int:
    """Encrypt a workspace object under its data key (from the data key store); returns plaintext bytes."""
    return StreamingAead(data_key).encrypt(src, dst, _OBJECT_AAD + object_id, progress=progress)


def open_object(
    data_key: bytes, object_id: bytes, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None
) -> int:
    """Decrypt a workspace object sealed by :func:`seal_object`; returns plaintext bytes."""
    return StreamingAead(data_key).decrypt(src, dst, _OBJECT_AAD + object_id, progress=progress)


def object_reader(data_key: bytes, object_id: bytes, src: IO[bytes]) -> io.BufferedReader:
    """A readable plaintext stream of a workspace object sealed by :func:`seal_object`."""
    return StreamingAead(data_key).decrypting_reader(src, _OBJECT_AAD + object_id)
