"""What a person at a terminal sees: the passphrase prompt and the progress bar (driven through a pty)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env["MLWARDEN_HOME"] = str(home)
    env["COLUMNS"] = "100"
    return env


def _take_terminal() -> None:
    """In the child: start a session and make stdin (the pty) its controlling terminal, for getpass."""
    import fcntl
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _run_on_pty(args: list[str], env: dict[str, str], answers: list[bytes], timeout: float = 20) -> tuple[int, str]:
    """Run ``mlwarden ARGS`` with stdin and stderr on a pseudo-terminal; answer prompts in order."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", *args],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
        close_fds=True,
        preexec_fn=_take_terminal,  # the child must own the pty, as a shell would give it one
    )
    os.close(terminal)
    seen = b""
    since_answer = b""  # what appeared after the last answer: a prompt ends with ": " and no newline
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                since_answer += chunk
                if pending and since_answer.endswith(b": "):
                    # getpass flushes type-ahead, so answer only once the prompt is on screen.
                    os.write(controller, pending.pop(0))
                    since_answer = b""
            elif proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.returncode, seen.decode(errors="replace") + out


def test_passphrase_is_prompted_twice_at_init_and_once_after(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "ws")
    code, screen = _run_on_pty(["init"], env, [b"a terminal passphrase\n", b"a terminal passphrase\n"])
    assert code == 0, screen
    assert "New workspace passphrase" in screen
    assert "created workspace" in screen
    assert "a terminal passphrase" not in screen  # typed input is not echoed

    code, screen = _run_on_pty(["keys", "ls"], env, [b"a terminal passphrase\n"])
    assert code == 0, screen
    assert "primary" in screen

    code, screen = _run_on_pty(["keys", "ls"], env, [b"not the passphrase\n"])
    assert code == 3, screen
    assert "wrong passphrase" in screen


def test_mismatched_confirmation_is_asked_again(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "ws")
    answers = [b"first passphrase\n", b"second passphrase\n", b"final passphrase\n", b"final passphrase\n"]
    code, screen = _run_on_pty(["init"], env, answers)
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
    code, screen = _run_on_pty(["encrypt", str(big), "-o", str(tmp_path / "big.mlw")], env, [])
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
