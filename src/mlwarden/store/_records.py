"""Frozen records the dataset store hands out: versions, put results, check reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlwarden.store._tabular import TabularSchema

if TYPE_CHECKING:
    from mlwarden.catalog import VersionRow

__all__ = ["CheckProblem", "CheckReport", "DatasetSummary", "DatasetVersion", "EraseResult", "PutResult"]


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a dataset: what it holds and where it came from. No data, no keys."""

    name: str
    version: int
    sha256: str
    size: int
    rows: int | None
    format: str
    schema: TabularSchema
    key_version: int
    created_at: str
    created_by: str
    tags: Mapping[str, str] = field(default_factory=dict)
    shredded_at: str | None = None
    shredded_by: str | None = None
    object_id: str = ""

    @classmethod
    def from_row(cls, row: VersionRow) -> DatasetVersion:
        """The record of a catalog row: the same fields, the schema parsed, the tags copied."""
        facts = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
        facts.update(schema=TabularSchema.from_json(dict(row.schema)), tags=dict(row.tags))
        return cls(**facts)

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @property
    def shredded(self) -> bool:
        return self.shredded_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "sha256": self.sha256,
            "size": self.size,
            "rows": self.rows,
            "format": self.format,
            "schema": self.schema.to_json(),
            "key_version": self.key_version,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "tags": dict(self.tags),
            "shredded": self.shredded,
            "shredded_at": self.shredded_at,
            "shredded_by": self.shredded_by,
        }


@dataclass(frozen=True)
class PutResult:
    """What :meth:`Datasets.put` did: ``created`` is False when the content equalled the latest version."""

    version: DatasetVersion
    created: bool


@dataclass(frozen=True)
class EraseResult:
    """What :meth:`Datasets.erase` did to one version: ``matched`` rows found (-1: not known, the
    version was already unreadable), the successor without them, and whether the version is shredded."""

    version: DatasetVersion
    matched: int
    successor: DatasetVersion | None
    shredded: bool


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset in a listing."""

    name: str
    versions: int
    created_at: str
    created_by: str
    latest: DatasetVersion | None  # the newest version that is not shredded

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "latest": None if self.latest is None else self.latest.to_json(),
        }


@dataclass(frozen=True)
class CheckProblem:
    """A dataset version that does not match the catalog."""

    ref: str
    problem: str


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :meth:`Datasets.check`."""

    versions: int  # live versions verified
    bytes: int  # plaintext bytes verified
    shredded: int  # shredded versions whose tombstones were checked
    problems: tuple[CheckProblem, ...]
    orphans: tuple[str, ...]  # stored objects no version refers to (left by interrupted puts)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "versions": self.versions,
            "bytes": self.bytes,
            "shredded": self.shredded,
            "problems": [{"ref": p.ref, "problem": p.problem} for p in self.problems],
            "orphans": list(self.orphans),
        }
