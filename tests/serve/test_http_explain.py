"""Explanations from the server: ``"explain": true``, its own grant, the log, the metrics and the monitor.

A token of the ``explained-client`` role gets, per instance, the base value, one exact contribution per
column (adding up to the model's output) and at most four reasons toward the adverse class; a plain
``client`` token is refused (403, audited). The prediction's log entry holds the reasons, so an
adverse-action notice can be reproduced from the log; an explanation that fails its additivity check
is withheld (500) and counted in ``/metrics``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

Served = Any
URL = "/v1/models/credit-explained/predict"


def _post(client: Any, token: str, body: dict[str, Any], url: str = URL) -> Any:
    return client.post(url, headers={"Authorization": f"Bearer {token}"}, content=json.dumps(body).encode())


@pytest.fixture
def explained(served_copy: Served, service_factory: Any, app_client: Any, tmp_path: Any) -> tuple[Served, Any, Any]:
    with served_copy.open() as ws:
        version = ws.models.train(
            "credit-explained",
            "credit-german",
            "creditability",
            estimator="logistic",
            explanation={
                "adverse_class": "bad",
                "reason_map": {
                    "version": 1,
                    "reasons": {"duration_in_month": "Term of the loan is too long"},
                    "not_reasons": ["age_in_years", "personal_status_and_sex"],
                },
                "background_rows": 80,
            },
        )
        assert version.provenance["explanations"]["adverse_class"] == "bad"
    service = service_factory(served_copy, models=("credit-explained", "credit-risk"), extraction_monitor=True)
    return served_copy, service, app_client(service)


def test_an_explained_client_gets_exact_per_column_reasons(explained: tuple[Served, Any, Any]) -> None:
    where, _, client = explained
    rows = where.rows[:6]
    reply = _post(client, where.tokens["explained-credit"], {"instances": rows, "explain": True})
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert len(doc["explanations"]) == len(rows)
    for explanation, proba in zip(doc["explanations"], doc["probabilities"], strict=True):
        contributions = explanation["contributions"]
        assert len(contributions) == 20
        total = explanation["base"] + sum(contributions.values())
        assert total == pytest.approx(explanation["output"], abs=1e-6)
        # The output is the log-odds of "good" the probabilities come from (rounded to 6 digits).
        assert explanation["output"] == pytest.approx(math.log(proba[1] / proba[0]), abs=1e-3)
        reasons = explanation["reasons"]
        assert len(reasons) <= 4
        assert all(r["contribution"] < 0 for r in reasons)  # toward "bad": down the log-odds of "good"
        assert not {r["column"] for r in reasons} & {"age_in_years", "personal_status_and_sex"}
        assert [r["contribution"] for r in reasons] == sorted(r["contribution"] for r in reasons)
        for r in reasons:
            assert r["contribution"] == contributions[r["column"]]
    texts = {r["column"]: r["text"] for e in doc["explanations"] for r in e["reasons"]}
    assert texts["duration_in_month"] == "Term of the loan is too long"  # the map's text (row 1: a 48-month loan)
    assert texts["credit_history"] == "Credit history"  # not in the map: from the column name
    refused = next(e for e, p in zip(doc["explanations"], doc["predictions"], strict=True) if p == "bad")
    assert refused["reasons"], "a refused applicant gets reasons"


def test_the_log_holds_the_reasons_of_the_answer(explained: tuple[Served, Any, Any]) -> None:
    where, service, client = explained
    start = service.ws._audit.size()
    reply = _post(client, where.tokens["explained-credit"], {"instances": where.rows[:2], "explain": True})
    assert reply.status_code == 200
    entry = next(e for e in service.ws._audit.entries(start) if e.action == "predict")
    details = entry.details
    assert json.loads(details["reasons"]) == [e["reasons"] for e in reply.json()["explanations"]]
    with where.open() as ws:
        signed = ws.models.info("credit-explained").provenance["explanations"]
    # The digests the entry names are the ones signed with the model.
    assert details["reason_map_sha256"] == signed["reason_map_sha256"]
    assert details["background_sha256"] == signed["background"]["sha256"]
    assert json.loads(details["output"])["explanations"] == reply.json()["explanations"]


def test_a_plain_client_is_refused_explanations(explained: tuple[Served, Any, Any]) -> None:
    where, service, client = explained
    start = service.ws._audit.size()
    reply = _post(client, where.tokens["client-credit"], {"instances": where.rows[:1], "explain": True})
    assert reply.status_code == 403
    assert "contributions" not in reply.text
    assert "predict.explain" in reply.json()["error"]
    entry = next(e for e in service.ws._audit.entries(start) if e.action == "predict")
    assert entry.outcome == "denied"
    assert entry.details["reason"] == "explain-not-granted"
    plain = _post(client, where.tokens["client-credit"], {"instances": where.rows[:1]})
    assert plain.status_code == 200
    assert "explanations" not in plain.json()
    bad = _post(client, where.tokens["explained-credit"], {"instances": where.rows[:1], "explain": "yes"})
    assert bad.status_code == 422


def test_a_failed_additivity_check_withholds_the_explanation_and_is_counted(
    explained: tuple[Served, Any, Any],
) -> None:
    where, service, client = explained
    served = service.models["credit-explained"]
    served.explainer.explainer.base += 0.01  # a wrong reading of the model: the sum misses its output
    reply = _post(client, where.tokens["explained-credit"], {"instances": where.rows[:1], "explain": True})
    assert reply.status_code == 500
    assert "additivity" in reply.json()["error"]
    assert "contributions" not in reply.text
    metrics = service.metrics.render().decode()
    assert 'mlwarden_explanation_failures_total{model="credit-explained"} 1.0' in metrics


def test_explanations_count_toward_the_extraction_monitor(explained: tuple[Served, Any, Any]) -> None:
    where, service, client = explained
    token = where.tokens["explained-credit"]
    reply = _post(client, token, {"instances": where.rows[:5], "explain": True})
    assert reply.status_code == 200
    from mlwarden.access import parse_token

    parsed = parse_token(token)
    assert parsed is not None
    stats = service.monitors["credit-explained"].stats(parsed.token_id)
    assert stats["explained"] == 5
    assert stats["queries"] == 5


def test_the_monitor_alerts_past_the_explanation_budget() -> None:
    import numpy as np

    from mlwarden.serve._extraction import ExtractionMonitor

    monitor = ExtractionMonitor(explanation_budget=10)
    rows = np.random.default_rng(0).normal(size=(12, 4))
    monitor.observe("t", rows[:6], ["a"] * 6)
    assert monitor.observe_explanations("t", 6) is None
    monitor.observe("t", rows[6:], ["a"] * 6)
    alert = monitor.observe_explanations("t", 6)
    assert alert is not None
    assert alert.test == "explanations"
    assert alert.statistic < alert.threshold
    assert monitor.observe_explanations("t", 6) is None  # alerted once


def test_a_changed_background_is_refused_and_the_model_not_served(
    explained: tuple[Served, Any, Any], service_factory: Any
) -> None:
    from mlwarden.errors import IntegrityError

    where, _, _ = explained
    with where.open() as ws:
        info = ws.models.info("credit-explained")
        object_id = info.provenance["explanations"]["background"]["object"]
        (path,) = [p for p in (where.settings.home / "models").rglob("*") if p.name == object_id]
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match="explanation background failed authentication"):
            ws.models.background(info)
    service = service_factory(where, models=("credit-explained", "credit-risk"))
    assert "credit-explained" not in service.models
    assert any(f.ref == "credit-explained" and "background" in f.message for f in service.failures)
