"""Principals, the gate and the audit log through the Python API: scopes, grants, refused tokens,
tampered records, fail-closed auditing and the upgrade of a version 1 workspace."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import mlwarden
from mlwarden.access import new_token
from mlwarden.auditlog import AuditEntry, AuditUnavailable
from mlwarden.config import Settings
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Shredded

Workspace = mlwarden.Workspace

SECRET_VALUE = "zq-SENSITIVE-4b1e9c"  # a value only the datasets hold
CREDIT = f"id,amount,purpose\n1,1049,{SECRET_VALUE}\n2,2799,car\n".encode()
HR = b"name,salary\nbob,7731999\nzed,98765\n"


def entries(ws: Workspace) -> list[AuditEntry]:
    """Every entry, read straight from the log (recording nothing)."""
    return list(ws._audit.entries())


def matching(ws: Workspace, **fields: object) -> list[AuditEntry]:
    return [e for e in entries(ws) if all(getattr(e, k) == v for k, v in fields.items())]


def access_db_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.glob("access.db*")))


def all_file_bytes(home: Path, skip: tuple[Path, ...] = ()) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(home.rglob("*")):
        if path.is_file() and path not in skip:
            yield path, path.read_bytes()


def opened(settings: Settings, token: str, clock: Callable[[], datetime] | None = None) -> Workspace:
    if clock is None:
        return Workspace.open(settings=settings, token=token)
    return Workspace.open(settings=settings, token=token, clock=clock)


# --------------------------------------------------------------------------------------------
# the acceptance scenario
# --------------------------------------------------------------------------------------------


def test_scoped_scientist_auditor_and_refused_tokens(settings: Settings, admin: Workspace) -> None:
    admin.datasets.put(CREDIT, name="credit-german")
    admin.datasets.put(HR, name="hr-salaries")
    _, alice_token = admin.users.add("alice", "scientist", scopes=("credit-*",))
    _, carol_token = admin.users.add("carol", "auditor")
    dave, dave_token = admin.users.add("dave", "scientist", expires=timedelta(minutes=1))
    erin, erin_token = admin.users.add("erin", "scientist")
    admin.users.revoke("erin")
    tokens = {"alice": alice_token, "carol": carol_token, "dave": dave_token, "erin": erin_token}

    # alice: reads credit-*, nothing else, and writes nothing
    with opened(settings, alice_token) as alice:
        assert alice.principal.name == "alice"
        alice_request = alice._gate.request_id
        assert alice.datasets.read_bytes("credit-german") == CREDIT
        with pytest.raises(AccessDenied, match=r"dataset\.write") as denied:
            alice.datasets.put(b"id,amount,purpose\n", name="credit-german")
        assert "alice" in str(denied.value)
        with pytest.raises(AccessDenied, match=r"dataset\.read"):
            alice.datasets.read_bytes("hr-salaries")
        out = io.BytesIO()
        with pytest.raises(AccessDenied):
            alice.datasets.get("hr-salaries", None, out)
        assert out.getvalue() == b""
        with pytest.raises(AccessDenied, match=r"dataset\.list"):
            alice.datasets.info("hr-salaries")
        assert [d.name for d in alice.datasets.list()] == ["credit-german"]
        with pytest.raises(AccessDenied, match=r"log\.read"):
            alice.log.entries()
        with pytest.raises(AccessDenied, match=r"user\.manage"):
            alice.users.add("mallory", "scientist", scopes=("credit-*",))
    assert [v.version for v in admin.datasets.versions("credit-german")] == [1]

    # carol: the log and the listing, never the data
    with opened(settings, carol_token) as carol:
        carol_request = carol._gate.request_id
        assert any(e.action == "dataset.write" for e in carol.log.entries())
        assert carol.log.verify().ok
        checkpoint = carol.log.checkpoint()
        assert checkpoint.size == carol._audit.size()
        with pytest.raises(AccessDenied, match=r"dataset\.read"):
            carol.datasets.read_bytes("credit-german")
        assert sorted(d.name for d in carol.datasets.list()) == ["credit-german", "hr-salaries"]
        assert {p.name for p in carol.users.list()} >= {"alice", "carol", "dave", "erin"}

    # refused tokens
    with pytest.raises(AccessDenied, match="revoked"):
        opened(settings, erin_token)
    later = datetime.now(UTC) + timedelta(minutes=2)
    with pytest.raises(AccessDenied, match="expired"):
        opened(settings, dave_token, clock=lambda: later)
    with opened(settings, dave_token) as still_valid:  # not expired yet
        assert still_valid.principal.name == "dave"
    malformed = "mlw_not-a-token_" + "S" * 20
    with pytest.raises(AccessDenied, match="malformed"):
        opened(settings, malformed)
    unknown = new_token()
    with pytest.raises(AccessDenied, match="not valid"):
        opened(settings, unknown.token)
    wrong_secret = f"mlw_{alice_token.split('_')[1]}_{'A' * 43}"  # alice's token id, another secret
    with pytest.raises(AccessDenied, match="not valid"):
        opened(settings, wrong_secret)

    # the log holds each decision, with principal, action, resource and outcome
    def one(**fields: object) -> AuditEntry:
        found = matching(admin, **fields)
        assert len(found) == 1, (fields, found)
        return found[0]

    read = one(principal="alice", action="dataset.read", resource="dataset:credit-german", outcome="succeeded")
    assert read.request_id == alice_request
    assert read.details["version"] == 1
    one(principal="alice", action="dataset.write", resource="dataset:credit-german", outcome="denied")
    assert len(matching(admin, principal="alice", action="dataset.read", resource="dataset:hr-salaries")) == 2
    assert {e.outcome for e in matching(admin, principal="alice", resource="dataset:hr-salaries")} == {"denied"}
    one(principal="alice", action="dataset.list", resource="dataset:hr-salaries", outcome="denied")
    one(principal="alice", action="log.read", resource="log", outcome="denied")
    one(principal="alice", action="user.manage", resource="user:mallory", outcome="denied")
    alice_id = alice_token.split("_")[1]
    assert {e.details["token"] for e in matching(admin, principal="alice")} == {alice_id}
    assert all(e.request_id == alice_request for e in matching(admin, principal="alice"))

    carol_reads = matching(admin, principal="carol", action="log.read", resource="log", request_id=carol_request)
    # log_entries, then verify_log (allowed, and succeeded with its result)
    assert [e.outcome for e in carol_reads] == ["allowed", "allowed", "succeeded"]
    assert carol_reads[1].details["verify"] is True
    assert carol_reads[2].details["ok"] is True
    one(principal="carol", action="log.checkpoint", resource="log", outcome="allowed")
    one(principal="carol", action="dataset.read", resource="dataset:credit-german", outcome="denied")

    refusals = matching(admin, action="auth.token")
    assert all(e.principal == "-" and e.resource == "workspace" and e.outcome == "denied" for e in refusals)
    reasons = {(e.details["reason"], e.details["token"]) for e in refusals}
    assert reasons == {
        ("revoked", erin.token_id),
        ("expired", dave.token_id),
        ("malformed", None),
        ("unknown", unknown.token_id),
        ("wrong-secret", alice_id),
    }
    # Grants and revocations are recorded too.
    one(principal=admin.principal.name, action="user.manage", resource="user:alice", outcome="succeeded")
    revoked = [e for e in matching(admin, resource="user:erin", outcome="succeeded") if "revoked_token" in e.details]
    assert [e.details["revoked_token"] for e in revoked] == [erin.token_id]

    # no token, no secret and no data value is stored in the log (or anywhere in the database)
    raw = access_db_bytes(settings.home)
    text = "\n".join(json.dumps(e.to_json()) for e in entries(admin))
    secrets = [t.split("_", 2)[2] for t in [*tokens.values(), unknown.token]]  # the 43-character secrets
    for needle in [*tokens.values(), *secrets, unknown.token, malformed, "S" * 20]:
        assert needle.encode() not in raw, needle
        assert needle not in text, needle
    for needle in (SECRET_VALUE.encode(), b"7731999", b"bob,"):
        assert needle not in raw
        assert needle.decode() not in text
    # The principals' secrets are nowhere in the workspace; data values are only encrypted.
    for path, data in all_file_bytes(settings.home):
        for secret in secrets:
            assert secret.encode() not in data, path
        assert SECRET_VALUE.encode() not in data, path

    assert admin.log.verify().ok


def test_expiry_is_exact_to_the_clock(settings: Settings, admin: Workspace) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    ws = Workspace.open(settings=settings, clock=lambda: start)
    bob, token = ws.users.add("bob", "scientist", expires=timedelta(hours=12))
    ws.close()
    assert bob.expires == "2030-01-01T12:00:00.000000Z"
    just_before = start + timedelta(hours=12) - timedelta(microseconds=1)
    with opened(settings, token, clock=lambda: just_before) as ok:
        assert ok.principal.state(ok.users.now()) == "active"
    with pytest.raises(AccessDenied, match="expired"):
        opened(settings, token, clock=lambda: start + timedelta(hours=12))
    states = {p.name: p.state("2030-01-01T13:00:00.000000Z") for p in admin.users.list()}
    assert states["bob"] == "expired"


def test_workspace_open_uses_settings_token_then_saved_admin(settings: Settings, admin: Workspace) -> None:
    _, token = admin.users.add("alice", "scientist")
    with Workspace.open(settings=settings) as ws:
        assert ws.principal.name == admin.principal.name
    with_token = Settings(home=settings.home, master_key=settings.master_key, token=token)
    with Workspace.open(settings=with_token) as ws:
        assert ws.principal.name == "alice"
    (settings.home / "keys" / "admin.token").unlink()
    with pytest.raises(AccessDenied, match="no token"):
        Workspace.open(settings=settings)


# --------------------------------------------------------------------------------------------
# grants
# --------------------------------------------------------------------------------------------


def test_steward_grants_within_its_role_and_scopes(settings: Settings, admin: Workspace) -> None:
    root = admin.principal.name
    _, sam_token = admin.users.add("sam", "steward")
    _, sue_token = admin.users.add("sue", "steward", scopes=("credit-*",))

    with opened(settings, sam_token) as sam:
        sci, _ = sam.users.add("sci1", "scientist")
        aud, _ = sam.users.add("aud1", "auditor")
        assert (sci.role, sci.created_by, aud.role) == ("scientist", "sam", "auditor")
        for role in ("admin", "deployer", "steward", "client"):
            with pytest.raises(AccessDenied, match=role):
                sam.users.add(f"x-{role}", role)
        with pytest.raises(AccessDenied):
            sam.users.revoke(root)
        with pytest.raises(AccessDenied):
            sam.users.revoke("sue")  # a steward cannot grant steward, so cannot revoke one
        with pytest.raises(AlreadyExists):
            sam.users.add("sci1", "scientist")
        with pytest.raises(AlreadyExists):
            sam.users.add("sue", "auditor")

    with opened(settings, sue_token) as sue:
        narrow, _ = sue.users.add("sci2", "scientist", scopes=("credit-g*",))
        assert narrow.scopes == ("credit-g*",)
        sue.users.add("sci3", "auditor", scopes=("credit-german", "credit-*"))
        for scopes in (("*",), ("hr-*",), ("credit-g*", "hr-*"), ("cred*",)):
            with pytest.raises(AccessDenied, match="wider"):
                sue.users.add("sci4", "scientist", scopes=scopes)
        with pytest.raises(AccessDenied, match="wider"):
            sue.users.add("sci4", "scientist")  # no scope means '*'
        with pytest.raises(AccessDenied):
            sue.users.revoke(root)
        with pytest.raises(AccessDenied, match="wider"):
            sue.users.revoke("sci1")  # sci1 is on '*', wider than credit-*
        sue.users.revoke("sci2")

    names = {p.name: p for p in admin.users.list()}
    assert not {"x-admin", "x-deployer", "x-steward", "x-client", "sci4"} & set(names)
    assert names["sci2"].revoked is not None
    assert names["sci2"].revoked_by == "sue"
    assert names["sci1"].revoked is None
    assert names[root].revoked is None
    # Each refused grant is on record, and none succeeded.
    for name in ("x-admin", "x-deployer", "sci4"):
        found = matching(admin, resource=f"user:{name}")
        assert found, name
        assert "succeeded" not in {e.outcome for e in found}
        assert {e.outcome for e in found} & {"denied", "failed"}
        for e in found:
            if e.outcome == "failed":
                assert e.details["error"] == "AccessDenied"
    assert admin.log.verify().ok


def test_last_active_admin_cannot_be_revoked(settings: Settings, admin: Workspace) -> None:
    root = admin.principal.name
    with pytest.raises(BadInput, match="last active admin"):
        admin.users.revoke(root)
    _, second_token = admin.users.add("second", "admin")
    with opened(settings, second_token) as second:
        second.users.revoke(root)
        with pytest.raises(BadInput, match="last active admin"):
            second.users.revoke("second")
        with pytest.raises(BadInput, match="already revoked"):
            second.users.revoke(root)
        with pytest.raises(NotFound):
            second.users.revoke("nobody")
    with pytest.raises(AccessDenied, match="revoked"):
        Workspace.open(settings=settings)  # the saved admin token was root's


def test_add_user_rejects_bad_names_roles_scopes(admin: Workspace) -> None:
    with pytest.raises(AlreadyExists):
        admin.users.add(admin.principal.name, "scientist")
    for bad_name in ("", "a b", "../x", "x" * 65, "-x"):
        with pytest.raises(BadInput):
            admin.users.add(bad_name, "scientist")
    with pytest.raises(BadInput, match="role"):
        admin.users.add("bob", "wizard")
    with pytest.raises(BadInput, match="scope"):
        admin.users.add("bob", "scientist", scopes=("credit-?",))
    with pytest.raises(BadInput, match="kind"):
        admin.users.add("bob", "scientist", kind="robot")
    assert "bob" not in {p.name for p in admin.users.list()}


# --------------------------------------------------------------------------------------------
# tampering with principals
# --------------------------------------------------------------------------------------------


def test_edited_principal_row_is_refused(settings: Settings, admin: Workspace) -> None:
    mallory, token = admin.users.add("mallory", "scientist", scopes=("credit-*",))
    with sqlite3.connect(settings.home / "access.db") as conn:
        conn.execute("UPDATE principals SET role = 'admin' WHERE name = 'mallory'")
    conn.close()
    with pytest.raises(IntegrityError, match="mallory"):
        opened(settings, token)
    refusal = matching(admin, action="auth.token")
    assert len(refusal) == 1
    assert (refusal[0].outcome, refusal[0].details["token"]) == ("denied", mallory.token_id)
    assert refusal[0].details["reason"] == "tampered-record"
    assert admin.log.verify().ok


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE principals SET scopes = '[\"*\"]' WHERE name = 'mallory'",
        "UPDATE principals SET expires = NULL WHERE name = 'mallory'",
        "UPDATE principals SET revoked = NULL, revoked_by = NULL WHERE name = 'mallory'",
        "UPDATE principals SET mac = x'00' WHERE name = 'mallory'",
    ],
)
def test_other_row_edits_are_refused(settings: Settings, admin: Workspace, change: str) -> None:
    _, token = admin.users.add("mallory", "scientist", scopes=("credit-*",), expires=timedelta(days=1))
    admin.users.revoke("mallory")
    with sqlite3.connect(settings.home / "access.db") as conn:
        conn.execute(change)
    conn.close()
    with pytest.raises(IntegrityError, match="changed outside mlwarden"):
        opened(settings, token)


def test_swapped_token_hash_is_refused(settings: Settings, admin: Workspace) -> None:
    """Copying the admin's token hash onto another row does not let the admin token act as it."""
    admin.users.add("mallory", "scientist")
    with sqlite3.connect(settings.home / "access.db") as conn:
        (admin_hash,) = conn.execute(
            "SELECT token_hash FROM principals WHERE name = ?", (admin.principal.name,)
        ).fetchone()
        conn.execute("UPDATE principals SET token_hash = ? WHERE name = 'mallory'", (admin_hash,))
    conn.close()
    mallory = admin._principals.get("mallory")
    assert not mallory.intact
    assert mallory.state(admin.users.now()) == "tampered"
    assert not mallory.allows("dataset.list", "dataset:credit-german")


