"""Per-principal rate limits, daily quotas and suspension: the records, their MAC, the migration of an
older access database, the change counter the server's token cache watches, and the workspace API."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import mlwarden
from mlwarden.access import (
    DEFAULT_DAILY_QUOTA,
    DEFAULT_RATE_LIMIT,
    KEEP,
    MAX_LIMIT,
    Limits,
    Principal,
    PrincipalStore,
    TokenRefused,
    check_limit,
    hash_token,
    new_token,
)
from mlwarden.auditlog import AuditEntry
from mlwarden.config import Settings
from mlwarden.errors import AccessDenied, BadInput, IntegrityError, NotFound

Workspace = mlwarden.Workspace
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
OLD_COLUMNS = (
    "name", "kind", "role", "scopes", "created", "created_by",
    "expires", "revoked", "revoked_by", "token_id", "token_hash",
)  # fmt: skip
"""The columns of ``principals`` before limits and suspension, which the MAC of a plain record covers."""
OLD_SCHEMA = """
CREATE TABLE principals (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, role TEXT NOT NULL, scopes TEXT NOT NULL,
    created TEXT NOT NULL, created_by TEXT NOT NULL, expires TEXT, revoked TEXT, revoked_by TEXT,
    token_id TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL, mac BLOB NOT NULL);
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "access.db"


@pytest.fixture
def store(db: Path, key: bytes, clock: Clock) -> Iterator[PrincipalStore]:
    principals = PrincipalStore(db, key, clock)
    yield principals
    principals.close()


def mac_of(key: bytes, fields: list[object]) -> bytes:
    """The record MAC as docs/formats.md defines it, computed independently of the store."""
    return hmac.new(key, json.dumps(fields, separators=(",", ":")).encode(), hashlib.sha256).digest()


def edit(db: Path, sql: str, *params: object) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(sql, params)
        conn.commit()


def row(db: Path, name: str) -> dict[str, object]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM principals WHERE name = ?", (name,)).fetchone()
    return dict(found)


def entries(ws: Workspace) -> list[AuditEntry]:
    return list(ws._audit.entries())


# --------------------------------------------------------------------------------------------
# limits: values and defaults
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (600, 600), ("120", 120), (" 7 ", 7), (MAX_LIMIT, MAX_LIMIT)])
def test_check_limit_accepts(value: object, expected: int) -> None:
    assert check_limit(value, "--rate-limit") == expected


@pytest.mark.parametrize(
    "value", [0, -1, MAX_LIMIT + 1, True, 1.0, None, "", " ", "0", "-5", "1.5", "1e3", "lots", "\u0663", "9" * 5000]
)
def test_check_limit_rejects_naming_the_option(value: object) -> None:
    with pytest.raises(BadInput, match="--quota") as refused:
        check_limit(value, "--quota")
    assert len(str(refused.value)) < 200


def test_principal_limits_default_and_own() -> None:
    base = Principal("p", "user", "client", ("*",), "t", "x", None, None, None, "0" * 16)
    assert base.limits == Limits(DEFAULT_RATE_LIMIT, DEFAULT_DAILY_QUOTA) == Limits(600, 50_000)
    own = Principal("p", "user", "client", ("*",), "t", "x", None, None, None, "0" * 16, rate_limit=5)
    assert own.limits == Limits(5, 50_000)
    doc = own.to_json("2026-01-01T00:00:00Z")
    assert (doc["rate_limit"], doc["daily_quota"], doc["suspended"], doc["state"]) == (5, 50_000, None, "active")


# --------------------------------------------------------------------------------------------
# the store: round trips
# --------------------------------------------------------------------------------------------


