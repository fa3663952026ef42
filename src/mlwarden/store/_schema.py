"""Schema sniffing: the columns, their types and the row count of a dataset, in the single pass of a put.

``mlwarden data put`` reads a file's plaintext exactly once, in chunks that go through SHA-256 and the
encryptor, and never writes plaintext to disk. :class:`SchemaSniffer` rides along on that pass: every
chunk is also handed to :meth:`SchemaSniffer.feed`, and :meth:`SchemaSniffer.finish` at the end gives a
:class:`TabularSchema` for the catalog. Files can be many GiB, so memory is bounded whatever the file's
size (``max_queued`` chunks, a few 1 MiB pyarrow blocks and the batch being looked at; for Parquet, the
tail of the file), and nothing touches the disk.

CSV and JSON Lines are parsed with pyarrow on one background daemon thread, fed through a bounded
channel: ``feed`` blocks once ``max_queued`` chunks wait, which paces the put to the parser (pyarrow
releases the GIL while it parses, so hashing, encryption and parsing overlap on several cores). A file
pyarrow cannot parse is still stored: the parser records why, the channel is cancelled, and every later
chunk is dropped at once. pyarrow's streaming CSV reader pulls its input from its own I/O thread and
would read 32 blocks ahead; :class:`_Pipe` holds it to :data:`_READAHEAD`.

CSV types describe the whole file, not its first block. pyarrow's streaming reader infers types from
its first block and fails later (``CSV conversion error to int64``) when a later block disagrees, so the
sniffer has it read every column as raw bytes (``binary``, pyarrow's null spellings still mapped to
null) and infers the types itself, batch by batch, with pyarrow's own rule: pyarrow tries the kinds
null, int64, bool, date32, time32[s], timestamp[s], timestamp[ns], timestamp[s, tz=UTC],
timestamp[ns, tz=UTC], double, string, binary in that order and keeps the first one every value of the
column converts to. Whether a value converts to a kind does not depend on the other values, so the
whole-file answer is the first kind that every batch accepts: each column keeps the set of kinds still
possible (a bit mask), each batch removes the kinds it rejects (with vectorised casts, mostly on the
one or two kinds left after the first batch), and the end result is the first kind left. This gives
exactly what ``pyarrow.csv.read_csv`` (whose non-streaming reader re-converts earlier blocks when a
later one disagrees) infers for the same file, which the tests check differentially. Where the sniffer
departs from ``read_csv``'s defaults, it reads more files, never fewer: quoted values may hold line
breaks anywhere (``newlines_in_values=True``; with the default, a block cut inside such a value breaks
the parse), a header with no line ending after it is a header (pyarrow: "Empty CSV file"), and a header
longer than pyarrow's 1 MiB block gets blocks four times its length (up to 8 MiB), so that wide files
with long rows parse.

JSON Lines are cut into blocks at line ends (a raw newline can only end a record in JSON Lines) and
each block is read with ``pyarrow.json.read_json``; the blocks' schemas are merged with the promotions
pyarrow itself applies inside one block: null to anything, int64 with double to double, timestamp[s]
with string to string, structs field by field, lists by their items. Any other conflict (a number in
one row and a string in another) is one pyarrow also refuses in a single block, and the schema is
recorded as unknown with the reason, in pyarrow's words (``Column(/a) changed from number to string``;
with the row when the conflict is inside one block).

Parquet keeps its schema and row count in a footer at the end of the file, so the sniffer keeps only a
bounded tail of the stream (whole chunks, at most :data:`PARQUET_TAIL_MAX` bytes plus one chunk) and
reads the footer at ``finish`` with ``pyarrow.parquet.read_metadata``; no thread is needed.

Error reasons end up in the catalog, which must not hold the dataset's contents: pyarrow's messages can
quote a row (``Expected 3 columns, got 2: <the row>``) or a value, so :func:`_reason` keeps the first
line, cuts row contents and quoted values, and truncates the rest.

pyarrow is imported lazily, in the parser thread or at ``finish``: importing this module is cheap.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import re
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from mlwarden.errors import IntegrityError

__all__ = [
    "FORMATS",
    "PARQUET_TAIL_MAX",
    "Column",
    "SchemaSniffer",
    "TabularSchema",
    "detect_format",
]

FORMATS = ("csv", "parquet", "jsonl", "binary")

#: Parquet footers larger than this (minus 8 bytes) are not read: the schema is recorded as unknown.
PARQUET_TAIL_MAX = 16 << 20
#: Bytes pyarrow parses at a time (its own default); a CSV row must fit in one block.
_BLOCK_SIZE = 1 << 20
#: CSV blocks grow up to this for files with a long header (many columns): four times the header.
_MAX_BLOCK = 8 << 20
#: A CSV header or JSON line longer than these is refused rather than buffered without bound.
_MAX_HEADER = _MAX_BLOCK // 4
_MAX_JSON_LINE = 16 << 20
#: Blocks pyarrow may read ahead of the batches it has handed out (see :class:`_Pipe`).
_READAHEAD = 3
#: A read returns once it has a block's size less this (see :meth:`_Pipe.read`).
_SLACK = 64 << 10
_STALL = 0.05
_REASON_MAX = 200
_JOIN_TIMEOUT = 10.0
_DAMAGED = "the catalog's schema record is damaged"

_EXTENSIONS = {
    "csv": "csv",
    "parquet": "parquet",
    "pq": "parquet",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
}


def detect_format(filename: str | None, head: bytes) -> str:
    """Guess a file's format from its name's last extension, else from its first bytes.

    ``.csv`` is CSV, ``.parquet`` and ``.pq`` Parquet, ``.jsonl`` and ``.ndjson`` JSON Lines (case
    does not matter). Anything else, compressed files such as ``data.csv.gz`` included, is Parquet if
    it starts with the magic ``PAR1`` and binary (stored, not parsed) otherwise.
    """
    if filename:
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if "." in base:
            fmt = _EXTENSIONS.get(base.rsplit(".", 1)[1].lower())
            if fmt is not None:
                return fmt
    if head.startswith(b"PAR1"):
        return "parquet"
    return "binary"


@dataclass(frozen=True)
class Column:
    """One column: its name and its pyarrow type as ``str(type)`` (``"int64"``, ``"timestamp[s]"``...)."""

    name: str
    type: str


@dataclass(frozen=True)
class TabularSchema:
    """What the catalog records about a dataset's shape.

    ``columns`` and ``rows`` are both set (the schema is *known*) or both ``None``. When unknown,
    ``error`` says why in one line, except for ``binary``, where there is nothing to parse.
    """

    format: str
    columns: tuple[Column, ...] | None
    rows: int | None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}")
        if (self.columns is None) != (self.rows is None):
            raise ValueError("columns and rows must both be known or both unknown")
        if self.rows is not None and self.rows < 0:
            raise ValueError("rows must not be negative")
        if self.columns is not None and self.error is not None:
            raise ValueError("a known schema has no error")
        if self.format == "binary" and (self.columns is not None or self.error is not None):
            raise ValueError("a binary dataset has no schema and no error")
        if self.error is not None and ("\n" in self.error or "\r" in self.error):
            raise ValueError("the error must be one line")

    @property
    def known(self) -> bool:
        """Whether the columns and row count are known."""
        return self.columns is not None

    def to_json(self) -> dict[str, Any]:
        """The catalog's JSON form: ``{"format", "columns": [{"name", "type"}] | null, "rows", "error"}``."""
        columns = None if self.columns is None else [{"name": c.name, "type": c.type} for c in self.columns]
        return {"format": self.format, "columns": columns, "rows": self.rows, "error": self.error}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TabularSchema:
        """Parse :meth:`to_json`'s form strictly; any other shape raises :class:`IntegrityError`."""
        if not isinstance(doc, dict) or set(doc) != {"format", "columns", "rows", "error"}:
            raise IntegrityError(_DAMAGED)
        fmt, raw_columns, rows, error = doc["format"], doc["columns"], doc["rows"], doc["error"]
        if not isinstance(fmt, str) or not (error is None or isinstance(error, str)):
            raise IntegrityError(_DAMAGED)
        if rows is not None and (type(rows) is not int):
            raise IntegrityError(_DAMAGED)
        columns: tuple[Column, ...] | None = None
        if raw_columns is not None:
            if not isinstance(raw_columns, list):
                raise IntegrityError(_DAMAGED)
            parsed = []
            for item in raw_columns:
                if (
                    not isinstance(item, dict)
                    or set(item) != {"name", "type"}
                    or not isinstance(item["name"], str)
                    or not isinstance(item["type"], str)
                    or not item["type"]
                ):
                    raise IntegrityError(_DAMAGED)
                parsed.append(Column(item["name"], item["type"]))
            columns = tuple(parsed)
        try:
            return cls(fmt, columns, rows, error)
        except ValueError:
            raise IntegrityError(_DAMAGED) from None


