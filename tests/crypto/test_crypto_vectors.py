"""The streaming AEAD's building blocks against published test vectors.

``mlwarden.crypto._streaming_aead`` is AES-GCM (96-bit nonces, 128-bit tags, ``encrypt_into`` and
``decrypt_into`` into exact-size slices of a larger buffer) plus HKDF-SHA256. Both are checked here
against the vectors shipped in the ``cryptography_vectors`` package: NIST CAVP ``gcmEncryptExtIV`` /
``gcmDecrypt`` for AES-128 and AES-256 and the RFC 5869 appendix A vectors for HKDF-SHA256. Every test
counts the vectors it actually ran, so a parser that silently finds nothing cannot pass.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlwarden.crypto._streaming_aead import hkdf_sha256

VECTORS = Path(cryptography_vectors.__file__).parent
GCM_DIR = VECTORS / "ciphers" / "AES" / "GCM"
HKDF_FILE = VECTORS / "KDF" / "rfc-5869-HKDF-SHA256.txt"

NONCE_SIZE = 12  # what the construction uses: prefix(7) || uint32 index(4) || last flag(1)
TAG_SIZE = 16
SENTINEL = 0xA5  # fills the output buffer around the exact-size slice the primitive writes into


def parse_vector_file(path: Path) -> list[dict[str, str]]:
    """A small, tolerant parser for CAVP ``.rsp`` and the RFC 5869 text files.

    Records are ``name = value`` lines. A record starts at each ``Count``/``COUNT`` line, or when a
    name repeats within the current record (so blank lines inside a record, as in RFC 5869, are
    harmless). ``#`` comments, ``[section]`` lines, blank lines and prose are skipped; a bare ``FAIL``
    line marks the current record as an expected failure. Names are lower-cased and values stripped;
    an empty value (``CT =``) is kept as ``""``.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in path.read_text(encoding="ascii", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or (line.startswith("[") and line.endswith("]")):
            continue
        if line.upper() == "FAIL":
            current["fail"] = "1"
            continue
        name, sep, value = line.partition("=")
        if not sep:
            continue  # prose
        name = name.strip().lower()
        if current and (name == "count" or name in current):
            records.append(current)
            current = {}
        current[name] = value.strip()
    if current:
        records.append(current)
    return records


def _hex(record: dict[str, str], name: str) -> bytes:
    return bytes.fromhex(record.get(name, ""))


def _gcm_records(name: str) -> list[dict[str, str]]:
    """The records of one GCM file that use what our construction uses: 96-bit IV, 128-bit tag."""
    records = [r for r in parse_vector_file(GCM_DIR / name) if "key" in r and "iv" in r and "tag" in r]
    return [r for r in records if len(_hex(r, "iv")) == NONCE_SIZE and len(_hex(r, "tag")) == TAG_SIZE]


def _exact_slice(length: int, margin: int = 7) -> tuple[bytearray, memoryview]:
    """A sentinel-filled buffer and an exact-size slice of it in the middle, like the module's ``out[:n]``."""
    backing = bytearray([SENTINEL]) * (length + 2 * margin)
    return backing, memoryview(backing)[margin : margin + length]


def _untouched_margins(backing: bytearray, length: int, margin: int = 7) -> bool:
    return backing[:margin] == bytes([SENTINEL]) * margin and backing[margin + length :] == bytes([SENTINEL]) * margin


def test_parser_is_tolerant(tmp_path: Path) -> None:
    text = (
        "# comment\n[Keylen = 256]\n\nCount = 0\nKey = 00ff\nCT =\nFAIL\n\n\n"
        "COUNT = 1\nL    = 42\nprose line\n\nOKM  = 0102\nKey = 01\nKey = 02\n"
    )
    file = tmp_path / "v.rsp"
    file.write_text(text)
    records = parse_vector_file(file)
    assert records == [
        {"count": "0", "key": "00ff", "ct": "", "fail": "1"},
        {"count": "1", "l": "42", "okm": "0102", "key": "01"},
        {"key": "02"},
    ]


@pytest.mark.parametrize("name", ["gcmEncryptExtIV128.rsp", "gcmEncryptExtIV256.rsp"])
def test_aes_gcm_encrypt_into_nist(name: str) -> None:
    records = _gcm_records(name)
    ran = 0
    for record in records:
        key, iv = _hex(record, "key"), _hex(record, "iv")
        pt, aad, ct, tag = (_hex(record, n) for n in ("pt", "aad", "ct", "tag"))
        aesgcm = AESGCM(key)
        # The module passes None for the (always empty) associated data; pass None whenever it is empty.
        ad = aad or None
        length = len(pt) + TAG_SIZE
        backing, out = _exact_slice(length)
        written = aesgcm.encrypt_into(iv, pt, ad, out)
        assert written == length, record
        assert bytes(out) == ct + tag, record
        assert _untouched_margins(backing, length), record
        # The one-shot API agrees, and decrypt_into inverts it into an exact-size slice.
        assert aesgcm.encrypt(iv, pt, ad) == ct + tag, record
        backing, out = _exact_slice(len(pt))
        assert aesgcm.decrypt_into(iv, ct + tag, ad, out) == len(pt), record
        assert bytes(out) == pt, record
        assert _untouched_margins(backing, len(pt)), record
        ran += 1
    # 15 vectors for each of 5 plaintext lengths x 5 AAD lengths with a 96-bit IV and a 128-bit tag.
    assert ran >= 375, f"only {ran} vectors ran from {name}"
    assert any(_hex(r, "pt") for r in records)
    assert any(not _hex(r, "pt") for r in records)
    assert any(_hex(r, "aad") for r in records)
    assert any(not _hex(r, "aad") for r in records)


@pytest.mark.parametrize("name", ["gcmDecrypt128.rsp", "gcmDecrypt256.rsp"])
def test_aes_gcm_decrypt_into_nist(name: str) -> None:
    records = _gcm_records(name)
    passed = failed = 0
    for record in records:
        key, iv = _hex(record, "key"), _hex(record, "iv")
        ct, aad, tag = (_hex(record, n) for n in ("ct", "aad", "tag"))
        aesgcm = AESGCM(key)
        ad = aad or None
        backing, out = _exact_slice(len(ct))
        if record.get("fail"):
            with pytest.raises(InvalidTag):
                aesgcm.decrypt_into(iv, ct + tag, ad, out)
            with pytest.raises(InvalidTag):
                aesgcm.decrypt(iv, ct + tag, ad)
            assert _untouched_margins(backing, len(ct)), record
            failed += 1
        else:
            pt = _hex(record, "pt")
            assert aesgcm.decrypt_into(iv, ct + tag, ad, out) == len(pt), record
            assert bytes(out) == pt, record
            assert _untouched_margins(backing, len(ct)), record
            # And the exact inverse: encrypt_into reproduces the ciphertext and tag.
            backing, sealed = _exact_slice(len(pt) + TAG_SIZE)
            aesgcm.encrypt_into(iv, pt, ad, sealed)
            assert bytes(sealed) == ct + tag, record
            passed += 1
    assert passed + failed >= 375, f"only {passed + failed} vectors ran from {name}"
    assert passed >= 100, f"only {passed} valid vectors ran from {name}"
    assert failed >= 100, f"only {failed} FAIL vectors ran from {name}"


def test_aes_gcm_into_rejects_wrong_output_size() -> None:
    """The module relies on exact-size output buffers; a wrong size must be an error, never a short write."""
    record = next(r for r in _gcm_records("gcmEncryptExtIV256.rsp") if _hex(r, "pt"))
    key, iv, pt = _hex(record, "key"), _hex(record, "iv"), _hex(record, "pt")
    sealed = AESGCM(key).encrypt(iv, pt, _hex(record, "aad") or None)
    for wrong in (len(pt) + TAG_SIZE - 1, len(pt) + TAG_SIZE + 1):
        with pytest.raises(ValueError, match=r"."):
            AESGCM(key).encrypt_into(iv, pt, _hex(record, "aad") or None, bytearray(wrong))
    for wrong in (len(pt) - 1, len(pt) + 1):
        with pytest.raises(ValueError, match=r"."):
            AESGCM(key).decrypt_into(iv, sealed, _hex(record, "aad") or None, bytearray(wrong))


def test_hkdf_sha256_rfc5869() -> None:
    records = [r for r in parse_vector_file(HKDF_FILE) if "okm" in r]
    ran = 0
    for record in records:
        assert record.get("hash", "SHA-256").upper() == "SHA-256", record
        ikm, salt, info = _hex(record, "ikm"), _hex(record, "salt"), _hex(record, "info")
        length = int(record["l"])
        okm = _hex(record, "okm")
        assert len(okm) == length, record
        assert hkdf_sha256(ikm, salt, info, length) == okm, record
        # The module always derives 32 bytes; HKDF output of a shorter length is a prefix of a longer one.
        assert hkdf_sha256(ikm, salt, info, 32) == okm[:32], record
        # The extract step, independently (RFC 5869 section 2.2: an absent salt is HashLen zeros).
        prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
        assert prk == _hex(record, "prk"), record
        ran += 1
    assert ran >= 3, f"only {ran} RFC 5869 vectors ran"


def test_hkdf_sha256_info_and_salt_separate_keys() -> None:
    """What the stream relies on: the salt and the associated data (HKDF info) both change the key."""
    key = bytes(range(32))
    base = hkdf_sha256(key, b"s" * 32, b"", 32)
    assert len(base) == 32
    assert hkdf_sha256(key, b"t" * 32, b"", 32) != base
    assert hkdf_sha256(key, b"s" * 32, b"ad", 32) != base
    assert hkdf_sha256(key, b"s" * 32, b"", 32) == base