def test_add_and_change_limits_round_trip(store: PrincipalStore, db: Path, key: bytes, clock: Clock) -> None:
    bob, _ = store.add("bob", "client", by="admin", rate_limit=120, daily_quota=1000)
    assert (bob.rate_limit, bob.daily_quota, bob.limits) == (120, 1000, Limits(120, 1000))
    assert json.loads(str(row(db, "bob")["limits"])) == {"daily_quota": 1000, "rate_limit": 120}

    assert store.set_limits("bob", rate_limit=300).limits == Limits(300, 1000)  # quota kept
    assert store.set_limits("bob", daily_quota=None).limits == Limits(300, DEFAULT_DAILY_QUOTA)
    assert store.set_limits("bob", rate_limit=KEEP, daily_quota=7).daily_quota == 7
    back = store.set_limits("bob", rate_limit=None, daily_quota=None)
    assert (back.rate_limit, back.daily_quota) == (None, None)
    assert row(db, "bob")["limits"] is None

    # A fresh store on the same file reads the same, and the record verifies.
    store.set_limits("bob", rate_limit=9)
    again = PrincipalStore(db, key, clock)
    try:
        read = again.get("bob")
        assert (read.intact, read.rate_limit, read.daily_quota) == (True, 9, None)
    finally:
        again.close()


def test_bad_limit_changes_are_refused(store: PrincipalStore) -> None:
    store.add("bob", "client", by="admin")
    with pytest.raises(BadInput, match="rate limit or daily quota"):
        store.set_limits("bob")
    with pytest.raises(BadInput, match="rate_limit"):
        store.set_limits("bob", rate_limit=0)
    with pytest.raises(BadInput, match="daily_quota"):
        store.set_limits("bob", daily_quota=MAX_LIMIT + 1)
    with pytest.raises(BadInput, match="rate_limit"):
        store.add("carol", "client", by="admin", rate_limit=-3)
    with pytest.raises(NotFound):
        store.get("carol")
    with pytest.raises(NotFound):
        store.set_limits("nobody", rate_limit=5)
    store.add("admin2", "admin", by="x")
    store.revoke("bob", by="admin2")
    with pytest.raises(BadInput, match="revoked"):
        store.set_limits("bob", rate_limit=5)


def test_a_plain_record_keeps_the_mac_of_before(store: PrincipalStore, db: Path, key: bytes) -> None:
    """A record with no limits and no suspension is MAC'd over the eleven original columns only."""
    store.add("bob", "client", by="admin")
    stored = row(db, "bob")
    old_fields = [stored[c] for c in OLD_COLUMNS]
    assert stored["mac"] == mac_of(key, old_fields)
    store.set_limits("bob", rate_limit=5)
    stored = row(db, "bob")
    assert stored["mac"] == mac_of(key, [*old_fields, stored["limits"], None])
    store.set_limits("bob", rate_limit=None)
    assert row(db, "bob")["mac"] == mac_of(key, old_fields)


# --------------------------------------------------------------------------------------------
# migration of an access database from before limits
# --------------------------------------------------------------------------------------------


def test_an_old_access_db_is_upgraded_and_its_rows_still_verify(db: Path, key: bytes, clock: Clock) -> None:
    token = new_token()
    fields = [
        "alice", "user", "scientist", json.dumps(["credit-*"]), "2026-01-01T00:00:00.000000Z", "root",
        None, None, None, token.token_id, hash_token(token.token),
    ]  # fmt: skip
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO principals VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (*fields, mac_of(key, fields)))
        conn.execute("CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, entry BLOB)")  # untouched
        conn.commit()

    store = PrincipalStore(db, key, clock)
    try:
        alice = store.authenticate(token.token)
        assert (alice.intact, alice.scopes, alice.limits) == (True, ("credit-*",), Limits(600, 50_000))
        assert store.get("alice").state(store.now()) == "active"
        store.set_limits("alice", daily_quota=10)
        store.suspend("alice", by="root", reason="testing")
    finally:
        store.close()

    with contextlib.closing(sqlite3.connect(db)) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(principals)")]
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert columns[-2:] == ["limits", "suspension"]
    assert triggers == {"principals_version_insert", "principals_version_update", "principals_version_delete"}

    # Opening again (the columns are there now) changes nothing, and the changed row verifies.
    before = db.read_bytes()
    store = PrincipalStore(db, key, clock)
    try:
        alice = store.get("alice")
        assert (alice.intact, alice.daily_quota, alice.suspended_reason) == (True, 10, "testing")
    finally:
        store.close()
    assert db.read_bytes() == before


