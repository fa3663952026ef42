"""Label quality: how much the rest of the data disagrees with each row's label.

:class:`LabelQualityDetector` combines out-of-fold class probabilities of two models (gradient-boosted trees on
the raw columns; a logistic regression on standardized numerics and level indicators, on data sets small enough
for it to matter) with the label distribution of each row's nearest neighbours. A row's score is one minus the
combined probability of its own label: a random or targeted label flip leaves a row whose label its
neighbourhood and the out-of-fold models do not expect.

The share of label errors is estimated as cleanlab's confident joint counts them: a row is counted when the
probability of its label is below the average self-confidence of its class while another class's probability is
above that class's average.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors

from mlwarden.audit._encoding import FrameEncoding, encode_frame, hgb_matrix


def encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(classes, codes): the sorted distinct labels and each row's index into them."""
    classes, codes = np.unique(np.asarray(y, dtype=object).astype(str), return_inverse=True)
    return classes, codes.astype(np.int64)


def _as_encoding(X: pd.DataFrame | FrameEncoding) -> FrameEncoding:
    return X if isinstance(X, FrameEncoding) else encode_frame(X)


def _folds(n: int, codes: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    smallest = int(np.bincount(codes).min())
    k = max(2, min(n_folds, smallest))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n), codes))


def _place(proba: np.ndarray, classes_seen: np.ndarray, n_classes: int) -> np.ndarray:
    full = np.zeros((proba.shape[0], n_classes))
    full[:, classes_seen] = proba
    return full


def oof_hgb(enc: FrameEncoding, codes: np.ndarray, n_folds: int, max_iter: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of HistGradientBoosting, (n, n_classes)."""
    X, mask = hgb_matrix(enc)
    n_classes = int(codes.max()) + 1
    out = np.zeros((len(codes), n_classes))
    for train, test in _folds(len(codes), codes, n_folds, seed):
        model = HistGradientBoostingClassifier(
            max_iter=max_iter, early_stopping=False, random_state=seed, categorical_features=mask
        )
        model.fit(X[train], codes[train])
        out[test] = _place(model.predict_proba(X[test]), model.classes_, n_classes)
    return out


def oof_linear(enc: FrameEncoding, codes: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of an L2 logistic regression on the standardized matrix."""
    n_classes = int(codes.max()) + 1
    out = np.zeros((len(codes), n_classes))
    for train, test in _folds(len(codes), codes, n_folds, seed):
        model = LogisticRegression(C=0.5, max_iter=300)
        model.fit(enc.dense[train], codes[train])
        out[test] = _place(model.predict_proba(enc.dense[test]), model.classes_, n_classes)
    return out


def neighbour_labels(enc: FrameEncoding, codes: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each row's label distribution among its nearest neighbours (itself left out), lightly smoothed."""
    n_classes = int(codes.max()) + 1
    k = min(n_neighbors, len(codes) - 1)
    index = NearestNeighbors(n_neighbors=k + 1).fit(enc.dense)
    _, neighbours = index.kneighbors(enc.dense)
    neighbours = neighbours[:, 1:]
    counts = np.zeros((len(codes), n_classes))
    for c in range(n_classes):
        counts[:, c] = (codes[neighbours] == c).sum(axis=1)
    prior = np.bincount(codes, minlength=n_classes) / len(codes)
    return (counts + prior) / (k + 1.0)


def confident_issues(proba: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Rows whose label is below its class's mean self-confidence while another class is above its own."""
    n_classes = proba.shape[1]
    thresholds = np.array([proba[codes == c, c].mean() if np.any(codes == c) else 1.0 for c in range(n_classes)])
    own = proba[np.arange(len(codes)), codes]
    above = proba >= thresholds[None, :]
    above[np.arange(len(codes)), codes] = False
    return np.asarray((own < thresholds[codes]) & above.any(axis=1))


class LabelQualityDetector(BaseEstimator):  # type: ignore[misc]
    """Scores each row by how unlikely its label is given the rest of the data (higher = more suspicious).

    Parameters: ``n_folds`` for the out-of-fold models, ``n_neighbors`` for the neighbourhood, ``max_iter`` of the
    boosted trees, ``linear_max_rows`` and ``knn_max_rows`` (above these row counts the linear model or the
    neighbours are skipped: the trees alone are accurate there, and faster), ``seed``.

    Fitted: ``classes_``, ``proba_`` (combined out-of-fold probabilities), ``scores_``, ``issues_`` (boolean,
    the confident-joint count), ``label_error_share_``, ``components_`` (names of the parts that ran).
    """

    def __init__(
        self,
        n_folds: int = 5,
        n_neighbors: int = 15,
        max_iter: int = 100,
        linear_max_rows: int = 20000,
        knn_max_rows: int = 20000,
        seed: int = 0,
    ) -> None:
        self.n_folds = n_folds
        self.n_neighbors = n_neighbors
        self.max_iter = max_iter
        self.linear_max_rows = linear_max_rows
        self.knn_max_rows = knn_max_rows
        self.seed = seed

    def fit(self, X: pd.DataFrame | FrameEncoding, y: Any) -> LabelQualityDetector:
        enc = _as_encoding(X)
        self.classes_, codes = encode_labels(y)
        n = len(codes)
        parts: list[tuple[str, float, np.ndarray]] = [
            ("hgb", 0.5, oof_hgb(enc, codes, self.n_folds, self.max_iter, self.seed))
        ]
        if n <= self.linear_max_rows:
            parts.append(("linear", 0.25, oof_linear(enc, codes, self.n_folds, self.seed)))
        if n <= self.knn_max_rows:
            parts.append(("neighbours", 0.25, neighbour_labels(enc, codes, self.n_neighbors)))
        total = sum(weight for _, weight, _ in parts)
        self.proba_ = np.sum([weight * proba for _, weight, proba in parts], axis=0) / total
        self.components_ = tuple(name for name, _, _ in parts)
        self.scores_ = 1.0 - self.proba_[np.arange(n), codes]
        self.issues_ = confident_issues(self.proba_, codes)
        self.label_error_share_ = float(self.issues_.mean())
        return self
