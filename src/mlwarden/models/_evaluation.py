"""Held-out evaluation: metrics with bootstrap intervals and calibration (model cards, performance
monitoring), and the comparison of a retrained challenger with its champion on the same held-out rows.

The point values are scikit-learn's own metrics. The intervals are percentile-bootstrap 95 %
intervals over 1,000 resamples of the held-out rows (seeded), computed vectorised over the
resamples exactly as scikit-learn computes each metric (:func:`bootstrap_metrics`, tested against it
resample by resample).

:func:`compare_held_out` scores two pipelines on the same rows and resamples them *paired* (the
same resampled rows for both, each round), so the interval of the difference per metric accounts
for the two models erring on the same hard rows: a difference whose interval excludes 0 is one
the resampling does not explain away.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

from mlwarden.models._training_data import plain

__all__ = [
    "BOOTSTRAP_ROUNDS",
    "LOWER_IS_BETTER",
    "bootstrap_metrics",
    "compare_held_out",
    "held_out_performance",
    "row_log_loss",
]

BOOTSTRAP_ROUNDS = 1000
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
"""Metrics where a smaller value is the better one (the others: larger is better)."""


def held_out_performance(pipeline: Any, x_test: Any, y_test: Any) -> tuple[dict[str, Any], Any]:
    """Held-out metrics with percentile-bootstrap 95 % intervals, and calibration (two classes)."""
    import numpy as np
    from sklearn import metrics as skm

    predicted = pipeline.predict(x_test)
    proba = pipeline.predict_proba(x_test)
    classes = list(pipeline.classes_)
    y = np.asarray(y_test)
    n = len(y)
    result: dict[str, Any] = {"classes": [plain(c) for c in classes]}
    values = _point_values(y, predicted, proba, classes)
    if len(classes) == 2:
        result["positive_class"] = plain(classes[1])
    draws = np.random.default_rng(0).integers(0, n, (BOOTSTRAP_ROUNDS, n))
    samples = bootstrap_metrics(y, np.asarray(predicted), proba, classes, draws)
    result["metrics"] = {name: _interval(value, samples[name]) for name, value in values.items()}
    result["interval"] = {"method": "percentile bootstrap", "rounds": BOOTSTRAP_ROUNDS, "level": 0.95, "seed": 0}
    if len(classes) == 2:
        scores = proba[:, 1]
        outcome = (y == classes[1]).astype(float)
        edges = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)
        bins = []
        ece = 0.0
        for b in range(10):
            inside = which == b
            count = int(inside.sum())
            mean_p = float(scores[inside].mean()) if count else None
            observed = float(outcome[inside].mean()) if count else None
            if count:
                ece += count / n * abs(mean_p - observed)  # type: ignore[operator]
            bins.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "count": count,
                    "mean_predicted": mean_p,
                    "observed": observed,
                }
            )
        result["calibration"] = {
            "bins": bins,
            "expected_calibration_error": ece,
            "brier": float(skm.brier_score_loss(outcome, scores)),
        }
    return result, predicted


def bootstrap_metrics(y: Any, predicted: Any, proba: Any, classes: Sequence[Any], draws: Any) -> dict[str, Any]:
    """The held-out metrics on each resample (rows ``draws``: rounds x n), as scikit-learn computes them
    (NaN where a resample lacks a class the metric needs); vectorised over the resamples."""
    import numpy as np

    rankdata = importlib.import_module("scipy.stats").rankdata  # by name: scipy ships no type stubs
    yt, yp = y[draws], predicted[draws]
    out: dict[str, Any] = {"accuracy": (yt == yp).mean(axis=1)}
    recalls = []
    for c in classes:
        actual = yt == c
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(actual.any(axis=1), (actual & (yp == c)).sum(axis=1) / actual.sum(axis=1), np.nan))
    # balanced_accuracy_score averages the recall of the classes present in the resample.
    out["balanced_accuracy"] = np.nanmean(np.array(recalls), axis=0)
    if len(classes) == 2:
        outcome = (yt == classes[1]).astype(float)
        scores = proba[:, 1][draws]
        out["brier"] = ((outcome - scores) ** 2).mean(axis=1)
        tp = ((yp == classes[1]) & (outcome == 1)).sum(axis=1)
        fp = ((yp == classes[1]) & (outcome == 0)).sum(axis=1)
        fn = ((yp != classes[1]) & (outcome == 1)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["f1"] = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        ranks = rankdata(scores, axis=1)  # average ranks of ties: the Mann-Whitney form of the ROC AUC
        n1 = outcome.sum(axis=1)
        n0 = outcome.shape[1] - n1
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = ((ranks * outcome).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
        out["roc_auc"] = np.where((n1 > 0) & (n0 > 0), auc, np.nan)
    return out


def compare_held_out(
    champion: Any, challenger: Any, x_test: Any, y_test: Any, *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> dict[str, Any]:
    """Both pipelines on the same held-out rows: per metric each one's value with its percentile-bootstrap
    95 % interval, and the paired interval of the difference (challenger minus champion).

    ``finding`` per metric says which way the difference's interval lies: ``challenger better``,
    ``challenger worse`` (the interval excludes 0), or ``no clear difference``. Both pipelines must
    predict the same classes (in the same order, as scikit-learn sorts them)."""
    import numpy as np

    from mlwarden.errors import BadInput

    classes = list(challenger.classes_)
    if [plain(c) for c in champion.classes_] != [plain(c) for c in classes]:
        raise BadInput(
            f"the champion predicts classes {[plain(c) for c in champion.classes_]}, the challenger "
            f"{[plain(c) for c in classes]}: they cannot be compared"
        )
    y = np.asarray(y_test)
    n = len(y)
    draws = np.random.default_rng(seed).integers(0, n, (rounds, n))
    scored: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    for label, pipeline in (("champion", champion), ("challenger", challenger)):
        predicted = np.asarray(pipeline.predict(x_test))
        proba = np.asarray(pipeline.predict_proba(x_test), dtype=np.float64)
        values = _point_values(y, predicted, proba, classes)
        losses = row_log_loss(y, proba, classes)
        values["log_loss"] = float(losses.mean())
        samples = bootstrap_metrics(y, predicted, proba, classes, draws)
        samples["log_loss"] = losses[draws].mean(axis=1)
        scored[label] = (values, samples)
    (old, old_samples), (new, new_samples) = scored["champion"], scored["challenger"]
    metrics: dict[str, Any] = {}
    for name in new:
        lower = name in LOWER_IS_BETTER
        low, high = _percentiles(new_samples[name] - old_samples[name])
        if low is not None and high is not None and (low > 0 or high < 0):
            gained = (low > 0) != lower
            finding = "challenger better" if gained else "challenger worse"
        else:
            finding = "no clear difference"
        metrics[name] = {
            "champion": _interval(old[name], old_samples[name]),
            "challenger": _interval(new[name], new_samples[name]),
            "difference": {"value": _finite(new[name] - old[name]), "low": low, "high": high},
            "better": "lower" if lower else "higher",
            "finding": finding,
        }
    return {
        "rows": n,
        "classes": [plain(c) for c in classes],
        "metrics": metrics,
        "interval": {"method": "paired percentile bootstrap", "rounds": rounds, "level": 0.95, "seed": seed},
    }


def row_log_loss(y: Any, proba: Any, classes: Sequence[Any]) -> Any:
    """Each row's log loss, clipped as scikit-learn's ``log_loss`` clips (their mean is its value)."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    picked = proba[np.arange(len(y)), [index[v] for v in y]]
    eps = np.finfo(proba.dtype).eps
    return -np.log(np.clip(picked, eps, 1 - eps))


