"""Streaming AEAD: the STREAM construction over AES-256-GCM, wire-compatible with Google Tink.

This is Tink's ``AesGcmHkdfStreaming`` with the key template ``AES256_GCM_HKDF_1MB`` (32-byte key,
HKDF-SHA256, 32-byte derived keys, 1 MiB ciphertext segments, ciphertext offset 0, RAW output
prefix). The construction is Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption
and its Nonce-Reuse Misuse-Resistance" (CRYPTO 2015); Tink documents the byte layout in
``streamingaead/AesGcmHkdfStreaming``. Our tests check it both ways against the ``tink`` package.

Byte layout::

    ciphertext = header || segment_0 || segment_1 || ... || segment_(n-1)
    header     = header_length (1 byte, always 40) || salt (32 bytes) || nonce_prefix (7 bytes)
    K          = HKDF-SHA256(ikm=key, salt=salt, info=associated_data, length=32)
    nonce_i    = nonce_prefix || uint32_be(i) || last_i           (12 bytes; last_i is 0x01 or 0x00)
    segment_i  = AES-256-GCM-Encrypt(K, nonce_i, plaintext_i, aad=b"")    (ciphertext || 16-byte tag)

Every ciphertext segment is exactly 1 MiB (1,048,576 bytes) except the last one, which can be
anything from the bare 16-byte tag up to the full size. The header counts toward the first
segment, so segment 0 carries 1,048,520 bytes of plaintext and every later segment 1,048,560.
An empty plaintext is one empty last segment (header and a tag, 56 bytes). The last-segment flag
in the nonce is what makes truncation at a segment boundary detectable; the segment index is what
makes reordering, dropping and duplicating detectable; HKDF over a fresh random salt gives every
stream its own key, so nonces never repeat across streams.

Reading is done with double buffering (a segment is last when the next read finds end of file),
and writing runs on a second thread when the stream has more than one segment, so that the read
and write system calls overlap on two cores (AES-GCM itself releases the GIL and runs far faster
than either). Memory use is a handful of 1 MiB buffers whatever the stream's length.
"""

from __future__ import annotations

import io
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mlwarden.errors import BadInput, IntegrityError

__all__ = [
    "CIPHERTEXT_SEGMENT_SIZE",
    "FIRST_SEGMENT_PLAINTEXT_SIZE",
    "HEADER_SIZE",
    "KEY_SIZE",
    "SEGMENT_PLAINTEXT_SIZE",
    "TAG_SIZE",
    "StreamingAead",
]

KEY_SIZE = 32
TAG_SIZE = 16
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
HEADER_SIZE = 1 + SALT_SIZE + NONCE_PREFIX_SIZE  # 40
CIPHERTEXT_SEGMENT_SIZE = 1 << 20
SEGMENT_PLAINTEXT_SIZE = CIPHERTEXT_SEGMENT_SIZE - TAG_SIZE
FIRST_SEGMENT_PLAINTEXT_SIZE = CIPHERTEXT_SEGMENT_SIZE - HEADER_SIZE - TAG_SIZE
MAX_SEGMENTS = 1 << 32

_FAILED = "stream failed authentication"
_PIPELINE_DEPTH = 4
_PROBE_SIZE = 64 * 1024

Progress = Callable[[int], None]


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class Writable(Protocol):
    """Anything with a binary ``write`` (files, sockets' makefile, io.RawIOBase, BytesIO)."""

    def write(self, data: Any, /) -> int | None: ...


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256 (extract and expand), from pyca/cryptography."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _derive_key(key: bytes, salt: bytes, associated_data: bytes) -> AESGCM:
    return AESGCM(hkdf_sha256(key, salt, associated_data, KEY_SIZE))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _read_full(src: IO[bytes] | _Readable, buf: memoryview) -> int:
    """Fill ``buf`` from ``src``; returns fewer bytes than ``len(buf)`` only at end of file."""
    readinto = getattr(src, "readinto", None)
    total = 0
    want = len(buf)
    while total < want:
        if readinto is not None:
            got = readinto(buf[total:])
            if got is None:
                raise BadInput("the input stream is non-blocking and had no data; give a blocking stream")
        else:
            chunk = src.read(want - total)
            if chunk is None:
                raise BadInput("the input stream is non-blocking and had no data; give a blocking stream")
            got = len(chunk)
            buf[total : total + got] = chunk
        if got == 0:
            break
        total += got
    return total


