"""The one authenticator: a token becomes a :class:`~mlwarden.access.Gate`, a refused one an audit entry.

The workspace (``Workspace.open(token=...)``) and the inference server log principals in here,
and only here::

    gate = authenticator.login(token, request_id=rid)        # the workspace: refusals recorded, raised
    gate = authenticator.authenticate(token, request_id=rid)  # the server: records nothing; the server
                                                              # records refusals within its budget

A refusal is recorded with :meth:`Authenticator.record_refused` (or ``record_refused_async`` on an
event loop); the server writes its own ``auth.token`` entries through a :meth:`system` gate named
``-``, since it carries the refusal budget's counts in them.

A refused token is recorded as ``auth.token`` ``denied`` by principal ``-``, with the token's
public id (never the token) and a reason code (``malformed``, ``unknown``, ``wrong-secret``,
``revoked``, ``expired``, ``suspended``, ``tampered-record``).
"""

from __future__ import annotations

from mlwarden._clock import Clock
from mlwarden.access._gate import Gate, new_request_id
from mlwarden.access._principals import PrincipalStore, TokenRefused
from mlwarden.access._tokens import parse_token
from mlwarden.auditlog import AuditLog
from mlwarden.auditlog._records import Detail
from mlwarden.errors import AccessDenied, IntegrityError

__all__ = ["Authenticator", "refusal_reason"]

REFUSED = "-"
"""The principal the audit log names for a refused token."""


def refusal_reason(exc: AccessDenied | IntegrityError) -> str:
    """The reason code recorded for a refused token."""
    return exc.reason if isinstance(exc, TokenRefused) else "tampered-record"


class Authenticator:
    """Logs principals of ``principals`` in by token; every gate it hands out records in ``log``."""

    def __init__(self, principals: PrincipalStore, log: AuditLog, clock: Clock) -> None:
        self._principals = principals
        self._log = log
        self._clock = clock

    def authenticate(self, token: str, *, request_id: str | None = None, clock: Clock | None = None) -> Gate:
        """The gate of ``token``'s principal. Records nothing: a refusal raises :class:`TokenRefused`
        (or :class:`IntegrityError` for a record changed outside mlwarden), and the caller records
        it with :meth:`record_refused` or :meth:`record_refused_async`. ``clock`` times the gate's
        entries (default: the workspace's; the server passes its own)."""
        principal = self._principals.authenticate(token)
        return Gate(principal, self._log, clock or self._clock, request_id=request_id)

    def login(self, token: str, *, request_id: str | None = None, source: str = "the token given") -> Gate:
        """:meth:`authenticate`, recording a refusal (on resource ``workspace``) before raising it."""
        request_id = request_id or new_request_id()
        try:
            return self.authenticate(token, request_id=request_id)
        except (AccessDenied, IntegrityError) as exc:
            self.record_refused(token, refusal_reason(exc), request_id=request_id)
            refused = AccessDenied if isinstance(exc, AccessDenied) else IntegrityError
            raise refused(f"{source} was refused: {exc}") from None

    def _refusals(self, request_id: str) -> Gate:
        return Gate.system(REFUSED, self._log, self._clock, request_id=request_id)

    def record_refused(
        self, token: str | None, reason: str, *, request_id: str, resource: str = "workspace", **details: Detail
    ) -> None:
        """Record a refused ``token``: its public id only, and ``reason``."""
        parsed = None if token is None else parse_token(token)
        token_id = None if parsed is None else parsed.token_id
        self._refusals(request_id).record(
            "auth.token", resource, outcome="denied", token=token_id, reason=reason, **details
        )

    async def record_refused_async(
        self, token: str | None, reason: str, *, request_id: str, resource: str = "workspace", **details: Detail
    ) -> None:
        """:meth:`record_refused` on an event loop (group-committed with concurrent entries)."""
        parsed = None if token is None else parse_token(token)
        token_id = None if parsed is None else parsed.token_id
        await self._refusals(request_id).record_async(
            "auth.token", resource, outcome="denied", token=token_id, reason=reason, **details
        )

    def system(
        self,
        name: str,
        *,
        permissions: frozenset[str] = frozenset(),
        request_id: str | None = None,
        clock: Clock | None = None,
    ) -> Gate:
        """A gate for mlwarden's own decisions under ``name`` (see :meth:`Gate.system`)."""
        return Gate.system(name, self._log, clock or self._clock, permissions=permissions, request_id=request_id)

    def changes(self) -> int:
        """A number that changes whenever any principal changed, in any process (for caches of logins)."""
        return self._principals.data_version()

    def state(self, name: str) -> str:
        """The state of principal ``name`` now (``active``, ``suspended``, ...); :class:`NotFound` if none."""
        return self._principals.get(name).state(self._principals.now())
