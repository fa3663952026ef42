"""Durable, atomic file writes and private directories.

Every file mlwarden writes goes through here: the bytes land in a temporary file in the same
directory, are fsynced, renamed over the target, and the directory is fsynced, so a crash at any
moment leaves either the old file or the new one, never a mix. Files are created 0600 unless the
caller asks otherwise; directories holding secrets are 0700.

Outputs a user names (every ``-o``) follow one rule, :func:`open_output`:

==========================  ============================================================
nothing there               created (its folder must exist), atomically as above
a regular file              refused unless ``force``; then replaced atomically (the
                            file a symbolic link points to, not the link)
a FIFO, a character device  written into, as a stream; never renamed over (``-o
                            /dev/null`` must leave /dev/null a device). ``force`` is not
                            needed: nothing is replaced. Bytes reach the reader as they
                            are written, so callers writing plaintext check the whole
                            payload first where they can (:func:`is_stream` tells them)
a folder, a socket, a       refused (:class:`~mlwarden.errors.BadInput`)
block device, a dangling
symbolic link
==========================  ============================================================
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

__all__ = [
    "atomic_create",
    "atomic_output",
    "atomic_write",
    "check_output",
    "file_lock",
    "fsync_dir",
    "is_stream",
    "open_output",
    "private_dir",
    "write_output",
]


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


# -- outputs a user names ------------------------------------------------------------------------

_NEW, _REPLACE, _STREAM = "new", "replace", "stream"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _output_target(
    path: str | os.PathLike[str], *, force: bool, same_as: str | os.PathLike[str] | None
) -> tuple[str, Path]:
    """How :func:`open_output` writes ``path``: ``(new | replace | stream, the path to write)``."""
    from mlwarden.errors import AlreadyExists, BadInput, NotFound

    shown = os.fspath(path)
    target = Path(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        if os.path.lexists(target):
            raise BadInput(f"output {shown} is a symbolic link to nothing; remove it or give another path") from None
        if not target.parent.is_dir():
            raise NotFound(f"the folder of output {shown} does not exist") from None
        return _NEW, target
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return _STREAM, target
    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"output {shown} is a folder; give a file path")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"output {shown} is {_kind(st.st_mode)}; give a regular file, a FIFO or a character device")
    if same_as is not None and os.fspath(same_as) != "-":
        with contextlib.suppress(OSError):
            if os.path.samestat(st, os.stat(same_as)):
                raise BadInput("OUT is the same file as IN; write to another path")
    if not force:
        raise AlreadyExists(f"output {shown} exists; use --force to overwrite it")
    if target.is_symlink():
        # Replace the file the link names (as cp does), never the link: a rename over
        # /dev/stdout, say, would replace a system link with a file.
        real = Path(os.path.realpath(target))
        try:
            same = os.path.samestat(st, os.stat(real))
        except OSError:
            same = False
        if not same:
            raise BadInput(f"output {shown} is a link whose file cannot be named; give the file's own path")
        target = real
    return _REPLACE, target


def check_output(path: str | os.PathLike[str], *, force: bool, same_as: str | os.PathLike[str] | None = None) -> None:
    """Raise what :func:`open_output` would refuse ``path`` with, before any work is done."""
    _output_target(path, force=force, same_as=same_as)


@contextlib.contextmanager
def open_output(
    path: str | os.PathLike[str],
    mode: int = 0o600,
    *,
    force: bool,
    same_as: str | os.PathLike[str] | None = None,
) -> Iterator[BinaryIO]:
    """Open an output a user named, by the rule in this module's docstring; yields a file object.

    A new or replaced file appears only on normal exit, complete (``mode`` applies to it); a
    stream (FIFO, character device) is written into as the bytes come. ``same_as`` is an input
    path that must not be the output. :class:`~mlwarden.errors.AlreadyExists` for an existing
    file without ``force``, :class:`~mlwarden.errors.NotFound` for a missing folder,
    :class:`~mlwarden.errors.BadInput` for a folder, a socket, a block device.
    """
    from mlwarden.errors import AlreadyExists, BadInput

    shown = os.fspath(path)
    how, target = _output_target(path, force=force, same_as=same_as)
    if how == _STREAM:
        # No O_CREAT, no O_TRUNC: a device or FIFO is opened as it is (a FIFO waits for a reader).
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
        if not is_stream(fd):  # replaced by a file between the check and the open: untouched
            os.close(fd)
            raise BadInput(f"output {shown} changed while it was opened; try again")
        with os.fdopen(fd, "wb") as handle:
            yield handle
        return
    written = False
    try:
        with atomic_output(target, mode, replace=how == _REPLACE) as handle:
            yield handle
            written = True
    except FileExistsError:
        if not written:
            raise
        # Created by someone else after the check: theirs is kept.
        raise AlreadyExists(f"output {shown} exists; use --force to overwrite it") from None


def write_output(path: str | os.PathLike[str], data: bytes, mode: int = 0o600, *, force: bool) -> None:
    """:func:`open_output` for bytes held in memory."""
    with open_output(path, mode, force=force) as handle:
        handle.write(data)


def is_stream(handle: IO[bytes] | int) -> bool:
    """Whether ``handle`` (a file object or descriptor) is a FIFO, pipe, socket or device: bytes
    written to it are read as they come, not only once the whole is there, as for a file."""
    fd = handle if isinstance(handle, int) else handle.fileno()
    return not stat.S_ISREG(os.fstat(fd).st_mode)


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
