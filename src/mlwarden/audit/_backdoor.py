"""Backdoor detection: trigger patterns and per-class spectral outliers.

:class:`TriggerPatternDetector` mines conjunctions of items (a level of a categorical column, or a quantile range
of a numeric one at several resolutions) over any number of columns, per label, by beam search, and keeps those
that a backdoor would leave and natural structure would not:

- **rare and near-pure**: at least ``min_support`` rows with the label, at most ``max_support_share`` of the data,
  and a share of the label among the rows carrying the conditions (confidence) of at least ``min_confidence``;
- **surprising**: a *pattern-blind* model, a main-effects logistic regression (which cannot learn a narrow
  interaction, and from which the effect of a rare level in the pattern is taken out), expects the label on
  these rows rarely: its mean probability of the label there is at most ``max_blind_proba``, and the excess of the
  label over what it expects is at least ``min_surprise`` standard deviations. A label-correlated rule that the
  other columns explain (good history and no debts, so good credit) is not surprising; rows from the other class
  stamped with a trigger and relabelled are.

Numeric ranges are then refined to the rows actually carrying them (grown over neighbouring values of the label,
which absorbs jitter) and conditions that add nothing are dropped. Each pattern names its columns, values or
ranges, label, rows, support, lift and confidence.

:class:`SpectralOutlierDetector` scores rows, per class, by their squared projection on the top singular
direction of the centred class (Tran et al.'s spectral signature) in the standardized feature space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from mlwarden.audit._encoding import FrameEncoding, encode_frame
from mlwarden.audit._label_quality import encode_labels, place_proba

# One condition of a pattern: (column, "in", (level, ...)) or (column, "range", (lo, hi)).
Condition = tuple[str, str, Any]


@dataclass(frozen=True)
class _Item:
    column: int  # index in FrameEncoding.columns
    condition: Condition


@dataclass(frozen=True)
class MinedPattern:
    """A pattern found by :class:`TriggerPatternDetector` (label as its class index)."""

    conditions: tuple[Condition, ...]
    label: int
    rows: np.ndarray  # rows carrying the conditions with the label
    carriers: int  # rows carrying the conditions, any label
    confidence: float
    lift: float
    blind_proba: float
    surprise: float
    cooccurrence: float = 0.0


def _items(enc: FrameEncoding, resolutions: tuple[int, ...], min_support: int) -> tuple[np.ndarray, list[_Item]]:
    """Item groups: (n, G) global item ids, one group per categorical column and per numeric resolution."""
    n = enc.n_rows
    groups: list[np.ndarray] = []
    items: list[_Item] = []
    col_index = {name: i for i, name in enumerate(enc.columns)}
    for j, name in enumerate(enc.categorical):
        codes = enc.codes[:, j]
        groups.append(codes + len(items))
        items.extend(_Item(col_index[name], (name, "in", (_plain(level),))) for level in enc.levels[j])
    for j, name in enumerate(enc.numeric):
        if name in enc.categorical:
            continue
        values = enc.values[:, j]
        order = np.argsort(values, kind="stable")
        ranks = np.empty(n, dtype=np.int64)
        ranks[order] = np.arange(n)
        for bins in resolutions:
            if n / bins < min_support:
                continue
            for shift in (0.0, 0.5) if bins > 4 else (0.0,):
                code = np.floor(ranks * bins / n + shift).astype(np.int64)
                _, code = np.unique(code, return_inverse=True)
                # ties: a value belongs to the bin of its first occurrence, so a bin is a value range
                code = code[order][np.searchsorted(values[order], values, side="left")]
                _, code = np.unique(code, return_inverse=True)
                k = int(code.max()) + 1
                lo = np.full(k, np.inf)
                hi = np.full(k, -np.inf)
                np.minimum.at(lo, code, values)
                np.maximum.at(hi, code, values)
                groups.append(code + len(items))
                items.extend(_Item(col_index[name], (name, "range", (float(lo[b]), float(hi[b])))) for b in range(k))
    return np.stack(groups, axis=1), items


def _poisson_z(observed: float, expected: float) -> float:
    """Signed root of the Poisson deviance: how many 'standard deviations' ``observed`` lies above ``expected``."""
    if observed <= expected or observed <= 0:
        return 0.0
    expected = max(expected, 1e-9)
    return float(np.sqrt(2.0 * (observed * np.log(observed / expected) - observed + expected)))


_PURITY_SLACK = 0.02
_GROW_LOOKAHEAD = 8


def _grow(lab: np.ndarray, lo: int, hi: int, floor: float) -> tuple[int, int]:
    """Widen the sorted positions [lo, hi] over neighbouring rows carrying the label: a step may pass a few rows
    without it (jitter lands stamped rows among natural ones) when at least three in four rows of the step carry
    it, it ends on one that does, and the label's share over the whole range stays at least ``floor``."""
    n = len(lab)
    while True:
        moved = False
        for direction in (-1, 1):
            edge = lo if direction < 0 else hi
            inside = int(lab[lo : hi + 1].sum())
            size = hi - lo + 1
            best, good, bad = None, 0, 0
            for j in range(1, _GROW_LOOKAHEAD + 1):
                k = edge + direction * j
                if k < 0 or k >= n:
                    break
                good, bad = good + int(lab[k]), bad + int(not lab[k])
                if lab[k] and good >= 3 * bad and (inside + good) / (size + j) >= floor:
                    best = k
            if best is not None:
                lo, hi = (best, hi) if direction < 0 else (lo, best)
                moved = True
        if not moved:
            return lo, hi


