"""Recognising a stream's formats by its bytes, for the model scanner: magic numbers, structures a
loader checks, and what a loader would build from a header. Nothing here reads a whole stream or
recurses into one: :mod:`mlwarden.models._scanner` decides what to scan.

* :func:`zip_candidate` (a local header at 0, or an end record in the last 64 KiB, as :mod:`zipfile`
  looks for one), :func:`zip_end`, :func:`tar_candidate` (the first header's checksum),
  :func:`is_hdf5` (superblock at 0, 512, 1024...), :func:`looks_safetensors`, :func:`looks_onnx`,
  :func:`looks_ubjson`;
* :func:`decompressor` (gzip, bz2, xz, zlib, joblib's ``ZF``, lzma-alone by its fields) and
  :func:`inflate`, bounded by :data:`MAX_DECOMPRESSED`;
* :func:`has_magic` (a byte payload that a loader would open as a file), :func:`may_be_a_file`;
* :func:`descr_has_object`: whether ``numpy.load`` builds an object dtype from an ``.npy`` descr;
* :data:`UNREADABLE_MAGIC`: formats no standard-library module reads.
"""

from __future__ import annotations

import bz2
import lzma
import re
import struct
import tarfile
import zlib
from collections.abc import Callable
from typing import Any

from mlwarden.models._findings import Scope, Severity, Unreadable

__all__ = [
    "EOCD",
    "HDF5_MAGIC",
    "MAX_DECOMPRESSED",
    "UNREADABLE_MAGIC",
    "decompressor",
    "descr_has_object",
    "has_magic",
    "inflate",
    "is_hdf5",
    "looks_onnx",
    "looks_safetensors",
    "looks_ubjson",
    "may_be_a_file",
    "show_descr",
    "tar_candidate",
    "zip_candidate",
    "zip_end",
]

MAX_DECOMPRESSED = 4 << 30
"""A compressed stream or archive member larger than this once inflated is refused (zip bombs)."""


UNREADABLE_MAGIC = (
    (b"\x28\xb5\x2f\xfd", "zstd stream"),
    (b"\x04\x22\x4d\x18", "lz4 frame"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"GGML", "legacy GGML model"),
    (b"GGJT", "legacy GGJT model"),
    (b"GGMF", "legacy GGMF model"),
)


def may_be_a_file(head: bytes) -> bool:
    """Whether bytes starting with ``head`` (a large 8-bit dataset) are worth reading whole: a known magic,
    or the first opcodes of a pickle."""
    if has_magic(head) or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return True
    return len(head) >= 2 and head[0] in b"c(]}" and 0x20 <= head[1] < 0x7F


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_hdf5(data: Any, head: bytes) -> bool:
    """HDF5's superblock is at 0 or, after a user block, at 512, 1024, 2048... bytes."""
    if head.startswith(HDF5_MAGIC):
        return True
    offset = 512
    while offset + 8 <= min(len(data), 1 << 20):
        if bytes(data[offset : offset + 8]) == HDF5_MAGIC:
            return True
        offset *= 2
    return False


EOCD = b"PK\x05\x06"


def zip_candidate(data: Any, head: bytes) -> bool:
    """Whether :mod:`zipfile` would look for an archive here: a local header at 0, or an end-of-central-
    directory record in the last 64 KiB (zipfile reads archives with data before them, and after them
    as long as the record is found)."""
    if head.startswith((b"PK\x03\x04", EOCD)):
        return True
    if len(data) < 22:
        return False
    return bytes(data[max(len(data) - (1 << 16) - 22, 0) :]).rfind(EOCD) >= 0


