"""The model-extraction monitor: per API token, does the stream of queries look like someone copying the model?

Two tests run on the preprocessed feature vectors of each token's queries (scaled numeric columns
and one-hot blocks, the model's own preprocessing output) and the labels the model predicted.

``prada`` (Juuti et al., "PRADA: Protecting against DNN Model Stealing Attacks", EuroS&P 2019)
    For each predicted class ``c`` the token has a growing set ``G_c`` of past queries. A new
    query ``x`` predicted ``c`` gets ``d_min``, its L2 distance to the nearest point of ``G_c``;
    ``x`` joins ``G_c`` when ``d_min > T_c``, where ``T_c = max(T_c, mean - std)`` of the distances
    of the points that joined ``G_c`` (the first point counts as 0), as in the authors' code.
    Every ``check_every`` new distances, once there are ``min_distances``, the Shapiro-Wilk
    statistic ``W`` of the most recent ``window`` distances is computed, values more than 3
    standard deviations from their mean left out as the authors do; ``W < delta`` raises the
    alert. Natural queries give distances close to normally distributed; synthetic ones (the
    constant steps of Jacobian augmentation, the halving steps of a line search, the tight
    clouds around a few seeds) do not.

    Three changes for tabular data and a server, each measured in ``benchmarks/extraction.py``:

    * *Exact repeats* (the same feature vector as one of the token's recent queries, or distance
      0 to a kept point) add no distance: a client that resubmits rows would otherwise pile up
      zeros, which are not normal, and an exact repeat tells an attacker nothing new.
    * *Two scales.* Distances up to ``near_radius`` (1.0 by default: the same categories and the
      numeric columns within one standard deviation, since a changed category alone is 1.41
      away) go to a near set ``D_near``, larger ones to ``D``, and each set is tested on its own.
      A benign client that resubmits rows with small edits mixes a cloud of small distances with
      the large ones of fresh rows: the pooled set is bimodal (``W`` 0.82 to 0.89: alarms) while
      each part alone is close to normal. Line searches and perturbation probes are caught in
      ``D_near``, where their distances are not normal.
    * ``G_c`` keeps only the ``max_history`` most recent admitted points, so memory and time per
      query stay bounded.

``coverage``
    How far the token's queries spread over the numeric part of the feature box. Numeric columns
    come out of the preprocessing standardised on the training data, so the mean of ``z**2`` of a
    column is 1 for queries like the training data. Uniform probing of the schema's ranges
    (Tramèr et al., USENIX Security 2016) reaches into the sparse edges of skewed columns: on the
    credit data most columns get a mean square of 3 to 9. The statistic is ``1 / median`` over the
    numeric columns (those where this token sent a value other than 0 and 1) of the mean square;
    the median lets a client whose customers differ in one or two columns (older applicants,
    larger loans) pass. Below ``spread_limit`` after ``min_coverage`` queries raises the alert.
    The shares of one-hot columns and of numeric bins (half a standard deviation wide, over
    [-3, 3]) the token has touched are reported by :meth:`ExtractionMonitor.stats` and do not
    alarm: a benign client touches every category of the credit data within a few hundred
    queries, as an attacker does.

For both tests an alert means ``statistic < threshold``. A token is alerted at most once, until
:meth:`ExtractionMonitor.forget`; after its alert only its query count is kept up to date.

Costs: one ``observe`` row costs ``O(|G_c| * d)`` (a float32 difference and a dot product per
kept point of its class) and ``O(window)`` for the repeat check; a Shapiro-Wilk test costs about
0.1 ms for 2,000 values, every ``check_every`` distances. Memory per token is at most
``classes * max_history * d * 4`` bytes of history (the buffers grow as used) and ``3 * window * 8``
bytes of distances and query hashes. At most ``max_tokens`` tokens are held; the least recently
used are forgotten first. Each token is watched alone: see ``docs/extraction.md`` for the
figures and for what an attacker who spreads queries over tokens, or mixes in natural queries,
can do.

Thread-safe: one lock serialises all calls. The server calls it after each answered request::

    monitor = ExtractionMonitor()
    alert = monitor.observe(token_id, features, labels)  # the batch's preprocessed rows and predictions
    if alert is not None:
        ...  # audit it; suspend the token if so configured
"""

from __future__ import annotations

import importlib
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import BadInput

