"""The audit log's records: events going in, entries coming out, checkpoints, verification."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OUTCOMES", "AuditEntry", "AuditEvent", "Checkpoint", "InclusionProof", "LogVerification"]

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

    @classmethod
    def from_json(cls, doc: Any) -> Checkpoint:
        """Parse :meth:`to_json`'s form (not checked: see ``AuditLog.read_checkpoint``)."""
        from mlwarden.errors import BadInput

        try:
            if doc["format"] != "mlwarden-log-checkpoint" or doc["version"] != 1:
                raise ValueError("format")
            return cls(
                origin=str(doc["origin"]),
                size=int(doc["size"]),
                root=bytes.fromhex(doc["root_hash"]),
                time=str(doc["time"]),
                signature=base64.b64decode(doc["signature"], validate=True),
                verifier_key=str(doc["verifier_key"]),
                note=str(doc["note"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"not an mlwarden log checkpoint ({exc})") from None

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


@dataclass(frozen=True)
class InclusionProof:
    """Evidence that one entry is in a signed log: the entry, its audit path, the checkpoint.

    Checkable without the log by anyone who trusts the workspace's verifier key. The JSON form
    (``mlwarden log prove``) is ``{"format": "mlwarden-log-inclusion-proof", "version": 1,
    "seq", "entry" (the canonical JSON, as text), "path" (hex hashes), "checkpoint": {...}}``.
    """

    seq: int
    entry: bytes
    path: tuple[bytes, ...]
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "mlwarden-log-inclusion-proof",
            "version": 1,
            "seq": self.seq,
            "entry": self.entry.decode(),
            "path": [h.hex() for h in self.path],
            "checkpoint": self.checkpoint.to_json(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> InclusionProof:
        """Parse :meth:`to_json`'s form; :class:`~mlwarden.errors.BadInput` naming what is wrong."""
        from mlwarden.errors import BadInput

        try:
            if doc["format"] != "mlwarden-log-inclusion-proof" or doc["version"] != 1:
                raise ValueError("format")
            checkpoint = Checkpoint.from_json(doc["checkpoint"])
            path = tuple(bytes.fromhex(h) for h in doc["path"])
            seq = doc["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or any(len(h) != 32 for h in path):
                raise ValueError("seq or path")
            return cls(seq, str(doc["entry"]).encode(), path, checkpoint)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"not an mlwarden inclusion proof ({exc})") from None
