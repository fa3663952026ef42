"""A safetensors scanner: checks the header the way the reference loader does, without loading anything.

Format (huggingface/safetensors): an 8-byte little-endian ``u64`` *N*, then *N* bytes of UTF-8 JSON
(the header), then the byte buffer. The header is a JSON object mapping each tensor name to
``{"dtype": ..., "shape": [...], "data_offsets": [begin, end]}`` (offsets relative to the start of
the buffer), plus an optional ``"__metadata__"`` object of string to string. The writer pads the
header with trailing spaces to an 8-byte boundary; JSON whitespace may also precede the object.

Threat. Safetensors holds no code: loading never imports or calls anything named in the file, so
this scanner never reports ``CRITICAL``. What a hostile file can still do is lie about its layout:

* offsets past the end of the buffer make a naive loader (one that slices without checking, or a
  C/C++ reader that trusts the header) read out of bounds;
* overlapping tensors alias the same bytes (a write through one view changes another);
* bytes no tensor covers (a gap between tensors, or trailing bytes) are invisible to every loader
  and can smuggle a second payload (a pickle, say) that another tool reading the same file finds;
* a dtype, shape or size that does not add up means readers disagree on what the tensor is.

The reference Rust loader refuses all of these (``InvalidOffset``, ``TensorInvalidInfo``,
``MetadataIncompleteBuffer``, unknown dtype, non-string metadata). Severity is therefore ``HIGH``
for every structural violation: the file is not one the library itself would produce or accept,
and the only reasons to hand-craft one are the attacks above. A duplicated tensor name is
``MEDIUM``: the library accepts it (the last entry wins) but other parsers may keep the first, so
two tools see different tensors. A header that is not UTF-8 JSON, is truncated, is larger than
the library's 100 MB cap, or is not a JSON object is not a safetensors file at all: :class:`Unreadable`.

Offsets: header findings point at byte 8 (where the JSON starts); a tensor's findings point at the
first byte of its data in the file (``8 + N + begin``) when that lies inside the file, else at 8.

Only the header is parsed: the buffer is never read or copied, so a multi-GB file given as a
``memoryview`` of an ``mmap`` costs one header parse.
"""

from __future__ import annotations

import json
from typing import Any

from mlwarden._json import JsonRefused, loads_strict
from mlwarden.models._findings import Scope, Severity, Unreadable

__all__ = ["DTYPE_BITS", "MAX_HEADER_SIZE", "scan_safetensors"]

MAX_HEADER_SIZE = 100_000_000  # the reference implementation's limit (bytes)
_USIZE = 1 << 64  # offsets and dimensions are usize in the reference (64-bit)
_MAX_FINDINGS = 100  # a hostile header can list a million broken tensors; report the first ones

# Element sizes in bits of every dtype the current reference accepts (safetensors 0.6+). Sub-byte
# dtypes (F4, F6_*) are packed: a tensor's bit count must end on a byte boundary.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}


