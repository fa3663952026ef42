"""The workspace's pseudonymisation keys: the token constructions against their published building blocks
(AES-SIV per RFC 5297, HKDF-SHA256 per RFC 5869, HMAC-SHA256), tokens stable across reopening and KEK
rotation, reversible tokens that open only under their own key and fail on every change, and an index that
whoever can write the folder but lacks the master key cannot bend."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pickle
import re
import stat
import struct
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cryptography_vectors
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._identity import WorkspaceIdentity
from mlwarden.crypto._keyring import Keyring
from mlwarden.crypto._master_key import EnvMasterKeyProvider
from mlwarden.crypto._pseudonym_keys import (
    PseudonymKey,
    PseudonymKeyInfo,
    PseudonymKeys,
    is_reversible,
    token_key_number,
)
from mlwarden.errors import BadInput, IntegrityError, NotFound

MASTER_B64 = base64.b64encode(bytes(range(32))).decode()
MAC_KEY = bytes(range(100, 132))
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
SECRET = bytes(range(32))
SIV_VECTORS = Path(cryptography_vectors.__file__).parent / "ciphers" / "AES" / "SIV" / "openssl.txt"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    (home / "keys").mkdir(parents=True, mode=0o700)
    return home


@pytest.fixture
def keyring(home: Path, clock: Clock) -> Keyring:
    return Keyring.create(
        home / "keys" / "keyring.json", EnvMasterKeyProvider(MASTER_B64), workspace_id=os.urandom(16), clock=clock
    )


@pytest.fixture
def psk(home: Path, keyring: Keyring, clock: Clock) -> PseudonymKeys:
    return PseudonymKeys(home, keyring, clock, MAC_KEY)


def reopen(home: Path, clock: Clock, mac_key: bytes = MAC_KEY) -> PseudonymKeys:
    """The keys as another process sees them: the keyring unlocked afresh from its file."""
    keyring = Keyring.open(home / "keys" / "keyring.json", EnvMasterKeyProvider(MASTER_B64), clock=clock)
    return PseudonymKeys(home, keyring, clock, mac_key)


def index_path(home: Path) -> Path:
    return home / "keys" / "pseudonym.json"


def read_index(home: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(index_path(home).read_text())
    return doc


def write_index(home: Path, doc: dict[str, Any]) -> None:
    index_path(home).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the building blocks against published vectors --------------------------------------------------


def test_aes_siv_rfc5297_a1_deterministic_vector() -> None:
    """RFC 5297 appendix A.1 (deterministic authenticated encryption), through cryptography's AESSIV,
    whose output is the synthetic IV (the tag) followed by the ciphertext: the construction seal() uses."""
    key = bytes.fromhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    ad = bytes.fromhex("101112131415161718191a1b1c1d1e1f2021222324252627")
    plaintext = bytes.fromhex("112233445566778899aabbccddee")
    expected = bytes.fromhex("85632d07c6e8f37f950acd320a2ecc93" + "40c02b9690c4dc04daef7f6afe5c")
    assert AESSIV(key).encrypt(plaintext, [ad]) == expected
    assert AESSIV(key).decrypt(expected, [ad]) == plaintext
    with pytest.raises(InvalidTag):
        AESSIV(key).decrypt(expected[:-1] + bytes([expected[-1] ^ 1]), [ad])


def test_aes_siv_published_vectors_every_key_size() -> None:
    """The SIV vectors cryptography ships (RFC 5297 A.1 and A.2, and their AES-192/256 forms, the 64-byte
    key pseudonymisation uses among them), several associated-data strings included."""
    records: list[dict[str, str]] = []
    for line in SIV_VECTORS.read_text().splitlines():
        if line.startswith("COUNT"):
            records.append({})
        elif "=" in line and records:
            name, value = (part.strip() for part in line.split("=", 1))
            records[-1][name] = value
    ran = 0
    sizes = set()
    for rec in records:
        key = bytes.fromhex(rec["Key"])
        ads = [bytes.fromhex(rec[n]) for n in ("AAD", "AAD2", "AAD3") if n in rec]
        out = bytes.fromhex(rec["Tag"] + rec["Ciphertext"])
        assert AESSIV(key).encrypt(bytes.fromhex(rec["Plaintext"]), ads) == out
        sizes.add(len(key))
        ran += 1
    assert ran == 4
    assert 64 in sizes


def test_hkdf_sha256_without_salt_rfc5869_case_3() -> None:
    """RFC 5869 A.3: HKDF-SHA256 with no salt and no info, the form the subkeys are derived with."""
    okm = HKDF(algorithm=hashes.SHA256(), length=42, salt=None, info=b"").derive(b"\x0b" * 22)
    assert okm.hex() == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"


def test_tokens_follow_the_documented_construction() -> None:
    key = PseudonymKey(7, SECRET)
    k_tok = hkdf(SECRET, b"mlwarden pseudonym tokens v1", 32)
    k_seal = hkdf(SECRET, b"mlwarden pseudonym seal v1", 64)
    assert k_tok != k_seal[:32]
    text = "alice@example.org"
    digest = hmac.new(k_tok, text.encode(), hashlib.sha256).digest()[:16]
    assert key.token(text) == "pz7_" + base64.b32encode(digest).decode().rstrip("=").lower()
    sealed = AESSIV(k_seal).encrypt(text.encode(), [b"mlwarden pseudonym v1" + struct.pack(">I", 7)])
    assert key.seal(text) == "pr7_" + base64.urlsafe_b64encode(sealed).decode().rstrip("=")
    # The shapes: 26 lower-case base32 characters; base64url without padding, 16 bytes longer than the text.
    assert re.fullmatch(r"pz7_[a-z2-7]{26}", key.token(text))
    assert re.fullmatch(r"pr7_[A-Za-z0-9_-]+", key.seal(text))
    assert len(unb64(key.seal(text)[4:])) == len(text.encode()) + 16


def test_subkeys_depend_on_the_secret_and_number() -> None:
    a, b = PseudonymKey(1, SECRET), PseudonymKey(1, bytes(32))
    assert a.token("x") != b.token("x")
    assert a.seal("x") != b.seal("x")
    # Same secret, another number: the sealed part is bound to the number through the associated data.
    c = PseudonymKey(2, SECRET)
    assert c.seal("x")[4:] != a.seal("x")[4:]
    with pytest.raises(BadInput):
        PseudonymKey(0, SECRET)
    with pytest.raises(BadInput):
        PseudonymKey(1, SECRET[:16])


def test_token_key_number_and_is_reversible() -> None:
    key = PseudonymKey(12, SECRET)
    one_way, sealed = key.token("bob"), key.seal("bob")
    assert token_key_number(one_way) == 12
    assert token_key_number(sealed) == 12
    assert is_reversible(sealed)
    assert not is_reversible(one_way)
    for other in (
        "bob",
        "",
        "pz_abc",
        "pz0_" + one_way[4:],
        "pz012_" + one_way[5:],
        one_way + "a",
        one_way[:-1],
        one_way.upper(),
        "pr12_abc",
        "pz99999999999_" + one_way[5:],
        "pr12_" + "=" * 24,
    ):
        assert token_key_number(other) is None, other
        assert not is_reversible(other)
    assert token_key_number(None) is None  # type: ignore[arg-type]
    assert token_key_number(str(2**32).join(("pz", one_way[3:]))) is None


# -- round trips and tampering ------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.text())
def test_open_seal_round_trip(text: str) -> None:
    key = PseudonymKey(3, SECRET)
    sealed = key.seal(text)
    assert key.open(sealed) == text
    assert key.seal(text) == sealed  # deterministic
    assert key.token(text) == key.token(text)
    assert token_key_number(sealed) == 3
    assert token_key_number(key.token(text)) == 3


@settings(max_examples=100)
@given(st.text(), st.text())
def test_different_texts_different_tokens(a: str, b: str) -> None:
    key = PseudonymKey(3, SECRET)
    assert (key.token(a) == key.token(b)) == (a == b)
    assert (key.seal(a) == key.seal(b)) == (a == b)


def test_lone_surrogates_are_refused_without_the_value() -> None:
    key = PseudonymKey(1, SECRET)
    with pytest.raises(BadInput) as err:
        key.token("a\udc80secret")
    assert "secret" not in str(err.value)
    with pytest.raises(BadInput):
        key.seal("\ud800")


def test_every_change_to_a_sealed_token_fails() -> None:
    key = PseudonymKey(1, SECRET)
    sealed = key.seal("SW1A 2AA")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    body_start = len("pr1_")
    tried = 0
    for i in range(body_start, len(sealed)):
        for c in alphabet:
            if c == sealed[i]:
                continue
            with pytest.raises(IntegrityError):
                key.open(sealed[:i] + c + sealed[i + 1 :])
            tried += 1
    assert tried == (len(sealed) - body_start) * 63
    # Truncated, extended, swapped halves: shape errors or authentication failures, never a value.
    for changed in (sealed[:-1], sealed[:-2], sealed + "A", sealed + "AA", sealed[:body_start] + sealed[-4:]):
        with pytest.raises((IntegrityError, BadInput)):
            key.open(changed)


def test_open_refuses_other_keys_tokens(home: Path, keyring: Keyring, clock: Clock) -> None:
    key = PseudonymKey(1, SECRET)
    sealed = key.seal("alice")
    with pytest.raises(IntegrityError):
        PseudonymKey(1, bytes(32)).open(sealed)  # another workspace's key 1
    with pytest.raises(BadInput):
        PseudonymKey(2, SECRET).open(sealed)  # made by key 1, not 2
    with pytest.raises(BadInput):
        key.open(key.token("alice"))  # one-way tokens do not open
    with pytest.raises(BadInput):
        key.open("alice")
    # A token moved to another number does not open under that number's key, even with the same secret.
    moved = "pr2_" + sealed[4:]
    with pytest.raises(IntegrityError):
        PseudonymKey(2, SECRET).open(moved)


# -- the workspace's keys -------------------------------------------------------------------------------


def test_first_key_made_on_first_use(psk: PseudonymKeys, home: Path) -> None:
    assert psk.keys() == []
    assert psk.all() == []
    assert not index_path(home).exists()
    key = psk.active(by="alice")
    assert key.number == 1
    assert psk.keys() == [PseudonymKeyInfo(1, "active", "2026-01-02T03:04:05Z", "alice")]
    assert psk.active(by="bob").token("x") == key.token("x")
    assert psk.keys()[0].created_by == "alice"
    assert stat.S_IMODE(index_path(home).stat().st_mode) == 0o600
    records = sorted((home / "keys" / "pseudonym").rglob("*.json"))
    assert len(records) == 1
    assert records[0].name == (b"mlwarden-psk" + struct.pack(">I", 1)).hex() + ".json"


def test_tokens_stable_across_reopening(psk: PseudonymKeys, home: Path, clock: Clock) -> None:
    key = psk.active(by="alice")
    token, sealed = key.token("alice@example.org"), key.seal("alice@example.org")
    again = reopen(home, clock)
    assert again.active(by="bob").token("alice@example.org") == token
    assert again.key(1).seal("alice@example.org") == sealed
    assert again.key(1).open(sealed) == "alice@example.org"


def test_concurrent_first_use_makes_one_key(psk: PseudonymKeys, home: Path, clock: Clock) -> None:
    tokens: list[str] = []

    def use() -> None:
        tokens.append(reopen(home, clock).active(by="t").token("x"))

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1
    assert [info.number for info in psk.keys()] == [1]  # noqa: SIM118 (not a dict)


def test_rotate_retires_the_old_key_which_still_matches_and_opens(psk: PseudonymKeys, clock: Clock) -> None:
    first = psk.active(by="alice")
    old_token, old_sealed = first.token("alice"), first.seal("alice")
    clock.now = T1
    new, retired = psk.rotate(by="bob")
    assert new == PseudonymKeyInfo(2, "active", "2026-02-03T04:05:06Z", "bob")
    assert retired == PseudonymKeyInfo(1, "retired", "2026-01-02T03:04:05Z", "alice", "2026-02-03T04:05:06Z", "bob")
    assert psk.keys() == [retired, new]
    second = psk.active(by="carol")
    assert second.number == 2
    assert second.token("alice") != old_token
    assert second.token("alice")[4:] != old_token[4:]
    assert psk.key(1).token("alice") == old_token
    assert psk.key(1).open(old_sealed) == "alice"
    assert [k.number for k in psk.all()] == [1, 2]
    assert [k.token("alice") for k in psk.all()] == [old_token, second.token("alice")]
    with pytest.raises(NotFound):
        psk.key(3)


def test_rotate_before_any_key(psk: PseudonymKeys) -> None:
    new, retired = psk.rotate(by="alice")
    assert (new.number, new.state, retired) == (1, "active", None)


def test_a_secret_left_by_a_crashed_rotation_is_skipped(
    psk: PseudonymKeys, home: Path, keyring: Keyring, clock: Clock
) -> None:
    psk.active(by="alice")
    # A rotation that wrote key 2's secret and died before its index write.
    DataKeyStore(home / "keys" / "pseudonym", keyring, clock).create(b"mlwarden-psk" + struct.pack(">I", 2))
    assert [info.number for info in psk.keys()] == [1]  # noqa: SIM118 (not a dict)
    with pytest.raises(NotFound):
        psk.key(2)
    new, _ = psk.rotate(by="alice")
    assert new.number == 3
    assert [k.number for k in psk.all()] == [1, 3]


def test_kek_rotation_rewraps_and_tokens_survive(
    psk: PseudonymKeys, keyring: Keyring, home: Path, clock: Clock
) -> None:
    key = psk.active(by="alice")
    psk.rotate(by="alice")
    tokens = [k.token("x") for k in psk.all()]
    assert psk.count_by_version() == {1: 2}
    version = keyring.add_version()
    assert psk.rewrap_all() == 2
    assert psk.rewrap_all() == 0
    assert psk.count_by_version() == {version: 2}
    keyring.destroy_version(1)
    assert [k.token("x") for k in reopen(home, clock).all()] == tokens
    assert psk.key(1).token("x") == key.token("x")


def test_secrets_are_wrapped_not_in_clear(psk: PseudonymKeys, home: Path, keyring: Keyring, clock: Clock) -> None:
    psk.active(by="alice")
    oid = b"mlwarden-psk" + struct.pack(">I", 1)
    secret = DataKeyStore(home / "keys" / "pseudonym", keyring, clock).data_key(oid)
    assert PseudonymKey(1, secret).token("x") == psk.key(1).token("x")
    for path in home.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert secret not in raw
            assert secret.hex().encode() not in raw
            assert base64.b64encode(secret) not in raw


# -- the index -------------------------------------------------------------------------------------------


def assert_index_refused(psk: PseudonymKeys) -> None:
    for use in (psk.keys, psk.all, lambda: psk.active(by="root"), lambda: psk.key(1), lambda: psk.rotate(by="x")):
        with pytest.raises(IntegrityError):
            use()


def test_index_edits_are_detected(psk: PseudonymKeys, home: Path) -> None:
    psk.active(by="alice")
    psk.rotate(by="bob")
    good = read_index(home)
    edits = [
        lambda d: d["keys"][0].update(state="active"),  # un-retire
        lambda d: d["keys"][1].update(created_by="mallory"),
        lambda d: d["keys"].pop(0),  # forget a key (erasure would miss its tokens)
        lambda d: d["keys"].reverse(),
        lambda d: d["keys"].append(dict(d["keys"][1], number=3)),
        lambda d: d.update(mac="00" * 32),
        lambda d: d.pop("mac"),
        lambda d: d.update(version=2),
    ]
    for edit in edits:
        doc = json.loads(json.dumps(good))
        edit(doc)
        write_index(home, doc)
        assert_index_refused(psk)
    write_index(home, good)
    assert [k.number for k in psk.all()] == [1, 2]


def test_index_with_a_valid_mac_but_a_bad_shape_is_refused(psk: PseudonymKeys, home: Path) -> None:
    """Even one written with the MAC key (a bug, an old format) must hold sensible entries."""
    psk.active(by="alice")
    psk.rotate(by="bob")
    good = read_index(home)
    edits = [
        lambda d: d["keys"][0].update(state="revoked"),
        lambda d: d["keys"][0].update(state="active"),  # two active keys
        lambda d: d["keys"][0].update(number="1"),
        lambda d: d["keys"][0].update(extra=1),
        lambda d: d["keys"].reverse(),
        lambda d: d["keys"].append(d["keys"][1]),
    ]
    for edit in edits:
        doc = json.loads(json.dumps(good))
        edit(doc)
        body = json.dumps({"version": 1, "keys": doc["keys"]}, sort_keys=True, separators=(",", ":"))
        doc["mac"] = hmac.new(MAC_KEY, body.encode(), hashlib.sha256).hexdigest()
        write_index(home, doc)
        assert_index_refused(psk)


def test_index_missing_or_damaged(psk: PseudonymKeys, home: Path) -> None:
    psk.active(by="alice")
    good = index_path(home).read_bytes()
    index_path(home).unlink()
    assert_index_refused(psk)  # never silently a new key 1: old tokens would no longer match
    for damage in (b"", b"{", b"[]", good[: len(good) // 2]):
        index_path(home).write_bytes(damage)
        assert_index_refused(psk)
    index_path(home).write_bytes(good)
    assert psk.active(by="alice").number == 1


def test_index_of_another_workspace_is_refused(psk: PseudonymKeys, home: Path, clock: Clock) -> None:
    psk.active(by="alice")
    assert_index_refused(reopen(home, clock, mac_key=bytes(32)))


def test_lost_secret_is_reported(psk: PseudonymKeys, home: Path) -> None:
    psk.active(by="alice")
    for record in (home / "keys" / "pseudonym").rglob("*.json"):
        record.unlink()
    with pytest.raises(IntegrityError):
        psk.key(1)
    with pytest.raises(IntegrityError):
        psk.active(by="alice")


# -- handles ---------------------------------------------------------------------------------------------


def test_not_picklable_and_no_key_bytes_in_repr(psk: PseudonymKeys) -> None:
    key = psk.active(by="alice")
    for obj in (key, psk):
        with pytest.raises(TypeError):
            pickle.dumps(obj)
    assert repr(key) == "<PseudonymKey 1>"
    assert repr(psk) == "<PseudonymKeys>"
    assert not hasattr(key, "__dict__")
    handle = PseudonymKey(1, SECRET)
    for material in (SECRET, hkdf(SECRET, b"mlwarden pseudonym tokens v1", 32)):
        for shown in (repr(handle), str(handle)):
            assert material.hex() not in shown
            assert base64.b64encode(material).decode() not in shown
    with pytest.raises(AttributeError):
        handle.number = 2  # type: ignore[misc]


def test_identity_derives_the_two_new_keys() -> None:
    identity = WorkspaceIdentity(SECRET)
    assert identity.pseudonym_index_mac_key == hkdf(SECRET, b"mlwarden pseudonym keys v1", 32)
    assert identity.subject_mac_key == hkdf(SECRET, b"mlwarden erasure subjects v1", 32)
    derived = [
        identity.log_seed,
        identity.record_mac_key,
        identity.signing_index_mac_key,
        identity.catalog_mark_mac_key,
        identity.pseudonym_index_mac_key,
        identity.subject_mac_key,
    ]
    assert len(set(derived)) == len(derived)
