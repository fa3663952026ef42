"""Harmless files as real libraries write them (or, for LightGBM, XGBoost, torch and GGUF, which are not
installed, as their documented formats lay them out): the scanner must pass every one as clean.
"""

from __future__ import annotations

import datetime
import io
import json
import pickle
import struct
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ._entry import Entry, tar_bytes, zip_bytes
from ._hostile import gguf_bytes

__all__ = ["HARMLESS", "MEMORY_UNSAFE"]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class _NonSeekable(io.RawIOBase):
    """What joblib gets when it dumps to a pipe or a socket: no ``tell``."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buf += bytes(data)
        return len(data)

    def tell(self) -> int:
        raise io.UnsupportedOperation("not seekable")


@cache
def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)


@cache
def _lr() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(*_xy())


def _fit(make: Callable[[], Any]) -> Any:
    return make().fit(*_xy())


@cache
def _frame() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=6, freq="h"),
            "amount": np.linspace(0, 1, 6),
            "grade": pd.Categorical(list("abcabc")),
            "name": ["x", "y", "z", "x", "y", "z"],
            "count": np.arange(6, dtype=np.int32),
        }
    )


def _arrays() -> dict[str, np.ndarray]:
    return {"w": np.arange(12.0).reshape(3, 4), "b": np.ones(4, dtype=np.float32), "ids": np.arange(5, dtype=np.int64)}


# -- joblib ---------------------------------------------------------------------------------------


def _joblib_nonseekable(obj: Any) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        import joblib

        out = _NonSeekable()
        joblib.dump(obj() if callable(obj) else obj, out)
        return _write(path, bytes(out.buf))

    return build


def _joblib_compressed(compress: Any) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        import joblib

        joblib.dump({"arrays": _arrays(), "classes": ["no", "yes"], "version": 2}, str(path), compress=compress)
        return path

    return build


def _joblib_gbm(path: Path) -> Path:
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier

    joblib.dump(_fit(lambda: GradientBoostingClassifier(n_estimators=3, max_depth=2)), str(path), compress=3)
    return path


def _joblib_frame(path: Path) -> Path:
    import joblib

    joblib.dump(_frame(), str(path))
    return path


# -- NumPy ----------------------------------------------------------------------------------------


def _npy(arr: Callable[[], np.ndarray]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        buf = io.BytesIO()
        np.save(buf, arr())
        return _write(path, buf.getvalue())

    return build


def _structured() -> np.ndarray:
    dt = np.dtype([("t", "<M8[ns]"), ("v", "<f4"), ("id", "<i8"), ("tag", "S4")])
    return np.array([(np.datetime64("2024-01-01T00:00", "ns"), 1.5, 7, b"ok")] * 3, dtype=dt)


def _npz(path: Path) -> Path:
    buf = io.BytesIO()
    np.savez_compressed(buf, **_arrays(), days=np.arange("2024-01", "2024-03", dtype="datetime64[D]"))
    return _write(path, buf.getvalue())


# -- pickles of real objects ----------------------------------------------------------------------


def _pickled(obj: Callable[[], Any], protocol: int) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        return _write(path, pickle.dumps(obj(), protocol=protocol))

    return build


def _datetimes() -> dict[str, Any]:
    return {
        "trained": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 5, 1),
        "took": datetime.timedelta(seconds=90),
        "np_when": np.datetime64("2024-05-01T12:30"),
        "np_span": np.timedelta64(3, "h"),
    }


def _tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return _fit(lambda: DecisionTreeClassifier(max_depth=3, random_state=0))


def _svc_pipeline() -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return _fit(lambda: make_pipeline(StandardScaler(), SVC()))


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return _fit(lambda: RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0))


def _series() -> Any:
    import pandas as pd

    return pd.Series(np.arange(4.0), index=pd.date_range("2024-01-01", periods=4, freq="D"), name="load")


# -- HDF5 -----------------------------------------------------------------------------------------


def _h5_weights(path: Path) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("layer0/kernel", data=np.ones((3, 4), dtype=np.float32))
        f.create_dataset("layer0/bias", data=np.zeros(4, dtype=np.float32), compression="gzip")
        f.attrs["epochs"] = 10
    return path


def _keras_h5(path: Path) -> Path:
    """The layout Keras 2's ``model.save("m.h5")`` writes, without TensorFlow."""
    import h5py

    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None, 3], "dtype": "float32", "name": "in"},
                },
                {
                    "class_name": "Dense",
                    "config": {"name": "dense", "units": 2, "activation": "relu", "use_bias": True},
                },
            ],
        },
    }
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps({"loss": "mse", "optimizer_config": {"class_name": "Adam"}})
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense"])
        dense = weights.create_group("dense")
        dense.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        dense.create_dataset("dense/kernel:0", data=np.ones((3, 2), dtype=np.float32))
        dense.create_dataset("dense/bias:0", data=np.zeros(2, dtype=np.float32))
    return path


