"""The server's capacity per token and per address (:mod:`mlwarden.serve._admission`), and the budgets of 401s.

``tests/serve/test_slow_bodies.py`` runs the same against a real server under a flood.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlwarden.serve import Reply, ServeConfig
from mlwarden.serve._admission import Admission

Served = Any  # tests/serve/conftest.py's Served


def test_one_token_gets_its_share_of_the_slots_and_no_more() -> None:
    admission = Admission(ServeConfig(max_in_flight=64))
    taken = [admission.enter("a") for _ in range(64)]
    assert taken == [None] * 64  # alone, a token may use every slot
    admission = Admission(ServeConfig(max_in_flight=64))
    assert [admission.enter("a") for _ in range(32)] == [None] * 32
    # A second token arrives: the share is now 64 / 2 = 32 each.
    assert admission.enter("b") is None
    refused = admission.enter("a")
    assert refused is not None
    assert (refused.status, refused.reason) == (429, "busy-token")
    assert [admission.enter("b") for _ in range(31)] == [None] * 31
    full = admission.enter("c")
    assert full is not None
    assert (full.status, full.reason) == (503, "busy")
    for _ in range(32):
        admission.leave("a")
    assert admission.in_flight_by_token["a"] == 0
    assert "a" not in admission.in_flight_by_token
    assert admission.enter("c") is None


def test_the_share_is_at_least_eight_or_what_is_configured() -> None:
    admission = Admission(ServeConfig(max_in_flight=20))
    for token in "abcde":
        assert admission.enter(token) is None
    assert admission.share("f") == 8  # 20 / 6 tokens would be 3
    fixed = Admission(ServeConfig(max_in_flight=100, max_in_flight_per_token=5))
    assert [fixed.enter("a") is None for _ in range(6)] == [True] * 5 + [False]


def test_bodies_read_at_once_are_capped_per_token_and_per_address() -> None:
    admission = Admission(ServeConfig(max_reading_per_token=3, max_reading_per_client=5))
    assert [admission.start_reading("a", "10.0.0.1") for _ in range(3)] == [None] * 3
    by_token = admission.start_reading("a", "10.0.0.2")
    assert by_token is not None
    assert by_token.reason == "reading-token"
    assert [admission.start_reading("b", "10.0.0.1") for _ in range(2)] == [None] * 2
    by_address = admission.start_reading("c", "10.0.0.1")
    assert by_address is not None
    assert by_address.reason == "reading-client"
    assert admission.start_reading("c", "10.0.0.3") is None
    admission.done_reading("a", "10.0.0.1")
    assert admission.start_reading("c", "10.0.0.1") is None


def test_401s_are_budgeted_per_token_id_and_unknown_ids_share_one_budget(
    served_copy: Served, service_factory: Any
) -> None:
    """Spreading refusals over many client addresses fills the same budgets."""
    service = service_factory(served_copy, refusals_per_minute=5)
    real_id = served_copy.tokens["client-credit"][4:20]
    log = service.ws._audit

    async def refuse(count: int, token: str) -> list[Any]:
        start = log.size()
        for i in range(count):
            reply = await service.authenticate(f"Bearer {token.format(i=i)}", f"r{i}", client=f"10.0.{i}.1")
            assert isinstance(reply, Reply)
            assert reply.status == 401
        return [e for e in log.entries(start) if e.action == "auth.token"]

    wrong = asyncio.run(refuse(30, f"mlw_{real_id}_" + "A" * 43))
    assert len(wrong) == 5
    assert {e.details["reason"] for e in wrong} == {"wrong-secret"}
    unknown = asyncio.run(refuse(30, "mlw_{i:016x}_" + "A" * 43))
    assert len(unknown) == 5
    assert {e.details["reason"] for e in unknown} == {"unknown"}
    malformed = asyncio.run(refuse(30, "not-a-token-{i}"))
    assert malformed == []  # the one budget of unknown and malformed tokens is spent
    # Each refusal is counted once: recorded, or carried by the closing count.
    assert len(wrong) + len(unknown) + service.refusals.outstanding() == 90
