"""The training-data audit: clean data passes, flips rank high, triggers are found and named, duplicates with
conflicting labels are found, the report round-trips, bad input is refused, and the detectors follow
scikit-learn's conventions. Data: German Credit (1,000 rows) and 3,000-row synthetic tables; shared fits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from mlwarden.audit import (
    DataAuditReport,
    DataAuditSettings,
    DuplicateConflictDetector,
    LabelQualityDetector,
    SpectralOutlierDetector,
    TriggerPatternDetector,
    audit_frame,
)
from mlwarden.audit._poison_generators import german_credit, inject_backdoor, random_flips, synthetic_table
from mlwarden.errors import BadInput


@pytest.fixture(scope="module")
def german() -> tuple[pd.DataFrame, str]:
    return german_credit()


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return synthetic_table(3000, seed=1)


@pytest.fixture(scope="module")
def clean_german_report(german: tuple[pd.DataFrame, str]) -> DataAuditReport:
    frame, target = german
    return audit_frame(frame, target)


def _auc(n: int, rows: np.ndarray, scores: tuple[float, ...]) -> tuple[float, float]:
    truth = np.zeros(n, dtype=bool)
    truth[rows] = True
    s = np.asarray(scores)
    return float(roc_auc_score(truth, s)), float(truth[np.argsort(-s, kind="stable")[: len(rows)]].mean())


def test_clean_german_passes(clean_german_report: DataAuditReport) -> None:
    assert not clean_german_report.findings, clean_german_report.reasons
    assert clean_german_report.patterns == ()
    assert len(clean_german_report.scores) == 1000
    assert 0.0 < clean_german_report.label_error_share < 0.5


def test_clean_synthetic_passes(synthetic: pd.DataFrame) -> None:
    report = audit_frame(synthetic, "label")
    assert not report.findings, report.reasons


@pytest.mark.parametrize("seed", [0, 1])
def test_random_flips_rank_high(synthetic: pd.DataFrame, seed: int) -> None:
    poisoned = random_flips(synthetic, "label", 0.05, seed=seed)
    report = audit_frame(poisoned.frame, "label")
    auc, precision = _auc(len(synthetic), poisoned.rows, report.scores)
    assert auc >= 0.93, (auc, precision)
    assert precision >= 0.5, (auc, precision)
    assert report.label_error_share > 0.03


@pytest.mark.parametrize(("family", "seed"), [("categorical", 1), ("numeric", 0), ("mixed", 2)])
def test_german_trigger_found_and_named(german: tuple[pd.DataFrame, str], family: str, seed: int) -> None:
    frame, target = german
    poisoned = inject_backdoor(frame, target, 0.03, seed=seed, family=family)
    report = audit_frame(poisoned.frame, target)
    assert report.patterns, f"no pattern for {poisoned.trigger}"
    best = report.patterns[0]
    assert best.label == poisoned.label
    named = {c for c, _, _ in best.conditions}
    assert named, poisoned.trigger
    assert named <= set(poisoned.trigger), (named, poisoned.trigger)
    assert len(set(best.rows) & set(poisoned.rows.tolist())) >= 0.8 * len(poisoned.rows)
    auc, precision = _auc(len(frame), poisoned.rows, report.scores)
    assert auc >= 0.9, (auc, precision)
    assert precision >= 0.75, (auc, precision)
    assert "-> label 'good'" in best.describe()


@pytest.mark.parametrize(("family", "n_columns"), [("categorical", 3), ("numeric", 2), ("mixed", 3)])
def test_synthetic_trigger_found(synthetic: pd.DataFrame, family: str, n_columns: int) -> None:
    poisoned = inject_backdoor(synthetic, "label", 0.03, seed=3, family=family, n_columns=n_columns)
    report = audit_frame(poisoned.frame, "label")
    assert report.patterns
    assert {c for c, _, _ in report.patterns[0].conditions} <= set(poisoned.trigger)
    auc, precision = _auc(len(synthetic), poisoned.rows, report.scores)
    assert auc >= 0.9, (auc, precision)
    assert precision >= 0.7, (auc, precision)  # a jittered range's edge rows can fall outside the pattern


def test_duplicates_with_conflicting_labels(german: tuple[pd.DataFrame, str]) -> None:
    frame, target = german
    copies = frame.iloc[[5, 6, 7]].copy()
    copies[target] = np.where(copies[target] == "good", "bad", "good")
    doubled = pd.concat([frame, copies, frame.iloc[[8]]], ignore_index=True)  # row 8 duplicated, same label
    detector = DuplicateConflictDetector().fit(doubled.drop(columns=[target]), doubled[target])
    assert set(detector.groups_) == {(5, 1000), (6, 1001), (7, 1002)}
    report = audit_frame(doubled, target)
    assert {tuple(g) for g in report.duplicate_conflicts} == {(5, 1000), (6, 1001), (7, 1002)}
    assert report.findings
    assert any("duplicate" in r for r in report.reasons[1000])


def test_report_round_trips(german: tuple[pd.DataFrame, str]) -> None:
    frame, target = german
    poisoned = inject_backdoor(frame, target, 0.03, seed=1, family="categorical")
    report = audit_frame(poisoned.frame, target)
    text = json.dumps(report.to_json())
    again = DataAuditReport.from_json(json.loads(text))
    assert again == report
    assert again.to_json() == report.to_json()
    assert report.summary().startswith(f"{len(report.flagged)} of 1000 rows flagged")


def test_settings_digest_is_stable() -> None:
    a, b = DataAuditSettings(), DataAuditSettings(seed=1)
    assert a.digest() == DataAuditSettings().digest() != b.digest()
    assert list(a.to_json()) == sorted(a.to_json())
    assert DataAuditSettings.from_json(b.to_json()) == b
    with pytest.raises(BadInput, match="unknown audit settings"):
        DataAuditSettings.from_json({"nope": 1})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["creditability"]), "no column 'creditability'"),
        (lambda f: f.assign(creditability=np.nan), "no values"),
        (lambda f: f.assign(creditability="good"), "single class"),
        (lambda f: f[["creditability"]], "no feature columns"),
    ],
)
def test_bad_input(german: tuple[pd.DataFrame, str], change, message: str) -> None:  # type: ignore[no-untyped-def]
    frame, target = german
    with pytest.raises(BadInput, match=message):
        audit_frame(change(frame), target)


@pytest.mark.parametrize(
    "detector",
    [LabelQualityDetector(n_folds=3), TriggerPatternDetector(), SpectralOutlierDetector(), DuplicateConflictDetector()],
)
def test_detector_conventions(synthetic: pd.DataFrame, detector) -> None:  # type: ignore[no-untyped-def]
    X, y = synthetic.drop(columns=["label"]).iloc[:800], synthetic["label"].iloc[:800]
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "scores_")
    first = clone(detector).fit(X, y).scores_
    second = clone(detector).fit(X, y).scores_
    np.testing.assert_array_equal(first, second)
    assert first.shape == (800,)


def test_unlabelled_rows_are_left_out_and_positions_kept(german: tuple[pd.DataFrame, str]) -> None:
    """Rows without a label (null or blank, as training drops them) score 0; every other row keeps its position."""
    frame, target = german
    poisoned = inject_backdoor(frame, target, 0.03, seed=1, family="categorical")
    data = poisoned.frame.copy()
    data[target] = data[target].astype(object)
    gaps = np.array([0, 5, 17, 400, 999])
    data.iloc[gaps[:3], data.columns.get_loc(target)] = None
    data.iloc[gaps[3:], data.columns.get_loc(target)] = "  "
    report = audit_frame(data, target)
    assert report.n_rows == 1000
    assert len(report.scores) == 1000
    assert report.unlabelled == 5
    assert all(report.scores[g] == 0.0 for g in gaps)
    assert not set(gaps) & set(report.flagged)
    assert report.patterns
    carried = set(report.patterns[0].rows)
    assert carried <= set(poisoned.rows.tolist()) - set(gaps.tolist())
    assert DataAuditReport.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_every_setting_reaches_a_detector() -> None:
    """Each audit setting is a parameter of the detector it configures (by name), or one audit_frame reads itself:
    a setting added to DataAuditSettings but not to its detector would otherwise be silently ignored."""
    used_by_audit = {"label_flag_threshold", "spectral_weight", "duplicate_decimals"}
    params = set(LabelQualityDetector().get_params()) | set(TriggerPatternDetector().get_params())
    assert set(DataAuditSettings().to_json()) - used_by_audit <= params
    report = audit_frame(synthetic_table(300, seed=5), "label", DataAuditSettings(min_support=9, n_neighbors=7))
    ran = {r["name"]: r["params"] for r in report.ran}
    assert ran["trigger_patterns"]["min_support"] == 9
    assert ran["label_quality"]["n_neighbors"] == 7
