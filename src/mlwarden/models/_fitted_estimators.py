"""The fitted-structure checks of libsvm models and encoders (:mod:`mlwarden.models._fitted_check`): the
counts libsvm's C code copies and indexes by, and the category lists and counts encoders compute
sparse-matrix indices from."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.models._fitted_base import Refused, array_of, check_generic, int_of, n_features_of, need_finite

__all__ = ["check_label_encoder", "check_libsvm", "check_one_hot_encoder", "check_ordinal_encoder"]

# ------------------------------------------------------------------------------------------ libsvm

_LIBSVM_IMPL = {"SVC": "c_svc", "NuSVC": "nu_svc", "OneClassSVM": "one_class", "SVR": "epsilon_svr", "NuSVR": "nu_svr"}
_LIBSVM_KERNELS = ("linear", "poly", "rbf", "sigmoid", "precomputed")


def check_libsvm(obj: Any, path: str) -> None:
    """libsvm's ``set_model`` (C) copies ``nr_class = len(_n_support)`` counts, ``nr_class*(nr_class-1)/2``
    intercepts and probabilities, and ``nr_class-1`` rows of ``len(support_)`` dual coefficients, and its
    predict indexes the support vectors by the counts, all unchecked."""
    check_generic(obj, path)
    n = n_features_of(obj, path)
    if obj._sparse:
        raise Refused(path, "an SVM fitted on sparse data has no structure check, so it cannot be loaded safely")
    if obj._impl != _LIBSVM_IMPL[type(obj).__name__]:
        raise Refused(path, f"_impl = {obj._impl!r} is not the libsvm type of a {type(obj).__name__}")
    if not isinstance(obj.kernel, str) or obj.kernel not in _LIBSVM_KERNELS:
        raise Refused(path, f"kernel {obj.kernel!r} is not one of libsvm's kernels")
    support = array_of(obj.support_, path, "support_", 1)
    vectors = array_of(obj.support_vectors_, path, "support_vectors_", 2)
    counts = array_of(obj._n_support, path, "_n_support", 1)
    dual = array_of(obj._dual_coef_, path, "_dual_coef_", 2)
    intercept = array_of(obj._intercept_, path, "_intercept_", 1)
    for value, what, dtype in (
        (support, "support_", np.int32),
        (counts, "_n_support", np.int32),
        (vectors, "support_vectors_", np.float64),
        (dual, "_dual_coef_", np.float64),
        (intercept, "_intercept_", np.float64),
    ):
        if value.dtype != dtype or not value.flags.c_contiguous:
            raise Refused(path, f"{what} is {value.dtype}, not C-ordered {np.dtype(dtype)}")
        if dtype == np.float64:
            need_finite(value, path, what)
    n_sv = support.shape[0]
    n_class = counts.shape[0]
    pairs = n_class * (n_class - 1) // 2
    shape_fit = obj.shape_fit_
    if not isinstance(shape_fit, tuple) or len(shape_fit) != 2:
        raise Refused(path, "shape_fit_ is not the (samples, features) of the fit")
    n_fit = int_of(shape_fit[0], path, "shape_fit_[0]")
    if obj._impl in ("c_svc", "nu_svc"):
        classes = getattr(obj, "classes_", None)
        if n_class < 2 or classes is None or len(classes) != n_class:
            raise Refused(path, f"_n_support has {n_class} counts for {0 if classes is None else len(classes)} classes")
        if counts.min() < 0 or int(counts.sum()) != n_sv:
            raise Refused(path, f"_n_support {counts.tolist()} does not count the {n_sv} support vectors")
    elif n_class != 2:
        raise Refused(path, f"_n_support has {n_class} entries, not 2")
    if dual.shape != (n_class - 1, n_sv):
        raise Refused(path, f"_dual_coef_ has shape {dual.shape}, not ({n_class - 1}, {n_sv})")
    if intercept.shape != (pairs,):
        raise Refused(path, f"_intercept_ has {intercept.shape[0]} entries, not {pairs}")
    for attr in ("_probA", "_probB"):
        value = array_of(getattr(obj, attr), path, attr, 1)
        if value.dtype != np.float64 or value.shape[0] not in (0, pairs):
            raise Refused(path, f"{attr} has {value.shape[0]} entries, not 0 or {pairs}")
    if n_sv and (support.min() < 0 or support.max() >= n_fit):
        raise Refused(path, f"support_ names samples outside the {n_fit} of the fit")
    if obj.kernel != "precomputed" and vectors.shape != (n_sv, n):
        raise Refused(path, f"support_vectors_ has shape {vectors.shape}, not ({n_sv}, {n})")


# --------------------------------------------------------------------------------------- encoders


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _usable_categories(values: np.ndarray) -> bool:
    """Categories as ``_encode`` needs them: distinct, a missing value at most once and last; numbers also
    sorted (they are looked up with ``np.searchsorted``; objects through a dict)."""
    if values.dtype.hasobject:
        items = values.tolist()
        present = [v for v in items if not _is_missing(v)]
        if len(items) - len(present) > 1 or (len(present) < len(items) and not _is_missing(items[-1])):
            return False
        try:
            return len(set(present)) == len(present)
        except TypeError:
            return False
    if values.dtype.kind == "f":
        finite = values[~np.isnan(values)]
        if finite.size < values.size - 1 or (finite.size < values.size and not np.isnan(values[-1])):
            return False
        values = finite
    elif values.dtype.kind not in "iub":
        return values.dtype.kind in "US" and bool(np.all(values[:-1] < values[1:]))
    return bool(np.all(values[:-1] < values[1:]))


def _categories(obj: Any, path: str) -> list[np.ndarray]:
    n = n_features_of(obj, path)
    categories = obj.categories_
    if not isinstance(categories, list) or (n is not None and len(categories) != n):
        raise Refused(path, f"categories_ holds {len(categories)} lists for {n} features")
    for i, cats in enumerate(categories):
        cats = array_of(cats, path, f"categories_[{i}]", 1)
        if cats.size == 0 or not _usable_categories(cats):
            raise Refused(path, f"categories_[{i}] is not the sorted, distinct categories the encoder needs")
    return categories


def check_ordinal_encoder(obj: Any, path: str) -> None:
    check_generic(obj, path)
    _categories(obj, path)


def check_one_hot_encoder(obj: Any, path: str) -> None:
    """``transform`` builds a CSR matrix from indices offset by ``_n_features_outs``, unchecked; a wrong count
    is a write outside the matrix when it is made dense."""
    check_generic(obj, path)
    categories = _categories(obj, path)
    n = len(categories)
    counts = [len(c) for c in categories]
    infrequent = getattr(obj, "_infrequent_indices", [None] * n)
    if not isinstance(infrequent, list) or len(infrequent) != n:
        raise Refused(path, f"_infrequent_indices does not have {n} entries")
    grouped = list(counts)
    for i, idx in enumerate(infrequent):
        if idx is None:
            continue
        idx = array_of(idx, path, f"_infrequent_indices[{i}]", 1)
        if idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= counts[i]:
            raise Refused(path, f"_infrequent_indices[{i}] names categories outside the {counts[i]} of feature {i}")
        if np.unique(idx).size != idx.size:
            raise Refused(path, f"_infrequent_indices[{i}] repeats a category")
        grouped[i] = counts[i] - idx.size + 1
    if not getattr(obj, "_infrequent_enabled", False):
        grouped = list(counts)  # transform maps nothing: every category keeps its column
    mappings = getattr(obj, "_default_to_infrequent_mappings", [None] * n)
    if not isinstance(mappings, list) or len(mappings) != n:
        raise Refused(path, f"_default_to_infrequent_mappings does not have {n} entries")
    for i, mapping in enumerate(mappings):
        if mapping is None:
            if infrequent[i] is not None:
                raise Refused(path, f"feature {i} has infrequent categories but no mapping")
            continue
        mapping = array_of(mapping, path, f"_default_to_infrequent_mappings[{i}]", 1)
        if (
            mapping.shape != (counts[i],)
            or mapping.dtype.kind not in "iu"
            or mapping.min() < 0
            or mapping.max() >= grouped[i]
        ):
            raise Refused(
                path, f"_default_to_infrequent_mappings[{i}] maps outside the {grouped[i]} groups of feature {i}"
            )
    drops = [None] * n
    for attr in ("drop_idx_", "_drop_idx_after_grouping"):
        value = getattr(obj, attr, None)
        if value is None:
            continue
        value = array_of(value, path, attr, 1)
        if value.shape != (n,):
            raise Refused(path, f"{attr} has {value.shape[0]} entries for {n} features")
        limit = counts if attr == "drop_idx_" else grouped
        for i, idx in enumerate(value.tolist()):
            if idx is not None and (
                isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or not 0 <= idx < limit[i]
            ):
                raise Refused(path, f"{attr}[{i}] = {idx!r} is outside the {limit[i]} categories of feature {i}")
        if attr == "_drop_idx_after_grouping":
            drops = value.tolist()
    expected = [g - (d is not None) for g, d in zip(grouped, drops, strict=True)]
    outs = getattr(obj, "_n_features_outs", None)
    # A list, as sklearn keeps it: transform computes ``np.cumsum([0] + _n_features_outs)``, which an
    # array would turn into an element-wise sum (offsets one block too far).
    if not isinstance(outs, list) or not all(type(v) is int for v in outs) or outs != expected:
        raise Refused(path, f"_n_features_outs {getattr(obj, '_n_features_outs', None)} should be {expected}")
    if getattr(obj, "drop_idx_", None) is not None and getattr(obj, "_drop_idx_after_grouping", None) is None:
        raise Refused(path, "drop_idx_ is set without _drop_idx_after_grouping")


def check_label_encoder(obj: Any, path: str) -> None:
    classes = array_of(obj.classes_, path, "classes_", 1)
    if not _usable_categories(classes):
        raise Refused(path, "classes_ does not hold distinct classes")
