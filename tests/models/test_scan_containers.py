"""The model scanner against files that several loaders accept, containers inside containers, and formats
it used to pass over: each file is judged by every loader that would take it, never by its name or by the
first format sniffed.

Every hostile file here is built by code; :func:`test_the_payloads_run_under_their_loaders` proves, in one
subprocess, that each really runs its (harmless) canary under the loader named: pickle.load,
numpy.load(allow_pickle=True), joblib.load, zipfile or tarfile and then pickle. Nothing here loads a payload
in the test process.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _payloads as P
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.models import FileScan, Severity, scan_bytes

CANARY_DIR = "MLWARDEN_CANARY_DIR"


def criticals(fs: FileScan) -> set[str]:
    return {f.name for f in fs.findings if f.severity is Severity.CRITICAL}


def opener(path: str) -> bytes:
    """A pickle that, loaded, creates ``path`` (``builtins.open(path, "w")``): the canary of this module."""
    return P.reduce_pickle(open, (path, "w"), 4)


def npy_with_descr(descr: Any, pickled: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode("latin-1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + pickled


# -- builders: one per hostile class, each given the path its canary creates ------------------------


def safetensors_pickle(path: str) -> bytes:
    """A file that is valid safetensors and a protocol 4 pickle: the header length's bytes are the
    opcodes ``PROTO 4`` and ``BINFLOAT`` (whose 8 bytes reach into the JSON), and the rest of the pickle
    is the name of the only tensor, written with JSON-legal bytes (each non-ASCII opcode after a BINPUT
    to memo 0xC2, which makes a valid two-byte UTF-8 character of it)."""

    def text(s: str) -> bytes:
        assert 32 <= len(s) < 127
        assert len(s) not in (34, 92)
        return b"q\xc2\x8c" + bytes([len(s)]) + s.encode()

    cmd = f"touch {path}"
    cmd += " " * max(0, 32 - len(cmd))
    opcodes = (
        text("multiprocessing.popen_spawn_posix")
        + text("os.path.os.path.os.path.os.system")
        + b"q\xc2\x93"
        + text(cmd)
        + b"q\xc2\x85R."
    )
    n = 0x80 | 0x04 << 8 | ord("G") << 16  # the u64 header length is \x80\x04G and five zero bytes
    tensor = {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
    body = b'{"a' + opcodes + b'":' + json.dumps(tensor).encode() + b"}"
    return struct.pack("<Q", n) + body + b" " * (n - len(body))


def hdf5_user_block(path: str, tmp: Path) -> bytes:
    """An HDF5 file (h5py opens it) whose 512-byte user block is a pickle."""
    import h5py

    target = tmp / "ub.h5"
    with h5py.File(target, "w", userblock_size=512) as f:
        f.create_dataset("w", data=np.arange(4, dtype="f4"))
    data = bytearray(target.read_bytes())
    evil = opener(path)
    assert len(evil) < 512
    data[: len(evil)] = evil
    return bytes(data)


def onnx_with_field(payload: bytes) -> bytes:
    """A real ONNX model with ``payload`` in ModelProto field 100 (unknown to onnx.proto, kept by protobuf)."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]))
    data = model.SerializeToString() + _varint(100 << 3 | 2) + _varint(len(payload)) + payload
    onnx.load_from_string(data)  # still a model onnx loads
    return data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def torch_decoy(evil: bytes, member: str) -> bytes:
    """A zip whose ``archive/data.pkl`` is a clean torch state dict, so the archive looks like a torch
    checkpoint, and whose ``member`` (a storage's name, or a name no loader of torch reads) is hostile."""
    clean, _ = P.torch_state_dict_pickle(2)
    return P.torch_zip(clean, extra=[(member, evil)])