# --------------------------------------------------------------------------------------------
# fail closed
# --------------------------------------------------------------------------------------------


def _broken_write(*_args: object, **_kwargs: object) -> object:
    raise OSError(28, "No space left on device")


def test_unwritable_log_refuses_allowed_actions(admin: Workspace) -> None:
    admin.datasets.put(CREDIT, name="credit-german")
    size = admin._audit.size()
    admin._audit._write = _broken_write  # type: ignore[method-assign]
    try:
        with pytest.raises(AuditUnavailable) as refused:
            admin.datasets.put(HR, name="credit-german")
        assert refused.value.exit_code == 3
        with pytest.raises(AuditUnavailable):
            admin.datasets.put(HR, name="hr-salaries")
        out = io.BytesIO()
        with pytest.raises(AuditUnavailable):
            admin.datasets.get("credit-german", None, out)
        assert out.getvalue() == b""
        with pytest.raises(AuditUnavailable):
            admin.datasets.read_bytes("credit-german")
        with pytest.raises(AuditUnavailable):
            admin.users.add("bob", "scientist")
        with pytest.raises(AuditUnavailable):
            admin.datasets.shred("credit-german", 1)
        with pytest.raises(AuditUnavailable):
            admin.log.checkpoint()
    finally:
        del admin._audit._write
    assert admin._audit.size() == size
    assert [v.version for v in admin.datasets.versions("credit-german")] == [1]
    assert "hr-salaries" not in {d.name for d in admin.datasets.list()}
    assert "bob" not in {p.name for p in admin.users.list()}
    assert admin.datasets.read_bytes("credit-german") == CREDIT  # not shredded
    assert admin.log.verify().ok


