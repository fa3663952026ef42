"""The CSV sniffer: column names, whole-file types and the row count, read through a :class:`Pipe`.

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

pyarrow is imported lazily, in the parser thread: importing this module is cheap.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

from mlwarden.store._channel import BLOCK_SIZE, Channel, Pipe
from mlwarden.store._reasons import csv_reason
from mlwarden.store._tabular import Column, TabularSchema

__all__ = ["sniff_csv"]

#: CSV blocks grow up to this for files with a long header (many columns): four times the header.
_MAX_BLOCK = 8 << 20
#: A CSV header longer than this is refused rather than buffered without bound.
_MAX_HEADER = _MAX_BLOCK // 4

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


def _read_header(channel: Channel) -> tuple[bytes, int, bool]:
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

    block_size = BLOCK_SIZE
    while block_size < 4 * header_size and block_size < _MAX_BLOCK:
        block_size *= 2  # many columns: long rows
    read = pacsv.ReadOptions(block_size=block_size, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    if names is None:
        return read, parse, pacsv.ConvertOptions()
    # Every column as raw bytes, with pyarrow's null spellings ("", "NA", "null"...) still null.
    column_types = {name: pa.binary() for name in names}
    return read, parse, pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True)


def sniff_csv(channel: Channel) -> TabularSchema | None:
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
    try:
        names = pacsv.read_csv(pa.BufferReader(header), read_options=read, parse_options=parse).column_names
    except UnicodeDecodeError:
        return TabularSchema("csv", None, None, "the CSV header is not UTF-8 text")
    except pa.ArrowInvalid as exc:
        return TabularSchema("csv", None, None, csv_reason(exc, rows=0, block_size=read.block_size))
    if at_eof and not buf[end:].strip(b"\r\n"):
        return TabularSchema("csv", tuple(Column(name, "null") for name in names), 0)

    read, parse, convert = _csv_options(names, len(header))
    pipe = Pipe(channel, buf)
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
    except pa.ArrowInvalid as exc:
        channel.cancel()  # before the reader goes (see below)
        return TabularSchema("csv", None, None, csv_reason(exc, rows=rows, block_size=read.block_size))
    except BaseException:
        # Cancel before the reader goes: destroying it waits for pyarrow's I/O thread, which may
        # be held back in Pipe.read (or the feeding thread blocked on a full channel) until then.
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
