"""The model scanner: reads each file with every reader that would accept it and hands the parts to the
format scanners.

Nothing is imported, unpickled or run from the files. Large files are mapped (``mmap``) and only
the parts that can hold code are read: pickle opcodes, archive directories, headers and configs;
array payloads are skipped by length. Archives (zip, tar) are opened member by member, nested
ones too (up to :data:`MAX_DEPTH`); stored zip members are scanned in place, without a copy.

A loader does not look at a file's name, and one file may be several formats at once, so a stream
is judged by every reader that would take it (:func:`_scan_blob`), not by its suffix or the first
format sniffed:

* ``pickle.load`` from byte 0, always (protocols 0 and 1 have no header: a stream that is not
  ``PROTO``-first counts as a pickle when it parses as one, and keeps the CRITICAL imports met
  before it fails); pickles in a row, legacy ``torch.save`` (five pickles), joblib's arrays;
* zip by its end-of-central-directory record (as :mod:`zipfile` finds it: data before the
  archive does not stop it), tar by its first header's checksum;
* NumPy ``.npy`` (the dtype judged as ``numpy.load`` builds it; an object array's pickle is
  scanned) and ``.npz``; HDF5 (superblock at 0, 512, 1024...: Keras ``.h5`` configs, and byte
  attributes and datasets scanned as streams);
* gzip, bz2, xz, zlib, lzma-alone (no magic: its properties, dictionary size and size fields)
  and joblib's pre-0.9.3 ``ZF`` files, inflated and scanned as what they hold;
* safetensors; ONNX (``.onnx``, or a ``ModelProto`` opening; unknown top-level fields are
  streams of their own); GGUF (chat templates); UBJSON (``.ubj``, or an object whose first key
  has a length marker: XGBoost's model format, data only, checked to be well-formed);
* inert files (text, JSON, images: no loader runs them) when no reader takes them.

A reader that claims a stream by its magic and refuses it makes the file an error only when no
other reader took it. The bytes a reader leaves over (after a pickle's STOP, after a zip's end
record) are read as a stream of their own (an appended archive or pickle is judged as one), and
are a LOW finding only when nothing takes them and no other reader took the file. A large byte
payload in a pickle that starts with a known magic (an archive carried as ``BINBYTES``) is a
stream too. Zip members are judged by what they are, never by their siblings' names: a decoy
``*/data.pkl`` does not turn a zip into a checkpoint whose other members go unread, skops'
``schema.json`` and Keras' ``config.json`` are judged wherever they are, and a PyTorch storage
(``ARCHIVE/data/KEY``) counts as raw tensor bytes only when ``ARCHIVE/data.pkl``'s persistent ids
name it and no reader takes it. Recognising formats by their bytes is :mod:`._sniff`'s job.

Anything else is *unsupported*: it is reported as an error (exit 2), never passed over; formats
the standard library cannot open (zstd, lz4, 7-Zip, RAR, legacy GGML) say so.
"""

from __future__ import annotations

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
from mlwarden.models import _sniff as sniff
from mlwarden.models._findings import FileScan, ScanReport, Scope, Severity, Unreadable
from mlwarden.models._pickle_scan import EXTERNAL_FILE, TORCH_LEGACY_MAGIC, scan_pickle
from mlwarden.models._sniff import MAX_DECOMPRESSED

__all__ = ["MAX_DECOMPRESSED", "MAX_DEPTH", "scan", "scan_bytes", "scan_file"]

MAX_DEPTH = 8
"""Archives nested deeper than this are not opened (reported as an error)."""

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
_INERT_NAMES = frozenset(
    {
        "license",
        "readme",
        "notice",
        "version",
        "byteorder",
        "serialization_id",
        ".format_version",
        ".storage_alignment",
        ".gitattributes",
        ".gitignore",
    }
)
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
            "unsupported format: not a pickle, joblib, PyTorch, NumPy, zip, tar, compressed stream, HDF5, Keras, "
            "ONNX, safetensors, GGUF, UBJSON or skops file, so it was not scanned"
        )
    if model_dir is not None:
        _judge_referenced_files(scope, model_dir)
    return FileScan(label, fmt, size, tuple(scope.findings), error, scope.members[0] + 1)


