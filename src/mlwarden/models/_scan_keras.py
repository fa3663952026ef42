"""A Keras scanner: reads a model's JSON config (``.keras`` zip or legacy ``.h5``) and judges what loading it runs.

A Keras model is rebuilt from its config: each object is ``{"class_name": ..., "config": {...}}``,
and Keras 3 (and tf.keras 2.13+) add ``"module"`` and ``"registered_name"`` so the loader can
*import* the class. Formats:

* ``.keras`` (Keras 3): a zip with ``config.json``, ``metadata.json`` and ``model.weights.h5``;
  :func:`scan_keras_v3_zip_config` takes the bytes of ``config.json``.
* ``.h5`` (Keras 2 / tf.keras): an HDF5 file whose root attribute ``model_config`` holds the
  config as JSON (``training_config`` holds the loss, metrics and optimizer); a weights-only
  HDF5 has neither. :func:`scan_keras_h5` reads those two attributes with h5py (nothing else:
  no dataset, no external link is followed).

What loading runs, and how it is reported:

* ``Lambda`` layers: Keras 2 stores the function as base64 of ``marshal.dumps(code)`` (``function``
  is ``[code, defaults, closure]`` and ``function_type`` is ``"lambda"``, for any Python function,
  named or not); Keras 3 stores ``{"class_name": "__lambda__", "config": {"code": ...}}``, and any
  other lambda it serialises (an activation, a loss) as ``{"class_name": "__lambda__", "config":
  {"value": [code, ...]}}``. Loading it (``safe_mode=False``, which old Keras and tf.keras used by
  default) runs that bytecode: ``CRITICAL`` ("Lambda layer carries Python bytecode"), kind
  ``lambda``, named after the layer. A ``Lambda`` that names a function instead is ``CRITICAL``
  too: whatever that function is, the layer calls it on every inference.
* Custom objects: a ``module`` outside ``keras``/``keras.*``/``tf_keras``/``tf_keras.*`` is
  code the loader imports (``importlib.import_module(module)``): ``HIGH`` naming ``module.name``,
  ``CRITICAL`` when the allow-list (:func:`classify_import`) knows the name as dangerous
  (``builtins.eval``, ``os.system``). keras_hub, keras_cv and keras_nlp are separate packages and
  are reported like any other. ``{"module": "builtins", "class_name": "function"}`` names a
  Keras built-in (``"relu"``) unless the name is a real Python builtin, which is judged.
* Keras' own functions that defeat the loader's safety: ``enable_unsafe_deserialization`` (turns
  safe mode off, then a later Lambda runs), ``get_file`` (downloads to a path of the file's
  choosing), ``load_model``/``load_weights`` (load another file), the ``TFSMLayer`` (loads a
  TensorFlow SavedModel from a path in the config) and lookup layers whose ``vocabulary`` is a file
  path (read when the layer is built): ``CRITICAL``, kind ``keras-api``.
* ``TFOpLambda``/``SlicingOpLambda`` (tf.keras 2): call ``tf.<function>`` by name: ``HIGH``, kind
  ``import``; ``CRITICAL`` for the parts of TensorFlow that read or write files, run Python or load
  code (``tf.io``, ``tf.raw_ops``, ``tf.py_function``, ``tf.numpy_function``, ``tf.print``,
  ``tf.summary``, ``tf.saved_model``, ``tf.data``, ``tf.lookup``, ``tf.train``...).

Each distinct finding is reported once, with the number of places it occurs.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import io
import json
from collections.abc import Callable
from typing import Any

from mlwarden.models._allowlist import classify_import
from mlwarden.models._findings import Scope, Severity, Unreadable

__all__ = ["scan_keras_config", "scan_keras_h5", "scan_keras_v3_zip_config"]

_KERAS_PACKAGES = ("keras", "tf_keras")

# Keras functions and classes that load other files, download, or switch safe mode off.
_KERAS_DANGEROUS = {
    "enable_unsafe_deserialization": "turns Keras safe mode off, so a later Lambda runs its bytecode",
    "get_file": "downloads a URL to a path the file chooses",
    "load_model": "loads another model file",
    "load_weights": "loads another weights file",
    "save_model": "writes a model file",
    "TFSMLayer": "loads a TensorFlow SavedModel (with its graph ops) from a path in the config",
}
_LOOKUP_LAYERS = frozenset({"StringLookup", "IntegerLookup", "IndexLookup", "TextVectorization"})

# First parts of tf.* names a TFOpLambda may call that read or write files, run Python or load code
# (after any compat.v1/compat.v2 prefix).
_TF_DANGEROUS = frozenset(
    {
        "io",
        "raw_ops",
        "py_function",
        "numpy_function",
        "py_func",
        "print",
        "Print",
        "summary",
        "saved_model",
        "data",
        "lookup",
        "train",
        "gfile",
        "debugging",
        "load_library",
        "load_op_library",
        "keras",
        "read_file",
        "write_file",
        "matching_files",
        "TextLineReader",
        "TFRecordReader",
        "WholeFileReader",
        "FixedLengthRecordReader",
        "IdentityReader",
        "LMDBReader",
        "ReaderBase",
        "Session",
        "InteractiveSession",
    }
)

_BUILTIN_NAMES = frozenset(dir(builtins))


class _Collector:
    """One finding per (severity, kind, name), counting repeats."""

    __slots__ = ("found", "offset", "scope")

    def __init__(self, scope: Scope, offset: int | None) -> None:
        self.scope = scope
        self.offset = offset
        self.found: dict[tuple[Severity, str, str], list[Any]] = {}

    def add(self, severity: Severity, kind: str, name: str, detail: str) -> None:
        key = (severity, kind, name)
        if key in self.found:
            self.found[key][1] += 1
        else:
            self.found[key] = [detail, 1]

    def flush(self) -> None:
        for (severity, kind, name), (detail, count) in self.found.items():
            more = f" ({count} places)" if count > 1 else ""
            self.scope.add(severity, kind, _printable(name), _printable(detail + more), self.offset)
        self.found.clear()


def _printable(text: str) -> str:
    """Text from the file, safe to print: control and other non-printable characters escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _in_keras(module: str) -> bool:
    return any(module == pkg or module.startswith(pkg + ".") for pkg in _KERAS_PACKAGES)


