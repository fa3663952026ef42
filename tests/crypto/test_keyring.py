"""The workspace keyring: creation, unlocking, data-key wrapping, rotation, destruction, tampering."""

from __future__ import annotations

import base64
import json
import os
import stat
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlwarden.crypto._kdf import new_params
from mlwarden.crypto._keyring import KEYRING_VERSION, Keyring, KeyVersion, WrappedKey
from mlwarden.crypto._master_key import EnvMasterKeyProvider, LocalMasterKey, PassphraseMasterKeyProvider
from mlwarden.errors import AccessDenied, BadInput, IntegrityError, MlwardenError, NotFound

MASTER = bytes(range(32))
MASTER_B64 = base64.b64encode(MASTER).decode()
WORKSPACE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
OBJECT_ID = bytes(range(16))
OTHER_OBJECT_ID = bytes(range(1, 17))
DATA_KEY = bytes(range(200, 232))
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def env() -> EnvMasterKeyProvider:
    return EnvMasterKeyProvider(MASTER_B64)


def passphrase(text: str) -> PassphraseMasterKeyProvider:
    return PassphraseMasterKeyProvider(lambda: text, new_params("argon2id", memory_kib=1024, iterations=1, lanes=1))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    return keys / "keyring.json"


@pytest.fixture
def keyring(path: Path) -> Keyring:
    return Keyring.create(path, env(), workspace_id=WORKSPACE_ID, clock=Clock())


def read_doc(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def write_doc(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc))


def kek_of(doc: dict[str, Any], version: int) -> bytes:
    """Unwrap a KEK independently of Keyring, from the documented layout."""
    entry = next(e for e in doc["keys"] if e["version"] == version)
    aad = b"mlwarden/kek/v1" + bytes.fromhex(doc["workspace_id"]) + struct.pack(">I", version)
    return LocalMasterKey(MASTER, "env").unwrap(base64.b64decode(entry["wrapped"]), aad)


# -- creation and opening -------------------------------------------------------------------------


def test_create_writes_the_documented_file(path: Path) -> None:
    Keyring.create(path, env(), workspace_id=WORKSPACE_ID, clock=Clock())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]  # no temporary left over
    doc = read_doc(path)
    assert doc["format"] == "mlwarden-keyring"
    assert doc["version"] == KEYRING_VERSION == 1
    assert doc["workspace_id"] == WORKSPACE_ID.hex()
    assert doc["master"]["kind"] == "env"
    assert isinstance(doc["master"]["key_id"], str)
    assert doc["primary"] == 1
    assert len(doc["keys"]) == 1
    entry = doc["keys"][0]
    assert entry["version"] == 1
    assert entry["created"] == "2026-01-02T03:04:05Z"
    assert len(base64.b64decode(entry["wrapped"], validate=True)) == 12 + 32 + 16
    assert len(kek_of(doc, 1)) == 32


def test_create_refuses_an_existing_keyring(path: Path, keyring: Keyring) -> None:
    before = path.read_bytes()
    with pytest.raises(BadInput):
        Keyring.create(path, env(), workspace_id=os.urandom(16))
    assert path.read_bytes() == before


def test_open_round_trip(path: Path, keyring: Keyring) -> None:
    wrapped = keyring.wrap(DATA_KEY, OBJECT_ID)
    reopened = Keyring.open(path, env())
    assert reopened.workspace_id == WORKSPACE_ID
    assert reopened.primary == 1
    assert reopened.master_kind == "env"
    assert reopened.unwrap(wrapped, OBJECT_ID) == DATA_KEY
    assert keyring.unwrap(reopened.wrap(DATA_KEY, OBJECT_ID), OBJECT_ID) == DATA_KEY


def test_passphrase_round_trip_and_wrong_passphrase(path: Path) -> None:
    created = Keyring.create(path, passphrase("open sesame"), workspace_id=WORKSPACE_ID)
    assert created.master_kind == "passphrase"
    wrapped = created.wrap(DATA_KEY, OBJECT_ID)
    opened = Keyring.open(path, PassphraseMasterKeyProvider(lambda: "open sesame"))
    assert opened.unwrap(wrapped, OBJECT_ID) == DATA_KEY
    with pytest.raises(AccessDenied) as caught:
        Keyring.open(path, PassphraseMasterKeyProvider(lambda: "open sesame!"))
    assert str(caught.value).startswith("wrong passphrase or damaged keyring")


