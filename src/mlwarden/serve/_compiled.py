"""The server's prediction path: the pipelines ``mlwarden train`` fits, compiled to numpy, with a safe fallback.

``mlwarden train`` fits one shape of pipeline (see :mod:`mlwarden.models._training`)::

    Pipeline([("preprocess", ColumnTransformer([
                  ("numeric", Pipeline([SimpleImputer(median), StandardScaler()]), numeric_columns),
                  ("categorical", Pipeline([SimpleImputer(most_frequent),
                                            OneHotEncoder(handle_unknown="ignore")]), categorical_columns)])),
              ("model", LogisticRegression | RandomForestClassifier | HistGradientBoostingClassifier)])

Calling it on a one-row pandas DataFrame costs milliseconds, almost all of it in pandas and in
scikit-learn's input validation. :func:`build_predictor` reads the fitted parameters out of a
pipeline of exactly that shape and does the same arithmetic on numpy arrays: imputation and
scaling are two in-place operations, the one-hot block is one fancy assignment (categories are
found through a dict from ``str(category)`` to column), and a logistic regression is a matrix
product followed by ``expit`` or a softmax written as scikit-learn writes them. A random forest
sums its trees' predictions as ``predict_proba`` does, without joblib's dispatch (which costs
milliseconds per call for 200 trees); gradient boosting gets the compiled matrix directly, on one
OpenMP thread for small batches (see :func:`_one_openmp_thread`).

Nothing is trusted on faith: every parameter the arithmetic relies on is checked (strategy,
``missing_values``, ``with_mean``, ``handle_unknown``, ``drop``, infrequent categories,
``remainder``, transformer weights, column lists, matrix widths...), and anything unexpected
falls back to calling the pipeline. Then a self-check runs both paths on ``check_rows``
generated rows (values inside and outside the training range, a null in every column, every
category, an unknown category) and keeps the compiled path only when the probabilities agree
within 1e-9 and the labels are identical. The fallback (:mod:`mlwarden.serve._predictor`)
rebuilds a DataFrame with the objects and dtypes scikit-learn saw at fit time, so it is correct
for any pipeline, only slower.

Batches are column-wise: ``{column: array}``, numeric columns float64 with NaN for null,
categorical columns an object array of ``str`` (the ``str()`` of a training value, as the input
schema lists them) or ``None`` for null. An unknown category string behaves as scikit-learn's
``handle_unknown="ignore"``: an all-zero one-hot block. Predictors hold no mutable state once
built, so several threads may call ``predict`` at once.

Example::

    predictor = build_predictor(result.pipeline, result.input_schema)
    prediction = predictor.predict({"age": np.array([42.0]), "housing": np.array(["own"], dtype=object), ...})
    prediction.labels, prediction.proba      # ["good"], array([[0.21, 0.79]])
"""

import contextlib
import functools
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import BadInput
from mlwarden.serve._predictor import (
    Column,
    FloatArray,
    PipelinePredictor,
    Prediction,
    Predictor,
    batch_length,
    is_name_list,
    is_null,
    parse_schema,
    plain,
)

__all__ = ["build_predictor"]

# The largest difference in probability the self-check accepts between the two paths.
_TOLERANCE = 1e-9
# Below this many rows gradient boosting predicts on one OpenMP thread (see _one_openmp_thread).
_OPENMP_MIN_ROWS = 2048
# A category string no training value has: the self-check's unknown category.
_UNKNOWN = "\x00mlwarden: a category not seen in training"


