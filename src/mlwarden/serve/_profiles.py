"""Live profiles: what each served model is asked and answers, counted into windows; never the rows.

Each served version whose model has a drift reference profile (made at training, its SHA-256
signed into the provenance) gets a :class:`LiveWindow`: a :class:`~mlwarden.monitor.ProfileCounts`
against that profile. Every answered request, once its audit entry is written, hands the window
its validated rows and its predictions: on the event loop that is a list append. Every
:data:`~mlwarden.monitor._profile.FOLD_ROWS` rows, the waiting requests are binned in one
vectorised pass on the profiles' own worker thread (one thread, so each window has one writer and
its batches are counted in order): per column the counts of its bins, of the pairs of columns'
joint levels, of the prediction scores and labels. The rows' arrays are then dropped: at most a
few hundred rows per served version wait in memory, and nothing stored names a value, only bin
counts.

A window closes every ``drift_window`` seconds, when its version is switched out (once its last
request is answered) and when the server stops (:meth:`LiveProfiles.flush`, from
``Service.drain``). A fresh one takes its place at once; the closed one is counted to its end on
the worker thread, then, on another thread, so that no request waits,

1. stored encrypted in the workspace (``ws.monitoring.record_window``: one ``model.serve``
   decision, ``what=drift-window``, with its rows and times; a window with no rows is not stored);
2. compared with the reference (:func:`mlwarden.monitor.compare`), which sets the gauges of
   ``/metrics``: ``mlwarden_drift_psi``, ``mlwarden_drift_p_value`` and ``mlwarden_drift_detected``
   per model and column (the prediction's as columns ``prediction:score`` and
   ``prediction:label``), and ``mlwarden_drift_rows`` per model.

A window that cannot be counted, stored or compared is logged and counted
(``mlwarden_drift_window_failures_total{model}``); serving goes on (a window that could not be
counted is not stored: its counts would be short). A killed server loses the window in progress;
a graceful stop stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlwarden._clock import timestamp

if TYPE_CHECKING:
    from mlwarden.monitor import DriftReport, ProfileCounts, ReferenceProfile
    from mlwarden.serve._loading import ServedModel
    from mlwarden.serve._predictor import Prediction
    from mlwarden.serve._service import Service

__all__ = ["LiveProfiles", "LiveWindow"]

log = logging.getLogger("mlwarden.serve")

_Part = tuple[Any, Any, Any]  # a request's (validated columns, probabilities, labels)


class LiveWindow:
    """One served version's window: its counts, when it started, the requests not binned yet."""

    def __init__(self, profile: ReferenceProfile, started: str) -> None:
        from mlwarden.monitor import ProfileCounts

        self.counts = ProfileCounts(profile)
        """Written only on the profiles' worker thread until the window is closed and counted."""
        self.started = started
        self.rows = 0
        """Rows handed to the window (binned or waiting)."""
        self.failed = False
        self._parts: list[_Part] = []
        self._waiting = 0

    def add(self, batch: Any, prediction: Prediction, rows: int, fold_rows: int) -> list[_Part] | None:
        """Take one request's rows; the parts to bin now when enough are waiting."""
        self._parts.append((batch, prediction.proba, prediction.labels))
        self.rows += rows
        self._waiting += rows
        return self.take() if self._waiting >= fold_rows else None

    def take(self) -> list[_Part]:
        parts, self._parts, self._waiting = self._parts, [], 0
        return parts


def _count(counts: ProfileCounts, parts: list[_Part]) -> None:
    """Bin ``parts`` into ``counts`` (on the profiles' worker thread), merged into one batch first: one
    concatenation per column rather than a pass over the requests per column."""
    import numpy as np

    if len(parts) > 1 and all(p[0].keys() == parts[0][0].keys() for p in parts):
        batch = {name: np.concatenate([p[0][name] for p in parts]) for name in parts[0][0]}
        proba = np.concatenate([p[1] for p in parts])
        labels = [label for p in parts for label in p[2]]
        parts = [(batch, proba, labels)]
    for batch, proba, labels in parts:
        counts.add_columns(batch, proba=proba, labels=labels)
    counts.fold()


