"""Envelope files and workspace objects: round trips, the documented header, and every header bit."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
from pathlib import Path

import pytest

from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._envelope import (
    ENVELOPE_HEADER_SIZE,
    ENVELOPE_MAGIC,
    ENVELOPE_VERSION,
    decrypt_envelope,
    encrypt_envelope,
    open_object,
    read_envelope_header,
    seal_object,
)
from mlwarden.crypto._keyring import Keyring, WrappedKey
from mlwarden.crypto._master_key import EnvMasterKeyProvider
from mlwarden.crypto.hazmat import FIRST_SEGMENT_PLAINTEXT_SIZE, HEADER_SIZE, TAG_SIZE, StreamingAead
from mlwarden.errors import AccessDenied, BadInput, IntegrityError, Shredded

MASTER_B64 = base64.b64encode(bytes(range(32))).decode()
MIB = 1 << 20
PLAIN = b"the quick brown fox jumps over the lazy dog " * 3


def make_keyring(folder: Path) -> Keyring:
    folder.mkdir(mode=0o700, parents=True)
    return Keyring.create(folder / "keyring.json", EnvMasterKeyProvider(MASTER_B64), workspace_id=os.urandom(16))


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return make_keyring(tmp_path / "ws")


def encrypt(keyring: Keyring, plaintext: bytes) -> bytes:
    dst = io.BytesIO()
    assert encrypt_envelope(keyring, io.BytesIO(plaintext), dst) == len(plaintext)
    return dst.getvalue()


def decrypt(keyring: Keyring, ciphertext: bytes) -> bytes:
    dst = io.BytesIO()
    n = decrypt_envelope(keyring, io.BytesIO(ciphertext), dst)
    assert n == len(dst.getvalue())
    return dst.getvalue()


def stream_size(n: int) -> int:
    """Length of the Tink-style stream for ``n`` plaintext bytes (single segment when small)."""
    assert n <= FIRST_SEGMENT_PLAINTEXT_SIZE
    return HEADER_SIZE + n + TAG_SIZE


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, 1000, FIRST_SEGMENT_PLAINTEXT_SIZE, FIRST_SEGMENT_PLAINTEXT_SIZE + 1, MIB + 1, 3 * MIB]
)
def test_round_trip(keyring: Keyring, size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = encrypt(keyring, plaintext)
    assert ciphertext[:6] == ENVELOPE_MAGIC
    if size <= FIRST_SEGMENT_PLAINTEXT_SIZE:
        assert len(ciphertext) == ENVELOPE_HEADER_SIZE + stream_size(size)
    if size >= 16:
        assert plaintext[:16] not in ciphertext
    assert decrypt(keyring, ciphertext) == plaintext


def test_each_file_gets_its_own_object_id_and_data_key(keyring: Keyring) -> None:
    first, second = encrypt(keyring, PLAIN), encrypt(keyring, PLAIN)
    assert first != second
    assert first[28:44] != second[28:44]  # object id
    assert first[46:106] != second[46:106]  # wrapped data key


def test_progress_reports_plaintext_bytes(keyring: Keyring) -> None:
    plaintext = os.urandom(MIB + 5)
    seen: list[int] = []
    dst = io.BytesIO()
    encrypt_envelope(keyring, io.BytesIO(plaintext), dst, progress=seen.append)
    assert sum(seen) == len(plaintext)
    seen.clear()
    decrypt_envelope(keyring, io.BytesIO(dst.getvalue()), io.BytesIO(), progress=seen.append)
    assert sum(seen) == len(plaintext)


def test_reopened_keyring_decrypts(keyring: Keyring, tmp_path: Path) -> None:
    ciphertext = encrypt(keyring, PLAIN)
    reopened = Keyring.open(tmp_path / "ws" / "keyring.json", EnvMasterKeyProvider(MASTER_B64))
    assert decrypt(reopened, ciphertext) == PLAIN


# -- the header ------------------------------------------------------------------------------------


def test_header_layout(keyring: Keyring) -> None:
    keyring.add_version()  # so the key version field is not a trivially-default 1
    ciphertext = encrypt(keyring, PLAIN)
    assert ENVELOPE_HEADER_SIZE == 106
    assert ENVELOPE_VERSION == 1
    header = ciphertext[:106]
    assert header[0:6] == b"MLWENC"
    assert header[6] == 1
    assert header[7] == 0
    assert struct.unpack(">I", header[8:12])[0] == 2
    assert header[12:28] == keyring.workspace_id
    object_id = header[28:44]
    assert struct.unpack(">H", header[44:46])[0] == 60
    wrapped = header[46:106]

    parsed = read_envelope_header(io.BytesIO(ciphertext))
    assert parsed.kek_version == 2
    assert parsed.workspace_id == keyring.workspace_id
    assert parsed.object_id == object_id
    assert parsed.wrapped_key == wrapped
    assert parsed.raw == header
    assert parsed.wrapped == WrappedKey(2, wrapped)

    # The payload is the bare stream under the unwrapped data key, bound to the 106 header bytes.
    data_key = keyring.unwrap(WrappedKey(2, wrapped), object_id)
    assert StreamingAead(data_key).decrypt_bytes(ciphertext[106:], header) == PLAIN
    with pytest.raises(IntegrityError):
        StreamingAead(data_key).decrypt_bytes(ciphertext[106:], b"")


def test_read_header_leaves_the_stream_at_the_payload(keyring: Keyring) -> None:
    src = io.BytesIO(encrypt(keyring, PLAIN) + b"")
    read_envelope_header(src)
    assert src.tell() == 106


# Expected outcome of flipping a bit at each header offset.
def _expected(offset: int) -> tuple[type[Exception], ...]:
    if offset < 7:  # magic and format version: not (this version of) our format
        return (BadInput,)
    if 8 <= offset < 12:  # key version: either unknown to the keyring or the AAD mismatches
        return (AccessDenied, IntegrityError)
    if 12 <= offset < 28:  # workspace id
        return (AccessDenied,)
    return (IntegrityError,)  # flags, object id, wrapped key length, wrapped key


def test_every_header_bit_flip_fails(keyring: Keyring) -> None:
    keyring.add_version()
    keyring.add_version()  # versions 1..3 exist, so some flipped key versions name a real KEK
    ciphertext = encrypt(keyring, PLAIN)
    assert ciphertext[11] == 3
    outcomes: dict[str, int] = {}
    for bit in range(106 * 8):
        offset = bit // 8
        damaged = bytearray(ciphertext)
        damaged[offset] ^= 1 << (bit % 8)
        dst = io.BytesIO()
        with pytest.raises(_expected(offset)) as caught:
            decrypt_envelope(keyring, io.BytesIO(bytes(damaged)), dst)
        assert dst.getvalue() == b"", f"plaintext released after flipping bit {bit}"
        outcomes[type(caught.value).__name__] = outcomes.get(type(caught.value).__name__, 0) + 1
        if 28 <= offset < 44 or offset >= 46:
            assert str(caught.value) == "the encrypted file failed authentication"
        if 12 <= offset < 28:
            assert "not this one" in str(caught.value)
    # Key version 3 with bit 0 or 1 flipped names versions 2 and 1: AAD mismatch, IntegrityError.
    assert outcomes["IntegrityError"] > 0
    assert outcomes["AccessDenied"] > 0
    assert outcomes["BadInput"] == 7 * 8


def test_payload_bit_flips_fail(keyring: Keyring) -> None:
    ciphertext = encrypt(keyring, PLAIN)
    for offset in range(106, len(ciphertext), 7):
        damaged = bytearray(ciphertext)
        damaged[offset] ^= 0x10
        with pytest.raises(IntegrityError, match="failed authentication"):
            decrypt(keyring, bytes(damaged))


def test_file_from_another_workspace_is_denied(keyring: Keyring, tmp_path: Path) -> None:
    other = make_keyring(tmp_path / "other")  # same master key, different workspace
    ciphertext = encrypt(other, PLAIN)
    dst = io.BytesIO()
    with pytest.raises(AccessDenied) as caught:
        decrypt_envelope(keyring, io.BytesIO(ciphertext), dst)
    message = str(caught.value)
    assert "not this one" in message
    assert other.workspace_id.hex()[:12] in message
    assert dst.getvalue() == b""


def test_file_relabelled_with_this_workspace_id_fails(keyring: Keyring, tmp_path: Path) -> None:
    other = make_keyring(tmp_path / "other")
    ciphertext = bytearray(encrypt(other, PLAIN))
    ciphertext[12:28] = keyring.workspace_id
    with pytest.raises(IntegrityError, match="failed authentication"):
        decrypt(keyring, bytes(ciphertext))


def test_header_spliced_from_another_file_fails(keyring: Keyring) -> None:
    first, second = encrypt(keyring, PLAIN), encrypt(keyring, PLAIN)
    with pytest.raises(IntegrityError):
        decrypt(keyring, first[:106] + second[106:])
    # Even the wrapped key of the other file with its own object id: the stream is bound to the header.
    mixed = first[:28] + second[28:106] + first[106:]
    with pytest.raises(IntegrityError):
        decrypt(keyring, mixed)


@pytest.mark.parametrize("version", [0, 2, 3, 255])
def test_other_envelope_versions_are_refused(keyring: Keyring, version: int) -> None:
    ciphertext = bytearray(encrypt(keyring, PLAIN))
    ciphertext[6] = version
    with pytest.raises(BadInput, match="upgrade"):
        decrypt(keyring, bytes(ciphertext))


def test_nonzero_flags_are_refused(keyring: Keyring) -> None:
    for flags in (1, 0x80, 0xFF):
        ciphertext = bytearray(encrypt(keyring, PLAIN))
        ciphertext[7] = flags
        with pytest.raises(IntegrityError):
            decrypt(keyring, bytes(ciphertext))


@pytest.mark.parametrize("length", [0, 59, 61, 0xFFFF])
def test_wrong_wrapped_key_length_is_refused(keyring: Keyring, length: int) -> None:
    ciphertext = bytearray(encrypt(keyring, PLAIN))
    ciphertext[44:46] = struct.pack(">H", length)
    with pytest.raises(IntegrityError):
        decrypt(keyring, bytes(ciphertext))


def test_truncated_header_is_an_integrity_error(keyring: Keyring) -> None:
    ciphertext = encrypt(keyring, PLAIN)
    for size in range(6, 106):
        with pytest.raises(IntegrityError, match="truncated"):
            decrypt(keyring, ciphertext[:size])


def test_header_without_payload_is_an_integrity_error(keyring: Keyring) -> None:
    ciphertext = encrypt(keyring, PLAIN)
    for size in (106, 107, 106 + HEADER_SIZE, len(ciphertext) - 1):
        with pytest.raises(IntegrityError):
            decrypt(keyring, ciphertext[:size])
    with pytest.raises(IntegrityError):
        decrypt(keyring, ciphertext + b"\0")


@pytest.mark.parametrize(
    "data",
    [b"", b"M", b"MLWEN", b"hello, world\n" * 20, b"\x89PNG\r\n\x1a\n" + bytes(200), b"MLWENX" + bytes(200)],
    ids=["empty", "one-byte", "magic-prefix", "text", "png", "near-magic"],
)
def test_not_an_mlwarden_file(keyring: Keyring, data: bytes) -> None:
    with pytest.raises(BadInput, match="not an mlwarden-encrypted file"):
        decrypt(keyring, data)


def test_workspace_object_stream_is_not_an_envelope(keyring: Keyring) -> None:
    sealed = io.BytesIO()
    seal_object(os.urandom(32), os.urandom(16), io.BytesIO(PLAIN), sealed)
    with pytest.raises(BadInput):
        decrypt(keyring, sealed.getvalue())


# -- rotation ------------------------------------------------------------------------------------


def test_decryption_after_rotation(keyring: Keyring) -> None:
    old = encrypt(keyring, b"old")
    assert keyring.add_version() == 2
    new = encrypt(keyring, b"new")
    assert struct.unpack(">I", old[8:12])[0] == 1
    assert struct.unpack(">I", new[8:12])[0] == 2
    assert decrypt(keyring, old) == b"old"
    assert decrypt(keyring, new) == b"new"
    keyring.destroy_version(1)
    with pytest.raises(AccessDenied):
        decrypt(keyring, old)
    assert decrypt(keyring, new) == b"new"


# -- envelope files recorded in a data key store ---------------------------------------------------


def test_recorded_envelope_uses_the_record(keyring: Keyring, tmp_path: Path) -> None:
    store = DataKeyStore(tmp_path / "ws" / "data", keyring)
    dst = io.BytesIO()
    encrypt_envelope(keyring, io.BytesIO(PLAIN), dst, data_keys=store)
    ciphertext = dst.getvalue()
    object_id = ciphertext[28:44]
    # The header's wrap and the record hold the same data key.
    assert store.record(object_id).kek_version == 1
    assert keyring.unwrap(WrappedKey(1, ciphertext[46:106]), object_id) == store.data_key(object_id)

    keyring.add_version()
    assert store.rewrap_all() == 1
    keyring.destroy_version(1)
    out = io.BytesIO()
    decrypt_envelope(keyring, io.BytesIO(ciphertext), out, data_keys=store)
    assert out.getvalue() == PLAIN
    with pytest.raises(AccessDenied):  # the header's own wrap is under the destroyed version
        decrypt(keyring, ciphertext)

    store.shred(object_id, by="alice")
    with pytest.raises(Shredded):
        decrypt_envelope(keyring, io.BytesIO(ciphertext), io.BytesIO(), data_keys=store)


def test_unrecorded_envelope_falls_back_to_the_header(keyring: Keyring, tmp_path: Path) -> None:
    store = DataKeyStore(tmp_path / "ws" / "data", keyring)
    ciphertext = encrypt(keyring, PLAIN)
    out = io.BytesIO()
    decrypt_envelope(keyring, io.BytesIO(ciphertext), out, data_keys=store)
    assert out.getvalue() == PLAIN
    assert list(store.object_ids()) == []


def test_damaged_record_of_an_envelope_fails(keyring: Keyring, tmp_path: Path) -> None:
    store = DataKeyStore(tmp_path / "ws" / "data", keyring)
    dst = io.BytesIO()
    encrypt_envelope(keyring, io.BytesIO(PLAIN), dst, data_keys=store)
    ciphertext = dst.getvalue()
    other = io.BytesIO()
    encrypt_envelope(keyring, io.BytesIO(PLAIN), other, data_keys=store)
    # Give this file's record the other file's wrapped key: bound to the other object id.
    record = tmp_path / "ws" / "data" / ciphertext[28:29].hex() / f"{ciphertext[28:44].hex()}.json"
    donor = tmp_path / "ws" / "data" / other.getvalue()[28:29].hex() / f"{other.getvalue()[28:44].hex()}.json"
    doc = json.loads(record.read_text())
    doc["wrapped"] = json.loads(donor.read_text())["wrapped"]
    record.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match="failed authentication"):
        decrypt_envelope(keyring, io.BytesIO(ciphertext), io.BytesIO(), data_keys=store)


# -- workspace objects -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4096, MIB + 1])
def test_seal_open_round_trip(size: int) -> None:
    key, object_id = os.urandom(32), os.urandom(16)
    plaintext = os.urandom(size)
    sealed = io.BytesIO()
    assert seal_object(key, object_id, io.BytesIO(plaintext), sealed) == size
    blob = sealed.getvalue()
    assert blob[0] == HEADER_SIZE  # the bare stream, no envelope header
    if size <= FIRST_SEGMENT_PLAINTEXT_SIZE:
        assert len(blob) == stream_size(size)
    opened = io.BytesIO()
    assert open_object(key, object_id, io.BytesIO(blob), opened) == size
    assert opened.getvalue() == plaintext


def test_object_associated_data_is_documented() -> None:
    key, object_id = os.urandom(32), os.urandom(16)
    sealed = io.BytesIO()
    seal_object(key, object_id, io.BytesIO(PLAIN), sealed)
    assert StreamingAead(key).decrypt_bytes(sealed.getvalue(), b"mlwarden/object/v1" + object_id) == PLAIN


def test_open_object_with_the_wrong_id_or_key_fails() -> None:
    key, object_id = os.urandom(32), os.urandom(16)
    sealed = io.BytesIO()
    seal_object(key, object_id, io.BytesIO(PLAIN), sealed)
    blob = sealed.getvalue()
    for wrong_id in (os.urandom(16), object_id[:-1] + bytes([object_id[-1] ^ 1]), b""):
        dst = io.BytesIO()
        with pytest.raises(IntegrityError):
            open_object(key, wrong_id, io.BytesIO(blob), dst)
        assert dst.getvalue() == b""
    with pytest.raises(IntegrityError):
        open_object(os.urandom(32), object_id, io.BytesIO(blob), io.BytesIO())
    damaged = bytearray(blob)
    damaged[-1] ^= 1
    with pytest.raises(IntegrityError):
        open_object(key, object_id, io.BytesIO(bytes(damaged)), io.BytesIO())