# --------------------------------------------------------------------------------------------
# tampering with the new columns
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "change"),
    [
        ("plain", "UPDATE principals SET limits = '{\"rate_limit\":1000000}' WHERE name = 'bob'"),
        ("limited", "UPDATE principals SET limits = NULL WHERE name = 'bob'"),
        ("limited", "UPDATE principals SET limits = '{\"daily_quota\":1000000,\"rate_limit\":5}' WHERE name = 'bob'"),
        ("suspended", "UPDATE principals SET suspension = NULL WHERE name = 'bob'"),
        ("suspended", "UPDATE principals SET suspension = NULL, limits = NULL WHERE name = 'bob'"),
        ("plain", """UPDATE principals SET suspension = '{"at":"x","by":"y","reason":null}' WHERE name = 'bob'"""),
        ("suspended", "UPDATE principals SET suspension = replace(suspension, 'probing', 'ok') WHERE name = 'bob'"),
    ],
)
def test_editing_limits_or_suspension_by_hand_breaks_the_mac(
    store: PrincipalStore, db: Path, setup: str, change: str
) -> None:
    _, token = store.add("bob", "client", by="admin", daily_quota=10 if setup != "plain" else None)
    if setup == "suspended":
        store.suspend("bob", by="admin", reason="probing")
    edit(db, change)
    bob = store.get("bob")
    assert not bob.intact
    assert bob.state(store.now()) == "tampered"
    assert not bob.allows("predict", "model:credit")
    with pytest.raises(IntegrityError, match="changed outside mlwarden"):
        store.authenticate(token.token)
    # Nothing may re-sign the edited record.
    for rewrite in (
        lambda: store.set_limits("bob", rate_limit=5),
        lambda: store.suspend("bob", by="admin"),
        lambda: store.resume("bob", by="admin"),
    ):
        with pytest.raises(IntegrityError):
            rewrite()
    assert not store.get("bob").intact


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("limits", '{"rate_limit":0}'),
        ("limits", '{"rate_limit":true}'),
        ("limits", '{"burst":5}'),
        ("limits", "{}"),
        ("limits", "not json"),
        ("suspension", '{"at":"t","by":"a"}'),
        ("suspension", '{"at":1,"by":"a","reason":null}'),
        ("suspension", "[]"),
    ],
)
def test_a_correctly_maced_but_malformed_value_is_not_trusted(
    store: PrincipalStore, db: Path, key: bytes, column: str, value: str
) -> None:
    """Whoever holds the MAC key could write nonsense; the record is refused rather than half-read."""
    store.add("bob", "client", by="admin")
    stored = row(db, "bob")
    fields = [stored[c] for c in (*OLD_COLUMNS, "limits", "suspension")]
    fields[11 if column == "limits" else 12] = value
    edit(db, f"UPDATE principals SET {column} = ?, mac = ? WHERE name = 'bob'", value, mac_of(key, fields))  # noqa: S608
    assert not store.get("bob").intact


# --------------------------------------------------------------------------------------------
# suspension
# --------------------------------------------------------------------------------------------


def test_suspend_refuses_the_token_and_resume_restores_it(store: PrincipalStore, clock: Clock) -> None:
    store.add("root", "admin", by="x")
    bob, token = store.add("bob", "client", by="root", rate_limit=50)
    clock.now = T0 + timedelta(minutes=5)
    done = store.suspend("bob", by="root", reason="too many near-boundary queries")
    assert (done.suspended, done.suspended_by) == ("2026-11-25T10:05:00.000000Z", "root")
    assert done.state(store.now()) == "suspended"
    assert done.rate_limit == 50  # the rest of the record is kept
    assert done.token_id == bob.token_id
    with pytest.raises(TokenRefused) as refused:
        store.authenticate(token.token)
    message = str(refused.value)
    assert refused.value.reason == "suspended"
    for needle in ("bob", "2026-11-25T10:05:00", "root", "too many near-boundary queries", "mlwarden user resume bob"):
        assert needle in message, message

    with pytest.raises(BadInput, match="already suspended"):
        store.suspend("bob", by="root")
    with pytest.raises(BadInput, match="own suspension"):
        store.resume("bob", by="bob")
    resumed = store.resume("bob", by="root")
    assert (resumed.suspended, resumed.suspended_by, resumed.suspended_reason) == (None, None, None)
    assert store.authenticate(token.token).name == "bob"
    with pytest.raises(BadInput, match="not suspended"):
        store.resume("bob", by="root")


