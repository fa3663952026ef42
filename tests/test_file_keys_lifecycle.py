"""Envelope files through their whole key life: registration, rotation, shredding, version destruction."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from mlwarden import IntegrityError, Shredded, Workspace
from mlwarden.config import Settings
from mlwarden.crypto import read_envelope_header
from mlwarden.errors import AccessDenied


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    key = base64.b64encode(os.urandom(32)).decode()
    return Workspace.init(tmp_path / "ws", settings=Settings(home=tmp_path / "ws", master_key=key))


def _encrypt(ws: Workspace, data: bytes) -> bytes:
    return ws.files.encrypt_bytes(data)


def _decrypt(ws: Workspace, blob: bytes) -> bytes:
    return ws.files.decrypt_bytes(blob)


def test_encrypted_file_is_registered_and_rotation_rewraps_it(ws: Workspace) -> None:
    blob = _encrypt(ws, b"payload")
    header = read_envelope_header(io.BytesIO(blob))
    assert ws._data_keys.record(header.object_id).kek_version == 1
    rotation = ws.keys.rotate()
    assert rotation.rewrapped == 1
    assert ws._data_keys.record(header.object_id).kek_version == 2
    # The file itself is untouched and still opens, now through the rewrapped record.
    assert read_envelope_header(io.BytesIO(blob)).kek_version == 1
    assert _decrypt(ws, blob) == b"payload"
    ws.keys.destroy_version(1)
    assert _decrypt(ws, blob) == b"payload"


def test_unregistered_file_falls_back_to_its_header_until_its_version_is_destroyed(ws: Workspace) -> None:
    blob = _encrypt(ws, b"payload")
    header = read_envelope_header(io.BytesIO(blob))
    record = next((ws.home / "keys" / "data").rglob(f"{header.object_id.hex()}.json"))
    record.unlink()
    assert _decrypt(ws, blob) == b"payload"
    ws.keys.rotate()
    ws.keys.destroy_version(1)
    with pytest.raises(AccessDenied):
        _decrypt(ws, blob)


def test_shredding_a_file_destroys_every_copy(ws: Workspace) -> None:
    blob = _encrypt(ws, b"secret rows")
    copy = bytes(blob)
    object_id = ws.files.shred(io.BytesIO(blob))
    assert object_id == read_envelope_header(io.BytesIO(blob)).object_id
    for candidate in (blob, copy):
        with pytest.raises(Shredded, match=ws.principal.name):
            _decrypt(ws, candidate)
    with pytest.raises(Shredded):
        ws.files.shred(io.BytesIO(blob))
    # The old record's bytes were overwritten in place before being let go of; only the tombstone is left.
    record = ws._data_keys.record(object_id)
    assert record.shredded is not None
    assert record.kek_version is None


def test_shredding_refuses_a_tampered_or_foreign_file(ws: Workspace, tmp_path: Path) -> None:
    blob = bytearray(_encrypt(ws, b"x"))
    blob[60] ^= 1  # inside the wrapped data key
    with pytest.raises(IntegrityError):
        ws.files.shred(io.BytesIO(bytes(blob)))
    key = base64.b64encode(os.urandom(32)).decode()
    other = Workspace.init(tmp_path / "other", settings=Settings(home=tmp_path / "other", master_key=key))
    foreign = _encrypt(other, b"theirs")
    with pytest.raises(AccessDenied, match="not this one"):
        ws.files.shred(io.BytesIO(foreign))


def test_header_object_id_swapped_to_another_files_record_fails(ws: Workspace) -> None:
    first = _encrypt(ws, b"first")
    second = bytearray(_encrypt(ws, b"second"))
    second[28:44] = first[28:44]  # point the second file at the first file's data key
    with pytest.raises(IntegrityError):
        _decrypt(ws, bytes(second))
