"""The format scanners (safetensors, ONNX, Keras, skops) on real files written by the real libraries,
on hand-built malicious variants, and on arbitrary bytes (hypothesis): a scanner may only ever report
findings or raise Unreadable."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import marshal
import mmap
import os
import struct
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.models._findings import Scope, Severity, Unreadable
from mlwarden.models._scan_keras import scan_keras_config, scan_keras_h5, scan_keras_v3_zip_config
from mlwarden.models._scan_onnx import iter_fields, scan_onnx
from mlwarden.models._scan_safetensors import scan_safetensors
from mlwarden.models._scan_skops import scan_skops_schema

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def found(scope: Scope) -> set[tuple[Severity, str, str]]:
    return {(f.severity, f.kind, f.name) for f in scope.findings}


def severities(scope: Scope) -> set[Severity]:
    return {f.severity for f in scope.findings}


# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------


def st_file(header: dict[str, Any] | bytes, buffer: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + buffer


def st_scan(data: bytes | memoryview) -> Scope:
    scope = Scope("model.safetensors")
    scan_safetensors(data, scope)
    return scope


@pytest.fixture(scope="module")
def real_safetensors() -> bytes:
    from safetensors.numpy import save

    tensors = {
        "embed.weight": np.arange(96, dtype=np.float32).reshape(8, 12),
        "layer.0.bias": np.ones(7, dtype=np.float16),
        "layer.0.mask": np.array([True, False, True]),
        "counts": np.arange(5, dtype=np.int64),
        "scalar": np.array(3.5, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.uint8),
    }
    return save(tensors, metadata={"format": "np", "note": "test"})


def test_safetensors_real_file_is_clean(real_safetensors: bytes) -> None:
    assert st_scan(real_safetensors).findings == []
    from safetensors.numpy import save

    assert st_scan(save({})).findings == []


def test_safetensors_save_file_mmap_is_clean(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file({"w": np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)}, path)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            assert st_scan(view).findings == []
        finally:
            view.release()


def test_safetensors_multi_gb_sparse_file_is_fast(tmp_path: Path) -> None:
    # A 3 GiB tensor in a sparse file: only the header may be read, never the buffer.
    size = 3 << 30
    path = tmp_path / "big.safetensors"
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + size)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            start = time.perf_counter()
            assert st_scan(view).findings == []
            assert time.perf_counter() - start < 1.0
        finally:
            view.release()


U8 = {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}


@pytest.mark.parametrize(
    ("header", "buffer", "expected"),
    [
        ({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}, b"\0" * 4, {"out-of-bounds"}),
        (
            {"a": U8, "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}},
            b"\0" * 4,
            {"overlap"},
        ),
        ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"\0" * 6, {"gap"}),
        ({"a": U8}, b"\0" * 4 + b"cos\nsystem\n", {"gap"}),  # trailing bytes: a hidden payload
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, {"tensor"}),
        ({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, {"tensor"}),
        ({"a": {"dtype": "U8", "shape": [-4], "data_offsets": [0, 4]}}, b"\0" * 4, {"tensor"}),
        ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 0]}}, b"\0" * 4, {"tensor", "gap"}),
        ({"a": {"dtype": "U8", "shape": [4]}}, b"\0" * 4, {"tensor", "gap"}),
        ({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, b"\0" * 2, {"tensor"}),
        ({"__metadata__": {"k": 1}, "a": U8}, b"\0" * 4, {"header"}),
        ({"__metadata__": ["x"], "a": U8}, b"\0" * 4, {"header"}),
        ({"a": [0, 4]}, b"\0" * 4, {"tensor", "gap"}),
        ({"a": {"dtype": "U8", "shape": [2**64], "data_offsets": [0, 4]}}, b"\0" * 4, {"tensor"}),
    ],
)
def test_safetensors_structural_violations_are_high(header: dict[str, Any], buffer: bytes, expected: set[str]) -> None:
    scope = st_scan(st_file(header, buffer))
    assert severities(scope) == {Severity.HIGH}
    assert {f.kind for f in scope.findings} == expected
    assert all(f.offset is not None and f.offset >= 8 for f in scope.findings)


def test_safetensors_finding_names_the_tensor_and_its_offset() -> None:
    header = {"ok": U8, "evil": {"dtype": "U8", "shape": [100], "data_offsets": [4, 104]}}
    data = st_file(header, b"\0" * 8)
    (finding,) = [f for f in st_scan(data).findings if f.kind == "out-of-bounds"]
    assert finding.name == "evil"
    assert finding.offset == 8 + len(json.dumps(header)) + 4


def test_names_from_the_file_are_escaped() -> None:
    header = {"\x1b[2Jevil": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}
    (finding,) = st_scan(st_file(header)).findings
    assert finding.name == "\\x1b[2Jevil"
    schema = {"__class__": "\x1b]0;x\x07", "__module__": "m", "__loader__": "ObjectNode", "protocol": 2}
    (finding,) = skops_scan(schema).findings
    assert "\x1b" not in finding.name + finding.detail
    scope = Scope("model.keras")
    scan_keras_config({"module": "evil\x1b[1m", "class_name": "X", "config": {}}, scope)
    assert "\x1b" not in scope.findings[0].name + scope.findings[0].detail


def test_safetensors_duplicate_tensor_name_is_medium() -> None:
    raw = b'{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "a": ' + json.dumps(U8).encode() + b"}"
    assert found(st_scan(st_file(raw, b"\0" * 4))) == {(Severity.MEDIUM, "duplicate-key", "a")}
    raw = b'{"__metadata__": {}, "__metadata__": {}}'
    assert found(st_scan(st_file(raw))) == {(Severity.HIGH, "header", "__metadata__")}


def test_safetensors_padding_and_leading_whitespace_are_fine() -> None:
    assert st_scan(st_file(b' \n {"a": ' + json.dumps(U8).encode() + b"}    ", b"\0" * 4)).findings == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x05\0\0\0",
        struct.pack("<Q", 100_000_001) + b"{}",
        struct.pack("<Q", 2**64 - 1) + b"{}",
        struct.pack("<Q", 50) + b"{}",
        st_file(b'{"a": "\xff"}'),
        st_file(b'{"a": '),
        st_file(b"[]"),
        st_file(b'"text"'),
        st_file(b'{"a": {"dtype": "U8", "shape": [NaN], "data_offsets": [0, 0]}}'),
        st_file(b""),
        st_file(b"\xef\xbb\xbf{}"),
        st_file(b"[" * 5000 + b"]" * 5000),
    ],
)
def test_safetensors_malformed_header_is_unreadable(data: bytes) -> None:
    with pytest.raises(Unreadable):
        st_scan(data)


def test_safetensors_caps_its_findings() -> None:
    header = {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]} for i in range(500)}
    scope = st_scan(st_file(header, b"\0"))
    assert 100 < len(scope.findings) <= 102
    assert scope.findings[-1].name == "..."


def reference_accepts(data: bytes) -> bool:
    from safetensors import _safetensors_rust as rust

    try:
        rust.deserialize(data)
    except Exception:
        return False
    return True


def check_safetensors(data: bytes) -> None:
    """Only findings or Unreadable; and clean (bar MEDIUM) exactly when the reference loader accepts the file."""
    try:
        scope = st_scan(data)
    except Unreadable:
        assert not reference_accepts(data)
        return
    refused = any(f.severity >= Severity.HIGH for f in scope.findings)
    assert refused == (not reference_accepts(data)), (data[:300], scope.findings)


@FUZZ
@given(st.binary(max_size=300))
def test_safetensors_arbitrary_bytes(data: bytes) -> None:
    check_safetensors(data)


@FUZZ
@given(st.data())
def test_safetensors_mutated_real_file(real_safetensors: bytes, data: st.DataObject) -> None:
    blob = bytearray(real_safetensors)
    n = int.from_bytes(blob[:8], "little")
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, 8 + n - 1))  # mutate the length or the header
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.none() | st.integers(0, len(blob)))
    check_safetensors(bytes(blob[:cut]))


header_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 40)
    | st.text(max_size=6)
    | st.sampled_from(["U8", "F32", "F4", "BOOL"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
tensor_entries = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["U8", "I16", "F32", "F4", "F6_E2M3", "C64", "X"]),
        "shape": st.lists(st.integers(0, 6), max_size=3),
        "data_offsets": st.lists(st.integers(0, 40), min_size=2, max_size=2),
    }
)


@FUZZ
@given(
    st.dictionaries(st.text(max_size=5), tensor_entries | header_values, max_size=5),
    st.integers(0, 48),
)
def test_safetensors_generated_headers_agree_with_reference(header: dict[str, Any], buffer: int) -> None:
    check_safetensors(st_file(header, b"\0" * buffer))


# ---------------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------------


def make_model(*, custom_domain: str | None = None, initializer_size: int = 16) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(initializer_size * 4, dtype=np.float32).reshape(4, initializer_size), "W")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Y"], name="mm")]
    opsets = [helper.make_opsetid("", 17)]
    if custom_domain is not None:
        nodes.append(helper.make_node("Decrypt", ["Y"], ["Z"], domain=custom_domain, name="custom"))
        opsets.append(helper.make_opsetid(custom_domain, 1))
    else:
        nodes.append(helper.make_node("Relu", ["Y"], ["Z"], name="relu"))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, initializer_size])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=opsets)
    if custom_domain is None:
        onnx.checker.check_model(model)
    return model


def onnx_scan(data: bytes, model_dir: Path | None = None) -> Scope:
    scope = Scope("model.onnx")
    scan_onnx(data, scope, model_dir=model_dir)
    return scope


@pytest.fixture
def external_model(tmp_path: Path) -> Path:
    import onnx

    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save_model(
        make_model(),
        folder / "model.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return folder


def set_location(path: Path, location: str) -> bytes:
    import onnx

    model = onnx.load(path, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    return bytes(model.SerializeToString())


def test_onnx_real_model_is_clean() -> None:
    assert onnx_scan(make_model().SerializeToString()).findings == []


def test_onnx_real_external_data_is_clean(external_model: Path) -> None:
    data = (external_model / "model.onnx").read_bytes()
    assert onnx_scan(data, external_model).findings == []
    assert onnx_scan(data, None).findings == []


@pytest.mark.parametrize(
    "location",
    ["../../../../etc/passwd", "/etc/passwd", "C:/Windows/win.ini", "sub\\..\\..\\x", "weights.bin\x00.txt", ".."],
)
def test_onnx_external_data_leaving_the_folder_is_critical(external_model: Path, location: str) -> None:
    data = set_location(external_model / "model.onnx", location)
    for model_dir in (external_model, None):
        scope = onnx_scan(data, model_dir)
        assert severities(scope) == {Severity.CRITICAL}
        (finding,) = scope.findings
        assert finding.kind == "external-data"
        assert "external data path leaves the model folder" in finding.detail


def test_onnx_external_data_through_symlink_is_critical(external_model: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----")
    os.symlink(outside, external_model / "data")
    data = set_location(external_model / "model.onnx", "data/key.pem")
    assert found(onnx_scan(data, external_model)) == {(Severity.CRITICAL, "external-data", "data/key.pem")}
    # Without the folder only the string is judged, and it looks harmless.
    assert onnx_scan(data, None).findings == []


def test_onnx_dotdot_that_stays_inside_is_fine(external_model: Path) -> None:
    (external_model / "sub").mkdir()
    data = set_location(external_model / "model.onnx", "sub/../weights.bin")
    assert onnx_scan(data, external_model).findings == []


def test_onnx_missing_external_file_is_medium(external_model: Path) -> None:
    data = set_location(external_model / "model.onnx", "gone.bin")
    assert found(onnx_scan(data, external_model)) == {(Severity.MEDIUM, "external-data", "gone.bin")}
    (external_model / "weights.bin").write_bytes(b"\0" * 4)  # shorter than the tensor's range
    data = (external_model / "model.onnx").read_bytes()
    assert severities(onnx_scan(data, external_model)) == {Severity.MEDIUM}


def test_onnx_offset_points_at_the_tensor(external_model: Path) -> None:
    import onnx

    data = set_location(external_model / "model.onnx", "/etc/shadow")
    model = onnx.ModelProto.FromString(data)
    tensor = model.graph.initializer[0].SerializeToString()
    (finding,) = onnx_scan(data).findings
    assert data.find(tensor) == finding.offset


@pytest.mark.parametrize(
    ("domain", "flagged"),
    [
        ("com.evil.ops", True),
        ("ai.onnx.contrib", True),
        ("com.microsoft", False),
        ("ai.onnx.ml", False),
        ("ai.onnx", False),
    ],
)
def test_onnx_custom_domain_is_medium(domain: str, flagged: bool) -> None:
    scope = onnx_scan(make_model(custom_domain=domain).SerializeToString())
    if flagged:
        assert found(scope) == {(Severity.MEDIUM, "custom-operator", f"{domain}.Decrypt")}
        assert "custom operator domain needs a native library to run" in scope.findings[0].detail
    else:
        assert scope.findings == []


def external_tensor(name: str, location: str) -> Any:
    from onnx import TensorProto, helper

    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def test_onnx_walks_subgraphs_functions_and_training_graphs() -> None:
    import onnx
    from onnx import TensorProto, helper

    # Loop body -> If branch -> a Constant whose value is external, and a custom operator.
    inner = helper.make_graph(
        [
            helper.make_node("Constant", [], ["c"], value=external_tensor("c", "/etc/passwd")),
            helper.make_node("Steal", ["c"], ["o"], domain="evil.domain"),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, [2])],
    )
    body = helper.make_graph(
        [helper.make_node("If", ["cond"], ["o"], then_branch=inner, else_branch=inner)],
        "body",
        [],
        [],
    )
    sparse = helper.make_sparse_tensor(
        external_tensor("sv", "../sparse.bin"), helper.make_tensor("si", TensorProto.INT64, [1], [0]), [4]
    )
    function = helper.make_function(
        "my.functions",
        "Helper",
        ["x"],
        ["y"],
        [helper.make_node("Deserialize", ["x"], ["y"], domain="native.lib")],
        [helper.make_opsetid("", 17)],
    )
    function.attribute_proto.append(helper.make_attribute("default", external_tensor("d", "/root/.ssh/id_rsa")))
    graph = helper.make_graph(
        [
            helper.make_node("Loop", ["n", "cond"], [], body=body),
            helper.make_node("Helper", ["x"], ["y"], domain="my.functions"),  # a local function: not custom
        ],
        "g",
        [],
        [],
        sparse_initializer=[sparse],
    )
    model = helper.make_model(graph, functions=[function])
    training = onnx.TrainingInfoProto()
    training.algorithm.CopyFrom(helper.make_graph([], "algo", [], [], [external_tensor("t", "C:\\boot.ini")]))
    model.training_info.append(training)
    assert found(onnx_scan(model.SerializeToString())) == {
        (Severity.CRITICAL, "external-data", "/etc/passwd"),
        (Severity.CRITICAL, "external-data", "../sparse.bin"),
        (Severity.CRITICAL, "external-data", "/root/.ssh/id_rsa"),
        (Severity.CRITICAL, "external-data", "C:\\boot.ini"),
        (Severity.MEDIUM, "custom-operator", "evil.domain.Steal"),
        (Severity.MEDIUM, "custom-operator", "native.lib.Deserialize"),
    }


def nested_if_model(depth: int) -> bytes:
    from onnx import TensorProto, helper

    leaf = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "leaf", [], [])
    graph = leaf
    for i in range(depth):
        node = helper.make_node("If", ["c"], ["y"], then_branch=graph, else_branch=leaf)
        graph = helper.make_graph([node], f"g{i}", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return bytes(helper.make_model(graph).SerializeToString())


def test_onnx_deep_nesting_is_unreadable() -> None:
    assert onnx_scan(nested_if_model(15)).findings == []  # 1 + 3 * 15 + 1 = 47 levels
    with pytest.raises(Unreadable, match="nested deeper"):
        onnx_scan(nested_if_model(25))


@pytest.mark.parametrize(
    "data",
    [
        b"\x3a\x05abc",  # graph field: length past the end
        b"\x3a",  # truncated length
        b"\x08\xff\xff",  # truncated varint
        b"\x08" + b"\xff" * 11,  # varint over 10 bytes
        b"\x0b\x0c",  # groups
        b"\x0e\x00",  # wire type 6
        b"\x0f\x00",  # wire type 7
        b"\x00\x00",  # field 0
        b"\x09\x00\x00",  # truncated fixed64
        b"\x3a\x02\x0a\x05",  # graph -> node with length past the graph's end
    ],
)
def test_onnx_malformed_protobuf_is_unreadable(data: bytes) -> None:
    with pytest.raises(Unreadable):
        onnx_scan(data)


def test_onnx_wrong_wire_type_for_known_field_is_skipped() -> None:
    assert onnx_scan(b"\x38\x01" + b"\x3d\x00\x00\x00\x00").findings == []  # graph as varint and as fixed32


def test_onnx_large_raw_data_is_fast() -> None:
    data = make_model(initializer_size=4 << 20).SerializeToString()  # a 64 MB initializer
    start = time.perf_counter()
    assert onnx_scan(data).findings == []
    assert time.perf_counter() - start < 1.0


def test_iter_fields_reports_offsets() -> None:
    buf = memoryview(b"\x08\x96\x01\x12\x03abc")
    assert list(iter_fields(buf, 0, len(buf))) == [(1, 0, 150, 3, 0), (2, 2, 5, 8, 3)]


def check_onnx(data: bytes) -> None:
    """Only findings or Unreadable; Unreadable only for what protobuf refuses too, bar groups and deep nesting."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        onnx_scan(data)
        return
    except Unreadable as exc:
        message = str(exc)
    try:
        onnx.ModelProto.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError):
        return
    # protobuf skips groups in unknown fields and nests up to 100; this reader refuses both
    assert "wire type 3" in message or "wire type 4" in message or "nested" in message, message


