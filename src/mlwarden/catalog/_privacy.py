"""The personal-data rows: each column's class, a steward's decisions, and erasure requests.

``pii_columns`` holds one row per column of a dataset version: the kind of personal data found
(e-mail, IBAN, age...) or none, its category (``direct`` identifier or ``quasi``-identifier), a
confidence and one line of evidence made of counts (never a value). ``pii_decisions`` holds what a
steward decided for a column of a dataset, for all its versions: its true class (a correction), or
that a direct identifier may be trained on. ``erasures`` holds each request to forget a person under
a keyed hash of the subject: a row whose ``finished_at`` is null is a request a crash interrupted,
which the next run with the same subject resumes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mlwarden.catalog._tables import erasures, pii_columns, pii_decisions

__all__ = ["ColumnClassRow", "DecisionRow", "ErasureRow", "PrivacyCatalog"]

_C = pii_columns.c
_D = pii_decisions.c
_E = erasures.c


@dataclass(frozen=True)
class ColumnClassRow:
    """The class of one column of one dataset version, as found (or as pseudonymised)."""

    dataset: str
    version: int
    column: str
    kind: str | None
    category: str | None
    confidence: float
    source: str
    evidence: str
    embedded: tuple[str, ...]
    detected_at: str


@dataclass(frozen=True)
class DecisionRow:
    """A steward's decision on one column of a dataset: its class, or that it may be a feature."""

    dataset: str
    column: str
    decision: str
    kind: str | None
    reason: str
    decided_by: str
    decided_at: str


@dataclass(frozen=True)
class ErasureRow:
    """One request to forget a person: the keyed hash of the subject, never the value."""

    id: int
    subject: str
    columns: tuple[str, ...]
    dataset: str | None
    started_at: str
    started_by: str
    finished_at: str | None
    summary: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "columns": list(self.columns),
            "dataset": self.dataset,
            "started_at": self.started_at,
            "started_by": self.started_by,
            "finished_at": self.finished_at,
            "summary": None if self.summary is None else dict(self.summary),
        }


