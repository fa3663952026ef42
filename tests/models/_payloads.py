"""Builders of malicious, canary and malformed model files for the scanner tests. Nothing here loads them.

Two ways to make a pickle:

* :func:`asm` assembles one from a small value tree (:class:`G` imports, :class:`Call` REDUCE,
  :class:`Obj`, :class:`Inst`, :class:`NewObj`, :class:`Build`, :class:`Put`/:class:`Get`, :class:`Raw`...)
  at a chosen protocol, picking the opcodes that protocol has, and records where every import
  opcode starts (:attr:`Built.imports`);
* :func:`reduce_pickle` is ``pickle.dumps`` of an object whose ``__reduce__`` returns a dangerous
  callable: the pickler writes what a real attacker's pickler writes.

Then containers: joblib (plain, compressed, object arrays, hand-made array wrappers), ``.npy``/``.npz``,
PyTorch zip checkpoints and legacy ``torch.save`` files (torch is not installed: the storages' persistent
ids and the ``torch`` globals are written by hand), zip, nested zip, tar and tar.gz.

:func:`reference_imports` is an independent walk of a pickle with :mod:`pickletools` (the differential
oracle, and how the tests find where an import opcode is). :func:`canary` is what canary payloads call:
if anything ever ran a payload, it leaves traces the tests look for.
"""

from __future__ import annotations

import _compat_pickle
import bz2
import dataclasses
import gzip
import io
import lzma
import marshal
import os
import pickle
import pickletools
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from mlwarden.models import Severity

__all__ = [
    "CANARY_CALLS",
    "CANARY_ENV",
    "IMPORT_OPCODES",
    "Build",
    "Built",
    "Call",
    "Expect",
    "G",
    "Get",
    "Inst",
    "Keep",
    "NewObj",
    "Obj",
    "Payload",
    "Put",
    "Raw",
    "Seq",
    "asm",
    "canary",
    "reduce_pickle",
    "reference_imports",
]

PROTOCOLS = tuple(range(pickle.HIGHEST_PROTOCOL + 1))
IMPORT_OPCODES = {ord("c"): "GLOBAL", ord("i"): "INST", 0x93: "STACK_GLOBAL"}
CANARY_ENV = "MLWARDEN_SCAN_CANARY"
CANARY_CALLS: list[tuple[Any, ...]] = []
MISSING_MODULE = "mlwarden_canary_module_that_does_not_exist"


def canary(*args: Any) -> None:
    """What canary payloads call: records the call, sets an environment variable, touches a marker."""
    CANARY_CALLS.append(args)
    os.environ[CANARY_ENV] = "1"
    if args and isinstance(args[0], str):
        with open(args[0], "w") as fh:
            fh.write("ran")


CANARY = (canary.__module__, canary.__qualname__)


# -- the assembler -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class G:
    """An import: ``GLOBAL`` below protocol 4, ``STACK_GLOBAL`` from 4 (``op`` forces one)."""

    module: str
    name: str
    op: str | None = None


@dataclasses.dataclass(frozen=True)
class Call:
    """``func(*args)`` by ``REDUCE``."""

    func: Any
    args: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class Obj:
    """``cls(*args)`` by ``OBJ`` (MARK cls args... OBJ)."""

    cls: Any
    args: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class Inst:
    """``module.name(*args)`` by ``INST`` (MARK args... INST module name)."""

    module: str
    name: str
    args: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class NewObj:
    """``cls.__new__(cls, *args)`` by ``NEWOBJ``, or ``NEWOBJ_EX`` when ``kwargs`` is given."""

    cls: Any
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Build:
    """``obj`` then ``BUILD`` with each of ``states`` in turn."""

    obj: Any
    states: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Put:
    """``value``, then stored in the memo under ``key`` (PUT, BINPUT, LONG_BINPUT or MEMOIZE)."""

    value: Any
    key: int
    op: str | None = None


@dataclasses.dataclass(frozen=True)
class Get:
    """The memo's ``key`` (GET, BINGET or LONG_BINGET)."""

    key: int
    op: str | None = None


@dataclasses.dataclass(frozen=True)
class Raw:
    """Bytes written as they are (``label`` records where they start)."""

    data: bytes
    label: str | None = None


@dataclasses.dataclass(frozen=True)
class Seq:
    """Each value in turn, all but the last popped: the last one is what the pickle returns."""

    values: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Keep:
    """``value``, then each of ``then`` computed and popped: ``value`` is what the pickle returns."""

    value: Any
    then: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Built:
    """An assembled pickle and the offsets of its import opcodes ``(offset, opcode, module, name)``."""

    data: bytes
    imports: tuple[tuple[int, str, str, str], ...]
    labels: dict[str, int]

    def offset_of(self, module: str, name: str) -> int:
        return next(off for off, _, m, n in self.imports if (m, n) == (module, name))


