"""The JSON Lines sniffer: the merged schema of blocks of whole lines, and the row count.

JSON Lines are cut into blocks at line ends (a raw newline can only end a record in JSON Lines) and
each block is read with ``pyarrow.json.read_json``; the blocks' schemas are merged with the promotions
pyarrow itself applies inside one block: null to anything, int64 with double to double, timestamp[s]
with string to string, structs field by field, lists by their items. Any other conflict (a number in
one row and a string in another) is one pyarrow also refuses in a single block, and the schema is
recorded as unknown with the reason, in a user's terms (``JSON Lines field a is a number in one record
and a string in record 2``; see :func:`~mlwarden.store._reasons.json_reason`).

pyarrow is imported lazily, in the parser thread: importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlwarden.store._channel import BLOCK_SIZE, Channel
from mlwarden.store._reasons import json_reason, reason
from mlwarden.store._tabular import Column, TabularSchema

__all__ = ["sniff_jsonl"]

#: A JSON line longer than this is refused rather than buffered without bound.
_MAX_JSON_LINE = 16 << 20


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


def _json_blocks(channel: Channel) -> Iterator[bytes]:
    """The stream cut into blocks of whole lines, about :data:`BLOCK_SIZE` bytes each."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = channel.get()
        if chunk is None:
            break
        parts.append(chunk)
        before, size = size, size + len(chunk)
        if size < BLOCK_SIZE:
            continue
        # What was kept from before holds no line end, so from a block on there is nothing to cut
        # unless this chunk brings one: no copying the buffer again and again for a long line.
        if before >= BLOCK_SIZE and b"\n" not in chunk:
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


def sniff_jsonl(channel: Channel) -> TabularSchema | None:
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
            return TabularSchema("jsonl", None, None, json_reason(reason(exc), offset=rows))
        try:
            fields = _merge_json_fields(fields, list(table.schema), "")
        except _Conflict as exc:
            return TabularSchema("jsonl", None, None, json_reason(reason(exc), offset=rows))
        rows += table.num_rows
    if channel.cancelled:
        return None
    if not seen_bytes:
        return TabularSchema("jsonl", None, None, "empty file")
    return TabularSchema("jsonl", tuple(Column(f.name, str(f.type)) for f in fields), rows)