def _judge_referenced_files(scope: Scope, model_dir: Path) -> None:
    """A file that old joblib wrappers make ``joblib.load`` open beside the pickle (np.load with
    allow_pickle=True) is judged as part of the pickle: its findings join the pickle's, so a payload
    moved into the sibling still counts against the file a user loads. A sibling that cannot be read or
    is not a regular file leaves the HIGH reference finding as it is."""
    names = {
        f.name
        for f in scope.findings
        if f.kind == EXTERNAL_FILE and f.severity is Severity.HIGH and "/" not in f.name and "\\" not in f.name
    }
    for name in sorted(names):
        sibling = model_dir / name
        try:
            if not stat.S_ISREG(sibling.lstat().st_mode):
                continue
            with _mapped(sibling, sibling.stat().st_size) as data:
                inner = Scope(str(sibling))
                _scan_blob(data, name, inner, 1, model_dir=None)
        except (OSError, Unreadable) as exc:
            why = f"the file the pickle makes joblib read cannot be scanned: {exc}"
            scope.add(Severity.HIGH, EXTERNAL_FILE, name, why)
            continue
        scope.extend(inner.findings)


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

# The order formats are named in when one file is several (``safetensors+pickle``): the container
# or structured format first, the pickle that ``pickle.load`` would also run last.
_ORDER = ("zip", "tar", "npy", "hdf5", "compressed", "safetensors", "onnx", "gguf", "ubjson", "pickle")


class _TooDeep(Unreadable):
    """Nesting past :data:`MAX_DEPTH`: never a mere refusal of one reader, always the file's error (what is
    deeper was not scanned)."""


def _deep(exc: Unreadable) -> None:
    if isinstance(exc, _TooDeep):
        raise exc


class _Verdicts:
    """What the readers of one stream said: the formats that accepted it, the reasons of those that
    claimed it by its magic and refused it, and bytes a reader left unexplained (after a pickle's
    STOP or a zip's end record), which are a LOW finding only if no other reader took the file."""

    __slots__ = ("found", "refused", "trailing")

    def __init__(self) -> None:
        self.found: dict[str, str] = {}
        self.refused: list[str] = []
        self.trailing: list[tuple[str, int, str]] = []  # (inner path, offset, detail)