def test_denied_action_is_refused_even_when_the_log_is_unwritable(settings: Settings, admin: Workspace) -> None:
    _, token = admin.users.add("alice", "scientist", scopes=("credit-*",))
    with opened(settings, token) as alice:
        alice._audit._write = _broken_write  # type: ignore[method-assign]
        with pytest.raises(AuditUnavailable):
            alice.datasets.put(HR, name="hr-salaries")
    assert "hr-salaries" not in {d.name for d in admin.datasets.list()}


# --------------------------------------------------------------------------------------------
# failed outcomes
# --------------------------------------------------------------------------------------------


def test_allowed_then_failed_actions_record_the_error_class(tmp_path: Path, admin: Workspace) -> None:
    missing = tmp_path / f"missing-{SECRET_VALUE}.csv"
    with pytest.raises(NotFound):
        admin.datasets.put(missing, name="credit-german")
    admin.datasets.put(CREDIT, name="credit-german")
    admin.datasets.shred("credit-german", 1)
    with pytest.raises(Shredded):
        admin.datasets.read_bytes("credit-german", 1)
    with pytest.raises(NotFound):
        admin.datasets.read_bytes("no-such-dataset")

    writes = [e.outcome for e in matching(admin, action="dataset.write", resource="dataset:credit-german")]
    assert writes == ["allowed", "failed", "allowed", "succeeded"]
    (failed_put,) = matching(admin, action="dataset.write", outcome="failed")
    assert failed_put.details["error"] == "NotFound"
    reads = matching(admin, action="dataset.read", resource="dataset:credit-german")
    assert [(e.outcome, e.details.get("error")) for e in reads] == [("allowed", None), ("failed", "Shredded")]
    (missing_read,) = matching(admin, action="dataset.read", resource="dataset:no-such-dataset", outcome="failed")
    assert missing_read.details["error"] == "NotFound"
    # The error's class only: never its message, which here would quote a path.
    assert SECRET_VALUE.encode() not in access_db_bytes(admin.home)
    assert admin.log.verify().ok


