"""Principals (users and service accounts), their grants and tokens, in the access database.

One row per principal in ``access.db`` (next to the audit log)::

    principals(name PRIMARY KEY, kind, role, scopes, created, created_by, expires,
               revoked, revoked_by, token_id UNIQUE, token_hash, mac)

``mac`` is HMAC-SHA256 over the row's other fields (canonical JSON) under a key derived from the
workspace's identity key, which only the master key unlocks: a row edited in the database (a
role raised, a scope widened, a revocation undone by hand) no longer authenticates, and the
principal is refused. Restoring a whole old row (an earlier backup of it) is not caught here;
the audit log records every grant and revocation.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from hmac import compare_digest
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from mlwarden._sqlite import connect
from mlwarden.access._roles import GRANTABLE, ROLES, SCOPED_KINDS, check_role, check_scope, scope_covers
from mlwarden.access._tokens import ParsedToken, hash_token, new_token, parse_token, tokens_equal
from mlwarden.audit import event_time
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Unavailable

__all__ = ["KINDS", "Principal", "PrincipalStore", "TokenRefused", "check_principal_name", "parse_duration"]

KINDS = ("user", "service")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LIFETIME = timedelta(days=36525)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS principals (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, role TEXT NOT NULL, scopes TEXT NOT NULL,
    created TEXT NOT NULL, created_by TEXT NOT NULL, expires TEXT, revoked TEXT, revoked_by TEXT,
    token_id TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL, mac BLOB NOT NULL);
"""
_COLUMNS = "name, kind, role, scopes, created, created_by, expires, revoked, revoked_by, token_id, token_hash, mac"
# Fixed column lists; every value is a bound parameter.
_SELECT = f"SELECT {_COLUMNS} FROM principals"  # noqa: S608
_INSERT = f"INSERT INTO principals ({_COLUMNS}) VALUES ({', '.join('?' * 12)})"  # noqa: S608
_UPDATE = (
    "UPDATE principals SET kind = ?, role = ?, scopes = ?, created = ?, created_by = ?, expires = ?, "
    "revoked = ?, revoked_by = ?, token_id = ?, token_hash = ?, mac = ? WHERE name = ?"
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
    duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if duration > MAX_LIFETIME:
        raise BadInput(f"--expires {text!r} is longer than 100 years; give a shorter lifetime")
    return duration


class TokenRefused(AccessDenied):
    """A token that does not authenticate; ``reason`` is a short code for the audit log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who may act, and what they may do. Holds no secret: only the token's public id."""

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
    intact: bool = True

    def state(self, now: str) -> str:
        if not self.intact:
            return "tampered"
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
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
            "state": self.state(now),
        }


