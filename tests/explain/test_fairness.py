"""Group fairness figures, checked against fairlearn (the reference implementation) as an oracle.

Every figure must equal fairlearn's ``MetricFrame`` / ``demographic_parity_*`` / ``equalized_odds_difference``
to 1e-12 on the same 0/1 predictions, except at the documented edge cases (a rate over no rows, no one selected,
missing sensitive values), where the tests pin both fairlearn's answer and ours.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.errors import BadInput
from mlwarden.explain._fairness import (
    ColumnFairness,
    GroupFigures,
    column_fairness,
    fairness_report,
    numeric_bins,
)

TOL = 1e-12


def _fairlearn_frame(groups: np.ndarray, y_true01: np.ndarray, y_pred01: np.ndarray) -> Any:
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    return MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y_true01,
        y_pred=y_pred01,
        sensitive_features=groups,
    )


def _defined_spread(rates: list[float], defined: list[bool]) -> float | None:
    kept = [rate for rate, ok in zip(rates, defined, strict=True) if ok]
    return max(kept) - min(kept) if len(kept) >= 2 else None


def assert_matches_fairlearn(
    result: ColumnFairness,
    groups: np.ndarray,
    y_true01: np.ndarray,
    y_pred01: np.ndarray,
    *,
    functions: bool = True,
) -> None:
    """Every figure of ``result`` against fairlearn's on the same group labels and 0/1 labels.

    With ``functions`` the differences come from fairlearn's ``demographic_parity_difference``,
    ``demographic_parity_ratio`` and ``equalized_odds_difference``; without (the property test, where each
    call costs tens of milliseconds), from the one ``MetricFrame``'s ``difference()`` / ``ratio()``, which is
    what those functions return (each builds such a frame and calls the same method).
    """
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )

    frame = _fairlearn_frame(groups, y_true01, y_pred01)
    by_group = frame.by_group
    assert {g.group for g in result.groups} == set(by_group.index)
    for figures in result.groups:
        row = by_group.loc[figures.group]
        rows = groups == figures.group
        assert figures.count == int(rows.sum())
        assert figures.selection_rate == pytest.approx(row["selection_rate"], abs=TOL, rel=0)
        positives = int((rows & (y_true01 == 1)).sum())
        for ours, theirs, defined in (
            (figures.tpr, row["tpr"], positives > 0),
            (figures.fpr, row["fpr"], positives < figures.count),
        ):
            if defined:
                assert ours == pytest.approx(theirs, abs=TOL, rel=0)
            else:  # fairlearn (scikit-learn's normalised confusion matrix) turns 0/0 into 0
                assert ours is None
                assert theirs == 0.0

    if functions:
        kwargs = {"sensitive_features": groups}
        difference = demographic_parity_difference(y_true01, y_pred01, **kwargs)
        ratio = demographic_parity_ratio(y_true01, y_pred01, **kwargs)
        odds = equalized_odds_difference(y_true01, y_pred01, **kwargs)
    else:
        difference = frame.difference()["selection_rate"]
        ratio = frame.ratio()["selection_rate"]
        odds = max(frame.difference()[["tpr", "fpr"]])
    assert result.demographic_parity_difference == pytest.approx(difference, abs=TOL, rel=0)
    if result.demographic_parity_ratio is None:
        assert np.isnan(ratio)
    else:
        assert result.demographic_parity_ratio == pytest.approx(ratio, abs=TOL, rel=0)
        assert result.four_fifths_flag == (ratio < 0.8)

    tpr_defined = [g.tpr is not None for g in result.groups]
    fpr_defined = [g.fpr is not None for g in result.groups]
    if all(tpr_defined) and all(fpr_defined):
        assert result.equalized_odds_difference == pytest.approx(odds, abs=TOL, rel=0)
    else:  # ours: spreads over the groups where the rate is defined, from fairlearn's per-group rates
        order = [g.group for g in result.groups]
        spreads = [
            s
            for s in (
                _defined_spread(list(by_group.loc[order, "tpr"]), tpr_defined),
                _defined_spread(list(by_group.loc[order, "fpr"]), fpr_defined),
            )
            if s is not None
        ]
        expected = max(spreads) if spreads else None
        if expected is None:
            assert result.equalized_odds_difference is None
        else:
            assert result.equalized_odds_difference == pytest.approx(expected, abs=TOL, rel=0)


def _labels_of(result: ColumnFairness, values: np.ndarray) -> np.ndarray:
    """The group label of each row, as column_fairness assigned them (the input fairlearn gets)."""
    if result.binned:
        assert result.edges is not None
        return numeric_bins(values, edges=result.edges)[0]
    return np.asarray(["missing" if v is None else str(v) for v in values.tolist()], dtype=object)


# --- a seeded synthetic hold-out set ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    n = 4000
    group = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), size=n, p=[0.4, 0.3, 0.2, 0.1])
    group[rng.random(n) < 0.02] = None
    base = {"a": 0.7, "b": 0.55, "c": 0.4, "d": 0.3, None: 0.5}
    p_good = np.array([base[g] for g in group])
    truth = rng.random(n) < p_good
    flip = rng.random(n) < np.where(group == "d", 0.35, 0.15)
    pred = np.where(flip, ~truth, truth)
    age = rng.uniform(18, 76, size=n).round()
    age[rng.random(n) < 0.03] = np.nan
    good_bad = np.array(["bad", "good"], dtype=object)
    return {
        "group": group,
        "age": age,
        "y_true": good_bad[truth.astype(int)],
        "y_pred": good_bad[pred.astype(int)],
        "y_true01": truth.astype(int),
        "y_pred01": pred.astype(int),
    }


def test_synthetic_categorical_matches_fairlearn(synthetic: dict[str, np.ndarray]) -> None:
    result = column_fairness("group", synthetic["group"], synthetic["y_true"], synthetic["y_pred"], favourable="good")
    assert not result.binned
    assert result.edges is None
    assert [g.group for g in result.groups] == ["a", "b", "c", "d", "missing"]
    assert result.demographic_parity_difference > 0.1  # the groups were drawn with different rates
    assert_matches_fairlearn(
        result, _labels_of(result, synthetic["group"]), synthetic["y_true01"], synthetic["y_pred01"]
    )


def test_synthetic_numeric_matches_fairlearn(synthetic: dict[str, np.ndarray]) -> None:
    result = column_fairness("age", synthetic["age"], synthetic["y_true"], synthetic["y_pred"], favourable="good")
    assert result.binned
    assert result.edges is not None
    assert len(result.edges) == 5
    assert [g.group for g in result.groups][-1] == "missing"
    assert_matches_fairlearn(result, _labels_of(result, synthetic["age"]), synthetic["y_true01"], synthetic["y_pred01"])


def test_synthetic_given_edges_match_fairlearn(synthetic: dict[str, np.ndarray]) -> None:
    edges = [18, 25, 35, 50, 76]
    result = column_fairness(
        "age", synthetic["age"], synthetic["y_true"], synthetic["y_pred"], favourable="good", edges=edges
    )
    assert result.edges == (18.0, 25.0, 35.0, 50.0, 76.0)
    assert [g.group for g in result.groups] == ["[18, 25)", "[25, 35)", "[35, 50)", "[50, 76]", "missing"]
    labels = _labels_of(result, synthetic["age"])
    assert_matches_fairlearn(result, labels, synthetic["y_true01"], synthetic["y_pred01"], functions=False)


def test_favourable_may_be_any_label(synthetic: dict[str, np.ndarray]) -> None:
    """Strings compared with == "good" give the same figures as 0/1 with favourable 1."""
    by_name = column_fairness("g", synthetic["group"], synthetic["y_true"], synthetic["y_pred"], favourable="good")
    by_int = column_fairness("g", synthetic["group"], synthetic["y_true01"], synthetic["y_pred01"], favourable=1)
    assert by_name == by_int


# --- the German credit data --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def german() -> dict[str, np.ndarray]:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    path = resources.files("mlwarden.usecases") / "data" / "german_credit.csv"
    with resources.as_file(path) as csv:
        frame = pd.read_csv(csv)
    target = frame.pop("creditability").to_numpy()
    train, test, y_train, y_test = train_test_split(frame, target, test_size=0.3, random_state=0, stratify=target)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train[categorical])
    scaler = StandardScaler().fit(train[numeric])

    def features(part: Any) -> np.ndarray:
        return np.hstack([encoder.transform(part[categorical]), scaler.transform(part[numeric])])

    model = LogisticRegression(max_iter=1000).fit(features(train), y_train)
    sex = test["personal_status_and_sex"].str.split(" : ").str[0].to_numpy(dtype=object)
    return {
        "sex": sex,
        "personal_status": test["personal_status_and_sex"].to_numpy(dtype=object),
        "foreign_worker": test["foreign_worker"].to_numpy(dtype=object),
        "age": test["age_in_years"].to_numpy(dtype=np.float64),
        "y_true": y_test,
        "y_pred": model.predict(features(test)),
    }


def test_german_credit_matches_fairlearn(german: dict[str, np.ndarray]) -> None:
    columns = {k: german[k] for k in ("sex", "personal_status", "foreign_worker", "age")}
    report = fairness_report(columns, german["y_true"], german["y_pred"], favourable="good")
    assert [r.column for r in report] == list(columns)
    y_true01 = (german["y_true"] == "good").astype(int)
    y_pred01 = (german["y_pred"] == "good").astype(int)
    for result in report:
        assert_matches_fairlearn(result, _labels_of(result, columns[result.column]), y_true01, y_pred01)
    by_name = {r.column: r for r in report}
    assert [g.group for g in by_name["sex"].groups] == ["female", "male"]
    assert by_name["age"].binned
    assert "no" in by_name["foreign_worker"].small_groups  # 37 of 1000 applicants, about 11 held out
    assert "yes" not in by_name["foreign_worker"].small_groups


def test_german_credit_age_on_given_edges(german: dict[str, np.ndarray]) -> None:
    result = column_fairness(
        "age",
        german["age"].astype(int),
        german["y_true"],
        german["y_pred"],
        favourable="good",
        numeric=True,
        edges=[19, 25, 35, 50, 75],
    )
    assert [g.group for g in result.groups] == ["[19, 25)", "[25, 35)", "[35, 50)", "[50, 75]"]
    assert sum(g.count for g in result.groups) == len(german["age"])
    y_true01 = (german["y_true"] == "good").astype(int)
    y_pred01 = (german["y_pred"] == "good").astype(int)
    assert_matches_fairlearn(result, numeric_bins(german["age"], edges=result.edges)[0], y_true01, y_pred01)


# --- the four-fifths rule --------------------------------------------------------------------------------------


def _two_groups(selected_a: int, selected_b: int, size: int = 10) -> ColumnFairness:
    groups = np.array(["a"] * size + ["b"] * size, dtype=object)
    y_pred = np.array([1] * selected_a + [0] * (size - selected_a) + [1] * selected_b + [0] * (size - selected_b))
    y_true = np.tile([1, 0], size)
    return column_fairness("g", groups, y_true, y_pred, favourable=1, min_group=1)


def test_four_fifths_flag() -> None:
    below = _two_groups(10, 7)
    assert below.demographic_parity_ratio == pytest.approx(0.7)
    assert below.four_fifths_flag
    at = _two_groups(10, 8)  # 0.8 / 1.0: exactly four fifths is not below it
    assert at.demographic_parity_ratio == 0.8
    assert not at.four_fifths_flag
    assert not _two_groups(5, 5).four_fifths_flag
    assert _two_groups(1, 10).four_fifths_flag  # whichever group is lower


# --- fairlearn's edge cases --------------------------------------------------------------------------------------


def test_group_without_actual_positives() -> None:
    """fairlearn reports TPR 0 for a group with no favourable rows and lets it drive equalized odds."""
    from fairlearn.metrics import equalized_odds_difference

    groups = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 4, dtype=object)
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0])
    result = column_fairness("g", groups, y_true, y_pred, favourable=1, min_group=1)
    c = result.groups[2]
    assert (c.group, c.tpr, c.fpr) == ("c", None, 0.25)
    # fairlearn: TPR of c is 0, so the TPR spread is 1.0 - 0 = 1.0; ours over a and b only: 1.0 - 0.5
    assert equalized_odds_difference(y_true, y_pred, sensitive_features=groups) == 1.0
    assert result.equalized_odds_difference == 0.5
    assert_matches_fairlearn(result, groups, y_true, y_pred)


def test_equalized_odds_undefined() -> None:
    """Each group has one actual outcome only: no rate is defined in two groups, so no spread."""
    groups = np.array(["a", "a", "b", "b"], dtype=object)
    result = column_fairness("g", groups, np.array([1, 1, 0, 0]), np.array([1, 0, 1, 1]), favourable=1)
    assert [(g.tpr, g.fpr) for g in result.groups] == [(0.5, None), (None, 1.0)]
    assert result.equalized_odds_difference is None
    assert_matches_fairlearn(result, groups, np.array([1, 1, 0, 0]), np.array([1, 0, 1, 1]))


def test_no_one_selected() -> None:
    from fairlearn.metrics import demographic_parity_ratio

    groups = np.array(["a", "a", "b", "b"], dtype=object)
    y_true, y_pred = np.array([1, 0, 1, 0]), np.zeros(4, dtype=int)
    result = column_fairness("g", groups, y_true, y_pred, favourable=1)
    assert np.isnan(demographic_parity_ratio(y_true, y_pred, sensitive_features=groups))
    assert result.demographic_parity_ratio is None
    assert result.demographic_parity_difference == 0.0
    assert not result.four_fifths_flag
    assert_matches_fairlearn(result, groups, y_true, y_pred)


def test_missing_values_are_a_group() -> None:
    """fairlearn refuses missing sensitive values; here they are the group "missing", counted like any other."""
    from fairlearn.metrics import MetricFrame, selection_rate

    values = np.array(["x", None, "y", float("nan"), "x", "y"], dtype=object)
    y_true = np.array([1, 0, 1, 0, 1, 0])
    y_pred = np.array([1, 1, 0, 0, 1, 0])
    with pytest.raises(ValueError, match="missing values"):
        MetricFrame(metrics=selection_rate, y_true=y_true, y_pred=y_pred, sensitive_features=values)
    result = column_fairness("g", values, y_true, y_pred, favourable=1)
    assert [(g.group, g.count, g.selection_rate) for g in result.groups] == [
        ("x", 2, 1.0),
        ("y", 2, 0.0),
        ("missing", 2, 0.5),
    ]
    assert result.small_groups == ("x", "y", "missing")
    labels = np.array(["x", "missing", "y", "missing", "x", "y"], dtype=object)
    assert_matches_fairlearn(result, labels, y_true, y_pred)


def test_numeric_missing_values_are_a_group() -> None:
    values = np.array([20.0, np.nan, 30.0, 40.0, np.nan, 50.0])
    result = column_fairness("age", values, np.ones(6), np.array([1, 0, 1, 0, 1, 0]), favourable=1, edges=[20, 35, 50])
    assert [(g.group, g.count) for g in result.groups] == [("[20, 35)", 2), ("[35, 50]", 2), ("missing", 2)]
    assert all(g.fpr is None for g in result.groups)


# --- numeric binning ---------------------------------------------------------------------------------------------


def test_quantile_edges() -> None:
    labels, edges = numeric_bins(np.arange(1.0, 101.0))
    assert edges == (1.0, 25.0, 50.0, 75.0, 100.0)  # inverted CDF: each edge is one of the values
    assert labels[0] == "[1, 25)"
    assert labels[23] == "[1, 25)"
    assert labels[24] == "[25, 50)"
    assert labels[99] == "[75, 100]"
    assert labels.dtype == object
    assert list(np.unique(labels, return_counts=True)[1]) == [24, 25, 25, 26]


def test_quantile_edges_are_deterministic_and_order_free() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=501)
    labels, edges = numeric_bins(values, n_bins=5)
    shuffled = rng.permutation(len(values))
    labels2, edges2 = numeric_bins(values[shuffled], n_bins=5)
    assert edges == edges2
    assert list(labels[shuffled]) == list(labels2)
    assert set(edges) <= set(values.tolist())
    assert len(edges) == 6


def test_tied_quantiles_are_merged() -> None:
    values = np.array([1.0] * 90 + list(range(2, 12)), dtype=float)
    labels, edges = numeric_bins(values, n_bins=4)
    assert edges == (1.0, 11.0)
    assert set(labels) == {"[1, 11]"}


def test_edges_given_and_labels() -> None:
    values = np.array([0.5, 1.25, 1.2499, 3.0, np.nan, 2.0])
    labels, edges = numeric_bins(values, edges=[0.5, 1.25, 3])
    assert edges == (0.5, 1.25, 3.0)
    assert list(labels) == ["[0.5, 1.25)", "[1.25, 3]", "[0.5, 1.25)", "[1.25, 3]", "missing", "[1.25, 3]"]


def test_all_missing_with_edges() -> None:
    labels, _ = numeric_bins(np.array([np.nan, np.nan]), edges=[0, 1])
    assert list(labels) == ["missing", "missing"]


def test_numeric_inference() -> None:
    """A float column is binned unless told otherwise; integer codes are categories unless numeric=True."""
    codes = np.array([1, 2, 3, 4] * 10)
    y = np.array([1, 0] * 20)
    assert not column_fairness("c", codes, y, y, favourable=1).binned
    assert column_fairness("c", codes, y, y, favourable=1, numeric=True, n_bins=2).binned
    assert not column_fairness("c", codes.astype(float), y, y, favourable=1, numeric=False).binned
    binned = column_fairness("c", codes.astype(float), y, y, favourable=1, n_bins=2)
    assert binned.edges == (1.0, 2.0, 4.0)


# --- serialisation -----------------------------------------------------------------------------------------------


def test_to_json_is_strict_json() -> None:
    values = np.array([20.0, 30.0, np.nan, 60.0] * 10)
    result = column_fairness("age", values, np.tile([1, 0, 1, 1], 10), np.tile([1, 1, 0, 1], 10), favourable=1)
    document = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert document["column"] == "age"
    assert document["edges"] == list(result.edges or ())
    assert document["groups"][0] == result.groups[0].to_json()
    assert set(document["groups"][0]) == {"group", "count", "selection_rate", "tpr", "fpr"}
    assert document["small_groups"] == list(result.small_groups)
    assert isinstance(result.groups[0], GroupFigures)


# --- bad input ---------------------------------------------------------------------------------------------------

_G = np.array(["a", "b", "a", "b"], dtype=object)
_Y = np.array([1, 0, 0, 1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": _G[:3]}, "4 and 4 rows"),
        ({"values": np.array(["a"] * 4, dtype=object)}, "column c has one group \\('a'\\) on the held-out rows"),
        ({"values": np.array([], dtype=object), "y_true": _Y[:0], "y_pred": _Y[:0]}, "column c: no held-out rows"),
        ({"favourable": 2}, "favourable=2 is neither an actual nor a predicted label"),
        ({"y_pred": np.array([1, 0, 2, 1])}, "not binary"),
        ({"y_true": np.array([1, None, 0, 1], dtype=object)}, "y_true has missing labels"),
        ({"n_bins": 1}, "n_bins must be a whole number of at least 2"),
        ({"min_group": 0}, "min_group must be a positive"),
        ({"edges": [0, 1]}, "column c is categorical but edges were given"),
        ({"values": np.array([1.0, 2.0, 3.0, 4.0]), "edges": [0, 3, 2]}, "strictly increasing"),
        ({"values": np.array([1.0, 2.0, 3.0, 4.0]), "edges": [0]}, "at least two numbers"),
        ({"values": np.array([1.0, 2.0, 3.0, 4.0]), "edges": [0, np.inf]}, "edges must be finite"),
        ({"values": np.array([1.0, 2.0, 3.0, 9.0]), "edges": [0, 5]}, "outside the edges \\[0, 5\\]"),
        ({"values": np.array([1.0, 1.0, 1.0, 1.0])}, "column c: numeric values have one distinct value \\(1\\)"),
        ({"values": np.array([1.0, np.inf, 1.0, 2.0])}, "include infinity"),
        ({"values": np.array(["x", "y", "1", "2"], dtype=object), "numeric": True}, "are not numbers"),
        ({"values": np.array(["missing", None, "a", "b"], dtype=object)}, "both a category 'missing'"),
        ({"values": _G.reshape(2, 2)}, "values must be one-dimensional"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"values": _G, "y_true": _Y, "y_pred": _Y, "favourable": 1, **kwargs}
    with pytest.raises(BadInput, match=message):
        column_fairness("c", **arguments)


def test_bad_report_input() -> None:
    with pytest.raises(BadInput, match="edges name columns not in the report: age"):
        fairness_report({"sex": _G}, _Y, _Y, favourable=1, edges={"age": [0, 1]})
    with pytest.raises(BadInput, match="no protected columns"):
        fairness_report({}, _Y, _Y, favourable=1)


def test_bad_numeric_bins_input() -> None:
    with pytest.raises(BadInput, match="all missing"):
        numeric_bins(np.array([np.nan, np.nan]))
    with pytest.raises(BadInput, match="n_bins"):
        numeric_bins(np.arange(4.0), n_bins=True)


# --- property: any labels, any groups ----------------------------------------------------------------------------


@st.composite
def _hold_out(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=2, max_value=60))
    n_groups = draw(st.integers(min_value=2, max_value=4))
    groups = draw(st.lists(st.sampled_from("pqrs"[:n_groups]), min_size=n, max_size=n))
    y_true = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return np.array(groups, dtype=object), np.array(y_true), np.array(y_pred)


@settings(max_examples=20, deadline=None)
@given(_hold_out())
def test_differences_equal_fairlearn(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    groups, y_true, y_pred = data
    if len(set(groups.tolist())) < 2 or not (y_true.any() or y_pred.any()):
        with pytest.raises(BadInput):
            column_fairness("g", groups, y_true, y_pred, favourable=1)
        return
    result = column_fairness("g", groups, y_true, y_pred, favourable=1)
    assert [g.group for g in result.groups] == sorted(set(groups.tolist()))
    assert_matches_fairlearn(result, groups, y_true, y_pred, functions=False)
