"""A GGUF scanner: reads the header and metadata of a llama.cpp model file, never its tensors.

Format (ggml's ``docs/gguf.md``), little-endian unless the version reads byte-swapped (a big-endian
file)::

    magic "GGUF" | u32 version (1, 2, 3) | tensor_count | metadata_kv_count | key/value pairs...
    key:   string                     (u64 length + UTF-8 bytes; u32 length in version 1)
    value: u32 type, then the value   (0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
                                       8 string, 9 array: u32 item type + count + items,
                                       10 u64, 11 i64, 12 f64)

Counts are u64 (u32 in version 1). Tensor descriptions and data follow the metadata; they are data
to every loader and are not read.

Threat. Nothing in GGUF is Python, but ``tokenizer.chat_template`` (and the named variants
``tokenizer.chat_template.NAME``) is a Jinja2 template that loaders render on every chat request;
one rendered outside a sandbox (llama-cpp-python before 0.2.72, CVE-2024-34359) runs whatever the
template reaches. Each template is judged by :mod:`mlwarden.models._scan_jinja`, an allow-list over
Jinja's own parse tree (never rendered): a *plain* template, one whose every construct only formats
the messages it is given (as Llama, Mistral, ChatML/Qwen, Gemma, Phi and Zephyr templates do), is data
and raises no finding; one that reaches Python internals (``_``-prefixed attributes or keys, strings
built to name them, the ``attr`` filter, the ``cycler``/``joiner``/``lipsum``/``self`` globals,
``import``/``include``) is ``CRITICAL``; anything else the judge cannot prove data-only, a template
Jinja cannot parse, or any template when jinja2 is not installed, is ``MEDIUM``. A truncated or
inconsistent header is :class:`Unreadable`.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from mlwarden.models._findings import Scope, Severity, Unreadable
from mlwarden.models._scan_jinja import judge_template

__all__ = ["GGUF_MAGIC", "scan_gguf"]

GGUF_MAGIC = b"GGUF"
_MAX_KV = 1 << 20  # far above any real file; bounds a hostile count
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_TEMPLATE = re.compile(r"^tokenizer\.chat_template(\..+)?$")


class _Reader:
    __slots__ = ("data", "end", "order", "pos", "wide")

    def __init__(self, data: Any, order: str, wide: bool) -> None:
        self.data = data
        self.end = len(data)
        self.order = order
        self.pos = 8
        self.wide = wide

    def take(self, n: int, what: str) -> int:
        at = self.pos
        if n < 0 or at + n > self.end:
            raise Unreadable(f"GGUF {what} at byte {at} runs past the end of the file")
        self.pos = at + n
        return at

    def number(self, fmt: str, what: str) -> int:
        at = self.take(struct.calcsize(fmt), what)
        return int(struct.unpack_from(self.order + fmt, self.data, at)[0])

    def count(self, what: str) -> int:
        return self.number("Q" if self.wide else "I", what)

    def string(self, what: str, keep: bool) -> str | None:
        n = self.count(f"{what} length")
        at = self.take(n, what)
        if not keep:
            return None
        return bytes(self.data[at : at + n]).decode("utf-8", "replace")


def scan_gguf(data: Any, scope: Scope) -> None:
    """Read a GGUF file's metadata; report chat templates into ``scope``; raise Unreadable if malformed."""
    if len(data) < 8 or bytes(data[:4]) != GGUF_MAGIC:
        raise Unreadable("not a GGUF file (no GGUF magic)")
    little = struct.unpack_from("<I", data, 4)[0]
    big = struct.unpack_from(">I", data, 4)[0]
    if little in (1, 2, 3):
        order, version = "<", little
    elif big in (2, 3):
        order, version = ">", big
    else:
        raise Unreadable(f"unsupported GGUF version {little}")
    reader = _Reader(data, order, version >= 2)
    reader.count("tensor count")
    n_kv = reader.count("metadata count")
    if n_kv > _MAX_KV:
        raise Unreadable(f"GGUF metadata count {n_kv} is implausibly large")
    for _ in range(n_kv):
        key_at = reader.pos
        key = reader.string("metadata key", keep=True) or ""
        kind = reader.number("I", "metadata type")
        is_template = _TEMPLATE.match(key) is not None
        if kind == _STRING:
            value = reader.string(f"value of {key!r}", keep=is_template)
            if value is not None:
                _judge_template(key, value, scope, key_at)
        elif kind == _ARRAY:
            item = reader.number("I", "array item type")
            n = reader.count("array length")
            if item == _STRING:
                for _ in range(n):
                    reader.string(f"item of {key!r}", keep=False)
            elif item in _SIZES:
                reader.take(_SIZES[item] * n, f"array {key!r}")
            else:
                raise Unreadable(f"GGUF array {key!r} has item type {item}, which no version defines")
        elif kind in _SIZES:
            reader.take(_SIZES[kind], f"value of {key!r}")
        else:
            raise Unreadable(f"GGUF metadata {key!r} has type {kind}, which no version defines")


def _judge_template(key: str, template: str, scope: Scope, at: int) -> None:
    verdict = judge_template(template)
    if verdict.severity is None:
        return
    reasons = "; ".join(verdict.reasons[:4]) + ("; ..." if len(verdict.reasons) > 4 else "")
    if verdict.severity is Severity.CRITICAL:
        detail = (
            f"a Jinja chat template that reaches Python internals ({reasons}): it runs code when a loader renders it"
        )
    else:
        detail = f"a Jinja chat template with constructs the scanner cannot prove data-only: {reasons}"
    scope.add(verdict.severity, "chat-template", key, detail, at)
