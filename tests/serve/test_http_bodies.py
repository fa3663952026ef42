"""What the server does with request bodies: refusals (413, 422) and answers (equal to scikit-learn's).

* every malformed body is a 422 whose body is ``{"error": one line naming the problem}``, never a
  traceback; an oversized one is a 413 decided on ``Content-Length`` before anything is read, or
  while reading when the header is absent or lies;
* rows drawn from the OpenAPI document's own request schema are answered (200), and each mutation
  out of it is refused (422): the document and the validator say the same thing;
* answers equal the pipeline's own ``predict_proba`` and ``predict`` for real rows, one by one, in
  batches, and under concurrency (micro-batched: each answer must still be its own row's);
* output policies: labels only (probabilities ``null``), or probabilities rounded per model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import _asgi as asgi
import numpy as np
import pandas as pd
import pytest
from _asgi import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.serve import OutputPolicy, ServeConfig, Service

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)
MODEL = "credit-risk"
URL = f"/v1/models/{MODEL}/predict"
UNLIMITED = 10**9  # the largest rate limit and quota a principal may have


@dataclass
class Bodies:
    served: Served
    service: Service
    client: Any  # fastapi.testclient.TestClient
    token: str
    pipeline: Any  # the scikit-learn pipeline of credit-risk
    schema: dict[str, Any]  # the requestBody schema of credit-risk in the OpenAPI document

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def post(self, content: bytes, url: str = URL) -> Any:
        return self.client.post(url, headers=self.headers, content=content)

    def predict(self, rows: list[dict[str, Any]], url: str = URL) -> Any:
        return self.post(json.dumps({"instances": rows}).encode(), url)

    def expected(self, rows: list[dict[str, Any]]) -> tuple[list[object], np.ndarray]:
        frame = pd.DataFrame(rows)
        labels = [v.item() if hasattr(v, "item") else v for v in self.pipeline.predict(frame)]
        return labels, self.pipeline.predict_proba(frame)


def _start(where: Served, config: ServeConfig) -> tuple[Service, Any]:
    from fastapi.testclient import TestClient

    from mlwarden.serve import create_app

    ws = where.open(where.tokens["operator"])
    service = Service.start(config, ws)
    client = TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test")
    client.__enter__()
    return service, client


@pytest.fixture(scope="module")
def where(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """A private copy of the workspace with a client that no rate limit or quota stops."""
    copy = served.copy(tmp_path_factory.mktemp("bodies") / "ws")
    with copy.open(copy.tokens["admin"]) as admin:
        _, token = admin.users.add("c-bodies", "client", rate_limit=UNLIMITED, daily_quota=UNLIMITED)
    return dataclasses.replace(copy, tokens={**copy.tokens, "bodies": token})


@pytest.fixture(scope="module")
def bodies(where: Served) -> Iterator[Bodies]:
    service, client = _start(where, ServeConfig(extraction_monitor=False))
    token = where.tokens["bodies"]
    doc = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    schema = doc["paths"][URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    pipeline = service.ws.models.load(MODEL).model
    try:
        yield Bodies(where, service, client, token, pipeline, schema)
    finally:
        client.__exit__(None, None, None)
        service.ws.close()


def assert_refused(response: Any, status: int, *words: str) -> str:
    """``status`` with ``{"error": one short line}`` naming each of ``words``; never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert set(doc) == {"error"}
    message = doc["error"]
    assert isinstance(message, str)
    assert "\n" not in message, message
    assert 0 < len(message) <= 300, message
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    for word in words:
        assert word in message, (word, message)
    return message


# -- malformed bodies: 422 --------------------------------------------------------------------------


def _row(bodies: Bodies, **changes: Any) -> dict[str, Any]:
    row = dict(bodies.served.rows[0])
    for key, value in changes.items():
        if value is _DROP:
            del row[key]
        else:
            row[key] = value
    return row


_DROP = object()
_NUMERIC = "age_in_years"  # 19 to 75 in training
_SMALL = "installment_rate_in_percentage_of_disposable_income"  # 1 to 4 in training
_CATEGORICAL = "housing"  # for free, own, rent