class _Asm:
    def __init__(self, proto: int) -> None:
        self.proto = proto
        self.out = bytearray()
        self.imports: list[tuple[int, str, str, str]] = []
        self.labels: dict[str, int] = {}
        self.memo_count = 0

    def w(self, data: bytes) -> None:
        self.out += data

    def string(self, text: str, *, op: str | None = None) -> None:
        raw = text.encode("utf-8", "surrogatepass")
        op = op or ("UNICODE" if self.proto == 0 else "BINUNICODE" if self.proto < 4 or len(raw) > 255 else "SHORT")
        if op == "UNICODE":
            escaped = (
                text.replace("\\", "\\u005c")
                .replace("\0", "\\u0000")
                .replace("\n", "\\u000a")
                .replace("\r", "\\u000d")
                .replace("\x1a", "\\u001a")
            )
            self.w(b"V" + escaped.encode("raw-unicode-escape") + b"\n")
        elif op == "STRING":
            self.w(b"S" + repr(text).encode("ascii") + b"\n")
        elif op == "BINSTRING":
            latin = text.encode("latin-1")
            self.w(b"T" + struct.pack("<i", len(latin)) + latin)
        elif op == "SHORT_BINSTRING":
            latin = text.encode("latin-1")
            self.w(b"U" + bytes([len(latin)]) + latin)
        elif op == "SHORT":
            self.w(b"\x8c" + bytes([len(raw)]) + raw)
        elif op == "BINUNICODE8":
            self.w(b"\x8d" + struct.pack("<Q", len(raw)) + raw)
        else:
            self.w(b"X" + struct.pack("<I", len(raw)) + raw)

    def bytes_(self, data: bytes) -> None:
        if self.proto >= 3:
            if len(data) < 256:
                self.w(b"C" + bytes([len(data)]) + data)
            else:
                self.w(b"B" + struct.pack("<I", len(data)) + data)
        else:  # as the pickler does below protocol 3: _codecs.encode(latin-1 text, 'latin1')
            self.value(Call(G("_codecs", "encode"), (data.decode("latin-1"), "latin1")))

    def integer(self, n: int) -> None:
        if self.proto == 0:
            self.w(b"I%d\n" % n)
        elif 0 <= n < 256:
            self.w(b"K" + bytes([n]))
        elif 0 <= n < 65536:
            self.w(b"M" + struct.pack("<H", n))
        elif -(2**31) <= n < 2**31:
            self.w(b"J" + struct.pack("<i", n))
        elif self.proto >= 2:
            raw = pickle.encode_long(n)
            self.w(b"\x8a" + bytes([len(raw)]) + raw)
        else:
            self.w(b"L%dL\n" % n)

    def tuple_(self, items: Sequence[Any]) -> None:
        if not items and self.proto >= 1:
            self.w(b")")
            return
        if self.proto >= 2 and len(items) <= 3:
            for item in items:
                self.value(item)
            self.w(bytes([0x84 + len(items)]))
            return
        self.w(b"(")
        for item in items:
            self.value(item)
        self.w(b"t")

    def import_(self, g: G) -> None:
        op = g.op or ("STACK_GLOBAL" if self.proto >= 4 else "GLOBAL")
        if op == "STACK_GLOBAL":
            self.string(g.module)
            self.string(g.name)
            self.imports.append((len(self.out), op, g.module, g.name))
            self.w(b"\x93")
        else:
            self.imports.append((len(self.out), op, g.module, g.name))
            self.w(b"c" + g.module.encode() + b"\n" + g.name.encode() + b"\n")

    def put(self, key: int, op: str | None) -> None:
        op = op or ("PUT" if self.proto == 0 else "MEMOIZE" if self.proto >= 4 else "BINPUT")
        if op == "MEMOIZE":
            if key != self.memo_count:
                raise ValueError(f"MEMOIZE stores under {self.memo_count}, not {key}")
            self.w(b"\x94")
        elif op == "PUT":
            self.w(b"p%d\n" % key)
        elif op == "BINPUT":
            self.w(b"q" + bytes([key]))
        else:
            self.w(b"r" + struct.pack("<I", key))
        self.memo_count += 1

    def get(self, key: int, op: str | None) -> None:
        op = op or ("GET" if self.proto == 0 else "BINGET" if key < 256 else "LONG_BINGET")
        if op == "GET":
            self.w(b"g%d\n" % key)
        elif op == "BINGET":
            self.w(b"h" + bytes([key]))
        else:
            self.w(b"j" + struct.pack("<I", key))

    def value(self, v: Any) -> None:
        if v is None:
            self.w(b"N")
        elif v is True or v is False:
            self.w((b"\x88" if v else b"\x89") if self.proto >= 2 else (b"I01\n" if v else b"I00\n"))
        elif isinstance(v, int):
            self.integer(v)
        elif isinstance(v, float):
            self.w(b"F%r\n" % v if self.proto == 0 else b"G" + struct.pack(">d", v))
        elif isinstance(v, str):
            self.string(v)
        elif isinstance(v, bytes):
            self.bytes_(v)
        elif isinstance(v, tuple):
            self.tuple_(v)
        elif isinstance(v, list):
            if self.proto == 0:
                self.w(b"(")
                for item in v:
                    self.value(item)
                self.w(b"l")
            else:
                self.w(b"](")
                for item in v:
                    self.value(item)
                self.w(b"e")
        elif isinstance(v, dict):
            self.w(b"(" if self.proto == 0 else b"}(")
            for key, item in v.items():
                self.value(key)
                self.value(item)
            self.w(b"d" if self.proto == 0 else b"u")
        elif isinstance(v, G):
            self.import_(v)
        elif isinstance(v, Call):
            self.value(v.func)
            self.tuple_(v.args)
            self.w(b"R")
        elif isinstance(v, Obj):
            self.w(b"(")
            self.value(v.cls)
            for item in v.args:
                self.value(item)
            self.w(b"o")
        elif isinstance(v, Inst):
            self.w(b"(")
            for item in v.args:
                self.value(item)
            self.imports.append((len(self.out), "INST", v.module, v.name))
            self.w(b"i" + v.module.encode() + b"\n" + v.name.encode() + b"\n")
        elif isinstance(v, NewObj):
            self.value(v.cls)
            self.tuple_(v.args)
            if v.kwargs is None:
                self.w(b"\x81")
            else:
                self.value(v.kwargs)
                self.w(b"\x92")
        elif isinstance(v, Build):
            self.value(v.obj)
            for state in v.states:
                self.value(state)
                self.w(b"b")
        elif isinstance(v, Put):
            self.value(v.value)
            self.put(v.key, v.op)
        elif isinstance(v, Get):
            self.get(v.key, v.op)
        elif isinstance(v, Raw):
            if v.label:
                self.labels[v.label] = len(self.out)
            self.w(v.data)
        elif isinstance(v, Keep):
            self.value(v.value)
            for item in v.then:
                self.value(item)
                self.w(b"0")
        elif isinstance(v, Seq):
            for i, item in enumerate(v.values):
                self.value(item)
                if i < len(v.values) - 1:
                    self.w(b"0")
        else:
            raise TypeError(f"cannot assemble {v!r}")


