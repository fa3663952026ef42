"""The server's answer for every endpoint x caller: status, headers, body, and what the audit log records.

One service per test module (a private copy of the ``served`` workspace with extra principals: a
revoked, an expired, a suspended and a hand-edited client) answers each endpoint for each kind of
caller: no token, a malformed header, garbage, an unknown token, a known token id with a wrong
secret, one token per role, clients scoped ``credit-*``, ``fraud-*`` and ``*``. Each request's new
audit entries are read straight after it (the log is appended before the answer leaves), and no
token secret may ever appear in the log or in an answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import mlwarden
from mlwarden.access import new_token, parse_token
from mlwarden.serve import ServeConfig, Service

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

MODELS = ("credit-risk", "fraud-risk")
UNAUTHENTICATED = (
    "none",
    "basic",
    "bearer-only",
    "garbage",
    "unknown",
    "wrong-secret",
    "revoked",
    "expired",
    "suspended",
    "tampered",
)
ROLES = ("admin", "steward", "scientist", "deployer", "auditor", "client", "operator")
CLIENTS = ("client-credit", "client-fraud", "client-all")
CALLERS = UNAUTHENTICATED + ROLES + CLIENTS

# Who may predict with which model (admin has every permission; "client" is a-client, scoped "*").
GRANTED: dict[str, frozenset[str]] = {
    "admin": frozenset(MODELS),
    "client": frozenset(MODELS),
    "client-all": frozenset(MODELS),
    "client-credit": frozenset({"credit-risk"}),
    "client-fraud": frozenset({"fraud-risk"}),
}
METRICS_READERS = frozenset({"admin", "steward", "deployer", "auditor", "operator"})
PRINCIPAL_OF = {
    **{role: f"a-{role}" for role in ("admin", "steward", "scientist", "deployer", "auditor", "client")},
    "operator": "op",
    "client-credit": "c-credit",
    "client-fraud": "c-fraud",
    "client-all": "c-all",
}
# The reason an unauthenticated caller's refusal is recorded with.
REFUSAL_REASON = {
    "none": "no-token",
    "basic": "malformed",
    "bearer-only": "malformed",
    "garbage": "malformed",
    "unknown": "unknown",
    "wrong-secret": "wrong-secret",
    "revoked": "revoked",
    "expired": "expired",
    "suspended": "suspended",
    "tampered": "tampered-record",
}
ENDPOINTS = (
    "GET /v1/models",
    "POST credit-risk",
    "POST fraud-risk",
    "POST unknown-model",
    "POST bad~name!",
    "GET /metrics",
    "GET /healthz",
    "GET /openapi.json",
)


@dataclass
class Matrix:
    served: Served
    service: Service
    client: Any  # fastapi.testclient.TestClient
    headers: dict[str, dict[str, str]]  # caller -> request headers
    token_ids: dict[str, str | None]  # caller -> the token id the log should name
    secrets: list[str]  # every token secret used by any caller
    row: dict[str, Any]

    def request(self, endpoint: str, caller: str, body: bytes | None = None) -> Any:
        method, _, target = endpoint.partition(" ")
        headers = dict(self.headers[caller])
        if method == "GET":
            return self.client.get(target, headers=headers)
        headers["Content-Type"] = "application/json"
        content = body if body is not None else json.dumps({"instances": [self.row]}).encode()
        return self.client.post(f"/v1/models/{target}/predict", headers=headers, content=content)

    def new_raw_entries(self, start: int) -> list[bytes]:
        conn = sqlite3.connect(self.served.settings.home / "access.db")
        try:
            rows = conn.execute("SELECT entry FROM audit_entries WHERE seq >= ? ORDER BY seq", (start,)).fetchall()
        finally:
            conn.close()
        return [bytes(r[0]) for r in rows]


def _secret(token: str) -> str:
    """The secret part of ``mlw_<16 hex>_<43 base64url>`` (which may itself contain ``_``)."""
    secret = token.split("_", 2)[2]
    assert len(secret) == 43
    return secret


def _add_odd_principals(where: Served) -> dict[str, str]:
    """A revoked, an expired, a suspended and a hand-edited client; returns their tokens."""
    tokens: dict[str, str] = {}
    with where.open(where.tokens["admin"]) as admin:
        for name in ("revoked", "suspended", "tampered"):
            _, tokens[name] = admin.users.add(f"c-{name}", "client", scopes=("*",))
        admin.users.revoke("c-revoked")
        admin.users.suspend("c-suspended", reason="testing")
    # Created two hours ago with a one-minute lifetime: expired now, by every clock that reads real time.
    past = datetime.now(UTC) - timedelta(hours=2)
    with mlwarden.Workspace.open(settings=where.settings, token=where.tokens["admin"], clock=lambda: past) as admin:
        _, tokens["expired"] = admin.users.add("c-expired", "client", expires=timedelta(minutes=1))
    # A role raised by hand in the database: the record's MAC no longer matches.
    conn = sqlite3.connect(where.settings.home / "access.db")
    try:
        conn.execute("UPDATE principals SET role = 'admin' WHERE name = 'c-tampered'")
        conn.commit()
    finally:
        conn.close()
    return tokens


@pytest.fixture(scope="module")
def matrix(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    from fastapi.testclient import TestClient

    from mlwarden.serve import create_app

    where = served.copy(tmp_path_factory.mktemp("matrix") / "ws")
    odd = _add_odd_principals(where)
    credit_id = parse_token(where.tokens["client-credit"])
    assert credit_id is not None
    unknown = new_token().token
    wrong_secret = f"mlw_{credit_id.token_id}_{'A' * 43}"
    tokens = {**where.tokens, **odd, "unknown": unknown, "wrong-secret": wrong_secret}
    headers: dict[str, dict[str, str]] = {
        "none": {},
        "basic": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        "bearer-only": {"Authorization": "Bearer"},
        "garbage": {"Authorization": "Bearer this-is-not-a-token-but-a-secret-anyway"},
    }
    token_ids: dict[str, str | None] = {"none": None, "basic": None, "bearer-only": None, "garbage": None}
    for caller in CALLERS:
        if caller in headers:
            continue
        token = tokens[caller]
        headers[caller] = {"Authorization": f"Bearer {token}"}
        parsed = parse_token(token)
        assert parsed is not None
        token_ids[caller] = parsed.token_id
    secrets = [_secret(t) for t in tokens.values()] + ["this-is-not-a-token-but-a-secret-anyway"]
    ws = where.open(where.tokens["operator"])
    # Every refusal must be recorded here: no refusal budget in the way.
    service = Service.start(ServeConfig(extraction_monitor=False, refusals_per_minute=10_000_000), ws)
    client = TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test")
    client.__enter__()
    try:
        yield Matrix(where, service, client, headers, token_ids, secrets, dict(served.rows[0]))
    finally:
        client.__exit__(None, None, None)
        ws.close()


def expected_status(endpoint: str, caller: str) -> int:
    if endpoint == "GET /healthz":
        return 200
    if caller in UNAUTHENTICATED:
        return 401
    if endpoint in ("GET /v1/models", "GET /openapi.json"):
        return 200
    if endpoint == "GET /metrics":
        return 200 if caller in METRICS_READERS else 403
    model = endpoint.partition(" ")[2]
    return 200 if model in GRANTED.get(caller, frozenset()) else 403


def _entry(raw: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw)
    return doc


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_status_headers_and_audit(matrix: Matrix, endpoint: str, caller: str) -> None:
    start = matrix.service.ws._audit.size()
    response = matrix.request(endpoint, caller)
    raw = matrix.new_raw_entries(start)
    entries = [_entry(r) for r in raw]
    status = expected_status(endpoint, caller)
    assert response.status_code == status, response.text

    # No secret ever comes back, nor goes into the log.
    for secret in matrix.secrets:
        assert secret.encode() not in response.content
        assert not [r for r in raw if secret.encode() in r], secret

    if endpoint == "GET /healthz":
        assert entries == []
        return
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="mlwarden"'
        assert set(response.json()) == {"error"}
        assert len(entries) == 1, entries
        (entry,) = entries
        assert (entry["action"], entry["outcome"], entry["principal"], entry["resource"]) == (
            "auth.token",
            "denied",
            "-",
            "serve",
        )
        assert entry["details"] == {"token": matrix.token_ids[caller], "reason": REFUSAL_REASON[caller]}
        return
    assert "WWW-Authenticate" not in response.headers
    if endpoint in ("GET /v1/models", "GET /metrics", "GET /openapi.json"):
        assert not [e for e in entries if e["action"] == "predict"]
        if status == 200:
            assert not [e for e in entries if e["outcome"] == "denied"]
        if endpoint == "GET /v1/models":
            listed = [m["name"] for m in response.json()["models"]]
            assert listed == sorted(GRANTED.get(caller, frozenset()))
        elif endpoint == "GET /metrics" and status == 200:
            assert response.headers["content-type"].startswith("text/plain")
            assert b"mlwarden_requests" in response.content
        return

    # A prediction: granted or not, one entry under the caller's name and token id.
    model = endpoint.partition(" ")[2]
    assert response.headers["Cache-Control"] == "no-store"
    assert len(entries) == 1, entries
    (entry,) = entries
    assert entry["action"] == "predict"
    assert entry["principal"] == PRINCIPAL_OF[caller]
    assert entry["details"]["token"] == matrix.token_ids[caller]
    if status == 200:
        body = response.json()
        assert entry["outcome"] == "succeeded"
        assert entry["resource"] == f"model:{model}"
        assert entry["request"] == body["request_id"]
        assert body["model"]["name"] == model
        assert len(body["predictions"]) == 1
    else:
        assert entry["outcome"] == "denied"
        assert entry["details"]["reason"] == "not-granted"
        assert entry["resource"] == ("model:-" if model == "bad~name!" else f"model:{model}")
        assert response.json() == {"error": "no model by that name is served to this token"}


@pytest.mark.parametrize("caller", ["scientist", "client-credit"])
def test_a_refused_metrics_read_is_audited(matrix: Matrix, caller: str) -> None:
    start = matrix.service.ws._audit.size()
    assert matrix.request("GET /metrics", caller).status_code == 403
    entries = [_entry(r) for r in matrix.new_raw_entries(start)]
    assert [(e["principal"], e["outcome"]) for e in entries] == [(PRINCIPAL_OF[caller], "denied")]
    assert entries[0]["details"]["token"] == matrix.token_ids[caller]


@pytest.mark.parametrize("caller", [c for c in ROLES + CLIENTS if GRANTED.get(c) != frozenset(MODELS)])
def test_refusal_of_a_model_not_granted_is_identical_to_an_unknown_model(matrix: Matrix, caller: str) -> None:
    """Whatever the model, served or not, valid name or not, valid body or not: the same 403, byte for byte."""
    denied = [m for m in MODELS if m not in GRANTED.get(caller, frozenset())]
    answers = []
    for model in [*denied, "unknown-model", "bad~name!", "Credit-Risk", "credit-risk2"]:
        for body in (None, b"{not json", b'{"instances": []}', b"x" * 5000):
            response = matrix.request(f"POST {model}", caller, body)
            answers.append((response.status_code, response.content, sorted(response.headers.items())))
    assert answers[0][0] == 403
    assert all(a == answers[0] for a in answers)


def test_wrong_secret_is_answered_as_an_unknown_token(matrix: Matrix) -> None:
    """A caller who knows a token id (it is public) learns nothing from a guessed secret."""
    unknown = matrix.request("POST credit-risk", "unknown")
    wrong = matrix.request("POST credit-risk", "wrong-secret")
    garbage = matrix.request("POST credit-risk", "garbage")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.content == wrong.content
    assert unknown.headers == wrong.headers
    assert garbage.json()["error"] != unknown.json()["error"]  # malformed says how a token should look


def test_refused_callers_are_refused_before_the_body_is_read(matrix: Matrix) -> None:
    """An unauthenticated caller gets 401 whatever the body: oversized, not JSON, or not sent at all."""
    limit = matrix.service.config.max_body_bytes
    for caller in UNAUTHENTICATED:
        for body in (b"x" * (limit + 1), b"{", b""):
            response = matrix.request("POST credit-risk", caller, body)
            assert response.status_code == 401, (caller, response.text)


def test_no_secret_anywhere_in_the_access_database(matrix: Matrix) -> None:
    """After every caller has called every endpoint, no secret is in access.db (or its WAL)."""
    for endpoint in ENDPOINTS:
        for caller in CALLERS:
            matrix.request(endpoint, caller)
    home = matrix.served.settings.home
    stored = b"".join(p.read_bytes() for p in home.glob("access.db*"))
    assert stored  # the database and its WAL were read
    for secret in matrix.secrets:
        assert secret.encode() not in stored


def test_openapi_lists_each_served_model_with_its_validator_schema(matrix: Matrix) -> None:
    doc = matrix.request("GET /openapi.json", "client-all").json()
    assert doc["openapi"].startswith("3.1")
    for name in MODELS:
        schema = doc["paths"][f"/v1/models/{name}/predict"]["post"]["requestBody"]["content"]["application/json"]
        assert schema["schema"] == matrix.service.models[name].validator.json_schema()
    listed = matrix.request("GET /v1/models", "client-all").json()["models"]
    for model in listed:
        described = matrix.service.models[model["name"]].validator.json_schema()
        assert model["input_schema"] == described["properties"]["instances"]["items"]


def test_openapi_describes_only_the_models_granted_to_the_token(matrix: Matrix) -> None:
    """The document names a model's columns, ranges and categories: only for a token that may use it."""
    for caller in ROLES + CLIENTS:
        response = matrix.request("GET /openapi.json", caller)
        assert response.status_code == 200
        paths = set(response.json()["paths"])
        granted = GRANTED.get(caller, frozenset())
        assert paths == {"/healthz", "/v1/models"} | {f"/v1/models/{m}/predict" for m in granted}, caller
        for model in set(MODELS) - granted:
            assert model.encode() not in response.content