def tar_candidate(data: Any) -> bool:
    """A tar's first header: :mod:`tarfile` accepts any 512-byte block whose checksum adds up."""
    if len(data) < 512 or bytes(data[148:156]).strip(b"01234567 \x00"):  # the checksum field: octal digits
        return False
    try:
        tarfile.TarInfo.frombuf(bytes(data[:512]), "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError, OverflowError):
        return False
    return True


def looks_safetensors(data: Any, head: bytes) -> bool:
    if len(head) < 9:
        return False
    n = struct.unpack_from("<Q", head)[0]
    return 2 <= n <= len(data) - 8 and head[8:9] in (b"{", b" ", b"\n", b"\t", b"\r")


def looks_onnx(head: bytes) -> bool:
    """A ``ModelProto`` as onnx writes it: ``ir_version`` (field 1, a small varint) first, then one of the
    model's other fields."""
    return len(head) >= 3 and head[0] == 0x08 and 3 <= head[1] <= 32 and head[2] in _ONNX_SECOND


_ONNX_SECOND = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72})


def looks_ubjson(head: bytes) -> bool:
    """A UBJSON object as XGBoost writes one: ``{`` and the length marker of its first key (``i U I l L``;
    a JSON text has ``"`` there)."""
    return len(head) >= 2 and head[0] == 0x7B and head[1] in b"iUIlL"


_LZMA_MAX_PROPS = 9 * 5 * 5  # lc < 9, lp < 5, pb < 5