def asm(proto: int, value: Any, *, header: bool | None = None, stop: bool = True) -> Built:
    """Assemble a pickle returning ``value`` at ``proto`` (a PROTO header from protocol 2 unless ``header``)."""
    a = _Asm(proto)
    if header if header is not None else proto >= 2:
        a.w(b"\x80" + bytes([proto]))
    a.value(value)
    if stop:
        a.w(b".")
    return Built(bytes(a.out), tuple(a.imports), a.labels)


# -- pickle.dumps payloads -----------------------------------------------------------------------


class Reduce:
    """An object that pickles as ``func(*args)``: what ``pickle.dumps`` of a malicious object writes."""

    def __init__(self, func: Any, args: tuple[Any, ...] = ()) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def reduce_pickle(func: Any, args: tuple[Any, ...] = (), protocol: int = 4) -> bytes:
    return pickle.dumps(Reduce(func, args), protocol=protocol)


def written_name(module: str, name: str, protocol: int) -> tuple[str, str]:
    """The (module, name) the pickler writes for a global: Python 2 names below protocol 3 (fix_imports)."""
    if protocol >= 3:
        return module, name
    if (module, name) in _compat_pickle.REVERSE_NAME_MAPPING:
        return _compat_pickle.REVERSE_NAME_MAPPING[(module, name)]
    return _compat_pickle.REVERSE_IMPORT_MAPPING.get(module, module), name


def shown_name(module: str, name: str) -> str:
    """How a finding names the import of written ``module.name``: resolved the way the unpickler resolves it
    (``_compat_pickle``), with the written name after it when that differs."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        resolved = _compat_pickle.NAME_MAPPING[(module, name)]
    else:
        resolved = (_compat_pickle.IMPORT_MAPPING.get(module, module), name)
    full = f"{resolved[0]}.{resolved[1]}"
    return full if resolved == (module, name) else f"{full} (from {module}.{name})"


# -- the reference walk (pickletools) ------------------------------------------------------------


class _Unknown:
    def __repr__(self) -> str:
        return "?"


_MARK = object()
_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)


def reference_imports(data: bytes, start: int = 0) -> list[tuple[int, str, str | None, str | None]]:
    """Every import one pickle makes, found by :func:`pickletools.genops` with its own stack and memo:
    ``(offset, opcode, module, name)``; a ``STACK_GLOBAL`` of operands that are not strings has ``None``s.
    Raises what :mod:`pickletools` raises on a malformed pickle."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    found: list[tuple[int, str, str | None, str | None]] = []
    stream = io.BytesIO(data)
    stream.seek(start)
    for op, arg, pos in pickletools.genops(stream):
        name = op.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = arg.partition(" ")
            found.append((pos, name, module, attr))
        if name == "STACK_GLOBAL":
            attr, module = stack.pop(), stack.pop()
            ok = isinstance(module, str) and isinstance(attr, str)
            found.append((pos, name, module if ok else None, attr if ok else None))
            stack.append(_Unknown())
            continue
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
            continue
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
            continue
        if name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
            continue
        before = list(op.stack_before)
        if pickletools.markobject in before:  # [items below the mark..., mark, what follows it...]
            while stack[-1] is not _MARK:
                stack.pop()
            stack.pop()
            before = before[: before.index(pickletools.markobject)]
        for _ in before:
            stack.pop()
        for after in op.stack_after:
            if after is pickletools.markobject:
                stack.append(_MARK)
            elif name in _STRING_OPS:
                stack.append(arg if isinstance(arg, str) else arg.decode("latin-1"))
            else:
                stack.append(_Unknown())
    return found


def end_of_pickle(data: bytes, start: int = 0) -> int:
    stream = io.BytesIO(data)
    stream.seek(start)
    for op, _, pos in pickletools.genops(stream):
        if op.name == "STOP":
            return pos + 1
    raise ValueError("no STOP")


# -- what the tests expect -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expect:
    """A finding a scan must make: its name, severity and kind; ``offset`` in the innermost stream (``None``:
    the test finds it by name with :func:`reference_imports`); ``inner`` the archive path."""

    name: str
    severity: Severity = Severity.CRITICAL
    kind: str = "import"
    offset: int | None = None
    inner: str = ""


