"""Exact per-column attributions (SHAP values) of the pipelines ``mlwarden train`` makes.

Each explanation splits one output of the model, for one row, into a base value and one
contribution per *original* column, so that ``base + sum(contributions) == output`` (checked, to
:data:`ADDITIVITY_TOLERANCE`, on every row; a row that fails is never returned). The values are
interventional Shapley values relative to a recorded **background** (a set of rows, e.g. the
training applicants or those near the cutoff): the value of a set of features is the model's mean
output over the background with those features set to the row's values. The players are the
features the estimator sees (a numeric column, or one one-hot dummy), as in ``shap``, and the
values of a column's dummies are summed back to the column: the result equals ``shap``'s
``LinearExplainer`` / ``TreeExplainer(feature_perturbation="interventional")`` on the same
background, summed by column (a test checks 1e-6).

What is explained, per estimator:

* **logistic regression**: the decision function, i.e. the log-odds of ``classes_[1]`` for two
  classes (a class's raw softmax score for more). A linear model's Shapley value is exact in
  closed form: ``w_k (x_k - mean_background x_k)``.
* **histogram gradient boosting**: the decision function (log-odds of ``classes_[1]``, or a class's
  raw score), the sum of its trees plus the baseline.
* **random forest**: the probability of ``classes_[1]`` (or of a class), the mean of its trees'
  leaf probabilities. A forest averages probabilities, so its log-odds are no sum over trees and
  have no tractable exact decomposition; its probability does (``shap`` explains forests in
  probability too).

Trees are solved exactly per leaf. A leaf's output is ``v * prod_j 1[z_j in I_j]`` over the distinct
features ``j`` on its path (``I_j`` the intersection of the path's intervals on ``j``). For one
background row ``b`` and a row ``x``, a feature that both satisfy, or neither, changes nothing or
zeroes the leaf; with ``P`` the features only ``x`` satisfies and ``Q`` those only ``b`` satisfies,
the leaf's game is ``v * [P in S] * [Q disjoint from S]`` whose Shapley values are
``v (p-1)! q! / (p+q)!`` on ``P`` and ``-v p! (q-1)! / (p+q)!`` on ``Q`` (Lundberg et al. 2020,
interventional Tree SHAP, written per leaf). The background rows' patterns per leaf are found
once; a row then costs two sparse products over those patterns, for any number of rows at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import BadInput, IntegrityError

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "Attribution",
    "Explainer",
    "ExplanationFailed",
    "feature_columns",
]

FloatArray = npt.NDArray[np.float64]

ADDITIVITY_TOLERANCE = 1e-6
"""The largest ``|base + sum(contributions) - output|`` an explanation may have to be returned."""


class ExplanationFailed(IntegrityError):
    """An explanation failed its additivity check, so it was not returned. Exit code 3."""


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Explanations of ``n`` rows: ``base + contributions.sum(axis=1) == output`` row by row."""

    columns: tuple[str, ...]
    base: float
    contributions: FloatArray
    """``(n, len(columns))``, in the units of :attr:`Explainer.units`."""
    output: FloatArray
    """The model's own output for each row (what is explained)."""
    gap: FloatArray
    """``|base + sum - output|`` per row (at most :data:`ADDITIVITY_TOLERANCE`)."""


