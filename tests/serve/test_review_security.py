"""An adversarial review of the inference server: what a penetration tester tries that the other tests do not.

Each finding of the review is a test marked ``xfail(strict=True)`` whose reason names the function at
fault, what happens, why it matters and the fix suggested; each property that was checked and holds
is a plain test, so that it stays true. The areas:

* **paths and methods**: path variants (trailing slash, ``%0A``, ``//``, percent-encoding, case,
  look-alike characters, ``..``, very long names) and other methods answer a model that is not
  granted exactly as one that does not exist; nothing answers CORS;
* **authentication**: header variants, a cached principal edited or replaced, a change counter
  bypassed, the operator revoked while the server runs;
* **limits**: a concurrent burst over several models, the first second of a UTC day;
* **bodies**: the validator against its own JSON Schema (a differential test on synthetic schemas),
  odd JSON (surrogates, NUL, ``-0.0``, subnormals, nesting at the recursion limit, UTF-16,
  duplicate names);
* **audit**: a group commit that fails in the middle of concurrent requests; no body value or
  secret in the log, the server's log lines or the metrics; bounded metric labels;
* **exhaustion**: floods of refusals, idle connections, and HTTP framing on a real ``mlwarden serve``
  (marked slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlwarden
from mlwarden.access import new_token, parse_token
from mlwarden.auditlog import AuditUnavailable
from mlwarden.serve import ServeConfig, Service, create_app
from mlwarden.serve._loading import load_models
from mlwarden.serve._ratelimit import RateLimiter
from mlwarden.serve._validate import InvalidRows, RowValidator

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

PREDICT = "/v1/models/{}/predict"
GRANTED = "credit-risk"  # granted to c-credit (scope credit-*)
NOT_GRANTED = "fraud-risk"  # served, but not to c-credit
NO_SUCH = "risk-of-rain"  # a valid name that is not served
SERVED_MODELS = frozenset({"credit-risk", "fraud-risk"})
UNLIMITED = 10**9
REFUSAL_REASONS = frozenset(
    {
        "no-token",
        "malformed",
        "unknown",
        "wrong-secret",
        "revoked",
        "expired",
        "suspended",
        "tampered-record",
        "not-granted",
        "rate",
        "quota",
        "bad-length",
        "too-large",
        "invalid-json",
        "invalid-rows",
        "body-timeout",
        "reading-token",
        "reading-client",
        "busy-token",
        "busy",
        "encoded-path",
    }
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Review:
    where: Served
    service: Service
    client: Any  # fastapi.testclient.TestClient
    tokens: dict[str, str]

    @property
    def row(self) -> dict[str, Any]:
        return dict(self.where.rows[0])

    def body(self, rows: list[dict[str, Any]] | None = None) -> bytes:
        return json.dumps({"instances": rows if rows is not None else [self.row]}).encode()

    def post(self, path: str, who: str | None = "credit", body: bytes | None = None, **headers: str) -> Any:
        sent = dict(headers)
        if who is not None:
            sent.update(bearer(self.tokens[who]))
        return self.client.post(path, headers=sent, content=self.body() if body is None else body)

    def size(self) -> int:
        return self.service.ws._audit.size()

    def entries(self, start: int) -> list[Any]:
        return list(self.service.ws._audit.entries(start))


@pytest.fixture(scope="module")
def review(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Review]:
    """A server on a private copy, with clients of its own: credit-only, a burst of 10, a rate of 1, unlimited."""
    from fastapi.testclient import TestClient

    where = served.copy(tmp_path_factory.mktemp("review") / "ws")
    tokens = {"credit": where.tokens["client-credit"], "operator": where.tokens["operator"]}
    with where.open(where.tokens["admin"]) as admin:
        _, tokens["burst"] = admin.users.add("c-burst", "client", rate_limit=10, daily_quota=UNLIMITED)
        _, tokens["slow"] = admin.users.add("c-slow", "client", rate_limit=1, daily_quota=UNLIMITED)
        _, tokens["free"] = admin.users.add("c-free", "client", rate_limit=UNLIMITED, daily_quota=UNLIMITED)
    where = dataclasses.replace(where, tokens={**where.tokens, **tokens})
    ws = where.open(where.tokens["operator"])
    # Every refusal is recorded here (tests count entries); the flood test sets a budget of its own.
    service = Service.start(ServeConfig(extraction_monitor=False, refusals_per_minute=10_000_000), ws)
    client = TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test")
    client.__enter__()
    try:
        yield Review(where, service, client, tokens)
    finally:
        client.__exit__(None, None, None)
        ws.close()


def concurrently(service: Service, requests: list[tuple[str, dict[str, str], bytes]]) -> list[httpx.Response]:
    """POST every (path, headers, body) at once on one event loop, so their audit entries share group commits."""
    app = create_app(service, close_on_shutdown=False)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlwarden.test") as client:
            calls = [client.post(path, headers=headers, content=body) for path, headers, body in requests]
            return list(await asyncio.gather(*calls))

    return asyncio.run(main())


def shape(response: Any, *names: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers with each of ``names`` replaced by NAME: what a caller can compare."""
    body: bytes = response.content
    headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() != "date")
    for name in names:
        body = body.replace(name.encode(), b"NAME")
        headers = [(k, v.replace(name, "NAME")) for k, v in headers]
    return response.status_code, body, headers