# --- the sniffer -------------------------------------------------------------------------------


class _Channel:
    """A bounded hand-off of chunks from the feeding thread to the parser thread.

    ``put`` blocks while ``max_items`` chunks wait. ``close`` marks the end of the data; ``cancel``
    (the parser gave up, or the put was aborted) drops what waits, wakes both sides, and makes every
    later ``put`` return at once and every ``get`` return ``None``.
    """

    def __init__(self, max_items: int) -> None:
        self._items: collections.deque[bytes] = collections.deque()
        self._max = max_items
        self.cond = threading.Condition()
        self._closed = False
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def put(self, item: bytes) -> None:
        with self.cond:
            while len(self._items) >= self._max and not self._cancelled:
                self.cond.wait()
            if not self._cancelled:
                self._items.append(item)
                self.cond.notify_all()

    def get(self) -> bytes | None:
        """The next chunk, or ``None`` at the end of the data or once cancelled."""
        with self.cond:
            while not self._items and not self._closed and not self._cancelled:
                self.cond.wait()
            if self._cancelled or not self._items:
                return None
            item = self._items.popleft()
            self.cond.notify_all()
            return item

    def close(self) -> None:
        with self.cond:
            self._closed = True
            self.cond.notify_all()

    def cancel(self) -> None:
        with self.cond:
            self._cancelled = True
            self._items.clear()
            self.cond.notify_all()