@dataclasses.dataclass(frozen=True)
class Payload:
    """One malicious file: ``data`` to write as ``filename``; the findings it must produce; ``stream`` the
    innermost stream the expected offsets index (the file itself when ``None``)."""

    kind: str
    protocol: int | None
    data: bytes
    filename: str
    expect: tuple[Expect, ...]
    stream: bytes | None = None
    stream_start: int = 0

    @property
    def id(self) -> str:
        return self.kind if self.protocol is None else f"{self.kind}-p{self.protocol}"


def _expect_from_built(built: Built, names: Iterable[tuple[str, str]]) -> tuple[Expect, ...]:
    return tuple(Expect(shown_name(m, n), offset=built.offset_of(m, n)) for m, n in names)


# The callables real attacks reduce to, as pickle.dumps writes them: (kind, callable, args, expected imports
# as (module, name) before any Python 2 renaming). Every one is CRITICAL.
def _reduce_catalog() -> list[tuple[str, Any, tuple[Any, ...], list[tuple[str, str]]]]:
    import bdb
    import code
    import cProfile
    import ctypes
    import http.client
    import importlib
    import multiprocessing.util
    import operator
    import pty
    import pydoc
    import runpy
    import shutil
    import socket
    import subprocess
    import sys
    import urllib.request
    import webbrowser

    nested = pickle.dumps(Reduce(os.system, ("id",)), protocol=2)
    code_obj = marshal.dumps(compile("import os; os.system('id')", "<x>", "exec"))
    return [
        ("os.system", os.system, ("id",), [(os.system.__module__, "system")]),
        ("os.popen", os.popen, ("id",), [("os", "popen")]),
        ("os.execv", os.execv, ("/bin/sh", ["/bin/sh", "-c", "id"]), [(os.execv.__module__, "execv")]),
        ("subprocess.Popen", subprocess.Popen, (["id"],), [("subprocess", "Popen")]),
        ("subprocess.check_output", subprocess.check_output, (["id"],), [("subprocess", "check_output")]),
        ("subprocess.run", subprocess.run, (["id"],), [("subprocess", "run")]),
        ("subprocess.call", subprocess.call, (["id"],), [("subprocess", "call")]),
        ("subprocess.getoutput", subprocess.getoutput, ("id",), [("subprocess", "getoutput")]),
        ("builtins.eval", eval, ("__import__('os').system('id')",), [("builtins", "eval")]),
        ("builtins.exec", exec, ("import os; os.system('id')",), [("builtins", "exec")]),
        ("builtins.compile", compile, ("import os", "<x>", "exec"), [("builtins", "compile")]),
        ("builtins.open", open, ("/etc/passwd",), [(open.__module__, "open")]),
        ("builtins.__import__", __import__, ("os",), [("builtins", "__import__")]),
        ("builtins.getattr", getattr, ("", "join"), [("builtins", "getattr")]),
        ("webbrowser.open", webbrowser.open, ("http://example.invalid",), [("webbrowser", "open")]),
        (
            "socket.create_connection",
            socket.create_connection,
            (("example.invalid", 80),),
            [("socket", "create_connection")],
        ),
        ("socket.socket", socket.socket, (), [("socket", "socket")]),
        (
            "http.client.HTTPSConnection",
            http.client.HTTPSConnection,
            ("example.invalid",),
            [("http.client", "HTTPSConnection")],
        ),
        (
            "urllib.request.urlopen",
            urllib.request.urlopen,
            ("http://example.invalid",),
            [("urllib.request", "urlopen")],
        ),
        ("runpy._run_code", runpy._run_code, ("import os", {}), [("runpy", "_run_code")]),
        ("runpy.run_path", runpy.run_path, ("/tmp/x.py",), [("runpy", "run_path")]),
        ("importlib.import_module", importlib.import_module, ("os",), [("importlib", "import_module")]),
        ("pickle.loads", pickle.loads, (nested,), [(pickle.loads.__module__, "loads")]),
        ("numpy.load", np.load, ("/tmp/x.npy",), [("numpy", "load")]),
        ("shutil.rmtree", shutil.rmtree, ("/nonexistent",), [("shutil", "rmtree")]),
        ("marshal.loads", marshal.loads, (code_obj,), [("marshal", "loads")]),
        ("operator.attrgetter", operator.attrgetter, ("system",), [("operator", "attrgetter")]),
        ("operator.methodcaller", operator.methodcaller, ("system", "id"), [("operator", "methodcaller")]),
        ("pty.spawn", pty.spawn, ("/bin/sh",), [("pty", "spawn")]),
        ("ctypes.CDLL", ctypes.CDLL, ("libc.so.6",), [("ctypes", "CDLL")]),
        ("pydoc.locate", pydoc.locate, ("os.system",), [("pydoc", "locate")]),
        ("cProfile.run", cProfile.run, ("import os",), [("cProfile", "run")]),
        ("code.InteractiveInterpreter", code.InteractiveInterpreter, (), [("code", "InteractiveInterpreter")]),
        (
            "multiprocessing.util.spawnv_passfds",
            multiprocessing.util.spawnv_passfds,
            (b"/bin/sh", [b"/bin/sh", b"-c", b"id"], ()),
            [("multiprocessing.util", "spawnv_passfds")],
        ),
        ("sys.exit", sys.exit, (0,), [("sys", "exit")]),
        ("bdb.Bdb.run", bdb.Bdb.run, (None, "import os"), [("bdb", "Bdb.run")]),
    ]


