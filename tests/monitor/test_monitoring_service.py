"""``ws.monitoring`` end to end on a trained credit model: profile, drift, live windows, performance."""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlwarden._workspace import Workspace
from mlwarden.config import Settings
from mlwarden.errors import AccessDenied, BadInput, IntegrityError
from mlwarden.monitor import ProfileCounts
from mlwarden.usecases import german_credit_csv

TARGET = "creditability"


@dataclasses.dataclass(frozen=True)
class Monitored:
    settings: Settings
    folder: Path


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    folder = tmp_path_factory.mktemp("monitored")
    settings = Settings(home=folder / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    frame = pd.read_csv(german_credit_csv())
    shifted = frame.copy()
    shifted["duration_in_month"] = (shifted["duration_in_month"] * 1.4).round()
    flipped = frame.copy()
    rng = np.random.default_rng(0)
    flip = rng.random(len(frame)) < 0.35
    flipped.loc[flip, TARGET] = np.where(flipped.loc[flip, TARGET] == "good", "bad", "good")
    for name, data in (("shifted", shifted), ("flipped", flipped)):
        data.to_csv(folder / f"{name}.csv", index=False)
    with Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(german_credit_csv(), name="credit")
        ws.datasets.put(folder / "shifted.csv", name="credit-shifted")
        ws.datasets.put(folder / "flipped.csv", name="credit-flipped")
        ws.models.train("credit-risk", "credit", TARGET, on_findings="accept", reason="monitoring tests")
        ws.users.add("cleo", "client")
        ws.users.add("rita", "reviewer")
    return Monitored(settings, folder)


@pytest.fixture
def ws(monitored: Monitored) -> Iterator[Workspace]:
    with Workspace.open(settings=monitored.settings) as workspace:
        yield workspace


@pytest.fixture
def copy(monitored: Monitored, tmp_path: Path) -> Settings:
    shutil.copytree(monitored.settings.home, tmp_path / "ws")
    return dataclasses.replace(monitored.settings, home=tmp_path / "ws")


def entries(ws: Workspace, action: str) -> list:
    return [e for e in ws._audit.entries() if e.action == action]


def test_training_stores_the_profile_and_signs_its_digest(ws: Workspace) -> None:
    info = ws.models.info("credit-risk")
    described = info.provenance["drift_profile"]
    profile = ws.models.profile(info)
    assert profile.sha256 == described["sha256"]
    assert described["rows"] == profile.rows == 1000
    assert profile.names == tuple(c["name"] for c in info.input_schema["columns"])
    # the prediction profile is of held-out rows only
    assert profile.score is not None
    assert int(profile.score.counts.sum()) == info.metrics["test_rows"]


def test_a_changed_profile_object_is_refused(copy: Settings) -> None:
    with Workspace.open(settings=copy) as ws:
        info = ws.models.info("credit-risk")
        object_id = info.provenance["drift_profile"]["object"]
        path = copy.home / "models" / object_id[:2] / object_id
        data = bytearray(path.read_bytes())
        data[-40] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match="drift profile"):
            ws.models.profile(info)
        with pytest.raises(IntegrityError, match="drift profile"):
            ws.monitoring.drift("credit-risk", data=("credit", None))


def test_the_training_data_shows_no_drift_and_shifted_data_does(ws: Workspace) -> None:
    same = ws.monitoring.drift("credit-risk", data=("credit", None))
    assert not same.report.drifted
    shifted = ws.monitoring.drift("credit-risk", data=("credit-shifted", None))
    assert {f.column for f in shifted.report.findings() if not hasattr(f, "columns")} >= {"duration_in_month"}
    found = next(c for c in shifted.report.columns if c.column == "duration_in_month")
    assert found.severity in ("moderate", "major")
    stored = ws.monitoring.read_report(shifted.stored.id)
    assert stored["drifted"] is True
    assert stored["current"] == "dataset:credit-shifted@1"
    entry = entries(ws, "model.monitor")[-1]
    assert entry.details["report_id"] == shifted.stored.id
    assert entry.details["report_sha256"] == shifted.stored.report_sha256
    assert entry.details["drifted"] is True


