"""Four eyes (``ws.models.approve``, ``approval_of``, ``promote``): nobody approves what they made, not
even an admin; production needs another principal's approval, bound to the SHA-256 approved and
lapsing with its approver's entitlement; every approval, promotion and refusal is in the log.

The workspace is the ``governed`` one (tests/conftest.py): ``credit-risk@1`` trained by ``sci``,
approved by ``rev``, promoted by ``dep``; each test works on a copy.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlwarden import models
from mlwarden.auditlog import AuditEntry
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, NotFound
from mlwarden.models import Approval


def tiny_model() -> bytes:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    return models.dumps(LogisticRegression().fit(x, [0, 1, 1, 0]))


def entries(ws: Any, **fields: object) -> list[AuditEntry]:
    return [e for e in ws._audit.entries() if all(getattr(e, k) == v for k, v in fields.items())]


@pytest.fixture
def gov(governed: Any, tmp_path: Path) -> Any:
    return governed.copy(tmp_path / "ws")


def test_the_champion_was_approved_by_another_principal(gov: Any) -> None:
    with gov.open("dep") as dep:
        info = dep.models.info("credit-risk", 1)
        found = dep.models.approval_of(info)
        assert found == Approval("credit-risk", 1, info.sha256, "rev", found.approved_at, "validation report VR-1")
        assert dep.models.approvals("credit-risk") == [found]
        assert dep.models.approvals("credit-risk", 1) == [found]
        asked = [e for e in entries(dep, action="model.read", outcome="succeeded") if "approved_by" in e.details]
        assert [(e.principal, e.details["approved_by"]) for e in asked] == [("dep", "rev")]
    with gov.open() as admin:
        promoted = entries(admin, action="model.promote", outcome="succeeded")
        assert [(e.principal, e.details["approved_by"]) for e in promoted] == [("dep", "rev")]
        approved = entries(admin, action="model.approve")
        assert [(e.principal, e.outcome) for e in approved] == [("rev", "allowed"), ("rev", "succeeded")]
        assert approved[-1].details["sha256"] == info.sha256


def test_nobody_approves_what_they_made_not_even_an_admin(gov: Any) -> None:
    with gov.open("sci") as sci:
        with pytest.raises(AccessDenied, match=r"lacks permission model\.approve"):
            sci.models.approve("credit-risk", 1)
        mine = sci.models.train("credit-risk", "credit", "creditability", dataset_version=1)
    with gov.open() as admin:
        trained = admin.models.train("credit-admin", "credit", "creditability", dataset_version=1)
        with pytest.raises(AccessDenied, match=r"trained or registered credit-admin@1.*four eyes"):
            admin.models.approve("credit-admin", 1)
        # registered by the admin, trained (says its provenance) by rev: neither may approve it
        admin.models.register("copied", tiny_model(), provenance={"trained_by": "rev"})
        with pytest.raises(AccessDenied, match="four eyes"):
            admin.models.approve("copied", 1)
        # the admin did not make credit-risk@2 (sci did): it may approve that one
        me = admin.principal.name
        assert admin.models.approve("credit-risk", mine.version).approved_by == me
        denied = entries(admin, action="model.approve", outcome="denied")
        assert [(e.principal, e.resource) for e in denied] == [
            ("sci", "model:credit-risk"),
            (me, "model:credit-admin"),
            (me, "model:copied"),
        ]
        assert "four eyes" in denied[1].details["rule"]
        assert admin.models.approval_of(trained) is None
    with gov.open("rev") as rev, pytest.raises(AccessDenied, match="four eyes"):
        rev.models.approve("copied", 1)


def test_production_needs_another_principals_approval(gov: Any) -> None:
    with gov.open("sci") as sci:
        challenger = sci.models.train("credit-risk", "credit", "creditability", dataset_version=1)
    with gov.open("dep") as dep:
        with pytest.raises(AccessDenied, match=r"credit-risk@2 has no approval.*mlwarden model approve credit-risk@2"):
            dep.models.promote("credit-risk", 2, "production")
        assert dep.models.approval_of(challenger) is None
        # staging and archiving need none
        assert dep.models.promote("credit-risk", 2, "staging").stage == "staging"
        with pytest.raises(BadInput, match="only `mlwarden retrain` makes candidates"):
            dep.models.promote("credit-risk", 2, "candidate")
        assert [v.stage for v in dep.models.versions("credit-risk")] == ["production", "staging"]
    with gov.open("rev") as rev:
        approval = rev.models.approve("credit-risk", 2, note="second look")
        assert (approval.sha256, approval.approved_by, approval.note) == (challenger.sha256, "rev", "second look")
    with gov.open("dep") as dep:
        assert dep.models.promote("credit-risk", 2, "production").stage == "production"
        assert [v.stage for v in dep.models.versions("credit-risk")] == ["archived", "production"]
        # a rollback: the old version's approval still holds
        assert dep.models.promote("credit-risk", 1, "production").stage == "production"
        refused = entries(dep, action="model.promote", outcome="denied")
        assert len(refused) == 1
        assert "has no approval" in refused[0].details["rule"]
        assert refused[0].details["stage"] == "production"


def test_an_approval_is_bound_to_the_sha256_it_approved(gov: Any) -> None:
    with gov.open("sci") as sci:
        sci.models.train("credit-risk", "credit", "creditability", dataset_version=1, seed=3)
    with gov.open("rev") as rev:
        rev.models.approve("credit-risk", 2)
    with contextlib.closing(sqlite3.connect(gov.settings.home / "catalog.db")) as conn:
        # the approval row moved onto version 1's bytes (as if copied from another version) ...
        (sha,) = conn.execute("SELECT sha256 FROM model_versions WHERE name = 'credit-risk' AND version = 1").fetchone()
        conn.execute("UPDATE model_approvals SET sha256 = ? WHERE version = 2", (sha,))
        conn.commit()
    with gov.open("dep") as dep:
        two = dep.models.info("credit-risk", 2)
        assert dep.models.approval_of(two) is None
        with pytest.raises(AccessDenied, match="no valid approval"):
            dep.models.promote("credit-risk", 2, "production")
        # ... and a version record carrying other bytes than the catalog's is not approved either
        one = dep.models.info("credit-risk", 1)
        assert dep.models.approval_of(one) is not None
        assert dep.models.approval_of(two.__class__(**{**two.to_json(), "version": 1})) is None


def test_an_approval_lapses_with_its_approvers_entitlement(gov: Any) -> None:
    with gov.open("dep") as dep:
        info = dep.models.info("credit-risk", 1)
    with gov.open() as admin:
        admin.users.suspend("rev", "on leave")
        assert admin.models.approval_of(info) is None
        admin.users.resume("rev")
        assert admin.models.approval_of(info) is not None
        admin.users.revoke("rev")
        assert admin.models.approval_of(info) is None
    with gov.open("dep") as dep, pytest.raises(AccessDenied, match=r"no valid approval \(approved by rev"):
        dep.models.promote("credit-risk", 1, "production")


def test_an_approver_outside_the_models_scope_never_counts(gov: Any) -> None:
    with gov.open() as admin:
        _, gov.tokens["rev-hr"] = admin.users.add("rev-hr", "reviewer", scopes=("hr-*",))
        admin.models.register("hr-model", tiny_model())
    with gov.open("rev-hr") as rev_hr:
        with pytest.raises(AccessDenied, match=r"lacks permission model\.approve on model:credit-risk"):
            rev_hr.models.approve("credit-risk", 1)
        assert rev_hr.models.approve("hr-model", 1).approved_by == "rev-hr"
    with gov.open() as admin:
        assert [a.approved_by for a in admin.models.approvals("credit-risk", 1)] == ["rev"]
        assert admin.models.approval_of(admin.models.info("hr-model", 1)) is not None


def test_archived_repeated_and_malformed_approvals_are_refused(gov: Any) -> None:
    with gov.open("sci") as sci:
        sci.models.train("credit-risk", "credit", "creditability", dataset_version=1)
    with gov.open("dep") as dep:
        dep.models.promote("credit-risk", 2, "archived")
    with gov.open("rev") as rev:
        with pytest.raises(BadInput, match="archived"):
            rev.models.approve("credit-risk", 2)
        with pytest.raises(AlreadyExists, match="rev approved credit-risk@1 already"):
            rev.models.approve("credit-risk", 1)
        for note in ("", "x" * 1001, "two\nlines"):
            with pytest.raises(BadInput, match="note"):
                rev.models.approve("credit-risk", 1, note=note)
        with pytest.raises(NotFound, match="no version 9"):
            rev.models.approve("credit-risk", 9)
        with pytest.raises(NotFound):
            rev.models.approvals("nothing")
        assert len(rev.models.approvals("credit-risk", 1)) == 1
        failed = entries(rev, action="model.approve", outcome="failed", request_id=rev._gate.request_id)
        assert [e.details["error"] for e in failed] == ["BadInput", "AlreadyExists", "NotFound"]