def build_predictor(
    pipeline: Any, input_schema: Mapping[str, Any], *, check_rows: int = 512, seed: int = 0
) -> Predictor:
    """The compiled predictor for ``pipeline`` when it has the shape ``mlwarden train`` fits and passes the
    self-check on ``check_rows`` generated rows; otherwise a predictor that calls the pipeline.

    The reason the fast path was not taken is in ``why_not_compiled`` (``None`` when compiled).
    Raises :class:`BadInput` when the schema is malformed or the pipeline cannot serve it at all.
    """
    if check_rows < 1:
        raise BadInput("the self-check needs at least one row")
    columns = parse_schema(input_schema)
    fallback = PipelinePredictor(pipeline, columns)
    try:
        compiled = _compile(pipeline, columns)
    except _NotCompilable as exc:
        return fallback.because(str(exc))
    reason = _self_check(compiled, fallback, columns, check_rows, seed)
    if reason is not None:
        return fallback.because(reason)
    return compiled


class _Codes(dict[object, int]):
    """``str(category) -> column`` of one one-hot block; ``None`` maps to the imputed category, others to -1."""

    def __missing__(self, key: object) -> int:
        return -1


class _NotCompilable(Exception):
    """The pipeline is not of the shape the compiled path reproduces; the message says why."""


# ---------------------------------------------------------------------------------------------
# The compiled path.


