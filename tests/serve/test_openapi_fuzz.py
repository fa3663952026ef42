"""schemathesis against the server's own OpenAPI document: the contract the server publishes is the one it keeps.

The document (``GET /openapi.json``: it needs a token and describes only the models that token may
use) gives each served model a predict path whose request schema is exactly what its validator
accepts, so schemathesis can generate valid rows (positive data: the server must answer 2xx) and
invalid ones (negative data: it must refuse them with a 4xx), and check every answer against the
documented statuses, media types, headers and schemas. Every built-in check runs, ``ignored_auth``
among them (the secured operations are sent again without the token and with a wrong one, and
must refuse). The run is bounded (a fixed seed, deterministic generation, ~60 cases per operation
and phase) and in-process, through the ASGI app; the slow test runs the ``schemathesis`` command
with ``--checks all`` against a real ``mlwarden serve``.

The harness is itself tested: against a server that ignores the token, it must report
``ignored_auth`` failures.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

SEED = 20240611
MAX_EXAMPLES = 60
LIMIT = 1_000_000  # the fuzzing client's rate per minute and quota per day: never the limiting factor
PREDICT_PATHS = ("POST /v1/models/credit-risk/predict", "POST /v1/models/fraud-risk/predict")
SECURED = ("GET /v1/models", *PREDICT_PATHS)
OPERATIONS = ("GET /healthz", *SECURED)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass
class FuzzRun:
    """What one schemathesis run saw: failures (check, operation, title, details) and tallies."""

    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (operation, mode, status)
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (check, operation) run
    phases: dict[str, str] = field(default_factory=dict)  # phase -> status

    def failed_checks(self) -> set[str]:
        return {check for check, *_ in self.failures}


def fuzz(app: Any, token: str, *, max_examples: int = MAX_EXAMPLES, phases: tuple[str, ...] = ()) -> FuzzRun:
    """Run schemathesis's engine (what ``schemathesis run`` runs) in-process against ``app``, every check on."""
    import schemathesis
    from schemathesis.engine import events, from_schema

    options: dict[str, Any] = {
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True},
        "checks": {"enabled": True},
        "headers": {"Authorization": f"Bearer {token}"},
        "continue-on-failure": True,
    }
    if phases:
        options["phases"] = {name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing")}
    config = schemathesis.Config.from_dict(options)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config, headers=options["headers"])
    run = FuzzRun()
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseFinished):
            run.phases[event.phase.name.value] = event.status.value
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                meta = recorder.cases[case_id].value.meta
                mode = "-" if meta is None else meta.generation.mode.value
                if interaction.response is not None:
                    run.statuses[(recorder.label, mode, interaction.response.status_code)] += 1
            for nodes in recorder.checks.values():
                for node in nodes:
                    run.checks[(node.name, recorder.label)] += 1
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        details = f"{failure.message[:300]}\n{node.failure_info.code_sample[:600]}"
                        run.failures.append((node.name, recorder.label, failure.title, details))
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            run.errors.append(repr(event))
    return run


@pytest.fixture
def fuzz_token(served_copy: Served) -> str:
    """A client granted every model, with limits high enough that no fuzzing request is refused for rate."""
    with served_copy.open(served_copy.tokens["admin"]) as ws:
        _, token = ws.users.add("fuzzer", "client", scopes=("*",), rate_limit=LIMIT, daily_quota=LIMIT)
    return token


def test_the_published_contract_holds_under_fuzzing(served_copy: Served, service_factory: Any, fuzz_token: str) -> None:
    from mlwarden.serve import create_app

    service = service_factory(served_copy)
    run = fuzz(create_app(service, close_on_shutdown=False), fuzz_token)

    assert run.errors == []
    assert run.failures == [], "\n\n".join(" | ".join(f) for f in run.failures)
    assert run.phases["coverage"] == "success"
    assert run.phases["fuzzing"] == "success"

    # Both kinds of data reached every predict path: valid rows were answered, invalid ones refused with 422.
    for operation in PREDICT_PATHS:
        assert run.statuses[(operation, "positive", 200)] >= 20, run.statuses
        assert run.statuses[(operation, "negative", 422)] >= 20, run.statuses
        assert not [key for key in run.statuses if key[0] == operation and key[2] >= 500]
    # Every check ran on every operation; ignored_auth on each secured one.
    for operation in OPERATIONS:
        assert run.checks[("not_a_server_error", operation)] > 0
    for operation in SECURED:
        assert run.checks[("ignored_auth", operation)] > 0
        assert run.checks[("negative_data_rejection", operation)] > 0

    # Every prediction answered was audited, once, and the log still verifies.
    answered = sum(
        n for (operation, _, status), n in run.statuses.items() if status == 200 and operation in PREDICT_PATHS
    )
    with served_copy.open(served_copy.tokens["auditor"]) as ws:
        predicted = [e for e in ws.log.entries() if e.action == "predict" and e.outcome == "succeeded"]
        assert ws.log.verify().ok
    assert len(predicted) == answered
    assert {e.principal for e in predicted} == {"fuzzer"}


