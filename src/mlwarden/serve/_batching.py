"""Adaptive micro-batching: concurrent requests for one model share one call of its predictor.

A request's rows join a queue. When no batch is running, a flush is scheduled for the end of the
current event-loop turn, so every request parsed in that turn joins it; while a batch runs, the
next one gathers. Under light load a request waits for nothing; under heavy load batches grow by
themselves (as in BentoML's and Triton's adaptive batching) and a predictor whose cost hardly
depends on the batch size, as scikit-learn's does, serves many requests for the price of one.

Compiled predictors (numpy arithmetic, microseconds) run on the event loop; others run on a
worker thread, so the loop keeps accepting requests meanwhile. Results are split back row for row:
batching changes no prediction (the tests compare with scikit-learn on single rows).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy

    from mlwarden.serve._predictor import Prediction, Predictor

__all__ = ["MicroBatcher"]


@dataclass
class _Waiting:
    batch: Mapping[str, numpy.ndarray]
    rows: int
    future: asyncio.Future[Prediction]


class MicroBatcher:
    """Gathers rows for ``predictor`` into batches of at most ``max_rows`` (one request is never split)."""

    def __init__(
        self, predictor: Predictor, *, max_rows: int = 512, observe: Callable[[int, float], None] | None = None
    ) -> None:
        """``observe(rows, seconds)`` is told the size and compute time of each batch (for metrics)."""
        self._predictor = predictor
        self.observe = observe
        self._max_rows = max_rows
        self._queue: list[_Waiting] = []
        self._running = False
        self._scheduled = False
        self.batches = 0
        self.rows = 0

    async def predict(self, batch: Mapping[str, numpy.ndarray], rows: int) -> Prediction:
        loop = asyncio.get_running_loop()
        waiting = _Waiting(batch, rows, loop.create_future())
        self._queue.append(waiting)
        if not self._running and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)
        return await waiting.future

    def _start(self) -> None:
        self._scheduled = False
        if self._running or not self._queue:
            return
        taken: list[_Waiting] = []
        rows = 0
        while self._queue and (not taken or rows + self._queue[0].rows <= self._max_rows):
            item = self._queue.pop(0)
            taken.append(item)
            rows += item.rows
        self._running = True
        asyncio.get_running_loop().create_task(self._run(taken))

    async def _run(self, taken: list[_Waiting]) -> None:
        try:
            started = time.perf_counter()
            merged = _merge([w.batch for w in taken])
            if self._predictor.compiled:
                result = self._predictor.predict(merged)
            else:
                result = await asyncio.to_thread(self._predictor.predict, merged)
            rows = sum(w.rows for w in taken)
            self.batches += 1
            self.rows += rows
            if self.observe is not None:
                self.observe(rows, time.perf_counter() - started)
            start = 0
            for w in taken:
                if not w.future.done():
                    w.future.set_result(_slice(result, start, start + w.rows))
                start += w.rows
        except Exception as exc:
            for w in taken:
                if not w.future.done():
                    w.future.set_exception(exc)
        finally:
            self._running = False
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start)


def _merge(batches: list[Mapping[str, numpy.ndarray]]) -> Mapping[str, numpy.ndarray]:
    if len(batches) == 1:
        return batches[0]
    import numpy as np

    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _slice(result: Prediction, start: int, stop: int) -> Prediction:
    from mlwarden.serve._predictor import Prediction

    return Prediction(
        labels=result.labels[start:stop],
        proba=result.proba[start:stop],
        features=None if result.features is None else result.features[start:stop],
    )