def _write_all(dst: IO[bytes] | Writable, data: memoryview | bytes) -> None:
    """Write all of ``data``: raw (unbuffered) streams may take fewer bytes than given."""
    view = memoryview(data)
    while view:
        written = dst.write(view)
        if written is None:
            raise BadInput("the output stream is non-blocking and full; give a blocking stream")
        view = view[written:]


def _segments(src: IO[bytes] | _Readable, first_size: int, size: int) -> Iterator[tuple[int, memoryview, bool]]:
    """Yield ``(index, view, is_last)`` for consecutive segments of ``src``.

    A segment is last when it is short or when the read after it finds end of file, so one
    segment of look-ahead is always held. Each view is valid only until the next item is asked for.
    """
    # Read a small probe first, so that a small stream never pays for a 1 MiB buffer.
    probe = memoryview(bytearray(min(first_size, _PROBE_SIZE)))
    filled = _read_full(src, probe)
    if filled == len(probe) < first_size:
        full = memoryview(bytearray(first_size))
        full[:filled] = probe
        filled += _read_full(src, full[filled:])
        probe = full
    views = [probe]
    current = 0
    expected = first_size
    index = 0
    while True:
        if filled < expected:
            following = 0
            last = True
        else:
            if len(views) == 1:  # the look-ahead buffer, only for streams of more than one segment
                views.append(memoryview(bytearray(size)))
            if len(views[1 - current]) < size:  # the probe, or a first segment smaller than the rest
                views[1 - current] = memoryview(bytearray(size))
            following = _read_full(src, views[1 - current][:size])
            last = following == 0
        yield index, views[current][:filled], last
        if last:
            return
        current = 1 - current
        filled = following
        expected = size
        index += 1