def _scan_blob(
    data: Any,
    name: str,
    scope: Scope,
    depth: int,
    *,
    model_dir: Path | None,
    persistent_ids: bool = False,
    storage: bool = False,
    zip_done: bool = False,
    skip_pickle: bool = False,
) -> str:
    """Scan one stream (a file, an archive member, bytes inside one) with every reader that would accept
    it, and return the formats it was read as, joined by ``+``.

    A loader does not look at a file's name, and several loaders may accept one file: each reader is
    tried. ``pickle.load`` from byte 0 always is (anything it would run is walked, whatever else the file
    is); the zip reader looks for an end record anywhere at the end, as :mod:`zipfile` does (a zip after a
    pickle is opened); tar from its first header's checksum; NumPy, HDF5 (superblock at 0, 512, 1024...),
    gzip/bz2/xz/zlib/lzma/joblib-ZF, safetensors, ONNX and GGUF from their magic or structure.

    ``storage``: a PyTorch storage (``ARCHIVE/data/KEY`` that ``ARCHIVE/data.pkl`` names), or bytes kept
    inside another format (HDF5 datasets, unknown ONNX fields): no reader's refusal is an error, and bytes
    that no reader takes are data, not an unsupported file. ``zip_done``: the caller's zip reader
    already covers any zip that ends where this stream ends (bytes after a pickle). ``skip_pickle``: the
    caller has just walked a pickle from byte 0 of this stream.
    """
    if depth > MAX_DEPTH:
        raise _TooDeep(f"archives nested deeper than {MAX_DEPTH} levels")
    if len(data) == 0:
        return "empty"
    head = bytes(data[:32])
    suffix = PurePosixPath(name).suffix.lower()
    verdicts = _Verdicts()
    found = verdicts.found
    zip_here = not zip_done and sniff.zip_candidate(data, head)
    pickle_error = None
    if not skip_pickle:
        pickle_error = _read_pickle(data, scope, depth, verdicts, persistent_ids, storage, zip_here or zip_done)
    if zip_here:
        _read(verdicts, "zip", strong=head.startswith((b"PK\x03\x04", b"PK\x05\x06")) and not storage)(
            lambda: _scan_zip(data, name, scope, depth, verdicts)
        )
    if sniff.tar_candidate(data):
        _read(verdicts, "tar", strong=bytes(data[257:262]) == b"ustar" and not storage)(
            lambda: _scan_tar(data, scope, depth)
        )
    if head.startswith(b"\x93NUMPY"):
        _read(verdicts, "npy", strong=not storage)(lambda: _scan_npy(data, scope, depth))
    if head.startswith(sniff.HDF5_MAGIC) if storage else sniff.is_hdf5(data, head):
        _read(verdicts, "hdf5", strong=not storage)(lambda: _scan_hdf5(data, scope, depth))
    compressed = sniff.decompressor(data, head, storage)
    if compressed is not None:
        _read_compressed(data, name, scope, depth, model_dir, compressed, verdicts, storage)
    if sniff.looks_safetensors(data, head):
        from mlwarden.models._scan_safetensors import scan_safetensors

        _read(verdicts, "safetensors", strong=not storage)(lambda: scan_safetensors(data, scope))
    if suffix == ".onnx" or sniff.looks_onnx(head):
        _read_onnx(data, scope, depth, model_dir, verdicts, strong=suffix == ".onnx" and not storage)
    if head.startswith(b"GGUF"):
        from mlwarden.models._scan_gguf import scan_gguf

        _read(verdicts, "gguf", strong=not storage)(lambda: scan_gguf(data, scope))
    if suffix == ".ubj" or sniff.looks_ubjson(head):
        _read(verdicts, "ubjson", strong=suffix == ".ubj" and not storage)(
            lambda: _scan_ubjson(data, scope, depth, verdicts, zip_here or zip_done)
        )
    for magic, what in sniff.UNREADABLE_MAGIC:
        if head.startswith(magic) and not storage:
            verdicts.refused.append(f"a {what}: no standard-library reader opens it, so it was not scanned")
    if found:
        if len(found) == 1:
            for inner, pos, detail in verdicts.trailing:
                Scope(scope.path, inner, scope.findings).add(
                    Severity.LOW, "trailing-data", "trailing bytes", detail, pos
                )
        return "+".join(found[k] for k in _ORDER if k in found)
    if verdicts.refused:
        raise Unreadable(verdicts.refused[0])
    if storage:
        return "raw"
    if pickle_error is not None and suffix in _PICKLE_SUFFIXES:
        why = f"a {suffix} file that is neither a readable pickle nor another known format ({pickle_error})"
        raise Unreadable(why)
    if suffix in _INERT_SUFFIXES or PurePosixPath(name).name.lower() in _INERT_NAMES:
        return "inert"
    return "unsupported"


def _read(verdicts: _Verdicts, key: str, *, strong: bool) -> Callable[[Callable[[], object]], None]:
    """Run one reader: what it returns is the format; an :class:`Unreadable` is a refusal, which counts
    (becomes the file's error if no reader accepts it) only when the reader claimed it by its magic."""

    def run(reader: Callable[[], object]) -> None:
        try:
            fmt = reader()
        except Unreadable as exc:
            _deep(exc)
            if strong:
                verdicts.refused.append(str(exc))
            return
        verdicts.found[key] = fmt if isinstance(fmt, str) else key

    return run


