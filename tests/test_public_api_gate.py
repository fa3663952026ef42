"""One gate, whatever the entry point: every public method of the workspace and its services is audited.

The walk finds the methods by introspection, so a method added tomorrow is caught: it must either
have a real call here that leaves an audit entry, or be on :data:`UNAUDITED`, the short list of
reads (and the login itself) that ``docs/access.md`` lists too. No public attribute hands out a
key store, the principal store or the log writer.
"""

from __future__ import annotations

import base64
import inspect
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from mlwarden import Workspace
from mlwarden._services import FileService, KeyService, LogService, UserService
from mlwarden.access import Authenticator, PrincipalStore
from mlwarden.auditlog import AuditLog
from mlwarden.config import Settings
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._keyring import Keyring
from mlwarden.crypto._signing_keys import ModelSigningKeys
from mlwarden.errors import BadInput
from mlwarden.models import ModelRegistry
from mlwarden.store import Datasets

DOCS = Path(__file__).resolve().parents[1] / "docs" / "access.md"
KEY = base64.b64encode(b"\x07" * 32).decode()

SERVICES: dict[str, Callable[[Workspace], object]] = {
    "Workspace": lambda ws: ws,
    "KeyService": lambda ws: ws.keys,
    "UserService": lambda ws: ws.users,
    "LogService": lambda ws: ws.log,
    "FileService": lambda ws: ws.files,
    "Datasets": lambda ws: ws.datasets,
    "ModelRegistry": lambda ws: ws.models,
    "DataAuditService": lambda ws: ws.data_audits,
    "ExplanationService": lambda ws: ws.explanations,
    "MonitoringService": lambda ws: ws.monitoring,
    "PrivacyService": lambda ws: ws.privacy,
    "Authenticator": lambda ws: ws.authenticator,
}
"""Where each service is reached from a workspace (the walk covers each class's public methods)."""

UNAUDITED = {
    "Workspace.open": "the login: recorded with the first action (a refused token is recorded)",
    "Workspace.close": "releases database connections",
    "Workspace.datasets": "the service itself",
    "Workspace.models": "the service itself",
    "Workspace.data_audits": "the service itself",
    "Workspace.explanations": "the service itself",
    "Workspace.monitoring": "the service itself",
    "Workspace.privacy": "the service itself",
    "ModelRegistry.training_refs": "reads the signed provenance of a record the caller already holds",
    "ModelRegistry.retraining_needed": "catalog rows about a record the caller already holds (model ls shows it)",
    "KeyService.master_kind": "what unlocks the workspace (passphrase or env)",
    "KeyService.primary": "the primary key version number",
    "KeyService.data_key_count": "a count for a progress bar (key.read checked, a denial recorded)",
    "LogService.size": "a count for a progress bar (log.read checked, a denial recorded)",
    "UserService.now": "the time states are judged at",
    "Authenticator.login": "the workspace's login: a refused token is recorded, an accepted one with its first action",
    "Authenticator.authenticate": "the server's login: it records refusals itself (record_refused)",
    "Authenticator.changes": "a change counter for caches of logins",
    "Authenticator.state": "a principal's state, for the server's check of its operator",
    "Authenticator.system": "makes the gate for mlwarden's own decisions",
}
"""The only public members that write no audit entry when they succeed (``docs/access.md`` lists them)."""


@dataclass
class World:
    ws: Workspace
    tmp: Path
    csv: Path
    envelope: bytes
    setup: Any = None


