"""What a person at a terminal sees: the passphrase prompt and the progress bar (driven through a pty)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pty_session import run_on_pty


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env["MLWARDEN_HOME"] = str(home)
    return env


def test_passphrase_is_prompted_twice_at_init_and_once_after(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "ws")
    code, screen = run_on_pty(["init"], env, answers=[b"a terminal passphrase\n", b"a terminal passphrase\n"])
    assert code == 0, screen
    assert "New workspace passphrase" in screen
    assert "created workspace" in screen
    assert "a terminal passphrase" not in screen  # typed input is not echoed

    code, screen = run_on_pty(["keys", "ls"], env, answers=[b"a terminal passphrase\n"])
    assert code == 0, screen
    assert "primary" in screen

    code, screen = run_on_pty(["keys", "ls"], env, answers=[b"not the passphrase\n"])
    assert code == 3, screen
    assert "wrong passphrase" in screen


def test_mismatched_confirmation_is_asked_again(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "ws")
    answers = [b"first passphrase\n", b"second passphrase\n", b"final passphrase\n", b"final passphrase\n"]
    code, screen = run_on_pty(["init"], env, answers=answers)
    assert code == 0, screen
    assert "do not match" in screen.lower() or "don't match" in screen.lower()


def test_large_file_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "ws")
    env["MLWARDEN_MASTER_KEY"] = "A" * 43 + "="
    subprocess.run([sys.executable, "-m", "mlwarden", "init"], env=env, check=True, capture_output=True)
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(48):
            out.write(os.urandom(1 << 20))
    code, screen = run_on_pty(["encrypt", str(big), "-o", str(tmp_path / "big.mlw")], env)
    assert code == 0, screen
    assert "encrypting" in screen
    assert "MiB" in screen
    # Without a terminal there is no bar: only the one-line summary.
    proc = subprocess.run(
        [sys.executable, "-m", "mlwarden", "decrypt", str(tmp_path / "big.mlw"), "-o", str(tmp_path / "back")],
        env=env,
        capture_output=True,
        check=True,
    )
    assert proc.stderr.decode().count("\n") == 1
    assert (tmp_path / "back").read_bytes() == big.read_bytes()
