"""End-to-end tests of ``mlwarden retrain`` and ``mlwarden model approve`` (real subprocesses): a
scientist retrains the production model into a candidate; the deployer may not promote it until a
principal other than its trainer approves it; ``model info`` and ``model ls`` show the stage and the
approvals; errors are one line with exit 2 or 3. A retrain in a fresh process costs seconds (skops
imports every scikit-learn estimator to load the champion), so it runs once, with ``--json``; the
comparison table is rendered from that record in this process.

The workspace is a copy of the ``governed`` one (tests/conftest.py): ``credit-risk@1`` in
production, trained by ``sci`` on ``credit@1``, approved by ``rev``; its data audits are stored.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

Proc = subprocess.CompletedProcess[bytes]
ErrorCheck = Callable[..., str]
Show = Callable[[Proc], str]


def as_json(proc: Proc) -> Any:
    return json.loads(proc.stdout)


def test_retrain_approve_promote(governed: Any, cli: Any, tmp_path: Path, check_error: ErrorCheck, show: Show) -> None:
    gov = governed.copy(tmp_path / "ws")
    admin = cli.with_env(MLWARDEN_MASTER_KEY=gov.settings.master_key)
    sci, rev, dep = (admin.with_env(MLWARDEN_TOKEN=gov.tokens[name]) for name in ("sci", "rev", "dep"))

    # the scientist retrains (--json: the candidate's record, the comparison signed in its provenance)
    retrain = sci.run("retrain", "credit-risk", "--data", "credit@2", "--json")
    assert retrain.returncode == 0, show(retrain)
    candidate = as_json(retrain)
    assert (candidate["version"], candidate["stage"], candidate["created_by"]) == (2, "candidate", "sci")
    retrained = candidate["provenance"]["retrain"]
    assert retrained["champion"]["ref"] == "credit-risk@1"
    assert retrained["held_out"]["champion_may_have_seen"] is True
    assert retrained["trigger"] is None
    assert as_json(admin.ok("model", "info", "credit-risk@2", "--json")) == {
        **candidate,
        "approvals": [],
        "needs_retraining": None,
    }

    # four eyes: no promotion without another principal's approval; the trainer may not approve
    check_error(dep.run("model", "promote", "credit-risk@2", "--stage", "production"), 3, "no approval", "approve")
    check_error(sci.run("model", "approve", "credit-risk@2"), 3, "lacks permission model.approve")
    approval = as_json(rev.ok("model", "approve", "credit-risk@2", "--note", "VR-2", "--json"))
    assert (approval["name"], approval["version"], approval["approved_by"]) == ("credit-risk", 2, "rev")
    assert (approval["sha256"], approval["note"]) == (
        as_json(admin.ok("model", "info", "credit-risk@2", "--json"))["sha256"],
        "VR-2",
    )
    check_error(rev.run("model", "approve", "credit-risk@2"), 2, "already")
    assert (
        b"credit-risk@2 is now in production"
        in dep.ok("model", "promote", "credit-risk@2", "--stage", "production").stdout
    )

    # info and ls show the stages and the approvals
    info = as_json(admin.ok("model", "info", "credit-risk@2", "--json"))
    assert info["stage"] == "production"
    assert [(a["approved_by"], a["valid"]) for a in info["approvals"]] == [("rev", True)]
    text = admin.ok("model", "info", "credit-risk@2").stdout.decode()
    assert "retrained from credit-risk@1" in text
    assert "by rev, valid: VR-2" in text
    with gov.open() as ws:  # a third version, a candidate nobody approved
        ws.models.retrain("credit-risk", "credit", dataset_version=1, champion_version=1)
    listed = {line.split()[0]: line.split() for line in admin.ok("model", "ls").stdout.decode().splitlines()[1:]}
    assert listed["credit-risk@1"][1:3] == ["archived", "rev"]
    assert listed["credit-risk@2"][1:3] == ["production", "rev"]
    assert listed["credit-risk@3"][1:3] == ["candidate", "-"]
    by_ref = {f"{v['name']}@{v['version']}": v for v in as_json(admin.ok("model", "ls", "--json"))}
    assert [a["approved_by"] for a in by_ref["credit-risk@2"]["approvals"]] == ["rev"]
    assert by_ref["credit-risk@3"]["approvals"] == []

    # usage errors: exit 2, one line
    check_error(sci.run("retrain", "credit-risk", "--data", "credit@1", "--reason", "x"), 2, "--reason")
    check_error(sci.run("retrain", "credit-risk", "--data", "credit", "--on-findings", "maybe"), 2, "--on-findings")
    check_error(sci.run("retrain", "nothing", "--data", "credit"), 2, "no model named")
    check_error(sci.run("retrain", "credit-risk", "--data", "credit@1", "--champion", "9"), 2, "no version 9")
    check_error(rev.run("model", "approve", "credit-risk"), 2, "credit-risk@N")
    check_error(rev.run("model", "approve", "credit-risk@9"), 2, "no version 9")
    check_error(dep.run("model", "promote", "credit-risk@3", "--stage", "candidate"), 2, "candidate")


def test_the_comparison_table(governed: Any, tmp_path: Path, capsys: Any) -> None:
    """What `mlwarden retrain` prints (stdout): one row per metric, both models and the paired difference."""
    from mlwarden.cli._retrain import _show_comparison

    with governed.copy(tmp_path / "ws").open("sci") as sci:
        candidate = sci.models.retrain("credit-risk", "credit", dataset_version=2)
    _show_comparison(candidate)
    out = capsys.readouterr().out
    assert "250 held-out rows of credit@2 (95 % intervals, paired bootstrap)" in out
    assert "champion credit-risk@1" in out
    assert "challenger credit-risk@2" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ ")}
    assert set(rows) == {"accuracy", "balanced_accuracy", "roc_auc", "brier", "f1", "log_loss"}
    loss = candidate.provenance["retrain"]["comparison"]["metrics"]["log_loss"]
    shown = f"{loss['difference']['value']:+.4f} [{loss['difference']['low']:+.4f}, {loss['difference']['high']:+.4f}]"
    assert shown in rows["log_loss"]
    assert "challenger worse" in rows["log_loss"]  # the champion was fitted on most of these rows
    assert "the champion may have seen some of these rows" in out