# --------------------------------------------------------------------------------------------
# upgrade of a version 1 workspace
# --------------------------------------------------------------------------------------------


def _make_v1(settings: Settings) -> None:
    home = settings.home
    for path in home.glob("access.db*"):
        path.unlink()
    shutil.rmtree(home / "keys" / "identity")
    (home / "keys" / "admin.token").unlink()
    meta = json.loads((home / "workspace.json").read_text())
    meta["version"] = 1
    (home / "workspace.json").write_text(json.dumps(meta, indent=2) + "\n")


def test_version_1_workspace_is_upgraded_on_open(settings: Settings, admin: Workspace) -> None:
    admin.datasets.put(CREDIT, name="credit-german")
    old_token = (settings.home / "keys" / "admin.token").read_text().strip()
    workspace_id = admin.id
    admin.close()
    _make_v1(settings)

    with Workspace.open(settings=settings) as ws:
        assert ws.id == workspace_id
        assert ws.principal.role == "admin"
        assert ws.datasets.read_bytes("credit-german") == CREDIT
        assert ws.log.verify().ok
        actions = [e.action for e in entries(ws)]
        assert actions[:2] == ["workspace.upgrade", "user.manage"]
    token_file = settings.home / "keys" / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    new_token_text = token_file.read_text().strip()
    assert new_token_text != old_token
    assert json.loads((settings.home / "workspace.json").read_text())["version"] == 2
    with pytest.raises(AccessDenied):
        opened(settings, old_token)

    # Opening again does not upgrade twice.
    with Workspace.open(settings=settings) as ws:
        assert [e.action for e in entries(ws)].count("workspace.upgrade") == 1
        assert token_file.read_text().strip() == new_token_text