def feature_columns(pipeline: Any) -> tuple[tuple[str, ...], npt.NDArray[np.intp]]:
    """The original columns and, for each feature the estimator sees, the index of its column.

    Reads a fitted ``Pipeline([ColumnTransformer([numeric, categorical]), estimator])`` of the shape
    ``mlwarden train`` fits: numeric columns give one feature each, categorical ones a one-hot block.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
        raise BadInput("explanations need a model trained by mlwarden train (a two-step pipeline)")
    pre = pipeline.steps[0][1]
    if type(pre) is not ColumnTransformer or pre.remainder != "drop":
        raise BadInput("explanations need a model trained by mlwarden train (a ColumnTransformer first)")
    columns: list[str] = []
    owner: list[int] = []
    for _name, transformer, selected in pre.transformers_:
        if transformer == "drop" or len(selected) == 0:
            continue
        last = transformer.steps[-1][1] if isinstance(transformer, Pipeline) else transformer
        for i, column in enumerate(selected):
            index = len(columns)
            columns.append(str(column))
            width = len(last.categories_[i]) if isinstance(last, OneHotEncoder) else 1
            owner += [index] * width
    model = pipeline.steps[1][1]
    if getattr(model, "n_features_in_", None) != len(owner):
        raise BadInput("the model's features do not match its preprocessing; it cannot be explained")
    return tuple(columns), np.asarray(owner, dtype=np.intp)


class Explainer:
    """Exact interventional attributions of one output of a fitted ``mlwarden train`` pipeline.

    ``background``: the preprocessed background rows (what the ColumnTransformer returns for
    them, dense). ``output_class``: the index in ``classes_`` whose output is explained (for two
    classes only ``1`` is meaningful: the decision function is the log-odds of ``classes_[1]``).
    Immutable once built: safe to share between threads.
    """

    def __init__(self, pipeline: Any, background: FloatArray, *, output_class: int = 1) -> None:
        self.columns, self._owner = feature_columns(pipeline)
        self._grouping = np.zeros((len(self._owner), len(self.columns)))
        self._grouping[np.arange(len(self._owner)), self._owner] = 1.0
        model = pipeline.steps[1][1]
        background = np.asarray(background, dtype=np.float64)
        width = len(self._owner)
        if background.ndim != 2 or background.shape[1] != width or background.shape[0] < 1:
            raise BadInput(f"the background must be a matrix of at least one row and {width} features")
        if not np.isfinite(background).all():
            raise BadInput("the background holds a missing or infinite value; preprocess it first")
        classes = list(getattr(model, "classes_", []))
        k = len(classes)
        if k < 2 or not 0 <= output_class < k or (k == 2 and output_class != 1):
            raise BadInput(f"cannot explain class index {output_class} of a model with {k} classes")
        self.classes = tuple(classes)
        self.output_class = output_class
        self.background_rows = background.shape[0]
        self._model = model
        self.kind, self.units = _kind(model)
        self._threads = _one_thread_below
        self._width = width
        if self.kind == "logistic":
            row = 0 if k == 2 else output_class
            self._coef = np.asarray(model.coef_[row], dtype=np.float64)
            self._intercept = float(model.intercept_[row])
            self._mean = background.mean(axis=0)
            self.base = float(self._intercept + self._mean @ self._coef)
        else:
            self._trees = _TreeTables(_leaves(model, output_class, k), background, self.kind == "forest", width)
            self.base = self._trees.base

    def output(self, features: FloatArray) -> FloatArray:
        """The model's own output for preprocessed rows: what :meth:`explain` decomposes."""
        model = self._model
        if self.kind == "logistic":
            scores = np.asarray(model.decision_function(features), dtype=np.float64)
            return scores if scores.ndim == 1 else scores[:, self.output_class]
        if self.kind == "boosting":
            # One OpenMP thread for small batches: a parallel region per tree costs more than it saves on a
            # few rows, and on a busy machine (a server) every barrier waits for a descheduled thread.
            with self._threads(features.shape[0]):
                raw = np.asarray(model.decision_function(features), dtype=np.float64)
            return raw if raw.ndim == 1 else raw[:, self.output_class]
        x32 = features.astype(np.float32)
        total = np.zeros(features.shape[0])
        for tree in model.estimators_:
            total += tree.tree_.predict(x32)[:, self.output_class]
        return total / len(model.estimators_)

    def explain(self, features: FloatArray, *, check: bool = True) -> Attribution:
        """Per-column contributions of preprocessed rows ``features`` (``n x width``).

        Raises :class:`ExplanationFailed` when a row's ``base + sum`` misses the model's own output
        by more than :data:`ADDITIVITY_TOLERANCE` (``check=False`` returns it anyway, for tests).
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self._width:
            raise BadInput(f"rows to explain must have {self._width} preprocessed features")
        if not np.isfinite(x).all():
            raise BadInput("a row to explain holds a missing or infinite value; preprocess it first")
        per_feature = (x - self._mean) * self._coef if self.kind == "logistic" else self._trees.shap(x)
        contributions = per_feature @ self._grouping  # each column's dummies summed
        output = self.output(x)
        gap = np.abs(self.base + contributions.sum(axis=1) - output)
        if check and not bool(np.all(gap <= ADDITIVITY_TOLERANCE)):  # NaN fails too
            worst = float(np.nanmax(gap)) if np.isfinite(gap).any() else math.nan
            raise ExplanationFailed(
                f"an explanation missed the model's output by {worst:.3g} (more than {ADDITIVITY_TOLERANCE:g}); "
                "it was not returned"
            )
        return Attribution(self.columns, self.base, contributions, output, gap)


@functools.cache
def _openmp() -> Any:
    try:  # threadpoolctl comes with scikit-learn; imported by name because it ships no type stubs
        return importlib.import_module("threadpoolctl").ThreadpoolController().select(user_api="openmp")
    except (ImportError, AttributeError):
        return None


def _one_thread_below(rows: int) -> Any:
    """A context running the calling thread's OpenMP code on one thread when ``rows`` is small."""
    controller = _openmp() if rows < 2048 else None
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="openmp")


