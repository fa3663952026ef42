"""A UBJSON reader: checks that a stream is one well-formed UBJSON value, without building it.

UBJSON (ubjson.org, Draft 12) is XGBoost's default binary model format (``Booster.save_model("m.ubj")``;
the default since XGBoost 2.1). Every value is a one-byte marker and its payload, big-endian::

    Z null  N no-op  T true  F false            (no payload)
    i int8  U uint8  I int16  l int32  L int64  d float32  D float64  C char (1 byte, ASCII)
    S string, H high-precision number           (a length, then that many UTF-8 / digit bytes)
    [ array ... ]   { object: key value ... }   (a key is a length and UTF-8 bytes, with no S marker)

A length or count is an integer value (``i U I l L`` and its payload), never negative. A container
may be optimised: ``$`` and a type marker (every element has that type, its marker left out), then
``#`` and a count (mandatory after ``$``); a counted container has no closing marker. XGBoost writes
its float and integer arrays so (``[$d#l<count>`` and the big-endian float32s), which are stepped
over by length. A no-op ``N`` may stand where a value (or an object's key) is expected and is skipped.

Threat. UBJSON is data only: no type names, no code, nothing a loader imports or calls, and in an
XGBoost model (top-level keys ``learner`` and ``version``) every field is a number, a string or a
container of them that XGBoost's C++ parser reads into its trees. So a well-formed stream has no
finding. What the reader guards against is itself: the parse is iterative (an explicit stack, at
most :data:`MAX_DEPTH` containers deep), and every length or count is checked against the bytes
left before anything is skipped, so a hostile count (``L`` 2**62) fails at once instead of
allocating or looping. A malformed or truncated stream is :class:`Unreadable`, naming the byte
offset. The bytes after the top-level value are the caller's to judge (:func:`scan_ubjson` returns
where the value ends): the scanner reads them as a stream of their own, as it does after a pickle.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from mlwarden.models._findings import Unreadable

__all__ = ["MAX_DEPTH", "UbjsonValue", "scan_ubjson"]

MAX_DEPTH = 256
"""Containers nested deeper than this are refused (XGBoost's models nest about 8 deep)."""

# Payload sizes of the fixed-size markers; Z, T, F have none.
_FIXED = {b"Z"[0]: 0, b"T"[0]: 0, b"F"[0]: 0, b"i"[0]: 1, b"U"[0]: 1, b"C"[0]: 1, b"I"[0]: 2}
_FIXED |= {b"l"[0]: 4, b"d"[0]: 4, b"L"[0]: 8, b"D"[0]: 8}
_SIZE = [-1] * 256
for _marker, _n in _FIXED.items():
    _SIZE[_marker] = _n
_INTS = {b"i"[0]: ">b", b"U"[0]: ">B", b"I"[0]: ">h", b"l"[0]: ">i", b"L"[0]: ">q"}
_S, _H, _C, _N = b"S"[0], b"H"[0], b"C"[0], b"N"[0]
_ARRAY, _OBJECT, _END_ARRAY, _END_OBJECT = b"["[0], b"{"[0], b"]"[0], b"}"[0]
_TYPE, _COUNT = b"$"[0], b"#"[0]
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_TOP_KEYS = 64  # the top-level keys kept to name the model (XGBoost has two)


class UbjsonValue:
    """What :func:`scan_ubjson` read: where the value ends and whether it is an XGBoost model."""

    __slots__ = ("end", "xgboost")

    def __init__(self, end: int, xgboost: bool) -> None:
        self.end = end
        self.xgboost = xgboost


class _Frame:
    """An open container: ``count`` elements left (-1: until its closing marker), their ``kind`` when typed."""

    __slots__ = ("count", "kind", "object")

    def __init__(self, is_object: bool, count: int, kind: int | None) -> None:
        self.object = is_object
        self.count = count
        self.kind = kind


class _Reader:
    __slots__ = ("data", "end", "frames", "pos", "top_keys")

    def __init__(self, data: Any) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 0
        self.frames: list[_Frame] = []
        self.top_keys: list[str] = []

    def fail(self, what: str, at: int | None = None) -> Unreadable:
        return Unreadable(f"UBJSON {what} at byte {self.pos if at is None else at}")

    def take(self, n: int, what: str) -> int:
        at = self.pos
        if at + n > self.end:
            raise self.fail(f"{what} of {n} bytes runs past the end of the file", at)
        self.pos = at + n
        return at

    def marker(self, what: str = "value") -> int:
        """The next marker, past any no-op."""
        while True:
            if self.pos >= self.end:
                raise self.fail(f"file ends where a {what} is expected")
            m: int = self.data[self.pos]
            self.pos += 1
            if m != _N:
                return m

    def integer(self, m: int, what: str) -> int:
        fmt = _INTS.get(m)
        if fmt is None:
            raise self.fail(f"{what} has marker {chr(m)!r}, not an integer (i U I l L)", self.pos - 1)
        at = self.take(_SIZE[m], what)
        n: int = struct.unpack_from(fmt, self.data, at)[0]
        if n < 0:
            raise self.fail(f"{what} is negative ({n})", at - 1)
        return n

    def text(self, m: int, what: str) -> str:
        n = self.integer(m, f"{what} length")
        at = self.take(n, what)
        try:
            return str(bytes(self.data[at : at + n]), "utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8", at) from None

    def value(self, m: int) -> None:
        """Read the payload of a value whose marker is ``m`` (an opening marker pushes a frame)."""
        size = _SIZE[m]
        if size >= 0:
            self.take(size, f"value {chr(m)!r}")
        elif m == _S:
            self.text(self.marker("string length"), "string")
        elif m == _H:
            at = self.pos
            number = self.text(self.marker("number length"), "high-precision number")
            if not _NUMBER.fullmatch(number.encode()):
                raise self.fail("high-precision number is not a JSON number", at)
        elif m in (_ARRAY, _OBJECT):
            self.container(m == _OBJECT)
        else:
            raise self.fail(f"unexpected marker {chr(m)!r}", self.pos - 1)

    def container(self, is_object: bool) -> None:
        at = self.pos - 1
        if len(self.frames) >= MAX_DEPTH:
            raise self.fail(f"containers nest deeper than {MAX_DEPTH}", at)
        kind: int | None = None
        count = -1
        if self.pos < self.end and self.data[self.pos] == _TYPE:
            if self.pos + 1 >= self.end:
                raise self.fail("file ends where a container type is expected", self.pos)
            kind = self.data[self.pos + 1]
            self.pos += 2
            if _SIZE[kind] < 0 and kind not in (_S, _H, _ARRAY, _OBJECT):
                raise self.fail(f"container type {chr(kind)!r} is not a value type", self.pos - 1)
            if self.pos >= self.end or self.data[self.pos] != _COUNT:
                raise self.fail("typed container has no count ('#' must follow '$')", self.pos)
        if self.pos < self.end and self.data[self.pos] == _COUNT:
            self.pos += 1
            count = self.integer(self.marker("container count"), "container count")
            # The fewest bytes one element takes: a hostile count fails here, before any is read.
            least = 1 if kind is None else max(_SIZE[kind], 1 if kind in (_C, _ARRAY, _OBJECT) else 2)
            if kind is not None and not is_object and _SIZE[kind] >= 0:
                self.take(count * _SIZE[kind], f"typed array of {count} {chr(kind)!r} values")
                return  # numbers (or Z/T/F, which have no bytes): stepped over by length
            if is_object:
                least = 2 + (0 if kind is not None and _SIZE[kind] == 0 else least)
            if count * least > self.end - self.pos:
                raise self.fail(f"container count {count} is more than the {self.end - self.pos} bytes left", at)
        self.frames.append(_Frame(is_object, count, kind))

    def key(self, m: int) -> None:
        name = self.text(m, "object key")
        if len(self.frames) == 1 and len(self.top_keys) < _TOP_KEYS:
            self.top_keys.append(name)

    def run(self) -> int:
        self.value(self.marker())
        frames = self.frames
        data, size = self.data, _SIZE
        while frames:
            frame = frames[-1]
            if frame.count == 0:
                frames.pop()
                continue
            if frame.count > 0:
                frame.count -= 1
                if frame.object:
                    self.key(self.marker("object key"))
                m = frame.kind if frame.kind is not None else self.marker()
                self.value(m)
                continue
            m = self.marker()
            if m == (_END_OBJECT if frame.object else _END_ARRAY):
                frames.pop()
                continue
            if frame.object:
                self.key(m)
                m = self.marker()
            elif size[m] > 0:  # a run of plain numbers, the bulk of an unoptimised array: stepped over inline
                pos, end = self.pos - 1, self.end
                while True:
                    n = size[data[pos]]
                    if pos + 1 + n > end:
                        raise self.fail(f"value {chr(data[pos])!r} of {n} bytes runs past the end of the file", pos)
                    pos += 1 + n
                    if pos >= end or size[data[pos]] <= 0:
                        break
                self.pos = pos
                continue
            self.value(m)
        return self.pos


def scan_ubjson(data: Any) -> UbjsonValue:
    """Check that ``data`` starts with one well-formed UBJSON value; returns where it ends. Raises
    :class:`Unreadable` (with the byte offset) when it is malformed or truncated. Nothing in a
    well-formed value is a finding (see the module docstring)."""
    reader = _Reader(memoryview(data).cast("B") if not isinstance(data, bytes) else data)
    end = reader.run()
    return UbjsonValue(end, {"learner", "version"} <= set(reader.top_keys))