@FUZZ
@given(st.binary(max_size=400))
def test_onnx_arbitrary_bytes(data: bytes) -> None:
    check_onnx(data)


@pytest.fixture(scope="module")
def rich_onnx() -> bytes:
    from onnx import TensorProto, helper

    model = make_model(custom_domain="x.y")
    model.graph.initializer.append(external_tensor("e", "a/../b.bin"))
    model.graph.node.append(
        helper.make_node(
            "If",
            ["c"],
            ["o"],
            then_branch=helper.make_graph([helper.make_node("Relu", ["a"], ["b"])], "t", [], []),
            else_branch=helper.make_graph([], "e", [], [], [helper.make_tensor("k", TensorProto.INT64, [1], [1])]),
        )
    )
    return bytes(model.SerializeToString())


@FUZZ
@given(st.data())
def test_onnx_mutated_real_model(rich_onnx: bytes, data: st.DataObject) -> None:
    blob = bytearray(rich_onnx)
    for _ in range(data.draw(st.integers(1, 6))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.none() | st.integers(0, len(blob)))
    check_onnx(bytes(blob[:cut]))


# ---------------------------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------------------------


def func_dump(func: Any) -> list[Any]:
    """What keras.src.utils.python_utils.func_dump (and tf_keras generic_utils.func_dump) write."""
    code = codecs.encode(marshal.dumps(func.__code__), "base64").decode("ascii")
    return [code, func.__defaults__, None]


