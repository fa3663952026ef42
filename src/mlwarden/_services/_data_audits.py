"""``ws.data_audits``: audits of training data (poisoning, label errors, conflicting duplicates), stored
encrypted, and the gate every training run passes.

An audit is run on one dataset version for one target column, with :class:`~mlwarden.audit.DataAuditSettings`.
Its report (scores, flagged rows, reasons, trigger patterns) is encrypted under a fresh data key into
the workspace's report store (``<home>/reports/``); the catalog's ``data_audits`` row holds only where
it is, its SHA-256 and counts. The same audit asked again (same version, target and settings) is read
back, not run again. Shredding the version shreds its reports' keys too.

Every call passes the gate: ``dataset.audit`` (run, find, report; running also reads the data,
``dataset.read``), ``dataset.derive`` (the version less its flagged rows), ``dataset.accept-findings``
(accepting findings with a reason). :meth:`DataAuditService.before_training` is what
``ws.models.train`` calls: it runs or reuses the audit and decides whether the run goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlwarden._clock import Clock, timestamp
from mlwarden._json import canonical
from mlwarden.access import Gate
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.errors import AccessDenied, BadInput, DataFindings, IntegrityError, NotFound

if TYPE_CHECKING:
    from mlwarden.audit import DataAuditReport, DataAuditSettings
    from mlwarden.catalog import AuditKey, AuditRow
    from mlwarden.catalog._audits import AuditCatalog
    from mlwarden.store import Datasets, DatasetVersion, ObjectBackend
    from mlwarden.store._sealed import SealedObjects

__all__ = ["FINDINGS_POLICIES", "DataAudit", "DataAuditService", "TrainingData"]

FINDINGS_POLICIES = ("refuse", "exclude", "accept")
"""What a training run does when its data's audit has findings: refuse (the default), train on the
version less the flagged rows, or go on as it is once the findings are accepted."""

_MAX_REASON = 1000


@dataclasses.dataclass(frozen=True)
class DataAudit:
    """One stored audit: what was audited, its report's digest and counts, and any acceptance."""

    dataset: str
    version: int
    target: str
    dataset_sha256: str
    settings_sha256: str
    report_sha256: str
    summary: dict[str, Any]
    findings: bool
    created_at: str
    created_by: str
    accepted_at: str | None = None
    accepted_by: str | None = None
    accepted_reason: str | None = None
    reused: bool = False

    @classmethod
    def from_row(cls, row: AuditRow, *, reused: bool = False) -> DataAudit:
        return cls(
            dataset=row.key.dataset,
            version=row.key.version,
            target=row.key.target,
            dataset_sha256=row.dataset_sha256,
            settings_sha256=row.key.settings_sha256,
            report_sha256=row.report_sha256,
            summary=dict(row.summary),
            findings=row.findings,
            created_at=row.created_at,
            created_by=row.created_by,
            accepted_at=row.accepted_at,
            accepted_by=row.accepted_by,
            accepted_reason=row.accepted_reason,
            reused=reused,
        )

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """What a training run may use: the version to read and what its provenance says of the audit."""

    dataset: str
    version: int
    provenance: dict[str, Any]


def _summary(report: DataAuditReport) -> dict[str, Any]:
    """Counts only: the catalog row and the provenance hold no row numbers and no data values."""
    return {
        "rows": report.n_rows,
        "flagged_rows": len(report.flagged),
        "patterns": len(report.patterns),
        "duplicate_conflicts": len(report.duplicate_conflicts),
        "label_error_share": round(float(report.label_error_share), 6),
        "detectors": [str(d.get("name")) for d in report.ran],
    }


