"""The encrypted, versioned dataset store of a workspace (``ws.datasets``).

A put reads the plaintext once, in 1 MiB segments, and each segment goes three ways: into
SHA-256, into the schema sniffer (a parser on its own thread) and into the streaming AEAD,
whose ciphertext goes to the object backend. Plaintext never touches the disk, and memory
stays at a few segments whatever the file's size.

Commit order, which is what makes a put crash-safe (a SIGKILL at any instant leaves either
the whole new version or no version, and never a partial object)::

    1. the object is written in full to an unnamed file, fsynced, then linked into place;
    2. its data key (made in memory at the start) is wrapped and recorded, atomically;
    3. the catalog transaction numbering the version commits (WAL, synchronous=FULL).

Only step 3 makes the version exist. A crash after 1 or 2 leaves an *orphan*: a complete,
encrypted object no version refers to, which ``data check`` counts and :meth:`Datasets.collect_garbage`
removes (shredding its key first). Garbage collection takes the store lock exclusively; every
put holds it shared, so an object still being committed is never mistaken for an orphan.

Reads authenticate every segment before handing it out and compare the SHA-256 and size with
the catalog at the end, so a stored object swapped for another one is caught too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from mlwarden._clock import Clock, timestamp
from mlwarden._fsio import file_lock
from mlwarden.catalog import AuditRow, Catalog, DatasetRow, NewVersion, VersionRow
from mlwarden.crypto._data_keys import OBJECT_ID_SIZE, DataKeyStore
from mlwarden.crypto._envelope import object_reader, open_object, seal_object
from mlwarden.errors import BadInput, IntegrityError, NotFound, Shredded
from mlwarden.store._backend import ObjectBackend
from mlwarden.store._channel import join
from mlwarden.store._formats import FORMATS, detect_format
from mlwarden.store._names import check_name, check_tags
from mlwarden.store._records import (
    CheckProblem,
    CheckReport,
    DatasetSummary,
    DatasetVersion,
    EraseResult,
    PutResult,
)
from mlwarden.store._sniffer import SchemaSniffer
from mlwarden.store._tabular import TabularSchema

if TYPE_CHECKING:
    import pandas

    from mlwarden.access import Gate

__all__ = ["Datasets"]

Progress = Callable[[int], None]
StartProgress = Callable[[int, str], Progress | None]
"""Called once the size of the work is known (and the work allowed): ``(total bytes, label)``
-> a progress callback or ``None``; lets a caller size a progress bar without asking first."""
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Any
Frames = Callable[[], Iterator["pandas.DataFrame"]]
AfterPut = Callable[[DatasetVersion, Frames], Mapping[str, Any]]
"""Called once a new tabular version is committed, inside the put's gated action, with the version
and a way to stream its frames (no second gated read): the workspace classifies the columns' personal
data there. It returns details for the put's audit entry (counts and kinds, no values); it must not
raise for the data's sake, and what it raises anyway is recorded without failing the put."""
_HEAD = 64 * 1024
_ENCRYPTED_SUFFIXES = ("enc", "encrypted", "fernet", "token", "crypt")


