"""``ws.monitoring``: drift of data and of live traffic against a model's reference, and performance.

* :meth:`MonitoringService.drift` compares a model version's reference profile (made at
  training, its SHA-256 signed in the provenance) with a dataset version, streamed chunk by chunk
  (the model predicts each chunk, for prediction drift), or with the windows a server persisted
  (``live``, since a time). One ``model.monitor`` action; the model, its profile and the data are
  read through their own gated loads.
* :meth:`MonitoringService.drift_between` compares two dataset versions, no model: the reference
  is profiled from a seeded sample of at most ``sample_rows`` rows (its bins), then counted in
  full; the current version is streamed. One ``dataset.audit`` action.
* :meth:`MonitoringService.performance` scores a labelled dataset version with a model and
  compares each metric with the training run's own held-out metrics (recomputed from the training
  dataset version, whose SHA-256 must match the provenance's), with bootstrap intervals of both
  and of their difference.
* :meth:`MonitoringService.record_window` is the server's: a window of counts (no values),
  encrypted under a fresh data key in the model store (``model.serve``).

Every report is stored encrypted (canonical JSON) in the workspace's report store, its row
holding counts only; the report's id and SHA-256 are in the action's log entry, so an auditor can
trace a retraining run (whose provenance names the report) back to the drift that started it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mlwarden._clock import Clock, timestamp
from mlwarden._json import canonical
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.errors import BadInput, IntegrityError

if TYPE_CHECKING:
    import numpy as np
    import pandas

    from mlwarden.access import Gate
    from mlwarden.catalog._monitoring import MonitorCatalog, ReportRow, WindowRow
    from mlwarden.models import ModelRegistry, ModelVersion
    from mlwarden.monitor import DriftReport, ProfileCounts, ReferenceProfile
    from mlwarden.store import Datasets, ObjectBackend
    from mlwarden.store._sealed import SealedObjects

__all__ = ["DriftResult", "MonitoringService", "PerformanceResult", "StoredReport"]

CHUNK_ROWS = 65_536
SAMPLE_ROWS = 200_000
_LOWER_IS_BETTER = ("log_loss", "brier")


@dataclasses.dataclass(frozen=True)
class StoredReport:
    """Where a monitoring report is: its id, digest, and what it compared."""

    id: int
    kind: str
    model: str | None
    reference: str
    current: str
    report_sha256: str
    findings: bool
    summary: Mapping[str, Any]
    created_at: str
    created_by: str

    @classmethod
    def from_row(cls, row: ReportRow) -> StoredReport:
        model = None if row.model is None else f"{row.model}@{row.version}"
        return cls(
            row.id,
            row.kind,
            model,
            row.reference,
            row.current,
            row.report_sha256,
            row.findings,
            dict(row.summary),
            row.created_at,
            row.created_by,
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DriftResult:
    """A drift comparison and where its report is stored."""

    report: DriftReport
    stored: StoredReport

    def to_json(self) -> dict[str, Any]:
        return {"report_id": self.stored.id, "report_sha256": self.stored.report_sha256, **self.report.to_json()}


@dataclasses.dataclass(frozen=True)
class PerformanceResult:
    """Metrics now and at training, with intervals; ``degraded`` names the metrics that fell."""

    document: Mapping[str, Any]
    stored: StoredReport

    @property
    def degraded(self) -> list[str]:
        return list(self.document.get("degraded", []))

    def to_json(self) -> dict[str, Any]:
        return {"report_id": self.stored.id, "report_sha256": self.stored.report_sha256, **self.document}


class MonitoringService:
    def __init__(
        self,
        *,
        gate: Gate,
        models: Callable[[], ModelRegistry],
        datasets: Callable[[], Datasets],
        rows: Callable[[], MonitorCatalog],
        reports: Callable[[], ObjectBackend],
        windows: Callable[[], ObjectBackend],
        data_keys: DataKeyStore,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._models = models
        self._datasets = datasets
        self._rows = rows
        self._reports = reports
        self._windows = windows
        self._data_keys = data_keys
        self._clock = clock

    def __repr__(self) -> str:
        return "<MonitoringService>"

    def _sealed(self, backend: Callable[[], ObjectBackend]) -> SealedObjects:
        from mlwarden.store._sealed import SealedObjects

        return SealedObjects(backend(), self._data_keys, owner="monitoring object")

    # -- drift ----------------------------------------------------------------------------

    def drift(
        self,
        model: str,
        version: int | None = None,
        *,
        data: tuple[str, int | None] | None = None,
        live: bool = False,
        since: str | None = None,
        alpha: float = 0.05,
        chunk_rows: int = CHUNK_ROWS,
        progress: Callable[[int], None] | None = None,
    ) -> DriftResult:
        """Compare a model version's reference with dataset ``data`` or (``live``) its served traffic."""
        from mlwarden.monitor import ProfileCounts, compare

        if (data is None) == (not live):
            raise BadInput(
                "compare the reference with a dataset (--data) or with live traffic (--live), one of the two"
            )
        with self._gate.act("model.monitor", f"model:{model}", version=version, live=live) as act:
            if data is not None:  # the one load verifies what info() would: one read of the model
                info, loaded = self._models().load_version(model, version)
            else:
                info = self._models().info(model, version)
            profile = self._profile(info)
            if data is not None:
                counts = ProfileCounts(profile)
                ref, frames = self._datasets().read_frames(*data, rows=chunk_rows)
                for frame in frames:
                    _count_scored(counts, frame, loaded.model, profile)
                    if progress is not None:
                        progress(len(frame))
                current = f"dataset:{ref.ref}"
                act.record(dataset=ref.ref, dataset_sha256=ref.sha256)
            else:
                counts, used = self._live_counts(info, profile, since)
                current = f"live:{info.ref}:since={since or 'start'}:windows={used}"
            report = compare(profile, counts, alpha=alpha)
            stored = self._store(
                "drift", info.name, info.version, f"model:{info.ref}:profile={profile.sha256[:16]}", current, report
            )
            act.record(
                report_id=stored.id,
                report_sha256=stored.report_sha256,
                drifted=report.drifted,
                worst=report.worst(),
                rows=counts.rows,
            )
        return DriftResult(report, stored)

    def drift_between(
        self,
        reference: tuple[str, int | None],
        current: tuple[str, int | None],
        *,
        alpha: float = 0.05,
        chunk_rows: int = CHUNK_ROWS,
        sample_rows: int = SAMPLE_ROWS,
        progress: Callable[[int], None] | None = None,
    ) -> DriftResult:
        """Compare two dataset versions (every column both have), no model."""
        from mlwarden.monitor import ProfileCounts, compare

        with self._gate.act("dataset.audit", f"dataset:{current[0]}", reference=reference[0], what="drift") as act:
            profile, ref = self._profile_dataset(reference, chunk_rows, sample_rows, progress)
            counts = ProfileCounts(profile)
            cur, frames = self._datasets().read_frames(*current, rows=chunk_rows)
            for frame in frames:
                counts.add_frame(frame)
                if progress is not None:
                    progress(len(frame))
            report = compare(profile, counts, alpha=alpha)
            stored = self._store("drift", None, None, f"dataset:{ref}", f"dataset:{cur.ref}", report)
            act.record(
                report_id=stored.id,
                report_sha256=stored.report_sha256,
                drifted=report.drifted,
                worst=report.worst(),
                current_sha256=cur.sha256,
            )
        return DriftResult(report, stored)

    def _profile_dataset(
        self,
        reference: tuple[str, int | None],
        chunk_rows: int,
        sample_rows: int,
        progress: Callable[[int], None] | None,
    ) -> tuple[ReferenceProfile, str]:
        """Bins from a seeded uniform sample (at most ``sample_rows``), counts from every row."""
        import numpy as np
        import pandas as pd

        from mlwarden.monitor import ProfileCounts, ReferenceProfile

        rng = np.random.default_rng(0)
        kept: pandas.DataFrame | None = None
        keys: np.ndarray = np.empty(0)
        seen = 0
        info, frames = self._datasets().read_frames(*reference, rows=chunk_rows)
        for frame in frames:
            seen += len(frame)
            draw = rng.random(len(frame))
            if kept is None:
                kept, keys = frame.reset_index(drop=True), draw
            else:
                kept = pd.concat([kept, frame], ignore_index=True)
                keys = np.concatenate([keys, draw])
            if len(kept) > sample_rows:  # a uniform sample: the rows of the smallest random keys
                chosen = np.sort(np.argpartition(keys, sample_rows)[:sample_rows])
                kept, keys = kept.iloc[chosen].reset_index(drop=True), keys[chosen]
            if progress is not None:
                progress(len(frame))
        if kept is None or seen == 0:
            raise BadInput(f"{info.ref} has no rows to use as a reference")
        profile = ReferenceProfile.from_frame(kept, source={"dataset": info.ref, "sha256": info.sha256})
        if seen <= sample_rows:
            return profile, info.ref
        counts = ProfileCounts(profile)
        again, frames = self._datasets().read_frames(*reference, rows=chunk_rows)
        if again.sha256 != info.sha256:  # pragma: no cover - a version's content never changes
            raise IntegrityError(f"{info.ref} changed while it was read")
        for frame in frames:
            counts.add_frame(frame)
        return profile.with_counts(counts), info.ref

    def _profile(self, info: ModelVersion) -> ReferenceProfile:
        profile = self._models().profile(info, permission="model.monitor")
        if profile is None:
            raise BadInput(
                f"{info.ref} has no drift reference profile (it was registered, or trained before profiles): "
                "train or retrain it with mlwarden to monitor it"
            )
        return profile  # type: ignore[no-any-return]

    def _live_counts(
        self, info: ModelVersion, profile: ReferenceProfile, since: str | None
    ) -> tuple[ProfileCounts, int]:
        from mlwarden.monitor import ProfileCounts

        rows = self._rows().windows(info.name, info.version, since=since)
        counts = ProfileCounts(profile)
        used = 0
        for row in rows:
            if row.profile_sha256 != profile.sha256:
                continue  # counted against another profile (never for one version): not comparable
            counts.merge(ProfileCounts.from_bytes(self._read_window(row), profile))
            used += 1
        if counts.rows == 0:
            when = f" since {since}" if since else ""
            raise BadInput(
                f"no live traffic of {info.ref} was recorded{when}: serve it with drift windows on "
                "(mlwarden serve --drift-window SECONDS) and let a window close"
            )
        return counts, used

    # -- the server's windows -------------------------------------------------------------

    def record_window(
        self,
        info: ModelVersion,
        *,
        profile_sha256: str,
        started_at: str,
        ended_at: str,
        counts: ProfileCounts,
    ) -> WindowRow:
        """Persist a window of a served version's counts, encrypted (``model.serve``)."""
        from mlwarden.catalog._monitoring import NewWindow

        if counts.profile.sha256 != profile_sha256:
            raise BadInput("the window's counts were made against another reference profile")
        with self._gate.act("model.serve", f"model:{info.name}", version=info.version, what="drift-window") as act:
            payload = counts.to_bytes()
            object_id = self._sealed(self._windows).seal(payload)
            try:
                row = self._rows().add_window(
                    NewWindow(
                        model=info.name,
                        version=info.version,
                        profile_sha256=profile_sha256,
                        started_at=started_at,
                        ended_at=ended_at,
                        rows=counts.rows,
                        object_id=object_id.hex(),
                        sha256=hashlib.sha256(payload).hexdigest(),
                        created_by=self._gate.principal.name,
                    )
                )
            except BaseException:
                self._sealed(self._windows).discard(object_id)
                raise
            act.record(window=row.id, rows=row.rows, started_at=started_at, ended_at=ended_at)
        return row

    def windows(self, model: str, version: int, *, since: str | None = None) -> list[WindowRow]:
        """The persisted windows of a model version (rows only: when, how many rows; no counts)."""
        with self._gate.act("model.monitor", f"model:{model}", version=version, what="windows"):
            return self._rows().windows(model, version, since=since)

    def _read_window(self, row: WindowRow) -> bytes:
        data = self._sealed(self._windows).open(bytes.fromhex(row.object_id), f"drift window {row.id} of {row.model}")
        if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), row.sha256):
            raise IntegrityError(f"drift window {row.id} of {row.model}@{row.version} does not match its SHA-256")
        return data

    # -- performance ----------------------------------------------------------------------

    def performance(
        self,
        model: str,
        version: int | None = None,
        *,
        data: tuple[str, int | None],
        rounds: int = 1000,
        seed: int = 0,
    ) -> PerformanceResult:
        """Score labelled ``data`` and compare its metrics with the training run's held-out ones."""
        with self._gate.act("model.monitor", f"model:{model}", version=version, what="performance") as act:
            info, loaded = self._models().load_version(model, version)
            params = info.provenance.get("parameters") or {}
            target = params.get("target")
            if not isinstance(target, str):
                raise BadInput(f"{info.ref} records no target column (it was registered, not trained by mlwarden)")
            frame, source = self._datasets().read_frame_versioned(*data)
            x_now, y_now = _labelled(frame, target, info)
            del frame
            training = self._training_held_out(info, target)
            document = _compare_performance(loaded.model, training, (x_now, y_now), rounds=rounds, seed=seed)
            document.update(
                model=info.ref,
                current={**document["current"], "dataset": source.ref, "sha256": source.sha256},
                training={**document.get("training", {}), "dataset": _training_ref(info)},
            )
            stored = self._store_document(
                "performance", info.name, info.version, f"model:{info.ref}", f"dataset:{source.ref}", document
            )
            act.record(
                report_id=stored.id,
                report_sha256=stored.report_sha256,
                degraded=",".join(document["degraded"]),
                dataset=source.ref,
            )
        return PerformanceResult(document, stored)

    def _training_held_out(self, info: ModelVersion, target: str) -> tuple[Any, Any]:
        from mlwarden.models._training import held_out

        dataset = info.provenance.get("dataset") or {}
        params = info.provenance.get("parameters") or {}
        if "name" not in dataset:
            raise BadInput(f"{info.ref} records no training dataset, so its training metrics cannot be recomputed")
        frame, source = self._datasets().read_frame_versioned(str(dataset["name"]), int(dataset["version"]))
        if not hmac.compare_digest(source.sha256, str(dataset.get("sha256", ""))):
            raise IntegrityError(f"{source.ref} no longer matches the SHA-256 {info.ref} was trained on")
        return held_out(frame, target, test_size=float(params["test_size"]), seed=int(params["seed"]))

    # -- stored reports -------------------------------------------------------------------

    def reports(self, *, model: str | None = None, kind: str | None = None) -> list[StoredReport]:
        """The stored monitoring reports (rows only) the caller may read."""
        self._gate.check("report.read", "reports", what="monitoring")
        return [StoredReport.from_row(r) for r in self._rows().reports(model=model, kind=kind)]

    def read_report(self, report_id: int) -> dict[str, Any]:
        """A stored report's document, decrypted and checked against its SHA-256 (``report.read``)."""
        import json

        with self._gate.act("report.read", f"report:{report_id}", what="monitoring"):
            row = self._rows().report(report_id)
            data = self._sealed(self._reports).open(bytes.fromhex(row.object_id), f"monitoring report {report_id}")
            if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), row.report_sha256):
                raise IntegrityError(f"monitoring report {report_id} does not match its SHA-256")
            return json.loads(data)  # type: ignore[no-any-return]

    def _store(
        self, kind: str, model: str | None, version: int | None, reference: str, current: str, report: DriftReport
    ) -> StoredReport:
        return self._store_document(kind, model, version, reference, current, report.to_json())

    def _store_document(
        self,
        kind: str,
        model: str | None,
        version: int | None,
        reference: str,
        current: str,
        document: Mapping[str, Any],
    ) -> StoredReport:
        from mlwarden.catalog._monitoring import NewReport

        payload = canonical({"kind": kind, "reference": reference, "current": current, **document})
        object_id = self._sealed(self._reports).seal(payload)
        summary = dict(document.get("summary") or {})
        if kind == "performance":
            summary = {"degraded": list(document.get("degraded", []))}
        findings = bool(document.get("drifted")) if kind == "drift" else bool(document.get("degraded"))
        try:
            row = self._rows().add_report(
                NewReport(
                    kind=kind,
                    model=model,
                    version=version,
                    reference=reference[:1000],
                    current=current[:1000],
                    object_id=object_id.hex(),
                    report_sha256=hashlib.sha256(payload).hexdigest(),
                    summary=summary,
                    findings=findings,
                    created_at=timestamp(self._clock()),
                    created_by=self._gate.principal.name,
                )
            )
        except BaseException:
            self._sealed(self._reports).discard(object_id)
            raise
        return StoredReport.from_row(row)