def _read_pickle(
    data: Any,
    scope: Scope,
    depth: int,
    verdicts: _Verdicts,
    persistent_ids: bool,
    storage: bool,
    zip_done: bool,
) -> str | None:
    """``pickle.load`` from byte 0. A stream that opens with ``PROTO`` is a pickle by its magic: all it
    finds counts, and a failure is the file's error unless another reader takes it. Any other stream is
    probed (protocols 0 and 1 have no header): it is a pickle if it parses as one, and if it does not,
    the CRITICAL imports reached before the unpickler would fail are kept. Returns why it failed."""
    strong = not storage and len(data) >= 2 and data[0] == 0x80 and data[1] <= 5
    target = scope if strong else Scope(scope.path, scope.inner)
    target.pids = scope.pids
    mine = _Verdicts()  # what the pickle leaves over counts only if it is one
    try:
        fmt = _scan_pickle_stream(data, target, depth, mine, persistent_ids=persistent_ids, zip_done=zip_done)
        if not strong and not persistent_ids and bytes(data[:2]) == b"PK":
            # A zip's signature is a PERSID: plain pickle.load refuses at once; only a loader with its own
            # persistent_load would go on, so a zip counts as a pickle only for what is CRITICAL in it.
            raise Unreadable("a persistent id at byte 0: plain pickle.load refuses it")
    except Unreadable as exc:
        _deep(exc)
        if strong:
            verdicts.refused.append(str(exc))
        else:
            scope.extend(f for f in target.findings if f.severity is Severity.CRITICAL)
        return str(exc)
    if not strong:
        scope.extend(target.findings)
        scope.members[0] += target.members[0]
    verdicts.trailing.extend(mine.trailing)
    verdicts.found["pickle"] = fmt
    return None


def _read_compressed(
    data: Any,
    name: str,
    scope: Scope,
    depth: int,
    model_dir: Path | None,
    compressed: tuple[str, Callable[[], Any], int, bool],
    verdicts: _Verdicts,
    storage: bool,
) -> None:
    """A compressed stream is inflated and what comes out is scanned as a file of its own. A stream sniffed
    by a real magic (gzip, bz2, xz, zlib, ZF) that does not inflate is refused; one sniffed by structure
    only (lzma-alone, which has no magic) is simply not one."""
    kind, make, skip, strong = compressed
    try:
        plain = sniff.inflate(data[skip:], make, kind, bytes(data[skip : skip + 3]), scope)
    except Unreadable as exc:
        if strong and not storage:
            verdicts.refused.append(str(exc))
        return
    stem = PurePosixPath(name).stem if kind != "zf" else name
    try:
        inner = _scan_blob(memoryview(plain), stem, scope, depth + 1, model_dir=model_dir)
    except Unreadable as exc:
        _deep(exc)
        verdicts.refused.append(str(exc))
        return
    if inner == "unsupported":
        if strong and not storage:
            verdicts.refused.append(f"the {kind} stream holds an unsupported format, so it was not scanned")
        return
    verdicts.found["compressed"] = f"{kind}+{inner}"


def _read_onnx(
    data: Any, scope: Scope, depth: int, model_dir: Path | None, verdicts: _Verdicts, *, strong: bool
) -> None:
    """ONNX by its ``.onnx`` name or by a ``ModelProto`` opening; fields onnx.proto does not define are
    read as files of their own (a pickle kept there is judged as one)."""
    from mlwarden.models._scan_onnx import iter_fields, scan_onnx

    if not strong:  # by structure only: a ModelProto has a graph and an opset (a TF SavedModel, say, does not)
        try:
            top = {(field, wire) for field, wire, *_ in iter_fields(memoryview(data).cast("B"), 0, len(data))}
        except Unreadable:
            return
        if not {(7, 2), (8, 2)} <= top:
            return
    probe = scope if strong else Scope(scope.path, scope.inner)

    def unknown(start: int, end: int) -> None:
        member = probe.nested(f"onnx-field@{start}")
        _scan_blob(data[start:end], f"field@{start}", member, depth + 1, model_dir=None, storage=True)

    try:
        scan_onnx(data, probe, model_dir=model_dir, on_unknown=unknown)
    except Unreadable as exc:
        _deep(exc)
        if strong:
            verdicts.refused.append(str(exc))
        return
    if probe is not scope:
        scope.extend(probe.findings)
        scope.members[0] += probe.members[0]
    verdicts.found["onnx"] = "onnx"


