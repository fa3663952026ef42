"""Switching models while serving: a newly promoted production version is picked up with no failed or mixed request.

The in-process tests drive :class:`~mlwarden.serve._reload.Reloader` checks one at a time on a
started service; the slow ones start a real ``mlwarden serve`` and hammer it from several client
threads while a new version is trained, approved by a second principal and promoted. Every answer
must be a 200 whose predictions are exactly what the version it names predicts for its rows
(scikit-learn on the version loaded here is the oracle), and the versions must switch once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from _running import PREDICT, assert_stopped_cleanly, bearer, predictions_in_log, serving

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

MODEL = "credit-risk"
ROWS_PER_REQUEST = 4


# -- the registry, as its principals use it ---------------------------------------------------------


def train(where: Served, seed: int, name: str = MODEL) -> int:
    """A new version of ``name`` trained by the admin (not promoted)."""
    with where.open() as ws:
        return int(ws.models.train(name, "credit-german", "creditability", estimator="logistic", seed=seed).version)


def approve(where: Served, version: int, name: str = MODEL) -> None:
    """Four eyes: a reviewer, not the admin who trained it, approves the version."""
    with where.open(where.tokens["reviewer"]) as ws:
        ws.models.approve(name, version)


def promote(where: Served, version: int, name: str = MODEL, stage: str = "production") -> None:
    with where.open(where.tokens["operator"]) as ws:
        ws.models.promote(name, version, stage)


def release(where: Served, seed: int, name: str = MODEL) -> int:
    """Train, approve and promote a new version: what a team does to ship one."""
    version = train(where, seed, name)
    approve(where, version, name)
    promote(where, version, name)
    return version


def flip_object_byte(where: Served, version: int, name: str = MODEL) -> None:
    """Flip one bit in the middle of a version's encrypted object (after its promotion checked it)."""
    home = Path(where.settings.home)
    with sqlite3.connect(home / "catalog.db") as db:
        (object_id,) = db.execute(
            "SELECT object_id FROM model_versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
    db.close()
    path = home / "models" / object_id[:2] / object_id
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def force_into_production(where: Served, version: int, name: str = MODEL) -> None:
    """Put a version in production behind the registry's back (no approval): what the server must not trust."""
    with sqlite3.connect(Path(where.settings.home) / "catalog.db") as db:
        db.execute("UPDATE model_versions SET stage = 'archived' WHERE name = ? AND stage = 'production'", (name,))
        db.execute("UPDATE model_versions SET stage = 'production' WHERE name = ? AND version = ?", (name, version))
    db.close()


class Oracle:
    """What each version of the model predicts for the test rows: scikit-learn on the version loaded here."""

    def __init__(self, where: Served) -> None:
        self.where = where
        self.rows = where.rows
        self._expected: dict[int, tuple[list[Any], np.ndarray]] = {}

    def expected(self, version: int) -> tuple[list[Any], np.ndarray]:
        if version not in self._expected:
            with self.where.open() as ws:
                info, loaded = ws.models.load_version(MODEL, version)
            columns = info.input_schema["columns"]
            frame = pd.DataFrame(self.rows)[[c["name"] for c in columns]]
            frame = frame.astype({c["name"]: object for c in columns if c["type"] == "categorical"})
            self._expected[version] = (loaded.model.predict(frame).tolist(), loaded.model.predict_proba(frame))
        return self._expected[version]

    def check(self, answer: dict[str, Any], start: int) -> None:
        """``answer`` (to rows ``start:start + ROWS_PER_REQUEST``) is wholly its named version's."""
        labels, proba = self.expected(answer["model"]["version"])
        stop = start + ROWS_PER_REQUEST
        assert answer["predictions"] == labels[start:stop], answer
        # Rounded to 6 decimals by the default output policy; the compiled path agrees to 1e-9.
        assert np.max(np.abs(np.array(answer["probabilities"]) - proba[start:stop])) <= 5e-7 + 1e-8, answer


def body(where: Served, start: int) -> dict[str, Any]:
    return {"instances": where.rows[start : start + ROWS_PER_REQUEST]}


def check_now(service: Any, *, forced: bool = False) -> list[tuple[str, str]]:
    outcomes: list[tuple[str, str]] = asyncio.run(service.reloader.check(forced=forced))
    return outcomes


def serve_entries(where: Served, after: int) -> list[tuple[str, str]]:
    """(what, outcome) of the model.serve entries about ``MODEL`` at positions ``after`` on (``what``: load,
    prepare, ...; ``-`` on the entries that close a decision, which carry its results or error instead)."""
    with where.open(where.tokens["auditor"]) as ws:
        entries = list(ws.log.entries())[after:]
    return [
        (str(e.details.get("what", "-")), e.outcome)
        for e in entries
        if e.action == "model.serve" and e.resource == f"model:{MODEL}"
    ]


def log_size(where: Served) -> int:
    with where.open(where.tokens["auditor"]) as ws:
        return int(ws.log.size())


# -- one check at a time, in process --------------------------------------------------------------


def test_a_check_switches_to_the_new_production_version_and_keeps_the_models_state(
    served_copy: Served, service_factory: Any, app_client: Any
) -> None:
    service = service_factory(served_copy)
    old, other = service.models[MODEL], service.models["fraud-risk"]
    monitor = service.monitors[MODEL]
    assert check_now(service) == []  # nothing new

    version = release(served_copy, seed=7)
    before = log_size(served_copy)
    assert check_now(service) == [(MODEL, "switched")]
    new = service.models[MODEL]
    assert (old.version, new.version) == (1, version)
    assert service.models["fraud-risk"] is other
    assert service.monitors[MODEL] is monitor  # the tokens' query histories carry over
    assert check_now(service) == []  # switched once
    loaded = serve_entries(served_copy, before)  # through the one gate, as at start-up
    assert loaded[:3] == [("load", "allowed"), ("-", "succeeded"), ("prepare", "allowed")]
    assert loaded[-1] == ("-", "succeeded")
    assert {outcome for _, outcome in loaded} == {"allowed", "succeeded"}

    client = app_client(service)
    token = bearer(served_copy.tokens["client-credit"])
    answer = client.post(PREDICT, json=body(served_copy, 0), headers=token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == {"name": MODEL, "version": version, "digest": new.digest}
    Oracle(served_copy).check(answer.json(), 0)
    listed = client.get("/v1/models", headers=token).json()["models"]
    assert [(m["name"], m["version"]) for m in listed] == [(MODEL, version)]
    metrics = client.get("/metrics", headers=bearer(served_copy.tokens["auditor"])).text
    assert f'mlwarden_model_version{{model="{MODEL}"}} {float(version)}' in metrics
    assert f'mlwarden_model_reloads_total{{model="{MODEL}",outcome="switched"}} 1.0' in metrics


def test_a_version_that_fails_its_checks_is_not_switched_in_and_not_retried_until_forced(
    served_copy: Served, service_factory: Any
) -> None:
    service = service_factory(served_copy)
    old = service.models[MODEL]
    version = release(served_copy, seed=7)
    flip_object_byte(served_copy, version)

    before = log_size(served_copy)
    assert check_now(service) == [(MODEL, "refused")]
    assert service.models[MODEL] is old
    assert serve_entries(served_copy, before) == [("load", "allowed"), ("-", "failed")]
    assert check_now(service) == []  # a poll does not try the same bad version again...
    assert check_now(service, forced=True) == [(MODEL, "refused")]  # ...SIGHUP does
    assert service.models[MODEL] is old
    assert serve_entries(served_copy, before) == [("load", "allowed"), ("-", "failed")] * 2
    assert 'outcome="refused"} 2.0' in service.metrics.render().decode()


def test_an_unapproved_production_version_is_not_served_at_start_nor_switched_in(
    served_copy: Served, service_factory: Any
) -> None:
    service = service_factory(served_copy)
    old = service.models[MODEL]
    version = train(served_copy, seed=7)
    force_into_production(served_copy, version)

    before = log_size(served_copy)
    assert check_now(service) == [(MODEL, "refused")]
    assert service.models[MODEL] is old  # the approved version keeps serving
    assert serve_entries(served_copy, before) == [
        ("load", "allowed"),
        ("-", "succeeded"),
        ("prepare", "allowed"),
        ("-", "failed"),
    ]

    restarted = service_factory(served_copy)
    assert sorted(restarted.models) == ["fraud-risk"]
    [failure] = restarted.failures
    assert (failure.ref, failure.error) == (f"{MODEL}@{version}", "AccessDenied")
    assert "four eyes" in failure.message
    assert "approve" in failure.message

    approve(served_copy, version)  # the approval that was missing: SIGHUP picks it up
    assert check_now(service) == []
    assert check_now(service, forced=True) == [(MODEL, "switched")]
    assert service.models[MODEL].version == version


def test_a_model_left_without_a_production_version_keeps_being_served(
    served_copy: Served, service_factory: Any
) -> None:
    service = service_factory(served_copy)
    old = service.models[MODEL]
    promote(served_copy, 1, stage="archived")
    assert check_now(service) == [(MODEL, "unpromoted")]
    assert check_now(service) == []  # warned once
    assert service.models[MODEL] is old


def test_a_model_promoted_for_the_first_time_is_added(served_copy: Served, service_factory: Any) -> None:
    service = service_factory(served_copy)
    release(served_copy, seed=3, name="credit-new")
    assert check_now(service) == [("credit-new", "added")]
    assert sorted(service.models) == ["credit-new", MODEL, "fraud-risk"]
    assert "credit-new" in service.monitors
    assert "mlwarden_models_served 3.0" in service.metrics.render().decode()


def test_a_server_given_models_by_name_checks_nothing(served_copy: Served, service_factory: Any) -> None:
    service = service_factory(served_copy, models=(f"{MODEL}@1",), reload_interval=1.0)
    release(served_copy, seed=7)

    async def started() -> bool:
        service.reloader.start()
        running = service.reloader._task is not None
        await service.reloader.stop()
        return running

    assert asyncio.run(started()) is False
    assert service.models[MODEL].version == 1


def test_a_switched_out_version_retires_once_its_last_request_is_answered(
    served_copy: Served, service_factory: Any
) -> None:
    service = service_factory(served_copy)
    old = service.models[MODEL]

    async def scenario() -> None:
        old.enter()  # a request holding the old version (reading its body, say)
        retiring = asyncio.ensure_future(old.idle())
        await asyncio.sleep(0)
        assert not retiring.done()
        old.leave()
        await asyncio.wait_for(retiring, 1.0)

    asyncio.run(scenario())
    assert old.in_flight == 0


# -- a real server under load ---------------------------------------------------------------------


def hammer_token(where: Served) -> str:
    """A client of ``credit-*`` whose limits the load stays under (the default is 600 a minute)."""
    with where.open() as ws:
        return str(
            ws.users.add("hammer", "client", scopes=("credit-*",), rate_limit=1_000_000, daily_quota=10_000_000)[1]
        )


class Hammer:
    """Client threads sending predictions back to back until stopped; every answer kept."""

    def __init__(self, base: str, where: Served, token: str, threads: int = 4) -> None:
        self.base = base
        self.where = where
        self.token = token
        self.stop = threading.Event()
        self.answers: list[list[tuple[int, int, dict[str, Any]]]] = [[] for _ in range(threads)]
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, index: int) -> None:
        token = bearer(self.token)
        step = 0
        with httpx.Client(base_url=self.base, timeout=30.0) as client:
            while not self.stop.is_set():
                start = (index * 37 + step * ROWS_PER_REQUEST) % (len(self.where.rows) - ROWS_PER_REQUEST)
                answer = client.post(PREDICT, json=body(self.where, start), headers=token)
                self.answers[index].append((answer.status_code, start, answer.json()))
                step += 1

    def count(self) -> int:
        return sum(len(a) for a in self.answers)

    def versions_seen(self) -> set[int]:
        return {a["model"]["version"] for answers in self.answers for s, _, a in answers if s == 200}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def listed_version(base: str, where: Served) -> int:
    models = httpx.get(f"{base}/v1/models", headers=bearer(where.tokens["client-credit"]), timeout=10.0).json()
    return int(models["models"][0]["version"])


def check_answers(hammer: Hammer, oracle: Oracle, versions: list[int]) -> None:
    """Every answer a 200, wholly its version's; each thread saw ``versions`` in that order, switching once."""
    assert hammer.count() > 50
    # The versions disagree on every row, so an answer mixing them could not pass for either.
    first, last = (oracle.expected(v)[1] for v in (versions[0], versions[-1]))
    assert np.min(np.abs(first - last).max(axis=1)) > 1e-5
    for answers in hammer.answers:
        assert [status for status, _, _ in answers] == [200] * len(answers), [a for s, _, a in answers if s != 200]
        seen = [a["model"]["version"] for _, _, a in answers]
        assert seen == sorted(seen, key=versions.index), "a thread saw the old version after the new one"
        for _, start, answer in answers:
            oracle.check(answer, start)


@pytest.mark.slow
def test_under_load_a_promoted_version_is_switched_in_with_no_failed_or_mixed_request(
    served_copy: Served, tmp_path: Path
) -> None:
    oracle = Oracle(served_copy)
    token = hammer_token(served_copy)
    with (
        serving(served_copy, tmp_path, "--reload-interval", "0.2") as server,
        Hammer(server.base, served_copy, token) as hammer,
    ):
        wait_for(lambda: hammer.count() >= 40, "answers from the first version")
        version = release(served_copy, seed=7)  # trained, approved by a reviewer, promoted: meanwhile
        wait_for(lambda: listed_version(server.base, served_copy) == version, "the switch")
        switched_at = hammer.count()
        wait_for(lambda: hammer.count() >= switched_at + 40, "answers from the new version")
        hammer.stop.set()
        code = server.stop(signal.SIGINT)
    assert_stopped_cleanly(server, code, served_copy)
    assert f"serving {MODEL}@{version} (sha256" in server.stderr()
    assert hammer.versions_seen() == {1, version}
    check_answers(hammer, oracle, [1, version])
    # Each answer's audit entry names the version that answered it.
    logged = predictions_in_log(served_copy)
    for answers in hammer.answers:
        for _, _, answer in answers:
            entry = logged[answer["request_id"]]
            assert entry.details["model"] == f"{MODEL}@{answer['model']['version']}"
            assert entry.details["digest"] == answer["model"]["digest"]


@pytest.mark.slow
def test_sighup_checks_at_once_and_a_tampered_version_never_replaces_the_one_served(
    served_copy: Served, tmp_path: Path
) -> None:
    oracle = Oracle(served_copy)
    token = hammer_token(served_copy)
    with (
        serving(served_copy, tmp_path, "--reload-interval", "0") as server,
        Hammer(server.base, served_copy, token) as hammer,
    ):
        bad = release(served_copy, seed=7)
        flip_object_byte(served_copy, bad)
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: f"not switching to {MODEL}@{bad}" in server.stderr(), "the refusal")
        assert listed_version(server.base, served_copy) == 1
        refused_at = hammer.count()
        wait_for(lambda: hammer.count() >= refused_at + 20, "answers after the refusal")

        good = release(served_copy, seed=11)  # no poll: only a signal makes the server look
        time.sleep(0.5)
        assert listed_version(server.base, served_copy) == 1
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: listed_version(server.base, served_copy) == good, "the switch")
        switched_at = hammer.count()
        wait_for(lambda: hammer.count() >= switched_at + 20, "answers from the new version")
        hammer.stop.set()
        code = server.stop(signal.SIGINT)
    assert_stopped_cleanly(server, code, served_copy)
    assert hammer.versions_seen() == {1, good}
    check_answers(hammer, oracle, [1, good])