# -- helpers ----------------------------------------------------------------------------------


def _features(frame: pandas.DataFrame, profile: ReferenceProfile) -> pandas.DataFrame:
    """The profiled columns, typed as training typed them (categorical as objects)."""
    import pandas as pd

    missing = [c.name for c in profile.columns if c.name not in frame.columns]
    if missing:
        raise BadInput(f"the data lacks column {missing[0]!r}, which the model uses")
    out = {}
    for column in profile.columns:
        series = frame[column.name]
        if column.numeric:
            out[column.name] = pd.to_numeric(series, errors="coerce")
        else:
            out[column.name] = series.astype(object).where(series.notna(), None)
    return pd.DataFrame(out, index=frame.index)


def _count_scored(counts: ProfileCounts, frame: pandas.DataFrame, pipeline: Any, profile: ReferenceProfile) -> None:
    """Count a chunk's features and the model's predictions for it."""
    features = _features(frame, profile)
    if len(features) == 0:
        return
    try:
        proba = pipeline.predict_proba(features)
        labels = list(pipeline.classes_[proba.argmax(axis=1)])
    except (ValueError, TypeError) as exc:
        raise BadInput(f"the model cannot score these rows: {str(exc).splitlines()[0][:200]}") from None
    counts.add_frame(features, proba=proba, labels=labels)


