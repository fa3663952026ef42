"""What the server records: one audit entry per prediction, written before the answer, equal to the answer.

Each 200 prediction must add exactly one ``predict``/``succeeded`` entry naming the principal, the
token id, the model (``name@version``, its SHA-256), the training dataset version, the request id
the client got, the SHA-256 of the exact body bytes, and the output exactly as the client got it;
the log still verifies afterwards. When the log cannot be written (a refused append, a database
locked by another writer, a log whose newest signed head no longer verifies) the answer is 503 and
carries no prediction. ``mlwarden log show --action predict`` lists the predictions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import _asgi as asgi
import pytest

from mlwarden.access import parse_token
from mlwarden.auditlog import AuditEvent, event_time
from mlwarden.errors import AuditUnavailable
from mlwarden.serve import OutputPolicy

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)
URL = "/v1/models/credit-risk/predict"
CLIENT = "client-credit"  # principal c-credit, scoped credit-*


@dataclass
class Audited:
    where: Served
    service: Any
    client: Any

    def post(self, body: bytes, token: str | None = None, url: str = URL) -> Any:
        headers = {"Authorization": f"Bearer {token or self.where.tokens[CLIENT]}", "Content-Type": "application/json"}
        return self.client.post(url, headers=headers, content=body)

    def size(self) -> int:
        size: int = self.service.ws._audit.size()
        return size

    def entries(self, start: int) -> list[Any]:
        return list(self.service.ws._audit.entries(start))


@pytest.fixture
def audited(served_copy: Served, service_factory: Any, app_client: Any) -> Audited:
    service = service_factory(served_copy, extraction_monitor=False)
    return Audited(served_copy, service, app_client(service))


def _token_id(token: str) -> str:
    parsed = parse_token(token)
    assert parsed is not None
    return parsed.token_id


def _bodies(rows: list[dict[str, Any]]) -> list[bytes]:
    """Bodies of 1 to 50 rows, written in several ways (spacing, key order): each is hashed as sent."""
    return [
        json.dumps({"instances": rows[:1]}).encode(),
        json.dumps({"instances": rows[:3]}, separators=(",", ":")).encode(),
        json.dumps({"instances": rows[:7]}, indent=2, sort_keys=True).encode(),
        b"  \n" + json.dumps({"instances": [dict(reversed(list(r.items()))) for r in rows[:50]]}).encode() + b"\n",
        json.dumps({"instances": rows[10:11]}, ensure_ascii=True).encode(),
    ]


def assert_prediction_entry(
    audited: Audited, entry: Any, body: bytes, response: Any, principal: str, token: str
) -> None:
    """``entry`` records ``response`` to ``body`` completely and exactly."""
    answer = response.json()
    info = audited.service.ws.models.info("credit-risk")
    assert (entry.action, entry.outcome, entry.principal, entry.resource) == (
        "predict",
        "succeeded",
        principal,
        "model:credit-risk",
    )
    assert entry.request_id == answer["request_id"]
    details = dict(entry.details)
    assert details["token"] == _token_id(token)
    assert details["model"] == f"credit-risk@{info.version}"
    assert details["digest"] == info.sha256 == answer["model"]["digest"]
    assert details["dataset"] == "credit-german@1"
    assert details["input"] == hashlib.sha256(body).hexdigest()
    assert details["instances"] == len(answer["predictions"])
    output = json.loads(details["output"])
    assert output["predictions"] == answer["predictions"]
    assert output.get("probabilities") == answer["probabilities"]
    # The secret of the token is not in the entry (its id is).
    assert token.split("_", 2)[2] not in json.dumps(entry.to_json())
    moment = datetime.fromisoformat(entry.time.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 3600


def test_each_prediction_adds_exactly_one_complete_entry(audited: Audited) -> None:
    token = audited.where.tokens[CLIENT]
    for body in _bodies(audited.where.rows):
        before = audited.size()
        response = audited.post(body)
        assert response.status_code == 200, response.text
        entries = audited.entries(before)
        assert len(entries) == 1  # already there when the answer arrived
        assert_prediction_entry(audited, entries[0], body, response, "c-credit", token)
    recorded = audited.size()
    auditor = audited.where.open(audited.where.tokens["auditor"])
    try:
        report = auditor.log.verify()
    finally:
        auditor.close()
    assert report.ok, report.problem
    assert report.size >= recorded  # every prediction is covered by the verified, signed tree


def test_the_entry_is_durable_before_the_answer_starts(audited: Audited, monkeypatch: pytest.MonkeyPatch) -> None:
    """Driven through the ASGI app: the append has completed before ``http.response.start`` is sent."""
    from mlwarden.serve import create_app

    events: list[str] = []
    log = audited.service.ws._audit
    original = log.append_async

    async def append_async(event: AuditEvent) -> int:
        seq: int = await original(event)
        events.append(f"audited {event.action} {event.outcome}")
        return seq

    monkeypatch.setattr(log, "append_async", append_async)
    app = create_app(audited.service, close_on_shutdown=False)
    body = json.dumps({"instances": audited.where.rows[:2]}).encode()
    token = audited.where.tokens[CLIENT]
    sent_body = [False]

    async def receive() -> dict[str, Any]:
        if sent_body[0]:
            return {"type": "http.disconnect"}
        sent_body[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            events.append(f"answered {message['status']}")

    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    asyncio.run(app(asgi.post_scope(URL, headers), receive, send))
    assert events == ["audited predict succeeded", "answered 200"]


def test_the_output_recorded_is_the_answer_under_each_output_policy(
    served_copy: Served, service_factory: Any, app_client: Any
) -> None:
    rows = served_copy.rows[:5]
    body = json.dumps({"instances": rows}).encode()
    token = served_copy.tokens[CLIENT]
    for policy in (OutputPolicy(labels_only=True), OutputPolicy(digits=2), OutputPolicy(digits=0)):
        service = service_factory(served_copy, extraction_monitor=False, default_output=policy)
        audited = Audited(served_copy, service, app_client(service))
        before = audited.size()
        response = audited.post(body)
        assert response.status_code == 200
        (entry,) = audited.entries(before)
        assert_prediction_entry(audited, entry, body, response, "c-credit", token)
        output = json.loads(entry.details["output"])
        if policy.labels_only:
            assert "probabilities" not in output
            assert response.json()["probabilities"] is None
        else:
            assert all(round(p, policy.digits) == p for row in output["probabilities"] for p in row)


def test_concurrent_predictions_each_have_their_own_entry(audited: Audited) -> None:
    rows = audited.where.rows[:60]
    token = audited.where.tokens[CLIENT]
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    before = audited.size()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(audited.post, bodies))
    assert [r.status_code for r in responses] == [200] * len(rows)
    entries = [e for e in audited.entries(before) if e.action == "predict"]
    assert len(entries) == len(rows)
    by_request = {e.request_id: e for e in entries}
    assert len(by_request) == len(rows)
    for body, response in zip(bodies, responses, strict=True):
        assert_prediction_entry(audited, by_request[response.json()["request_id"]], body, response, "c-credit", token)
    assert audited.service.ws._audit.verify().ok


def test_refusals_are_recorded_too(audited: Audited) -> None:
    """401 and 403 are recorded (auth.token / predict denied); a 422 predicted nothing and is recorded as failed."""
    before = audited.size()
    assert audited.post(b"{}", token="mlw_0123456789abcdef_" + "A" * 43).status_code == 401
    assert audited.post(b"{}", url="/v1/models/fraud-risk/predict").status_code == 403
    assert audited.post(b"{}").status_code == 422
    entries = audited.entries(before)
    assert [(e.action, e.outcome, e.details.get("reason")) for e in entries] == [
        ("auth.token", "denied", "unknown"),
        ("predict", "denied", "not-granted"),
        ("predict", "failed", "invalid-rows"),
    ]
    assert entries[0].details["token"] == "0123456789abcdef"
    assert entries[1].details["token"] == _token_id(audited.where.tokens[CLIENT])


# -- the log cannot be written: 503, and nothing disclosed ---------------------------------------


def assert_nothing_disclosed(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert set(response.json()) == {"error"}
    for word in (b"predictions", b"probabilities", b"request_id", b"good", b"bad"):
        assert word not in response.content


def test_503_when_the_log_refuses_the_append(audited: Audited, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(event: AuditEvent) -> int:
        raise AuditUnavailable("the audit log could not record this action (disk full), so it was refused")

    body = json.dumps({"instances": audited.where.rows[:3]}).encode()
    assert audited.post(body).status_code == 200
    before = audited.size()
    monkeypatch.setattr(audited.service.ws._audit, "append_async", refuse)
    assert_nothing_disclosed(audited.post(body))
    # Refusals cannot be recorded either: they are 503 too, not 401 or 403 without a trace.
    assert_nothing_disclosed(audited.post(body, token="mlw_0123456789abcdef_" + "A" * 43))
    assert_nothing_disclosed(audited.post(body, url="/v1/models/fraud-risk/predict"))
    monkeypatch.undo()
    assert audited.size() == before
    assert audited.post(body).status_code == 200


def test_503_while_another_writer_holds_the_database(audited: Audited) -> None:
    """A real failure: another connection holds the write lock past the busy timeout."""
    body = json.dumps({"instances": audited.where.rows[:3]}).encode()
    assert audited.post(body).status_code == 200
    # The server waits up to 30 s for the lock (mlwarden._sqlite.BUSY_TIMEOUT_S); cut that short here.
    audited.service.ws._audit._conn.execute("PRAGMA busy_timeout = 200")
    blocker = sqlite3.connect(audited.where.settings.home / "access.db", isolation_level=None, timeout=5)
    before = audited.size()
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        assert_nothing_disclosed(audited.post(body))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert audited.size() == before
    response = audited.post(body)
    assert response.status_code == 200, response.text
    (entry,) = audited.entries(before)
    assert entry.request_id == response.json()["request_id"]
    assert audited.service.ws._audit.verify().ok


def test_503_when_the_newest_signed_head_does_not_verify(audited: Audited) -> None:
    """A real failure: another process appended, then the head it signed was forged; the server must not build on it."""
    body = json.dumps({"instances": audited.where.rows[:3]}).encode()
    assert audited.post(body).status_code == 200
    other = audited.where.open(audited.where.tokens["auditor"])
    try:
        event = AuditEvent(event_time(datetime.now(UTC)), "a-auditor", "test.note", "log", "succeeded", "0" * 24)
        other._audit.append(event)
    finally:
        other.close()
    conn = sqlite3.connect(audited.where.settings.home / "access.db", isolation_level=None)
    try:
        conn.execute(
            "UPDATE audit_entries SET head_signature = ? WHERE seq = (SELECT MAX(seq) FROM audit_entries)", (bytes(64),)
        )
    finally:
        conn.close()
    assert_nothing_disclosed(audited.post(body))
    assert_nothing_disclosed(audited.post(body))


# -- the CLI shows the predictions ----------------------------------------------------------------


def test_log_show_lists_the_predictions(audited: Audited) -> None:
    ids = []
    for body in _bodies(audited.where.rows)[:3]:
        response = audited.post(body)
        assert response.status_code == 200
        ids.append(response.json()["request_id"])
    assert audited.post(b"{}", url="/v1/models/fraud-risk/predict").status_code == 403
    settings = audited.where.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(
        MLWARDEN_HOME=str(settings.home),
        MLWARDEN_MASTER_KEY=settings.master_key,
        MLWARDEN_TOKEN=audited.where.tokens["auditor"],
    )

    def show(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "mlwarden", "log", "show", "--action", "predict", *args],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout.decode()

    lines = [json.loads(line) for line in show("--json").splitlines()]
    assert {line["action"] for line in lines} == {"predict"}
    succeeded = [line for line in lines if line["outcome"] == "succeeded"]
    assert [line["request_id"] for line in succeeded] == ids
    assert all(line["principal"] == "c-credit" for line in lines)
    assert [line["details"]["reason"] for line in lines if line["outcome"] == "denied"] == ["not-granted"]
    text = show("--outcome", "succeeded").splitlines()
    assert len(text) == 3
    token_id = _token_id(audited.where.tokens[CLIENT])
    for line, request_id in zip(text, ids, strict=True):
        assert "c-credit" in line
        assert f"req={request_id[:8]}" in line
        assert f"token={token_id}" in line
        assert "model:credit-risk" in line
