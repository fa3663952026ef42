"""Group fairness figures of a binary classifier's held-out predictions, per protected column.

A model card states, for each protected column (sex, age, foreign worker, ...), how the model's decisions
fall on the groups of that column, so that a reader can see a disparity before relying on the model. For each
group this module counts the rows and computes, with respect to the **favourable** label (the outcome an
applicant wants, e.g. ``"good"`` credit):

* ``selection_rate``: the share of the group's rows *predicted* favourable;
* ``tpr``: the true positive rate, the share of the group's *actually* favourable rows predicted favourable;
* ``fpr``: the false positive rate, the share of the group's actually unfavourable rows predicted favourable.

and, over the groups of the column:

* ``demographic_parity_difference``: max - min selection rate;
* ``demographic_parity_ratio``: min / max selection rate, the disparate-impact ratio; below 0.8 it sets
  ``four_fifths_flag`` (the US EEOC's four-fifths rule of thumb);
* ``equalized_odds_difference``: the larger of the TPR spread (max - min) and the FPR spread.

Groups with fewer than ``min_group`` rows keep their figures but are named in ``small_groups``: their rates are
noisy and a reader should not act on them alone. A numeric column (age) is cut into bins first, on given edges
or on quantiles of its own values (:func:`numeric_bins`); a missing value (``None`` or NaN) forms the group
``"missing"`` rather than being dropped, since who is missing can itself be unfair::

    report = fairness_report({"sex": sex, "age": age}, y_true, y_pred, favourable="good")
    card["fairness"] = [column.to_json() for column in report]

The definitions are fairlearn's (0.15): for the same 0/1 predictions (favourable = 1), the figures equal
``MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr":
false_positive_rate}, ...).by_group`` and ``demographic_parity_difference``, ``demographic_parity_ratio`` and
``equalized_odds_difference`` (``method="between_groups"``, ``agg="worst_case"``); the tests check every figure
to 1e-12. They differ only where fairlearn reports a number for something undefined:

* a group with no actually favourable rows: fairlearn's ``true_positive_rate`` is 0 (scikit-learn's
  ``confusion_matrix(normalize="true")`` turns the 0/0 into 0, silently); here ``tpr`` is ``None``. Likewise
  ``fpr`` for a group with no actually unfavourable rows.
* ``equalized_odds_difference``: fairlearn takes the spreads over every group, those zeros included, so one
  small group without positives can make a fair model look unfair, or hide a gap. Here each spread is taken
  over the groups where the rate is defined, and needs two such groups (a spread over one group would say
  "equal" about nothing); the figure is the larger defined spread, ``None`` when neither is. It equals
  fairlearn's whenever every group has both actual outcomes.
* ``demographic_parity_ratio`` when no group is selected at all: fairlearn gives NaN (0 / 0); here ``None``,
  and the four-fifths flag stays down (no one is selected, so no group is selected less).
* missing sensitive values: fairlearn's ``MetricFrame`` refuses them (``ValueError``); here they are the
  group ``"missing"``.

Only the labels are looked at, never scores, and all arithmetic is on integer counts, so the figures are
exactly reproducible from the rows. Only numpy is needed: the module imports no pandas and no fairlearn.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import BadInput

__all__ = [
    "ColumnFairness",
    "GroupFigures",
    "column_fairness",
    "fairness_report",
    "numeric_bins",
]

MISSING = "missing"
"""The group label of rows whose protected value is missing (``None`` or NaN)."""

FOUR_FIFTHS = 0.8
"""A disparate-impact ratio below this sets :attr:`ColumnFairness.four_fifths_flag`."""


@dataclasses.dataclass(frozen=True)
class GroupFigures:
    """The figures of one group of a protected column.

    ``tpr`` is ``None`` when the group has no actually favourable rows, ``fpr`` when it has no actually
    unfavourable rows: a rate over no rows is undefined, not 0.
    """

    group: str
    count: int
    selection_rate: float
    tpr: float | None
    fpr: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "count": self.count,
            "selection_rate": self.selection_rate,
            "tpr": self.tpr,
            "fpr": self.fpr,
        }


@dataclasses.dataclass(frozen=True)
class ColumnFairness:
    """The fairness figures of one protected column over its groups (see the module's docstring).

    ``groups`` are in bin order for a binned column, in sorted order of their labels for a categorical one;
    ``"missing"`` comes last in both. ``edges`` are the bin edges used (``None`` for a categorical column).
    """

    column: str
    binned: bool
    edges: tuple[float, ...] | None
    groups: tuple[GroupFigures, ...]
    demographic_parity_difference: float
    demographic_parity_ratio: float | None
    equalized_odds_difference: float | None
    four_fifths_flag: bool
    small_groups: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "binned": self.binned,
            "edges": None if self.edges is None else list(self.edges),
            "groups": [group.to_json() for group in self.groups],
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "equalized_odds_difference": self.equalized_odds_difference,
            "four_fifths_flag": self.four_fifths_flag,
            "small_groups": list(self.small_groups),
        }


def numeric_bins(
    values: np.ndarray, *, edges: Sequence[float] | None = None, n_bins: int = 4
) -> tuple[np.ndarray, tuple[float, ...]]:
    """Cut a numeric column into bins and label each row with its bin, e.g. ``"[25, 35)"``.

    Bins are closed on the left and open on the right, except the last, closed on both sides (``"[50, 75]"``),
    so that every value from the first edge to the last falls in exactly one bin. A NaN is labelled
    ``"missing"``. Without ``edges``, the edges are the ``0, 1/n_bins, ..., 1`` quantiles of the finite values
    by the inverted CDF (each edge is a value of the column, so integer data gets integer edges), with repeats
    dropped: a column with many ties gets fewer than ``n_bins`` bins. Given ``edges`` must be finite, strictly
    increasing and cover every value.

    Returns the labels (an object array of ``str``, one per row) and the edges used.
    """
    _check_n_bins(n_bins)
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput("numeric values are not numbers; pass numeric=False to treat them as categories") from None
    if numbers.ndim != 1:
        raise BadInput(f"numeric values must be one-dimensional, not of shape {numbers.shape}; pass one column")
    if np.isinf(numbers).any():
        raise BadInput("numeric values include infinity; replace it with NaN (missing) or a finite value")
    missing = np.isnan(numbers)
    present = numbers[~missing]
    if edges is None:
        if present.size == 0:
            raise BadInput("numeric values are all missing, so there are no quantiles to bin on; pass edges")
        quantiles = np.quantile(present, np.linspace(0.0, 1.0, n_bins + 1), method="inverted_cdf")
        cuts = np.unique(quantiles)
        if cuts.size < 2:
            raise BadInput(
                f"numeric values have one distinct value ({_fmt(float(cuts[0]))}); pass numeric=False or edges"
            )
    else:
        cuts = _check_edges(edges)
        if present.size and (present.min() < cuts[0] or present.max() > cuts[-1]):
            raise BadInput(
                f"numeric values span [{_fmt(float(present.min()))}, {_fmt(float(present.max()))}], outside the"
                f" edges [{_fmt(float(cuts[0]))}, {_fmt(float(cuts[-1]))}]; widen the first or last edge"
            )
    names = _bin_names(cuts)
    index = np.searchsorted(cuts, numbers, side="right") - 1
    index[numbers == cuts[-1]] = len(names) - 1  # the last bin is closed on the right
    index[missing] = 0  # overwritten below; keeps the fancy index in range
    labels = np.asarray(names, dtype=object)[index]
    labels[missing] = MISSING
    return labels, tuple(float(cut) for cut in cuts)


def column_fairness(
    column: str,
    values: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    favourable: object,
    numeric: bool | None = None,
    edges: Sequence[float] | None = None,
    n_bins: int = 4,
    min_group: int = 30,
) -> ColumnFairness:
    """The fairness figures of one protected column on the held-out rows.

    ``values`` is the column, one entry per row: ``str`` (or any value, grouped by its ``str``) with ``None``
    or NaN for missing when categorical, float with NaN for missing when numeric. ``numeric=None`` treats a
    float array as numeric and anything else (integer codes included) as categorical; pass ``numeric=True``
    to bin an integer column such as age. A numeric column is binned by :func:`numeric_bins` (``edges``,
    ``n_bins``). ``y_true`` and ``y_pred`` are the actual and predicted labels of a binary classifier, of any
    kind; a label is favourable when it ``== favourable``.

    Raises :class:`~mlwarden.errors.BadInput` when the arrays differ in length, a label is missing, there are
    more than two labels, ``favourable`` is neither an actual nor a predicted label, or the column has fewer
    than two groups on these rows (nothing to compare).
    """
    if not isinstance(min_group, int) or isinstance(min_group, bool) or min_group < 1:
        raise BadInput(f"min_group must be a positive whole number of rows, not {min_group!r}")
    _check_n_bins(n_bins)
    column_values = np.asarray(values)
    true_labels = np.asarray(y_true, dtype=object)
    pred_labels = np.asarray(y_pred, dtype=object)
    for name, array in (("values", column_values), ("y_true", true_labels), ("y_pred", pred_labels)):
        if array.ndim != 1:
            raise BadInput(f"column {column}: {name} must be one-dimensional, not of shape {array.shape}")
    lengths = {len(column_values), len(true_labels), len(pred_labels)}
    if len(lengths) > 1:
        raise BadInput(
            f"column {column}: values, y_true and y_pred have {len(column_values)}, {len(true_labels)} and"
            f" {len(pred_labels)} rows; pass one entry per held-out row to each"
        )
    if not len(column_values):
        raise BadInput(f"column {column}: no held-out rows; pass the rows the model was not trained on")
    actual = _favourable_mask(column, true_labels, pred_labels, favourable)
    predicted = _favourable_mask(column, pred_labels, true_labels, favourable, own="y_pred")
    if not (actual.any() or predicted.any()):
        raise BadInput(
            f"column {column}: favourable={favourable!r} is neither an actual nor a predicted label;"
            " pass the label of the favourable outcome"
        )

    if numeric is None:
        numeric = column_values.dtype.kind == "f"
    if numeric:
        try:
            labels, used_edges = numeric_bins(column_values, edges=edges, n_bins=n_bins)
        except BadInput as exc:
            raise BadInput(f"column {column}: {exc}") from None
        order = [*_bin_names(np.asarray(used_edges)), MISSING]
        edges_out: tuple[float, ...] | None = used_edges
    else:
        if edges is not None:
            raise BadInput(f"column {column} is categorical but edges were given; pass numeric=True to bin it")
        labels = _category_labels(column, column_values)
        order = [*sorted(set(labels.tolist()) - {MISSING}), MISSING]
        edges_out = None

    groups = _group_figures(labels, order, actual, predicted)
    if len(groups) < 2:
        only = f" ({groups[0].group!r})" if groups else ""
        raise BadInput(
            f"column {column} has one group{only} on the held-out rows; there is nothing to compare,"
            " so leave it out or pass more rows"
        )
    return _summarise(column, numeric, edges_out, groups, min_group)


def fairness_report(
    columns: Mapping[str, np.ndarray],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    favourable: object,
    edges: Mapping[str, Sequence[float]] | None = None,
    n_bins: int = 4,
    min_group: int = 30,
) -> tuple[ColumnFairness, ...]:
    """:func:`column_fairness` of each protected column, in the mapping's order.

    ``edges`` maps a numeric column's name to its bin edges; the other numeric columns are binned on
    quantiles. Whether a column is numeric is inferred from its dtype (float is numeric), except that a column
    named in ``edges`` is binned.
    """
    given = dict(edges or {})
    unknown = sorted(set(given) - set(columns))
    if unknown:
        raise BadInput(f"edges name columns not in the report: {', '.join(unknown)}; name protected columns only")
    if not columns:
        raise BadInput("no protected columns given; pass at least one")
    return tuple(
        column_fairness(
            name,
            values,
            y_true,
            y_pred,
            favourable=favourable,
            numeric=True if name in given else None,
            edges=given.get(name),
            n_bins=n_bins,
            min_group=min_group,
        )
        for name, values in columns.items()
    )


def _check_n_bins(n_bins: int) -> None:
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 2:
        raise BadInput(f"n_bins must be a whole number of at least 2, not {n_bins!r}")


def _check_edges(edges: Sequence[float]) -> npt.NDArray[np.float64]:
    try:
        cuts = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput("edges are not numbers; pass bin edges as a sequence of floats") from None
    if cuts.ndim != 1 or cuts.size < 2:
        raise BadInput("edges must be a flat sequence of at least two numbers (one bin); pass more edges")
    if not np.isfinite(cuts).all():
        raise BadInput("edges must be finite; make the first and last edge the smallest and largest value")
    if not (np.diff(cuts) > 0).all():
        raise BadInput(f"edges must be strictly increasing, not [{', '.join(_fmt(float(c)) for c in cuts)}]; sort them")
    return cuts


def _fmt(number: float) -> str:
    """A short exact label for an edge: ``25`` for 25.0, else the shortest repr that round-trips."""
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _bin_names(cuts: npt.NDArray[np.float64]) -> list[str]:
    names = [f"[{_fmt(float(lo))}, {_fmt(float(hi))})" for lo, hi in itertools.pairwise(cuts)]
    names[-1] = names[-1][:-1] + "]"
    return names


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _category_labels(column: str, values: np.ndarray) -> np.ndarray:
    raw = values.tolist()
    missing = [_is_missing(value) for value in raw]
    labels = [MISSING if gone else str(value) for value, gone in zip(raw, missing, strict=True)]
    if any(missing) and any(label == MISSING and not gone for label, gone in zip(labels, missing, strict=True)):
        raise BadInput(
            f"column {column} has both a category {MISSING!r} and missing values, which would merge;"
            " rename the category"
        )
    return np.asarray(labels, dtype=object)


def _favourable_mask(
    column: str, labels: np.ndarray, other: np.ndarray, favourable: object, *, own: str = "y_true"
) -> npt.NDArray[np.bool_]:
    """Which labels ``== favourable``, refusing missing labels and a third label across both arrays."""
    raw = labels.tolist()
    if any(_is_missing(label) for label in raw):
        raise BadInput(f"column {column}: {own} has missing labels; drop those rows before measuring fairness")
    distinct = set(raw) | set(other.tolist())
    if len(distinct) > 2:
        shown = sorted(repr(label) for label in distinct)
        listed = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
        raise BadInput(
            f"column {column}: the labels are not binary ({listed}); map them to favourable and unfavourable"
        )
    return np.fromiter((bool(label == favourable) for label in raw), dtype=np.bool_, count=len(raw))


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _group_figures(
    labels: np.ndarray, order: list[str], actual: npt.NDArray[np.bool_], predicted: npt.NDArray[np.bool_]
) -> tuple[GroupFigures, ...]:
    figures = []
    for group in order:
        rows = labels == group
        count = int(rows.sum())
        if count == 0:
            continue
        positives = int((rows & actual).sum())
        negatives = count - positives
        figures.append(
            GroupFigures(
                group=group,
                count=count,
                selection_rate=int((rows & predicted).sum()) / count,
                tpr=_rate(int((rows & actual & predicted).sum()), positives),
                fpr=_rate(int((rows & ~actual & predicted).sum()), negatives),
            )
        )
    return tuple(figures)


def _spread(rates: list[float | None]) -> float | None:
    """max - min over the defined rates; ``None`` with fewer than two (no comparison to make)."""
    defined = [rate for rate in rates if rate is not None]
    return max(defined) - min(defined) if len(defined) >= 2 else None


def _summarise(
    column: str, binned: bool, edges: tuple[float, ...] | None, groups: tuple[GroupFigures, ...], min_group: int
) -> ColumnFairness:
    selection = [group.selection_rate for group in groups]
    highest, lowest = max(selection), min(selection)
    ratio = lowest / highest if highest > 0 else None
    spreads = [s for s in (_spread([g.tpr for g in groups]), _spread([g.fpr for g in groups])) if s is not None]
    return ColumnFairness(
        column=column,
        binned=binned,
        edges=edges,
        groups=groups,
        demographic_parity_difference=highest - lowest,
        demographic_parity_ratio=ratio,
        equalized_odds_difference=max(spreads) if spreads else None,
        four_fifths_flag=ratio is not None and ratio < FOUR_FIFTHS,
        small_groups=tuple(group.group for group in groups if group.count < min_group),
    )
