"""The model scanner: finds each file's format by its bytes and hands it to that format's scanner.

Nothing is imported, unpickled or run from the files. Large files are mapped (``mmap``) and only
the parts that can hold code are read: pickle opcodes, archive directories, headers and configs;
array payloads are skipped by length. Archives (zip, tar) are opened member by member, nested
ones too (up to :data:`MAX_DEPTH`); stored zip members are scanned in place, without a copy.

What is recognised, by content first and extension second:

* pickle (protocols 0-5), joblib (also zlib/gzip/bz2/xz/lzma compressed), legacy ``torch.save``
  (several pickles in a row), PyTorch zip checkpoints (``*/data.pkl``; storages are data);
* NumPy ``.npy`` (an object array's pickle is scanned) and ``.npz``;
* zip and tar archives of any of these; skops (``schema.json``); Keras ``.keras`` (zip with
  ``config.json``) and ``.h5``; ONNX; safetensors;
* inert files (text, JSON, images: no loader runs them) are listed as such.

Anything else is *unsupported*: it is reported as an error (exit 2), never passed over.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import lzma
import mmap
import os
import re
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from mlwarden.errors import BadInput
from mlwarden.models._findings import FileScan, ScanReport, Scope, Severity, Unreadable
from mlwarden.models._pickle_scan import TORCH_LEGACY_MAGIC, scan_pickle

__all__ = ["MAX_DECOMPRESSED", "MAX_DEPTH", "scan", "scan_bytes", "scan_file"]

MAX_DEPTH = 8
"""Archives nested deeper than this are not opened (reported as an error)."""
MAX_DECOMPRESSED = 4 << 30
"""A compressed stream or archive member larger than this once inflated is refused (zip bombs)."""

_MMAP_FROM = 1 << 20
_INERT_SUFFIXES = frozenset(
    {
        ".txt",
        ".md",
        ".rst",
        ".json",
        ".yaml",
        ".yml",
        ".toml",
        ".cfg",
        ".ini",
        ".csv",
        ".tsv",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".svg",
        ".html",
        ".sig",
        ".pem",
        ".license",
        ".gitattributes",
        ".gitignore",
    }
)
_INERT_NAMES = frozenset({"license", "readme", "notice", "version", "byteorder", ".gitattributes", ".gitignore"})
_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".dat", ".p", ".sav"})

StartProgress = Callable[[int, str], Callable[[int], None] | None]


def scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    start_progress: StartProgress | None = None,
) -> ScanReport:
    """Scan files and folders (recursively). Raises :class:`BadInput` when a path does not exist.

    ``start_progress(total bytes, label)`` is called once the files are listed and may return a
    callback that is told the bytes of each file as it is done.
    """
    started = time.perf_counter()
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            raise BadInput(f"{path} does not exist: give model files or folders to scan")
        files.extend(_walk(path) if path.is_dir() else [path])
    # Sizes are needed up front only for a progress bar (scan_file stats each file anyway).
    advance = start_progress(sum(_size(p) for p in files), "scanning") if start_progress is not None else None
    results = []
    for path in files:
        result = scan_file(path)
        results.append(result)
        if advance is not None:
            advance(result.size)
    return ScanReport(tuple(results), time.perf_counter() - started)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            yield Path(folder) / name
        for name in dirs:
            if (Path(folder) / name).is_symlink():
                yield Path(folder) / name  # reported as unsupported, not silently left out


def scan_file(path: str | os.PathLike[str]) -> FileScan:
    """Scan one file. Never raises for the file's content: problems become the result's error."""
    path = Path(path)
    label = str(path)
    try:
        st = path.stat()
    except OSError as exc:
        return FileScan(label, "unreadable", 0, (), f"cannot read: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return FileScan(label, "unsupported", 0, (), "not a regular file (a folder link, device or socket)")
    try:
        with _mapped(path, st.st_size) as data:
            return _scan_buffer(data, label, path.name, path.parent)
    except OSError as exc:
        return FileScan(label, "unreadable", st.st_size, (), f"cannot read: {exc.strerror or exc}")


def scan_bytes(data: bytes, name: str = "<bytes>") -> FileScan:
    """Scan an in-memory model file (one fetched from the encrypted registry, say)."""
    return _scan_buffer(memoryview(data), name, name, None)


def _scan_buffer(data: Any, label: str, name: str, model_dir: Path | None) -> FileScan:
    """The result for one whole file's bytes; the scanner's own failures become its error (fail closed)."""
    scope = Scope(label)
    size = len(data)
    try:
        fmt = _scan_blob(data, name, scope, 0, model_dir=model_dir)
    except Unreadable as exc:
        return FileScan(label, "unreadable", size, tuple(scope.findings), str(exc), scope.members[0] + 1)
    except (RecursionError, MemoryError, ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
        return FileScan(label, "unreadable", size, tuple(scope.findings), _scanner_failed(exc))
    error = None
    if fmt == "unsupported":
        error = (
            "unsupported format: not a pickle, joblib, PyTorch, NumPy, zip, tar, Keras, ONNX, safetensors or "
            "skops file, so it was not scanned"
        )
    return FileScan(label, fmt, size, tuple(scope.findings), error, scope.members[0] + 1)


def _scanner_failed(exc: BaseException) -> str:
    """A file the scanner's own code choked on is not vouched for (fail closed), and says so."""
    return f"the scanner could not parse this file ({type(exc).__name__}), so it vouches for nothing in it"