def test_suspension_without_reason_and_its_limits(store: PrincipalStore, clock: Clock) -> None:
    store.add("root", "admin", by="x")
    _, token = store.add("bob", "client", by="root", expires=timedelta(hours=1))
    with pytest.raises(BadInput, match="500"):
        store.suspend("bob", by="root", reason="x" * 501)
    done = store.suspend("bob", by="root", reason="")
    assert (done.suspended_reason, done.suspended is not None) == (None, True)
    with pytest.raises(TokenRefused, match=r"by root; an admin can lift it"):
        store.authenticate(token.token)
    # A new token does not lift the suspension.
    _, fresh = store.reissue("bob")
    with pytest.raises(TokenRefused, match="suspended"):
        store.authenticate(fresh.token)
    # Expiry is reported before suspension.
    clock.now = T0 + timedelta(hours=2)
    assert store.get("bob").state(store.now()) == "expired"
    with pytest.raises(TokenRefused, match="expired"):
        store.authenticate(fresh.token)
    # A revoked principal stays revoked, and cannot be suspended.
    store.revoke("bob", by="root")
    assert store.get("bob").state(store.now()) == "revoked"
    store.add("carol", "client", by="root")
    store.revoke("carol", by="root")
    with pytest.raises(BadInput, match="revoked"):
        store.suspend("carol", by="root")


def test_the_last_active_admin_cannot_be_suspended(store: PrincipalStore) -> None:
    store.add("ann", "admin", by="x")
    with pytest.raises(BadInput, match="last active admin"):
        store.suspend("ann", by="x")
    store.add("ben", "admin", by="ann")
    store.suspend("ann", by="ben")
    with pytest.raises(BadInput, match="last active admin"):
        store.suspend("ben", by="x")
    with pytest.raises(BadInput, match="last active admin"):
        store.revoke("ben", by="x")  # a suspended admin does not count as active
    store.resume("ann", by="ben")
    store.suspend("ben", by="ann")


# --------------------------------------------------------------------------------------------
# the change counter
# --------------------------------------------------------------------------------------------


def test_data_version_moves_on_every_principal_change_and_only_then(
    store: PrincipalStore, db: Path, key: bytes, clock: Clock
) -> None:
    store.add("root", "admin", by="x")
    other = PrincipalStore(db, key, clock)
    try:
        start = store.data_version()
        assert store.data_version() == start  # nothing happened

        # Another connection's change (another process, or the server's own other store).
        other.add("bob", "client", by="root")
        moved = store.data_version()
        assert moved != start
        assert store.data_version() == moved
        other.suspend("bob", by="root")
        assert store.data_version() not in (start, moved)

        # This store's own changes, which PRAGMA data_version does not report.
        before = store.data_version()
        store.resume("bob", by="root")
        after_own = store.data_version()
        assert after_own != before
        assert store.data_version() == after_own
        store.set_limits("bob", rate_limit=3)
        assert store.data_version() != after_own

        # A hand edit of the table (any connection at all) moves it too.
        before = store.data_version()
        edit(db, "UPDATE principals SET role = 'admin' WHERE name = 'bob'")
        assert store.data_version() != before

        # Writes to the rest of the file (the audit log's appends) do not.
        before = store.data_version()
        edit(db, "CREATE TABLE IF NOT EXISTS scratch (x)")
        edit(db, "INSERT INTO scratch VALUES (1)")
        edit(db, "INSERT INTO scratch VALUES (2)")
        assert store.data_version() == before
    finally:
        other.close()


def test_data_version_without_its_counter_row_moves_on_every_commit(store: PrincipalStore, db: Path) -> None:
    """Someone emptied the counter table: every commit then counts as a change (never a stale cache)."""
    store.add("root", "admin", by="x")
    edit(db, "DELETE FROM principals_version")
    first = store.data_version()
    edit(db, "CREATE TABLE IF NOT EXISTS scratch (x)")
    assert store.data_version() != first


