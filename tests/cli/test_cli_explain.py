"""End-to-end ``mlwarden explain``, ``mlwarden model card`` and ``mlwarden model verify-card`` (real subprocesses).

One scenario on one workspace: train with an adverse class, a reason map, a column never given as a
reason and protected columns; explain rows and an instance file (reasons, additivity, importance);
write the signed card; it verifies, fails after one changed byte (exit 3),
fails for a card of another model under the same name (exit 3), and verifies with the public key
alone; the fairness figures are fairlearn's; bad input is a one-line exit 2.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlwarden.usecases import german_credit_csv

Proc = subprocess.CompletedProcess[bytes]
TARGET = "creditability"


def as_json(proc: Proc) -> Any:
    return json.loads(proc.stdout)


def test_explain_and_the_signed_card_end_to_end(
    workspace: Any, tmp_path: Path, check_error: Callable[..., str], show: Callable[[Proc], str]
) -> None:
    ws = workspace
    ws.ok("data", "put", german_credit_csv(), "--name", "credit-german")
    reason_map = tmp_path / "reasons.json"
    reason_map.write_text(json.dumps({"duration_in_month": "Term of the loan is too long"}))
    trained = ws.run(
        "train", "--data", "credit-german", "--target", TARGET, "--name", "credit-lr",
        "--adverse-class", "bad", "--reason-map", reason_map, "--not-reason", "age_in_years",
        "--protected", "age_in_years", "--protected", "personal_status_and_sex", "--json",
    )  # fmt: skip
    assert trained.returncode == 0, show(trained)
    explanations = as_json(trained)["provenance"]["explanations"]
    assert explanations["adverse_class"] == "bad"
    assert explanations["background"]["rows"] == 100
    assert len(explanations["background"]["sha256"]) == 64

    # explain dataset rows: at most four reasons toward "bad", exact sums
    found = ws.run("explain", "credit-lr", "--data", "credit-german", "--rows", "0,1,2,3", "--json")
    assert found.returncode == 0, show(found)
    doc = as_json(found)
    assert doc["units"] == "log-odds"
    assert doc["explained_class"] == "good"
    assert [e["row"] for e in doc["explanations"]] == [0, 1, 2, 3]
    for e in doc["explanations"]:
        assert doc["base"] + sum(e["contributions"].values()) == pytest.approx(e["output"], abs=1e-6)
        assert len(e["reasons"]) <= 4
        assert all(r["contribution"] < 0 for r in e["reasons"])
        assert "age_in_years" not in [r["column"] for r in e["reasons"]]
    texts = {r["column"]: r["text"] for e in doc["explanations"] for r in e["reasons"]}
    assert texts["duration_in_month"] == "Term of the loan is too long"  # row 1: a 48-month loan
    assert len(doc["importance"]) == 20

    # an instance file gives the same explanation as the dataset row it copies
    frame = pd.read_csv(german_credit_csv())
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in frame.drop(columns=[TARGET]).iloc[2].items()}
    instance = tmp_path / "applicant.json"
    instance.write_text(json.dumps(row))
    single = ws.run("explain", "credit-lr", "--instance", instance, "--json")
    assert single.returncode == 0, show(single)
    assert as_json(single)["explanations"][0]["contributions"] == pytest.approx(
        doc["explanations"][2]["contributions"], abs=1e-12
    )

    # the card: signed JSON (its Markdown and HTML renderings: tests/explain/test_card_render.py)
    card_path = tmp_path / "card.json"
    made = ws.run("model", "card", "credit-lr", "-o", card_path, "--purpose", "Consumer credit pre-screening")
    assert made.returncode == 0, show(made)
    verified = ws.run("model", "verify-card", card_path, "--json")
    assert verified.returncode == 0, show(verified)
    assert as_json(verified)["model"] == "credit-lr@1"
    envelope = json.loads(card_path.read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    card = statement["predicate"]
    info = as_json(ws.ok("model", "info", "credit-lr@1", "--json"))
    assert statement["subject"][0]["digest"]["sha256"] == info["sha256"]
    assert card["intended_use"]["purpose"] == "Consumer credit pre-screening"
    assert card["data"]["sha256"] == info["provenance"]["dataset"]["sha256"]
    assert card["data_audit"]["decision"] == info["provenance"]["data_audit"]["decision"]
    accuracy = card["performance"]["metrics"]["accuracy"]
    assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]
    assert accuracy["value"] == pytest.approx(info["metrics"]["accuracy"], abs=1e-12)
    assert len(card["explanations"]["importance"]) == 20
    _check_fairness_against_fairlearn(card, frame)

    # one changed byte anywhere in the payload: exit 3
    data = bytearray(card_path.read_bytes())
    position = data.index(b'"payload"') + 60
    data[position] = ord("A") if data[position] != ord("A") else ord("B")
    (tmp_path / "changed.json").write_bytes(bytes(data))
    check_error(ws.run("model", "verify-card", tmp_path / "changed.json"), 3, "does not verify")

    # a card of another model under the same name and version (another workspace's credit-lr@1): exit 3
    other = _other_workspace_card(ws, tmp_path)
    check_error(ws.run("model", "verify-card", other), 3, "does not verify")

    # with the public key alone (no workspace)
    ws.ok("model", "public-key", "-o", tmp_path / "pub.pem")
    alone = ws.cli.with_env(MLWARDEN_HOME=str(tmp_path / "nowhere"), MLWARDEN_MASTER_KEY=None)
    by_key = alone.run("model", "verify-card", card_path, "--key", tmp_path / "pub.pem")
    assert by_key.returncode == 0, show(by_key)

    # bad input: one line, exit 2
    check_error(ws.run("explain", "credit-lr"), 2, "--data")
    check_error(ws.run("explain", "credit-lr", "--data", "credit-german", "--rows", "x"), 2, "--rows")
    check_error(ws.run("explain", "credit-lr", "--data", "credit-german", "--rows", "5000"), 2, "row 5000")
    check_error(ws.run("model", "card", "credit-lr", "-o", tmp_path / "card.txt"), 2, ".json")
    check_error(ws.run("model", "card", "credit-lr", "-o", card_path), 2, "exists")
    check_error(ws.run("model", "card", "credit-lr", "-o", tmp_path / "c2.json", "--protected", "nope"), 2, "nope")
    check_error(
        ws.run("train", "--data", "credit-german", "--target", TARGET, "--name", "x", "--adverse-class", "maybe"),
        2,
        "maybe",
    )


def _check_fairness_against_fairlearn(card: dict[str, Any], frame: pd.DataFrame) -> None:
    """The card's figures equal fairlearn's on the held-out predictions the card was made from."""
    fairlearn = pytest.importorskip("fairlearn.metrics")
    from sklearn.model_selection import train_test_split

    from mlwarden.models._training import fit_classifier

    result = fit_classifier(frame, TARGET, estimator="logistic")
    x = frame.drop(columns=[TARGET])
    _, x_test, _, y_test = train_test_split(x, frame[TARGET], test_size=0.25, random_state=0, stratify=frame[TARGET])
    predicted = result.pipeline.predict(x_test.astype({c: "object" for c in result.parameters["categorical_features"]}))
    fairness = {c["column"]: c for c in card["fairness"]["columns"]}
    assert card["fairness"]["favourable"] == "good"
    groups = x_test["personal_status_and_sex"].astype(str).to_numpy()
    yt = (y_test.to_numpy() == "good").astype(int)
    yp = (predicted == "good").astype(int)
    column = fairness["personal_status_and_sex"]
    assert column["demographic_parity_difference"] == pytest.approx(
        fairlearn.demographic_parity_difference(yt, yp, sensitive_features=groups), abs=1e-12
    )
    assert column["equalized_odds_difference"] == pytest.approx(
        fairlearn.equalized_odds_difference(yt, yp, sensitive_features=groups), abs=1e-12
    )
    frame_ = fairlearn.MetricFrame(
        metrics={"sel": fairlearn.selection_rate, "tpr": fairlearn.true_positive_rate},
        y_true=yt,
        y_pred=yp,
        sensitive_features=groups,
    )
    for group in column["groups"]:
        assert group["selection_rate"] == pytest.approx(frame_.by_group.loc[group["group"], "sel"], abs=1e-12)
        assert group["tpr"] == pytest.approx(frame_.by_group.loc[group["group"], "tpr"], abs=1e-12)
    ratio = column["demographic_parity_ratio"]
    assert column["four_fifths_flag"] == (ratio < 0.8)
    assert fairness["age_in_years"]["binned"] is True
    assert np.isfinite(fairness["age_in_years"]["demographic_parity_difference"])


def _other_workspace_card(ws: Any, tmp_path: Path) -> Path:
    """A card signed by this workspace's key for a model of the same name and version but another digest."""
    import mlwarden
    from mlwarden.config import Settings
    from mlwarden.explain import sign_card

    settings = Settings(home=ws.home, master_key=ws.master_key)
    with mlwarden.Workspace.open(settings=settings) as opened:
        _, private = opened._signing_keys.active(by="test")
    card = json.loads(base64.b64decode(json.loads((tmp_path / "card.json").read_bytes())["payload"]))["predicate"]
    card["model"]["sha256"] = "0" * 64
    path = tmp_path / "other.json"
    path.write_bytes(sign_card(card, private))
    return path
