"""Changing the master key (a new passphrase, or a move between passphrase and env key)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlwarden import AccessDenied, BadInput, Workspace
from mlwarden.config import Settings
from mlwarden.crypto import new_params

CHEAP = new_params("argon2id", memory_kib=1024, iterations=1, lanes=1)


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _roundtrip_file(ws: Workspace) -> bytes:
    return ws.files.encrypt_bytes(b"rows that must survive")


def _read(ws: Workspace, blob: bytes) -> bytes:
    return ws.files.decrypt_bytes(blob)


def test_new_passphrase_replaces_the_old(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = Workspace.init(home, settings=Settings(home=home, passphrase="old passphrase"), kdf=CHEAP)
    ws.keys.rotate()
    blob = _roundtrip_file(ws)
    ws.keys.change_master("passphrase", passphrase="new passphrase", kdf=CHEAP)
    with pytest.raises(AccessDenied, match="wrong passphrase"):
        Workspace.open(home, settings=Settings(home=home, passphrase="old passphrase"))
    reopened = Workspace.open(home, settings=Settings(home=home, passphrase="new passphrase"))
    assert _read(reopened, blob) == b"rows that must survive"
    assert [v.version for v in reopened.keys.versions()] == [1, 2]


def test_passphrase_to_env_and_back(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = Workspace.init(home, settings=Settings(home=home, passphrase="old passphrase"), kdf=CHEAP)
    blob = _roundtrip_file(ws)
    key = _key()
    with pytest.raises(BadInput, match="MLWARDEN_NEW_MASTER_KEY"):
        ws.keys.change_master("env", settings=Settings(home=home))
    ws.keys.change_master("env", settings=Settings(home=home, new_master_key=key))
    with pytest.raises(BadInput, match="unlocked by MLWARDEN_MASTER_KEY"):
        Workspace.open(home, settings=Settings(home=home, passphrase="old passphrase"))
    by_env = Workspace.open(home, settings=Settings(home=home, master_key=key))
    assert _read(by_env, blob) == b"rows that must survive"
    by_env.keys.change_master("passphrase", settings=Settings(home=home, new_passphrase="third passphrase"), kdf=CHEAP)
    again = Workspace.open(home, settings=Settings(home=home, passphrase="third passphrase"))
    assert _read(again, blob) == b"rows that must survive"


def test_interrupted_change_keeps_the_old_master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    key = _key()
    ws = Workspace.init(home, settings=Settings(home=home, master_key=key))
    blob = _roundtrip_file(ws)

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        ws.keys.change_master("env", settings=Settings(home=home, new_master_key=_key()))
    monkeypatch.undo()
    assert _read(Workspace.open(home, settings=Settings(home=home, master_key=key)), blob) == b"rows that must survive"


def test_cli_change_master(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    old, new = _key(), _key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(MLWARDEN_HOME=str(home), MLWARDEN_MASTER_KEY=old)

    def run(*args: str, stdin: int | None = None, **extra: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "mlwarden", *args]
        return subprocess.run(command, env={**env, **extra}, capture_output=True, stdin=stdin)

    assert run("init").returncode == 0
    (tmp_path / "plain").write_bytes(b"abc" * 1000)
    assert run("encrypt", str(tmp_path / "plain"), "-o", str(tmp_path / "sealed")).returncode == 0
    missing = run("keys", "change-master")
    assert missing.returncode == 2
    assert b"MLWARDEN_NEW_MASTER_KEY" in missing.stderr
    # Regression: without a terminal, the passphrase it asked for was named MLWARDEN_PASSPHRASE.
    no_terminal = run("keys", "change-master", "--key-source", "passphrase", stdin=subprocess.DEVNULL)
    assert no_terminal.returncode == 2
    assert b"set MLWARDEN_NEW_PASSPHRASE or run in a terminal" in no_terminal.stderr, no_terminal.stderr
    assert run("keys", "change-master", MLWARDEN_NEW_MASTER_KEY=new).returncode == 0
    assert run("keys", "ls").returncode == 3
    done = run("decrypt", str(tmp_path / "sealed"), "-o", str(tmp_path / "back"), MLWARDEN_MASTER_KEY=new)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "back").read_bytes() == b"abc" * 1000
    moved = run(
        "keys",
        "change-master",
        "--key-source",
        "passphrase",
        MLWARDEN_MASTER_KEY=new,
        MLWARDEN_NEW_PASSPHRASE="a brand new passphrase",
    )
    assert moved.returncode == 0, moved.stderr
    assert run("keys", "ls", MLWARDEN_PASSPHRASE="a brand new passphrase").returncode == 0
