"""The one gate: a policy decision and an audit entry for every operation.

Every operation on datasets, keys, files, users and the log (and, later, models and predictions)
goes through :meth:`Gate.act`::

    with gate.act("dataset.write", "dataset:credit-german") as act:
        result = ...              # runs only if allowed and the "allowed" entry is durable
        act.record(version=result.version, sha256=result.sha256)

* denied: a ``denied`` entry is written, then :class:`~mlwarden.errors.AccessDenied` raised,
  naming the missing permission;
* allowed: an ``allowed`` entry is written and fsynced *before* the body runs; if it cannot be
  written the body never runs (:class:`~mlwarden.auditlog.AuditUnavailable`): fail closed;
* the body raises: a ``failed`` entry names the error's class (never its text, which may quote
  data), and the error goes on;
* the body recorded results (``act.record``): a ``succeeded`` entry carries them.

Details are identifiers and digests only: token ids, SHA-256s of data, version numbers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from mlwarden._clock import Clock, event_time
from mlwarden.access._principals import Principal
from mlwarden.auditlog import AuditEvent, AuditLog
from mlwarden.auditlog._records import Detail
from mlwarden.errors import AccessDenied

__all__ = ["Act", "Gate", "new_request_id", "record_refused_token"]


def new_request_id() -> str:
    return os.urandom(12).hex()


class Act:
    """Handed to the body of :meth:`Gate.act`, to record results worth keeping."""

    __slots__ = ("results",)

    def __init__(self) -> None:
        self.results: dict[str, Detail] = {}

    def record(self, **details: Detail) -> None:
        self.results.update(details)


class Gate:
    """Decides with ``principal``'s grants, records in ``log``."""

    def __init__(
        self,
        principal: Principal,
        log: AuditLog,
        clock: Clock,
        *,
        request_id: str | None = None,
    ) -> None:
        self.principal = principal
        self._log = log
        self._clock = clock
        self.request_id = request_id or new_request_id()

    def _event(self, action: str, resource: str, outcome: str, details: dict[str, Detail]) -> AuditEvent:
        return AuditEvent(
            time=event_time(self._clock()),
            principal=self.principal.name,
            action=action,
            resource=resource,
            outcome=outcome,
            request_id=self.request_id,
            details={"token": self.principal.token_id, **details},
        )

    def allows(self, permission: str, resource: str) -> bool:
        """The decision alone, recorded nowhere (to filter a listing already authorised)."""
        return self.principal.allows(permission, resource)

    def check(self, permission: str, resource: str, *, refusal: str | None = None, **details: Detail) -> None:
        """Decide and record; :class:`AccessDenied` when denied.

        ``refusal`` is a further rule's reason to deny although the role allows (a grant wider
        than the granter's own, say): recorded and raised as a denial all the same.
        """
        if not self.principal.allows(permission, resource):
            self._log.append(self._event(permission, resource, "denied", details))
            raise AccessDenied(
                f"{self.principal.name} ({self.principal.role}"
                f"{'' if self.principal.scopes == ('*',) else ' on ' + ', '.join(self.principal.scopes)}) "
                f"lacks permission {permission} on {resource}"
            )
        if refusal is not None:
            self._log.append(self._event(permission, resource, "denied", {**details, "rule": refusal[:200]}))
            raise AccessDenied(f"{self.principal.name} may not do {permission} on {resource}: {refusal}")
        self._log.append(self._event(permission, resource, "allowed", details))

    def record(self, action: str, resource: str, **details: Detail) -> None:
        """Record something that happened without a decision (the workspace's own creation)."""
        self._log.append(self._event(action, resource, "succeeded", details))

    @contextlib.contextmanager
    def act(self, permission: str, resource: str, *, refusal: str | None = None, **details: Detail) -> Iterator[Act]:
        self.check(permission, resource, refusal=refusal, **details)
        act = Act()
        try:
            yield act
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the original error matters more
                self._log.append(self._event(permission, resource, "failed", {"error": type(exc).__name__}))
            raise
        if act.results:
            self._log.append(self._event(permission, resource, "succeeded", act.results))


def record_refused_token(
    log: AuditLog, clock: Clock, request_id: str, token_id: str | None, reason: str
) -> None:
    """Record a refused token: its public id (never the token) and why it was refused."""
    log.append(
        AuditEvent(
            time=event_time(clock()),
            principal="-",
            action="auth.token",
            resource="workspace",
            outcome="denied",
            request_id=request_id,
            details={"token": token_id, "reason": reason},
        )
    )
