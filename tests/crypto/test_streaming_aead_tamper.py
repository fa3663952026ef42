"""Every way of tampering with a streaming AEAD ciphertext is rejected, with one unvarying error.

For each plaintext size around the segment boundaries (0, 1, S-1, S, S+1, 3S+1 where S is the first
segment's plaintext size) this checks truncations, segment swaps, duplicates and drops, forged
last-segment flags (segments re-encrypted here, from the documented wire format, with the per-stream
key derived from the header's salt), appended data, wrong associated data and keys, a changed header
length byte and single bit flips. It also checks that ``decrypt`` never hands out unverified bytes:
when segment k fails, the destination holds exactly the plaintext of segments 0..k-1.

Decryption of a 3 MiB stream takes about a millisecond, so bit flips are done in place on one cached
ciphertext per size, read through a zero-copy reader into a destination that discards everything.
"""

from __future__ import annotations

import functools
import io
import random
import struct
from collections.abc import Iterable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlwarden.crypto._streaming_aead import hkdf_sha256
from mlwarden.crypto.hazmat import (
    CIPHERTEXT_SEGMENT_SIZE,
    FIRST_SEGMENT_PLAINTEXT_SIZE,
    HEADER_SIZE,
    SEGMENT_PLAINTEXT_SIZE,
    TAG_SIZE,
    StreamingAead,
)
from mlwarden.errors import IntegrityError

S = FIRST_SEGMENT_PLAINTEXT_SIZE
SPT = SEGMENT_PLAINTEXT_SIZE
SEG = CIPHERTEXT_SEGMENT_SIZE
KEY = bytes(range(32))
AD = b"tamper-test associated data"
SIZES = [0, 1, S - 1, S, S + 1, 3 * S + 1]
MULTI = [s for s in SIZES if s > S]
SALT = slice(1, 33)
PREFIX = slice(33, 40)


