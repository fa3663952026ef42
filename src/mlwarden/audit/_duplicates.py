"""Exact and near duplicates whose labels conflict.

:class:`DuplicateConflictDetector` rounds every numeric value to ``decimals`` digits of its column's standard
deviation (so ``decimals=3`` merges values closer than a thousandth of a standard deviation), keeps categorical
levels as they are, hashes each row's rounded features, and reports the groups of two or more rows that share a
hash but not a label. A row whose label differs from its group's most common label scores 1; in a tie, every
row of the group scores 0.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from mlwarden.audit._encoding import FrameEncoding, encode_frame
from mlwarden.audit._label_quality import encode_labels


class DuplicateConflictDetector(BaseEstimator):  # type: ignore[misc]
    """Fitted: ``classes_``, ``groups_`` (tuple of sorted row tuples with conflicting labels), ``scores_``."""

    def __init__(self, decimals: int = 3) -> None:
        self.decimals = decimals

    def fit(self, X: pd.DataFrame | FrameEncoding, y: Any) -> DuplicateConflictDetector:
        enc = X if isinstance(X, FrameEncoding) else encode_frame(X)
        self.classes_, codes = encode_labels(y)
        parts: dict[str, np.ndarray] = {}
        values = enc.values
        if values.shape[1]:
            std = values.std(axis=0)
            step = np.where(std > 0, std, 1.0) * 10.0 ** (-self.decimals)
            rounded = np.round(values / step).astype(np.int64)
            for j in range(values.shape[1]):
                parts[f"n{j}"] = rounded[:, j]
        for j in range(enc.codes.shape[1]):
            parts[f"c{j}"] = enc.codes[:, j]
        keys = pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(keys)]
        scores = np.zeros(len(codes))
        groups: list[tuple[int, ...]] = []
        for start, end in zip(starts, ends, strict=True):
            if end - start < 2:
                continue
            rows = np.sort(order[start:end])
            labels = codes[rows]
            if np.all(labels == labels[0]):
                continue
            groups.append(tuple(int(r) for r in rows))
            counts = np.bincount(labels)
            top = np.flatnonzero(counts == counts.max())
            if len(top) > 1:
                scores[rows] = 0.5
            else:
                scores[rows[labels != top[0]]] = 1.0
        self.groups_ = tuple(groups)
        self.scores_ = scores
        return self