class _Report:
    """Findings for one file, capped so a hostile header cannot flood the report."""

    __slots__ = ("count", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.count = 0

    def add(self, severity: Severity, kind: str, name: str, detail: str, offset: int) -> None:
        self.count += 1
        if self.count <= _MAX_FINDINGS:
            self.scope.add(severity, kind, _printable(name), _printable(detail), offset)

    def close(self) -> None:
        if self.count > _MAX_FINDINGS:
            self.scope.add(
                Severity.HIGH,
                "header",
                "...",
                f"{self.count - _MAX_FINDINGS} more structural problems not listed",
                8,
            )


def _printable(text: str) -> str:
    """Text from the file, safe to print: control and other non-printable characters escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _is_usize(value: Any) -> bool:
    return type(value) is int and 0 <= value < _USIZE


def scan_safetensors(data: bytes | memoryview, scope: Scope) -> None:
    """Check a safetensors file's header and layout; report into ``scope``; raise Unreadable if malformed."""
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    size = len(view)
    if size < 8:
        raise Unreadable(f"safetensors file of {size} bytes is shorter than its 8-byte header length")
    n = int.from_bytes(view[:8], "little")
    if n > MAX_HEADER_SIZE:
        raise Unreadable(f"safetensors header of {n} bytes is over the {MAX_HEADER_SIZE}-byte limit")
    if 8 + n > size:
        raise Unreadable(f"safetensors header of {n} bytes runs past the end of the {size}-byte file")
    try:
        text = bytes(view[8 : 8 + n]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"safetensors header is not UTF-8 (byte {8 + exc.start})") from None
    duplicates: dict[int, list[str]] = {}
    keep: list[Any] = []  # objects with duplicates stay alive, so their ids are not reused

    def repeated(obj: dict[str, Any], key: str) -> None:
        # Each object is built as the reference does (the last of duplicated keys wins); note the duplicates.
        if id(obj) not in duplicates:
            keep.append(obj)
        duplicates.setdefault(id(obj), []).append(key)

    try:
        header = loads_strict(text, what="safetensors header", on_repeat=repeated)
    except JsonRefused as exc:
        raise Unreadable(f"safetensors header is not valid JSON: {exc.reason}") from None
    if not isinstance(header, dict):
        raise Unreadable(f"safetensors header is a JSON {_json_type(header)}, not an object")

    report = _Report(scope)
    _check_header(header, duplicates, n, size, report)
    report.close()


def _check_header(header: dict[str, Any], duplicates: dict[int, list[str]], n: int, size: int, report: _Report) -> None:
    buffer_start = 8 + n
    buffer_len = size - buffer_start
    for name in dict.fromkeys(duplicates.get(id(header), ())):
        if name == "__metadata__":
            report.add(Severity.HIGH, "header", name, "__metadata__ appears more than once (the library refuses)", 8)
        else:
            report.add(
                Severity.MEDIUM,
                "duplicate-key",
                name,
                "tensor name appears more than once: the library keeps the last entry, other parsers may keep "
                "the first, so tools disagree on what the tensor is",
                8,
            )

    metadata = header.get("__metadata__")
    if metadata is not None:
        if not isinstance(metadata, dict):
            report.add(Severity.HIGH, "header", "__metadata__", "__metadata__ is not an object of strings", 8)
        else:
            for key, value in metadata.items():
                if not isinstance(value, str):
                    report.add(
                        Severity.HIGH,
                        "header",
                        f"__metadata__.{key}",
                        f"metadata value is a JSON {_json_type(value)}, not a string (the library refuses)",
                        8,
                    )

    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        span = _check_tensor(name, info, duplicates, buffer_start, buffer_len, report)
        if span is not None:
            spans.append((span[0], span[1], name))

    # The reference sorts tensors by (begin, end) and requires each to start where the previous
    # ended, the first at 0 and the last to end at the end of the file.
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        at = buffer_start + begin if begin < buffer_len else 8
        if begin > pos:
            report.add(
                Severity.HIGH,
                "gap",
                name,
                f"{begin - pos} bytes of the buffer before this tensor (buffer bytes {pos}..{begin}) belong to no "
                "tensor: hidden data no loader reads (the library refuses)",
                buffer_start + pos if pos < buffer_len else 8,
            )
        elif begin < pos:
            report.add(
                Severity.HIGH,
                "overlap",
                name,
                f"data_offsets [{begin}, {end}] overlap the previous tensor's bytes (up to {pos}): two tensors alias "
                "the same data (the library refuses)",
                at,
            )
        pos = max(pos, end)
    if pos < buffer_len:
        report.add(
            Severity.HIGH,
            "gap",
            "<trailing data>",
            f"{buffer_len - pos} bytes after the last tensor (file bytes {buffer_start + pos}..{size}) belong to no "
            "tensor: hidden data no loader reads (the library refuses)",
            buffer_start + pos,
        )


def _check_tensor(
    name: str, info: Any, duplicates: dict[int, list[str]], buffer_start: int, buffer_len: int, report: _Report
) -> tuple[int, int] | None:
    """Check one tensor entry; return its ``(begin, end)`` when they are usable for the layout check."""
    if not isinstance(info, dict):
        report.add(Severity.HIGH, "tensor", name, f"entry is a JSON {_json_type(info)}, not a tensor object", 8)
        return None
    dtype = info.get("dtype")
    shape = info.get("shape")
    offsets = info.get("data_offsets")

    span: tuple[int, int] | None = None
    if (
        isinstance(offsets, list)
        and len(offsets) == 2
        and _is_usize(offsets[0])
        and _is_usize(offsets[1])
        and offsets[0] <= offsets[1]
    ):
        span = (offsets[0], offsets[1])
    at = buffer_start + span[0] if span is not None and span[0] < buffer_len else 8

    for key in dict.fromkeys(duplicates.get(id(info), ())):
        if key in ("dtype", "shape", "data_offsets"):
            report.add(Severity.HIGH, "tensor", name, f"field {key} appears more than once (the library refuses)", at)
    if "dtype" not in info or "shape" not in info or "data_offsets" not in info:
        missing = [key for key in ("dtype", "shape", "data_offsets") if key not in info]
        report.add(Severity.HIGH, "tensor", name, f"tensor entry lacks {', '.join(missing)}", at)
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if "dtype" in info and bits is None:
        report.add(Severity.HIGH, "tensor", name, f"unknown dtype {_show(dtype)} (the library refuses)", at)
    elements: int | None = None
    if "shape" in info:
        if isinstance(shape, list) and all(_is_usize(d) for d in shape):
            elements = 1
            for d in shape:
                elements *= d
                if elements >= _USIZE:
                    break
        else:
            detail = f"shape {_show(shape)} is not a list of non-negative integers"
            report.add(Severity.HIGH, "tensor", name, detail, at)
    if "data_offsets" in info and span is None:
        report.add(
            Severity.HIGH,
            "tensor",
            name,
            f"data_offsets {_show(offsets)} is not [begin, end] with 0 <= begin <= end (the library refuses)",
            at,
        )
    if span is None:
        return None

    begin, end = span
    if end > buffer_len:
        report.add(
            Severity.HIGH,
            "out-of-bounds",
            name,
            f"data_offsets [{begin}, {end}] run past the end of the {buffer_len}-byte buffer: a loader that trusts "
            "the header reads out of bounds",
            at,
        )
    if bits is not None and elements is not None:
        total_bits = elements * bits
        if elements >= _USIZE or total_bits >= _USIZE:
            report.add(Severity.HIGH, "tensor", name, f"shape {_show(shape)} overflows the element count", at)
        elif total_bits % 8:
            report.add(
                Severity.HIGH,
                "tensor",
                name,
                f"{elements} elements of {dtype} do not end on a byte boundary (the library refuses)",
                at,
            )
        elif total_bits // 8 != end - begin:
            report.add(
                Severity.HIGH,
                "tensor",
                name,
                f"{dtype} {_show(shape)} needs {total_bits // 8} bytes but data_offsets give {end - begin}: "
                "readers disagree on the tensor (the library refuses)",
                at,
            )
    return span


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
