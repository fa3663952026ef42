"""A real uvicorn server against slow bodies, forwarded headers and percent-encoded paths.

The server runs in a background thread of the test process (``uvicorn.Server`` with the options
``mlwarden serve`` gives uvicorn, :func:`mlwarden.serve._server.uvicorn_options`), on a free port;
the clients are raw sockets (asyncio streams), so every byte on the wire is the test's.

The flood: many connections of one token send complete headers and a few bytes of a body, then
nothing. Before bodies had a deadline and the slots were taken only once a body was complete,
the first 1,024 of them held every slot for as long as they liked and everyone else got 503.
Here another token's predictions, sent while the flood is open, must all succeed; their p99 is
shown (``-s``), not asserted: ``benchmarks/serving.py --flood`` measures it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mlwarden.serve import ServeConfig, Service, create_app
from mlwarden.serve._server import uvicorn_options

pytestmark = pytest.mark.slow

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)
PREDICT = "/v1/models/credit-risk/predict"
FLOOD = 1_100
BUDGET = 20  # refusals recorded one by one per source and minute


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Running:
    where: Served
    service: Service
    port: int
    tokens: dict[str, str]

    def request(self, token: str, *, path: str = PREDICT, body: bytes | None = None, extra: str = "") -> bytes:
        content = json.dumps({"instances": [self.where.rows[0]]}).encode() if body is None else body
        head = (
            f"POST {path} HTTP/1.1\r\nHost: mlwarden.test\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n{extra}"
        )
        return (head + "\r\n").encode() + content

    def exchange(self, data: bytes, timeout: float = 10.0) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(data)
            received = b""
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                while chunk := conn.recv(65536):
                    received += chunk
        return received

    def entries(self, start: int) -> list[Any]:
        return list(self.service.ws._audit.entries(start))


@contextlib.contextmanager
def _serving(where: Served, tokens: dict[str, str], **options: Any) -> Iterator[Running]:
    import uvicorn

    from mlwarden.serve._http import HeaderDeadlineProtocol

    ws = where.open(where.tokens["operator"])
    config = ServeConfig(
        port=_free_port(), models=("credit-risk",), extraction_monitor=False, refusals_per_minute=BUDGET, **options
    )
    HeaderDeadlineProtocol.header_timeout = config.header_timeout
    service = Service.start(config, ws)
    server = uvicorn.Server(uvicorn.Config(create_app(service, close_on_shutdown=False), **uvicorn_options(config)))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive(), "the server stopped before it listened"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield Running(where, service, config.port, tokens)
    finally:
        server.should_exit = True
        thread.join(30)
        ws.close()


@pytest.fixture(scope="module")
def clients(served: Served, tmp_path_factory: pytest.TempPathFactory) -> tuple[Served, dict[str, str]]:
    where = served.copy(tmp_path_factory.mktemp("slow") / "ws")
    tokens: dict[str, str] = {}
    with where.open(where.tokens["admin"]) as admin:
        for name in ("flood", "victim", "slow"):
            _, tokens[name] = admin.users.add(f"c-{name}", "client", rate_limit=10**6, daily_quota=10**7)
    return where, tokens


@pytest.fixture(scope="module")
def running(clients: tuple[Served, dict[str, str]]) -> Iterator[Running]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * FLOOD + 1024  # both ends of every connection live in this process
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    where, tokens = clients
    with _serving(where, tokens, body_timeout=3.0, body_grace=1.0, body_min_rate=64) as server:
        yield server


def _statuses(received: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


async def _slow_sender(port: int, head: bytes) -> bytes:
    """Headers and a few bytes of the body, then nothing: whatever the server answers, until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b'{"inst')
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()