# --------------------------------------------------------------------------------------------
# the workspace: gates and the audit log
# --------------------------------------------------------------------------------------------


def opened(settings: Settings, token: str) -> Workspace:
    return Workspace.open(settings=settings, token=token)


def test_workspace_limits_are_gated_and_audited(settings: Settings, admin: Workspace) -> None:
    scorer, _ = admin.users.add("scorer", "client", rate_limit=120, daily_quota=10_000)
    assert scorer.limits == Limits(120, 10_000)
    (grant,) = [e for e in entries(admin) if e.resource == "user:scorer" and e.outcome == "allowed"]
    assert (grant.details["rate_limit"], grant.details["daily_quota"]) == (120, 10_000)
    with pytest.raises(BadInput, match="rate_limit"):
        admin.users.add("bad", "client", rate_limit=0)

    changed = admin.users.set_limits("scorer", rate_limit=None, daily_quota=500)
    assert changed.limits == Limits(DEFAULT_RATE_LIMIT, 500)
    (allowed,) = [e for e in entries(admin) if e.details.get("change") == "limits"]
    (done,) = [e for e in entries(admin)[allowed.seq + 1 :] if e.resource == "user:scorer"]
    assert (allowed.outcome, allowed.details["rate_limit"], allowed.details["daily_quota"]) == (
        "allowed",
        "default",
        500,
    )
    assert (done.outcome, done.details["rate_limit"], done.details["daily_quota"]) == (
        "succeeded",
        DEFAULT_RATE_LIMIT,
        500,
    )
    with pytest.raises(BadInput):
        admin.users.set_limits("scorer")
    assert admin.users.get("scorer").limits == Limits(DEFAULT_RATE_LIMIT, 500)

    # A steward may change only principals it could have granted; a scientist none.
    _, steward_token = admin.users.add("stew", "steward")
    _, sci_token = admin.users.add("sci", "scientist")
    with opened(settings, steward_token) as steward:
        with pytest.raises(AccessDenied, match="may not grant role client"):
            steward.users.set_limits("scorer", rate_limit=1)
        assert steward.users.set_limits("sci", daily_quota=99).daily_quota == 99
    with opened(settings, sci_token) as sci:
        with pytest.raises(AccessDenied, match=r"user\.manage"):
            sci.users.set_limits("scorer", rate_limit=1)
        with pytest.raises(AccessDenied, match=r"user\.read"):
            sci.users.get("scorer")
    assert admin.users.get("scorer").rate_limit is None
    denied = [e for e in entries(admin) if e.outcome == "denied" and e.details.get("change") == "limits"]
    assert {e.principal for e in denied} == {"stew", "sci"}
    assert admin.log.verify().ok


def test_workspace_suspend_and_resume(settings: Settings, admin: Workspace) -> None:
    bob, token = admin.users.add("bob", "scientist")
    long_reason = "r" * 450
    done = admin.users.suspend("bob", long_reason)
    assert (done.suspended_by, done.suspended_reason) == (admin.principal.name, long_reason)
    with pytest.raises(AccessDenied, match=r"suspended at .*`mlwarden user resume bob`"):
        opened(settings, token)
    refusal = [e for e in entries(admin) if e.action == "auth.token"]
    assert (refusal[-1].details["token"], refusal[-1].details["reason"]) == (bob.token_id, "suspended")
    (allowed,) = [e for e in entries(admin) if e.details.get("change") == "suspend"]
    (done,) = [e for e in entries(admin)[allowed.seq + 1 :] if e.resource == "user:bob"]
    assert (allowed.outcome, allowed.details["reason"]) == ("allowed", "r" * 200)
    assert (done.outcome, done.details["suspended_token"]) == ("succeeded", bob.token_id)
    assert [p.state(admin.users.now()) for p in admin.users.list() if p.name == "bob"] == ["suspended"]

    with pytest.raises(BadInput, match="already suspended"):
        admin.users.suspend("bob")
    assert admin.users.resume("bob").suspended is None
    with opened(settings, token) as again:
        assert again.principal.name == "bob"
    with pytest.raises(BadInput, match="last active admin"):
        admin.users.suspend(admin.principal.name)
    with pytest.raises(NotFound):
        admin.users.resume("nobody")
    with opened(settings, token) as scientist, pytest.raises(AccessDenied, match=r"user\.manage"):
        scientist.users.suspend("bob")


