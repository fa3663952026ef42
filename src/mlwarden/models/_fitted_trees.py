"""The fitted-structure checks of tree models (:mod:`mlwarden.models._fitted_check`): decision trees and
the ensembles of them, gradient boosting's grid, histogram gradient boosting's predictors.

Trees are walked by compiled code that trusts the node arrays: these checks hold them to what
scikit-learn's own builders write (node 0 the root, children after their parent, each node reached
once, features within the input)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlwarden.models._fitted_base import Refused, array_of, check_generic, int_of, n_features_of, need_finite

__all__ = [
    "check_bin_mapper",
    "check_forest",
    "check_gradient_boosting",
    "check_hist_gradient_boosting",
    "check_subspace_ensemble",
    "check_tree_estimator",
]

# ---------------------------------------------------------------------------------- decision trees

_TREE = "sklearn.tree._tree.Tree"
_TREE_LEAF = -1
_TREE_UNDEFINED = -2


def _check_tree(tree: Any, path: str, n_features: int, n_outputs: int) -> None:
    """A ``sklearn.tree._tree.Tree``: the invariants its Cython ``apply`` walks without checking."""
    if f"{type(tree).__module__}.{type(tree).__qualname__}" != _TREE:
        raise Refused(path, f"is a {type(tree).__name__}, not a scikit-learn Tree")
    count = int_of(tree.node_count, path, "node_count", 1)
    if count > tree.capacity:
        raise Refused(path, f"node_count {count} is more than the {tree.capacity} nodes stored")
    if tree.n_features != n_features:
        raise Refused(path, f"the tree reads {tree.n_features} features, its estimator takes {n_features}")
    if tree.n_outputs != n_outputs:
        raise Refused(path, f"the tree has {tree.n_outputs} outputs, its estimator {n_outputs}")
    n_classes = np.asarray(tree.n_classes)
    if n_classes.shape != (n_outputs,) or n_classes.min() < 1 or tree.max_n_classes != n_classes.max():
        raise Refused(path, f"n_classes {n_classes.tolist()} does not match max_n_classes {tree.max_n_classes}")
    value = tree.value
    if value.shape != (count, n_outputs, tree.max_n_classes):
        raise Refused(path, f"value has shape {value.shape} for {count} nodes")
    need_finite(value, path, "value")
    left, right = tree.children_left, tree.children_right
    _check_nodes(path, count, left, right, left == _TREE_LEAF, right == _TREE_LEAF, ("children_left", "children_right"))
    internal = np.flatnonzero(left != _TREE_LEAF)
    feature, threshold = tree.feature, tree.threshold
    bad = internal[(feature[internal] < 0) | (feature[internal] >= n_features)]
    if bad.size:
        i = int(bad[0])
        raise Refused(path, f"feature[{i}] = {int(feature[i])} is outside the {n_features} features")
    leaves = np.flatnonzero(left == _TREE_LEAF)
    bad = leaves[feature[leaves] != _TREE_UNDEFINED]
    if bad.size:
        i = int(bad[0])
        raise Refused(path, f"leaf {i} has feature {int(feature[i])}, not {_TREE_UNDEFINED}")
    bad = internal[np.isnan(threshold[internal])]
    if bad.size:
        raise Refused(path, f"threshold[{int(bad[0])}] is NaN")
    if tree.missing_go_to_left.shape != (count,):
        raise Refused(path, f"missing_go_to_left has shape {tree.missing_go_to_left.shape} for {count} nodes")


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
        raise Refused(path, f"node {int(one_child[0])} has one child (a node has two or none)")
    internal = np.flatnonzero(~left_leaf)
    for children, name in ((left, names[0]), (right, names[1])):
        kids = children[internal].astype(np.int64)
        outside = internal[(kids < 0) | (kids >= count)]
        if outside.size:
            i = int(outside[0])
            raise Refused(path, f"{name}[{i}] = {int(children[i])} is outside the {count} nodes")
        backwards = internal[kids <= internal]
        if backwards.size:
            i = int(backwards[0])
            raise Refused(path, f"{name}[{i}] = {int(children[i])} points back (a cycle): a child comes after its node")
    reached = np.bincount(np.concatenate([left[internal], right[internal]]).astype(np.int64), minlength=count)
    reached[0] += 1
    wrong = np.flatnonzero(reached != 1)
    if wrong.size:
        i = int(wrong[0])
        raise Refused(path, f"node {i} is reached {int(reached[i])} times from the root, not once")


def check_tree_estimator(obj: Any, path: str) -> list[Any]:
    check_generic(obj, path)
    n = n_features_of(obj, path)
    if n is None:
        raise Refused(path, "a fitted tree has no n_features_in_")
    outputs = int_of(obj.n_outputs_, path, "n_outputs_", 1)
    _check_tree(obj.tree_, f"{path}.tree_", n, outputs)
    n_classes = getattr(obj, "n_classes_", None)
    if n_classes is not None:
        expected = np.atleast_1d(np.asarray(n_classes))
        if not np.array_equal(expected, np.asarray(obj.tree_.n_classes)):
            raise Refused(path, f"n_classes_ {expected.tolist()} differs from the tree's")
    return [obj.tree_]


def _estimators(obj: Any, path: str, attr: str = "estimators_") -> list[Any]:
    value = getattr(obj, attr, None)
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        return list(value.ravel())
    if not isinstance(value, list):
        raise Refused(path, f"{attr} is a {type(value).__name__}, not a list of estimators")
    return value


def _same_features(obj: Any, path: str, estimators: list[Any], n: int | None) -> None:
    for i, est in enumerate(estimators):
        if not hasattr(est, "fit"):
            raise Refused(f"{path}.estimators_[{i}]", f"is a {type(est).__name__}, not an estimator")
        if n is not None and getattr(est, "n_features_in_", n) != n:
            raise Refused(f"{path}.estimators_[{i}]", f"takes {est.n_features_in_} features, its ensemble {n}")


def check_forest(obj: Any, path: str) -> None:
    check_generic(obj, path)
    n = n_features_of(obj, path)
    estimators = _estimators(obj, path)
    if not estimators:
        raise Refused(path, "estimators_ is empty")
    _same_features(obj, path, estimators, n)
    outputs = getattr(obj, "n_outputs_", None)
    for i, est in enumerate(estimators):
        if outputs is not None and getattr(est, "n_outputs_", outputs) != outputs:
            raise Refused(f"{path}.estimators_[{i}]", f"has {est.n_outputs_} outputs, its ensemble {outputs}")


def check_subspace_ensemble(obj: Any, path: str) -> None:
    """Bagging and isolation forests: each estimator sees the columns ``estimators_features_`` names."""
    check_generic(obj, path)
    n = n_features_of(obj, path)
    estimators = _estimators(obj, path)
    features = getattr(obj, "estimators_features_", None)
    if not isinstance(features, list) or len(features) != len(estimators):
        raise Refused(path, "estimators_features_ does not list the features of each estimator")
    for i, (est, cols) in enumerate(zip(estimators, features, strict=True)):
        cols = array_of(cols, path, f"estimators_features_[{i}]", 1)
        if cols.dtype.kind not in "iu" or (n is not None and cols.size and (cols.min() < 0 or cols.max() >= n)):
            raise Refused(path, f"estimators_features_[{i}] names columns outside the {n} features")
        if getattr(est, "n_features_in_", cols.size) != cols.size:
            raise Refused(f"{path}.estimators_[{i}]", f"takes {est.n_features_in_} features, given {cols.size}")


def check_gradient_boosting(obj: Any, path: str) -> None:
    """``predict_stages`` (Cython) adds each row of the ``estimators_`` grid into a buffer as wide as the
    init estimator's raw prediction, without checking either."""
    check_generic(obj, path)
    n = n_features_of(obj, path)
    grid = array_of(obj.estimators_, path, "estimators_", 2)
    if not grid.dtype.hasobject or grid.size == 0:
        raise Refused(path, "estimators_ is not a grid of trees")
    width = int_of(obj.n_trees_per_iteration_, path, "n_trees_per_iteration_", 1)
    classes = getattr(obj, "classes_", None)
    if classes is not None:
        n_classes = int_of(obj.n_classes_, path, "n_classes_", 2)
        if len(classes) != n_classes:
            raise Refused(path, f"classes_ has {len(classes)} classes, n_classes_ says {n_classes}")
        expected = 1 if n_classes == 2 else n_classes
        multiclass = bool(getattr(obj._loss, "is_multiclass", False))
        if width != expected or multiclass != (n_classes > 2):
            raise Refused(path, f"{width} trees per iteration and its loss do not fit {n_classes} classes")
        if getattr(obj._loss, "n_classes", n_classes) != n_classes:
            raise Refused(path, f"the loss is for {obj._loss.n_classes} classes, the model has {n_classes}")
        init = obj.init_
        if not isinstance(init, str) and len(getattr(init, "classes_", ())) != n_classes:
            raise Refused(f"{path}.init_", f"does not predict the model's {n_classes} classes")
    elif width != 1:
        raise Refused(path, f"a regressor has {width} trees per iteration, not 1")
    if isinstance(obj.init_, str) and obj.init_ != "zero":
        raise Refused(path, f"init_ = {obj.init_!r} is neither an estimator nor 'zero'")
    if grid.shape[1] != width:
        raise Refused(path, f"estimators_ has {grid.shape[1]} columns for {width} trees per iteration")
    for index in np.ndindex(grid.shape):
        est: Any = grid[index]
        where = f"{path}.estimators_[{index[0]}, {index[1]}]"
        if type(est).__qualname__ != "DecisionTreeRegressor" or not type(est).__module__.startswith("sklearn.tree"):
            raise Refused(where, f"is a {type(est).__name__}, not a DecisionTreeRegressor")
        if est.n_features_in_ != n:
            raise Refused(where, f"takes {est.n_features_in_} features, its ensemble {n}")
        if est.tree_.n_outputs != 1 or est.tree_.max_n_classes != 1:
            raise Refused(where, "a boosting stage has one output")


