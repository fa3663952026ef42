"""The one rule for outputs a user names (every ``-o``), :func:`mlwarden._fsio.open_output`.

A file is created or (with ``force``) replaced atomically; a FIFO or a character device is
written into and never renamed over (``-o /dev/null --force`` once replaced the system's
/dev/null with a file holding the plaintext); a folder, a socket, a dangling link are refused.
Devices here are a pty's slave and FIFOs of the test's own; the one system device written to is
/dev/null, with every call that could replace or empty it made to fail first.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from mlwarden._fsio import check_output, is_stream, open_output, write_output
from mlwarden.errors import AlreadyExists, BadInput, NotFound
from special_files import fifo_reader, pty_device


def test_a_new_file_is_created_with_its_mode(tmp_path: Path) -> None:
    write_output(tmp_path / "out", b"data", 0o640, force=False)
    assert (tmp_path / "out").read_bytes() == b"data"
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o640


def test_an_existing_file_needs_force_and_is_then_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")
    with pytest.raises(AlreadyExists, match="exists; use --force"):
        write_output(out, b"new", force=False)
    assert out.read_bytes() == b"old"
    write_output(out, b"new", force=True)
    assert out.read_bytes() == b"new"


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")

    def fail_midway() -> None:
        with open_output(out, force=True) as handle:
            handle.write(b"partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out"]


def test_a_missing_folder_is_not_made(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"the folder of output .*a/b/c does not exist"):
        write_output(tmp_path / "a" / "b" / "c", b"x", force=True)
    assert not (tmp_path / "a").exists()


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    with fifo_reader(fifo) as got, open_output(fifo, force=True) as handle:
        assert is_stream(handle)
        handle.write(b"through the pipe")
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("force", [False, True])
def test_a_character_device_is_written_into_without_force_and_stays_one(force: bool) -> None:
    with pty_device() as (device, got):
        before = device.stat()
        write_output(device, b"to the terminal", force=force)
        after = device.stat()
    assert b"".join(got) == b"to the terminal"
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_dev_null_stays_the_null_device(monkeypatch: pytest.MonkeyPatch) -> None:
    before = os.stat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)

    def never_under_dev(real: Callable[..., object]) -> Callable[..., object]:
        def guarded(*args: object, **kwargs: object) -> object:
            if any(str(a).startswith("/dev/") or kwargs.get("dst_dir_fd") is not None for a in args):
                raise AssertionError(f"{real.__name__}{args} would replace a system device")
            return real(*args, **kwargs)

        return guarded

    # Should the rule ever break, fail here rather than replace the machine's /dev/null.
    for name in ("replace", "rename", "link", "unlink", "remove", "truncate"):
        monkeypatch.setattr(os, name, never_under_dev(getattr(os, name)))
    write_output("/dev/null", b"gone", force=True)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_link_to_a_file_replaces_the_file_and_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"old")
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(AlreadyExists):
        write_output(tmp_path / "link", b"new", force=False)
    write_output(tmp_path / "link", b"new", force=True)
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "real").read_bytes() == b"new"


def test_a_link_to_a_fifo_streams_into_the_fifo(tmp_path: Path) -> None:
    with fifo_reader(tmp_path / "fifo") as got:
        (tmp_path / "link").symlink_to("fifo")
        write_output(tmp_path / "link", b"via the link", force=True)
    assert got == [b"via the link"]
    assert (tmp_path / "link").is_symlink()
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)


def test_other_special_files_are_refused(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(BadInput, match="is a socket; give a regular file, a FIFO or a character device"):
            check_output(tmp_path / "sock", force=True)
    finally:
        sock.close()
    with pytest.raises(BadInput, match="is a folder"):
        check_output(tmp_path, force=True)
    (tmp_path / "dangling").symlink_to("nowhere")
    with pytest.raises(BadInput, match="symbolic link to nothing"):
        write_output(tmp_path / "dangling", b"x", force=True)
    assert not (tmp_path / "nowhere").exists()
    assert (tmp_path / "dangling").is_symlink()


def test_the_output_cannot_be_the_input(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"data")
    with pytest.raises(BadInput, match="OUT is the same file as IN"):
        check_output(tmp_path / "." / "in", force=True, same_as=tmp_path / "in")
    with pytest.raises(BadInput, match="OUT is the same file as IN"):
        check_output(tmp_path / "in", force=False, same_as=tmp_path / "in")
