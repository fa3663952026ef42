"""``ws.privacy`` end to end on a real workspace: discovery at put, a steward's corrections, the guard
before training, pseudonymisation that leaves no original value anywhere on disk, re-identification
per value, and the erasure of one person from every version (and the models trained on them)."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from people import people

from mlwarden._workspace import Workspace
from mlwarden.config import Settings
from mlwarden.errors import AccessDenied, BadInput, PersonalDataFindings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    with Workspace.init(settings=settings, key_source="env") as opened:
        yield opened


def as_user(settings: Settings, token: str) -> Workspace:
    return Workspace.open(settings=settings, token=token)


def every_file_bytes(home: Path) -> bytes:
    """Every byte of every file under the workspace (catalog and log databases, WAL files, objects)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def log_entries(ws: Workspace, action: str) -> list[dict[str, object]]:
    return [e.to_json() for e in ws.log.entries() if e.action == action]


# -- discovery and corrections --------------------------------------------------------------------


def test_put_classifies_the_columns_and_records_only_counts(ws: Workspace) -> None:
    table = people()
    ws.datasets.put(table, name="customers")
    classes = ws.privacy.columns("customers")
    kinds = {c: k.kind for c, k in classes.items()}
    assert kinds["email"] == "email"
    assert kinds["iban"] == "iban"
    assert kinds["age"] == "age"
    assert kinds["postcode"] == "postal_code"
    assert kinds["sex"] == "sex"
    assert kinds["income"] is None
    assert kinds["loan_amount"] is None
    assert classes["email"].category == "direct"
    assert classes["age"].category == "quasi"
    assert 0.5 < classes["email"].confidence <= 1.0
    put = log_entries(ws, "dataset.write")[-1]
    details = put["details"]
    assert isinstance(details, dict)
    assert details["pii_columns"] >= 5
    assert "email" in str(details["pii_kinds"])
    # evidence and the catalog rows are counts and rules, never a value
    for value in table["email"].head(50):
        assert value not in classes["email"].evidence


def test_a_steward_corrects_a_class_for_every_version_and_it_is_audited(ws: Workspace, settings: Settings) -> None:
    ws.datasets.put(people(), name="customers")
    ws.datasets.put(people(rows=260, seed=1), name="customers")
    _, steward = ws.users.add("stew", "steward")
    _, scientist = ws.users.add("sci", "scientist")
    with as_user(settings, scientist) as sci, pytest.raises(AccessDenied, match=r"dataset\.classify"):
        sci.privacy.set_class("customers", "customer_id", "person_name", reason="it names them")
    with as_user(settings, steward) as stew:
        with pytest.raises(BadInput, match="reason"):
            stew.privacy.set_class("customers", "customer_id", "person_name", reason="")
        with pytest.raises(BadInput, match="unknown personal-data kind"):
            stew.privacy.set_class("customers", "customer_id", "nickname", reason="x")
        corrected = stew.privacy.set_class("customers", "customer_id", "person_name", reason="ticket 7")
        assert (corrected.kind, corrected.source, corrected.decided_by) == ("person_name", "steward", "stew")
    for version in (1, 2):
        assert ws.privacy.columns("customers", version)["customer_id"].kind == "person_name"
    entry = log_entries(ws, "dataset.classify")[-1]
    assert entry["principal"] == "stew"
    assert entry["outcome"] == "succeeded"


# -- the guard before training --------------------------------------------------------------------


def test_train_refuses_direct_identifiers_until_pseudonymised_or_allowed(ws: Workspace, settings: Settings) -> None:
    ws.datasets.put(people(rows=400), name="customers")
    with pytest.raises(PersonalDataFindings, match="email") as refused:
        ws.models.train("risk", "customers", "default")
    assert "iban" in str(refused.value)
    assert "pseudonymise" in str(refused.value)
    assert ws.models.list() == []
    # pseudonymised, the tokens may be trained on; the quasi-identifiers go into the provenance and card
    done = ws.privacy.pseudonymise("customers", columns=["email", "iban", "customer_id"])
    trained = ws.models.train("risk", "customers", "default", dataset_version=done.version.version)
    personal = trained.provenance["personal_data"]
    assert personal["dataset"] == done.version.ref
    assert {q["column"] for q in personal["quasi_identifiers"]} >= {"age", "postcode", "sex"}
    assert set(personal["pseudonymised"]) >= {"email", "iban"}
    card, _ = ws.explanations.card("risk")
    section = card["sections"]["personal_data"]
    assert all(f"{c} (" in section["quasi_identifiers"] for c in ("age", "postcode", "sex"))
    assert "email" in section["pseudonymised_columns"]
    # a steward's allowance lets one direct identifier through, audited
    _, steward = ws.users.add("stew", "steward")
    with as_user(settings, steward) as stew:
        stew.privacy.allow_feature("customers", "email", reason="DPO approval 12")
    with pytest.raises(PersonalDataFindings, match="iban") as still:
        ws.models.train("risk", "customers", "default", dataset_version=1)
    assert "email" not in str(still.value)


