"""The combined training-data audit: :func:`audit_frame` and its records.

It runs, on the feature columns (every column but the target) and the target:

1. :class:`LabelQualityDetector` (out-of-fold probabilities and neighbours): flipped labels;
2. :class:`TriggerPatternDetector`: backdoor triggers, named as patterns;
3. :class:`SpectralOutlierDetector`: per-class spectral signatures (a small share of the score, if weighted);
4. :class:`DuplicateConflictDetector`: duplicates with conflicting labels.

A row's label-quality score is the mean of two ranks (0 to 1): of one minus the combined probability of its label,
and of how far that probability falls below its class's mean. Its score (0 to 1, higher is more suspicious) is
0.9 times that, raised to at least
0.9 + 0.1 x confidence when it carries a trigger pattern and to 0.95 when it is the odd label out among its
duplicates; so pattern rows rank above every row suspected of a flip alone. Flagged rows: pattern rows,
duplicate conflicts, and rows whose own label has a combined probability of at most ``label_flag_threshold``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from mlwarden.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1


@dataclass(frozen=True)
class DataAuditSettings:
    """Every knob of the audit; the defaults pass clean data. :meth:`to_json` is stable (its SHA-256 keys a
    stored result: :meth:`digest`)."""

    seed: int = 0
    # label quality
    n_folds: int = 5
    n_repeats: int = 3
    n_neighbors: int = 30
    forest_max_rows: int = 5000
    hgb_folds: int = 3
    max_iter: int = 300
    max_leaf_nodes: int = 15
    linear_max_rows: int = 20000
    knn_max_rows: int = 20000
    label_flag_threshold: float = 0.003
    # trigger patterns
    min_support: int = 6
    max_support_share: float = 0.1
    min_confidence: float = 0.9
    max_blind_proba: float = 0.85
    min_surprise: float = 2.0
    min_flexible_surprise: float = 2.75
    min_cooccurrence: float = 3.0
    min_evidence: float = 8.0
    min_lift: float = 1.2
    max_columns: int = 4
    beam_width: int = 300
    # spectral signatures and duplicates
    spectral_weight: float = 0.0
    duplicate_decimals: int = 3

    def to_json(self) -> dict[str, Any]:
        return dict(sorted(asdict(self).items()))

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_json`."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataAuditSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInput(f"unknown audit settings: {', '.join(unknown)}")
        return cls(**data)


def _fmt(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


@dataclass(frozen=True)
class TriggerPattern:
    """A suspected backdoor trigger: rows carrying every condition with ``label``.

    ``conditions``: (column, "in", (level, ...)) or (column, "range", (lo, hi)), both ends inclusive.
    ``support``: rows carrying the pattern with the label; ``confidence``: their share among all rows carrying the
    conditions; ``lift``: confidence over the label's share in the data.
    """

    conditions: tuple[tuple[str, str, Any], ...]
    label: Any
    rows: tuple[int, ...]
    support: int
    lift: float
    confidence: float
    blind_proba: float = 0.0  # mean probability of the label there under a model blind to the pattern
    surprise: float = 0.0

    def describe(self) -> str:
        parts = []
        for column, op, spec in self.conditions:
            if op == "in":
                parts.append(f"{column} in {{{', '.join(_fmt(v) for v in spec)}}}")
            else:
                parts.append(f"{column} in [{float(spec[0])}, {float(spec[1])}]")
        return f"{' and '.join(parts)} -> label {_fmt(self.label)} ({self.support} rows, lift {self.lift:.1f})"

    def to_json(self) -> dict[str, Any]:
        return {
            "conditions": [[c, op, list(spec)] for c, op, spec in self.conditions],
            "label": _plain(self.label),
            "rows": list(self.rows),
            "support": self.support,
            "lift": self.lift,
            "confidence": self.confidence,
            "blind_proba": self.blind_proba,
            "surprise": self.surprise,
            "description": self.describe(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TriggerPattern:
        return cls(
            conditions=tuple((str(c), str(op), tuple(spec)) for c, op, spec in data["conditions"]),
            label=data["label"],
            rows=tuple(int(r) for r in data["rows"]),
            support=int(data["support"]),
            lift=float(data["lift"]),
            confidence=float(data["confidence"]),
            blind_proba=float(data.get("blind_proba", 0.0)),
            surprise=float(data.get("surprise", 0.0)),
        )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class DataAuditReport:
    """What :func:`audit_frame` found. ``scores`` has one value per row in the frame's order (0-based)."""

    n_rows: int
    target: str
    scores: tuple[float, ...]
    flagged: tuple[int, ...]
    reasons: dict[int, tuple[str, ...]]
    patterns: tuple[TriggerPattern, ...]
    duplicate_conflicts: tuple[tuple[int, ...], ...]
    label_error_share: float
    ran: tuple[dict[str, Any], ...]
    settings: DataAuditSettings = field(default_factory=DataAuditSettings)
    unlabelled: int = 0  # rows without a label: not audited, scored 0 (training drops them too)

    @property
    def findings(self) -> bool:
        return bool(self.flagged)

    def summary(self) -> str:
        if not self.findings:
            share = f"{self.label_error_share:.1%}"
            return f"no findings in {self.n_rows} rows (target {self.target!r}; label errors ~{share})"
        return (
            f"{len(self.flagged)} of {self.n_rows} rows flagged (target {self.target!r}): "
            f"{len(self.patterns)} trigger pattern(s), {len(self.duplicate_conflicts)} duplicate conflict(s), "
            f"label errors ~{self.label_error_share:.1%}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "target": self.target,
            "scores": list(self.scores),
            "flagged": list(self.flagged),
            "reasons": {str(k): list(v) for k, v in sorted(self.reasons.items())},
            "patterns": [p.to_json() for p in self.patterns],
            "duplicate_conflicts": [list(g) for g in self.duplicate_conflicts],
            "label_error_share": self.label_error_share,
            "ran": [dict(r) for r in self.ran],
            "settings": self.settings.to_json(),
            "unlabelled": self.unlabelled,
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataAuditReport:
        if data.get("format") != FORMAT_VERSION:
            raise BadInput(f"unsupported data-audit report format {data.get('format')!r} (expected {FORMAT_VERSION})")
        return cls(
            n_rows=int(data["n_rows"]),
            target=str(data["target"]),
            scores=tuple(float(s) for s in data["scores"]),
            flagged=tuple(int(r) for r in data["flagged"]),
            reasons={int(k): tuple(str(x) for x in v) for k, v in data["reasons"].items()},
            patterns=tuple(TriggerPattern.from_json(p) for p in data["patterns"]),
            duplicate_conflicts=tuple(tuple(int(r) for r in g) for g in data["duplicate_conflicts"]),
            label_error_share=float(data["label_error_share"]),
            ran=tuple(dict(r) for r in data["ran"]),
            settings=DataAuditSettings.from_json(data["settings"]),
            unlabelled=int(data.get("unlabelled", 0)),
        )


def _check(frame: pd.DataFrame, target: str) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise BadInput("the data to audit must be a table (a pandas DataFrame)")
    if target not in frame.columns:
        raise BadInput(f"no column {target!r} in the dataset; pick one of its {frame.shape[1]} columns as --target")
    labels = frame[target][~_unlabelled(frame[target])]
    if labels.empty:
        raise BadInput(f"target column {target!r} holds no values (all missing)")
    counts = labels.astype(str).value_counts()
    if len(counts) < 2:
        raise BadInput(f"target column {target!r} has a single class: nothing to audit")
    if counts.min() < 2:
        raise BadInput(f"target column {target!r} has a class with one row ({counts.index[-1]!r}); merge or drop it")
    if frame.shape[1] < 2:
        raise BadInput("the data has no feature columns besides the target: nothing to audit")


def _unlabelled(labels: pd.Series) -> np.ndarray:
    """Rows without a label, as training counts them (and drops them)."""
    from mlwarden.models._training_data import unlabelled_rows

    return np.asarray(unlabelled_rows(labels), dtype=bool)


def _remap(report: DataAuditReport, positions: np.ndarray, n_rows: int) -> DataAuditReport:
    """A report on the labelled rows only, put back in the positions of the whole frame (unlabelled rows
    score 0 and are never flagged: training drops them)."""
    scores = np.zeros(n_rows)
    scores[positions] = report.scores
    at = positions.tolist()
    patterns = tuple(dataclasses.replace(p, rows=tuple(at[r] for r in p.rows)) for p in report.patterns)
    return dataclasses.replace(
        report,
        n_rows=n_rows,
        scores=tuple(float(v) for v in scores),
        flagged=tuple(at[r] for r in report.flagged),
        reasons={at[r]: v for r, v in report.reasons.items()},
        patterns=patterns,
        duplicate_conflicts=tuple(tuple(at[r] for r in g) for g in report.duplicate_conflicts),
        unlabelled=n_rows - len(positions),
    )


def audit_frame(
    frame: pd.DataFrame,
    target: str,
    settings: DataAuditSettings | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> DataAuditReport:
    """Audit ``frame`` for flipped labels, backdoor triggers and conflicting duplicates (module docstring).

    ``progress(step, fraction_done)`` is called before each detector and at the end. Raises BadInput (one line)
    for a missing target column, a target with missing values or a single class, or no feature columns."""
    from mlwarden.audit._backdoor import SpectralOutlierDetector, TriggerPatternDetector
    from mlwarden.audit._duplicates import DuplicateConflictDetector
    from mlwarden.audit._encoding import encode_frame
    from mlwarden.audit._label_quality import LabelQualityDetector, encode_labels

    settings = settings or DataAuditSettings()
    _check(frame, target)
    unlabelled = _unlabelled(frame[target])
    if unlabelled.any():
        positions = np.flatnonzero(~unlabelled)
        labelled = frame.iloc[positions].reset_index(drop=True)
        return _remap(audit_frame(labelled, target, settings, progress), positions, len(frame))
    report = progress or (lambda _step, _done: None)
    features = frame.drop(columns=[target])
    y = frame[target].to_numpy()
    classes, codes = encode_labels(y)
    label_values = {str(v): v for v in frame[target].unique()}
    n = len(frame)
    ran: list[dict[str, Any]] = []

    def run(name: str, done: float, detector: Any, data: Any) -> Any:
        report(name, done)
        start = time.perf_counter()
        detector.fit(data, y)
        ran.append({"name": name, "params": _params(detector), "seconds": round(time.perf_counter() - start, 3)})
        return detector

    report("encode", 0.0)
    enc = encode_frame(features)
    s = settings
    lq = run("label_quality", 0.05, _configured(LabelQualityDetector, s), enc)
    tp = run("trigger_patterns", 0.55, _configured(TriggerPatternDetector, s), enc)
    spectral = run("spectral_signature", 0.85, SpectralOutlierDetector(seed=s.seed), enc) if s.spectral_weight else None
    dup = run("duplicate_conflicts", 0.9, DuplicateConflictDetector(decimals=s.duplicate_decimals), enc)

    own = lq.proba_[np.arange(n), codes]
    self_conf = np.array([own[codes == c].mean() for c in range(len(classes))])
    # Two rankings, averaged: how unlikely the label is (random flips land mostly in the class they are rarest
    # in), and how far below its class's typical confidence it is (flips into one class, e.g. targeted).
    label_score = (_ranks(1.0 - own) + _ranks(self_conf[codes] - own)) / 2.0
    scores = 0.9 * label_score
    if spectral is not None:
        ranks = np.argsort(np.argsort(spectral.scores_)) / max(n - 1, 1)
        scores = (1 - s.spectral_weight) * scores + s.spectral_weight * 0.9 * ranks
    reasons: dict[int, list[str]] = {}
    patterns: list[TriggerPattern] = []
    for mined in tp.patterns_:
        label = label_values[str(classes[mined.label])]
        pattern = TriggerPattern(
            conditions=tuple(mined.conditions),
            label=_plain(label),
            rows=tuple(int(r) for r in mined.rows),
            support=int(mined.rows.size),
            lift=round(float(mined.lift), 6),
            confidence=round(float(mined.confidence), 6),
            blind_proba=round(float(mined.blind_proba), 6),
            surprise=round(float(mined.surprise), 6),
        )
        patterns.append(pattern)
        scores[mined.rows] = np.maximum(scores[mined.rows], 0.9 + 0.1 * mined.confidence)
        for r in mined.rows:
            reasons.setdefault(int(r), []).append(f"carries the trigger pattern {pattern.describe()}")
    for group in dup.groups_:
        for r in group:
            if dup.scores_[r] > 0:
                scores[r] = max(scores[r], 0.95)
                others = [g for g in group if g != r][:5]
                reasons.setdefault(int(r), []).append(f"duplicate of rows {others} with a different label")
    for r in np.flatnonzero(own <= s.label_flag_threshold):
        reasons.setdefault(int(r), []).append(
            f"label {_fmt(y[r])} is unlikely given the other rows (probability {own[r]:.3f})"
        )
    report("done", 1.0)
    flagged = tuple(sorted(reasons))
    return DataAuditReport(
        n_rows=n,
        target=target,
        scores=tuple(round(float(v), 6) for v in scores),
        flagged=flagged,
        reasons={r: tuple(reasons[r]) for r in flagged},
        patterns=tuple(patterns),
        duplicate_conflicts=dup.groups_,
        label_error_share=round(lq.label_error_share_, 6),
        ran=tuple(ran),
        settings=settings,
    )


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (``scipy.stats.rankdata``, imported by name: scipy ships no type stubs) scaled to [0, 1]."""
    ranks = importlib.import_module("scipy.stats").rankdata(values)
    return np.asarray((ranks - 1.0) / max(len(values) - 1, 1))


def _configured(cls: Any, settings: DataAuditSettings) -> Any:
    """``cls`` with every parameter the settings name the same way (the rest keep the detector's defaults)."""
    names = set(cls().get_params())
    return cls(**{k: v for k, v in asdict(settings).items() if k in names})


def _params(detector: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(detector.get_params().items()):
        out[key] = list(value) if isinstance(value, tuple) else value
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = str(value)
    return out