REDUCE_KINDS = [entry[0] for entry in _reduce_catalog()]


def reduce_payload(kind: str, protocol: int) -> Payload:
    """``pickle.dumps`` of an object reducing to the catalog's ``kind`` callable, with its expected findings."""
    _, func, args, names = next(e for e in _reduce_catalog() if e[0] == kind)
    data = reduce_pickle(func, args, protocol)
    expect = []
    for module, name in names:
        if "." in name and protocol < 4:  # a nested qualname: getattr(Outer, 'inner') below protocol 4
            outer = name.split(".")[0]
            expect.append(Expect(shown_name(*written_name("builtins", "getattr", protocol))))
            expect.append(Expect(shown_name(*written_name(module, outer, protocol))))
        else:
            expect.append(Expect(shown_name(*written_name(module, name, protocol))))
    return Payload(f"reduce:{kind}", protocol, data, f"{kind}.pkl", tuple(expect))


# -- hand-assembled payloads ---------------------------------------------------------------------

SYSTEM = G("os", "system")


def _built_payload(kind: str, proto: int, built: Built, names: Iterable[tuple[str, str]]) -> Payload:
    return Payload(kind, proto, built.data, f"{kind}.pkl", _expect_from_built(built, names))


def hand_payloads(proto: int) -> list[Payload]:
    """Every hand-assembled payload that can be written at ``proto``."""
    out: list[Payload] = []

    def add(kind: str, value: Any, names: Iterable[tuple[str, str]], *, min_proto: int = 0) -> None:
        if proto >= min_proto:
            out.append(_built_payload(kind, proto, asm(proto, value), names))

    add("posix.system", Call(G("posix", "system"), ("id",)), [("posix", "system")])
    add("nt.system", Call(G("nt", "system"), ("calc.exe",)), [("nt", "system")])
    add("os.system-GLOBAL", Call(G("os", "system", "GLOBAL"), ("id",)), [("os", "system")])
    add("__builtin__.eval", Call(G("__builtin__", "eval"), ("1",)), [("__builtin__", "eval")])
    add("commands.getoutput", Call(G("commands", "getoutput"), ("id",)), [("commands", "getoutput")])
    add("requests.get", Call(G("requests", "get"), ("http://example.invalid",)), [("requests", "get")])
    add("aiohttp.ClientSession", Call(G("aiohttp", "ClientSession")), [("aiohttp", "ClientSession")])
    add(
        "torch.load-nested",
        Call(G("torch", "load"), (Call(G("io", "BytesIO"), (b"PK\x03\x04",)),)),
        [("torch", "load"), ("io", "BytesIO")],
    )
    add("numpy.load-nested", Call(G("numpy", "load"), ("/tmp/x.npy", None, True)), [("numpy", "load")])
    add(
        "_pickle.loads-nested",
        Call(G("_pickle", "loads"), (reduce_pickle(os.system, ("id",), 2),)),
        [("_pickle", "loads")],
    )
    # getattr(__import__('builtins'), 'eval')('...'): the callable is the result of a call.
    add(
        "getattr-chain",
        Call(Call(G("builtins", "getattr"), (Call(G("builtins", "__import__"), ("builtins",)), "eval")), ("1+1",)),
        [("builtins", "getattr"), ("builtins", "__import__")],
    )
    # getattr(sys.modules, 'get')('os'): reach any loaded module through sys.modules.
    add(
        "sys.modules",
        Call(Call(G("builtins", "getattr"), (G("sys", "modules"), "get")), ("os",)),
        [("builtins", "getattr"), ("sys", "modules")],
    )
    # marshal.loads(code) -> types.FunctionType(code, {})() (fickling GHSA-565g-hwwr-4pp3).
    code_obj = marshal.dumps(compile("import os\nos.system('id')", "<x>", "exec"))
    add(
        "marshal+FunctionType",
        Call(Call(G("types", "FunctionType"), (Call(G("marshal", "loads"), (code_obj,)), {})), ()),
        [("types", "FunctionType"), ("marshal", "loads")],
    )
    # builtins.eval.__call__ (modelscan malicious13): a dotted name.
    add("eval.__call__", Call(G("builtins", "eval.__call__"), ("1",)), [("builtins", "eval.__call__")])
    # INST and OBJ exist in every protocol the unpickler reads.
    add("INST", Inst("os", "system", ("id",)), [("os", "system")])
    add("INST-exec", Inst("__builtin__", "exec", ("print(1)",)), [("__builtin__", "exec")])
    add("OBJ", Obj(SYSTEM, ("id",)), [("os", "system")])
    add("OBJ-pty", Obj(G("pty", "spawn"), ("id",)), [("pty", "spawn")])
    # NEWOBJ (protocol 2) and NEWOBJ_EX (protocol 4) of dangerous classes.
    add("NEWOBJ", NewObj(G("subprocess", "Popen"), (["id"],)), [("subprocess", "Popen")], min_proto=2)
    add(
        "NEWOBJ_EX",
        NewObj(G("subprocess", "Popen"), (["id"],), {"shell": True}),
        [("subprocess", "Popen")],
        min_proto=4,
    )
    # BUILD sets an instance's __setstate__ to os.system, the next BUILD calls it.
    add(
        "BUILD-setstate",
        Build(Call(G("collections", "OrderedDict")), ({"__setstate__": SYSTEM}, "id")),
        [("os", "system")],
    )
    # The callable stored in the memo, fetched back for the call.
    add("memo-callable", Seq((Put(SYSTEM, 0), Call(Get(0), ("id",)))), [("os", "system")])
    # A payload saved before the real object in the same pickle (modelscan's PickleInject).
    add("injected-before", Seq((Call(SYSTEM, ("id",)), {"weights": [1.0, 2.0]})), [("os", "system")])
    add("injected-after", Keep({"weights": [1.0, 2.0]}, (Call(SYSTEM, ("id",)),)), [("os", "system")])
    # STACK_GLOBAL whose strings come through the memo, with every memo opcode.
    if proto >= 4:
        for put_op, get_op in (
            ("MEMOIZE", "BINGET"),
            ("BINPUT", "BINGET"),
            ("LONG_BINPUT", "LONG_BINGET"),
            ("PUT", "GET"),
        ):
            a = _Asm(proto)
            a.w(b"\x80" + bytes([proto]))
            a.string("os")
            a.put(0, put_op)
            a.w(b"0")
            a.string("system")
            a.put(1, put_op)
            a.w(b"0")
            a.get(0, get_op)
            a.get(1, get_op)
            where = len(a.out)
            a.w(b"\x93")
            a.value(("id",))
            a.w(b"R.")
            out.append(
                Payload(
                    f"STACK_GLOBAL-memo-{put_op}", proto, bytes(a.out), "memo.pkl", (Expect("os.system", offset=where),)
                )
            )
        # STACK_GLOBAL of strings computed at load time (fickling issue #125): CRITICAL dynamic-import.
        alphabet = "Jw~[v5QpA(BY%aKnyT&*x0r9-OpfF}HN4$GU2VhS@XEq!Zt>6_R7#]1b{z3M^D?)d8eImgckPLiuoClW<js"
        join = Put(Call(G("builtins", "getattr"), ("", "join")), 0, "BINPUT")
        os_s = Call(Get(0), (Call(Call(G("operator", "itemgetter"), (77, 83)), (alphabet,)),))
        system_s = Call(Get(0), (Call(Call(G("operator", "itemgetter"), (83, 16, 83, 47, 67, 69)), (alphabet,)),))
        a = _Asm(proto)
        a.w(b"\x80" + bytes([proto]))
        a.value(join)
        a.w(b"0")
        a.value(os_s)
        a.value(system_s)
        where = len(a.out)
        a.w(b"\x93")
        a.value(("id",))
        a.w(b"R.")
        out.append(
            Payload(
                "dynamic-import",
                proto,
                bytes(a.out),
                "dynamic.pkl",
                (
                    Expect("?", kind="dynamic-import", offset=where),
                    Expect("builtins.getattr", offset=a.imports[0][0]),
                    Expect("operator.itemgetter", offset=a.imports[1][0]),
                ),
            )
        )
    # EXT codes: whatever copyreg registered (CRITICAL: any global at all, unknowable statically).
    if proto >= 2:
        for op, width in ((0x82, 1), (0x83, 2), (0x84, 4)):
            code = 0xF0 if width == 1 else 0x1234 if width == 2 else 0x12345678
            data = b"\x80" + bytes([proto]) + bytes([op]) + code.to_bytes(width, "little") + b")R."
            out.append(
                Payload(
                    f"EXT{width}",
                    proto,
                    data,
                    "ext.pkl",
                    (Expect(f"copyreg extension {code}", Severity.CRITICAL, "extension", offset=2),),
                )
            )
    # A persistent id outside PyTorch: only a loader-defined function resolves it (MEDIUM).
    if proto == 0:
        pid, where = b"P0\n.", 0
    else:
        pid = asm(proto, "0", stop=False).data + b"Q."
        where = len(pid) - 2
    out.append(
        Payload(
            "persistent-id",
            proto,
            pid,
            "pid.pkl",
            (Expect("persistent_load", Severity.MEDIUM, "persistent-id", offset=where),),
        )
    )
    return out


