"""Starting the server: which models it serves, what it refuses, and how ``mlwarden serve`` exits.

A model whose encrypted object was altered on disk, or whose catalog row carries another model's
signature, is not served: the server starts with the others, lists the refusal in
``Service.failures`` and the audit log, and answers the tampered model's predict path exactly as it
answers a model that does not exist. When no model verifies the server does not start
(:class:`~mlwarden.errors.IntegrityError`, exit 3). ``mlwarden serve --check`` says what would be
served (exit 0 all verify, 1 some refused, 3 none), and bad options are refused with exit 2 and one
line, before any model is loaded.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlwarden.errors
from mlwarden.errors import IntegrityError
from mlwarden.serve import LoadFailure

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

MLWARDEN = (sys.executable, "-m", "mlwarden")
TIMEOUT_S = 120
NOT_SERVED = {"error": "no model by that name is served to this token"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- tampering -------------------------------------------------------------------------------------


def _catalog(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "catalog.db")


def flip_object_byte(where: Served, name: str, version: int = 1) -> Path:
    """Flip one bit in the middle of the model's encrypted object under ``<home>/models/``."""
    home = Path(where.settings.home)
    with _catalog(home) as db:
        (object_id,) = db.execute(
            "SELECT object_id FROM model_versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
    db.close()
    path = home / "models" / object_id[:2] / object_id
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def swap_signature(where: Served, name: str, donor: str) -> None:
    """Give ``name``'s catalog row the signature of ``donor`` (a genuine signature, made for another model)."""
    with _catalog(Path(where.settings.home)) as db:
        (signature,) = db.execute("SELECT signature FROM model_versions WHERE name = ?", (donor,)).fetchone()
        changed = db.execute("UPDATE model_versions SET signature = ? WHERE name = ?", (signature, name)).rowcount
    db.close()
    assert changed == 1


TAMPERINGS = {
    "object-byte": lambda where, name: flip_object_byte(where, name),
    "signature-swap": lambda where, name: swap_signature(where, name, "fraud-risk"),
}


def failed_entries(where: Served, model: str) -> list[Any]:
    with where.open(where.tokens["auditor"]) as ws:
        return [e for e in ws.log.entries() if e.resource == f"model:{model}" and e.outcome == "failed"]


# -- the CLI ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cli_env(where: Served, token: str | None) -> dict[str, str]:
    """``os.environ`` without ``MLWARDEN_*`` (and Python's warning switches), plus the workspace's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.pop("PYTHONWARNINGS", None)
    env.pop("PYTHONDEVMODE", None)
    env["MLWARDEN_HOME"] = str(where.settings.home)
    env["MLWARDEN_MASTER_KEY"] = where.settings.master_key
    if token is not None:
        env["MLWARDEN_TOKEN"] = token
    return env


def run_cli(where: Served, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mlwarden *args`` as the operator (or ``token``); a server that starts by mistake times out."""
    return subprocess.run(
        [*MLWARDEN, *args],
        env=cli_env(where, where.tokens["operator"] if token is None else token),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def error_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The one ``mlwarden: error:`` line of a failed command (exit ``code``), holding every needle."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mlwarden: error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == errors[0], result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def check_json(where: Served, *args: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    result = run_cli(where, "serve", "--check", "--json", "--port", str(free_port()), *args, token=token)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


# -- a tampered model at start-up ------------------------------------------------------------------


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_a_tampered_model_is_not_served_and_answers_like_an_unknown_one(
    served_copy: Served, service_factory: Any, app_client: Any, tampering: str
) -> None:
    TAMPERINGS[tampering](served_copy, "credit-risk")
    service = service_factory(served_copy)

    assert sorted(service.models) == ["fraud-risk"]
    [failure] = service.failures
    assert isinstance(failure, LoadFailure)
    assert failure.ref == "credit-risk@1"
    assert issubclass(getattr(mlwarden.errors, failure.error), IntegrityError)

    # The refusal is in the log: a failed entry for the model, naming the error's class only.
    entries = failed_entries(served_copy, "credit-risk")
    assert entries, "the refused model left no failed entry in the audit log"
    assert all(e.details.get("error") == failure.error for e in entries)
    if tampering == "object-byte":  # the signature checks out; the bytes fail under model.serve itself
        assert [e.action for e in entries] == ["model.serve"]
    assert failed_entries(served_copy, "fraud-risk") == []

    client = app_client(service)
    row = served_copy.rows[0]
    token = served_copy.tokens["client-all"]
    tampered = client.post("/v1/models/credit-risk/predict", json={"instances": [row]}, headers=bearer(token))
    unknown = client.post("/v1/models/no-such-model/predict", json={"instances": [row]}, headers=bearer(token))
    assert (tampered.status_code, tampered.json()) == (403, NOT_SERVED)
    assert (unknown.status_code, unknown.json()) == (403, NOT_SERVED)
    assert {k.lower() for k in tampered.headers} == {k.lower() for k in unknown.headers}
    assert len(tampered.content) == len(unknown.content)

    fine = client.post("/v1/models/fraud-risk/predict", json={"instances": [row]}, headers=bearer(token))
    assert fine.status_code == 200, fine.text
    assert fine.json()["model"]["name"] == "fraud-risk"

    # Neither the model list nor the OpenAPI document mentions the refused model.
    listed = client.get("/v1/models", headers=bearer(token)).json()["models"]
    assert [m["name"] for m in listed] == ["fraud-risk"]
    paths = client.get("/openapi.json", headers=bearer(token)).json()["paths"]
    assert "/v1/models/fraud-risk/predict" in paths
    assert not any("credit-risk" in p for p in paths)


def test_no_model_verifies_the_service_refuses_to_start(served_copy: Served, service_factory: Any) -> None:
    flip_object_byte(served_copy, "credit-risk")
    swap_signature(served_copy, "fraud-risk", "credit-risk")
    with pytest.raises(IntegrityError, match="no model verified") as caught:
        service_factory(served_copy)
    assert "credit-risk" in str(caught.value)
    assert "fraud-risk" in str(caught.value)


@pytest.mark.slow
def test_no_model_verifies_check_exits_3_naming_each_refusal(served_copy: Served) -> None:
    flip_object_byte(served_copy, "credit-risk")
    flip_object_byte(served_copy, "fraud-risk")
    checked = run_cli(served_copy, "serve", "--check", "--port", str(free_port()))
    error_line(checked, 3, "no model verified")
    assert [line.split()[:2] for line in checked.stdout.splitlines()[:2]] == [
        ["refused", "credit-risk@1"],
        ["refused", "fraud-risk@1"],
    ]


@pytest.mark.slow
def test_a_failed_start_prints_nothing_but_the_error_line(served_copy: Served) -> None:
    flip_object_byte(served_copy, "credit-risk")
    flip_object_byte(served_copy, "fraud-risk")
    result = run_cli(served_copy, "serve", "--port", str(free_port()))
    line = error_line(result, 3, "no model verified", "credit-risk@1", "fraud-risk@1")
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""


@pytest.mark.slow
def test_several_workers_with_no_verified_model_refuse_to_start_once(served_copy: Served) -> None:
    """The models are checked before any worker starts: no worker is started to fail over and over."""
    flip_object_byte(served_copy, "credit-risk")
    flip_object_byte(served_copy, "fraud-risk")
    result = run_cli(served_copy, "serve", "--port", str(free_port()), "--workers", "2")
    line = error_line(result, 3, "no model verified", "credit-risk@1", "fraud-risk@1")
    assert result.stderr.splitlines() == [line]
    assert "Traceback" not in result.stderr


def test_a_model_that_loads_but_cannot_be_served_is_recorded_as_failed(
    served_copy: Served, service_factory: Any
) -> None:
    """A verified model whose input schema is unusable is refused, and the refusal is in the log."""
    import sqlite3

    with sqlite3.connect(served_copy.settings.home / "catalog.db") as db:
        db.execute("UPDATE model_versions SET input_schema_json = ? WHERE name = ?", ("{}", "fraud-risk"))
    service = service_factory(served_copy)
    assert set(service.models) == {"credit-risk"}
    assert [f.ref for f in service.failures] == ["fraud-risk@1"]
    entries = [e for e in service.ws._audit.entries() if e.resource == "model:fraud-risk" and e.action == "model.serve"]
    assert entries[-1].outcome == "failed"
    assert entries[-1].details.get("error") == "BadInput"


# -- mlwarden serve --check ------------------------------------------------------------------------


@pytest.mark.slow
def test_check_exit_codes_and_json(served_copy: Served) -> None:
    code, found = check_json(served_copy)
    assert code == 0
    assert found["operator"] == "op"
    assert found["tls"] is False
    assert found["refused"] == []
    assert [(m["name"], m["version"]) for m in found["served"]] == [("credit-risk", 1), ("fraud-risk", 1)]
    with served_copy.open(served_copy.tokens["admin"]) as ws:
        digests = {v.name: v.sha256 for v in ws.models.list()}
    for model in found["served"]:
        assert model["digest"] == digests[model["name"]]
        assert model["dataset"] == "credit-german@1"
        assert model["input_schema"]["additionalProperties"] is False
        assert model["output"] == "probabilities rounded to 6 decimals"

    text = run_cli(served_copy, "serve", "--check", "--port", str(free_port()), "--output", "credit-risk=labels")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:2] == ["ok", "credit-risk@1"]
    assert lines[0].endswith("labels only")
    assert lines[1].split()[:2] == ["ok", "fraud-risk@1"]
    assert lines[1].endswith("rounded to 6 decimals")
    assert lines[2].startswith("would serve 2 model(s) on http://127.0.0.1:")
    assert lines[2].endswith(" as op")

    # One model refused: exit 1 (findings), and the refusal is named.
    flip_object_byte(served_copy, "credit-risk")
    code, found = check_json(served_copy)
    assert code == 1
    assert [m["name"] for m in found["served"]] == ["fraud-risk"]
    [refused] = found["refused"]
    assert refused["ref"] == "credit-risk@1"
    assert refused["error"] in ("IntegrityError", "SignatureError")

    # None verifies: exit 3, with the JSON still printed.
    swap_signature(served_copy, "fraud-risk", "credit-risk")
    code, found = check_json(served_copy)
    assert code == 3
    assert found["served"] == []
    assert sorted(r["ref"] for r in found["refused"]) == ["credit-risk@1", "fraud-risk@1"]


@pytest.mark.slow
def test_check_with_one_named_version_serves_only_it(served_copy: Served) -> None:
    code, found = check_json(served_copy, "--model", "credit-risk@1")
    assert code == 0
    assert [(m["name"], m["version"]) for m in found["served"]] == [("credit-risk", 1)]
    code, found = check_json(served_copy, "--model", "fraud-risk")
    assert (code, [m["name"] for m in found["served"]]) == (0, ["fraud-risk"])
    # A version that does not exist is refused like a tampered one.
    code, found = check_json(served_copy, "--model", "credit-risk@7")
    assert (code, found["served"]) == (3, [])
    assert [r["ref"] for r in found["refused"]] == ["credit-risk@7"]


def test_one_named_version_is_the_only_one_served(served_copy: Served, service_factory: Any, app_client: Any) -> None:
    service = service_factory(served_copy, models=("credit-risk@1",))
    assert sorted(service.models) == ["credit-risk"]
    assert service.failures == []
    client = app_client(service)
    token = served_copy.tokens["client-all"]
    body = {"instances": [served_copy.rows[0]]}
    assert client.post("/v1/models/credit-risk/predict", json=body, headers=bearer(token)).status_code == 200
    other = client.post("/v1/models/fraud-risk/predict", json=body, headers=bearer(token))
    assert (other.status_code, other.json()) == (403, NOT_SERVED)


@pytest.mark.slow
@pytest.mark.parametrize("check", [True, False], ids=["check", "serve"])
def test_an_operator_without_model_serve_is_refused(served_copy: Served, check: bool) -> None:
    scientist = served_copy.tokens["scientist"]
    args = ["serve", "--port", str(free_port()), *(["--check"] if check else [])]
    line = error_line(run_cli(served_copy, *args, token=scientist), 3)
    assert "no model verified" in line
    if not check:
        assert "lacks permission model.serve" in line
    with served_copy.open(served_copy.tokens["auditor"]) as ws:
        denied = [e for e in ws.log.entries() if e.action == "model.serve" and e.outcome == "denied"]
    assert {e.resource for e in denied} == {"model:credit-risk", "model:fraud-risk"}
    assert {e.principal for e in denied} == {"a-scientist"}


@pytest.mark.slow
@pytest.mark.parametrize("check", [True, False], ids=["check", "serve"])
def test_no_production_model_exits_2_saying_to_promote(served_copy: Served, check: bool) -> None:
    with served_copy.open(served_copy.tokens["admin"]) as ws:
        for name in ("credit-risk", "fraud-risk"):
            ws.models.promote(name, 1, "archived")
    args = ["serve", "--port", str(free_port()), *(["--check"] if check else [])]
    error_line(run_cli(served_copy, *args), 2, "no model is in stage production", "promote")


# -- bad options -----------------------------------------------------------------------------------

BAD_OPTIONS = {
    "port-0": (["--port", "0"], "--port 0"),
    "port-too-big": (["--port", "65536"], "--port 65536"),
    "workers-0": (["--workers", "0"], "--workers 0"),
    "cert-without-key": (["--tls-cert", "cert.pem"], "both --tls-cert and --tls-key"),
    "key-without-cert": (["--tls-key", "key.pem"], "both --tls-cert and --tls-key"),
    "output-garbage": (["--output", "garbage"], "--output 'garbage'"),
    "output-round-99": (["--output", "round:99"], "round to 0 to 15 decimals"),
    "max-body-tiny": (["--max-body", "10"], "--max-body"),
}


@pytest.mark.slow
@pytest.mark.parametrize("check", [True, False], ids=["check", "serve"])
def test_bad_options_exit_2_with_one_line(served_copy: Served, check: bool) -> None:
    for name, (args, needle) in BAD_OPTIONS.items():
        result = run_cli(served_copy, "serve", *(["--check"] if check else []), *args)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.count("\n") == 1, (name, result.stderr)
        error_line(result, 2, needle)
        assert result.stdout == "", (name, result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("check", [True, False], ids=["check", "serve"])
def test_unusable_tls_files_are_refused_in_one_line_before_any_model_is_loaded(
    served_copy: Served, tmp_path: Path, check: bool
) -> None:
    missing = tmp_path / "nowhere.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    mode = ["--check"] if check else []
    cases = {
        f"--tls-cert {missing} does not exist or is not a file": (missing, garbage),
        f"--tls-key {missing} does not exist or is not a file": (garbage, missing),
        "do not load as a PEM certificate chain and its private key": (garbage, garbage),
    }
    for needle, (cert, key) in cases.items():
        args = ["--tls-cert", str(cert), "--tls-key", str(key), "--port", str(free_port())]
        result = run_cli(served_copy, "serve", *mode, *args)
        line = error_line(result, 2, needle)
        assert result.stderr.splitlines() == [line]  # nothing loaded, nothing announced
        assert result.stdout == ""
    with served_copy.open(served_copy.tokens["auditor"]) as ws:
        assert not [e for e in ws.log.entries() if e.action == "model.serve"]


@pytest.mark.slow
def test_check_refuses_a_port_in_use(served_copy: Served) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        checked = run_cli(served_copy, "serve", "--check", "--port", port)
    error_line(checked, 2, f"cannot listen on 127.0.0.1:{port}")


@pytest.mark.slow
def test_serve_refuses_a_port_in_use_with_one_line(served_copy: Served) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_cli(served_copy, "serve", "--port", port)
    line = error_line(result, 2, f"cannot listen on 127.0.0.1:{port}")
    assert result.stderr.splitlines() == [line]