def decompressor(data: Any, head: bytes, storage: bool) -> tuple[str, Callable[[], Any], int, bool] | None:
    """(kind, decompressor factory, bytes of header before the stream, sniffed by a real magic?)."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), 0, True
    if head.startswith(b"BZh"):
        return "bz2", bz2.BZ2Decompressor, 0, True
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ), 0, True
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib", zlib.decompressobj, 0, True
    zf = zf_header(head)
    if zf is not None:
        return "zf", zlib.decompressobj, zf, True
    if not storage and looks_lzma_alone(head):
        return "lzma", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE), 0, head.startswith(b"\x5d\x00")
    return None


def looks_lzma_alone(head: bytes) -> bool:
    """An lzma-alone (``.lzma``) stream has no magic: a properties byte (lc, lp, pb), any 32-bit dictionary
    size, a 64-bit uncompressed size (all ones: unknown) and a range coder whose first byte is 0."""
    if len(head) < 14 or head[0] >= _LZMA_MAX_PROPS or head[13] != 0:
        return False
    size: int = struct.unpack_from("<Q", head, 5)[0]
    return size == (1 << 64) - 1 or 0 < size <= MAX_DECOMPRESSED


_ZF_WIDTH = 19  # len(hex(2**64)): joblib < 0.9.3 writes "ZF", the length in hex padded to this, then zlib


def zf_header(head: bytes) -> int | None:
    """The length of a pre-0.9.3 joblib ``ZF`` header (see joblib's numpy_pickle_compat.read_zfile)."""
    if not head.startswith(b"ZF") or len(head) < 2 + _ZF_WIDTH + 2:
        return None
    try:
        int(head[2 : 2 + _ZF_WIDTH].decode("ascii"), 16)
    except ValueError:
        return None
    skip = 2 + _ZF_WIDTH
    return skip + 1 if head[skip : skip + 1] == b" " else skip


def inflate(data: Any, make: Callable[[], Any], kind: str, magic: bytes, scope: Scope) -> bytes:
    """Inflate every member of a compressed stream (gzip, bz2 and xz files may hold several, and their
    readers join them); bytes after the last member are a LOW finding."""
    out = bytearray()
    pending: Any = data
    while True:
        decoder = make()
        rest = inflate_member(pending, decoder, kind, out)
        if not rest:
            return bytes(out)
        if kind in ("gzip", "bz2", "xz") and bytes(rest[: len(magic)]) == magic:
            pending = memoryview(rest)
            continue
        scope.add(
            Severity.LOW,
            "trailing-data",
            "trailing bytes",
            f"{len(rest)} bytes after the {kind} stream that no reader inflates",
        )
        return bytes(out)


def inflate_member(data: Any, decoder: Any, kind: str, out: bytearray) -> bytes:
    step = 1 << 20
    for start in range(0, len(data), step):
        chunk = bytes(data[start : start + step])
        try:
            while chunk:
                out += decoder.decompress(chunk, MAX_DECOMPRESSED + 1 - len(out))
                if len(out) > MAX_DECOMPRESSED:
                    limit = MAX_DECOMPRESSED >> 30
                    raise Unreadable(f"{kind} stream inflates past {limit} GiB (a decompression bomb?)")
                chunk = getattr(decoder, "unconsumed_tail", b"")
                if decoder.eof:
                    break
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise Unreadable(f"{kind} stream is corrupt: {exc}") from None
        if decoder.eof:
            unused = bytes(decoder.unused_data)
            return unused + bytes(data[start + step :])
    if not decoder.eof:
        raise Unreadable(f"{kind} stream is truncated")
    return b""


def has_magic(head: bytes) -> bool:
    """A byte payload that a loader would open as a file: a strong magic, not a chance prefix of array data."""
    if head.startswith((b"PK\x03\x04", b"\x93NUMPY", HDF5_MAGIC, b"\x1f\x8b\x08", b"\xfd7zXZ\x00", b"GGUF")):
        return True
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return True
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    return len(head) >= 3 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[2] in (0x95, 0x8C, 0x63, 0x58, 0x5D, 0x7D)


def descr_has_object(descr: Any) -> bool | None:
    """Whether the dtype numpy builds from this ``descr`` holds objects (``dtype.hasobject``), as numpy.load
    decides it; None when numpy refuses it. The descr is a literal (str, list, tuple, dict of literals):
    numpy builds a dtype from it without importing or calling anything the file names."""
    simple = _SIMPLE_CODE.fullmatch(descr) if isinstance(descr, str) else None
    if simple is not None:  # what numpy writes for a plain dtype ("<f8", "<U10", "|O"): no numpy needed
        if simple.group(1) in _OBJECT_TYPE_CODES:
            return True
        if simple.group(1) in _PLAIN_TYPE_CODES:
            return False
    if not _literal_only(descr, 0):
        return None
    import warnings

    import numpy as np
    from numpy.lib import format as npformat

    refused = (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError, MemoryError, AttributeError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(npformat.descr_to_dtype(descr).hasobject)
        except refused:
            pass
        try:  # numpy before 1.17 passed the descr to numpy.dtype as it is (a dict of names and formats)
            return bool(np.dtype(descr).hasobject)
        except refused:
            return None


# Type codes of one letter numpy builds a dtype without objects from (kinds b, i, u, f, c, S, U, V, M, m),
# and those whose dtype holds objects (O; T, numpy 2's variable-width strings, also has hasobject set).
_SIMPLE_CODE = re.compile(r"[|<>=]?([A-Za-z])\d*")
_PLAIN_TYPE_CODES = frozenset("?bBhHiIlLqQpPnNefdgFDGSaUVMmc")
_OBJECT_TYPE_CODES = frozenset("OT")


def _literal_only(value: Any, depth: int) -> bool:
    if depth > 32:
        return False
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return len(value) <= 1 << 16 and all(_literal_only(v, depth + 1) for v in value)
    if isinstance(value, dict):
        pairs = value.items()
        return len(value) <= 1 << 16 and all(_literal_only(i, depth + 1) for kv in pairs for i in kv)
    return False


def show_descr(descr: Any) -> str:
    text = repr(descr)
    return text if len(text) <= 80 else text[:77] + "..."


def zip_end(data: Any) -> int | None:
    """Where the zip ends: after its end-of-central-directory record and comment (as zipfile finds it)."""
    tail_start = max(len(data) - (1 << 16) - 22, 0)
    tail = bytes(data[tail_start:])
    at = tail.rfind(EOCD)
    if at < 0 or at + 22 > len(tail):
        return None
    comment: int = struct.unpack_from("<H", tail, at + 20)[0]
    return min(tail_start + at + 22 + comment, len(data))