@contextlib.contextmanager
def _mapped(path: Path, size: int) -> Iterator[Any]:
    with path.open("rb") as fh:
        if size < _MMAP_FROM:
            yield memoryview(fh.read())
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                yield view
            finally:
                view.release()


# -- sniffing -------------------------------------------------------------------------------------


def _scan_blob(data: Any, name: str, scope: Scope, depth: int, *, model_dir: Path | None) -> str:
    """Scan one stream (a file or an archive member) and return the format it was read as."""
    if depth > MAX_DEPTH:
        raise Unreadable(f"archives nested deeper than {MAX_DEPTH} levels")
    head = bytes(data[:16])
    suffix = PurePosixPath(name).suffix.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _scan_zip(data, name, scope, depth)
    if head.startswith(b"\x93NUMPY"):
        _scan_npy(data, scope, depth)
        return "npy"
    if _is_hdf5(data, head):
        from mlwarden.models._scan_keras import scan_keras_h5

        scan_keras_h5(data, scope)
        return "hdf5"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return _scan_pickle_stream(data, scope, depth)
    if suffix == ".onnx":
        from mlwarden.models._scan_onnx import scan_onnx

        scan_onnx(data, scope, model_dir=model_dir)
        return "onnx"
    if _looks_safetensors(data, head):
        from mlwarden.models._scan_safetensors import scan_safetensors

        scan_safetensors(data, scope)
        return "safetensors"
    compressed = _decompressor(head)
    if compressed is not None:
        kind, make = compressed
        plain = _inflate(data, make, kind, head[:3], scope)
        inner = _scan_blob(memoryview(plain), PurePosixPath(name).stem, scope, depth + 1, model_dir=model_dir)
        return f"{kind}+{inner}"
    if len(data) == 0:
        return "empty"
    # A protocol 0/1 pickle has no header: a file is one if it parses as one, whatever else it also is
    # (a tar whose first member name is a pickle, a "notes.txt" that pickle.load would run).
    probe = Scope(scope.path, scope.inner)
    try:
        fmt = _scan_pickle_stream(data, probe, depth)
    except Unreadable as exc:
        is_tar = len(data) > 262 and bytes(data[257:262]) == b"ustar"
        if suffix in _PICKLE_SUFFIXES and not is_tar:
            scope.extend(probe.findings)
            why = f"a {suffix} file that is neither a readable pickle nor another known format ({exc})"
            raise Unreadable(why) from None
        # The opcodes before the failure would run under pickle.load: keep what is dangerous among them.
        scope.extend(f for f in probe.findings if f.severity is Severity.CRITICAL)
        if is_tar:
            return _scan_tar(data, scope, depth)
    else:
        scope.extend(probe.findings)
        scope.members[0] += probe.members[0]
        return fmt
    if suffix in _INERT_SUFFIXES or PurePosixPath(name).name.lower() in _INERT_NAMES:
        return "inert"
    return "unsupported"


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(data: Any, head: bytes) -> bool:
    """HDF5's superblock is at 0 or, after a user block, at 512, 1024, 2048... bytes."""
    if head.startswith(_HDF5_MAGIC):
        return True
    offset = 512
    while offset + 8 <= min(len(data), 1 << 20):
        if bytes(data[offset : offset + 8]) == _HDF5_MAGIC:
            return True
        offset *= 2
    return False


def _looks_safetensors(data: Any, head: bytes) -> bool:
    if len(head) < 9:
        return False
    n = struct.unpack_from("<Q", head)[0]
    return 2 <= n <= len(data) - 8 and head[8:9] in (b"{", b" ", b"\n", b"\t", b"\r")


def _decompressor(head: bytes) -> tuple[str, Callable[[], Any]] | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)
    if head.startswith(b"BZh"):
        return "bz2", bz2.BZ2Decompressor
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib", zlib.decompressobj
    return None