def v7_tar(members: list[tuple[str, bytes]]) -> bytes:
    """A tar without the ustar magic (version 7 headers): tarfile reads it, by the header checksum alone."""
    data = bytearray(P.tar_bytes(members))
    pos = 0
    while pos + 512 <= len(data) and any(data[pos : pos + 512]):
        header = data[pos : pos + 512]
        header[257:265] = b"\0" * 8
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        data[pos : pos + 512] = header
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        pos += 512 + (size + 511) // 512 * 512
    return bytes(data)


def lzma_alone(data: bytes, **options: int) -> bytes:
    filters = [{"id": lzma.FILTER_LZMA1, **options}]
    return lzma.compress(data, format=lzma.FORMAT_ALONE, filters=filters)


def zf_joblib(pickled: bytes) -> bytes:
    """joblib before 0.9.3 (numpy_pickle_compat.write_zfile): ``ZF``, the length in hex padded to 19, zlib."""
    return b"ZF" + hex(len(pickled)).ljust(19).encode() + zlib.compress(pickled, 3)


def gguf(metadata: dict[str, str | int]) -> bytes:
    def string(s: str) -> bytes:
        raw = s.encode()
        return struct.pack("<Q", len(raw)) + raw

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        out += string(key)
        out += struct.pack("<I", 8) + string(value) if isinstance(value, str) else struct.pack("<II", 4, value)
    return out


def hdf5_dataset(path: str, tmp: Path) -> bytes:
    """An HDF5 file with a weights dataset and a pickle kept as a dataset of bytes (as pandas/PyTables do)."""
    import h5py

    target = tmp / "ds.h5"
    with h5py.File(target, "w") as f:
        f.create_dataset("weights", data=np.arange(8, dtype="f4"))
        f.create_dataset("blob", data=np.frombuffer(opener(path), dtype="u1"))
    return target.read_bytes()


def gguf_ssti(path: str, _: Path) -> bytes:
    """A GGUF model whose chat template reaches ``os`` through a Jinja global (CVE-2024-34359's pattern)."""
    template = "{{ cycler.__init__.__globals__.os.popen('touch " + path + "').read() }}"
    return gguf({"general.name": "m", "tokenizer.chat_template": template})


# -- the hostile corpus: (id, file name, builder, the loader that runs it) --------------------------

Builder = Callable[[str, Path], bytes]