def policy() -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def dense_v3(name: str = "dense", units: int = 8) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": policy(),
            "units": units,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "bias_initializer": {
                "module": "keras.initializers",
                "class_name": "Zeros",
                "config": {},
                "registered_name": None,
            },
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
    }


def sequential_v3(*layers: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": policy(),
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"},
                    "registered_name": None,
                },
                *layers,
            ],
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "Adam",
                "config": {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07},
                "registered_name": None,
            },
            "loss": "mean_squared_error",
            "metrics": [
                {"module": "keras.metrics", "class_name": "MeanAbsoluteError", "config": {}, "registered_name": None}
            ],
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": False,
        },
    }


def lambda_v3(name: str = "lambda") -> dict[str, Any]:
    code, defaults, closure = func_dump(lambda x: x * 2)
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": policy(),
            "function": {
                "class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure},
            },
            "arguments": {},
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 8]},
    }


def keras_zip(tmp_path: Path, config: dict[str, Any]) -> Path:
    import h5py

    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        group = f.create_group("layers/dense/vars")
        group.create_dataset("0", data=np.zeros((4, 8), np.float32))
        group.create_dataset("1", data=np.zeros(8, np.float32))
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2024-10-01@12:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights.getvalue())
    return path


def keras_v3_scan(path: Path) -> Scope:
    scope = Scope("model.keras")
    with zipfile.ZipFile(path) as z:
        scan_keras_v3_zip_config(z.read("config.json"), scope)
        scan_keras_h5(z.read("model.weights.h5"), scope.nested("model.weights.h5"))
    return scope


