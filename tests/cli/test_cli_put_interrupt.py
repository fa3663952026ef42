"""``mlwarden data put`` interrupted or failing mid-stream: the documented exit, and nothing stored.

The put reads a FIFO this test feeds: once several MiB have gone through, the put is under way (the
hash thread and, for CSV and JSON Lines, the schema parser are running) and blocked on the next read,
and the SIGINT lands there. Before the fix this exited 70 "internal error (Empty)", or for a CSV
aborted the interpreter (``Fatal Python error: PyGILState_Release``, exit 134) or hung.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mlwarden.usecases import german_credit_csv

MLWARDEN = ("-m", "mlwarden")
MiB = 1 << 20
BODY = {
    "binary": (b"", bytes(range(256)) * (MiB // 256)),
    "csv": (b"a,b,c\n", b"1,hello,2.5\n" * (MiB // 12)),
    "jsonl": (b"", b'{"a": 1, "b": "x"}\n' * (MiB // 19)),
}


def stored_files(home: Path) -> list[str]:
    """Object files and data key records: what a put leaves when it stores something."""
    return sorted(
        str(p.relative_to(home)) for d in ("objects", "keys/data") for p in (home / d).rglob("*") if p.is_file()
    )


def _default_sigint() -> None:
    """In the child before exec: SIGINT delivered and handled by default, as in a terminal. A disposition
    of SIG_IGN and a signal mask are inherited across exec, and an earlier test in the same pytest
    worker (an event loop's signal handling, a server run in process) may have left either behind."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("fmt", ["binary", "csv", "jsonl"])
def test_ctrl_c_during_a_put_says_interrupted_and_exits_130(workspace, tmp_path, show, fmt) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "incoming"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, *MLWARDEN, "data", "put", str(fifo), "--name", "d", "--format", fmt],
        cwd=workspace.cli.cwd,
        env=workspace.cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_default_sigint,  # what the child inherits, whatever ran before in this worker
    )

    def unblock() -> None:
        # A put that dies or stalls before reading would leave open() or write() blocked for ever:
        # kill it and open the FIFO's read end, so the test fails instead of hanging.
        proc.kill()
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))

    watchdog = threading.Timer(90, unblock)
    watchdog.start()
    try:
        head, body = BODY[fmt]
        with open(fifo, "wb") as feed:
            feed.write(head)
            for _ in range(6):  # each write returns once the put has read most of it
                feed.write(body)
                feed.flush()
            proc.send_signal(signal.SIGINT)  # the put is under way: it has read most of what was sent
            stdout, stderr = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert proc.returncode == 130, show(result)
    assert stderr.decode().strip() == "mlwarden: interrupted", show(result)
    assert stdout == b""
    assert workspace.ok("data", "ls", "--json").stdout.strip() == b"[]"
    assert stored_files(workspace.home) == []


def test_import_fernet_with_a_wrong_key_exits_3(workspace, write_file, check_error) -> None:  # type: ignore[no-untyped-def]
    token = Fernet(Fernet.generate_key()).encrypt(german_credit_csv().read_bytes())  # more than one read chunk
    write_file("credit.csv.enc", token)
    write_file("wrong.key", Fernet.generate_key())
    proc = workspace.run("data", "import-fernet", "credit.csv.enc", "--key", "wrong.key", "--name", "credit")
    check_error(proc, 3, "Fernet")
    assert workspace.ok("data", "ls", "--json").stdout.strip() == b"[]"
    assert stored_files(workspace.home) == []


def test_import_fernet_of_a_truncated_token_exits_3(workspace, write_file, check_error) -> None:  # type: ignore[no-untyped-def]
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(german_credit_csv().read_bytes())
    write_file("credit.csv.enc", token[: len(token) * 2 // 3])
    write_file("credit.key", key)
    proc = workspace.run("data", "import-fernet", "credit.csv.enc", "--key", "credit.key", "--name", "credit")
    check_error(proc, 3, "Fernet")
    assert workspace.ok("data", "ls", "--json").stdout.strip() == b"[]"
    assert stored_files(workspace.home) == []
