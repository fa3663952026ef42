"""The training-data audits' rows: which audit of which dataset version, where its report is, and
whether its findings were accepted.

An audit is keyed by the dataset version (name, number), the target column and the SHA-256 of its
settings: the same audit asked again is found, not run again. The report itself (flagged rows,
reasons, patterns) is encrypted in the workspace's report store; the row holds only counts.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden.catalog._tables import data_audits
from mlwarden.errors import IntegrityError, NotFound

__all__ = ["AuditCatalog", "AuditKey", "AuditRow", "NewAudit"]

_A = data_audits.c


@dataclass(frozen=True)
class AuditKey:
    """What identifies an audit: the dataset version, the target and the settings' digest."""

    dataset: str
    version: int
    target: str
    settings_sha256: str


@dataclass(frozen=True)
class NewAudit:
    key: AuditKey
    dataset_sha256: str
    settings: Mapping[str, Any]
    object_id: str
    report_sha256: str
    summary: Mapping[str, Any]
    findings: bool
    created_at: str
    created_by: str


@dataclass(frozen=True)
class AuditRow(NewAudit):
    accepted_at: str | None
    accepted_by: str | None
    accepted_reason: str | None

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None


class AuditCatalog:
    """Rows of ``data_audits`` through the catalog's transactions."""

    def __init__(self, transaction: Callable[..., contextlib.AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction

    def add(self, new: NewAudit) -> tuple[AuditRow, bool]:
        """Record ``new``; returns the row and whether it is new (``False``: the same audit was recorded
        meanwhile by another process, whose row is returned and whose report stands)."""
        try:
            with self._transaction(write=True) as conn:
                conn.execute(insert(data_audits).values(**_values(new)))
                return self._one(conn, new.key), True
        except SqlIntegrityError:
            found = self.find(new.key)
            if found is None:
                raise
            return found, False

    def find(self, key: AuditKey) -> AuditRow | None:
        with self._transaction(write=False) as conn:
            try:
                return self._one(conn, key)
            except NotFound:
                return None

    def of_version(self, dataset: str, version: int) -> list[AuditRow]:
        """Every audit of one dataset version (oldest first)."""
        with self._transaction(write=False) as conn:
            query = select(data_audits).where(_A.dataset == dataset, _A.version == version).order_by(_A.id)
            return [_row(r) for r in conn.execute(query)]

    def accept(self, key: AuditKey, *, by: str, at: str, reason: str) -> AuditRow:
        """Record that ``by`` accepted the audit's findings (a later acceptance replaces an earlier one)."""
        with self._transaction(write=True) as conn:
            self._one(conn, key)
            conn.execute(
                update(data_audits).where(*_where(key)).values(accepted_at=at, accepted_by=by, accepted_reason=reason)
            )
            return self._one(conn, key)

    def object_ids(self) -> set[str]:
        with self._transaction(write=False) as conn:
            return set(conn.execute(select(_A.object_id)).scalars())

    @staticmethod
    def _one(conn: Connection, key: AuditKey) -> AuditRow:
        found = conn.execute(select(data_audits).where(*_where(key))).first()
        if found is None:
            raise NotFound(
                f"no audit of {key.dataset}@{key.version} for target {key.target!r} with these settings; "
                f"run `mlwarden audit data {key.dataset}@{key.version} --target {key.target}`"
            )
        return _row(found)


def _where(key: AuditKey) -> tuple[Any, ...]:
    return (
        _A.dataset == key.dataset,
        _A.version == key.version,
        _A.target == key.target,
        _A.settings_sha256 == key.settings_sha256,
    )


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def _values(new: NewAudit) -> dict[str, Any]:
    return {
        "dataset": new.key.dataset,
        "version": new.key.version,
        "target": new.key.target,
        "settings_sha256": new.key.settings_sha256,
        "dataset_sha256": new.dataset_sha256,
        "settings_json": _dumps(new.settings),
        "object_id": new.object_id,
        "report_sha256": new.report_sha256,
        "summary_json": _dumps(new.summary),
        "findings": int(new.findings),
        "created_at": new.created_at,
        "created_by": new.created_by,
    }


def _row(r: Any) -> AuditRow:
    m = r._mapping
    try:
        settings, summary = json.loads(m["settings_json"]), json.loads(m["summary_json"])
    except ValueError:
        raise IntegrityError(f"the catalog entry of the audit of {m['dataset']}@{m['version']} is damaged") from None
    return AuditRow(
        key=AuditKey(m["dataset"], m["version"], m["target"], m["settings_sha256"]),
        dataset_sha256=m["dataset_sha256"],
        settings=settings,
        object_id=m["object_id"],
        report_sha256=m["report_sha256"],
        summary=summary,
        findings=bool(m["findings"]),
        created_at=m["created_at"],
        created_by=m["created_by"],
        accepted_at=m["accepted_at"],
        accepted_by=m["accepted_by"],
        accepted_reason=m["accepted_reason"],
    )
