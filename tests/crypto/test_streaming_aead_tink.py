"""Wire compatibility of ``mlwarden.crypto.hazmat.StreamingAead`` with Google Tink, both ways.

The ``tink`` package is the reference implementation of ``AES256_GCM_HKDF_1MB`` (RAW output prefix).
The same 32 raw key bytes go into both: Tink must decrypt what we write, we must decrypt what Tink
writes, the ciphertexts must be the same length, and Tink must reject what we reject.
"""

from __future__ import annotations

import functools
import io
import random

import pytest

tink = pytest.importorskip("tink")

from tink import cleartext_keyset_handle, streaming_aead  # noqa: E402
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2  # noqa: E402

from mlwarden.crypto.hazmat import (  # noqa: E402
    CIPHERTEXT_SEGMENT_SIZE,
    FIRST_SEGMENT_PLAINTEXT_SIZE,
    HEADER_SIZE,
    SEGMENT_PLAINTEXT_SIZE,
    StreamingAead,
)
from mlwarden.errors import IntegrityError  # noqa: E402

S = FIRST_SEGMENT_PLAINTEXT_SIZE
SPT = SEGMENT_PLAINTEXT_SIZE
KEY = bytes(range(100, 132))

SIZES = [
    0,
    1,
    17,
    4095,
    65_537,
    S - 1,
    S,
    S + 1,
    S + SPT - 1,
    S + SPT,  # two full segments: the last one is full and marked last
    S + SPT + 1,
    3 * S + 1,
]
ADS = [b"", b"mlwarden tink interop \x00\xff"]


class _KeepOpenBytesIO(io.BytesIO):
    """Tink's encrypting stream closes its destination on close; keep the buffer readable."""

    def close(self) -> None:
        pass


@functools.cache
def _tink_primitive() -> streaming_aead.StreamingAead:
    streaming_aead.register()
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0,
        key_value=KEY,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            ciphertext_segment_size=CIPHERTEXT_SEGMENT_SIZE,
            derived_key_size=32,
            hkdf_hash_type=common_pb2.SHA256,
        ),
    )
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url="type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey",
                    value=key.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    return cleartext_keyset_handle.from_keyset(keyset).primitive(streaming_aead.StreamingAead)


def tink_encrypt(plaintext: bytes, associated_data: bytes) -> bytes:
    dst = _KeepOpenBytesIO()
    with _tink_primitive().new_encrypting_stream(dst, associated_data) as stream:
        view = memoryview(plaintext)
        # Several writes of awkward sizes, so Tink's own buffering is exercised too.
        for start in range(0, len(view), 700_001):
            stream.write(view[start : start + 700_001])
    return dst.getvalue()


def tink_decrypt(ciphertext: bytes, associated_data: bytes) -> bytes:
    with _tink_primitive().new_decrypting_stream(io.BytesIO(ciphertext), associated_data) as stream:
        return stream.read()


@functools.cache
def _plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def _expected_ciphertext_size(size: int) -> int:
    segments = 1 if size <= S else 1 + -(-(size - S) // SPT)
    return HEADER_SIZE + size + 16 * segments


@pytest.mark.parametrize("associated_data", ADS, ids=["no-ad", "ad"])
@pytest.mark.parametrize("size", SIZES)
def test_tink_decrypts_ours(size: int, associated_data: bytes) -> None:
    plaintext = _plaintext(size)
    ours = StreamingAead(KEY).encrypt_bytes(plaintext, associated_data)
    assert len(ours) == _expected_ciphertext_size(size)
    assert tink_decrypt(ours, associated_data) == plaintext


@pytest.mark.parametrize("associated_data", ADS, ids=["no-ad", "ad"])
@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_tinks(size: int, associated_data: bytes) -> None:
    plaintext = _plaintext(size)
    theirs = tink_encrypt(plaintext, associated_data)
    assert len(theirs) == _expected_ciphertext_size(size)
    assert theirs[0] == HEADER_SIZE
    assert StreamingAead(KEY).decrypt_bytes(theirs, associated_data) == plaintext
    # Through the file-object API as well, with a real (buffered) file-like destination.
    out = io.BytesIO()
    assert StreamingAead(KEY).decrypt(io.BytesIO(theirs), out, associated_data) == size
    assert out.getvalue() == plaintext


@pytest.mark.parametrize("size", [0, 1, S, S + 1, 3 * S + 1])
def test_same_length_both_ways(size: int) -> None:
    plaintext = _plaintext(size)
    assert len(StreamingAead(KEY).encrypt_bytes(plaintext, b"x")) == len(tink_encrypt(plaintext, b"x"))


@pytest.mark.parametrize("size", [1, S + 1])
def test_wrong_associated_data_rejected_by_both(size: int) -> None:
    plaintext = _plaintext(size)
    ours = StreamingAead(KEY).encrypt_bytes(plaintext, b"right")
    theirs = tink_encrypt(plaintext, b"right")
    with pytest.raises(tink.TinkError):
        tink_decrypt(ours, b"wrong")
    with pytest.raises(IntegrityError):
        StreamingAead(KEY).decrypt_bytes(theirs, b"wrong")


@pytest.mark.parametrize("size", [0, 1, S, S + 1, 3 * S + 1])
def test_tink_rejects_our_tampered_ciphertexts(size: int) -> None:
    """A flipped bit anywhere (header, segment bodies, tags) is rejected by Tink and by us alike."""
    ciphertext = StreamingAead(KEY).encrypt_bytes(_plaintext(size), b"ad")
    rng = random.Random(size)
    positions = {0, 1, HEADER_SIZE - 1, HEADER_SIZE, len(ciphertext) - 1, len(ciphertext) - 16}
    positions |= {rng.randrange(len(ciphertext)) for _ in range(6)}
    for boundary in range(CIPHERTEXT_SEGMENT_SIZE, len(ciphertext), CIPHERTEXT_SEGMENT_SIZE):
        positions |= {boundary - 1, boundary}  # last tag byte of one segment, first byte of the next
    for position in sorted(positions):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 1 << rng.randrange(8)
        with pytest.raises(tink.TinkError):
            tink_decrypt(bytes(tampered), b"ad")
        with pytest.raises(IntegrityError):
            StreamingAead(KEY).decrypt_bytes(bytes(tampered), b"ad")


@pytest.mark.parametrize("size", [1, S + 1, 3 * S + 1])
def test_tink_rejects_our_truncations(size: int) -> None:
    ciphertext = StreamingAead(KEY).encrypt_bytes(_plaintext(size), b"")
    cuts = {HEADER_SIZE, len(ciphertext) - 1}
    cuts |= set(range(CIPHERTEXT_SEGMENT_SIZE, len(ciphertext), CIPHERTEXT_SEGMENT_SIZE))
    for cut in sorted(cuts):
        with pytest.raises(tink.TinkError):
            tink_decrypt(ciphertext[:cut], b"")
        with pytest.raises(IntegrityError):
            StreamingAead(KEY).decrypt_bytes(ciphertext[:cut], b"")
