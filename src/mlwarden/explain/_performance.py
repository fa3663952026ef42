"""Held-out performance for the model card: metrics with bootstrap intervals, and calibration.

The point values are scikit-learn's own metrics. The intervals are percentile-bootstrap 95 %
intervals over 1,000 resamples of the held-out rows (seeded), computed vectorised over the
resamples exactly as scikit-learn computes each metric (:func:`bootstrap_metrics`, tested against it
resample by resample).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from mlwarden.models._training_data import plain

__all__ = ["BOOTSTRAP_ROUNDS", "bootstrap_metrics", "held_out_performance"]

BOOTSTRAP_ROUNDS = 1000


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
    values: dict[str, float] = {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, predicted)),
    }
    if len(classes) == 2:
        positive = classes[1]
        values["roc_auc"] = float(skm.roc_auc_score(y == positive, proba[:, 1]))
        values["brier"] = float(skm.brier_score_loss(y == positive, proba[:, 1]))
        values["f1"] = float(skm.f1_score(y, predicted, pos_label=positive))
        result["positive_class"] = plain(positive)
    draws = np.random.default_rng(0).integers(0, n, (BOOTSTRAP_ROUNDS, n))
    samples = bootstrap_metrics(y, np.asarray(predicted), proba, classes, draws)
    found: dict[str, dict[str, float | None]] = {}
    for name, value in values.items():
        kept = samples[name][np.isfinite(samples[name])]
        low, high = np.percentile(kept, [2.5, 97.5]).tolist() if kept.size else (None, None)
        found[name] = {"value": value, "low": low, "high": high}
    result["metrics"] = found
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