def _purer_core(p: MinedPattern, evaluated: list[MinedPattern]) -> MinedPattern:
    """The strongest pattern inside ``p`` (its rows nearly all among p's, at least 40% as many) that is purer by
    more than the slack: a trigger stamped on a natural rare level is the level *and* the trigger's other
    conditions; the level alone adds its natural rows and dilutes the label."""
    inside = set(p.rows.tolist())
    best = p
    for q in evaluated:
        if q is p or q.label != p.label or q.confidence < p.confidence + _PURITY_SLACK:
            continue
        if q.rows.size < 0.4 * p.rows.size or len(inside.intersection(q.rows.tolist())) < 0.95 * q.rows.size:
            continue
        if best is p or q.surprise + min(q.cooccurrence, 10.0) > best.surprise + min(best.cooccurrence, 10.0):
            best = q
    return best


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _mask(enc: FrameEncoding, conditions: tuple[Condition, ...]) -> np.ndarray:
    mask = np.ones(enc.n_rows, dtype=bool)
    for column, op, spec in conditions:
        if op == "in":
            j = enc.categorical.index(column)
            wanted = [i for i, level in enumerate(enc.levels[j]) if _plain(level) in spec]
            mask &= np.isin(enc.codes[:, j], wanted)
        else:
            values = enc.values[:, enc.numeric.index(column)]
            mask &= (values >= spec[0]) & (values <= spec[1])
    return mask


