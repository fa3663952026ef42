"""What a predictor is, the input schema it reads, and the fallback that calls the pipeline itself.

:class:`Prediction` and :class:`Predictor` are the contract between the server and its
predictors (see :mod:`mlwarden.serve._compiled` for the batch format). The fallback,
:class:`PipelinePredictor`, rebuilds a DataFrame with the objects and dtypes scikit-learn saw at
fit time and calls the pipeline: correct for any classifier pipeline, only slower. The compiled
path is checked against it before it is used.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mlwarden.errors import BadInput

__all__ = [
    "Column",
    "FloatArray",
    "PipelinePredictor",
    "Prediction",
    "Predictor",
    "batch_length",
    "is_name_list",
    "is_null",
    "parse_schema",
    "plain",
]

FloatArray = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What a predictor returns for a batch of ``n`` rows.

    ``labels`` are plain Python values (what ``pipeline.predict`` returns), ``proba`` is ``(n, k)``
    float64 with columns in the order of the predictor's ``classes``, and ``features`` is the
    ``(n, d)`` preprocessed matrix (scaled numerics, then the one-hot blocks) or ``None`` where
    the fallback path did not compute it.
    """

    labels: list[object]
    proba: FloatArray
    features: FloatArray | None


class Predictor(Protocol):
    """Predicts labels and probabilities for column-wise batches (see the module docstring)."""

    classes: tuple[object, ...]
    compiled: bool
    why_not_compiled: str | None

    def predict(self, batch: Mapping[str, npt.NDArray[Any]]) -> Prediction: ...


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    categorical: bool
    dtype: np.dtype[Any] | None = None
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] = ()