def _inflate(data: Any, make: Callable[[], Any], kind: str, magic: bytes, scope: Scope) -> bytes:
    """Inflate every member of a compressed stream (gzip, bz2 and xz files may hold several, and their
    readers join them); bytes after the last member are a LOW finding."""
    out = bytearray()
    pending: Any = data
    while True:
        inflate = make()
        rest = _inflate_member(pending, inflate, kind, out)
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


def _inflate_member(data: Any, inflate: Any, kind: str, out: bytearray) -> bytes:
    step = 1 << 20
    for start in range(0, len(data), step):
        chunk = bytes(data[start : start + step])
        try:
            while chunk:
                out += inflate.decompress(chunk, MAX_DECOMPRESSED + 1 - len(out))
                if len(out) > MAX_DECOMPRESSED:
                    limit = MAX_DECOMPRESSED >> 30
                    raise Unreadable(f"{kind} stream inflates past {limit} GiB (a decompression bomb?)")
                chunk = getattr(inflate, "unconsumed_tail", b"")
                if inflate.eof:
                    break
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise Unreadable(f"{kind} stream is corrupt: {exc}") from None
        if inflate.eof:
            unused = bytes(inflate.unused_data)
            return unused + bytes(data[start + step :])
    if not inflate.eof:
        raise Unreadable(f"{kind} stream is truncated")
    return b""


# -- pickle sequences -----------------------------------------------------------------------------


def _scan_pickle_stream(data: Any, scope: Scope, depth: int) -> str:
    """A pickle file: one pickle and any that follow it, or a legacy ``torch.save`` (five in a row)."""
    first = scan_pickle(data, scope, 0)
    if first.value == TORCH_LEGACY_MAGIC:
        pos = first.end
        for _ in range(4):  # protocol version, system info, the object, the storage keys
            pos = scan_pickle(data, scope.nested(f"pickle@{pos}"), pos, persistent_ids=True).end
        return "torch-legacy"
    _after_pickle(data, first.end, scope, depth)
    return "joblib" if first.joblib else "pickle"


def _after_pickle(data: Any, pos: int, scope: Scope, depth: int) -> None:
    """Pickles written one after another are each scanned (a loader may call pickle.load again);
    other trailing bytes are a LOW finding, plus any CRITICAL import reached before they stop parsing."""
    size = len(data)
    while pos < size:
        probe = Scope(scope.path, f"{scope.inner}!/pickle@{pos}" if scope.inner else f"pickle@{pos}")
        try:
            end = scan_pickle(data, probe, pos, depth=depth + 1).end
        except Unreadable:
            scope.extend(f for f in probe.findings if f.severity is Severity.CRITICAL)
            scope.add(
                Severity.LOW,
                "trailing-data",
                "trailing bytes",
                f"{size - pos} bytes after the pickle's STOP that are not a pickle",
                pos,
            )
            return
        scope.members[0] += 1
        scope.extend(probe.findings)
        pos = end


# -- NumPy ----------------------------------------------------------------------------------------


def _scan_npy(data: Any, scope: Scope, depth: int) -> None:
    import ast

    if len(data) < 10:
        raise Unreadable("npy header is truncated")
    major = data[6]
    if major == 1:
        length, start = struct.unpack_from("<H", data, 8)[0], 10
    elif major in (2, 3):
        if len(data) < 12:
            raise Unreadable("npy header is truncated")
        length, start = struct.unpack_from("<I", data, 8)[0], 12
    else:
        raise Unreadable(f"unsupported npy format version {major}")
    if length > 1 << 20 or start + length > len(data):
        raise Unreadable("npy header length is out of range")
    raw = bytes(data[start : start + length])
    simple = _NPY_SIMPLE.fullmatch(raw)
    if simple is not None:  # what numpy writes for a plain dtype: no need for the literal parser
        if simple.group(1).lstrip(b"|<>=").startswith(b"O"):
            result = scan_pickle(data, scope, start + length)
            _after_pickle(data, result.end, scope, depth)
        return
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise Unreadable("npy header is not a Python literal") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= header.keys():
        raise Unreadable("npy header lacks descr, fortran_order or shape")
    if _has_object(header["descr"]):
        # numpy.load(allow_pickle=True) unpickles the rest of the file.
        result = scan_pickle(data, scope, start + length)
        _after_pickle(data, result.end, scope, depth)


_NPY_SIMPLE = re.compile(
    rb"\{'descr': '([|<>=]?[A-Za-z]\d*)', 'fortran_order': (?:True|False), 'shape': \((?:\d+, ?)*\d*\), \} *\n?"
)


def _has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("|<>=").startswith("O")
    if isinstance(descr, list):  # a structured dtype: [(name, type[, shape]), ...]
        return any(_has_object(field[1]) for field in descr if isinstance(field, tuple) and len(field) >= 2)
    if isinstance(descr, tuple) and len(descr) >= 1:  # (type, shape)
        return _has_object(descr[0])
    return False


