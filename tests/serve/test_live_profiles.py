"""Live profiles: what the server counts of its traffic, what it stores and shows, and that no row is kept.

A window must hold exactly the rows answered (not those refused), be stored encrypted when it
closes (on its schedule, when its version is switched out, at shutdown) as counts that decrypt to
what was counted, set the drift gauges of ``/metrics``, and name no value of any row, in the
stored window, in the log or in the server's own log lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlwarden.errors import Unavailable
from mlwarden.serve import create_app

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

MODEL = "credit-risk"
PREDICT = f"/v1/models/{MODEL}/predict"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_windows(where: Served, model: str = MODEL, version: int = 1) -> list[tuple[Any, bytes]]:
    """The windows the server stored for ``model@version``: each catalog row and its decrypted counts."""
    with where.open(where.tokens["operator"]) as ws:
        rows = ws.monitoring.windows(model, version)
        return [(row, ws.monitoring._read_window(row)) for row in rows]  # the decryption monitor drift --live uses


def post(client: TestClient, where: Served, rows: list[dict[str, Any]], caller: str = "client-credit") -> Any:
    return client.post(PREDICT, json={"instances": rows}, headers=bearer(where.tokens[caller]))


def shifted(rows: list[dict[str, Any]], column: str, value: Any) -> list[dict[str, Any]]:
    return [{**row, column: value} for row in rows]


def test_a_window_counts_exactly_the_rows_answered_and_a_shutdown_stores_it(
    served_copy: Served, service_factory: Any
) -> None:
    service = service_factory(served_copy)
    served = service.models[MODEL]
    assert served.profile is not None, "the fixture's models were trained with a reference profile"
    rows = served_copy.rows
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        for start, count in ((0, 5), (5, 1), (6, 7), (13, 120)):
            assert post(client, served_copy, rows[start : start + count]).status_code == 200
        assert post(client, served_copy, [{**rows[0], "unknown": 1}]).status_code == 422  # refused: not counted
        assert post(client, served_copy, rows[:3], "client-fraud").status_code == 403  # not granted: not counted
        fraud = client.post(
            "/v1/models/fraud-risk/predict",
            json={"instances": rows[:2]},
            headers=bearer(served_copy.tokens["client-all"]),
        )
        assert fraud.status_code == 200
        window = served.window
        assert window is not None
        assert window.rows == 5 + 1 + 7 + 120
        assert stored_windows(served_copy) == []  # nothing stored while the window is open
    # The shutdown closed and stored the window in progress: counts only, the same counts.
    [(row, data)] = stored_windows(served_copy)
    assert (row.model, row.version, row.rows) == (MODEL, 1, 133)
    assert row.profile_sha256 == served.profile.sha256
    assert row.started_at <= row.ended_at
    assert data == window.counts.to_bytes()
    from mlwarden.monitor import ProfileCounts

    back = ProfileCounts.from_bytes(data, served.profile)
    assert back.rows == 133
    assert [k.tolist() for k in back.counts] == [k.tolist() for k in window.counts.counts]
    assert all(int(k.sum()) == 133 for k in back.counts)
    assert back.score is not None
    assert back.label is not None
    assert int(back.score.sum()) == int(back.label.sum()) == 133
    [(fraud_row, _)] = stored_windows(served_copy, "fraud-risk")
    assert fraud_row.rows == 2
    assert service.models[MODEL].window is None  # closed for good


def drift_gauges(text: str, model: str = MODEL) -> dict[tuple[str, str], float]:
    """(metric, column) -> value of the per-column drift gauges of ``model`` in a /metrics text."""
    return {
        (line.split("{")[0], line.split('column="')[1].split('"')[0]): float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mlwarden_drift_") and 'column="' in line and f'model="{model}"' in line
    }


async def _close(service: Any, served: Any) -> Any:
    return service.profiles.close(served, reopen=True)


def close_now(client: TestClient, service: Any, name: str = MODEL) -> None:
    """Close ``name``'s window on the app's event loop and wait until it is stored and compared."""
    task = client.portal.call(_close, service, service.models[name])
    assert task is not None, "the window had no rows"
    client.portal.call(_wait, task)


async def _wait(task: Any) -> None:
    await task


def test_a_closed_window_sets_the_drift_gauges_and_a_shift_is_caught(served_copy: Served, service_factory: Any) -> None:
    service = service_factory(served_copy)
    rows = served_copy.rows
    metrics = bearer(served_copy.tokens["auditor"])
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        assert "mlwarden_drift_rows{" not in client.get("/metrics", headers=metrics).text  # no window closed yet
        # Traffic shifted on purpose: every applicant asks for the longest duration the model was trained on.
        longest = max(row["duration_in_month"] for row in rows)
        for start in range(0, 200, 50):
            answer = post(client, served_copy, shifted(rows[start : start + 50], "duration_in_month", longest))
            assert answer.status_code == 200
        close_now(client, service)
        text = client.get("/metrics", headers=metrics).text
        assert post(client, served_copy, rows[:1]).status_code == 200  # the next window counts on
        assert service.models[MODEL].window.rows == 1
    [(row, _), *_] = stored_windows(served_copy)
    assert row.rows == 200
    assert f'mlwarden_drift_rows{{model="{MODEL}"}} 200.0' in text
    gauges = drift_gauges(text)
    columns = {c for _, c in gauges}
    assert {"duration_in_month", "credit_amount", "purpose", "prediction:score", "prediction:label"} <= columns
    assert columns - {"prediction:score", "prediction:label"} == set(service.models[MODEL].profile.names)
    for column in columns:
        assert 0.0 <= gauges[("mlwarden_drift_p_value", column)] <= 1.0
        assert gauges[("mlwarden_drift_detected", column)] in (0.0, 1.0)
        assert ("mlwarden_drift_psi", column) in gauges
    assert gauges[("mlwarden_drift_detected", "duration_in_month")] == 1.0  # the shift is caught
    assert gauges[("mlwarden_drift_psi", "duration_in_month")] > 0.25
    assert gauges[("mlwarden_drift_detected", "credit_amount")] == 0.0  # an untouched column is not


def test_windows_close_every_drift_window_seconds(served_copy: Served, service_factory: Any) -> None:
    service = service_factory(served_copy, drift_window=1.0)
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        assert post(client, served_copy, served_copy.rows[:10]).status_code == 200
        deadline = time.monotonic() + 10
        while not stored_windows(served_copy):
            assert time.monotonic() < deadline, "no window closed on its schedule"
            time.sleep(0.1)
        assert (
            f'mlwarden_drift_rows{{model="{MODEL}"}} 10.0'
            in client.get("/metrics", headers=bearer(served_copy.tokens["auditor"])).text
        )
    assert [row.rows for row, _ in stored_windows(served_copy)] == [10]  # empty windows are not stored


def test_a_window_that_cannot_be_stored_is_counted_and_serving_goes_on(
    served_copy: Served, service_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_factory(served_copy)

    def unavailable(*_args: Any, **_kwargs: Any) -> None:
        raise Unavailable("the catalog database is unavailable: disk I/O error")

    monkeypatch.setattr(service.ws.monitoring, "record_window", unavailable)
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        assert post(client, served_copy, served_copy.rows[:40]).status_code == 200
        close_now(client, service)
        assert post(client, served_copy, served_copy.rows[:3]).status_code == 200  # serving goes on
        text = client.get("/metrics", headers=bearer(served_copy.tokens["auditor"])).text
    assert f'mlwarden_drift_window_failures_total{{model="{MODEL}"}} 1.0' in text
    assert f'mlwarden_drift_rows{{model="{MODEL}"}} 40.0' in text  # compared all the same


def test_a_switched_out_version_closes_its_window_with_its_own_rows(served_copy: Served, service_factory: Any) -> None:
    service = service_factory(served_copy)
    rows = served_copy.rows
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        assert post(client, served_copy, rows[:30]).status_code == 200
        with served_copy.open() as ws:
            version = ws.models.train(MODEL, "credit-german", "creditability", estimator="logistic", seed=7).version
        with served_copy.open(served_copy.tokens["reviewer"]) as ws:
            ws.models.approve(MODEL, version)
        with served_copy.open(served_copy.tokens["operator"]) as ws:
            ws.models.promote(MODEL, version, "production")
        assert client.portal.call(service.reloader.check) == [(MODEL, "switched")]
        deadline = time.monotonic() + 10
        while not stored_windows(served_copy) and time.monotonic() < deadline:
            time.sleep(0.05)
        [(old_row, _)] = stored_windows(served_copy)  # closed at the switch, before the shutdown
        assert (old_row.version, old_row.rows) == (1, 30)
        assert post(client, served_copy, rows[30:41]).status_code == 200
    [(new_row, _)] = stored_windows(served_copy, version=version)
    assert (new_row.version, new_row.rows) == (version, 11)


def test_no_row_value_is_in_a_stored_window_the_log_or_the_servers_log(
    served_copy: Served, service_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    service = service_factory(served_copy)
    rows = served_copy.rows[:64]
    app = create_app(service, close_on_shutdown=False)
    with (
        caplog.at_level(logging.DEBUG, logger="mlwarden.serve"),
        TestClient(app, base_url="http://mlwarden.test") as client,
    ):
        for start in range(0, 64, 16):
            assert post(client, served_copy, rows[start : start + 16]).status_code == 200
        close_now(client, service)
    [(row, data)] = stored_windows(served_copy)
    assert row.rows == 64
    # The document's only number is its row count; each column is a packed array of bin counts.
    document = json.loads(data)
    assert set(document) == {"format", "profile_sha256", "rows", "columns", "score", "label", "joint"}
    assert document["rows"] == 64
    assert set(document["columns"]) == set(service.models[MODEL].profile.names)
    assert all(isinstance(v, str) for v in [*document["columns"].values(), document["score"], document["label"]])
    sent = {v for r in rows for v in r.values() if isinstance(v, str) and len(v) >= 6}  # categories the rows name
    assert sent
    text = data.decode()
    assert [v for v in sent if f'"{v}"' in text] == []
    # No entry of the log names a value of a row (predictions name their input by its SHA-256 only).
    with served_copy.open(served_copy.tokens["auditor"]) as ws:
        entries = list(ws.log.entries())
    windows = [e for e in entries if e.details.get("what") == "drift-window" or "window" in e.details]
    assert windows
    for entry in windows:
        assert set(entry.details) <= {"token", "version", "what", "window", "rows", "started_at", "ended_at"}
    logged = json.dumps([e.details for e in entries])
    assert [v for v in sent if json.dumps(v) in logged] == []
    assert [v for v in sent if re.search(rf"(?<![\w/]){re.escape(v)}(?![\w/])", caplog.text)] == []


def test_live_profiles_off_count_nothing(served_copy: Served, service_factory: Any) -> None:
    service = service_factory(served_copy, drift_window=0)
    assert service.models[MODEL].profile is None
    assert service.models[MODEL].window is None
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        assert post(client, served_copy, served_copy.rows[:4]).status_code == 200
    assert stored_windows(served_copy) == []


def test_counting_changes_no_answer(served_copy: Served, service_factory: Any) -> None:
    answers = []
    for window in (0, 300):
        service = service_factory(served_copy, drift_window=window)
        with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
            answer = post(client, served_copy, served_copy.rows[:50]).json()
        answers.append((answer["predictions"], np.array(answer["probabilities"])))
    assert answers[0][0] == answers[1][0]
    assert np.array_equal(answers[0][1], answers[1][1])


def test_the_window_is_counted_after_the_audit_entry(served_copy: Served, service_factory: Any) -> None:
    """A request whose answer is withheld (the log cannot be written) is not counted."""
    service = service_factory(served_copy)
    served = service.models[MODEL]

    async def failing_record(**_kwargs: Any) -> bool:
        return False

    service._record = failing_record
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        assert post(client, served_copy, served_copy.rows[:5]).status_code == 503
        assert served.window is not None
        assert served.window.rows == 0
    asyncio.run(service.drain())
