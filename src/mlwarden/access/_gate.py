"""The one gate: a policy decision and an audit entry for every operation.

Every operation on datasets, keys, files, users, the log, models and predictions goes through
:meth:`Gate.act` (or its ``_async`` variants on an event loop; the inference server decides with
:meth:`Gate.allows` and records with :meth:`Gate.record_async`)::

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

The ``_async`` variants do the same through :meth:`AuditLog.append_async
<mlwarden.auditlog.AuditLog.append_async>`, which group-commits the entries of concurrent
requests without blocking the loop. A gate acts for one principal under one request id; the
inference server gets one per request from the :class:`~mlwarden.access.Authenticator` that let
its principal in (or :meth:`for_request`), and
records its own decisions (an extraction alert, a suspension) through a :meth:`system` gate,
which holds only the permissions it is given.

Details are identifiers and digests only: token ids, SHA-256s of data, version numbers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

from mlwarden._clock import Clock, event_time
from mlwarden.access._principals import Principal
from mlwarden.auditlog import AuditEvent, AuditLog
from mlwarden.auditlog._records import Detail
from mlwarden.errors import AccessDenied

__all__ = ["Act", "Gate", "new_request_id"]


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
    """Decides with ``principal``'s grants, records in ``log`` under ``request_id``."""

    def __init__(
        self,
        principal: Principal,
        log: AuditLog,
        clock: Clock,
        *,
        request_id: str | None = None,
        _system: frozenset[str] | None = None,
    ) -> None:
        self.principal = principal
        self._log = log
        self._clock = clock
        self._system = _system
        self.request_id = request_id or new_request_id()

    @classmethod
    def system(
        cls,
        name: str,
        log: AuditLog,
        clock: Clock,
        *,
        permissions: frozenset[str] = frozenset(),
        request_id: str | None = None,
    ) -> Gate:
        """A gate for mlwarden's own decisions (the server's), entries under ``name``, no token.

        It allows ``permissions`` on any resource and nothing else; :meth:`record` needs none.
        """
        principal = Principal(
            name=name,
            kind="service",
            role="-",
            scopes=("*",),
            created="-",
            created_by="mlwarden",
            expires=None,
            revoked=None,
            revoked_by=None,
            token_id="-",  # noqa: S106 (no token: mlwarden itself)
        )
        return cls(principal, log, clock, request_id=request_id, _system=permissions)

    def for_request(self, request_id: str) -> Gate:
        """This gate's principal under another request id."""
        return Gate(self.principal, self._log, self._clock, request_id=request_id, _system=self._system)

    def _event(self, action: str, resource: str, outcome: str, details: dict[str, Detail]) -> AuditEvent:
        recorded = details if self._system is not None else {"token": self.principal.token_id, **details}
        return AuditEvent(
            time=event_time(self._clock()),
            principal=self.principal.name,
            action=action,
            resource=resource,
            outcome=outcome,
            request_id=self.request_id,
            details=recorded,
        )

    def allows(self, permission: str, resource: str) -> bool:
        """The decision alone, recorded nowhere (to filter a listing already authorised)."""
        if self._system is not None:
            return permission in self._system
        return self.principal.allows(permission, resource)

    def _decide(
        self, permission: str, resource: str, refusal: str | None, details: dict[str, Detail]
    ) -> tuple[AuditEvent, AccessDenied | None]:
        """The entry to write for this decision, and the error to raise after it (``None``: allowed)."""
        if not self.allows(permission, resource):
            p = self.principal
            where = "" if p.scopes == ("*",) else " on " + ", ".join(p.scopes)
            denied = AccessDenied(f"{p.name} ({p.role}{where}) lacks permission {permission} on {resource}")
            return self._event(permission, resource, "denied", details), denied
        if refusal is not None:
            event = self._event(permission, resource, "denied", {**details, "rule": refusal[:200]})
            return event, AccessDenied(f"{self.principal.name} may not do {permission} on {resource}: {refusal}")
        return self._event(permission, resource, "allowed", details), None

    def check(self, permission: str, resource: str, *, refusal: str | None = None, **details: Detail) -> None:
        """Decide and record; :class:`AccessDenied` when denied.

        ``refusal`` is a further rule's reason to deny although the role allows (a grant wider
        than the granter's own, say): recorded and raised as a denial all the same.
        """
        event, denied = self._decide(permission, resource, refusal, details)
        self._log.append(event)
        if denied is not None:
            raise denied

    async def check_async(
        self, permission: str, resource: str, *, refusal: str | None = None, **details: Detail
    ) -> None:
        """:meth:`check` on an event loop (the entry is group-committed with concurrent ones)."""
        event, denied = self._decide(permission, resource, refusal, details)
        await self._log.append_async(event)
        if denied is not None:
            raise denied

    def record(self, action: str, resource: str, *, outcome: str = "succeeded", **details: Detail) -> None:
        """Record something that happened without a decision here (the workspace's creation, an
        answered prediction, a request refused before it reached a decision)."""
        self._log.append(self._event(action, resource, outcome, details))

    async def record_async(self, action: str, resource: str, *, outcome: str = "succeeded", **details: Detail) -> None:
        """:meth:`record` on an event loop."""
        await self._log.append_async(self._event(action, resource, outcome, details))

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

    @contextlib.asynccontextmanager
    async def act_async(
        self, permission: str, resource: str, *, refusal: str | None = None, **details: Detail
    ) -> AsyncIterator[Act]:
        """:meth:`act` on an event loop: every entry through ``append_async``."""
        await self.check_async(permission, resource, refusal=refusal, **details)
        act = Act()
        try:
            yield act
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the original error matters more
                await self._log.append_async(self._event(permission, resource, "failed", {"error": type(exc).__name__}))
            raise
        if act.results:
            await self._log.append_async(self._event(permission, resource, "succeeded", act.results))