def _scan_ubjson(data: Any, scope: Scope, depth: int, verdicts: _Verdicts, zip_done: bool) -> str:
    """UBJSON is data only (nothing in it is a finding); the bytes after its value are judged as after a
    pickle: another pickle or a known format is scanned as one, anything else is trailing data."""
    from mlwarden.models._scan_ubjson import scan_ubjson

    value = scan_ubjson(data)
    _after_pickle(data, value.end, scope, depth, verdicts, zip_done, "the UBJSON value")
    return "xgboost-ubjson" if value.xgboost else "ubjson"


def _scan_hdf5(data: Any, scope: Scope, depth: int) -> str:
    from mlwarden.models._scan_keras import scan_keras_h5

    def blob(where: str, raw: bytes) -> None:
        # Weights and names, mostly: read like a storage (no reader's refusal is an error, a pickle that
        # parses is judged in full, one that does not keeps its CRITICAL imports).
        member = scope.nested(where)
        _scan_blob(memoryview(raw), where, member, depth + 1, model_dir=None, storage=True)

    scan_keras_h5(data, scope, on_bytes=blob, wanted=sniff.may_be_a_file)
    return "hdf5"


# -- pickle sequences -----------------------------------------------------------------------------


def _scan_pickle_stream(
    data: Any,
    scope: Scope,
    depth: int,
    verdicts: _Verdicts | None = None,
    *,
    persistent_ids: bool = False,
    zip_done: bool = False,
) -> str:
    """A pickle file: one pickle and any that follow it, or a legacy ``torch.save`` (five in a row)."""
    first = _walk_pickle(data, scope, 0, depth, persistent_ids=persistent_ids)
    if first.value == TORCH_LEGACY_MAGIC:
        pos = first.end
        for _ in range(4):  # protocol version, system info, the object, the storage keys
            pos = _walk_pickle(data, scope.nested(f"pickle@{pos}"), pos, depth, persistent_ids=True).end
        return "torch-legacy"
    _after_pickle(data, first.end, scope, depth, verdicts, zip_done)
    return "joblib" if first.joblib else "pickle"


def _walk_pickle(data: Any, scope: Scope, pos: int, depth: int, *, persistent_ids: bool = False) -> Any:
    """One pickle from ``pos``; then each large byte payload it holds that starts with a known format's
    magic (an archive or a pickle carried as ``BINBYTES``) is scanned as a file of its own."""
    outer = scope.payloads
    scope.payloads = []
    try:
        result = scan_pickle(data, scope, pos, persistent_ids=persistent_ids, depth=depth)
    finally:
        payloads, scope.payloads = scope.payloads, outer
    tail_zip: int | None = -1
    for start, length in payloads or ():
        blob = data[start : start + length]
        head = bytes(blob[:300])
        if not sniff.has_magic(head):
            continue
        if head.startswith(b"PK\x03\x04"):
            if tail_zip == -1:
                tail_zip = sniff.zip_end(data)
            if tail_zip is not None and start < tail_zip <= start + length:
                continue  # the zip reader of the stream itself opens this one (its end record is the stream's)
        # read like a storage: array bytes that merely start like a file are no error; what parses is judged
        _scan_blob(blob, f"bytes@{start}", scope.nested(f"bytes@{start}"), depth + 1, model_dir=None, storage=True)
    return result


def _after_pickle(
    data: Any,
    pos: int,
    scope: Scope,
    depth: int,
    verdicts: _Verdicts | None,
    zip_done: bool,
    what: str = "the pickle's STOP",
) -> None:
    """Pickles written one after another are each scanned (a loader may call pickle.load again); other
    bytes after a pickle are read as a file of their own (a zip or tar appended to a pickle is one), and
    if no reader takes them they are a LOW finding, plus any CRITICAL import reached before they stop
    parsing."""
    size = len(data)
    while pos < size:
        probe = Scope(scope.path, f"{scope.inner}!/pickle@{pos}" if scope.inner else f"pickle@{pos}")
        try:
            end = _walk_pickle(data, probe, pos, depth + 1).end
        except Unreadable:
            scope.extend(f for f in probe.findings if f.severity is Severity.CRITICAL)
            _after_object(data, pos, scope, depth, verdicts, zip_done, what)
            return
        scope.members[0] += 1
        scope.extend(probe.findings)
        pos = end


