"""The monitoring rows: the server's drift windows and the stored drift and performance reports.

A window holds no values: its counts (over the model's reference bins) are encrypted in the
model store under the row's object id; the row says which model version, which reference profile
(SHA-256), which span of time and how many rows. A report row likewise points at its encrypted
report and holds counts only (columns tested and drifted, the worst severity).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from mlwarden.catalog._tables import drift_windows, monitor_reports
from mlwarden.errors import NotFound

__all__ = ["MonitorCatalog", "NewReport", "NewWindow", "ReportRow", "WindowRow"]

_W = drift_windows.c
_R = monitor_reports.c


@dataclass(frozen=True)
class NewWindow:
    model: str
    version: int
    profile_sha256: str
    started_at: str
    ended_at: str
    rows: int
    object_id: str
    sha256: str
    created_by: str


@dataclass(frozen=True)
class WindowRow(NewWindow):
    id: int


@dataclass(frozen=True)
class NewReport:
    kind: str
    model: str | None
    version: int | None
    reference: str
    current: str
    object_id: str
    report_sha256: str
    summary: Mapping[str, Any]
    findings: bool
    created_at: str
    created_by: str


@dataclass(frozen=True)
class ReportRow(NewReport):
    id: int


class MonitorCatalog:
    """Rows of ``drift_windows`` and ``monitor_reports`` through the catalog's transactions."""

    def __init__(self, transaction: Callable[..., contextlib.AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction

    def add_window(self, new: NewWindow) -> WindowRow:
        with self._transaction(write=True) as conn:
            result = conn.execute(insert(drift_windows).values(**new.__dict__))
            key = result.inserted_primary_key
            assert key is not None
            return WindowRow(**new.__dict__, id=int(key[0]))

    def windows(
        self, model: str, version: int, *, since: str | None = None, until: str | None = None
    ) -> list[WindowRow]:
        """The windows of a model version (ending after ``since``, starting before ``until``), oldest first."""
        query = select(drift_windows).where(_W.model == model, _W.version == version)
        if since is not None:
            query = query.where(_W.ended_at > since)
        if until is not None:
            query = query.where(_W.started_at < until)
        with self._transaction(write=False) as conn:
            rows = conn.execute(query.order_by(_W.ended_at, _W.id)).mappings().all()
        return [WindowRow(**{k: r[k] for k in r}) for r in rows]

    def add_report(self, new: NewReport) -> ReportRow:
        values = {k: v for k, v in new.__dict__.items() if k != "summary"}
        values["summary_json"] = json.dumps(dict(new.summary), sort_keys=True, separators=(",", ":"))
        values["findings"] = int(new.findings)
        with self._transaction(write=True) as conn:
            result = conn.execute(insert(monitor_reports).values(**values))
            key = result.inserted_primary_key
            assert key is not None
            return ReportRow(**new.__dict__, id=int(key[0]))

    def report(self, report_id: int) -> ReportRow:
        with self._transaction(write=False) as conn:
            row = conn.execute(select(monitor_reports).where(_R.id == report_id)).mappings().first()
        if row is None:
            raise NotFound(f"no monitoring report {report_id}: list them with `mlwarden monitor reports`")
        return _report(row)

    def reports(self, *, model: str | None = None, kind: str | None = None) -> list[ReportRow]:
        query = select(monitor_reports)
        if model is not None:
            query = query.where(_R.model == model)
        if kind is not None:
            query = query.where(_R.kind == kind)
        with self._transaction(write=False) as conn:
            rows = conn.execute(query.order_by(_R.id)).mappings().all()
        return [_report(r) for r in rows]


def _report(row: Any) -> ReportRow:
    values = {k: row[k] for k in row if k not in ("summary_json", "findings")}
    return ReportRow(**values, summary=json.loads(row["summary_json"]), findings=bool(row["findings"]))
