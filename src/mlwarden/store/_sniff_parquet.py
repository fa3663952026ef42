"""The Parquet sniffer: the schema and row count from the footer, in a bounded tail of the stream.

Parquet keeps its schema and row count in a footer at the end of the file, so :class:`ParquetTail`
keeps only a bounded tail of the stream (whole chunks, at most :data:`PARQUET_TAIL_MAX` bytes plus one
chunk) and reads the footer at the end with ``pyarrow.parquet.read_metadata``; no thread is needed.

pyarrow is imported lazily, in :meth:`ParquetTail.result`: importing this module is cheap.
"""

from __future__ import annotations

import collections
import struct

from mlwarden.store._reasons import reason
from mlwarden.store._tabular import Column, TabularSchema

__all__ = ["PARQUET_TAIL_MAX", "ParquetTail"]

#: Parquet footers larger than this (minus 8 bytes) are not read: the schema is recorded as unknown.
PARQUET_TAIL_MAX = 16 << 20


class ParquetTail:
    """The first four bytes of a Parquet stream (for the magic) and a bounded tail of whole chunks."""

    def __init__(self) -> None:
        self._head = b""
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._total = 0

    def clear(self) -> None:
        """Drop what is kept (the put is over)."""
        self._tail.clear()

    def feed(self, chunk: bytes) -> None:
        """Keep ``chunk`` (the next one of the file), dropping whole chunks no longer needed."""
        if len(self._head) < 4:
            self._head += chunk[: 4 - len(self._head)]
        self._total += len(chunk)
        self._tail.append(chunk)
        self._tail_size += len(chunk)
        while self._tail_size - len(self._tail[0]) >= PARQUET_TAIL_MAX:
            self._tail_size -= len(self._tail.popleft())

    def result(self) -> TabularSchema:
        """The schema in the footer, or why there is none."""

        def unknown(why: str) -> TabularSchema:
            return TabularSchema("parquet", None, None, why)

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
            return unknown("damaged Parquet footer: " + reason(exc))
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
