"""An ONNX scanner: walks the protobuf of a model with its own wire-format reader, never with ``onnx``.

An ONNX file is one serialised ``ModelProto`` (onnx.proto). Its graph, the graphs nested in node
attributes (``If``/``Loop``/``Scan`` bodies), the training graphs and the model-local functions
hold nodes and tensors. Nothing in the format is Python code, but two constructs reach outside
the file when a runtime loads it:

* **External data.** A ``TensorProto`` may keep its bytes in another file, named by the
  ``location`` entry of ``external_data`` (with ``data_location = EXTERNAL``). The loader joins
  that name to the model's folder and reads it. A location that is absolute, climbs out with
  ``..``, goes through a symlink that leaves the folder, or holds a NUL or a backslash (truncation
  and Windows separators: different runtimes split it differently) makes the loader read any
  file the user can read (keys, ``/etc/shadow``) into a tensor, which the model's outputs can then
  leak: ``CRITICAL``. Every ``location`` is checked, whatever ``data_location`` says, since runtimes
  differ on when they honour it. An external file that is missing is ``MEDIUM`` (the model does
  not load as given, and the name may point at a file that appears later); so is an
  ``offset``/``length`` that is not a number or runs past the end of the file.
* **Custom operator domains.** A node whose ``domain`` no runtime implements itself needs a
  native library (``register_custom_ops_library``, a shared object) to run: native code that is
  not in the model and that the model asks the user to load. ``MEDIUM`` per operator. Built-in
  domains: ``""``/``ai.onnx``, ``ai.onnx.ml``, ``ai.onnx.preview``, ``ai.onnx.preview.training``
  (the ONNX standard) and ``com.microsoft`` with ONNX Runtime's own internal domains
  (``com.microsoft.nchwc``, ``com.microsoft.experimental``, ``com.ms.internal.nhwc``: contrib
  operators compiled into ONNX Runtime, no extra library). A node that calls a function the model
  itself defines (``FunctionProto`` with that domain and name) is not custom either: its body is
  walked like any graph.

The reader knows the four wire types protobuf still uses (varint, 64-bit, length-delimited,
32-bit); groups (3, 4) and the undefined types (6, 7), a truncated varint or field, a length past
the end of its message and nesting deeper than :data:`MAX_DEPTH` messages are :class:`Unreadable`.
Fields of a known number but the wrong wire type are skipped, as protobuf does with unknown
fields; a sub-message given twice is walked twice (protobuf merges them). Payloads (``raw_data``,
packed numbers, strings) are stepped over by length, never copied. Findings point at the first
byte of the tensor's or node's message in the file.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from mlwarden.models._findings import Scope, Severity, Unreadable

__all__ = ["BUILTIN_DOMAINS", "MAX_DEPTH", "iter_fields", "scan_onnx"]

MAX_DEPTH = 64

BUILTIN_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.preview",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.microsoft.experimental",
        "com.ms.internal.nhwc",
    }
)

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_DRIVE = re.compile(r"^[A-Za-z]:")

# Field numbers (onnx.proto).
_MODEL_GRAPH, _MODEL_TRAINING_INFO, _MODEL_FUNCTIONS = 7, 20, 25
_TRAINING_INITIALIZATION, _TRAINING_ALGORITHM = 1, 2
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 4, 5, 7
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA = 8, 13
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_FUNCTION_NAME, _FUNCTION_NODE, _FUNCTION_DOMAIN, _FUNCTION_ATTRIBUTE_PROTO = 1, 7, 10, 11
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_MODEL_KNOWN = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26})  # ModelProto's fields in onnx.proto


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise Unreadable(f"protobuf varint truncated at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise Unreadable(f"protobuf varint longer than 10 bytes at byte {pos - 10}")


def iter_fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield ``(field, wire_type, value, payload_end, tag_offset)`` for each field of one message.

    ``value`` is the number for a varint, the payload start for a length-delimited field (whose
    payload is ``buf[value:payload_end]``), and the offset of the fixed bytes for 32/64-bit fields.
    Raises :class:`Unreadable` on anything protobuf would refuse.
    """
    pos = start
    while pos < end:
        at = pos
        tag, pos = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 0 or field >= 1 << 29:
            raise Unreadable(f"protobuf field number {field} is invalid at byte {at}")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value, pos, at
        elif wire == _LEN:
            length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise Unreadable(f"protobuf field {field} at byte {at} runs {length - (end - pos)} bytes past its end")
            yield field, wire, pos, pos + length, at
            pos += length
        elif wire in (_I64, _I32):
            width = 8 if wire == _I64 else 4
            if width > end - pos:
                raise Unreadable(f"protobuf fixed-width field {field} truncated at byte {at}")
            yield field, wire, pos, pos + width, at
            pos += width
        else:
            raise Unreadable(f"protobuf wire type {wire} (field {field}) is not allowed, at byte {at}")


def _text(buf: memoryview, start: int, end: int) -> str:
    # onnx.proto is proto2: strings are not checked for UTF-8, so keep undecodable bytes (as os.fsdecode does).
    return bytes(buf[start:end]).decode("utf-8", "surrogateescape")


