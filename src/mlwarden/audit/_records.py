"""The audit log's records: events going in, entries coming out, checkpoints, verification."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OUTCOMES", "AuditEntry", "AuditEvent", "Checkpoint", "LogVerification"]

OUTCOMES = ("allowed", "denied", "failed", "succeeded")
"""``allowed``: the policy let it through and it is about to run (written before the action);
``denied``: the policy refused it; ``failed``: it was allowed but did not complete;
``succeeded``: it completed, with results worth keeping (a new version's digest, say)."""

ENTRY_VERSION = 1

Detail = str | int | bool | None


@dataclass(frozen=True)
class AuditEvent:
    """One thing to record. ``details`` hold identifiers and digests, never raw secrets or data."""

    time: str
    principal: str
    action: str
    resource: str
    outcome: str
    request_id: str
    details: Mapping[str, Detail] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The canonical JSON stored in the log: sorted keys, no spaces, UTF-8."""
        doc: dict[str, Any] = {
            "v": ENTRY_VERSION,
            "time": self.time,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "request": self.request_id,
        }
        if self.details:
            doc["details"] = dict(self.details)
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class AuditEntry(AuditEvent):
    """An event as the log holds it, at position ``seq`` (0-based)."""

    seq: int = 0

    @classmethod
    def from_bytes(cls, seq: int, raw: bytes) -> AuditEntry:
        doc = json.loads(raw)
        return cls(
            seq=seq,
            time=doc["time"],
            principal=doc["principal"],
            action=doc["action"],
            resource=doc["resource"],
            outcome=doc["outcome"],
            request_id=doc["request"],
            details=doc.get("details", {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log's size and root hash, to keep outside the workspace.

    ``note`` is the same statement as a C2SP signed note, checkable by any transparency-log
    tool that knows ``verifier_key``.
    """

    origin: str
    size: int
    root: bytes
    time: str
    signature: bytes
    verifier_key: str
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "mlwarden-log-checkpoint",
            "version": 1,
            "origin": self.origin,
            "size": self.size,
            "root_hash": self.root.hex(),
            "time": self.time,
            "signature": base64.b64encode(self.signature).decode(),
            "verifier_key": self.verifier_key,
            "note": self.note,
        }


@dataclass(frozen=True)
class LogVerification:
    """The outcome of :meth:`AuditLog.verify`. ``first_bad`` is the first entry found wrong."""

    size: int
    root: bytes
    heads_checked: int
    ok: bool
    problem: str | None = None
    first_bad: int | None = None
    checkpoint_size: int | None = None
