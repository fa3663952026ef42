"""Helpers shared by commands: opening the workspace, inputs and outputs, progress bars."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from mlwarden.cli._app import Context
from mlwarden.errors import BadInput, NotFound

if TYPE_CHECKING:
    from mlwarden._workspace import Workspace

PROGRESS_THRESHOLD = 32 * 1024 * 1024  # bytes
PROGRESS_ITEMS_THRESHOLD = 500  # records


def prompt_passphrase(new: bool, variable: str = "MLWARDEN_PASSPHRASE") -> str:
    """Ask for the passphrase on the terminal; only when stdin is one (else name ``variable``)."""
    if not sys.stdin.isatty():
        raise BadInput(f"this workspace needs a passphrase: set {variable} or run in a terminal")
    text: str = click.prompt(
        "New workspace passphrase" if new else "Workspace passphrase",
        hide_input=True,
        confirmation_prompt=new,
        err=True,
    )
    return text


def prompt_new_passphrase(new: bool) -> str:
    """:func:`prompt_passphrase` for a change of passphrase (``keys change-master``)."""
    return prompt_passphrase(new, "MLWARDEN_NEW_PASSPHRASE")


def open_workspace(ctx: Context) -> Workspace:
    from mlwarden._workspace import Workspace

    return Workspace.open(ctx.home, prompt=prompt_passphrase)


@contextlib.contextmanager
def open_input(name: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """Yield ``(stream, size or None)`` for a path, or stdin when ``name`` is ``-``."""
    if name == "-":
        yield sys.stdin.buffer, None
        return
    path = Path(name)
    if not path.exists():
        raise NotFound(f"input file {name} does not exist")
    if path.is_dir():
        raise BadInput(f"input {name} is a folder; give a file")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except PermissionError:
        raise BadInput(f"input file {name} is not readable (permission denied)") from None
    with handle:
        yield handle, os.fstat(handle.fileno()).st_size


@contextlib.contextmanager
def open_output(name: str, *, force: bool, mode: int, source: str | None = None) -> Iterator[IO[bytes]]:
    """Yield a stream for OUT: stdout for ``-``, else what :func:`mlwarden._fsio.open_output` opens.

    A file OUT is written to a temporary file renamed over it on success, so on failure it is
    left as it was: no partial file is ever visible. A FIFO or a character device (``/dev/null``)
    is written into, never replaced; a folder, socket or block device is refused.
    """
    if name == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    from mlwarden._fsio import open_output as open_named_output

    with open_named_output(name, mode, force=force, same_as=source) as handle:
        yield handle


def releases_as_written(name: str, dst: IO[bytes]) -> bool:
    """Whether what is written to OUT is read as it comes (stdout, a FIFO, a device), rather
    than appearing only once complete: plaintext then must be verified whole before the first byte."""
    from mlwarden._fsio import is_stream

    return name == "-" or is_stream(dst)


def readable_twice(src: IO[bytes]) -> bool:
    """Whether IN is a regular file (stdin redirected from one too), so it can be read once to
    verify and again to write."""
    from mlwarden._fsio import is_stream

    return src.seekable() and not is_stream(src)


@contextlib.contextmanager
def progress_bar(total: int | None, label: str, *, unit: str = "bytes") -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and the job is large; else nothing.

    ``unit`` is ``"bytes"`` (sizes and speed shown) or ``"items"`` (a count, such as data keys).
    """
    threshold = PROGRESS_THRESHOLD if unit == "bytes" else PROGRESS_ITEMS_THRESHOLD
    if not sys.stderr.isatty() or (total is not None and total < threshold):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: list[str | ProgressColumn] = ["[progress.description]{task.description}", BarColumn()]
    if unit == "bytes":
        columns += [DownloadColumn(binary_units=True), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn()]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance


@contextlib.contextmanager
def late_progress_bar(unit: str = "bytes") -> Iterator[Callable[[int, str], Callable[[int], None] | None]]:
    """A :func:`progress_bar` opened by the operation itself once it knows the size.

    Yields ``start(total, label)`` to hand to an API's ``start_progress``: the operation calls
    it after the gate has allowed it, so the CLI need not ask for the size (and be refused for
    the wrong permission, or log a second action) beforehand. The bar closes with the block.
    """
    with contextlib.ExitStack() as bars:

        def start(total: int, label: str) -> Callable[[int], None] | None:
            return bars.enter_context(progress_bar(total, label, unit=unit))

        yield start


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def local_user() -> str:
    """Who is running this command, for records such as shredding tombstones."""
    from mlwarden.config import local_user as user

    return user()


def confirm(question: str) -> None:
    """Ask a yes/no question on the terminal; without one, refuse and point at ``--yes``."""
    if not sys.stdin.isatty():
        raise BadInput("this needs confirmation: run it in a terminal or pass --yes")
    click.confirm(question, abort=True, err=True)


def no_huge_pages() -> None:
    """Keep this process off transparent huge pages (Linux), for commands with a memory budget.

    pyarrow's allocator asks for huge pages (``madvise``), and a 2 MiB page is resident as a whole
    even when a few KiB of it are used: about 25 MiB of a streaming CSV put's peak RSS. Huge pages
    buy nothing for a put, which touches each buffer once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_thp_disable = 41
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_thp_disable, 1, 0, 0, 0)