def _kind(model: Any) -> tuple[str, str]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if type(model) is LogisticRegression:
        return "logistic", "log-odds"
    if type(model) is HistGradientBoostingClassifier:
        return "boosting", "log-odds"
    if type(model) is RandomForestClassifier:
        return "forest", "probability"
    raise BadInput(f"no exact explanation for {type(model).__name__}; train with mlwarden train")


# ---------------------------------------------------------------------------------------------
# Trees as leaves: each leaf's value and, per distinct feature on its path, the interval it needs.


@dataclasses.dataclass(frozen=True)
class _Leaves:
    values: FloatArray  # per leaf, already weighted (a forest's 1 / n_trees)
    slot_leaf: npt.NDArray[np.intp]  # per (leaf, feature) slot: its leaf
    slot_feature: npt.NDArray[np.intp]
    slot_low: FloatArray  # the slot needs low < z <= high
    slot_high: FloatArray
    offset: float  # what every row's output adds (a boosting model's baseline)


def _leaves(model: Any, output_class: int, k: int) -> _Leaves:
    values: list[float] = []
    slots: list[tuple[int, int, float, float]] = []
    if type(model).__name__ == "RandomForestClassifier":
        weight = 1.0 / len(model.estimators_)
        for estimator in model.estimators_:
            t = estimator.tree_
            _walk(
                t.children_left,
                t.children_right,
                t.feature,
                t.threshold,
                t.value[:, 0, output_class] * weight,
                values,
                slots,
            )
        offset = 0.0
    else:
        column = 0 if k == 2 else output_class
        baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        offset = float(baseline[column])
        for iteration in model._predictors:
            nodes = iteration[column].nodes
            if nodes["is_categorical"].any():
                # Native categorical splits go by bitsets; mlwarden train one-hot encodes instead, and an
                # interval reading of a bitset split would be silently wrong (shap #3436): refuse.
                raise BadInput("the boosting model splits on native categories; it cannot be explained exactly")
            left = np.where(nodes["is_leaf"].astype(bool), -1, nodes["left"].astype(np.intp))
            right = np.where(nodes["is_leaf"].astype(bool), -1, nodes["right"].astype(np.intp))
            _walk(left, right, nodes["feature_idx"], nodes["num_threshold"], nodes["value"], values, slots)
    array = np.array(slots, dtype=np.float64).reshape(-1, 4)
    return _Leaves(
        values=np.asarray(values, dtype=np.float64),
        slot_leaf=array[:, 0].astype(np.intp),
        slot_feature=array[:, 1].astype(np.intp),
        slot_low=array[:, 2],
        slot_high=array[:, 3],
        offset=offset,
    )


def _walk(
    left: Any,
    right: Any,
    feature: Any,
    threshold: Any,
    value: Any,
    values: list[float],
    slots: list[tuple[int, int, float, float]],
) -> None:
    """Append one tree's leaves (depth first) and their path intervals (``z <= t`` goes left)."""
    stack: list[tuple[int, dict[int, tuple[float, float]]]] = [(0, {})]
    while stack:
        node, bounds = stack.pop()
        if left[node] == -1:
            leaf = len(values)
            values.append(float(value[node]))
            slots += [(leaf, f, low, high) for f, (low, high) in sorted(bounds.items())]
            continue
        f, t = int(feature[node]), float(threshold[node])
        low, high = bounds.get(f, (-math.inf, math.inf))
        stack.append((int(right[node]), {**bounds, f: (max(low, t), high)}))
        stack.append((int(left[node]), {**bounds, f: (low, min(high, t))}))


MAX_PATH_FEATURES = 63
"""The most distinct features one root-to-leaf path may split on (a leaf's pattern is one 64-bit mask)."""