# -- paths and methods ---------------------------------------------------------------------------

PATH_VARIANTS = {
    "plain": "/v1/models/{}/predict",
    "trailing slash": "/v1/models/{}/predict/",
    "double slash": "//v1/models/{}/predict",
    "trailing %0A": "/v1/models/{}/predict%0A",
    "trailing %00": "/v1/models/{}/predict%00",
    "query": "/v1/models/{}/predict?model=credit-risk",
    "name %0A": "/v1/models/{}%0A/predict",
    "name upper": "/v1/models/{}/predict",  # the name is upper-cased below
    "dot segment": "/v1/models/credit-risk/../{}/predict",
    "encoded dot segment": "/v1/models/credit-risk%2F..%2F{}/predict",
    "encoded slash": "/v1/models/{}%2Fpredict/predict",
    "semicolon": "/v1/models/{};credit-risk/predict",
}


@pytest.mark.parametrize("variant", sorted(PATH_VARIANTS))
def test_path_variants_answer_a_model_not_granted_as_one_that_does_not_exist(review: Review, variant: str) -> None:
    """No spelling of the path tells a caller whether a model it may not use exists, nor reaches it."""
    answers = []
    for name in (NOT_GRANTED, NO_SUCH):
        shown = name.upper() if variant == "name upper" else name
        path = PATH_VARIANTS[variant].format(shown)
        response = review.client.post(
            path, headers=bearer(review.tokens["credit"]), content=review.body(), follow_redirects=False
        )
        assert response.status_code != 200, (path, response.text)
        answers.append(shape(response, shown))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "name",
    [
        "credit\u2010risk",  # a hyphen look-alike
        "cr\u00e9dit-risk",
        "credit-risk\u0000",
        "CREDIT-RISK",
        "credit-risk.",
        " credit-risk",
        "credit-risk" + "x" * 10_000,
        "..",
        "*",
        "credit-*",
    ],
    ids=["lookalike", "accent", "nul", "upper", "dot", "space", "long", "dotdot", "star", "pattern"],
)
def test_names_that_only_resemble_a_granted_one_are_refused_and_recorded_safely(review: Review, name: str) -> None:
    start = review.size()
    response = review.post(PREDICT.format(urllib.parse.quote(name, safe="-._")))
    assert response.status_code in (403, 404), response.text
    entries = review.entries(start)
    if response.status_code == 403:
        (entry,) = entries
        assert (entry.action, entry.outcome, entry.details["reason"]) == ("predict", "denied", "not-granted")
        assert entry.resource in ("model:-", f"model:{name}")
        assert len(entry.resource) <= 200
    else:
        assert entries == []


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_on_a_predict_path_say_nothing_and_record_nothing(review: Review, method: str) -> None:
    """The same answer for a granted, a not-granted and an unknown model; no CORS; nothing audited."""
    start = review.size()
    headers = {
        **bearer(review.tokens["credit"]),
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    answers = []
    for name in (GRANTED, NOT_GRANTED, NO_SUCH):
        response = review.client.request(method, PREDICT.format(name), headers=headers)
        assert response.status_code in (404, 405)  # 405 now; 404 once the FastAPI predict route is gone
        assert not [k for k in response.headers if k.lower().startswith("access-control-")]
        answers.append(shape(response, name))
    assert answers[0] == answers[1] == answers[2]
    assert review.entries(start) == []


def test_no_ambient_credential_is_honoured(review: Review) -> None:
    """Cookies and a cross-site Origin do not authenticate (the body's content type does not matter then)."""
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = review.client.post(
            PREDICT.format(GRANTED),
            headers={"Content-Type": content_type, "Origin": "https://evil.example", "Cookie": "session=1"},
            content=review.body(),
        )
        assert response.status_code == 401
        assert not [k for k in response.headers if k.lower().startswith("access-control-")]


def test_unrouted_answers_have_the_documented_error_shape(review: Review) -> None:
    """404 and 405 come from FastAPI, not the service: still {"error": ...} and the same protective headers."""
    for method, path in (("GET", "/nope"), ("GET", PREDICT.format(GRANTED)), ("POST", "//v1/models/x/predict")):
        response = review.client.request(method, path, headers=bearer(review.tokens["credit"]))
        assert response.status_code in (404, 405)
        assert set(response.json()) == {"error"}
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_trailing_slash_is_not_redirected_to_the_host_header(review: Review) -> None:
    response = review.client.post(
        PREDICT.format(GRANTED) + "/",
        headers={**bearer(review.tokens["credit"]), "Host": "evil.example"},
        content=review.body(),
        follow_redirects=False,
    )
    assert "evil.example" not in response.headers.get("location", "")
    assert response.status_code != 307


def test_a_path_with_a_trailing_newline_is_not_a_predict_path(review: Review) -> None:
    response = review.post(PREDICT.format(GRANTED) + "%0A")
    assert response.status_code == 404, response.text


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status", "reason"),
    [
        ("bearer {}", 200, None),
        ("BEARER {}", 200, None),
        ("Bearer   {}", 200, None),
        ("Bearer {}  ", 200, None),
        ("Bearer\t{}", 401, "malformed"),
        ("Bearer {}x", 401, "malformed"),
        ("Bearer {} x", 401, "malformed"),
        ("Bearer {}, Basic dXNlcjpwdw==", 401, "malformed"),
        ("Token {}", 401, "malformed"),
        ("Bearer{}", 401, "malformed"),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else str(v),
)
def test_authorization_header_variants(review: Review, header: str, status: int, reason: str | None) -> None:
    token = review.tokens["credit"]
    start = review.size()
    response = review.client.post(
        PREDICT.format(GRANTED), headers={"Authorization": header.format(token)}, content=review.body()
    )
    assert response.status_code == status, response.text
    entries = review.entries(start)
    assert len(entries) == 1
    secret = token.split("_", 2)[2]
    assert secret.encode() not in json.dumps([e.details for e in entries]).encode()
    if reason is not None:
        (entry,) = entries
        assert (entry.action, entry.details["reason"]) == ("auth.token", reason)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="mlwarden"'


@pytest.fixture
def live(served_copy: Served, app_client: Any) -> Iterator[tuple[Served, Any, mlwarden.Workspace, list[datetime]]]:
    """A server with a clock of its own on a private copy, and an admin (another connection) changing principals."""
    moment = [datetime.now(UTC)]

    def clock() -> datetime:
        return moment[0]

    ws = mlwarden.Workspace.open(settings=served_copy.settings, token=served_copy.tokens["operator"])
    config = ServeConfig(extraction_monitor=False)
    models, _ = load_models(ws, config)
    client = app_client(Service(ws, config, models, clock=clock))
    admin = served_copy.open(served_copy.tokens["admin"])
    try:
        yield served_copy, client, admin, moment
    finally:
        admin.close()
        ws.close()


def _predict(client: Any, token: str, row: dict[str, Any], model: str = GRANTED) -> Any:
    return client.post(PREDICT.format(model), headers=bearer(token), json={"instances": [row]})


def test_a_cached_principal_edited_by_hand_is_refused_at_its_next_request(live: Any) -> None:
    where, client, admin, _ = live
    _, token = admin.users.add("c-cached", "client", scopes=("credit-*",))
    assert _predict(client, token, where.rows[0]).status_code == 200  # cached by the server now
    conn = sqlite3.connect(where.settings.home / "access.db")
    try:
        conn.execute("UPDATE principals SET scopes = '[\"*\"]' WHERE name = 'c-cached'")  # a scope widened by hand
        conn.commit()
    finally:
        conn.close()
    assert _predict(client, token, where.rows[0], NOT_GRANTED).status_code == 401
    assert _predict(client, token, where.rows[0]).status_code == 401


def test_a_principal_re_added_with_a_narrower_scope_gets_only_the_new_grant(live: Any) -> None:
    """The only way to reuse a name: re-adding over a record edited by hand. Nothing of the old one survives."""
    where, client, admin, _ = live
    _, old = admin.users.add("c-reborn", "client", scopes=("*",))
    assert _predict(client, old, where.rows[0], NOT_GRANTED).status_code == 200
    conn = sqlite3.connect(where.settings.home / "access.db")
    try:
        conn.execute("UPDATE principals SET created_by = 'someone' WHERE name = 'c-reborn'")
        conn.commit()
    finally:
        conn.close()
    _, new = admin.users.add("c-reborn", "client", scopes=("credit-*",))
    assert _predict(client, old, where.rows[0], NOT_GRANTED).status_code == 401
    assert _predict(client, old, where.rows[0]).status_code == 401
    assert _predict(client, new, where.rows[0], NOT_GRANTED).status_code == 403
    assert _predict(client, new, where.rows[0]).status_code == 200


@pytest.mark.parametrize("bypass", ["triggers dropped", "counter restored"])
def test_a_revocation_applies_even_if_the_change_counter_is_bypassed(live: Any, bypass: str) -> None:
    where, client, admin, moment = live
    _, token = admin.users.add("c-bypass", "client")
    assert _predict(client, token, where.rows[0]).status_code == 200  # cached
    conn = sqlite3.connect(where.settings.home / "access.db")
    try:
        if bypass == "triggers dropped":
            for trigger in ("insert", "update", "delete"):
                conn.execute(f"DROP TRIGGER principals_version_{trigger}")
            conn.commit()
            admin.users.revoke("c-bypass")
        else:
            (before,) = conn.execute("SELECT version FROM principals_version").fetchone()
            admin.users.revoke("c-bypass")
            conn.execute("UPDATE principals_version SET version = ?", (before,))
            conn.commit()
    finally:
        conn.close()
    moment[0] += timedelta(hours=1)  # whatever lifetime a fix gives cached principals has passed
    refused = _predict(client, token, where.rows[0])
    assert refused.status_code == 401, refused.text


def test_revoking_the_operator_stops_predictions_made_on_its_authority(live: Any) -> None:
    where, client, admin, _ = live
    token = where.tokens["client-credit"]
    assert _predict(client, token, where.rows[0]).status_code == 200
    admin.users.revoke("op")
    assert _predict(client, token, where.rows[0]).status_code != 200


# -- limits --------------------------------------------------------------------------------------


def test_a_concurrent_burst_over_several_models_gets_exactly_the_rate(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One token, rate 10 a minute, 60 requests at once spread over both models: 10 answered, 50 refused."""
    monkeypatch.setattr(review.service, "limiter", RateLimiter(monotonic=lambda: 1000.0))  # no refill meanwhile
    headers = bearer(review.tokens["burst"])
    requests = [(PREDICT.format(GRANTED if i % 2 else NOT_GRANTED), headers, review.body()) for i in range(60)]
    start = review.size()
    answers = concurrently(review.service, requests)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 10 + [429] * 50
    for refused in (r for r in answers if r.status_code == 429):
        assert refused.headers["Retry-After"].isdigit()
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    outcomes = sorted((e.outcome, e.details.get("reason")) for e in review.entries(start))
    assert outcomes == [("denied", "rate")] * 50 + [("succeeded", None)] * 10


def test_requests_in_the_first_second_of_a_utc_day_count_after_a_restart(served_copy: Served) -> None:
    wall = [datetime(2032, 6, 1, 0, 0, 0, 500_000, tzinfo=UTC)]

    def now() -> datetime:
        return wall[0]

    def start() -> tuple[Service, mlwarden.Workspace]:
        ws = served_copy.open(served_copy.tokens["operator"])
        config = ServeConfig(models=(GRANTED,), extraction_monitor=False)
        models, _ = load_models(ws, config)
        service = Service(ws, config, models, limiter=RateLimiter(now=now), clock=now)
        service.seed_quotas()
        return service, ws

    token = served_copy.tokens["client-credit"]
    token_id = parse_token(token)
    assert token_id is not None
    service, ws = start()
    try:
        body = json.dumps({"instances": [served_copy.rows[0]]}).encode()
        answers = concurrently(service, [(PREDICT.format(GRANTED), bearer(token), body)] * 3)
        assert [a.status_code for a in answers] == [200] * 3
    finally:
        ws.close()
    wall[0] += timedelta(seconds=2)
    service, ws = start()
    try:
        assert service.limiter.used_today(token_id.token_id) == 0  # not taken yet: the seed is looked up on take
        service.limiter.take(token_id.token_id, service.ws._principals.get("c-credit").limits)
        assert service.limiter.used_today(token_id.token_id) == 4
    finally:
        ws.close()


# -- bodies --------------------------------------------------------------------------------------


def _schema_value(draw: st.DrawFn) -> dict[str, Any]:
    columns = []
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=4, unique=True))
    for name in names:
        nullable = draw(st.booleans())
        if draw(st.booleans()):
            bound = st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-1000, 1000).map(float)
            low, high = sorted((draw(bound), draw(bound)))
            columns.append({"name": name, "type": "numeric", "min": low, "max": high, "nullable": nullable})
        else:
            count = draw(st.sampled_from([3, 1, 199, 200, 201, 3, 3, 0]))  # 0: nothing but null fits
            columns.append(
                {
                    "name": name,
                    "type": "categorical",
                    "categories": [f"k{i}" for i in range(count)],
                    "nullable": nullable,
                }
            )
    return {"columns": columns}


def _cell(draw: st.DrawFn, column: dict[str, Any]) -> Any:
    """Mostly a value the column accepts, often one at or just past an edge, sometimes anything."""
    odds = draw(st.integers(0, 10))
    if column["type"] == "numeric":
        low, high = column["min"], column["max"]
        if odds < 7:
            inside = st.floats(low, high)
            if math.ceil(low) <= math.floor(high):
                inside |= st.integers(math.ceil(low), math.floor(high))
            return draw(inside)
        if odds < 9:
            edges = [low, high, math.nextafter(low, -math.inf), math.nextafter(high, math.inf), -0.0, 5e-324]
            return draw(st.sampled_from(edges) | st.integers(math.floor(low) - 2, math.ceil(high) + 2))
        if odds < 10:
            return draw(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53))
        return draw(st.booleans() | st.text(max_size=2))
    categories = column["categories"]
    if odds < 8 and categories:
        return draw(st.sampled_from(categories))
    if odds < 9:
        return draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=4))
    return draw(st.integers(0, 3) | st.booleans())


Case = tuple[dict[str, Any], int, float, Any]  # input schema, max instances, range margin, "instances"


@st.composite
def _case(draw: st.DrawFn) -> Case:
    schema = _schema_value(draw)
    max_instances = draw(st.integers(1, 3))
    margin = draw(st.sampled_from([0.0, 0.5]))
    if draw(st.integers(0, 19)) == 7:  # not 0 or 19: hypothesis draws bounds often
        return schema, max_instances, margin, draw(st.sampled_from([None, "rows", 3, {"a": 1}]))
    count = draw(st.sampled_from([*range(1, max_instances + 1)] * 5 + [0, max_instances + 1]))
    rows: list[Any] = []
    for _ in range(count):
        if draw(st.integers(0, 29)) == 7:
            rows.append(draw(st.sampled_from([None, [], "row", 1])))
            continue
        row: dict[str, Any] = {}
        for column in schema["columns"]:
            how = draw(st.sampled_from(["value"] * 30 + ["null", "missing", "list", "object"]))
            if how == "value":
                row[column["name"]] = _cell(draw, column)
            elif how == "null":
                row[column["name"]] = None
            elif how == "list":
                row[column["name"]] = [1]
            elif how == "object":
                row[column["name"]] = {"v": 1}
        if draw(st.integers(0, 19)) == 7:
            row[draw(st.sampled_from(["z", "a", "", "A"]))] = 1
        rows.append(row)
    return schema, max_instances, margin, rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_case())
def test_the_validator_accepts_exactly_what_its_json_schema_accepts(case: Case) -> None:
    """On synthetic schemas (nullable columns, category lists cut at 200, margins), not only the credit data's."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema, max_instances, margin, instances = case
    validator = RowValidator(schema, max_instances=max_instances, range_margin=margin)
    try:
        validator.validate(instances)
        ours = True
    except InvalidRows:
        ours = False
    theirs = jsonschema_rs.validator_for(validator.json_schema()).is_valid({"instances": instances})
    assert ours == theirs, (schema, margin, instances)


def test_integers_beyond_2_to_the_53_are_judged_exactly() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = {"columns": [{"name": "n", "type": "numeric", "min": -(2.0**53), "max": 2.0**53}]}
    validator = RowValidator(schema)
    document = jsonschema_rs.validator_for(validator.json_schema())
    for value in (2**53 + 1, -(2**53) - 1):
        assert not document.is_valid({"instances": [{"n": value}]})
        with pytest.raises(InvalidRows):
            validator.validate([{"n": value}])


def _raw_row(review: Review, column: str, literal: str) -> bytes:
    body = json.dumps({"instances": [dict(review.row, **{column: "@@here@@"})]})
    return body.replace('"@@here@@"', literal).encode()


@pytest.mark.parametrize(
    ("column", "literal", "status"),
    [
        ("duration_in_month", "-0.0", 422),  # below the range, sign and all
        ("duration_in_month", "1e-320", 422),
        ("duration_in_month", "2.4e1", 200),
        ("duration_in_month", "24.000000000000000000001", 200),
        ("duration_in_month", str(2**53 + 1), 422),
        ("housing", '"\\ud800"', 422),
        ("housing", '"own\\u0000"', 422),
        ("housing", '"\\udfff"', 422),
        ("housing", "[" * 900 + "]" * 900, 422),
        ("duration_in_month", "[" * 900 + "]" * 900, 422),
        ("housing", "[" * 2000 + "]" * 2000, 422),
    ],
    ids=lambda v: v if len(str(v)) < 30 else f"{str(v)[:5]}...x{len(str(v))}",
)
def test_odd_json_values_are_answered_with_valid_json_never_500(
    review: Review, column: str, literal: str, status: int
) -> None:
    response = review.post(PREDICT.format(GRANTED), who="free", body=_raw_row(review, column, literal))
    assert response.status_code == status, response.text
    response.content.decode("ascii")  # answers are ASCII JSON: a lone surrogate comes back escaped, never raw
    doc = response.json()
    if status == 422:
        assert set(doc) == {"error"}
        assert "\n" not in doc["error"]
        assert len(doc["error"]) <= 300


def test_surrogates_and_nul_in_column_and_field_names_are_refused_cleanly(review: Review) -> None:
    row = json.dumps(review.row)
    for body in (
        '{"instances": [' + row[:-1] + ', "\\ud800": 1}]}',
        '{"instances": [' + row[:-1] + ', "a\\u0000b": 1}]}',
        '{"instances": [' + row + '], "\\udbff\\u0000": 1}',
    ):
        response = review.post(PREDICT.format(GRANTED), who="free", body=body.encode())
        assert response.status_code == 422
        response.content.decode("ascii")
        assert set(response.json()) == {"error"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_bodies_that_are_not_utf8_are_refused(review: Review, encoding: str) -> None:
    body = json.dumps({"instances": [review.row]}).encode(encoding)
    assert review.post(PREDICT.format(GRANTED), who="free", body=body).status_code == 422


def test_duplicate_names_in_a_body_are_refused(review: Review) -> None:
    row = json.dumps(review.row)
    twice_in_a_row = '{"instances": [' + row[:-1] + ', "age_in_years": 30}]}'
    twice_instances = '{"instances": [{"age_in_years": 500}], "instances": [' + row + "]}"
    for body in (twice_in_a_row, twice_instances):
        assert review.post(PREDICT.format(GRANTED), who="free", body=body.encode()).status_code == 422


# -- audit ---------------------------------------------------------------------------------------


def test_a_group_commit_failing_midway_leaves_an_entry_for_exactly_the_requests_not_answered_503(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent predictions, 401s and 403s; the commit that holds a "poison" entry (the 401 of one unknown
    token id) fails. Whatever shared such a commit is 503 with no entry; every other request has exactly its
    one entry; the log verifies and carries on."""
    poison_id = "deadbeef" * 2
    poison = f"mlw_{poison_id}_{'A' * 43}"
    log = review.service.ws._audit
    original = log._write

    def failing(frontier: Any, batch: list[Any]) -> Any:
        if any(poison_id.encode() in pending.data for pending in batch):
            raise AuditUnavailable("no space left on device (test)")
        return original(frontier, batch)

    monkeypatch.setattr(log, "_write", failing)
    # One poison, last: refusals are all queued in the loop's first turn, predictions later (after their
    # batch). Either the first commit holds no poison (its requests are answered), or it holds every refusal
    # and the predictions commit after it: some requests are answered whatever the threads' timing.
    kinds = ["predict", "no-token", "not-granted"] * 15 + ["poison"]
    headers = {
        "predict": bearer(review.tokens["free"]),
        "poison": bearer(poison),
        "no-token": {},
        "not-granted": bearer(review.tokens["credit"]),
    }
    requests = [
        (PREDICT.format(NOT_GRANTED if kind == "not-granted" else GRANTED), headers[kind], review.body())
        for kind in kinds
    ]
    start = review.size()
    answers = concurrently(review.service, requests)
    monkeypatch.undo()
    entries = review.entries(start)

    by_kind: dict[str, set[int]] = {}
    for kind, answer in zip(kinds, answers, strict=True):
        by_kind.setdefault(kind, set()).add(answer.status_code)
    assert by_kind["poison"] == {503}
    assert by_kind["predict"] <= {200, 503}
    assert by_kind["no-token"] <= {401, 503}
    assert by_kind["not-granted"] <= {403, 503}
    answered = [a for a in answers if a.status_code != 503]
    assert answered, "every commit failed: nothing was tested midway"
    assert len(entries) == len(answered)
    succeeded = {e.request_id for e in entries if e.action == "predict" and e.outcome == "succeeded"}
    assert succeeded == {a.json()["request_id"] for a in answered if a.status_code == 200}
    assert sum(e.action == "auth.token" for e in entries) == sum(a.status_code == 401 for a in answered)
    denied = sum(e.action == "predict" and e.outcome == "denied" for e in entries)
    assert denied == sum(a.status_code == 403 for a in answered)
    assert not [e for e in entries if e.details.get("token") == poison_id]
    for failed in (a for a in answers if a.status_code == 503):
        assert set(failed.json()) == {"error"}
    # The log carries on: a later request is recorded, and the whole log verifies.
    assert review.post(PREDICT.format(GRANTED), who="free").status_code == 200
    with review.where.open(review.where.tokens["auditor"]) as auditor:
        assert auditor.log.verify().ok


def test_no_body_value_or_secret_reaches_the_log_the_server_log_or_the_metrics(
    review: Review, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mlwarden")
    canary = "canary" + os.urandom(6).hex()
    fake = new_token().token  # well formed, unknown
    secret = fake.split("_", 2)[2]
    row = json.dumps(review.row)
    bodies = [
        _raw_row(review, "housing", json.dumps(canary)),  # a value: 422
        ('{"instances": [' + row[:-1] + f', "{canary}": 1}}]}}').encode(),  # a column: 422
        ('{"instances": [' + row + f'], "{canary}": 1}}').encode(),  # a field: 422
        ('{"instances": [' + row[:-1] + f', "housing": "{canary}", "housing": "own"}}]}}').encode(),  # 200
        canary.encode(),  # not JSON: 422
    ]
    for body in bodies:
        assert review.post(PREDICT.format(GRANTED), who="free", body=body).status_code in (200, 422)
    for header in (f"Bearer {fake}", f"Bearer {canary}", f"Basic {canary}", f"Bearer {fake}{canary}"):
        assert review.client.post(PREDICT.format(GRANTED), headers={"Authorization": header}).status_code == 401
    metrics = review.client.get("/metrics", headers=bearer(review.tokens["operator"]))
    assert metrics.status_code == 200
    stored = b"".join(p.read_bytes() for p in Path(review.where.settings.home).glob("access.db*"))
    for text in (canary, secret):
        assert text.encode() not in stored
        assert text not in caplog.text
        assert text not in metrics.text


def test_metric_labels_name_only_served_models_and_known_reasons(review: Review) -> None:
    for index in range(30):
        name = f"m{index}-" + os.urandom(3).hex()
        review.post(PREDICT.format(name))
        review.client.post(PREDICT.format(name), headers={"Authorization": f"Bearer {name}"})
        review.post(PREDICT.format(name), who="free", body=b"{")
    review.post(PREDICT.format(GRANTED), who="free", body=b"{")
    review.post(PREDICT.format(GRANTED), who="free", body=b"x" * (review.service.config.max_body_bytes + 1))
    text = review.client.get("/metrics", headers=bearer(review.tokens["operator"])).text
    models = set(re.findall(r'model="([^"]*)"', text))
    reasons = set(re.findall(r'reason="([^"]*)"', text))
    assert models, text
    assert models <= SERVED_MODELS, models
    assert reasons, text
    assert reasons <= REFUSAL_REASONS, reasons
    stages = set(re.findall(r'stage="([^"]*)"', text))
    assert stages <= {"auth", "limits", "body", "validate", "predict", "audit", "monitor", "total"}


# -- exhaustion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["no token", "garbage token", "over the rate", "not granted"])
def test_a_flood_of_refusals_is_not_one_durable_entry_each(
    review: Review, refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, model = {
        "no token": ({}, GRANTED),
        "garbage token": ({"Authorization": "Bearer " + "A" * 40}, GRANTED),
        "over the rate": (bearer(review.tokens["slow"]), GRANTED),
        "not granted": (bearer(review.tokens["credit"]), NOT_GRANTED),
    }[refusal]
    from mlwarden.serve._refusals import RefusalBudget

    monkeypatch.setattr(review.service, "refusals", RefusalBudget(budget=60))  # the default budget
    start = review.size()
    answers = concurrently(review.service, [(PREDICT.format(model), headers, b"{}")] * 1000)
    assert {a.status_code for a in answers} <= {401, 403, 422, 429}
    assert review.size() - start < 1000
    # Nothing is lost: recorded refusals, the counts they carry and what is still counted add up.
    refused = sum(a.status_code in (401, 403, 429) for a in answers)
    denied = [e for e in review.service.ws._audit.entries(start) if e.outcome == "denied"]
    carried = sum(int(e.details.get("unrecorded") or 0) for e in denied)
    assert len(denied) + carried + review.service.refusals.outstanding() == refused


# -- a real mlwarden serve: the HTTP parser, pipelining, 100-continue, idle connections -----------

START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Real:
    where: Served
    port: int
    process: subprocess.Popen[bytes]
    stderr: Path

    def exchange(self, data: bytes, *, wait: float = 5.0) -> bytes:
        """Send raw bytes, read until the server closes the connection (or ``wait`` passes with nothing new)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as conn:
            conn.sendall(data)
            received = b""
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                while chunk := conn.recv(65536):
                    received += chunk
        return received

    def log_size(self) -> int:
        conn = sqlite3.connect(Path(self.where.settings.home) / "access.db")
        try:
            (last,) = conn.execute("SELECT MAX(seq) FROM audit_entries").fetchone()
        finally:
            conn.close()
        return 0 if last is None else int(last) + 1


@contextlib.contextmanager
def _serving(where: Served, tmp_path: Path) -> Iterator[Real]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(
        MLWARDEN_HOME=str(where.settings.home),
        MLWARDEN_MASTER_KEY=where.settings.master_key,
        MLWARDEN_TOKEN=where.tokens["operator"],
    )
    port = _free_port()
    stderr = tmp_path / f"serve-{port}.stderr"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlwarden", "serve", "--port", str(port), "--no-extraction-monitor"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, stderr.read_text(errors="replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        yield Real(where, port, process, stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def real(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Real]:
    where = served.copy(tmp_path_factory.mktemp("real") / "ws")
    with _serving(where, tmp_path_factory.mktemp("real-logs")) as running:
        yield running


def _request(real: Real, extra: str = "", body: bytes | None = None, *, auth: bool = True, path: str = "") -> bytes:
    content = json.dumps({"instances": [real.where.rows[0]]}).encode() if body is None else body
    head = f"POST {path or PREDICT.format(GRANTED)} HTTP/1.1\r\nHost: mlwarden.test\r\n"
    if auth:
        head += f"Authorization: Bearer {real.where.tokens['client-credit']}\r\n"
    return (head + extra + "\r\n").encode() + content


def _statuses(received: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


@pytest.mark.slow
def test_ambiguous_framing_is_refused_by_the_parser_before_the_app(real: Real) -> None:
    """Duplicate or signed lengths, length and chunking, unknown codings, folded or spaced headers: 400, nothing run."""
    body = json.dumps({"instances": [real.where.rows[0]]}).encode()
    size = len(body)
    chunked = f"{size:x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    cases = {
        "duplicate length": _request(real, f"Content-Length: {size}\r\nContent-Length: {size}\r\n"),
        "two lengths": _request(real, f"Content-Length: {size}\r\nContent-Length: 5\r\n"),
        "negative length": _request(real, "Content-Length: -1\r\n"),
        "signed length": _request(real, f"Content-Length: +{size}\r\n"),
        "length and chunked": _request(real, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked),
        "unknown coding": _request(real, "Transfer-Encoding: xchunked\r\n", chunked),
        "chunked then identity": _request(real, "Transfer-Encoding: chunked, identity\r\n", chunked),
        "space before colon": _request(real, f"Content-Length : {size}\r\n"),
        "folded authorization": (
            f"POST {PREDICT.format(GRANTED)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n "
            f"{real.where.tokens['client-credit']}\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
        + body,
    }
    start = real.log_size()
    for case, data in cases.items():
        assert _statuses(real.exchange(data)) == [400], case
    assert real.log_size() == start  # nothing reached the app
    # The same request, well framed, is answered: the refusals above were about framing alone.
    well_framed = _request(real, f"Content-Length: {size}\r\nConnection: close\r\n")
    assert _statuses(real.exchange(well_framed)) == [200]
    assert _statuses(real.exchange(_request(real, "Transfer-Encoding: chunked\r\nConnection: close\r\n", chunked))) == [
        200
    ]


@pytest.mark.slow
def test_each_pipelined_request_is_authenticated_on_its_own(real: Real) -> None:
    """A keep-alive connection carries no authority: the request after an authenticated one needs its own token,
    and a body (or a GET's body) that looks like a request is a body, not a request."""
    body = json.dumps({"instances": [real.where.rows[0]]}).encode()
    second = _request(real, f"Content-Length: {len(body)}\r\nConnection: close\r\n", auth=False)
    first = _request(real, f"Content-Length: {len(body)}\r\n")
    assert _statuses(real.exchange(first + second)) == [200, 401]
    smuggled = _request(real, f"Content-Length: {len(body)}\r\n")
    get = f"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled)}\r\nConnection: close\r\n\r\n"
    assert _statuses(real.exchange(get.encode() + smuggled)) == [200]


@pytest.mark.slow
def test_100_continue_is_sent_only_to_a_request_that_may_send_its_body(real: Real) -> None:
    expect = "Expect: 100-continue\r\nConnection: close\r\n"
    refused = real.exchange(_request(real, f"Content-Length: 50\r\n{expect}", b"", auth=False))
    assert _statuses(refused) == [401]
    over = real.exchange(_request(real, f"Content-Length: {2**30}\r\n{expect}", b""))
    assert _statuses(over) == [413]
    with socket.create_connection(("127.0.0.1", real.port), timeout=10) as conn:
        body = json.dumps({"instances": [real.where.rows[0]]}).encode()
        conn.sendall(_request(real, f"Content-Length: {len(body)}\r\n{expect}", b""))
        assert _statuses(conn.recv(65536)) == [100]
        conn.sendall(body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert _statuses(received) == [200]


@pytest.mark.slow
def test_idle_connections_do_not_starve_real_clients(served_copy: Served, tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        if hard != resource.RLIM_INFINITY and hard < 8192:
            pytest.skip(f"needs 8192 open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, hard))  # the server inherits it
    with _serving(served_copy, tmp_path) as server:
        idle: list[socket.socket] = []
        try:
            for _ in range(4100):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
            time.sleep(0.5)
            answer = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=30.0)
        finally:
            for conn in idle:
                conn.close()
        assert answer.status_code == 200
