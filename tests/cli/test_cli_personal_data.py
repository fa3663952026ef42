"""End-to-end tests of the personal-data commands (real subprocesses): ``data put`` names the PII
columns, ``data info --json`` carries ``"pii"``, a steward corrects a class, ``train`` refuses a raw
e-mail column (exit 1), ``data pseudonymise`` writes tokens, ``data forget`` removes a person from
three versions and flags the model trained on them, and survives SIGKILL at any point of its run
(running it again completes it)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

Proc = subprocess.CompletedProcess[bytes]
ErrorCheck = Callable[..., str]
Show = Callable[[Proc], str]

FIRST = ("anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas")
LAST = ("meier", "schulz", "dubois", "rossi", "smith", "novak", "garcia", "jansen")


def _iban_de(account: int) -> str:
    bban = f"37040044{account:010d}"
    check = 98 - int("".join(str(int(ch, 36)) for ch in bban + "DE00")) % 97
    return f"DE{check:02d}{bban}"


def customers_csv(rows: int, seed: int = 0) -> bytes:
    """Made-up customers: e-mail, IBAN, age, postcode, sex, income, loan amount, a target."""
    rng = random.Random(seed)
    lines = ["customer_id,email,iban,age,postcode,sex,income,loan_amount,default"]
    for i in range(rows):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        income = rng.randint(1500, 6000)
        amount = rng.randint(500, 20_000)
        default = "yes" if amount / 20_000 - income / 6000 + rng.gauss(0, 0.3) > -0.2 else "no"
        lines.append(
            f"C-{i:05d},{first}.{last}{i}@example.org,{_iban_de(532013000 + i * 7919)},{rng.randint(19, 80)},"
            f"{rng.randint(10_000, 99_999)},{rng.choice('FM')},{income},{amount},{default}"
        )
    return ("\n".join(lines) + "\n").encode()


def email_of(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]}.{LAST[(i // len(FIRST)) % len(LAST)]}{i}@example.org"


def as_json(proc: Proc) -> Any:
    return json.loads(proc.stdout)


def test_put_info_pii_and_a_stewards_correction(workspace: Any, write_file: Any, check_error: ErrorCheck) -> None:
    path = write_file("customers.csv", customers_csv(200))
    put = workspace.ok("data", "put", path, "--name", "customers")
    told = put.stderr.decode()
    assert "personal data in" in told
    assert "email (email" in told
    assert "iban (iban" in told
    info = as_json(workspace.ok("data", "info", "customers", "--json"))
    assert info["pii"]["email"]["kind"] == "email"
    assert 0.5 < info["pii"]["email"]["confidence"] <= 1
    assert info["pii"]["income"]["kind"] is None
    assert info["pii"]["age"] == {**info["pii"]["age"], "kind": "age", "category": "quasi"}
    shown = workspace.ok("data", "pii", "customers").stdout.decode()
    assert "email" in shown
    assert "direct" in shown
    assert "quasi" in shown
    check_error(workspace.run("data", "pii", "customers", "--set", "customer_id=nickname", "--reason", "x"), 2, "kind")
    check_error(workspace.run("data", "pii", "customers", "--set", "customer_id=person_name"), 2, "reason")
    workspace.ok("data", "pii", "customers", "--set", "customer_id=person_name", "--reason", "ticket 9")
    corrected = as_json(workspace.ok("data", "pii", "customers", "--json"))["pii"]["customer_id"]
    assert (corrected["kind"], corrected["source"]) == ("person_name", "steward")
    kinds = workspace.ok("data", "pii", "customers", "--kinds").stdout.decode()
    assert "fr_nir" in kinds
    assert "postal_code" in kinds


def test_train_refuses_raw_email_then_trains_on_the_pseudonymised_version(
    workspace: Any, write_file: Any, check_error: ErrorCheck
) -> None:
    workspace.ok("data", "put", write_file("c.csv", customers_csv(300)), "--name", "customers")
    line = check_error(
        workspace.run("train", "--data", "customers", "--target", "default", "--name", "risk"), 1, "email"
    )
    assert "pseudonymise" in line
    done = as_json(
        workspace.ok(
            "data",
            "pseudonymise",
            "customers",
            "--columns",
            "email,iban,customer_id",
            "--generalise",
            "age=10",
            "--json",
        )
    )
    assert done["version"] == "customers@2"
    assert done["tokenised"] == ["email", "iban", "customer_id"]
    assert done["k_anonymity"] >= 1
    workspace.ok("train", "--data", "customers@2", "--target", "default", "--name", "risk")
    listed = as_json(workspace.ok("model", "ls", "--json"))
    assert [m.get("needs_retraining") for m in listed] == [None]


def _prepare(workspace: Any, write_file: Any) -> None:
    """customers@1 (150 rows), @2 (the same and 50 more), @3 (@2 pseudonymised); risk@1 trained on @3."""
    workspace.ok("data", "put", write_file("a.csv", customers_csv(150)), "--name", "customers")
    workspace.ok("data", "put", write_file("b.csv", customers_csv(200)), "--name", "customers")
    workspace.ok("data", "pseudonymise", "customers@2", "--columns", "email,iban,customer_id")
    workspace.ok("train", "--data", "customers@3", "--target", "default", "--name", "risk")


def _check_erased(workspace: Any, email: str) -> None:
    versions = [as_json(workspace.ok("data", "info", f"customers@{n}", "--json")) for n in range(1, 7)]
    assert workspace.run("data", "info", "customers@7").returncode != 0  # no extra version
    live = [v for v in versions if not v.get("shredded_at")]
    shredded = sorted(v["version"] for v in versions if v.get("shredded_at"))
    assert shredded == [1, 2, 3]
    replaced = sorted(v["tags"]["erasure.replaces"] for v in live)
    assert replaced == ["customers@1", "customers@2", "customers@3"]  # one successor each, no duplicate
    assert sorted(v["rows"] for v in live) == [149, 199, 199]
    for v in live:
        shown = workspace.ok("data", "get", f"customers@{v['version']}", "-o", "-").stdout
        assert email.encode() not in shown
    models = as_json(workspace.ok("model", "ls", "--json"))
    assert "customers@3" in models[0]["needs_retraining"]
    raw = b"".join(p.read_bytes() for p in workspace.home.rglob("*") if p.is_file())
    assert email.encode() not in raw


def test_forget_dry_run_then_forget_flags_the_model(workspace: Any, write_file: Any, show: Show) -> None:
    _prepare(workspace, write_file)
    email = email_of(11)
    dry = as_json(workspace.ok("data", "forget", "--subject", f"email={email}", "--dry-run", "--json"))
    assert [v["ref"] for v in dry["versions"]] == ["customers@1", "customers@2", "customers@3"]
    assert dry["models_to_retrain"] == ["risk@1"]
    assert dry["dry_run"] is True
    assert workspace.run("data", "info", "customers@4").returncode != 0  # nothing written
    done = workspace.ok("data", "forget", "--subject", f"email={email}")
    text = done.stdout.decode()
    assert "customers@1: 1 row(s) removed" in text
    assert "model risk@1" in text
    assert email not in text + done.stderr.decode()
    _check_erased(workspace, email)
    info = workspace.ok("model", "info", "risk").stdout.decode()
    assert "retrain" in info
    erasures = as_json(workspace.ok("data", "erasures", "--json"))
    assert len(erasures) == 1
    assert erasures[0]["finished_at"] is not None
    log = workspace.ok("log", "show", "--json").stdout
    assert email.encode() not in log


@pytest.mark.slow
def test_forget_survives_sigkill_at_any_point(workspace: Any, write_file: Any, show: Show) -> None:
    """Kill ``data forget`` at random points of its run, again and again in one workspace; each
    re-run takes up where the last stopped, and the last one completes the erasure."""
    _prepare(workspace, write_file)
    email = email_of(23)
    command = [sys.executable, "-m", "mlwarden", "data", "forget", "--subject", f"email={email}", "--json"]
    env = workspace.cli.env

    # how long a whole run takes, on a copy (so this workspace is not changed)
    import shutil

    copy = workspace.home.parent / "copy"
    shutil.copytree(workspace.home, copy)
    started = time.perf_counter()
    timed = subprocess.run(command, env={**env, "MLWARDEN_HOME": str(copy)}, capture_output=True, check=False)
    duration = time.perf_counter() - started
    assert timed.returncode == 0, show(timed)
    shutil.rmtree(copy)

    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.35, 1.0) * duration)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3, "the runs finished before they could be killed: the delays are too long"
    final = workspace.ok("data", "forget", "--subject", f"email={email}", "--json")
    outcome = as_json(final)
    assert [v["ref"] for v in outcome["versions"]] == ["customers@1", "customers@2", "customers@3"]
    assert outcome["models_to_retrain"] == ["risk@1"]
    _check_erased(workspace, email)
    workspace.ok("data", "check")