class LiveProfiles:
    """The windows of ``service``'s models: counting, closing, storing, comparing."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self.interval = service.config.drift_window
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def _now(self) -> str:
        return timestamp(self._service.clock())

    async def _binned(self, counts: ProfileCounts, parts: list[_Part]) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlwarden-profiles")
        await asyncio.get_running_loop().run_in_executor(self._executor, _count, counts, parts)

    # -- on the event loop's thread ------------------------------------------------------------

    def open(self, served: ServedModel) -> None:
        """Start counting ``served``'s traffic (nothing when off, or the model has no profile)."""
        if self.enabled and served.profile is not None:
            served.window = LiveWindow(served.profile, self._now())

    def add(self, served: ServedModel, batch: Any, prediction: Prediction, rows: int) -> None:
        """Hand one answered request's rows and predictions to its version's window."""
        window = served.window
        if window is None:
            return
        from mlwarden.monitor._profile import FOLD_ROWS

        parts = window.add(batch, prediction, rows, FOLD_ROWS)
        if parts:
            self._service.spawn(self._fold(served, window, parts))

    async def _fold(self, served: ServedModel, window: LiveWindow, parts: list[_Part]) -> None:
        try:
            await self._binned(window.counts, parts)
        except Exception:  # never fail an answer for its statistics
            if not window.failed:
                window.failed = True
                self._service.metrics.drift_window_failures.labels(served.name).inc()
                log.exception("the live profile of %s@%d could not count its rows", served.name, served.version)

    def close(self, served: ServedModel, *, reopen: bool) -> asyncio.Task[None] | None:
        """Close ``served``'s window (a fresh one follows if ``reopen``); the background work that
        counts, stores and compares it, or ``None`` when there was nothing to close."""
        window = served.window
        if window is None:
            return None
        served.window = None
        if reopen:
            self.open(served)
        if window.rows == 0:
            return None
        return self._service.spawn(self._settle(served, window, self._now()))

    def start(self) -> None:
        """Close every window each ``drift_window`` seconds (on the event loop)."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._rotate(), name="mlwarden-drift-windows")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def flush(self) -> None:
        """Close the window of every model served (at shutdown: what was counted is stored)."""
        for served in list(self._service.models.values()):
            self.close(served, reopen=False)

    async def _rotate(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for served in list(self._service.models.values()):
                self.close(served, reopen=True)

    # -- off the loop --------------------------------------------------------------------------

    async def _settle(self, served: ServedModel, window: LiveWindow, ended: str) -> None:
        """Count the closed window to its end (after its earlier batches: one worker thread), store
        and compare it on another thread; then set the gauges."""
        await self._fold(served, window, window.take())
        if window.failed:
            log.error(
                "the live-profile window of %s@%d (%s to %s) is not stored: some of its rows could not be counted",
                served.name,
                served.version,
                window.started,
                ended,
            )
            return
        report = await asyncio.to_thread(self._store_and_compare, served, window, ended)
        if report is not None:
            self._gauges(served.name, report, window.counts.rows)

    def _store_and_compare(self, served: ServedModel, window: LiveWindow, ended: str) -> DriftReport | None:
        from mlwarden.monitor import compare

        failures = self._service.metrics.drift_window_failures.labels(served.name)
        if served.info is None or served.profile is None:  # open() gave it no window
            return None
        counts = window.counts
        try:
            self._service.ws.monitoring.record_window(
                served.info,
                profile_sha256=served.profile.sha256,
                started_at=window.started,
                ended_at=ended,
                counts=counts,
            )
        except Exception as exc:
            failures.inc()
            log.error(
                "the live-profile window of %s@%d (%s to %s, %d rows) could not be stored: %s: %s",
                served.name,
                served.version,
                window.started,
                ended,
                counts.rows,
                type(exc).__name__,
                exc,
            )
        try:
            return compare(served.profile, counts)
        except Exception as exc:
            failures.inc()
            log.error("the live-profile window of %s@%d could not be compared: %s", served.name, served.version, exc)
            return None

    def _gauges(self, model: str, report: DriftReport, rows: int) -> None:
        metrics = self._service.metrics
        tests = [(c.column, c) for c in report.columns] + [(f"prediction:{c.column}", c) for c in report.prediction]
        for column, test in tests:
            psi = test.effect.get("psi")
            metrics.drift_psi.labels(model, column).set(math.nan if psi is None else float(psi))
            metrics.drift_p_value.labels(model, column).set(float(test.p_value))
            metrics.drift_detected.labels(model, column).set(1.0 if test.drift else 0.0)
        metrics.drift_rows.labels(model).set(rows)
        drifted = [column for column, test in tests if test.drift]
        if drifted:
            log.warning("drift in %s's live traffic (%d rows): %s", model, rows, ", ".join(drifted[:10]))
