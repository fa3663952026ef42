"""The embedded workspace: init/open, key sources, objects, rotation, destruction, concurrency."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlwarden import Workspace
from mlwarden._workspace import KeyVersionInfo, Rotation
from mlwarden.config import Settings
from mlwarden.crypto._envelope import encrypt_envelope
from mlwarden.crypto._kdf import KdfParams, new_params
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Shredded

KEY_B64 = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY_B64 = base64.b64encode(bytes(range(1, 33))).decode()
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
OID_A = bytes.fromhex("aa" * 16)
OID_B = bytes.fromhex("bb" * 16)
OID_C = bytes.fromhex("cc" * 16)


def cheap() -> KdfParams:
    return new_params("argon2id", memory_kib=1024, iterations=1, lanes=1)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLWARDEN_HOME", "MLWARDEN_PASSPHRASE", "MLWARDEN_MASTER_KEY", "MLWARDEN_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home, master_key=KEY_B64)


@pytest.fixture
def ws(settings: Settings) -> Workspace:
    return Workspace.init(settings=settings)


def seal(ws: Workspace, object_id: bytes, plaintext: bytes) -> bytes:
    dst = io.BytesIO()
    assert ws.files.seal_object(object_id, io.BytesIO(plaintext), dst) == len(plaintext)
    return dst.getvalue()


def unseal(ws: Workspace, object_id: bytes, sealed: bytes) -> bytes:
    dst = io.BytesIO()
    assert ws.files.open_object(object_id, io.BytesIO(sealed), dst) == len(dst.getvalue())
    return dst.getvalue()


def encrypt(ws: Workspace, plaintext: bytes) -> bytes:
    return ws.files.encrypt_bytes(plaintext)


def decrypt(ws: Workspace, ciphertext: bytes) -> bytes:
    return ws.files.decrypt_bytes(ciphertext)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- init -----------------------------------------------------------------------------------------


def test_init_layout_and_modes(home: Path) -> None:
    ws = Workspace.init(settings=Settings(home=home, master_key=KEY_B64), clock=lambda: T0)
    assert ws.home == home
    assert mode(home) == 0o700
    assert mode(home / "keys") == 0o700
    assert mode(home / "keys" / "keyring.json") == 0o600
    assert mode(home / "workspace.json") == 0o600
    meta = json.loads((home / "workspace.json").read_text())
    assert meta == {"format": "mlwarden-workspace", "version": 2, "id": ws.id, "created": "2026-01-02T03:04:05Z"}
    assert ws.created == "2026-01-02T03:04:05Z"
    assert len(bytes.fromhex(ws.id)) == 16
    assert ws._keyring.workspace_id.hex() == ws.id
    assert json.loads((home / "keys" / "keyring.json").read_text())["workspace_id"] == ws.id
    seal(ws, OID_A, b"x")
    shard = home / "keys" / "data" / OID_A.hex()[:2]
    assert mode(shard) == 0o700
    assert mode(shard / f"{OID_A.hex()}.json") == 0o600
    assert mode(home / ".lock") == 0o600


def test_data_key_folder_is_private(ws: Workspace) -> None:
    old_umask = os.umask(0o022)
    try:
        seal(ws, OID_A, b"x")
    finally:
        os.umask(old_umask)
    assert mode(ws.home / "keys" / "data") == 0o700


def test_init_refuses_an_existing_workspace(ws: Workspace, settings: Settings, home: Path) -> None:
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    with pytest.raises(AlreadyExists):
        Workspace.init(settings=settings)
    with pytest.raises(AlreadyExists):
        Workspace.init(home, settings=Settings(home=home, passphrase="pw-long-enough"), kdf=cheap())
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    assert Workspace.open(settings=settings).id == ws.id


def test_init_refuses_a_non_empty_folder(home: Path, settings: Settings) -> None:
    home.mkdir()
    (home / "data.csv").write_text("a,b\n")
    with pytest.raises(AlreadyExists):
        Workspace.init(settings=settings)
    assert sorted(p.name for p in home.iterdir()) == ["data.csv"]
    assert (home / "data.csv").read_text() == "a,b\n"


def test_init_refuses_a_file(home: Path, settings: Settings) -> None:
    home.write_text("not a folder")
    with pytest.raises(AlreadyExists):
        Workspace.init(settings=settings)
    assert home.read_text() == "not a folder"


def test_init_in_an_empty_folder(home: Path, settings: Settings) -> None:
    home.mkdir(mode=0o755)
    Workspace.init(settings=settings)
    assert mode(home) == 0o700


def test_default_home_from_mlwarden_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "from-env"
    monkeypatch.setenv("MLWARDEN_HOME", str(target))
    monkeypatch.setenv("MLWARDEN_MASTER_KEY", KEY_B64)
    ws = Workspace.init()
    assert ws.home == target
    assert (target / "workspace.json").is_file()
    assert ws.keys.master_kind == "env"
    assert Workspace.open().id == ws.id


def test_default_home_is_dot_mlwarden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Workspace.init(passphrase="pw-long-enough", kdf=cheap())
    assert (tmp_path / ".mlwarden" / "workspace.json").is_file()
    Workspace.open(passphrase="pw-long-enough")


def test_home_from_settings_and_explicit_home_wins(tmp_path: Path) -> None:
    ws = Workspace.init(settings=Settings(home=tmp_path / "a", master_key=KEY_B64))
    assert ws.home == tmp_path / "a"
    other = Workspace.init(tmp_path / "b", settings=Settings(home=tmp_path / "a", master_key=KEY_B64))
    assert other.home == tmp_path / "b"
    assert (tmp_path / "b" / "workspace.json").is_file()
    assert Workspace.open(tmp_path / "b", settings=Settings(home=tmp_path / "a", master_key=KEY_B64)).id == other.id


# -- key sources --------------------------------------------------------------------------------


def test_env_key_source_is_chosen_when_the_master_key_is_set(home: Path) -> None:
    # Even with a passphrase available, a set MLWARDEN_MASTER_KEY picks the env source.
    ws = Workspace.init(settings=Settings(home=home, master_key=KEY_B64, passphrase="pw-long-enough"))
    assert ws.keys.master_kind == "env"
    keyring = json.loads((home / "keys" / "keyring.json").read_text())
    assert keyring["master"]["kind"] == "env"
    assert "kdf" not in keyring["master"]


def test_env_key_source_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWARDEN_MASTER_KEY", KEY_B64)
    assert Workspace.init(home).keys.master_kind == "env"
    assert Workspace.open(home).keys.master_kind == "env"
    monkeypatch.setenv("MLWARDEN_MASTER_KEY", OTHER_KEY_B64)
    with pytest.raises(AccessDenied, match="MLWARDEN_MASTER_KEY"):
        Workspace.open(home)
    monkeypatch.delenv("MLWARDEN_MASTER_KEY")
    with pytest.raises(BadInput, match="MLWARDEN_MASTER_KEY"):
        Workspace.open(home)


def test_explicit_key_source_overrides_the_default(home: Path) -> None:
    ws = Workspace.init(
        settings=Settings(home=home, master_key=KEY_B64),
        key_source="passphrase",
        passphrase="pw-long-enough",
        kdf=cheap(),
    )
    assert ws.keys.master_kind == "passphrase"
    # Opening follows the keyring, not the environment.
    assert Workspace.open(settings=Settings(home=home, master_key=KEY_B64, passphrase="pw-long-enough")).id == ws.id


def test_env_key_source_without_a_key(home: Path) -> None:
    with pytest.raises(BadInput, match="MLWARDEN_MASTER_KEY"):
        Workspace.init(settings=Settings(home=home), key_source="env")
    assert not (home / "workspace.json").exists()


def test_unknown_key_source(home: Path) -> None:
    with pytest.raises(BadInput, match="kms"):
        Workspace.init(settings=Settings(home=home, master_key=KEY_B64), key_source="kms")
    assert not (home / "workspace.json").exists()


def test_open_a_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        Workspace.open(settings=Settings(home=tmp_path / "nothing", master_key=KEY_B64))
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotFound):
        Workspace.open(settings=Settings(home=tmp_path / "file", master_key=KEY_B64))
    (tmp_path / "half" / "keys").mkdir(parents=True)
    with pytest.raises(NotFound):
        Workspace.open(settings=Settings(home=tmp_path / "half", master_key=KEY_B64))


def test_passphrase_from_settings(home: Path) -> None:
    ws = Workspace.init(settings=Settings(home=home, passphrase="from settings"), kdf=cheap())
    assert ws.keys.master_kind == "passphrase"
    assert Workspace.open(settings=Settings(home=home, passphrase="from settings")).id == ws.id
    with pytest.raises(AccessDenied, match="wrong passphrase or damaged keyring"):
        Workspace.open(settings=Settings(home=home, passphrase="something else"))


def test_passphrase_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWARDEN_PASSPHRASE", "from env")
    ws = Workspace.init(home, kdf=cheap())
    assert Workspace.open(home).id == ws.id
    assert Workspace.open(home, passphrase="from env").id == ws.id


def test_explicit_passphrase_wins_over_settings_and_prompt(home: Path) -> None:
    asked: list[bool] = []

    def prompt(new: bool) -> str:
        asked.append(new)
        return "from prompt"

    ws = Workspace.init(
        settings=Settings(home=home, passphrase="from settings"), passphrase="explicit", prompt=prompt, kdf=cheap()
    )
    opened = Workspace.open(
        settings=Settings(home=home, passphrase="from settings"), passphrase="explicit", prompt=prompt
    )
    assert opened.id == ws.id
    assert asked == []
    with pytest.raises(AccessDenied):
        Workspace.open(settings=Settings(home=home, passphrase="explicit!"), prompt=prompt)
    assert asked == []  # settings win over the prompt


def test_passphrase_from_a_prompt(home: Path) -> None:
    asked: list[bool] = []

    def prompt(new: bool) -> str:
        asked.append(new)
        return "typed passphrase"

    ws = Workspace.init(settings=Settings(home=home), prompt=prompt, kdf=cheap())
    assert asked == [True]  # a new passphrase (the CLI asks for confirmation)
    opened = Workspace.open(settings=Settings(home=home), prompt=prompt)
    assert asked == [True, False]
    assert opened.id == ws.id


def test_prompt_is_not_called_for_an_env_workspace(home: Path) -> None:
    def prompt(new: bool) -> str:
        raise AssertionError("no passphrase is needed")

    Workspace.init(settings=Settings(home=home, master_key=KEY_B64), prompt=prompt)
    Workspace.open(settings=Settings(home=home, master_key=KEY_B64), prompt=prompt)


def test_no_passphrase_at_all(home: Path) -> None:
    with pytest.raises(BadInput, match="passphrase"):
        Workspace.init(settings=Settings(home=home), kdf=cheap())
    assert not (home / "workspace.json").exists()
    other = home.parent / "other"
    Workspace.init(settings=Settings(home=other, passphrase="pw-long-enough"), kdf=cheap())
    with pytest.raises(BadInput, match="passphrase"):
        Workspace.open(settings=Settings(home=other))
    with pytest.raises(BadInput, match="passphrase"):
        Workspace.open(settings=Settings(home=other), passphrase="")


def test_a_failed_init_can_be_retried(home: Path) -> None:
    with pytest.raises(BadInput):
        Workspace.init(settings=Settings(home=home), kdf=cheap())
    ws = Workspace.init(settings=Settings(home=home, passphrase="pw-long-enough"), kdf=cheap())
    assert ws.home == home


def test_a_failed_env_init_can_be_retried(home: Path) -> None:
    with pytest.raises(BadInput):
        Workspace.init(settings=Settings(home=home, master_key="not base64!"))
    Workspace.init(settings=Settings(home=home, master_key=KEY_B64))


# -- damaged workspaces ------------------------------------------------------------------------------


def test_keyring_of_another_workspace_is_refused(tmp_path: Path) -> None:
    a = Workspace.init(settings=Settings(home=tmp_path / "a", master_key=KEY_B64))
    Workspace.init(settings=Settings(home=tmp_path / "b", master_key=KEY_B64))
    (tmp_path / "a" / "keys" / "keyring.json").write_bytes((tmp_path / "b" / "keys" / "keyring.json").read_bytes())
    with pytest.raises(IntegrityError, match="another workspace"):
        Workspace.open(settings=Settings(home=tmp_path / "a", master_key=KEY_B64))
    assert a.id


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", IntegrityError),
        (b"{", IntegrityError),
        (b"[]", IntegrityError),
        (b'{"format": "other", "version": 1, "id": "00"}', IntegrityError),
        (b'{"format": "mlwarden-workspace", "version": 1}', IntegrityError),
        (b'{"format": "mlwarden-workspace", "version": 3, "id": "00", "created": "x"}', BadInput),
    ],
)
def test_damaged_workspace_file(ws: Workspace, settings: Settings, content: bytes, error: type[Exception]) -> None:
    (ws.home / "workspace.json").write_bytes(content)
    with pytest.raises(error):
        Workspace.open(settings=settings)


def test_missing_keyring_says_restore_it_not_init(ws: Workspace, settings: Settings) -> None:
    # Regression: it said "create a workspace with `mlwarden init`", which refuses the folder.
    (ws.home / "keys" / "keyring.json").unlink()
    with pytest.raises(IntegrityError, match=r"keyring .*keyring\.json.* is missing; restore it from a backup"):
        Workspace.open(settings=settings)


def test_missing_workspace_json_says_restore_it_not_init(ws: Workspace, settings: Settings) -> None:
    # Regression: it said "no workspace ...; create one with `mlwarden init`", which refuses the folder.
    (ws.home / "workspace.json").unlink()
    with pytest.raises(IntegrityError, match=r"workspace\.json is missing.*restore workspace\.json from a backup"):
        Workspace.open(settings=settings)
    with pytest.raises(AlreadyExists):
        Workspace.init(settings=settings)


@pytest.mark.parametrize("name", ["workspace.json", "keys/keyring.json", "keys/admin.token"])
@pytest.mark.parametrize("how", ["folder", "unreadable"])
def test_an_unreadable_workspace_file_is_exit_3(ws: Workspace, settings: Settings, name: str, how: str) -> None:
    # Regression: some of these were exit 2 (a raw OSError), others exit 3.
    path = ws.home / name
    if how == "folder":
        path.unlink()
        path.mkdir()
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        path.chmod(0)
    ws.close()
    with pytest.raises(IntegrityError, match=r"cannot read .*; check its permissions or restore it from a backup") as e:
        Workspace.open(settings=settings)
    assert e.value.exit_code == 3


# -- objects and files -----------------------------------------------------------------------------


def test_seal_open_shred_objects(ws: Workspace, settings: Settings) -> None:
    sealed_a = seal(ws, OID_A, b"alpha" * 1000)
    sealed_b = seal(ws, OID_B, b"")
    assert unseal(ws, OID_A, sealed_a) == b"alpha" * 1000
    assert unseal(ws, OID_B, sealed_b) == b""
    with pytest.raises(IntegrityError):
        unseal(ws, OID_B, sealed_a)  # the ciphertext of A is not B's
    with pytest.raises(AlreadyExists):
        seal(ws, OID_A, b"again")
    assert unseal(ws, OID_A, sealed_a) == b"alpha" * 1000
    with pytest.raises(NotFound):
        unseal(ws, OID_C, sealed_a)

    ws.files.shred_object(OID_A)
    with pytest.raises(Shredded, match=ws.principal.name):
        unseal(ws, OID_A, sealed_a)
    with pytest.raises(Shredded):
        ws.files.shred_object(OID_A)
    with pytest.raises(NotFound):
        ws.files.shred_object(OID_C)
    record = ws._data_keys.record(OID_A)
    assert record.shredded_by == ws.principal.name  # the acting principal, from its token
    # Another handle sees the same state.
    reopened = Workspace.open(settings=settings)
    with pytest.raises(Shredded):
        unseal(reopened, OID_A, sealed_a)
    assert unseal(reopened, OID_B, sealed_b) == b""


def test_encrypt_decrypt_files(ws: Workspace, settings: Settings, tmp_path: Path) -> None:
    plaintext = os.urandom(70_000)
    ciphertext = encrypt(ws, plaintext)
    assert decrypt(ws, ciphertext) == plaintext
    assert decrypt(Workspace.open(settings=settings), ciphertext) == plaintext
    other = Workspace.init(settings=Settings(home=tmp_path / "other", master_key=KEY_B64))
    with pytest.raises(AccessDenied, match="not this one"):
        decrypt(other, ciphertext)


# -- keys ------------------------------------------------------------------------------------------


def test_key_versions_counts(ws: Workspace) -> None:
    assert [(v.version, v.primary, v.data_keys) for v in ws.keys.versions()] == [(1, True, 0)]
    for oid in (OID_A, OID_B, OID_C):
        seal(ws, oid, oid)
    assert [(v.version, v.primary, v.data_keys) for v in ws.keys.versions()] == [(1, True, 3)]
    ws.files.shred_object(OID_C)
    assert [(v.version, v.primary, v.data_keys) for v in ws.keys.versions()] == [(1, True, 2)]
    ws._keyring.add_version()  # a version without a rewrap
    assert [(v.version, v.primary, v.data_keys) for v in ws.keys.versions()] == [(1, False, 2), (2, True, 0)]
    encrypt(ws, b"a file's data key is recorded too")
    assert [(v.version, v.primary, v.data_keys) for v in ws.keys.versions()] == [(1, False, 2), (2, True, 1)]
    assert all(isinstance(v, KeyVersionInfo) for v in ws.keys.versions())


def test_rotate_keys(ws: Workspace, settings: Settings) -> None:
    sealed = {oid: seal(ws, oid, oid * 10) for oid in (OID_A, OID_B, OID_C)}
    ws.files.shred_object(OID_C)
    ticks: list[int] = []
    rotation = ws.keys.rotate(progress=ticks.append)
    assert rotation == Rotation(new_version=2, rewrapped=2)
    assert len(ticks) == 3
    assert [(v.version, v.primary, v.data_keys) for v in ws.keys.versions()] == [(1, False, 0), (2, True, 2)]
    for oid in (OID_A, OID_B):
        assert unseal(ws, oid, sealed[oid]) == oid * 10
        assert ws._data_keys.record(oid).kek_version == 2
    with pytest.raises(Shredded):
        unseal(ws, OID_C, sealed[OID_C])
    assert ws.keys.rotate() == Rotation(new_version=3, rewrapped=2)
    reopened = Workspace.open(settings=settings)
    assert reopened.keys.primary == 3
    assert [(v.version, v.data_keys) for v in reopened.keys.versions()] == [(1, 0), (2, 0), (3, 2)]
    # New objects go under the new primary.
    seal(reopened, bytes(16), b"new")
    assert reopened._data_keys.record(bytes(16)).kek_version == 3


def test_destroy_key_version_refuses_the_primary(ws: Workspace) -> None:
    with pytest.raises(BadInput, match="primary"):
        ws.keys.destroy_version(1)
    with pytest.raises(NotFound):
        ws.keys.destroy_version(2)


def test_destroy_key_version(ws: Workspace, settings: Settings) -> None:
    sealed = {oid: seal(ws, oid, oid) for oid in (OID_A, OID_B)}
    registered = encrypt(ws, b"file recorded in the workspace")
    unregistered = io.BytesIO()
    encrypt_envelope(ws._keyring, io.BytesIO(b"header-only file"), unregistered)

    ws._keyring.add_version()  # v2 primary, but every data key is still under v1
    with pytest.raises(BadInput, match="still wraps 3 data keys"):
        ws.keys.destroy_version(1)
    assert [v.version for v in ws._keyring.versions()] == [1, 2]

    assert ws.keys.rotate() == Rotation(3, 3)
    ws.keys.destroy_version(1)
    ws.keys.destroy_version(2)
    with pytest.raises(NotFound):
        ws.keys.destroy_version(1)
    with pytest.raises(NotFound):
        ws.keys.destroy_version(42)
    with pytest.raises(BadInput, match=r"primary|still wraps"):
        ws.keys.destroy_version(3)
    assert [(v.version, v.data_keys) for v in ws.keys.versions()] == [(3, 3)]

    for handle in (ws, Workspace.open(settings=settings)):
        # A file whose data key only its header holds (under v1) is gone with v1...
        with pytest.raises(AccessDenied):
            decrypt(handle, unregistered.getvalue())
        # ...while recorded keys were rewrapped by the rotation and keep working.
        assert decrypt(handle, registered) == b"file recorded in the workspace"
        for oid, blob in sealed.items():
            assert unseal(handle, oid, blob) == oid
    assert decrypt(ws, encrypt(ws, b"new")) == b"new"


def test_shred_file(ws: Workspace, settings: Settings) -> None:
    ciphertext = encrypt(ws, b"secret file")
    keep = encrypt(ws, b"other file")
    assert ws.files.shred(io.BytesIO(ciphertext)) == ciphertext[28:44]
    for handle in (ws, Workspace.open(settings=settings)):
        with pytest.raises(Shredded, match=ws.principal.name):
            decrypt(handle, ciphertext)
    with pytest.raises(Shredded):
        ws.files.shred(io.BytesIO(ciphertext))
    assert decrypt(ws, keep) == b"other file"
    assert ws._data_keys.record(ciphertext[28:44]).shredded_by == ws.principal.name


def test_shred_file_refuses_a_tampered_file(ws: Workspace) -> None:
    victim = encrypt(ws, b"must survive")
    attacker = bytearray(encrypt(ws, b"attacker's own file"))
    # A header naming the victim's object id, over another file's payload: nothing may be shredded.
    forged = bytes(attacker[:28]) + victim[28:44] + bytes(attacker[44:])
    with pytest.raises(IntegrityError):
        ws.files.shred(io.BytesIO(forged))
    damaged = bytearray(victim)
    damaged[-3] ^= 1
    with pytest.raises(IntegrityError):
        ws.files.shred(io.BytesIO(bytes(damaged)))
    assert decrypt(ws, victim) == b"must survive"
    assert ws._data_keys.record(victim[28:44]).shredded is None


def test_shred_file_of_another_workspace(ws: Workspace, tmp_path: Path) -> None:
    other = Workspace.init(settings=Settings(home=tmp_path / "other", master_key=KEY_B64))
    ciphertext = encrypt(other, b"theirs")
    with pytest.raises(AccessDenied):
        ws.files.shred(io.BytesIO(ciphertext))
    assert decrypt(other, ciphertext) == b"theirs"


def test_shredded_file_stays_gone_after_destroying_its_header_version(ws: Workspace, settings: Settings) -> None:
    ciphertext = encrypt(ws, b"secret file")
    object_id = ciphertext[28:44]
    ws.files.shred(io.BytesIO(ciphertext))
    ws.keys.rotate()
    ws.keys.destroy_version(1)
    # Even with the tombstone lost, the header's own wrap (under v1) no longer opens.
    (ws.home / "keys" / "data" / object_id.hex()[:2] / f"{object_id.hex()}.json").unlink()
    with pytest.raises(AccessDenied):
        decrypt(Workspace.open(settings=settings), ciphertext)


def test_destroy_after_shredding_a_key_makes_a_surviving_copy_useless(ws: Workspace, settings: Settings) -> None:
    sealed = seal(ws, OID_A, b"secret")
    record = ws.home / "keys" / "data" / OID_A.hex()[:2] / f"{OID_A.hex()}.json"
    backup = record.read_bytes()  # a copy the filesystem might have kept
    ws.files.shred_object(OID_A)
    ws.keys.rotate()
    ws.keys.destroy_version(1)
    record.write_bytes(backup)
    with pytest.raises(AccessDenied):
        unseal(Workspace.open(settings=settings), OID_A, sealed)


def test_no_secrets_in_reprs(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws", passphrase="hunter2-passphrase", master_key=KEY_B64)
    ws = Workspace.init(settings=settings)
    for text in (repr(settings), repr(ws), repr(ws._keyring), repr(ws._data_keys)):
        assert "hunter2" not in text
        assert KEY_B64 not in text
        assert KEY_B64[:12] not in text


# -- several handles and processes ---------------------------------------------------------------------


def test_a_second_handle_sees_rotation_when_it_seals(settings: Settings, ws: Workspace) -> None:
    other = Workspace.open(settings=settings)
    other.keys.rotate()
    seal(ws, OID_A, b"after")  # seal takes the lock and reloads the keyring
    assert ws._data_keys.record(OID_A).kek_version == 2


def test_a_stale_handle_opens_objects_after_another_rotates(settings: Settings, ws: Workspace) -> None:
    other = Workspace.open(settings=settings)
    sealed = seal(ws, OID_A, b"payload")
    other.keys.rotate()
    assert unseal(ws, OID_A, sealed) == b"payload"


def test_a_stale_handle_decrypts_files_after_another_rotates(settings: Settings, ws: Workspace) -> None:
    other = Workspace.open(settings=settings)
    ciphertext = encrypt(ws, b"payload")
    other.keys.rotate()
    assert decrypt(ws, ciphertext) == b"payload"


def test_a_stale_handle_does_not_encrypt_under_a_destroyed_version(settings: Settings, ws: Workspace) -> None:
    other = Workspace.open(settings=settings)
    other.keys.rotate()
    other.keys.destroy_version(1)
    ciphertext = encrypt(ws, b"important")
    assert decrypt(Workspace.open(settings=settings), ciphertext) == b"important"


WORKER = textwrap.dedent(
    """
    import io, os, sys, time
    from pathlib import Path
    from mlwarden import Workspace
    from mlwarden.config import Settings

    role, home, out, count = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    ws = Workspace.open(settings=Settings(home=home, master_key=os.environ["MLWARDEN_MASTER_KEY"]))
    go = out.parent / "go"
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    if role == "seal":
        for _ in range(count):
            oid = os.urandom(16)
            sealed = io.BytesIO()
            ws.files.seal_object(oid, io.BytesIO(oid * 7), sealed)
            (out / oid.hex()).write_bytes(sealed.getvalue())
            encrypted = io.BytesIO()
            ws.files.encrypt(io.BytesIO(oid * 3), encrypted)
            (out / (oid.hex() + ".mlw")).write_bytes(encrypted.getvalue())
        (out.parent / f"done-{os.getpid()}").touch()
    else:
        # Rotate at least ``count`` times and until both sealers are done, so rotations overlap
        # the whole sealing window.
        done = 0
        while done < count or (len(list(out.parent.glob("done-*"))) < 2 and time.monotonic() < deadline):
            rotation = ws.keys.rotate()
            print(rotation.new_version, rotation.rewrapped, flush=True)
            done += 1
    """
)


def test_concurrent_sealing_and_rotation(tmp_path: Path, settings: Settings, ws: Workspace) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "sealed"
    out.mkdir()
    env = {**os.environ, "MLWARDEN_MASTER_KEY": KEY_B64}
    per_sealer, min_rotations = 25, 5

    def start(role: str, count: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(script), role, str(settings.home), str(out), str(count)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    workers = [start("seal", per_sealer), start("seal", per_sealer), start("rotate", min_rotations)]
    time.sleep(0.3)
    (tmp_path / "go").touch()
    results = [w.communicate(timeout=60) for w in workers]
    for worker, (_stdout, stderr) in zip(workers, results, strict=True):
        assert worker.returncode == 0, stderr

    versions = [int(line.split()[0]) for line in results[2][0].splitlines()]
    rotations = len(versions)
    assert rotations >= min_rotations
    assert versions == list(range(2, 2 + rotations))

    fresh = Workspace.open(settings=settings)
    objects = sorted(p for p in out.iterdir() if p.suffix != ".mlw")
    files = sorted(p for p in out.iterdir() if p.suffix == ".mlw")
    assert len(objects) == len(files) == 2 * per_sealer
    for path in objects:
        oid = bytes.fromhex(path.name)
        assert unseal(fresh, oid, path.read_bytes()) == oid * 7
    for path in files:
        assert decrypt(fresh, path.read_bytes()) == bytes.fromhex(path.stem) * 3
    # Every data key was made either before a rotation (and rewrapped by it) or after (under the
    # new primary): all live data keys are under the final primary version.
    total = 4 * per_sealer
    primary = fresh.keys.primary
    assert primary == 1 + rotations
    assert fresh._data_keys.count_by_version() == {primary: total}
    assert ws.keys.rotate() == Rotation(primary + 1, total)


def test_a_damaged_keyring_is_not_called_only_a_wrong_passphrase(home: Path) -> None:
    # Regression: a keyring whose wrapped key was changed was reported as "wrong passphrase" only.
    settings = Settings(home=home, passphrase="the right one")
    Workspace.init(settings=settings, kdf=cheap()).close()
    path = home / "keys" / "keyring.json"
    doc = json.loads(path.read_text())
    wrapped = bytearray(base64.b64decode(doc["keys"][0]["wrapped"]))
    wrapped[-1] ^= 1
    doc["keys"][0]["wrapped"] = base64.b64encode(bytes(wrapped)).decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(AccessDenied, match="wrong passphrase or damaged keyring") as refused:
        Workspace.open(settings=settings)
    assert "restore keys/keyring.json from a backup" in str(refused.value)