class _CompiledPredictor:
    """The pipeline's arithmetic on numpy arrays. Immutable once built: safe to share between threads."""

    compiled = True
    why_not_compiled: str | None = None

    def __init__(
        self,
        *,
        names: tuple[str, ...],
        numeric: tuple[str, ...],
        fill: FloatArray,
        mean: FloatArray,
        scale: FloatArray,
        categorical: tuple[str, ...],
        tables: tuple[_Codes, ...],
        imputed: tuple[int, ...],
        offsets: npt.NDArray[np.intp],
        width: int,
        model: Any,
        kind: str,
        classes: Sequence[object],
    ) -> None:
        self._names = names
        self._numeric = numeric
        self._fill = fill
        self._mean = mean
        self._scale = scale
        self._categorical = categorical
        self._lookups = tuple(zip(categorical, (t.__getitem__ for t in tables), strict=True))
        self._imputed = imputed
        self._offsets = offsets.reshape(-1, 1)
        self._width = width
        self._model = model
        self._kind = kind
        self.classes: tuple[object, ...] = tuple(classes)
        # scipy.special.expit, as scikit-learn calls it; imported by name because scipy ships no type stubs.
        self._expit: Callable[[FloatArray], FloatArray] = importlib.import_module("scipy.special").expit
        if kind == "boosting":
            self._one_openmp_thread = _one_openmp_thread()
        if kind == "forest":
            self._trees = tuple(tree.tree_ for tree in model.estimators_)
        if kind in ("logistic-binary", "logistic-multinomial"):
            self._coef_t = model.coef_.T  # the same transposed view scikit-learn multiplies by
            self._intercept = model.intercept_

    def features(self, batch: Mapping[str, npt.NDArray[Any]]) -> FloatArray:
        """The preprocessed matrix: what the ColumnTransformer returns, dense."""
        n = batch_length(batch, self._names)
        x = np.zeros((n, self._width))
        p = len(self._numeric)
        if p:
            # SimpleImputer then StandardScaler.transform: the same operations on the same float64 values.
            block = np.array([batch[name] for name in self._numeric], dtype=np.float64).T
            np.copyto(block, self._fill, where=np.isnan(block))
            block -= self._mean
            block /= self._scale
            if not np.isfinite(block).all():  # scikit-learn refuses infinity, before or after scaling
                bad = self._numeric[int(np.nonzero(~np.isfinite(block))[1][0])]
                raise BadInput(f"numeric column {bad!r} holds an infinite or too large value")
            x[:, :p] = block
        m = len(self._categorical)
        if m:
            # One dict lookup per value (a C loop through map), then one fancy assignment of the ones.
            found: list[int] = []
            for name, lookup in self._lookups:
                column = batch[name]
                found += map(lookup, column.tolist() if isinstance(column, np.ndarray) else column)
            codes = np.array(found, dtype=np.intp).reshape(m, n)
            unknown = codes.min() < 0
            if unknown:
                self._impute_nan_floats(batch, codes)
            ones = codes + (self._offsets + np.arange(0, n * self._width, self._width))
            x.reshape(-1)[ones[codes >= 0] if unknown else ones] = 1.0
        return x

    def _impute_nan_floats(self, batch: Mapping[str, npt.NDArray[Any]], codes: npt.NDArray[np.intp]) -> None:
        # None is in the tables; a float NaN (not hashable to one key) is null too. Anything else stays
        # unknown (-1): an all-zero block, as handle_unknown="ignore" gives.
        for j, r in zip(*np.nonzero(codes < 0), strict=True):
            if is_null(batch[self._categorical[j]][r]):
                codes[j, r] = self._imputed[j]

    def predict(self, batch: Mapping[str, npt.NDArray[Any]]) -> Prediction:
        x = self.features(batch)
        proba, indices = self._estimate(x)
        classes = self.classes
        return Prediction([classes[i] for i in indices.tolist()], proba, x)

    def _estimate(self, x: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """Probabilities and the index of each row's label, computed as the estimator's own methods do."""
        if self._kind == "logistic-binary":
            # LinearClassifierMixin.decision_function, then _predict_proba_lr and predict.
            scores = (x @ self._coef_t + self._intercept).reshape(-1)
            positive = self._expit(scores)
            return np.stack([1 - positive, positive], axis=1), (scores > 0).astype(np.intp)
        if self._kind == "logistic-multinomial":
            scores = x @ self._coef_t + self._intercept
            return _softmax(scores), np.argmax(scores, axis=1)
        if self._kind == "boosting":
            # HistGradientBoostingClassifier: predict_proba is the loss's inverse link of the raw score,
            # predict thresholds the raw score itself (so ties go as predict sends them).
            if x.shape[0] < _OPENMP_MIN_ROWS:
                with self._one_openmp_thread():
                    raw = np.asarray(self._model.decision_function(x), dtype=np.float64)
            else:
                raw = np.asarray(self._model.decision_function(x), dtype=np.float64)
            if raw.ndim == 1:
                proba = np.empty((raw.shape[0], 2))
                proba[:, 1] = self._expit(raw)
                proba[:, 0] = 1 - proba[:, 1]
                return proba, (raw > 0).astype(np.intp)
            labels = np.argmax(raw, axis=1)
            return _softmax(raw), labels  # raw is decision_function's own array: softmax in place
        # RandomForestClassifier.predict_proba without joblib's dispatch (milliseconds for 200 trees) or each
        # tree's input checks: every tree's DecisionTreeClassifier.predict_proba is tree_.predict(X)[:, :k] on
        # float32 input; the forest sums them in its order and divides by their number. predict is
        # classes_.take(argmax(predict_proba)).
        x32 = x.astype(np.float32)
        if not np.isfinite(x32).all():
            raise BadInput("a numeric value is too large for the model")
        k = len(self.classes)
        proba = np.zeros((x.shape[0], k))
        for tree in self._trees:
            proba += tree.predict(x32)[:, :k]
        proba /= len(self._trees)
        return proba, np.argmax(proba, axis=1)


def _one_openmp_thread() -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A context that runs OpenMP code of the calling thread on one thread.

    HistGradientBoostingClassifier predicts with one OpenMP parallel region per tree on every core; on
    a small batch that is all start-up and barriers, and on a busy machine (a server under load) each
    barrier waits for a descheduled thread: a one-row prediction measured 1 ms on one thread and 3-11 ms
    on two. The limit is the calling thread's own (OpenMP keeps it per thread), so concurrent calls do
    not disturb each other.
    """
    try:  # threadpoolctl comes with scikit-learn; imported by name because it ships no type stubs
        controller = importlib.import_module("threadpoolctl").ThreadpoolController().select(user_api="openmp")
    except (ImportError, AttributeError):
        return contextlib.nullcontext
    return functools.partial(controller.limit, limits=1, user_api="openmp")


def _softmax(scores: FloatArray) -> FloatArray:
    """sklearn.utils.extmath.softmax, operation for operation (in place on ``scores``)."""
    scores -= np.max(scores, axis=1).reshape((-1, 1))
    np.exp(scores, out=scores)
    scores /= np.sum(scores, axis=1).reshape((-1, 1))
    return scores


def _compile(pipeline: Any, columns: tuple[Column, ...]) -> _CompiledPredictor:
    """Read the fitted parameters out of a pipeline of the trained shape; raise _NotCompilable otherwise."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
        raise _NotCompilable("the model is not a two-step scikit-learn Pipeline")
    pre, model = pipeline.steps[0][1], pipeline.steps[1][1]
    if type(pre) is not ColumnTransformer:
        raise _NotCompilable("the first step is not a ColumnTransformer")
    if pre.remainder != "drop" or pre.transformer_weights is not None:
        raise _NotCompilable("the ColumnTransformer passes columns through or weights them")
    numeric_part: tuple[list[str], Any] | None = None
    categorical_part: tuple[list[str], Any] | None = None
    for name, transformer, selected in pre.transformers_:
        if not is_name_list(selected):
            raise _NotCompilable(f"transformer {name!r} selects columns by something other than their names")
        if transformer == "drop" or len(selected) == 0:
            continue
        shape = _transformer_shape(transformer)
        if shape == "numeric" and numeric_part is None:
            numeric_part = (list(selected), transformer)
        elif shape == "categorical" and categorical_part is None:
            categorical_part = (list(selected), transformer)
        else:
            raise _NotCompilable(f"transformer {name!r} is not a numeric or categorical pipeline of the trained shape")
    numeric, numeric_pipeline = numeric_part or ([], None)
    categorical, categorical_pipeline = categorical_part or ([], None)
    schema_numeric = {c.name for c in columns if not c.categorical}
    schema_categorical = {c.name for c in columns if c.categorical}
    if set(numeric) != schema_numeric or set(categorical) != schema_categorical:
        raise _NotCompilable("the pipeline's numeric and categorical columns are not the input schema's")
    if len(set(numeric)) != len(numeric) or len(set(categorical)) != len(categorical):
        raise _NotCompilable("the pipeline selects a column twice")
    for column in columns:
        if column.dtype is not None and column.dtype.kind not in "iu" and column.dtype != np.float64:
            raise _NotCompilable(f"numeric column {column.name!r} was {column.dtype}, not float64 or integer")

    fill, mean, scale = _numeric_parameters(numeric_pipeline, len(numeric))
    tables, imputed, sizes = _categorical_parameters(categorical_pipeline, categorical)
    offsets = np.cumsum([len(numeric), *sizes[:-1]]) if sizes else np.empty(0)
    width = len(numeric) + sum(sizes)

    if getattr(model, "n_features_in_", None) != width or hasattr(model, "feature_names_in_"):
        raise _NotCompilable("the estimator was not fitted on the ColumnTransformer's plain matrix")
    classes = [plain(c) for c in getattr(model, "classes_", [])]
    if len(classes) < 2:
        raise _NotCompilable("the estimator is not a fitted classifier")
    kind = _model_kind(model, len(classes), width)
    return _CompiledPredictor(
        names=tuple(c.name for c in columns),
        numeric=tuple(numeric),
        fill=fill,
        mean=mean,
        scale=scale,
        categorical=tuple(categorical),
        tables=tables,
        imputed=imputed,
        offsets=np.asarray(offsets, dtype=np.intp),
        width=width,
        model=model,
        kind=kind,
        classes=classes,
    )


def _transformer_shape(transformer: Any) -> str | None:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if type(transformer) is not Pipeline or len(transformer.steps) != 2:
        return None
    first, second = (step for _, step in transformer.steps)
    if type(first) is not SimpleImputer:
        return None
    if type(second) is StandardScaler:
        return "numeric"
    if type(second) is OneHotEncoder:
        return "categorical"
    return None


def _check_imputer(imputer: Any, strategies: tuple[str, ...], width: int) -> None:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise _NotCompilable("an imputer treats something other than NaN as missing")
    if imputer.strategy not in strategies or imputer.add_indicator:
        raise _NotCompilable(f"an imputer has strategy {imputer.strategy!r} or adds indicator columns")
    if len(imputer.statistics_) != width or getattr(imputer, "n_features_in_", width) != width:
        raise _NotCompilable("an imputer was fitted on other columns")


def _numeric_parameters(pipeline: Any, p: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Imputed values, means and scales of the numeric block (mean 0 and scale 1 where not used)."""
    if pipeline is None:
        return np.empty(0), np.empty(0), np.empty(0)
    imputer, scaler = (step for _, step in pipeline.steps)
    _check_imputer(imputer, ("median", "mean", "most_frequent", "constant"), p)
    try:
        fill = np.asarray(imputer.statistics_, dtype=np.float64)
    except (TypeError, ValueError):
        raise _NotCompilable("a numeric imputer fills with something other than numbers") from None
    if not np.isfinite(fill).all():
        raise _NotCompilable("a numeric column had no value in training (its imputer drops it)")
    if scaler.n_features_in_ != p:
        raise _NotCompilable("the scaler was fitted on other columns")
    mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros(p)
    scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones(p)
    if mean.shape != (p,) or scale.shape != (p,):
        raise _NotCompilable("the scaler's parameters do not match its columns")
    return fill, mean, scale


def _categorical_parameters(pipeline: Any, names: list[str]) -> tuple[tuple[_Codes, ...], tuple[int, ...], list[int]]:
    """Per column: ``str(category) -> index`` (``None`` -> the imputed category), the imputed index, the size."""
    if pipeline is None:
        return (), (), []
    imputer, encoder = (step for _, step in pipeline.steps)
    m = len(names)
    _check_imputer(imputer, ("most_frequent", "constant"), m)
    if (
        encoder.handle_unknown != "ignore"
        or encoder.drop is not None
        or encoder.min_frequency is not None
        or encoder.max_categories is not None
        or getattr(encoder, "_infrequent_enabled", False)
        or np.dtype(encoder.dtype) != np.float64
        or len(encoder.categories_) != m
    ):
        raise _NotCompilable("the one-hot encoder drops, groups or rejects categories, or is not float64")
    tables: list[_Codes] = []
    imputed: list[int] = []
    sizes: list[int] = []
    for name, categories, fill in zip(names, encoder.categories_, imputer.statistics_, strict=True):
        values = list(categories)
        if any(is_null(v) for v in values) or is_null(fill):
            raise _NotCompilable(f"column {name!r} has a null category or no value in training")
        table = _Codes((str(v), i) for i, v in enumerate(values))
        if len(table) != len(values):
            raise _NotCompilable(f"two categories of column {name!r} print the same")
        positions = [i for i, v in enumerate(values) if v == fill]  # the encoder's own lookup is by ==
        if len(positions) != 1:
            raise _NotCompilable(f"the imputed value of column {name!r} is not one of its categories")
        table[None] = positions[0]
        tables.append(table)
        imputed.append(positions[0])
        sizes.append(len(values))
    return tuple(tables), tuple(imputed), sizes


def _model_kind(model: Any, k: int, width: int) -> str:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if type(model) is LogisticRegression:
        rows = 1 if k == 2 else k
        if model.coef_.shape != (rows, width) or model.intercept_.shape != (rows,):
            raise _NotCompilable("the logistic regression's coefficients do not match its classes")
        if getattr(model, "multi_class", "auto") not in ("auto", "deprecated", "multinomial") or (
            k > 2 and model.solver == "liblinear"
        ):
            raise _NotCompilable("the logistic regression is one-vs-rest")
        return "logistic-binary" if k == 2 else "logistic-multinomial"
    if type(model) is RandomForestClassifier:
        trees = getattr(model, "estimators_", [])
        if model.n_outputs_ != 1 or not trees or any(t.n_outputs_ != 1 or t.n_classes_ != k for t in trees):
            raise _NotCompilable("the forest predicts several outputs, or its trees other classes")
        return "forest"
    if type(model) is HistGradientBoostingClassifier:
        return "boosting"
    raise _NotCompilable(f"no compiled path for {type(model).__name__}")


# ---------------------------------------------------------------------------------------------
# The self-check.


def _self_check(
    compiled: _CompiledPredictor,
    fallback: PipelinePredictor,
    columns: tuple[Column, ...],
    rows: int,
    seed: int,
) -> str | None:
    """None when the compiled path agrees with the pipeline on generated rows; otherwise why not."""
    batch = _check_batch(columns, fallback.originals, rows, seed)
    try:
        expected = fallback.predict(batch)
    except Exception as exc:  # the pipeline itself fails on the check rows: nothing to compare against
        return f"self-check: the pipeline failed on the check rows ({type(exc).__name__})"
    try:
        got = compiled.predict(batch)
        singles = [compiled.predict({k: v[i : i + 1] for k, v in batch.items()}) for i in range(min(rows, 3))]
    except Exception as exc:  # a compiled-path bug must never take the server down: fall back
        return f"self-check: the compiled path failed ({type(exc).__name__}: {exc})"
    if compiled.classes != fallback.classes:
        return "self-check: the classes differ"
    if expected.features is None or got.features is None or got.features.shape != expected.features.shape:
        return "self-check: the preprocessed matrix has another shape"
    if got.proba.shape != expected.proba.shape:
        return "self-check: the probabilities have another shape"
    proba_gap = float(np.max(np.abs(got.proba - expected.proba)))
    gap = max(proba_gap, float(np.max(np.abs(got.features - expected.features))))
    if not gap <= _TOLERANCE:  # also true for NaN
        return f"self-check: the compiled path differs from the pipeline by {gap:.3g}"
    same_types = all(type(a) is type(b) for a, b in zip(got.labels, expected.labels, strict=True))
    if got.labels != expected.labels or not same_types:
        return "self-check: the compiled path predicts other labels"
    for i, single in enumerate(singles):
        if single.labels != got.labels[i : i + 1] or not np.max(np.abs(single.proba - got.proba[i])) <= _TOLERANCE:
            return "self-check: a one-row batch differs from the same row in a larger batch"
    return None


def _check_batch(
    columns: tuple[Column, ...], originals: Mapping[str, Mapping[str, object]], rows: int, seed: int
) -> dict[str, npt.NDArray[Any]]:
    """Rows covering each column: values in and around the training range, nulls, every category, an unknown one.

    The first row is all null; every column has a null and (categorical) an unknown category somewhere.
    """
    rng = np.random.default_rng(seed)
    batch: dict[str, npt.NDArray[Any]] = {}
    for j, column in enumerate(columns):
        if column.categorical:
            known = sorted(set(column.categories) | set(originals.get(column.name, {})))
            pool: list[object] = [*known, None, _UNKNOWN]
            picks = [pool[i % len(pool)] for i in rng.permutation(max(rows, len(pool)))[:rows]]
            values = np.array(picks, dtype=object)
            values[rng.random(rows) < 0.08] = None
            values[(j + 1) % rows] = _UNKNOWN
            values[0] = None
        else:
            low = column.low if column.low is not None else -1.0
            high = column.high if column.high is not None else 1.0
            span = max(high - low, 1.0)
            values = rng.uniform(low - span / 2, high + span / 2, rows)
            if column.dtype is not None and column.dtype.kind in "iu":
                values[: rows // 2] = np.round(values[: rows // 2])
            values[rng.random(rows) < 0.03] = low
            values[rng.random(rows) < 0.03] = high
            values[rng.random(rows) < 0.08] = np.nan
            values[0] = np.nan
        batch[column.name] = values
    return batch