class _Pipe:
    """A read-only file over a :class:`_Channel`, with bytes pushed back in front; what pyarrow reads.

    ``read(n)`` blocks until it has about ``n`` bytes (at most ``n``, at least ``n - _SLACK``) or the
    data ends; it returns ``b""`` at the end of the data and as soon as the channel is cancelled, so a
    pyarrow reader stuck in a read unblocks on abort.

    pyarrow's streaming CSV reader calls ``read`` from its I/O thread pool and reads up to 32 blocks
    ahead of the batches it has handed out (32 MiB with 1 MiB blocks). To keep memory small, ``read``
    also holds back while :data:`_READAHEAD` blocks read are not yet back as batches, counted with
    :meth:`batches`. A block does not always make a batch (a row longer than a block, a block of empty
    lines), so to never deadlock, a read also goes ahead when the parser thread has been waiting for a
    batch for :data:`_STALL` seconds: then pyarrow needs more data than it has.
    """

    closed = False

    def __init__(self, channel: _Channel, pushback: bytes = b"") -> None:
        self._channel = channel
        self._pending: collections.deque[bytes | memoryview] = collections.deque([pushback] if pushback else [])
        self._eof = False
        self._outstanding = 0  # blocks read that have not come back as batches
        self._consumer_waiting = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around each call of the parser thread into pyarrow that may need data to return."""
        cond = self._channel.cond
        with cond:
            self._consumer_waiting = True
            cond.notify_all()  # a read held back may now have to go ahead (see _hold_back)
        try:
            yield
        finally:
            with cond:
                self._consumer_waiting = False

    def batches(self, reader: Any) -> Iterator[Any]:
        """The batches of ``reader`` (a pyarrow reader over this pipe), counted for the flow control."""
        cond = self._channel.cond
        while True:
            try:
                with self.waiting():
                    batch = reader.read_next_batch()
            except StopIteration:
                return
            with cond:
                self._outstanding = max(0, self._outstanding - 1)
                cond.notify_all()
            yield batch

    def _hold_back(self) -> None:
        cond = self._channel.cond
        with cond:
            stalled_at = None
            while self._outstanding >= _READAHEAD and not self._channel.cancelled:
                if not self._consumer_waiting:
                    stalled_at = None
                    cond.wait()
                    continue
                now = time.monotonic()
                if stalled_at is None:
                    stalled_at = now
                elif now - stalled_at >= _STALL:
                    break  # the parser has waited all this time: pyarrow cannot make a batch of what it has
                cond.wait(stalled_at + _STALL - now)
            self._outstanding += 1

    def _next(self) -> bytes | memoryview | None:
        if self._pending:
            return self._pending.popleft()
        if self._eof:
            return None
        chunk = self._channel.get()
        if chunk is None:
            self._eof = True
        return chunk

    def read(self, size: int | None = -1, /) -> bytes | memoryview:
        self._hold_back()
        if self._channel.cancelled:
            return b""
        limit = _BLOCK_SIZE if size is None or size < 0 else size
        # Whole chunks pass through as they are when they nearly fill the block (a put's chunks are
        # a little under 1 MiB): no copying. pyarrow takes each read as a block, and a row must not
        # straddle three blocks, so small chunks are gathered up to about a block.
        enough = limit - _SLACK if limit > 2 * _SLACK else limit
        parts: list[bytes | memoryview] = []
        have = 0
        while have < enough:
            chunk = self._next()
            if chunk is None:
                break
            if have + len(chunk) > limit:  # a chunk larger than a block: cut without copying
                cut = limit - have
                view = memoryview(chunk)
                self._pending.appendleft(view[cut:])
                chunk = view[:cut]
            parts.append(chunk)
            have += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class SchemaSniffer:
    """Infers a dataset's schema from its plaintext fed chunk by chunk, parsing on a background thread.

    Use it as a context manager, or call :meth:`abort` if the put fails before :meth:`finish`::

        with SchemaSniffer("csv") as sniffer:
            for chunk in chunks:
                sniffer.feed(chunk)
            schema = sniffer.finish()
    """

    def __init__(self, fmt: str, *, max_queued: int = 8) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._format = fmt
        self._result: TabularSchema | None = None
        self._state = "open"  # then "finished" or "aborted"
        self._channel: _Channel | None = None
        self._thread: threading.Thread | None = None
        # Parquet: the first bytes (for the magic) and a bounded tail of whole chunks.
        self._head = b""
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._total = 0
        if fmt in ("csv", "jsonl"):
            self._channel = _Channel(max_queued)
            self._thread = threading.Thread(
                target=self._run, args=(self._channel,), name=f"mlwarden-schema-{fmt}", daemon=True
            )
            self._thread.start()

    def __enter__(self) -> SchemaSniffer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def feed(self, chunk: bytes) -> None:
        """Give the next chunk of plaintext; the caller must not modify it afterwards.

        Blocks while ``max_queued`` chunks wait for the parser. Never raises because of the data: a
        parse failure is recorded, and later chunks are dropped at once.
        """
        if self._state != "open":
            if self._state == "finished":
                raise RuntimeError("feed() after finish()")
            return
        if not chunk:
            return
        if self._channel is not None:
            self._channel.put(bytes(chunk))
        elif self._format == "parquet":
            self._keep_tail(bytes(chunk))

    def finish(self) -> TabularSchema:
        """End of the data: wait for the parser and return the schema."""
        if self._state == "aborted":
            raise RuntimeError("finish() after abort()")
        if self._state == "open":
            self._state = "finished"
            if self._format == "binary":
                self._result = TabularSchema("binary", None, None, None)
            elif self._format == "parquet":
                self._result = self._parquet_result()
                self._tail.clear()
            else:
                assert self._channel is not None
                assert self._thread is not None
                self._channel.close()
                self._thread.join()
                if self._result is None:  # cannot happen: the thread always leaves a result unless aborted
                    self._result = TabularSchema(self._format, None, None, "the schema parser stopped")
        assert self._result is not None
        return self._result

    def abort(self) -> None:
        """Stop the parser without a result (the put failed). Idempotent; a no-op after :meth:`finish`."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._tail.clear()
        if self._channel is not None:
            self._channel.cancel()
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)

    # --- the parser thread ---

    def _run(self, channel: _Channel) -> None:
        try:
            result = _sniff_csv(channel) if self._format == "csv" else _sniff_jsonl(channel)
        except ImportError:
            result = TabularSchema(self._format, None, None, "pyarrow is not installed")
        except Exception as exc:  # whatever pyarrow raises: the file is still stored, the reason recorded
            result = TabularSchema(self._format, None, None, _reason(exc))
        finally:
            channel.cancel()  # from now on feed() drops chunks at once
        if result is not None:
            self._result = result

    # --- Parquet ---

    def _keep_tail(self, chunk: bytes) -> None:
        if len(self._head) < 4:
            self._head += chunk[: 4 - len(self._head)]
        self._total += len(chunk)
        self._tail.append(chunk)
        self._tail_size += len(chunk)
        while self._tail_size - len(self._tail[0]) >= PARQUET_TAIL_MAX:
            self._tail_size -= len(self._tail.popleft())

    def _parquet_result(self) -> TabularSchema:
        def unknown(reason: str) -> TabularSchema:
            return TabularSchema("parquet", None, None, reason)

        if self._total == 0:
            return unknown("empty file")
        if self._head != b"PAR1":
            return unknown("not a Parquet file (no PAR1 magic at the start)")
        if self._total < 12:
            return unknown("not a Parquet file (too short)")
        end = self._tail_bytes(8)
        if end[4:] == b"PARE":
            return unknown("Parquet files with an encrypted footer are not supported")
        if end[4:] != b"PAR1":
            return unknown("not a Parquet file (no PAR1 magic at the end)")
        (footer_size,) = struct.unpack("<I", end[:4])
        if footer_size + 12 > self._total:
            return unknown(f"damaged Parquet file: footer length {footer_size} exceeds the file")
        if footer_size + 8 > PARQUET_TAIL_MAX:
            return unknown(f"Parquet footer too large to read ({footer_size} bytes)")
        footer = self._tail_bytes(footer_size + 8)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return unknown("pyarrow is not installed")
        try:
            metadata = pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
            arrow_schema = metadata.schema.to_arrow_schema()
            columns = tuple(Column(f.name, str(f.type)) for f in arrow_schema)
            rows = int(metadata.num_rows)
        except Exception as exc:
            return unknown("damaged Parquet footer: " + _reason(exc))
        if rows < 0:
            return unknown("damaged Parquet footer: negative row count")
        return TabularSchema("parquet", columns, rows)

    def _tail_bytes(self, n: int) -> bytes:
        """The last ``n`` bytes kept (fewer if fewer were kept)."""
        parts: list[bytes] = []
        have = 0
        for chunk in reversed(self._tail):
            parts.append(chunk)
            have += len(chunk)
            if have >= n:
                break
        data = b"".join(reversed(parts))
        return data[-n:] if n else b""