def parse_schema(schema: Mapping[str, Any]) -> tuple[Column, ...]:
    entries = schema.get("columns") if isinstance(schema, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise BadInput("the input schema has no columns")
    columns = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            raise BadInput("an input schema column has no name")
        kind = entry.get("type")
        if kind == "categorical":
            categories = entry.get("categories", [])
            if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
                raise BadInput(f"the categories of column {name!r} are not a list of strings")
            columns.append(Column(name, True, categories=tuple(categories)))
        elif kind == "numeric":
            dtype = _numpy_dtype(entry.get("dtype", "float64"))
            columns.append(Column(name, False, dtype, _finite(entry.get("min")), _finite(entry.get("max"))))
        else:
            raise BadInput(f"column {name!r} has type {kind!r}; expected 'numeric' or 'categorical'")
    if len({c.name for c in columns}) != len(columns):
        raise BadInput("the input schema names a column twice")
    return tuple(columns)


def _numpy_dtype(text: Any) -> np.dtype[Any] | None:
    """The numpy dtype a schema names; pandas' nullable "Int64" or "Float32" as their numpy kin; else None."""
    for candidate in (text, str(text).lower()):
        try:
            return np.dtype(candidate)
        except TypeError:
            continue
    return None


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def batch_length(batch: Mapping[str, npt.NDArray[Any]], names: Sequence[str]) -> int:
    """The common length of the batch's columns; every schema column must be there."""
    n = -1
    for name in names:
        try:
            length = len(batch[name])
        except KeyError:
            raise BadInput(f"the batch has no column {name!r}") from None
        except TypeError:
            raise BadInput(f"column {name!r} of the batch is not an array") from None
        if n < 0:
            n = length
        elif length != n:
            raise BadInput("the columns of the batch differ in length")
    if n < 1:
        raise BadInput("the batch has no rows")
    return n


def plain(value: Any) -> object:
    """A plain Python value for a label (numpy scalars become Python ones)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class PipelinePredictor:
    """Calls the pipeline on a DataFrame rebuilt from the batch. Correct for any pipeline; slow."""

    compiled = False

    def __init__(self, pipeline: Any, columns: tuple[Column, ...], why_not_compiled: str | None = None) -> None:
        if not (hasattr(pipeline, "predict_proba") and hasattr(pipeline, "predict")):
            raise BadInput("the model has no predict_proba: only classifiers can be served")
        try:
            classes = pipeline.classes_
        except AttributeError:
            raise BadInput("the model has no classes_: it is not a fitted classifier") from None
        self._pipeline = pipeline
        self._columns = columns
        self._names = tuple(c.name for c in columns)
        self._order = _input_order(pipeline, self._names)
        steps = getattr(pipeline, "steps", None)
        self._preprocess = pipeline[:-1] if steps and len(steps) >= 2 else None
        self.originals = _original_categories(pipeline)
        self.classes: tuple[object, ...] = tuple(plain(c) for c in classes)
        self.why_not_compiled = why_not_compiled

    def because(self, reason: str) -> PipelinePredictor:
        """This predictor with ``reason`` as the answer to why it is not the compiled one."""
        return PipelinePredictor(self._pipeline, self._columns, reason)

    def frame(self, batch: Mapping[str, npt.NDArray[Any]]) -> Any:
        """The batch as a DataFrame with the training objects: categorical columns are object columns of
        the original values (``"True"`` becomes ``True`` where the column was bool), null is NaN as in a
        CSV; numeric columns are float64 (what the imputer converts integers to anyway)."""
        import pandas

        batch_length(batch, self._names)
        by_name = {c.name: c for c in self._columns}
        data: dict[str, Any] = {}
        for name in self._order:
            column = by_name[name]
            if column.categorical:
                originals = self.originals.get(name, {})
                values = [math.nan if is_null(v) else originals.get(v, v) for v in batch[name]]
                data[name] = pandas.Series(values, dtype=object)
            else:
                numbers = np.asarray(batch[name], dtype=np.float64)
                if np.isinf(numbers).any():
                    raise BadInput(f"numeric column {name!r} holds an infinite value")
                dtype = column.dtype if column.dtype is not None and column.dtype.kind == "f" else np.float64
                data[name] = pandas.Series(numbers, dtype=dtype)
        return pandas.DataFrame(data, columns=list(self._order))

    def predict(self, batch: Mapping[str, npt.NDArray[Any]]) -> Prediction:
        frame = self.frame(batch)
        if self._preprocess is None:
            proba = np.asarray(self._pipeline.predict_proba(frame), dtype=np.float64)
            return Prediction([plain(v) for v in self._pipeline.predict(frame)], proba, None)
        # What Pipeline.predict_proba and Pipeline.predict do, with the preprocessing done once and kept.
        matrix = self._preprocess.transform(frame)
        final = self._pipeline.steps[-1][1]
        proba = np.asarray(final.predict_proba(matrix), dtype=np.float64)
        labels = [plain(v) for v in final.predict(matrix)]
        return Prediction(labels, proba, _dense(matrix))


def _dense(matrix: Any) -> FloatArray | None:
    """The preprocessed matrix as a float64 array, or None where it is not numbers (a DataFrame of strings...)."""
    try:
        dense = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return dense if dense.ndim == 2 else None


def _input_order(pipeline: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """The columns in the order the pipeline was fitted on (scikit-learn checks it), else the schema's."""
    fitted = getattr(pipeline, "feature_names_in_", None)
    if fitted is None:
        return names
    order = tuple(str(n) for n in fitted)
    missing = sorted(set(order) - set(names))
    if missing:
        raise BadInput(f"the model needs columns the input schema does not have: {', '.join(missing[:5])}")
    return order


def _original_categories(pipeline: Any) -> dict[str, dict[str, object]]:
    """For each column an encoder of the pipeline saw, ``str(value) -> value`` for the values it was fitted on.

    Looks at the first step's ColumnTransformer, if any, for a transformer (or a step of one) with
    ``categories_`` covering its columns. A column found nowhere gets its strings as they are.
    """
    steps = getattr(pipeline, "steps", None)
    first = steps[0][1] if steps else pipeline
    found: dict[str, dict[str, object]] = {}
    for entry in getattr(first, "transformers_", ()):
        transformer, selected = entry[1], entry[2]
        if not is_name_list(selected):
            continue
        for step in [s for _, s in getattr(transformer, "steps", [])] or [transformer]:
            categories = getattr(step, "categories_", None)
            if categories is not None and len(categories) == len(selected):
                for name, values in zip(selected, categories, strict=True):
                    found[str(name)] = {str(v): v for v in values if not is_null(v)}
                break
    return found


def is_name_list(selected: Any) -> bool:
    return isinstance(selected, (list, tuple, np.ndarray)) and all(isinstance(s, str) for s in selected)
