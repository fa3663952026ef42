"""``ws.users``: principals (users and service accounts), their tokens, limits and suspensions.

Every call is a gated, audited decision: ``user.read`` to look, ``user.manage`` to change, and
a change to an existing principal also needs the right to grant its role and scopes (a steward
scoped to ``credit-*`` can neither grant nor revoke ``*``). :meth:`UserService.suspend_for_server`
is the inference server's own decision, recorded under the server's name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from mlwarden.access import (
    KEEP,
    MAX_REASON,
    Act,
    Authenticator,
    Gate,
    LimitChange,
    Principal,
    PrincipalStore,
    check_limit,
    check_principal_name,
    check_role,
    check_scope,
)
from mlwarden.auditlog._records import Detail
from mlwarden.errors import BadInput

__all__ = ["SERVER_PRINCIPAL", "UserService"]

SERVER_PRINCIPAL = "mlwarden-serve"
"""Who the audit log names for what the inference server decides on its own (a suspension, an alert)."""


class UserService:
    """The principals of one workspace, managed through ``gate``."""

    def __init__(self, *, gate: Gate, principals: PrincipalStore, authenticator: Authenticator) -> None:
        self._gate = gate
        self._principals = principals
        self._authenticator = authenticator

    def __repr__(self) -> str:
        return f"<UserService as {self._gate.principal.name}>"

    def now(self) -> str:
        """The time principals' states are judged at (pass it to :meth:`Principal.to_json`)."""
        return self._principals.now()

    def add(
        self,
        name: str,
        role: str,
        *,
        scopes: tuple[str, ...] = ("*",),
        kind: str = "user",
        expires: timedelta | None = None,
        rate_limit: int | None = None,
        daily_quota: int | None = None,
    ) -> tuple[Principal, str]:
        """Add a principal with ``role`` narrowed to ``scopes``; returns it and its token (shown once).

        Needs ``user.manage``, and the role must be one the acting principal may grant, with
        scopes inside its own (a steward scoped to ``credit-*`` cannot grant ``*``).
        ``rate_limit`` (requests per minute) and ``daily_quota`` (requests per UTC day) default
        to :data:`~mlwarden.access.DEFAULT_RATE_LIMIT` and :data:`~mlwarden.access.DEFAULT_DAILY_QUOTA`.
        """
        check_principal_name(name)
        check_role(role)
        scopes = tuple(check_scope(p) for p in scopes) or ("*",)
        rate_limit = None if rate_limit is None else check_limit(rate_limit, "rate_limit")
        daily_quota = None if daily_quota is None else check_limit(daily_quota, "daily_quota")
        me = self._gate.principal
        why = me.may_grant(role, scopes)
        details: dict[str, Any] = {"role": role, "scopes": ",".join(scopes), "kind": kind}  # Detail values
        if rate_limit is not None:
            details["rate_limit"] = rate_limit
        if daily_quota is not None:
            details["daily_quota"] = daily_quota
        with self._gate.act("user.manage", f"user:{name}", refusal=why, **details) as act:
            principal, token = self._principals.add(
                name,
                role,
                by=me.name,
                scopes=scopes,
                kind=kind,
                expires=expires,
                rate_limit=rate_limit,
                daily_quota=daily_quota,
            )
            act.record(granted_token=principal.token_id, expires=principal.expires)
        return principal, token.token

    def list(self) -> list[Principal]:
        """Every principal, revoked, expired and suspended ones too (``user.read``)."""
        self._gate.check("user.read", "user")
        return self._principals.list()

    def get(self, name: str) -> Principal:
        """One principal (``user.read``)."""
        check_principal_name(name)
        self._gate.check("user.read", f"user:{name}")
        return self._principals.get(name)

    def revoke(self, name: str) -> Principal:
        """Revoke ``name``'s token for good. A steward may revoke only roles it could grant."""
        with self._managing(name, "revoke") as (_, act):
            done = self._principals.revoke(name, by=self._gate.principal.name)
            act.record(revoked_token=done.token_id)
        return done

    def reissue(self, name: str, *, expires: timedelta | None = None) -> tuple[Principal, str]:
        """Give ``name`` a new token (shown once); its old token is refused from now on.

        For a leaked or lost token, or routine rotation. Needs ``user.manage`` and the right to
        grant ``name``'s role and scopes; ``expires`` sets a new lifetime from now. A suspended
        principal stays suspended.
        """
        with self._managing(name, "reissue") as (target, act):
            principal, token = self._principals.reissue(name, expires=expires)
            act.record(revoked_token=target.token_id, granted_token=principal.token_id, expires=principal.expires)
        return principal, token.token

    def set_limits(self, name: str, *, rate_limit: LimitChange = KEEP, daily_quota: LimitChange = KEEP) -> Principal:
        """Change ``name``'s rate limit (requests per minute) and daily quota (requests per UTC day).

        For each: a number sets it, ``None`` puts it back to the default, :data:`~mlwarden.access.KEEP`
        (the default argument) leaves it. Gated like :meth:`revoke`; the audit entry carries the
        new values (``"default"`` for one put back, absent for one kept).
        """
        if rate_limit is not KEEP and rate_limit is not None:
            rate_limit = check_limit(rate_limit, "rate_limit")
        if daily_quota is not KEEP and daily_quota is not None:
            daily_quota = check_limit(daily_quota, "daily_quota")
        details: dict[str, Detail] = {}
        for key, value in (("rate_limit", rate_limit), ("daily_quota", daily_quota)):
            if value is not KEEP:
                details[key] = "default" if value is None else value
        if not details:
            raise BadInput("give a new rate limit or daily quota (a number, or the default)")
        with self._managing(name, "limits", **details) as (_, act):
            done = self._principals.set_limits(name, rate_limit=rate_limit, daily_quota=daily_quota)
            act.record(rate_limit=done.limits.rate_limit, daily_quota=done.limits.daily_quota)
        return done

    def suspend(self, name: str, reason: str | None = None) -> Principal:
        """Suspend ``name``: its token is refused (exit 3, naming when and why) until :meth:`resume`.

        Reversible, unlike :meth:`revoke`. Gated like it; the last active admin cannot be
        suspended. ``reason`` (at most 500 characters) is kept in the record and the log.
        """
        details: dict[str, Detail] = {} if not reason else {"reason": reason[:200]}
        with self._managing(name, "suspend", **details) as (_, act):
            done = self._principals.suspend(name, by=self._gate.principal.name, reason=reason)
            act.record(suspended_token=done.token_id)
        return done

    def resume(self, name: str) -> Principal:
        """Lift ``name``'s suspension: its token works again. Gated like :meth:`revoke`."""
        with self._managing(name, "resume") as (_, act):
            done = self._principals.resume(name, by=self._gate.principal.name)
            act.record(resumed_token=done.token_id)
        return done

    def suspend_for_server(self, name: str, *, reason: str, request_id: str | None = None) -> Principal:
        """Suspend ``name`` on the inference server's own decision (its extraction monitor, say).

        Only a principal that may serve models (``model.serve``: the server's operator) may ask;
        anyone else is refused (:class:`~mlwarden.errors.AccessDenied`, the denial recorded) before
        anything is looked up. The server decides through its own gate: the audit entry (action
        ``user.suspend``, principal ``mlwarden-serve``, naming the operator, outcome ``allowed``,
        the reason cut to 200 characters, under ``request_id``: the request that tripped the
        monitor) is written and fsynced first; if it cannot be, nothing is suspended
        (:class:`~mlwarden.auditlog.AuditUnavailable`). A principal already suspended is left as
        it is, and returned, with no entry (one suspended by another process meanwhile gets a
        ``failed`` entry and :class:`BadInput`); the last active admin is not suspended
        (:class:`BadInput`, after a ``failed`` entry).
        """
        check_principal_name(name)
        if not self._gate.allows("model.serve", "model"):
            self._gate.check("model.serve", "model", what="suspend", subject=name)  # denied and recorded
        current = self._principals.get(name)
        if current.suspended is not None:
            return current
        reason = reason[:MAX_REASON]
        server = self._authenticator.system(
            SERVER_PRINCIPAL, permissions=frozenset({"user.suspend"}), request_id=request_id
        )
        with server.act(
            "user.suspend",
            f"user:{name}",
            suspended_token=current.token_id,
            reason=reason[:200],
            operator=self._gate.principal.name,
        ):
            return self._principals.suspend(name, by=SERVER_PRINCIPAL, reason=reason)

    @contextlib.contextmanager
    def _managing(self, name: str, change: str, **details: Detail) -> Iterator[tuple[Principal, Act]]:
        """Gate a change to an existing principal: ``user.manage``, and the right to grant its role.

        The permission is decided (and a denial recorded) before the principal is looked up, so
        that whoever lacks it learns nothing of who exists. ``details`` go into the entries.
        """
        check_principal_name(name)
        recorded: dict[str, Any] = {"change": change, **details}  # Detail values
        if not self._gate.allows("user.manage", f"user:{name}"):
            self._gate.check("user.manage", f"user:{name}", **recorded)  # denied and recorded
        target = self._principals.get(name)
        why = self._gate.principal.may_grant(target.role, target.scopes)
        with self._gate.act("user.manage", f"user:{name}", refusal=why, **recorded) as act:
            yield target, act