def _hostile() -> list[tuple[str, str, Builder, str]]:
    def npy(descr: Any) -> Builder:
        return lambda path, _: npy_with_descr(descr, opener(path))

    def payload_in(opcode: bytes, wrap: Callable[[bytes], bytes]) -> Builder:
        def build(path: str, _: Path) -> bytes:
            inner = wrap(opener(path))
            if opcode in (b"B",):
                head = opcode + struct.pack("<I", len(inner))
            else:
                head = opcode + struct.pack("<Q", len(inner))
            return b"\x80\x04" + head + inner + b"."

        return build

    return [
        ("safetensors+pickle", "model.safetensors", lambda p, _: safetensors_pickle(p), "pickle"),
        ("hdf5-user-block", "model.h5", hdf5_user_block, "pickle"),
        (
            "onnx-is-a-p0-pickle",
            "model.onnx",
            lambda p, _: P.asm(0, P.Call(P.G("builtins", "open"), (p, "w"))).data,
            "pickle",
        ),
        ("npy-object", "a.npy", npy("object"), "numpy"),
        ("npy-O-struct-str", "a.npy", npy(np.dtype(object).str), "numpy"),
        ("npy-struct-object", "a.npy", npy([("a", "<f8"), ("b", "object")]), "numpy"),
        ("npy-nested-struct", "a.npy", npy([("a", [("b", "O")])]), "numpy"),
        ("npy-subarray-object", "a.npy", npy(("object", (1,))), "numpy"),
        ("npy-stringdtype", "a.npy", npy("T"), "numpy"),
        (
            "decoy-torch-storage-npy",
            "m.pt",
            lambda p, _: torch_decoy(npy_with_descr("object", opener(p)), "archive/data/9"),
            "zip-numpy:archive/data/9",
        ),
        (
            "decoy-torch-storage-pickle",
            "m.pt",
            lambda p, _: torch_decoy(opener(p), "archive/data/7"),
            "zip-pickle:archive/data/7",
        ),
        ("binbytes-tar", "m.pkl", payload_in(b"B", lambda e: P.tar_bytes([("m.pkl", e)])), "pickle-tar:m.pkl"),
        ("binbytes8-zip", "m.pkl", payload_in(b"\x8e", lambda e: P.zip_bytes([("m.pkl", e)])), "pickle-zip:m.pkl"),
        ("bytearray8-gzip", "m.pkl", payload_in(b"\x96", lambda e: __import__("gzip").compress(e)), "pickle-gzip"),
        (
            "pickle-then-zip",
            "m.pkl",
            lambda p, _: pickle.dumps([1, 2]) + P.zip_bytes([("m.pkl", opener(p))]),
            "zip-pickle:m.pkl",
        ),
        (
            "pickle-then-tar",
            "m.pkl",
            lambda p, _: pickle.dumps([1, 2]) + P.tar_bytes([("m.pkl", opener(p))]),
            "after-pickle-tar",
        ),
        (
            "zip-then-pickle",
            "m.skops",
            lambda p, _: P.zip_bytes([("schema.json", b"{}")]) + opener(p),
            "after-zip-pickle",
        ),
        ("v7-tar", "m.tar", lambda p, _: v7_tar([("m.pkl", opener(p))]), "tar-pickle:m.pkl"),
        ("lzma-dict-4k", "m.joblib", lambda p, _: lzma_alone(opener(p), dict_size=4096), "joblib"),
        (
            "lzma-props",
            "m.joblib",
            lambda p, _: lzma_alone(opener(p), dict_size=1 << 16, lc=0, lp=2, pb=0),
            "lzma-pickle",
        ),
        ("joblib-zf", "m.joblib", lambda p, _: zf_joblib(opener(p)), "joblib"),
        ("hdf5-dataset", "m.h5", hdf5_dataset, "h5-pickle:blob"),
        ("gguf-chat-template", "m.gguf", gguf_ssti, "gguf-jinja"),
    ]


HOSTILE = _hostile()


