"""The workspace's model-signing keys (``Workspace.signing_keys``): made on first use, rotated,
revoked (and shredded), surviving key rotation and a new master key, and an index that whoever
can write the folder but lacks the master key cannot bend (un-revoke, add a key, swap halves)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pickle
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import mlwarden
from mlwarden.config import Settings
from mlwarden.crypto._signing_keys import public_key_id
from mlwarden.errors import BadInput, IntegrityError, NotFound, SignatureError
from mlwarden.models._signing import SINGLE_FILE, bundle_key_id, sign_digests, verify_bundle

Workspace = mlwarden.Workspace
DIGEST = "ab" * 32


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "ws", master_key=new_key())


@pytest.fixture
def ws(settings: Settings) -> Any:
    workspace = Workspace.init(settings=settings, key_source="env")
    yield workspace
    workspace.close()


def index_path(ws: Workspace) -> Path:
    return ws.home / "keys" / "model-signing.json"


def read_index(ws: Workspace) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(index_path(ws).read_text())
    return doc


def write_index(ws: Workspace, doc: dict[str, Any]) -> None:
    index_path(ws).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def private_records(ws: Workspace) -> list[Path]:
    return sorted((ws.home / "keys" / "model-signing").rglob("*.json"))


def sign(private: ec.EllipticCurvePrivateKey, digest: str = DIGEST) -> bytes:
    return sign_digests("m.skops", {SINGLE_FILE: digest}, private, provenance={"by": "test"})


def all_keys(ws: Workspace) -> list[Any]:
    return ws._signing_keys.keys()


def assert_index_refused(ws: Workspace, key_id: str) -> None:
    """Every way of reading the index fails its integrity check."""
    with pytest.raises(IntegrityError):
        ws._signing_keys.keys()
    with pytest.raises(IntegrityError):
        ws._signing_keys.find(key_id)
    with pytest.raises(IntegrityError):
        ws._signing_keys.active(by="root")


# ------------------------------------------------------------------------------------ first use


def test_active_makes_one_key_on_first_use_and_keeps_it(ws: Workspace, settings: Settings) -> None:
    assert ws._signing_keys.keys() == []
    assert private_records(ws) == []
    info, private = ws._signing_keys.active(by="alice")
    assert (info.number, info.state, info.created_by) == (1, "active", "alice")
    assert info.changed_at is None
    assert info.key_id == public_key_id(private.public_key())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert info.public_pem.encode() == pem
    assert isinstance(private.curve, ec.SECP256R1)
    assert len(private_records(ws)) == 1

    again, private_again = ws._signing_keys.active(by="bob")
    assert again == info
    assert private_again.private_numbers() == private.private_numbers()
    assert ws._signing_keys.keys() == [info]

    # a bundle made now names this key and verifies with the index's public half
    bundle = sign(private)
    assert bundle_key_id(bundle) == info.key_id
    assert verify_bundle(bundle, ws._signing_keys.find(info.key_id).public_key()).key_id == info.key_id

    ws.close()
    with Workspace.open(settings=settings) as reopened:
        info3, private3 = reopened._signing_keys.active(by="carol")
        assert info3 == info
        assert private3.private_numbers() == private.private_numbers()
        assert reopened._signing_keys.keys() == [info]
    assert len(private_records(ws)) == 1


def test_concurrent_first_use_makes_a_single_key(ws: Workspace, settings: Settings) -> None:
    opened = [Workspace.open(settings=settings) for _ in range(4)]
    found: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(opened))

    def first_use(w: Workspace) -> None:
        try:
            start.wait()
            found.append(w._signing_keys.active(by="racer")[0].key_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(w,)) for w in opened]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in opened:
        w.close()
    assert errors == []
    assert len(set(found)) == 1
    assert [k.key_id for k in all_keys(ws)] == found[:1]
    assert len(private_records(ws)) == 1


def test_index_and_private_halves_are_private_files(ws: Workspace) -> None:
    ws._signing_keys.active(by="root")
    ws._signing_keys.rotate(by="root")  # the index is rewritten: still 0600
    assert stat.S_IMODE(index_path(ws).stat().st_mode) == 0o600
    records = private_records(ws)
    assert len(records) == 2
    for record in records:
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
    # the index holds public halves only; the records hold no plain scalar
    text = index_path(ws).read_text()
    assert "PRIVATE" not in text
    _, private = ws._signing_keys.active(by="root")
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    for record in records:
        raw = record.read_bytes()
        assert scalar not in raw
        assert base64.b64encode(scalar) not in raw
        assert scalar.hex().encode() not in raw


def test_signing_keys_cannot_be_pickled_or_shown(ws: Workspace) -> None:
    _, private = ws._signing_keys.active(by="root")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ws._signing_keys)
    assert str(private.private_numbers().private_value) not in repr(ws._signing_keys)


# ---------------------------------------------------------------------------------- rotation


def test_rotate_retires_the_old_key_and_its_signatures_still_verify(ws: Workspace) -> None:
    first, first_private = ws._signing_keys.active(by="root")
    before = sign(first_private)
    new, old = ws._signing_keys.rotate(by="dana")
    assert old is not None
    assert old.key_id == first.key_id  # (as it was before the rotation)
    retired_now = ws._signing_keys.find(first.key_id)
    assert (retired_now.state, retired_now.changed_by) == ("retired", "dana")
    assert retired_now.changed_at is not None
    assert (new.number, new.state) == (2, "active")
    assert new.key_id != first.key_id
    assert [(k.number, k.state) for k in all_keys(ws)] == [(1, "retired"), (2, "active")]

    active, private = ws._signing_keys.active(by="root")
    assert active == new
    assert public_key_id(private.public_key()) == new.key_id
    # the retired key still verifies what it signed; the new key does not verify it
    retired = ws._signing_keys.find(first.key_id)
    assert verify_bundle(before, retired.public_key()).key_id == first.key_id
    with pytest.raises(SignatureError):
        verify_bundle(before, ws._signing_keys.find(new.key_id).public_key())

    third, second = ws._signing_keys.rotate(by="root")
    assert second is not None
    assert second.key_id == new.key_id
    assert [(k.number, k.state) for k in all_keys(ws)] == [(1, "retired"), (2, "retired"), (3, "active")]
    assert third.number == 3


def test_rotate_without_any_key_makes_the_first(ws: Workspace) -> None:
    new, old = ws._signing_keys.rotate(by="root")
    assert old is None
    assert (new.number, new.state) == (1, "active")
    assert ws._signing_keys.active(by="root")[0] == new


# ---------------------------------------------------------------------------------- revocation


def test_revoke_needs_an_unambiguous_prefix_of_eight_or_more(ws: Workspace) -> None:
    info, _ = ws._signing_keys.active(by="root")
    for short in ("", info.key_id[:1], info.key_id[:7]):
        with pytest.raises(BadInput, match="names no single model-signing key"):
            ws._signing_keys.revoke(short, by="root")
    with pytest.raises(BadInput):
        ws._signing_keys.revoke("0" * 8 if not info.key_id.startswith("0" * 8) else "f" * 8, by="root")
    assert ws._signing_keys.find(info.key_id).state == "active"  # nothing changed
    revoked = ws._signing_keys.revoke(info.key_id[:8].upper(), by="erin")
    assert (revoked.key_id, revoked.state, revoked.changed_by) == (info.key_id, "revoked", "erin")
    assert ws._signing_keys.find(info.key_id) == revoked


def test_revoke_shreds_the_private_half_and_a_new_key_takes_over(ws: Workspace) -> None:
    info, private = ws._signing_keys.active(by="root")
    (record,) = private_records(ws)
    wrapped = record.read_bytes()
    before = sign(private)

    ws._signing_keys.revoke(info.key_id, by="root")
    tombstone = json.loads(record.read_text())
    assert "shredded" in tombstone
    assert tombstone["shredded_by"] == "root"
    assert "wrapped" not in tombstone
    assert json.loads(wrapped)["wrapped"] not in record.read_text()
    with pytest.raises(NotFound):
        ws._signing_keys.find("0" * 64)

    # revoking the active key leaves none active: the next use makes a new one (never reusing #1)
    new, new_private = ws._signing_keys.active(by="root")
    assert new.number == 2
    assert new.key_id != info.key_id
    assert [(k.number, k.state) for k in all_keys(ws)] == [(1, "revoked"), (2, "active")]
    # what the revoked key signed still verifies cryptographically: refusing it is up to the
    # loaders, which look the key's state up (tests/models/test_load.py, test_registry.py)
    assert verify_bundle(before, ws._signing_keys.find(info.key_id).public_key()).key_id == info.key_id
    assert verify_bundle(sign(new_private), new.public_key()).key_id == new.key_id


def test_revoking_a_retired_key(ws: Workspace) -> None:
    first, _ = ws._signing_keys.active(by="root")
    ws._signing_keys.rotate(by="root")
    ws._signing_keys.revoke(first.key_id[:12], by="root")
    states = [(k.number, k.state) for k in all_keys(ws)]
    assert states == [(1, "revoked"), (2, "active")]
    assert ws._signing_keys.active(by="root")[0].number == 2  # revoking a retired key makes no new one


# ---------------------------------------------------------------------- workspace key changes


def test_keys_survive_key_rotation_and_destruction_of_the_old_version(ws: Workspace) -> None:
    info, private = ws._signing_keys.active(by="root")
    retired, _ = ws._signing_keys.rotate(by="root")  # two private halves to rewrap
    bundle = sign(private)
    assert ws._signing_keys.count_by_version() == {1: 2}

    ws.keys.rotate()
    assert ws._signing_keys.count_by_version() == {2: 2}
    ws.keys.destroy_version(1)  # only possible because the private halves moved to version 2

    active, active_private = ws._signing_keys.active(by="root")
    assert active.key_id == retired.key_id
    assert public_key_id(active_private.public_key()) == active.key_id
    assert verify_bundle(bundle, ws._signing_keys.find(info.key_id).public_key()).key_id == info.key_id
    assert verify_bundle(sign(active_private), active.public_key()).key_id == active.key_id


def test_destroying_a_key_version_that_still_wraps_a_signing_key_is_refused(ws: Workspace) -> None:
    ws._signing_keys.active(by="root")
    ws._keyring.add_version()  # a new primary version, without rewrapping anything
    with pytest.raises(BadInput, match="model-signing"):
        ws.keys.destroy_version(1)
    assert ws._signing_keys.active(by="root")[0].number == 1


def test_keys_survive_a_new_master_key(ws: Workspace, settings: Settings) -> None:
    info, private = ws._signing_keys.active(by="root")
    bundle = sign(private)
    new_master = new_key()
    ws.keys.change_master("env", settings=dataclasses.replace(settings, new_master_key=new_master))
    ws.close()
    with Workspace.open(settings=dataclasses.replace(settings, master_key=new_master)) as reopened:
        again, again_private = reopened._signing_keys.active(by="root")
        assert again == info
        assert again_private.private_numbers() == private.private_numbers()
        assert verify_bundle(bundle, reopened._signing_keys.find(info.key_id).public_key()).key_id == info.key_id


# ------------------------------------------------------------------------------- the index


def test_unrevoking_a_key_in_the_index_is_detected(ws: Workspace) -> None:
    info, _ = ws._signing_keys.active(by="root")
    ws._signing_keys.revoke(info.key_id, by="root")
    doc = read_index(ws)
    (entry,) = doc["keys"]
    assert entry["state"] == "revoked"
    entry.update(state="active", changed_at=None, changed_by=None)
    write_index(ws, doc)
    assert_index_refused(ws, info.key_id)
    # the message says what happened and what to do
    with pytest.raises(IntegrityError, match=r"altered.*restore"):
        ws._signing_keys.keys()


def test_retiring_or_reactivating_in_the_index_is_detected(ws: Workspace) -> None:
    first, _ = ws._signing_keys.active(by="root")
    ws._signing_keys.rotate(by="root")
    doc = read_index(ws)
    doc["keys"][0]["state"] = "active"  # the retired key made active again (two active keys)
    write_index(ws, doc)
    assert_index_refused(ws, first.key_id)


def test_a_foreign_key_appended_to_the_index_is_detected(ws: Workspace) -> None:
    ws._signing_keys.active(by="root")
    foreign = ec.generate_private_key(ec.SECP256R1()).public_key()
    doc = read_index(ws)
    entry = dict(doc["keys"][0])
    entry.update(
        number=2,
        key_id=public_key_id(foreign),
        state="retired",
        public_pem=foreign.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    )
    doc["keys"].append(entry)
    write_index(ws, doc)
    assert_index_refused(ws, public_key_id(foreign))


def test_a_public_key_replaced_in_the_index_is_detected(ws: Workspace) -> None:
    ws._signing_keys.active(by="root")
    foreign = ec.generate_private_key(ec.SECP256R1()).public_key()
    doc = read_index(ws)
    doc["keys"][0]["public_pem"] = foreign.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    doc["keys"][0]["key_id"] = public_key_id(foreign)
    write_index(ws, doc)
    assert_index_refused(ws, public_key_id(foreign))


def test_a_dropped_revocation_is_detected(ws: Workspace) -> None:
    first, _ = ws._signing_keys.active(by="root")
    ws._signing_keys.rotate(by="root")
    ws._signing_keys.revoke(first.key_id, by="root")
    doc = read_index(ws)
    doc["keys"] = [k for k in doc["keys"] if k["state"] != "revoked"]
    write_index(ws, doc)
    assert_index_refused(ws, first.key_id)


def test_an_index_from_another_workspace_is_refused(ws: Workspace, tmp_path: Path) -> None:
    ws._signing_keys.active(by="root")
    other = Workspace.init(settings=Settings(home=tmp_path / "other", master_key=new_key()), key_source="env")
    try:
        foreign, _ = other._signing_keys.active(by="mallory")
        index_path(ws).write_bytes(index_path(other).read_bytes())
    finally:
        other.close()
    assert_index_refused(ws, foreign.key_id)


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b"[]", b'{"version": 1, "keys": {}}', b'{"version": 9, "keys": []}']
)
def test_a_damaged_index_is_refused(ws: Workspace, content: bytes) -> None:
    info, _ = ws._signing_keys.active(by="root")
    index_path(ws).write_bytes(content)
    assert_index_refused(ws, info.key_id)


def test_an_entry_with_unknown_fields_is_refused_even_with_a_valid_shape(ws: Workspace) -> None:
    info, _ = ws._signing_keys.active(by="root")
    doc = read_index(ws)
    doc["keys"][0]["extra"] = "x"
    write_index(ws, doc)
    assert_index_refused(ws, info.key_id)


def test_a_swapped_private_half_is_refused(ws: Workspace) -> None:
    """Overwriting the active key's wrapped record with another key's must not make the
    workspace sign with a key its index does not list as active."""
    ws._signing_keys.active(by="root")
    ws._signing_keys.rotate(by="root")
    one, two = private_records(ws)
    two.write_bytes(one.read_bytes())
    with pytest.raises(IntegrityError):
        ws._signing_keys.active(by="root")


def test_a_lost_private_half_is_an_integrity_error(ws: Workspace) -> None:
    ws._signing_keys.active(by="root")
    (record,) = private_records(ws)
    record.unlink()
    with pytest.raises(IntegrityError, match="lost its private half"):
        ws._signing_keys.active(by="root")


def test_rolling_the_index_back_does_not_unrevoke_a_key(ws: Workspace) -> None:
    info, _ = ws._signing_keys.active(by="root")
    before_revocation = index_path(ws).read_bytes()
    ws._signing_keys.revoke(info.key_id, by="root")
    index_path(ws).write_bytes(before_revocation)  # an attacker's saved copy, MAC and all
    try:
        state = ws._signing_keys.find(info.key_id).state
    except IntegrityError:
        return
    assert state == "revoked"


def test_a_deleted_index_is_an_integrity_error(ws: Workspace) -> None:
    ws._signing_keys.active(by="root")
    index_path(ws).unlink()
    with pytest.raises(IntegrityError):
        ws._signing_keys.active(by="root")