def _layer_name(obj: dict[str, Any]) -> str:
    config = obj.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    if not isinstance(name, str):
        name = obj.get("name")
    return name if isinstance(name, str) and name else "<unnamed>"


def _code_size(code: Any) -> str:
    if isinstance(code, str):
        try:
            return f"{len(base64.b64decode(code.encode('ascii', 'replace')))} bytes of marshalled code"
        except (binascii.Error, ValueError):
            return "undecodable bytecode"
    return "bytecode"


def _lambda_payload(value: Any) -> Any:
    """The bytecode a function config carries, or None: Keras 3 ``__lambda__`` or Keras 2 ``[code, ...]``."""
    if isinstance(value, dict) and value.get("class_name") == "__lambda__":
        inner = value.get("config")
        if isinstance(inner, dict):
            code = inner.get("code", inner.get("value"))
            if isinstance(code, list) and code:
                code = code[0]
            return code if code is not None else ""
        return ""
    return None


def _check_lambda(obj: dict[str, Any], out: _Collector, consumed: set[int]) -> None:
    layer = _layer_name(obj)
    config = obj.get("config")
    config = config if isinstance(config, dict) else {}
    carried: list[str] = []
    named: list[str] = []
    for key in ("function", "output_shape", "mask"):
        value = config.get(key)
        payload = _lambda_payload(value)
        if payload is not None:
            consumed.add(id(value))
            carried.append(f"{key}: {_code_size(payload)}")
        elif config.get(f"{key}_type") == "lambda":
            code = value[0] if isinstance(value, list) and value else value
            carried.append(f"{key}: {_code_size(code)}")
        elif key == "function" and value is not None:
            module = config.get("module")
            if isinstance(value, dict):
                module = value.get("module", module)
                value = value.get("config", value.get("class_name"))
            target = f"{module}.{value}" if isinstance(module, str) else str(value)
            named.append(target if len(target) <= 200 else target[:197] + "...")
    if carried:
        out.add(
            Severity.CRITICAL,
            "lambda",
            layer,
            f"Lambda layer carries Python bytecode ({'; '.join(carried)}): loading the model runs it",
        )
    else:
        target = ", ".join(named) or "an unnamed function"
        out.add(
            Severity.CRITICAL,
            "lambda",
            layer,
            f"Lambda layer calls the Python function {target} on every inference",
        )