# -- principals changing while the server runs ----------------------------------------------------


@pytest.fixture
def live(served_copy: Served, service_factory: Any, app_client: Any) -> tuple[Served, Any, mlwarden.Workspace]:
    """A server on a private copy, and an admin workspace (another connection) that changes principals."""
    service = service_factory(served_copy, extraction_monitor=False)
    admin = served_copy.open(served_copy.tokens["admin"])
    return served_copy, app_client(service), admin


def _predict(client: Any, token: str, row: dict[str, Any]) -> Any:
    return client.post(
        "/v1/models/credit-risk/predict", headers={"Authorization": f"Bearer {token}"}, json={"instances": [row]}
    )


def test_a_revocation_takes_effect_on_the_next_request(live: tuple[Served, Any, mlwarden.Workspace]) -> None:
    where, client, admin = live
    try:
        _, token = admin.users.add("c-soon-revoked", "client")
        assert _predict(client, token, where.rows[0]).status_code == 200  # now cached by the server
        admin.users.revoke("c-soon-revoked")
        refused = _predict(client, token, where.rows[0])
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]
    finally:
        admin.close()


def test_suspend_resume_and_reissue_take_effect_at_once(live: tuple[Served, Any, mlwarden.Workspace]) -> None:
    where, client, admin = live
    try:
        _, token = admin.users.add("c-toggled", "client", scopes=("credit-*",))
        assert _predict(client, token, where.rows[0]).status_code == 200
        admin.users.suspend("c-toggled", reason="looks like scraping")
        refused = _predict(client, token, where.rows[0])
        assert refused.status_code == 401
        assert "looks like scraping" in refused.json()["error"]
        admin.users.resume("c-toggled")
        assert _predict(client, token, where.rows[0]).status_code == 200
        _, new = admin.users.reissue("c-toggled")
        assert _predict(client, token, where.rows[0]).status_code == 401
        assert _predict(client, new, where.rows[0]).status_code == 200
    finally:
        admin.close()


