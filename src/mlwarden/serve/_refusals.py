"""How many refusals get an audit entry of their own: a flood of them must not flood the log.

Every refusal is answered (401, 403, 429) and counted in the metrics, but each audit entry is a
signed, fsynced write: anyone who can reach the port could otherwise make the server write
thousands a second with requests that carry no valid token. So each *source* gets up to
``budget`` entries per ``window`` seconds; past that its refusals are counted, not recorded, and
the next entry recorded for that source carries the count (``unrecorded``).

A refusal may be charged to several sources at once (:meth:`RefusalBudget.admit` with several
names): it is recorded only while every one of them has room, and when it is not, it is counted
against the first that has none, so each refusal is counted exactly once. The server charges a
401 to the client address *and* to the token id when the id exists (a wrong secret, a revoked,
expired or suspended token), or to the address and one budget shared by every unknown or
malformed token: a client that spreads its refusals over many addresses (or many made-up ids)
still fills one budget. 403s and 429s (and 408s) are charged to the token.
:meth:`RefusalBudget.outstanding` gives what is still uncounted when the server stops, for one
closing entry. Nothing is lost from the record but the individual
timestamps of a flood.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RefusalBudget"]


@dataclass
class _Source:
    window_start: float
    recorded: int
    unrecorded: int


class RefusalBudget:
    def __init__(
        self,
        *,
        budget: int = 60,
        window: float = 60.0,
        max_sources: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self.window = window
        self._max_sources = max_sources
        self._monotonic = monotonic
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._dropped = 0  # unrecorded refusals of sources forgotten to bound memory

    def admit(self, *sources: str) -> int | None:
        """``None``: count this refusal, do not record it. Otherwise record it, carrying this many earlier
        unrecorded ones (of all ``sources``)."""
        now = self._monotonic()
        entries = [self._entry(source, now) for source in dict.fromkeys(sources)]
        for entry in entries:
            if entry.recorded >= self.budget:
                entry.unrecorded += 1
                return None
        carried = 0
        for entry in entries:
            entry.recorded += 1
            carried, entry.unrecorded = carried + entry.unrecorded, 0
        return carried

    def _entry(self, source: str, now: float) -> _Source:
        entry = self._sources.get(source)
        if entry is None:
            entry = _Source(now, 0, 0)
            self._sources[source] = entry
            if len(self._sources) > self._max_sources:
                self._dropped += self._sources.popitem(last=False)[1].unrecorded
        else:
            self._sources.move_to_end(source)
        if now - entry.window_start >= self.window:
            entry.window_start, entry.recorded = now, 0
        return entry

    def knows(self, source: str) -> bool:
        """Whether a refusal was charged to ``source`` (and it is still remembered)."""
        return source in self._sources

    def outstanding(self) -> int:
        """Refusals counted but not yet carried by any recorded entry (and forgets them)."""
        total = self._dropped + sum(s.unrecorded for s in self._sources.values())
        self._dropped = 0
        for entry in self._sources.values():
            entry.unrecorded = 0
        return total