# --- error reasons -------------------------------------------------------------------------------

_ROW_CONTENTS = re.compile(r"(Expected \d+ columns?, got \d+)\s*:.*", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_AFTER_PARSE = re.compile(r"(couldn't parse)\s*:.*")


def _reason(exc: BaseException) -> str:
    """One short line saying why a file could not be read, without the file's contents.

    The reason is stored in the catalog, which must not leak the dataset: pyarrow's messages quote the
    offending row (``Expected 2 columns, got 3: 1,2,secret``) or value (``invalid value 'secret'``), so
    row contents are cut, quoted text becomes ``…``, and whatever follows "couldn't parse" goes.
    """
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0].strip()
    text = _ROW_CONTENTS.sub(r"\1", text)
    text = _QUOTED.sub("'…'", text)
    text = _AFTER_PARSE.sub(r"\1 …", text)
    if len(text) > _REASON_MAX:
        text = text[: _REASON_MAX - 1] + "…"
    return text


# --- CSV -------------------------------------------------------------------------------------------

# pyarrow's inference order (arrow/csv/inference_internal.h): the first kind every value converts to wins.
_KINDS = (
    "null",
    "int64",
    "bool",
    "date32[day]",
    "time32[s]",
    "timestamp[s]",
    "timestamp[ns]",
    "timestamp[s, tz=UTC]",
    "timestamp[ns, tz=UTC]",
    "double",
    "string",
    "binary",
)
_ALL_KINDS = (1 << len(_KINDS)) - 1
_NULL, _INT, _BOOL, _DATE, _TIME, _TS_S, _TS_NS, _TSZ_S, _TSZ_NS, _DOUBLE, _STRING, _BINARY = (
    1 << i for i in range(len(_KINDS))
)
# pyarrow's ConvertOptions defaults for booleans (matched exactly, no trimming).
_BOOL_VALUES = ("1", "True", "TRUE", "true", "0", "False", "FALSE", "false")
# pyarrow's time32 parser: HH:MM or HH:MM:SS, hours below 24; fractions are refused for seconds.
_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
# numbers, dates and times are parsed after trimming spaces and tabs; booleans and timestamps are not.
_TRIMMED_KINDS = _INT | _DATE | _TIME | _DOUBLE