class DataAuditService:
    """Training-data audits of one workspace, through ``gate``."""

    def __init__(
        self,
        *,
        gate: Gate,
        audits: Callable[[], AuditCatalog],
        datasets: Callable[[], Datasets],
        backend: Callable[[], ObjectBackend],
        data_keys: DataKeyStore,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._audits = audits
        self._datasets = datasets
        self._backend = backend
        self._data_keys = data_keys
        self._clock = clock

    def __repr__(self) -> str:
        return f"<DataAuditService as {self._gate.principal.name}>"

    # -- running and finding --------------------------------------------------------------

    def run(
        self,
        dataset: str,
        target: str,
        *,
        version: int | None = None,
        settings: DataAuditSettings | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> DataAudit:
        """Audit ``dataset`` (its newest version unless ``version``) for ``target``, or read back the
        stored audit of that version, target and settings: the audit is seeded and deterministic, so
        the stored one is what running it again would give, and it stays the record (``reused``)."""
        from mlwarden.audit import DataAuditSettings
        from mlwarden.catalog import AuditKey  # the catalog (SQLAlchemy) only when an audit is asked for

        settings = settings or DataAuditSettings()
        settings_json = settings.to_json()
        settings_sha = hashlib.sha256(canonical(settings_json)).hexdigest()
        with self._gate.act("dataset.audit", f"dataset:{dataset}", target=target[:200]) as act:
            info = self._datasets().info(dataset, version)
            key = AuditKey(info.name, info.version, target, settings_sha)
            found = self._audits().find(key)
            if found is not None:
                audit = DataAudit.from_row(found, reused=True)
            else:
                audit = self._run(key, info, settings, settings_json, progress)
            act.record(
                version=audit.version,
                settings_sha256=audit.settings_sha256,
                report_sha256=audit.report_sha256,
                findings=audit.findings,
                flagged_rows=int(audit.summary.get("flagged_rows", 0)),
                patterns=int(audit.summary.get("patterns", 0)),
                reused=audit.reused,
            )
            return audit

    def _run(
        self,
        key: AuditKey,
        info: DatasetVersion,
        settings: DataAuditSettings,
        settings_json: dict[str, Any],
        progress: Callable[[str, float], None] | None,
    ) -> DataAudit:
        from mlwarden.audit import audit_frame
        from mlwarden.catalog import NewAudit
        from mlwarden.models._training_data import prepare

        frame, source = self._datasets().read_frame_versioned(info.name, info.version)
        if source.sha256 != info.sha256:  # pragma: no cover - a version's content never changes
            raise IntegrityError(f"{source.ref} changed while it was audited")
        prepare(frame, key.target)  # the table training accepts, refused with training's one-line reasons
        report = audit_frame(frame, key.target, settings, progress=progress)
        del frame
        payload = canonical(report.to_json())
        report_sha = hashlib.sha256(payload).hexdigest()
        object_id = self._sealed().seal(payload)
        try:
            row, created = self._audits().add(
                NewAudit(
                    key=key,
                    dataset_sha256=source.sha256,
                    settings=settings_json,
                    object_id=object_id.hex(),
                    report_sha256=report_sha,
                    summary=_summary(report),
                    findings=report.findings,
                    created_at=timestamp(self._clock()),
                    created_by=self._gate.principal.name,
                )
            )
        except BaseException:
            self._discard(object_id)
            raise
        if not created:  # the same audit was stored meanwhile: that one is the record
            self._discard(object_id)
        return DataAudit.from_row(row, reused=not created)

    def _sealed(self) -> SealedObjects:
        from mlwarden.store._sealed import SealedObjects  # the store loads the catalog: only when sealing

        return SealedObjects(self._backend(), self._data_keys, owner="audit")

    def _discard(self, object_id: bytes) -> None:
        self._sealed().discard(object_id)

    def find(
        self, dataset: str, target: str, *, version: int | None = None, settings: DataAuditSettings | None = None
    ) -> DataAudit | None:
        """The stored audit of that version, target and settings, or ``None`` (nothing is run)."""
        from mlwarden.audit import DataAuditSettings
        from mlwarden.catalog import AuditKey

        settings_sha = hashlib.sha256(canonical((settings or DataAuditSettings()).to_json())).hexdigest()
        with self._gate.act("dataset.audit", f"dataset:{dataset}", target=target[:200], read=True) as act:
            info = self._datasets().info(dataset, version)
            row = self._audits().find(AuditKey(info.name, info.version, target, settings_sha))
            act.record(version=info.version, found=row is not None)
            return None if row is None else DataAudit.from_row(row, reused=True)

    def report(self, audit: DataAudit) -> DataAuditReport:
        """The full report of a stored audit (decrypted in memory only; its SHA-256 is checked)."""
        from mlwarden.audit import DataAuditReport
        from mlwarden.catalog import AuditKey

        with self._gate.act("dataset.audit", f"dataset:{audit.dataset}", report=audit.report_sha256[:16]) as act:
            row = self._audits().find(AuditKey(audit.dataset, audit.version, audit.target, audit.settings_sha256))
            if row is None:
                raise NotFound(f"no stored audit of {audit.ref} for target {audit.target!r}")
            payload = self._sealed().open(bytes.fromhex(row.object_id), f"the report of the audit of {audit.ref}")
            if hashlib.sha256(payload).hexdigest() != row.report_sha256:
                raise IntegrityError(f"the report of the audit of {audit.ref} does not match its catalog entry")
            act.record(version=audit.version, report_sha256=row.report_sha256)
            return DataAuditReport.from_json(json.loads(payload))

    # -- acting on findings ---------------------------------------------------------------

    def accept(self, audit: DataAudit, *, reason: str) -> DataAudit:
        """Accept an audit's findings (``dataset.accept-findings``): training on the version as it is
        is then allowed, and the run's provenance names who accepted, when and why."""
        from mlwarden.catalog import AuditKey

        reason = _check_reason(reason)
        with self._gate.act("dataset.accept-findings", f"dataset:{audit.dataset}", version=audit.version) as act:
            if not audit.findings:
                raise BadInput(f"the audit of {audit.ref} has no findings: there is nothing to accept")
            key = AuditKey(audit.dataset, audit.version, audit.target, audit.settings_sha256)
            row = self._audits().accept(key, by=self._gate.principal.name, at=timestamp(self._clock()), reason=reason)
            act.record(report_sha256=row.report_sha256, reason=reason[:200])
            return DataAudit.from_row(row)

    def derive(self, audit: DataAudit) -> DatasetVersion:
        """A new version of the audited dataset without the audit's flagged rows (``dataset.derive``),
        tagged with its source and the audit; the same rows excluded again give the same version."""
        report = self.report(audit)
        result = self._datasets().derive_without(
            audit.dataset,
            audit.version,
            report.flagged,
            tags={"derived_by": f"data-audit:{audit.report_sha256[:16]}", "audit_target": audit.target[:200]},
        )
        return result.version

    def before_training(
        self, dataset: str, version: int | None, target: str, *, on_findings: str = "refuse", reason: str | None = None
    ) -> TrainingData:
        """The gate before a training run: run or reuse the default audit of the version, then decide.

        No findings: train on the version. Findings: ``refuse`` raises :class:`DataFindings` naming
        the patterns and how to go on; ``exclude`` trains on :meth:`derive`'s version; ``accept``
        goes on when the findings were accepted, accepting them now (with ``reason``) if the caller
        may. The returned provenance carries the audit's digest, counts and the decision.
        """
        if on_findings not in FINDINGS_POLICIES:
            raise BadInput(f"unknown findings policy {on_findings!r}: use one of {', '.join(FINDINGS_POLICIES)}")
        audit = self.run(dataset, target, version=version)
        record: dict[str, Any] = {
            "dataset": audit.ref,
            "dataset_sha256": audit.dataset_sha256,
            "target": audit.target,
            "settings_sha256": audit.settings_sha256,
            "report_sha256": audit.report_sha256,
            "audited_at": audit.created_at,
            "audited_by": audit.created_by,
            "summary": audit.summary,
            "findings": audit.findings,
        }
        if not audit.findings:
            return TrainingData(audit.dataset, audit.version, {**record, "decision": "passed"})
        if on_findings == "exclude":
            derived = self.derive(audit)
            excluded = int(derived.tags.get("excluded_rows", "0"))
            return TrainingData(
                derived.name,
                derived.version,
                {**record, "decision": "excluded-flagged", "trained_on": derived.ref, "excluded_rows": excluded},
            )
        if on_findings == "accept":
            if not audit.accepted:
                if reason is None:
                    raise BadInput("accepting an audit's findings needs a reason: give --reason TEXT")
                if not self._gate.allows("dataset.accept-findings", f"dataset:{audit.dataset}"):
                    self._gate.check("dataset.accept-findings", f"dataset:{audit.dataset}")  # records the denial
                    raise AccessDenied("unreachable")  # pragma: no cover - check raises
                audit = self.accept(audit, reason=reason)
            return TrainingData(
                audit.dataset,
                audit.version,
                {
                    **record,
                    "decision": "findings-accepted",
                    "accepted_by": audit.accepted_by,
                    "accepted_at": audit.accepted_at,
                    "accepted_reason": audit.accepted_reason,
                },
            )
        raise DataFindings(self._refusal(audit))

    def _refusal(self, audit: DataAudit) -> str:
        report = self.report(audit)
        parts = []
        if report.patterns:
            shown = "; ".join(p.describe() for p in report.patterns[:3])
            more = f" (and {len(report.patterns) - 3} more)" if len(report.patterns) > 3 else ""
            parts.append(f"{len(report.patterns)} trigger pattern(s): {shown}{more}")
        if report.duplicate_conflicts:
            parts.append(f"{len(report.duplicate_conflicts)} group(s) of duplicates with conflicting labels")
        parts.append(f"{len(report.flagged)} row(s) flagged, about {report.label_error_share:.1%} label errors")
        return (
            f"the audit of {audit.ref} (target {audit.target!r}) has findings: {'; '.join(parts)}. "
            f"See `mlwarden audit data {audit.ref} --target {audit.target} --json`; train with --exclude-flagged, "
            "or have a steward accept them (`mlwarden audit accept ... --reason`) and train with --accept-findings"
        )


def _check_reason(reason: str) -> str:
    text = " ".join(str(reason).split())
    if not text:
        raise BadInput("give a reason for accepting the findings (--reason TEXT)")
    if len(text) > _MAX_REASON:
        raise BadInput(f"the reason is {len(text)} characters; keep it under {_MAX_REASON}")
    return text