# -- pseudonymisation -----------------------------------------------------------------------------


def test_pseudonymise_leaves_no_original_value_anywhere(ws: Workspace, settings: Settings) -> None:
    table = people(rows=300)
    ws.datasets.put(table, name="customers")
    done = ws.privacy.pseudonymise(
        "customers", columns=["email", "iban"], generalise="age=10,postcode=2", new_name="customers-pz"
    )
    assert done.version.ref == "customers-pz@1"
    assert done.tokenised == ("email", "iban")
    assert set(done.generalised) == {"age", "postcode"}
    assert done.k_anonymity is not None
    assert done.k_anonymity >= 1
    frame = ws.datasets.read_frame("customers-pz")
    assert list(frame.columns) == list(table.columns)
    assert frame["email"].str.match(r"^pz\d+_").all()
    assert not set(frame["email"]) & set(table["email"])
    assert not set(frame["iban"]) & set(table["iban"])
    assert set(frame["age"]).issubset({f"{d}-{d + 9}" for d in range(0, 130, 10)})
    assert frame["postcode"].str.fullmatch(r"\d\d\*").all()
    # equal values give equal tokens: a join on the token still works
    assert frame["email"].nunique() == table["email"].nunique()
    # the new version's schema statistics hold none of the originals either
    described = str(ws.datasets.info("customers-pz").schema)
    assert not any(v in described for v in table["email"].head(20))
    # the source is shredded so only the pseudonymised copy's bytes remain: then no original value of a
    # tokenised column is found in any file of the workspace (objects, catalog, log, WAL files)
    ws.datasets.shred("customers", 1)
    ws.close()
    raw = every_file_bytes(settings.home)
    for value in [*table["email"], *table["iban"]]:
        assert value.encode() not in raw


def test_tokens_join_across_datasets_and_reversible_ones_reidentify_per_value(
    ws: Workspace, settings: Settings
) -> None:
    a = people(rows=120)
    b = people(rows=60, seed=5)  # the same people (emails follow the row number), other figures
    ws.datasets.put(a, name="loans")
    ws.datasets.put(b, name="payments")
    one = ws.privacy.pseudonymise("loans", columns=["email"], reversible=True)
    two = ws.privacy.pseudonymise("payments", columns=["email"], reversible=True)
    left = ws.datasets.read_frame("loans", one.version.version)
    right = ws.datasets.read_frame("payments", two.version.version)
    joined = left.merge(right, on="email")
    assert len(joined) == 60
    token = str(left["email"].iloc[3])
    assert token.startswith("pr")
    _, officer = ws.users.add("dpo", "privacy-officer")
    _, scientist = ws.users.add("sci", "scientist")
    with as_user(settings, scientist) as sci, pytest.raises(AccessDenied, match=r"dataset\.reidentify"):
        sci.privacy.reidentify([token], reason="curious")
    with as_user(settings, officer) as dpo:
        assert dpo.privacy.reidentify([token, str(left["email"].iloc[4])], reason="court order 17") == [
            a["email"].iloc[3].casefold(),
            a["email"].iloc[4].casefold(),
        ]
        with pytest.raises(BadInput, match="not a reversible pseudonym"):
            dpo.privacy.reidentify(["pz1_" + "A" * 43], reason="x")
    entries = [e for e in log_entries(ws, "dataset.reidentify") if e["outcome"] == "succeeded"]
    assert len(entries) == 2
    assert all(a["email"].iloc[3] not in str(e) for e in entries)


def test_a_rotated_pseudonym_key_makes_new_tokens_and_old_ones_still_open(ws: Workspace) -> None:
    ws.datasets.put(people(rows=50), name="loans")
    before = ws.privacy.pseudonymise("loans", columns=["email"], reversible=True)
    ws.keys.rotate_pseudonym_key()
    after = ws.privacy.pseudonymise("loans", 1, columns=["email"], reversible=True, new_name="loans-k2")
    assert (before.key, after.key) == (1, 2)
    old = ws.datasets.read_frame("loans", before.version.version)["email"]
    new = ws.datasets.read_frame("loans-k2")["email"]
    assert not set(old) & set(new)
    assert ws.privacy.reidentify([str(old.iloc[0])], reason="audit") == [people(rows=1)["email"].iloc[0]]


# -- erasure --------------------------------------------------------------------------------------


