"""``mlwarden user add --rate-limit/--quota``, ``user limits``, ``user suspend`` and ``user resume``, end to end.

One workspace carries the whole story (each CLI call costs about 0.3 s).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

TOKEN = re.compile(r"mlw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")

Proc = subprocess.CompletedProcess[bytes]
ErrorCheck = Callable[..., str]


def users(ws: Any) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in json.loads(ws.ok("user", "ls", "--json").stdout)}


def token_of(proc: Proc) -> str:
    (line,) = proc.stdout.decode().splitlines()
    assert TOKEN.fullmatch(line), line
    return line


def test_limits_and_suspension_end_to_end(workspace: Any, check_error: ErrorCheck) -> None:
    ws = workspace
    added = json.loads(ws.ok("user", "add", "scorer", "--role", "client", "--rate-limit", "120", "--json").stdout)
    assert (added["rate_limit"], added["daily_quota"], added["state"]) == (120, 50_000, "active")
    scorer = ws.cli.with_env(MLWARDEN_TOKEN=added["token"])
    sci_token = token_of(ws.ok("user", "add", "sci", "--role", "scientist", "--quota", "900"))

    shown = ws.ok("user", "limits", "scorer").stdout.decode()
    assert shown.strip() == "limits of scorer: 120 requests per minute (set), 50,000 requests per UTC day (default)"
    changed = ws.ok("user", "limits", "scorer", "--rate-limit", "default", "--quota", "5000").stdout.decode()
    assert "600 requests per minute (default), 5,000 requests per UTC day (set)" in changed
    listed = users(ws)
    assert (listed["scorer"]["rate_limit"], listed["scorer"]["daily_quota"]) == (600, 5000)
    assert (listed["sci"]["rate_limit"], listed["sci"]["daily_quota"]) == (600, 900)

    # suspended: the token is refused, naming why and how to lift it
    ws.ok("user", "suspend", "scorer", "--reason", "looks like extraction")
    line = check_error(scorer.run("data", "ls"), 3, "suspended", "looks like extraction", "mlwarden user resume scorer")
    assert "MLWARDEN_TOKEN" in line
    listed = users(ws)
    assert (listed["scorer"]["state"], listed["scorer"]["suspended_reason"]) == ("suspended", "looks like extraction")
    table = ws.ok("user", "ls").stdout.decode().splitlines()
    assert table[0].split()[:4] == ["NAME", "KIND", "ROLE", "STATE"]
    assert "RATE/MIN" in table[0]
    assert "QUOTA/DAY" in table[0]
    (row,) = [r for r in table[1:] if r.startswith("scorer ")]
    assert row.split()[:4] == ["scorer", "user", "client", "suspended"]
    assert " 600 " in row
    assert " 5,000* " in row
    check_error(ws.run("user", "suspend", "scorer"), 2, "already suspended")

    # a scientist may do none of this; the last admin cannot be suspended
    scientist = ws.cli.with_env(MLWARDEN_TOKEN=sci_token)
    check_error(scientist.run("user", "resume", "scorer"), 3, "user.manage")
    check_error(scientist.run("user", "limits", "scorer", "--quota", "9"), 3, "user.manage")
    check_error(scientist.run("user", "limits", "scorer"), 3, "user.read")
    (admin,) = [name for name, u in listed.items() if u["role"] == "admin"]
    check_error(ws.run("user", "suspend", admin), 2, "last active admin")

    resumed = ws.ok("user", "resume", "scorer").stdout.decode()
    assert "resumed scorer" in resumed
    assert "active" in resumed
    check_error(scorer.run("data", "ls"), 3, "lacks permission dataset.list")  # authenticated again
    check_error(ws.run("user", "resume", "scorer"), 2, "not suspended")

    log = [json.loads(line) for line in ws.ok("log", "show", "--json").stdout.decode().splitlines()]
    changes = [(e["details"].get("change"), e["outcome"]) for e in log if e["resource"] == "user:scorer"]
    assert ("limits", "allowed") in changes
    assert ("suspend", "allowed") in changes
    assert ("resume", "allowed") in changes
    suspension = next(e for e in log if e["details"].get("change") == "suspend")
    assert (suspension["outcome"], suspension["details"]["reason"]) == ("allowed", "looks like extraction")


def test_bad_limit_values_are_one_line_errors(workspace: Any, check_error: ErrorCheck) -> None:
    ws = workspace
    for args, option in (
        (("user", "add", "bob", "--role", "client", "--rate-limit", "0"), "--rate-limit"),
        (("user", "add", "bob", "--role", "client", "--quota", "lots"), "--quota"),
        (("user", "add", "bob", "--role", "client", "--rate-limit", "1000000001"), "--rate-limit"),
        (("user", "limits", "bob", "--quota", "-5"), "--quota"),
        (("user", "limits", "bob", "--rate-limit", "1.5"), "--rate-limit"),
    ):
        check_error(ws.run(*args), 2, option, "1 to 1,000,000,000")
    assert set(users(ws)) == {next(iter(users(ws)))}  # nothing was added
    check_error(ws.run("user", "limits", "nobody", "--quota", "5"), 2, "nobody")
    check_error(ws.run("user", "suspend", "nobody"), 2, "nobody")
    check_error(ws.run("user", "resume", "nobody"), 2, "nobody")
    long = "x" * 501
    ws.ok("user", "add", "bob", "--role", "client")
    check_error(ws.run("user", "suspend", "bob", "--reason", long), 2, "500")


def test_help_states_the_defaults(bare_cli: Any) -> None:
    proc = bare_cli.run("user", "add", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.decode().split())
    assert "default 600" in text
    assert "default 50,000" in text
    listed = bare_cli.run("user", "--help").stdout.decode()
    for command in ("limits", "suspend", "resume"):
        assert re.search(rf"^\s+{command}\b", listed, re.MULTILINE), listed
