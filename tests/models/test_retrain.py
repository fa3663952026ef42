"""Governed retraining (``ws.models.retrain``): a candidate trained with the champion's signed recipe
through the same gate as ``train``, compared with the champion on the same held-out rows (paired
bootstrap), signed, registered in stage ``candidate``, and never promoted.

The workspace is the ``governed`` one (tests/conftest.py): ``credit-risk@1`` in production,
trained on ``credit@1``; ``credit@2`` holds the same rows in reverse order. Each test works on a copy.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from mlwarden import models
from mlwarden.errors import BadInput, DataFindings

TARGET = "creditability"


@pytest.fixture
def gov(governed: Any, tmp_path: Path) -> Any:
    return governed.copy(tmp_path / "ws")


def test_a_retrain_registers_a_signed_candidate_with_the_recipe_and_the_comparison(gov: Any) -> None:
    from mlwarden.models._training import held_out

    with gov.open("sci") as sci:
        champion = sci.models.info("credit-risk", 1)
        candidate = sci.models.retrain("credit-risk", "credit", dataset_version=2, trigger={"drift_report": 7})
        assert (candidate.ref, candidate.stage, candidate.created_by) == ("credit-risk@2", "candidate", "sci")
        assert [v.stage for v in sci.models.versions("credit-risk")] == ["production", "candidate"]

        # what is signed is what the catalog shows, and the one load accepts it
        _, verified = sci.models.verify("credit-risk", 2)
        assert verified.provenance == candidate.provenance
        signed = candidate.provenance
        assert signed["code"]["entry_point"] == "mlwarden retrain"
        assert signed["dataset"]["version"] == 2
        assert signed["data_audit"]["decision"] == "passed"
        assert signed["trained_by"] == "sci"

        # the recipe: the champion's parameters and explanation settings
        for key in ("estimator", "target", "test_size", "seed", "numeric_features", "categorical_features"):
            assert signed["parameters"][key] == champion.provenance["parameters"][key], key
        explained, before = signed["explanations"], champion.provenance["explanations"]
        for key in ("adverse_class", "reason_map", "reason_map_sha256", "protected"):
            assert explained[key] == before[key], key
        assert (explained["adverse_class"], explained["protected"]) == ("bad", ["personal_status_and_sex"])
        assert explained["reason_map"]["not_reasons"] == ["age_in_years"]
        assert explained["background"]["rule"] == "near-cutoff"
        assert explained["background"]["rows"] == before["background"]["rows"] == 40
        assert explained["background"]["sha256"] != before["background"]["sha256"]  # its own, of the new data

        record = signed["retrain"]
        assert record["champion"] == {
            "ref": "credit-risk@1",
            "version": 1,
            "sha256": champion.sha256,
            "stage": "production",
        }
        assert record["trigger"] == {"drift_report": 7}
        held = record["held_out"]
        assert (held["rows"], held["test_size"], held["seed"], held["champion_may_have_seen"]) == (250, 0.25, 0, True)
        assert held["dataset"] == {"name": "credit", "version": 2, "sha256": signed["dataset"]["sha256"]}

        # the comparison is what scikit-learn says of both models on the challenger's held-out rows
        frame = sci.datasets.read_frame("credit", 2)
        x_test, y_test = held_out(frame, TARGET, test_size=0.25, seed=0)
        pipelines = {
            "champion": sci.models.load("credit-risk", 1).model,
            "challenger": sci.models.load("credit-risk", 2).model,
        }
        compared = record["comparison"]
        assert compared["rows"] == 250
        assert compared["interval"] == {
            "method": "paired percentile bootstrap",
            "rounds": 1000,
            "level": 0.95,
            "seed": 0,
        }
        assert set(compared["metrics"]) == {"accuracy", "balanced_accuracy", "roc_auc", "brier", "f1", "log_loss"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # log_loss's renamed argument (scikit-learn 1.9)
            for who, pipeline in pipelines.items():
                proba = pipeline.predict_proba(x_test)
                found = compared["metrics"]
                assert found["roc_auc"][who]["value"] == pytest.approx(skm.roc_auc_score(y_test == "good", proba[:, 1]))
                assert found["log_loss"][who]["value"] == pytest.approx(
                    skm.log_loss(y_test, proba, labels=["bad", "good"])
                )
                assert found["accuracy"][who]["value"] == pytest.approx(
                    skm.accuracy_score(y_test, pipeline.predict(x_test))
                )
        for name, row in compared["metrics"].items():
            for who in ("champion", "challenger"):
                assert row[who]["low"] <= row[who]["value"] <= row[who]["high"], (name, who)
            difference = row["difference"]
            assert difference["value"] == pytest.approx(row["challenger"]["value"] - row["champion"]["value"])
            assert difference["low"] <= difference["high"]
            assert row["better"] == ("lower" if name in ("log_loss", "brier") else "higher")
            excludes_zero = difference["low"] > 0 or difference["high"] < 0
            assert (row["finding"] != "no clear difference") == excludes_zero, name
        # the champion was fitted on 750 of these 1,000 rows (the same rows, another order): it looks better
        assert compared["metrics"]["log_loss"]["finding"] == "challenger worse"

        log = list(sci._audit.entries())
    succeeded = [e for e in log if e.action == "model.register" and e.outcome == "succeeded"]
    assert succeeded[-1].details["champion"] == 1
    assert succeeded[-1].details["stage"] == "candidate"
    assert succeeded[-1].details["sha256"] == candidate.sha256
    allowed = [e for e in log if e.action == "model.register" and e.outcome == "allowed"]
    assert allowed[-1].details["what"] == "retrain"
    loads = [e for e in log if e.principal == "sci" and e.action == "model.read" and e.details.get("what") == "load"]
    assert loads[0].details["version"] == 1  # the champion, through the one load


def test_retraining_on_the_champions_own_data_reproduces_it_exactly(gov: Any) -> None:
    with gov.open("sci") as sci:
        champion = sci.models.info("credit-risk", 1)
        candidate = sci.models.retrain("credit-risk", "credit", dataset_version=1)
    record = candidate.provenance["retrain"]
    assert record["held_out"]["champion_may_have_seen"] is False
    assert record["trigger"] is None
    assert candidate.metrics == champion.metrics
    for name, row in record["comparison"]["metrics"].items():
        assert row["champion"] == row["challenger"], name
        assert row["difference"] == {"value": 0.0, "low": 0.0, "high": 0.0}, name
        assert row["finding"] == "no clear difference"


def test_the_data_audit_gate_refuses_poisoned_data_on_retrain_too(gov: Any) -> None:
    from mlwarden.audit._poison_generators import german_credit, inject_backdoor

    frame, target = german_credit()
    attack = inject_backdoor(frame, target, 0.03, seed=1, family="categorical")
    with gov.open() as admin:
        admin.datasets.put(attack.frame.to_csv(index=False).encode(), name="credit", format="csv")  # credit@3
    with gov.open("sci") as sci:
        before = [(v.ref, v.stage) for v in sci.models.versions("credit-risk")]
        with pytest.raises(DataFindings, match="trigger pattern"):
            sci.models.retrain("credit-risk", "credit", dataset_version=3)
        assert [(v.ref, v.stage) for v in sci.models.versions("credit-risk")] == before
        failed = [e for e in sci._audit.entries() if e.action == "model.register" and e.outcome == "failed"]
        assert failed[-1].details["error"] == "DataFindings"
        # without the flagged rows: a candidate trained on the derived version, the decision signed
        candidate = sci.models.retrain("credit-risk", "credit", dataset_version=3, on_findings="exclude")
        audited = candidate.provenance["data_audit"]
        assert (audited["decision"], audited["excluded_rows"]) == ("excluded-flagged", len(attack.rows))
        assert (
            candidate.provenance["retrain"]["held_out"]["dataset"]["version"]
            == candidate.provenance["dataset"]["version"]
            == 4
        )
        assert [v.stage for v in sci.models.versions("credit-risk")] == ["production", "candidate"]


def test_a_retrain_never_promotes_and_needs_a_champion_with_a_recipe(gov: Any) -> None:
    with gov.open("sci") as sci:
        first = sci.models.retrain("credit-risk", "credit", dataset_version=1)
        second = sci.models.retrain("credit-risk", "credit", dataset_version=1, champion_version=first.version)
        assert second.provenance["retrain"]["champion"]["ref"] == first.ref
        assert [v.stage for v in sci.models.versions("credit-risk")] == ["production", "candidate", "candidate"]
    with gov.open("dep") as dep:
        dep.models.promote("credit-risk", 1, "archived")
    with gov.open("sci") as sci:
        with pytest.raises(BadInput, match="no production version to retrain"):
            sci.models.retrain("credit-risk", "credit")
        assert sci.models.retrain("credit-risk", "credit", dataset_version=1, champion_version=1).stage == "candidate"
    with gov.open() as admin:
        admin.models.register("copied", models.dumps(_tiny()))
        with pytest.raises(BadInput, match="no training recipe"):
            admin.models.retrain("copied", "credit", champion_version=1)


def test_a_retrain_keeps_the_champions_columns_and_a_json_trigger(gov: Any) -> None:
    import pandas as pd

    from mlwarden.usecases import german_credit_csv

    frame = pd.read_csv(german_credit_csv())
    with gov.open() as admin:
        admin.datasets.put(
            frame.drop(columns=["age_in_years"]).to_csv(index=False).encode(), name="fewer", format="csv"
        )
        admin.datasets.put(frame.assign(branch="north").to_csv(index=False).encode(), name="more", format="csv")
    with gov.open("sci") as sci:
        # refused from the catalog's schema, before the data's (costly) audit runs
        with pytest.raises(BadInput, match="lacks column 'age_in_years'"):
            sci.models.retrain("credit-risk", "fewer")
        with pytest.raises(BadInput, match=r"has column 'branch'.*train a new model"):
            sci.models.retrain("credit-risk", "more")
        assert not [
            e for e in sci._audit.entries() if e.request_id == sci._gate.request_id and e.action == "dataset.audit"
        ]
        for trigger in ({"at": object()}, {1: "a", "b": 2}, {"blob": "x" * 5000}, ["not", "a", "mapping"]):
            with pytest.raises(BadInput, match="trigger"):
                sci.models.retrain("credit-risk", "credit", dataset_version=1, trigger=trigger)  # type: ignore[arg-type]
        assert [v.version for v in sci.models.versions("credit-risk")] == [1]


def _tiny() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), [0, 1, 1, 0])