def _show(text: str) -> str:
    """A name safe to print: control characters, NULs and undecodable bytes escaped."""
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in shown)


class _Walker:
    __slots__ = ("buf", "custom", "functions", "locations", "model_dir", "on_unknown", "scope")

    def __init__(
        self,
        buf: memoryview,
        scope: Scope,
        model_dir: Path | None,
        on_unknown: Callable[[int, int], None] | None = None,
    ) -> None:
        self.buf = buf
        self.scope = scope
        self.model_dir = model_dir
        self.on_unknown = on_unknown
        self.functions: set[tuple[str, str]] = set()
        self.custom: dict[tuple[str, str], list[int]] = {}  # (domain, op) -> [first offset, count]
        self.locations: set[str] = set()

    # -- messages ----------------------------------------------------------------------------
    def model(self, start: int, end: int) -> None:
        buf = self.buf
        # Local functions first: a node calling one is not a custom operator.
        for field, wire, a, b, _ in iter_fields(buf, start, end):
            if field == _MODEL_FUNCTIONS and wire == _LEN:
                self.functions.add(self.function_key(a, b))
        for field, wire, a, b, _ in iter_fields(buf, start, end):
            if wire != _LEN:
                continue
            if field == _MODEL_GRAPH:
                self.graph(a, b, 1)
            elif field == _MODEL_TRAINING_INFO:
                for sub, sub_wire, c, d, _ in iter_fields(buf, a, b):
                    if sub in (_TRAINING_INITIALIZATION, _TRAINING_ALGORITHM) and sub_wire == _LEN:
                        self.graph(c, d, 2)
            elif field == _MODEL_FUNCTIONS:
                self.function(a, b, 1)
            elif field not in _MODEL_KNOWN and self.on_unknown is not None:
                self.on_unknown(a, b)  # runtimes ignore it, but the bytes may be another file (a pickle)

    def function_key(self, start: int, end: int) -> tuple[str, str]:
        name = domain = ""
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire == _LEN and field == _FUNCTION_NAME:
                name = _text(self.buf, a, b)
            elif wire == _LEN and field == _FUNCTION_DOMAIN:
                domain = _text(self.buf, a, b)
        return domain, name

    def function(self, start: int, end: int, depth: int) -> None:
        self.enter(depth, start)
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if field == _FUNCTION_NODE:
                self.node(a, b, depth + 1)
            elif field == _FUNCTION_ATTRIBUTE_PROTO:  # default attribute values may hold tensors and graphs
                self.attribute(a, b, depth + 1)

    def graph(self, start: int, end: int, depth: int) -> None:
        self.enter(depth, start)
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if field == _GRAPH_NODE:
                self.node(a, b, depth + 1)
            elif field == _GRAPH_INITIALIZER:
                self.tensor(a, b, depth + 1)
            elif field == _GRAPH_SPARSE_INITIALIZER:
                self.sparse_tensor(a, b, depth + 1)

    def node(self, start: int, end: int, depth: int) -> None:
        self.enter(depth, start)
        domain = op_type = ""
        attributes: list[tuple[int, int]] = []
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if field == _NODE_DOMAIN:
                domain = _text(self.buf, a, b)
            elif field == _NODE_OP_TYPE:
                op_type = _text(self.buf, a, b)
            elif field == _NODE_ATTRIBUTE:
                attributes.append((a, b))
        if domain not in BUILTIN_DOMAINS and (domain, op_type) not in self.functions:
            seen = self.custom.setdefault((domain, op_type), [start, 0])
            seen[1] += 1
        for a, b in attributes:
            self.attribute(a, b, depth + 1)

    def attribute(self, start: int, end: int, depth: int) -> None:
        self.enter(depth, start)
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if field in (_ATTR_T, _ATTR_TENSORS):
                self.tensor(a, b, depth + 1)
            elif field in (_ATTR_G, _ATTR_GRAPHS):
                self.graph(a, b, depth + 1)
            elif field in (_ATTR_SPARSE, _ATTR_SPARSES):
                self.sparse_tensor(a, b, depth + 1)

    def sparse_tensor(self, start: int, end: int, depth: int) -> None:
        self.enter(depth, start)
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire == _LEN and field in (_SPARSE_VALUES, _SPARSE_INDICES):
                self.tensor(a, b, depth + 1)

    def tensor(self, start: int, end: int, depth: int) -> None:
        self.enter(depth, start)
        name = ""
        entries: list[tuple[int, int]] = []
        for field, wire, a, b, _ in iter_fields(self.buf, start, end):
            if wire != _LEN:
                continue
            if field == _TENSOR_NAME:
                name = _text(self.buf, a, b)
            elif field == _TENSOR_EXTERNAL_DATA:
                entries.append((a, b))
        if not entries:
            return
        info: dict[str, list[str]] = {}
        for a, b in entries:
            self.enter(depth + 1, a)
            key = value = ""
            for field, wire, c, d, _ in iter_fields(self.buf, a, b):
                if wire == _LEN and field == _ENTRY_KEY:
                    key = _text(self.buf, c, d)
                elif wire == _LEN and field == _ENTRY_VALUE:
                    value = _text(self.buf, c, d)
            info.setdefault(key, []).append(value)
        self.external(name, info, start)

    def enter(self, depth: int, at: int) -> None:
        if depth > MAX_DEPTH:
            raise Unreadable(f"protobuf messages nested deeper than {MAX_DEPTH} at byte {at}")

    # -- findings ----------------------------------------------------------------------------
    def external(self, tensor: str, info: dict[str, list[str]], at: int) -> None:
        locations = info.get("location", [])
        if not locations:
            self.scope.add(
                Severity.MEDIUM,
                "external-data",
                _show(tensor) or "?",
                "tensor has external_data entries but no location: the model does not load as given",
                at,
            )
            return
        for location in locations:  # runtimes differ on which of several wins: check all
            if location in self.locations:
                continue
            self.locations.add(location)
            reason = _escapes(location, self.model_dir)
            if reason is not None:
                self.scope.add(
                    Severity.CRITICAL,
                    "external-data",
                    _show(location),
                    f"external data path leaves the model folder ({reason}; tensor {_show(tensor)!r}): loading "
                    "the model reads that file into a tensor (arbitrary file read)",
                    at,
                )
            elif self.model_dir is not None:
                self.check_file(location, tensor, info, at)

    def check_file(self, location: str, tensor: str, info: dict[str, list[str]], at: int) -> None:
        path = (self.model_dir or Path()) / location
        try:
            st = path.stat()
        except (OSError, ValueError):
            st = None
        if st is None or not path.is_file():
            what = "is missing" if st is None else "is not a regular file"
            self.scope.add(
                Severity.MEDIUM,
                "external-data",
                _show(location),
                f"external data file {what} (tensor {_show(tensor)!r}): the model does not load as given",
                at,
            )
            return
        bounds: dict[str, int] = {}
        for key in ("offset", "length"):
            raw = info.get(key, ["0"])[-1]  # the loaders keep the last of repeated keys
            try:
                bounds[key] = int(raw)
            except ValueError:
                bounds[key] = -1
            if bounds[key] < 0:
                self.scope.add(
                    Severity.MEDIUM,
                    "external-data",
                    _show(location),
                    f"external data {key} {_show(raw)!r} is not a non-negative number (tensor {_show(tensor)!r})",
                    at,
                )
                return
        offset, length = bounds["offset"], bounds["length"]
        if offset + length > st.st_size:
            self.scope.add(
                Severity.MEDIUM,
                "external-data",
                _show(location),
                f"external data range {offset}+{length} runs past the end of the {st.st_size}-byte file "
                f"(tensor {_show(tensor)!r})",
                at,
            )

    def report_custom(self) -> None:
        for (domain, op_type), (at, count) in self.custom.items():
            nodes = "1 node" if count == 1 else f"{count} nodes"
            self.scope.add(
                Severity.MEDIUM,
                "custom-operator",
                f"{_show(domain)}.{_show(op_type)}",
                f"custom operator domain needs a native library to run ({nodes} of operator {_show(op_type)!r} in "
                f"domain {_show(domain)!r}, which no runtime implements itself)",
                at,
            )


