"""Turning a feature frame into the matrices the detectors need.

One :class:`FrameEncoding` per frame: which columns are categorical (strings, categories, booleans, and numbers
with few distinct values) and which numeric, the ordinal codes of the categorical ones, the numeric values with
missing values filled by the median, and a dense standardized matrix (numerics scaled to unit variance, one
indicator per categorical level) for linear models, neighbours and spectral methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import BadInput

# A numeric column with at most this many distinct values is treated as categorical as well (codes, levels).
LOW_CARDINALITY = 12
# Levels beyond this many per categorical column are folded into one "other" level (rarest first).
MAX_LEVELS = 64
OTHER = "<other>"
MISSING = "<missing>"


@dataclass(frozen=True)
class FrameEncoding:
    """The columns of a feature frame, split and encoded (see the module docstring)."""

    columns: tuple[str, ...]
    categorical: tuple[str, ...]  # columns whose values are levels (codes below)
    numeric: tuple[str, ...]  # columns with numeric values (may also be in categorical when low-cardinality)
    codes: np.ndarray  # (n, len(categorical)) int32 ordinal codes
    levels: tuple[tuple[Any, ...], ...]  # per categorical column, the value of each code
    values: np.ndarray  # (n, len(numeric)) float64, NaN filled by the median
    dense: np.ndarray  # (n, d) float32 standardized numerics + level indicators
    dense_owner: np.ndarray  # (d,) int: for each column of dense, its index in ``columns``

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[0] if self.codes.size else self.values.shape[0])


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _codes_for(series: pd.Series) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Ordinal codes (most frequent level first) with rare levels folded into OTHER past MAX_LEVELS."""
    filled = series.astype(object).where(series.notna(), MISSING)
    counts = filled.value_counts(sort=True)
    kept = list(counts.index[:MAX_LEVELS])
    if len(counts) > MAX_LEVELS:
        kept = [*kept[: MAX_LEVELS - 1], OTHER]
        filled = filled.where(filled.isin(kept), OTHER)
    lookup = {value: code for code, value in enumerate(kept)}
    codes = filled.map(lookup).to_numpy(dtype=np.int32)
    return codes, tuple(kept)


def encode_frame(features: pd.DataFrame) -> FrameEncoding:
    """Encode ``features`` (no target column). Raises BadInput for a frame without usable columns."""
    if features.shape[1] == 0:
        raise BadInput("the data has no feature columns besides the target: nothing to audit")
    n = len(features)
    categorical: list[str] = []
    numeric: list[str] = []
    code_cols: list[np.ndarray] = []
    level_list: list[tuple[Any, ...]] = []
    value_cols: list[np.ndarray] = []
    for name in features.columns:
        series = features[name]
        if _is_numeric(series):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = values[np.isfinite(values)]
            median = float(np.median(finite)) if finite.size else 0.0
            values = np.where(np.isfinite(values), values, median)
            numeric.append(str(name))
            value_cols.append(values)
            if len(np.unique(values)) <= LOW_CARDINALITY:
                codes, levels = _codes_for(pd.Series(values))
                categorical.append(str(name))
                code_cols.append(codes)
                level_list.append(levels)
        else:
            codes, levels = _codes_for(series)
            categorical.append(str(name))
            code_cols.append(codes)
            level_list.append(levels)
    codes_arr = np.stack(code_cols, axis=1) if code_cols else np.zeros((n, 0), dtype=np.int32)
    values_arr = np.stack(value_cols, axis=1) if value_cols else np.zeros((n, 0))
    blocks: list[np.ndarray] = []
    owner: list[int] = []
    position = {str(c): i for i, c in enumerate(features.columns)}
    owner.extend(position[name] for name in numeric)
    if values_arr.shape[1]:
        std = values_arr.std(axis=0)
        blocks.append((values_arr - values_arr.mean(axis=0)) / np.where(std > 0, std, 1.0))
    for j, name in enumerate(categorical):
        if name in numeric:
            continue  # already in as a number
        onehot = np.zeros((n, len(level_list[j])), dtype=np.float64)
        onehot[np.arange(n), codes_arr[:, j]] = 1.0
        blocks.append(onehot / np.sqrt(2.0))
        owner.extend([position[name]] * len(level_list[j]))
    dense = np.concatenate(blocks, axis=1).astype(np.float32) if blocks else np.zeros((n, 0), np.float32)
    return FrameEncoding(
        columns=tuple(str(c) for c in features.columns),
        categorical=tuple(categorical),
        numeric=tuple(numeric),
        codes=codes_arr,
        levels=tuple(level_list),
        values=values_arr,
        dense=dense,
        dense_owner=np.asarray(owner, dtype=np.int64),
    )


def hgb_matrix(enc: FrameEncoding) -> tuple[np.ndarray, np.ndarray]:
    """The matrix for HistGradientBoosting (numerics as they are, other columns as native categoricals)."""
    parts = [enc.values]
    mask = [False] * enc.values.shape[1]
    for j, name in enumerate(enc.categorical):
        if name not in enc.numeric:
            parts.append(enc.codes[:, j : j + 1].astype(np.float64))
            mask.append(True)
    return np.concatenate(parts, axis=1), np.asarray(mask, dtype=bool)