@pytest.mark.parametrize(("name", "builder"), [(h[1], h[2]) for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_file_is_critical(name: str, builder: Builder, tmp_path: Path) -> None:
    data = builder(str(tmp_path / "canary"), tmp_path)
    fs = scan_bytes(data, name)
    assert criticals(fs), (fs.format, fs.error, [(f.severity.name, f.name, f.inner) for f in fs.findings])
    assert not (tmp_path / "canary").exists()


def test_safetensors_pickle_polyglot_is_both(tmp_path: Path) -> None:
    from safetensors import safe_open

    data = safetensors_pickle(str(tmp_path / "canary"))
    (tmp_path / "m.safetensors").write_bytes(data)
    with safe_open(str(tmp_path / "m.safetensors"), framework="np") as f:  # the reference loader takes it
        assert len(list(f.keys())) == 1
    fs = scan_bytes(data, "m.safetensors")
    assert fs.format == "safetensors+pickle"
    assert "multiprocessing.popen_spawn_posix.os.path.os.path.os.path.os.system" in criticals(fs)


def test_hdf5_user_block_is_hdf5_and_pickle(tmp_path: Path) -> None:
    import h5py

    data = hdf5_user_block(str(tmp_path / "canary"), tmp_path)
    with h5py.File(io.BytesIO(data), "r") as f:
        assert list(f) == ["w"]
    fs = scan_bytes(data, "model.h5")
    assert fs.format == "hdf5+pickle"
    assert "io.open" in criticals(fs)


def test_onnx_unknown_field_holding_a_pickle() -> None:
    data = onnx_with_field(opener("/nonexistent/x"))
    fs = scan_bytes(data, "model.onnx")
    assert fs.format == "onnx"
    assert {(f.name, f.inner.split("@")[0]) for f in fs.findings} == {("io.open", "onnx-field")}
    # found by its structure too, whatever the file is called
    assert criticals(scan_bytes(data, "model.bin")) == {"io.open"}
    # but not every protobuf is a model: one without a graph and an opset (a TF SavedModel) is not vouched for
    assert scan_bytes(b"\x08\x03\x12\x04abcd", "saved_model.pb").error is not None


def test_onnx_unknown_field_of_plain_bytes_is_nothing() -> None:
    fs = scan_bytes(onnx_with_field(b"plain text that no loader reads"), "model.onnx")
    assert fs.clean, fs


@pytest.mark.parametrize(
    "descr",
    ["O", "|O", "O8", "object", [("a", "object")], ("O", (2,)), {"names": ["a"], "formats": ["O"]}],
    ids=repr,
)
def test_npy_descr_spellings_of_object(descr: Any) -> None:
    fs = scan_bytes(npy_with_descr(descr, opener("/nonexistent/x")), "a.npy")
    assert criticals(fs) == {"io.open"}, (fs.error, fs.findings)


@pytest.mark.parametrize(
    "descr", ["<f8", "float64", [("a", "<i4"), ("b", "<f8", (3,))], ("<f4", (2,)), "M8[ns]"], ids=repr
)
def test_npy_plain_descr_is_clean(descr: Any) -> None:
    fs = scan_bytes(npy_with_descr(descr, b"\0" * 64), "a.npy")
    assert fs.clean, (fs.error, fs.findings)


def test_npy_descr_numpy_refuses_is_not_vouched_for() -> None:
    fs = scan_bytes(npy_with_descr("no-such-type", b"\0" * 8), "a.npy")
    assert fs.error is not None
    assert "not one this numpy builds" in fs.error
    fs = scan_bytes(npy_with_descr("no-such-type", opener("/nonexistent/x")), "a.npy")
    assert criticals(fs) == {"io.open"}


def test_decoy_data_pkl_hides_no_member(tmp_path: Path) -> None:
    """A zip that looks like a torch checkpoint: its skops schema, Keras config and .npy members are judged."""
    schema = {
        "__class__": "Popen",
        "__module__": "subprocess",
        "__loader__": "ObjectNode",
        "content": {},
        "protocol": 2,
        "_skops_version": "0.10",
    }
    config = {
        "class_name": "Lambda",
        "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": "eA=="}}},
    }
    clean, _ = P.torch_state_dict_pickle(2)
    data = P.torch_zip(
        clean,
        extra=[
            ("schema.json", json.dumps(schema).encode()),
            ("config.json", json.dumps(config).encode()),
            ("archive/data/evil.npy", npy_with_descr("|O", opener("/nonexistent/x"))),
        ],
    )
    fs = scan_bytes(data, "model.pt")
    assert fs.format == "pytorch-zip"
    by_member = {(f.inner, f.severity) for f in fs.findings}
    assert ("schema.json", Severity.CRITICAL) in by_member, fs.findings
    assert ("config.json", Severity.CRITICAL) in by_member, fs.findings
    assert ("archive/data/evil.npy", Severity.CRITICAL) in by_member, fs.findings


def test_real_torch_storages_stay_raw_and_clean() -> None:
    clean, _ = P.torch_state_dict_pickle(2, n=4096)
    fs = scan_bytes(P.torch_zip(clean, n=4096), "model.pt")
    assert fs.clean, (fs.error, fs.findings)
    assert fs.format == "pytorch-zip"


def test_a_storage_data_pkl_does_not_name_is_not_vouched_for() -> None:
    """Only a storage the checkpoint's persistent ids name is raw tensor data; another member under
    ``archive/data/`` that no reader takes is an unsupported file, as anywhere else."""
    clean, _ = P.torch_state_dict_pickle(2)
    fs = scan_bytes(P.torch_zip(clean, extra=[("archive/data/99", bytes(range(256)) * 4)]), "model.pt")
    assert fs.error is not None
    assert "archive/data/99" in fs.error


