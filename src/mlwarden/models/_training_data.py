"""What ``mlwarden train`` accepts as a table, checked before anything is fitted.

Every refusal is a :class:`~mlwarden.errors.BadInput` (exit 2) naming the column and what to do;
nothing here lets a library error (pandas, scikit-learn) reach the user as an internal error.

* **Columns** have unique names.
* **The target** names classes. Rows whose target is empty (null, or a string of blanks: a CSV's
  empty cell) are unlabelled: they are dropped and counted (:attr:`Prepared.unlabelled`), and
  refused when none is left. A text, categorical or boolean target is a classification target of at
  most :data:`MAX_CLASSES` classes; a numeric one is taken as classes when it has at most
  :data:`MAX_NUMERIC_CLASSES` distinct values (0/1, ratings 1 to 5, class codes) and is otherwise
  refused as continuous (``train`` fits classifiers).
* **Features** are numeric (finite: an infinity is refused, a null is imputed) or text, categorical
  or boolean (one-hot encoded; an object column of Python numbers too, by their text). Dates, times
  and durations are refused with what to derive from them instead: the model is served from JSON
  rows checked against a numeric or categorical schema, and a date one-hot encoded by its text would
  not generalise to a date it has not seen. Nested values (lists, objects), bytes and other objects
  are refused; so is a column empty in every row.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput

if TYPE_CHECKING:
    import pandas

__all__ = ["MAX_CLASSES", "MAX_NUMERIC_CLASSES", "Prepared", "plain", "prepare", "split_sizes", "unlabelled_rows"]

MAX_CLASSES = 100
"""The most classes a target may have (a text target with more is refused with this cap)."""
MAX_NUMERIC_CLASSES = 20
"""The most distinct values a numeric target may have to be taken as classes (more: continuous)."""

_DATES = (
    "derive numbers from it (days since a reference date, year, month, day of week...) and put them as a "
    "new version of the dataset, or drop the column"
)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The labelled rows split into features and target, and how the features will be encoded."""

    features: pandas.DataFrame
    target: pandas.Series
    numeric: list[str]
    categorical: list[str]
    classes: int
    unlabelled: int
    """Rows dropped because their target was empty."""


def prepare(frame: pandas.DataFrame, target: str) -> Prepared:
    """Check ``frame`` for training a classifier of ``target``; :class:`BadInput` naming what is wrong."""
    _check_names(frame)
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise BadInput(f"no column {target!r} in the dataset; its columns are {shown}")
    column = frame[target]
    _check_values(column, f"target {target!r}", target=True)
    empty = unlabelled_rows(column)
    unlabelled = int(empty.sum())
    labelled = frame[~empty]
    if labelled.shape[0] == 0:
        raise BadInput(f"target {target!r} is empty in every row ({unlabelled}): there is nothing to learn from")
    y = labelled[target]
    features = labelled.drop(columns=[target])
    if features.shape[1] == 0:
        raise BadInput("the dataset has no feature columns besides the target")
    classes = _check_target(y, target)
    numeric, categorical = _feature_kinds(features)
    return Prepared(features, y, numeric, categorical, classes, unlabelled)


def split_sizes(rows: int, classes: int, test_size: float) -> tuple[int, int]:
    """(train rows, test rows) of a stratified split, refused when either part cannot hold every class."""
    test = math.ceil(test_size * rows)  # as scikit-learn's train_test_split rounds a float share
    train = rows - test
    if min(train, test) < classes:
        raise BadInput(
            f"{rows} labelled row(s) hold {classes} classes: a held-out share of {test_size:g} leaves {test} "
            f"test and {train} training row(s), and each part needs a row of every class; add rows, merge "
            "rare classes or change --test-size"
        )
    return train, test


def _check_names(frame: pandas.DataFrame) -> None:
    names = [str(c) for c in frame.columns]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadInput(
                f"the dataset has {names.count(name)} columns named {name!r}: give each column a unique name "
                "and put the result as a new version"
            )
        seen.add(name)


def unlabelled_rows(column: pandas.Series) -> pandas.Series:
    """Where a target is unlabelled: null, or a string of nothing but blanks."""
    empty = column.isna()
    blank = column.map(lambda v: isinstance(v, str) and not v.strip())
    return empty | blank.astype(bool)


