"""Per-object data keys: records on disk, sharding, crypto-shredding, rewrapping after rotation."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlwarden.crypto import _data_keys
from mlwarden.crypto._data_keys import DataKeyRecord, DataKeyStore
from mlwarden.crypto._keyring import Keyring, WrappedKey
from mlwarden.crypto._master_key import EnvMasterKeyProvider
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Shredded

MASTER_B64 = base64.b64encode(bytes(range(32))).decode()
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
OID_A = bytes.fromhex("ab" + "11" * 15)
OID_B = bytes.fromhex("00" + "22" * 15)
OID_C = bytes.fromhex("ff" + "33" * 15)
OID_A2 = bytes.fromhex("ab" + "44" * 15)  # same shard as OID_A


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keyring(tmp_path: Path, clock: Clock) -> Keyring:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    return Keyring.create(
        keys / "keyring.json", EnvMasterKeyProvider(MASTER_B64), workspace_id=os.urandom(16), clock=clock
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "data"


@pytest.fixture
def store(root: Path, keyring: Keyring, clock: Clock) -> DataKeyStore:
    return DataKeyStore(root, keyring, clock)


def record_path(root: Path, object_id: bytes) -> Path:
    return root / object_id.hex()[:2] / f"{object_id.hex()}.json"


def read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


# -- one object ---------------------------------------------------------------------------------


def test_create_and_read_back(store: DataKeyStore, root: Path, keyring: Keyring) -> None:
    key = store.create(OID_A)
    assert isinstance(key, bytes)
    assert len(key) == 32
    assert store.data_key(OID_A) == key
    other = store.create(OID_B)
    assert other != key
    assert store.data_key(OID_B) == other
    # A fresh store (another process) over the same folder reads the same keys.
    assert DataKeyStore(root, keyring).data_key(OID_A) == key


def test_record_layout_and_modes(store: DataKeyStore, root: Path, keyring: Keyring) -> None:
    key = store.create(OID_A)
    path = record_path(root, OID_A)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left over
    doc = read(path)
    assert doc == {
        "format": "mlwarden-data-key",
        "version": 1,
        "object_id": OID_A.hex(),
        "kek_version": 1,
        "wrapped": doc["wrapped"],
        "created": "2026-01-02T03:04:05Z",
    }
    blob = base64.b64decode(doc["wrapped"], validate=True)
    assert len(blob) == 60
    assert key not in path.read_bytes()
    assert key.hex().encode() not in path.read_bytes()
    assert keyring.unwrap(WrappedKey(1, blob), OID_A) == key


def test_records_are_sharded_by_the_first_two_hex_digits(store: DataKeyStore, root: Path) -> None:
    for oid in (OID_A, OID_B, OID_C, OID_A2):
        store.create(oid)
    assert sorted(p.name for p in root.iterdir()) == ["00", "ab", "ff"]
    assert sorted(p.name for p in (root / "ab").iterdir()) == [f"{OID_A.hex()}.json", f"{OID_A2.hex()}.json"]
    for oid in (OID_A, OID_B, OID_C, OID_A2):
        assert record_path(root, oid).is_file()
    for shard in root.iterdir():
        assert stat.S_IMODE(shard.stat().st_mode) == 0o700
    assert list(store.object_ids()) == sorted([OID_A, OID_B, OID_C, OID_A2])


def test_object_ids_ignore_stray_files(store: DataKeyStore, root: Path) -> None:
    assert list(store.object_ids()) == []  # no folder yet
    store.create(OID_A)
    (root / "ab" / f".{OID_A.hex()}.json.0123456789ab.tmp").write_bytes(b"partial")
    (root / "ab" / "README").write_text("hi")
    (root / "ab" / f"{OID_A.hex().upper()}.json").write_text("{}")
    (root / "notes.txt").write_text("not a shard")
    assert list(store.object_ids()) == [OID_A]
    assert store.count_by_version() == {1: 1}


def test_create_twice_is_refused(store: DataKeyStore, root: Path) -> None:
    key = store.create(OID_A)
    before = record_path(root, OID_A).read_bytes()
    with pytest.raises(AlreadyExists):
        store.create(OID_A)
    assert record_path(root, OID_A).read_bytes() == before
    assert store.data_key(OID_A) == key


def test_create_after_shred_is_refused(store: DataKeyStore) -> None:
    store.create(OID_A)
    store.shred(OID_A, by="alice")
    with pytest.raises(AlreadyExists):
        store.create(OID_A)
    with pytest.raises(Shredded):
        store.data_key(OID_A)


def test_unknown_object(store: DataKeyStore) -> None:
    with pytest.raises(NotFound):
        store.data_key(OID_A)
    with pytest.raises(NotFound):
        store.record(OID_A)
    with pytest.raises(NotFound):
        store.shred(OID_A, by="alice")


@pytest.mark.parametrize("bad", [b"", bytes(15), bytes(17), bytes(32), "ab" * 16, bytearray(16)])
def test_object_id_must_be_16_bytes(store: DataKeyStore, bad: Any) -> None:
    for call in (store.create, store.data_key, store.record):
        with pytest.raises(BadInput):
            call(bad)
    with pytest.raises(BadInput):
        store.shred(bad, by="alice")


def test_record(store: DataKeyStore) -> None:
    store.create(OID_A)
    assert store.record(OID_A) == DataKeyRecord(OID_A, 1, "2026-01-02T03:04:05Z")


# -- shredding ----------------------------------------------------------------------------------


def test_shred_leaves_a_tombstone(store: DataKeyStore, root: Path, clock: Clock) -> None:
    store.create(OID_A)
    store.create(OID_B)
    clock.now = T1
    store.shred(OID_A, by="alice")
    path = record_path(root, OID_A)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read(path) == {
        "format": "mlwarden-data-key",
        "version": 1,
        "object_id": OID_A.hex(),
        "shredded": "2026-02-03T04:05:06Z",
        "shredded_by": "alice",
    }
    assert store.record(OID_A) == DataKeyRecord(OID_A, None, None, "2026-02-03T04:05:06Z", "alice")
    with pytest.raises(Shredded) as caught:
        store.data_key(OID_A)
    assert not isinstance(caught.value, IntegrityError)
    assert "alice" in str(caught.value)
    assert "2026-02-03T04:05:06Z" in str(caught.value)
    assert OID_A.hex() in str(caught.value)
    # The other object is untouched.
    store.data_key(OID_B)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_shredding_twice(store: DataKeyStore, root: Path, clock: Clock) -> None:
    store.create(OID_A)
    store.shred(OID_A, by="alice")
    tombstone = record_path(root, OID_A).read_bytes()
    clock.now = T1
    with pytest.raises(Shredded):
        store.shred(OID_A, by="bob")
    assert record_path(root, OID_A).read_bytes() == tombstone  # first tombstone kept


def test_shred_overwrites_the_old_record_in_place(store: DataKeyStore, root: Path, tmp_path: Path) -> None:
    store.create(OID_A)
    path = record_path(root, OID_A)
    old = path.read_bytes()
    # A second name for the old record's inode: what a filesystem might keep after the replace.
    survivor = tmp_path / "keys" / "survivor"
    os.link(path, survivor)
    store.shred(OID_A, by="alice")
    assert survivor.read_bytes() == b"\0" * len(old)
    assert b"wrapped" not in path.read_bytes()


def test_shredded_record_is_not_a_live_key(store: DataKeyStore) -> None:
    store.create(OID_A)
    store.create(OID_B)
    store.shred(OID_A, by="alice")
    assert store.count_by_version() == {1: 1}
    assert list(store.object_ids()) == [OID_B, OID_A]


# -- damage -------------------------------------------------------------------------------------


def _structural_damage() -> dict[str, Any]:
    def edit(**changes: Any) -> Any:
        def apply(doc: dict[str, Any]) -> bytes:
            doc.update(changes)
            return json.dumps(doc).encode()

        return apply

    def drop(key: str) -> Any:
        def apply(doc: dict[str, Any]) -> bytes:
            doc.pop(key)
            return json.dumps(doc).encode()

        return apply

    return {
        "empty": lambda _doc: b"",
        "garbage": lambda _doc: b"\x00\x01garbage",
        "truncated": lambda doc: json.dumps(doc).encode()[:40],
        "not-utf8": lambda _doc: b"\xff\xfe{}",
        "list": lambda _doc: b"[]",
        "format": edit(format="other"),
        "version-2": edit(version=2),
        "version-str": edit(version="1"),
        "object-id-other": edit(object_id=OID_B.hex()),
        "object-id-upper": edit(object_id=OID_A.hex().upper()),
        "kek-version-str": edit(kek_version="1"),
        "kek-version-bool": edit(kek_version=True),
        "kek-version-missing": drop("kek_version"),
        "wrapped-missing": drop("wrapped"),
        "wrapped-int": edit(wrapped=5),
        "format-missing": drop("format"),
        "object-id-missing": drop("object_id"),
    }


STRUCTURAL = _structural_damage()


@pytest.mark.parametrize("damage", list(STRUCTURAL.values()), ids=list(STRUCTURAL))
def test_damaged_record_is_an_integrity_error_naming_the_object(store: DataKeyStore, root: Path, damage: Any) -> None:
    store.create(OID_A)
    path = record_path(root, OID_A)
    path.write_bytes(damage(read(path)))
    for call in (store.data_key, store.record):
        with pytest.raises(IntegrityError) as caught:
            call(OID_A)
        assert OID_A.hex() in str(caught.value)
    with pytest.raises(IntegrityError):
        store.shred(OID_A, by="alice")
    with pytest.raises(IntegrityError):
        store.count_by_version()


def test_half_tombstone_is_an_integrity_error(store: DataKeyStore, root: Path) -> None:
    store.create(OID_A)
    path = record_path(root, OID_A)
    path.write_text(json.dumps({**read(path), "shredded": "2026-01-01T00:00:00Z"}))
    with pytest.raises(IntegrityError):
        store.data_key(OID_A)


def _flip(doc: dict[str, Any]) -> dict[str, Any]:
    blob = bytearray(base64.b64decode(doc["wrapped"]))
    blob[30] ^= 0x80
    return {**doc, "wrapped": base64.b64encode(blob).decode()}


CONTENT = {
    "wrapped-bit-flipped": _flip,
    "wrapped-not-base64": lambda doc: {**doc, "wrapped": "%%%%"},
    "wrapped-bad-padding": lambda doc: {**doc, "wrapped": doc["wrapped"][:-1]},
    "wrapped-short": lambda doc: {**doc, "wrapped": base64.b64encode(b"x" * 59).decode()},
    "wrapped-long": lambda doc: {**doc, "wrapped": base64.b64encode(bytes(61)).decode()},
    "wrapped-empty": lambda doc: {**doc, "wrapped": ""},
}


@pytest.mark.parametrize("damage", list(CONTENT.values()), ids=list(CONTENT))
def test_damaged_wrapped_key_is_an_integrity_error(store: DataKeyStore, root: Path, damage: Any) -> None:
    store.create(OID_A)
    path = record_path(root, OID_A)
    path.write_text(json.dumps(damage(read(path))))
    with pytest.raises(IntegrityError):
        store.data_key(OID_A)


def test_record_copied_to_another_object_fails(store: DataKeyStore, root: Path) -> None:
    store.create(OID_A)
    store.create(OID_B)
    source = record_path(root, OID_A)
    target = record_path(root, OID_B)
    shutil.copyfile(source, target)
    with pytest.raises(IntegrityError):
        store.data_key(OID_B)
    # Even with the object id inside the record rewritten, the AAD binds the wrapped key to OID_A.
    doc = read(source)
    doc["object_id"] = OID_B.hex()
    target.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError):
        store.data_key(OID_B)
    assert store.data_key(OID_A)


def test_kek_version_edited(store: DataKeyStore, root: Path, keyring: Keyring) -> None:
    store.create(OID_A)
    keyring.add_version()
    path = record_path(root, OID_A)
    doc = read(path)
    path.write_text(json.dumps({**doc, "kek_version": 2}))
    with pytest.raises(IntegrityError):
        store.data_key(OID_A)
    path.write_text(json.dumps({**doc, "kek_version": 9}))
    with pytest.raises(AccessDenied):
        store.data_key(OID_A)


# -- rotation -----------------------------------------------------------------------------------


def test_rewrap_all_after_add_version(store: DataKeyStore, root: Path, keyring: Keyring, clock: Clock) -> None:
    keys = {oid: store.create(oid) for oid in (OID_A, OID_B, OID_C, OID_A2)}
    store.shred(OID_C, by="carol")
    tombstone = record_path(root, OID_C).read_bytes()
    assert store.count_by_version() == {1: 3}

    clock.now = T1
    assert keyring.add_version() == 2
    assert store.count_by_version() == {1: 3}  # adding a version alone moves nothing
    ticks: list[int] = []
    assert store.rewrap_all(ticks.append) == 3
    assert ticks == [1, 1, 1, 1]  # every record visited, tombstone included
    assert store.count_by_version() == {2: 3}
    assert record_path(root, OID_C).read_bytes() == tombstone
    for oid in (OID_A, OID_B, OID_A2):
        assert store.data_key(oid) == keys[oid]
        record = store.record(oid)
        assert record.kek_version == 2
        assert record.created == "2026-01-02T03:04:05Z"  # creation time preserved
        assert stat.S_IMODE(record_path(root, oid).stat().st_mode) == 0o600
    assert store.rewrap_all() == 0

    # With everything moved, version 1 can go and every live key still opens.
    keyring.destroy_version(1)
    for oid in (OID_A, OID_B, OID_A2):
        assert store.data_key(oid) == keys[oid]
    with pytest.raises(Shredded):
        store.data_key(OID_C)


def test_rewrap_all_without_a_new_version_changes_nothing(store: DataKeyStore, root: Path) -> None:
    store.create(OID_A)
    before = record_path(root, OID_A).read_bytes()
    assert store.rewrap_all() == 0
    assert record_path(root, OID_A).read_bytes() == before


def test_rewrap_all_interrupted_then_resumed(
    store: DataKeyStore, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {oid: store.create(oid) for oid in (OID_A, OID_B, OID_C, OID_A2)}
    keyring.add_version()
    real = _data_keys.atomic_write
    calls = 0

    def crash_on_third(path: Path, data: bytes, mode: int = 0o600) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full")
        real(path, data, mode)

    monkeypatch.setattr(_data_keys, "atomic_write", crash_on_third)
    with pytest.raises(OSError, match="disk full"):
        store.rewrap_all()
    monkeypatch.setattr(_data_keys, "atomic_write", real)
    assert store.count_by_version() == {1: 2, 2: 2}
    for oid, key in keys.items():
        assert store.data_key(oid) == key
    assert store.rewrap_all() == 2
    assert store.count_by_version() == {2: 4}


def test_count_by_version(store: DataKeyStore, keyring: Keyring) -> None:
    assert store.count_by_version() == {}
    store.create(OID_A)
    store.create(OID_B)
    keyring.add_version()
    store.create(OID_C)
    assert store.count_by_version() == {1: 2, 2: 1}
    assert sorted(r.kek_version or 0 for r in store.records()) == [1, 1, 2]