def test_keras_v3_plain_model_is_clean(tmp_path: Path) -> None:
    assert keras_v3_scan(keras_zip(tmp_path, sequential_v3(dense_v3(), dense_v3("out", 1)))).findings == []


def test_keras_v3_lambda_is_critical(tmp_path: Path) -> None:
    scope = keras_v3_scan(keras_zip(tmp_path, sequential_v3(dense_v3(), lambda_v3("double"))))
    assert found(scope) == {(Severity.CRITICAL, "lambda", "double")}
    assert "Lambda layer carries Python bytecode" in scope.findings[0].detail


def test_keras_v3_custom_objects_are_high(tmp_path: Path) -> None:
    custom = dense_v3("mine")
    custom.update(module="my_package.layers", class_name="MyDense", registered_name="MyPackage>MyDense")
    loss = {"module": "my_package.losses", "class_name": "function", "config": "focal", "registered_name": "focal"}
    config = sequential_v3(custom)
    config["compile_config"]["loss"] = loss
    scope = keras_v3_scan(keras_zip(tmp_path, config))
    assert found(scope) == {
        (Severity.HIGH, "import", "my_package.layers.MyDense"),
        (Severity.HIGH, "import", "my_package.losses.focal"),
    }


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"module": "builtins", "class_name": "function", "config": "eval", "registered_name": None}, "builtins.eval"),
        ({"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}, "os.system"),
        ({"module": "subprocess", "class_name": "Popen", "config": {}, "registered_name": None}, "subprocess.Popen"),
    ],
)
def test_keras_dangerous_imports_are_critical(reference: dict[str, Any], expected: str) -> None:
    layer = dense_v3()
    layer["config"]["activation"] = reference
    scope = Scope("model.keras")
    scan_keras_config(sequential_v3(layer), scope)
    assert found(scope) == {(Severity.CRITICAL, "import", expected)}


