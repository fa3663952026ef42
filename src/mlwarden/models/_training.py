"""Fitting the pipelines ``mlwarden train`` makes: preprocessing, a classifier, a held-out evaluation.

The pipeline encodes categorical columns (most frequent imputation, one-hot with unknown
categories ignored) and scales numeric ones (median imputation, standardisation), then fits one
of three classifiers. A stratified split (25 % by default, fixed seed) gives the metrics; the
model that is kept is the one fitted on the training part, so the metrics describe it exactly.

The input schema records each feature's type and, for the serving issue's input validation,
its observed range (numeric) or categories (categorical, up to 200). What tables are accepted
(unique names, finite numbers, no dates, a target of classes; unlabelled rows are dropped and
counted) is checked first, in :mod:`mlwarden.models._training_data`.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import warnings
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput
from mlwarden.models._training_data import plain, prepare, split_sizes

if TYPE_CHECKING:
    import pandas

__all__ = [
    "BACKGROUNDS",
    "ESTIMATORS",
    "MAX_CATEGORIES",
    "TrainResult",
    "fit_classifier",
    "held_out",
    "library_versions",
]

ESTIMATORS = ("logistic", "random-forest", "gradient-boosting")
BACKGROUNDS = ("training", "near-cutoff")
"""What explanations are relative to: a seeded sample of the training rows, or the training rows whose
predicted probability of the positive class is nearest the 0.5 cutoff (Regulation B comment 9(b)(2)-5)."""
MAX_CATEGORIES = 200
"""The most categories the input schema lists for a column; a column with more is listed cut short."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    pipeline: Any
    metrics: dict[str, Any]
    input_schema: dict[str, Any]
    parameters: dict[str, Any]
    background: Any = None
    """The explanation background: preprocessed training rows (float64, rows x features), or ``None``."""
    background_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: Any = None
    """The drift reference profile (:class:`mlwarden.monitor.ReferenceProfile`) of the training
    data's features, and of the scores and labels predicted for the held-out rows; or ``None``."""


def _estimator(kind: str, seed: int) -> Any:
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000)
    if kind == "random-forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=seed)
    if kind == "gradient-boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed)
    raise BadInput(f"unknown estimator {kind!r}: use one of {', '.join(ESTIMATORS)}")


def _input_schema(features: pandas.DataFrame, categorical: list[str]) -> dict[str, Any]:
    columns = []
    for name in features.columns:
        column = features[name]
        entry: dict[str, Any] = {"name": str(name), "nullable": bool(column.isna().any())}
        if name in categorical:
            values = sorted({str(v) for v in column.dropna().unique()})
            entry.update(type="categorical", categories=values[:MAX_CATEGORIES])
        else:
            entry.update(type="numeric", dtype=str(column.dtype), min=float(column.min()), max=float(column.max()))
        columns.append(entry)
    return {"columns": columns}