def test_trailing_bytes_that_are_nothing_stay_low() -> None:
    for protocol in (0, 4):
        fs = scan_bytes(pickle.dumps([1], protocol=protocol) + b"just some bytes", "m.pkl")
        assert {(f.severity, f.kind) for f in fs.findings} == {(Severity.LOW, "trailing-data")}, protocol
    fs = scan_bytes(P.zip_bytes([("a.txt", b"hi")]) + b"junk after the end record", "m.zip")
    assert {(f.severity, f.kind) for f in fs.findings} == {(Severity.LOW, "trailing-data")}


def test_compressed_stream_of_nothing_known_is_not_vouched_for() -> None:
    fs = scan_bytes(__import__("gzip").compress(b"\x01\x02 not a model"), "m.bin")
    assert fs.error is not None
    assert "unsupported" in fs.error


def test_lzma_and_zf_joblib_are_inflated() -> None:
    evil = opener("/nonexistent/x")
    assert scan_bytes(lzma_alone(evil, dict_size=4096), "m.joblib").format == "lzma+pickle"
    assert scan_bytes(zf_joblib(evil), "m.pkl").format == "zf+pickle"
    assert criticals(scan_bytes(P.joblib_dump({"m": P.Reduce(open, ("/x", "w"))}, ("lzma", 3)), "m.joblib"))


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_compressed_members_inside_archives(mode: str) -> None:
    import bz2
    import gzip

    evil = opener("/nonexistent/x")
    squeezed = {"w:gz": gzip.compress, "w:bz2": bz2.compress, "w:xz": lzma.compress}[mode](evil)
    assert criticals(scan_bytes(P.tar_bytes([("m.pkl.z", squeezed)], mode), "m.tar.z")) == {"io.open"}
    assert criticals(scan_bytes(P.zip_bytes([("m.pkl.z", squeezed)]), "m.zip")) == {"io.open"}


def test_gguf_chat_templates() -> None:
    plain = (
        "You may import data and use the os module. {% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
        "{% if m['role'] == 'system' %}!{% endif %}{% endfor %}"
    )
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    assert scan_bytes(gguf({"general.name": "m", "llama.block_count": 2}), "m.gguf").clean
    fs = scan_bytes(gguf({"general.name": "m", "tokenizer.chat_template": plain}), "m.gguf")
    assert fs.format == "gguf"
    assert fs.clean, fs.findings  # a plain template is data (tests/models/test_scan_jinja.py judges many)
    unproven = "{% for k in keys %}{{ m[k] }}{% endfor %}"
    fs = scan_bytes(gguf({"general.name": "m", "tokenizer.chat_template": unproven}), "m.gguf")
    assert [(f.severity, f.name) for f in fs.findings] == [(Severity.MEDIUM, "tokenizer.chat_template")]
    fs = scan_bytes(gguf({"tokenizer.chat_template.tool_use": evil}), "m.gguf")
    assert [(f.severity, f.name) for f in fs.findings] == [(Severity.CRITICAL, "tokenizer.chat_template.tool_use")]
    truncated = gguf({"tokenizer.chat_template": plain})[:-10]
    assert scan_bytes(truncated, "m.gguf").error is not None


@pytest.mark.parametrize(
    ("magic", "what"),
    [(b"\x28\xb5\x2f\xfd", "zstd"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"Rar!\x1a\x07\x00", "RAR")],
)
def test_formats_without_a_reader_say_why(magic: str, what: str) -> None:
    fs = scan_bytes(magic + b"\x00" * 64, "m.bin")
    assert fs.error is not None
    assert what in fs.error


def test_pickle_in_an_hdf5_dataset(tmp_path: Path) -> None:
    import h5py

    target = tmp_path / "m.h5"
    with h5py.File(target, "w") as f:
        f.create_dataset("weights", data=np.arange(8, dtype="f4"))
        f.create_dataset("blob", data=np.frombuffer(opener("/nonexistent/x"), dtype="u1"))
        f.attrs["note"] = np.void(opener("/nonexistent/y"))
        f.attrs["names"] = np.array([b"dense", opener("/nonexistent/z")])
    fs = scan_bytes(target.read_bytes(), "m.h5")
    assert {(f.name, f.inner) for f in fs.findings if f.severity is Severity.CRITICAL} == {
        ("io.open", "blob"),
        ("io.open", "/@note"),
        ("io.open", "/@names[1]"),
    }