HAND_KINDS = sorted({p.kind for proto in PROTOCOLS for p in hand_payloads(proto)})


def modelscan_fixtures() -> list[Payload]:
    """The raw pickles of modelscan's own test suite (tests/test_modelscan.py), byte for byte."""
    sour = (
        b'c__builtin__\nglobals\n(tRp100\n0c__builtin__\ncompile\n(S\'fl=open("/etc/passwd");picklesmashed=fl.read();'
        b"'\nS''\nS'exec'\ntRp101\n0c__builtin__\neval\n(g101\ng100\ntRp102\n0c__builtin__\ngetattr\n(c__builtin__\n"
        b"dict\nS'get'\ntRp103\n0c__builtin__\napply\n(g103\n(g100\nS'picklesmashed'\nltRp104\n0g104\n."
    )
    inst_exec = b"(S'print(\"Injection running\")'\ni__builtin__\nexec\n."
    nested = b"\x80\x05cos\nsystem\nVecho pwned!!!\n\x85R."
    loads = b"\x80\x05cpickle\nloads\nB" + len(nested).to_bytes(4, "little") + nested + b"\x85R0N."
    call = b'\x80\x05cbuiltins\neval.__call__\nV__import__("os").system("echo pwned!!!")\n\x85R.'
    memo = b"".join(
        [
            b"Vos\n",
            b"p2\n",
            b"0",
            b"Vsystem\n",
            b"p3\n",
            b"0",
            b"Vtorch\n",
            b"p0\n",
            b"0",
            b"VLongStorage\n",
            b"p1\n",
            b"0",
            b"g2\n",
            b"g3\n",
            b"\x93",
            b"(",
            b"Vcat flag.txt\n",
            b"t",
            b"R",
            b".",
        ]
    )
    return [
        Payload(
            "modelscan:malicious0-sour-pickles",
            0,
            sour,
            "malicious0.pkl",
            (
                Expect("builtins.globals (from __builtin__.globals)", offset=0),
                Expect("builtins.compile (from __builtin__.compile)"),
                Expect("builtins.eval (from __builtin__.eval)"),
                Expect("builtins.getattr (from __builtin__.getattr)"),
                Expect("builtins.apply (from __builtin__.apply)"),
            ),
        ),
        Payload(
            "modelscan:malicious10-INST-exec",
            0,
            inst_exec,
            "malicious10.pkl",
            (Expect("builtins.exec (from __builtin__.exec)", offset=inst_exec.index(b"i__builtin__")),),
        ),
        Payload("modelscan:malicious12-pickle.loads", 5, loads, "malicious12.pkl", (Expect("pickle.loads", offset=2),)),
        Payload(
            "modelscan:malicious13-eval.__call__",
            5,
            call,
            "malicious13.pkl",
            (Expect("builtins.eval.__call__", offset=2),),
        ),
        Payload(
            "modelscan:malicious11-STACK_GLOBAL-PUT-GET",
            None,
            memo,
            "malicious11.pkl",
            (Expect("os.system", offset=memo.index(b"\x93")),),
        ),
        Payload(
            "modelscan:malicious14-trailing",
            None,
            memo + b"\n\n\t\t",
            "malicious14.pkl",
            (Expect("os.system", offset=memo.index(b"\x93")),),
        ),
    ]