class _ViewReader:
    """A zero-copy source over a buffer that the test mutates between decryptions."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def readinto(self, buf: memoryview) -> int:
        n = min(len(buf), len(self._view) - self._pos)
        buf[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = end
        return chunk


class _Discard:
    def write(self, data: memoryview) -> int:
        return len(data)


@functools.cache
def _sa() -> StreamingAead:
    return StreamingAead(KEY)


@functools.cache
def _case(size: int) -> tuple[bytes, bytes]:
    """One (plaintext, ciphertext) pair per size, shared by every test in this worker."""
    plaintext = random.Random(size).randbytes(size)
    return plaintext, _sa().encrypt_bytes(plaintext, AD)


@functools.cache
def _failure_message() -> str:
    with pytest.raises(IntegrityError) as info:
        _sa().decrypt_bytes(b"")
    return str(info.value)


def _rejection(data: bytes | bytearray | memoryview, ad: bytes = AD, key: bytes = KEY) -> str | None:
    """None if ``data`` is rejected the one expected way; otherwise a description of what happened."""
    sa = _sa() if key == KEY else StreamingAead(key)
    try:
        sa.decrypt(_ViewReader(data), _Discard(), ad)
    except IntegrityError as exc:
        if str(exc) != _failure_message():
            return f"message varies: {exc}"
        if exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
            return f"error leaks its cause: {exc.__cause__ or exc.__context__!r}"
        return None
    return "accepted"


def _assert_all_rejected(cases: Iterable[tuple[object, bytes | bytearray]], ad: bytes = AD) -> int:
    bad = []
    count = 0
    for label, data in cases:
        outcome = _rejection(data, ad)
        count += 1
        if outcome is not None:
            bad.append((label, outcome))
    assert not bad, f"{len(bad)} of {count} tampered ciphertexts not rejected properly: {bad[:10]}"
    return count


# -- the wire format, from the module docstring, re-implemented independently --------------------------


def _plain_segments(plaintext: bytes) -> list[bytes]:
    segments = [plaintext[:S]]
    for start in range(S, len(plaintext), SPT):
        segments.append(plaintext[start : start + SPT])
    return segments


def _split(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    header = ciphertext[:HEADER_SIZE]
    segments = [ciphertext[HEADER_SIZE:SEG]]
    for start in range(SEG, len(ciphertext), SEG):
        segments.append(ciphertext[start : start + SEG])
    return header, segments


def _segment_spans(ciphertext: bytes) -> list[tuple[int, int]]:
    """(start, end) offsets of each ciphertext segment in the whole ciphertext."""
    spans = [(HEADER_SIZE, min(SEG, len(ciphertext)))]
    for start in range(SEG, len(ciphertext), SEG):
        spans.append((start, min(start + SEG, len(ciphertext))))
    return spans


def _plain_offset(index: int) -> int:
    return 0 if index == 0 else S + (index - 1) * SPT


def _seal(header: bytes, index: int, last: bool, plaintext: bytes, ad: bytes = AD) -> bytes:
    key = hkdf_sha256(KEY, header[SALT], ad, 32)
    nonce = header[PREFIX] + struct.pack(">IB", index, 1 if last else 0)
    return AESGCM(key).encrypt(nonce, plaintext, None)


def _build(header: bytes, pieces: list[tuple[int, bool, bytes]]) -> bytes:
    """header || seal(index, last, plaintext) for each piece, in the given order."""
    return header + b"".join(_seal(header, index, last, plain) for index, last, plain in pieces)


def _honest(plaintext: bytes) -> list[tuple[int, bool, bytes]]:
    segments = _plain_segments(plaintext)
    return [(i, i == len(segments) - 1, seg) for i, seg in enumerate(segments)]


# -- sanity: the cases and the re-implementation are what the tests assume ------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_reimplementation_matches_ciphertext(size: int) -> None:
    """Re-sealing every segment from the documented layout reproduces the ciphertext byte for byte.

    This makes the forged-flag tests below meaningful: the crafting code is the real format.
    """
    plaintext, ciphertext = _case(size)
    header, segments = _split(ciphertext)
    expected_segments = 1 if size <= S else 1 + -(-(size - S) // SPT)
    assert len(segments) == expected_segments == len(_plain_segments(plaintext))
    assert header[0] == HEADER_SIZE
    assert len(ciphertext) == HEADER_SIZE + size + TAG_SIZE * expected_segments
    assert _build(header, _honest(plaintext)) == ciphertext
    assert _sa().decrypt_bytes(ciphertext, AD) == plaintext
    assert _rejection(ciphertext) == "accepted"


@pytest.mark.parametrize("size", MULTI)
def test_crafted_valid_streams_are_accepted(size: int) -> None:
    """Positive controls for the crafting: well-formed streams built here decrypt."""
    plaintext, ciphertext = _case(size)
    header = ciphertext[:HEADER_SIZE]
    segments = _plain_segments(plaintext)
    # A shorter stream whose segment k is honestly marked last is a valid stream of the prefix.
    for k in range(len(segments) - 1):
        pieces = [(i, i == k, segments[i]) for i in range(k + 1)]
        assert _sa().decrypt_bytes(_build(header, pieces), AD) == b"".join(segments[: k + 1])


def test_crafted_empty_final_segment_after_full_segment_is_accepted() -> None:
    """A full non-last segment followed by an empty last one is valid (Tink accepts it too)."""
    plaintext, ciphertext = _case(S)
    header = ciphertext[:HEADER_SIZE]
    crafted = _build(header, [(0, False, plaintext), (1, True, b"")])
    assert len(crafted) == SEG + TAG_SIZE
    assert _sa().decrypt_bytes(crafted, AD) == plaintext


# -- truncation, reordering, duplication, dropping -------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_truncations_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    cuts = {0, 1, 20, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 1, HEADER_SIZE + TAG_SIZE - 1}
    cuts |= {HEADER_SIZE + TAG_SIZE, len(ciphertext) - 1, len(ciphertext) - TAG_SIZE, len(ciphertext) // 2}
    for start, end in _segment_spans(ciphertext):
        # Segment boundaries, just a tag's worth into a segment, just short of a segment's end.
        cuts |= {start, start + 1, start + TAG_SIZE - 1, start + TAG_SIZE, end - 1, end - TAG_SIZE}
    cuts = {c for c in cuts if 0 <= c < len(ciphertext)}
    ran = _assert_all_rejected((cut, ciphertext[:cut]) for cut in sorted(cuts))
    assert ran >= 8


@pytest.mark.parametrize("size", SIZES)
def test_segment_swaps_duplicates_and_drops_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    header, segments = _split(ciphertext)
    n = len(segments)
    cases: list[tuple[object, bytes]] = []
    for i in range(n):
        for j in range(i + 1, n):
            swapped = list(segments)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            cases.append((("swap", i, j), header + b"".join(swapped)))
        duplicated = [*segments[: i + 1], segments[i], *segments[i + 1 :]]
        cases.append((("duplicate", i), header + b"".join(duplicated)))
        cases.append((("duplicate at end", i), header + b"".join([*segments, segments[i]])))
        dropped = segments[:i] + segments[i + 1 :]
        cases.append((("drop", i), header + b"".join(dropped)))
    if n >= 3:
        cases.append((("rotate",), header + b"".join(segments[1:] + segments[:1])))
        cases.append((("reverse",), header + b"".join(reversed(segments))))
    assert len(cases) >= 3 * n
    _assert_all_rejected(cases)


@pytest.mark.parametrize("size", SIZES)
def test_forged_last_flags_rejected(size: int) -> None:
    """Segments that each verify under some nonce, but with the last-segment flag in the wrong place."""
    plaintext, ciphertext = _case(size)
    header = ciphertext[:HEADER_SIZE]
    segments = _plain_segments(plaintext)
    n = len(segments)
    honest = _honest(plaintext)

    def marked(last: set[int], shift: int = 0) -> bytes:
        return _build(header, [(i + shift, i in last, seg) for i, seg in enumerate(segments)])

    cases: list[tuple[object, bytes]] = []
    # The final segment not marked last (what a truncation at a segment boundary looks like).
    cases.append(("final not last", marked(set())))
    if n >= 2:
        cases.append(("all last", marked(set(range(n)))))
    for k in range(n - 1):
        # A non-final segment marked last, followed by the rest (final correctly marked, or not).
        cases.append((("early last", k), marked({k, n - 1})))
        cases.append((("early last only", k), marked({k})))
        # A prefix of the stream that stops at a segment not marked last.
        cases.append((("prefix", k), _build(header, [(i, False, segments[i]) for i in range(k + 1)])))
    # One more segment after the real last one, marked last or not: empty, one byte, and a full one.
    for extra in (b"", b"x", bytes(SPT)):
        cases.append((("append after last", len(extra)), _build(header, [*honest, (n, True, extra)])))
        cases.append((("append unmarked", len(extra)), _build(header, [*honest, (n, False, extra)])))
    # Segment indices shifted or repeated, with honest flags.
    cases.append(("indices from 1", marked({n - 1}, shift=1)))
    if n >= 2:
        repeated = [(0, i == n - 1, seg) for i, seg in enumerate(segments)]
        cases.append(("index repeated", _build(header, repeated)))
    _assert_all_rejected(cases)


@pytest.mark.parametrize("size", SIZES)
def test_appended_data_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    header, segments = _split(ciphertext)
    full = segments[1] if len(segments) > 1 and len(segments[1]) == SEG else random.Random(1).randbytes(SEG)
    cases = [
        ("byte 00", ciphertext + b"\x00"),
        ("byte ff", ciphertext + b"\xff"),
        ("tag-sized", ciphertext + ciphertext[-TAG_SIZE:]),
        ("full segment", ciphertext + full),
        ("last segment again", ciphertext + segments[-1]),
        ("header again", ciphertext + header),
    ]
    _assert_all_rejected(cases)


# -- keys, associated data, header ------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_wrong_associated_data_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    for ad in (b"", AD[:-1], AD + b"\x00", b"X" + AD[1:], AD.upper()):
        assert _rejection(ciphertext, ad) is None, ad


@pytest.mark.parametrize("size", SIZES)
def test_wrong_key_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    keys = [bytes(32), bytes([KEY[0] ^ 1]) + KEY[1:], KEY[:-1] + bytes([KEY[-1] ^ 0x80])]
    for key in [*keys, bytes(reversed(KEY))]:
        assert _rejection(ciphertext, AD, key) is None, key.hex()


@pytest.mark.parametrize("size", SIZES)
def test_header_length_byte_changed_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    buf = bytearray(ciphertext)
    cases = []
    for value in range(256):
        if value != HEADER_SIZE:
            buf[0] = value
            cases.append((value, bytes(buf[: HEADER_SIZE + TAG_SIZE + 8]) if size > 64 else bytes(buf)))
    # The length byte is checked before anything else, so a short slice is as good as the whole stream;
    # check the whole stream for a few values too.
    for value in (0, HEADER_SIZE - 1, HEADER_SIZE + 1, 0xFF):
        buf[0] = value
        cases.append((("whole", value), bytes(buf)))
    assert _assert_all_rejected(cases) == 259


# -- single bit flips ---------------------------------------------------------------------------------


def _flip_positions(size: int, ciphertext: bytes) -> list[int]:
    """Bit positions to flip: all of them for tiny streams, else the sensitive spots plus random ones."""
    total_bits = 8 * len(ciphertext)
    if size <= 1:
        return list(range(total_bits))
    bytes_: set[int] = set(range(HEADER_SIZE))
    for start, end in _segment_spans(ciphertext):
        bytes_ |= set(range(start, min(start + 32, end)))
        bytes_ |= set(range(max(start, end - 32), end))  # includes every byte of the segment's tag
    bits = {8 * b + k for b in bytes_ for k in range(8)}
    rng = random.Random(0x5EED + size)
    bits |= {rng.randrange(total_bits) for _ in range(1000)}
    return sorted(bits)


@pytest.mark.parametrize("size", SIZES)
def test_single_bit_flips_rejected(size: int) -> None:
    _, ciphertext = _case(size)
    buf = bytearray(ciphertext)
    positions = _flip_positions(size, ciphertext)
    bad = []
    for bit in positions:
        byte, mask = bit >> 3, 1 << (bit & 7)
        buf[byte] ^= mask
        try:
            outcome = _rejection(buf)
        finally:
            buf[byte] ^= mask
        if outcome is not None:
            bad.append((bit, outcome))
    assert buf == ciphertext
    assert not bad, f"{len(bad)} of {len(positions)} bit flips not rejected properly: {bad[:10]}"
    # At least every bit of the header and of every tag, plus the random ones.
    tags = TAG_SIZE * len(_segment_spans(ciphertext))
    minimum = 8 * len(ciphertext) if size <= 1 else 8 * (HEADER_SIZE + tags)
    assert len(positions) >= minimum


# -- never hands out unverified bytes -----------------------------------------------------------------


class _RecordingSink(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.writes.append(len(data))
        return super().write(data)


def _decrypt_into_sink(data: bytes) -> tuple[_RecordingSink, IntegrityError | None]:
    sink = _RecordingSink()
    try:
        _sa().decrypt(io.BytesIO(data), sink, AD)
    except IntegrityError as exc:
        return sink, exc
    return sink, None


@pytest.mark.parametrize("size", [*MULTI, 1])
def test_failure_in_segment_k_leaves_exactly_the_verified_prefix(size: int) -> None:
    plaintext, ciphertext = _case(size)
    spans = _segment_spans(ciphertext)
    segments = _plain_segments(plaintext)
    for k, (start, end) in enumerate(spans):
        for position in (start, (start + end) // 2, end - 1):  # body start, middle, and the tag
            tampered = bytearray(ciphertext)
            tampered[position] ^= 0x40
            sink, error = _decrypt_into_sink(bytes(tampered))
            assert error is not None, (k, position)
            assert sink.getvalue() == plaintext[: _plain_offset(k)], (k, position)
            assert sink.writes == [len(s) for s in segments[:k]], (k, position)
        if k < len(spans) - 1:
            # Truncated right after segment k: segment k is now last and its flag is wrong.
            sink, error = _decrypt_into_sink(ciphertext[:end])
            assert error is not None, k
            assert sink.getvalue() == plaintext[: _plain_offset(k)], k
    # A forged flag on the final segment: everything before it is handed out, nothing of it.
    header = ciphertext[:HEADER_SIZE]
    forged = _build(header, [(i, False, seg) for i, seg in enumerate(segments)])
    sink, error = _decrypt_into_sink(forged)
    assert error is not None
    assert sink.getvalue() == plaintext[: _plain_offset(len(segments) - 1)]


def test_untouched_ciphertext_still_decrypts() -> None:
    """The in-place flipping above restores every buffer; the cached cases are intact."""
    for size in SIZES:
        plaintext, ciphertext = _case(size)
        assert _sa().decrypt_bytes(ciphertext, AD) == plaintext
