"""`mlwarden init --kdf`: the chosen KDF is recorded with its parameters and used to unlock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("kdf", "fields"), [("argon2id", {"memory_kib", "iterations", "lanes"}), ("scrypt", {"log2_n", "r", "p"})]
)
def test_init_records_the_chosen_kdf(tmp_path: Path, kdf: str, fields: set[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(MLWARDEN_HOME=str(tmp_path / "ws"), MLWARDEN_PASSPHRASE="a kdf test passphrase")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "mlwarden", *args], env={**env, **extra}, capture_output=True)

    assert run("init", "--kdf", kdf).returncode == 0
    stored = json.loads((tmp_path / "ws" / "keys" / "keyring.json").read_text())["master"]["kdf"]
    assert stored["name"] == kdf
    assert fields <= set(stored)
    assert run("keys", "ls").returncode == 0
    assert run("keys", "ls", MLWARDEN_PASSPHRASE="another passphrase").returncode == 3
    bad = run("init", "--kdf", "pbkdf2", MLWARDEN_HOME=str(tmp_path / "other"))
    assert bad.returncode == 2
    assert not (tmp_path / "other").exists()