# -- containers ----------------------------------------------------------------------------------


def zip_bytes(members: Sequence[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: Sequence[tuple[str, bytes]], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def npy_header(descr: str | list[Any], shape: tuple[int, ...]) -> bytes:
    from numpy.lib import format as npformat

    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npy_object(pickled: bytes, shape: tuple[int, ...] = (1,)) -> bytes:
    """An object-dtype ``.npy``: the header, then the pickle ``numpy.load(allow_pickle=True)`` unpickles."""
    return npy_header("|O", shape) + pickled


def joblib_dump(obj: Any, compress: Any = 0) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=compress)
    return buf.getvalue()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": lambda d: zlib.compress(d, 3),
    "gzip": lambda d: gzip.compress(d, mtime=0),
    "bz2": bz2.compress,
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
}


def _su(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def joblib_wrapper(
    count: int,
    *,
    dtype: bytes | None = None,
    padded: bool = False,
) -> bytes:
    """The head of a joblib pickle holding one ``NumpyArrayWrapper`` (protocol 4), up to and including the
    ``BUILD`` after which joblib reads the array's bytes; ``dtype`` the opcodes of its dtype (``u1``). The
    wrapper class is memo 0, as in joblib's own files."""
    if dtype is None:
        dtype = joblib_dtype("u1")
    head = b"\x80\x04" + _su("joblib.numpy_pickle") + _su("NumpyArrayWrapper") + b"\x93\x94)\x81"
    head += b"}(" + _su("subclass") + _su("numpy") + _su("ndarray") + b"\x93"
    head += _su("shape") + b"J" + struct.pack("<i", count) + b"\x85" + _su("order") + _su("C")
    head += _su("dtype") + dtype + _su("allow_mmap") + b"\x89"
    if padded:
        head += _su("numpy_array_alignment_bytes") + b"K\x10"
    return head + b"ub"


def joblib_dtype(code: str, elsize: int = -1, byteorder: str = "|", *, fields: bytes | None = None) -> bytes:
    """Opcodes of a pickled ``numpy.dtype(code)`` with its state tuple (``elsize`` as given)."""
    names_fields = b"NN" if fields is None else fields
    return (
        _su("numpy")
        + _su("dtype")
        + b"\x93"
        + _su(code)
        + b"\x89\x88\x87R"
        + b"(K\x03"
        + _su(byteorder)
        + b"N"
        + names_fields
        + b"J"
        + struct.pack("<i", elsize)
        + b"J\xff\xff\xff\xffK"
        + (b"\x3f" if code.startswith("O") or fields is not None else b"\x00")
        + b"tb"
    )


def object_field_dtype() -> bytes:
    """A structured dtype ``[('a', 'O')]`` (``V8`` with an object field): ``hasobject`` is true."""
    fields = _su("a") + b"\x85" + b"}" + _su("a") + joblib_dtype("O8", 8) + b"K\x00\x86s"
    return joblib_dtype("V8", 8, fields=fields)


# -- PyTorch -------------------------------------------------------------------------------------

TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def torch_state_dict_pickle(protocol: int, *, evil: Any = None, n: int = 4) -> tuple[bytes, int | None]:
    """``data.pkl`` of a one-tensor state dict as torch writes it: ``OrderedDict`` of
    ``torch._utils._rebuild_tensor_v2(<storage persistent id>, 0, (n,), (1,), False, OrderedDict())``; with
    ``evil`` (a value) stored beside the tensor. Returns the bytes and the offset of evil's first import."""
    a = _Asm(protocol)
    if protocol >= 2:
        a.w(b"\x80" + bytes([protocol]))
    a.value(Call(G("collections", "OrderedDict")))
    a.w(b"(")
    a.value("weight")
    a.value(G("torch._utils", "_rebuild_tensor_v2"))
    a.w(b"(")
    # the storage's persistent id: ('storage', torch.FloatStorage, '0', 'cpu', n)
    a.value(("storage", G("torch", "FloatStorage"), "0", "cpu", n))
    a.w(b"Q")  # BINPERSID
    a.value(0)
    a.value((n,))
    a.value((1,))
    a.value(False)
    a.value(Call(G("collections", "OrderedDict")))
    a.w(b"tR")
    first_evil = None
    if evil is not None:
        a.value("config")
        mark = len(a.imports)
        a.value(evil)
        first_evil = a.imports[mark][0]
    a.w(b"u.")
    return bytes(a.out), first_evil


def torch_zip(data_pkl: bytes, *, name: str = "archive", n: int = 4, extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """A PyTorch zip checkpoint: ``<name>/data.pkl``, ``<name>/data/0``, ``<name>/version``, ``<name>/byteorder``."""
    return zip_bytes(
        [
            (f"{name}/data.pkl", data_pkl),
            (f"{name}/byteorder", b"little"),
            (f"{name}/data/0", struct.pack(f"<{n}f", *range(n))),
            (f"{name}/version", b"3\n"),
            (f"{name}/.data/serialization_id", b"1234567890"),
            *extra,
        ]
    )


def torch_legacy(obj_pickle: bytes, *, protocol: int = 2, n: int = 4) -> bytes:
    """A legacy ``torch.save`` file: magic, protocol version, system info, the object, the storage keys, then
    each storage's raw bytes (an 8-byte count and the data)."""
    magic = asm(protocol, TORCH_MAGIC).data
    version = asm(protocol, 1001).data
    info = asm(
        protocol, {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    ).data
    keys = asm(protocol, ["0"]).data
    return magic + version + info + obj_pickle + keys + struct.pack("<q", n) + struct.pack(f"<{n}f", *range(n))


def torch_legacy_object(protocol: int, evil: Any) -> tuple[bytes, int]:
    """The object pickle of a legacy file: a storage persistent id, with ``evil`` beside it."""
    a = _Asm(protocol)
    if protocol >= 2:
        a.w(b"\x80" + bytes([protocol]))
    a.w(b"(")
    a.value(("storage", G("torch", "FloatStorage"), "0", "cpu", 4, None))
    a.w(b"Q")
    mark = len(a.imports)
    a.value(evil)
    a.w(b"l.")
    return bytes(a.out), a.imports[mark][0]


# -- malformed pickles ---------------------------------------------------------------------------

MALFORMED: dict[str, bytes] = {
    "empty-after-proto": b"\x80\x04",
    "no-stop": b"\x80\x04K\x01",
    "bad-opcode": b"\x80\x04\xff.",
    "zero-opcode": b"\x80\x02\x00.",
    "unknown-memo": b"\x80\x02h\x07.",
    "unknown-long-memo": b"\x80\x02j\x00\x00\x01\x00.",
    "stack-underflow-reduce": b"\x80\x02R.",
    "stack-underflow-stop": b"\x80\x02.",
    "pop-empty": b"\x80\x020N.",
    "mark-missing": b"\x80\x02K\x01t.",
    "odd-dict": b"\x80\x02(K\x01d.",
    "odd-setitems": b"\x80\x02}(K\x01u.",
    "unterminated-line": b"\x80\x02cos\nsys",
    "unterminated-global": b"\x80\x02cos",
    "bad-int-line": b"I12x\n.",
    "bad-float-line": b"Fnope\n.",
    "unquoted-string": b"Sabc\n.",
    "protocol-6": b"\x80\x06N.",
    "short-binunicode-truncated": b"\x80\x04\x8c\x10abc",
    "binunicode-huge": b"\x80\x04X\xff\xff\xff\xff",
    "binbytes8-huge": b"\x80\x04\x8e" + b"\xff" * 8,
    "frame-truncated": b"\x80\x04\x95\x10\x00",
    "long4-negative": b"\x80\x02\x8b\xff\xff\xff\xff.",
    "binstring-negative": b"\x80\x02T\xff\xff\xff\xff.",
    "stack-global-underflow": b"\x80\x04\x93.",
    "obj-without-class": b"\x80\x02(o.",
    "build-underflow": b"\x80\x02b.",
    "invalid-utf8": b"\x80\x04\x8c\x02\xff\xfe.",
    "memoize-empty": b"\x80\x04\x94.",
    "newobj-ex-underflow": b"\x80\x04N\x92.",
}


__all__ += [
    "COMPRESSORS",
    "HAND_KINDS",
    "MALFORMED",
    "MISSING_MODULE",
    "PROTOCOLS",
    "REDUCE_KINDS",
    "SYSTEM",
    "TORCH_MAGIC",
    "end_of_pickle",
    "hand_payloads",
    "joblib_dtype",
    "joblib_dump",
    "joblib_wrapper",
    "modelscan_fixtures",
    "npy_header",
    "npy_object",
    "object_field_dtype",
    "reduce_payload",
    "shown_name",
    "tar_bytes",
    "torch_legacy",
    "torch_legacy_object",
    "torch_state_dict_pickle",
    "torch_zip",
    "written_name",
    "zip_bytes",
]
