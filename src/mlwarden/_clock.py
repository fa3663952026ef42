"""Time, in one place: the clock type every component takes, and the two ways times are written.

Components take a ``clock`` (a :data:`Clock`, :func:`utc_now` by default) so that tests pass a fixed or
stepping clock instead of sleeping. Times on disk and in the log are RFC 3339 strings in UTC with a ``Z``:

* :func:`timestamp`: whole seconds, ``2026-11-25T17:00:00Z``: when a record was made (key versions,
  data keys, dataset and model versions, signatures, the workspace itself);
* :func:`event_time`: microseconds, ``2026-11-25T17:00:00.123456Z``: audit entries and principals, where
  the order of events within a second matters. Strings of one kind sort as the times they name.

:func:`parse_time` reads what a user types (``2026-11-25``, ``2026-11-25T10:00Z``; no zone means UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "event_time", "parse_time", "timestamp", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """A record's time: RFC 3339, UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_time(moment: datetime) -> str:
    """An audit entry's time: RFC 3339, UTC, microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 time or date as an aware datetime (UTC when no zone is given).

    Raises ValueError when ``text`` is not a time; callers say which option held it.
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
