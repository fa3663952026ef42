"""The fitted-structure check: the last step of the one load, between skops and any prediction.

skops rebuilds only allow-listed types, but it rebuilds them with whatever *state* the file holds,
and scikit-learn's compiled code trusts that state: a decision tree walks ``children_left`` and
``feature`` without bounds checks, gradient boosting writes predictions into a buffer sized by
another attribute, a one-hot encoder builds a sparse matrix from indices computed from
``_n_features_outs``. One child index of 50,000,000 in a signed, clean-scanning file is a SIGSEGV
(or worse, a read or write at an address the file chose) on the first ``predict``.

:func:`check_fitted` walks the whole object the load rebuilt (pipelines, column transformers,
ensembles' ``estimators_``, nested estimators, lists, dicts, object arrays) and checks each
scikit-learn object by its kind:

- **checked kinds** (:data:`_KINDS`): the invariants scikit-learn's own fitting guarantees and its
  compiled predict paths rely on (tree node arrays, histogram-gradient-boosting predictor nodes
  and bitsets, gradient boosting's ``estimators_`` grid against its init and loss, libsvm's
  support-vector counts, dual coefficients and intercepts, one-hot encoder category counts,
  coefficient and per-feature shapes, column specs);
- **pure-NumPy kinds**: estimators whose predict and transform run NumPy and SciPy code that
  checks shapes itself (a bad shape raises a Python exception, never touches memory); they get
  the generic shape checks (``n_features_in_``, ``feature_names_in_``, per-feature arrays,
  ``coef_``/``intercept_``) only;
- **every other kind is refused**: a type the allow-list admits but whose fitted state reaches
  unchecked compiled code (KD and ball trees, k-means centres, isotonic interpolators...) and
  that this module has no check for. Fail closed: a new kind is refused until someone writes
  and tests its check.

Scipy sparse matrices anywhere in the graph get SciPy's full format check (their ``indices`` and
``indptr`` reach C++ code unchecked otherwise). Every failure is an
:class:`~mlwarden.errors.UnsafeModel` naming the object's path, e.g.
``model.estimators_[3].tree_: children_left[7] = 50000000 is outside the 15 nodes``.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import functools
import types
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from mlwarden.errors import UnsafeModel

__all__ = ["check_fitted", "checked_kinds", "is_checked"]

_MAX_DEPTH = 200


class _Refused(Exception):
    """A structure error at ``path`` (turned into :class:`UnsafeModel` with the file's name)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")


def check_fitted(model: Any, name: str) -> None:
    """:class:`UnsafeModel` unless every object in ``model`` has a structure scikit-learn can use safely."""
    try:
        _Walk().visit(model, "model", 0)
    except _Refused as exc:
        raise UnsafeModel(f"{name}: {exc}; it was not loaded") from None
    except RecursionError:
        raise UnsafeModel(f"{name}: the model is nested too deeply to check; it was not loaded") from None


def is_checked(qualname: str) -> bool:
    """Whether the load accepts scikit-learn objects of the type ``module.qualname`` (after checking them)."""
    return qualname in _KINDS


def checked_kinds() -> frozenset[str]:
    """The scikit-learn types the load accepts, each with its structure check."""
    return frozenset(_KINDS)


# ------------------------------------------------------------------------------------------- the walk

_VALUE_TYPES: tuple[type, ...] = (
    str,
    bytes,
    bytearray,
    bool,
    int,
    float,
    complex,
    type(None),
    range,
    slice,
    type(Ellipsis),
    np.generic,
    np.dtype,
    np.random.RandomState,
    np.random.Generator,
    np.random.BitGenerator,
    np.random.SeedSequence,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,
    decimal.Decimal,
    fractions.Fraction,
    uuid.UUID,
    # References to allow-listed callables and classes (skops vetted the names); they hold no fitted state.
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    np.ufunc,
)


_NUMPY_FUNCTION = type(np.mean)
_Check = Callable[[Any, str], "list[Any] | None"]
# Parts that only make sense inside their owner, which checks them against its own state (a tree
# against its estimator's features, a predictor against its model's bin mapper): anywhere else, refused.
_OWNED = frozenset({"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})


class _Walk:
    """One walk over a model's object graph, parents before their parts."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.vouched: set[int] = set()

    def visit(self, obj: Any, path: str, depth: int) -> None:
        if isinstance(obj, (*_VALUE_TYPES, _NUMPY_FUNCTION)) or id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        if depth > _MAX_DEPTH:
            raise _Refused(path, f"nested more than {_MAX_DEPTH} levels deep")
        if isinstance(obj, np.ndarray):  # masked arrays too
            if obj.dtype.hasobject:
                if obj.ndim == 1:
                    for i, item in enumerate(obj):
                        self.visit(item, f"{path}[{i}]", depth + 1)
                else:
                    for index in np.ndindex(obj.shape):
                        self.visit(obj[index], f"{path}[{', '.join(map(str, index))}]", depth + 1)
            return
        if isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
            for i, item in enumerate(obj):
                self.visit(item, f"{path}[{i}]", depth + 1)
            return
        if isinstance(obj, dict):
            for key, value in obj.items():
                self.visit(key, f"{path} (a key)", depth + 1)
                self.visit(value, f"{path}[{key!r}]", depth + 1)
            return
        if isinstance(obj, functools.partial):
            self.visit((obj.func, obj.args, obj.keywords), f"{path} (partial)", depth + 1)
            return
        cls = type(obj)
        qualname = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__module__.startswith("scipy.sparse"):
            _check_sparse(obj, path)
            return
        check = _KINDS.get(qualname)
        if check is None:
            raise _Refused(path, f"no structure check exists for {qualname}, so it cannot be loaded safely")
        if qualname in _OWNED and id(obj) not in self.vouched:
            raise _Refused(path, f"a {cls.__name__} outside the estimator that uses it cannot be checked")
        if qualname in _OWNED or _has_fitted_state(obj):
            for part in check(obj, path) or ():
                self.vouched.add(id(part))
        for key, value in getattr(obj, "__dict__", {}).items():
            self.visit(value, f"{path}.{key}", depth + 1)


def _has_fitted_state(obj: Any) -> bool:
    """scikit-learn's own test (``check_is_fitted``): an object without attributes ending in ``_`` is not
    fitted, and refuses to predict; an unfitted estimator's parameters are still walked."""
    if hasattr(type(obj), "__sklearn_is_fitted__"):
        return True  # Pipeline, FunctionTransformer, FrozenEstimator: checked whatever they hold
    return any(k.endswith("_") and not k.startswith("__") for k in getattr(obj, "__dict__", {}))


def _check_sparse(matrix: Any, path: str) -> None:
    fmt = getattr(matrix, "format", None)
    if fmt not in ("csr", "csc", "coo"):
        raise _Refused(path, f"a sparse matrix in {fmt} format has no structure check")
    try:
        if fmt == "coo":
            matrix.tocsr().check_format(full_check=True)
        else:
            matrix.check_format(full_check=True)
    except (ValueError, TypeError, IndexError) as exc:
        raise _Refused(path, f"the sparse matrix is malformed ({exc})") from None


# -------------------------------------------------------------------------------- generic checks


def _int(value: Any, path: str, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise _Refused(path, f"{what} = {value!r} is not an integer >= {low}")
    return int(value)


def _array(value: Any, path: str, what: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if not isinstance(value, np.ndarray) or value.ndim not in dims:
        shape = getattr(value, "shape", type(value).__name__)
        raise _Refused(path, f"{what} is {shape}, not a {' or '.join(map(str, dims))}-D array")
    return value


def _finite(value: np.ndarray, path: str, what: str) -> None:
    if value.dtype.kind in "fc" and not np.isfinite(value).all():
        raise _Refused(path, f"{what} holds values that are not finite")
    if value.dtype.kind not in "fciub":
        raise _Refused(path, f"{what} is of dtype {value.dtype}, not numbers")


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


def _n_features(obj: Any, path: str) -> int | None:
    """The checked ``n_features_in_`` (None when the object has none), and ``feature_names_in_`` against it."""
    if not hasattr(obj, "n_features_in_"):
        return None
    n = _int(obj.n_features_in_, path, "n_features_in_")
    names = getattr(obj, "feature_names_in_", None)
    if names is not None and (not isinstance(names, np.ndarray) or names.shape != (n,)):
        raise _Refused(path, f"feature_names_in_ has {getattr(names, 'shape', '?')} names for {n} features")
    return n


def _generic(obj: Any, path: str) -> None:
    """Shape sanity for every kind: features, per-feature attributes, coefficients."""
    n = _n_features(obj, path)
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
                raise _Refused(path, f"{attr} has {length} entries for {n} features")
    if "coef_" in state and state["coef_"] is not None:
        _check_coef(obj, path, n)


def _check_coef(obj: Any, path: str, n: int | None) -> None:
    coef = _array(obj.coef_, path, "coef_", (1, 2))
    _finite(coef, path, "coef_")
    if n is not None and coef.shape[-1] != n:
        raise _Refused(path, f"coef_ has shape {coef.shape} for {n} features")
    from sklearn.base import is_classifier

    classes = getattr(obj, "classes_", None)
    if coef.ndim == 2 and isinstance(classes, np.ndarray) and classes.ndim == 1 and is_classifier(obj):
        # One row per class; one for two classes (two for a two-label multilabel classifier).
        rows = (1, 2) if classes.shape[0] == 2 else (classes.shape[0],)
        if coef.shape[0] not in rows:
            raise _Refused(path, f"coef_ has {coef.shape[0]} rows for {classes.shape[0]} classes")
    intercept = getattr(obj, "intercept_", None)
    if intercept is None or isinstance(intercept, (int, float, np.generic)):
        return
    intercept = _array(intercept, path, "intercept_", (0, 1))
    _finite(intercept, path, "intercept_")
    if intercept.ndim == 1 and coef.ndim == 2 and intercept.shape[0] != coef.shape[0]:
        raise _Refused(path, f"intercept_ has {intercept.shape[0]} entries for {coef.shape[0]} rows of coef_")


def _plain(obj: Any, path: str) -> None:
    """Objects with parameters only (losses, links, intervals): nothing fitted to check."""


# ---------------------------------------------------------------------------------- decision trees

_TREE = "sklearn.tree._tree.Tree"
_TREE_LEAF = -1
_TREE_UNDEFINED = -2


def _check_tree(tree: Any, path: str, n_features: int, n_outputs: int) -> None:
    """A ``sklearn.tree._tree.Tree``: the invariants its Cython ``apply`` walks without checking."""
    if f"{type(tree).__module__}.{type(tree).__qualname__}" != _TREE:
        raise _Refused(path, f"is a {type(tree).__name__}, not a scikit-learn Tree")
    count = _int(tree.node_count, path, "node_count", 1)
    if count > tree.capacity:
        raise _Refused(path, f"node_count {count} is more than the {tree.capacity} nodes stored")
    if tree.n_features != n_features:
        raise _Refused(path, f"the tree reads {tree.n_features} features, its estimator takes {n_features}")
    if tree.n_outputs != n_outputs:
        raise _Refused(path, f"the tree has {tree.n_outputs} outputs, its estimator {n_outputs}")
    n_classes = np.asarray(tree.n_classes)
    if n_classes.shape != (n_outputs,) or n_classes.min() < 1 or tree.max_n_classes != n_classes.max():
        raise _Refused(path, f"n_classes {n_classes.tolist()} does not match max_n_classes {tree.max_n_classes}")
    value = tree.value
    if value.shape != (count, n_outputs, tree.max_n_classes):
        raise _Refused(path, f"value has shape {value.shape} for {count} nodes")
    _finite(value, path, "value")
    left, right = tree.children_left, tree.children_right
    _check_nodes(path, count, left, right, left == _TREE_LEAF, right == _TREE_LEAF, ("children_left", "children_right"))
    internal = np.flatnonzero(left != _TREE_LEAF)
    feature, threshold = tree.feature, tree.threshold
    bad = internal[(feature[internal] < 0) | (feature[internal] >= n_features)]
    if bad.size:
        i = int(bad[0])
        raise _Refused(path, f"feature[{i}] = {int(feature[i])} is outside the {n_features} features")
    leaves = np.flatnonzero(left == _TREE_LEAF)
    bad = leaves[feature[leaves] != _TREE_UNDEFINED]
    if bad.size:
        i = int(bad[0])
        raise _Refused(path, f"leaf {i} has feature {int(feature[i])}, not {_TREE_UNDEFINED}")
    bad = internal[np.isnan(threshold[internal])]
    if bad.size:
        raise _Refused(path, f"threshold[{int(bad[0])}] is NaN")
    if tree.missing_go_to_left.shape != (count,):
        raise _Refused(path, f"missing_go_to_left has shape {tree.missing_go_to_left.shape} for {count} nodes")


def _check_nodes(
    path: str,
    count: int,
    left: np.ndarray,
    right: np.ndarray,
    left_leaf: np.ndarray,
    right_leaf: np.ndarray,
    names: tuple[str, str],
) -> None:
    """Node arrays of a binary tree stored as scikit-learn writes them: node 0 is the root, a node is a
    leaf with no children or has two, every child comes after its parent, and every node but the root is
    the child of exactly one node (so the walk from the root ends, and reaches each node once)."""
    one_child = np.flatnonzero(left_leaf != right_leaf)
    if one_child.size:
        raise _Refused(path, f"node {int(one_child[0])} has one child (a node has two or none)")
    internal = np.flatnonzero(~left_leaf)
    for children, name in ((left, names[0]), (right, names[1])):
        kids = children[internal].astype(np.int64)
        outside = internal[(kids < 0) | (kids >= count)]
        if outside.size:
            i = int(outside[0])
            raise _Refused(path, f"{name}[{i}] = {int(children[i])} is outside the {count} nodes")
        backwards = internal[kids <= internal]
        if backwards.size:
            i = int(backwards[0])
            raise _Refused(
                path, f"{name}[{i}] = {int(children[i])} points back (a cycle): a child comes after its node"
            )
    reached = np.bincount(np.concatenate([left[internal], right[internal]]).astype(np.int64), minlength=count)
    reached[0] += 1
    wrong = np.flatnonzero(reached != 1)
    if wrong.size:
        i = int(wrong[0])
        raise _Refused(path, f"node {i} is reached {int(reached[i])} times from the root, not once")


def _tree_estimator(obj: Any, path: str) -> list[Any]:
    _generic(obj, path)
    n = _n_features(obj, path)
    if n is None:
        raise _Refused(path, "a fitted tree has no n_features_in_")
    outputs = _int(obj.n_outputs_, path, "n_outputs_", 1)
    _check_tree(obj.tree_, f"{path}.tree_", n, outputs)
    n_classes = getattr(obj, "n_classes_", None)
    if n_classes is not None:
        expected = np.atleast_1d(np.asarray(n_classes))
        if not np.array_equal(expected, np.asarray(obj.tree_.n_classes)):
            raise _Refused(path, f"n_classes_ {expected.tolist()} differs from the tree's")
    return [obj.tree_]


def _estimators(obj: Any, path: str, attr: str = "estimators_") -> list[Any]:
    value = getattr(obj, attr, None)
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        return list(value.ravel())
    if not isinstance(value, list):
        raise _Refused(path, f"{attr} is a {type(value).__name__}, not a list of estimators")
    return value


def _same_features(obj: Any, path: str, estimators: list[Any], n: int | None) -> None:
    for i, est in enumerate(estimators):
        if not hasattr(est, "fit"):
            raise _Refused(f"{path}.estimators_[{i}]", f"is a {type(est).__name__}, not an estimator")
        if n is not None and getattr(est, "n_features_in_", n) != n:
            raise _Refused(f"{path}.estimators_[{i}]", f"takes {est.n_features_in_} features, its ensemble {n}")


def _forest(obj: Any, path: str) -> None:
    _generic(obj, path)
    n = _n_features(obj, path)
    estimators = _estimators(obj, path)
    if not estimators:
        raise _Refused(path, "estimators_ is empty")
    _same_features(obj, path, estimators, n)
    outputs = getattr(obj, "n_outputs_", None)
    for i, est in enumerate(estimators):
        if outputs is not None and getattr(est, "n_outputs_", outputs) != outputs:
            raise _Refused(f"{path}.estimators_[{i}]", f"has {est.n_outputs_} outputs, its ensemble {outputs}")


def _subspace_ensemble(obj: Any, path: str) -> None:
    """Bagging and isolation forests: each estimator sees the columns ``estimators_features_`` names."""
    _generic(obj, path)
    n = _n_features(obj, path)
    estimators = _estimators(obj, path)
    features = getattr(obj, "estimators_features_", None)
    if not isinstance(features, list) or len(features) != len(estimators):
        raise _Refused(path, "estimators_features_ does not list the features of each estimator")
    for i, (est, cols) in enumerate(zip(estimators, features, strict=True)):
        cols = _array(cols, path, f"estimators_features_[{i}]", 1)
        if cols.dtype.kind not in "iu" or (n is not None and cols.size and (cols.min() < 0 or cols.max() >= n)):
            raise _Refused(path, f"estimators_features_[{i}] names columns outside the {n} features")
        if getattr(est, "n_features_in_", cols.size) != cols.size:
            raise _Refused(f"{path}.estimators_[{i}]", f"takes {est.n_features_in_} features, given {cols.size}")


def _gradient_boosting(obj: Any, path: str) -> None:
    """``predict_stages`` (Cython) adds each row of the ``estimators_`` grid into a buffer as wide as the
    init estimator's raw prediction, without checking either."""
    _generic(obj, path)
    n = _n_features(obj, path)
    grid = _array(obj.estimators_, path, "estimators_", 2)
    if not grid.dtype.hasobject or grid.size == 0:
        raise _Refused(path, "estimators_ is not a grid of trees")
    width = _int(obj.n_trees_per_iteration_, path, "n_trees_per_iteration_", 1)
    classes = getattr(obj, "classes_", None)
    if classes is not None:
        n_classes = _int(obj.n_classes_, path, "n_classes_", 2)
        if len(classes) != n_classes:
            raise _Refused(path, f"classes_ has {len(classes)} classes, n_classes_ says {n_classes}")
        expected = 1 if n_classes == 2 else n_classes
        multiclass = bool(getattr(obj._loss, "is_multiclass", False))
        if width != expected or multiclass != (n_classes > 2):
            raise _Refused(path, f"{width} trees per iteration and its loss do not fit {n_classes} classes")
        if getattr(obj._loss, "n_classes", n_classes) != n_classes:
            raise _Refused(path, f"the loss is for {obj._loss.n_classes} classes, the model has {n_classes}")
        init = obj.init_
        if not isinstance(init, str) and len(getattr(init, "classes_", ())) != n_classes:
            raise _Refused(f"{path}.init_", f"does not predict the model's {n_classes} classes")
    elif width != 1:
        raise _Refused(path, f"a regressor has {width} trees per iteration, not 1")
    if isinstance(obj.init_, str) and obj.init_ != "zero":
        raise _Refused(path, f"init_ = {obj.init_!r} is neither an estimator nor 'zero'")
    if grid.shape[1] != width:
        raise _Refused(path, f"estimators_ has {grid.shape[1]} columns for {width} trees per iteration")
    for index in np.ndindex(grid.shape):
        est: Any = grid[index]
        where = f"{path}.estimators_[{index[0]}, {index[1]}]"
        if type(est).__qualname__ != "DecisionTreeRegressor" or not type(est).__module__.startswith("sklearn.tree"):
            raise _Refused(where, f"is a {type(est).__name__}, not a DecisionTreeRegressor")
        if est.n_features_in_ != n:
            raise _Refused(where, f"takes {est.n_features_in_} features, its ensemble {n}")
        if est.tree_.n_outputs != 1 or est.tree_.max_n_classes != 1:
            raise _Refused(where, "a boosting stage has one output")


# ------------------------------------------------------------------------ histogram gradient boosting

_ORDINAL = "sklearn.preprocessing._encoders.OrdinalEncoder"


def _hist_gradient_boosting(obj: Any, path: str) -> list[Any]:
    _generic(obj, path)
    n = _n_features(obj, path)
    if getattr(obj, "_in_fit", False):
        raise _Refused(path, "_in_fit is set (a fitted model predicts from raw data)")
    width = _int(obj.n_trees_per_iteration_, path, "n_trees_per_iteration_", 1)
    classes = getattr(obj, "classes_", None)
    if classes is not None:
        expected = 1 if len(classes) <= 2 else len(classes)
        if width != expected or bool(getattr(obj._loss, "is_multiclass", False)) != (len(classes) > 2):
            raise _Refused(path, f"{width} trees per iteration and its loss do not fit {len(classes)} classes")
    elif width != 1:
        raise _Refused(path, f"a regressor has {width} trees per iteration, not 1")
    baseline = np.asarray(obj._baseline_prediction)
    if baseline.shape not in ((1, width), (width,), ()):
        raise _Refused(path, f"_baseline_prediction has shape {baseline.shape} for {width} trees per iteration")
    mapper = obj._bin_mapper
    if type(mapper).__name__ != "_BinMapper":
        raise _Refused(f"{path}._bin_mapper", f"is a {type(mapper).__name__}, not a _BinMapper")
    is_categorical = _array(mapper.is_categorical_, f"{path}._bin_mapper", "is_categorical_", 1)
    columns = _preprocessed_width(obj, path, n)
    if is_categorical.shape[0] != columns:
        raise _Refused(
            f"{path}._bin_mapper", f"is_categorical_ has {is_categorical.shape[0]} entries for {columns} features"
        )
    predictors = obj._predictors
    if not isinstance(predictors, list):
        raise _Refused(path, "_predictors is not a list")
    checked = []
    for i, iteration in enumerate(predictors):
        if not isinstance(iteration, list) or len(iteration) != width:
            raise _Refused(f"{path}._predictors[{i}]", f"does not hold {width} predictors")
        for k, predictor in enumerate(iteration):
            _check_predictor(predictor, f"{path}._predictors[{i}][{k}]", columns, is_categorical.astype(bool))
            checked.append(predictor)
    return checked


def _preprocessed_width(obj: Any, path: str, n: int | None) -> int:
    """The number of columns the predictors read: the input's, or the categorical preprocessor's output."""
    if n is None:
        raise _Refused(path, "a fitted model has no n_features_in_")
    pre = getattr(obj, "_preprocessor", None)
    if pre is None:
        return n
    if type(pre).__name__ != "ColumnTransformer":
        raise _Refused(f"{path}._preprocessor", f"is a {type(pre).__name__}, not the categorical ColumnTransformer")
    width = 0
    for name, trans, cols in pre.transformers_:
        mask = np.asarray(cols)
        if mask.dtype != bool or mask.shape != (n,):
            raise _Refused(f"{path}._preprocessor", f"transformer {name!r} does not select columns by a mask of {n}")
        kind = f"{type(trans).__module__}.{type(trans).__qualname__}"
        if trans == "drop":
            continue
        if kind == _ORDINAL or (
            type(trans).__name__ == "FunctionTransformer"
            and isinstance(trans.func, functools.partial)
            and getattr(trans.func.func, "__name__", "") == "check_array"
        ):
            width += int(mask.sum())
        else:
            raise _Refused(f"{path}._preprocessor", f"transformer {name!r} is not an ordinal encoder or check_array")
    return width


def _check_predictor(predictor: Any, path: str, n_features: int, categorical: np.ndarray) -> None:
    """A ``TreePredictor``: ``_predict_from_raw_data`` reads its nodes and bitsets without bounds checks."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    if type(predictor).__name__ != "TreePredictor":
        raise _Refused(path, f"is a {type(predictor).__name__}, not a TreePredictor")
    nodes = _array(predictor.nodes, path, "nodes", 1)
    if nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.size == 0:
        raise _Refused(path, f"nodes has dtype {nodes.dtype} and {nodes.size} entries, not scikit-learn's records")
    count = nodes.shape[0]
    bitsets = {}
    for attr in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        value = _array(getattr(predictor, attr), path, attr, 2)
        if value.dtype != np.uint32 or value.shape[1] != 8 or not value.flags.c_contiguous:
            raise _Refused(path, f"{attr} is {value.dtype} {value.shape}, not (n, 8) uint32")
        bitsets[attr] = value
    if bitsets["raw_left_cat_bitsets"].shape != bitsets["binned_left_cat_bitsets"].shape:
        raise _Refused(path, "raw_left_cat_bitsets and binned_left_cat_bitsets differ in shape")
    leaf = nodes["is_leaf"].astype(bool)
    # A leaf's children are never read (sklearn leaves them 0).
    _check_nodes(path, count, nodes["left"], nodes["right"], leaf, leaf, ("nodes.left", "nodes.right"))
    internal = np.flatnonzero(~leaf)
    feature = nodes["feature_idx"]
    bad = internal[(feature[internal] < 0) | (feature[internal] >= n_features)]
    if bad.size:
        i = int(bad[0])
        raise _Refused(path, f"nodes.feature_idx[{i}] = {int(feature[i])} is outside the {n_features} features")
    split_on = internal[nodes["is_categorical"][internal] != 0]
    bitset = nodes["bitset_idx"][split_on]
    outside = split_on[bitset >= bitsets["raw_left_cat_bitsets"].shape[0]]
    if outside.size:
        i = int(outside[0])
        raise _Refused(
            path,
            f"nodes.bitset_idx[{i}] = {int(nodes['bitset_idx'][i])} is outside the "
            f"{bitsets['raw_left_cat_bitsets'].shape[0]} category bitsets",
        )
    numeric = split_on[~categorical[feature[split_on]]]
    if numeric.size:
        i = int(numeric[0])
        raise _Refused(path, f"node {i} splits on categories of feature {int(feature[i])}, which is not categorical")
    bad = internal[np.isnan(nodes["num_threshold"][internal])]
    if bad.size:
        raise _Refused(path, f"nodes.num_threshold[{int(bad[0])}] is NaN")
    if not np.isfinite(nodes["value"][leaf]).all():
        raise _Refused(path, "a leaf value is not finite")


def _bin_mapper(obj: Any, path: str) -> None:
    is_categorical = _array(obj.is_categorical_, path, "is_categorical_", 1)
    n = is_categorical.shape[0]
    thresholds = obj.bin_thresholds_
    if not isinstance(thresholds, list) or len(thresholds) != n:
        raise _Refused(path, f"bin_thresholds_ does not hold one array for each of the {n} features")
    for i, values in enumerate(thresholds):
        values = _array(values, path, f"bin_thresholds_[{i}]", 1)
        _finite(values, path, f"bin_thresholds_[{i}]")
        if is_categorical[i] and values.size and (values.min() < 0 or values.max() > 255):
            raise _Refused(path, f"bin_thresholds_[{i}] holds categories outside 0..255")
    missing = obj.n_bins_non_missing_
    if _array(missing, path, "n_bins_non_missing_", 1).shape != (n,):
        raise _Refused(path, f"n_bins_non_missing_ does not have {n} entries")


# ------------------------------------------------------------------------------------------ libsvm

_LIBSVM_IMPL = {"SVC": "c_svc", "NuSVC": "nu_svc", "OneClassSVM": "one_class", "SVR": "epsilon_svr", "NuSVR": "nu_svr"}
_LIBSVM_KERNELS = ("linear", "poly", "rbf", "sigmoid", "precomputed")


def _libsvm(obj: Any, path: str) -> None:
    """libsvm's ``set_model`` (C) copies ``nr_class = len(_n_support)`` counts, ``nr_class*(nr_class-1)/2``
    intercepts and probabilities, and ``nr_class-1`` rows of ``len(support_)`` dual coefficients, and its
    predict indexes the support vectors by the counts, all unchecked."""
    _generic(obj, path)
    n = _n_features(obj, path)
    if obj._sparse:
        raise _Refused(path, "an SVM fitted on sparse data has no structure check, so it cannot be loaded safely")
    if obj._impl != _LIBSVM_IMPL[type(obj).__name__]:
        raise _Refused(path, f"_impl = {obj._impl!r} is not the libsvm type of a {type(obj).__name__}")
    if not isinstance(obj.kernel, str) or obj.kernel not in _LIBSVM_KERNELS:
        raise _Refused(path, f"kernel {obj.kernel!r} is not one of libsvm's kernels")
    support = _array(obj.support_, path, "support_", 1)
    vectors = _array(obj.support_vectors_, path, "support_vectors_", 2)
    counts = _array(obj._n_support, path, "_n_support", 1)
    dual = _array(obj._dual_coef_, path, "_dual_coef_", 2)
    intercept = _array(obj._intercept_, path, "_intercept_", 1)
    for value, what, dtype in (
        (support, "support_", np.int32),
        (counts, "_n_support", np.int32),
        (vectors, "support_vectors_", np.float64),
        (dual, "_dual_coef_", np.float64),
        (intercept, "_intercept_", np.float64),
    ):
        if value.dtype != dtype or not value.flags.c_contiguous:
            raise _Refused(path, f"{what} is {value.dtype}, not C-ordered {np.dtype(dtype)}")
        if dtype == np.float64:
            _finite(value, path, what)
    n_sv = support.shape[0]
    n_class = counts.shape[0]
    pairs = n_class * (n_class - 1) // 2
    shape_fit = obj.shape_fit_
    if not isinstance(shape_fit, tuple) or len(shape_fit) != 2:
        raise _Refused(path, "shape_fit_ is not the (samples, features) of the fit")
    n_fit = _int(shape_fit[0], path, "shape_fit_[0]")
    if obj._impl in ("c_svc", "nu_svc"):
        classes = getattr(obj, "classes_", None)
        if n_class < 2 or classes is None or len(classes) != n_class:
            raise _Refused(
                path, f"_n_support has {n_class} counts for {0 if classes is None else len(classes)} classes"
            )
        if counts.min() < 0 or int(counts.sum()) != n_sv:
            raise _Refused(path, f"_n_support {counts.tolist()} does not count the {n_sv} support vectors")
    elif n_class != 2:
        raise _Refused(path, f"_n_support has {n_class} entries, not 2")
    if dual.shape != (n_class - 1, n_sv):
        raise _Refused(path, f"_dual_coef_ has shape {dual.shape}, not ({n_class - 1}, {n_sv})")
    if intercept.shape != (pairs,):
        raise _Refused(path, f"_intercept_ has {intercept.shape[0]} entries, not {pairs}")
    for attr in ("_probA", "_probB"):
        value = _array(getattr(obj, attr), path, attr, 1)
        if value.dtype != np.float64 or value.shape[0] not in (0, pairs):
            raise _Refused(path, f"{attr} has {value.shape[0]} entries, not 0 or {pairs}")
    if n_sv and (support.min() < 0 or support.max() >= n_fit):
        raise _Refused(path, f"support_ names samples outside the {n_fit} of the fit")
    if obj.kernel != "precomputed" and vectors.shape != (n_sv, n):
        raise _Refused(path, f"support_vectors_ has shape {vectors.shape}, not ({n_sv}, {n})")


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
    n = _n_features(obj, path)
    categories = obj.categories_
    if not isinstance(categories, list) or (n is not None and len(categories) != n):
        raise _Refused(path, f"categories_ holds {len(categories)} lists for {n} features")
    for i, cats in enumerate(categories):
        cats = _array(cats, path, f"categories_[{i}]", 1)
        if cats.size == 0 or not _usable_categories(cats):
            raise _Refused(path, f"categories_[{i}] is not the sorted, distinct categories the encoder needs")
    return categories


def _ordinal_encoder(obj: Any, path: str) -> None:
    _generic(obj, path)
    _categories(obj, path)


def _one_hot_encoder(obj: Any, path: str) -> None:
    """``transform`` builds a CSR matrix from indices offset by ``_n_features_outs``, unchecked; a wrong count
    is a write outside the matrix when it is made dense."""
    _generic(obj, path)
    categories = _categories(obj, path)
    n = len(categories)
    counts = [len(c) for c in categories]
    infrequent = getattr(obj, "_infrequent_indices", [None] * n)
    if not isinstance(infrequent, list) or len(infrequent) != n:
        raise _Refused(path, f"_infrequent_indices does not have {n} entries")
    grouped = list(counts)
    for i, idx in enumerate(infrequent):
        if idx is None:
            continue
        idx = _array(idx, path, f"_infrequent_indices[{i}]", 1)
        if idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= counts[i]:
            raise _Refused(path, f"_infrequent_indices[{i}] names categories outside the {counts[i]} of feature {i}")
        if np.unique(idx).size != idx.size:
            raise _Refused(path, f"_infrequent_indices[{i}] repeats a category")
        grouped[i] = counts[i] - idx.size + 1
    if not getattr(obj, "_infrequent_enabled", False):
        grouped = list(counts)  # transform maps nothing: every category keeps its column
    mappings = getattr(obj, "_default_to_infrequent_mappings", [None] * n)
    if not isinstance(mappings, list) or len(mappings) != n:
        raise _Refused(path, f"_default_to_infrequent_mappings does not have {n} entries")
    for i, mapping in enumerate(mappings):
        if mapping is None:
            if infrequent[i] is not None:
                raise _Refused(path, f"feature {i} has infrequent categories but no mapping")
            continue
        mapping = _array(mapping, path, f"_default_to_infrequent_mappings[{i}]", 1)
        if (
            mapping.shape != (counts[i],)
            or mapping.dtype.kind not in "iu"
            or mapping.min() < 0
            or mapping.max() >= grouped[i]
        ):
            raise _Refused(
                path, f"_default_to_infrequent_mappings[{i}] maps outside the {grouped[i]} groups of feature {i}"
            )
    drops = [None] * n
    for attr in ("drop_idx_", "_drop_idx_after_grouping"):
        value = getattr(obj, attr, None)
        if value is None:
            continue
        value = _array(value, path, attr, 1)
        if value.shape != (n,):
            raise _Refused(path, f"{attr} has {value.shape[0]} entries for {n} features")
        limit = counts if attr == "drop_idx_" else grouped
        for i, idx in enumerate(value.tolist()):
            if idx is not None and (
                isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or not 0 <= idx < limit[i]
            ):
                raise _Refused(path, f"{attr}[{i}] = {idx!r} is outside the {limit[i]} categories of feature {i}")
        if attr == "_drop_idx_after_grouping":
            drops = value.tolist()
    expected = [g - (d is not None) for g, d in zip(grouped, drops, strict=True)]
    outs = getattr(obj, "_n_features_outs", None)
    # A list, as sklearn keeps it: transform computes ``np.cumsum([0] + _n_features_outs)``, which an
    # array would turn into an element-wise sum (offsets one block too far).
    if not isinstance(outs, list) or not all(type(v) is int for v in outs) or outs != expected:
        raise _Refused(path, f"_n_features_outs {getattr(obj, '_n_features_outs', None)} should be {expected}")
    if getattr(obj, "drop_idx_", None) is not None and getattr(obj, "_drop_idx_after_grouping", None) is None:
        raise _Refused(path, "drop_idx_ is set without _drop_idx_after_grouping")


def _label_encoder(obj: Any, path: str) -> None:
    classes = _array(obj.classes_, path, "classes_", 1)
    if not _usable_categories(classes):
        raise _Refused(path, "classes_ does not hold distinct classes")


# ------------------------------------------------------------------------------- compositions


def _column_transformer(obj: Any, path: str) -> None:
    """Column specs in range of the input; output slices in range of the output (all NumPy indexing)."""
    _generic(obj, path)
    n = _n_features(obj, path)
    given = getattr(obj, "feature_names_in_", None)
    names = [] if given is None else list(given)
    specs = obj.transformers_
    if not isinstance(specs, list):
        raise _Refused(path, "transformers_ is not a list")
    for i, spec in enumerate(specs):
        if not isinstance(spec, tuple) or len(spec) != 3:
            raise _Refused(path, f"transformers_[{i}] is not (name, transformer, columns)")
        name, _, cols = spec
        _check_columns(cols, f"{path}.transformers_[{i}] ({name!r})", n, names)
    for key, where in getattr(obj, "output_indices_", {}).items():
        if not isinstance(where, slice) or where.start is None or where.stop is None or where.start > where.stop:
            raise _Refused(path, f"output_indices_[{key!r}] is not a slice")


def _check_columns(cols: Any, path: str, n: int | None, names: list[Any]) -> None:
    if callable(cols) or n is None:
        return
    if isinstance(cols, slice):
        return
    values = np.asarray(cols if isinstance(cols, (list, tuple, np.ndarray)) else [cols])
    if values.dtype == bool:
        if values.shape != (n,):
            raise _Refused(path, f"the column mask has {values.shape} entries for {n} features")
    elif values.dtype.kind in "iu":
        if values.size and (values.min() < -n or values.max() >= n):
            raise _Refused(path, f"names columns outside the {n} features")
    elif values.size and names and not set(values.tolist()) <= set(names):
        raise _Refused(path, "names columns the input does not have")


def _pipeline(obj: Any, path: str) -> None:
    steps = obj.steps
    if not isinstance(steps, list) or not all(isinstance(s, tuple) and len(s) == 2 for s in steps):
        raise _Refused(path, "steps is not a list of (name, estimator)")


def _composite(obj: Any, path: str) -> None:
    """Meta-estimators that call their parts through Python (the walk checks each part)."""
    _generic(obj, path)


# ------------------------------------------------------------------------------------- the table


def _kinds() -> dict[str, _Check]:
    table: dict[str, _Check] = {}

    def add(module: str, names: str, check: _Check) -> None:
        for name in names.split():
            table[f"sklearn.{module}.{name}"] = check

    add(
        "tree._classes",
        "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor",
        _tree_estimator,
    )
    add("tree._tree", "Tree", _plain)  # in _OWNED: checked by its estimator
    add(
        "ensemble._forest",
        "RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor RandomTreesEmbedding",
        _forest,
    )
    add("ensemble._gb", "GradientBoostingClassifier GradientBoostingRegressor", _gradient_boosting)
    add("ensemble._bagging", "BaggingClassifier BaggingRegressor", _subspace_ensemble)
    add("ensemble._iforest", "IsolationForest", _subspace_ensemble)
    add("ensemble._weight_boosting", "AdaBoostClassifier AdaBoostRegressor", _forest)
    add(
        "ensemble._hist_gradient_boosting.gradient_boosting",
        "HistGradientBoostingClassifier HistGradientBoostingRegressor",
        _hist_gradient_boosting,
    )
    add("ensemble._hist_gradient_boosting.binning", "_BinMapper", _bin_mapper)
    add("ensemble._hist_gradient_boosting.predictor", "TreePredictor", _plain)  # in _OWNED: checked by its model
    add("ensemble._voting", "VotingClassifier VotingRegressor", _composite)
    add("ensemble._stacking", "StackingClassifier StackingRegressor", _composite)
    # Linear models: predict is a NumPy dot product; coef_ and intercept_ are still checked.
    add("linear_model._base", "LinearRegression", _generic)
    add("linear_model._bayes", "ARDRegression BayesianRidge", _generic)
    add(
        "linear_model._coordinate_descent",
        "ElasticNet ElasticNetCV Lasso LassoCV MultiTaskElasticNet MultiTaskElasticNetCV "
        "MultiTaskLasso MultiTaskLassoCV",
        _generic,
    )
    add("linear_model._glm.glm", "GammaRegressor PoissonRegressor TweedieRegressor", _generic)
    add("linear_model._huber", "HuberRegressor", _generic)
    add("linear_model._least_angle", "Lars LarsCV LassoLars LassoLarsCV LassoLarsIC", _generic)
    add("linear_model._logistic", "LogisticRegression LogisticRegressionCV", _generic)
    add("linear_model._omp", "OrthogonalMatchingPursuit OrthogonalMatchingPursuitCV", _generic)
    add("linear_model._passive_aggressive", "PassiveAggressiveClassifier PassiveAggressiveRegressor", _generic)
    add("linear_model._perceptron", "Perceptron", _generic)
    add("linear_model._quantile", "QuantileRegressor", _generic)
    add("linear_model._ransac", "RANSACRegressor", _composite)
    add("linear_model._ridge", "Ridge RidgeCV RidgeClassifier RidgeClassifierCV", _generic)
    add("linear_model._stochastic_gradient", "SGDClassifier SGDRegressor SGDOneClassSVM", _generic)
    add("linear_model._theil_sen", "TheilSenRegressor", _generic)
    add("svm._classes", "LinearSVC LinearSVR", _generic)  # liblinear runs in fit only; predict is NumPy
    add("svm._classes", "SVC NuSVC SVR NuSVR OneClassSVM", _libsvm)
    add("discriminant_analysis", "LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis", _generic)
    add("naive_bayes", "BernoulliNB CategoricalNB ComplementNB GaussianNB MultinomialNB", _generic)
    add("dummy", "DummyClassifier DummyRegressor", _generic)
    add("neural_network._multilayer_perceptron", "MLPClassifier MLPRegressor", _generic)
    add("decomposition._pca", "PCA", _generic)
    add("decomposition._incremental_pca", "IncrementalPCA", _generic)
    add("decomposition._truncated_svd", "TruncatedSVD", _generic)
    # Preprocessing: NumPy arithmetic, searchsorted and indexing.
    add(
        "preprocessing._data",
        "Binarizer MaxAbsScaler MinMaxScaler Normalizer PowerTransformer QuantileTransformer "
        "RobustScaler StandardScaler",
        _generic,
    )
    add("preprocessing._discretization", "KBinsDiscretizer", _generic)
    add("preprocessing._encoders", "OneHotEncoder", _one_hot_encoder)
    add("preprocessing._encoders", "OrdinalEncoder", _ordinal_encoder)
    add("preprocessing._function_transformer", "FunctionTransformer", _generic)
    add("preprocessing._label", "LabelEncoder LabelBinarizer", _label_encoder)
    add("impute._base", "SimpleImputer MissingIndicator", _generic)
    add("feature_selection._variance_threshold", "VarianceThreshold", _generic)
    add(
        "feature_selection._univariate_selection",
        "GenericUnivariateSelect SelectFdr SelectFpr SelectFwe SelectKBest SelectPercentile",
        _generic,
    )
    add("feature_selection._from_model", "SelectFromModel", _composite)
    add("feature_selection._rfe", "RFE RFECV", _composite)
    add("compose._column_transformer", "ColumnTransformer", _column_transformer)
    add("compose._target", "TransformedTargetRegressor", _composite)
    add("pipeline", "Pipeline", _pipeline)
    add("pipeline", "FeatureUnion", _composite)
    add("multiclass", "OneVsRestClassifier OneVsOneClassifier OutputCodeClassifier", _composite)
    add("model_selection._search", "GridSearchCV RandomizedSearchCV", _composite)
    # The calibrators are walked: a sigmoid's two numbers pass, an isotonic interpolator is refused.
    add("calibration", "CalibratedClassifierCV _CalibratedClassifier _SigmoidCalibration", _composite)
    add("multioutput", "MultiOutputClassifier MultiOutputRegressor ClassifierChain RegressorChain", _composite)
    add("model_selection._classification_threshold", "FixedThresholdClassifier TunedThresholdClassifierCV", _composite)
    add("frozen._frozen", "FrozenEstimator", _composite)
    # Parameters only: losses and links (used in fit, or as NumPy functions of raw predictions).
    add(
        "_loss.loss",
        "HalfBinomialLoss HalfPoissonLoss HalfSquaredError HalfTweedieLossIdentity HalfMultinomialLoss AbsoluteError "
        "ExponentialLoss HalfGammaLoss PinballLoss HuberLoss HalfTweedieLoss",
        _plain,
    )
    add(
        "_loss._loss",
        "CyHalfBinomialLoss CyHalfPoissonLoss CyHalfSquaredError CyHalfTweedieLossIdentity CyHalfMultinomialLoss "
        "CyAbsoluteError CyExponentialLoss CyHalfGammaLoss CyPinballLoss CyHuberLoss CyHalfTweedieLoss",
        _plain,
    )
    add("_loss.link", "IdentityLink Interval LogLink LogitLink MultinomialLogit HalfLogitLink", _plain)
    add(
        "linear_model._sgd_fast",
        "Hinge ModifiedHuber SquaredHinge Log EpsilonInsensitive SquaredEpsilonInsensitive",
        _plain,
    )
    add("neural_network._stochastic_optimizers", "AdamOptimizer", _plain)
    # What searches keep of their fit: CV splitters and scorers (parameters; never called by predict).
    add(
        "model_selection._split",
        "KFold StratifiedKFold GroupKFold ShuffleSplit StratifiedShuffleSplit TimeSeriesSplit",
        _plain,
    )
    add("metrics._scorer", "_PassthroughScorer _Scorer", _plain)
    return table


_KINDS = _kinds()