def test_wrong_env_key_is_denied(path: Path, keyring: Keyring) -> None:
    other = base64.b64encode(bytes(32)).decode()
    with pytest.raises(AccessDenied):
        Keyring.open(path, EnvMasterKeyProvider(other))


def test_open_with_the_other_kind_of_provider(path: Path, keyring: Keyring) -> None:
    with pytest.raises(BadInput, match="env"):
        Keyring.open(path, PassphraseMasterKeyProvider(lambda: "pw-long-enough"))


def test_open_missing_keyring(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        Keyring.open(tmp_path / "nope.json", env())


# -- data keys ----------------------------------------------------------------------------------


def test_wrap_unwrap(keyring: Keyring, path: Path) -> None:
    wrapped = keyring.wrap(DATA_KEY, OBJECT_ID)
    assert isinstance(wrapped, WrappedKey)
    assert wrapped.kek_version == 1
    assert len(wrapped.blob) == 60
    assert DATA_KEY not in wrapped.blob
    assert keyring.unwrap(wrapped, OBJECT_ID) == DATA_KEY
    assert keyring.wrap(DATA_KEY, OBJECT_ID).blob != wrapped.blob  # fresh nonce


def test_wrapped_data_key_layout(keyring: Keyring, path: Path) -> None:
    """nonce || AES-256-GCM(kek, data_key) || tag, aad = b"mlwarden/dek/v1" || object_id || uint32_be(v)."""
    wrapped = keyring.wrap(DATA_KEY, OBJECT_ID)
    kek = kek_of(read_doc(path), 1)
    aad = b"mlwarden/dek/v1" + OBJECT_ID + struct.pack(">I", 1)
    assert AESGCM(kek).decrypt(wrapped.blob[:12], wrapped.blob[12:], aad) == DATA_KEY


def test_unwrap_for_another_object_fails(keyring: Keyring) -> None:
    wrapped = keyring.wrap(DATA_KEY, OBJECT_ID)
    with pytest.raises(IntegrityError):
        keyring.unwrap(wrapped, OTHER_OBJECT_ID)


def test_unwrap_with_a_changed_kek_version_fails(keyring: Keyring) -> None:
    wrapped = keyring.wrap(DATA_KEY, OBJECT_ID)
    keyring.add_version()
    # Version 2 exists, but the key was wrapped (and bound) to version 1.
    with pytest.raises(IntegrityError):
        keyring.unwrap(WrappedKey(2, wrapped.blob), OBJECT_ID)
    with pytest.raises(AccessDenied):
        keyring.unwrap(WrappedKey(7, wrapped.blob), OBJECT_ID)
    assert keyring.unwrap(wrapped, OBJECT_ID) == DATA_KEY


def test_unwrap_with_a_kek_version_bound_by_aad_only(keyring: Keyring, path: Path) -> None:
    """Even a blob encrypted under the right KEK fails when its AAD names another version."""
    keyring.add_version()
    kek2 = kek_of(read_doc(path), 2)
    nonce = os.urandom(12)
    forged = nonce + AESGCM(kek2).encrypt(nonce, DATA_KEY, b"mlwarden/dek/v1" + OBJECT_ID + struct.pack(">I", 1))
    with pytest.raises(IntegrityError):
        keyring.unwrap(WrappedKey(2, forged), OBJECT_ID)


def test_every_flipped_bit_of_a_wrapped_key_fails(keyring: Keyring) -> None:
    wrapped = keyring.wrap(DATA_KEY, OBJECT_ID)
    for bit in range(60 * 8):
        blob = bytearray(wrapped.blob)
        blob[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(IntegrityError):
            keyring.unwrap(WrappedKey(1, bytes(blob)), OBJECT_ID)


@pytest.mark.parametrize("size", [0, 28, 59, 61, 120])
def test_wrapped_key_of_the_wrong_length_fails(keyring: Keyring, size: int) -> None:
    blob = (keyring.wrap(DATA_KEY, OBJECT_ID).blob * 2)[:size]
    with pytest.raises(IntegrityError):
        keyring.unwrap(WrappedKey(1, blob), OBJECT_ID)


def test_wrap_under_an_explicit_version(keyring: Keyring) -> None:
    keyring.add_version()
    old = keyring.wrap(DATA_KEY, OBJECT_ID, kek_version=1)
    assert old.kek_version == 1
    assert keyring.unwrap(old, OBJECT_ID) == DATA_KEY
    with pytest.raises(AccessDenied):
        keyring.wrap(DATA_KEY, OBJECT_ID, kek_version=9)


# -- rotation and destruction ------------------------------------------------------------------------


def test_add_version(path: Path) -> None:
    clock = Clock()
    keyring = Keyring.create(path, env(), workspace_id=WORKSPACE_ID, clock=clock)
    old = keyring.wrap(DATA_KEY, OBJECT_ID)
    clock.now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert keyring.add_version() == 2
    assert keyring.primary == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring.versions() == [
        KeyVersion(1, "2026-01-02T03:04:05Z", primary=False),
        KeyVersion(2, "2026-03-04T05:06:07Z", primary=True),
    ]
    new = keyring.wrap(DATA_KEY, OBJECT_ID)
    assert new.kek_version == 2
    assert keyring.unwrap(old, OBJECT_ID) == DATA_KEY
    assert keyring.unwrap(new, OBJECT_ID) == DATA_KEY
    doc = read_doc(path)
    assert kek_of(doc, 1) != kek_of(doc, 2)
    # Durable: a fresh open sees the new primary and both versions.
    reopened = Keyring.open(path, env())
    assert reopened.primary == 2
    assert [v.version for v in reopened.versions()] == [1, 2]
    assert reopened.unwrap(old, OBJECT_ID) == DATA_KEY
    assert reopened.unwrap(new, OBJECT_ID) == DATA_KEY
    assert keyring.add_version() == 3
    assert reopened.primary == 2  # no magic sharing between handles...
    reopened.reload()
    assert reopened.primary == 3  # ...until reloaded


def test_destroy_version_refuses_primary_and_unknown(keyring: Keyring, path: Path) -> None:
    with pytest.raises(BadInput, match="primary"):
        keyring.destroy_version(1)
    keyring.add_version()
    with pytest.raises(BadInput, match="primary"):
        keyring.destroy_version(2)
    for unknown in (0, 3, 99):
        with pytest.raises(NotFound):
            keyring.destroy_version(unknown)
    assert [v.version for v in Keyring.open(path, env()).versions()] == [1, 2]


def test_destroy_version_makes_its_keys_unreadable(keyring: Keyring, path: Path) -> None:
    under_v1 = keyring.wrap(DATA_KEY, OBJECT_ID)
    keyring.add_version()
    under_v2 = keyring.wrap(DATA_KEY, OBJECT_ID)
    keyring.destroy_version(1)
    assert [v.version for v in keyring.versions()] == [2]
    with pytest.raises(AccessDenied):
        keyring.unwrap(under_v1, OBJECT_ID)
    assert keyring.unwrap(under_v2, OBJECT_ID) == DATA_KEY
    doc = read_doc(path)
    assert [e["version"] for e in doc["keys"]] == [2]
    reopened = Keyring.open(path, env())
    with pytest.raises(AccessDenied):
        reopened.unwrap(under_v1, OBJECT_ID)
    with pytest.raises(NotFound):
        keyring.destroy_version(1)
    # Version numbers are never reused after a destroy.
    assert keyring.add_version() == 3


def test_versions_are_never_reused_even_after_destroying_the_highest(keyring: Keyring) -> None:
    keyring.add_version()
    keyring.add_version()
    assert keyring.primary == 3
    keyring.destroy_version(2)
    assert keyring.add_version() == 4


# -- handle hygiene ------------------------------------------------------------------------------------


def test_repr_shows_no_key_material(keyring: Keyring, path: Path) -> None:
    text = repr(keyring)
    assert WORKSPACE_ID.hex() in text
    kek = kek_of(read_doc(path), 1)
    for secret in (kek, MASTER):
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text


# -- tampering --------------------------------------------------------------------------------------


Mutation = Callable[[dict[str, Any]], object]


def _flip_wrapped(doc: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(doc["keys"][0]["wrapped"]))
    raw[20] ^= 0x01
    doc["keys"][0]["wrapped"] = base64.b64encode(raw).decode()


def _swap_wrapped(doc: dict[str, Any]) -> None:
    a, b = doc["keys"][0], doc["keys"][1]
    a["wrapped"], b["wrapped"] = b["wrapped"], a["wrapped"]


def _renumber(doc: dict[str, Any]) -> None:
    # Move version 2's wrapped KEK to version 3 (and keep primary valid): AAD binds the number.
    doc["keys"][1]["version"] = 3
    doc["primary"] = 3


TAMPERS: dict[str, Mutation] = {
    "format-changed": lambda d: d.update(format="something-else"),
    "missing-format": lambda d: d.pop("format"),
    "missing-workspace_id": lambda d: d.pop("workspace_id"),
    "missing-master": lambda d: d.pop("master"),
    "missing-primary": lambda d: d.pop("primary"),
    "missing-keys": lambda d: d.pop("keys"),
    "master-not-dict": lambda d: d.update(master="env"),
    "keys-empty": lambda d: d.update(keys=[]),
    "keys-not-list": lambda d: d.update(keys={"1": d["keys"][0]}),
    "key-entry-not-dict": lambda d: d["keys"].append("v3"),
    "key-missing-version": lambda d: d["keys"][0].pop("version"),
    "key-missing-wrapped": lambda d: d["keys"][0].pop("wrapped"),
    "key-version-str": lambda d: d["keys"][0].update(version="1"),
    "key-version-bool": lambda d: d["keys"][0].update(version=True),
    "key-version-float": lambda d: d["keys"][0].update(version=1.0),
    "key-wrapped-int": lambda d: d["keys"][0].update(wrapped=12),
    "key-wrapped-null": lambda d: d["keys"][0].update(wrapped=None),
    "primary-missing-version": lambda d: d.update(primary=7),
    "primary-str": lambda d: d.update(primary="2"),
    "primary-bool": lambda d: d.update(primary=True),
    "primary-null": lambda d: d.update(primary=None),
    "workspace-id-short": lambda d: d.update(workspace_id="00112233"),
    "workspace-id-not-hex": lambda d: d.update(workspace_id="zz" * 16),
    "workspace-id-int": lambda d: d.update(workspace_id=12),
    "workspace-id-changed": lambda d: d.update(workspace_id="ff" * 16),
    "wrapped-bit-flipped": _flip_wrapped,
    "wrapped-truncated": lambda d: d["keys"][0].update(wrapped=base64.b64encode(b"short").decode()),
    "wrapped-empty": lambda d: d["keys"][0].update(wrapped=""),
    "wrapped-swapped": _swap_wrapped,
    "wrapped-copied": lambda d: d["keys"][0].update(wrapped=d["keys"][1]["wrapped"]),
    "version-renumbered": _renumber,
    "env-key-id-changed": lambda d: d["master"].update(key_id="00" * 8),
    "env-key-id-missing": lambda d: d["master"].pop("key_id"),
}


@pytest.mark.parametrize("mutate", list(TAMPERS.values()), ids=list(TAMPERS))
def test_tampered_keyring_is_refused(path: Path, keyring: Keyring, mutate: Mutation) -> None:
    keyring.add_version()
    doc = read_doc(path)
    mutate(doc)
    write_doc(path, doc)
    with pytest.raises((IntegrityError, AccessDenied)):
        Keyring.open(path, env())


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"\xff\xfe\x00", b"[]", b"null", b'"mlwarden-keyring"', b"42"],
    ids=["empty", "truncated", "text", "binary", "list", "null", "string", "number"],
)
def test_invalid_json_is_an_integrity_error(path: Path, keyring: Keyring, raw: bytes) -> None:
    path.write_bytes(raw)
    with pytest.raises(IntegrityError):
        Keyring.open(path, env())