def _escapes(location: str, model_dir: Path | None) -> str | None:
    """Why ``location`` reaches outside the model folder, or None when it stays inside."""
    if "\x00" in location:
        return "it contains a NUL byte"
    if "\\" in location:
        return "it contains a backslash"
    if location.startswith("/") or _DRIVE.match(location):
        return "it is absolute"
    depth = 0
    for part in location.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return "'..' climbs out of it"
        elif part not in ("", "."):
            depth += 1
    if not location or posixpath.normpath(location) == ".":
        return None  # the folder itself: not a file, reported as not a regular file
    if model_dir is not None:
        try:
            base = model_dir.resolve()
            target = (model_dir / location).resolve()
        except (OSError, RuntimeError, ValueError):
            return "it cannot be resolved (symlink loop)"
        if not target.is_relative_to(base):
            return f"a symlink takes it to {os.fsdecode(target)!s}"
    return None


def scan_onnx(
    data: bytes | memoryview,
    scope: Scope,
    *,
    model_dir: Path | None,
    on_unknown: Callable[[int, int], None] | None = None,
) -> None:
    """Walk an ONNX ``ModelProto``; report external-data paths and custom operators into ``scope``.

    ``model_dir`` is the folder the model file is in (where a runtime looks for external data);
    without it only the location strings are judged, and files are not looked at. ``on_unknown(start,
    end)`` is told of each length-delimited top-level field onnx.proto does not define (protobuf
    keeps such bytes and runtimes skip them: the model scanner reads them as a file of their own).
    """
    buf = memoryview(data)
    if buf.ndim != 1 or buf.itemsize != 1:
        buf = buf.cast("B")
    walker = _Walker(buf, scope, model_dir, on_unknown)
    try:
        walker.model(0, len(buf))
    finally:
        walker.report_custom()
