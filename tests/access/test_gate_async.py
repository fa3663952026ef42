"""The gate's async variants (the inference server's): the same decisions and entries, through append_async."""

from __future__ import annotations

import asyncio

import pytest

import mlwarden
from mlwarden.access import Gate
from mlwarden.auditlog import AuditLog
from mlwarden.errors import AccessDenied


def _tail(ws: mlwarden.Workspace, n: int) -> list[tuple[str, str, str, str]]:
    return [(e.principal, e.action, e.resource, e.outcome) for e in list(ws._audit.entries())[-n:]]


def test_act_async_records_allowed_then_succeeded_through_append_async(
    admin: mlwarden.Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []
    original = AuditLog.append_async

    async def spy(self: AuditLog, event: object) -> int:
        used.append(event.outcome)  # type: ignore[attr-defined]
        return await original(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditLog, "append_async", spy)
    gate = admin._gate.for_request("ab" * 12)

    async def run() -> None:
        async with gate.act_async("log.read", "log") as act:
            act.record(size=1)

    asyncio.run(run())
    assert used == ["allowed", "succeeded"]
    assert _tail(admin, 2) == [(admin.principal.name, "log.read", "log", o) for o in ("allowed", "succeeded")]
    assert {e.request_id for e in list(admin._audit.entries())[-2:]} == {"ab" * 12}


def test_act_async_denies_and_records_failures(admin: mlwarden.Workspace) -> None:
    _, token = admin.users.add("client", "client")
    client = admin.authenticator.authenticate(token)

    async def denied() -> None:
        async with client.act_async("log.read", "log"):
            raise AssertionError("the body ran although denied")

    with pytest.raises(AccessDenied, match=r"lacks permission log\.read"):
        asyncio.run(denied())
    assert _tail(admin, 1) == [("client", "log.read", "log", "denied")]

    async def failing() -> None:
        async with client.act_async("predict", "model:m"):
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(failing())
    assert _tail(admin, 2) == [("client", "predict", "model:m", "allowed"), ("client", "predict", "model:m", "failed")]
    assert list(admin._audit.entries())[-1].details == {"token": client.principal.token_id, "error": "ValueError"}


def test_check_and_record_async(admin: mlwarden.Workspace) -> None:
    gate = admin._gate

    async def run() -> None:
        await gate.check_async("log.read", "log", what="x")
        await gate.record_async("predict", "model:m", outcome="failed", reason="too-large")

    asyncio.run(run())
    assert _tail(admin, 2) == [
        (admin.principal.name, "log.read", "log", "allowed"),
        (admin.principal.name, "predict", "model:m", "failed"),
    ]


def test_a_system_gate_holds_only_its_permissions_and_names_no_token(admin: mlwarden.Workspace) -> None:
    server = admin.authenticator.system("mlwarden-serve", permissions=frozenset({"user.suspend"}))
    assert isinstance(server, Gate)
    server.check("user.suspend", "user:x")
    with pytest.raises(AccessDenied):
        server.check("user.manage", "user:x")
    entries = list(admin._audit.entries())[-2:]
    assert [(e.principal, e.action, e.outcome) for e in entries] == [
        ("mlwarden-serve", "user.suspend", "allowed"),
        ("mlwarden-serve", "user.manage", "denied"),
    ]
    assert all("token" not in e.details for e in entries)


def test_one_authenticator_records_refused_tokens_for_the_workspace_and_the_server(
    admin: mlwarden.Workspace,
) -> None:
    with pytest.raises(AccessDenied, match="the token given was refused"):
        admin.authenticator.login("mlw_0123456789abcdef_" + "A" * 43)
    asyncio.run(admin.authenticator.record_refused_async(None, "no-token", request_id="cd" * 12, resource="serve"))
    assert _tail(admin, 2) == [("-", "auth.token", "workspace", "denied"), ("-", "auth.token", "serve", "denied")]
