"""The drift tests and effect sizes against scipy's, their calibration on clean data, and their power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlwarden.monitor import ProfileCounts, ReferenceProfile, compare
from mlwarden.monitor._drift import _benjamini_hochberg, _chi2, _ipf_homogeneous, _ks, jensen_shannon, psi


def mixed(n: int, seed: int, *, rho: float = 0.7) -> pd.DataFrame:
    """Numeric columns of several shapes (two correlated), a discrete one, two categoricals."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3))
    a = z[:, 0]
    b = rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]
    frame = pd.DataFrame(
        {
            "a": a,
            "b": b,
            "skewed": np.exp(z[:, 2]),
            "count": rng.poisson(3, n).astype(float),
            "colour": rng.choice(["red", "green", "blue", "grey"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "flag": rng.choice(["y", "n"], n, p=[0.8, 0.2]),
        }
    )
    frame.loc[rng.random(n) < 0.02, "skewed"] = np.nan
    return frame


def counted(profile: ReferenceProfile, frame: pd.DataFrame) -> ProfileCounts:
    counts = ProfileCounts(profile)
    counts.add_frame(frame)
    return counts


def test_binned_ks_is_scipys_exact_statistic_on_discrete_values() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.integers(0, 40, 3000).astype(float)})
    cur = pd.DataFrame({"x": rng.integers(2, 42, 2000).astype(float)})
    profile = ReferenceProfile.from_frame(ref)
    column = profile.columns[0]
    current = counted(profile, cur).counts[0]
    d, p = _ks(column.counts[:-1], current[:-1])
    exact = stats.ks_2samp(ref["x"], cur["x"])
    # one bin per reference value: the two CDFs are compared wherever the reference has mass
    assert d == pytest.approx(exact.statistic, abs=1e-12)
    assert p == pytest.approx(stats.ks_2samp(ref["x"], cur["x"], method="asymp").pvalue, rel=0.2, abs=1e-12)


def test_chi2_is_scipys_test_of_homogeneity() -> None:
    ref = np.array([500, 300, 150, 50])
    cur = np.array([450, 330, 160, 60])
    stat, p, df = _chi2(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert (stat, df) == (pytest.approx(expected.statistic), expected.dof)
    assert p == pytest.approx(expected.pvalue)


def test_rare_categories_are_pooled_before_the_chi2() -> None:
    ref = np.array([900, 95, 3, 2])
    cur = np.array([880, 110, 1, 9])
    stat, _, df = _chi2(ref, cur)
    pooled = stats.chi2_contingency(np.array([[900, 95, 5], [880, 110, 10]]), correction=False)
    assert (stat, df) == (pytest.approx(pooled.statistic), pooled.dof)


def test_effect_sizes_match_their_definitions() -> None:
    p = np.array([40.0, 30, 20, 10])
    q = np.array([30.0, 30, 25, 15])
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    pp, qq = p / p.sum(), q / q.sum()
    assert psi(p, q) == pytest.approx(float(np.sum((qq - pp) * np.log(qq / pp))))
    assert psi(p, p) == 0.0
    assert jensen_shannon(p, p) == 0.0


def test_normalised_wasserstein_follows_scipys_on_fine_bins() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(0, 2, 50_000)
    cur = rng.normal(0.5, 2, 50_000)
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": ref}))
    report = compare(profile, counted(profile, pd.DataFrame({"x": cur})))
    exact = stats.wasserstein_distance(ref, cur) / ref.std()
    assert report.columns[0].effect["wasserstein"] == pytest.approx(exact, rel=0.05)


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(1).uniform(size=40) ** 3
    q, reject = _benjamini_hochberg(p, 0.05)
    assert q == pytest.approx(stats.false_discovery_control(p, method="bh"))
    assert (reject == (q <= 0.05)).all()


def test_ipf_fits_the_three_two_way_margins() -> None:
    rng = np.random.default_rng(2)
    table = rng.integers(1, 50, (3, 2, 4, 5)).astype(float)
    fit = _ipf_homogeneous(table, iterations=500, tol=1e-12)
    for axis in (1, 2, 3):
        assert fit.sum(axis=axis) == pytest.approx(table.sum(axis=axis), rel=1e-6)


def test_clean_data_passes_on_every_seed() -> None:
    """No drift between fresh samples of one distribution: the dataset-level false alarm rate is
    bounded by alpha (Benjamini-Hochberg with every null true), so 10 seeds see at most 2."""
    alarms = 0
    for seed in range(10):
        profile = ReferenceProfile.from_frame(mixed(5000, 100 + seed))
        report = compare(profile, counted(profile, mixed(5000, 200 + seed)))
        alarms += report.drifted
        assert all(t.severity == "none" for t in report.all_tests() if not t.drift)
    assert alarms <= 2


@pytest.mark.parametrize(
    ("change", "flagged"),
    [
        ("shift", "a"),
        ("scale", "skewed"),
        ("mass", "colour"),
        ("missing", "skewed"),
        ("new-category", "flag"),
    ],
)
def test_each_kind_of_shift_is_caught_on_its_column(change: str, flagged: str) -> None:
    ref = mixed(20_000, 1)
    cur = mixed(20_000, 2)
    if change == "shift":
        cur["a"] += 0.1
    elif change == "scale":
        cur["skewed"] = cur["skewed"] ** 1.15
    elif change == "mass":
        moved = np.flatnonzero(cur["colour"].to_numpy() == "red")[: int(0.03 * len(cur))]
        cur.loc[moved, "colour"] = "grey"
    elif change == "missing":
        cur.loc[np.random.default_rng(9).random(len(cur)) < 0.05, "skewed"] = np.nan
    else:
        cur.loc[np.random.default_rng(9).random(len(cur)) < 0.02, "flag"] = "unknown"
    profile = ReferenceProfile.from_frame(ref)
    report = compare(profile, counted(profile, cur))
    drifted = {c.column for c in report.columns if c.drift}
    assert flagged in drifted
    assert drifted <= {flagged, "b"} | ({"a"} if flagged == "a" else set())  # b follows a (correlated)
    if change == "new-category":
        assert next(c for c in report.columns if c.column == "flag").note == "values the reference never had"


def test_a_change_of_dependence_with_unchanged_marginals_is_caught_as_joint() -> None:
    """b = rho a + noise with rho flipped: a and b have the very same marginals, their pair changed."""
    profile = ReferenceProfile.from_frame(mixed(20_000, 1, rho=0.5))
    report = compare(profile, counted(profile, mixed(20_000, 2, rho=-0.5)))
    assert not any(c.drift for c in report.columns)
    pairs = {p.columns for p in report.joint if p.drift}
    assert pairs == {("a", "b")}
    pair = next(p for p in report.joint if p.columns == ("a", "b"))
    assert pair.severity == "major"
    assert pair.effect["total_variation"] > 0.1


def test_a_trivial_shift_on_many_rows_is_named_but_called_minor() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, 1, 200_000)})
    profile = ReferenceProfile.from_frame(ref)
    column = compare(profile, counted(profile, cur)).columns[0]
    assert column.drift
    assert column.severity == "minor"
    assert column.effect["wasserstein"] == pytest.approx(0.03, abs=0.01)