def test_truncated_file_is_an_integrity_error(path: Path, keyring: Keyring) -> None:
    full = path.read_bytes()
    for size in range(0, len(full) - 2, 7):
        path.write_bytes(full[:size])
        with pytest.raises(IntegrityError):
            Keyring.open(path, env())


PASSPHRASE_TAMPERS: dict[str, Mutation] = {
    "kdf-missing": lambda d: d["master"].pop("kdf"),
    "kdf-memory-huge": lambda d: d["master"]["kdf"].update(memory_kib=2**40),
    "kdf-iterations-huge": lambda d: d["master"]["kdf"].update(iterations=10**9),
    "kdf-name-unknown": lambda d: d["master"]["kdf"].update(name="md5"),
    "kdf-salt-changed": lambda d: d["master"]["kdf"].update(salt=base64.b64encode(bytes(16)).decode()),
    "kdf-iterations-changed": lambda d: d["master"]["kdf"].update(iterations=2),
    "wrapped-swapped": _swap_wrapped,
    "workspace-id-changed": lambda d: d.update(workspace_id="ff" * 16),
}


@pytest.mark.parametrize("mutate", list(PASSPHRASE_TAMPERS.values()), ids=list(PASSPHRASE_TAMPERS))
def test_tampered_passphrase_keyring_is_refused(path: Path, mutate: Mutation) -> None:
    keyring = Keyring.create(path, passphrase("pw-long-enough"), workspace_id=WORKSPACE_ID)
    keyring.add_version()
    doc = read_doc(path)
    mutate(doc)
    write_doc(path, doc)
    with pytest.raises((IntegrityError, AccessDenied)):
        Keyring.open(path, PassphraseMasterKeyProvider(lambda: "pw-long-enough"))


