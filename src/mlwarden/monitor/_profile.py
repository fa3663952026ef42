"""Reference profiles and the counts that are compared with them.

A :class:`ReferenceProfile` is made once, from the data a model was trained on (or any reference
dataset), and never changes. It holds, per column:

- **numeric**: up to 100 interior bin edges at the reference's quantiles (a discrete column gets
  one bin per value), the reference's counts in those bins and in a ``missing`` bin, its mean and
  standard deviation (to normalise the Wasserstein distance);
- **categorical**: the reference's categories (at most :data:`MAX_CATEGORIES`, most frequent
  first), with one bin for any other value and one for ``missing``;

and two coarser groupings of those bins, both fixed at the reference: about 10 quantile groups,
on which PSI and Jensen-Shannon are computed as practitioners do (100 bins would inflate PSI with
noise), and at most :data:`JOINT_LEVELS` levels per column (quintiles; the 5 most frequent
categories and "other"; ``missing``) whose pairwise co-occurrence counts are the joint structure:
a change of the joint distribution that leaves every marginal as it was still shows in them.

The prediction scores (the probability of the model's last class) and predicted labels on
held-out rows make two more columns, ``score`` and ``label``; held-out, because scores on the
rows a model was fitted on are more confident than on any new row.

:class:`ProfileCounts` counts new rows into the reference's bins: a dataset chunk by chunk, or a
server's traffic request by request (buffered, and binned in batches of :data:`FOLD_ROWS` rows, so
a request costs a list append). It keeps counts only; its bytes (:meth:`ProfileCounts.to_bytes`)
name no value, only bin counts.

Both serialise to canonical JSON (``mlwarden.drift-profile/v1``, ``mlwarden.drift-counts/v1``),
the profile's SHA-256 is signed into the model's provenance, and a count document names the
profile it was counted against.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlwarden._json import canonical
from mlwarden.errors import BadInput, IntegrityError

if TYPE_CHECKING:
    import pandas

__all__ = [
    "COUNTS_FORMAT",
    "FOLD_ROWS",
    "JOINT_LEVELS",
    "MAX_CATEGORIES",
    "PROFILE_FORMAT",
    "ColumnProfile",
    "ProfileCounts",
    "ReferenceProfile",
]

PROFILE_FORMAT = "mlwarden.drift-profile/v1"
COUNTS_FORMAT = "mlwarden.drift-counts/v1"
MAX_BINS = 100
"""The most value bins a numeric column gets (its reference's percentiles)."""
MAX_CATEGORIES = 200
"""The most categories a categorical column's profile lists; rarer values count as "other"."""
EFFECT_GROUPS = 10
"""The quantile groups PSI and Jensen-Shannon are computed on (deciles)."""
JOINT_LEVELS = 5
"""Levels per column in the joint counts (plus "missing"; categorical: plus "other")."""
FOLD_ROWS = 512
"""Rows a :class:`ProfileCounts` buffers before binning them in one vectorised pass."""
SCORE = "score"
LABEL = "label"


def _pack(array: np.ndarray) -> str:
    """An integer array as base64 of zlib-compressed little-endian int64 (compact, no pickle)."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, dtype="<i8").tobytes(), 6)).decode()


def _unpack(text: str, size: int, what: str) -> np.ndarray:
    try:
        raw = zlib.decompress(base64.b64decode(text.encode(), validate=True))
    except (ValueError, zlib.error):
        raise IntegrityError(f"{what} is not a valid packed count array") from None
    if len(raw) != size * 8:
        raise IntegrityError(f"{what} holds {len(raw) // 8} counts, not {size}")
    counts = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    if (counts < 0).any():
        raise IntegrityError(f"{what} holds a negative count")
    return counts


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """One column of a reference profile: its bins, their reference counts, and their groupings.

    Bins: numeric ``0..len(edges)`` (``np.searchsorted(edges, v, side="right")``), then
    ``missing``; categorical one per category, then ``other``, then ``missing``.
    ``groups`` and ``levels`` map each bin to its effect group and its joint level."""

    name: str
    kind: str
    edges: np.ndarray
    categories: tuple[str, ...]
    counts: np.ndarray
    groups: np.ndarray
    levels: np.ndarray
    mean: float | None = None
    std: float | None = None

    @property
    def bins(self) -> int:
        return int(self.counts.shape[0])

    @property
    def missing_bin(self) -> int:
        return self.bins - 1

    @property
    def n_levels(self) -> int:
        return int(self.levels.max()) + 1

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"

    def bin_of(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value (``values``: float with NaN for missing, or objects)."""
        if self.numeric:
            x = np.asarray(values, dtype=np.float64)
            found = np.searchsorted(self.edges, x, side="right")
            found[np.isnan(x)] = self.missing_bin
            return found
        codes, names = _factorized(values)
        return self._bins(codes, names)

    def _bins(self, codes: np.ndarray, names: list[str]) -> np.ndarray:
        """Bins of factorised values (``codes`` index ``names``; -1 is missing)."""
        other = len(self.categories)
        index = self._index
        # the names are the distinct values of a batch: few, so a dict lookup each
        lookup = np.array([index.get(n, other) for n in names] + [other + 1], dtype=np.int64)  # last: missing
        found: np.ndarray = lookup[codes]
        return found

    @property
    def _index(self) -> dict[str, int]:
        found = self.__dict__.get("_index_cache")
        if found is None:
            found = {c: i for i, c in enumerate(self.categories)}
            object.__setattr__(self, "_index_cache", found)
        return found

    def bin_labels(self) -> list[str]:
        """A readable name per bin (for reports)."""
        if self.numeric:
            e = self.edges
            labels = [f"< {e[0]:.6g}"] if len(e) else ["all"]
            labels += [f"[{e[i]:.6g}, {e[i + 1]:.6g})" for i in range(len(e) - 1)]
            if len(e):
                labels.append(f">= {e[-1]:.6g}")
            return [*labels, "missing"]
        return [*self.categories, "other", "missing"]

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "counts": [int(c) for c in self.counts],
            "groups": [int(g) for g in self.groups],
            "levels": [int(v) for v in self.levels],
        }
        if self.numeric:
            found.update(edges=[float(e) for e in self.edges], mean=self.mean, std=self.std)
        else:
            found["categories"] = list(self.categories)
        return found

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ColumnProfile:
        try:
            kind = str(doc["kind"])
            if kind not in ("numeric", "categorical"):
                raise ValueError(kind)
            counts = np.asarray(doc["counts"], dtype=np.int64)
            edges = np.asarray(doc.get("edges", []), dtype=np.float64)
            categories = tuple(str(c) for c in doc.get("categories", []))
            expected = len(edges) + 2 if kind == "numeric" else len(categories) + 2
            groups = np.asarray(doc["groups"], dtype=np.int64)
            levels = np.asarray(doc["levels"], dtype=np.int64)
            if counts.shape != (expected,) or groups.shape != (expected,) or levels.shape != (expected,):
                raise ValueError("shape")
            if (counts < 0).any() or (groups < 0).any() or (levels < 0).any() or np.any(np.diff(edges) <= 0):
                raise ValueError("values")
            mean = None if doc.get("mean") is None else float(doc["mean"])
            std = None if doc.get("std") is None else float(doc["std"])
            return cls(str(doc["name"]), kind, edges, categories, counts, groups, levels, mean, std)
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(f"the profile of column {doc.get('name')!r} is damaged") from None


