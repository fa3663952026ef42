"""Special files of a test's own for output tests: a FIFO read by a thread, a pty's slave device.

Never a system device: a regression that renamed over its target would replace only these.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import tty
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def fifo_reader(path: Path) -> Iterator[list[bytes]]:
    """A FIFO at ``path`` and a thread reading it to the end; yields the list it appends to.

    On exit the reader is joined and the FIFO must still be a FIFO (nothing was renamed over it).
    """
    os.mkfifo(path)
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fifo:
            got.append(fifo.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield got
    finally:
        # A reader still waiting for a writer (the write was refused) is let go.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=60)
        assert not reader.is_alive()
        assert stat.S_ISFIFO(path.lstat().st_mode), "the FIFO was replaced"


@contextlib.contextmanager
def pty_device() -> Iterator[tuple[Path, list[bytes]]]:
    """A pty's slave (a character device of our own, raw) and what arrives at its master."""
    master, slave = os.openpty()
    tty.setraw(slave)
    got: list[bytes] = []

    def drain() -> None:
        with contextlib.suppress(OSError):  # EIO once no slave descriptor is left
            while chunk := os.read(master, 1 << 16):
                got.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    path = Path(os.ttyname(slave))
    try:
        yield path, got
    finally:
        os.close(slave)
        reader.join(timeout=60)
        os.close(master)