# -- safetensors, ONNX, model folders -------------------------------------------------------------


def _safetensors_bytes() -> bytes:
    from safetensors.numpy import save

    return save(
        {"embed.weight": np.ones((4, 3), dtype=np.float32), "head.bias": np.zeros(2, dtype=np.float16)},
        metadata={"format": "np"},
    )


def _safetensors(path: Path) -> Path:
    return _write(path, _safetensors_bytes())


def _folder(mode: str) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        members = [
            ("tiny-model/config.json", json.dumps({"architectures": ["TinyModel"], "hidden_size": 3}).encode()),
            ("tiny-model/model.safetensors", _safetensors_bytes()),
            ("tiny-model/README.md", b"---\nlicense: mit\n---\n# tiny-model\n"),
            (
                "tiny-model/tokenizer.json",
                json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}}}).encode(),
            ),
        ]
        return _write(path, tar_bytes(members, mode))

    return build


def _onnx(path: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((3, 2), dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="corpus")
    return _write(path, model.SerializeToString())


# -- skops ----------------------------------------------------------------------------------------


def _skops(model: Callable[[], Any]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        import skops.io

        return _write(path, skops.io.dumps(model()))

    return build


def _tree_pipeline() -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return _fit(lambda: make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=2, random_state=0)))


# -- LightGBM and XGBoost, as their save_model writes them ----------------------------------------


def _lightgbm_text(path: Path) -> Path:
    """LightGBM's ``Booster.save_model`` text format (v4): header, trees, importances, parameters."""
    tree = "\n".join(
        [
            "Tree=0",
            "num_leaves=2",
            "num_cat=0",
            "split_feature=0",
            "split_gain=12.5",
            "threshold=0.50000000000000011",
            "decision_type=2",
            "left_child=-1",
            "right_child=-2",
            "leaf_value=-0.21 0.19",
            "leaf_weight=5 5",
            "leaf_count=20 20",
            "internal_value=0",
            "internal_weight=10",
            "internal_count=40",
            "is_linear=0",
            "shrinkage=1",
            "",
            "",
        ]
    )
    header = "\n".join(
        [
            "tree",
            "version=v4",
            "num_class=1",
            "num_tree_per_iteration=1",
            "label_index=0",
            "max_feature_idx=2",
            "objective=binary sigmoid:1",
            "feature_names=f0 f1 f2",
            "feature_infos=[-2.1:2.3] [-1.9:2.2] [-2.5:1.8]",
            f"tree_sizes={len(tree.encode())}",
            "",
            "",
        ]
    )
    footer = "\n".join(
        [
            "end of trees",
            "",
            "feature_importances:",
            "f0=1",
            "",
            "parameters:",
            "[boosting: gbdt]",
            "[objective: binary]",
            "[num_iterations: 1]",
            "[learning_rate: 0.1]",
            "[num_leaves: 31]",
            "end of parameters",
            "",
            "pandas_categorical:null",
            "",
        ]
    )
    return _write(path, (header + tree + "\n" + footer).encode())