def test_version_2_workspace_without_access_db_is_refused(settings: Settings, admin: Workspace) -> None:
    admin.close()
    for path in settings.home.glob("access.db*"):
        path.unlink()
    with pytest.raises(IntegrityError, match="access database"):
        Workspace.open(settings=settings)
    assert not (settings.home / "access.db").exists()


# --------------------------------------------------------------------------------------------
# once bugs, kept as regression tests
# --------------------------------------------------------------------------------------------


def test_expiry_beyond_the_calendar_is_bad_input(admin: Workspace) -> None:
    with pytest.raises(BadInput):
        admin.users.add("bob", "scientist", expires=timedelta(weeks=999_999))


def test_admin_can_re_add_a_tampered_principal(settings: Settings, admin: Workspace) -> None:
    """The refusal says the principal "is refused until an admin re-adds it": that must be possible."""
    admin.users.add("mallory", "scientist")
    with sqlite3.connect(settings.home / "access.db") as conn:
        conn.execute("UPDATE principals SET role = 'admin' WHERE name = 'mallory'")
    conn.close()
    _, token = admin.users.add("mallory", "scientist")
    with opened(settings, token) as mallory:
        assert mallory.principal.role == "scientist"


def test_verify_log_with_a_checkpoint_is_gated_first(settings: Settings, admin: Workspace) -> None:
    _, token = admin.users.add("alice", "scientist")
    with opened(settings, token) as alice, pytest.raises(AccessDenied, match=r"log\.read"):
        alice.log.verify("not a checkpoint")
    assert matching(admin, principal="alice", action="log.read", outcome="denied")