__all__ = ["ExtractionAlert", "ExtractionMonitor"]

_MAX_WINDOW = 5000  # scipy's Shapiro-Wilk is accurate up to 5,000 values
_MAX_CLASSES = 64  # per token; further labels share one history (a classifier has few classes)
_OUTLIER_SIGMAS = 3.0  # distances this far from the window's mean are left out of the test (PRADA's code)
_BIN_WIDTH = 0.5  # numeric coverage bins, in standard deviations of the training data
_BIN_EDGE = 3.0  # ... over [-_BIN_EDGE, _BIN_EDGE]
_NUM_BINS = int(2 * _BIN_EDGE / _BIN_WIDTH)
_OTHER = "\x00other"  # the history key shared by labels beyond _MAX_CLASSES
_CLIP = 1e6  # feature values are clipped to +-this: float32 distances and squares stay finite (no NaN W)

FloatArray = npt.NDArray[np.float64]


def _shapiro(values: FloatArray) -> Any:
    """``scipy.stats.shapiro``, imported on first use and by name (scipy ships no type stubs)."""
    return importlib.import_module("scipy.stats").shapiro(values)


@dataclass(frozen=True)
class ExtractionAlert:
    """One token's queries failed a test: ``statistic < threshold`` after ``queries`` queries.

    ``test`` is ``"prada"`` (``statistic`` is the Shapiro-Wilk ``W`` of nearest-neighbour
    distances) or ``"coverage"`` (``statistic`` is ``1 / median`` of the numeric columns' mean
    ``z**2``); ``detail`` is one line for a human auditor.
    """

    token_id: str
    test: str
    statistic: float
    threshold: float
    queries: int
    detail: str


class _History:
    """The growing set ``G_c`` of one class: a ring buffer of the most recently admitted points."""

    __slots__ = ("count", "points", "size", "start", "sum", "sum_sq", "threshold")

    def __init__(self, first: npt.NDArray[np.float32], cap: int) -> None:
        self.points = np.empty((min(cap, 16), first.shape[0]), dtype=np.float32)
        self.points[0] = first
        self.size = 1
        self.start = 0  # the oldest point, overwritten next once the buffer holds max_history
        self.threshold = 0.0  # T_c
        self.count, self.sum, self.sum_sq = 1, 0.0, 0.0  # distances of the admitted points; the first is 0

    def nearest(self, x: npt.NDArray[np.float32]) -> float:
        diff = self.points[: self.size] - x
        return math.sqrt(float(np.min(np.einsum("ij,ij->i", diff, diff))))

    def admit(self, x: npt.NDArray[np.float32], distance: float, cap: int) -> None:
        if self.size < cap:
            if self.size == len(self.points):
                grown = np.empty((min(cap, 2 * self.size), self.points.shape[1]), dtype=np.float32)
                grown[: self.size] = self.points
                self.points = grown
            self.points[self.size] = x
            self.size += 1
        else:
            self.points[self.start] = x
            self.start = (self.start + 1) % cap
        self.count += 1
        self.sum += distance
        self.sum_sq += distance * distance
        mean = self.sum / self.count
        std = math.sqrt(max(0.0, self.sum_sq / self.count - mean * mean))
        self.threshold = max(self.threshold, mean - std)


class _Ring:
    """The most recent ``cap`` values of a stream; order is not kept (the tests do not need it).

    The buffer starts small and doubles up to ``cap``, so that a token with few queries costs little.
    """

    __slots__ = ("cap", "count", "values")

    def __init__(self, cap: int, dtype: type[np.generic]) -> None:
        self.cap = cap
        self.values: npt.NDArray[Any] = np.empty(min(cap, 64), dtype=dtype)
        self.count = 0  # values ever added

    def add(self, value: float | int) -> None:
        size = len(self.values)
        if self.count == size < self.cap:
            grown = np.empty(min(self.cap, 2 * size), dtype=self.values.dtype)
            grown[:size] = self.values
            self.values = grown
        self.values[self.count % self.cap] = value
        self.count += 1

    def held(self) -> npt.NDArray[Any]:
        return self.values[: min(self.count, len(self.values))]

    def release(self) -> None:
        """Free the buffer, keeping the count (no value may be added after this)."""
        self.values = self.values[:0].copy()


