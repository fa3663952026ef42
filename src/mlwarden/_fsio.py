"""Durable, atomic file writes and private directories.

Every file mlwarden writes goes through here: the bytes land in a temporary file in the same
directory, are fsynced, renamed over the target, and the directory is fsynced, so a crash at any
moment leaves either the old file or the new one, never a mix. Files are created 0600 unless the
caller asks otherwise; directories holding secrets are 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_create", "atomic_output", "atomic_write", "file_lock", "fsync_dir", "private_dir"]


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> None:
    """Create ``path`` (and any missing parents, all 0700) and make sure ``path`` itself is 0700."""
    missing = []
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    os.chmod(path, 0o700)


@contextlib.contextmanager
def atomic_output(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Write a file atomically: yields a file object; on normal exit the file replaces ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    with atomic_output(path, mode) as handle:
        handle.write(data)


def atomic_create(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` with ``data`` atomically and durably; FileExistsError if it exists already.

    Unlike :func:`atomic_write` this never replaces a file, even one created a moment ago by a
    concurrent writer: the complete temporary file is hard-linked into place, which fails if the
    name is taken.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(directory)


@contextlib.contextmanager
def file_lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``path`` (created 0600 if missing) for the ``with`` block."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
