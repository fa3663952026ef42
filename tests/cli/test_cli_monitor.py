"""End-to-end ``mlwarden monitor drift|performance|reports|report`` (real subprocesses).

One scenario: train the credit model, compare it with its own data (exit 0), with shifted data
(exit 1, the column named, JSON per column as documented), two datasets without a model, a
performance check on labels flipped on purpose (exit 1), the stored reports; bad input is a
one-line exit 2.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.usecases import german_credit_csv

Proc = subprocess.CompletedProcess[bytes]
TARGET = "creditability"


def test_monitor_end_to_end(
    workspace: Any, tmp_path: Path, check_error: Callable[..., str], show: Callable[[Proc], str]
) -> None:
    ws = workspace
    frame = pd.read_csv(german_credit_csv())
    shifted = frame.copy()
    shifted["credit_amount"] = shifted["credit_amount"] * 1.5
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    flipped = frame.copy()
    flip = np.random.default_rng(0).random(len(frame)) < 0.4
    flipped.loc[flip, TARGET] = np.where(flipped.loc[flip, TARGET] == "good", "bad", "good")
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    ws.ok("data", "put", german_credit_csv(), "--name", "credit")
    ws.ok("data", "put", tmp_path / "shifted.csv", "--name", "credit-new")
    ws.ok("data", "put", tmp_path / "flipped.csv", "--name", "credit-labelled")
    trained = ws.run("train", "--data", "credit", "--target", TARGET, "--name", "credit-lr", "--accept-findings",
                     "--reason", "cli monitor test")  # fmt: skip
    assert trained.returncode == 0, show(trained)

    same = ws.run("monitor", "drift", "credit-lr", "--data", "credit", "--fail-on", "moderate")
    assert same.returncode == 0, show(same)
    assert b"no drift" in same.stdout

    drifted = ws.run("monitor", "drift", "credit-lr", "--data", "credit-new", "--json")
    assert drifted.returncode == 1, show(drifted)
    doc = json.loads(drifted.stdout)
    columns = {c["column"]: c for c in doc["columns"]}
    assert columns["credit_amount"]["drift"] is True
    assert columns["credit_amount"]["severity"] in ("moderate", "major")
    for entry in doc["columns"]:
        assert {"column", "test", "statistic", "p_value", "effect", "drift", "severity"} <= set(entry)
    assert isinstance(doc["report_id"], int)
    assert len(doc["report_sha256"]) == 64

    between = ws.run("monitor", "drift", "--reference", "credit@1", "--current", "credit-new@1", "--json")
    assert between.returncode == 1, show(between)
    assert [c["column"] for c in json.loads(between.stdout)["columns"] if c["drift"]] == ["credit_amount"]

    worse = ws.run("monitor", "performance", "credit-lr", "--data", "credit-labelled", "--rounds", "200", "--json")
    assert worse.returncode == 1, show(worse)
    assert "accuracy" in json.loads(worse.stdout)["degraded"]

    listed = ws.run("monitor", "reports", "--json")
    assert listed.returncode == 0, show(listed)
    reports = json.loads(listed.stdout)
    assert [r["kind"] for r in reports] == ["drift", "drift", "drift", "performance"]
    one = ws.run("monitor", "report", str(reports[1]["id"]))
    assert one.returncode == 0
    assert json.loads(one.stdout)["drifted"] is True

    check_error(ws.run("monitor", "drift", "credit-lr"), 2, "--data", "--live")
    check_error(ws.run("monitor", "drift"), 2, "--reference")
    check_error(ws.run("monitor", "drift", "credit-lr", "--data", "credit", "--since", "2026-01-01T00:00:00Z"), 2,
                "--since goes with --live")  # fmt: skip
    check_error(ws.run("monitor", "drift", "credit-lr", "--live"), 2, "no live traffic")
    check_error(ws.run("monitor", "drift", "credit-lr", "--data", "nope"), 2, "nope")
    check_error(ws.run("monitor", "drift", "credit-lr", "--data", "credit", "--alpha", "2"), 2, "--alpha")
    check_error(ws.run("monitor", "drift", "credit-lr", "--live", "--retrain"), 2, "--retrain-data")
    check_error(ws.run("monitor", "report", "999"), 2, "no monitoring report 999")
