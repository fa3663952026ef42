"""Properties of ``mlwarden.crypto.hazmat.StreamingAead``: round trips over awkward sources and sinks,
error propagation, key hygiene.

Plaintexts of up to a few 1 MiB segments are drawn as (strategic size near a segment boundary, small
offset, seed) rather than as raw bytes, so Hypothesis explores the boundaries cheaply.
"""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.crypto.hazmat import (
    CIPHERTEXT_SEGMENT_SIZE,
    FIRST_SEGMENT_PLAINTEXT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    SEGMENT_PLAINTEXT_SIZE,
    TAG_SIZE,
    StreamingAead,
)
from mlwarden.errors import BadInput, IntegrityError

S = FIRST_SEGMENT_PLAINTEXT_SIZE
SPT = SEGMENT_PLAINTEXT_SIZE
KEY = bytes(range(7, 7 + KEY_SIZE))
WRITER_THREAD = "mlwarden-stream-writer"

STRATEGIC = [0, 1, 4096, S, S + SPT, S + 2 * SPT]

near_boundary = st.builds(lambda base, delta: max(0, base + delta), st.sampled_from(STRATEGIC), st.integers(-3, 3))
# Two thirds of the draws land within 3 bytes of a segment boundary (of up to three segments).
sizes = st.one_of(st.integers(0, 3000), near_boundary, near_boundary)
associated_data = st.one_of(st.just(b""), st.binary(min_size=1, max_size=80))
# Chunk schedules for short reads: always one biggish chunk, so a 3 MiB stream stays a few thousand calls.
chunk_schedules = st.builds(
    lambda small, big: [*small, big],
    st.lists(st.integers(1, 600), max_size=6),
    st.integers(4096, CIPHERTEXT_SEGMENT_SIZE + 17),
)

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _plaintext(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _ciphertext_size(size: int) -> int:
    segments = 1 if size <= S else 1 + -(-(size - S) // SPT)
    return HEADER_SIZE + size + TAG_SIZE * segments


class ShortReader:
    """A source whose ``readinto`` and ``read`` return fewer bytes than asked, per a chunk schedule."""

    def __init__(self, data: bytes, schedule: list[int]) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._schedule = schedule
        self._calls = 0
        self.short_reads = 0

    def _take(self, wanted: int) -> memoryview:
        limit = self._schedule[self._calls % len(self._schedule)]
        self._calls += 1
        n = min(wanted, limit, len(self._data) - self._pos)
        if n < wanted and self._pos + n < len(self._data):
            self.short_reads += 1
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def readinto(self, buf: memoryview) -> int:
        chunk = self._take(len(buf))
        buf[: len(chunk)] = chunk
        return len(chunk)

    def read(self, size: int = -1) -> bytes:
        return bytes(self._take(len(self._data) if size < 0 else size))


class ReadOnlyShortReader:
    """A source with only ``read`` (no ``readinto``), also returning short reads."""

    def __init__(self, data: bytes, schedule: list[int]) -> None:
        self._inner = ShortReader(data, schedule)

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WRITER_THREAD and t.is_alive()]


# -- round trips -------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(size=sizes, seed=st.integers(0, 2**32), ad=associated_data)
def test_round_trip_bytes(size: int, seed: int, ad: bytes) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, seed)
    ciphertext = sa.encrypt_bytes(plaintext, ad)
    assert len(ciphertext) == _ciphertext_size(size)
    assert ciphertext[0] == HEADER_SIZE
    assert sa.decrypt_bytes(ciphertext, ad) == plaintext


@PROPERTY_SETTINGS
@given(
    size=sizes,
    seed=st.integers(0, 2**32),
    ad=associated_data,
    enc_schedule=chunk_schedules,
    dec_schedule=chunk_schedules,
    read_only=st.booleans(),
)
def test_round_trip_short_reads(
    size: int, seed: int, ad: bytes, enc_schedule: list[int], dec_schedule: list[int], read_only: bool
) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, seed)
    wrap: Callable[[bytes, list[int]], ShortReader | ReadOnlyShortReader] = (
        ReadOnlyShortReader if read_only else ShortReader
    )
    sealed = io.BytesIO()
    assert sa.encrypt(wrap(plaintext, enc_schedule), sealed, ad) == size
    ciphertext = sealed.getvalue()
    assert len(ciphertext) == _ciphertext_size(size)
    opened = io.BytesIO()
    assert sa.decrypt(wrap(ciphertext, dec_schedule), opened, ad) == size
    assert opened.getvalue() == plaintext
    # The other API agrees with what the file-object API wrote.
    assert sa.decrypt_bytes(ciphertext, ad) == plaintext


