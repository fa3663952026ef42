"""Pseudonymisation and generalisation of a frame's columns, and the k-anonymity that results.

* **Tokens.** Every non-null value of a tokenised column becomes the keyed token of its canonical
  text (:func:`mlwarden.privacy._detect.canonical_value`: trimmed, e-mail addresses case-folded,
  phone numbers in E.164, ...): one-way (``pz<n>_...``, HMAC-SHA256) or, for holders of the
  re-identification permission, reversible (``pr<n>_...``, AES-SIV); see
  :mod:`mlwarden.crypto._pseudonym_keys`. Equal canonical values give equal tokens under one key, so
  joins across datasets pseudonymised with the workspace's key still work. A reversible token opens
  to the canonical text, not to the original spelling.
* **Generalisation** of a quasi-identifier to ``level``:

  ========================  ================================================  ==================
  column holds              becomes                                           ``level`` = 10 / 3
  ========================  ================================================  ==================
  integers (also floats     the bin ``[floor(v/level)*level, +level)``         ``37 -> "30-39"``
  that all hold integers)
  other numbers             the same bin, as floats                           ``3.5 -> "0.0-10.0"``
  dates, datetimes, ISO     the year, rounded down to ``level`` years         ``"1984-05-02" ->
  date strings              (``level`` 1: the year alone)                     "1980-1989"``
  other text (postcodes)    the first ``level`` characters and one ``*``      ``"SW1A 2AA" -> "SW1*"``
  ========================  ================================================  ==================

  A single ``*`` stands for whatever followed, so the length of the value is not kept. Infinite
  numbers become ``"inf"``/``"-inf"``; true/false columns are refused.
* **k-anonymity** is the size of the smallest class of rows sharing one combination of the
  quasi-identifiers (after generalisation; a null counts as a value), with how many rows sit in
  classes smaller than 2, 5 and 10.

Tokenised and generalised columns come out as pandas string columns (nulls stay null), built new:
nothing of the original column (values, categories, ``attrs``) goes with them, and the frame's
``attrs`` are dropped too (pyarrow writes them into the Parquet metadata). The row index is kept
as it was. Errors name columns and levels, never a value.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput

if TYPE_CHECKING:
    import pandas

    from mlwarden.crypto._pseudonym_keys import PseudonymKey

__all__ = [
    "Generalisation",
    "PseudonymisedFrame",
    "k_anonymity",
    "parse_generalise",
    "pseudonymise_frame",
]

K_THRESHOLDS = (2, 5, 10)
"""The class sizes ``classes_below`` reports on: how many rows are in classes smaller than each."""

_NO_KINDS: Mapping[str, str | None] = MappingProxyType({})
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.+\-Z]*)?")
_MAX_LEVEL = 1_000_000_000
_SHOWN = 8


@dataclass(frozen=True)
class Generalisation:
    """Generalise ``column`` to ``level``: bin width, kept characters, or years (see the module)."""

    column: str
    level: int


@dataclass(frozen=True)
class PseudonymisedFrame:
    """What :func:`pseudonymise_frame` made: the new frame and what was done to it."""

    frame: pandas.DataFrame
    tokenised: tuple[str, ...]
    generalised: tuple[str, ...]
    quasi_identifiers: tuple[str, ...]
    """The columns k-anonymity was computed over."""
    k_anonymity: int | None
    """The smallest class over ``quasi_identifiers``; None without quasi-identifiers or rows."""
    classes_below: dict[int, int]
    """For k in (2, 5, 10): how many rows are in classes smaller than k (empty without quasi-identifiers)."""
    rows: int


def parse_generalise(spec: str) -> tuple[Generalisation, ...]:
    """``"age=10,postcode=3"`` as generalisations; :class:`BadInput` naming the part that is wrong."""
    rules: list[Generalisation] = []
    seen: set[str] = set()
    for raw in spec.split(","):
        part = raw.strip()
        column, sep, level = part.rpartition("=")
        column = column.strip()
        level = level.strip()
        if not part or not sep or not column:
            raise BadInput(f"--generalise: {part!r} is not COLUMN=LEVEL (for example age=10,postcode=3)")
        if not level.isascii() or not level.isdigit() or not 1 <= int(level) <= _MAX_LEVEL:
            raise BadInput(f"--generalise: in {part!r} the level must be a whole number from 1 to {_MAX_LEVEL}")
        if column in seen:
            raise BadInput(f"--generalise: column {column!r} is named twice")
        seen.add(column)
        rules.append(Generalisation(column, int(level)))
    return tuple(rules)


def _check_columns(frame: pandas.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:_SHOWN])
        more = f" and {len(frame.columns) - _SHOWN} more" if len(frame.columns) > _SHOWN else ""
        raise BadInput(
            f"no column {', '.join(repr(m) for m in missing)} to {what}; the data has {shown or 'no columns'}{more}"
        )
    counts = frame.columns.value_counts()
    doubled = [n for n in names if counts.get(n, 0) > 1]
    if doubled:
        raise BadInput(f"the data has more than one column named {doubled[0]!r}")


def _rewrite(series: pandas.Series, make: Callable[[list[Any]], Callable[[Any], str | None]]) -> pandas.Series:
    """A new string column: ``make(distinct)`` gives the function that rewrites each distinct non-null value.

    Each distinct value is rewritten once. Values are told apart by type as well as by value in
    object columns (where ``1``, ``1.0`` and ``True`` are equal to Python but read differently);
    nulls stay null.
    """
    import numpy as np
    import pandas as pd

    if series.dtype != object:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        distinct: list[Any] = list(uniques.tolist())
    else:
        nulls = series.isna().tolist()
        seen: dict[tuple[type, object], int] = {}
        distinct = []
        codes = np.empty(len(series), dtype=np.int64)
        for i, (value, null) in enumerate(zip(series.tolist(), nulls, strict=True)):
            if null:
                codes[i] = -1
                continue
            try:
                code = seen.setdefault((type(value), value), len(distinct))
            except TypeError:  # unhashable: its own entry
                code = len(distinct)
            if code == len(distinct):
                distinct.append(value)
            codes[i] = code
    one = make(distinct)
    table = np.array([*(one(v) for v in distinct), None], dtype=object)  # code -1 (null) is the last
    return pd.Series(table[codes], index=series.index, dtype="string", name=series.name)


def _tokenise(series: pandas.Series, kind: str | None, make: Callable[[str], str]) -> pandas.Series:
    from mlwarden.privacy._detect import canonical_value

    tokens: dict[str, str] = {}  # distinct values with one canonical form (two spellings of an address)

    def one(value: Any) -> str | None:
        canon = canonical_value(value, kind)
        if canon is None:
            return None
        token = tokens.get(canon)
        if token is None:
            token = tokens[canon] = make(canon)
        return token

    return _rewrite(series, lambda _distinct: one)


def _int_bin(value: int, level: int) -> str:
    low = value // level * level
    return f"{low}-{low + level - 1}"


def _float_bin(value: float, level: int) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    low = math.floor(value / level) * level
    return f"{float(low)}-{float(low + level)}"


def _year_bin(year: int, level: int) -> str:
    if level == 1:
        return str(year)
    low = year // level * level
    return f"{low}-{low + level - 1}"


def _iso_year(text: str) -> int | None:
    text = text.strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text).year
    except ValueError:
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)


def _generalise(series: pandas.Series, column: str, level: int) -> pandas.Series:
    import numpy as np
    from pandas.api import types as pdt

    if type(level) is not int or not 1 <= level <= _MAX_LEVEL:
        raise BadInput(f"the level for column {column!r} must be a whole number from 1 to {_MAX_LEVEL}")
    dtype = series.dtype

    def rule(values: list[Any]) -> Callable[[Any], str]:
        """One rule for the whole column, chosen from its dtype and its distinct non-null values."""
        if pdt.is_bool_dtype(dtype) or (values and all(isinstance(v, (bool, np.bool_)) for v in values)):
            raise BadInput(f"column {column!r} holds true/false values: there is nothing to generalise")
        if pdt.is_complex_dtype(dtype):
            raise BadInput(f"column {column!r} holds complex numbers, which cannot be generalised")
        if pdt.is_datetime64_any_dtype(dtype) or (values and all(isinstance(v, date) for v in values)):
            return lambda v: _year_bin(v.year, level)
        if (values or pdt.is_numeric_dtype(dtype)) and all(_is_number(v) for v in values):
            if all(isinstance(v, numbers.Integral) or (math.isfinite(v) and float(v).is_integer()) for v in values):
                return lambda v: _int_bin(int(v), level)
            return lambda v: _float_bin(float(v), level)
        if values and all(isinstance(v, str) and _iso_year(v) is not None for v in values):
            return lambda v: _year_bin(_iso_year(v) or 0, level)
        return lambda v: str(v).strip()[:level] + "*"

    return _rewrite(series, rule)


def k_anonymity(frame: pandas.DataFrame, quasi_identifiers: Sequence[str]) -> tuple[int | None, dict[int, int]]:
    """(k, classes_below) of ``frame`` over ``quasi_identifiers``: k is the size of the smallest class of
    rows sharing one combination of their values (a null counts as a value; None without
    quasi-identifiers or rows); classes_below[t] for t in (2, 5, 10) is how many rows are in classes
    smaller than t (empty without quasi-identifiers)."""
    import numpy as np
    import pandas as pd

    names = list(dict.fromkeys(quasi_identifiers))
    if not names:
        return None, {}
    _check_columns(frame, names, "compute k-anonymity over")
    if len(frame) == 0:
        return None, dict.fromkeys(K_THRESHOLDS, 0)
    codes = []
    for name in names:
        try:
            # Every null is one code (-1): nulls form a class of their own, as a value would.
            column_codes, _ = pd.factorize(frame[name], use_na_sentinel=True)
        except TypeError:
            raise BadInput(f"column {name!r} holds values that cannot be compared (lists, say)") from None
        codes.append(np.asarray(column_codes, dtype=np.int64))
    sizes = pd.DataFrame(dict(enumerate(codes))).value_counts(sort=False).to_numpy()
    below = {t: int(sizes[sizes < t].sum()) for t in K_THRESHOLDS}
    return int(sizes.min()), below


def pseudonymise_frame(
    frame: pandas.DataFrame,
    *,
    columns: Sequence[str],
    key: PseudonymKey,
    reversible: bool = False,
    kinds: Mapping[str, str | None] = _NO_KINDS,
    generalise: Sequence[Generalisation] = (),
    quasi_identifiers: Sequence[str] = (),
) -> PseudonymisedFrame:
    """A copy of ``frame`` with keyed tokens in ``columns`` and the ``generalise`` rules applied.

    ``kinds`` gives a column's personal-data kind (``"email"``, ``"phone"``, ...) for its canonical
    form; ``quasi_identifiers`` (default: the generalised columns) are the columns k-anonymity is
    computed over, after generalisation. The input frame is not changed.
    """
    tokenised = tuple(str(c) for c in columns)
    rules = tuple(generalise)
    generalised = tuple(g.column for g in rules)
    for names, what in ((tokenised, "pseudonymise"), (generalised, "generalise")):
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise BadInput(f"column {doubled[0]!r} is named twice among the columns to {what}")
    both = [c for c in tokenised if c in generalised]
    if both:
        raise BadInput(
            f"column {both[0]!r} cannot be both pseudonymised and generalised: tokens already hide every value"
        )
    _check_columns(frame, tokenised, "pseudonymise")
    _check_columns(frame, generalised, "generalise")
    quasi = tuple(dict.fromkeys(quasi_identifiers)) if quasi_identifiers else generalised
    _check_columns(frame, quasi, "compute k-anonymity over")

    out = frame.copy(deep=False)
    out.attrs = {}
    make = key.seal if reversible else key.token
    for name in tokenised:
        out[name] = _tokenise(frame[name], kinds.get(name), make)
    for rule in rules:
        out[rule.column] = _generalise(frame[rule.column], rule.column, rule.level)
    k, below = k_anonymity(out, quasi)
    return PseudonymisedFrame(
        frame=out,
        tokenised=tokenised,
        generalised=generalised,
        quasi_identifiers=quasi,
        k_anonymity=k,
        classes_below=below,
        rows=len(out),
    )