def test_the_harness_reports_a_server_that_ignores_the_token(
    served_copy: Served, service_factory: Any, fuzz_token: str
) -> None:
    """The same harness, against a server that lets anyone in as the fuzzer, must fail ``ignored_auth``."""
    from mlwarden.serve import create_app

    service = service_factory(served_copy)
    authenticate = service.authenticate

    async def anyone_is_the_fuzzer(authorization: str | None, request_id: str, **options: Any) -> Any:
        return await authenticate(f"Bearer {fuzz_token}", request_id, **options)

    service.authenticate = anyone_is_the_fuzzer  # type: ignore[method-assign]
    run = fuzz(create_app(service, close_on_shutdown=False), fuzz_token, max_examples=5, phases=("fuzzing",))

    assert run.errors == []
    ignored = {operation for check, operation, *_ in run.failures if check == "ignored_auth"}
    assert ignored == set(SECURED), run.failures


def test_the_document_describes_only_the_models_the_token_may_use(
    served_copy: Served, service_factory: Any, app_client: Any
) -> None:
    client = app_client(service_factory(served_copy))
    refused = client.get("/openapi.json")
    assert refused.status_code == 401
    assert "paths" not in refused.text
    seen = {}
    for who in ("client-credit", "client-fraud", "client-all", "scientist"):
        answer = client.get("/openapi.json", headers={"Authorization": f"Bearer {served_copy.tokens[who]}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        seen[who] = sorted(p for p in answer.json()["paths"] if p.endswith("/predict"))
    assert seen == {
        "client-credit": ["/v1/models/credit-risk/predict"],
        "client-fraud": ["/v1/models/fraud-risk/predict"],
        "client-all": ["/v1/models/credit-risk/predict", "/v1/models/fraud-risk/predict"],
        "scientist": [],
    }


def test_two_authorization_headers_are_refused_on_every_route(
    served_copy: Served, service_factory: Any, app_client: Any
) -> None:
    client = app_client(service_factory(served_copy))
    good = f"Bearer {served_copy.tokens['client-all']}"
    bad = "Bearer mlw_0000000000000000_not-a-token"
    answers = {}
    for order, first, second in (("bad-good", bad, good), ("good-bad", good, bad)):
        headers = [("authorization", first), ("authorization", second), ("content-type", "application/json")]
        body = json.dumps({"instances": [served_copy.rows[0]]}).encode()
        answers[order] = (
            client.post("/v1/models/credit-risk/predict", content=body, headers=headers).status_code,
            client.get("/v1/models", headers=headers).status_code,
            client.get("/openapi.json", headers=headers).status_code,
        )
    assert answers == {"bad-good": (401, 401, 401), "good-bad": (401, 401, 401)}


# -- the schemathesis command against a real server ------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode} before it answered")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.mark.slow
@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="the schemathesis command is not installed next to python")
def test_schemathesis_cli_with_all_checks_against_mlwarden_serve(
    served_copy: Served, fuzz_token: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(
        MLWARDEN_HOME=str(served_copy.settings.home),
        MLWARDEN_MASTER_KEY=served_copy.settings.master_key,
        MLWARDEN_TOKEN=served_copy.tokens["operator"],
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    report = tmp_path / "schemathesis.json"
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "-H",
                f"Authorization: Bearer {fuzz_token}",
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--generation-deterministic",
                "--workers",
                "1",
                "--no-color",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, stderr = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    found = json.loads(report.read_text())
    assert found["failures"] == [], result.stdout[-4000:]
    assert found["errors"] == [], result.stdout[-4000:]
    assert result.returncode == 0, result.stdout[-4000:]
    assert found["operations"]["tested"] == len(OPERATIONS)
    assert found["test_cases"]["generated"] > 100
    for operation in PREDICT_PATHS:
        assert found["valid_rates"][operation]["fuzzing"]["accepted"] > 0
    assert server.returncode == 0
    assert b"Traceback" not in stderr
