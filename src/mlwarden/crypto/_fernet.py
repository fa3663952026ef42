"""Streaming decryption of Fernet tokens, for migrating files made by ``cryptography.fernet``.

``mlwarden data import-fernet`` moves files written as ``Fernet(key).encrypt(data)`` (the token
text, often with a trailing newline) into the encrypted store. The reference ``Fernet.decrypt``
needs the whole token and several times its size in memory; :class:`FernetStreamReader` reads it
a chunk at a time, so memory stays at a few chunks whatever the file's size. Only pyca/cryptography
primitives are used (HMAC-SHA256, AES-128-CBC, PKCS7); the tag check is constant time.

Byte layout (the Fernet spec, https://github.com/fernet/spec/blob/master/Spec.md)::

    key file = base64url(signing_key (16 bytes) || encryption_key (16 bytes)), as Fernet.generate_key()
    token    = base64url(version || timestamp || iv || ciphertext || hmac)

    offset  size      field
    0       1         version, always 0x80
    1       8         timestamp, seconds since the epoch, uint64 big-endian (not enforced here)
    9       16        IV
    25      16*n      AES-128-CBC(encryption_key, iv, PKCS7(plaintext)), n >= 1
    25+16n  32        HMAC-SHA256(signing_key, every byte before it)

The shortest token (empty plaintext: one block of padding) is 73 bytes, 100 characters of text.

Reading holds back the last 48 decoded bytes (the last ciphertext block and what may be the tag):
everything before them is fed to the HMAC and to AES-CBC as it arrives, and its plaintext is handed
out at once, *unauthenticated*. At end of input the tag is checked, and only then is the last
block decrypted and unpadded; a fault of any kind raises :class:`~mlwarden.errors.IntegrityError`
from the read that would otherwise have returned end of file, so a caller that discards its output
when a read raises never keeps unverified data.

What text is accepted, compared with ``Fernet.decrypt`` (whose ``base64.urlsafe_b64decode`` is
lenient): ASCII whitespace (space, tab, CR, LF) is ignored anywhere, as there; ``=`` padding at the
end is optional here (the reference requires it) but must be complete when present (``xx=`` is
refused by both). Stricter than the reference, which silently drops such characters: any byte
outside the base64url alphabet, including the standard alphabet's ``+`` and ``/``, ``=`` anywhere
but at the very end, and anything but whitespace after the padding (the reference stops at the
first complete padding and ignores the rest). A token ``Fernet.encrypt`` produced is accepted
whatever whitespace surrounds or splits it. TTLs are not enforced: old files must migrate.
"""

from __future__ import annotations

import binascii
import io
from collections import deque
from dataclasses import dataclass
from typing import IO, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC

from mlwarden.errors import BadInput, IntegrityError

__all__ = [
    "FERNET_KEY_SIZE",
    "FernetStreamReader",
    "FernetTokenInfo",
    "parse_fernet_key",
]

FERNET_KEY_SIZE = 32
VERSION = 0x80
_BLOCK = 16
_TAG = 32
_HEADER = 1 + 8 + _BLOCK  # version, timestamp, IV
_HOLD_BACK = _BLOCK + _TAG  # the last ciphertext block and the tag
_MIN_TOKEN = _HEADER + _HOLD_BACK  # 73
_DEFAULT_CHUNK = 1 << 20

_NOT_VERIFIED = "the Fernet token does not verify: wrong key or damaged file"
_NOT_BASE64 = "the Fernet token is damaged (not base64url)"
_BAD_VERSION = "the Fernet token is damaged (its version byte is not 0x80; is this a Fernet token?)"
_BAD_LENGTH = "the Fernet token is damaged (truncated, or not a whole number of AES blocks)"
_BAD_KEY = "the Fernet key is malformed: expected base64url of 32 bytes, as Fernet.generate_key() writes"

_WHITESPACE = b" \t\r\n"
_URLSAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# One pass of bytes.translate maps base64url onto the standard alphabet that binascii decodes,
# turns the standard alphabet's own "+" and "/" into "!" (which strict decoding refuses) and
# deletes whitespace. Every other byte maps to itself; strict decoding refuses what is not base64.
_TO_STANDARD = bytearray(range(256))
_TO_STANDARD[ord("+")] = ord("!")
_TO_STANDARD[ord("/")] = ord("!")
_TO_STANDARD[ord("-")] = ord("+")
_TO_STANDARD[ord("_")] = ord("/")
_TRANSLATION = bytes(_TO_STANDARD)
del _TO_STANDARD


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