def test_a_cached_token_expires_by_the_servers_clock(served_copy: Served, app_client: Any) -> None:
    """The server caches authenticated tokens; the cache must not outlive the token's expiry."""
    from mlwarden.serve._loading import load_models

    moment = [datetime.now(UTC)]

    def clock() -> datetime:
        return moment[0]

    with served_copy.open(served_copy.tokens["admin"]) as admin:
        _, token = admin.users.add("c-short", "client", expires=timedelta(minutes=10))
    ws = mlwarden.Workspace.open(settings=served_copy.settings, token=served_copy.tokens["operator"], clock=clock)
    try:
        config = ServeConfig(extraction_monitor=False)
        models, _ = load_models(ws, config)
        client = app_client(Service(ws, config, models, clock=clock))
        assert _predict(client, token, served_copy.rows[0]).status_code == 200
        moment[0] += timedelta(minutes=9)
        assert _predict(client, token, served_copy.rows[0]).status_code == 200
        moment[0] += timedelta(minutes=2)
        refused = _predict(client, token, served_copy.rows[0])
        assert refused.status_code == 401
        assert "expired" in refused.json()["error"]
    finally:
        ws.close()


def test_healthz_reveals_nothing(matrix: Matrix) -> None:
    answers = {matrix.request("GET /healthz", caller).content for caller in CALLERS}
    assert answers == {b'{"status":"ok"}'}