class _TreeTables:
    """The background's patterns per leaf, and the exact interventional Shapley values of rows.

    A leaf's slots (its distinct path features) are bits of one ``uint64``: a row's failures at a
    leaf, and each background row's, are masks; a background pattern is valid for a row when the
    two masks share no bit. Each leaf keeps its distinct background masks and how many rows share
    each, so a row costs a few array operations over those patterns.
    """

    def __init__(self, leaves: _Leaves, background: FloatArray, float32: bool, width: int) -> None:
        # scipy.sparse, imported by name: scipy ships no type stubs.
        sparse = importlib.import_module("scipy.sparse")

        self._float32 = float32
        self._leaves = leaves
        self._width = width
        n_leaves, n_slots = len(leaves.values), len(leaves.slot_leaf)
        per_leaf = np.bincount(leaves.slot_leaf, minlength=n_leaves)
        depth = int(per_leaf.max()) if n_slots else 0
        if depth > MAX_PATH_FEATURES:
            raise BadInput(
                f"a tree path splits on {depth} distinct features (at most {MAX_PATH_FEATURES} can be explained "
                "exactly); train with fewer features or shallower trees"
            )
        # Slots are grouped by leaf, in leaf order (as _walk appends them).
        self._starts = np.concatenate([[0], np.cumsum(per_leaf)[:-1]]).astype(np.intp)
        self._bit = (np.arange(n_slots) - self._starts[leaves.slot_leaf]).astype(np.uint64)
        self._slotted = per_leaf > 0
        m = background.shape[0]
        masks = self._masks(background)  # (m, leaves): each background row's failures per leaf
        constant = float(leaves.values[~self._slotted].sum())  # trees of one leaf
        reached = (masks == 0) & self._slotted
        self.base = float(leaves.offset + constant + (leaves.values * reached.sum(axis=0)).sum() / m)
        # Distinct (leaf, mask) pairs among leaves with slots, with their counts.
        leaf_ids = np.broadcast_to(np.arange(n_leaves), masks.shape)[:, self._slotted].reshape(-1)
        flat = masks[:, self._slotted].reshape(-1)
        order = np.lexsort((flat, leaf_ids))
        leaf_ids, flat = leaf_ids[order], flat[order]
        first = np.ones(len(flat), dtype=bool)
        first[1:] = (leaf_ids[1:] != leaf_ids[:-1]) | (flat[1:] != flat[:-1])
        starts = np.nonzero(first)[0]
        counts = np.diff(np.append(starts, len(flat)))
        self._pattern_leaf = leaf_ids[starts].astype(np.intp)
        self._pattern_mask = flat[starts]
        self._pattern_size = np.bitwise_count(self._pattern_mask).astype(np.intp)
        self._weight = leaves.values[self._pattern_leaf] * counts / m
        self._plus, self._minus = _shapley_weights(depth)
        # Pattern -> the slots of its mask, for the gains (transposed: slots x patterns).
        bits = (self._pattern_mask[:, None] >> np.arange(depth, dtype=np.uint64)) & np.uint64(1)
        rows, cols = np.nonzero(bits)
        slots = self._starts[self._pattern_leaf[rows]] + cols
        self._gain_matrix = sparse.csr_matrix(
            (np.ones(len(rows)), (slots, rows)), shape=(n_slots, len(self._pattern_leaf))
        )

    def _masks(self, x: FloatArray) -> npt.NDArray[np.uint64]:
        """Per row and leaf, the mask of the leaf's slots the row fails."""
        leaves = self._leaves
        z = x.astype(np.float32).astype(np.float64) if self._float32 else x
        values = z[:, leaves.slot_feature]
        fails = ~((values > leaves.slot_low) & (values <= leaves.slot_high))
        shifted = fails.astype(np.uint64) << self._bit
        out = np.zeros((x.shape[0], len(leaves.values)), dtype=np.uint64)
        if shifted.shape[1]:
            out[:, self._slotted] = np.bitwise_or.reduceat(shifted, self._starts[self._slotted], axis=1)
        return out

    def shap(self, x: FloatArray) -> FloatArray:
        out = np.empty((x.shape[0], self._width))
        leaves = self._leaves
        masks = self._masks(x)
        n_patterns = len(self._pattern_leaf)
        for r in range(x.shape[0]):
            failed = masks[r]
            q = np.bitwise_count(failed).astype(np.intp)
            # Valid patterns share no failed slot with the row; the rest contribute nothing.
            valid = np.flatnonzero((self._pattern_mask & failed[self._pattern_leaf]) == 0)
            leaf = self._pattern_leaf[valid]
            size, pattern_q = self._pattern_size[valid], q[leaf]
            weight = self._weight[valid]
            plus = np.zeros(n_patterns)
            plus[valid] = weight * self._plus[size, pattern_q]  # zero where p = 0
            gain = self._gain_matrix @ plus  # slots in N gain
            leaf_minus = np.bincount(leaf, weight * self._minus[size, pattern_q], minlength=len(leaves.values))
            slot_fails = (failed[leaves.slot_leaf] >> self._bit) & np.uint64(1)
            gain -= leaf_minus[leaves.slot_leaf] * slot_fails  # slots in U lose the leaf's total
            out[r] = np.bincount(leaves.slot_feature, gain, minlength=self._width)
        return out


def _shapley_weights(depth: int) -> tuple[FloatArray, FloatArray]:
    """``plus[p, q] = (p-1)! q! / (p+q)!`` (``p >= 1``) and ``minus[p, q] = p! (q-1)! / (p+q)!`` (``q >= 1``)."""
    size = depth + 1
    plus = np.zeros((size, size))
    minus = np.zeros((size, size))
    for p in range(size):
        for q in range(size):
            if p + q == 0:
                continue
            total = math.factorial(p + q)
            if p >= 1:
                plus[p, q] = math.factorial(p - 1) * math.factorial(q) / total
            if q >= 1:
                minus[p, q] = math.factorial(p) * math.factorial(q - 1) / total
    return plus, minus
