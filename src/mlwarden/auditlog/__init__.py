"""The tamper-evident audit log.

:class:`AuditLog` appends :class:`AuditEvent` records durably (group commit across threads),
signs every new tree head with the workspace's Ed25519 key, exports :class:`Checkpoint` s in
the C2SP signed-note format, and verifies the whole log at hundreds of thousands of entries a
second. The tree is RFC 9162's (the hashing and proofs are re-exported here from ``_merkle``)::

    report = ws.log.verify()                   # through the workspace's gate (ws.log)
    assert report.ok, report.problem

A workspace writes it only through its gate (:class:`mlwarden.access.Gate`), never directly.
"""

from mlwarden.auditlog._log import HEAD_INTERVAL, AuditLog, AuditUnavailable, event_time, verify_inclusion_proof
from mlwarden.auditlog._merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from mlwarden.auditlog._note import CheckpointBody, NoteSigner, NoteVerifier, open_note, parse_checkpoint_body
from mlwarden.auditlog._records import OUTCOMES, AuditEntry, AuditEvent, Checkpoint, InclusionProof, LogVerification

__all__ = [
    "EMPTY_ROOT",
    "HEAD_INTERVAL",
    "OUTCOMES",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditUnavailable",
    "Checkpoint",
    "CheckpointBody",
    "Frontier",
    "InclusionProof",
    "LogVerification",
    "NoteSigner",
    "NoteVerifier",
    "consistency_proof",
    "event_time",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_note",
    "parse_checkpoint_body",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_proof",
]
