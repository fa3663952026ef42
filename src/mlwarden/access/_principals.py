"""Principals (users and service accounts), their grants, limits and tokens, in the access database.

One row per principal in ``access.db`` (next to the audit log)::

    principals(name PRIMARY KEY, kind, role, scopes, created, created_by, expires,
               revoked, revoked_by, token_id UNIQUE, token_hash, mac, limits, suspension)

``limits`` is NULL (the defaults of :mod:`mlwarden.access._limits`) or canonical JSON of the
limits an admin set, ``{"daily_quota": N, "rate_limit": N}`` with either key left out;
``suspension`` is NULL or ``{"at": time, "by": name, "reason": text or null}``. Both came with
version 2 of the access database; :mod:`mlwarden._access_db` owns its layout and upgrades.

``mac`` is HMAC-SHA256 over the row's other fields (canonical JSON of the list of the first
eleven columns, and of ``limits`` and ``suspension`` after them when either is set) under a key
derived from the workspace's identity key, which only the master key unlocks. A row with neither
keeps the MAC it had before the two columns existed, so old rows still verify; a row edited in
the database (a role raised, a scope widened, a revocation or suspension undone by hand, a limit
raised or set) no longer authenticates, and the principal is refused. Restoring a whole old row
(an earlier backup of it) is not caught here; the audit log records every grant and revocation.

Every change to ``principals``, by any connection, also bumps ``principals_version`` (SQLite
triggers): :meth:`PrincipalStore.data_version` uses it so that a cache of authenticated tokens
(the server's) knows when to look again, without being disturbed by audit-log appends to the
same file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from hmac import compare_digest
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from mlwarden._access_db import open_access_db
from mlwarden._clock import Clock, event_time
from mlwarden._sqlite import write_transaction
from mlwarden.access._limits import (
    DEFAULT_DAILY_QUOTA,
    DEFAULT_RATE_LIMIT,
    KEEP,
    MAX_LIMIT,
    LimitChange,
    Limits,
    check_limit,
)
from mlwarden.access._roles import GRANTABLE, ROLES, SCOPED_KINDS, check_role, check_scope, scope_covers
from mlwarden.access._tokens import ParsedToken, hash_token, new_token, parse_token, tokens_equal
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Unavailable

__all__ = [
    "KINDS",
    "MAX_REASON",
    "Principal",
    "PrincipalStore",
    "TokenRefused",
    "check_principal_name",
    "parse_duration",
]

KINDS = ("user", "service")
MAX_REASON = 500
"""The longest suspension reason a record keeps (characters)."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"([1-9][0-9]*)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LIFETIME = timedelta(days=36525)
_COLUMNS = (
    "name, kind, role, scopes, created, created_by, expires, revoked, revoked_by, token_id, token_hash, "
    "limits, suspension, mac"
)
# Fixed column lists; every value is a bound parameter.
_SELECT = f"SELECT {_COLUMNS} FROM principals"  # noqa: S608
_INSERT = f"INSERT INTO principals ({_COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608
# The record of a token id, else the decoy given as parameters: one row either way (see authenticate).
_BY_TOKEN_ID = (
    f"SELECT {_COLUMNS}, 1 FROM principals WHERE token_id = ? "  # noqa: S608
    f"UNION ALL SELECT {', '.join('?' * 14)}, 0 ORDER BY 15 DESC LIMIT 1"
)
_UPDATE = (
    "UPDATE principals SET kind = ?, role = ?, scopes = ?, created = ?, created_by = ?, expires = ?, "
    "revoked = ?, revoked_by = ?, token_id = ?, token_hash = ?, limits = ?, suspension = ?, mac = ? WHERE name = ?"
)


