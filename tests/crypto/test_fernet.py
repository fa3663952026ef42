"""``mlwarden.crypto._fernet``: streaming decryption of Fernet tokens, against the spec and the reference.

The Fernet spec's own vectors (shipped in ``cryptography_vectors``) must all decrypt or all fail as
published, except the TTL-only ones, which we decrypt on purpose (migrations do not enforce TTLs).
Round trips are differential against ``cryptography.fernet.Fernet``, with tiny chunk sizes so that
the base64 carry and the 48-byte hold-back cross every boundary, random read sizes, and the
whitespace found in real files. Tampering checks cover bit flips of every bit, truncation at every
length, appended data, wrong keys and version bytes, and that the stream never ends cleanly unless
the tag verified. A 64 MiB token is streamed in bounded memory.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

import cryptography_vectors
import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.crypto._fernet import FernetStreamReader, FernetTokenInfo, parse_fernet_key
from mlwarden.errors import BadInput, IntegrityError

KEY_TEXT = base64.urlsafe_b64encode(bytes(range(100, 132)))
KEY = bytes(range(100, 132))
FERNET = Fernet(KEY_TEXT)
TIMESTAMP = 1_700_000_000
NOT_VERIFIED = "the Fernet token does not verify: wrong key or damaged file"
NOT_BASE64 = "the Fernet token is damaged (not base64url)"
BAD_LENGTH = "the Fernet token is damaged (truncated, or not a whole number of AES blocks)"

# The invalid vectors whose only fault is the token's age relative to "now" and "ttl_sec".
TTL_ONLY = {"far-future TS (unacceptable clock skew)", "expired TTL"}

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _vectors(name: str) -> list[dict[str, Any]]:
    with cryptography_vectors.open_vector_file(os.path.join("fernet", name), "r") as f:
        vectors: list[dict[str, Any]] = json.load(f)
    assert vectors, name
    return vectors


def _token(plaintext: bytes, timestamp: int = TIMESTAMP) -> bytes:
    return FERNET.encrypt_at_time(plaintext, timestamp)


def _read_all(reader: FernetStreamReader, rng: random.Random | None = None, max_read: int = 1 << 20) -> bytes:
    """Read to EOF with ``read(n)`` calls of random sizes (or ``max_read`` each)."""
    out = bytearray()
    while True:
        chunk = reader.read(rng.randint(1, max_read) if rng else max_read)
        assert chunk is not None
        if not chunk:
            return bytes(out)
        out += chunk


def _decrypt(token: bytes, key: bytes = KEY, chunk_size: int = 1 << 20, rng: random.Random | None = None) -> bytes:
    return _read_all(FernetStreamReader(key, io.BytesIO(token), chunk_size=chunk_size), rng, max_read=257)


def _assert_fails(token: bytes, key: bytes = KEY, chunk_size: int = 1 << 20, message: str | None = None) -> None:
    with pytest.raises(IntegrityError) as info:
        _decrypt(token, key, chunk_size)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("the Fernet token ")
    if message is not None:
        assert text == message


def _wrap(text: bytes, width: int = 76, newline: bytes = b"\n") -> bytes:
    return newline.join(text[i : i + width] for i in range(0, len(text), width)) + newline


def _resign(raw: bytes, key: bytes = KEY) -> bytes:
    """Replace the tag of decoded token bytes by a correct one (to reach checks behind the HMAC)."""
    mac = HMAC(key[:16], hashes.SHA256())
    mac.update(raw[:-32])
    return base64.urlsafe_b64encode(raw[:-32] + mac.finalize())


# -- published vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["generate.json", "verify.json"])
def test_spec_vectors_decrypt(name: str) -> None:
    ran = 0
    for vector in _vectors(name):
        reader = FernetStreamReader(parse_fernet_key(vector["secret"].encode()), io.BytesIO(vector["token"].encode()))
        assert _read_all(reader) == vector["src"].encode()
        assert reader.info.plaintext_size == len(vector["src"].encode())
        if name == "generate.json":  # generated at "now", with the given IV
            assert reader.info.timestamp == int(datetime.fromisoformat(vector["now"]).timestamp())
            assert base64.urlsafe_b64decode(vector["token"])[9:25] == bytes(vector["iv"])
        ran += 1
    assert ran >= 1


def test_spec_invalid_vectors() -> None:
    failed = decrypted = 0
    for vector in _vectors("invalid.json"):
        key_text = vector["secret"].encode()
        token = vector["token"].encode()
        if vector["desc"] in TTL_ONLY:
            # A sound token whose only fault is its age. We deliberately enforce no TTL (old files
            # must migrate), so it must decrypt, exactly as the reference does without a ttl.
            assert _decrypt(token, parse_fernet_key(key_text)) == Fernet(key_text).decrypt(token)
            decrypted += 1
        else:
            with pytest.raises(InvalidToken):
                Fernet(key_text).decrypt(token)
            _assert_fails(token, parse_fernet_key(key_text))
            for chunk_size in (1, 5, 48):
                _assert_fails(token, parse_fernet_key(key_text), chunk_size)
            failed += 1
    assert decrypted == len(TTL_ONLY)
    assert failed >= 6


# -- differential round trips ------------------------------------------------------------------------


plaintext_sizes = st.one_of(
    st.integers(0, 5000),
    # Near multiples of the AES block and of the chunk sizes below (in plaintext bytes).
    st.builds(lambda k, d: max(0, 16 * k + d), st.integers(0, 40), st.integers(-2, 2)),
)
chunk_sizes = st.sampled_from([1, 2, 3, 5, 48, 64, 100, 4096, 1 << 20])
layouts = st.sampled_from(["bare", "newline", "crlf", "wrapped", "wrapped-crlf", "surrounded"])


def _layout(token: bytes, layout: str) -> bytes:
    if layout == "newline":
        return token + b"\n"
    if layout == "crlf":
        return token + b"\r\n"
    if layout == "wrapped":
        return _wrap(token)
    if layout == "wrapped-crlf":
        return _wrap(token, 64, b"\r\n")
    if layout == "surrounded":
        return b" \t\n" + token + b"\n\n \t"
    return token


@PROPERTY_SETTINGS
@given(
    size=plaintext_sizes,
    seed=st.integers(0, 2**32),
    chunk_size=chunk_sizes,
    layout=layouts,
    timestamp=st.integers(0, 2**64 - 1),
)
def test_matches_reference(size: int, seed: int, chunk_size: int, layout: str, timestamp: int) -> None:
    rng = random.Random(seed)
    plaintext = rng.randbytes(size)
    token = FERNET.encrypt_at_time(plaintext, timestamp)
    text = _layout(token, layout)
    assert FERNET.decrypt(text) == plaintext
    reader = FernetStreamReader(KEY, io.BytesIO(text), chunk_size=chunk_size)
    assert _read_all(reader, rng, max_read=rng.choice([1, 7, 100, 5000])) == plaintext
    assert reader.info == FernetTokenInfo(timestamp=timestamp, plaintext_size=size)
    assert reader.read(10) == b""  # EOF stays EOF
    assert reader.readinto(bytearray(10)) == 0


@pytest.mark.parametrize("chunk_size", [48, 64, 4096])
def test_every_size_across_chunk_boundaries(chunk_size: int) -> None:
    """Every plaintext size whose token text ends within a few characters of a chunk boundary."""
    sizes = range(0, 400) if chunk_size < 100 else range(3 * chunk_size // 4 * 2 - 120, 3 * chunk_size // 4 * 2 + 40)
    rng = random.Random(chunk_size)
    for size in sizes:
        plaintext = rng.randbytes(size)
        token = _token(plaintext)
        for text in (token, token + b"\n", _wrap(token)):
            assert _decrypt(text, chunk_size=chunk_size, rng=rng) == plaintext, (size, len(text))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 300), seed=st.integers(0, 2**32), chunk_size=chunk_sizes, data=st.data())
def test_whitespace_anywhere_is_ignored(size: int, seed: int, chunk_size: int, data: st.DataObject) -> None:
    rng = random.Random(seed)
    plaintext = rng.randbytes(size)
    token = bytearray(_token(plaintext))
    positions = data.draw(st.lists(st.integers(0, len(token)), max_size=30))
    for pos in sorted(positions, reverse=True):
        token[pos:pos] = rng.choice([b" ", b"\t", b"\r", b"\n", b"\r\n", b"  \n"])
    assert FERNET.decrypt(bytes(token)) == plaintext  # the reference ignores whitespace too
    assert _decrypt(bytes(token), chunk_size=chunk_size, rng=rng) == plaintext


def test_padding_is_optional_but_complete_when_present() -> None:
    for size in range(0, 48):
        plaintext = bytes(range(size))
        token = _token(plaintext)
        body = token.rstrip(b"=")
        pads = len(token) - len(body)
        if pads == 0:
            continue
        assert _decrypt(body) == plaintext  # leaving all of it out is fine (the reference refuses it)
        for chunk_size in (1, 3, 64):
            assert _decrypt(body + b"\n", chunk_size=chunk_size) == plaintext
            assert _decrypt(body + b"=" * pads, chunk_size=chunk_size) == plaintext
            assert _decrypt(body + b"=\n=" if pads == 2 else body + b"\n=", chunk_size=chunk_size) == plaintext
            for wrong in range(1, 5):
                if wrong != pads:
                    _assert_fails(body + b"=" * wrong, chunk_size=chunk_size, message=NOT_BASE64)


def test_padding_in_the_wrong_place_fails() -> None:
    two = _token(b"")  # 73 bytes: ends in "=="
    one = _token(bytes(16))  # 89 bytes: ends in "="
    none = _token(bytes(32))  # 105 bytes: no padding
    assert two.endswith(b"==")
    assert one.endswith(b"=")
    assert not one.endswith(b"==")
    assert b"=" not in none
    wrong = [
        two[:-1] + b"A",  # "xx=A"
        two[:-3] + b"=" + two[-3:-2] + b"=",  # "x=x="
        one[:-1] + b"A=",  # "xxxA="
        one[:-2] + b"=" + one[-2:-1],  # "xx=x"
        none[:-4] + b"==" + none[-4:],  # padding in the middle
        none[:-2] + b"=" + none[-2:],
        none + b"=",  # padding where none is needed
        b"=" + none,
    ]
    for text in wrong:
        for chunk_size in (1, 2, 3, 4, 5, 1 << 20):
            _assert_fails(text, chunk_size=chunk_size, message=NOT_BASE64)
            _assert_fails(_wrap(text, 3), chunk_size=chunk_size, message=NOT_BASE64)


def test_readinto_and_sources_that_return_short_reads() -> None:
    plaintext = os.urandom(10_000)
    token = _token(plaintext)

    class Dribble:
        def __init__(self) -> None:
            self._src = io.BytesIO(token)

        def read(self, size: int = -1) -> bytes:
            return self._src.read(min(size, 7))

    reader = FernetStreamReader(KEY, Dribble(), chunk_size=4096)
    assert reader.readable()
    out = bytearray()
    buf = bytearray(333)
    view = memoryview(buf)
    while n := reader.readinto(view):
        out += view[:n]
    assert out == plaintext
    assert reader.info.plaintext_size == len(plaintext)


def test_buffered_wrapper_and_readall() -> None:
    plaintext = os.urandom(100_000)
    with io.BufferedReader(FernetStreamReader(KEY, io.BytesIO(_token(plaintext) + b"\n"), chunk_size=1000)) as f:
        assert f.read() == plaintext
    assert FernetStreamReader(KEY, io.BytesIO(_token(plaintext))).readall() == plaintext


# -- tampering ---------------------------------------------------------------------------------------


def test_every_bit_flip_fails() -> None:
    raw = base64.urlsafe_b64decode(_token(b"twenty bytes of data"))
    assert len(raw) == 1 + 8 + 16 + 32 + 32
    flipped = bytearray(raw)
    for bit in range(len(raw) * 8):
        flipped[bit // 8] ^= 1 << (bit % 8)
        _assert_fails(base64.urlsafe_b64encode(flipped), chunk_size=(1 << 20) if bit % 2 else 5)
        flipped[bit // 8] ^= 1 << (bit % 8)
    assert _decrypt(base64.urlsafe_b64encode(flipped)) == b"twenty bytes of data"


@pytest.mark.parametrize("size", [0, 5, 16, 33])
def test_every_truncation_fails(size: int) -> None:
    token = _token(bytes(size)) + b"\n"
    body = len(token.rstrip(b"=\n"))
    for length in range(len(token)):
        text = token[:length]
        if length in (body, len(token) - 1):
            assert _decrypt(text) == bytes(size)  # nothing cut, or only (all of) the optional padding
            continue
        for chunk_size in (3, 1 << 20):
            _assert_fails(text, chunk_size=chunk_size)


def test_short_tokens_fail() -> None:
    # A correctly signed 57 bytes: version, timestamp, IV and tag but no ciphertext block at all.
    raw = b"\x80" + bytes(8) + bytes(16) + bytes(32)
    _assert_fails(_resign(raw), message=BAD_LENGTH)
    # Correctly signed but the ciphertext is not a whole number of blocks.
    for extra in (1, 15, 17, 31):
        _assert_fails(_resign(raw + bytes(extra)), message=BAD_LENGTH)
    for text in (b"", b"\n", b"gA==", b"gAAAAAAA", b"g"):
        _assert_fails(text)


def test_appended_data_fails() -> None:
    for size in (0, 1, 2, 3, 16, 32, 40, 100):  # tokens with two, one and no "=" of padding
        token = _token(bytes(size))
        for extra in (b"A", b"AA", b"AAA", b"AAAA", b"=", b"==", b"\n=", b"x==", b"\x00", b"!", b"\nAAAA\n", token):
            for chunk_size in (1, 4, 1 << 20):
                _assert_fails(token + extra, chunk_size=chunk_size)
        # Whole decoded bytes appended (a longer but wrongly signed token).
        _assert_fails(base64.urlsafe_b64encode(base64.urlsafe_b64decode(token) + bytes(16)))


def test_wrong_key_fails_with_the_one_message() -> None:
    token = _token(b"secret data")
    for key in (bytes(32), KEY[:16] + bytes(16), bytes(16) + KEY[16:], KEY[16:] + KEY[:16]):
        _assert_fails(token, key=key, message=NOT_VERIFIED)


def test_bad_version_byte_fails_even_when_signed() -> None:
    raw = base64.urlsafe_b64decode(_token(b"some data"))
    for version in (0x00, 0x7F, 0x81, 0xFF):
        forged = _resign(bytes([version]) + raw[1:])
        with pytest.raises(InvalidToken):
            FERNET.decrypt(forged)
        _assert_fails(forged)
        _assert_fails(forged, chunk_size=1)


def test_bad_padding_fails_even_when_signed() -> None:
    # Like the spec's "payload padding error" vector: signed by the key holder, but the last block
    # does not end in valid PKCS7 padding. Same message as any other fault.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = bytes(16)
    for last in (bytes(16), bytes(15) + b"\x11", bytes(14) + b"\x01\x02", b"\x03" * 15 + b"\x02"):
        encryptor = Cipher(algorithms.AES(KEY[16:]), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(b"A" * 16 + last) + encryptor.finalize()
        forged = _resign(b"\x80" + bytes(8) + iv + ciphertext + bytes(32))
        _assert_fails(forged, message=NOT_VERIFIED)


@pytest.mark.parametrize(
    "bad", [b"+", b"/", b"%", b"\x00", b"\x80", b"\xff", b"\x0b", b"\x0c", b".", b"=", b"=="], ids=repr
)
def test_characters_outside_base64url_fail(bad: bytes) -> None:
    token = _token(b"x" * 40)
    for pos in (0, 1, 4, 50, len(token) // 2, len(token) - 5):
        for chunk_size in (1, 7, 1 << 20):
            _assert_fails(token[:pos] + bad + token[pos:], chunk_size=chunk_size, message=NOT_BASE64)
    # Swapping a base64url character for its standard-alphabet twin is refused, not ignored.
    body = _token(b"y" * 300)
    twin = body.replace(b"-", b"+").replace(b"_", b"/")
    if twin != body:
        _assert_fails(twin, message=NOT_BASE64)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), chunk_size=chunk_sizes, size=st.integers(0, 200))
def test_never_ends_cleanly_without_a_verified_tag(seed: int, chunk_size: int, size: int) -> None:
    """Reading with read(n) loops never gets b"" from a tampered token, and raising is sticky."""
    rng = random.Random(seed)
    plaintext = rng.randbytes(size)
    raw = bytearray(base64.urlsafe_b64decode(_token(plaintext)))
    raw[-1 - rng.randrange(32)] ^= 1 << rng.randrange(8)  # a bit of the tag
    reader = FernetStreamReader(KEY, io.BytesIO(base64.urlsafe_b64encode(raw)), chunk_size=chunk_size)
    returned: list[int] = []

    def drain() -> None:
        while True:
            chunk = reader.read(rng.randint(1, 64))
            assert chunk, "end of file without a verified tag"
            returned.append(len(chunk))

    with pytest.raises(IntegrityError, match=NOT_VERIFIED):
        drain()
    # Unauthenticated bytes may have been handed out, but never the last block's.
    assert sum(returned) <= size - size % 16
    for _ in range(3):
        with pytest.raises(IntegrityError, match=NOT_VERIFIED):
            reader.read(10)
    with pytest.raises(BadInput):
        _ = reader.info


# -- keys and misuse ---------------------------------------------------------------------------------


def test_parse_fernet_key() -> None:
    text = Fernet.generate_key()
    key = base64.urlsafe_b64decode(text)
    assert parse_fernet_key(text) == key
    assert parse_fernet_key(text + b"\n") == key
    assert parse_fernet_key(b"\r\n  " + text + b" \t\r\n") == key
    assert parse_fernet_key(text.rstrip(b"=")) == key
    token = Fernet(text).encrypt(b"round trip")
    assert _decrypt(token, parse_fernet_key(text + b"\n")) == b"round trip"


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t[:-2] + b"=",  # 31 bytes
        lambda t: base64.urlsafe_b64encode(base64.urlsafe_b64decode(t) + b"\x00"),  # 33 bytes
        lambda t: base64.urlsafe_b64encode(base64.urlsafe_b64decode(t)[:16]),  # 16 bytes
        lambda t: t.replace(t[5:6], b"%"),  # not base64
        lambda t: t[:10] + b" " + t[10:],  # whitespace inside
        lambda t: t.replace(t[3:4], b"+"),  # standard alphabet
        lambda t: t + b"=",  # too much padding
        lambda t: t.hex().encode(),  # hex, not base64
        lambda t: base64.urlsafe_b64decode(t),  # raw bytes
        lambda t: b"",
    ],
)
def test_parse_fernet_key_refuses_without_echoing(make: Any) -> None:
    text = b"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
    bad = make(text)
    with pytest.raises(BadInput) as info:
        parse_fernet_key(bad)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("the Fernet key is malformed")
    for part in (text[:8], text[8:20], text[-12:-1]):
        assert part.decode() not in message


def test_misuse() -> None:
    with pytest.raises(BadInput):
        FernetStreamReader(KEY[:16], io.BytesIO(b""))
    with pytest.raises(BadInput):
        FernetStreamReader(KEY, io.BytesIO(b""), chunk_size=0)
    reader = FernetStreamReader(KEY, io.BytesIO(_token(b"abc")))
    with pytest.raises(BadInput):
        _ = reader.info  # not read yet
    assert reader.read(1) == b"a"  # "abc" is in the last block: it arrives only after verification
    assert reader.info == FernetTokenInfo(timestamp=TIMESTAMP, plaintext_size=3)
    assert reader.read() == b"bc"
    assert reader.info == FernetTokenInfo(timestamp=TIMESTAMP, plaintext_size=3)
    assert KEY.hex() not in repr(reader)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)

    class NonBlocking:
        def read(self, size: int = -1) -> None:
            return None

    with pytest.raises(BadInput):
        FernetStreamReader(KEY, NonBlocking()).read(1)


# -- memory ------------------------------------------------------------------------------------------


def test_64_mib_token_streams_in_bounded_memory(tmp_path: Path) -> None:
    block = os.urandom(1 << 20)
    doubled = block + block[:64]
    size = 64 << 20
    path = tmp_path / "big.fernet"
    path.write_bytes(_token(block * 64) + b"\n")
    assert path.stat().st_size > size
    buf = memoryview(bytearray(1 << 20))
    total = 0
    tracemalloc.start()
    try:
        with path.open("rb", buffering=0) as f:
            reader = FernetStreamReader(KEY, f)
            while n := reader.readinto(buf):
                head = min(n, 64)
                assert buf[:head] == doubled[total % (1 << 20) :][:head]
                total += n
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert reader.info.plaintext_size == size
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"