def _first_record_end(buf: bytes, at_eof: bool) -> int | None:
    """Where the first record (the header) ends in ``buf``, its line ending included.

    ``None`` if ``buf`` may not hold all of it yet. Follows pyarrow's defaults: a UTF-8 byte order
    mark and empty lines before the header are skipped, fields are separated by commas, a field that
    starts with ``"`` is quoted until a ``"`` not doubled, and records end at LF, CR or CRLF.
    """
    n = len(buf)
    i = 3 if buf.startswith(b"\xef\xbb\xbf") else 0
    while i < n and buf[i] in b"\r\n":
        i += 1
    if i == n:
        return n if at_eof else None
    line_end = min((p for p in (buf.find(b"\n", i), buf.find(b"\r", i)) if p >= 0), default=n)
    if b'"' not in buf[i:line_end]:  # the common case, without scanning byte by byte in Python
        if line_end == n or (buf[line_end] == 0x0D and line_end + 1 == n):
            return n if at_eof else None
        return line_end + 2 if buf[line_end : line_end + 2] == b"\r\n" else line_end + 1
    field_start = True
    quoted = False
    while i < n:
        c = buf[i]
        if quoted:
            if c == 0x22:  # '"'
                if i + 1 == n:
                    return n if at_eof else None
                if buf[i + 1] == 0x22:
                    i += 2
                    continue
                quoted = False
            i += 1
        elif field_start and c == 0x22:
            quoted = True
            field_start = False
            i += 1
        elif c == 0x2C:  # ','
            field_start = True
            i += 1
        elif c == 0x0A:
            return i + 1
        elif c == 0x0D:
            if i + 1 == n:
                return n if at_eof else None
            return i + 2 if buf[i + 1] == 0x0A else i + 1
        else:
            field_start = False
            i += 1
    return n if at_eof else None


