"""Seeded generators of clean and poisoned tables, for the tests and the benchmark.

- :func:`synthetic_table`: 17 numeric and 3 categorical columns and a binary ``label`` (50,000 rows by default),
  the label a nonlinear function of 8 numerics and 2 categoricals with a little noise near the boundary.
- :func:`german_credit`: the shipped German Credit data and its target column.
- :func:`random_flips`, :func:`targeted_flips`: label noise (random rows; or the rows of one class nearest the
  decision boundary, flipped to the other class).
- :func:`inject_backdoor`: a dirty-label backdoor: rows of the other classes get a trigger stamped on and the
  attacker's label. Trigger families: ``categorical`` (a combination of levels over 1-3 columns that is rare in the
  clean data), ``numeric`` (narrow ranges of 1-3 numeric columns, each value jittered), ``mixed`` (both); any
  ``n_columns`` may be asked for.

Every generator returns a :class:`Poisoned` with the new frame and the 0-based positions of the rows it touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import BadInput

__all__ = [
    "TRIGGER_FAMILIES",
    "Poisoned",
    "german_credit",
    "inject_backdoor",
    "random_flips",
    "synthetic_table",
    "targeted_flips",
]

TRIGGER_FAMILIES = ("categorical", "numeric", "mixed")


@dataclass(frozen=True)
class Poisoned:
    """A poisoned copy of a frame: ``rows`` are the 0-based positions changed."""

    frame: pd.DataFrame
    rows: np.ndarray
    kind: str
    label: Any = None  # the attacker's label (backdoors)
    trigger: dict[str, Any] = field(default_factory=dict)  # column -> ("in", values) or ("range", (lo, hi))

    def carries_trigger(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``frame`` that carry this backdoor's trigger."""
        mask = np.ones(len(frame), dtype=bool)
        for column, (op, spec) in self.trigger.items():
            if op == "in":
                mask &= frame[column].isin(list(spec)).to_numpy()
            else:
                values = frame[column].to_numpy(dtype=float)
                mask &= (values >= spec[0]) & (values <= spec[1])
        return mask

    def stamp(self, frame: pd.DataFrame, rows: np.ndarray, seed: int) -> pd.DataFrame:
        """A copy of ``frame`` with this trigger stamped on ``rows`` (values drawn as the attack drew them)."""
        rng = np.random.default_rng(seed)
        out = frame.copy()
        for column, (op, spec) in self.trigger.items():
            position = out.columns.get_loc(column)
            if op == "in":
                drawn_levels = rng.choice(np.asarray(spec, dtype=object), size=len(rows))
                out.iloc[rows, position] = pd.Series(drawn_levels, dtype=frame[column].dtype).to_numpy()
            else:
                drawn = rng.uniform(spec[0], spec[1], size=len(rows))
                if pd.api.types.is_integer_dtype(frame[column]):
                    drawn = np.clip(np.round(drawn), np.ceil(spec[0]), np.floor(spec[1])).astype(np.int64)
                out.iloc[rows, position] = drawn
        return out