class TriggerPatternDetector(BaseEstimator):  # type: ignore[misc]
    """Finds rare, near-pure, surprising value patterns tied to one label (see the module docstring).

    Fitted: ``classes_``, ``patterns_`` (list of :class:`MinedPattern`, strongest first), ``scores_`` (per row: the
    confidence of the strongest pattern it carries, else 0), ``n_candidates_`` (conjunctions evaluated).
    """

    def __init__(
        self,
        min_support: int = 6,
        max_support_share: float = 0.1,
        min_confidence: float = 0.9,
        max_blind_proba: float = 0.85,
        min_surprise: float = 2.0,
        min_flexible_surprise: float = 2.75,
        min_evidence: float = 8.0,
        min_lift: float = 1.2,
        min_cooccurrence: float = 3.0,
        max_columns: int = 4,
        beam_width: int = 300,
        work_budget: int = 3_000_000,
        resolutions: tuple[int, ...] = (4, 16, 64),
        min_refits: int = 8,
        refit_rows: int = 5_000,
        refit_work: int = 30_000,
        seed: int = 0,
    ) -> None:
        self.min_support = min_support
        self.max_support_share = max_support_share
        self.min_confidence = min_confidence
        self.max_blind_proba = max_blind_proba
        self.min_surprise = min_surprise
        self.min_flexible_surprise = min_flexible_surprise
        self.min_evidence = min_evidence
        self.min_lift = min_lift
        self.min_cooccurrence = min_cooccurrence
        self.max_columns = max_columns
        self.beam_width = beam_width
        self.work_budget = work_budget
        self.resolutions = resolutions
        self.min_refits = min_refits
        self.refit_rows = refit_rows
        self.refit_work = refit_work
        self.seed = seed

    # -- the pattern-blind model ------------------------------------------------------------------------------
    def _blind(self, enc: FrameEncoding, codes: np.ndarray) -> None:
        n_classes = len(self.classes_)
        model = LogisticRegression(C=0.5, max_iter=300)
        model.fit(enc.dense, codes)
        self._coef, self._intercept = model.coef_.copy(), model.intercept_.copy()
        self._refits: dict[Any, tuple[np.ndarray, ...]] = {}
        coef = model.coef_ if n_classes > 2 else np.vstack([np.zeros_like(model.coef_), model.coef_])
        intercept = model.intercept_ if n_classes > 2 else np.array([0.0, model.intercept_[0]])
        n_cols = len(enc.columns)
        # per-column contributions to each class's logit, centred: (n_cols, n, K)
        contrib = np.zeros((n_cols, enc.n_rows, n_classes), dtype=np.float32)
        for c in range(n_cols):
            cols = enc.dense_owner == c
            if cols.any():
                part = enc.dense[:, cols] @ coef[:, cols].T
                contrib[c] = part - part.mean(axis=0)
        self._contrib = contrib
        self._logits = contrib.sum(axis=0) + intercept[None, :] + (enc.dense @ coef.T).mean(axis=0)[None, :]

    def _blind_proba(self, rows: np.ndarray, label: int, drop: list[int]) -> np.ndarray:
        logits = self._logits[rows].astype(np.float64)
        for c in drop:
            logits = logits - self._contrib[c][rows]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return np.asarray(e[:, label] / e.sum(axis=1))

    # -- search -------------------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame | FrameEncoding, y: Any) -> TriggerPatternDetector:
        enc = X if isinstance(X, FrameEncoding) else encode_frame(X)
        self.classes_, codes = encode_labels(y)
        n = len(codes)
        self._blind(enc, codes)
        group_ids, items = _items(enc, tuple(self.resolutions), self.min_support)
        item_column = np.array([it.column for it in items])
        group_column = item_column[group_ids[0]]
        m = len(items)
        item_group = np.zeros(m, dtype=np.int64)
        for g in range(group_ids.shape[1]):
            item_group[np.unique(group_ids[:, g])] = g
        max_support = max(self.min_support, int(self.max_support_share * n))
        candidates: dict[tuple[int, tuple[int, ...]], float] = {}
        self.n_candidates_ = 0
        for label in range(len(self.classes_)):
            is_label = (codes == label).astype(np.float64)
            proba = self._blind_proba(np.arange(n), label, [])
            var = proba * (1 - proba)
            # level 1: every item
            flat = group_ids.ravel()
            n_all = np.bincount(flat, minlength=m).astype(np.float64)
            n_lab = np.bincount(flat, weights=np.repeat(is_label, group_ids.shape[1]), minlength=m)
            exp = np.bincount(flat, weights=np.repeat(proba, group_ids.shape[1]), minlength=m)
            vs = np.bincount(flat, weights=np.repeat(var, group_ids.shape[1]), minlength=m)
            beam = self._select(
                [((i,), n_all[i], n_lab[i], exp[i], vs[i], 0.0) for i in range(m)], label, max_support, candidates
            )
            for _depth in range(1, self.max_columns):
                children: dict[tuple[int, ...], tuple[float, float, float, float, float]] = {}
                work = 0
                for key in beam:
                    rows = np.flatnonzero(self._rows(group_ids, item_group, key))
                    used = {int(item_column[i]) for i in key}
                    keep = np.array([int(c) not in used for c in group_column])
                    sub = group_ids[np.ix_(rows, np.flatnonzero(keep))]
                    work += sub.size
                    if work > self.work_budget:
                        break
                    f = sub.ravel()
                    reps = sub.shape[1]
                    c_all = np.bincount(f, minlength=m)
                    c_lab = np.bincount(f, weights=np.repeat(is_label[rows], reps), minlength=m)
                    c_exp = np.bincount(f, weights=np.repeat(proba[rows], reps), minlength=m)
                    c_var = np.bincount(f, weights=np.repeat(var[rows], reps), minlength=m)
                    for i in np.flatnonzero(c_lab >= self.min_support):
                        child = tuple(sorted((*key, int(i))))
                        if child not in children:
                            cooc = _poisson_z(float(c_all[i]), rows.size * n_all[i] / n)
                            children[child] = (float(c_all[i]), float(c_lab[i]), float(c_exp[i]), float(c_var[i]), cooc)
                self.n_candidates_ += len(children)
                if not children:
                    break
                beam = self._select([(k, *v) for k, v in children.items()], label, max_support, candidates)
        self._group_ids = group_ids
        self.patterns_ = self._judge(enc, codes, items, candidates)
        scores = np.zeros(n)
        for pattern in reversed(self.patterns_):
            scores[pattern.rows] = np.maximum(scores[pattern.rows], pattern.confidence)
        self.scores_ = scores
        del self._contrib, self._logits, self._group_ids, self._refits
        return self

    @staticmethod
    def _rows(group_ids: np.ndarray, item_group: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
        mask = np.ones(group_ids.shape[0], dtype=bool)
        for item in key:
            mask &= group_ids[:, item_group[item]] == item
        return mask

    def _select(
        self,
        scored: list[tuple[tuple[int, ...], float, float, float, float, float]],
        label: int,
        max_support: int,
        candidates: dict[tuple[int, tuple[int, ...]], float],
    ) -> list[tuple[int, ...]]:
        """Record the near-pure candidates and return the beam (the most surprising itemsets)."""
        ranked: list[tuple[float, tuple[int, ...]]] = []
        for key, c_all, c_lab, c_exp, c_var, cooc in scored:
            if c_lab < self.min_support:
                continue
            z = (c_lab - c_exp) / np.sqrt(c_var + 1.0) + min(cooc, 10.0)
            if c_lab <= max_support and c_lab >= self.min_confidence * c_all:
                candidates[(label, key)] = float(z)
            ranked.append((z, key))
        ranked.sort(key=lambda t: (-t[0], t[1]))
        return [key for _, key in ranked[: self.beam_width]]

    # -- judging ------------------------------------------------------------------------------------------------
    def _evaluate(
        self,
        enc: FrameEncoding,
        codes: np.ndarray,
        conditions: tuple[Condition, ...],
        label: int,
    ) -> MinedPattern | None:
        """The pattern's statistics, its surprise judged by a linear model refitted without the rows carrying it
        (a level only those rows have gets no weight there: the model has never seen it)."""
        mask = _mask(enc, conditions)
        carriers = int(mask.sum())
        rows = np.flatnonzero(mask & (codes == label))
        if rows.size < self.min_support or carriers == 0 or carriers >= len(codes) - 1:
            return None
        confidence = rows.size / carriers
        prior = float(np.mean(codes == label))
        key = (conditions, label)
        if key not in self._refits:
            columns = {enc.columns.index(column) for column, _, _ in conditions}
            self._refits[key] = self._refit_proba(enc, codes, mask, label, columns)
        surprise, blind = np.inf, 0.0
        for proba in self._refits[key]:  # judged by both blind models: the pattern must surprise each
            excess = rows.size - proba.sum()
            surprise = min(surprise, float(excess / np.sqrt((proba * (1 - proba)).sum() + 1.0)))
            blind = max(blind, float(proba[codes[mask] == label].mean()))
        cooc = self._cooccurrence(enc, conditions, carriers)
        return MinedPattern(conditions, label, rows, carriers, confidence, confidence / prior, blind, surprise, cooc)

    def _cooccurrence(self, enc: FrameEncoding, conditions: tuple[Condition, ...], carriers: int) -> float:
        """How much more often the conditions hold together than the best split of them into two independent
        parts predicts (a Poisson z); a single rare condition counts as fully surprising, a common one as not."""
        n = enc.n_rows
        if len(conditions) == 1:
            total = int(_mask(enc, conditions).sum())
            return 10.0 if total <= 3 * max(carriers, 1) and conditions[0][1] == "in" else 0.0
        best = np.inf
        d = len(conditions)
        for bits in range(1, 2 ** (d - 1)):
            left = tuple(c for k, c in enumerate(conditions) if bits >> k & 1)
            right = tuple(c for k, c in enumerate(conditions) if not bits >> k & 1)
            expected = _mask(enc, left).sum() * _mask(enc, right).sum() / n
            best = min(best, _poisson_z(float(carriers), float(expected)))
        return float(best)

    def _refit_proba(
        self, enc: FrameEncoding, codes: np.ndarray, mask: np.ndarray, label: int, columns: set[int]
    ) -> tuple[np.ndarray, ...]:
        """The label's probability on the rows carrying a pattern under two linear models that never saw those
        rows (each fitted on at most ``refit_rows`` other rows): one on every column (a level only the carriers
        have gets no weight there), one without the pattern's columns (what the rest of a row says of its
        label: rows stamped with a trigger come from the other classes, so the rest of them disagrees)."""
        carriers = np.flatnonzero(mask)
        train = np.flatnonzero(~mask)
        n_classes = len(self.classes_)
        if len(np.unique(codes[train])) < n_classes:
            return (np.full(carriers.size, 1.0),)  # the pattern holds a whole class: nothing to compare with
        if train.size > self.refit_rows:
            train = np.sort(np.random.default_rng(self.seed).choice(train, self.refit_rows, replace=False))
        every = LogisticRegression(C=0.5, max_iter=200, warm_start=True)
        every.coef_ = self._coef.copy()
        every.intercept_ = self._intercept.copy()
        every.fit(enc.dense[train], codes[train])
        out = [place_proba(every.predict_proba(enc.dense[carriers]), every.classes_, n_classes)[:, label]]
        keep = np.flatnonzero(~np.isin(enc.dense_owner, sorted(columns)))
        if keep.size:
            rest = LogisticRegression(C=0.5, max_iter=200)
            rest.fit(enc.dense[np.ix_(train, keep)], codes[train])
            out.append(
                place_proba(rest.predict_proba(enc.dense[np.ix_(carriers, keep)]), rest.classes_, n_classes)[:, label]
            )
        return tuple(np.asarray(p) for p in out)

    def _passes(self, p: MinedPattern, n: int) -> bool:
        return (
            p.rows.size >= self.min_support
            and p.rows.size <= max(self.min_support, self.max_support_share * n)
            and p.confidence >= self.min_confidence
            and p.lift >= self.min_lift
            and p.blind_proba <= self.max_blind_proba
            and p.surprise >= self.min_surprise
            and p.cooccurrence >= self.min_cooccurrence
            and p.surprise + min(p.cooccurrence, 10.0) >= self.min_evidence
        )

    def _judge(
        self,
        enc: FrameEncoding,
        codes: np.ndarray,
        items: list[_Item],
        candidates: dict[tuple[int, tuple[int, ...]], float],
    ) -> list[MinedPattern]:
        n = len(codes)
        evaluated: list[MinedPattern] = []
        # strongest first by support; evaluate a bounded number
        budget = max(self.min_refits, self.refit_work // max(n, 1))
        ordered = sorted(candidates.items(), key=lambda kv: (-kv[1], kv[0]))[:budget]
        for (label, key), _ in ordered:
            conditions = tuple(items[i].condition for i in key)
            p = self._evaluate(enc, codes, conditions, label)
            if p is not None and self._passes(p, n):
                evaluated.append(p)
        evaluated.sort(key=lambda p: (-(p.surprise + min(p.cooccurrence, 10.0)), -p.rows.size))
        chosen: list[MinedPattern] = []
        covered = np.zeros(n, dtype=bool)
        for p in evaluated:
            if covered[p.rows].mean() > 0.5:
                continue
            p = _purer_core(p, evaluated)
            refined = self._refine(enc, codes, p)
            if refined is None or covered[refined.rows].mean() > 0.5:
                continue
            if self._flexible_surprise(enc, codes, refined) < self.min_flexible_surprise:
                continue  # natural structure a flexible model learns from the other rows (a curve, an interaction)
            chosen.append(refined)
            covered[refined.rows] = True
        return chosen

    def _flexible_surprise(self, enc: FrameEncoding, codes: np.ndarray, p: MinedPattern) -> float:
        """The pattern's surprise under gradient-boosted trees fitted on the rows not carrying it (at most
        ``refit_rows``), every column in: they learn curves and interactions the linear blind models cannot, so a
        natural pure region is expected from its neighbours, while a stamped trigger, a box whose label its
        surroundings do not share, stays surprising."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        from mlwarden.audit._encoding import hgb_matrix

        mask = _mask(enc, p.conditions)
        train = np.flatnonzero(~mask)
        if len(np.unique(codes[train])) < len(self.classes_):
            return float("inf")
        if train.size > self.refit_rows:
            train = np.sort(np.random.default_rng(self.seed).choice(train, self.refit_rows, replace=False))
        X, categorical = hgb_matrix(enc)
        model = HistGradientBoostingClassifier(
            max_iter=100,
            max_leaf_nodes=15,
            early_stopping=False,
            random_state=self.seed,
            categorical_features=categorical,
        )
        model.fit(X[train], codes[train])
        proba = place_proba(model.predict_proba(X[mask]), model.classes_, len(self.classes_))[:, p.label]
        excess = float((codes[mask] == p.label).sum() - proba.sum())
        return excess / float(np.sqrt((proba * (1 - proba)).sum() + 1.0))

    def _refine(self, enc: FrameEncoding, codes: np.ndarray, p: MinedPattern) -> MinedPattern | None:
        n = len(codes)
        conditions = list(p.conditions)
        # grow each numeric range over neighbouring values that carry the label (absorbs jitter), then tighten it
        for idx, (column, op, spec) in enumerate(conditions):
            if op != "range":
                continue
            others = tuple(c for k, c in enumerate(conditions) if k != idx)
            base = np.flatnonzero(_mask(enc, others))
            values = enc.values[base, enc.numeric.index(column)]
            order = np.argsort(values, kind="stable")
            v = values[order]
            lab = codes[base][order] == p.label
            inside = np.flatnonzero((v >= spec[0]) & (v <= spec[1]) & lab)
            if inside.size == 0:
                continue
            lo_i, hi_i = int(inside[0]), int(inside[-1])
            floor = max(self.min_confidence, p.confidence - 0.05)
            lo_i, hi_i = _grow(lab, lo_i, hi_i, floor)
            conditions[idx] = (column, "range", (float(v[lo_i]), float(v[hi_i])))
        best = self._evaluate(enc, codes, tuple(conditions), p.label)
        if best is None or not self._passes(best, n):
            best = p
        # drop conditions that add nothing
        improved = True
        while improved and len(best.conditions) > 1:
            improved = False
            for k in range(len(best.conditions)):
                fewer = best.conditions[:k] + best.conditions[k + 1 :]
                q = self._evaluate(enc, codes, fewer, best.label)
                if (
                    q is not None
                    and self._passes(q, n)
                    and q.confidence >= best.confidence - _PURITY_SLACK  # a trigger is pure: never dilute it
                    and q.surprise + min(q.cooccurrence, 10.0) >= best.surprise + min(best.cooccurrence, 10.0)
                ):
                    best, improved = q, True
                    break
        return best


class SpectralOutlierDetector(BaseEstimator):  # type: ignore[misc]
    """Per class, the squared projection of each centred row on the top singular direction (spectral signature),
    divided by the class's median projection. Fitted: ``classes_``, ``scores_``."""

    def __init__(self, n_components: int = 1, seed: int = 0) -> None:
        self.n_components = n_components
        self.seed = seed

    def fit(self, X: pd.DataFrame | FrameEncoding, y: Any) -> SpectralOutlierDetector:
        enc = X if isinstance(X, FrameEncoding) else encode_frame(X)
        self.classes_, codes = encode_labels(y)
        scores = np.zeros(len(codes))
        for c in range(len(self.classes_)):
            rows = np.flatnonzero(codes == c)
            if rows.size < 3:
                continue
            block = enc.dense[rows].astype(np.float64)
            block -= block.mean(axis=0)
            _, _, vt = np.linalg.svd(block.T @ block)
            proj = (block @ vt[: self.n_components].T) ** 2
            s = proj.sum(axis=1)
            scores[rows] = s / (np.median(s) + 1e-12)
        self.scores_ = scores
        return self