def fit_classifier(
    frame: pandas.DataFrame,
    target: str,
    *,
    estimator: str = "logistic",
    test_size: float = 0.25,
    seed: int = 0,
    background: str = "training",
    background_rows: int = 100,
) -> TrainResult:
    """Fit a preprocessing + classifier pipeline on ``frame`` to predict ``target``.

    ``background`` and ``background_rows`` choose the explanation background (:data:`BACKGROUNDS`):
    at most that many training rows, preprocessed, kept with the model."""
    from sklearn import exceptions as skm_exceptions
    from sklearn import metrics as skm
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if not 0.05 <= test_size <= 0.5:
        raise BadInput("the held-out share must be between 0.05 and 0.5")
    if background not in BACKGROUNDS:
        raise BadInput(f"unknown background {background!r}: use one of {', '.join(BACKGROUNDS)}")
    if not 1 <= background_rows <= 5000:
        raise BadInput("the explanation background must have 1 to 5000 rows")
    prepared = prepare(frame, target)
    features, y = prepared.features, prepared.target
    numeric, categorical = prepared.numeric, prepared.categorical
    split_sizes(len(y), prepared.classes, test_size)
    features = features.astype({c: "object" for c in categorical})
    pre = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                categorical,
            ),
        ],
        # HistGradientBoosting refuses sparse input, which the one-hot block makes when categories
        # dominate; the other classifiers take either.
        sparse_threshold=0.0 if estimator == "gradient-boosting" else 0.3,
    )
    model = _estimator(estimator, seed)
    pipeline = Pipeline([("preprocess", pre), ("model", model)])
    x_train, x_test, y_train, y_test = train_test_split(features, y, test_size=test_size, random_state=seed, stratify=y)
    pipeline.fit(x_train, y_train)
    chosen, info = _background(pipeline, x_train, background, background_rows, seed)
    with warnings.catch_warnings():
        # Rare classes may miss the held-out rows: scikit-learn warns, and a metric it cannot define
        # (a one-vs-rest AUC) is recorded as null. Its warnings would reach the user's terminal raw.
        warnings.simplefilter("ignore", skm_exceptions.UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        result = _metrics(skm, pipeline, x_test, y_test)
    result.update(train_rows=len(x_train), test_rows=len(x_test), unlabelled_rows_dropped=prepared.unlabelled)
    parameters = {
        "estimator": estimator,
        "target": target,
        "test_size": test_size,
        "seed": seed,
        "numeric_features": [str(c) for c in numeric],
        "categorical_features": [str(c) for c in categorical],
        "model_params": {k: plain(v) for k, v in sorted(model.get_params().items())},
    }
    profile = _profile(pipeline, features, categorical, x_test)
    return TrainResult(pipeline, result, _input_schema(features, categorical), parameters, chosen, info, profile)


def _profile(pipeline: Any, features: Any, categorical: list[str], x_test: Any) -> Any:
    """The drift reference: every labelled row's features; predictions on held-out rows only (a model
    is more confident on the rows it was fitted on than it will be on new ones)."""
    from mlwarden.monitor import ReferenceProfile

    return ReferenceProfile.from_frame(
        features,
        categorical=[str(c) for c in categorical],
        proba=pipeline.predict_proba(x_test),
        labels=list(pipeline.predict(x_test)),
        classes=list(pipeline.classes_),
        source={"features": "training data (all labelled rows)", "prediction": "held-out rows"},
    )


def held_out(frame: pandas.DataFrame, target: str, *, test_size: float, seed: int) -> tuple[Any, Any]:
    """The held-out rows (features, target) of a training run: the split :func:`fit_classifier` made."""
    from sklearn.model_selection import train_test_split

    prepared = prepare(frame, target)
    features = prepared.features.astype({c: "object" for c in prepared.categorical})
    split_sizes(len(prepared.target), prepared.classes, test_size)
    _, x_test, _, y_test = train_test_split(
        features, prepared.target, test_size=test_size, random_state=seed, stratify=prepared.target
    )
    return x_test, y_test


def _background(pipeline: Any, x_train: Any, rule: str, rows: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """The preprocessed background rows and their description (rule, rows, seed)."""
    import numpy as np

    pre = pipeline.steps[0][1]
    n = len(x_train)
    if rule == "near-cutoff":
        proba = pipeline.predict_proba(x_train)
        # Distance to the cutoff of the class predicted: |p - 1/2| for two classes, the margin otherwise.
        top = np.sort(proba, axis=1)
        margin = top[:, -1] - top[:, -2]
        picked = np.sort(np.argsort(margin, kind="stable")[: min(rows, n)])
    elif n <= rows:
        picked = np.arange(n)
    else:
        picked = np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
    matrix = pre.transform(x_train.iloc[picked])
    matrix = np.ascontiguousarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float64)
    return matrix, {"rule": rule, "rows": int(matrix.shape[0]), "of": n, "seed": seed}


def _metrics(skm: Any, pipeline: Any, x_test: Any, y_test: Any) -> dict[str, Any]:
    """The held-out evaluation of a fitted pipeline (``skm``: :mod:`sklearn.metrics`)."""
    predicted = pipeline.predict(x_test)
    proba = pipeline.predict_proba(x_test)
    labels = list(pipeline.classes_)
    result: dict[str, Any] = {
        "accuracy": _score(skm.accuracy_score(y_test, predicted)),
        "balanced_accuracy": _score(skm.balanced_accuracy_score(y_test, predicted)),
        "log_loss": _score(skm.log_loss(y_test, proba, labels=labels)),
        "classes": [plain(c) for c in labels],
    }
    if len(labels) == 2:
        positive = labels[1]
        scores = proba[:, 1]
        result.update(
            roc_auc=_score(skm.roc_auc_score(y_test == positive, scores)),
            f1=_score(skm.f1_score(y_test, predicted, pos_label=positive)),
            brier=_score(skm.brier_score_loss(y_test == positive, scores)),
            positive_class=plain(positive),
        )
    else:
        result["roc_auc_ovr"] = _score(skm.roc_auc_score(y_test, proba, multi_class="ovr", labels=labels))
        result["f1_macro"] = _score(skm.f1_score(y_test, predicted, average="macro"))
    return result


def _score(value: Any) -> float | None:
    """A metric as a JSON number; ``None`` where it is undefined (NaN) on the held-out rows."""
    score = float(value)
    return score if math.isfinite(score) else None


def library_versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("mlwarden", "scikit-learn", "skops", "numpy", "scipy", "pandas"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