# -- the loader proof ------------------------------------------------------------------------------

_LOADERS = textwrap.dedent(
    """
    import gzip, io, json, lzma, pickle, sys, tarfile, zipfile, warnings
    import numpy, joblib
    warnings.simplefilter("ignore")
    ran = {}
    for ident, path, how in json.loads(sys.argv[1]):
        try:
            kind, _, member = how.partition(":")
            if kind == "pickle":
                with open(path, "rb") as fh:
                    pickle.load(fh)
            elif kind == "numpy":
                numpy.load(path, allow_pickle=True)
            elif kind == "joblib":
                joblib.load(path)
            elif kind == "lzma-pickle":
                pickle.loads(lzma.decompress(open(path, "rb").read(), format=lzma.FORMAT_ALONE))
            elif kind in ("zip-pickle", "zip-numpy"):
                with zipfile.ZipFile(path) as zf:
                    raw = zf.read(member)
                pickle.loads(raw) if kind == "zip-pickle" else numpy.load(io.BytesIO(raw), allow_pickle=True)
            elif kind == "tar-pickle":
                with tarfile.open(path) as tf:
                    pickle.loads(tf.extractfile(member).read())
            elif kind in ("pickle-tar", "pickle-zip", "pickle-gzip"):
                with open(path, "rb") as fh:
                    inner = pickle.load(fh)
                if kind == "pickle-tar":
                    pickle.loads(tarfile.open(fileobj=io.BytesIO(inner)).extractfile(member).read())
                elif kind == "pickle-zip":
                    pickle.loads(zipfile.ZipFile(io.BytesIO(inner)).read(member))
                else:
                    pickle.loads(gzip.decompress(inner))
            elif kind == "h5-pickle":
                import h5py
                with h5py.File(path, "r") as f:
                    pickle.loads(f[member][()].tobytes())
            elif kind == "gguf-jinja":  # llama-cpp-python before 0.2.72: a plain jinja2 Environment
                import jinja2, struct
                raw = open(path, "rb").read()
                pos, found = 24, None
                for _ in range(struct.unpack_from("<Q", raw, 16)[0]):
                    n = struct.unpack_from("<Q", raw, pos)[0]
                    key = raw[pos + 8 : pos + 8 + n].decode()
                    pos += 8 + n + 4
                    n = struct.unpack_from("<Q", raw, pos)[0]
                    value = raw[pos + 8 : pos + 8 + n].decode()
                    pos += 8 + n
                    if key == "tokenizer.chat_template":
                        found = value
                jinja2.Environment().from_string(found).render(messages=[])
            elif kind == "after-pickle-tar":
                with open(path, "rb") as fh:
                    pickle.load(fh)
                    pickle.loads(tarfile.open(fileobj=fh).extractfile("m.pkl").read())
            elif kind == "after-zip-pickle":
                with open(path, "rb") as fh:
                    zipfile.ZipFile(fh).read("schema.json")
                    raw = fh.seek(0) or fh.read()
                    pickle.loads(raw[raw.rindex(b"PK\\x05\\x06") + 22 :])
            ran[ident] = "ok"
        except Exception as exc:
            ran[ident] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(ran))
    """
)


def test_the_payloads_run_under_their_loaders(tmp_path: Path) -> None:
    """Each hostile file really runs its canary under its loader (one subprocess for all of them)."""
    jobs = []
    for ident, name, builder, how in HOSTILE:
        folder = tmp_path / ident
        folder.mkdir()
        marker = folder / "canary"
        (folder / name).write_bytes(builder(str(marker), folder))
        jobs.append((ident, str(folder / name), how))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _LOADERS, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    ran = json.loads(out.stdout.strip().splitlines()[-1])
    missing = {ident: ran.get(ident) for ident, *_ in HOSTILE if not (tmp_path / ident / "canary").exists()}
    assert not missing, missing