def _xgboost_model() -> dict[str, Any]:
    """XGBoost 2.x's JSON model schema (``Booster.save_model("m.json")``), one stump."""
    tree = {
        "base_weights": [0.0, -0.2, 0.2],
        "categories": [],
        "categories_nodes": [],
        "categories_segments": [],
        "categories_sizes": [],
        "default_left": [0, 0, 0],
        "id": 0,
        "left_children": [1, -1, -1],
        "loss_changes": [12.5, 0.0, 0.0],
        "parents": [2147483647, 0, 0],
        "right_children": [2, -1, -1],
        "split_conditions": [0.5, -0.2, 0.2],
        "split_indices": [0, 0, 0],
        "split_type": [0, 0, 0],
        "sum_hessian": [10.0, 5.0, 5.0],
        "tree_param": {"num_deleted": "0", "num_feature": "3", "num_nodes": "3", "size_leaf_vector": "1"},
    }
    return {
        "learner": {
            "attributes": {},
            "feature_names": [],
            "feature_types": [],
            "gradient_booster": {
                "model": {
                    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1"},
                    "iteration_indptr": [0, 1],
                    "tree_info": [0],
                    "trees": [tree],
                },
                "name": "gbtree",
            },
            "learner_model_param": {
                "base_score": "5E-1",
                "boost_from_average": "1",
                "num_class": "0",
                "num_feature": "3",
                "num_target": "1",
            },
            "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
        "version": [2, 1, 3],
    }


def _xgboost_json(path: Path) -> Path:
    return _write(path, json.dumps(_xgboost_model(), separators=(",", ":")).encode())


def _ubjson(value: Any) -> bytes:
    """UBJSON as XGBoost writes it (its default ``save_model`` format since 2.1): typed, sized containers
    are not used; int32 ``l``, float32 ``d``, strings ``S`` with an int length (``None`` is ``Z``)."""
    if value is None:
        return b"Z"
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"l" + struct.pack(">i", value) if -(2**31) <= value < 2**31 else b"L" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">f", value)
    if isinstance(value, str):
        raw = value.encode()
        return b"S" + _ubjson_len(len(raw)) + raw
    if isinstance(value, list):
        return b"[" + b"".join(_ubjson(v) for v in value) + b"]"
    if isinstance(value, dict):
        body = b""
        for key, item in value.items():
            raw = key.encode()
            body += _ubjson_len(len(raw)) + raw + _ubjson(item)
        return b"{" + body + b"}"
    raise TypeError(type(value))


def _ubjson_len(n: int) -> bytes:
    return b"U" + bytes([n]) if n < 256 else b"l" + struct.pack(">i", n)


def _xgboost_ubj(path: Path) -> Path:
    return _write(path, _ubjson(_xgboost_model()))


# -- torch-style zip and GGUF, written by hand ----------------------------------------------------


def _torch_style(path: Path) -> Path:
    """``torch.save({"weight": tensor(4 floats)})`` laid out by hand: archive/data.pkl (protocol 2, storages
    as persistent ids), archive/data/0, version, byteorder."""

    def x(text: str) -> bytes:
        return b"X" + struct.pack("<I", len(text)) + text.encode()

    data_pkl = (
        b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01"
        + x("weight")
        + b"ctorch._utils\n_rebuild_tensor_v2\nq\x02(("
        + x("storage")
        + b"ctorch\nFloatStorage\nq\x03"
        + x("0")
        + x("cpu")
        + b"K\x04tq\x04QK\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rq\x05tq\x06Rq\x07"
        + b"s}X\x09\x00\x00\x00_metadatah\x01sb."
    )
    files = [
        ("archive/data.pkl", data_pkl),
        ("archive/byteorder", b"little"),
        ("archive/data/0", np.arange(4, dtype=np.float32).tobytes()),
        ("archive/version", b"3\n"),
        ("archive/.data/serialization_id", b"1234567890123456789012345678901234567890"),
    ]
    return _write(path, zip_bytes(files, zipfile.ZIP_STORED))


_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}<|system|>\n{{ message['content'] }}</s>\n"
    "{% elif message['role'] == 'user' %}<|user|>\n{{ message['content'] }}</s>\n{% else %}<|assistant|>\n"
    "{{ message['content'] }}</s>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _gguf(path: Path) -> Path:
    return _write(path, gguf_bytes(_CHAT_TEMPLATE))