def parse_fernet_key(text: bytes) -> bytes:
    """The 32-byte key from the contents of a Fernet key file.

    The file holds base64url of 32 bytes, as ``Fernet.generate_key()`` makes (44 characters with
    one ``=``; the padding may be left out); whitespace around it is allowed. Raises
    :class:`~mlwarden.errors.BadInput` with one line that never echoes the key if it is malformed.
    """
    body = text.strip(_WHITESPACE)
    if body.endswith(b"="):
        body = body[:-1]
    # 43 characters carry 258 bits: 32 bytes and two spare bits, which decoding ignores.
    if len(body) != 43 or body.translate(None, _URLSAFE):
        raise BadInput(_BAD_KEY)
    try:
        key = binascii.a2b_base64(body.translate(_TRANSLATION) + b"=", strict_mode=True)
    except binascii.Error:
        raise BadInput(_BAD_KEY) from None
    if len(key) != FERNET_KEY_SIZE:  # cannot happen with 43 characters; kept as a guard
        raise BadInput(_BAD_KEY)
    return key


@dataclass(frozen=True)
class FernetTokenInfo:
    """What a fully read and verified token says about itself."""

    timestamp: int
    """The token's creation time in seconds since the epoch, as its writer's clock said."""
    plaintext_size: int
    """Bytes of plaintext the token held."""