def _read_header(channel: _Channel) -> tuple[bytes, int, bool]:
    """Pull chunks until the first record is complete: (bytes read so far, end of the header, at EOF)."""
    parts: list[bytes] = []
    size = 0
    buf = b""
    at_eof = False
    while True:
        chunk = channel.get()
        if chunk is None:
            at_eof = True
        else:
            parts.append(chunk)
            size += len(chunk)
            if b"\n" not in chunk and b"\r" not in chunk and size <= _MAX_HEADER:
                continue  # the record cannot have ended in this chunk
        buf = b"".join(parts)
        parts = [buf]
        end = _first_record_end(buf, at_eof)
        if end is not None and end <= _MAX_HEADER:
            return buf, end, at_eof
        if end is not None or size > _MAX_HEADER:
            raise ValueError(f"the CSV header is longer than {_MAX_HEADER >> 20} MiB")


def _csv_options(names: list[str] | None, header_size: int) -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    block_size = _BLOCK_SIZE
    while block_size < 4 * header_size and block_size < _MAX_BLOCK:
        block_size *= 2  # many columns: long rows
    read = pacsv.ReadOptions(block_size=block_size, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    if names is None:
        return read, parse, pacsv.ConvertOptions()
    # Every column as raw bytes, with pyarrow's null spellings ("", "NA", "null"...) still null.
    column_types = {name: pa.binary() for name in names}
    return read, parse, pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True)