def test_keras_builtin_function_names_are_keras_builtins() -> None:
    layer = dense_v3()
    layer["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": "relu"}
    scope = Scope("model.keras")
    scan_keras_config(sequential_v3(layer), scope)
    assert scope.findings == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("keras.config", "enable_unsafe_deserialization"),
        ("keras.utils", "get_file"),
        ("keras.models", "load_model"),
        ("keras.layers", "TFSMLayer"),
    ],
)
def test_keras_api_that_defeats_safe_mode_is_critical(module: str, name: str) -> None:
    reference = {"module": module, "class_name": "function", "config": name, "registered_name": name}
    if name[0].isupper():
        reference = {"module": module, "class_name": name, "config": {"filepath": "/tmp/x"}, "registered_name": None}
    config = sequential_v3(dense_v3())
    config["compile_config"]["metrics"] = [reference]
    scope = Scope("model.keras")
    scan_keras_config(config, scope)
    assert found(scope) == {(Severity.CRITICAL, "keras-api", f"{module}.{name}")}


def test_keras_lookup_vocabulary_file_is_critical() -> None:
    layer = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "config": {"name": "lookup", "vocabulary": "/etc/passwd", "num_oov_indices": 1},
        "registered_name": None,
    }
    scope = Scope("model.keras")
    scan_keras_config(sequential_v3(layer), scope)
    assert found(scope) == {(Severity.CRITICAL, "keras-api", "lookup")}