def _check_target(y: pandas.Series, target: str) -> int:
    from pandas.api import types as ptypes

    classes = int(y.nunique())
    if classes < 2:
        raise BadInput(f"target {target!r} has a single value: there is nothing to learn")
    if ptypes.is_numeric_dtype(y) and not ptypes.is_bool_dtype(y):
        if classes > MAX_NUMERIC_CLASSES:
            raise BadInput(
                f"target {target!r} is numeric with {classes} distinct values, so it looks continuous: "
                f"mlwarden train fits classifiers (a numeric target of at most {MAX_NUMERIC_CLASSES} distinct "
                "values is taken as classes); bin it into classes, or store class codes as text"
            )
    elif classes > MAX_CLASSES:
        raise BadInput(
            f"target {target!r} has {classes} classes; mlwarden train fits at most {MAX_CLASSES}: "
            "group rare classes together (or pick another target column)"
        )
    counts = y.value_counts()
    if counts.min() < 2:
        raise BadInput(
            f"class {plain(counts.idxmin())!r} of {target!r} has a single row: too few to split for evaluation"
        )
    return classes


def _feature_kinds(features: pandas.DataFrame) -> tuple[list[str], list[str]]:
    from pandas.api import types as ptypes

    numeric: list[str] = []
    categorical: list[str] = []
    for name in features.columns:
        column = features[name]
        what = f"column {str(name)!r}"
        if column.isna().all():
            raise BadInput(f"{what} is empty in every labelled row: drop it or fill it in")
        _check_values(column, what, target=False)
        if ptypes.is_numeric_dtype(column) and not ptypes.is_bool_dtype(column):
            numeric.append(name)
        else:
            categorical.append(name)
    return numeric, categorical


def _check_values(column: pandas.Series, what: str, *, target: bool) -> None:
    """Refuse a column whose type or values ``train`` cannot use (dates, infinities, nested values...)."""
    import numpy as np
    from pandas.api import types as ptypes

    dtype = column.dtype
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype) or _is_period(dtype):
        raise _dates(what, str(dtype), target)
    if ptypes.is_bool_dtype(dtype) or (ptypes.is_string_dtype(dtype) and not ptypes.is_object_dtype(dtype)):
        return  # booleans, or pandas' own string dtype (text or null only)
    if ptypes.is_numeric_dtype(dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        infinite = int(np.isinf(values).sum())
        if infinite:
            raise BadInput(
                f"{what} holds {infinite} infinite value(s): replace them by finite numbers (or leave the "
                "cells empty, to be imputed) and put the result as a new version"
            )
        return
    kinds: dict[str, object] = {}
    for value in column.dropna():
        if isinstance(value, str):
            kinds.setdefault("text", value)
            continue
        if isinstance(value, (bool, np.bool_)):
            kinds.setdefault("boolean", value)
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            kinds.setdefault("number", value)  # encoded by its text, as the input schema lists categories
            continue
        if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, np.datetime64, np.timedelta64)):
            raise _dates(what, type(value).__name__, target)
        kind = type(value).__name__
        raise BadInput(
            f"{what} holds {kind} values (such as {_shown(value)}); mlwarden train takes numbers, text and "
            "booleans only: drop the column or store it as text"
        )
    if len(kinds) > 1:
        shown = " and ".join(f"{kind} (such as {_shown(example)})" for kind, example in sorted(kinds.items()))
        raise BadInput(f"{what} mixes {shown} values: store every value of it as text")


def _dates(what: str, kind: str, target: bool) -> BadInput:
    if target:
        return BadInput(f"{what} holds dates or times ({kind}): a classifier needs classes; pick another target")
    return BadInput(f"{what} holds dates or times ({kind}), which mlwarden train does not use as features: {_DATES}")


def _is_period(dtype: Any) -> bool:
    import pandas

    return isinstance(dtype, pandas.PeriodDtype)


def _shown(value: object) -> str:
    text = repr(plain(value))
    return text if len(text) <= 40 else text[:37] + "..."


def plain(value: Any) -> Any:
    """A JSON value for a parameter or label (numpy scalars become Python ones; others their repr)."""
    if value is None or type(value) in (bool, int, float, str):  # not numpy's subclasses of float and str
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            converted = item()
        except (TypeError, ValueError):
            return repr(value)
        if isinstance(converted, (bool, int, float, str)):
            return converted
    return repr(value)
