"""Who may hold the server's capacity: bodies being read, and predictions in progress.

A predict request goes through two stages that hold something of the server's:

* **reading its body**: a connection, a file descriptor and up to ``max_body_bytes`` of memory.
  A body has a deadline and a minimum rate (enforced by the reader, see
  :class:`~mlwarden.serve._app.FastPath`), and at most ``max_reading_per_token`` bodies of one
  token and ``max_reading_per_client`` from one client address are read at once; past either,
  the request is refused at once (429) and its connection closed, so one token or one address
  with many slow connections cannot take the connections and memory that others need;
* **being answered** (validated, predicted, audited): one of ``max_in_flight`` slots, taken only
  once the body is complete, so a slow sender never holds a slot. One token holds at most its
  share of the slots: ``max_in_flight_per_token`` if set, else ``max(8, max_in_flight // N)``
  where N counts the tokens with a request in progress (this one's included); past its share a
  token gets 429, and past ``max_in_flight`` in all, everyone gets 503 (both with ``Retry-After``).

Everything here runs on the server's event loop (no locks): take and give back in the same task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mlwarden.serve._config import ServeConfig

__all__ = ["Admission", "BodyTooSlow", "Busy"]


class BodyTooSlow(Exception):
    """A request body missed its deadline or fell below the minimum rate (the message says which)."""


@dataclass(frozen=True)
class Busy:
    """A refusal: the HTTP status, the reason code recorded, the message and the ``Retry-After`` seconds."""

    status: int
    reason: str
    message: str
    retry_after: int = 1


class Admission:
    """The counts of bodies being read (per token, per client) and of requests in progress (per token)."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.reading_by_token: Counter[str] = Counter()
        self.reading_by_client: Counter[str] = Counter()
        self.in_flight_by_token: Counter[str] = Counter()
        self.in_flight = 0

    # -- bodies --------------------------------------------------------------------------------

    def start_reading(self, token_id: str, client: str | None) -> Busy | None:
        """Count one more body being read, or say why not (nothing is counted then)."""
        where = client or "-"
        if self.reading_by_token[token_id] >= self.config.max_reading_per_token:
            return Busy(
                429,
                "reading-token",
                f"this token already sends {self.config.max_reading_per_token} request bodies at once; "
                "send them faster or wait for the ones in progress",
            )
        if self.reading_by_client[where] >= self.config.max_reading_per_client:
            return Busy(
                429,
                "reading-client",
                f"this address already sends {self.config.max_reading_per_client} request bodies at once; "
                "send them faster or wait for the ones in progress",
            )
        self.reading_by_token[token_id] += 1
        self.reading_by_client[where] += 1
        return None

    def done_reading(self, token_id: str, client: str | None) -> None:
        where = client or "-"
        _decrement(self.reading_by_token, token_id)
        _decrement(self.reading_by_client, where)

    # -- requests in progress ------------------------------------------------------------------

    def share(self, token_id: str) -> int:
        """The most requests ``token_id`` may have in progress now."""
        if self.config.max_in_flight_per_token:
            return self.config.max_in_flight_per_token
        active = len(self.in_flight_by_token) + (token_id not in self.in_flight_by_token)
        return max(8, self.config.max_in_flight // active)

    def enter(self, token_id: str) -> Busy | None:
        """Take a slot for one request of ``token_id``, or say why not (nothing is taken then)."""
        if self.in_flight >= self.config.max_in_flight:
            return Busy(503, "busy", "the server is busy; retry shortly")
        share = self.share(token_id)
        if self.in_flight_by_token[token_id] >= share:
            return Busy(
                429,
                "busy-token",
                f"this token already has {share} requests in progress, its share of the server; retry shortly",
            )
        self.in_flight += 1
        self.in_flight_by_token[token_id] += 1
        return None

    def leave(self, token_id: str) -> None:
        self.in_flight -= 1
        _decrement(self.in_flight_by_token, token_id)


def _decrement(counts: Counter[str], key: str) -> None:
    """One less for ``key``; a key at zero is dropped, so the counters hold only what is in progress."""
    if counts[key] <= 1:
        counts.pop(key, None)
    else:
        counts[key] -= 1