def _point_values(y: Any, predicted: Any, proba: Any, classes: Sequence[Any]) -> dict[str, float]:
    """scikit-learn's held-out metrics of one pipeline's predictions (two classes: with ROC AUC, Brier, F1)."""
    from sklearn import metrics as skm

    values: dict[str, float] = {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, predicted)),
    }
    if len(classes) == 2:
        positive = classes[1]
        values["roc_auc"] = float(skm.roc_auc_score(y == positive, proba[:, 1]))
        values["brier"] = float(skm.brier_score_loss(y == positive, proba[:, 1]))
        values["f1"] = float(skm.f1_score(y, predicted, pos_label=positive))
    return values


def _percentiles(samples: Any) -> tuple[float | None, float | None]:
    """The 2.5th and 97.5th percentiles of the finite samples (``None`` where no resample defines the metric)."""
    import numpy as np

    kept = samples[np.isfinite(samples)]
    if not kept.size:
        return None, None
    low, high = np.percentile(kept, [2.5, 97.5]).tolist()
    return float(low), float(high)


def _interval(value: float, samples: Any) -> dict[str, float | None]:
    low, high = _percentiles(samples)
    return {"value": _finite(value), "low": low, "high": high}


def _finite(value: float) -> float | None:
    """A metric as a JSON number; ``None`` where it is undefined (NaN)."""
    return value if math.isfinite(value) else None