def _check_reference(obj: dict[str, Any], module: str, out: _Collector) -> None:
    """A ``{"module": ..., "class_name": ...}`` object: a class or function the loader imports."""
    class_name = obj.get("class_name")
    if class_name == "function":
        name = obj.get("config")
        if not isinstance(name, str):
            name = obj.get("registered_name")
    elif class_name == "__typespec__":
        name = obj.get("spec_name")
    else:
        name = class_name
    if not isinstance(name, str) or not name:
        return
    if _in_keras(module):
        if name in _KERAS_DANGEROUS:
            out.add(Severity.CRITICAL, "keras-api", f"{module}.{name}", f"{module}.{name} {_KERAS_DANGEROUS[name]}")
            return
        severity, shown = classify_import(module, name)
        if severity is Severity.CRITICAL:
            out.add(severity, "import", shown, f"the loader imports {shown}: a known-dangerous callable")
        return
    if module == "builtins" and class_name == "function" and name not in _BUILTIN_NAMES:
        return  # Keras resolves it among its own built-ins (activations, losses...)
    severity, shown = classify_import(module, name)
    if severity is None:
        return
    if severity is Severity.CRITICAL:
        out.add(severity, "import", shown, f"the loader imports {shown}: a known-dangerous callable")
    else:
        out.add(
            Severity.HIGH,
            "import",
            shown,
            f"custom object: the loader imports {shown}, code from outside Keras",
        )


def _check_tf_op(obj: dict[str, Any], out: _Collector) -> None:
    config = obj.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    if not isinstance(function, str) or not function:
        return
    parts = function.split(".")
    while parts[:1] == ["compat"] and len(parts) > 2:
        parts = parts[2:]  # compat.v1.io.read_file -> io.read_file
    full = f"tensorflow.{function}"
    if parts and parts[0] in _TF_DANGEROUS:
        out.add(
            Severity.CRITICAL,
            "import",
            full,
            f"{obj.get('class_name')} calls {full}, which reads or writes files, runs Python or loads code",
        )
    else:
        out.add(
            Severity.HIGH,
            "import",
            full,
            f"{obj.get('class_name')} calls {full}: a TensorFlow function looked up by name when loading",
        )


def scan_keras_config(config: Any, scope: Scope, *, offset: int | None = None) -> None:
    """Walk a parsed Keras config (any nesting of dicts and lists) and report what loading it runs."""
    out = _Collector(scope, offset)
    consumed: set[int] = set()
    stack: list[Any] = [config]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
            continue
        if not isinstance(value, dict):
            continue
        class_name = value.get("class_name")
        if isinstance(class_name, str):
            if class_name == "Lambda":
                _check_lambda(value, out, consumed)
            elif class_name == "__lambda__" and id(value) not in consumed:
                code = _lambda_payload(value)
                out.add(
                    Severity.CRITICAL,
                    "lambda",
                    "__lambda__",
                    f"a serialised Python lambda ({_code_size(code)}): loading the model runs it",
                )
            elif class_name in ("TFOpLambda", "SlicingOpLambda"):
                _check_tf_op(value, out)
            elif class_name in _KERAS_DANGEROUS and "module" not in value:
                out.add(Severity.CRITICAL, "keras-api", class_name, f"{class_name} {_KERAS_DANGEROUS[class_name]}")
            if class_name in _LOOKUP_LAYERS:
                inner = value.get("config")
                vocabulary = inner.get("vocabulary") if isinstance(inner, dict) else None
                if isinstance(vocabulary, str):
                    out.add(
                        Severity.CRITICAL,
                        "keras-api",
                        _layer_name(value),
                        f"{class_name} reads its vocabulary from the file {vocabulary!r} when built",
                    )
            module = value.get("module")
            if isinstance(module, str):
                _check_reference(value, module, out)
        stack.extend(reversed(list(value.values())))
    out.flush()