class _Scale:
    """One distance set of the ``prada`` test (``D`` or ``D_near``) and its Shapiro-Wilk checks."""

    __slots__ = ("checks", "fresh", "last_w", "ring")

    def __init__(self, window: int) -> None:
        self.ring = _Ring(window, np.float64)
        self.fresh = 0  # distances since the last check
        self.checks = 0
        self.last_w = math.nan

    def add(self, distance: float, every: int, least: int) -> float | None:
        """Record a distance; the new ``W`` if a check was due."""
        self.ring.add(distance)
        self.fresh += 1
        if self.fresh < every or self.ring.count < least:
            return None
        self.fresh = 0
        self.checks += 1
        self.last_w = _shapiro_w(self.ring.held())
        return self.last_w


@dataclass
class _Token:
    width: int
    window: int
    queries: int = 0
    repeats: int = 0
    explained: int = 0
    alerted: bool = False
    classes: dict[Hashable, _History] = field(default_factory=dict)
    far: _Scale = field(init=False)
    near: _Scale = field(init=False)
    hashes: _Ring = field(init=False)  # hashes of the most recent queries, for exact repeats
    binary: npt.NDArray[np.bool_] = field(init=False)  # columns where only 0 and 1 were seen so far
    touched: npt.NDArray[np.bool_] = field(init=False)  # columns where a non-zero value was seen
    bins: npt.NDArray[np.bool_] = field(init=False)  # (width, _NUM_BINS): numeric bins touched
    sum_sq: FloatArray = field(init=False)  # per column, the sum of squared values

    def __post_init__(self) -> None:
        self.far, self.near = _Scale(self.window), _Scale(self.window)
        self.hashes = _Ring(self.window, np.int64)
        self.binary = np.ones(self.width, dtype=bool)
        self.touched = np.zeros(self.width, dtype=bool)
        self.bins = np.zeros((self.width, _NUM_BINS), dtype=bool)
        self.sum_sq = np.zeros(self.width)

    def spread(self) -> float:
        """``1 / median`` over the numeric columns of their mean ``z**2`` (NaN before any numeric value)."""
        numeric = ~self.binary
        if not self.queries or not numeric.any():
            return math.nan
        middle = float(np.median(self.sum_sq[numeric])) / self.queries
        return 1.0 / middle if middle > 0.0 else math.inf

    def release(self) -> None:
        """Free what only the tests need (after the alert); the counts stay for :meth:`ExtractionMonitor.stats`."""
        self.classes.clear()
        for ring in (self.far.ring, self.near.ring, self.hashes):
            ring.release()