def test_keras_lambda_elsewhere_is_critical() -> None:
    # serialization_lib.serialize_keras_object(lambda): a lambda used as an activation.
    layer = dense_v3()
    layer["config"]["activation"] = {"class_name": "__lambda__", "config": {"value": func_dump(lambda x: x)}}
    scope = Scope("model.keras")
    scan_keras_config(sequential_v3(layer), scope)
    assert found(scope) == {(Severity.CRITICAL, "lambda", "__lambda__")}


def test_keras_v3_invalid_config_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        scan_keras_v3_zip_config(b'{"class_name": ', Scope("model.keras"))


def keras2_layers() -> list[dict[str, Any]]:
    return [
        {
            "class_name": "InputLayer",
            "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "dense_input"},
        },
        {
            "class_name": "Dense",
            "config": {
                "name": "dense",
                "trainable": True,
                "dtype": "float32",
                "units": 8,
                "activation": "relu",
                "use_bias": True,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                "bias_initializer": {"class_name": "Zeros", "config": {}},
            },
        },
    ]


def keras2_lambda(name: str, func: Any) -> dict[str, Any]:
    """tf_keras Lambda.get_config for a Python function (any function is dumped as bytecode)."""
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "function": func_dump(func),
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }


def tf_op(function: str) -> dict[str, Any]:
    return {
        "class_name": "TFOpLambda",
        "config": {"name": f"tf.{function}", "trainable": True, "dtype": "float32", "function": function},
    }