def _text(value: object) -> str:
    """How a category value is named: as training names it (``str``), an integral float as an integer."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quantile_groups(counts: np.ndarray, groups: int) -> np.ndarray:
    """Map each value bin (by its reference mass) to one of at most ``groups`` contiguous quantile groups."""
    total = counts.sum()
    if total == 0:
        return np.zeros(len(counts), dtype=np.int64)
    middle = (np.cumsum(counts) - counts / 2) / total
    raw = np.minimum((middle * groups).astype(np.int64), groups - 1)
    # renumber densely: groups no bin fell into vanish
    _, dense = np.unique(raw, return_inverse=True)
    return dense.astype(np.int64)


def _numeric_column(name: str, values: np.ndarray) -> ColumnProfile:
    return _numeric_binned(name, values)[0]


def _numeric_binned(name: str, values: np.ndarray) -> tuple[ColumnProfile, np.ndarray]:
    """A numeric column's profile, and the bin of each of its values."""
    x = np.asarray(values, dtype=np.float64)
    present = x[~np.isnan(x)]
    if present.size == 0:
        edges = np.empty(0)
    else:
        ordered = np.sort(present)
        unique = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
        bins = min(MAX_BINS, max(10, present.size // 10))
        if unique.size <= bins:
            # one bin per value: edges halfway between neighbours
            edges = (unique[:-1] + unique[1:]) / 2
        else:
            # numpy's default ("linear") quantiles, read off the one sort
            at = np.linspace(0, 1, bins + 1)[1:-1] * (ordered.size - 1)
            low = np.floor(at).astype(np.int64)
            high = np.minimum(low + 1, ordered.size - 1)
            quantiles = ordered[low] + (at - low) * (ordered[high] - ordered[low])
            edges = np.unique(quantiles)
            edges = edges[edges > ordered[0]]  # the lowest bin holds at least the minimum
    found = np.searchsorted(edges, x, side="right")
    found[np.isnan(x)] = len(edges) + 1
    counts = np.bincount(found, minlength=len(edges) + 2).astype(np.int64)
    value_counts = counts[:-1]
    groups = np.append(_quantile_groups(value_counts, EFFECT_GROUPS), 0)
    groups[-1] = groups[:-1].max() + 1
    levels = np.append(_quantile_groups(value_counts, JOINT_LEVELS), 0)
    levels[-1] = levels[:-1].max() + 1
    mean = float(present.mean()) if present.size else None
    std = float(present.std()) if present.size else None
    return ColumnProfile(name, "numeric", edges, (), counts, groups, levels, mean, std), found


def _factorized(values: Any) -> tuple[np.ndarray, list[str]]:
    """Per value the index of its category name in the returned names (-1: missing). Names are
    as training names them (:func:`_text`); factorised in C by pandas (Arrow strings stay Arrow)."""
    import pandas as pd

    # A Series is factorised as it is (Arrow strings in C); anything else as a numpy object array,
    # never through a Series (which would first convert it to Arrow strings).
    found = values if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(found, use_na_sentinel=True)
    names = [u if isinstance(u, str) else _text(u) for u in uniques]
    if len(set(names)) < len(names):  # 1 and 1.0 (or "1") are one category: renumber by name
        first: dict[str, int] = {}
        remap = np.array([first.setdefault(t, len(first)) for t in names], dtype=np.int64)
        codes = np.where(codes < 0, -1, remap[np.maximum(codes, 0)])
        names = list(first)
    return np.asarray(codes, dtype=np.int64), names


def _categorical_column(name: str, values: Sequence[object] | np.ndarray) -> ColumnProfile:
    return _categorical_binned(name, values)[0]


def _categorical_binned(name: str, values: Any) -> tuple[ColumnProfile, np.ndarray]:
    """A categorical column's profile, and the bin of each of its values."""
    codes, names = _factorized(values)
    missing = int((codes < 0).sum())
    tally = np.bincount(codes[codes >= 0], minlength=len(names)).tolist()
    ranked = sorted(zip(names, tally, strict=True), key=lambda kv: (-kv[1], kv[0]))
    categories = tuple(c for c, _ in ranked[:MAX_CATEGORIES])
    other = sum(n for _, n in ranked[MAX_CATEGORIES:])
    counts = np.array([n for _, n in ranked[:MAX_CATEGORIES]] + [other, missing], dtype=np.int64)
    k = len(categories)
    groups = np.arange(k + 2, dtype=np.int64)
    top = min(k, JOINT_LEVELS)
    levels = np.array([min(i, top) for i in range(k)] + [top, top + 1], dtype=np.int64)
    column = ColumnProfile(name, "categorical", np.empty(0), categories, counts, groups, levels)
    return column, column._bins(codes, names)


def _kind_of(series: pandas.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def _as_numeric(values: Any) -> np.ndarray:
    """Float values, NaN where missing or not a number (a text in a numeric column counts as missing)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return np.asarray(values, dtype=np.float64)
    import pandas as pd

    found: np.ndarray = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return found


def _as_objects(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    import pandas as pd

    if isinstance(values, pd.Series):
        found: np.ndarray = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
        return found
    return np.asarray(list(values), dtype=object)


class ReferenceProfile:
    """What the reference data looked like, bin by bin (see the module docstring). Immutable."""

    def __init__(
        self,
        columns: Sequence[ColumnProfile],
        *,
        rows: int,
        joint: np.ndarray,
        score: ColumnProfile | None = None,
        label: ColumnProfile | None = None,
        classes: Sequence[str] = (),
        source: Mapping[str, Any] | None = None,
    ) -> None:
        self.columns: tuple[ColumnProfile, ...] = tuple(columns)
        self.rows = int(rows)
        self.score = score
        self.label = label
        self.classes = tuple(classes)
        self.source = dict(source or {})
        self.offsets = np.concatenate([[0], np.cumsum([c.n_levels for c in self.columns])]).astype(np.int64)
        width = int(self.offsets[-1])
        if joint.shape != (width, width):
            raise IntegrityError(f"the profile's joint counts are {joint.shape}, not {width} x {width}")
        self.joint = joint
        self._bytes = canonical(self.to_json())
        self.sha256 = hashlib.sha256(self._bytes).hexdigest()

    def __repr__(self) -> str:
        return f"<ReferenceProfile {len(self.columns)} columns, {self.rows} rows, sha256 {self.sha256[:12]}>"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise BadInput(f"the profile has no column {name!r}")

    # -- making ---------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: pandas.DataFrame,
        *,
        columns: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        proba: np.ndarray | None = None,
        labels: Sequence[object] | None = None,
        classes: Sequence[object] = (),
        source: Mapping[str, Any] | None = None,
    ) -> ReferenceProfile:
        """The profile of ``frame`` (``columns``: which, default all). A column is categorical if named
        in ``categorical`` or (by default) if its dtype is not numeric or is boolean.

        ``proba`` (held-out rows x classes, columns in ``classes``' order) and ``labels`` (the
        predicted labels) make the prediction profile; they need not be the frame's rows."""
        names = [str(c) for c in (frame.columns if columns is None else columns)]
        if not names:
            raise BadInput("a drift profile needs at least one column")
        if len(frame) == 0:
            raise BadInput("a drift profile needs at least one reference row")
        chosen = set(categorical) if categorical is not None else None
        profiles = []
        binned = []
        for name in names:
            if name not in frame.columns:
                raise BadInput(f"the reference has no column {name!r}")
            series = frame[name]
            kind = ("categorical" if name in chosen else "numeric") if chosen is not None else _kind_of(series)
            if kind == "numeric":
                column, bins = _numeric_binned(name, _as_numeric(series))
            else:
                column, bins = _categorical_binned(name, series)
            profiles.append(column)
            binned.append(bins)
        score = label = None
        class_names = [_text(c) for c in classes]
        if proba is not None:
            p = np.asarray(proba, dtype=np.float64)
            score = _numeric_column(SCORE, p[:, -1] if p.ndim == 2 else p)
        if labels is not None:
            label = _categorical_column(LABEL, np.asarray(list(labels), dtype=object))
        offsets = np.concatenate([[0], np.cumsum([c.n_levels for c in profiles])]).astype(np.int64)
        codes = np.empty((len(frame), len(profiles)), dtype=np.int64)
        for j, (column, bins) in enumerate(zip(profiles, binned, strict=True)):
            codes[:, j] = offsets[j] + column.levels[bins]
        joint = _cooccurrence(codes, int(offsets[-1]))
        return cls(
            profiles,
            rows=len(frame),
            joint=joint,
            score=score,
            label=label,
            classes=class_names,
            source=source,
        )

    def with_counts(self, counts: ProfileCounts) -> ReferenceProfile:
        """The same bins and groupings, with the counts of ``counts`` (e.g. a whole dataset counted
        into bins chosen from a sample of it); the prediction profile is kept as it is."""
        if counts.profile.sha256 != self.sha256:
            raise BadInput("the counts were made against another reference profile")
        counts.fold()
        columns = [dataclasses.replace(c, counts=k.copy()) for c, k in zip(self.columns, counts.counts, strict=True)]
        return ReferenceProfile(
            columns,
            rows=counts.rows,
            joint=counts.joint.copy(),
            score=self.score,
            label=self.label,
            classes=self.classes,
            source=self.source,
        )

    # -- bytes ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "rows": self.rows,
            "columns": [c.to_json() for c in self.columns],
            "joint": _pack(_upper(self.joint)),
            "score": None if self.score is None else self.score.to_json(),
            "label": None if self.label is None else self.label.to_json(),
            "classes": list(self.classes),
            "source": self.source,
        }

    def to_bytes(self) -> bytes:
        return self._bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        import json

        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError("the drift profile is not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise IntegrityError(f"the drift profile's format is {found!r}, not {PROFILE_FORMAT}")
        try:
            columns = [ColumnProfile.from_json(c) for c in doc["columns"]]
            width = sum(c.n_levels for c in columns)
            joint = _full(_unpack(doc["joint"], width * (width + 1) // 2, "the profile's joint counts"), width)
            score = None if doc.get("score") is None else ColumnProfile.from_json(doc["score"])
            label = None if doc.get("label") is None else ColumnProfile.from_json(doc["label"])
            found = cls(
                columns,
                rows=int(doc["rows"]),
                joint=joint,
                score=score,
                label=label,
                classes=[str(c) for c in doc.get("classes", [])],
                source=doc.get("source") or {},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise IntegrityError("the drift profile is damaged") from None
        if found.to_bytes() != data:
            raise IntegrityError("the drift profile is not in its canonical form")
        return found


def _cooccurrence(codes: np.ndarray, width: int) -> np.ndarray:
    """``O.T @ O`` for the one-hot matrix ``O`` of ``codes`` (rows x columns of global levels), by one
    ``bincount`` per column over its pairs with the columns after it (exact integer counts; faster
    here than a float matrix product)."""
    n, d = codes.shape
    matrix = np.zeros((width, width), dtype=np.int64)
    if n == 0 or width == 0:
        return matrix
    codes = codes.astype(np.int32 if width * width < 2**31 else np.int64, copy=False)
    for j in range(d):  # global codes grow with the column: each pair lands above the diagonal
        joint = codes[:, j : j + 1] * width + codes[:, j:]
        matrix += np.bincount(joint.ravel(), minlength=width * width).reshape(width, width)
    return np.triu(matrix) + np.triu(matrix, 1).T


def _upper(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(matrix.shape[0])]


def _full(upper: np.ndarray, width: int) -> np.ndarray:
    matrix = np.zeros((width, width), dtype=np.int64)
    rows, cols = np.triu_indices(width)
    matrix[rows, cols] = upper
    matrix[cols, rows] = upper
    return matrix


class ProfileCounts:
    """Rows counted into a reference profile's bins: a window of live traffic, or a dataset.

    Not thread-safe: one writer (the server's event loop, or one reading loop); :meth:`copy`
    or hand the object over whole to persist it elsewhere."""

    def __init__(self, profile: ReferenceProfile) -> None:
        self.profile = profile
        self.counts = [np.zeros(c.bins, dtype=np.int64) for c in profile.columns]
        self.score = None if profile.score is None else np.zeros(profile.score.bins, dtype=np.int64)
        self.label = None if profile.label is None else np.zeros(profile.label.bins, dtype=np.int64)
        width = int(profile.offsets[-1])
        self.joint = np.zeros((width, width), dtype=np.int64)
        self._rows = 0
        self._pending: list[tuple[Mapping[str, Any], Any, Any, int]] = []
        self._pending_rows = 0

    def __repr__(self) -> str:
        return f"<ProfileCounts {self.rows} rows against profile {self.profile.sha256[:12]}>"

    @property
    def rows(self) -> int:
        return self._rows + self._pending_rows

    # -- counting -------------------------------------------------------------------------

    def add_columns(
        self,
        batch: Mapping[str, Any],
        *,
        proba: Any = None,
        labels: Sequence[object] | None = None,
    ) -> None:
        """Count a batch of rows given as column arrays (every profiled column; numeric as floats
        with NaN for missing, categorical as objects with ``None``). Cheap: the batch is binned
        with others once :data:`FOLD_ROWS` rows are waiting (or when the counts are read)."""
        first = self.profile.columns[0].name
        if first not in batch:
            raise BadInput(f"the rows to count lack column {first!r}")
        n = len(batch[first])
        if n == 0:
            return
        self._pending.append((batch, proba, labels, n))
        self._pending_rows += n
        if self._pending_rows >= FOLD_ROWS:
            self.fold()

    def add_frame(self, frame: pandas.DataFrame, *, proba: Any = None, labels: Sequence[object] | None = None) -> None:
        """Count the rows of a DataFrame (a chunk of a dataset): every profiled column must be in it."""
        missing = [c.name for c in self.profile.columns if c.name not in frame.columns]
        if missing:
            raise BadInput(f"the data lacks column {missing[0]!r} of the reference profile")
        batch = {c.name: _as_numeric(frame[c.name]) if c.numeric else frame[c.name] for c in self.profile.columns}
        self._fold([(batch, proba, labels, len(frame))])

    def fold(self) -> None:
        """Bin what is waiting (done by every reader of the counts)."""
        if self._pending:
            pending, self._pending, self._pending_rows = self._pending, [], 0
            self._fold(pending)

    def _fold(self, parts: list[tuple[Mapping[str, Any], Any, Any, int]]) -> None:
        n = sum(p[3] for p in parts)
        if n == 0:
            return
        profile = self.profile
        codes = np.empty((n, len(profile.columns)), dtype=np.int64)
        for j, column in enumerate(profile.columns):
            if len(parts) == 1:
                values = parts[0][0][column.name]
            elif column.numeric:
                values = np.concatenate([np.asarray(p[0][column.name], dtype=np.float64) for p in parts])
            else:
                values = np.concatenate([np.asarray(p[0][column.name], dtype=object) for p in parts])
            if column.numeric:
                values = _as_numeric(values)
            bins = column.bin_of(values)
            self.counts[j] += np.bincount(bins, minlength=column.bins)
            codes[:, j] = profile.offsets[j] + column.levels[bins]
        self.joint += _cooccurrence(codes, self.joint.shape[0])
        if self.score is not None and profile.score is not None:
            scores = [np.asarray(p[1], dtype=np.float64) for p in parts if p[1] is not None]
            if scores:
                s = np.concatenate([a[:, -1] if a.ndim == 2 else a for a in scores])
                self.score += np.bincount(profile.score.bin_of(s), minlength=profile.score.bins)
        if self.label is not None and profile.label is not None:
            labels = [np.asarray(list(p[2]), dtype=object) for p in parts if p[2] is not None]
            if labels:
                values = np.concatenate(labels)
                self.label += np.bincount(profile.label.bin_of(values), minlength=profile.label.bins)
        self._rows += n

    def merge(self, other: ProfileCounts) -> None:
        """Add ``other``'s counts (counted against the same profile) to these."""
        if other.profile.sha256 != self.profile.sha256:
            raise BadInput("counts made against another reference profile cannot be merged")
        other.fold()
        self.fold()
        for mine, theirs in zip(self.counts, other.counts, strict=True):
            mine += theirs
        if self.score is not None and other.score is not None:
            self.score += other.score
        if self.label is not None and other.label is not None:
            self.label += other.label
        self.joint += other.joint
        self._rows += other._rows

    # -- bytes ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        self.fold()
        return {
            "format": COUNTS_FORMAT,
            "profile_sha256": self.profile.sha256,
            "rows": self._rows,
            "columns": {c.name: _pack(k) for c, k in zip(self.profile.columns, self.counts, strict=True)},
            "score": None if self.score is None else _pack(self.score),
            "label": None if self.label is None else _pack(self.label),
            "joint": _pack(_upper(self.joint)),
        }

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes, profile: ReferenceProfile) -> ProfileCounts:
        import json

        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError("the drift counts are not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != COUNTS_FORMAT:
            raise IntegrityError(f"the drift counts are not in the {COUNTS_FORMAT} format")
        if doc.get("profile_sha256") != profile.sha256:
            raise IntegrityError("the drift counts were made against another reference profile")
        found = cls(profile)
        try:
            columns = doc["columns"]
            for j, column in enumerate(profile.columns):
                found.counts[j] = _unpack(columns[column.name], column.bins, f"the counts of {column.name!r}")
            if profile.score is not None and doc.get("score") is not None:
                found.score = _unpack(doc["score"], profile.score.bins, "the score counts")
            if profile.label is not None and doc.get("label") is not None:
                found.label = _unpack(doc["label"], profile.label.bins, "the label counts")
            width = found.joint.shape[0]
            found.joint = _full(_unpack(doc["joint"], width * (width + 1) // 2, "the joint counts"), width)
            found._rows = int(doc["rows"])
        except (KeyError, TypeError, ValueError):
            raise IntegrityError("the drift counts are damaged") from None
        if any(int(k.sum()) != found._rows for k in found.counts):
            raise IntegrityError("the drift counts do not add up to their rows")
        return found
