"""Comparing counts with a reference profile: a test per column, effect sizes apart, the joint.

Per column, on the reference's bins (both sides are counted into the same bins):

- **numeric**: the two-sample Kolmogorov-Smirnov test at the reference's bin edges (asymptotic
  p-value; conservative on binned data), which sees shifts of location and scale, and Pearson's
  chi-squared test over the percentile bins (neighbours merged until each expects 5 rows), which
  sees what KS hardly does: changes of shape, modes and tails. A change in the share of missing
  values is tested too (chi-squared). The smallest p-value is taken, Bonferroni-corrected for the
  tests combined; ``test`` names the one that decided.
- **categorical**: Pearson's chi-squared test of homogeneity over the categories, "other" (values
  the reference never had) and "missing"; categories too rare for the approximation (expected
  count under 5 in the smaller side) are pooled first.
- **joint**: for each pair of columns, the counts of their joint levels (quintiles; top-5
  categories and "other"; missing) in both samples make a 2 x A x B table, and the likelihood-ratio
  test of *homogeneous association* (the log-linear model [SA][SB][AB], fitted by iterative
  proportional fitting) asks whether the dependence between the two columns changed, whatever their
  marginals did: a correlation flipped or removed is found with both marginals intact.
- **prediction**: the scores (KS) and predicted labels (chi-squared), when both sides have them.

The p-values are corrected by Benjamini-Hochberg at ``alpha`` (false-discovery rate) in two
families: the columns with the prediction ("which columns drifted?") and the pairs ("which
dependencies changed?"), so the many pair tests do not dilute the columns' own. With no drift at
all, each family's chance of any alarm is also at most ``alpha``. ``drift`` is that decision.

Effect sizes are reported apart from significance, so a 200,000-row comparison that finds a
trivial but real shift names it, and says it is small:

- PSI (population stability index) and the Jensen-Shannon distance (base 2, in [0, 1]) over the
  reference's deciles (categories for categorical columns), the Wasserstein-1 distance divided by
  the reference's standard deviation (numeric, on the fine bins; tails beyond the outer edges are
  not counted); for a pair, the total-variation distance between the current table and the
  reference's table raked to the current marginals (how much mass the change of dependence moved).
- ``severity``: ``none`` (no drift), ``minor`` (drift, every effect under the thresholds),
  ``moderate`` (an effect at or over PSI 0.1, Wasserstein 0.1, Jensen-Shannon 0.1 or
  total variation 0.05), ``major`` (PSI 0.25, Wasserstein 0.3, Jensen-Shannon 0.2, total variation
  0.1). The PSI bands are the industry's; the others are the usual published defaults.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlwarden.errors import BadInput
from mlwarden.monitor._profile import ColumnProfile, ProfileCounts, ReferenceProfile

__all__ = ["SEVERITIES", "ColumnDrift", "DriftReport", "PairDrift", "compare"]

SEVERITIES = ("none", "minor", "moderate", "major")
_THRESHOLDS = {
    "psi": (0.1, 0.25),
    "wasserstein": (0.1, 0.3),
    "jensen_shannon": (0.1, 0.2),
    "total_variation": (0.05, 0.1),
}
_MIN_EXPECTED = 5.0
_PAIR_ROWS_PER_CELL = 10
"""A pair is tested only when the smaller side has this many rows per cell of its table."""


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test, its effect sizes, and the verdict (see the module docstring)."""

    column: str
    kind: str
    test: str
    statistic: float
    p_value: float
    effect: dict[str, float | None]
    drift: bool
    severity: str
    reference_rows: int
    current_rows: int
    q_value: float = 1.0
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "test": self.test,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "q_value": _num(self.q_value),
            "effect": {k: _num(v) for k, v in self.effect.items()},
            "drift": self.drift,
            "severity": self.severity,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "note": self.note,
        }