class _Sink:
    """Writes output buffers to ``dst``, on a background thread once ``start_thread`` is called.

    Buffers come from a small pool so memory stays bounded; an error on the writing side is
    raised again on the producing side at the next ``buffer``, ``submit`` or ``close``.
    """

    def __init__(self, dst: IO[bytes] | Writable, buffer_size: int) -> None:
        self._dst = dst
        self._buffer_size = buffer_size
        self._allocated = 0  # buffers are made on demand, at most _PIPELINE_DEPTH
        self._free: queue.Queue[memoryview] = queue.Queue()
        self._work: queue.Queue[tuple[memoryview, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._failed = False  # sticky: once a write fails, nothing more is written

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mlwarden-stream-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            buf, length = item
            try:
                if not self._failed:
                    _write_all(self._dst, buf[:length])
            except BaseException as exc:  # handed back to the producer, never swallowed
                self._failed = True
                self._error = exc
            finally:
                self._free.put(buf)

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def buffer(self, length: int) -> memoryview:
        """A buffer of at least ``length`` bytes (exactly ``length`` when not pipelined)."""
        self._raise_pending()
        if self._thread is None:
            return memoryview(bytearray(length))
        if self._free.empty() and self._allocated < _PIPELINE_DEPTH:
            self._allocated += 1
            return memoryview(bytearray(self._buffer_size))
        return self._free.get()

    def submit(self, buf: memoryview, length: int) -> None:
        if self._thread is None:
            _write_all(self._dst, buf[:length])
            return
        self._work.put((buf, length))

    def release(self, buf: memoryview) -> None:
        if self._thread is not None:
            self._free.put(buf)

    def close(self) -> None:
        """Wait until every submitted buffer is written; raise the writer's error, if any."""
        if self._thread is not None:
            self._work.put(None)
            self._thread.join()
            self._thread = None
        self._raise_pending()


class StreamingAead:
    """Streaming authenticated encryption of byte streams of any length (hazmat tier).

    ``StreamingAead(key).encrypt(src, dst, associated_data)`` reads ``src`` to its end and writes the
    ciphertext to ``dst``; ``decrypt`` does the reverse. Both take binary file objects and use
    constant memory. The key is 32 raw bytes; nothing here manages, wraps or stores it, which is
    why this class lives in ``mlwarden.crypto.hazmat``: use the workspace's envelope encryption
    (``mlwarden encrypt`` or :mod:`mlwarden.crypto`) unless you are building a format.

    Decryption writes each segment only after its tag verifies, so ``dst`` never receives a byte
    that was not authenticated. A truncated stream is only detectable at its end, however: when
    ``decrypt`` raises :class:`~mlwarden.errors.IntegrityError`, ``dst`` may already hold an
    authenticated prefix, which the caller must discard (the safe tier writes to a temporary file
    and renames it only on success).
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
            raise BadInput(f"a streaming AEAD key is {KEY_SIZE} bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "<StreamingAead AES256_GCM_HKDF_1MB>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("StreamingAead holds key material and cannot be pickled or copied")

    def encrypt(
        self,
        src: IO[bytes] | _Readable,
        dst: IO[bytes] | Writable,
        associated_data: bytes = b"",
        *,
        progress: Progress | None = None,
    ) -> int:
        """Encrypt everything ``src`` yields into ``dst``; returns the number of plaintext bytes."""
        salt = os.urandom(SALT_SIZE)
        prefix = os.urandom(NONCE_PREFIX_SIZE)
        aead = _derive_key(self._key, salt, bytes(associated_data))
        _write_all(dst, bytes([HEADER_SIZE]) + salt + prefix)
        sink = _Sink(dst, CIPHERTEXT_SEGMENT_SIZE)
        total = 0
        try:
            for index, plain, last in _segments(src, FIRST_SEGMENT_PLAINTEXT_SIZE, SEGMENT_PLAINTEXT_SIZE):
                if index >= MAX_SEGMENTS:
                    raise BadInput("the input is too large for one stream (2**32 segments)")
                if index == 0 and not last:
                    sink.start_thread()
                length = len(plain) + TAG_SIZE
                out = sink.buffer(length)
                aead.encrypt_into(_nonce(prefix, index, last), plain, None, out[:length])
                sink.submit(out, length)
                total += len(plain)
                if progress is not None:
                    progress(len(plain))
        finally:
            sink.close()
        return total

    def decrypt(
        self,
        src: IO[bytes] | _Readable,
        dst: IO[bytes] | Writable,
        associated_data: bytes = b"",
        *,
        progress: Progress | None = None,
    ) -> int:
        """Decrypt the stream in ``src`` into ``dst``; returns the number of plaintext bytes.

        Raises :class:`~mlwarden.errors.IntegrityError` if anything about the stream is wrong.
        """
        header = memoryview(bytearray(HEADER_SIZE))
        if _read_full(src, header) != HEADER_SIZE or header[0] != HEADER_SIZE:
            raise IntegrityError(_FAILED)
        salt = bytes(header[1 : 1 + SALT_SIZE])
        prefix = bytes(header[1 + SALT_SIZE :])
        aead = _derive_key(self._key, salt, bytes(associated_data))
        sink = _Sink(dst, SEGMENT_PLAINTEXT_SIZE)
        total = 0
        try:
            segments = _segments(src, CIPHERTEXT_SEGMENT_SIZE - HEADER_SIZE, CIPHERTEXT_SEGMENT_SIZE)
            for index, sealed, last in segments:
                if index >= MAX_SEGMENTS or len(sealed) < TAG_SIZE:
                    raise IntegrityError(_FAILED)
                if index == 0 and not last:
                    sink.start_thread()
                length = len(sealed) - TAG_SIZE
                out = sink.buffer(length)
                try:
                    aead.decrypt_into(_nonce(prefix, index, last), sealed, None, out[:length])
                except InvalidTag:
                    sink.release(out)
                    raise IntegrityError(_FAILED) from None
                sink.submit(out, length)
                total += length
                if progress is not None:
                    progress(length)
        finally:
            sink.close()
        return total

    def decrypting_reader(self, src: IO[bytes] | _Readable, associated_data: bytes = b"") -> io.BufferedReader:
        """A readable stream of the plaintext of the stream in ``src``, decrypted one segment at a time.

        Every byte it returns belongs to a segment that has been authenticated; a fault raises
        :class:`~mlwarden.errors.IntegrityError` from the read that reaches it, and a truncated
        stream raises instead of ending early. Memory use is two segments.
        """
        return io.BufferedReader(_DecryptingReader(self._key, src, bytes(associated_data)), buffer_size=_PROBE_SIZE)

    def encrypt_bytes(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Encrypt a whole byte string (for small payloads and tests)."""
        out = io.BytesIO()
        self.encrypt(io.BytesIO(plaintext), out, associated_data)
        return out.getvalue()

    def decrypt_bytes(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Decrypt a whole byte string; raises :class:`~mlwarden.errors.IntegrityError` on any fault."""
        out = io.BytesIO()
        self.decrypt(io.BytesIO(ciphertext), out, associated_data)
        return out.getvalue()


class _DecryptingReader(io.RawIOBase):
    """Pull-side decryption: each segment is read, authenticated and then handed out."""

    def __init__(self, key: bytes, src: IO[bytes] | _Readable, associated_data: bytes) -> None:
        super().__init__()
        self._key = key
        self._src = src
        self._associated_data = associated_data
        self._segments: Iterator[tuple[int, memoryview, bool]] | None = None
        self._aead: AESGCM | None = None
        self._prefix = b""
        self._plain = memoryview(b"")
        self._done = False
        self._buffer: bytearray | None = None

    def readable(self) -> bool:
        return True

    def _start(self) -> None:
        header = memoryview(bytearray(HEADER_SIZE))
        if _read_full(self._src, header) != HEADER_SIZE or header[0] != HEADER_SIZE:
            raise IntegrityError(_FAILED)
        self._prefix = bytes(header[1 + SALT_SIZE :])
        self._aead = _derive_key(self._key, bytes(header[1 : 1 + SALT_SIZE]), self._associated_data)
        self._segments = _segments(self._src, CIPHERTEXT_SEGMENT_SIZE - HEADER_SIZE, CIPHERTEXT_SEGMENT_SIZE)

    def _next_segment(self) -> None:
        if self._segments is None:
            self._start()
        assert self._segments is not None
        assert self._aead is not None
        try:
            index, sealed, last = next(self._segments)
        except StopIteration:  # only after a last segment, which sets _done
            raise IntegrityError(_FAILED) from None
        if index >= MAX_SEGMENTS or len(sealed) < TAG_SIZE:
            raise IntegrityError(_FAILED)
        length = len(sealed) - TAG_SIZE
        if self._buffer is None or len(self._buffer) < length:
            self._buffer = bytearray(max(length, len(sealed)))
        out = memoryview(self._buffer)[:length]
        try:
            self._aead.decrypt_into(_nonce(self._prefix, index, last), sealed, None, out)
        except InvalidTag:
            raise IntegrityError(_FAILED) from None
        self._plain = out
        self._done = last

    def readinto(self, b: Any) -> int:
        target = memoryview(b).cast("B")
        while not self._plain:
            if self._done:
                return 0
            self._next_segment()
        n = min(len(target), len(self._plain))
        target[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n
