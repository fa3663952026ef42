"""The one module for time (mlwarden._clock): the two written forms and what users may type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlwarden._clock import event_time, parse_time, timestamp, utc_now

moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC))


def test_written_forms() -> None:
    moment = datetime(2026, 11, 25, 18, 0, 1, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert timestamp(moment) == "2026-11-25T17:00:01Z"
    assert event_time(moment) == "2026-11-25T17:00:01.123456Z"
    assert utc_now().tzinfo is UTC


@given(moments, moments)
def test_event_times_sort_as_the_times_they_name(a: datetime, b: datetime) -> None:
    assert (event_time(a) < event_time(b)) == (a < b)
    assert parse_time(event_time(a)) == a


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        ("2026-11-25T10:00Z", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00+02:00", datetime(2026, 11, 25, 8, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_dates_and_zones(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


def test_parse_time_refuses_what_is_not_a_time() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_time("yesterday")