# -- archives -------------------------------------------------------------------------------------


def _member_name_finding(scope: Scope, name: str) -> None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        scope.add(
            Severity.HIGH,
            "path-traversal",
            name,
            "archive member path leaves the folder it is extracted to (zip slip)",
        )


def _zip_kind(names: set[str]) -> str:
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return "pytorch"
    if "schema.json" in names:
        return "skops"
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return "keras"
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return "npz"
    return "zip"


def _scan_zip(data: Any, name: str, scope: Scope, depth: int) -> str:
    try:
        archive = zipfile.ZipFile(_BufferFile(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise Unreadable(f"zip archive is corrupt: {exc}") from None
    names = {info.filename for info in infos}
    kind = _zip_kind(names)
    torch_data = {n.rpartition("/")[0] for n in names if n.endswith("/data.pkl")} if kind == "pytorch" else set()
    for info in infos:
        if info.is_dir():
            continue
        member = scope.nested(info.filename)
        _member_name_finding(member, info.filename)
        if kind == "pytorch" and _is_torch_storage(info.filename, torch_data):
            continue  # raw tensor bytes: torch.load copies them, never unpickles them
        if info.flag_bits & 0x1:
            raise Unreadable(f"zip member {info.filename} is encrypted and cannot be scanned")
        if info.file_size > MAX_DECOMPRESSED:
            raise Unreadable(f"zip member {info.filename} inflates past {MAX_DECOMPRESSED >> 30} GiB")
        body = _member_bytes(archive, info, data)
        if kind == "skops" and info.filename == "schema.json":
            from mlwarden.models._scan_skops import scan_skops_schema

            scan_skops_schema(bytes(body), member)
            continue
        if kind == "keras" and info.filename == "config.json":
            from mlwarden.models._scan_keras import scan_keras_v3_zip_config

            scan_keras_v3_zip_config(bytes(body), member)
            continue
        if kind == "pytorch" and info.filename.endswith(".pkl"):
            scan_pickle(body, member, 0, persistent_ids=True)
            continue
        if kind == "pytorch" and info.filename.endswith(("/version", "/byteorder", "serialization_id")):
            continue
        fmt = _scan_blob(body, info.filename, member, depth + 1, model_dir=None)
        if fmt == "unsupported":
            raise Unreadable(f"zip member {info.filename} has an unsupported format, so it was not scanned")
    return {"pytorch": "pytorch-zip", "skops": "skops", "keras": "keras", "npz": "npz"}.get(kind, "zip")


def _is_torch_storage(member: str, prefixes: set[str]) -> bool:
    head, sep, tail = member.rpartition("/data/")
    return bool(sep) and head in prefixes and "/" not in tail and not tail.endswith(".pkl")


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, data: Any) -> Any:
    """A stored member is a slice of the mapped file (no copy); a compressed one is inflated."""
    if info.compress_type == zipfile.ZIP_STORED:
        offset = info.header_offset
        header = bytes(data[offset : offset + 30])
        if len(header) == 30 and header[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack_from("<HH", header, 26)
            start = offset + 30 + name_len + extra_len
            if start + info.compress_size <= len(data):
                return data[start : start + info.compress_size]
    try:
        with archive.open(info) as fh:
            return memoryview(fh.read())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, zlib.error, lzma.LZMAError) as exc:
        raise Unreadable(f"zip member {info.filename} cannot be read: {exc}") from None


def _scan_tar(data: Any, scope: Scope, depth: int) -> str:
    try:
        archive = tarfile.open(fileobj=_BufferFile(data), mode="r:")  # noqa: SIM115 - closed with the buffer
        members = archive.getmembers()
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise Unreadable(f"tar archive is corrupt: {exc}") from None
    for info in members:
        if info.isdir():
            continue
        member = scope.nested(info.name)
        _member_name_finding(member, info.name)
        if not info.isfile():
            member.add(Severity.MEDIUM, "link", info.name, "tar member is a link or device, not a file")
            continue
        fh = archive.extractfile(info)
        if fh is None:
            raise Unreadable(f"tar member {info.name} cannot be read")
        body = memoryview(fh.read())
        fmt = _scan_blob(body, info.name, member, depth + 1, model_dir=None)
        if fmt == "unsupported":
            raise Unreadable(f"tar member {info.name} has an unsupported format, so it was not scanned")
    return "tar"


class _BufferFile(io.RawIOBase):
    """A read-only, seekable file over a buffer (a memoryview of an mmap), without copying it."""

    def __init__(self, data: Any) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._data)}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self._pos : self._pos + len(buffer)]
        n = len(chunk)
        buffer[:n] = chunk
        self._pos += n
        return n
