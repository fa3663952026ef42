"""End-to-end tests of ``mlwarden audit data``, ``mlwarden audit accept`` and the gate before ``mlwarden train``
(real subprocesses): a clean German Credit version passes (exit 0), a backdoored copy is flagged (exit 1) with
its trigger named and one score per row, training on it is refused until the flagged rows are excluded or a
steward accepts the findings, the provenance carries the audit, the stored report is checked, and bad input is
a one-line exit 2.

One scenario, on one workspace: each audit of German Credit costs a few seconds.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlwarden
from mlwarden.audit._poison_generators import german_credit, inject_backdoor
from mlwarden.config import Settings
from mlwarden.usecases import german_credit_csv

Proc = subprocess.CompletedProcess[bytes]
ErrorCheck = Callable[..., str]
Show = Callable[[Proc], str]
TARGET = "creditability"


def as_json(proc: Proc) -> Any:
    return json.loads(proc.stdout)


def test_audit_and_the_training_gate_end_to_end(
    workspace: Any, tmp_path: Path, check_error: ErrorCheck, show: Show
) -> None:
    ws = workspace
    frame, target = german_credit()
    poisoned = inject_backdoor(frame, target, 0.03, seed=1, family="categorical")
    poisoned_csv = tmp_path / "poisoned.csv"
    poisoned.frame.to_csv(poisoned_csv, index=False)
    ws.ok("data", "put", german_credit_csv(), "--name", "credit-german")
    ws.ok("data", "put", poisoned_csv, "--name", "credit-german")  # version 2: backdoored
    settings = Settings(home=ws.home, master_key=ws.master_key)
    with mlwarden.Workspace.open(settings=settings) as admin:
        _, alice_token = admin.users.add("alice", "scientist", scopes=("credit-*",))
        _, sam_token = admin.users.add("sam", "steward")
    alice = ws.cli.with_env(MLWARDEN_TOKEN=alice_token)
    sam = ws.cli.with_env(MLWARDEN_TOKEN=sam_token)

    # the clean version passes: exit 0, nothing flagged
    clean = alice.run("audit", "data", "credit-german@1", "--target", TARGET, "--json")
    assert clean.returncode == 0, show(clean)
    assert as_json(clean)["audit"]["findings"] is False
    assert as_json(clean)["report"]["flagged"] == []

    # the backdoored one: exit 1, the trigger named, a score per row in the dataset's order
    bad = alice.run("audit", "data", "credit-german@2", "--target", TARGET, "--json", "--scores", "scores.csv")
    assert bad.returncode == 1, show(bad)
    found = as_json(bad)
    assert found["audit"]["findings"] is True
    assert found["audit"]["reused"] is False
    pattern = found["report"]["patterns"][0]
    assert pattern["label"] == poisoned.label
    assert {c for c, _op, _spec in pattern["conditions"]} <= set(poisoned.trigger)
    assert set(pattern["rows"]) == set(poisoned.rows.tolist())
    assert "scores" not in found["report"]  # one per row: in --scores
    with (tmp_path / "scores.csv").open() as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["row", "score"]
    assert len(lines) == 1 + len(frame)
    assert [int(r) for r, _ in lines[1:]] == list(range(len(frame)))
    scores = [float(s) for _, s in lines[1:]]
    top = sorted(range(len(scores)), key=lambda r: -scores[r])[: len(poisoned.rows)]
    assert set(top) == set(poisoned.rows.tolist())

    # asked again: the stored audit, the same report
    again = as_json(alice.run("audit", "data", "credit-german@2", "--target", TARGET, "--json"))
    assert again["audit"]["reused"] is True
    assert again["audit"]["report_sha256"] == found["audit"]["report_sha256"]

    # training on it is refused, naming the pattern and how to go on
    line = check_error(
        alice.run("train", "--data", "credit-german@2", "--target", TARGET, "--name", "credit-p"),
        1,
        "trigger pattern",
        "--exclude-flagged",
    )
    assert str(poisoned.label) in line
    # a scientist may not accept findings
    check_error(
        alice.run(
            "train",
            "--data",
            "credit-german@2",
            "--target",
            TARGET,
            "--name",
            "credit-p",
            "--accept-findings",
            "--reason",
            "looks fine to me",
        ),
        3,
        "dataset.accept-findings",
    )
    check_error(
        alice.run("train", "--data", "credit-german@2", "--target", TARGET, "--name", "p", "--reason", "x"),
        2,
        "--reason",
    )

    # --exclude-flagged trains on a derived version without the flagged rows, linked to its source
    excluded = alice.run(
        "train", "--data", "credit-german@2", "--target", TARGET, "--name", "credit-e", "--exclude-flagged", "--json"
    )
    assert excluded.returncode == 0, show(excluded)
    provenance = as_json(excluded)["provenance"]
    audit = provenance["data_audit"]
    assert audit["decision"] == "excluded-flagged"
    assert audit["report_sha256"] == found["audit"]["report_sha256"]
    assert audit["excluded_rows"] == len(poisoned.rows)
    assert audit["trained_on"] == "credit-german@3"
    assert (provenance["dataset"]["version"], provenance["dataset"]["rows"]) == (3, len(frame) - len(poisoned.rows))
    derived = as_json(ws.ok("data", "info", "credit-german@3", "--json"))
    assert derived["tags"]["derived_from"] == "credit-german@2"
    assert derived["tags"]["excluded_rows"] == str(len(poisoned.rows))
    info_text = ws.ok("model", "info", "credit-e").stdout.decode()
    assert "data audit excluded-flagged" in info_text
    assert found["audit"]["report_sha256"] in info_text

    # a steward accepts the findings with a reason; the scientist may then train on the version as it is
    sam.ok("audit", "accept", "credit-german@2", "--target", TARGET, "--reason", "rows checked with the branch")
    accepted = alice.run(
        "train", "--data", "credit-german@2", "--target", TARGET, "--name", "credit-a", "--accept-findings", "--json"
    )
    assert accepted.returncode == 0, show(accepted)
    audit = as_json(accepted)["provenance"]["data_audit"]
    assert (audit["decision"], audit["accepted_by"], audit["accepted_reason"]) == (
        "findings-accepted",
        "sam",
        "rows checked with the branch",
    )
    assert as_json(accepted)["provenance"]["dataset"]["version"] == 2

    # the clean version trains with the audit passed
    passed = as_json(alice.ok("train", "--data", "credit-german@1", "--target", TARGET, "--name", "credit-c", "--json"))
    assert passed["provenance"]["data_audit"]["decision"] == "passed"

    # every audit is in the log; accepting is the steward's
    with mlwarden.Workspace.open(settings=settings) as admin:
        log = list(admin.log.entries())
    actions = {(e.principal, e.action, e.outcome) for e in log}
    assert ("alice", "dataset.audit", "succeeded") in actions
    assert ("sam", "dataset.accept-findings", "succeeded") in actions
    assert ("alice", "dataset.accept-findings", "denied") in actions
    assert ("alice", "dataset.derive", "succeeded") in actions

    # a stored report that was changed is refused (exit 3), and the audit is not run again over it
    reports = [p for p in (ws.home / "reports").rglob("*") if p.is_file()]
    assert reports
    for path in reports:
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
    check_error(alice.run("audit", "data", "credit-german@2", "--target", TARGET), 3)

    # bad input: one line, exit 2
    check_error(alice.run("audit", "data", "credit-german@1", "--target", "nope"), 2, "no column 'nope'")
    check_error(alice.run("audit", "data", "credit-german@9", "--target", TARGET), 2)