@dataclass(frozen=True)
class PairDrift:
    """A change in the dependence between two columns (their joint levels), marginals aside."""

    columns: tuple[str, str]
    test: str
    statistic: float
    p_value: float
    effect: dict[str, float | None]
    drift: bool
    severity: str
    degrees_of_freedom: int
    q_value: float = 1.0

    @property
    def column(self) -> str:
        return f"{self.columns[0]} x {self.columns[1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "columns": list(self.columns),
            "test": self.test,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "q_value": _num(self.q_value),
            "degrees_of_freedom": self.degrees_of_freedom,
            "effect": {k: _num(v) for k, v in self.effect.items()},
            "drift": self.drift,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class DriftReport:
    """Every test of one comparison, corrected together; ``drifted`` if any found drift."""

    columns: list[ColumnDrift]
    joint: list[PairDrift]
    prediction: list[ColumnDrift]
    alpha: float
    reference_rows: int
    current_rows: int
    skipped_pairs: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return any(c.drift for c in self.all_tests())

    def all_tests(self) -> list[ColumnDrift | PairDrift]:
        return [*self.columns, *self.prediction, *self.joint]

    def worst(self) -> str:
        found = [SEVERITIES.index(t.severity) for t in self.all_tests()]
        return SEVERITIES[max(found, default=0)]

    def findings(self, at_least: str = "minor") -> list[ColumnDrift | PairDrift]:
        """The tests that found drift of at least this severity, most severe first."""
        floor = SEVERITIES.index(at_least)
        hits = [t for t in self.all_tests() if t.drift and SEVERITIES.index(t.severity) >= floor]
        return sorted(hits, key=lambda t: (-SEVERITIES.index(t.severity), t.p_value))

    def summary(self) -> dict[str, Any]:
        counts = {s: 0 for s in SEVERITIES[1:]}
        for t in self.all_tests():
            if t.drift:
                counts[t.severity] += 1
        return {
            "columns": len(self.columns),
            "pairs": len(self.joint),
            "drifted_columns": sum(c.drift for c in self.columns),
            "drifted_pairs": sum(p.drift for p in self.joint),
            "prediction_drift": any(p.drift for p in self.prediction),
            "by_severity": counts,
            "worst": self.worst(),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "mlwarden.drift-report/v1",
            "alpha": self.alpha,
            "correction": "benjamini-hochberg",
            "drifted": self.drifted,
            "summary": self.summary(),
            "columns": [c.to_json() for c in self.columns],
            "prediction": [c.to_json() for c in self.prediction],
            "joint": [p.to_json() for p in self.joint],
            "skipped_pairs": self.skipped_pairs,
            "settings": self.settings,
        }


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# -- effect sizes -----------------------------------------------------------------------------


