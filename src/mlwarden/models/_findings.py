"""What a model scan finds: severities, findings, per-file results and the report.

The records are frozen dataclasses; only :mod:`mlwarden.cli` turns them into text. Every file
given to a scan appears in the report, scanned or not: a file that cannot be read or whose
format is not supported carries an ``error`` and makes the scan fail (exit 2), so nothing is
ever skipped in silence.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FileScan",
    "Finding",
    "ScanReport",
    "Scope",
    "Severity",
    "Unreadable",
]


class Severity(enum.IntEnum):
    """How bad a finding is. ``CRITICAL``: runs code, touches processes, files or the network,
    or loads more code; ``HIGH``: an import not on the allow-list (could be anything);
    ``MEDIUM``: a construct a safe model does not need; ``LOW``: worth a look."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing found in one file.

    ``inner`` is the path inside archives, outermost first and joined by ``!/`` (``""`` for the
    file itself); ``offset`` the byte offset in the innermost stream where the opcode, record
    or entry starts (``None`` when the format has no meaningful offset, such as a JSON key).
    """

    path: str
    inner: str
    offset: int | None
    severity: Severity
    kind: str
    name: str
    detail: str

    def location(self) -> str:
        where = self.path + (f"!/{self.inner}" if self.inner else "")
        return where if self.offset is None else f"{where}@{self.offset}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "inner": self.inner,
            "offset": self.offset,
            "severity": self.severity.name,
            "kind": self.kind,
            "name": self.name,
            "detail": self.detail,
        }


@dataclasses.dataclass(frozen=True)
class FileScan:
    """The result for one file: its detected format, findings, and an error when it could not be
    (fully) scanned. ``members`` counts the streams scanned inside it (archive members, pickles)."""

    path: str
    format: str
    size: int
    findings: tuple[Finding, ...]
    error: str | None = None
    members: int = 1

    @property
    def clean(self) -> bool:
        return not self.findings and self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "size": self.size,
            "members": self.members,
            "error": self.error,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """The result of one scan. Exit code: 1 when anything was found, else 2 when any file could not
    be scanned (an incomplete scan vouches for nothing), else 0. Findings win over errors: a gate
    that reads 2 as a usage error must still fail a folder holding malicious files; the files that
    could not be scanned are listed all the same (``errors``, each file's ``error``)."""

    files: tuple[FileScan, ...]
    seconds: float

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for file in self.files for f in file.findings)

    @property
    def errors(self) -> tuple[FileScan, ...]:
        return tuple(file for file in self.files if file.error is not None)

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def exit_code(self) -> int:
        if self.findings:
            return 1
        return 2 if self.errors else 0

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "files": [file.to_json() for file in self.files],
            "summary": {
                "files": len(self.files),
                "bytes": sum(file.size for file in self.files),
                "errors": len(self.errors),
                "findings": {s.name: self.count(s) for s in reversed(Severity)},
            },
            "seconds": round(self.seconds, 4),
        }


class Unreadable(Exception):
    """Raised by a format scanner when its input is malformed, truncated or unsupported; the file's
    scan ends with this message as its error (findings made before it are kept)."""


class Scope:
    """Where a format scanner is: the file, the chain of archive members, and the findings so far.

    Format scanners call :meth:`add` for each finding and :meth:`nested` to descend into a member;
    all scopes of one file share one findings list.
    """

    __slots__ = ("_findings", "inner", "members", "path", "payloads", "pids")

    def __init__(self, path: str, inner: str = "", findings: list[Finding] | None = None) -> None:
        self.path = path
        self.inner = inner
        self._findings: list[Finding] = [] if findings is None else findings
        self.members = [0]
        self.payloads: list[tuple[int, int]] | None = None
        self.pids: list[Any] | None = None

    def nested(self, name: str) -> Scope:
        child = Scope(self.path, f"{self.inner}!/{name}" if self.inner else name, self._findings)
        child.members = self.members
        self.members[0] += 1
        return child

    def payload(self, start: int, length: int) -> None:
        """Note a byte payload a pickle holds (``start``, ``length`` in the stream), when the caller asked
        for them (``payloads`` is a list): the model scanner looks inside those that start with a known
        format's magic (an archive carried as one ``BINBYTES``)."""
        if self.payloads is not None and length >= 16:
            self.payloads.append((start, length))

    def persistent_id(self, pid: Any) -> None:
        """Note a persistent id a pickle's ``BINPERSID`` takes (the value as far as tracked), when the caller
        asked for them (``pids`` is a list): torch's name the storages of a checkpoint."""
        if self.pids is not None and len(self.pids) < 1 << 20:
            self.pids.append(pid)

    def add(self, severity: Severity, kind: str, name: str, detail: str, offset: int | None = None) -> None:
        self._findings.append(Finding(self.path, self.inner, offset, severity, kind, name, detail))

    @property
    def findings(self) -> list[Finding]:
        return self._findings

    def extend(self, findings: Iterable[Finding]) -> None:
        self._findings.extend(findings)
