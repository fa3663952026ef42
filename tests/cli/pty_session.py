"""Running ``mlwarden`` on a pseudo-terminal, as a user at a shell would (prompts, progress bars)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _take_terminal() -> None:
    """In the child: start a session and make stdin (the pty) its controlling terminal, for getpass."""
    import fcntl
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_on_pty(
    args: Sequence[str],
    env: dict[str, str],
    *,
    answers: Sequence[bytes] = (),
    cwd: Path | None = None,
    timeout: float = 20,
) -> tuple[int, str]:
    """Run ``mlwarden ARGS`` with stdin and stderr on a pseudo-terminal, 100 columns wide.

    Prompts (text ending in ``": "``) are answered with ``answers`` in order. Returns the exit
    code and what appeared on the terminal followed by stdout.
    """
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", *args],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        cwd=cwd,
        env={**env, "COLUMNS": "100"},
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