def keras_h5(path: Path, layers: list[dict[str, Any]] | None, training: dict[str, Any] | None = None) -> bytes:
    """A file laid out as tf.keras' save_model_to_hdf5 writes it."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        if layers is not None:
            config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
            f.attrs["model_config"] = json.dumps(config).encode("utf8")
        if training is not None:
            f.attrs["training_config"] = json.dumps(training).encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = [b"dense"]
        weights.create_dataset("dense/dense/kernel:0", data=np.zeros((4, 8), np.float32))
    return path.read_bytes()


def h5_scan(data: bytes | memoryview) -> Scope:
    scope = Scope("model.h5")
    scan_keras_h5(data, scope)
    return scope


def test_keras_h5_plain_and_weights_only_are_clean(tmp_path: Path) -> None:
    training = {"loss": "mse", "metrics": ["mae"], "optimizer_config": {"class_name": "Adam", "config": {}}}
    assert h5_scan(keras_h5(tmp_path / "a.h5", keras2_layers(), training)).findings == []
    assert h5_scan(keras_h5(tmp_path / "w.h5", None)).findings == []


def test_keras_h5_lambda_is_critical(tmp_path: Path) -> None:
    def payload(x: Any) -> Any:
        return __import__("os").system("id") or x

    data = keras_h5(tmp_path / "m.h5", [*keras2_layers(), keras2_lambda("pwn", payload)])
    scope = h5_scan(data)
    assert found(scope) == {(Severity.CRITICAL, "lambda", "pwn")}
    assert "Lambda layer carries Python bytecode" in scope.findings[0].detail
    with (tmp_path / "m.h5").open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            assert found(h5_scan(view)) == {(Severity.CRITICAL, "lambda", "pwn")}
        finally:
            view.release()


def test_keras_h5_named_function_lambda_is_critical() -> None:
    layer = {
        "class_name": "Lambda",
        "config": {"name": "call", "function": "system", "function_type": "function", "module": "os"},
    }
    scope = Scope("model.h5")
    scan_keras_config({"class_name": "Sequential", "config": {"layers": [layer]}}, scope)
    assert found(scope) == {(Severity.CRITICAL, "lambda", "call")}
    assert "os.system" in scope.findings[0].detail


def test_keras_h5_tf_ops(tmp_path: Path) -> None:
    layers = [*keras2_layers(), tf_op("math.add"), tf_op("io.write_file"), tf_op("compat.v1.py_func")]
    assert found(h5_scan(keras_h5(tmp_path / "m.h5", layers))) == {
        (Severity.HIGH, "import", "tensorflow.math.add"),
        (Severity.CRITICAL, "import", "tensorflow.io.write_file"),
        (Severity.CRITICAL, "import", "tensorflow.compat.v1.py_func"),
    }


def test_keras_h5_training_config_lambda_is_critical(tmp_path: Path) -> None:
    training = {"loss": {"class_name": "__lambda__", "config": {"value": func_dump(lambda y, p: y - p)}}}
    assert severities(h5_scan(keras_h5(tmp_path / "m.h5", keras2_layers(), training))) == {Severity.CRITICAL}


def test_keras_h5_repeats_are_reported_once(tmp_path: Path) -> None:
    layers = [*keras2_layers(), tf_op("math.add"), tf_op("math.add"), tf_op("math.add")]
    (finding,) = h5_scan(keras_h5(tmp_path / "m.h5", layers)).findings
    assert "(3 places)" in finding.detail


def test_keras_h5_unreadable(tmp_path: Path) -> None:
    import h5py

    good = keras_h5(tmp_path / "m.h5", keras2_layers())
    for data in (b"", b"not hdf5" * 100, good[:2000]):
        with pytest.raises(Unreadable):
            h5_scan(data)
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.attrs["model_config"] = b"{not json"
    with pytest.raises(Unreadable):
        h5_scan((tmp_path / "bad.h5").read_bytes())


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "class_name",
                        "config",
                        "module",
                        "registered_name",
                        "function",
                        "function_type",
                        "name",
                        "vocabulary",
                        "x",
                    ]
                ),
                c,
                max_size=5,
            )
        ),
        max_leaves=25,
    )
)
def test_keras_config_arbitrary_json(config: Any) -> None:
    scan_keras_config(config, Scope("model.keras"))


# ---------------------------------------------------------------------------------------------
# skops
# ---------------------------------------------------------------------------------------------


def skops_schema(model: Any) -> bytes:
    import skops.io as sio

    with zipfile.ZipFile(io.BytesIO(sio.dumps(model))) as z:
        return z.read("schema.json")


def skops_scan(schema: bytes | dict[str, Any]) -> Scope:
    scope = Scope("model.skops")
    scan_skops_schema(schema if isinstance(schema, bytes) else json.dumps(schema).encode(), scope)
    return scope


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    frame = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], 60), "size": rng.normal(size=60)})
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("onehot", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                        ("scale", StandardScaler(), ["size"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "logistic": LogisticRegression().fit(x, y),
            "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
            "pipeline": pipeline.fit(frame, y),
            "boosting": GradientBoostingClassifier(n_estimators=3).fit(x, y),
            "svc": SVC(probability=True, random_state=0).fit(x, y),
            "kmeans": KMeans(3, n_init=2, random_state=0).fit(x),
            "function": FunctionTransformer(np.abs).fit(x),
        }


@pytest.mark.parametrize("name", ["logistic", "forest", "pipeline", "boosting", "svc", "kmeans"])
def test_skops_plain_sklearn_models_are_clean(fitted: dict[str, Any], name: str) -> None:
    assert skops_scan(skops_schema(fitted[name])).findings == []


def nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "__loader__" in value:
                yield value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def test_skops_edited_class_is_critical(fitted: dict[str, Any]) -> None:
    for module, name in (("os", "system"), ("builtins", "eval"), ("__builtin__", "eval")):
        schema = json.loads(skops_schema(fitted["pipeline"]))
        target = next(n for n in nodes(schema) if n["__class__"] == "StandardScaler")
        target["__module__"], target["__class__"] = module, name
        scope = skops_scan(schema)
        (finding,) = scope.findings
        assert (finding.severity, finding.kind) == (Severity.CRITICAL, "import")
        assert finding.name.startswith(f"{'builtins' if 'builtin' in module else module}.{name}")
        assert finding.detail.startswith("$.content.")


def test_skops_function_node_to_popen_is_critical(fitted: dict[str, Any]) -> None:
    import skops.io as sio

    schema = json.loads(skops_schema(fitted["function"]))
    function = next(n for n in nodes(schema) if n["__loader__"] == "FunctionNode")
    assert (function["__module__"], function["__class__"]) == ("numpy", "absolute")
    function["__module__"], function["__class__"] = "subprocess", "Popen"
    assert found(skops_scan(schema)) == {
        (Severity.CRITICAL, "import", "subprocess.Popen"),
    }
    # skops itself would ask the user to trust it too (sanity check of the edited file).
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sio.dumps(fitted["function"]))) as src, zipfile.ZipFile(buffer, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, json.dumps(schema) if item.filename == "schema.json" else src.read(item.filename))
    assert "subprocess.Popen" in sio.get_untrusted_types(data=buffer.getvalue())


def test_skops_other_import_paths() -> None:
    json_node = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": '"x"'}
    schema = {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {
            "f": {"__class__": "system", "__module__": "posix", "__loader__": "FunctionNode"},
            "m": {
                "__class__": "Thing",
                "__module__": "my.module",
                "__loader__": "MethodNode",
                "content": {
                    "func": "run",
                    "obj": {"__class__": "Thing", "__module__": "my.module", "__loader__": "ObjectNode"},
                },
            },
            "op": {
                "__class__": "attrgetter",
                "__module__": "operator",
                "__loader__": "OperatorFuncNode",
                "attrs": json_node,
            },
            "gen": {
                "__class__": "Generator",
                "__module__": "numpy.random._generator",
                "__loader__": "RandomGeneratorNode",
                "content": {
                    "bit_generator": {
                        "__class__": "dict",
                        "__module__": "builtins",
                        "__loader__": "DictNode",
                        "content": {"bit_generator": {**json_node, "content": '"seed"'}},
                    },
                    "seed_seq": json_node,
                },
            },
            "partial": {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode", "content": {}},
            "cached": {"__class__": "x", "__module__": "os", "__loader__": "CachedNode", "__id__": 1},
            "new": {"__class__": "Thing", "__module__": "sklearn.base", "__loader__": "FancyNode"},
            "json": {"__class__": "NoneType", "__module__": "builtins", "__loader__": "JsonNode", "content": "null"},
        },
        "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []},
        "protocol": 2,
        "_skops_version": "0.13.0",
    }
    scope = skops_scan(schema)
    assert found(scope) == {
        (Severity.CRITICAL, "import", "posix.system"),
        (Severity.HIGH, "import", "my.module.Thing"),
        (Severity.HIGH, "import", "my.module.Thing.run"),
        (Severity.CRITICAL, "import", "operator.attrgetter"),
        (Severity.HIGH, "import", "numpy.random.seed"),
        (Severity.MEDIUM, "unknown-loader", "FancyNode"),
        (Severity.HIGH, "import", "sklearn.base.Thing"),
    }
    details = {f.name: f.detail for f in scope.findings}
    assert details["posix.system"].startswith("$.content.f: FunctionNode loads posix.system")
    assert "(and 1 more nodes)" in details["my.module.Thing"]


def test_skops_protocol_0_function_node() -> None:
    function = {
        "__class__": "function",
        "__module__": "builtins",
        "__loader__": "FunctionNode",
        "content": {"module_path": "subprocess", "function": "check_output"},
    }
    assert found(skops_scan({**function, "protocol": 0})) == {(Severity.CRITICAL, "import", "subprocess.check_output")}
    # Protocol 1 and later use the current FunctionNode, which imports the node's own names.
    assert found(skops_scan({**function, "protocol": 1})) == {(Severity.CRITICAL, "import", "builtins.function")}


def test_skops_real_generator_is_clean() -> None:
    assert skops_scan(skops_schema({"rng": np.random.default_rng(0), "state": np.random.RandomState(0)})).findings == []


@pytest.mark.parametrize(
    "schema",
    [
        b"{not json",
        b"[]",
        b'{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode"}',  # no protocol
        b'{"protocol": true}',
        b'{"protocol": 2, "content": {"x": {"__loader__": "ObjectNode", "__module__": 1}}}',
        b"[" * 100_000,
    ],
)
def test_skops_invalid_schema_is_unreadable(schema: bytes) -> None:
    with pytest.raises(Unreadable):
        skops_scan(schema)


def test_skops_newer_protocol_is_medium(fitted: dict[str, Any]) -> None:
    schema = json.loads(skops_schema(fitted["logistic"]))
    schema["protocol"] = 9
    assert found(skops_scan(schema)) == {(Severity.MEDIUM, "unknown-protocol", "protocol 9")}


skops_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(
            st.sampled_from(["__class__", "__module__", "__loader__", "content", "__id__", "func", "obj", "x"]),
            c | st.sampled_from(["ObjectNode", "FunctionNode", "MethodNode", "os", "system", "RandomGeneratorNode"]),
            max_size=5,
        )
    ),
    max_leaves=25,
)


@FUZZ
@given(skops_values)
def test_skops_arbitrary_json(tree: Any) -> None:
    schema = {"protocol": 2, "content": tree} if not isinstance(tree, dict) else {**tree, "protocol": 2}
    with contextlib.suppress(Unreadable):
        skops_scan(schema)


@FUZZ
@given(st.binary(max_size=200))
def test_skops_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(Unreadable):
        skops_scan(data)
