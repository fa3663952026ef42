"""Shared parts of the fitted-structure check (:mod:`mlwarden.models._fitted_check`): the refusal, value
helpers, the generic checks every kind gets (features, per-feature arrays, coefficients), and the
checks of compositions (pipelines, column transformers, meta-estimators)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Refused",
    "array_of",
    "check_column_transformer",
    "check_composite",
    "check_generic",
    "check_pipeline",
    "check_plain",
    "int_of",
    "n_features_of",
    "need_finite",
]


class Refused(Exception):
    """A structure error at ``path`` (turned into :class:`~mlwarden.errors.UnsafeModel` with the file's name)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")


# -------------------------------------------------------------------------------- generic checks


def int_of(value: Any, path: str, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise Refused(path, f"{what} = {value!r} is not an integer >= {low}")
    return int(value)


def array_of(value: Any, path: str, what: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if not isinstance(value, np.ndarray) or value.ndim not in dims:
        shape = getattr(value, "shape", type(value).__name__)
        raise Refused(path, f"{what} is {shape}, not a {' or '.join(map(str, dims))}-D array")
    return value


def need_finite(value: np.ndarray, path: str, what: str) -> None:
    if value.dtype.kind in "fc" and not np.isfinite(value).all():
        raise Refused(path, f"{what} holds values that are not finite")
    if value.dtype.kind not in "fciub":
        raise Refused(path, f"{what} is of dtype {value.dtype}, not numbers")


_PER_FEATURE = (
    "mean_",
    "var_",
    "scale_",
    "statistics_",
    "data_min_",
    "data_max_",
    "data_range_",
    "min_",
    "max_abs_",
    "center_",
    "variances_",
    "scores_",
    "pvalues_",
    "lambdas_",
    "n_bins_",
    "bin_edges_",
    "categories_",
    "feature_importances_",
)


def n_features_of(obj: Any, path: str) -> int | None:
    """The checked ``n_features_in_`` (None when the object has none), and ``feature_names_in_`` against it."""
    if not hasattr(obj, "n_features_in_"):
        return None
    n = int_of(obj.n_features_in_, path, "n_features_in_")
    names = getattr(obj, "feature_names_in_", None)
    if names is not None and (not isinstance(names, np.ndarray) or names.shape != (n,)):
        raise Refused(path, f"feature_names_in_ has {getattr(names, 'shape', '?')} names for {n} features")
    return n


def check_generic(obj: Any, path: str) -> None:
    """Shape sanity for every kind: features, per-feature attributes, coefficients."""
    n = n_features_of(obj, path)
    state = getattr(obj, "__dict__", {})
    if n is not None:
        for attr in _PER_FEATURE:
            value = state.get(attr)
            if isinstance(value, (list, tuple)):
                length = len(value)
            elif isinstance(value, np.ndarray) and value.ndim >= 1:
                length = value.shape[-1]  # the last axis: GaussianNB's var_ is (classes, features)
            else:
                continue
            if length != n:
                raise Refused(path, f"{attr} has {length} entries for {n} features")
    if "coef_" in state and state["coef_"] is not None:
        _check_coef(obj, path, n)


def _check_coef(obj: Any, path: str, n: int | None) -> None:
    coef = array_of(obj.coef_, path, "coef_", (1, 2))
    need_finite(coef, path, "coef_")
    if n is not None and coef.shape[-1] != n:
        raise Refused(path, f"coef_ has shape {coef.shape} for {n} features")
    from sklearn.base import is_classifier

    classes = getattr(obj, "classes_", None)
    if coef.ndim == 2 and isinstance(classes, np.ndarray) and classes.ndim == 1 and is_classifier(obj):
        # One row per class; one for two classes (two for a two-label multilabel classifier).
        rows = (1, 2) if classes.shape[0] == 2 else (classes.shape[0],)
        if coef.shape[0] not in rows:
            raise Refused(path, f"coef_ has {coef.shape[0]} rows for {classes.shape[0]} classes")
    intercept = getattr(obj, "intercept_", None)
    if intercept is None or isinstance(intercept, (int, float, np.generic)):
        return
    intercept = array_of(intercept, path, "intercept_", (0, 1))
    need_finite(intercept, path, "intercept_")
    if intercept.ndim == 1 and coef.ndim == 2 and intercept.shape[0] != coef.shape[0]:
        raise Refused(path, f"intercept_ has {intercept.shape[0]} entries for {coef.shape[0]} rows of coef_")


def check_plain(obj: Any, path: str) -> None:
    """Objects with parameters only (losses, links, intervals): nothing fitted to check."""


# ------------------------------------------------------------------------------- compositions


def check_column_transformer(obj: Any, path: str) -> None:
    """Column specs in range of the input; output slices in range of the output (all NumPy indexing)."""
    check_generic(obj, path)
    n = n_features_of(obj, path)
    given = getattr(obj, "feature_names_in_", None)
    names = [] if given is None else list(given)
    specs = obj.transformers_
    if not isinstance(specs, list):
        raise Refused(path, "transformers_ is not a list")
    for i, spec in enumerate(specs):
        if not isinstance(spec, tuple) or len(spec) != 3:
            raise Refused(path, f"transformers_[{i}] is not (name, transformer, columns)")
        name, _, cols = spec
        _check_columns(cols, f"{path}.transformers_[{i}] ({name!r})", n, names)
    for key, where in getattr(obj, "output_indices_", {}).items():
        if not isinstance(where, slice) or where.start is None or where.stop is None or where.start > where.stop:
            raise Refused(path, f"output_indices_[{key!r}] is not a slice")


def _check_columns(cols: Any, path: str, n: int | None, names: list[Any]) -> None:
    if callable(cols) or n is None:
        return
    if isinstance(cols, slice):
        return
    values = np.asarray(cols if isinstance(cols, (list, tuple, np.ndarray)) else [cols])
    if values.dtype == bool:
        if values.shape != (n,):
            raise Refused(path, f"the column mask has {values.shape} entries for {n} features")
    elif values.dtype.kind in "iu":
        if values.size and (values.min() < -n or values.max() >= n):
            raise Refused(path, f"names columns outside the {n} features")
    elif values.size and names and not set(values.tolist()) <= set(names):
        raise Refused(path, "names columns the input does not have")


def check_pipeline(obj: Any, path: str) -> None:
    steps = obj.steps
    if not isinstance(steps, list) or not all(isinstance(s, tuple) and len(s) == 2 for s in steps):
        raise Refused(path, "steps is not a list of (name, estimator)")


def check_composite(obj: Any, path: str) -> None:
    """Meta-estimators that call their parts through Python (the walk checks each part)."""
    check_generic(obj, path)