def test_newer_keyring_format_asks_for_an_upgrade(path: Path, keyring: Keyring) -> None:
    doc = read_doc(path)
    doc["version"] = 2
    write_doc(path, doc)
    with pytest.raises(BadInput, match="upgrade"):
        Keyring.open(path, env())


def test_newer_keyring_format_is_recognised_even_with_an_unknown_layout(path: Path) -> None:
    write_doc(path, {"format": "mlwarden-keyring", "version": 2, "something": "new"})
    with pytest.raises(BadInput, match="upgrade"):
        Keyring.open(path, env())


# -- tampering that currently escapes the error tree (bugs) -------------------------------------------


@pytest.mark.parametrize("wrapped", ["abc", "A", "AAAAA"])
def test_wrapped_with_bad_base64_is_an_integrity_error(path: Path, keyring: Keyring, wrapped: str) -> None:
    doc = read_doc(path)
    doc["keys"][0]["wrapped"] = wrapped
    write_doc(path, doc)
    with pytest.raises((IntegrityError, AccessDenied)):
        Keyring.open(path, env())


@pytest.mark.parametrize("version", [-1, 2**32, 2**40])
def test_key_version_out_of_uint32_range_is_an_integrity_error(path: Path, keyring: Keyring, version: int) -> None:
    doc = read_doc(path)
    doc["keys"].append({"version": version, "created": "2026-01-01T00:00:00Z", "wrapped": doc["keys"][0]["wrapped"]})
    write_doc(path, doc)
    with pytest.raises((IntegrityError, AccessDenied)):
        Keyring.open(path, env())


def test_key_entry_without_created_is_refused(path: Path, keyring: Keyring) -> None:
    doc = read_doc(path)
    del doc["keys"][0]["created"]
    write_doc(path, doc)
    with pytest.raises((IntegrityError, AccessDenied)):
        Keyring.open(path, env()).versions()


def test_keyring_without_version_field_is_damaged_not_newer(path: Path, keyring: Keyring) -> None:
    doc = read_doc(path)
    del doc["version"]
    write_doc(path, doc)
    with pytest.raises((IntegrityError, AccessDenied)):
        Keyring.open(path, env())


TOLERANT_TAMPERS: dict[str, Mutation] = {
    "master-kind-missing": lambda d: d["master"].pop("kind"),
    "master-kind-other": lambda d: d["master"].update(kind="kms"),
    "version-str": lambda d: d.update(version="1"),
}


@pytest.mark.parametrize("mutate", list(TOLERANT_TAMPERS.values()), ids=list(TOLERANT_TAMPERS))
def test_other_damage_stays_inside_the_error_tree(path: Path, keyring: Keyring, mutate: Mutation) -> None:
    doc = read_doc(path)
    mutate(doc)
    write_doc(path, doc)
    with pytest.raises(MlwardenError):
        Keyring.open(path, env())