class PrincipalStore:
    """The principals of one workspace. ``mac_key`` comes from the workspace identity."""

    def __init__(self, path: Path, mac_key: bytes, clock: Callable[[], datetime]) -> None:
        self._mac_key = mac_key
        self._clock = clock
        try:
            self._conn = connect(path)
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable(f"the access database at {path} cannot be opened ({exc})") from None

    def close(self) -> None:
        self._conn.close()

    def now(self) -> str:
        return event_time(self._clock())

    # -- records ----------------------------------------------------------------------------

    def _mac(self, fields: tuple[object, ...]) -> bytes:
        mac = hmac.HMAC(self._mac_key, hashes.SHA256())
        mac.update(json.dumps(list(fields), separators=(",", ":")).encode())
        return mac.finalize()

    def _principal(self, row: tuple[object, ...]) -> tuple[Principal, str]:
        """The principal of a row, marked not ``intact`` if its HMAC does not match (never trusted)."""
        *fields, mac = row
        try:
            expected = self._mac(tuple(fields))
            ok = isinstance(mac, bytes) and compare_digest(expected, mac)
            scopes = tuple(str(s) for s in json.loads(str(fields[3])))
        except (TypeError, ValueError):
            ok, scopes = False, ()
        name, kind, role, _, created, created_by, expires, revoked, revoked_by, token_id, token_hash = fields
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
        row = self._row(name)
        if row is None:
            raise NotFound(f"no principal named {name!r}; see `mlwarden user ls`")
        return self._principal(row)[0]

    def list(self) -> list[Principal]:
        rows = self._conn.execute(_SELECT + " ORDER BY name").fetchall()
        return [self._principal(r)[0] for r in rows]

    def authenticate(self, token: str) -> Principal:
        """The principal holding ``token``; :class:`AccessDenied` saying why not otherwise."""
        parsed = parse_token(token)
        if parsed is None:
            raise TokenRefused("the token is malformed: expected mlw_<16 hex>_<43 characters>", "malformed")
        row = self._conn.execute(_SELECT + " WHERE token_id = ?", (parsed.token_id,)).fetchone()
        if row is None:
            # Hash anyway, so an unknown token id takes as long as a wrong secret.
            tokens_equal(hash_token(""), parsed.token)
            raise TokenRefused("the token is not valid for this workspace", "unknown")
        principal, stored = self._principal(row)
        if not tokens_equal(stored, parsed.token):
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
        return principal

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
    ) -> tuple[Principal, ParsedToken]:
        """Create a principal and its token; the token is returned once and never stored."""
        check_principal_name(name)
        check_role(role)
        if kind not in KINDS:
            raise BadInput(f"unknown principal kind {kind!r}: user or service")
        scopes = tuple(dict.fromkeys(check_scope(s) for s in scopes)) or ("*",)
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
        )
        fields = _fields(principal, hash_token(token.token))
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._row(name)
            if row is not None:
                if self._principal(row)[0].intact:
                    raise AlreadyExists(f"a principal named {name!r} already exists; choose another name")
                # A record edited outside mlwarden is never trusted again: re-adding replaces it.
                conn.execute("DELETE FROM principals WHERE name = ?", (name,))
            conn.execute(_INSERT, (*fields, self._mac(fields)))
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            raise AlreadyExists(f"a principal named {name!r} already exists; choose another name") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
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
        """Give ``name`` a new token; the old one stops working at once. ``expires`` resets the lifetime."""
        if expires is not None and expires > MAX_LIFETIME:
            raise BadInput("a token lifetime is at most 100 years")
        token = new_token()

        def reissued(principal: Principal, _old_hash: str) -> tuple[Principal, str]:
            if principal.revoked is not None:
                raise BadInput(f"{name} was revoked at {principal.revoked}; add a new principal instead")
            if not principal.intact:
                raise IntegrityError(f"the record of principal {name!r} was changed outside mlwarden; re-add it")
            until = principal.expires if expires is None else event_time(self._clock() + expires)
            return dataclasses.replace(principal, token_id=token.token_id, expires=until), hash_token(token.token)

        return self._change(name, reissued)[0], token

    def _change(self, name: str, change: Callable[[Principal, str], tuple[Principal, str]]) -> tuple[Principal, str]:
        """Rewrite one record in a transaction: ``change`` maps (record, token hash) to new ones."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._row(name)
            if row is None:
                raise NotFound(f"no principal named {name!r}; see `mlwarden user ls`")
            principal, token_hash = change(*self._principal(row))
            fields = _fields(principal, token_hash)
            conn.execute(_UPDATE, (*fields[1:], self._mac(fields), name))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return principal, token_hash

    def _active_admins(self, exclude: str) -> int:
        now = self.now()
        rows = self._conn.execute(_SELECT + " WHERE role = 'admin' AND name != ?", (exclude,))
        return sum(1 for r in rows if self._principal(r)[0].state(now) == "active")


def _fields(principal: Principal, token_hash: str) -> tuple[object, ...]:
    """A record's columns, in table order, without the MAC (what the MAC covers)."""
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
    )