# ------------------------------------------------------------------------ histogram gradient boosting

_ORDINAL = "sklearn.preprocessing._encoders.OrdinalEncoder"


def check_hist_gradient_boosting(obj: Any, path: str) -> list[Any]:
    check_generic(obj, path)
    n = n_features_of(obj, path)
    if getattr(obj, "_in_fit", False):
        raise Refused(path, "_in_fit is set (a fitted model predicts from raw data)")
    width = int_of(obj.n_trees_per_iteration_, path, "n_trees_per_iteration_", 1)
    classes = getattr(obj, "classes_", None)
    if classes is not None:
        expected = 1 if len(classes) <= 2 else len(classes)
        if width != expected or bool(getattr(obj._loss, "is_multiclass", False)) != (len(classes) > 2):
            raise Refused(path, f"{width} trees per iteration and its loss do not fit {len(classes)} classes")
    elif width != 1:
        raise Refused(path, f"a regressor has {width} trees per iteration, not 1")
    baseline = np.asarray(obj._baseline_prediction)
    if baseline.shape not in ((1, width), (width,), ()):
        raise Refused(path, f"_baseline_prediction has shape {baseline.shape} for {width} trees per iteration")
    mapper = obj._bin_mapper
    if type(mapper).__name__ != "_BinMapper":
        raise Refused(f"{path}._bin_mapper", f"is a {type(mapper).__name__}, not a _BinMapper")
    is_categorical = array_of(mapper.is_categorical_, f"{path}._bin_mapper", "is_categorical_", 1)
    columns = _preprocessed_width(obj, path, n)
    if is_categorical.shape[0] != columns:
        raise Refused(
            f"{path}._bin_mapper", f"is_categorical_ has {is_categorical.shape[0]} entries for {columns} features"
        )
    predictors = obj._predictors
    if not isinstance(predictors, list):
        raise Refused(path, "_predictors is not a list")
    checked = []
    for i, iteration in enumerate(predictors):
        if not isinstance(iteration, list) or len(iteration) != width:
            raise Refused(f"{path}._predictors[{i}]", f"does not hold {width} predictors")
        for k, predictor in enumerate(iteration):
            _check_predictor(predictor, f"{path}._predictors[{i}][{k}]", columns, is_categorical.astype(bool))
            checked.append(predictor)
    return checked