# -- harmless files the new readers must not flag ---------------------------------------------------


def test_harmless_look_alikes_stay_clean(tmp_path: Path) -> None:
    import gzip

    import h5py

    hf_config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 8, "torch_dtype": "float32"}
    json_schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}
    model = pickle.dumps({"coef": np.arange(4.0)}, protocol=4)
    target = tmp_path / "w.h5"
    with h5py.File(target, "w") as f:
        f.create_dataset("codes", data=np.frombuffer(os.urandom(256), dtype="u1"))
        f.create_dataset("names", data=np.array([b"relu", b"dense_layer_with_a_long_name"]))
        f.attrs["backend"] = b"tensorflow"
    files = {
        "configs.zip": P.zip_bytes(
            [("config.json", json.dumps(hf_config).encode()), ("schema.json", json.dumps(json_schema).encode())]
        ),
        "folder.tar.gz": P.tar_bytes(
            [("m/model.pkl", model), ("m/config.json", b"{}"), ("m/README.md", b"# m")], "w:gz"
        ),
        "model.pkl.gz": gzip.compress(model),
        "weights.h5": target.read_bytes(),
        "model.lzma": lzma_alone(model),
        "plain.gguf": gguf({"general.name": "m", "general.architecture": "llama"}),
    }
    for name, data in files.items():
        fs = scan_bytes(data, name)
        assert fs.clean, (name, fs.format, fs.error, fs.findings)


# -- the new readers never raise on arbitrary bytes ---------------------------------------------------

_PREFIXES = [
    b"GGUF\x03\x00\x00\x00",
    b"ZF0x10               ",
    b"\x5d\x00\x10\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00",
    b"\x08\x07\x12",
    b"\x93NUMPY\x01\x00",
    b"PK\x03\x04",
    b"\x80\x04\x95",
    b"\x80\x04B",
    b"\x89HDF\r\n\x1a\n",
    b"",
]


@given(
    prefix=st.sampled_from(_PREFIXES),
    body=st.binary(max_size=600),
    tail=st.sampled_from([b"", b"PK\x05\x06" + b"\0" * 18]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes_after_a_magic_never_raise(prefix: bytes, body: bytes, tail: bytes) -> None:
    fs = scan_bytes(prefix + body + tail, "m.bin")
    assert fs.error is not None or fs.format != "unsupported"


def test_a_refusal_inside_a_storage_hides_no_member() -> None:
    """A storage data.pkl names that is a zip whose first member no reader takes: the members after it are
    still judged (a refusal is raised only once every member is scanned), and one nested too deep is an
    error, never raw data."""
    clean, _ = P.torch_state_dict_pickle(2)
    inner = P.zip_bytes([("junk.bin", b"\x01\x02 no format"), ("evil.pkl", opener("/nonexistent/x"))])
    members = [("archive/data.pkl", clean), ("archive/data/0", inner), ("archive/version", b"3\n")]
    fs = scan_bytes(P.zip_bytes(members), "model.pt")
    assert {(f.name, f.inner) for f in fs.findings} == {("io.open", "archive/data/0!/evil.pkl")}
    deep = opener("/nonexistent/x")
    for level in range(10):
        deep = P.zip_bytes([(f"l{level}.zip", deep)])
    fs = scan_bytes(P.zip_bytes([("archive/data.pkl", clean), ("archive/data/0", deep)]), "model.pt")
    assert fs.error is not None
    assert "nested deeper" in fs.error


def test_tar_members_after_an_unsupported_one_are_judged() -> None:
    fs = scan_bytes(P.tar_bytes([("junk.bin", b"\x01\x02 no format"), ("m.pkl", opener("/x"))]), "m.tar")
    assert criticals(fs) == {"io.open"}
    assert fs.error is not None