def _rows() -> bytes:
    lines = ["age,amount,risk"] + [
        f"{20 + i % 40},{100 + 37 * i % 900},{'bad' if i % 3 else 'good'}" for i in range(60)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("gate")
    home = tmp / "ws"
    ws = Workspace.init(home, settings=Settings(home=home, master_key=KEY))
    csv = tmp / "credit.csv"
    csv.write_bytes(_rows())
    ws.datasets.put(csv, name="credit")
    ws.datasets.put(_rows() + b"30,500,good\n", name="credit", format="csv")
    ws.datasets.put(b"to shred", name="scratch", format="binary")
    ws.models.train("risk", "credit", "risk")
    ws.models.export("risk", 1, tmp / "export")
    _, reviewer = ws.users.add("rev", "reviewer")
    with Workspace.open(home, settings=Settings(home=home, master_key=KEY), token=reviewer) as other:
        other.models.approve("risk", 1)  # four eyes: promote (to production) needs it
    ws.users.add("sci", "scientist")
    ws.users.add("gone", "client")
    ws.users.add("paused", "client")
    ws.users.add("paused2", "client")
    envelope = ws.files.encrypt_bytes(b"secret rows")
    yield World(ws, tmp, csv, envelope)
    ws.close()


def _object_id(n: int) -> bytes:
    return n.to_bytes(4, "big") * 4


def _fernet(world: World) -> None:
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(_rows())
    world.ws.datasets.import_fernet(io.BytesIO(token), base64.urlsafe_b64decode(key), name="imported", origin="legacy")


def _window(world: World) -> None:
    from mlwarden.monitor import ProfileCounts

    info = world.ws.models.info("risk", 1)
    profile = world.ws.models.profile(info)
    counts = ProfileCounts(profile)
    counts.add_frame(world.ws.datasets.read_frame("credit", 1))
    world.ws.monitoring.record_window(
        info,
        profile_sha256=profile.sha256,
        started_at="2026-12-07T00:00:00Z",
        ended_at="2026-12-07T00:05:00Z",
        counts=counts,
    )


def _seal(world: World, n: int) -> bytes:
    out = io.BytesIO()
    world.ws.files.seal_object(_object_id(n), io.BytesIO(b"object"), out)
    return out.getvalue()


def _prepare(world: World) -> None:
    world.ws.models.prepare("risk", None, lambda info, loaded: (info.version, {}))


def _reinit(world: World) -> Workspace:
    home = world.tmp / "another"
    return Workspace.init(home, settings=Settings(home=home, master_key=KEY))


CALLS: dict[str, Callable[[World], Any]] = {
    # Returning a Workspace: measure its log instead (a new one).
    "Workspace.init": _reinit,
    "KeyService.versions": lambda w: w.ws.keys.versions(),
    "KeyService.signing_key": lambda w: w.ws.keys.signing_key(),
    "KeyService.signing_keys": lambda w: w.ws.keys.signing_keys(),
    "KeyService.rotate_signing_key": lambda w: w.ws.keys.rotate_signing_key(),
    "KeyService.rotate": lambda w: w.ws.keys.rotate(),
    "KeyService.destroy_version": lambda w: w.ws.keys.destroy_version(w.setup),
    "KeyService.change_master": lambda w: w.ws.keys.change_master(
        "env", settings=Settings(home=w.ws.home, new_master_key=KEY)
    ),
    "UserService.add": lambda w: w.ws.users.add("extra", "auditor"),
    "UserService.list": lambda w: w.ws.users.list(),
    "UserService.get": lambda w: w.ws.users.get("sci"),
    "UserService.revoke": lambda w: w.ws.users.revoke("gone"),
    "UserService.reissue": lambda w: w.ws.users.reissue("sci"),
    "UserService.set_limits": lambda w: w.ws.users.set_limits("sci", rate_limit=10),
    "UserService.suspend": lambda w: w.ws.users.suspend("paused", "testing"),
    "UserService.resume": lambda w: w.ws.users.resume("paused2"),
    "UserService.suspend_for_server": lambda w: w.ws.users.suspend_for_server("sci", reason="monitor"),
    "LogService.entries": lambda w: list(w.ws.log.entries()),
    "LogService.verify": lambda w: w.ws.log.verify(),
    "LogService.prove": lambda w: w.ws.log.prove(0),
    "LogService.checkpoint": lambda w: w.ws.log.checkpoint(),
    "LogService.requests_per_token": lambda w: w.ws.log.requests_per_token("2000-01-01T00:00:00.000000Z"),
    "FileService.encrypt": lambda w: w.ws.files.encrypt(io.BytesIO(b"abc"), io.BytesIO()),
    "FileService.decrypt": lambda w: w.ws.files.decrypt(io.BytesIO(w.envelope), io.BytesIO()),
    "FileService.encrypt_bytes": lambda w: w.ws.files.encrypt_bytes(b"abc"),
    "FileService.decrypt_bytes": lambda w: w.ws.files.decrypt_bytes(w.envelope),
    "FileService.shred": lambda w: w.ws.files.shred(io.BytesIO(w.ws.files.encrypt_bytes(b"x"))),
    "FileService.seal_object": lambda w: _seal(w, 1),
    "FileService.open_object": lambda w: w.ws.files.open_object(_object_id(2), io.BytesIO(w.setup), io.BytesIO()),
    "FileService.shred_object": lambda w: w.ws.files.shred_object(_object_id(3)),
    "Datasets.put": lambda w: w.ws.datasets.put(b"more", name="scratch2", format="binary"),
    "Datasets.import_fernet": _fernet,
    "Datasets.info": lambda w: w.ws.datasets.info("credit"),
    "Datasets.versions": lambda w: w.ws.datasets.versions("credit"),
    "Datasets.list": lambda w: w.ws.datasets.list(),
    "Datasets.open": lambda w: w.ws.datasets.open("credit").close(),
    "Datasets.get": lambda w: w.ws.datasets.get("credit", None, io.BytesIO()),
    "Datasets.read_bytes": lambda w: w.ws.datasets.read_bytes("credit"),
    "Datasets.read_frame": lambda w: w.ws.datasets.read_frame("credit"),
    "Datasets.read_frame_versioned": lambda w: w.ws.datasets.read_frame_versioned("credit"),
    "Datasets.check": lambda w: w.ws.datasets.check(),
    "Datasets.shred": lambda w: w.ws.datasets.shred("scratch", 1),
    "Datasets.collect_garbage": lambda w: w.ws.datasets.collect_garbage(),
    "Datasets.derive_without": lambda w: w.ws.datasets.derive_without("credit", 1, [0, 5]),
    "Datasets.erase": lambda w: w.ws.datasets.erase(
        "credit", 1, lambda frame: frame["age"] == 20, request="0" * 64, dry_run=True
    ),
    "ModelRegistry.background": lambda w: w.ws.models.background(w.ws.models.info("risk", 1)),
    "ModelRegistry.profile": lambda w: w.ws.models.profile(w.ws.models.info("risk", 1)),
    "Datasets.read_frames": lambda w: list(w.ws.datasets.read_frames("credit", 1, rows=25)[1]),
    "MonitoringService.drift": lambda w: w.ws.monitoring.drift("risk", 1, data=("credit", 2)),
    "MonitoringService.drift_between": lambda w: w.ws.monitoring.drift_between(("credit", 1), ("credit", 2)),
    "MonitoringService.performance": lambda w: w.ws.monitoring.performance("risk", 1, data=("credit", 2), rounds=100),
    "MonitoringService.record_window": _window,
    "MonitoringService.windows": lambda w: w.ws.monitoring.windows("risk", 1),
    "MonitoringService.reports": lambda w: w.ws.monitoring.reports(),
    "MonitoringService.read_report": lambda w: w.ws.monitoring.read_report(
        w.ws.monitoring.drift_between(("credit", 1), ("credit", 2)).stored.id
    ),
    "ExplanationService.explain": lambda w: w.ws.explanations.explain("risk", 1, data=("credit", 1), rows=[0, 1]),
    "ExplanationService.card": lambda w: w.ws.explanations.card("risk", 1),
    "ExplanationService.verify_card": lambda w: w.ws.explanations.verify_card(w.ws.explanations.card("risk", 1)[1]),
    "DataAuditService.run": lambda w: w.ws.data_audits.run("credit", "risk", version=1),
    "DataAuditService.find": lambda w: w.ws.data_audits.find("credit", "risk", version=1),
    "DataAuditService.report": lambda w: w.ws.data_audits.report(w.ws.data_audits.run("credit", "risk", version=1)),
    "DataAuditService.derive": lambda w: w.ws.data_audits.derive(w.ws.data_audits.run("credit", "risk", version=1)),
    "DataAuditService.accept": lambda w: _accept_refused(w),
    "DataAuditService.before_training": lambda w: w.ws.data_audits.before_training("credit", 1, "risk"),
    "ModelRegistry.train": lambda w: w.ws.models.train("risk", "credit", "risk", dataset_version=1),
    "ModelRegistry.register": lambda w: w.ws.models.register("copied", (w.tmp / "export" / "risk.skops").read_bytes()),
    "ModelRegistry.promote": lambda w: w.ws.models.promote("risk", 1, "production"),
    "ModelRegistry.approve": lambda w: _approve_refused(w),
    "ModelRegistry.approvals": lambda w: w.ws.models.approvals("risk", 1),
    "ModelRegistry.approval_of": lambda w: w.ws.models.approval_of(w.ws.models.info("risk", 1)),
    "ModelRegistry.retrain": lambda w: w.ws.models.retrain("risk", "credit", dataset_version=1, champion_version=1),
    "ModelRegistry.info": lambda w: w.ws.models.info("risk"),
    "ModelRegistry.versions": lambda w: w.ws.models.versions("risk"),
    "ModelRegistry.list": lambda w: w.ws.models.list(),
    "ModelRegistry.verify": lambda w: w.ws.models.verify("risk"),
    "ModelRegistry.load": lambda w: w.ws.models.load("risk"),
    "ModelRegistry.load_version": lambda w: w.ws.models.load_version("risk"),
    "ModelRegistry.export": lambda w: w.ws.models.export("risk", 1, w.tmp / "export2"),
    "ModelRegistry.prepare": _prepare,
    "ModelRegistry.sign_file": lambda w: w.ws.models.sign_file(w.csv, signature=w.tmp / "csv.sig"),
    "ModelRegistry.verify_file": lambda w: w.ws.models.verify_file(w.csv, signature=w.tmp / "verify.sig"),
    "ModelRegistry.load_file": lambda w: w.ws.models.load_file(w.tmp / "export" / "risk.skops"),
    "KeyService.revoke_signing_key": lambda w: w.ws.keys.revoke_signing_key(w.setup),
    "KeyService.pseudonym_keys": lambda w: w.ws.keys.pseudonym_keys(),
    "KeyService.rotate_pseudonym_key": lambda w: w.ws.keys.rotate_pseudonym_key(),
    "PrivacyService.columns": lambda w: w.ws.privacy.columns("credit"),
    "PrivacyService.discover": lambda w: w.ws.privacy.discover("credit", 1),
    "PrivacyService.set_class": lambda w: w.ws.privacy.set_class("credit", "age", "age", reason="it is the age"),
    "PrivacyService.allow_feature": lambda w: w.ws.privacy.allow_feature("credit", "amount", reason="reviewed"),
    "PrivacyService.check_training": lambda w: w.ws.privacy.check_training("credit", 1, "risk"),
    "PrivacyService.pseudonymise": lambda w: w.ws.privacy.pseudonymise(
        "credit", 1, columns=["amount"], reversible=True, new_name="credit-pz"
    ),
    "PrivacyService.reidentify": lambda w: w.ws.privacy.reidentify(
        [str(w.ws.datasets.read_frame("credit-pz")["amount"].iloc[0])], reason="test"
    ),
    "PrivacyService.subject_hash": lambda w: w.ws.privacy.subject_hash([("age", "30")]),
    "PrivacyService.forget": lambda w: w.ws.privacy.forget([("age", "59")], dataset="credit", dry_run=True),
    "PrivacyService.erasures": lambda w: w.ws.privacy.erasures(),
    "Authenticator.record_refused": lambda w: w.ws.authenticator.record_refused(None, "no-token", request_id="ab" * 12),
    "Authenticator.record_refused_async": lambda w: __import__("asyncio").run(
        w.ws.authenticator.record_refused_async(None, "no-token", request_id="ab" * 12)
    ),
}
"""A real call of each audited method, on one workspace (``w.setup``: what :data:`SETUP` made for it)."""


def _approve_refused(w: World) -> None:
    """The admin trained risk@1: its own approval is refused (four eyes), and the refusal is an entry."""
    from mlwarden.errors import AccessDenied

    with pytest.raises(AccessDenied, match="four eyes"):
        w.ws.models.approve("risk", 1)


def _accept_refused(w: World) -> None:
    """The clean audit has nothing to accept: refused, and the refusal is an entry all the same."""
    with pytest.raises(BadInput, match="no findings"):
        w.ws.data_audits.accept(w.ws.data_audits.run("credit", "risk", version=1), reason="reviewed")


def _retired_key(w: World) -> str:
    new, _ = w.ws.keys.rotate_signing_key()
    w.ws.keys.rotate_signing_key()
    return new.key_id


SETUP: dict[str, Callable[[World], Any]] = {
    "KeyService.destroy_version": lambda w: (w.ws.keys.rotate(), w.ws.keys.rotate().new_version - 1)[1],
    "KeyService.revoke_signing_key": _retired_key,
    "UserService.resume": lambda w: w.ws.users.suspend("paused2"),
    "FileService.open_object": lambda w: _seal(w, 2),
    "FileService.shred_object": lambda w: _seal(w, 3),
    "PrivacyService.reidentify": lambda w: w.ws.privacy.pseudonymise(
        "credit", 1, columns=["amount"], reversible=True, new_name="credit-pz"
    ),
    "ModelRegistry.verify_file": lambda w: w.ws.models.sign_file(w.csv, signature=w.tmp / "verify.sig"),
}
"""What a call needs done first, outside what is measured (the tests may run in any order)."""


def public_members(cls: type) -> list[str]:
    """The public methods and properties of ``cls`` (its own and inherited, not object's)."""
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, (staticmethod, classmethod, property)) or inspect.isfunction(attr):
            names.append(f"{cls.__name__}.{name}")
    return names