def _grouped(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return np.bincount(groups, weights=counts, minlength=int(groups.max()) + 1)


def psi(reference: np.ndarray, current: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index of two count vectors (shares floored at ``floor``)."""
    p = np.maximum(reference / max(reference.sum(), 1), floor)
    q = np.maximum(current / max(current.sum(), 1), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (the square root of the divergence, base 2) of two count vectors."""
    p = reference / max(reference.sum(), 1)
    q = current / max(current.sum(), 1)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def wasserstein(column: ColumnProfile, reference: np.ndarray, current: np.ndarray) -> float | None:
    """Wasserstein-1 between the binned values (missing left out), over the reference's std."""
    if not column.numeric or not column.std or len(column.edges) < 1:
        return None
    r = reference[:-1].astype(np.float64)
    c = current[:-1].astype(np.float64)
    if r.sum() == 0 or c.sum() == 0:
        return None
    gap = np.abs(np.cumsum(r / r.sum())[:-1] - np.cumsum(c / c.sum())[:-1])
    widths = np.diff(column.edges)
    # the CDFs are known at the edges; between two edges the gap is taken as the mean of its ends
    distance = float(np.sum((gap[:-1] + gap[1:]) / 2 * widths)) if len(widths) else 0.0
    return distance / column.std


def _severity(effect: dict[str, float | None]) -> str:
    level = 1
    for name, value in effect.items():
        if value is None or name not in _THRESHOLDS:
            continue
        moderate, major = _THRESHOLDS[name]
        if value >= major:
            level = max(level, 3)
        elif value >= moderate:
            level = max(level, 2)
    return SEVERITIES[level]


# -- tests ------------------------------------------------------------------------------------


def _ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS over binned values (bins in order): statistic, asymptotic p-value."""
    # scipy.special (not scipy.stats, three times slower to import): kolmogorov is kstwobign.sf
    special = importlib.import_module("scipy.special")  # by name: scipy ships no type stubs
    n, m = float(reference.sum()), float(current.sum())
    if n == 0 or m == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(reference) / n - np.cumsum(current) / m)))
    en = math.sqrt(n * m / (n + m))
    # Stephens' small-sample correction of the asymptotic distribution
    return d, float(min(1.0, special.kolmogorov((en + 0.12 + 0.11 / en) * d)))


def _chi2(reference: np.ndarray, current: np.ndarray) -> tuple[float, float, int]:
    """Pearson's chi-squared test of homogeneity of two count vectors; rare cells pooled."""
    chdtrc = importlib.import_module("scipy.special").chdtrc  # the chi-squared survival function
    r = reference.astype(np.float64)
    c = current.astype(np.float64)
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    n, m = r.sum(), c.sum()
    if n == 0 or m == 0 or len(r) < 2:
        return 0.0, 1.0, 0
    share = (r + c) / (n + m)
    rare = share * min(n, m) < _MIN_EXPECTED
    if rare.any():
        pooled_r, pooled_c = r[rare].sum(), c[rare].sum()
        r, c = r[~rare], c[~rare]
        if (pooled_r + pooled_c) / (n + m) * min(n, m) >= _MIN_EXPECTED or len(r) == 0:
            r, c = np.append(r, pooled_r), np.append(c, pooled_c)
        else:  # still too rare on its own: into the smallest other cell
            smallest = int(np.argmin(r + c))
            r[smallest] += pooled_r
            c[smallest] += pooled_c
        share = (r + c) / (n + m)
    if len(r) < 2:
        return 0.0, 1.0, 0
    expected_r, expected_c = share * n, share * m
    stat = float(np.sum((r - expected_r) ** 2 / expected_r + (c - expected_c) ** 2 / expected_c))
    df = len(r) - 1
    return stat, float(chdtrc(df, stat)), df


def _merge_adjacent(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordered bins merged with their neighbours until each expects at least 5 rows in the smaller
    side (the chi-squared approximation's rule), keeping the order: tails stay tails."""
    n, m = float(reference.sum()), float(current.sum())
    if n == 0 or m == 0:
        return reference, current
    need = _MIN_EXPECTED * (n + m) / min(n, m)  # pooled count a cell needs
    merged_r: list[float] = []
    merged_c: list[float] = []
    acc_r = acc_c = 0.0
    for r, c in zip(reference.tolist(), current.tolist(), strict=True):
        acc_r += r
        acc_c += c
        if acc_r + acc_c >= need:
            merged_r.append(acc_r)
            merged_c.append(acc_c)
            acc_r = acc_c = 0.0
    if acc_r + acc_c > 0:
        if merged_r:
            merged_r[-1] += acc_r
            merged_c[-1] += acc_c
        else:
            merged_r.append(acc_r)
            merged_c.append(acc_c)
    return np.array(merged_r), np.array(merged_c)


def _column_test(column: ColumnProfile, current: np.ndarray) -> tuple[str, float, float, str | None]:
    """The test of one column: its name (the one whose p-value decided), statistic, p-value, a note.

    Numeric: KS (shifts of location and scale) and chi-squared over the percentile bins, neighbours
    merged (changes of shape, tails and modes, which KS hardly sees), and when either side has
    missing values a chi-squared test of their share; the smallest p-value, Bonferroni-corrected
    for the tests combined."""
    reference = column.counts
    if column.numeric:
        candidates: list[tuple[str, float, float]] = [("ks", *_ks(reference[:-1], current[:-1]))]
        merged = _merge_adjacent(reference[:-1], current[:-1])
        if len(merged[0]) >= 2:
            stat, p, _ = _chi2(*merged)
            candidates.append(("chi2-bins", stat, p))
        if reference[-1] or current[-1]:
            present = [reference[:-1].sum(), current[:-1].sum()]
            stat, p, _ = _chi2(np.array([present[0], reference[-1]]), np.array([present[1], current[-1]]))
            candidates.append(("missing-share", stat, p))
        test, stat, p = min(candidates, key=lambda t: t[2])
        note = "the share of missing values changed" if test == "missing-share" else None
        return test, stat, min(1.0, len(candidates) * p), note
    stat, p, _ = _chi2(reference, current)
    note = None
    other = len(column.categories)
    if current[other] and not reference[other]:
        note = "values the reference never had"
    return "chi2", stat, p, note


def _effects(column: ColumnProfile, current: np.ndarray) -> dict[str, float | None]:
    ref_groups = _grouped(column.counts, column.groups)
    cur_groups = _grouped(current, column.groups)
    return {
        "psi": psi(ref_groups, cur_groups),
        "wasserstein": wasserstein(column, column.counts, current),
        "jensen_shannon": jensen_shannon(ref_groups, cur_groups),
    }


def _ipf_homogeneous(table: np.ndarray, iterations: int = 60, tol: float = 1e-7) -> np.ndarray:
    """Fitted counts of the model [SA][SB][AB] for tables ``(pairs, 2, A, B)`` (iterative proportional fitting)."""
    fit = np.ones_like(table)
    sa = table.sum(axis=3, keepdims=True)
    sb = table.sum(axis=2, keepdims=True)
    ab = table.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            fit = fit * np.where(sa > 0, sa / fit.sum(axis=3, keepdims=True), 0.0)
            fit = np.nan_to_num(fit)
            fit = fit * np.where(sb > 0, sb / fit.sum(axis=2, keepdims=True), 0.0)
            fit = np.nan_to_num(fit)
            before = fit
            fit = fit * np.where(ab > 0, ab / fit.sum(axis=1, keepdims=True), 0.0)
            fit = np.nan_to_num(fit)
            if np.max(np.abs(fit - before)) < tol * max(1.0, float(table.max())):
                break
    return fit


def _rake(tables: np.ndarray, rows: np.ndarray, cols: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Tables ``(pairs, A, B)`` scaled to the given margins ``(pairs, A)`` and ``(pairs, B)``: each
    reference dependence under the current marginals (iterative proportional fitting)."""
    row, col = rows[:, :, None], cols[:, None, :]
    fit: np.ndarray = tables.astype(np.float64) + 1e-9 * ((row * col) > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            before = fit
            fit = np.nan_to_num(fit * np.where(row > 0, row / fit.sum(axis=2, keepdims=True), 0))
            fit = np.nan_to_num(fit * np.where(col > 0, col / fit.sum(axis=1, keepdims=True), 0))
            if np.max(np.abs(fit - before)) < 1e-7 * max(1.0, float(rows.max(initial=0.0))):
                break
    return fit


def _pairs(
    profile: ReferenceProfile, counts: ProfileCounts, max_pairs: int | None
) -> tuple[list[PairDrift], list[tuple[int, int]], int]:
    chdtrc = importlib.import_module("scipy.special").chdtrc  # the chi-squared survival function
    columns = profile.columns
    offsets = profile.offsets
    n_ref, n_cur = profile.rows, counts.rows
    smaller = min(n_ref, n_cur)
    candidates = [(i, j) for i in range(len(columns)) for j in range(i + 1, len(columns))]
    if max_pairs is not None and len(candidates) > max_pairs:
        candidates = candidates[:max_pairs]
    size = max((c.n_levels for c in columns), default=1)
    chosen: list[tuple[int, int]] = []
    tables = []
    skipped = 0
    for i, j in candidates:
        a = slice(offsets[i], offsets[i + 1])
        b = slice(offsets[j], offsets[j + 1])
        ref = profile.joint[a, b].astype(np.float64)
        cur = counts.joint[a, b].astype(np.float64)
        active_a = (ref.sum(axis=1) + cur.sum(axis=1)) > 0
        active_b = (ref.sum(axis=0) + cur.sum(axis=0)) > 0
        la, lb = int(active_a.sum()), int(active_b.sum())
        if la < 2 or lb < 2 or smaller < _PAIR_ROWS_PER_CELL * la * lb:
            skipped += 1
            continue
        padded = np.zeros((2, size, size))
        padded[0, : ref.shape[0], : ref.shape[1]] = ref
        padded[1, : cur.shape[0], : cur.shape[1]] = cur
        tables.append(padded)
        chosen.append((i, j))
    if not tables:
        return [], [], skipped
    stacked = np.stack(tables)
    fitted = _ipf_homogeneous(stacked)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(stacked > 0, stacked * np.log(stacked / fitted), 0.0)
    g2 = 2 * terms.sum(axis=(1, 2, 3))
    current = stacked[:, 1]
    raked = _rake(stacked[:, 0], current.sum(axis=2), current.sum(axis=1))
    tvs = 0.5 * np.abs(current - raked).sum(axis=(1, 2)) / np.maximum(current.sum(axis=(1, 2)), 1)
    results = []
    for k, (i, j) in enumerate(chosen):
        ab = stacked[k].sum(axis=0)
        la = int((ab.sum(axis=1) > 0).sum())
        lb = int((ab.sum(axis=0) > 0).sum())
        zero_cells = int(((ab == 0) & (ab.sum(axis=1, keepdims=True) > 0) & (ab.sum(axis=0, keepdims=True) > 0)).sum())
        df = max(1, (la - 1) * (lb - 1) - zero_cells)
        stat = float(max(0.0, g2[k]))
        p = float(chdtrc(df, stat))
        tv = float(tvs[k])
        results.append(
            PairDrift(
                (columns[i].name, columns[j].name),
                "g2-homogeneous-association",
                stat,
                p,
                {"total_variation": tv},
                False,
                "none",
                df,
            )
        )
    return results, chosen, skipped


def _benjamini_hochberg(p_values: Sequence[float], alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted p-values (q) and the rejections at ``alpha``."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return np.empty(0), np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q, q <= alpha


def compare(
    profile: ReferenceProfile,
    counts: ProfileCounts,
    *,
    alpha: float = 0.05,
    joint: bool = True,
    max_pairs: int | None = None,
) -> DriftReport:
    """Test ``counts`` against ``profile``: every column, the prediction, every pair of columns
    (``joint``), corrected together by Benjamini-Hochberg at ``alpha``."""
    if not 0 < alpha < 1:
        raise BadInput("alpha must be between 0 and 1")
    if counts.profile.sha256 != profile.sha256:
        raise BadInput("the counts were made against another reference profile")
    counts.fold()
    if counts.rows == 0:
        raise BadInput("there are no current rows to compare with the reference")
    raw: list[tuple[ColumnProfile, np.ndarray, str]] = [
        (c, k, "feature") for c, k in zip(profile.columns, counts.counts, strict=True)
    ]
    if profile.score is not None and counts.score is not None and counts.score.sum() > 0:
        raw.append((profile.score, counts.score, "prediction"))
    if profile.label is not None and counts.label is not None and counts.label.sum() > 0:
        raw.append((profile.label, counts.label, "prediction"))
    tested = []
    for column, current, role in raw:
        test, stat, p, note = _column_test(column, current)
        tested.append((column, current, role, test, stat, p, note))
    pairs, _, skipped = _pairs(profile, counts, max_pairs) if joint else ([], [], 0)
    # Two families, each corrected at alpha: "which columns (and predictions) drifted?" and "which
    # dependencies changed?"; the 300 pairs of 25 columns do not dilute the columns' own tests.
    q_columns, reject_columns = _benjamini_hochberg([t[5] for t in tested], alpha)
    q_pairs, reject_pairs = _benjamini_hochberg([p.p_value for p in pairs], alpha)
    q = np.concatenate([q_columns, q_pairs])
    reject = np.concatenate([reject_columns, reject_pairs])
    columns: list[ColumnDrift] = []
    prediction: list[ColumnDrift] = []
    for k, (column, current, role, test, stat, p, note) in enumerate(tested):
        effect = _effects(column, current)
        drift = bool(reject[k])
        found = ColumnDrift(
            column=column.name,
            kind=column.kind,
            test=test,
            statistic=stat,
            p_value=p,
            effect=effect,
            drift=drift,
            severity=_severity(effect) if drift else "none",
            reference_rows=int(column.counts.sum()),
            current_rows=int(current.sum()),
            q_value=float(q[k]),
            note=note,
        )
        (columns if role == "feature" else prediction).append(found)
    offset = len(tested)
    judged = [
        dataclasses.replace(
            pair,
            drift=bool(reject[offset + k]),
            severity=_severity(pair.effect) if reject[offset + k] else "none",
            q_value=float(q[offset + k]),
        )
        for k, pair in enumerate(pairs)
    ]
    return DriftReport(
        columns=columns,
        joint=judged,
        prediction=prediction,
        alpha=alpha,
        reference_rows=profile.rows,
        current_rows=counts.rows,
        skipped_pairs=skipped,
        settings={"alpha": alpha, "joint": joint, "max_pairs": max_pairs},
    )