_NONSEEKABLE_TODAY = "root cause 3 of issue 14 (joblib alignment None: unreadable), fixed on h/pickle or h/formats"

HARMLESS: tuple[Entry, ...] = (
    Entry(
        "arrays_nonseekable.joblib",
        "joblib to a non-seekable stream",
        _joblib_nonseekable(_arrays),
    ),
    Entry(
        "lr_nonseekable.joblib",
        "joblib to a non-seekable stream (sklearn)",
        _joblib_nonseekable(_lr),
    ),
    Entry("arrays.joblib.xz", "joblib xz", _joblib_compressed(("xz", 3))),
    Entry("arrays.joblib.lzma", "joblib lzma", _joblib_compressed(("lzma", 3))),
    Entry("arrays.joblib.z", "joblib zlib", _joblib_compressed(3)),
    Entry("arrays.joblib.gz", "joblib gzip", _joblib_compressed(("gzip", 3))),
    Entry("arrays.joblib.bz2", "joblib bz2", _joblib_compressed(("bz2", 3))),
    Entry("gbm.joblib", "sklearn GradientBoosting, joblib zlib", _joblib_gbm),
    Entry("days.npy", "numpy datetime64", _npy(lambda: np.arange("2024-01-01", "2024-01-10", dtype="datetime64[D]"))),
    Entry("structured.npy", "numpy structured (datetime64, bytes)", _npy(_structured)),
    Entry("fortran.npy", "numpy Fortran-order float32", _npy(lambda: np.asfortranarray(np.ones((3, 4), np.float32)))),
    Entry("arrays.npz", "numpy savez_compressed", _npz),
    Entry("datetimes.pkl", "datetime and numpy datetime64 values, pickle 2", _pickled(_datetimes, 2)),
    Entry("lr_p5.pkl", "sklearn LogisticRegression, pickle 5", _pickled(_lr, 5)),
    Entry("tree_p4.pkl", "sklearn DecisionTree, pickle 4", _pickled(_tree, 4)),
    Entry("svc_pipeline_p2.pkl", "sklearn Pipeline(StandardScaler, SVC), pickle 2", _pickled(_svc_pipeline, 2)),
    Entry("forest_p3.pkl", "sklearn RandomForest, pickle 3", _pickled(_forest, 3)),
    Entry("weights.h5", "HDF5 weights via h5py", _h5_weights),
    Entry("keras_model.h5", "Keras 2 .h5 layout via h5py", _keras_h5),
    Entry("model.safetensors", "safetensors (safetensors.numpy)", _safetensors),
    Entry("model_folder.tar", "model folder tarball", _folder("w")),
    Entry("model_folder.tar.gz", "model folder tarball, gzip", _folder("w:gz")),
    Entry("mlp.onnx", "ONNX via onnx.helper", _onnx),
    Entry("lr.skops", "skops LogisticRegression", _skops(_lr)),
    Entry("tree_pipeline.skops", "skops Pipeline(StandardScaler, DecisionTree)", _skops(_tree_pipeline)),
    Entry("lightgbm_model.txt", "LightGBM text model", _lightgbm_text),
    Entry("xgboost_model.json", "XGBoost JSON model", _xgboost_json),
    Entry("xgboost_model.ubj", "XGBoost UBJSON model", _xgboost_ubj),
    Entry("torch_style.pt", "torch-style zip by hand", _torch_style),
    Entry("chat_model.gguf", "GGUF with a benign chat template", _gguf),
)

# What real pandas writes, but not harmless to load from someone else: pandas rebuilds blocks at the
# placements the pickle names and pyarrow arrays from raw buffers, checking neither, so a tampered copy
# crashes the loader (test_corpus proves it). The scanner rates these MEDIUM (memory-unsafe), never clean.
MEMORY_UNSAFE: tuple[Entry, ...] = (
    Entry("frame.joblib", "pandas DataFrame, joblib", _joblib_frame, critical=False),
    Entry("frame.pkl", "pandas DataFrame, pickle 5", _pickled(_frame, 5), critical=False),
    Entry("series.pkl", "pandas Series with DatetimeIndex, pickle 4", _pickled(_series, 4), critical=False),
)
