"""Fitting the pipelines ``mlwarden train`` makes: preprocessing, a classifier, a held-out evaluation.

The pipeline encodes categorical columns (most frequent imputation, one-hot with unknown
categories ignored) and scales numeric ones (median imputation, standardisation), then fits one
of three classifiers. A stratified split (25 % by default, fixed seed) gives the metrics; the
model that is kept is the one fitted on the training part, so the metrics describe it exactly.

The input schema records each feature's type and, for the serving issue's input validation,
its observed range (numeric) or categories (categorical, up to 200).
"""

from __future__ import annotations

import dataclasses
import platform
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput

if TYPE_CHECKING:
    import pandas

__all__ = ["ESTIMATORS", "MAX_CATEGORIES", "TrainResult", "fit_classifier", "library_versions"]

ESTIMATORS = ("logistic", "random-forest", "gradient-boosting")
MAX_CATEGORIES = 200
"""The most categories the input schema lists for a column; a column with more is listed cut short."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    pipeline: Any
    metrics: dict[str, Any]
    input_schema: dict[str, Any]
    parameters: dict[str, Any]


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
) -> TrainResult:
    """Fit a preprocessing + classifier pipeline on ``frame`` to predict ``target``."""
    from pandas.api import types as ptypes
    from sklearn import metrics as skm
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise BadInput(f"no column {target!r} in the dataset; its columns are {shown}")
    if not 0.05 <= test_size <= 0.5:
        raise BadInput("the held-out share must be between 0.05 and 0.5")
    labelled = frame[frame[target].notna()]
    y = labelled[target]
    features = labelled.drop(columns=[target])
    if features.shape[1] == 0:
        raise BadInput("the dataset has no feature columns besides the target")
    classes = y.unique()
    if len(classes) < 2:
        raise BadInput(f"target {target!r} has a single value: there is nothing to learn")
    if len(classes) > 50 or (ptypes.is_float_dtype(y) and len(classes) > 20):
        raise BadInput(f"target {target!r} looks continuous ({len(classes)} values): mlwarden train fits classifiers")
    counts = y.value_counts()
    if counts.min() < 2:
        raise BadInput(f"class {counts.idxmin()!r} of {target!r} has a single row: too few to split for evaluation")
    categorical = [
        c for c in features.columns if not ptypes.is_numeric_dtype(features[c]) or ptypes.is_bool_dtype(features[c])
    ]
    numeric = [c for c in features.columns if c not in categorical]
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
    x_train, x_test, y_train, y_test = train_test_split(
        features, y, test_size=test_size, random_state=seed, stratify=y
    )
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    proba = pipeline.predict_proba(x_test)
    labels = list(pipeline.classes_)
    result: dict[str, Any] = {
        "accuracy": float(skm.accuracy_score(y_test, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_test, predicted)),
        "log_loss": float(skm.log_loss(y_test, proba, labels=labels)),
        "train_rows": len(x_train),
        "test_rows": len(x_test),
        "classes": [_plain(c) for c in labels],
    }
    if len(labels) == 2:
        positive = labels[1]
        scores = proba[:, 1]
        result.update(
            roc_auc=float(skm.roc_auc_score(y_test == positive, scores)),
            f1=float(skm.f1_score(y_test, predicted, pos_label=positive)),
            brier=float(skm.brier_score_loss(y_test == positive, scores)),
            positive_class=_plain(positive),
        )
    else:
        result["roc_auc_ovr"] = float(skm.roc_auc_score(y_test, proba, multi_class="ovr", labels=labels))
        result["f1_macro"] = float(skm.f1_score(y_test, predicted, average="macro"))
    parameters = {
        "estimator": estimator,
        "target": target,
        "test_size": test_size,
        "seed": seed,
        "numeric_features": [str(c) for c in numeric],
        "categorical_features": [str(c) for c in categorical],
        "model_params": {k: _plain(v) for k, v in sorted(model.get_params().items())},
    }
    return TrainResult(pipeline, result, _input_schema(features, categorical), parameters)


def _plain(value: Any) -> Any:
    """A JSON value for a parameter or label (numpy scalars become Python ones; others their repr)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            plain = item()
        except (TypeError, ValueError):
            return repr(value)
        if isinstance(plain, (bool, int, float, str)):
            return plain
    return repr(value)


def library_versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("mlwarden", "scikit-learn", "skops", "numpy", "scipy", "pandas"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
