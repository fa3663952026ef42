"""Label quality: how much the rest of the data disagrees with each row's label.

:class:`LabelQualityDetector` averages out-of-fold class probabilities of models that see the data differently:

- up to ``forest_max_rows`` rows: an L2 logistic regression (standardized numerics, level indicators; repeated
  ``n_repeats`` times over ``n_folds`` folds), a random forest (bagged, so robust to the noise it looks for) and
  each row's ``n_neighbors`` nearest neighbours;
- above it: gradient-boosted trees (``hgb_folds`` folds; ``max_iter`` shallow trees), plus the logistic
  regression and the neighbours up to ``linear_max_rows`` and ``knn_max_rows`` rows.

A row's score is one minus the combined probability of its own label. The share of label errors is estimated
as cleanlab's confident joint counts them: a row is counted when the probability of its label is below the
average self-confidence of its class while another class's probability is above that class's average.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
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


def place_proba(proba: np.ndarray, classes_seen: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba``'s columns put at the class indices the model saw, zeros for the classes it did not."""
    full = np.zeros((proba.shape[0], n_classes))
    full[:, classes_seen] = proba
    return full


def oof_hgb(
    enc: FrameEncoding, codes: np.ndarray, n_folds: int, max_iter: int, seed: int, max_leaf_nodes: int = 31
) -> np.ndarray:
    """Out-of-fold class probabilities of HistGradientBoosting, (n, n_classes)."""
    X, mask = hgb_matrix(enc)
    n_classes = int(codes.max()) + 1
    out = np.zeros((len(codes), n_classes))
    for train, test in _folds(len(codes), codes, n_folds, seed):
        model = HistGradientBoostingClassifier(
            max_iter=max_iter,
            max_leaf_nodes=max_leaf_nodes,
            early_stopping=False,
            random_state=seed,
            categorical_features=mask,
        )
        model.fit(X[train], codes[train])
        out[test] = place_proba(model.predict_proba(X[test]), model.classes_, n_classes)
    return out


def oof_forest(enc: FrameEncoding, codes: np.ndarray, n_folds: int, seed: int, n_trees: int = 100) -> np.ndarray:
    """Out-of-fold class probabilities of a random forest on the standardized matrix."""
    n_classes = int(codes.max()) + 1
    out = np.zeros((len(codes), n_classes))
    for train, test in _folds(len(codes), codes, n_folds, seed):
        model = RandomForestClassifier(
            n_estimators=n_trees, min_samples_leaf=3, max_features=0.3, random_state=seed, n_jobs=1
        )
        model.fit(enc.dense[train], codes[train])
        out[test] = place_proba(model.predict_proba(enc.dense[test]), model.classes_, n_classes)
    return out


def oof_linear(enc: FrameEncoding, codes: np.ndarray, n_folds: int, seed: int, n_repeats: int = 1) -> np.ndarray:
    """Out-of-fold class probabilities of an L2 logistic regression on the standardized matrix, averaged over
    ``n_repeats`` shuffles of the folds."""
    n_classes = int(codes.max()) + 1
    out = np.zeros((len(codes), n_classes))
    for repeat in range(n_repeats):
        for train, test in _folds(len(codes), codes, n_folds, seed + repeat):
            model = LogisticRegression(C=0.1, max_iter=300)
            model.fit(enc.dense[train], codes[train])
            out[test] += place_proba(model.predict_proba(enc.dense[test]), model.classes_, n_classes)
    return out / n_repeats


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

    Parameters (see the module docstring): ``n_folds`` (forest; the logistic regression takes twice as many on
    small data, ``n_repeats`` times), ``n_neighbors``, ``forest_max_rows`` (above it boosted trees replace the
    forest: ``hgb_folds``, ``max_iter``, ``max_leaf_nodes``), ``linear_max_rows`` and ``knn_max_rows`` (above
    these the linear model or the neighbours are skipped: the trees alone are accurate there, and faster),
    ``seed``.

    Fitted: ``classes_``, ``proba_`` (combined out-of-fold probabilities), ``scores_``, ``issues_`` (boolean,
    the confident-joint count), ``label_error_share_``, ``components_`` (names of the parts that ran).
    """

    def __init__(
        self,
        n_folds: int = 5,
        n_repeats: int = 3,
        n_neighbors: int = 30,
        forest_max_rows: int = 5000,
        hgb_folds: int = 3,
        max_iter: int = 300,
        max_leaf_nodes: int = 15,
        linear_max_rows: int = 20000,
        knn_max_rows: int = 20000,
        seed: int = 0,
    ) -> None:
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.n_neighbors = n_neighbors
        self.forest_max_rows = forest_max_rows
        self.hgb_folds = hgb_folds
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.linear_max_rows = linear_max_rows
        self.knn_max_rows = knn_max_rows
        self.seed = seed

    def fit(self, X: pd.DataFrame | FrameEncoding, y: Any) -> LabelQualityDetector:
        enc = _as_encoding(X)
        self.classes_, codes = encode_labels(y)
        n = len(codes)
        parts: list[tuple[str, np.ndarray]] = []
        if n <= self.forest_max_rows:
            parts.append(("forest", oof_forest(enc, codes, self.n_folds, self.seed)))
        else:
            parts.append(("hgb", oof_hgb(enc, codes, self.hgb_folds, self.max_iter, self.seed, self.max_leaf_nodes)))
        if n <= self.linear_max_rows:
            folds = 2 * self.n_folds if n <= self.forest_max_rows else self.n_folds
            repeats = self.n_repeats if n <= self.forest_max_rows else 1
            parts.append(("linear", oof_linear(enc, codes, folds, self.seed, repeats)))
        if n <= self.knn_max_rows:
            parts.append(("neighbours", neighbour_labels(enc, codes, self.n_neighbors)))
        self.proba_ = np.mean([proba for _, proba in parts], axis=0)
        self.components_ = tuple(name for name, _ in parts)
        self.scores_ = 1.0 - self.proba_[np.arange(n), codes]
        self.issues_ = confident_issues(self.proba_, codes)
        self.label_error_share_ = float(self.issues_.mean())
        return self