def _with(bodies: Bodies, **changes: Any) -> bytes:
    return json.dumps({"instances": [_row(bodies), _row(bodies, **changes)]}).encode()


def _literal(bodies: Bodies, column: str, text: bytes) -> bytes:
    """A body whose second row has ``text`` written as the raw JSON value of ``column``."""
    body = _with(bodies, **{column: "@@here@@"})
    assert body.count(b'"@@here@@"') == 1
    return body.replace(b'"@@here@@"', text)


def _bad_bodies(bodies: Bodies) -> list[tuple[str, bytes, tuple[str, ...]]]:
    """(case, body, words the message must contain)."""
    row = json.dumps(_row(bodies))
    over = bodies.service.config.max_instances + 1
    return [
        ("truncated JSON", b'{"instances": [' + row.encode(), ("not JSON",)),
        ("empty body", b"", ("not JSON",)),
        ("not UTF-8", b'{"instances": [{"\xff\xfe": 1}]}', ("not JSON",)),
        ("NaN literal", _literal(bodies, _NUMERIC, b"NaN"), ("not JSON",)),
        ("Infinity literal", _literal(bodies, _NUMERIC, b"Infinity"), ("not JSON",)),
        ("-Infinity literal", _literal(bodies, _NUMERIC, b"-Infinity"), ("not JSON",)),
        ("deeply nested", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", ("not JSON",)),
        ("integer of 5000 digits", _literal(bodies, _NUMERIC, b"1" + b"0" * 5000), ("not JSON",)),
        ("top-level list", f"[{row}]".encode(), ("instances",)),
        ("top-level string", b'"instances"', ("instances",)),
        ("top-level number", b"42", ("instances",)),
        ("top-level null", b"null", ("instances",)),
        ("missing instances", b"{}", ("instances",)),
        ("misspelt instances", f'{{"instance": [{row}]}}'.encode(), ("instances",)),
        ("extra top-level field", f'{{"instances": [{row}], "debug": true}}'.encode(), ("debug",)),
        ("instances an object", f'{{"instances": {row}}}'.encode(), ("instances", "list")),
        ("instances a string", b'{"instances": "all"}', ("instances", "list")),
        ("instances null", b'{"instances": null}', ("instances", "list")),
        ("empty list", b'{"instances": []}', ("empty",)),
        ("too many instances", json.dumps({"instances": [_row(bodies)] * over}).encode(), (str(over),)),
        ("row a list", b'{"instances": [[1, 2, 3]]}', ("instance 0",)),
        ("row a number", f'{{"instances": [{row}, 7]}}'.encode(), ("instance 1",)),
        ("unknown column", _with(bodies, favourite_colour="blue"), ("instance 1", "favourite_colour")),
        ("missing column", _with(bodies, credit_amount=_DROP), ("instance 1", "credit_amount", "missing")),
        ("null in a required column", _with(bodies, credit_amount=None), ("credit_amount", "null")),
        ("bool for a number", _with(bodies, age_in_years=True), (_NUMERIC, "number")),
        # True == 1 and 1 is inside this column's range [1, 4]: still not a number.
        ("bool for a number in range", _with(bodies, **{_SMALL: True}), (_SMALL, "number")),
        ("false for a number", _with(bodies, **{_SMALL: False}), (_SMALL, "number")),
        ("string for a number", _with(bodies, age_in_years="42"), (_NUMERIC, "number")),
        ("list for a number", _with(bodies, age_in_years=[42]), (_NUMERIC, "number")),
        ("object for a number", _with(bodies, age_in_years={"value": 42}), (_NUMERIC, "number")),
        ("below the range", _with(bodies, age_in_years=18.999), (_NUMERIC, "range")),
        ("above the range", _with(bodies, age_in_years=75.001), (_NUMERIC, "range")),
        ("negative", _with(bodies, credit_amount=-1), ("credit_amount", "range")),
        ("huge integer", _with(bodies, age_in_years=10**400), (_NUMERIC, "range")),
        ("huge float", _with(bodies, age_in_years=1e308), (_NUMERIC, "range")),
        ("1e400 (infinite)", _literal(bodies, _NUMERIC, b"1e400"), (_NUMERIC, "range")),
        ("unknown category", _with(bodies, housing="castle"), (_CATEGORICAL, "castle", "category")),
        ("category in another case", _with(bodies, housing="Own"), (_CATEGORICAL, "category")),
        ("number for a category", _with(bodies, housing=1), (_CATEGORICAL, "string")),
        ("bool for a category", _with(bodies, housing=False), (_CATEGORICAL, "string")),
        ("list for a category", _with(bodies, housing=["own"]), (_CATEGORICAL, "string")),
        ("object for a category", _with(bodies, housing={"is": "own"}), (_CATEGORICAL, "string")),
        ("null category", _with(bodies, housing=None), (_CATEGORICAL, "null")),
    ]


def test_every_malformed_body_is_422_with_one_line_naming_the_problem(bodies: Bodies) -> None:
    start = bodies.service.ws._audit.size()
    seen: dict[str, str] = {}
    for case, body, words in _bad_bodies(bodies):
        response = bodies.post(body)
        seen[case] = assert_refused(response, 422, *words)
    # Each problem gets its own words: the messages are not one catch-all.
    assert len(set(seen.values())) >= 20
    # Nothing was predicted: each refusal is recorded as a failed request, never as a prediction.
    entries = [e for e in bodies.service.ws._audit.entries(start) if e.action == "predict"]
    assert len(entries) == len(seen)
    assert {e.outcome for e in entries} == {"failed"}
    assert {e.details["reason"] for e in entries} == {"invalid-json", "invalid-rows"}
    assert not any("output" in e.details for e in entries)


def test_long_names_and_values_are_cut_short_in_messages(bodies: Bodies) -> None:
    long = "x" * 10_000
    for body in (_with(bodies, **{long: 1}), _with(bodies, housing=long), _with(bodies, age_in_years=long)):
        message = assert_refused(bodies.post(body), 422)
        assert long[:100] not in message


def test_the_first_bad_row_is_named(bodies: Bodies) -> None:
    good = _row(bodies)
    rows = [good, good, _row(bodies, housing="castle"), _row(bodies, age_in_years=500)]
    assert_refused(bodies.predict(rows), 422, "instance 2", "housing")


def test_max_instances_is_accepted_one_more_is_not(bodies: Bodies) -> None:
    most = bodies.service.config.max_instances
    rows = (bodies.served.rows * 2)[:most]
    response = bodies.predict(rows)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == most
    assert_refused(bodies.predict([*rows, rows[0]]), 422, str(most))


# -- oversized bodies: 413 --------------------------------------------------------------------------


def _padded(bodies: Bodies, size: int) -> bytes:
    """A valid body of exactly ``size`` bytes (JSON padded with spaces)."""
    body = json.dumps({"instances": [_row(bodies)]}).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_body_of_exactly_max_body_is_read_one_byte_more_is_413(bodies: Bodies) -> None:
    limit = bodies.service.config.max_body_bytes
    assert bodies.post(_padded(bodies, limit)).status_code == 200
    assert_refused(bodies.post(_padded(bodies, limit + 1)), 413, str(limit))


def _asgi_call(bodies: Bodies, headers: list[tuple[bytes, bytes]], receive: Any) -> list[Message]:
    """Call the ASGI app directly (no test client in between): the messages it sent."""
    from mlwarden.serve import create_app

    app = create_app(bodies.service, close_on_shutdown=False)
    auth = (b"authorization", f"Bearer {bodies.token}".encode())
    return asgi.call(app, asgi.post_scope(URL, [auth, *headers]), receive)


def _asgi_predict(
    bodies: Bodies, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]
) -> tuple[int, bytes, int]:
    """Send a body streamed in ``chunks``: (status, answer, bytes the app pulled)."""
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    sent = _asgi_call(bodies, headers, receive)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


