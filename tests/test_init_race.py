"""Two `init`s racing for one folder: the loser never overwrites what the winner wrote."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from mlwarden import AlreadyExists, Workspace
from mlwarden._fsio import atomic_create
from mlwarden.config import Settings
from mlwarden.crypto import Keyring


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_atomic_create_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_create(target, b"first")
    with pytest.raises(FileExistsError):
        atomic_create(target, b"second")
    assert target.read_bytes() == b"first"
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temporary file left behind


def test_init_losing_the_race_leaves_the_winner_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    elsewhere = tmp_path / "winner"
    winner_key, loser_key = _key(), _key()
    Workspace.init(elsewhere, settings=Settings(home=elsewhere, master_key=winner_key))
    winner_keyring = (elsewhere / "keys" / "keyring.json").read_bytes()
    real_create = Keyring.create_with_master.__func__  # type: ignore[attr-defined]

    def racing(cls: type[Keyring], path: Path, *args: object, **kwargs: object) -> Keyring:
        # Another process writes its keyring between our emptiness check and our own write.
        path.write_bytes(winner_keyring)
        return real_create(cls, path, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Keyring, "create_with_master", classmethod(racing))
    with pytest.raises(AlreadyExists, match="same time"):
        Workspace.init(home, settings=Settings(home=home, master_key=loser_key))
    # The loser neither replaced nor removed what the winner wrote.
    assert (home / "keys" / "keyring.json").read_bytes() == winner_keyring