def test_suspend_for_server(settings: Settings, admin: Workspace) -> None:
    scorer, token = admin.users.add("scorer", "client")
    reason = "extraction monitor: " + "z" * 600
    done = admin.users.suspend_for_server("scorer", reason=reason, request_id="ab" * 12)
    assert (done.suspended_by, done.suspended_reason) == ("mlwarden-serve", reason[:500])
    (entry,) = [e for e in entries(admin) if e.action == "user.suspend"]
    assert (entry.principal, entry.resource, entry.outcome, entry.request_id) == (
        "mlwarden-serve",
        "user:scorer",
        "allowed",
        "ab" * 12,
    )
    assert entry.details == {
        "suspended_token": scorer.token_id,
        "reason": reason[:200],
        "operator": admin.principal.name,
    }
    with pytest.raises(AccessDenied, match="by mlwarden-serve"):
        opened(settings, token)

    # Already suspended: left as it is, nothing recorded.
    count = len(entries(admin))
    assert admin.users.suspend_for_server("scorer", reason="again").suspended == done.suspended
    assert len(entries(admin)) == count

    # The last active admin is not suspended: the attempt is recorded as failed.
    with pytest.raises(BadInput, match="last active admin"):
        admin.users.suspend_for_server(admin.principal.name, reason="extraction")
    tried = [e for e in entries(admin) if e.action == "user.suspend" and e.resource == f"user:{admin.principal.name}"]
    assert [e.outcome for e in tried] == ["allowed", "failed"]
    assert tried[1].details == {"error": "BadInput"}
    assert admin._principals.get(admin.principal.name).suspended is None
    assert admin.log.verify().ok


def test_only_a_server_operator_may_suspend_in_the_servers_name(settings: Settings, admin: Workspace) -> None:
    """A client (predict only) or a scientist must not suspend anyone as mlwarden-serve, nor learn who exists."""
    admin.users.add("bob", "admin")
    for role in ("client", "scientist"):
        _, token = admin.users.add(f"{role}-1", role)
        with opened(settings, token) as caller:
            for target in ("bob", "nobody"):
                with pytest.raises(AccessDenied, match=r"model\.serve"):
                    caller.users.suspend_for_server(target, reason="forged")
    assert admin.users.get("bob").suspended is None
    assert not [e for e in entries(admin) if e.action == "user.suspend"]
    denied = [e for e in entries(admin) if e.action == "model.serve" and e.outcome == "denied"]
    assert {(e.principal, e.details["subject"]) for e in denied} == {
        (f"{role}-1", target) for role in ("client", "scientist") for target in ("bob", "nobody")
    }
    _, token = admin.users.add("operator", "deployer")
    with opened(settings, token) as operator:
        assert operator.users.suspend_for_server("bob", reason="monitor").suspended_by == "mlwarden-serve"


def test_a_suspension_by_another_process_reaches_an_open_store(settings: Settings, admin: Workspace) -> None:
    """What the server relies on: its store sees the CLI's suspension through data_version."""
    _, token = admin.users.add("scorer", "client")
    server_view = admin._principals
    version = server_view.data_version()
    assert server_view.authenticate(token).name == "scorer"
    with Workspace.open(settings=settings) as cli_side:
        cli_side.users.suspend("scorer", "manual")
    assert server_view.data_version() != version
    with pytest.raises(TokenRefused, match="manual"):
        server_view.authenticate(token)


def test_the_cli_help_states_the_defaults() -> None:
    from mlwarden.cli import _users

    assert int(_users.DEFAULT_RATE_LIMIT_TEXT.replace(",", "")) == DEFAULT_RATE_LIMIT
    assert int(_users.DEFAULT_DAILY_QUOTA_TEXT.replace(",", "")) == DEFAULT_DAILY_QUOTA