class PrivacyCatalog:
    """Rows of ``pii_columns``, ``pii_decisions`` and ``erasures`` through the catalog's transactions."""

    def __init__(self, transaction: Callable[..., contextlib.AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction

    # -- column classes ---------------------------------------------------------------------

    def set_classes(self, dataset: str, version: int, rows: Sequence[ColumnClassRow]) -> None:
        """Replace the classes of a version's columns named in ``rows`` (one transaction)."""
        with self._transaction(write=True) as conn:
            names = [r.column for r in rows]
            if names:
                conn.execute(
                    delete(pii_columns).where(_C.dataset == dataset, _C.version == version, _C.column_name.in_(names))
                )
                conn.execute(insert(pii_columns), [_class_values(r) for r in rows])

    def classes(self, dataset: str, version: int) -> list[ColumnClassRow]:
        """The recorded classes of a version's columns, in the order they were recorded."""
        query = select(pii_columns).where(_C.dataset == dataset, _C.version == version).order_by(_C.id)
        with self._transaction(write=False) as conn:
            return [_class_row(r._mapping) for r in conn.execute(query)]

    def classified(self, dataset: str) -> set[int]:
        """The versions of ``dataset`` whose columns have been classified."""
        with self._transaction(write=False) as conn:
            found = conn.execute(select(_C.version).where(_C.dataset == dataset).distinct()).scalars()
            return {int(v) for v in found}

    # -- decisions --------------------------------------------------------------------------

    def decide(self, row: DecisionRow) -> None:
        """Record (or replace) a steward's decision on a column."""
        with self._transaction(write=True) as conn:
            conn.execute(
                delete(pii_decisions).where(
                    _D.dataset == row.dataset, _D.column_name == row.column, _D.decision == row.decision
                )
            )
            conn.execute(
                insert(pii_decisions).values(
                    dataset=row.dataset,
                    column_name=row.column,
                    decision=row.decision,
                    kind=row.kind,
                    reason=row.reason,
                    decided_by=row.decided_by,
                    decided_at=row.decided_at,
                )
            )

    def withdraw(self, dataset: str, column: str, decision: str) -> bool:
        """Remove a decision; whether there was one."""
        with self._transaction(write=True) as conn:
            done = conn.execute(
                delete(pii_decisions).where(_D.dataset == dataset, _D.column_name == column, _D.decision == decision)
            )
            return bool(done.rowcount)

    def decisions(self, dataset: str) -> list[DecisionRow]:
        query = select(pii_decisions).where(_D.dataset == dataset).order_by(_D.id)
        with self._transaction(write=False) as conn:
            return [
                DecisionRow(
                    dataset=m["dataset"],
                    column=m["column_name"],
                    decision=m["decision"],
                    kind=m["kind"],
                    reason=m["reason"],
                    decided_by=m["decided_by"],
                    decided_at=m["decided_at"],
                )
                for m in (r._mapping for r in conn.execute(query))
            ]

    # -- erasures ---------------------------------------------------------------------------

    def start_erasure(
        self, subject: str, columns: Sequence[str], dataset: str | None, *, by: str, at: str
    ) -> ErasureRow:
        """The unfinished request for ``subject`` (a crash interrupted it), else a new one."""
        with self._transaction(write=True) as conn:
            found = conn.execute(
                select(erasures).where(_E.subject == subject, _E.finished_at.is_(None)).order_by(_E.id)
            ).first()
            if found is not None:
                return _erasure(found._mapping)
            result = conn.execute(
                insert(erasures).values(
                    subject=subject,
                    columns=",".join(columns),
                    dataset=dataset,
                    started_at=at,
                    started_by=by,
                    finished_at=None,
                    summary_json=None,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            row = conn.execute(select(erasures).where(_E.id == int(key[0]))).one()
            return _erasure(row._mapping)

    def finish_erasure(self, erasure_id: int, summary: Mapping[str, Any], *, at: str) -> ErasureRow:
        with self._transaction(write=True) as conn:
            conn.execute(
                update(erasures)
                .where(_E.id == erasure_id)
                .values(finished_at=at, summary_json=json.dumps(dict(summary), sort_keys=True))
            )
            return _erasure(conn.execute(select(erasures).where(_E.id == erasure_id)).one()._mapping)

    def erasures(self) -> list[ErasureRow]:
        with self._transaction(write=False) as conn:
            return [_erasure(r._mapping) for r in conn.execute(select(erasures).order_by(_E.id))]


def _class_values(r: ColumnClassRow) -> dict[str, Any]:
    return {
        "dataset": r.dataset,
        "version": r.version,
        "column_name": r.column,
        "kind": r.kind,
        "category": r.category,
        "confidence_milli": round(r.confidence * 1000),
        "source": r.source,
        "evidence": r.evidence[:1024],
        "embedded": ",".join(r.embedded),
        "detected_at": r.detected_at,
    }


def _class_row(m: Any) -> ColumnClassRow:
    return ColumnClassRow(
        dataset=m["dataset"],
        version=m["version"],
        column=m["column_name"],
        kind=m["kind"],
        category=m["category"],
        confidence=m["confidence_milli"] / 1000,
        source=m["source"],
        evidence=m["evidence"],
        embedded=tuple(e for e in m["embedded"].split(",") if e),
        detected_at=m["detected_at"],
    )


def _erasure(m: Any) -> ErasureRow:
    return ErasureRow(
        id=m["id"],
        subject=m["subject"],
        columns=tuple(c for c in m["columns"].split(",") if c),
        dataset=m["dataset"],
        started_at=m["started_at"],
        started_by=m["started_by"],
        finished_at=m["finished_at"],
        summary=None if m["summary_json"] is None else json.loads(m["summary_json"]),
    )