class ExtractionMonitor:
    """Watches each token's queries for model extraction (PRADA and a coverage test); see the module docstring.

    ``delta``: Shapiro-Wilk ``W`` below which the ``prada`` test alarms. ``min_distances``: distances
    a set needs before its first test. ``max_history``: points kept per class and token.
    ``max_tokens``: tokens held (the least recently used are dropped). ``check_every``: new
    distances between two tests of a set. ``window``: the most recent distances tested (at most
    5,000), also the number of recent queries checked for exact repeats. ``near_radius``: distances
    up to this (L2, in the feature space) are tested apart from the larger ones. ``spread_limit``
    and ``min_coverage``: the ``coverage`` test alarms when its statistic is below ``spread_limit``
    after at least ``min_coverage`` queries (``min_coverage=0`` turns it off).
    """

    def __init__(
        self,
        *,
        delta: float = 0.88,
        min_distances: int = 150,
        max_history: int = 200,
        max_tokens: int = 10_000,
        check_every: int = 10,
        window: int = 2000,
        near_radius: float = 1.0,
        spread_limit: float = 0.45,
        min_coverage: int = 100,
        explanation_budget: int = 1000,
    ) -> None:
        if not 0.0 < delta < 1.0:
            raise BadInput("delta must be between 0 and 1 (a Shapiro-Wilk W)")
        if min_distances < 3 or check_every < 1 or max_history < 1 or max_tokens < 1:
            raise BadInput("min_distances must be at least 3; check_every, max_history and max_tokens at least 1")
        if not min_distances <= window <= _MAX_WINDOW:
            raise BadInput(f"window must be between min_distances and {_MAX_WINDOW}")
        if not near_radius >= 0.0 or not 0.0 <= spread_limit < 1.0 or min_coverage < 0:
            raise BadInput("near_radius must be >= 0, spread_limit in [0, 1) and min_coverage >= 0")
        self.delta = delta
        self.min_distances = min_distances
        self.max_history = max_history
        self.max_tokens = max_tokens
        self.check_every = check_every
        self.window = window
        self.near_radius = near_radius
        self.spread_limit = spread_limit
        self.min_coverage = min_coverage
        if explanation_budget < 1:
            raise BadInput("explanation_budget must be at least 1")
        self.explanation_budget = explanation_budget
        self._tokens: OrderedDict[str, _Token] = OrderedDict()
        self._lock = threading.Lock()

    def observe(
        self, token_id: str, features: npt.NDArray[np.float64], labels: Sequence[object]
    ) -> ExtractionAlert | None:
        """Take the ``n`` rows of ``features`` (``(n, d)``, preprocessed) and their predicted ``labels``.

        Returns an alert the first time one of this token's tests fails, ``None`` otherwise.
        Raises :class:`~mlwarden.errors.BadInput` for a malformed batch (nothing is recorded then).
        """
        rows = np.asarray(features, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] != len(labels):
            raise BadInput(f"features must be (n, d) with one label per row; got {rows.shape} and {len(labels)} labels")
        if rows.shape[0] == 0:
            return None
        if not np.isfinite(rows).all():
            raise BadInput("features must be finite")
        rows = np.clip(rows, -_CLIP, _CLIP)
        with self._lock:
            token = self._token(token_id, rows.shape[1])
            if token.alerted:
                token.queries += rows.shape[0]
                return None
            alert = self._prada(token_id, token, rows, labels)
            self._cover(token, rows)
            if alert is None:
                alert = self._coverage(token_id, token)
            if alert is not None:
                token.alerted = True
                token.release()
            return alert

    def observe_explanations(self, token_id: str, count: int) -> ExtractionAlert | None:
        """Count ``count`` explained rows of a token (after :meth:`observe` took the same rows).

        An explanation gives one number per column, not one label: a linear model is recovered from
        about as many explanations as it has features (Milli et al., "Model reconstruction from model
        explanations", FAT* 2019), so a token is alerted (test ``explanations``, statistic
        ``budget / explained``, threshold 1) once it has had more than ``explanation_budget``.
        """
        with self._lock:
            token = self._tokens.get(token_id)
            if token is None or count <= 0:
                return None
            token.explained += count
            if token.alerted or token.explained <= self.explanation_budget:
                return None
            token.alerted = True
            token.release()
            return ExtractionAlert(
                token_id,
                "explanations",
                self.explanation_budget / token.explained,
                1.0,
                token.queries,
                f"{token.explained} rows explained, more than the budget of {self.explanation_budget}",
            )

    def stats(self, token_id: str) -> dict[str, float | int]:
        """What the monitor holds for a token (zeros and NaN for one it does not hold).

        ``queries``; ``repeats`` (exact repeats, left out of the test); ``distances`` and
        ``near_distances`` (recorded in ``D`` and ``D_near`` in all); ``history`` (points kept) and
        ``classes``; ``checks`` (Shapiro-Wilk tests run); ``last_w`` and ``last_w_near``;
        ``category_coverage`` (share of the 0/1 columns seen at 1); ``numeric_coverage`` (share of
        the half-sigma bins over [-3, 3] of the numeric columns touched); ``spread`` (the
        ``coverage`` statistic; about 1 for queries like the training data); ``alerted`` (0 or 1).
        """
        with self._lock:
            token = self._tokens.get(token_id) or _Token(width=0, window=1)
            numeric = ~token.binary
            categories = int(token.binary.sum())
            return {
                "queries": token.queries,
                "explained": token.explained,
                "repeats": token.repeats,
                "distances": token.far.ring.count,
                "near_distances": token.near.ring.count,
                "history": sum(h.size for h in token.classes.values()),
                "classes": len(token.classes),
                "checks": token.far.checks + token.near.checks,
                "last_w": token.far.last_w,
                "last_w_near": token.near.last_w,
                "category_coverage": float(token.touched[token.binary].sum()) / categories if categories else math.nan,
                "numeric_coverage": float(token.bins[numeric].mean()) if numeric.any() else math.nan,
                "spread": token.spread(),
                "alerted": int(token.alerted),
            }

    def forget(self, token_id: str) -> None:
        """Drop everything held for a token, its alert included: it starts afresh."""
        with self._lock:
            self._tokens.pop(token_id, None)

    # -- internals (called with the lock held) ---------------------------------------------

    def _token(self, token_id: str, width: int) -> _Token:
        token = self._tokens.get(token_id)
        if token is not None and token.width == width:
            self._tokens.move_to_end(token_id)
            return token
        # new, or features of another width (another model): start afresh, keeping the count and any alert
        fresh = _Token(width=width, window=self.window)
        if token is not None:
            fresh.queries, fresh.alerted = token.queries, token.alerted
        self._tokens[token_id] = fresh
        self._tokens.move_to_end(token_id)
        while len(self._tokens) > self.max_tokens:
            self._tokens.popitem(last=False)
        return fresh

    def _prada(
        self, token_id: str, token: _Token, rows: FloatArray, labels: Sequence[object]
    ) -> ExtractionAlert | None:
        points = rows.astype(np.float32)
        for i, label in enumerate(labels):
            token.queries += 1
            x = points[i]
            digest = hash(x.tobytes())
            if bool(np.any(token.hashes.held() == digest)):
                token.repeats += 1
                continue
            token.hashes.add(digest)
            key: Hashable = label if isinstance(label, Hashable) else repr(label)
            history = token.classes.get(key)
            if history is None and len(token.classes) >= _MAX_CLASSES:
                key = _OTHER
                history = token.classes.get(key)
            if history is None:
                token.classes[key] = _History(x, self.max_history)
                continue
            distance = history.nearest(x)
            if distance == 0.0:
                token.repeats += 1
                continue
            if distance <= self.near_radius:
                scale, where = token.near, f"within {self.near_radius:g} of an earlier query (near repeats)"
            else:
                scale, where = token.far, "to earlier queries"
                if distance > history.threshold:
                    history.admit(x, distance, self.max_history)
            w = scale.add(distance, self.check_every, self.min_distances)
            if w is not None and w < self.delta:
                token.queries += len(labels) - i - 1
                held = len(scale.ring.held())
                return ExtractionAlert(
                    token_id=token_id,
                    test="prada",
                    statistic=w,
                    threshold=self.delta,
                    queries=token.queries,
                    detail=(
                        f"PRADA: Shapiro-Wilk W={w:.3f} < {self.delta:g} for the last {held} distances {where} "
                        f"after {token.queries} queries: spaced like synthetic probes, not natural inputs"
                    ),
                )
        return None

    def _cover(self, token: _Token, rows: FloatArray) -> None:
        token.binary &= np.all((rows == 0.0) | (rows == 1.0), axis=0)
        token.touched |= np.any(rows != 0.0, axis=0)
        token.sum_sq += np.einsum("ij,ij->j", rows, rows)
        r, c = np.nonzero(np.abs(rows) < _BIN_EDGE)
        index = np.floor((rows[r, c] + _BIN_EDGE) / _BIN_WIDTH).astype(np.intp)
        token.bins[c, np.clip(index, 0, _NUM_BINS - 1)] = True

    def _coverage(self, token_id: str, token: _Token) -> ExtractionAlert | None:
        if self.min_coverage == 0 or token.queries < self.min_coverage:
            return None
        spread = token.spread()
        if not spread < self.spread_limit:  # NaN (no numeric column) passes
            return None
        return ExtractionAlert(
            token_id=token_id,
            test="coverage",
            statistic=spread,
            threshold=self.spread_limit,
            queries=token.queries,
            detail=(
                f"coverage: the numeric features of {token.queries} queries spread {1 / spread:.1f} times as widely "
                f"(median mean square) as the training data's (limit {1 / self.spread_limit:g}): "
                "the queries fill the input ranges like uniform probing"
            ),
        )


def _shapiro_w(distances: FloatArray) -> float:
    """Shapiro-Wilk W of ``distances`` with outliers (beyond 3 sigma) left out; 0.0 if they are all equal."""
    spread = float(distances.std())
    if spread > 0.0:
        distances = distances[np.abs(distances - distances.mean()) <= _OUTLIER_SIGMAS * spread]
    if len(distances) < 3 or float(np.ptp(distances)) == 0.0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(_shapiro(distances).statistic)
