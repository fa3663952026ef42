"""Per-token rate limits and daily quotas, over HTTP and on :class:`RateLimiter` itself.

The server's clocks are injected (``Service(limiter=RateLimiter(monotonic=..., now=...), clock=...)``),
so time passes when a test says so and no test sleeps. The wall clock is set in 2031, after any
real entry of the workspace's log, so that the quota seeded from the log counts only this test's
predictions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlwarden
from mlwarden.access import Limits, parse_token
from mlwarden.serve import ServeConfig, Service
from mlwarden.serve._loading import load_models
from mlwarden.serve._ratelimit import RateLimiter, Refusal

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)
URL = "/v1/models/credit-risk/predict"
START = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The server's two clocks: monotonic seconds (the rate) and UTC wall time (the day's quota)."""

    tick: float = 81_234.567  # not a round number: float sums must not matter
    wall: datetime = START

    def monotonic(self) -> float:
        return self.tick

    def now(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.tick += seconds
        self.wall += timedelta(seconds=seconds)


@dataclass
class Server:
    where: Served
    clock: Clock
    tokens: dict[str, str]
    opened: list[tuple[mlwarden.Workspace, Any]] = field(default_factory=list)
    client: Any = None
    service: Any = None

    def start(self) -> None:
        """(Re)start the server on the same workspace: a new process, as far as the limits know."""
        from fastapi.testclient import TestClient

        from mlwarden.serve import create_app

        ws = self.where.open(self.where.tokens["operator"])
        config = ServeConfig(models=("credit-risk", "fraud-risk"), extraction_monitor=False)
        models, _ = load_models(ws, config)
        limiter = RateLimiter(monotonic=self.clock.monotonic, now=self.clock.now)
        self.service = Service(ws, config, models, limiter=limiter, clock=self.clock.now)
        self.service.seed_quotas()
        self.client = TestClient(create_app(self.service, close_on_shutdown=False), base_url="http://mlwarden.test")
        self.client.__enter__()
        self.opened.append((ws, self.client))

    def stop(self) -> None:
        for ws, client in self.opened:
            client.__exit__(None, None, None)
            ws.close()
        self.opened.clear()

    def predict(self, who: str, body: bytes | None = None, model: str = "credit-risk") -> Any:
        content = body if body is not None else json.dumps({"instances": [self.where.rows[0]]}).encode()
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json"}
        return self.client.post(f"/v1/models/{model}/predict", headers=headers, content=content)

    def statuses(self, who: str, count: int) -> list[int]:
        return [self.predict(who).status_code for _ in range(count)]

    def token_id(self, who: str) -> str:
        parsed = parse_token(self.tokens[who])
        assert parsed is not None
        return parsed.token_id


@pytest.fixture
def server(served_copy: Served) -> Iterator[Server]:
    """A server on a private copy, with clients limited to 5 a minute, 3 a day, and two with defaults."""
    tokens: dict[str, str] = {}
    with served_copy.open(served_copy.tokens["admin"]) as admin:
        _, tokens["rate"] = admin.users.add("c-rate", "client", rate_limit=5)
        _, tokens["rate-twin"] = admin.users.add("c-rate-twin", "client", rate_limit=5)
        _, tokens["quota"] = admin.users.add("c-quota", "client", rate_limit=1000, daily_quota=3)
        _, tokens["credit-only"] = admin.users.add("c-credit-only", "client", scopes=("credit-*",), rate_limit=2)
        _, tokens["other"] = admin.users.add("c-other", "client")
    server = Server(served_copy, Clock(), tokens)
    server.start()
    yield server
    server.stop()


def _retry_after(response: Any) -> int:
    assert response.status_code == 429, response.text
    text = response.headers["Retry-After"]
    assert text.isdigit(), text  # delta-seconds: a non-negative integer (RFC 9110)
    seconds = int(text)
    assert seconds >= 1
    return seconds


# -- the rate --------------------------------------------------------------------------------------


def test_a_burst_of_the_rate_passes_the_next_is_429(server: Server) -> None:
    assert server.statuses("rate", 5) == [200] * 5
    refused = server.predict("rate")
    assert _retry_after(refused) == 12  # one request every 60 / 5 seconds
    assert "5 requests per minute" in refused.json()["error"]
    assert set(refused.json()) == {"error"}


def test_waiting_retry_after_lets_one_request_through(server: Server) -> None:
    server.statuses("rate", 5)
    wait = _retry_after(server.predict("rate"))
    server.clock.advance(wait - 1)
    assert server.predict("rate").status_code == 429
    server.clock.advance(1)
    assert server.predict("rate").status_code == 200
    assert server.predict("rate").status_code == 429


def test_a_minute_of_rest_refills_the_burst_and_no_more(server: Server) -> None:
    server.statuses("rate", 6)
    server.clock.advance(3600)
    assert server.statuses("rate", 6) == [200] * 5 + [429]


def test_refused_requests_do_not_count(server: Server) -> None:
    server.statuses("rate", 5)
    assert set(server.statuses("rate", 30)) == {429}
    server.clock.advance(12)
    assert server.predict("rate").status_code == 200


def test_limits_are_per_token(server: Server) -> None:
    assert server.statuses("rate", 6)[-1] == 429
    assert server.statuses("rate-twin", 5) == [200] * 5
    assert server.statuses("other", 20) == [200] * 20


def test_429_is_audited_with_the_reason(server: Server) -> None:
    server.statuses("rate", 5)
    start = server.service.ws._audit.size()
    server.predict("rate")
    (entry,) = list(server.service.ws._audit.entries(start))
    assert (entry.action, entry.outcome, entry.principal) == ("predict", "denied", "c-rate")
    assert entry.resource == "model:credit-risk"
    assert entry.details == {"token": server.token_id("rate"), "reason": "rate"}
    assert entry.time.startswith("2031-03-14T")  # stamped by the server's clock


def test_a_refusal_by_grant_or_token_costs_nothing(server: Server) -> None:
    """Grant and authentication come before the limits: their refusals do not use up the rate."""
    for _ in range(5):
        assert server.predict("credit-only", model="fraud-risk").status_code == 403
        assert server.predict("credit-only", model="no-such-model").status_code == 403
    assert server.statuses("credit-only", 3) == [200, 200, 429]


def test_invalid_bodies_count_against_the_rate(server: Server) -> None:
    """Limits come before the body is read: a client cannot make the server parse garbage past its rate."""
    assert [server.predict("rate", b"{garbage").status_code for _ in range(5)] == [422] * 5
    assert server.predict("rate", b"{garbage").status_code == 429
    assert server.predict("rate").status_code == 429


def test_new_limits_apply_to_a_running_server(server: Server) -> None:
    assert server.statuses("other", 3) == [200] * 3
    with server.where.open(server.where.tokens["admin"]) as admin:
        admin.users.set_limits("c-other", rate_limit=2)
    assert server.statuses("other", 3) == [200, 200, 429]
    with server.where.open(server.where.tokens["admin"]) as admin:
        admin.users.set_limits("c-other", daily_quota=6)
    # 5 counted today (3 + 2); the rate refills: one more, then the quota.
    server.clock.advance(60)
    assert server.statuses("other", 2) == [200, 429]
    assert "6 requests per day" in server.predict("other").json()["error"]


# -- the daily quota -------------------------------------------------------------------------------


def test_the_quota_is_refused_until_midnight_utc(server: Server) -> None:
    server.clock.wall = datetime(2031, 3, 14, 23, 0, tzinfo=UTC)
    assert server.statuses("quota", 3) == [200] * 3
    refused = server.predict("quota")
    assert _retry_after(refused) == 3600
    assert "3 requests per day" in refused.json()["error"]
    server.clock.advance(1800.5)
    assert _retry_after(server.predict("quota")) == 1800  # 1799.5 s, rounded up
    server.clock.advance(1799)
    assert _retry_after(server.predict("quota")) == 1  # half a second left: never 0
    start = server.service.ws._audit.size()
    server.predict("quota")
    (entry,) = list(server.service.ws._audit.entries(start))
    assert entry.details == {"token": server.token_id("quota"), "reason": "quota"}


def test_a_new_day_resets_the_quota(server: Server) -> None:
    server.clock.wall = datetime(2031, 3, 14, 23, 59, 59, tzinfo=UTC)
    assert server.statuses("quota", 4) == [200, 200, 200, 429]
    server.clock.advance(1)
    assert server.statuses("quota", 4) == [200, 200, 200, 429]


def test_a_restarted_server_keeps_the_days_count(server: Server) -> None:
    assert server.statuses("quota", 2) == [200, 200]
    server.predict("quota", b"{not json")  # 422: predicted nothing, but counted, here and in the log
    server.stop()
    server.start()
    assert server.statuses("quota", 1) == [429]  # the log holds two predictions and one failed request
    server.stop()
    server.start()
    assert server.predict("quota").status_code == 429
    # The next day (by the server's clock), a restarted server starts afresh.
    server.stop()
    server.clock.wall = START + timedelta(days=1)
    server.start()
    assert server.statuses("quota", 4) == [200, 200, 200, 429]


def test_a_restart_does_not_carry_yesterdays_count(server: Server) -> None:
    server.clock.wall = datetime(2031, 3, 14, 23, 59, 58, tzinfo=UTC)
    assert server.statuses("quota", 3) == [200] * 3
    server.stop()
    server.clock.advance(3)  # 00:00:01 the next day
    server.start()
    assert server.statuses("quota", 3) == [200] * 3


# -- RateLimiter on its own ------------------------------------------------------------------------


def _limiter(clock: Clock) -> RateLimiter:
    return RateLimiter(monotonic=clock.monotonic, now=clock.now)


def test_limiter_burst_refill_and_cap() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limits = Limits(rate_limit=60, daily_quota=10_000)
    assert [limiter.take("t", limits) for _ in range(60)] == [None] * 60
    assert limiter.take("t", limits) == Refusal("rate", 1, 60)
    clock.advance(0.5)
    assert limiter.take("t", limits) == Refusal("rate", 1, 60)  # half a request: never 0 s
    clock.advance(0.5)
    assert limiter.take("t", limits) is None
    clock.advance(10_000)
    assert sum(limiter.take("t", limits) is None for _ in range(100)) == 60


def test_limiter_cost_and_refusals_cost_nothing() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limits = Limits(rate_limit=10, daily_quota=25)
    assert limiter.take("t", limits, cost=8) is None
    assert limiter.take("t", limits, cost=3) == Refusal("rate", 6, 10)  # one missing: 6 s at 10 a minute
    assert limiter.take("t", limits, cost=2) is None
    assert limiter.used_today("t") == 10
    clock.advance(60)
    assert limiter.take("t", limits, cost=10) is None
    clock.advance(60)
    # Noon and two minutes: 12 h less 120 s to midnight.
    assert limiter.take("t", limits, cost=6) == Refusal("quota", 43_200 - 120, 25)
    assert limiter.take("t", limits, cost=5) is None
    assert limiter.used_today("t") == 25


def test_limiter_seed_applies_to_its_day_only() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limits = Limits(rate_limit=1000, daily_quota=5)
    limiter.seed("2031-03-14", {"a": 4, "b": 5})
    assert limiter.take("a", limits) is None
    assert limiter.take("a", limits) is not None
    assert limiter.take("b", limits) is not None
    assert limiter.take("c", limits) is None
    other = _limiter(clock)
    other.seed("2031-03-13", {"a": 5})  # yesterday's counts
    assert other.take("a", limits) is None


def test_limiter_a_seeded_count_ends_with_its_day() -> None:
    clock = Clock(wall=datetime(2031, 3, 14, 23, 59, 59, tzinfo=UTC))
    limiter = _limiter(clock)
    limits = Limits(rate_limit=1000, daily_quota=5)
    limiter.seed("2031-03-14", {"a": 5})
    assert limiter.take("a", limits) == Refusal("quota", 1, 5)
    clock.advance(1)
    assert [limiter.take("a", limits) for _ in range(5)] == [None] * 5


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 10**9),
    start=st.floats(0, 1e7, allow_nan=False),
    used=st.floats(0, 1),
)
def test_waiting_retry_after_is_always_enough(rate: int, start: float, used: float) -> None:
    """Whatever the rate and the clock's value, a client that waits exactly Retry-After is served."""
    clock = Clock(tick=start)
    limiter = _limiter(clock)
    limits = Limits(rate_limit=rate, daily_quota=10 * rate)
    assert limiter.take("t", limits, cost=rate) is None  # the whole burst
    clock.advance(used * 60 / rate)  # part of one request refilled
    refusal = limiter.take("t", limits)
    if refusal is None:
        return  # (used close to 1: a whole request refilled)
    assert refusal.what == "rate"
    needed = (1 - used) * 60 / rate  # seconds until one whole request is back
    assert refusal.retry_after >= 1
    assert refusal.retry_after - 1 < needed + 1e-6  # not a second longer than needed
    clock.advance(refusal.retry_after)
    assert limiter.take("t", limits) is None


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 120),
    steps=st.lists(st.tuples(st.floats(0, 30, allow_nan=False), st.integers(1, 5)), min_size=1, max_size=60),
)
def test_no_more_than_the_bucket_allows_in_any_schedule(rate: int, steps: list[tuple[float, int]]) -> None:
    """Over t seconds a token gets at most rate + rate * t / 60 requests, and its refusals change nothing."""
    clock = Clock()
    limiter = _limiter(clock)
    limits = Limits(rate_limit=rate, daily_quota=10**9)
    elapsed = 0.0
    granted = 0
    for wait, tries in steps:
        clock.advance(wait)
        elapsed += wait
        for _ in range(tries):
            granted += limiter.take("t", limits) is None
        assert granted <= rate + rate * elapsed / 60 + 1e-6
    assert limiter.used_today("t") == granted


def test_limiter_keeps_the_days_count_of_a_dropped_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlwarden.serve._ratelimit as ratelimit

    monkeypatch.setattr(ratelimit, "_MAX_TOKENS", 2)
    clock = Clock()
    limiter = _limiter(clock)
    limits = Limits(rate_limit=1000, daily_quota=3)
    assert [limiter.take("a", limits) for _ in range(3)] == [None] * 3
    limiter.take("b", limits)
    limiter.take("c", limits)  # a's bucket is dropped here (memory is bounded)...
    assert limiter.take("a", limits) == Refusal("quota", 43_200, 3)  # ...but not its day's count
    # A count dropped on one day does not outlive it.
    assert [limiter.take(t, limits) for t in ("b", "c", "d")] == [None] * 3  # a is dropped again
    clock.advance(86_400)
    assert [limiter.take("a", limits) for _ in range(3)] == [None] * 3