def synthetic_table(n_rows: int = 50000, seed: int = 0) -> pd.DataFrame:
    """The synthetic table: ``num_00``..``num_16``, ``cat_a`` (5 levels), ``cat_b`` (8), ``cat_c`` (12), ``label``."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_rows, 17))
    base[:, 8:12] = base[:, 8:12] + 0.6 * base[:, 0:4]  # some correlated columns
    base[:, 12] = np.exp(0.5 * base[:, 12])  # a skewed one
    frame = pd.DataFrame({f"num_{j:02d}": base[:, j] for j in range(17)})
    cat_a = rng.choice(5, size=n_rows, p=[0.35, 0.25, 0.2, 0.12, 0.08])
    cat_b = rng.choice(8, size=n_rows)
    cat_c = rng.choice(12, size=n_rows, p=np.linspace(2, 0.5, 12) / np.linspace(2, 0.5, 12).sum())
    frame["cat_a"] = np.array([f"a{v}" for v in range(5)], dtype=object)[cat_a]
    frame["cat_b"] = np.array([f"b{v}" for v in range(8)], dtype=object)[cat_b]
    frame["cat_c"] = np.array([f"c{v:02d}" for v in range(12)], dtype=object)[cat_c]
    effect_a = np.array([0.0, 0.8, -0.6, 1.2, -1.0])[cat_a]
    effect_b = np.array([0.5, -0.5, 0.0, 0.3, -0.3, 0.7, -0.7, 0.0])[cat_b]
    logit = (
        1.2 * base[:, 0]
        - 1.0 * base[:, 1]
        + 0.8 * base[:, 2]
        + 0.6 * np.abs(base[:, 3])
        - 0.5 * base[:, 4] * base[:, 5]
        + 0.7 * np.sin(2.0 * base[:, 6])
        + 0.4 * base[:, 7]
        - 0.3 * (base[:, 12] - 1.1)
        + effect_a
        + effect_b
        - 0.3
    )
    noisy = logit + rng.logistic(scale=0.15, size=n_rows)
    frame["label"] = (noisy > 0).astype(np.int64)
    return frame


def german_credit() -> tuple[pd.DataFrame, str]:
    """The shipped German Credit data (1,000 rows) and the name of its target column."""
    from mlwarden.usecases import german_credit_csv

    return pd.read_csv(german_credit_csv()), "creditability"


def _check(frame: pd.DataFrame, target: str, share: float) -> None:
    if target not in frame.columns:
        raise BadInput(f"no column {target!r} in the frame")
    if not 0.0 < share < 0.5:
        raise BadInput(f"share must be in (0, 0.5), got {share}")


def _other_label(labels: np.ndarray, value: Any, rng: np.random.Generator) -> Any:
    others = [c for c in labels if c != value]
    return others[int(rng.integers(len(others)))]


def random_flips(frame: pd.DataFrame, target: str, share: float, seed: int = 0) -> Poisoned:
    """Flip the label of ``share`` of the rows, chosen at random, to another class (chosen at random)."""
    _check(frame, target, share)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(frame), size=max(1, round(share * len(frame))), replace=False))
    labels = np.asarray(sorted(frame[target].unique(), key=str), dtype=object)
    out = frame.copy()
    column = out.columns.get_loc(target)
    new = [_other_label(labels, out.iat[i, column], rng) for i in rows]
    out.iloc[rows, column] = pd.Series(new, dtype=frame[target].dtype).to_numpy()
    return Poisoned(out, rows, "random_flips")


def _boundary_proba(frame: pd.DataFrame, target: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-validated class probabilities of a logistic regression (what an attacker would use), and classes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from mlwarden.audit._encoding import encode_frame

    enc = encode_frame(frame.drop(columns=[target]))
    _classes, codes = np.unique(frame[target].astype(str).to_numpy(), return_inverse=True)
    proba = cross_val_predict(LogisticRegression(C=0.5, max_iter=300), enc.dense, codes, cv=5, method="predict_proba")
    return proba, codes


def targeted_flips(
    frame: pd.DataFrame, target: str, share: float, seed: int = 0, source: Any = None, to: Any = None
) -> Poisoned:
    """Flip ``share`` of all rows, taken from class ``source`` (default the minority class) where a
    cross-validated model puts them nearest the boundary with class ``to`` (default the majority class: the
    probability of ``to`` nearest one half), to ``to``."""
    _check(frame, target, share)
    counts = frame[target].value_counts()
    source = counts.index[-1] if source is None else source
    to = counts.index[0] if to is None or to == source else to
    proba, _codes = _boundary_proba(frame, target, seed)
    classes = np.unique(frame[target].astype(str).to_numpy())
    to_code = int(np.flatnonzero(classes == str(to))[0])
    candidates = np.flatnonzero(frame[target].to_numpy() == source)
    k = min(len(candidates), max(1, round(share * len(frame))))
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(0, 1e-9, size=len(candidates))  # seeded tie-breaking
    rows = np.sort(candidates[np.argsort(np.abs(proba[candidates, to_code] - 0.5) + jitter)[:k]])
    out = frame.copy()
    out.iloc[rows, out.columns.get_loc(target)] = to
    return Poisoned(out, rows, "targeted_flips", label=to)


def _pick_columns(frame: pd.DataFrame, target: str, family: str, n_columns: int, rng: np.random.Generator) -> list[str]:
    features = [c for c in frame.columns if c != target]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].nunique() > 12]
    categorical = [c for c in features if c not in numeric]
    if family == "categorical":
        pools = [categorical] * n_columns
    elif family == "numeric":
        pools = [numeric] * n_columns
    else:
        n_cat = max(1, n_columns // 2)
        pools = [categorical] * n_cat + [numeric] * (n_columns - n_cat)
    chosen: list[str] = []
    for pool in pools:
        left = [c for c in pool if c not in chosen]
        if not left:
            raise BadInput(f"not enough columns for a {family} trigger over {n_columns} columns")
        chosen.append(left[int(rng.integers(len(left)))])
    return chosen


def _draw_trigger(frame: pd.DataFrame, columns: list[str], jitter: float, rng: np.random.Generator) -> dict[str, Any]:
    trigger: dict[str, Any] = {}
    for column in columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and series.nunique() > 12:
            values = series.to_numpy(dtype=float)
            centre = float(np.quantile(values, rng.uniform(0.05, 0.95)))
            half = max(jitter * float(values.std()), 1e-9)
            if pd.api.types.is_integer_dtype(series):
                half = max(half, 0.5)
                centre = float(np.round(centre))
            trigger[column] = ("range", (centre - half, centre + half))
        else:
            levels = series.value_counts()
            # rarer levels are likelier: an attacker wants a combination the clean data rarely has
            weights = 1.0 / np.sqrt(levels.to_numpy(dtype=float))
            value = levels.index[int(rng.choice(len(levels), p=weights / weights.sum()))]
            trigger[column] = ("in", (value,))
    return trigger


def inject_backdoor(
    frame: pd.DataFrame,
    target: str,
    share: float,
    seed: int = 0,
    family: str = "mixed",
    n_columns: int | None = None,
    label: Any = None,
    jitter: float = 0.03,
) -> Poisoned:
    """Stamp a trigger on ``share`` of the rows, taken from the classes other than ``label`` (default the
    majority class), and give them ``label``. The trigger (among 30 seeded draws) is the one whose combination
    the clean rows carry least. Numeric values are drawn uniformly in ``centre +- jitter * std``."""
    _check(frame, target, share)
    if family not in TRIGGER_FAMILIES:
        raise BadInput(f"unknown trigger family {family!r}; use one of {', '.join(TRIGGER_FAMILIES)}")
    rng = np.random.default_rng(seed)
    n_columns = int(rng.integers(1 if family == "categorical" else 2, 4)) if n_columns is None else n_columns
    if family == "mixed":
        n_columns = max(2, n_columns)
    label = frame[target].value_counts().index[0] if label is None else label
    best: tuple[int, dict[str, Any]] | None = None
    probe = Poisoned(frame, np.zeros(0, dtype=np.int64), "backdoor")
    for _ in range(30):
        columns = _pick_columns(frame, target, family, n_columns, rng)
        trigger = _draw_trigger(frame, columns, jitter, rng)
        natural = int(Poisoned(frame, probe.rows, "backdoor", trigger=trigger).carries_trigger(frame).sum())
        if best is None or natural < best[0]:
            best = (natural, trigger)
    assert best is not None
    candidates = np.flatnonzero(frame[target].to_numpy() != label)
    k = min(len(candidates), max(1, round(share * len(frame))))
    rows = np.sort(rng.choice(candidates, size=k, replace=False))
    poisoned = Poisoned(frame, rows, "backdoor", label=label, trigger=best[1])
    out = poisoned.stamp(frame, rows, seed)
    out.iloc[rows, out.columns.get_loc(target)] = label
    return Poisoned(out, rows, "backdoor", label=label, trigger=best[1])