def test_a_large_shift_is_major() -> None:
    rng = np.random.default_rng(4)
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": rng.normal(0, 1, 5000)}))
    cur = pd.DataFrame({"x": rng.normal(1.0, 1, 5000)})
    column = compare(profile, counted(profile, cur)).columns[0]
    assert column.severity == "major"
    assert column.effect["psi"] > 0.25


def test_prediction_drift_is_tested_when_both_sides_have_scores() -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"x": rng.normal(size=2000)})
    proba = np.column_stack([1 - rng.beta(2, 5, 2000), rng.beta(2, 5, 2000)])
    profile = ReferenceProfile.from_frame(frame, proba=proba, labels=np.where(proba[:, 1] > 0.5, "b", "a"))
    counts = ProfileCounts(profile)
    later = rng.beta(5, 2, 2000)
    counts.add_frame(frame, proba=np.column_stack([1 - later, later]), labels=np.where(later > 0.5, "b", "a"))
    report = compare(profile, counts)
    assert {p.column for p in report.prediction if p.drift} == {"score", "label"}
    assert not report.columns[0].drift


def test_too_few_rows_for_a_pair_table_skip_it_rather_than_guess() -> None:
    profile = ReferenceProfile.from_frame(mixed(5000, 1))
    report = compare(profile, counted(profile, mixed(30, 2)))
    assert report.joint == []
    assert report.skipped_pairs == 15


def test_compare_refuses_empty_or_foreign_counts() -> None:
    profile = ReferenceProfile.from_frame(mixed(500, 1))
    other = ReferenceProfile.from_frame(mixed(500, 2))
    with pytest.raises(Exception, match="no current rows"):
        compare(profile, ProfileCounts(profile))
    with pytest.raises(Exception, match="another reference profile"):
        compare(profile, counted(other, mixed(100, 3)))
    with pytest.raises(Exception, match="alpha"):
        compare(profile, counted(profile, mixed(100, 3)), alpha=1.5)


def test_report_json_has_the_documented_fields() -> None:
    profile = ReferenceProfile.from_frame(mixed(2000, 1))
    doc = compare(profile, counted(profile, mixed(2000, 2))).to_json()
    for entry in doc["columns"]:
        assert {"column", "test", "statistic", "p_value", "effect", "drift", "severity"} <= set(entry)
        assert set(entry["effect"]) == {"psi", "wasserstein", "jensen_shannon"}
    assert doc["correction"] == "benjamini-hochberg"
