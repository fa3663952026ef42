"""A put that fails mid-stream: the caller gets the failure itself, and nothing of the put is left.

Each source of a failure after the first chunk (when the hash thread and the schema parser are both
running) is tried: a read error, Ctrl-C (a ``KeyboardInterrupt`` raised in a read, as the signal
handler does), a file that shrinks or grows while it is read, a wrong Fernet key and a truncated
Fernet token. After each, no version, no object, no data key record, no temporary file and no
worker thread is left. Before these tests, aborting a put whose hash thread was running raised
``queue.Empty`` in place of the real failure and left the parser thread inside pyarrow (which
aborted the interpreter at exit).
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

import mlwarden
from mlwarden.config import Settings
from mlwarden.crypto._fernet import parse_fernet_key
from mlwarden.errors import BadInput, IntegrityError
from mlwarden.usecases import german_credit_csv

MiB = 1 << 20
ROW = b"1,hello,2.5\n"
CSV = b"a,b,c\n" + ROW * (6 * MiB // len(ROW))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[mlwarden.Workspace]:
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    workspace = mlwarden.Workspace.init(settings=settings, key_source="env")
    yield workspace
    workspace.close()


def worker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("mlwarden-schema-", "mlwarden-sha256"))]


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def assert_nothing_left(ws: mlwarden.Workspace, before: set[Path]) -> None:
    """No version, no object, no data key record, no temporary file, no worker thread."""
    assert ws.datasets.list() == []
    # The first put creates the catalog and the store's lock file; no other file appears.
    made = {Path("catalog.db"), Path(".store.lock")}
    new = {p for p in files_under(ws.home) - before - made if not p.name.endswith(("-wal", "-shm", "-journal"))}
    assert new == set(), f"left behind: {sorted(map(str, new))}"
    assert worker_threads() == []


class FailingReader(io.RawIOBase):
    """``data`` in reads of at most 1 MiB; the read after ``fail_after`` bytes raises ``exc``."""

    def __init__(self, data: bytes, fail_after: int, exc: BaseException) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._pos = 0
        self._fail_after = fail_after
        self._exc = exc

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._pos >= self._fail_after:
            raise self._exc
        n = min(len(b), MiB, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "binary"])
def test_a_read_error_mid_stream_is_what_the_caller_gets(ws: mlwarden.Workspace, fmt: str) -> None:
    data = CSV if fmt != "jsonl" else b'{"a": 1, "b": "x"}\n' * (6 * MiB // 19)
    before = files_under(ws.home)
    with pytest.raises(OSError, match="device went away"):
        ws.datasets.put(FailingReader(data, 3 * MiB, OSError(5, "device went away")), name="d", format=fmt)
    assert_nothing_left(ws, before)


@pytest.mark.parametrize("fmt", ["csv", "binary"])
def test_ctrl_c_mid_stream_is_a_keyboard_interrupt(ws: mlwarden.Workspace, fmt: str) -> None:
    before = files_under(ws.home)
    with pytest.raises(KeyboardInterrupt):
        ws.datasets.put(FailingReader(CSV, 3 * MiB, KeyboardInterrupt()), name="d", format=fmt)
    assert_nothing_left(ws, before)


class ShrinkingFile(io.RawIOBase):
    """A real file, cut to ``size`` (or grown by ``size`` bytes) by someone else after the first read."""

    def __init__(self, path: Path, change: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._path = path
        self._change = change
        self._reads = 0

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._file.fileno()

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, b: Any) -> int:
        self._reads += 1
        if self._reads == 2:
            if self._change < 0:
                os.truncate(self._path, -self._change)
            else:
                with open(self._path, "ab") as grow:
                    grow.write(b"9,grown,9.5\n" * self._change)
        return self._file.readinto(b)

    def close(self) -> None:
        self._file.close()
        super().close()


@pytest.mark.parametrize("change", [-2 * MiB, -(len(CSV) // 2 + 1), 1000], ids=["shrinks", "shrinks-mid", "grows"])
def test_a_file_that_changes_while_read_is_refused(ws: mlwarden.Workspace, tmp_path: Path, change: int) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(CSV)
    before = files_under(ws.home)
    with ShrinkingFile(path, change) as src, pytest.raises(BadInput, match="changed while it was read"):
        ws.datasets.put(src, name="d")
    assert_nothing_left(ws, before)


def test_a_file_that_stays_the_same_is_stored(ws: mlwarden.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(CSV)
    with open(path, "rb") as src:
        src.read(len(ROW))  # a stream already partly read: the rest is stored
        version = ws.datasets.put(src, name="d").version
    assert version.size == len(CSV) - len(ROW)
    assert worker_threads() == []


@pytest.fixture(scope="module")
def credit_token() -> tuple[bytes, bytes]:
    key = Fernet.generate_key()
    data = german_credit_csv().read_bytes()
    assert len(data) > 128 << 10  # longer than the first read: the hash thread runs
    return key, Fernet(key).encrypt(data)


def test_a_wrong_fernet_key_is_an_integrity_error(ws: mlwarden.Workspace, credit_token: tuple[bytes, bytes]) -> None:
    _, token = credit_token
    before = files_under(ws.home)
    wrong = parse_fernet_key(Fernet.generate_key())
    with pytest.raises(IntegrityError, match="Fernet token"):
        ws.datasets.import_fernet(io.BytesIO(token), wrong, name="credit", origin="credit.csv.enc")
    assert_nothing_left(ws, before)


def test_a_truncated_fernet_token_is_an_integrity_error(
    ws: mlwarden.Workspace, credit_token: tuple[bytes, bytes]
) -> None:
    key, token = credit_token
    before = files_under(ws.home)
    with pytest.raises(IntegrityError, match="Fernet token"):
        ws.datasets.import_fernet(
            io.BytesIO(token[: len(token) * 2 // 3]), parse_fernet_key(key), name="credit", origin="credit.csv.enc"
        )
    assert_nothing_left(ws, before)