@pytest.mark.parametrize("size", [0, S - 1, S, S + 1, S + SPT + 5])
def test_short_reads_really_happen(size: int) -> None:
    """The short-read source is not accidentally returning full reads."""
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, size)
    source = ShortReader(plaintext, [1, 3, 5000])
    sealed = io.BytesIO()
    sa.encrypt(source, sealed, b"ad")
    if size > 1:
        assert source.short_reads > 0
    ciphertext_source = ShortReader(sealed.getvalue(), [7, 65_536])
    opened = io.BytesIO()
    sa.decrypt(ciphertext_source, opened, b"ad")
    assert ciphertext_source.short_reads > 0
    assert opened.getvalue() == plaintext


def test_read_only_source_has_no_readinto() -> None:
    source = ReadOnlyShortReader(b"abc", [1])
    assert not hasattr(source, "readinto")
    sa = StreamingAead(KEY)
    sealed = io.BytesIO()
    sa.encrypt(source, sealed)
    assert sa.decrypt(ReadOnlyShortReader(sealed.getvalue(), [2]), (out := io.BytesIO())) == 3
    assert out.getvalue() == b"abc"


@pytest.mark.parametrize("size", [0, 5, S + SPT + 1])
def test_round_trip_real_files(tmp_path: Path, size: int) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, 3)
    (tmp_path / "plain").write_bytes(plaintext)
    with (tmp_path / "plain").open("rb") as src, (tmp_path / "sealed").open("wb") as dst:
        assert sa.encrypt(src, dst, b"file") == size
    with (tmp_path / "sealed").open("rb") as src, (tmp_path / "opened").open("wb") as dst:
        assert sa.decrypt(src, dst, b"file") == size
    assert (tmp_path / "opened").read_bytes() == plaintext


@pytest.mark.parametrize("size", [0, 1, S, S + 1, S + 2 * SPT])
def test_progress_reports_every_byte(size: int) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, 9)
    seen: list[int] = []
    sealed = io.BytesIO()
    assert sa.encrypt(io.BytesIO(plaintext), sealed, progress=seen.append) == size
    assert sum(seen) == size
    assert all(n <= SPT for n in seen)
    seen.clear()
    assert sa.decrypt(io.BytesIO(sealed.getvalue()), io.BytesIO(), progress=seen.append) == size
    assert sum(seen) == size


def test_bytearray_key_is_the_same_key() -> None:
    ciphertext = StreamingAead(bytearray(KEY)).encrypt_bytes(b"hello", b"ad")
    assert StreamingAead(KEY).decrypt_bytes(ciphertext, b"ad") == b"hello"


# -- randomness ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000])
def test_two_encryptions_differ(size: int) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, 1)
    first, second = sa.encrypt_bytes(plaintext), sa.encrypt_bytes(plaintext)
    assert first != second
    assert first[1:33] != second[1:33]  # fresh salt
    assert first[33:HEADER_SIZE] != second[33:HEADER_SIZE]  # fresh nonce prefix
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]
    assert sa.decrypt_bytes(first) == sa.decrypt_bytes(second) == plaintext


# -- errors -------------------------------------------------------------------------------------------


class SinkBroke(Exception):
    pass