async def _victim(port: int, request: bytes, seconds: float) -> tuple[list[int], list[float]]:
    """Keep-alive predictions, one after the other, for ``seconds``: their statuses and latencies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses: list[int] = []
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            start = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses.extend(_statuses(head))
            if b"connection: close" in head.lower():
                break
    finally:
        writer.close()
    return statuses, latencies


def test_a_slow_body_flood_of_one_token_does_not_stop_another(running: Running) -> None:
    flood_token = running.tokens["flood"]
    size = len(json.dumps({"instances": [running.where.rows[0]]}))
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {flood_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    victim = running.request(running.tokens["victim"])
    start = running.service.ws._audit.size()

    flood_id = flood_token[4:20]
    reading = running.service.admission.reading_by_token
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, reading[flood_id])
            await asyncio.sleep(0.005)

    async def main() -> tuple[list[bytes], list[int], list[float]]:
        watcher = asyncio.ensure_future(watch())
        flood = [asyncio.ensure_future(_slow_sender(running.port, head)) for _ in range(FLOOD)]
        await asyncio.sleep(0.5)  # the flood is open
        statuses, latencies = await _victim(running.port, victim, 2.0)
        answers = await asyncio.gather(*flood)
        watcher.cancel()
        return answers, statuses, latencies

    answers, statuses, latencies = asyncio.run(main())
    assert statuses
    assert set(statuses) == {200}, sorted(set(statuses))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"victim: {len(latencies)} predictions during the flood, p99 {p99 * 1000:.1f} ms")
    # Every flood connection was answered and closed by the server: no more than the token's cap
    # of bodies was read at once (each ran out of time: 408), the others were refused at once (429).
    flood = [_statuses(answer) for answer in answers]
    assert all(len(s) == 1 for s in flood), [s for s in flood if len(s) != 1][:3]
    counted = {code: sum(s == [code] for s in flood) for code in (408, 429)}
    assert counted[408] + counted[429] == FLOOD
    cap = running.service.config.max_reading_per_token
    assert 0 < peak <= cap
    assert counted[408] >= cap
    assert counted[429] > FLOOD // 2
    assert all(b"connection: close" in answer.lower() for answer in answers)
    assert not reading
    assert running.service.admission.in_flight == 0
    # Refused, every one, and recorded within the token's budget: each entry carries the count of
    # those not recorded one by one, and what is still uncounted is handed over at the end.
    refused = [e for e in running.entries(start) if e.details.get("token") == flood_id]
    assert {(e.action, e.outcome, e.details["reason"]) for e in refused} <= {
        ("predict", "denied", "reading-token"),
        ("predict", "failed", "body-timeout"),
    }
    assert len(refused) <= 2 * BUDGET
    carried = sum(1 + int(e.details.get("unrecorded", 0)) for e in refused)
    assert carried + running.service.refusals.outstanding() == FLOOD


def test_a_body_below_the_minimum_rate_or_past_the_deadline_is_408_and_closed(running: Running) -> None:
    token = running.tokens["slow"]
    declared = 100_000

    async def trickle(step: bytes, every: float) -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        head = (
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        ).encode()
        start = time.perf_counter()
        writer.write(head)
        received = b""
        try:
            while not reader.at_eof():
                with contextlib.suppress(asyncio.TimeoutError):
                    received += await asyncio.wait_for(reader.read(65536), every)
                if not reader.at_eof():
                    writer.write(step)
        except ConnectionError:
            pass
        finally:
            writer.close()
        return received, time.perf_counter() - start

    async def both() -> list[tuple[bytes, float]]:
        # 10 bytes a second (under 64 after the grace of 1 s), and 2 KB a second (enough, but
        # 100 KB need longer than the deadline of 3 s).
        return list(await asyncio.gather(trickle(b" " * 2, 0.2), trickle(b" " * 400, 0.2)))

    (slow, slow_s), (steady, steady_s) = asyncio.run(both())
    assert _statuses(slow) == [408]
    assert b"slower than 64 bytes a second" in slow
    assert _statuses(steady) == [408]
    assert b"took longer than 3 s" in steady
    assert slow_s < 2.5 < steady_s  # the rate cut the first one short; the deadline the second
    assert b"connection: close" in slow.lower()
    assert b"connection: close" in steady.lower()


def test_percent_encoded_paths_are_not_routed(running: Running) -> None:
    """The path as sent decides: ``/v1/%6dodels/...`` is not the predict route, nor any other."""
    token = running.tokens["victim"]
    start = running.service.ws._audit.size()
    for path in (
        "/v1/%6dodels/credit-risk/predict",
        "/v1/models/credit%2Drisk/predict",
        "/v1/models/credit-risk/%70redict",
    ):
        answer = running.exchange(running.request(token, path=path, extra="Connection: close\r\n"))
        assert _statuses(answer) == [404], (path, answer[:200])
        assert answer.endswith(b'{"error":"Not Found"}')
    for path in ("/v1/%6dodels", "/health%7a", "/%6detrics"):
        answer = running.exchange(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert _statuses(answer) == [404], path
    assert running.entries(start) == []  # routed nowhere, so nothing was predicted or refused by token
    answer = running.exchange(running.request(token, extra="Connection: close\r\n"))
    assert _statuses(answer) == [200]


def _bad_tokens(running: Running, count: int, *, existing: bool, forwarded: bool) -> list[Any]:
    """``count`` refused tokens from as many claimed client addresses; the audit entries they left."""
    victim = running.tokens["victim"]
    start = running.service.ws._audit.size()
    for i in range(count):
        token_id = victim[4:20] if existing else f"{i:016x}"
        token = f"mlw_{token_id}_{'A' * 43}"
        extra = f"X-Forwarded-For: 198.51.{i // 250}.{i % 250 + 1}\r\nConnection: close\r\n" if forwarded else ""
        assert _statuses(running.exchange(running.request(token, extra=extra or "Connection: close\r\n"))) == [401]
    return [e for e in running.entries(start) if e.action == "auth.token"]


def test_forwarded_headers_are_ignored_unless_the_proxy_is_named(running: Running, clients: Any) -> None:
    """By default X-Forwarded-For is no one's word: 60 refusals claiming 60 addresses share one budget."""
    assert uvicorn_options(running.service.config)["proxy_headers"] is False
    recorded = _bad_tokens(running, 3 * BUDGET, existing=False, forwarded=True)
    assert running.service.refusals.knows("401 127.0.0.1")
    assert not running.service.refusals.knows("401 198.51.0.1")
    assert len(recorded) <= BUDGET
    where, tokens = clients
    with _serving(where, tokens, forwarded_allow_ips=("127.0.0.1",)) as trusting:
        options = uvicorn_options(trusting.service.config)
        assert options["proxy_headers"] is True
        assert options["forwarded_allow_ips"] == ["127.0.0.1"]
        # From a named proxy the address is believed; unknown ids still share one budget...
        recorded = _bad_tokens(trusting, 3 * BUDGET, existing=False, forwarded=True)
        assert trusting.service.refusals.knows("401 198.51.0.1")
        assert len(recorded) == BUDGET
        assert sum(1 + int(e.details.get("unrecorded", 0)) for e in recorded) <= 3 * BUDGET
        # ...and a wrong secret for a real id counts against that id, whatever the address.
        recorded = _bad_tokens(trusting, 3 * BUDGET, existing=True, forwarded=True)
        assert len(recorded) == BUDGET
        assert {e.details["reason"] for e in recorded} == {"wrong-secret"}