def _three_versions(ws: Workspace) -> tuple[str, pd.DataFrame]:
    """customers@1 (300 rows), @2 (the same people and 100 more), @3 (@2 pseudonymised); a model on @3."""
    ws.datasets.put(people(rows=300), name="customers")
    ws.datasets.put(people(rows=400), name="customers")
    ws.privacy.pseudonymise("customers", 2, columns=["email", "iban", "customer_id"])
    ws.models.train("risk", "customers", "default", dataset_version=3)
    table = people(rows=400)
    return str(table["email"].iloc[7]), table


def test_forget_removes_a_person_from_three_versions_and_flags_the_model(ws: Workspace, settings: Settings) -> None:
    email, table = _three_versions(ws)
    iban = str(table["iban"].iloc[7])
    dry = ws.privacy.forget([("email", email.upper())], dry_run=True)  # canonical: e-mail case does not matter
    assert dry.dry_run
    assert [v.ref for v in dry.versions] == ["customers@1", "customers@2", "customers@3"]
    assert [v.matched for v in dry.versions] == [1, 1, 1]
    assert dry.models == ("risk@1",)
    assert [v.version for v in ws.datasets.versions("customers")] == [1, 2, 3]  # nothing changed
    assert ws.models.retraining_needed(ws.models.info("risk")) is None

    done = ws.privacy.forget([("email", email)])
    assert [(v.ref, v.matched, v.successor, v.shredded) for v in done.versions] == [
        ("customers@1", 1, "customers@4", True),
        ("customers@2", 1, "customers@5", True),
        ("customers@3", 1, "customers@6", True),
    ]
    assert done.models == ("risk@1",)
    why = ws.models.retraining_needed(ws.models.info("risk"))
    assert why is not None
    assert "customers@3" in why
    assert "customers@6" in why
    live = {v.version: v for v in ws.datasets.versions("customers") if not v.shredded}
    assert sorted(live) == [4, 5, 6]
    assert [live[n].rows for n in (4, 5, 6)] == [299, 399, 399]
    for n in (4, 5, 6):
        frame = ws.datasets.read_frame("customers", n)
        assert email not in set(frame["email"])
        assert iban not in set(frame["iban"])
    assert ws.privacy.columns("customers", 6)["email"].source == "pseudonymised"
    # the log and the catalog hold the keyed hash, never the value
    entries = log_entries(ws, "dataset.forget")
    assert entries
    assert all(email not in str(e) for e in entries)
    assert any(e["details"].get("subject") == done.subject[:32] for e in entries)  # type: ignore[union-attr]
    [request] = ws.privacy.erasures()
    assert request.subject == done.subject
    assert request.finished_at is not None
    # running it again changes nothing (and still names the shredded versions)
    again = ws.privacy.forget([("email", email)])
    assert [v.ref for v in again.versions] == ["customers@1", "customers@2", "customers@3"]
    assert len(ws.datasets.versions("customers")) == 6
    ws.close()
    raw = every_file_bytes(settings.home)
    assert email.encode() not in raw
    assert email.casefold().encode() not in raw


def test_forget_by_another_column_and_one_dataset_only(ws: Workspace) -> None:
    ws.datasets.put(people(rows=50), name="a")
    ws.datasets.put(people(rows=50), name="b")
    iban = str(people(rows=50)["iban"].iloc[2])
    done = ws.privacy.forget([("iban", iban)], dataset="a")
    assert [v.ref for v in done.versions] == ["a@1"]
    assert len(ws.datasets.read_frame("b")) == 50
    with pytest.raises(BadInput, match="COLUMN=VALUE"):
        ws.privacy.forget([("iban", " ")])
    nobody = ws.privacy.forget([("email", "nobody@example.net")])
    assert nobody.versions == ()
    assert nobody.searched == 2


def test_the_catalog_records_no_subject_value(ws: Workspace, settings: Settings) -> None:
    ws.datasets.put(people(rows=40), name="a")
    email = str(people(rows=40)["email"].iloc[1])
    ws.privacy.forget([("email", email)])
    ws.close()
    with sqlite3.connect(settings.home / "catalog.db") as conn:
        dumped = "\n".join(conn.iterdump())
    assert email not in dumped
    assert "erasures" in dumped


def test_the_server_warns_at_start_up_about_a_model_that_needs_retraining(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from mlwarden.serve._config import ServeConfig
    from mlwarden.serve._loading import load_models

    email, _ = _three_versions(ws)
    config = ServeConfig(models=("risk@1",), drift_window=0)
    with caplog.at_level(logging.WARNING, logger="mlwarden.serve"):
        served, failures = load_models(ws, config)
    assert failures == []
    assert "risk" in served
    assert "needs retraining" not in caplog.text
    ws.privacy.forget([("email", email)])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mlwarden.serve"):
        served, failures = load_models(ws, config)
    assert "risk" in served  # still served: taking it down is the deployer's call
    assert "risk@1 needs retraining" in caplog.text
    assert "customers@3" in caplog.text
    assert email not in caplog.text