class FernetStreamReader(io.RawIOBase):
    """Readable binary stream of the plaintext of a Fernet token read from ``src``.

    ``src`` is a binary file object holding the token text (anything with ``read(size)``); it is
    read ``chunk_size`` bytes at a time and never closed here. ``key`` is the raw 32-byte key (see
    :func:`parse_fernet_key`).

    .. danger::
       Bytes returned before end of file are NOT yet authenticated. The HMAC is checked when the
       end of the token is reached: the read that would return end of file raises
       :class:`~mlwarden.errors.IntegrityError` instead if the tag is wrong or the token is
       truncated, malformed, has a bad version byte, bad padding and so on. Faults that need no
       key (text that is not base64url, a bad version byte) raise as soon as they are seen. Once
       a read has raised, every later read raises again. Callers must discard everything they
       read if any read raises (mlwarden's dataset put does: nothing is committed unless the
       stream ends cleanly).
    """

    def __init__(self, key: bytes, src: IO[bytes] | _Readable, *, chunk_size: int = _DEFAULT_CHUNK) -> None:
        super().__init__()
        if len(key) != FERNET_KEY_SIZE:
            raise BadInput(f"a Fernet key is {FERNET_KEY_SIZE} bytes")
        if chunk_size < 1:
            raise BadInput("chunk_size must be at least 1")
        self._signing_key = bytes(key[:16])
        self._aes = algorithms.AES(bytes(key[16:]))
        self._src = src
        self._chunk_size = chunk_size
        # Text decoding: up to 3 base64 characters carried between chunks, then padding.
        self._carry = b""
        self._padding = 0  # "=" seen so far; once non-zero only "=" and whitespace may follow
        # Token decoding.
        self._decoded = 0  # bytes decoded so far
        self._header = bytearray()
        self._tail = b""  # the last (up to) 48 decoded bytes, held back
        self._hmac = HMAC(self._signing_key, hashes.SHA256())
        self._decryptor: CipherContext | None = None
        self._timestamp = 0
        # Output.
        self._plain = memoryview(b"")  # being handed out
        self._ready: deque[bytes] = deque()  # decrypted, waiting to be handed out
        self._produced = 0
        self._info: FernetTokenInfo | None = None
        self._error: IntegrityError | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} chunk_size={self._chunk_size}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("FernetStreamReader holds key material and cannot be pickled or copied")

    def readable(self) -> bool:
        return True

    @property
    def info(self) -> FernetTokenInfo:
        """The token's timestamp and plaintext size, once the tag has been verified.

        That happens in the read that reaches the end of the token text (the last block's
        plaintext may still be waiting to be read). Raises :class:`~mlwarden.errors.BadInput`
        before that: until then the timestamp is unauthenticated and the size unknown.
        """
        if self._info is None:
            raise BadInput("the Fernet token's info is known only once it has been read to the end and verified")
        return self._info

    def readinto(self, b: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._error is not None:
            raise self._error
        target = memoryview(b).cast("B")
        if not target:
            return 0
        try:
            while not self._plain:
                if self._ready:
                    self._plain = memoryview(self._ready.popleft())
                elif self._info is not None:
                    return 0
                else:
                    self._pull()
        except IntegrityError as exc:
            self._fail(exc)
            raise
        n = min(len(target), len(self._plain))
        target[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n

    def _fail(self, exc: IntegrityError) -> None:
        self._error = exc
        self._plain = memoryview(b"")
        self._ready.clear()
        self._tail = b""
        self._header = bytearray()
        self._decryptor = None

    def _pull(self) -> None:
        """Read one chunk of text and turn it into plaintext (possibly none), or finish at EOF."""
        text = self._src.read(self._chunk_size)
        if text is None:
            raise BadInput("the input stream is non-blocking and had no data; give a blocking stream")
        if text:
            self._feed_decoded(self._decode_text(text))
        else:
            self._finish()

    def _decode_text(self, text: bytes) -> bytes:
        """Decode a chunk of token text: whitespace dropped, whole quads decoded, the rest carried."""
        clean = text.translate(_TRANSLATION, _WHITESPACE)
        if not clean:
            return b""
        if self._padding:
            if clean.count(b"=") != len(clean):
                raise IntegrityError(_NOT_BASE64)
            self._padding += len(clean)
            return b""
        pad = clean.find(b"=")
        if pad >= 0:
            if clean.count(b"=", pad) != len(clean) - pad:
                raise IntegrityError(_NOT_BASE64)
            self._padding = len(clean) - pad
            clean = clean[:pad]
        if self._carry:
            clean = self._carry + clean
        whole = len(clean) & ~3
        self._carry = clean[whole:]
        try:
            return binascii.a2b_base64(clean[:whole] if whole != len(clean) else clean, strict_mode=True)
        except binascii.Error:
            raise IntegrityError(_NOT_BASE64) from None

    def _finish_text(self) -> bytes:
        """Decode the last 2 or 3 characters, checking the padding (optional, but whole if present)."""
        left = len(self._carry)
        if left == 0:
            if self._padding:
                raise IntegrityError(_NOT_BASE64)
            return b""
        if left == 1 or self._padding not in (0, 4 - left):
            raise IntegrityError(_NOT_BASE64)
        try:
            return binascii.a2b_base64(self._carry + b"=" * (4 - left), strict_mode=True)
        except binascii.Error:
            raise IntegrityError(_NOT_BASE64) from None

    def _feed_decoded(self, data: bytes) -> None:
        """Take newly decoded bytes: process all but the last 48 decoded so far, hold those back."""
        if not data:
            return
        if self._decoded == 0 and data[0] != VERSION:
            raise IntegrityError(_BAD_VERSION)
        self._decoded += len(data)
        if len(data) >= _HOLD_BACK:
            view = memoryview(data)
            if self._tail:
                self._process(self._tail)
            self._process(view[:-_HOLD_BACK])
            self._tail = bytes(view[-_HOLD_BACK:])
        else:
            joined = self._tail + data
            if len(joined) > _HOLD_BACK:
                self._process(joined[:-_HOLD_BACK])
                joined = joined[-_HOLD_BACK:]
            self._tail = joined

    def _process(self, data: bytes | memoryview) -> None:
        """Header bytes, then ciphertext (never its last block): MAC it and decrypt it."""
        if self._decryptor is None:
            need = _HEADER - len(self._header)
            self._header += data[:need]
            data = data[need:]
            if len(self._header) < _HEADER:
                return
            self._hmac.update(bytes(self._header))
            self._timestamp = int.from_bytes(self._header[1:9], "big")
            iv = bytes(self._header[9:_HEADER])
            self._decryptor = Cipher(self._aes, modes.CBC(iv)).decryptor()
            if not data:
                return
        self._hmac.update(data)
        plain = self._decryptor.update(data)
        if plain:
            self._produced += len(plain)
            self._ready.append(plain)

    def _finish(self) -> None:
        """End of text: check the length, verify the tag, then decrypt and unpad the last block."""
        self._feed_decoded(self._finish_text())
        if self._decoded < _MIN_TOKEN or (self._decoded - _HEADER - _TAG) % _BLOCK:
            raise IntegrityError(_BAD_LENGTH)
        decryptor = self._decryptor
        if decryptor is None or len(self._tail) != _HOLD_BACK:  # cannot happen given the length; a guard
            raise IntegrityError(_BAD_LENGTH)
        last_block, tag = self._tail[:_BLOCK], self._tail[_BLOCK:]
        self._hmac.update(last_block)
        try:
            self._hmac.verify(tag)
        except InvalidSignature:
            raise IntegrityError(_NOT_VERIFIED) from None
        # Authenticated from here on: a padding fault means the token's writer had the key.
        unpadder = padding.PKCS7(128).unpadder()
        try:
            padded = decryptor.update(last_block) + decryptor.finalize()
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise IntegrityError(_NOT_VERIFIED) from None
        self._produced += len(plain)
        self._ready.append(plain)
        self._tail = b""
        self._decryptor = None
        self._info = FernetTokenInfo(timestamp=self._timestamp, plaintext_size=self._produced)