def test_live_windows_are_merged_and_checked(copy: Settings) -> None:
    frame = pd.read_csv(german_credit_csv()).drop(columns=[TARGET])
    with Workspace.open(settings=copy) as ws:
        info = ws.models.info("credit-risk")
        profile = ws.models.profile(info)
        with pytest.raises(BadInput, match="no live traffic"):
            ws.monitoring.drift("credit-risk", live=True)
        shifted = frame.sample(400, random_state=1).copy()
        shifted["duration_in_month"] = shifted["duration_in_month"] * 2
        windows = []
        for k, part in enumerate((frame.sample(300, random_state=0), shifted)):
            counts = ProfileCounts(profile)
            counts.add_frame(part)
            windows.append(
                ws.monitoring.record_window(
                    info,
                    profile_sha256=profile.sha256,
                    started_at=f"2026-12-0{k + 1}T00:00:00Z",
                    ended_at=f"2026-12-0{k + 1}T00:05:00Z",
                    counts=counts,
                )
            )
        early = ws.monitoring.drift("credit-risk", live=True, since="2026-12-01T00:00:00Z")
        assert early.report.current_rows == 700
        assert early.report.drifted
        late = ws.monitoring.drift("credit-risk", live=True, since="2026-12-02T00:00:00Z")
        assert late.report.current_rows == 400
        assert "duration_in_month" in {c.column for c in late.report.columns if c.drift}
        clean = ws.monitoring.drift("credit-risk", live=True, since="2026-12-01T00:00:00Z")
        assert clean.stored.id != early.stored.id
        assert [w.rows for w in ws.monitoring.windows("credit-risk", 1)] == [300, 400]
        # a window's object is authenticated: one changed byte, and the live comparison refuses
        path = copy.home / "models" / windows[1].object_id[:2] / windows[1].object_id
        data = bytearray(path.read_bytes())
        data[-30] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match="drift window"):
            ws.monitoring.drift("credit-risk", live=True)


def test_performance_compares_with_the_training_run_and_flags_degradation(ws: Workspace) -> None:
    same = ws.monitoring.performance("credit-risk", data=("credit", None), rounds=300)
    assert same.degraded == []
    training = same.document["training"]
    assert training["rows"] == 250
    accuracy = ws.models.info("credit-risk").metrics["accuracy"]
    assert training["metrics"]["accuracy"]["value"] == pytest.approx(accuracy)
    worse = ws.monitoring.performance("credit-risk", data=("credit-flipped", None), rounds=300)
    assert "accuracy" in worse.degraded
    assert "roc_auc" in worse.degraded
    diff = worse.document["comparison"]["accuracy"]
    assert diff["high"] < 0
    assert diff["low"] <= diff["difference"] <= diff["high"]


def test_two_dataset_versions_are_compared_without_a_model(ws: Workspace) -> None:
    result = ws.monitoring.drift_between(("credit", None), ("credit-shifted", None))
    assert {c.column for c in result.report.columns if c.drift} == {"duration_in_month"}
    assert result.stored.model is None
    assert result.stored.reference == "dataset:credit@1"


def test_the_reference_is_binned_from_a_sample_and_counted_in_full(ws: Workspace) -> None:
    result = ws.monitoring.drift_between(("credit", None), ("credit", None), sample_rows=300, chunk_rows=128)
    assert result.report.reference_rows == 1000
    assert not result.report.drifted


def test_monitoring_is_gated(copy: Settings) -> None:
    with Workspace.open(settings=copy) as admin:
        _, cleo = admin.users.add("cleo2", "client")
        _, rita = admin.users.add("rita2", "reviewer")
    with Workspace.open(settings=copy, token=cleo) as client:
        with pytest.raises(AccessDenied, match=r"model\.monitor"):
            client.monitoring.drift("credit-risk", data=("credit", None))
        with pytest.raises(AccessDenied, match=r"report\.read"):
            client.monitoring.reports()
    with Workspace.open(settings=copy, token=rita) as reviewer:
        with pytest.raises(AccessDenied, match=r"dataset\.read"):  # a reviewer monitors, reads no data
            reviewer.monitoring.drift("credit-risk", data=("credit", None))
        assert reviewer.monitoring.reports() is not None


def test_reports_and_log_hold_no_data_values(ws: Workspace, monitored: Monitored) -> None:
    result = ws.monitoring.drift("credit-risk", data=("credit-shifted", None))
    row = result.stored
    assert set(row.summary) >= {"drifted_columns", "worst"}
    text = repr([e.details for e in entries(ws, "model.monitor")])
    for value in ("radio/television", "skilled employee"):
        assert value not in text
        assert value not in repr(row.summary)