class _HashWorker:
    """SHA-256 of a stream on its own thread (hashlib releases the GIL), so that hashing overlaps
    reading and encryption; a bounded queue keeps memory at a few chunks.

    Only the put's thread puts into the queue and only the worker takes from it, so once the queue
    is drained there is room for the ``None`` that stops the worker: :meth:`abort` never blocks.
    """

    def __init__(self, initial: hashlib._Hash) -> None:
        self._hash = initial
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="mlwarden-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def finish(self) -> hashlib._Hash:
        self._queue.put(None)
        self._thread.join()
        return self._hash

    def abort(self) -> None:
        """Drop the chunks not hashed yet, stop the thread and wait for it (the put failed)."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._queue.put(None)
        join(self._thread)


class _TeeReader(io.RawIOBase):
    """Reads ``src`` for the encryptor while hashing, counting and feeding the schema sniffer.

    The first chunk (the encryptor's 64 KiB probe) is hashed inline: a small put never starts a
    thread. Later chunks are copied once and shared by the hash thread and the sniffer.
    """

    def __init__(self, src: IO[bytes] | io.RawIOBase, start_sniffer: Callable[[bytes, bool], SchemaSniffer]) -> None:
        super().__init__()
        self._src = src
        self._readinto = getattr(src, "readinto", None)
        self._start_sniffer = start_sniffer
        self.sniffer: SchemaSniffer | None = None
        self._early: list[bytes] = []  # what was read before the sniffer starts
        self._hash = hashlib.sha256()
        self._worker: _HashWorker | None = None
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._readinto is not None:
            got = self._readinto(view)
        else:
            chunk = self._src.read(len(view))
            got = None if chunk is None else len(chunk)
            if chunk:
                view[: len(chunk)] = chunk
        if got is None:
            raise BadInput("the input stream is non-blocking and had no data; give a blocking stream")
        got = int(got)
        data = bytes(view[:got])
        if got:
            if self.size == 0:
                self._hash.update(data)
            else:
                if self._worker is None:
                    self._worker = _HashWorker(self._hash)
                self._worker.update(data)
            self.size += got
        if self.sniffer is not None:
            self.sniffer.feed(data)
        else:
            self._start(data)
        return got

    def _start(self, data: bytes) -> None:
        """Start the sniffer once the first :data:`_HEAD` bytes are in (or the end), whatever the reads."""
        if data:
            self._early.append(data)
        if data and self.size < _HEAD:
            return  # a pipe can return a few bytes at a time: the format is guessed from the same head
        head = b"".join(self._early)
        self.sniffer = self._start_sniffer(head[:_HEAD], not data)
        for chunk in self._early:
            self.sniffer.feed(chunk)
        self._early = []

    def hexdigest(self) -> str:
        """The SHA-256 of everything read (call once, after the last read)."""
        if self._worker is not None:
            self._hash = self._worker.finish()
            self._worker = None
        return self._hash.hexdigest()

    def abort(self) -> None:
        """Stop the schema parser and the hash thread, if running, and wait for both to end."""
        try:
            if self.sniffer is not None:
                self.sniffer.abort()
        finally:
            if self._worker is not None:
                self._worker.abort()
                self._worker = None


class _HashingWriter:
    """Passes writes through to ``dst`` and hashes them (on the stream's writer thread, which
    overlaps decryption on the main one; a separate hash thread measured no faster)."""

    def __init__(self, dst: IO[bytes] | Any) -> None:
        self._dst = dst
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        written = self._dst.write(data)
        view = memoryview(data)[: len(data) if written is None else written]
        self._hash.update(view)
        self.size += len(view)
        return len(view)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _VerifyingReader(io.RawIOBase):
    """A dataset version's plaintext; at the end, its SHA-256 and size must match the catalog."""

    def __init__(self, plain: io.BufferedReader, ciphertext: BinaryIO, row: VersionRow) -> None:
        super().__init__()
        self._plain = plain
        self._ciphertext = ciphertext
        self._row = row
        self._hash = hashlib.sha256()
        self._size = 0
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        try:
            got = self._plain.readinto(view)
        except IntegrityError:
            raise _tampered(self._row) from None
        if got:
            self._hash.update(view[:got])
            self._size += got
            if self._size > self._row.size:
                raise _mismatch(self._row, "it is longer than the catalog says")
            return got
        if not self._verified:
            _compare(self._row, self._hash.hexdigest(), self._size)
            self._verified = True
        return 0

    def close(self) -> None:
        if not self.closed:
            self._ciphertext.close()
        super().close()


def _file_state(src: Any) -> tuple[int, os.stat_result] | None:
    """Where a put starts reading a regular file ``src`` and the file's status then; ``None`` for others."""
    try:
        status = os.fstat(src.fileno())
        start = src.tell()
    except (AttributeError, OSError, ValueError):  # no file descriptor, or not seekable: a pipe
        return None
    return (start, status) if stat.S_ISREG(status.st_mode) else None


def _check_unchanged(src: Any, before: tuple[int, os.stat_result] | None, size: int, filename: str | None) -> None:
    """Refuse what was read from a regular file that changed meanwhile: a mix of two contents.

    The bytes read must be the file's size less where the put started, and its size, time of last
    change and identity the same as when the put started. Files whose size says nothing (0, such as
    those in ``/proc``) are checked by their status only.
    """
    if before is None:
        return
    start, was = before
    now = os.fstat(src.fileno())
    same = (now.st_size, now.st_mtime_ns, now.st_ino, now.st_dev) == (
        was.st_size,
        was.st_mtime_ns,
        was.st_ino,
        was.st_dev,
    )
    if same and (was.st_size == 0 or size == was.st_size - start):
        return
    what = f"input file {filename}" if filename else "the input file"
    raise BadInput(
        f"{what} changed while it was read ({size} bytes read, {max(was.st_size - start, 0)} expected, "
        f"{now.st_size} now); nothing was stored: put it again once nothing writes to it"
    )


def _tampered(row: VersionRow) -> IntegrityError:
    return IntegrityError(f"{row.name}@{row.version} failed authentication: its stored object is tampered or corrupted")


def _mismatch(row: VersionRow, why: str) -> IntegrityError:
    return IntegrityError(f"{row.name}@{row.version} does not match the catalog: {why}")


def _compare(row: VersionRow, sha256: str, size: int) -> None:
    if size != row.size:
        raise _mismatch(row, f"{size} bytes decrypted, the catalog says {row.size}")
    if sha256 != row.sha256:
        raise _mismatch(row, "its SHA-256 differs from the catalog's")


class Datasets:
    """Versioned, encrypted datasets. Get one from :attr:`mlwarden.Workspace.datasets`."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        backend: ObjectBackend,
        data_keys: DataKeyStore,
        shred_key: Callable[[bytes, str], None],
        lock: Path,
        gate: Gate,
        clock: Clock,
        after_put: AfterPut | None = None,
    ) -> None:
        self._catalog = catalog
        self._after_put = after_put
        self._backend = backend
        self._data_keys = data_keys
        self._shred_key = shred_key
        self._lock = lock
        self._gate = gate
        self._principal = gate.principal.name
        self._clock = clock

    def __repr__(self) -> str:
        return f"<Datasets {self._catalog!r} {self._backend!r}>"

    # -- writing ----------------------------------------------------------------------------

    def put(
        self,
        source: Source,
        *,
        name: str,
        tags: Mapping[str, str] | None = None,
        force: bool = False,
        format: str | None = None,
        progress: Progress | None = None,
    ) -> PutResult:
        """Store a new version of dataset ``name``; returns it and whether it is new.

        ``source`` is a path, bytes, a binary file object or a pandas DataFrame (stored as
        Parquet). Content equal to the newest version makes no new version unless ``force``.
        ``format`` (``csv``, ``parquet``, ``jsonl`` or ``binary``) overrides detection by file
        extension and content.
        """
        check_name(name)
        checked_tags = check_tags(dict(tags) if tags else None)
        if format is not None and format not in FORMATS:
            raise BadInput(f"format {format!r} is not one of {', '.join(FORMATS)}")
        with self._gate.act("dataset.write", f"dataset:{name}") as act, self._source(source, format) as opened:
            stream, filename, fmt = opened
            result = self._put_stream(stream, name, checked_tags, force, fmt, filename, progress)
            act.record(**_digests(result), **self._discover(result))
            return result

    def derive_without(
        self, name: str, version: int, rows: Sequence[int], *, tags: Mapping[str, str] | None = None
    ) -> PutResult:
        """Add a version of ``name`` holding version ``version`` less the rows at ``rows`` (0-based
        positions in its own order), as Parquet, tagged ``derived_from`` (permission ``dataset.derive``).

        Nothing but the source's own rows goes in, so reading the source (``dataset.read``) and this
        permission are enough; ``dataset.write`` is not needed. Equal content makes no new version.
        """
        check_name(name)
        with self._gate.act("dataset.derive", f"dataset:{name}", source_version=version) as act:
            frame, source = self.read_frame_versioned(name, version)
            drop = sorted({int(r) for r in rows})
            if drop and (drop[0] < 0 or drop[-1] >= len(frame)):
                raise BadInput(f"{source.ref} has {len(frame)} rows; row {drop[-1]} is not one of them")
            kept = frame.drop(index=frame.index[drop]).reset_index(drop=True)
            del frame
            derived_tags = check_tags(
                {**(dict(tags) if tags else {}), "derived_from": source.ref, "excluded_rows": str(len(drop))}
            )
            stream = io.BytesIO(_frame_to_parquet(kept))
            del kept
            result = self._put_stream(stream, name, derived_tags, False, "parquet", None, None)
            act.record(
                **_digests(result), **self._discover(result), source_sha256=source.sha256, excluded_rows=len(drop)
            )
            return result

    def import_fernet(
        self,
        token: IO[bytes],
        key: bytes,
        *,
        name: str,
        origin: str,
        tags: Mapping[str, str] | None = None,
        format: str | None = None,
        progress: Progress | None = None,
    ) -> PutResult:
        """Store the plaintext of a Fernet token (``Fernet(key).encrypt(...)``) as a new version.

        The token is decrypted as it streams and its HMAC checked at the end; nothing is
        committed unless it verifies. ``origin`` (such as the token file's name) is recorded in
        the version's tags with the token's own timestamp. The format is detected from
        ``origin`` without its encryption suffix (``scores.csv.enc`` is CSV) unless given.
        """
        from mlwarden.crypto._fernet import FernetStreamReader

        check_name(name)
        checked = check_tags(dict(tags) if tags else None)
        reserved = sorted(k for k in checked if k == "origin" or k.startswith("origin."))
        if reserved:
            raise BadInput(f"tag {reserved[0]} is set by the import itself; choose another key")
        if format is not None and format not in FORMATS:
            raise BadInput(f"format {format!r} is not one of {', '.join(FORMATS)}")
        reader = FernetStreamReader(key, token)
        stem, dot, suffix = origin.rpartition(".")
        filename = stem if dot and suffix.lower() in _ENCRYPTED_SUFFIXES else origin

        def origin_tags() -> dict[str, str]:
            stamp = reader.info.timestamp
            from datetime import UTC, datetime

            return {
                **checked,
                "origin": "fernet",
                "origin.file": origin[:1024],
                "origin.fernet_timestamp": timestamp(datetime.fromtimestamp(stamp, UTC)),
            }

        with self._gate.act("dataset.write", f"dataset:{name}", origin="fernet") as act, contextlib.closing(reader):
            result = self._put_stream(reader, name, {}, False, format, filename, progress, late_tags=origin_tags)
            act.record(**_digests(result), **self._discover(result))
            return result

    @contextlib.contextmanager
    def _source(self, source: Source, fmt: str | None) -> Iterator[tuple[IO[bytes], str | None, str | None]]:
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                raise NotFound(f"input file {path} does not exist") from None
            except IsADirectoryError:
                raise BadInput(f"input {path} is a folder; give a file") from None
            except PermissionError:
                raise BadInput(f"input file {path} is not readable (permission denied)") from None
            with handle:
                yield handle, path.name, fmt
        elif isinstance(source, bytes | bytearray | memoryview):
            yield io.BytesIO(bytes(source)), None, fmt
        elif _is_dataframe(source):
            yield io.BytesIO(_frame_to_parquet(source)), None, fmt or "parquet"
        elif hasattr(source, "read"):
            yield source, getattr(source, "name", None) if isinstance(getattr(source, "name", None), str) else None, fmt
        else:
            raise BadInput(
                f"cannot store a {type(source).__name__}: give a path, bytes, a binary file or a pandas DataFrame"
            )

    def _put_stream(
        self,
        src: IO[bytes] | io.RawIOBase,
        name: str,
        tags: dict[str, str],
        force: bool,
        fmt: str | None,
        filename: str | None,
        progress: Progress | None,
        *,
        late_tags: Callable[[], dict[str, str]] | None = None,
    ) -> PutResult:
        object_id = os.urandom(OBJECT_ID_SIZE)
        key_name = object_id.hex()
        data_key = os.urandom(32)

        # A short queue for the sniffer: every chunk in it is 1 MiB of a memory budget.
        def start_sniffer(head: bytes, complete: bool) -> SchemaSniffer:
            return SchemaSniffer(fmt or detect_format(filename, head, complete=complete), max_queued=4)

        tee = _TeeReader(src, start_sniffer)
        with file_lock(self._lock, exclusive=False):
            before = _file_state(src)
            try:
                # Everything that reads or waits for a worker happens before the object is named:
                # a failure or a Ctrl-C in it leaves no object (see ObjectBackend.create).
                with self._backend.create(key_name) as out:
                    seal_object(data_key, object_id, tee, out, progress=progress)  # type: ignore[arg-type]
                    _check_unchanged(src, before, tee.size, filename)
                    assert tee.sniffer is not None
                    schema = tee.sniffer.finish()
                    sha256 = tee.hexdigest()
            finally:
                tee.abort()
            try:
                if late_tags is not None:
                    tags = check_tags(late_tags())
                if not force and self._catalog.latest_sha256(name) == sha256:
                    with contextlib.suppress(NotFound):
                        latest = self._catalog.version(name)
                        if latest.shredded_at is None and latest.sha256 == sha256:
                            self._backend.delete(key_name)
                            return PutResult(self._record(latest), created=False)
                _, wrapped = self._data_keys.create_wrapped(object_id, data_key)
                new = NewVersion(
                    object_id=key_name,
                    sha256=sha256,
                    size=tee.size,
                    rows=schema.rows,
                    format=schema.format,
                    schema=schema.to_json(),
                    key_version=wrapped.kek_version,
                    created_at=timestamp(self._clock()),
                    created_by=self._principal,
                    tags=tags,
                )
                row, created = self._catalog.add_version(name, new, force=force)
            except BaseException:
                self._discard(object_id)
                raise
            if not created:  # a concurrent put stored the same content first
                self._discard(object_id)
            return PutResult(self._record(row), created)

    def _discover(self, result: PutResult) -> dict[str, Any]:
        """Run the after-put hook on a new tabular version; its details for the put's audit entry."""
        v = result.version
        if self._after_put is None or not result.created or v.schema.columns is None:
            return {}
        if v.size > _CLASSIFY_AT_PUT_MAX:
            # Classifying loads pandas and the detector: a put of a very large file keeps its memory bound
            # and leaves it to `data pii --scan` (or the guard before training, which classifies first).
            return {"pii": "not classified at put (large version): run data pii --scan"}
        row = self._catalog.version(v.name, v.version)
        try:
            return dict(self._after_put(v, lambda: self._head_frames(row)))
        except Exception as exc:  # the version is committed: a failed classification must not undo the put
            return {"pii": f"not classified ({type(exc).__name__})"}

    def _head_frames(self, row: VersionRow, max_bytes: int = 2 << 20) -> Iterator[pandas.DataFrame]:
        """The first rows of a version just put, for classifying it: a CSV is read only as far as
        ``max_bytes`` (cut at the last full line; each segment read is authenticated), so a put of
        a large file costs no second full pass and no memory that grows with the file."""
        if row.format != "csv":
            return self._frames_of(row, rows=16_384)
        _, data_key = self._readable(row.name, row.version)
        plain = object_reader(data_key, bytes.fromhex(row.object_id), self._object(row))
        with plain:
            head = plain.read(max_bytes + 1)
        if len(head) > max_bytes:
            head = head[: head.rfind(b"\n", 0, max_bytes) + 1]
        return _frames(io.BufferedReader(io.BytesIO(head)), self._record(row), 16_384)

    def _frames_of(self, row: VersionRow, rows: int = 65_536) -> Iterator[pandas.DataFrame]:
        """The frames of a live version, for work already inside a gated action."""
        _, data_key = self._readable(row.name, row.version)
        info = self._record(row)
        ciphertext = self._object(row)
        plain = object_reader(data_key, bytes.fromhex(row.object_id), ciphertext)
        stream = io.BufferedReader(_VerifyingReader(plain, ciphertext, row), buffer_size=1 << 20)
        return _frames(stream, info, rows)

    def erase(
        self,
        name: str,
        version: int,
        match: Callable[[pandas.DataFrame], Any],
        *,
        request: str,
        dry_run: bool = False,
    ) -> EraseResult:
        """Remove the rows ``match`` selects from version ``version`` of ``name``: a successor version
        without them, then crypto-shred the version (permission ``dataset.forget``).

        ``match(frame)`` returns a boolean mask of the rows to remove. The successor is tagged
        ``erasure.replaces`` (this version) and ``erasure.request`` (``request``: the keyed hash of
        the subject), which is what makes a re-run after a crash resume instead of repeating: a
        live successor already made for this request is kept, and a version whose data key was
        shredded but whose tombstone was not written is finished. ``dry_run`` only counts.
        """
        check_name(name)
        ref = f"{name}@{version}"
        with self._gate.act("dataset.forget", f"dataset:{name}", version=version, request=request[:32]) as act:
            row = self._catalog.version(name, version)
            successor = self._successor(name, ref, request)
            if row.shredded_at is not None:
                act.record(matched=0, shredded=False)
                return EraseResult(DatasetVersion.from_row(row), 0, successor, False)
            try:
                frame = _concat(list(self._frames_of(row)))
            except Shredded:
                if successor is None:
                    raise
                # A run stopped inside shredding: its data key is gone, its tombstone not yet written.
                done = self._finish_shred(row)
                act.record(matched=-1, successor=successor.version, shredded=True)
                return EraseResult(done, -1, successor, True)
            mask = _mask(match(frame), len(frame))
            matched = int(mask.sum())
            if dry_run or (matched == 0 and successor is None):
                act.record(matched=matched, dry_run=dry_run)
                return EraseResult(self._record(row), matched, successor, False)
            if successor is None:
                kept = frame[~mask].reset_index(drop=True)
                del frame
                tags = check_tags(
                    {
                        **{k: v for k, v in row.tags.items() if not k.startswith("erasure.")},
                        "derived_from": ref,
                        "erasure.replaces": ref,
                        "erasure.request": request[:64],
                        "excluded_rows": str(matched),
                    }
                )
                stream = io.BytesIO(_frame_to_parquet(kept))
                del kept
                made = self._put_stream(stream, name, tags, True, "parquet", None, None)
                self._discover(made)
                successor = made.version
            done = self._shred(name, version)
            act.record(matched=matched, successor=successor.version, shredded=True, sha256=row.sha256)
            return EraseResult(done, matched, successor, True)

    def _successor(self, name: str, ref: str, request: str) -> DatasetVersion | None:
        for row in reversed(self._catalog.versions(name)):
            if (
                row.shredded_at is None
                and row.tags.get("erasure.replaces") == ref
                and row.tags.get("erasure.request") == request[:64]
            ):
                return self._record(row)
        return None

    def _finish_shred(self, row: VersionRow) -> DatasetVersion:
        done = self._catalog.mark_shredded(row.name, row.version, by=self._principal, at=timestamp(self._clock()))
        with contextlib.suppress(NotFound):
            self._backend.delete(row.object_id)
        return DatasetVersion.from_row(done)

    def _discard(self, object_id: bytes) -> None:
        """Remove an uncommitted object: its key first, so no readable copy outlives it."""
        with contextlib.suppress(NotFound, Shredded):
            self._shred_key(object_id, "mlwarden (uncommitted put)")
        self._backend.delete(object_id.hex())

    def shred(self, name: str, version: int) -> DatasetVersion:
        """Crypto-shred one version: destroy its data key, delete its object, keep a tombstone.

        The catalog row stays (name, version, SHA-256, size, who shredded it and when), so
        lineage that points at it still resolves; its data can never be read again.
        """
        with self._gate.act("dataset.shred", f"dataset:{check_name(name)}", version=version) as act:
            done = self._shred(name, version)
            act.record(version=done.version, sha256=done.sha256)
            return done

    def _shred(self, name: str, version: int) -> DatasetVersion:
        row = self._catalog.version(name, version)
        if row.shredded_at is not None:
            raise Shredded(f"{row.name}@{row.version} was already shredded at {row.shredded_at} by {row.shredded_by}")
        # The version's audit reports name its rows and values: their keys go with it.
        for object_id in [bytes.fromhex(row.object_id), *(bytes.fromhex(a.object_id) for a in self._audits_of(row))]:
            with contextlib.suppress(NotFound):
                if self._data_keys.record(object_id).shredded is None:
                    self._shred_key(object_id, self._principal)
        done = self._catalog.mark_shredded(name, version, by=self._principal, at=timestamp(self._clock()))
        self._backend.delete(row.object_id)
        return DatasetVersion.from_row(done)

    def _audits_of(self, row: VersionRow) -> list[AuditRow]:
        return self._catalog.audits.of_version(row.name, row.version)

    def collect_garbage(self, *, dry_run: bool = False) -> list[str]:
        """Remove objects no version refers to (left by interrupted puts); returns their ids.

        Waits for puts in progress to finish, and holds new ones back while it runs. Deletes
        only what a trusted catalog does not list: the catalog is checked against the
        workspace's record of it first (:class:`~mlwarden.errors.IntegrityError` if it holds
        less, and nothing is deleted), and the objects are listed before the catalog is read,
        so an object committed meanwhile is known. ``dry_run`` only lists them.
        """
        removed = []
        with (
            self._gate.act("store.maintain", "store", job="gc-dry-run" if dry_run else "gc") as act,
            file_lock(self._lock, exclusive=True),
        ):
            self._catalog.confirm_trusted()
            stored = list(self._backend.iter_keys())
            known = self._catalog.object_ids()
            for key in stored:
                if key not in known:
                    if not dry_run:
                        self._discard(bytes.fromhex(key))
                    removed.append(key)
            act.record(**{"orphans" if dry_run else "removed": len(removed)})
        return removed

    # -- reading ----------------------------------------------------------------------------

    def _record(self, row: VersionRow) -> DatasetVersion:
        """The public record of a catalog row, with the key version wrapping its data key now.

        Rotation moves data keys to the new key version; the catalog keeps the version each
        dataset version was stored under, so the live one is read from the data key record.
        """
        current = row.key_version
        if row.shredded_at is None:
            with contextlib.suppress(NotFound, IntegrityError):
                current = self._data_keys.record(bytes.fromhex(row.object_id)).kek_version or current
        return dataclasses.replace(DatasetVersion.from_row(row), key_version=current)

    def info(self, name: str, version: int | None = None) -> DatasetVersion:
        self._gate.check("dataset.list", f"dataset:{check_name(name)}", version=version)
        return self._record(self._catalog.version(name, version))

    def versions(self, name: str) -> list[DatasetVersion]:
        self._gate.check("dataset.list", f"dataset:{check_name(name)}")
        return [self._record(r) for r in self._catalog.versions(name)]

    def list(self) -> list[DatasetSummary]:
        """Every dataset the principal may see, with its newest live version."""
        self._gate.check("dataset.list", "dataset")
        allowed = self._gate.allows
        return [self._summary(r) for r in self._catalog.datasets() if allowed("dataset.list", f"dataset:{r.name}")]

    def _summary(self, row: DatasetRow) -> DatasetSummary:
        latest = None if row.latest is None else self._record(row.latest)
        return DatasetSummary(row.name, row.versions, row.created_at, row.created_by, latest)

    def _readable(self, name: str, version: int | None) -> tuple[VersionRow, bytes]:
        row = self._catalog.version(check_name(name), version)
        if row.shredded_at is not None:
            raise Shredded(
                f"{row.name}@{row.version} was shredded at {row.shredded_at} by {row.shredded_by}; "
                "its data can never be read again"
            )
        try:
            data_key = self._data_keys.data_key(bytes.fromhex(row.object_id))
        except Shredded:
            raise Shredded(f"{row.name}@{row.version} was shredded; its data can never be read again") from None
        except NotFound:
            raise IntegrityError(f"{row.name}@{row.version} has lost its data key; it cannot be read") from None
        return row, data_key

    def _object(self, row: VersionRow) -> BinaryIO:
        try:
            return self._backend.open(row.object_id)
        except NotFound:
            raise IntegrityError(f"{row.name}@{row.version} is missing from the store") from None

    def open(self, name: str, version: int | None = None) -> io.BufferedReader:
        """A readable binary stream of a version's plaintext, decrypted as it is read.

        Every byte returned has been authenticated; the read that reaches the end raises
        :class:`~mlwarden.errors.IntegrityError` instead if the whole does not match the
        catalog's SHA-256 and size.
        """
        with self._gate.act("dataset.read", f"dataset:{check_name(name)}", version=version) as act:
            row, data_key = self._readable(name, version)
            act.record(version=row.version, sha256=row.sha256, stream=True)
        ciphertext = self._object(row)
        plain = object_reader(data_key, bytes.fromhex(row.object_id), ciphertext)
        return io.BufferedReader(_VerifyingReader(plain, ciphertext, row), buffer_size=1 << 20)

    def read_frames(
        self, name: str, version: int | None = None, *, rows: int = 65_536
    ) -> tuple[DatasetVersion, Iterator[pandas.DataFrame]]:
        """A tabular version as DataFrames of at most ``rows`` rows, decrypted as they are read (one
        gated read). CSV streams: memory holds one block, whatever the size of the file. Parquet
        needs its footer first, so its (compressed) bytes are held in memory and decoded one row
        group batch at a time; JSON Lines is parsed whole, then handed out in slices. The read that
        reaches the end raises :class:`~mlwarden.errors.IntegrityError` if the whole does not match
        the catalog, so act on the chunks' results only once the iterator is exhausted."""
        if not 1 <= rows <= 10_000_000:
            raise BadInput("a chunk holds 1 to 10,000,000 rows")
        with self._gate.act("dataset.read", f"dataset:{check_name(name)}", version=version) as act:
            row, data_key = self._readable(name, version)
            act.record(version=row.version, sha256=row.sha256, stream=True)
        info = self._record(row)
        if info.format == "binary":
            raise BadInput(f"{info.ref} is not tabular (format binary); read it with open() or read_bytes()")
        ciphertext = self._object(row)
        plain = object_reader(data_key, bytes.fromhex(row.object_id), ciphertext)
        stream = io.BufferedReader(_VerifyingReader(plain, ciphertext, row), buffer_size=1 << 20)
        return info, _frames(stream, info, rows)

    def get(
        self,
        name: str,
        version: int | None,
        dst: IO[bytes] | Any,
        *,
        progress: Progress | None = None,
        verify_first: bool = False,
        start_progress: StartProgress | None = None,
    ) -> DatasetVersion:
        """Write a version's plaintext to ``dst``; returns its record.

        Raises :class:`~mlwarden.errors.IntegrityError` naming the version if it fails
        authentication or does not match the catalog; ``dst`` may then hold a verified prefix, so
        give an atomic output (the CLI does), or ``verify_first=True`` to check the whole
        object before writing a byte (twice the decryption work, for outputs such as stdout).
        ``start_progress`` (instead of ``progress``) learns the size once the read is allowed.
        """
        with self._gate.act("dataset.read", f"dataset:{check_name(name)}", version=version) as act:
            row, data_key = self._readable(name, version)
            if start_progress is not None:
                progress = start_progress(row.size, f"restoring {row.name}@{row.version}")
            if verify_first:
                self._verify(row, data_key, None)
            self._decrypt(row, data_key, dst, progress)
            act.record(version=row.version, sha256=row.sha256)
        return self._record(row)

    def read_bytes(self, name: str, version: int | None = None) -> bytes:
        """A version's whole plaintext, in memory."""
        out = io.BytesIO()
        self.get(name, version, out)
        return out.getvalue()

    def read_frame(self, name: str, version: int | None = None) -> pandas.DataFrame:
        """A tabular version (CSV, Parquet, JSON Lines) as a pandas DataFrame, decrypted in memory only."""
        return self.read_frame_versioned(name, version)[0]

    def read_frame_versioned(self, name: str, version: int | None = None) -> tuple[pandas.DataFrame, DatasetVersion]:
        """:meth:`read_frame` and the version it read (one gated read: for lineage)."""
        out = io.BytesIO()
        info = self.get(name, version, out)
        if info.format == "binary":
            raise BadInput(f"{info.ref} is not tabular (format binary); read it with open() or read_bytes()")
        data = out.getvalue()
        try:
            return _parse_frame(data, info.format, info.schema), info
        except BadInput:
            raise
        except Exception as exc:  # pyarrow's parse errors (ArrowInvalid and friends)
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise BadInput(f"{info.ref} cannot be read as {info.format}: {reason}") from None

    # -- checking ---------------------------------------------------------------------------

    def _verify(self, row: VersionRow, data_key: bytes, progress: Progress | None) -> None:
        self._decrypt(row, data_key, _Discard(), progress)

    def _decrypt(self, row: VersionRow, data_key: bytes, dst: IO[bytes] | Any, progress: Progress | None) -> None:
        """Decrypt ``row``'s object into ``dst``, then compare SHA-256 and size with the catalog."""
        writer = _HashingWriter(dst)
        with self._object(row) as src:
            try:
                open_object(data_key, bytes.fromhex(row.object_id), src, writer, progress=progress)  # type: ignore[arg-type]
            except IntegrityError:
                raise _tampered(row) from None
        _compare(row, writer.hexdigest(), writer.size)

    def check(self, progress: Progress | None = None, *, start_progress: StartProgress | None = None) -> CheckReport:
        """Verify every live version against the catalog, and every tombstone against the keys.

        Each live object is decrypted in full (authenticating it) and its SHA-256 and size
        compared with the catalog. ``progress`` receives plaintext bytes as they are verified;
        ``start_progress`` (instead) first learns how many bytes that will be.
        """
        with self._gate.act("store.maintain", "store", job="check") as act:
            report = self._check(progress, start_progress)
            act.record(versions=report.versions, problems=len(report.problems), orphans=len(report.orphans))
            return report

    def _check(self, progress: Progress | None, start_progress: StartProgress | None) -> CheckReport:
        rows = self._catalog.all_versions()
        if start_progress is not None:
            progress = start_progress(sum(r.size for r in rows if r.shredded_at is None), "verifying")
        problems: list[CheckProblem] = []
        verified = shredded = total = 0
        for row in rows:
            ref = f"{row.name}@{row.version}"
            object_id = bytes.fromhex(row.object_id)
            if row.shredded_at is not None:
                shredded += 1
                try:
                    key_shredded = self._data_keys.record(object_id).shredded is not None
                except NotFound:
                    key_shredded = True
                except IntegrityError as exc:
                    problems.append(CheckProblem(ref, str(exc)))
                    continue
                if not key_shredded:
                    problems.append(CheckProblem(ref, "marked shredded, but its data key still exists"))
                continue
            try:
                _, data_key = self._readable(row.name, row.version)
                self._verify(row, data_key, progress)
            except (IntegrityError, Shredded) as exc:
                problems.append(CheckProblem(ref, str(exc)))
                continue
            verified += 1
            total += row.size
        known = {r.object_id for r in rows}
        orphans = tuple(k for k in self._backend.iter_keys() if k not in known)
        return CheckReport(verified, total, shredded, tuple(problems), orphans)


class _Discard:
    def write(self, data: Any) -> int:
        return len(data)


def _is_dataframe(value: object) -> bool:
    module = type(value).__module__
    return module.startswith("pandas") and hasattr(value, "to_parquet")


def _frame_to_parquet(frame: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame)
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _parse_frame(data: bytes, fmt: str, schema: TabularSchema) -> pandas.DataFrame:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
    elif fmt == "jsonl":
        import pyarrow.json as pj

        table = pj.read_json(io.BytesIO(data))
    elif fmt == "csv":
        import pyarrow.csv as pc

        # The types recorded at put time cover the whole file; pyarrow alone infers from its
        # first block and can fail later on.
        types = {c.name: pa.type_for_alias(c.type) for c in schema.columns or () if _alias(c.type)}
        table = pc.read_csv(io.BytesIO(data), convert_options=pc.ConvertOptions(column_types=types))
    else:
        raise BadInput(f"format {fmt} cannot be read as a table")
    return table.to_pandas()


_CLASSIFY_AT_PUT_MAX = 256 << 20
"""Versions larger than this (plaintext bytes) are not classified at put (see ``Datasets._discover``)."""


def _frames(stream: io.BufferedReader[Any], info: DatasetVersion, rows: int) -> Iterator[pandas.DataFrame]:
    """The chunks of :meth:`Datasets.read_frames` (pyarrow's errors become one-line BadInput)."""
    import pyarrow as pa

    try:
        with stream:
            if info.format == "csv":
                import pyarrow.csv as pc

                types = {c.name: pa.type_for_alias(c.type) for c in info.schema.columns or () if _alias(c.type)}
                reader = pc.open_csv(
                    stream,
                    read_options=pc.ReadOptions(block_size=1 << 22),
                    convert_options=pc.ConvertOptions(column_types=types),
                )
                for batch in reader:
                    for start in range(0, batch.num_rows, rows):
                        yield batch.slice(start, rows).to_pandas()
                stream.read()  # the verifying reader checks the whole at its end
                return
            data = stream.read()
            if info.format == "parquet":
                import pyarrow.parquet as pq

                for batch in pq.ParquetFile(io.BytesIO(data)).iter_batches(batch_size=rows):
                    yield batch.to_pandas()
            elif info.format == "jsonl":
                import pyarrow.json as pj

                for batch in pj.read_json(io.BytesIO(data)).to_batches(max_chunksize=rows):
                    yield batch.to_pandas()
            else:
                raise BadInput(f"format {info.format} cannot be read as a table")
    except (BadInput, IntegrityError):
        raise
    except Exception as exc:  # pyarrow's parse errors (ArrowInvalid and friends)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"{info.ref} cannot be read as {info.format}: {reason}") from None


def _concat(frames: list[pandas.DataFrame]) -> pandas.DataFrame:
    import pandas as pd

    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _mask(selected: Any, rows: int) -> Any:
    import numpy as np

    mask = np.asarray(selected, dtype=bool)
    if mask.shape != (rows,):
        raise BadInput(f"a row selection must have one entry per row ({rows}), not shape {mask.shape}")
    return mask


def _alias(type_name: str) -> bool:
    import pyarrow as pa

    try:
        pa.type_for_alias(type_name)
    except (ValueError, KeyError):
        return False
    return True


def _digests(result: PutResult) -> dict[str, str | int | bool]:
    return {"version": result.version.version, "sha256": result.version.sha256, "created": result.created}