def _after_object(
    data: Any, pos: int, scope: Scope, depth: int, verdicts: _Verdicts | None, zip_done: bool, what: str
) -> None:
    """Bytes after a complete object (a pickle, a zip's end record) that are not another pickle: scanned as
    a file of their own; a LOW finding when no reader takes them (and no other reader took the file)."""
    rest = data[pos:]
    member = Scope(scope.path, f"{scope.inner}!/appended@{pos}" if scope.inner else f"appended@{pos}")
    member.members = scope.members
    try:
        fmt = _scan_blob(rest, f"appended@{pos}", member, depth + 1, model_dir=None, zip_done=True, skip_pickle=True)
    except Unreadable as exc:
        _deep(exc)
        fmt = "unsupported"
    scope.extend(member.findings)
    if fmt in ("unsupported", "inert", "empty"):
        detail = f"{len(rest)} bytes after {what} that are not a pickle or another known format"
        if verdicts is None:
            scope.add(Severity.LOW, "trailing-data", "trailing bytes", detail, pos)
        else:
            verdicts.trailing.append((scope.inner, pos, detail))


# -- NumPy ----------------------------------------------------------------------------------------


def _scan_npy(data: Any, scope: Scope, depth: int) -> str:
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
    has_object: bool | None
    if simple is not None:  # what numpy writes for a plain dtype: no need for the literal parser
        descr: Any = simple.group(1).decode("ascii")
        has_object = sniff.descr_has_object(descr)
    else:
        try:
            header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
        except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
            raise Unreadable("npy header is not a Python literal") from None
        if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= header.keys():
            raise Unreadable("npy header lacks descr, fortran_order or shape")
        descr = header["descr"]
        has_object = sniff.descr_has_object(descr)
    if has_object is None:
        # numpy here cannot build this dtype, another version may: a pickle after it is judged, and a
        # file that is not one is not vouched for.
        try:
            _npy_pickle(data, scope, start + length, depth)
        except Unreadable:
            why = f"npy dtype {sniff.show_descr(descr)} is not one this numpy builds, so the file was not scanned"
            raise Unreadable(why) from None
    elif has_object:
        _npy_pickle(data, scope, start + length, depth)
    return "npy"


def _npy_pickle(data: Any, scope: Scope, pos: int, depth: int) -> None:
    """numpy.load(allow_pickle=True) of an object array unpickles the rest of the file."""
    result = _walk_pickle(data, scope, pos, depth)
    _after_pickle(data, result.end, scope, depth, None, False)


_NPY_SIMPLE = re.compile(
    rb"\{'descr': '([|<>=]?[A-Za-z]\d*)', 'fortran_order': (?:True|False), 'shape': \((?:\d+, ?)*\d*\), \} *\n?"
)


# and those whose dtype holds objects (O; T, numpy 2's variable-width strings, also has hasobject set).


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


def _zip_label(names: set[str]) -> str:
    """What to call a zip in the report (by its members' names). Only the name: every member is judged by
    what it is, whatever its siblings are called."""
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return "pytorch-zip"
    if "schema.json" in names:
        return "skops"
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return "keras"
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return "npz"
    return "zip"