def _labelled(frame: pandas.DataFrame, target: str, info: ModelVersion) -> tuple[Any, Any]:
    from mlwarden.models._training_data import prepare

    if target not in frame.columns:
        raise BadInput(f"the data has no column {target!r}, the target {info.ref} was trained to predict")
    prepared = prepare(frame, target)
    features = prepared.features.astype({c: "object" for c in prepared.categorical})
    return features, prepared.target


def _training_ref(info: ModelVersion) -> str:
    dataset = info.provenance.get("dataset") or {}
    return f"{dataset.get('name')}@{dataset.get('version')}"


def _compare_performance(
    pipeline: Any, training: tuple[Any, Any], current: tuple[Any, Any], *, rounds: int, seed: int
) -> dict[str, Any]:
    """Point values, percentile-bootstrap 95 % intervals, and the interval of current - training."""
    import numpy as np

    from mlwarden.models._evaluation import bootstrap_metrics
    from mlwarden.models._training_data import plain

    if not 100 <= rounds <= 100_000:
        raise BadInput("bootstrap rounds must be between 100 and 100,000")
    classes = list(pipeline.classes_)
    rng = np.random.default_rng(seed)
    sides: dict[str, dict[str, Any]] = {}
    samples: dict[str, dict[str, np.ndarray]] = {}
    for side, (x, y) in (("training", training), ("current", current)):
        y = np.asarray(y, dtype=object)
        known = np.isin(y, np.asarray(classes, dtype=object))
        if not known.all():
            raise BadInput(f"the {side} labels hold classes the model does not know: {sorted(set(y[~known]))[:3]}")
        if len(y) < 10:
            raise BadInput(f"the {side} data has {len(y)} labelled rows; at least 10 are needed")
        proba = pipeline.predict_proba(x)
        predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        draws = rng.integers(0, len(y), (rounds, len(y)))
        point = bootstrap_metrics(y, predicted, proba, classes, np.arange(len(y))[None, :])
        boot = bootstrap_metrics(y, predicted, proba, classes, draws)
        samples[side] = boot
        sides[side] = {
            "rows": len(y),
            "metrics": {name: _interval(float(point[name][0]), boot[name]) for name in point},
        }
    comparison = {}
    degraded = []
    for name in samples["current"]:
        diff = samples["current"][name] - samples["training"][name]
        kept = diff[np.isfinite(diff)]
        if not kept.size:
            continue
        low, high = np.percentile(kept, [2.5, 97.5]).tolist()
        value = sides["current"]["metrics"][name]["value"] - sides["training"]["metrics"][name]["value"]
        worse = low > 0 if name in _LOWER_IS_BETTER else high < 0
        comparison[name] = {"difference": value, "low": low, "high": high, "degraded": bool(worse)}
        if worse:
            degraded.append(name)
    return {
        "classes": [plain(c) for c in classes],
        "training": sides["training"],
        "current": sides["current"],
        "comparison": comparison,
        "degraded": degraded,
        "interval": {"method": "percentile bootstrap", "rounds": rounds, "level": 0.95, "seed": seed},
    }


def _interval(value: float, samples: np.ndarray) -> dict[str, float | None]:
    import numpy as np

    kept = samples[np.isfinite(samples)]
    low, high = np.percentile(kept, [2.5, 97.5]).tolist() if kept.size else (None, None)
    return {"value": value if np.isfinite(value) else None, "low": low, "high": high}
