"""The extraction monitor through the server: a client probing the model is seen, a client scoring real rows is not.

The prober does what a model thief does with the published contract: it reads the input schema
from ``GET /v1/models`` and sends rows drawn uniformly over each numeric column's range and each
categorical column's categories, one row per request. The benign client sends the real credit rows
(``served.rows``), one per request, as many as the prober sent. The monitor (on by default) must
alert on the first and not on the second; an alert is an audit entry ``monitor.extraction`` naming
the token's public id. With ``suspend_on_extraction`` the token is then suspended (by
``mlwarden-serve``, recorded as ``user.suspend``), its next request is 401, ``mlwarden user ls``
shows it suspended, and an admin's ``resume_user`` lets it back in.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import pytest

from mlwarden.access import parse_token

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

MODEL = "credit-risk"
PREDICT = f"/v1/models/{MODEL}/predict"
QUERIES = 200  # what each client sends at most, one row per request (served.rows holds 200 real rows)
SEED = 7


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_client(where: Served, name: str) -> str:
    with where.open(where.tokens["admin"]) as ws:
        _, token = ws.users.add(name, "client", scopes=(MODEL,))
    return token


def synthetic_rows(input_schema: dict[str, Any], count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """Rows drawn uniformly over the published schema: each number in its range, each category equally likely."""
    draw = random.Random(seed)
    rows = []
    for _ in range(count):
        row: dict[str, Any] = {}
        for column, spec in input_schema["properties"].items():
            if "enum" in spec:
                row[column] = draw.choice(spec["enum"])
            else:
                row[column] = draw.uniform(spec["minimum"], spec["maximum"])
        rows.append(row)
    return rows


def extraction_alerts(where: Served) -> list[Any]:
    with where.open(where.tokens["auditor"]) as ws:
        return [e for e in ws.log.entries() if e.action == "monitor.extraction"]


def send(client: Any, service: Any, token: str, rows: list[dict[str, Any]]) -> list[int]:
    """One request per row; after each, the server's background work (an alert) is let finish.

    Stops after the first request that was refused (the token was suspended). Returns the statuses.
    """
    statuses = []
    for row in rows:
        answer = client.post(PREDICT, json={"instances": [row]}, headers=bearer(token))
        statuses.append(answer.status_code)
        client.portal.call(service.drain)
        if answer.status_code != 200:
            break
    return statuses


def published_schema(client: Any, token: str) -> dict[str, Any]:
    listed = client.get("/v1/models", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    [model] = listed.json()["models"]
    assert model["name"] == MODEL
    schema: dict[str, Any] = model["input_schema"]
    return schema


def test_a_prober_is_alerted_and_a_benign_client_is_not(
    served_copy: Served, service_factory: Any, app_client: Any
) -> None:
    service = service_factory(served_copy)
    assert set(service.monitors) == {"credit-risk", "fraud-risk"}, "the extraction monitor is on by default"
    client = app_client(service)
    prober, benign = add_client(served_copy, "prober"), add_client(served_copy, "benign")

    rows = synthetic_rows(published_schema(client, prober), QUERIES)
    statuses = send(client, service, prober, rows)
    assert set(statuses) == {200}  # alerted, not suspended: the server was not told to suspend
    [alert] = extraction_alerts(served_copy)
    prober_id = parse_token(prober).token_id  # type: ignore[union-attr]
    assert alert.details["token"] == prober_id
    assert alert.details["subject"] == "prober"
    assert alert.details["suspend"] is False
    assert alert.resource == f"model:{MODEL}"
    assert alert.principal == "mlwarden-serve"
    assert alert.outcome == "succeeded"
    assert float(alert.details["statistic"]) < float(alert.details["threshold"])
    assert alert.details["test"] in ("prada", "coverage")
    assert 0 < alert.details["queries"] <= QUERIES
    assert prober not in json.dumps(alert.details)
    with served_copy.open(served_copy.tokens["admin"]) as ws:
        assert ws.users.get("prober").state(ws.users.now()) == "active"

    # The benign client replays as many real rows as the prober sent queries: no alert.
    replayed = send(client, service, benign, served_copy.rows[: len(statuses)])
    assert replayed == [200] * len(statuses)
    assert [a.details["token"] for a in extraction_alerts(served_copy)] == [prober_id]
    benign_id = parse_token(benign).token_id  # type: ignore[union-attr]
    assert service.monitors["credit-risk"].stats(benign_id)["queries"] == len(statuses)
    assert service.monitors["credit-risk"].stats(benign_id)["alerted"] == 0
    # Each model has its own monitor: credit-risk's queries never reach fraud-risk's.
    assert service.monitors["fraud-risk"].stats(benign_id)["queries"] == 0
    assert service.monitors["fraud-risk"].stats(prober_id)["queries"] == 0


def test_with_suspend_on_extraction_the_prober_is_locked_out_until_an_admin_resumes_it(
    served_copy: Served, service_factory: Any, app_client: Any
) -> None:
    service = service_factory(served_copy, suspend_on_extraction=True)
    client = app_client(service)
    prober = add_client(served_copy, "prober")
    prober_id = parse_token(prober).token_id  # type: ignore[union-attr]

    rows = synthetic_rows(published_schema(client, prober), QUERIES)
    statuses = send(client, service, prober, rows)
    [alert] = extraction_alerts(served_copy)
    assert alert.details["token"] == prober_id
    assert alert.details["suspend"] is True
    # Every request up to the one that tripped the monitor was answered; the next one was refused.
    assert statuses == [200] * alert.details["queries"] + [401]
    refused = client.post(PREDICT, json={"instances": [served_copy.rows[0]]}, headers=bearer(prober))
    assert refused.status_code == 401
    assert "suspended" in refused.json()["error"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/v1/models", headers=bearer(prober)).status_code == 401

    with served_copy.open(served_copy.tokens["auditor"]) as ws:
        entries = list(ws.log.entries())
    [suspension] = [e for e in entries if e.action == "user.suspend"]
    assert suspension.principal == "mlwarden-serve"
    assert suspension.resource == "user:prober"
    assert suspension.details["suspended_token"] == prober_id
    assert suspension.seq > alert.seq
    denied = [e for e in entries if e.action == "auth.token" and e.details.get("token") == prober_id]
    assert denied
    assert {e.details["reason"] for e in denied} == {"suspended"}

    # `mlwarden user ls` shows it suspended, by the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(
        MLWARDEN_HOME=str(served_copy.settings.home),
        MLWARDEN_MASTER_KEY=served_copy.settings.master_key,
        MLWARDEN_TOKEN=served_copy.tokens["admin"],
    )
    listed = subprocess.run(
        [sys.executable, "-m", "mlwarden", "user", "ls", "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    [record] = [p for p in json.loads(listed.stdout) if p["name"] == "prober"]
    assert record["state"] == "suspended"
    assert record["suspended_by"] == "mlwarden-serve"
    assert "extraction monitor" in record["suspended_reason"]

    # An admin lifts the suspension: the same token is served again (and not alerted twice).
    with served_copy.open(served_copy.tokens["admin"]) as ws:
        ws.users.resume("prober")
    back = client.post(PREDICT, json={"instances": [served_copy.rows[0]]}, headers=bearer(prober))
    assert back.status_code == 200, back.text
    client.portal.call(service.drain)
    assert len(extraction_alerts(served_copy)) == 1


@pytest.mark.parametrize("suspend", [False, True], ids=["alert-only", "suspend"])
def test_the_monitor_can_be_turned_off(
    served_copy: Served, service_factory: Any, app_client: Any, suspend: bool
) -> None:
    service = service_factory(served_copy, extraction_monitor=False, suspend_on_extraction=suspend)
    assert service.monitors == {}
    client = app_client(service)
    prober = add_client(served_copy, "prober")
    rows = synthetic_rows(published_schema(client, prober), QUERIES)
    assert send(client, service, prober, rows) == [200] * QUERIES
    assert extraction_alerts(served_copy) == []
