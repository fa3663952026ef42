"""``ws.log``: reading, verifying and proving the workspace's tamper-evident audit log.

Each call is gated and leaves an entry itself (``log.read``, ``log.checkpoint``; the server's
count of the day's requests is a ``model.serve`` decision). Writing happens only through the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlwarden.access import Gate
from mlwarden.auditlog import AuditEntry, AuditLog, Checkpoint, InclusionProof, LogVerification
from mlwarden.errors import IntegrityError

__all__ = ["LogService"]


class LogService:
    """The audit log of one workspace, read through ``gate``."""

    def __init__(self, *, gate: Gate, log: AuditLog) -> None:
        self._gate = gate
        self._log = log

    def __repr__(self) -> str:
        return f"<LogService {self._log.origin}>"

    def size(self) -> int:
        """How many entries the log holds (the length of a verification, for a progress bar).

        Needs ``log.read`` (a denial is recorded) but records nothing when allowed.
        """
        if not self._gate.allows("log.read", "log"):
            self._gate.check("log.read", "log", size=True)
        return self._log.size()

    def entries(self, since: str | None = None) -> Iterator[AuditEntry]:
        """The entries in order (``since``: an RFC 3339 time; those at or after it). Needs ``log.read``."""
        self._gate.check("log.read", "log", since=since)
        return self._log.entries(since=since)

    def verify(self, checkpoint: str | None = None, progress: Callable[[int], None] | None = None) -> LogVerification:
        """Verify the whole log, and against ``checkpoint`` (a signed note) if given."""
        with self._gate.act("log.read", "log", verify=True, checkpoint=checkpoint is not None) as act:
            body = None if checkpoint is None else self._log.read_checkpoint(checkpoint)
            result = self._log.verify(body, progress)
            act.record(ok=result.ok, size=result.size, first_bad=result.first_bad)
        return result

    def prove(self, seq: int, checkpoint: Checkpoint | None = None) -> InclusionProof:
        """A proof that entry ``seq`` is in the log as of ``checkpoint`` (default: the newest head)."""
        with self._gate.act("log.read", "log", prove=seq) as act:
            if checkpoint is not None:
                body = self._log.read_checkpoint(checkpoint.note)
                if (body.size, body.root) != (checkpoint.size, checkpoint.root):
                    raise IntegrityError("the checkpoint's fields do not match its signed note")
            proof = self._log.inclusion(seq, checkpoint)
            act.record(size=proof.checkpoint.size)
        return proof

    def checkpoint(self) -> Checkpoint:
        """A signed checkpoint of the log (taken after recording this request). Needs ``log.checkpoint``."""
        self._gate.check("log.checkpoint", "log")
        return self._log.checkpoint()

    def requests_per_token(self, since: str) -> dict[str, int]:
        """How many ``predict`` requests each token made since ``since`` (``model.serve``).

        The server's quotas survive a restart with these counts: every request that passed the
        limits left one ``predict`` entry, ``succeeded`` or (its body refused) ``failed``.
        """
        self._gate.check("model.serve", "serve", what="quotas", since=since)
        used: dict[str, int] = {}
        for entry in self._log.entries(since=since):
            if entry.action == "predict" and entry.outcome in ("succeeded", "failed"):
                token = entry.details.get("token")
                if isinstance(token, str):
                    used[token] = used.get(token, 0) + 1
        return used