def _scan_zip(data: Any, name: str, scope: Scope, depth: int, verdicts: _Verdicts | None = None) -> str:
    try:
        archive = zipfile.ZipFile(_BufferFile(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise Unreadable(f"zip archive is corrupt: {exc}") from None
    names = {info.filename for info in infos}
    # A torch.save archive: ARCHIVE/data.pkl, whose persistent ids name the storages ARCHIVE/data/KEY.
    torch_archives = {n.rpartition("/")[0] for n in names if n.endswith("/data.pkl") or n == "data.pkl"}
    # data.pkl first: the storages its persistent ids name are the only members that may be raw bytes.
    first = [i for i in infos if i.filename.rpartition("/")[0] in torch_archives and i.filename.endswith("/data.pkl")]
    first += [i for i in infos if i.filename == "data.pkl"]
    infos = first + [i for i in infos if i not in first]
    storages: set[str] = set()
    refused: list[str] = []  # every member is scanned before the first refusal is raised
    for info in infos:
        if info.is_dir():
            continue
        member = scope.nested(info.filename)
        try:
            storages |= _scan_zip_member(archive, info, data, member, depth, torch_archives, storages)
        except Unreadable as exc:
            _deep(exc)
            refused.append(str(exc))
    if refused:
        raise Unreadable(refused[0])
    end = sniff.zip_end(data)
    if end is not None and end < len(data):
        _after_pickle(data, end, scope, depth, verdicts, True, "the zip's end record")
    return _zip_label(names)


def _scan_zip_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    data: Any,
    member: Scope,
    depth: int,
    torch_archives: set[str],
    storages: set[str],
) -> set[str]:
    """Scan one zip member by what it is; returns the storages it names (when it is a torch data.pkl)."""
    _member_name_finding(member, info.filename)
    if info.flag_bits & 0x1:
        raise Unreadable(f"zip member {info.filename} is encrypted and cannot be scanned")
    if info.file_size > MAX_DECOMPRESSED:
        raise Unreadable(f"zip member {info.filename} inflates past {MAX_DECOMPRESSED >> 30} GiB")
    body = _member_bytes(archive, info, data)
    base = PurePosixPath(info.filename).name
    if base in ("schema.json", "config.json"):
        _judge_config(base, body, member)
    folder = info.filename.rpartition("/")[0]
    torch_pickle = info.filename.endswith(".pkl") and folder in torch_archives
    if torch_pickle:
        member.pids = []
    fmt = _scan_blob(
        body,
        info.filename,
        member,
        depth + 1,
        model_dir=None,
        persistent_ids=torch_pickle,
        storage=info.filename in storages,
    )
    if fmt == "unsupported":
        raise Unreadable(f"zip member {info.filename} has an unsupported format, so it was not scanned")
    return _storages(folder, member.pids or []) if torch_pickle and base == "data.pkl" else set()


def _judge_config(base: str, body: Any, member: Scope) -> None:
    """skops reads ``schema.json`` and Keras ``config.json`` from the archive they are in: each is judged as
    such wherever it is, whatever else the archive holds. A JSON file that is not one (a JSON schema, a
    Hugging Face config) is what its loader refuses: nothing is found in it."""
    from mlwarden.models._scan_keras import scan_keras_v3_zip_config
    from mlwarden.models._scan_skops import scan_skops_schema

    judge = scan_skops_schema if base == "schema.json" else scan_keras_v3_zip_config
    probe = Scope(member.path, member.inner)
    try:
        judge(bytes(body), probe)
    except Unreadable:
        member.extend(f for f in probe.findings if f.severity is Severity.CRITICAL)
        return
    member.extend(probe.findings)


def _storages(folder: str, pids: list[Any]) -> set[str]:
    """The members a torch ``data.pkl`` names as storages: persistent ids ``('storage', type, key, location,
    numel)`` name ``FOLDER/data/KEY`` (torch.load copies those bytes and never unpickles them)."""
    prefix = f"{folder}/data/" if folder else "data/"
    return {
        prefix + pid[2]
        for pid in pids
        if isinstance(pid, tuple)
        and len(pid) >= 3
        and pid[0] == "storage"
        and isinstance(pid[2], str)
        and "/" not in pid[2]
        and not pid[2].endswith(".pkl")
    }


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
    refused: list[str] = []  # every member is scanned before the first refusal is raised
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
            refused.append(f"tar member {info.name} cannot be read")
            continue
        try:
            fmt = _scan_blob(memoryview(fh.read()), info.name, member, depth + 1, model_dir=None)
        except Unreadable as exc:
            _deep(exc)
            refused.append(str(exc))
            continue
        if fmt == "unsupported":
            refused.append(f"tar member {info.name} has an unsupported format, so it was not scanned")
    if refused:
        raise Unreadable(refused[0])
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
