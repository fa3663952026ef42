"""The pickle scanner's rules of issue 14, each tested as a rule: operands parsed as CPython parses them,
CRITICAL by capability (what a callable can do, not what its name looks like), and joblib's array wrappers
followed as joblib reads them.

Every hostile file is built here by code. :func:`test_hostile_files_run_under_their_loaders` proves, in one
subprocess, that the new CRITICAL classes really run under their usual loader (``pickle.load`` or
``joblib.load``): each payload creates a canary file in ``tmp_path``; nothing here loads them in-process.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import _payloads as P
import numpy as np
import pytest

from mlwarden.models import FileScan, ScanReport, Severity, scan_bytes, scan_file
from mlwarden.models._allowlist import CAPABILITIES, capability, classify_import
from mlwarden.models._pickle_scan import EXTERNAL_FILE, _int_opcode, _long_opcode, _memo_key

su = P._su


def exit_code(fs: FileScan) -> int:
    return ScanReport((fs,), 0.0).exit_code


def critical(fs: FileScan) -> set[str]:
    return {f.name for f in fs.findings if f.severity is Severity.CRITICAL}


def open_call(path: str, module: bytes = su("builtins"), name: bytes = su("open")) -> bytes:
    """Protocol-4 opcodes (no header, no STOP) of ``module.name(path, 'w')``: creates the file ``path``."""
    return module + name + b"\x93" + su(path) + su("w") + b"\x86R"


# ---------------------------------------------------------------------------------------------
# rule 1: operands as CPython's unpickler reads them
# ---------------------------------------------------------------------------------------------

INT_LITERALS = [
    b"7", b"010", b"0x1f", b"0X1F", b"0o17", b"0b101", b"1_0", b" 7", b"+1", b"-0", b"00", b"01", b"08",
    b"0x", b"1L", b"99999999999999999999", b"0777777777777777777777777", b"5\x00junk", b"\x000", b"", b"-",
    b"0b1_0", b"1__0",
]  # fmt: skip


def _c_unpickler(data: bytes) -> object:
    """What the C unpickler makes of a two-opcode pickle (no import, so it is safe to load)."""
    try:
        return pickle.loads(data)  # noqa: S301 -- INT/LONG/STRING/PUT/GET and STOP only: nothing imported
    except Exception:
        return "error"


@pytest.mark.parametrize("literal", INT_LITERALS, ids=repr)
def test_int_long_and_memo_operands_match_the_c_unpickler(literal: bytes) -> None:
    from mlwarden.models._findings import Unreadable

    for opcode, parse in ((b"I", _int_opcode), (b"L", _long_opcode)):
        try:
            got: object = parse(literal, 0)
        except Unreadable:
            got = "error"
        want = _c_unpickler(opcode + literal + b"\n.")
        assert (type(got), got) == (type(want), want), (opcode, literal)
    try:
        key: object = _memo_key(literal, 0)
    except Unreadable:
        key = "error"
    want = "error" if key == "error" else _c_unpickler(b"I5\np" + literal + b"\n0g" + str(key).encode() + b"\n.")
    assert want in (5, "error")
    if want == "error":  # the C unpickler refuses the key only where the scanner does
        assert key == "error" or _c_unpickler(b"I5\np" + literal + b"\n.") == "error"


@pytest.mark.parametrize(("literal", "count"), [(b"010", 8), (b"0x10", 16), (b"0o17", 15), (b"1_2", 12)])
def test_joblib_shape_written_as_a_base0_int_is_followed(literal: bytes, count: int) -> None:
    """An ``INT`` shape joblib reads as ``count`` items: the opcodes right after them are scanned (before:
    ``010`` counted 10 items, skipping the call; ``0x10`` made the scan fail)."""
    head = P.joblib_wrapper(1).replace(b"J" + struct.pack("<i", 1), b"I" + literal + b"\n")
    data = head + b"\xff" * count + b"0" + open_call("/tmp/x") + b"."
    fs = scan_bytes(data, "m.joblib")
    assert "builtins.open" in critical(fs), fs


@pytest.mark.parametrize(
    "operand",
    [b"'o\\x73'", b"'o\\163'", b'"o\\x73"', b"'\\x6f\\x73'"],
    ids=["hex", "octal", "double-quoted", "all-escaped"],
)
def test_escaped_string_operands_are_decoded_before_the_allow_list(operand: bytes) -> None:
    """``STRING 'o\\x73'`` is ``os`` to the unpickler: the import is ``os.system``, CRITICAL (before: an odd
    unknown name ``o\\x73.system``, HIGH)."""
    data = b"\x80\x04S" + operand + b"\nS'system'\n\x93S'id'\n\x85R."
    imported = pickle.loads(data.replace(b"\x93S'id'\n\x85R", b"\x93"))  # noqa: S301 -- imports, calls nothing
    assert imported is os.system
    fs = scan_bytes(data, "s.pkl")
    assert critical(fs) == {"os.system"}, fs.findings
    assert fs.findings[0].offset == data.index(b"\x93")


def test_unicode_operand_escapes_and_strict_decoding() -> None:
    fs = scan_bytes(b"\x80\x04Vo\\u0073\nVsystem\n\x93.", "u.pkl")
    assert critical(fs) == {"os.system"}
    bad = scan_bytes(b"\x80\x04Vo\\u00\nVsystem\n\x93.", "u.pkl")  # the unpickler refuses this escape
    assert bad.error is not None
    assert _c_unpickler(b"Vo\\u00\n.") == "error"


@pytest.mark.parametrize(
    "data",
    [b"c\xff\nsystem\n.", b"cos\n\xfe\n.", b"(ios\xc3\xa9\nsystem\n.", b"c\nsystem\n."],
    ids=["GLOBAL module not UTF-8", "GLOBAL name not UTF-8", "INST not ASCII", "empty module"],
)
def test_global_and_inst_operands_are_decoded_strictly(data: bytes) -> None:
    """The unpickler decodes GLOBAL lines as UTF-8 and INST lines as ASCII, strictly: it fails there, so the
    scan is an error (before: a finding under a name with replacement characters)."""
    assert _c_unpickler(data) == "error"
    fs = scan_bytes(data, "g.pkl")
    assert fs.error is not None
    assert exit_code(fs) == 2


# ---------------------------------------------------------------------------------------------
# rule 2: severity by capability
# ---------------------------------------------------------------------------------------------

CRITICAL_BY_EFFECT = [
    ("_operator", "attrgetter", "indirection"),
    ("_operator", "itemgetter", "indirection"),
    ("_operator", "methodcaller", "indirection"),
    ("copyreg", "add_extension", "indirection"),
    ("copy_reg", "add_extension", "indirection"),
    ("functools", "reduce", "indirection"),
    ("uvicorn.importer", "import_from_string", "imports modules"),
    ("uvicorn", "run", "imports modules"),
    ("pkgutil", "resolve_name", "imports modules"),
    ("importlib", "import_module", "imports modules"),
    ("pydoc", "locate", "imports modules"),
    ("_frozen_importlib", "_call_with_frames_removed", "imports modules"),
    ("_frozen_importlib_external", "SourceFileLoader", "imports modules"),
    ("pydantic._internal._validators", "import_string", "imports modules"),
    ("unittest.mock", "_importer", "imports modules"),
    ("numpy", "memmap", "opens files"),
    ("numpy.core.memmap", "memmap", "opens files"),
    ("numpy._core.memmap", "memmap", "opens files"),
    ("numpy.lib.format", "open_memmap", "opens files"),
    ("numpy", "savez", "opens files"),
    ("numpy", "DataSource", "opens files"),
    ("pandas", "read_csv", "opens files"),
    ("scipy.io", "savemat", "opens files"),
    ("sklearn.datasets", "fetch_openml", "opens files"),
    ("zipfile", "ZipFile", "opens files"),
    ("uuid", "_get_command_stdout", "runs processes"),
    ("_sitebuiltins", "_Helper", "runs processes"),
    ("anyio", "run_process", "runs processes"),
    ("_ctypes", "dlopen", "runs code"),
    ("yaml", "unsafe_load", "runs code"),
    ("test.support.script_helper", "assert_python_ok", "test and build helpers"),
    ("_pytest.pytester", "Pytester", "test and build helpers"),
    ("numpy.testing", "assert_", "test and build helpers"),
    ("sklearn.utils._testing", "assert_run_python_script_without_output", "test and build helpers"),
    ("setuptools.sandbox", "run_setup", "test and build helpers"),
    ("distutils.spawn", "spawn", "test and build helpers"),
    ("skops.io", "load", "imports modules"),
    ("builtins", "getattr", "runs code"),
]


@pytest.mark.parametrize(("module", "name", "group"), CRITICAL_BY_EFFECT, ids=lambda v: str(v))
def test_callables_are_critical_by_what_they_can_do(module: str, name: str, group: str) -> None:
    assert classify_import(module, name)[0] is Severity.CRITICAL
    assert capability(module, name) == group
    fs = scan_bytes(P.asm(4, P.Call(P.G(module, name), ("x",))).data, "c.pkl")
    (finding,) = [f for f in fs.findings if f.kind == "import"]
    assert finding.severity is Severity.CRITICAL
    assert group in finding.detail


def test_every_capability_group_is_documented() -> None:
    from mlwarden.models import _allowlist

    assert _allowlist.__doc__ is not None
    docs = (Path(__file__).parents[2] / "docs" / "models.md").read_text()
    for group in CAPABILITIES:
        assert group in _allowlist.__doc__, group
        assert group in docs, group


def test_allowed_names_stay_allowed() -> None:
    """The groups never override the allow-list (copyreg's reconstructors, joblib's wrappers, numpy's)."""
    for module, name in [
        ("copyreg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("builtins", "set"),
    ]:
        assert classify_import(module, name)[0] is None


def test_pandas_and_pyarrow_reconstructors_are_medium_and_nothing_else_of_theirs_is() -> None:
    """Only the precise names pandas' own pickles import are MEDIUM (memory-unsafe); pandas' readers and
    the rest of pyarrow (which opens files: ``pyarrow.fs``, ``pyarrow.parquet``) keep their capability."""
    for module, name in [
        ("pandas", "DataFrame"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),  # not a "module internal": Cython's helper
        ("pandas.core.internals.managers", "BlockManager"),
        ("pyarrow.lib", "_restore_array"),
        ("pyarrow.lib", "py_buffer"),
    ]:
        assert classify_import(module, name)[0] is Severity.MEDIUM, (module, name)
    for module, name in [
        ("pandas", "read_pickle"),
        ("pandas.io.pickle", "read_pickle"),
        ("pandas", "read_csv"),
        ("pyarrow.fs", "LocalFileSystem"),
        ("pyarrow.parquet", "write_table"),
        ("pyarrow.lib", "_restore_array.__globals__"),
        ("pandas._testing", "assert_frame_equal"),
        ("pandas", "eval"),  # evaluates an expression string
        ("pandas.core.computation.eval", "eval"),
    ]:
        assert classify_import(module, name)[0] is Severity.CRITICAL, (module, name)
    assert classify_import("pandas", "merge")[0] is Severity.HIGH  # not a reconstructor: off the list
    fs = scan_bytes(P.asm(4, P.Call(P.G("pandas", "Series"), ([1, 2],))).data, "s.pkl")
    (finding,) = fs.findings
    assert finding.severity is Severity.MEDIUM
    assert "memory-unsafe reconstructor" in finding.detail


def test_ext_of_a_code_registered_in_the_stream_is_judged_as_its_import() -> None:
    """``copyreg.add_extension('os', 'system', 240)`` then ``EXT1 240``: the import is ``os.system``."""
    register = P.asm(4, P.Call(P.G("copyreg", "add_extension"), ("os", "system", 240)), stop=False).data
    data = register + b"0\x82\xf0" + su("id") + b"\x85R."
    fs = scan_bytes(data, "e.pkl")
    found = {(f.kind, f.name, f.severity) for f in fs.findings}
    assert ("extension", "os.system", Severity.CRITICAL) in found, found
    assert ("import", "copyreg.add_extension", Severity.CRITICAL) in found, found
    unknown = scan_bytes(b"\x80\x02\x82\xf1)R.", "e.pkl")
    assert [(f.kind, f.severity) for f in unknown.findings] == [("extension", Severity.CRITICAL)]


# ---------------------------------------------------------------------------------------------
# rule 3: joblib's wrappers as joblib reads them
# ---------------------------------------------------------------------------------------------


class _NonSeekable(io.RawIOBase):
    """A write-only stream without ``tell``: joblib then writes ``numpy_array_alignment_bytes: None``."""

    def __init__(self) -> None:
        self.out = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.out += b
        return len(b)

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


def test_joblib_dump_to_a_non_seekable_stream_scans_clean() -> None:
    import joblib

    stream = _NonSeekable()
    value = {"w": np.arange(37.0), "i": np.arange(5, dtype=np.int32), "b": np.ones((3, 4), dtype=bool), "n": 3}
    joblib.dump(value, stream)
    data = bytes(stream.out)
    assert b"numpy_array_alignment_bytes" in data  # the attribute is there, holding None
    assert joblib.load(io.BytesIO(data))["w"].sum() == value["w"].sum()  # type: ignore[union-attr]
    fs = scan_bytes(data, "m.joblib")
    assert fs.clean, (fs.error, fs.findings)
    assert fs.format == "joblib"


def _none_alignment_bypass(canary: str) -> bytes:
    """A wrapper with ``numpy_array_alignment_bytes: None`` (no padding) and one byte of data, 0xff: a scanner
    that pads anyway skips 256 bytes, over the call joblib runs next, to a STOP placed there."""
    head = P.joblib_wrapper(1, padded=True).replace(b"K\x10ub", b"Nub")
    tail = b"0" + open_call(canary) + b"."
    assert len(tail) < 255
    return head + b"\xff" + tail + b"\x00" * (255 - len(tail)) + b"."


def _reconstructor_wrapper(canary: str) -> bytes:
    """The wrapper made by ``copyreg._reconstructor(cls, object, None)`` (how protocols 0-1 write objects):
    joblib reads its 6 data bytes, which a scanner that does not see a wrapper parses as POP + BINBYTES
    swallowing the call joblib runs next."""
    wrapper = P.joblib_wrapper(6)
    cls = su("joblib.numpy_pickle") + su("NumpyArrayWrapper") + b"\x93\x94"
    assert wrapper.startswith(b"\x80\x04" + cls + b")\x81")
    head = b"\x80\x04" + su("copyreg") + su("_reconstructor") + b"\x93" + cls
    head += su("builtins") + su("object") + b"\x93N\x87R" + wrapper[len(b"\x80\x04" + cls + b")\x81") :]
    tail = b"0" + open_call(canary) + b"."
    return head + b"0B" + struct.pack("<I", len(tail)) + tail + b"."


def _compat_wrapper(filename: str) -> bytes:
    """joblib < 0.10's ``NDArrayWrapper``: joblib.load calls ``np.load(dirname/filename, allow_pickle=True)``."""
    return (
        b"\x80\x04"
        + su("joblib.numpy_pickle_compat")
        + su("NDArrayWrapper")
        + b"\x93)\x81}("
        + su("filename")
        + su(filename)
        + su("subclass")
        + su("numpy")
        + su("ndarray")
        + b"\x93"
        + su("allow_mmap")
        + b"\x89ub."
    )


def test_none_alignment_is_not_padding() -> None:
    fs = scan_bytes(_none_alignment_bypass("/tmp/x"), "m.joblib")
    assert "builtins.open" in critical(fs), fs


def test_wrapper_made_by_copyreg_reconstructor_is_followed() -> None:
    fs = scan_bytes(_reconstructor_wrapper("/tmp/x"), "m.joblib")
    assert "builtins.open" in critical(fs), fs


@pytest.mark.parametrize(
    ("args", "padding"),
    [((False,), b"\x00"), ((False, None), b""), ((False, 16), b"\x02\xff\xff")],
    ids=["default alignment", "None", "16"],
)
def test_wrapper_built_by_calling_its_class_is_followed(args: tuple[object, ...], padding: bytes) -> None:
    """``REDUCE(NumpyArrayWrapper, (subclass, shape, order, dtype, ...))`` runs ``__init__``: its defaults
    (alignment 16: a padding byte) hold, and an empty BUILD state keeps them."""
    a = P._Asm(4)
    a.w(b"\x80\x04" + su("joblib.numpy_pickle") + su("NumpyArrayWrapper") + b"\x93(")
    a.w(su("numpy") + su("ndarray") + b"\x93K\x03\x85" + su("C") + P.joblib_dtype("u1"))
    for item in args:
        a.value(item)
    a.w(b"tR}b")
    data = bytes(a.out) + padding + b"abc" + b"0" + open_call("/tmp/x") + b"."
    fs = scan_bytes(data, "m.joblib")
    assert "builtins.open" in critical(fs), (fs.error, fs.findings)


def test_wrapper_built_again_from_the_memo_merges_its_states() -> None:
    """A wrapper BUILT a second time (fetched from the memo) keeps the first state's fields: the second
    ``{'shape': (4,)}`` makes joblib read 4 bytes of the first state's u1 dtype."""
    first = P.joblib_wrapper(1)
    assert first.endswith(b"ub")
    assert first.count(b"\x94") == 1
    head = first[:-1].replace(b")\x81", b")\x81\x94", 1) + b"b"  # the wrapper is memo 1
    data = head + b"\x00" + b"0h\x01}" + su("shape") + b"K\x04\x85sb" + b"WXYZ" + b"0" + open_call("/tmp/x") + b"."
    fs = scan_bytes(data, "m.joblib")
    assert "builtins.open" in critical(fs), (fs.error, fs.findings)


def test_computed_alignment_fails_closed() -> None:
    head = P.joblib_wrapper(1, padded=True).replace(b"K\x10ub", su("builtins") + su("int") + b"\x93)Rub")
    fs = scan_bytes(head + b"\x00\x00.", "m.joblib")
    assert fs.error is not None
    assert "alignment" in fs.error


@pytest.mark.parametrize(
    ("filename", "severity"),
    [("model_01.npy", Severity.HIGH), ("../x.npy", Severity.CRITICAL), ("/etc/x.npy", Severity.CRITICAL)],
)
def test_compat_wrapper_names_the_file_it_loads(filename: str, severity: Severity) -> None:
    fs = scan_bytes(_compat_wrapper(filename), "m.pkl")
    (finding,) = [f for f in fs.findings if f.kind == EXTERNAL_FILE]
    assert (finding.name, finding.severity) == (filename, severity)
    assert "allow_pickle=True" in finding.detail
    assert exit_code(fs) == 1


# ---------------------------------------------------------------------------------------------
# loader proofs: the new CRITICAL classes run under their real loader (one subprocess)
# ---------------------------------------------------------------------------------------------


def _hostile(tmp: Path) -> dict[str, tuple[str, bytes, str, Severity]]:
    """name -> (loader, file bytes, canary path, the severity the scan must give)."""
    c = {name: str(tmp / f"canary-{name}") for name in ("escape", "ext", "getter", "importer", "memmap")}
    c |= {name: str(tmp / f"canary-{name}") for name in ("align", "reconstructor", "compat")}
    getter = (  # _operator.itemgetter('open')(attrgetter('__globals__')(copyreg._reconstructor)['__builtins__'])
        b"\x80\x04"
        + su("_operator") + su("itemgetter") + b"\x93" + su("open") + b"\x85R"
        + su("_operator") + su("itemgetter") + b"\x93" + su("__builtins__") + b"\x85R"
        + su("_operator") + su("attrgetter") + b"\x93" + su("__globals__") + b"\x85R"
        + su("copyreg") + su("_reconstructor") + b"\x93\x85R\x85R\x85R"
        + su(c["getter"]) + su("w") + b"\x86R."
    )  # fmt: skip
    memmap = P.G("numpy._core.memmap", "memmap")
    evil_npy = io.BytesIO()
    np.save(evil_npy, np.array([P.Reduce(open, (c["compat"], "w"))], dtype=object), allow_pickle=True)
    (tmp / "sibling.npy").write_bytes(evil_npy.getvalue())
    return {
        "escape": ("pickle", b"\x80\x04S'bu\\x69ltins'\nS'open'\n\x93" + su(c["escape"]) + su("w") + b"\x86R.",
                   c["escape"], Severity.CRITICAL),
        "ext": ("pickle", P.asm(4, P.Call(P.G("copyreg", "add_extension"), ("builtins", "open", 241)), stop=False).data
                + b"0\x82\xf1" + su(c["ext"]) + su("w") + b"\x86R.", c["ext"], Severity.CRITICAL),
        "getter": ("pickle", getter, c["getter"], Severity.CRITICAL),
        "importer": ("pickle", b"\x80\x04" + su("uvicorn.importer") + su("import_from_string") + b"\x93"
                     + su("builtins:open") + b"\x85R" + su(c["importer"]) + su("w") + b"\x86R.",
                     c["importer"], Severity.CRITICAL),
        "memmap": ("pickle", P.asm(4, P.Call(memmap, (c["memmap"], "uint8", "w+", 0, (1,)))).data,
                   c["memmap"], Severity.CRITICAL),
        "align": ("joblib", _none_alignment_bypass(c["align"]), c["align"], Severity.CRITICAL),
        "reconstructor": ("joblib", _reconstructor_wrapper(c["reconstructor"]), c["reconstructor"], Severity.CRITICAL),
        "compat": ("joblib", _compat_wrapper("sibling.npy"), c["compat"], Severity.HIGH),
    }  # fmt: skip


LOADER = """
import pickle, sys, warnings
import joblib
warnings.simplefilter("ignore")
for loader, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        with open(path, "rb") as fh:
            joblib.load(fh) if loader == "joblib" else pickle.load(fh)
    except Exception as exc:
        print(path, type(exc).__name__, exc)
"""


def test_hostile_files_run_under_their_loaders(tmp_path: Path) -> None:
    cases = _hostile(tmp_path)
    argv: list[str] = []
    for name, (loader, data, _, least) in cases.items():
        path = tmp_path / f"{name}.{'joblib' if loader == 'joblib' else 'pkl'}"
        path.write_bytes(data)
        argv += [loader, str(path)]
        fs = scan_file(path)
        worst = max((f.severity for f in fs.findings), default=None)
        assert worst is not None, (name, fs.error)
        assert worst >= least, (name, fs.findings)
        assert exit_code(fs) == 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", LOADER, *argv], check=True, cwd=tmp_path, env=env, timeout=120)
    ran = {name for name, (_, _, canary, _) in cases.items() if Path(canary).exists()}
    assert ran == set(cases), f"payloads that did not run under their loader: {set(cases) - ran}"


def test_partial_wrapping_anything_not_allowed_is_critical() -> None:
    """``functools.partial`` calls what it wraps whenever the model calls it, and its ``__setstate__`` can
    swap that callable: CRITICAL when it is not allowed (before: HIGH), still HIGH around ``numpy.mean``."""
    import functools

    harmless = scan_bytes(pickle.dumps(functools.partial(np.mean, axis=0), protocol=4), "p.pkl")
    assert [(f.kind, f.severity) for f in harmless.findings] == [("import", Severity.HIGH)]
    wrapped = scan_bytes(pickle.dumps(functools.partial(P.canary, "x"), protocol=4), "p.pkl")
    assert ("indirection", "functools.partial", Severity.CRITICAL) in {
        (f.kind, f.name, f.severity) for f in wrapped.findings
    }
    swapped = P.asm(
        4, P.Build(P.Call(P.G("functools", "partial"), (P.G("numpy", "mean"),)), ((P.G("mypkg", "f"), (), {}, None),))
    )
    found = scan_bytes(swapped.data, "p.pkl")
    assert Severity.CRITICAL in {f.severity for f in found.findings if f.kind == "indirection"}