def _preprocessed_width(obj: Any, path: str, n: int | None) -> int:
    """The number of columns the predictors read: the input's, or the categorical preprocessor's output."""
    if n is None:
        raise Refused(path, "a fitted model has no n_features_in_")
    pre = getattr(obj, "_preprocessor", None)
    if pre is None:
        return n
    if type(pre).__name__ != "ColumnTransformer":
        raise Refused(f"{path}._preprocessor", f"is a {type(pre).__name__}, not the categorical ColumnTransformer")
    width = 0
    for name, trans, cols in pre.transformers_:
        mask = np.asarray(cols)
        if mask.dtype != bool or mask.shape != (n,):
            raise Refused(f"{path}._preprocessor", f"transformer {name!r} does not select columns by a mask of {n}")
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
            raise Refused(f"{path}._preprocessor", f"transformer {name!r} is not an ordinal encoder or check_array")
    return width


def _check_predictor(predictor: Any, path: str, n_features: int, categorical: np.ndarray) -> None:
    """A ``TreePredictor``: ``_predict_from_raw_data`` reads its nodes and bitsets without bounds checks."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    if type(predictor).__name__ != "TreePredictor":
        raise Refused(path, f"is a {type(predictor).__name__}, not a TreePredictor")
    nodes = array_of(predictor.nodes, path, "nodes", 1)
    if nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.size == 0:
        raise Refused(path, f"nodes has dtype {nodes.dtype} and {nodes.size} entries, not scikit-learn's records")
    count = nodes.shape[0]
    bitsets = {}
    for attr in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        value = array_of(getattr(predictor, attr), path, attr, 2)
        if value.dtype != np.uint32 or value.shape[1] != 8 or not value.flags.c_contiguous:
            raise Refused(path, f"{attr} is {value.dtype} {value.shape}, not (n, 8) uint32")
        bitsets[attr] = value
    if bitsets["raw_left_cat_bitsets"].shape != bitsets["binned_left_cat_bitsets"].shape:
        raise Refused(path, "raw_left_cat_bitsets and binned_left_cat_bitsets differ in shape")
    leaf = nodes["is_leaf"].astype(bool)
    # A leaf's children are never read (sklearn leaves them 0).
    _check_nodes(path, count, nodes["left"], nodes["right"], leaf, leaf, ("nodes.left", "nodes.right"))
    internal = np.flatnonzero(~leaf)
    feature = nodes["feature_idx"]
    bad = internal[(feature[internal] < 0) | (feature[internal] >= n_features)]
    if bad.size:
        i = int(bad[0])
        raise Refused(path, f"nodes.feature_idx[{i}] = {int(feature[i])} is outside the {n_features} features")
    split_on = internal[nodes["is_categorical"][internal] != 0]
    bitset = nodes["bitset_idx"][split_on]
    outside = split_on[bitset >= bitsets["raw_left_cat_bitsets"].shape[0]]
    if outside.size:
        i = int(outside[0])
        raise Refused(
            path,
            f"nodes.bitset_idx[{i}] = {int(nodes['bitset_idx'][i])} is outside the "
            f"{bitsets['raw_left_cat_bitsets'].shape[0]} category bitsets",
        )
    numeric = split_on[~categorical[feature[split_on]]]
    if numeric.size:
        i = int(numeric[0])
        raise Refused(path, f"node {i} splits on categories of feature {int(feature[i])}, which is not categorical")
    bad = internal[np.isnan(nodes["num_threshold"][internal])]
    if bad.size:
        raise Refused(path, f"nodes.num_threshold[{int(bad[0])}] is NaN")
    if not np.isfinite(nodes["value"][leaf]).all():
        raise Refused(path, "a leaf value is not finite")


def check_bin_mapper(obj: Any, path: str) -> None:
    is_categorical = array_of(obj.is_categorical_, path, "is_categorical_", 1)
    n = is_categorical.shape[0]
    thresholds = obj.bin_thresholds_
    if not isinstance(thresholds, list) or len(thresholds) != n:
        raise Refused(path, f"bin_thresholds_ does not hold one array for each of the {n} features")
    for i, values in enumerate(thresholds):
        values = array_of(values, path, f"bin_thresholds_[{i}]", 1)
        need_finite(values, path, f"bin_thresholds_[{i}]")
        if is_categorical[i] and values.size and (values.min() < 0 or values.max() > 255):
            raise Refused(path, f"bin_thresholds_[{i}] holds categories outside 0..255")
    missing = obj.n_bins_non_missing_
    if array_of(missing, path, "n_bins_non_missing_", 1).shape != (n,):
        raise Refused(path, f"n_bins_non_missing_ does not have {n} entries")