def _sniff_csv(channel: _Channel) -> TabularSchema | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buf, end, at_eof = _read_header(channel)
    if channel.cancelled:
        return None
    if not buf.removeprefix(b"\xef\xbb\xbf").strip(b"\r\n"):
        return TabularSchema("csv", None, None, "empty file")
    header = buf[:end]
    if not header.endswith((b"\n", b"\r")):
        header += b"\n"
    read, parse, convert = _csv_options(None, len(header))
    names = pacsv.read_csv(pa.BufferReader(header), read_options=read, parse_options=parse).column_names
    if at_eof and not buf[end:].strip(b"\r\n"):
        return TabularSchema("csv", tuple(Column(name, "null") for name in names), 0)

    read, parse, convert = _csv_options(names, len(header))
    pipe = _Pipe(channel, buf)
    masks = [_ALL_KINDS] * len(names)
    rows = 0
    reader = None
    try:
        with pipe.waiting():  # pyarrow reads the first block(s) here
            reader = pacsv.open_csv(pipe, read_options=read, parse_options=parse, convert_options=convert)
        for batch in pipe.batches(reader):
            if channel.cancelled:
                return None
            rows += batch.num_rows
            for i in range(batch.num_columns):
                masks[i] = _narrow(masks[i], batch.column(i))
    except BaseException:
        # Cancel before the reader goes: destroying it waits for pyarrow's I/O thread, which may
        # be held back in _Pipe.read (or the feeding thread blocked on a full channel) until then.
        channel.cancel()
        raise
    finally:
        del reader
    if channel.cancelled:
        return None
    columns = tuple(
        Column(name, _KINDS[(mask & -mask).bit_length() - 1]) for name, mask in zip(names, masks, strict=True)
    )
    return TabularSchema("csv", columns, rows)