def _endless(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


def test_a_declared_length_over_the_limit_is_refused_before_reading(bodies: Bodies) -> None:
    def forbidden() -> Iterator[bytes]:
        raise AssertionError("the body was read although Content-Length was over the limit")
        yield b""  # pragma: no cover

    declared = str(bodies.service.config.max_body_bytes + 1).encode()
    status, body, pulled = _asgi_predict(bodies, [(b"content-length", declared)], forbidden())
    assert status == 413
    assert pulled == 0
    assert b"larger than" in body


def test_a_chunked_body_without_length_is_cut_at_the_limit(bodies: Bodies) -> None:
    chunk = b" " * 65536
    status, _, pulled = _asgi_predict(bodies, [], _endless(chunk))
    assert status == 413
    assert pulled <= bodies.service.config.max_body_bytes + len(chunk)


def test_a_lying_content_length_does_not_let_a_big_body_in(bodies: Bodies) -> None:
    chunk = b" " * 65536
    status, _, pulled = _asgi_predict(bodies, [(b"content-length", b"100")], _endless(chunk))
    assert status == 413
    assert pulled <= bodies.service.config.max_body_bytes + len(chunk)


def test_a_streamed_body_within_the_limit_is_answered(bodies: Bodies) -> None:
    body = json.dumps({"instances": bodies.served.rows[:5]}).encode()
    pieces = iter([body[i : i + 7] for i in range(0, len(body), 7)])
    status, answer, _ = _asgi_predict(bodies, [], pieces)
    assert status == 200, answer
    assert len(json.loads(answer)["predictions"]) == 5


def test_a_request_cut_off_mid_body_is_not_predicted(bodies: Bodies) -> None:
    body = json.dumps({"instances": bodies.served.rows[:1]}).encode()
    messages = iter([{"type": "http.request", "body": body, "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> Message:
        return next(messages)

    start = bodies.service.ws._audit.size()
    _asgi_call(bodies, [], receive)
    outcomes = [e.outcome for e in bodies.service.ws._audit.entries(start) if e.action == "predict"]
    assert "succeeded" not in outcomes


def test_a_content_length_that_is_not_a_number_is_400(bodies: Bodies) -> None:
    for value in (b"ten", b"1e9", b"9" * 5000):
        status, body, pulled = _asgi_predict(bodies, [(b"content-length", value)], iter([b"{}"]))
        assert status == 400, body
        assert pulled == 0
        assert b"Traceback" not in body


# -- rows from the OpenAPI schema, and mutations out of it ----------------------------------------


def _strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema``: the subset of JSON Schema the server's document uses (and no more)."""
    known = {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "enum",
        "anyOf",
    }
    assert set(schema) <= known, f"the request schema uses {set(schema) - known}: teach this test about it"
    if "anyOf" in schema:
        return st.one_of([_strategy(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if isinstance(kind, list):
        return st.one_of([_strategy({"type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "string":
        return st.text(max_size=20)
    if kind == "number":
        low, high = schema["minimum"], schema["maximum"]
        return st.one_of(
            st.integers(math.ceil(low), math.floor(high)),
            st.floats(low, high, allow_nan=False, allow_infinity=False),
        )
    if kind == "array":
        size = min(schema.get("maxItems", 5), 5)
        return st.lists(_strategy(schema["items"]), min_size=schema.get("minItems", 0), max_size=size)
    if kind == "object":
        assert schema.get("additionalProperties") is False
        required = set(schema.get("required", ()))
        properties = schema["properties"]
        return st.fixed_dictionaries(
            {name: _strategy(s) for name, s in properties.items() if name in required},
            optional={name: _strategy(s) for name, s in properties.items() if name not in required},
        )
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"unknown type {kind!r}")


def _columns(bodies: Bodies) -> dict[str, dict[str, Any]]:
    row_schema: dict[str, dict[str, Any]] = bodies.schema["properties"]["instances"]["items"]["properties"]
    return row_schema


@pytest.fixture(scope="module")
def valid_bodies(bodies: Bodies) -> st.SearchStrategy[Any]:
    # Rows are what is drawn here; "explain" (its own grant) is tested in test_http_explain.py.
    schema = dict(bodies.schema)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "explain"}
    return _strategy(schema)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bodies_drawn_from_the_openapi_schema_are_answered_as_scikit_learn_would(
    bodies: Bodies, valid_bodies: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    doc = data.draw(valid_bodies)
    response = bodies.post(json.dumps(doc).encode())
    assert response.status_code == 200, response.text
    answer = response.json()
    labels, proba = bodies.expected(doc["instances"])
    assert answer["predictions"] == labels
    assert np.abs(np.array(answer["probabilities"]) - proba).max() <= 1e-6


def _mutation(bodies: Bodies, draw: st.DrawFn, row: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``row`` changed so that it no longer fits the schema, and the column the message must name."""
    columns = _columns(bodies)
    name = draw(st.sampled_from(sorted(columns)))
    spec = columns[name]
    numeric = spec.get("type") == "number"
    bad = dict(row)
    how = draw(st.sampled_from(["drop", "extra", "null", "bool", "list", "object", "wrong-type", "out"]))
    if how == "drop":
        del bad[name]
    elif how == "extra":
        extra = draw(st.text(min_size=1, max_size=30).filter(lambda k: k not in columns))
        bad[extra] = draw(st.integers() | st.text(max_size=5))
        return bad, extra
    elif how == "null":
        bad[name] = None
    elif how == "bool":
        bad[name] = draw(st.booleans())
    elif how == "list":
        bad[name] = [row[name]]
    elif how == "object":
        bad[name] = {"value": row[name]}
    elif how == "wrong-type":
        finite = st.floats(allow_nan=False, allow_infinity=False)
        bad[name] = str(row[name]) if numeric else draw(st.integers() | finite)
    elif numeric:
        step = draw(st.floats(1e-6, 1e6) | st.integers(1, 10**30))
        bad[name] = spec["maximum"] + step if draw(st.booleans()) else spec["minimum"] - step
    else:
        bad[name] = draw(st.text(max_size=20).filter(lambda v: v not in spec["enum"]))
    return bad, name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rows_mutated_out_of_the_schema_are_refused(
    bodies: Bodies, valid_bodies: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    rows = data.draw(valid_bodies)["instances"]
    index = data.draw(st.integers(0, len(rows) - 1))
    rows[index], column = _mutation(bodies, data.draw, rows[index])
    response = bodies.predict(rows)
    message = assert_refused(response, 422, f"instance {index}")
    assert repr(column)[:30] in message, (column, message)  # messages show names as repr, cut at 40


# -- answers equal scikit-learn's -----------------------------------------------------------------


def test_classes_are_the_pipelines(bodies: Bodies) -> None:
    listed = bodies.client.get("/v1/models", headers=bodies.headers).json()["models"]
    (credit,) = [m for m in listed if m["name"] == MODEL]
    assert credit["classes"] == [c.item() if hasattr(c, "item") else c for c in bodies.pipeline.classes_]


def test_real_rows_one_by_one_equal_scikit_learn(bodies: Bodies) -> None:
    rows = bodies.served.rows
    assert len(rows) == 200
    labels, proba = bodies.expected(rows)
    for i, row in enumerate(rows):
        answer = bodies.predict([row]).json()
        assert answer["predictions"] == [labels[i]], i
        assert np.abs(np.array(answer["probabilities"][0]) - proba[i]).max() <= 1e-6, i
    # Both classes occur: a model answering a constant would not pass this test.
    assert set(labels) == {"good", "bad"}


@pytest.mark.parametrize("size", [1, 7, 64, 200])
def test_real_rows_in_batches_equal_scikit_learn(bodies: Bodies, size: int) -> None:
    rows = bodies.served.rows
    labels, proba = bodies.expected(rows)
    got_labels: list[object] = []
    got_proba: list[list[float]] = []
    for start in range(0, len(rows), size):
        answer = bodies.predict(rows[start : start + size]).json()
        got_labels += answer["predictions"]
        got_proba += answer["probabilities"]
    assert got_labels == labels
    assert np.abs(np.array(got_proba) - proba).max() <= 1e-6


def test_concurrent_requests_each_get_their_own_rows_answer(bodies: Bodies) -> None:
    """Threads fire at once; whatever the micro-batcher merges, each answer is its own row's."""
    rows = bodies.served.rows
    labels, proba = bodies.expected(rows)
    # Requests of 1 to 3 rows, so that merged batches have uneven boundaries.
    requests = []
    start = 0
    while start < len(rows):
        size = 1 + start % 3
        requests.append((start, rows[start : start + size]))
        start += size

    def call(item: tuple[int, list[dict[str, Any]]]) -> tuple[int, Any]:
        return item[0], bodies.predict(item[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, requests))
    for first, response in answers:
        assert response.status_code == 200, response.text
        answer = response.json()
        count = len(answer["predictions"])
        assert answer["predictions"] == labels[first : first + count]
        assert np.abs(np.array(answer["probabilities"]) - proba[first : first + count]).max() <= 1e-6


def test_requests_parsed_together_share_one_batch_and_are_split_back(bodies: Bodies) -> None:
    """Driven on one event loop: every request reaches the batcher before it flushes, so one batch serves all."""
    rows = bodies.served.rows[:120]
    labels, proba = bodies.expected(rows)
    batcher = bodies.service.models[MODEL].batcher
    before = batcher.batches

    async def one(i: int) -> Any:
        body = json.dumps({"instances": [rows[i]]}).encode()

        async def read_body(limit: int) -> bytes:
            return body

        return await bodies.service.predict(MODEL, f"Bearer {bodies.token}", str(len(body)), read_body)

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(*(one(i) for i in range(len(rows))))

    replies = asyncio.run(all_at_once())
    # 120 rows, under max_batch_rows, all queued in one event-loop turn: one predictor call.
    assert batcher.batches - before == 1, "requests parsed together were not merged into one batch"
    for i, reply in enumerate(replies):
        assert reply.status == 200
        answer = json.loads(reply.body)
        assert answer["predictions"] == [labels[i]]
        assert np.abs(np.array(answer["probabilities"][0]) - proba[i]).max() <= 1e-6


# -- output policies -----------------------------------------------------------------------------


@pytest.fixture
def started(where: Served) -> Iterator[Any]:
    opened: list[tuple[Service, Any]] = []

    def start(**options: Any) -> Any:
        service, client = _start(where, ServeConfig(extraction_monitor=False, **options))
        opened.append((service, client))
        return client

    yield start
    for service, client in opened:
        client.__exit__(None, None, None)
        service.ws.close()


def test_labels_only_answers_no_probabilities(bodies: Bodies, started: Any) -> None:
    client = started(default_output=OutputPolicy(labels_only=True))
    rows = bodies.served.rows[:20]
    labels, _ = bodies.expected(rows)
    for model in ("credit-risk", "fraud-risk"):
        answer = client.post(f"/v1/models/{model}/predict", headers=bodies.headers, json={"instances": rows}).json()
        assert answer["probabilities"] is None
        assert len(answer["predictions"]) == 20
    answer = client.post(URL, headers=bodies.headers, json={"instances": rows}).json()
    assert answer["predictions"] == labels


def test_per_model_rounding(bodies: Bodies, started: Any) -> None:
    client = started(outputs=((MODEL, OutputPolicy(digits=2)),))
    rows = bodies.served.rows[:50]
    _, proba = bodies.expected(rows)
    answer = client.post(URL, headers=bodies.headers, json={"instances": rows}).json()
    got = np.array(answer["probabilities"])
    assert np.abs(got - proba).max() <= 0.005 + 1e-9
    assert np.abs(got * 100 - np.round(got * 100)).max() < 1e-6  # two decimals at most
    # The other model keeps the default (6 decimals): some probability has more than two.
    other = client.post("/v1/models/fraud-risk/predict", headers=bodies.headers, json={"instances": rows}).json()
    fine = np.array(other["probabilities"])
    assert np.abs(fine * 100 - np.round(fine * 100)).max() > 1e-6
    assert np.abs(fine * 1e6 - np.round(fine * 1e6)).max() < 1e-3