def _loads(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Unreadable(f"{what} is not valid JSON: {exc}") from None


def scan_keras_v3_zip_config(data: bytes, scope: Scope) -> None:
    """Scan the ``config.json`` of a Keras 3 ``.keras`` zip."""
    scan_keras_config(_loads(bytes(data), "Keras config.json"), scope)


class _ReadOnlyView(io.RawIOBase):
    """A seekable, read-only file over a buffer, so h5py reads an mmap without copying it."""

    def __init__(self, data: bytes | memoryview) -> None:
        super().__init__()
        view = memoryview(data)
        self._view = view if view.ndim == 1 and view.itemsize == 1 else view.cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        chunk = self._view[self._pos : self._pos + len(target)]
        target[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def _attribute_text(value: Any) -> str | None:
    """An HDF5 attribute as text: str, bytes, numpy bytes/str, or a one-element array of those."""
    if hasattr(value, "shape") and hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
        if isinstance(value, list):
            if len(value) != 1:
                return None
            value = value[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def scan_keras_h5(
    data: bytes | memoryview,
    scope: Scope,
    *,
    on_bytes: Callable[[str, bytes], None] | None = None,
    wanted: Callable[[bytes], bool] | None = None,
) -> None:
    """Scan a Keras 2 ``.h5`` model: its ``model_config`` and ``training_config`` root attributes.

    ``on_bytes(where, raw)`` is given every byte string the file stores that a loader could hand to
    ``pickle.loads`` or open as a file (pandas/PyTables keep pickled objects in HDF5): attributes of
    bytes, and one-dimensional datasets of bytes, void or variable-length items (the first
    :data:`_MAX_ITEMS` items) and of 8-bit integers (when ``wanted`` says their first bytes are worth
    it). Datasets of numbers wider than a byte are weights and are not read.
    """
    import h5py  # heavy: only when an HDF5 file is scanned

    blobs: list[tuple[str, bytes]] = []
    try:
        with h5py.File(_ReadOnlyView(data), "r") as f:
            attrs = {}
            for key in ("model_config", "training_config"):
                if key in f.attrs:
                    attrs[key] = f.attrs[key]
            if on_bytes is not None:
                _collect_bytes(f, blobs, wanted or (lambda head: True))
    except Exception as exc:  # h5py raises OSError, ValueError, KeyError... on a damaged file
        raise Unreadable(f"not a readable HDF5 file: {type(exc).__name__}: {exc}") from None
    for key, raw in attrs.items():
        text = _attribute_text(raw)
        if text is None:
            raise Unreadable(f"HDF5 attribute {key} is not a JSON string")
        scan_keras_config(_loads(text, f"HDF5 attribute {key}"), scope)
    if on_bytes is not None:
        for where, raw in blobs:
            on_bytes(where, raw)


_MAX_ITEMS = 1024
_MAX_DATASET = 1 << 26  # bytes of an 8-bit dataset read (a pickle that long is judged by its first 64 MiB)
_BLOB_MIN = 16


def _collect_bytes(f: Any, blobs: list[tuple[str, bytes]], wanted: Callable[[bytes], bool]) -> None:
    """The byte strings an HDF5 file holds in attributes and small-item datasets (see scan_keras_h5)."""
    import h5py
    import numpy as np

    def raw_of(value: Any) -> bytes | None:
        if isinstance(value, (bytes, np.bytes_)):
            return bytes(value)
        if isinstance(value, np.void):
            return value.tobytes()
        if isinstance(value, np.ndarray) and value.dtype.itemsize == 1 and value.dtype.kind in "uiSV":
            return value.tobytes()
        return None

    def attributes(where: str, obj: Any) -> None:
        for key in obj.attrs:
            try:
                value = obj.attrs[key]
            except (OSError, TypeError, ValueError):
                continue
            listed = isinstance(value, np.ndarray) and value.ndim > 0 and value.dtype.kind in "OSV"
            items = value.ravel().tolist() if listed else [value]
            for i, item in enumerate(items[:_MAX_ITEMS]):
                raw = raw_of(item)
                if raw is not None and len(raw) >= _BLOB_MIN:
                    blobs.append((f"{where}@{key}" + (f"[{i}]" if len(items) > 1 else ""), raw))

    def visit(name: str, obj: Any) -> None:
        attributes(name, obj)
        if not isinstance(obj, h5py.Dataset) or obj.ndim > 1:
            return
        kind, itemsize = obj.dtype.kind, obj.dtype.itemsize
        if kind in "ui" and itemsize == 1:
            if obj.ndim == 1 and obj.shape[0] >= _BLOB_MIN and wanted(np.asarray(obj[:300]).tobytes()):
                blobs.append((name, np.asarray(obj[:_MAX_DATASET]).tobytes()))
            return
        if kind in "OSV":
            value = obj[()] if obj.ndim == 0 else obj[:_MAX_ITEMS]
            items = [value] if obj.ndim == 0 else list(value)
            for i, item in enumerate(items):
                raw = raw_of(item)
                if raw is not None and len(raw) >= _BLOB_MIN:
                    blobs.append((f"{name}[{i}]", raw))

    attributes("/", f)
    f.visititems(visit)