class FailingWriter(io.BytesIO):
    """A destination whose ``write`` raises on the n-th call (1-based)."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.calls = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.calls += 1
        if self.calls == self.fail_on:
            raise SinkBroke(f"write {self.calls} failed")
        return super().write(data)


@pytest.mark.parametrize("fail_on", [1, 2, 3])
@pytest.mark.parametrize("size", [1, S + SPT + 1])
def test_destination_write_error_propagates(size: int, fail_on: int) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(size, 2)
    ciphertext = sa.encrypt_bytes(plaintext)
    # Encryption writes the header, then one write per segment; decryption one write per segment.
    encrypt_writes = 1 + (1 if size <= S else 3)
    decrypt_writes = encrypt_writes - 1
    if fail_on <= encrypt_writes:
        with pytest.raises(SinkBroke, match=f"write {fail_on} failed"):
            sa.encrypt(io.BytesIO(plaintext), FailingWriter(fail_on))
        assert not _writer_threads()
    if fail_on <= decrypt_writes:
        with pytest.raises(SinkBroke, match=f"write {fail_on} failed"):
            sa.decrypt(io.BytesIO(ciphertext), FailingWriter(fail_on))
        assert not _writer_threads()
    # Nothing is left broken: the same object still works.
    assert sa.decrypt_bytes(ciphertext) == plaintext


class SourceBroke(Exception):
    pass


class FailingReader:
    def __init__(self, data: bytes, fail_after: int) -> None:
        self._data = io.BytesIO(data)
        self._left = fail_after

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise SourceBroke("read failed")
        self._left -= 1
        return self._data.read(size)


@pytest.mark.parametrize("fail_after", [0, 1, 2, 3])
def test_source_read_error_propagates(fail_after: int) -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(S + SPT + 1, 4)
    ciphertext = sa.encrypt_bytes(plaintext)
    with pytest.raises(SourceBroke):
        sa.encrypt(FailingReader(plaintext, fail_after), io.BytesIO())
    assert not _writer_threads()
    with pytest.raises(SourceBroke):
        sa.decrypt(FailingReader(ciphertext, fail_after), io.BytesIO())
    assert not _writer_threads()


class NonBlockingReader:
    """A raw stream in non-blocking mode with no data yet: ``readinto`` returns None."""

    def readinto(self, buf: memoryview) -> None:
        return None


def test_non_blocking_source_is_bad_input() -> None:
    sa = StreamingAead(KEY)
    with pytest.raises(BadInput):
        sa.encrypt(NonBlockingReader(), io.BytesIO())
    with pytest.raises(BadInput):
        sa.decrypt(NonBlockingReader(), io.BytesIO())


@pytest.mark.parametrize("bad_key", [b"", bytes(16), bytes(31), bytes(33), bytes(64)])
def test_wrong_key_length_is_bad_input(bad_key: bytes) -> None:
    with pytest.raises(BadInput):
        StreamingAead(bad_key)


@pytest.mark.parametrize("bad_key", ["k" * 32, None, 32, list(range(32)), memoryview(bytes(32))])
def test_non_bytes_key_is_bad_input(bad_key: object) -> None:
    with pytest.raises(BadInput):
        StreamingAead(bad_key)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", range(HEADER_SIZE + TAG_SIZE))
def test_ciphertext_shorter_than_header_and_tag_is_integrity_error(length: int) -> None:
    sa = StreamingAead(KEY)
    valid = sa.encrypt_bytes(b"")
    assert len(valid) == HEADER_SIZE + TAG_SIZE
    with pytest.raises(IntegrityError):
        sa.decrypt_bytes(valid[:length])
    with pytest.raises(IntegrityError):
        sa.decrypt_bytes(bytes([HEADER_SIZE]) + bytes(max(0, length - 1)))


# -- key hygiene --------------------------------------------------------------------------------------


def test_repr_and_str_show_no_key_material() -> None:
    key = bytes(range(200, 232))
    sa = StreamingAead(key)
    for text in (repr(sa), str(sa), f"{sa!r}", format(sa)):
        assert key.hex() not in text.lower()
        assert repr(key) not in text
        assert key.hex()[:8] not in text.lower()
    assert "StreamingAead" in repr(sa)
    assert not hasattr(sa, "__dict__")


class PartialWriteRaw(io.RawIOBase):
    """A raw (unbuffered) binary file, like ``open(path, "wb", buffering=0)`` on a pipe or socket:
    ``write`` may write fewer bytes than given and returns how many it wrote, as ``RawIOBase`` allows."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(data), 65_536)
        self.data += bytes(memoryview(data)[:n])
        return n


def test_raw_destination_with_partial_writes_gets_everything() -> None:
    sa = StreamingAead(KEY)
    plaintext = _plaintext(200_000, 5)
    ciphertext = sa.encrypt_bytes(plaintext)
    opened = PartialWriteRaw()
    returned = sa.decrypt(io.BytesIO(ciphertext), opened)
    assert bytes(opened.data) == plaintext[:returned]
    assert returned == len(plaintext)
    sealed = PartialWriteRaw()
    sa.encrypt(io.BytesIO(plaintext), sealed)
    assert len(sealed.data) == len(ciphertext)
