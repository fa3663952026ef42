"""The card's bootstrap metrics are scikit-learn's, resample by resample."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from mlwarden.models._evaluation import bootstrap_metrics


def test_vectorised_resample_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    n = 120
    y = rng.choice(np.array(["bad", "good"], dtype=object), n, p=[0.3, 0.7])
    scores = np.round(rng.random(n), 2)  # ties, as real probabilities have
    proba = np.stack([1 - scores, scores], axis=1)
    predicted = np.where(scores > 0.5, "good", "bad").astype(object)
    draws = rng.integers(0, n, (40, n))
    got = bootstrap_metrics(y, predicted, proba, ["bad", "good"], draws)
    for r, idx in enumerate(draws):
        t, p, s = y[idx], predicted[idx], scores[idx]
        assert got["accuracy"][r] == skm.accuracy_score(t, p)
        assert abs(got["balanced_accuracy"][r] - skm.balanced_accuracy_score(t, p)) < 1e-12
        assert abs(got["brier"][r] - skm.brier_score_loss(t == "good", s)) < 1e-12
        assert abs(got["f1"][r] - skm.f1_score(t, p, pos_label="good")) < 1e-12
        assert abs(got["roc_auc"][r] - skm.roc_auc_score(t == "good", s)) < 1e-12
