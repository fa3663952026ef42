"""Reissuing a principal's token: the new one works, the old one is refused at once, all recorded."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import mlwarden
from mlwarden.config import Settings
from mlwarden.errors import AccessDenied, BadInput, NotFound

Workspace = mlwarden.Workspace


def test_reissue_replaces_the_token(settings: Settings, admin: Workspace) -> None:
    before, old = admin.users.add("bob", "scientist", scopes=("credit-*",), expires=timedelta(days=1))
    after, new = admin.users.reissue("bob", expires=timedelta(days=30))
    assert new != old
    assert after.token_id != before.token_id
    assert (after.role, after.scopes) == ("scientist", ("credit-*",))
    assert after.expires is not None
    assert before.expires is not None
    assert after.expires > before.expires
    with pytest.raises(AccessDenied, match="not valid"):
        Workspace.open(settings=settings, token=old)
    bob = Workspace.open(settings=settings, token=new)
    assert bob.principal.name == "bob"
    bob.close()
    (done,) = [e for e in admin._audit.entries() if e.details.get("granted_token") == after.token_id]
    assert done.outcome == "succeeded"
    assert done.details["revoked_token"] == before.token_id
    refused = [e for e in admin._audit.entries() if e.action == "auth.token"]
    assert refused[-1].details["token"] == before.token_id
    assert admin.log.verify().ok


def test_reissue_keeps_the_lifetime_unless_given(admin: Workspace) -> None:
    before, _ = admin.users.add("bob", "scientist", expires=timedelta(hours=2))
    after, _ = admin.users.reissue("bob")
    assert after.expires == before.expires


def test_reissue_is_refused_outside_the_grant_rules(settings: Settings, admin: Workspace) -> None:
    _, steward_token = admin.users.add("sam", "steward", scopes=("credit-*",))
    admin.users.add("hr-analyst", "scientist", scopes=("hr-*",))
    _, scientist_token = admin.users.add("bob", "scientist", scopes=("credit-*",))
    sam = Workspace.open(settings=settings, token=steward_token)
    with pytest.raises(AccessDenied, match="wider than"):
        sam.users.reissue("hr-analyst")
    with pytest.raises(AccessDenied, match="may not grant role admin"):
        sam.users.reissue(admin.principal.name)
    _, fresh = sam.users.reissue("bob")  # within the steward's own grants
    assert fresh != scientist_token
    sam.close()
    bob = Workspace.open(settings=settings, token=fresh)
    with pytest.raises(AccessDenied, match=r"user\.manage"):
        bob.users.reissue("bob")
    bob.close()
    denied = [e for e in admin._audit.entries() if e.action == "user.manage" and e.outcome == "denied"]
    assert len(denied) == 3


def test_reissue_of_a_revoked_or_unknown_principal(admin: Workspace) -> None:
    admin.users.add("bob", "scientist")
    admin.users.revoke("bob")
    with pytest.raises(BadInput, match="revoked"):
        admin.users.reissue("bob")
    with pytest.raises(NotFound):
        admin.users.reissue("nobody")
    admin.users.add("eve", "client")
    with pytest.raises(BadInput, match="100 years"):
        admin.users.reissue("eve", expires=timedelta(days=40000))


def test_cli_token_and_log_filters(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(MLWARDEN_HOME=str(tmp_path / "ws"), MLWARDEN_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())

    def run(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {} if token is None else {"MLWARDEN_TOKEN": token}
        return subprocess.run(
            [sys.executable, "-m", "mlwarden", *args], env={**env, **extra}, capture_output=True, text=True
        )

    assert run("init").returncode == 0
    old = run("user", "add", "bob", "--role", "scientist").stdout.strip()
    reissued = run("user", "token", "bob", "--expires", "7d")
    assert reissued.returncode == 0, reissued.stderr
    new = reissued.stdout.strip()
    assert new != old
    assert "shown only once" in reissued.stderr
    refused = run("data", "ls", token=old)
    assert refused.returncode == 3
    assert run("data", "ls", token=new).returncode == 0
    assert run("user", "token", "bob", "--expires", "forever").returncode == 2

    def shown(*filters: str) -> list[dict[str, object]]:
        proc = run("log", "show", "--json", *filters)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    assert {e["principal"] for e in shown("--principal", "bob")} == {"bob"}
    assert [e["action"] for e in shown("--principal", "-")] == ["auth.token"]
    assert {e["action"] for e in shown("--action", "user.")} == {"user.manage"}
    assert all(e["outcome"] == "denied" for e in shown("--outcome", "denied"))
    assert len(shown("--outcome", "denied")) == 1
    assert {e["resource"] for e in shown("--resource", "user:bob")} == {"user:bob"}
    assert shown("--action", "dataset.write") == []
