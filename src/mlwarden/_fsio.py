"""Durable, atomic file writes and private directories.

Every file mlwarden writes goes through here: the bytes land in a temporary file in the same
directory, are fsynced, renamed over the target, and the directory is fsynced, so a crash at any
moment leaves either the old file or the new one, never a mix. Files are created 0600 unless the
caller asks otherwise; directories holding secrets are 0700.
"""

from __future__ import annotations

import contextlib
import errno
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


def _open_unnamed(directory: Path, mode: int) -> int | None:
    """An unnamed file in ``directory`` (Linux ``O_TMPFILE``), or None where that is unsupported.

    An unnamed file vanishes with the process: a crash in the middle of writing leaves nothing
    behind, not even a partial temporary file (which, for decrypted output, would be plaintext).
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


def _name_unnamed(fd: int, name: Path) -> None:
    """Give an ``O_TMPFILE`` file a name (``linkat`` following the /proc link, as open(2) shows)."""
    dir_fd = os.open(name.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # A dir_fd makes CPython call linkat(AT_SYMLINK_FOLLOW); plain link(2) would not follow.
        os.link(f"/proc/self/fd/{fd}", name.name, dst_dir_fd=dir_fd, follow_symlinks=True)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def atomic_output(path: Path, mode: int = 0o600, *, replace: bool = True) -> Iterator[BinaryIO]:
    """Write a file atomically: yields a file object; on normal exit the file replaces ``path``.

    The bytes go to an unnamed file where the system has them (else to a hidden temporary
    file), which is fsynced, given its name, and the folder fsynced. Replacing an existing
    ``path`` goes through a hidden temporary name and a rename (``linkat`` cannot replace).
    On any exception ``path`` is left as it was and nothing else remains. With
    ``replace=False`` an existing ``path`` is
    never replaced, even one created a moment ago by another process: the complete file is
    linked into place, and ``FileExistsError`` is raised if the name is taken.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = _open_unnamed(directory, mode)
    unnamed = fd is not None
    if fd is None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            linked = False
            if unnamed:
                try:
                    # Straight to its name when that is free: no temporary name ever exists,
                    # so a crash at any instant leaves the whole file or nothing.
                    _name_unnamed(handle.fileno(), path)
                    linked = True
                except FileExistsError:
                    if not replace:
                        raise
                    _name_unnamed(handle.fileno(), tmp)
        if not linked and replace:
            os.replace(tmp, path)
        elif not linked:
            os.link(tmp, path)
            os.unlink(tmp)
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
    concurrent writer: the complete file is linked into place, which fails if the name is taken.
    Like every write here it goes through an unnamed file, so a crash leaves nothing behind.
    """
    with atomic_output(path, mode, replace=False) as handle:
        handle.write(data)


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
