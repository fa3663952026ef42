"""What ``mlwarden train`` accepts (``fit_classifier`` on small frames, no workspace): every table it
cannot fit is refused as bad input naming the column, never left to a library error (exit 70), and
what it fits has the task the user meant (text targets are classes; numeric ones only when few).
"""

from __future__ import annotations

import datetime
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlwarden import models
from mlwarden.errors import BadInput
from mlwarden.models._training import fit_classifier
from mlwarden.models._training_data import MAX_CLASSES, MAX_NUMERIC_CLASSES


def frame(rows: int = 40, **columns: Any) -> pd.DataFrame:
    """``x`` (numeric), ``kind`` (text) and ``y`` (yes/no), with ``columns`` added or replacing them."""
    base: dict[str, Any] = {
        "x": np.arange(rows, dtype=np.float64),
        "kind": ["a", "b", "c", "d"] * (rows // 4),
        "y": ["yes", "no"] * (rows // 2),
    }
    base.update(columns)
    return pd.DataFrame(base)


def refused(data: pd.DataFrame, *needles: str, target: str = "y", **kwargs: Any) -> str:
    with pytest.raises(BadInput) as raised:
        fit_classifier(data, target, **kwargs)
    message = str(raised.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message
    assert "np." not in message, message  # numpy scalars are shown as plain values
    return message


def test_duplicate_column_names_are_refused_naming_the_column() -> None:
    data = frame()
    data.insert(1, "x2", data["x"])
    data.columns = ["x", "x", "kind", "y"]
    refused(data, "2 columns named 'x'", "unique name")


def test_a_duplicated_target_name_is_refused_too() -> None:
    data = frame()
    data["y2"] = data["y"]
    data.columns = ["x", "kind", "y", "y"]
    refused(data, "2 columns named 'y'")


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_numeric_value_is_refused_naming_the_column(value: float) -> None:
    x = np.arange(40, dtype=np.float64)
    x[[3, 7]] = value
    refused(frame(x=x), "column 'x'", "2 infinite value(s)")


def test_an_infinite_numeric_target_is_refused() -> None:
    data = frame(y=[0.0, 1.0] * 19 + [np.inf, 1.0])
    refused(data, "target 'y'", "infinite")


@pytest.mark.parametrize(
    "values",
    [
        pd.date_range("2024-01-01", periods=40, freq="D"),  # datetime64: a CSV's ISO timestamps
        [datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(40)],  # date32 read back
        pd.to_timedelta(np.arange(40), unit="h"),
        [datetime.time(i % 24) for i in range(40)],
        pd.period_range("2024-01", periods=40, freq="M"),
    ],
    ids=["datetime64", "date", "timedelta", "time", "period"],
)
def test_date_and_time_features_are_refused_saying_what_to_do(values: Any) -> None:
    refused(frame(when=values), "column 'when'", "dates or times", "derive numbers", "drop the column")


def test_a_date_target_is_refused() -> None:
    refused(frame(when=pd.date_range("2024-01-01", periods=40)), "target 'when'", "needs classes", target="when")


@pytest.mark.parametrize(
    ("values", "kind"),
    [([[1, 2]] * 40, "list"), ([{"a": 1}] * 40, "dict"), ([b"\x00"] * 40, "bytes")],
)
def test_nested_and_binary_features_are_refused(values: list[Any], kind: str) -> None:
    refused(frame(blob=pd.Series(values, dtype=object)), "column 'blob'", f"holds {kind} values")


@pytest.mark.parametrize("column", ["mixed", "y"])
def test_a_column_mixing_text_and_numbers_is_refused(column: str) -> None:
    # scikit-learn's encoders and its stratified split fail on these with a TypeError (exit 70)
    values = pd.Series([1, "a"] * 20, dtype=object)
    data = frame(mixed=values) if column == "mixed" else frame(y=values)
    refused(data, f"'{column}' mixes number (such as 1) and text (such as 'a') values", "as text")


def test_a_feature_empty_in_every_row_is_refused() -> None:
    refused(frame(gone=[None] * 40), "column 'gone'", "empty in every labelled row")


@pytest.mark.parametrize("empty", ["", "  ", None, np.nan])
def test_rows_with_an_empty_target_are_dropped_and_counted(empty: Any) -> None:
    y: list[Any] = ["yes", "no"] * 20
    for i in (0, 5, 11):
        y[i] = empty
    result = fit_classifier(frame(y=pd.Series(y, dtype=object)), "y")
    assert result.metrics["classes"] == ["no", "yes"]  # the empty value is not a class
    assert result.metrics["unlabelled_rows_dropped"] == 3
    assert result.metrics["train_rows"] + result.metrics["test_rows"] == 37
    assert set(result.pipeline.predict(frame().drop(columns=["y"]))) <= {"yes", "no"}


def test_nothing_unlabelled_is_counted_as_zero() -> None:
    assert fit_classifier(frame(), "y").metrics["unlabelled_rows_dropped"] == 0


def test_a_target_empty_in_every_row_is_refused() -> None:
    refused(frame(y=[""] * 40), "target 'y' is empty in every row (40)")


def test_many_text_classes_are_classes_not_continuous() -> None:
    # 60 text classes (more than the 50 distinct values that used to mean "continuous")
    classes = [f"c{i:02d}" for i in range(60)]
    data = frame(rows=360, x=np.arange(360) % 60, kind=["a", "b", "c"] * 120, y=classes * 6)
    result = fit_classifier(data, "y", test_size=0.25)
    assert result.metrics["classes"] == classes
    assert "f1_macro" in result.metrics


def test_too_many_text_classes_are_refused_with_the_cap() -> None:
    labels = [f"c{i}" for i in range(1000)] * 2
    message = refused(frame(rows=2000, kind=["a", "b"] * 1000, y=labels), "1000 classes", f"at most {MAX_CLASSES}")
    assert "continuous" not in message


def test_a_numeric_target_with_few_integers_is_classes_as_plain_values() -> None:
    result = fit_classifier(frame(rows=60, y=[1, 2, 3] * 20), "y")
    assert result.metrics["classes"] == [1, 2, 3]
    assert all(type(c) is int for c in result.metrics["classes"])
    models.dumps(result.pipeline)  # and it saves with allow-listed types


def test_a_numeric_target_with_many_values_is_refused_as_continuous() -> None:
    values = np.arange(40) % (MAX_NUMERIC_CLASSES + 1)
    refused(frame(y=values), "numeric with 21 distinct values", "continuous", "store class codes as text")


def test_a_class_with_a_single_row_is_named_as_a_plain_value() -> None:
    message = refused(frame(rows=40, y=[0, 1] * 19 + [0, 7]), "class 7 of 'y' has a single row")
    assert re.search(r"np\.\w+\(", message) is None


def test_too_few_rows_per_part_for_the_classes_is_refused() -> None:
    # 20 classes of 2 rows: a 25 % share holds 10 test rows, fewer than the classes
    refused(frame(rows=40, y=[f"c{i}" for i in range(20)] * 2), "20 classes", "--test-size")


def test_metrics_are_json_numbers_or_null() -> None:
    # a class missing from the held-out rows would make the one-vs-rest AUC NaN; it is recorded as null
    y = ["a"] * 30 + ["b"] * 2 + ["c"] * 2 + ["d"] * 2 + ["e"] * 2 + ["f"] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and scikit-learn's warnings do not reach the user raw
        result = fit_classifier(frame(rows=40, y=y), "y", test_size=0.2)
    assert result.metrics["roc_auc_ovr"] is None
    for value in result.metrics.values():
        assert not (isinstance(value, float) and not np.isfinite(value))