def check_principal_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"principal name {name[:64]!r} is not allowed: use 1 to 64 ASCII letters, digits, '.', '_' or '-'"
        )
    return name


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` -> a :class:`timedelta`."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise BadInput(f"--expires {text!r} is not a duration: write a number and m, h, d or w (e.g. 30d)")
    digits, unit = match.groups()
    # Compared before a timedelta is built: a long enough number would overflow it.
    if len(digits) > 12 or timedelta(**{_UNITS[unit]: 1}) * int(digits) > MAX_LIFETIME:
        raise BadInput(
            f"--expires {text!r} is longer than the longest lifetime, {MAX_LIFETIME.days} days (100 years, "
            f"{MAX_LIFETIME.days // 7}w): give a shorter one"
        )
    return timedelta(**{_UNITS[unit]: int(digits)})


class TokenRefused(AccessDenied):
    """A token that does not authenticate; ``reason`` is a short code for the audit log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who may act, and what they may do. Holds no secret: only the token's public id.

    ``rate_limit`` and ``daily_quota`` are what an admin set (``None``: the default);
    :attr:`limits` gives the values in force. ``suspended`` is when the principal was suspended
    (by ``suspended_by``, an admin or the server), ``None`` while it is not.
    """

    name: str
    kind: str
    role: str
    scopes: tuple[str, ...]
    created: str
    created_by: str
    expires: str | None
    revoked: str | None
    revoked_by: str | None
    token_id: str
    rate_limit: int | None = None
    daily_quota: int | None = None
    suspended: str | None = None
    suspended_by: str | None = None
    suspended_reason: str | None = None
    intact: bool = True

    @property
    def limits(self) -> Limits:
        """The limits in force: this principal's own, else the defaults."""
        return Limits(
            rate_limit=DEFAULT_RATE_LIMIT if self.rate_limit is None else self.rate_limit,
            daily_quota=DEFAULT_DAILY_QUOTA if self.daily_quota is None else self.daily_quota,
        )

    def state(self, now: str) -> str:
        """``tampered``, ``revoked``, ``expired``, ``suspended`` or ``active``: the first that holds."""
        if not self.intact:
            return "tampered"
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        if self.suspended is not None:
            return "suspended"
        return "active"

    def allows(self, permission: str, resource: str) -> bool:
        """May this principal use ``permission`` on ``resource`` (``kind:name`` or a bare kind)?"""
        if not self.intact or permission not in ROLES.get(self.role, ()):
            return False
        kind, _, name = resource.partition(":")
        if kind not in SCOPED_KINDS or not name:
            return True
        return scope_covers(self.scopes, name)

    def may_grant(self, role: str, scopes: tuple[str, ...]) -> str | None:
        """Why this principal may not grant ``role`` with ``scopes``, or ``None`` if it may."""
        if role not in GRANTABLE.get(self.role, ()):
            allowed = ", ".join(sorted(GRANTABLE.get(self.role, ()))) or "none"
            return f"a {self.role} may not grant role {role} (it may grant: {allowed})"
        for pattern in scopes:
            if not scope_covers(self.scopes, pattern):
                return f"scope {pattern} is wider than {self.name}'s own scopes ({', '.join(self.scopes)})"
        return None

    def to_json(self, now: str) -> dict[str, object]:
        limits = self.limits
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "scopes": list(self.scopes),
            "created": self.created,
            "created_by": self.created_by,
            "expires": self.expires,
            "revoked": self.revoked,
            "revoked_by": self.revoked_by,
            "token_id": self.token_id,
            "rate_limit": limits.rate_limit,
            "daily_quota": limits.daily_quota,
            "suspended": self.suspended,
            "suspended_by": self.suspended_by,
            "suspended_reason": self.suspended_reason,
            "state": self.state(now),
        }


class PrincipalStore:
    """The principals of one workspace. ``mac_key`` comes from the workspace identity.

    Safe to share between threads (one lock around its connection).
    """

    def __init__(self, path: Path, mac_key: bytes, clock: Clock) -> None:
        self._mac_key = mac_key
        self._clock = clock
        self._lock = threading.RLock()
        self._seen_data_version: int | None = None
        self._seen_counter: int | None = None
        self._version = 0
        try:
            self._conn = open_access_db(path)
        except sqlite3.Error as exc:
            raise Unavailable(f"the access database at {path} cannot be opened ({exc})") from None
        self._decoy = self._decoy_row()

    def _decoy_row(self) -> tuple[object, ...]:
        """A record shaped like a real one, whose hash is of no token: what an unknown token id is checked against."""
        decoy = Principal("-", "user", "client", ("*",), self.now(), "-", None, None, None, "0" * 16)
        fields = _fields(decoy, hash_token(""))
        return (*fields, self._mac(fields))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def now(self) -> str:
        return event_time(self._clock())

    # -- records ----------------------------------------------------------------------------

    def _mac(self, fields: tuple[object, ...]) -> bytes:
        """The MAC of a row's fields (in :func:`_fields` order); the last two count only when set."""
        covered = fields if any(f is not None for f in fields[11:]) else fields[:11]
        mac = hmac.HMAC(self._mac_key, hashes.SHA256())
        mac.update(json.dumps(list(covered), separators=(",", ":")).encode())
        return mac.finalize()

    def _principal(self, row: tuple[object, ...]) -> tuple[Principal, str]:
        """The principal of a row, marked not ``intact`` if its HMAC does not match (never trusted)."""
        *fields, mac = row
        name, kind, role, _, created, created_by, expires, revoked, revoked_by, token_id, token_hash = fields[:11]
        limits: dict[str, int | None] = {"rate_limit": None, "daily_quota": None}
        suspension: dict[str, str | None] = {"at": None, "by": None, "reason": None}
        try:
            expected = self._mac(tuple(fields))
            ok = isinstance(mac, bytes) and compare_digest(expected, mac)
            scopes = tuple(str(s) for s in json.loads(str(fields[3])))
            limits.update(_parse_limits(fields[11]))
            suspension.update(_parse_suspension(fields[12]))
        except (TypeError, ValueError):
            ok, scopes = False, ()
        principal = Principal(
            str(name),
            str(kind),
            str(role),
            scopes,
            str(created),
            str(created_by),
            None if expires is None else str(expires),
            None if revoked is None else str(revoked),
            None if revoked_by is None else str(revoked_by),
            str(token_id),
            rate_limit=limits["rate_limit"],
            daily_quota=limits["daily_quota"],
            suspended=suspension["at"],
            suspended_by=suspension["by"],
            suspended_reason=suspension["reason"],
            intact=ok,
        )
        return principal, str(token_hash)

    def _row(self, name: str) -> tuple[object, ...] | None:
        row: tuple[object, ...] | None = self._conn.execute(
            _SELECT + " WHERE name = ?",
            (name,),
        ).fetchone()
        return row

    # -- queries ----------------------------------------------------------------------------

    def get(self, name: str) -> Principal:
        with self._lock:
            row = self._row(name)
        if row is None:
            raise NotFound(f"no principal named {name!r}; see `mlwarden user ls`")
        return self._principal(row)[0]

    def list(self) -> list[Principal]:
        with self._lock:
            rows = self._conn.execute(_SELECT + " ORDER BY name").fetchall()
        return [self._principal(r)[0] for r in rows]

    def authenticate(self, token: str) -> Principal:
        """The principal holding ``token``; :class:`AccessDenied` saying why not otherwise."""
        parsed = parse_token(token)
        if parsed is None:
            raise TokenRefused("the token is malformed: expected mlw_<16 hex>_<43 characters>", "malformed")
        # An unknown token id goes through the same steps as a wrong secret, on a decoy record: the
        # query returns a row either way (the record, else the decoy, so both are read out of
        # SQLite alike), the row's HMAC is checked and its fields parsed, then the token is hashed
        # and compared with the row's hash (never equal for the decoy: it holds the hash of the
        # empty string, which no token is). Only the index lookup differs (a hit or a miss), so the
        # time of a refusal does not tell whether a token id exists.
        with self._lock:
            *row, found = self._conn.execute(_BY_TOKEN_ID, (parsed.token_id, *self._decoy)).fetchone()
        principal, stored = self._principal(tuple(row))
        matches = tokens_equal(stored, parsed.token)
        if not found:
            raise TokenRefused("the token is not valid for this workspace", "unknown")
        if not matches:
            raise TokenRefused("the token is not valid for this workspace", "wrong-secret")
        if not principal.intact:
            raise IntegrityError(
                f"the record of principal {principal.name!r} was changed outside mlwarden; it is refused "
                "until an admin re-adds it (`mlwarden user add`) or revokes it"
            )
        state = principal.state(self.now())
        if state == "revoked":
            raise TokenRefused(f"the token of {principal.name} was revoked at {principal.revoked}", "revoked")
        if state == "expired":
            raise TokenRefused(f"the token of {principal.name} expired at {principal.expires}", "expired")
        if state == "suspended":
            why = f" ({principal.suspended_reason})" if principal.suspended_reason else ""
            raise TokenRefused(
                f"the token of {principal.name} was suspended at {principal.suspended} by "
                f"{principal.suspended_by}{why}; an admin can lift it with `mlwarden user resume {principal.name}`",
                "suspended",
            )
        return principal

    def data_version(self) -> int:
        """A number that changes whenever any connection, here or in another process, changed a principal.

        Cheap enough to call on every request: it asks SQLite whether anything was committed to
        the database since the last call (``PRAGMA data_version``, which moves for other
        connections' commits only), and only then reads the ``principals_version`` counter that
        the database's triggers bump on every change to ``principals`` (audit-log appends to the
        same file do not move it). This store's own changes are noticed too. The number is this
        store's own count of the changes it saw: compare it only with earlier values from the
        same store.
        """
        with self._lock:
            (data_version,) = self._conn.execute("PRAGMA data_version").fetchone()
            if data_version == self._seen_data_version:
                return self._version
            row = self._conn.execute("SELECT version FROM principals_version WHERE id = 0").fetchone()
            counter = None if row is None else row[0]
            # A missing counter (the table emptied by hand) counts as a change every time.
            if counter is None or counter != self._seen_counter:
                self._version += 1
            self._seen_data_version, self._seen_counter = data_version, counter
            return self._version

    # -- changes ----------------------------------------------------------------------------

    def add(
        self,
        name: str,
        role: str,
        *,
        by: str,
        scopes: tuple[str, ...] = ("*",),
        kind: str = "user",
        expires: timedelta | None = None,
        rate_limit: int | None = None,
        daily_quota: int | None = None,
    ) -> tuple[Principal, ParsedToken]:
        """Create a principal and its token; the token is returned once and never stored.

        ``rate_limit`` (requests per minute) and ``daily_quota`` (requests per UTC day) default
        to :data:`~mlwarden.access.DEFAULT_RATE_LIMIT` and :data:`~mlwarden.access.DEFAULT_DAILY_QUOTA`.
        """
        check_principal_name(name)
        check_role(role)
        if kind not in KINDS:
            raise BadInput(f"unknown principal kind {kind!r}: user or service")
        scopes = tuple(dict.fromkeys(check_scope(s) for s in scopes)) or ("*",)
        rate_limit = None if rate_limit is None else check_limit(rate_limit, "rate_limit")
        daily_quota = None if daily_quota is None else check_limit(daily_quota, "daily_quota")
        moment = self._clock()
        if expires is not None and expires > MAX_LIFETIME:
            raise BadInput("a token lifetime is at most 100 years")
        token = new_token()
        principal = Principal(
            name=name,
            kind=kind,
            role=role,
            scopes=scopes,
            created=event_time(moment),
            created_by=by,
            expires=None if expires is None else event_time(moment + expires),
            revoked=None,
            revoked_by=None,
            token_id=token.token_id,
            rate_limit=rate_limit,
            daily_quota=daily_quota,
        )
        fields = _fields(principal, hash_token(token.token))
        with self._lock:
            try:
                with self._writing() as conn:
                    row = self._row(name)
                    if row is not None:
                        if self._principal(row)[0].intact:
                            raise AlreadyExists(f"a principal named {name!r} already exists; choose another name")
                        # A record edited outside mlwarden is never trusted again: re-adding replaces it.
                        conn.execute("DELETE FROM principals WHERE name = ?", (name,))
                    conn.execute(_INSERT, (*fields, self._mac(fields)))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"a principal named {name!r} already exists; choose another name") from None
            return self.get(name), token

    def revoke(self, name: str, *, by: str) -> Principal:
        """Revoke ``name``'s token for good (the record stays, for the audit trail)."""

        def revoked(principal: Principal, token_hash: str) -> tuple[Principal, str]:
            if principal.revoked is not None:
                raise BadInput(f"{name} was already revoked at {principal.revoked}")
            if principal.role == "admin" and self._active_admins(exclude=name) == 0:
                raise BadInput(f"{name} is the last active admin; add another admin before revoking it")
            return dataclasses.replace(principal, revoked=self.now(), revoked_by=by), token_hash

        return self._change(name, revoked)[0]

    def reissue(self, name: str, *, expires: timedelta | None = None) -> tuple[Principal, ParsedToken]:
        """Give ``name`` a new token; the old one stops working at once. ``expires`` resets the lifetime.

        A suspension stays: the new token is refused too until the principal is resumed.
        """
        if expires is not None and expires > MAX_LIFETIME:
            raise BadInput("a token lifetime is at most 100 years")
        token = new_token()

        def reissued(principal: Principal, _old_hash: str) -> tuple[Principal, str]:
            if principal.revoked is not None:
                raise BadInput(f"{name} was revoked at {principal.revoked}; add a new principal instead")
            _require_intact(principal)
            until = principal.expires if expires is None else event_time(self._clock() + expires)
            return dataclasses.replace(principal, token_id=token.token_id, expires=until), hash_token(token.token)

        return self._change(name, reissued)[0], token

    def set_limits(self, name: str, *, rate_limit: LimitChange = KEEP, daily_quota: LimitChange = KEEP) -> Principal:
        """Change ``name``'s limits: a number sets one, ``None`` puts it back to the default,
        :data:`~mlwarden.access.KEEP` (the default argument) leaves it as it is."""
        if rate_limit is KEEP and daily_quota is KEEP:
            raise BadInput("give a new rate limit or daily quota (a number, or the default)")
        if rate_limit is not KEEP and rate_limit is not None:
            rate_limit = check_limit(rate_limit, "rate_limit")
        if daily_quota is not KEEP and daily_quota is not None:
            daily_quota = check_limit(daily_quota, "daily_quota")

        def limited(principal: Principal, token_hash: str) -> tuple[Principal, str]:
            if principal.revoked is not None:
                raise BadInput(f"{name} was revoked at {principal.revoked}; its limits no longer matter")
            _require_intact(principal)
            changed = principal
            if rate_limit is not KEEP:
                changed = dataclasses.replace(changed, rate_limit=rate_limit)
            if daily_quota is not KEEP:
                changed = dataclasses.replace(changed, daily_quota=daily_quota)
            return changed, token_hash

        return self._change(name, limited)[0]

    def suspend(self, name: str, *, by: str, reason: str | None = None) -> Principal:
        """Suspend ``name``: its token is refused until :meth:`resume` (unlike a revocation, reversible).

        ``reason`` (at most :data:`MAX_REASON` characters) is kept in the record and shown to
        whoever presents the token. The last active admin cannot be suspended.
        """
        if reason is not None and len(reason) > MAX_REASON:
            raise BadInput(f"a suspension reason is at most {MAX_REASON} characters (this one has {len(reason)})")

        def suspended(principal: Principal, token_hash: str) -> tuple[Principal, str]:
            if principal.revoked is not None:
                raise BadInput(f"{name} was revoked at {principal.revoked}; there is nothing to suspend")
            _require_intact(principal)
            if principal.suspended is not None:
                raise BadInput(f"{name} was already suspended at {principal.suspended} by {principal.suspended_by}")
            if principal.role == "admin" and self._active_admins(exclude=name) == 0:
                raise BadInput(f"{name} is the last active admin; add another admin before suspending it")
            moment = self.now()
            return dataclasses.replace(
                principal, suspended=moment, suspended_by=by, suspended_reason=reason or None
            ), token_hash

        return self._change(name, suspended)[0]

    def resume(self, name: str, *, by: str) -> Principal:
        """Lift ``name``'s suspension; its token works again (if not revoked or expired meanwhile).

        ``by`` is who lifts it; the record keeps no history (the audit log does), and a
        principal may not lift its own suspension.
        """
        if by == name:
            raise BadInput(f"{name} may not lift its own suspension; ask another admin")

        def resumed(principal: Principal, token_hash: str) -> tuple[Principal, str]:
            _require_intact(principal)
            if principal.suspended is None:
                raise BadInput(f"{name} is not suspended")
            return dataclasses.replace(principal, suspended=None, suspended_by=None, suspended_reason=None), token_hash

        return self._change(name, resumed)[0]

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the store's connection (hold ``self._lock``)."""
        try:
            with write_transaction(self._conn) as conn:
                yield conn
        finally:
            self._seen_data_version = None  # our own commits do not move PRAGMA data_version

    def _change(self, name: str, change: Callable[[Principal, str], tuple[Principal, str]]) -> tuple[Principal, str]:
        """Rewrite one record in a transaction: ``change`` maps (record, token hash) to new ones."""
        with self._lock, self._writing() as conn:
            row = self._row(name)
            if row is None:
                raise NotFound(f"no principal named {name!r}; see `mlwarden user ls`")
            principal, token_hash = change(*self._principal(row))
            fields = _fields(principal, token_hash)
            conn.execute(_UPDATE, (*fields[1:], self._mac(fields), name))
        return principal, token_hash

    def _active_admins(self, exclude: str) -> int:
        now = self.now()
        rows = self._conn.execute(_SELECT + " WHERE role = 'admin' AND name != ?", (exclude,)).fetchall()
        return sum(1 for r in rows if self._principal(r)[0].state(now) == "active")


def _require_intact(principal: Principal) -> None:
    """Refuse to rewrite (and so re-sign) a record edited outside mlwarden."""
    if not principal.intact:
        raise IntegrityError(f"the record of principal {principal.name!r} was changed outside mlwarden; re-add it")


def _parse_limits(text: object) -> dict[str, int | None]:
    """The ``limits`` column: NULL, or a JSON object of limits in range; ValueError otherwise."""
    if text is None:
        return {}
    doc = json.loads(str(text))
    if not isinstance(doc, dict) or not doc or not set(doc) <= {"rate_limit", "daily_quota"}:
        raise ValueError("bad limits")
    for value in doc.values():
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
            raise ValueError("bad limit")
    return dict(doc)


def _parse_suspension(text: object) -> dict[str, str | None]:
    """The ``suspension`` column: NULL, or ``{"at", "by", "reason"}``; ValueError otherwise."""
    if text is None:
        return {}
    doc = json.loads(str(text))
    if not isinstance(doc, dict) or set(doc) != {"at", "by", "reason"}:
        raise ValueError("bad suspension")
    if not isinstance(doc["at"], str) or not isinstance(doc["by"], str):
        raise ValueError("bad suspension")
    if doc["reason"] is not None and not isinstance(doc["reason"], str):
        raise ValueError("bad suspension")
    return dict(doc)


def _fields(principal: Principal, token_hash: str) -> tuple[object, ...]:
    """A record's columns, in :data:`_COLUMNS` order, without the MAC (what the MAC covers)."""
    limits = {
        key: value
        for key, value in (("rate_limit", principal.rate_limit), ("daily_quota", principal.daily_quota))
        if value is not None
    }
    suspension = None
    if principal.suspended is not None:
        suspension = {"at": principal.suspended, "by": principal.suspended_by, "reason": principal.suspended_reason}
    return (
        principal.name,
        principal.kind,
        principal.role,
        json.dumps(list(principal.scopes)),
        principal.created,
        principal.created_by,
        principal.expires,
        principal.revoked,
        principal.revoked_by,
        principal.token_id,
        token_hash,
        _canonical(limits) if limits else None,
        None if suspension is None else _canonical(suspension),
    )


def _canonical(doc: Mapping[str, object]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