def walked(ws: Workspace) -> list[str]:
    return [name for label, get in SERVICES.items() for name in public_members(type(get(ws)))]


def test_every_public_method_is_called_here_or_listed_as_unaudited(world: World) -> None:
    members = set(walked(world.ws))
    unlisted = members - set(CALLS) - set(UNAUDITED)
    assert not unlisted, f"public methods neither audited here nor on the list of unaudited reads: {sorted(unlisted)}"
    assert set(CALLS) | set(UNAUDITED) <= members, "stale names"
    assert not set(CALLS) & set(UNAUDITED)


def test_the_unaudited_list_is_the_one_docs_access_md_gives() -> None:
    rows = [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    for name in UNAUDITED:
        cls, member = name.split(".")
        assert any(row.startswith(f"| `{cls}` `") and f"`{member}`" in row.split("|")[1] for row in rows), name
    # ... and back: every member the docs' table lists as unaudited is on the list.
    classes = {"Workspace", *SERVICES}
    documented = set()
    for row in rows:
        names = re.findall(r"`([^`]+)`", row.split("|")[1])
        if len(names) >= 2 and names[0] in classes:
            documented |= {f"{names[0]}.{member}" for member in names[1:]}
    assert documented == set(UNAUDITED)


@pytest.mark.parametrize("name", list(CALLS))
def test_each_audited_method_writes_an_entry(world: World, name: str) -> None:
    log = world.ws._audit
    world.setup = SETUP[name](world) if name in SETUP else None
    before = log.size()
    result = CALLS[name](world)
    if isinstance(result, Workspace):
        with result:
            assert result._audit.size() > 0, name
        return
    assert log.size() > before, f"{name} wrote no audit entry"


def test_no_public_attribute_hands_out_a_store_or_the_log_writer(world: World) -> None:
    raw = (Keyring, DataKeyStore, ModelSigningKeys, PrincipalStore, AuditLog)
    for label, get in SERVICES.items():
        service = get(world.ws)
        for name, value in vars(service).items():
            if not name.startswith("_"):
                assert not isinstance(value, raw), f"{label}.{name} is a {type(value).__name__}"
        for name, member in vars(type(service)).items():  # properties too
            if not name.startswith("_") and isinstance(member, property):
                value = getattr(service, name)
                assert not isinstance(value, raw), f"{label}.{name} is a {type(value).__name__}"
    for name, member in vars(Workspace).items():
        if not name.startswith("_") and isinstance(member, property):
            value = getattr(world.ws, name)
            assert not isinstance(value, raw), f"Workspace.{name} is a {type(value).__name__}"
    for service in (KeyService, UserService, LogService, FileService, Datasets, ModelRegistry, Authenticator):
        assert service.__name__ in SERVICES


def test_an_added_ungated_method_is_caught(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def peek(self: KeyService) -> int:
        return 0

    monkeypatch.setattr(KeyService, "peek", peek, raising=False)
    assert "KeyService.peek" in set(walked(world.ws)) - set(CALLS) - set(UNAUDITED)


def test_unaudited_reads_still_check_the_grant(world: World) -> None:
    from mlwarden.errors import AccessDenied

    _, token = world.ws.users.add("client-only", "client")
    with Workspace.open(world.ws.home, settings=Settings(home=world.ws.home, master_key=KEY), token=token) as client:
        before = world.ws._audit.size()
        with pytest.raises(AccessDenied):
            client.log.size()
        with pytest.raises(AccessDenied):
            client.keys.data_key_count()
        assert world.ws._audit.size() == before + 2  # each denial recorded
