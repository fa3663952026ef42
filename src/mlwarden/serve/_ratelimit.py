"""Per-token request limits: a rate per minute (token bucket) and a quota per UTC day.

* **Rate.** Each token has a bucket holding up to ``rate_limit`` requests, refilled continuously
  at ``rate_limit / 60`` per second: a client idle for a minute may send a burst of a minute's
  worth, and no more than ``rate_limit`` in any minute after that. A refused request costs
  nothing and is answered with the seconds until one request is available again.
* **Quota.** Requests counted per token and UTC day; refused for the rest of the day once
  ``daily_quota`` is reached, with the seconds until midnight UTC. The server seeds the counts
  from the audit log when it starts, so a restart does not reset a day's quota.

Both are kept in the memory of one server process: with ``--workers N`` each worker enforces
the limits on the requests it serves (see ``docs/deploy.md``). Refused requests do not count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlwarden._clock import Clock, utc_now
from mlwarden.access import Limits

__all__ = ["RateLimiter", "Refusal"]

_MAX_TOKENS = 100_000  # buckets kept; the least recently used are dropped (idle, so full; their day's count is kept)


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused and when to retry: ``what`` is ``rate`` or ``quota``."""

    what: str
    retry_after: int
    limit: int


@dataclass
class _Bucket:
    level: float
    stamp: float
    day: str
    used_today: int


class RateLimiter:
    """Decides, per token id, whether one more request may go now."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Clock = utc_now,
    ) -> None:
        self._monotonic = monotonic
        self._now = now
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._seeded: dict[str, int] = {}
        self._seed_day = ""
        self._lock = threading.Lock()

    def seed(self, day: str, used: dict[str, int]) -> None:
        """Requests already served today (``day`` as ``YYYY-MM-DD``), per token id, e.g. from the log."""
        with self._lock:
            self._seed_day, self._seeded = day, dict(used)

    def take(self, token_id: str, limits: Limits, cost: int = 1) -> Refusal | None:
        """Count ``cost`` requests for ``token_id``, or say why not (nothing is counted then)."""
        wall = self._now()
        day = wall.strftime("%Y-%m-%d")
        tick = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(token_id)
            if bucket is None:
                used = self._seeded.pop(token_id, 0) if day == self._seed_day else 0
                bucket = _Bucket(float(limits.rate_limit), tick, day, used)
                self._buckets[token_id] = bucket
                if len(self._buckets) > _MAX_TOKENS:
                    self._retire(*self._buckets.popitem(last=False))
            else:
                self._buckets.move_to_end(token_id)
            if bucket.day != day:
                bucket.day, bucket.used_today = day, 0
            per_second = limits.rate_limit / 60.0
            bucket.level = min(float(limits.rate_limit), bucket.level + (tick - bucket.stamp) * per_second)
            bucket.stamp = tick
            if bucket.used_today + cost > limits.daily_quota:
                midnight = datetime(wall.year, wall.month, wall.day, tzinfo=UTC) + timedelta(days=1)
                wait = max(1, math.ceil((midnight - wall).total_seconds()))
                return Refusal("quota", wait, limits.daily_quota)
            if bucket.level < cost:
                wait = max(1, math.ceil((cost - bucket.level) / per_second))
                return Refusal("rate", wait, limits.rate_limit)
            bucket.level -= cost
            bucket.used_today += cost
            return None

    def _retire(self, token_id: str, bucket: _Bucket) -> None:
        """A bucket dropped to bound memory: it was idle (so full), but its day's count must survive."""
        if bucket.day != self._seed_day:
            if bucket.day < self._seed_day:
                return
            self._seed_day, self._seeded = bucket.day, {}
        self._seeded[token_id] = bucket.used_today

    def used_today(self, token_id: str) -> int:
        with self._lock:
            bucket = self._buckets.get(token_id)
            return 0 if bucket is None else bucket.used_today