def _narrow(mask: int, column: Any) -> int:
    """Remove from ``mask`` the kinds that some value of ``column`` (binary, nulls already null) rejects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count == len(column):
        return mask
    if column.null_count:
        column = column.drop_null()
    mask &= ~_NULL
    if mask == _BINARY:
        return mask
    try:
        text = column.cast(pa.string())
    except pa.ArrowInvalid:  # not UTF-8: only binary is left
        return _BINARY
    trimmed = pc.ascii_trim(text, " \t") if mask & _TRIMMED_KINDS else None

    for kind in _CHECKED_KINDS:
        if mask & kind and not _accepts(kind, text, trimmed):
            mask &= ~kind
    return mask


_SAMPLE = 64


@functools.cache
def _bool_values() -> Any:
    """pyarrow's boolean spellings as a string array, built from buffers.

    ``pa.array`` on Python values would import pandas (pyarrow checks for pandas objects): 40 MiB of
    RSS in the middle of a put that has a memory budget.
    """
    import pyarrow as pa

    data = "".join(_BOOL_VALUES).encode()
    ends = [0]
    for value in _BOOL_VALUES:
        ends.append(ends[-1] + len(value))
    offsets = pa.py_buffer(struct.pack(f"<{len(ends)}i", *ends))
    return pa.Array.from_buffers(pa.string(), len(_BOOL_VALUES), [None, offsets, pa.py_buffer(data)])


_CHECKED_KINDS = (_INT, _BOOL, _DATE, _TIME, _TS_S, _TS_NS, _TSZ_S, _TSZ_NS, _DOUBLE)


def _accepts(kind: int, text: Any, trimmed: Any) -> bool:
    """Whether every value of ``text`` (non-null strings; ``trimmed``: the same, trimmed) is of ``kind``.

    A failing cast still converts every value, and slowly, so a kind is first tried on a sample: most
    kinds a column is not of are ruled out on its first few values.
    """
    if len(text) > 2 * _SAMPLE:
        sample = None if trimmed is None else trimmed.slice(0, _SAMPLE)
        if not _all_of_kind(kind, text.slice(0, _SAMPLE), sample):
            return False
    return _all_of_kind(kind, text, trimmed)


def _all_of_kind(kind: int, text: Any, trimmed: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == _BOOL:
        return bool(pc.all(pc.is_in(text, value_set=_bool_values())).as_py())
    if kind == _TIME:
        return bool(pc.all(pc.match_substring_regex(trimmed, _TIME_PATTERN)).as_py())
    values, target = {
        _INT: (trimmed, pa.int64()),
        _DATE: (trimmed, pa.date32()),
        _TS_S: (text, pa.timestamp("s")),
        _TS_NS: (text, pa.timestamp("ns")),
        _TSZ_S: (text, pa.timestamp("s", "UTC")),
        _TSZ_NS: (text, pa.timestamp("ns", "UTC")),
        _DOUBLE: (trimmed, pa.float64()),
    }[kind]
    try:
        values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


# --- JSON Lines ------------------------------------------------------------------------------------


class _Conflict(Exception):
    pass


def _json_kind(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_null(t):
        return "null"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_timestamp(t) or pa.types.is_binary(t):
        return "string"
    if pa.types.is_list(t):
        return "array"
    if pa.types.is_struct(t):
        return "object"
    return str(t)


def _merge_json_type(a: Any, b: Any, path: str) -> Any:
    """The type pyarrow's JSON reader gives a value seen as ``a`` in some rows and ``b`` in others."""
    import pyarrow as pa

    if a.equals(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    kind_a, kind_b = _json_kind(a), _json_kind(b)
    if kind_a != kind_b:
        raise _Conflict(f"JSON parse error: Column({path}) changed from {kind_a} to {kind_b}")
    if kind_a == "number":
        return pa.float64()
    if kind_a == "string":
        return pa.string()
    if kind_a == "array":
        item = _merge_json_type(a.value_type, b.value_type, path + "/[]")
        return pa.list_(pa.field(a.value_field.name, item))
    if kind_a == "object":
        return pa.struct(_merge_json_fields(list(a), list(b), path))
    raise _Conflict(f"JSON parse error: Column({path}) changed from {a} to {b}")


def _merge_json_fields(old: list[Any], new: list[Any], path: str) -> list[Any]:
    import pyarrow as pa

    fields = {f.name: f.type for f in old}
    for f in new:
        fields[f.name] = _merge_json_type(fields[f.name], f.type, f"{path}/{f.name}") if f.name in fields else f.type
    return [pa.field(name, t) for name, t in fields.items()]


def _json_blocks(channel: _Channel) -> Iterator[bytes]:
    """The stream cut into blocks of whole lines, about :data:`_BLOCK_SIZE` bytes each."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = channel.get()
        if chunk is None:
            break
        parts.append(chunk)
        before, size = size, size + len(chunk)
        if size < _BLOCK_SIZE:
            continue
        # What was kept from before holds no line end, so from a block on there is nothing to cut
        # unless this chunk brings one: no copying the buffer again and again for a long line.
        if before >= _BLOCK_SIZE and b"\n" not in chunk:
            if size > _MAX_JSON_LINE:
                raise ValueError(f"a JSON line is longer than {_MAX_JSON_LINE >> 20} MiB")
            continue
        data = b"".join(parts)
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            parts = [data]
            continue
        yield data[:cut]
        rest = data[cut:]
        parts = [rest] if rest else []
        size = len(rest)
    if parts:
        yield b"".join(parts)


_JSON_ROW = re.compile(r" in row (\d+)")


def _shift_rows(reason: str, offset: int) -> str:
    """pyarrow counts rows from the start of the block: make them count from the start of the file."""
    return _JSON_ROW.sub(lambda m: f" in row {offset + int(m.group(1))}", reason)


def _sniff_jsonl(channel: _Channel) -> TabularSchema | None:
    import pyarrow as pa
    import pyarrow.json as pajson

    fields: list[Any] = []
    rows = 0
    seen_bytes = False
    for block in _json_blocks(channel):
        if channel.cancelled:
            return None
        seen_bytes = True
        if not block.strip():
            continue
        options = pajson.ReadOptions(use_threads=False, block_size=len(block) + 1)
        try:
            table = pajson.read_json(pa.BufferReader(block), read_options=options)
        except pa.ArrowInvalid as exc:
            # pyarrow counts rows from the start of the block; make them count from the start of the file.
            return TabularSchema("jsonl", None, None, _shift_rows(_reason(exc), rows))
        try:
            fields = _merge_json_fields(fields, list(table.schema), "")
        except _Conflict as exc:
            return TabularSchema("jsonl", None, None, _reason(exc))
        rows += table.num_rows
    if channel.cancelled:
        return None
    if not seen_bytes:
        return TabularSchema("jsonl", None, None, "empty file")
    return TabularSchema("jsonl", tuple(Column(f.name, str(f.type)) for f in fields), rows)
