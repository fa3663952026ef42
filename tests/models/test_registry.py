"""The model registry (``ws.models``) through the Python API: training on the German credit data
with provenance inside the signed statement, export that the OpenSSF ``model_signing`` CLI
accepts, stages, access control and its audit trail, the catalog's migration, and what someone
who can write the workspace folder (but lacks the master key) tries: changed ciphertext, edited
catalog rows, foreign signatures, revoked keys, a doctored key index.

One workspace is trained once per module (``trained``); tests that change anything work on a copy.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import mlwarden
from mlwarden import models
from mlwarden.auditlog import AuditEntry
from mlwarden.config import Settings
from mlwarden.errors import (
    AccessDenied,
    AlreadyExists,
    BadInput,
    IntegrityError,
    MlwardenError,
    NotFound,
    SignatureError,
    UnsafeModel,
)
from mlwarden.models._signing import SINGLE_FILE, sign_digests, verify_bundle, verify_model
from mlwarden.usecases import GERMAN_CREDIT_SHA256, german_credit_csv

Workspace = mlwarden.Workspace
MODEL_SIGNING = Path(sys.executable).with_name("model_signing")
HR = b"name,salary,left\nbob,7731999,yes\nzed,98765,no\nann,5000,no\nkim,6100,yes\n"


# ------------------------------------------------------------------------------------------ helpers


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def features(n: int = 6) -> pd.DataFrame:
    frame = pd.read_csv(german_credit_csv())
    return frame.drop(columns=["creditability"]).head(n)


def tiny_model(c: float = 1.0) -> bytes:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    return models.dumps(LogisticRegression(C=c).fit(x, [0, 1, 1, 0]))


def copy_home(settings: Settings, to: Path) -> Settings:
    shutil.copytree(settings.home, to)
    return dataclasses.replace(settings, home=to)


def sql(home: Path, query: str, *args: Any) -> list[Any]:
    with contextlib.closing(sqlite3.connect(home / "catalog.db")) as conn:
        rows = conn.execute(query, args).fetchall()
        conn.commit()
    return rows


def object_path(home: Path, object_id: str) -> Path:
    return home / "models" / object_id[:2] / object_id


def entries(ws: Workspace) -> list[AuditEntry]:
    return list(ws._audit.entries())


def matching(ws: Workspace, **fields: object) -> list[AuditEntry]:
    return [e for e in entries(ws) if all(getattr(e, k) == v for k, v in fields.items())]


def approve(ws: Workspace, name: str, *versions: int) -> None:
    """Approve versions of ``name`` for production as a new reviewer (four eyes: not their maker)."""
    _, token = ws.users.add(f"rev-{os.urandom(4).hex()}", "reviewer")
    with Workspace.open(ws.home, settings=ws._settings, token=token) as reviewer:
        for version in versions:
            reviewer.models.approve(name, version)


@dataclasses.dataclass(frozen=True)
class Trained:
    settings: Settings
    version: Any  # the ModelVersion train returned


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A workspace holding credit-german and hr-salaries, with credit-x@1 trained (logistic) on the first."""
    home = tmp_path_factory.mktemp("trained") / "ws"
    settings = Settings(home=home, master_key=new_key())
    with Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(german_credit_csv(), name="credit-german")
        ws.datasets.put(HR, name="hr-salaries", format="csv")
        ws.datasets.put(os.urandom(64), name="blob", format="binary")
        version = ws.models.train("credit-x", "credit-german", "creditability", estimator="logistic")
    return Trained(settings, version)


@pytest.fixture
def ws(trained: Trained) -> Iterator[Workspace]:
    """The trained workspace, for tests that change nothing but the audit log."""
    with Workspace.open(settings=trained.settings) as workspace:
        yield workspace


@pytest.fixture
def copy(trained: Trained, tmp_path: Path) -> Settings:
    """Settings of a private copy of the trained workspace."""
    return copy_home(trained.settings, tmp_path / "ws")


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "fresh", master_key=new_key())


@pytest.fixture
def fresh(fresh_settings: Settings) -> Iterator[Workspace]:
    """An empty workspace (no datasets, no models)."""
    with Workspace.init(settings=fresh_settings, key_source="env") as workspace:
        yield workspace


# ------------------------------------------------------------------------------------ training


def test_train_records_dataset_metrics_schema_and_signed_provenance(ws: Workspace, trained: Trained) -> None:
    info = ws.models.info("credit-x")
    assert info == trained.version
    assert (info.name, info.version, info.format, info.stage, info.ref) == (
        "credit-x",
        1,
        "skops",
        "none",
        "credit-x@1",
    )
    data = ws.datasets.info("credit-german")
    dataset = info.provenance["dataset"]
    assert (dataset["name"], dataset["version"], dataset["sha256"]) == ("credit-german", 1, data.sha256)
    assert data.sha256 == GERMAN_CREDIT_SHA256
    assert dataset["rows"] == 1000

    metrics = info.metrics
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert 0.5 < metrics["accuracy"] <= 1.0
    assert (metrics["train_rows"], metrics["test_rows"]) == (750, 250)
    assert sorted(metrics["classes"]) == ["bad", "good"]
    assert info.provenance["metrics"] == metrics
    assert info.provenance["parameters"]["target"] == "creditability"
    assert info.provenance["parameters"]["estimator"] == "logistic"
    assert info.provenance["trained_by"] == ws.principal.name

    header = next(csv.reader(german_credit_csv().open()))
    columns = {c["name"]: c for c in info.input_schema["columns"]}
    assert list(columns) == [h for h in header if h != "creditability"]
    assert columns["age_in_years"]["type"] == "numeric"
    ages = pd.read_csv(german_credit_csv())["age_in_years"]
    assert columns["age_in_years"]["min"] >= ages.min()
    assert columns["age_in_years"]["max"] <= ages.max()
    assert columns["purpose"]["type"] == "categorical"
    assert "radio/television" in columns["purpose"]["categories"]

    # the provenance is inside the signed statement and equal to the catalog's
    version, verified = ws.models.verify("credit-x", 1)
    assert version == info
    assert verified.provenance == info.provenance
    assert verified.files == ((SINGLE_FILE, info.sha256),)
    active, _ = ws._signing_keys.active(by="root")
    assert verified.key_id == info.signing_key == active.key_id
    (bundle,) = sql(trained.settings.home, "SELECT signature FROM model_versions WHERE name = 'credit-x'")[0]
    statement = verify_bundle(bundle.encode(), active.public_key())
    assert statement.provenance == info.provenance
    assert statement.files == ((SINGLE_FILE, info.sha256),)
    loaded = ws.models.load("credit-x")
    assert loaded.sha256 == info.sha256
    assert loaded.signature.provenance == info.provenance
    assert list(loaded.model.classes_) == ["bad", "good"]
    # load_version: the same load, with the catalog row it read (what the server validates rows with).
    row, again = ws.models.load_version("credit-x", permission="model.serve")
    assert row == info
    assert again.sha256 == info.sha256


def test_train_is_audited_with_the_dataset_digest(ws: Workspace) -> None:
    registered = matching(ws, action="model.register", resource="model:credit-x")
    assert [e.outcome for e in registered] == ["allowed", "succeeded"]
    allowed, succeeded = registered
    assert allowed.details["dataset"] == "credit-german"
    assert succeeded.details["dataset_sha256"] == GERMAN_CREDIT_SHA256
    assert succeeded.details["dataset_version"] == 1
    assert succeeded.details["sha256"] == ws.models.info("credit-x").sha256
    reads = [e for e in matching(ws, action="dataset.read") if e.request_id == allowed.request_id]
    # the audit before training reads the data once, the fit once more
    assert [(e.resource, e.outcome) for e in reads] == [
        ("dataset:credit-german", "allowed"),
        ("dataset:credit-german", "succeeded"),
    ] * 2
    assert all(r.details["sha256"] == GERMAN_CREDIT_SHA256 for r in reads[1::2])
    audits = [e for e in matching(ws, action="dataset.audit") if e.request_id == allowed.request_id]
    assert [(e.resource, e.outcome) for e in audits] == [
        ("dataset:credit-german", "allowed"),
        ("dataset:credit-german", "succeeded"),
    ]
    assert allowed.seq < audits[0].seq < reads[0].seq < reads[1].seq < audits[1].seq < reads[3].seq < succeeded.seq
    assert succeeded.seq > max(e.seq for e in reads + audits)


def test_reads_are_audited(ws: Workspace) -> None:
    before = len(entries(ws))
    ws.models.info("credit-x")
    ws.models.verify("credit-x")
    ws.models.load("credit-x", 1)
    new = [e for e in entries(ws)[before:] if e.resource == "model:credit-x"]
    allowed = [e.details.get("what") for e in new if (e.action, e.outcome) == ("model.read", "allowed")]
    assert allowed == ["info", "verify", "load"]
    succeeded = [e.details for e in new if (e.action, e.outcome) == ("model.read", "succeeded")]
    assert [d.get("verified") for d in succeeded] == [True, None]
    assert all(d["sha256"] == ws.models.info("credit-x").sha256 for d in succeeded)


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"dataset": "credit-german", "target": "no-such-column"}, BadInput, "no column 'no-such-column'"),
        ({"dataset": "nothing-here", "target": "creditability"}, NotFound, "nothing-here"),
        ({"dataset": "credit-german", "target": "creditability", "estimator": "svm"}, BadInput, "unknown estimator"),
        ({"dataset": "credit-german", "target": "creditability", "test_size": 0.9}, BadInput, "held-out"),
        ({"dataset": "credit-german", "target": "creditability", "dataset_version": 7}, NotFound, "7"),
        ({"dataset": "hr-salaries", "target": "name"}, BadInput, "single row"),
        ({"dataset": "hr-salaries", "target": "salary"}, BadInput, "class 7731999 of 'salary' has a single row"),
        ({"dataset": "blob", "target": "x"}, BadInput, "not tabular"),
    ],
)
def test_train_refuses_bad_input_and_registers_nothing(
    ws: Workspace, kwargs: dict[str, Any], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        ws.models.train("credit-bad", **kwargs)
    with pytest.raises(NotFound):
        ws.models.info("credit-bad")


def test_train_drops_unlabelled_rows_and_records_how_many(fresh: Workspace) -> None:
    rows = [f"{i},{'ab'[i % 2]},{'' if i % 7 == 0 else 'yes' if i % 2 else 'no'}" for i in range(40)]
    fresh.datasets.put(("x,kind,y\n" + "\n".join(rows) + "\n").encode(), name="partly-labelled", format="csv")
    info = fresh.models.train("labelled", "partly-labelled", "y")
    assert info.metrics["unlabelled_rows_dropped"] == 6
    assert info.metrics["classes"] == ["no", "yes"]  # an empty cell is not a class
    assert info.provenance["metrics"]["unlabelled_rows_dropped"] == 6
    assert fresh.models.verify("labelled")[1].provenance["metrics"]["unlabelled_rows_dropped"] == 6


@pytest.mark.parametrize(
    ("csv_text", "needle"),
    [
        ("a,a,y\n" + "".join(f"{i},{i},{'yn'[i % 2]}\n" for i in range(20)), "2 columns named 'a'"),
        ("a,b,y\n" + "".join(f"{'inf' if i == 3 else i},{i},{'yn'[i % 2]}\n" for i in range(20)), "column 'a'"),
        ("d,b,y\n" + "".join(f"2024-01-{i + 1:02d},{i},{'yn'[i % 2]}\n" for i in range(20)), "column 'd' holds dates"),
        ("d,b,y\n" + "".join(f"2024-01-{i + 1:02d}T10:00:00,{i},{'yn'[i % 2]}\n" for i in range(20)), "dates"),
    ],
    ids=["duplicate", "inf", "date", "datetime"],
)
def test_train_refuses_columns_it_cannot_fit_before_registering(fresh: Workspace, csv_text: str, needle: str) -> None:
    """Each of these was an internal error (exit 70), or a model the registry then refused to scan."""
    fresh.datasets.put(csv_text.encode(), name="odd", format="csv")
    with pytest.raises(BadInput, match=re.escape(needle)):
        fresh.models.train("odd-model", "odd", "y")
    with pytest.raises(NotFound):
        fresh.models.info("odd-model")


def test_model_names_are_checked(fresh: Workspace) -> None:
    for name in ("", "../x", "a b", "x/y"):
        with pytest.raises(BadInput):
            fresh.models.register(name, tiny_model())
        with pytest.raises(BadInput):
            fresh.models.info(name)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["random-forest", "gradient-boosting"])
def test_train_other_estimators(copy: Settings, estimator: str) -> None:
    from threadpoolctl import threadpool_limits

    # One thread: OpenMP's spinning threads make gradient boosting 30x slower on a busy 2-core machine.
    with Workspace.open(settings=copy) as ws, threadpool_limits(1):
        info = ws.models.train("credit-t", "credit-german", "creditability", estimator=estimator, seed=3)
        assert info.provenance["parameters"]["estimator"] == estimator
        assert info.provenance["parameters"]["seed"] == 3
        assert 0.5 < info.metrics["roc_auc"] <= 1.0
        model = ws.models.load("credit-t").model
        assert set(model.predict(features(20))) <= {"good", "bad"}
        assert model.predict_proba(features(20)).shape == (20, 2)


# ------------------------------------------------------------------------------------ export


def test_export_makes_its_folder_but_not_missing_parents(ws: Workspace, tmp_path: Path) -> None:
    """``model export -o a/b/c`` once made every folder, while every other output refuses a typo."""
    with pytest.raises(NotFound, match=r"the folder of output .* does not exist"):
        ws.models.export("credit-x", 1, tmp_path / "a" / "b" / "c")
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_bytes(b"not a folder")
    with pytest.raises(BadInput, match="is not a folder"):
        ws.models.export("credit-x", 1, tmp_path / "file")
    target, signature = ws.models.export("credit-x", 1, tmp_path / "made")
    assert (target.parent, signature.parent) == (tmp_path / "made", tmp_path / "made")


def test_export_is_accepted_by_model_signing_and_loads_the_same(ws: Workspace, tmp_path: Path) -> None:
    target, signature = ws.models.export("credit-x", 1, tmp_path / "out")
    assert (target.name, signature.name) == ("credit-x.skops", "credit-x.skops.sig")
    info = ws.models.info("credit-x", 1)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == info.sha256
    pem = tmp_path / "public.pem"
    pem.write_text(ws._signing_keys.active(by="root")[0].public_pem)

    def openssf_verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MODEL_SIGNING), "verify", "key", str(target), "--signature", str(signature), "--public_key", str(pem)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    checked = openssf_verify()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "succeeded" in checked.stdout.lower()

    rows = features()
    expected = ws.models.load("credit-x", 1).model.predict_proba(rows)
    for loaded in (ws.models.load_file(target), models.load_verified(target, public_key=pem)):
        np.testing.assert_allclose(loaded.model.predict_proba(rows), expected)
        assert loaded.signature.provenance == info.provenance
    assert list(ws.models.load_file(target).model.predict(rows)) == list(ws.models.load("credit-x").model.predict(rows))

    with pytest.raises(AlreadyExists):
        ws.models.export("credit-x", 1, tmp_path / "out")

    # one changed byte: both verifiers refuse it
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x20
    target.write_bytes(bytes(data))
    assert openssf_verify().returncode != 0
    with pytest.raises(SignatureError):
        ws.models.load_file(target)


# -------------------------------------------------------------------------- tampering: the store


def test_a_changed_byte_of_the_encrypted_object_is_refused(copy: Settings, tmp_path: Path) -> None:
    (object_id,) = sql(copy.home, "SELECT object_id FROM model_versions WHERE name = 'credit-x'")[0]
    path = object_path(copy.home, object_id)
    with Workspace.open(settings=copy) as ws:
        approve(ws, "credit-x", 1)  # before the change: promotion is then refused for the change alone
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with Workspace.open(settings=copy) as ws:
        for call in (
            lambda: ws.models.load("credit-x"),
            lambda: ws.models.verify("credit-x"),
            lambda: ws.models.export("credit-x", 1, tmp_path / "out"),
            lambda: ws.models.promote("credit-x", 1, "production"),
        ):
            with pytest.raises(IntegrityError):
                call()
        assert not (tmp_path / "out" / "credit-x.skops").exists()
        assert ws.models.info("credit-x").stage == "none"
        failed = matching(ws, outcome="failed", request_id=ws._gate.request_id)
        assert [(e.action, e.details["error"]) for e in failed] == [
            ("model.read", "IntegrityError"),
            ("model.read", "IntegrityError"),
            ("model.read", "IntegrityError"),
            ("model.promote", "IntegrityError"),
        ]


def test_a_tampered_object_error_names_the_model(copy: Settings) -> None:
    (object_id,) = sql(copy.home, "SELECT object_id FROM model_versions WHERE name = 'credit-x'")[0]
    path = object_path(copy.home, object_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with Workspace.open(settings=copy) as ws, pytest.raises(IntegrityError, match="credit-x@1"):
        ws.models.verify("credit-x")


def test_a_truncated_or_missing_object_or_lost_data_key_is_refused(copy: Settings) -> None:
    (object_id,) = sql(copy.home, "SELECT object_id FROM model_versions WHERE name = 'credit-x'")[0]
    path = object_path(copy.home, object_id)
    original = path.read_bytes()
    with Workspace.open(settings=copy) as ws:
        path.write_bytes(original[:-1])
        with pytest.raises(IntegrityError):
            ws.models.load("credit-x")
        path.unlink()
        with pytest.raises(IntegrityError, match="missing from the store"):
            ws.models.load("credit-x")
        path.write_bytes(original)
        assert ws.models.load("credit-x").sha256 == ws.models.info("credit-x").sha256
        key_record = copy.home / "keys" / "data" / object_id[:2] / f"{object_id}.json"
        key_record.unlink()
        with pytest.raises(IntegrityError, match="lost its data key"):
            ws.models.verify("credit-x")


# ------------------------------------------------------------------------ tampering: the catalog


@pytest.mark.parametrize(
    ("column", "value"),
    [("sha256", "0" * 64), ("size", 12), ("signing_key", "e" * 64)],
)
def test_an_edited_catalog_row_is_refused(copy: Settings, column: str, value: Any) -> None:
    sql(copy.home, f"UPDATE model_versions SET {column} = ? WHERE name = 'credit-x'", value)  # noqa: S608
    with Workspace.open(settings=copy) as ws:
        for call in (lambda: ws.models.load("credit-x"), lambda: ws.models.verify("credit-x")):
            with pytest.raises(IntegrityError):
                call()


def test_an_edited_signature_is_refused(copy: Settings) -> None:
    (signature,) = sql(copy.home, "SELECT signature FROM model_versions WHERE name = 'credit-x'")[0]
    doc = json.loads(signature)
    sig = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 0x01
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    sql(copy.home, "UPDATE model_versions SET signature = ? WHERE name = 'credit-x'", json.dumps(doc))
    with Workspace.open(settings=copy) as ws:
        with pytest.raises(SignatureError):
            ws.models.load("credit-x")
        with pytest.raises(SignatureError):
            ws.models.verify("credit-x")
        sql(copy.home, "UPDATE model_versions SET signature = ? WHERE name = 'credit-x'", "{}")
        with pytest.raises(SignatureError):
            ws.models.load("credit-x")


def test_the_signature_of_another_version_is_refused(copy: Settings) -> None:
    with Workspace.open(settings=copy) as ws:
        ws.models.register("credit-x", tiny_model())
    (v2_signature,) = sql(copy.home, "SELECT signature FROM model_versions WHERE name = 'credit-x' AND version = 2")[0]
    sql(copy.home, "UPDATE model_versions SET signature = ? WHERE name = 'credit-x' AND version = 1", v2_signature)
    with Workspace.open(settings=copy) as ws:
        with pytest.raises(SignatureError, match="changed since signing"):
            ws.models.load("credit-x", 1)
        assert ws.models.load("credit-x", 2).sha256 == ws.models.info("credit-x", 2).sha256


def test_a_signature_by_a_foreign_key_is_refused(copy: Settings) -> None:
    (sha256, provenance) = sql(copy.home, "SELECT sha256, provenance_json FROM model_versions WHERE name = 'credit-x'")[
        0
    ]
    foreign = ec.generate_private_key(ec.SECP256R1())
    bundle = sign_digests("credit-x.skops", {SINGLE_FILE: sha256}, foreign, provenance=json.loads(provenance))
    foreign_id = verify_bundle(bundle, foreign.public_key()).key_id
    sql(copy.home, "UPDATE model_versions SET signature = ? WHERE name = 'credit-x'", bundle.decode())
    with Workspace.open(settings=copy) as ws:
        with pytest.raises(SignatureError, match="differs from the catalog"):
            ws.models.load("credit-x")
        sql(copy.home, "UPDATE model_versions SET signing_key = ? WHERE name = 'credit-x'", foreign_id)
        for call in (lambda: ws.models.load("credit-x"), lambda: ws.models.verify("credit-x")):
            with pytest.raises(SignatureError, match="unknown"):
                call()


def test_an_edited_provenance_in_the_catalog_is_refused(copy: Settings) -> None:
    (provenance,) = sql(copy.home, "SELECT provenance_json FROM model_versions WHERE name = 'credit-x'")[0]
    forged = json.loads(provenance)
    forged["dataset"]["sha256"] = "0" * 64
    sql(copy.home, "UPDATE model_versions SET provenance_json = ? WHERE name = 'credit-x'", json.dumps(forged))
    with Workspace.open(settings=copy) as ws, pytest.raises(IntegrityError):
        ws.models.verify("credit-x")


def test_another_models_object_and_signature_are_refused(copy: Settings) -> None:
    with Workspace.open(settings=copy) as ws:
        ws.models.register("credit-y", tiny_model())
    stolen = sql(
        copy.home, "SELECT object_id, sha256, size, signature, signing_key FROM model_versions WHERE name = 'credit-x'"
    )[0]
    sql(copy.home, "DELETE FROM model_versions WHERE name = 'credit-x'")  # object_id is unique
    sql(
        copy.home,
        "UPDATE model_versions SET object_id = ?, sha256 = ?, size = ?, signature = ?, signing_key = ? "
        "WHERE name = 'credit-y'",
        *stolen,
    )
    with Workspace.open(settings=copy) as ws, pytest.raises(IntegrityError):
        ws.models.load("credit-y")


# ----------------------------------------------------------------------------- signing keys


def test_revoked_keys_models_are_refused_and_retired_keys_models_load(copy: Settings, tmp_path: Path) -> None:
    with Workspace.open(settings=copy) as ws:
        first = ws.models.info("credit-x")
        new, old = ws._signing_keys.rotate(by="root")
        assert old is not None
        assert old.key_id == first.signing_key
        second = ws.models.register("credit-x", tiny_model())
        assert second.signing_key == new.key_id
        for version in (1, 2):  # retired and active
            assert ws.models.load("credit-x", version).sha256 == ws.models.info("credit-x", version).sha256
        approve(ws, "credit-x", 1, 2)
        ws.models.promote("credit-x", 1, "production")

        ws._signing_keys.revoke(first.signing_key[:10], by="root")
        for call in (
            lambda: ws.models.load("credit-x", 1),
            lambda: ws.models.verify("credit-x", 1),
            lambda: ws.models.export("credit-x", 1, tmp_path / "out"),
            lambda: ws.models.promote("credit-x", 1, "production"),
        ):
            with pytest.raises(SignatureError, match="revoked"):
                call()
        assert ws.models.load("credit-x", 2).sha256 == second.sha256
        ws.models.promote("credit-x", 2, "production")


def test_a_doctored_key_index_is_refused(copy: Settings) -> None:
    index = copy.home / "keys" / "model-signing.json"
    with Workspace.open(settings=copy) as ws:
        key = ws.models.info("credit-x").signing_key
        ws._signing_keys.revoke(key, by="root")
        doc = json.loads(index.read_text())
        doc["keys"][0]["state"] = "active"  # un-revoked by hand
        index.write_text(json.dumps(doc))
        with pytest.raises(IntegrityError):
            ws.models.load("credit-x")
        with pytest.raises(IntegrityError):
            ws.models.verify("credit-x")
        with pytest.raises(IntegrityError):
            ws.models.register("credit-x", tiny_model())


def test_models_survive_key_rotation_and_a_new_master_key(copy: Settings) -> None:
    new_master = new_key()
    with Workspace.open(settings=copy) as ws:
        ws.keys.rotate()
        ws.keys.destroy_version(1)
        assert ws.models.verify("credit-x")[1].key_id == ws.models.info("credit-x").signing_key
        ws.keys.change_master("env", settings=dataclasses.replace(copy, new_master_key=new_master))
    with Workspace.open(settings=dataclasses.replace(copy, master_key=new_master)) as ws:
        rows = features()
        assert set(ws.models.load("credit-x").model.predict(rows)) <= {"good", "bad"}
        assert ws.models.register("credit-x", tiny_model()).signing_key == ws.models.info("credit-x", 1).signing_key


# ---------------------------------------------------------------------------- register, stages


def test_register_versions_and_lookups(fresh: Workspace) -> None:
    v1 = fresh.models.register(
        "m", tiny_model(1.0), provenance={"p": 1}, input_schema={"columns": []}, metrics={"a": 0.5}
    )
    v2 = fresh.models.register("m", tiny_model(0.5))
    assert (v1.version, v2.version) == (1, 2)
    signed = {"p": 1, "model": {"name": "m", "version": 1}}  # the registry signs the name and number in
    assert (v1.provenance, v1.input_schema, v1.metrics) == (signed, {"columns": []}, {"a": 0.5})
    assert fresh.models.info("m") == v2
    assert fresh.models.info("m", 1) == v1
    assert [v.version for v in fresh.models.versions("m")] == [1, 2]
    assert [v.ref for v in fresh.models.list()] == ["m@1", "m@2"]
    with pytest.raises(NotFound, match="no version 9"):
        fresh.models.info("m", 9)
    with pytest.raises(NotFound, match="no model named"):
        fresh.models.info("nope")
    with pytest.raises(NotFound):
        fresh.models.versions("nope")
    assert fresh.models.verify("m", 1)[1].provenance == {"p": 1, "model": {"name": "m", "version": 1}}
    # every version has its own object and data key, and the stored bytes are not the plaintext
    objects = sorted(p for p in (fresh.home / "models").rglob("*") if p.is_file())
    assert len(objects) == 2
    plain = tiny_model(1.0)
    for path in objects:
        assert plain[:200] not in path.read_bytes()
        assert b"schema.json" not in path.read_bytes()


def test_register_refuses_pickles_and_other_formats(fresh: Workspace, tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {tmp_path / 'canary'}",))

    with pytest.raises(UnsafeModel, match="CRITICAL"):
        fresh.models.register("m", pickle.dumps(Evil()))
    joblib.dump(LogisticRegression(), tmp_path / "m.joblib")
    with pytest.raises(BadInput, match="registry holds skops models"):
        fresh.models.register("m", (tmp_path / "m.joblib").read_bytes())
    with pytest.raises(UnsafeModel):
        fresh.models.register("m", b"not a model")
    assert not (tmp_path / "canary").exists()
    assert fresh.models.list() == []
    assert not any(p.is_file() for p in (fresh.home / "models").rglob("*"))
    refused = matching(fresh, action="model.register", resource="model:m")
    assert [e.outcome for e in refused] == ["allowed", "failed"] * 3


def test_promote_moves_stages_and_archives_the_previous_production(fresh: Workspace) -> None:
    for c in (1.0, 0.5, 0.25):
        fresh.models.register("m", tiny_model(c))
    approve(fresh, "m", 1, 2, 3)
    assert fresh.models.promote("m", 1, "production").stage == "production"
    assert fresh.models.promote("m", 2, "staging").stage == "staging"
    promoted = fresh.models.promote("m", 2, "production")
    assert (promoted.stage, promoted.stage_changed_by) == ("production", fresh.principal.name)
    assert [v.stage for v in fresh.models.versions("m")] == ["archived", "production", "none"]
    fresh.models.promote("m", 3, "production")
    assert [v.stage for v in fresh.models.versions("m")] == ["archived", "archived", "production"]
    archived = [e for e in matching(fresh, action="model.promote", outcome="succeeded") if e.details["version"] == 3]
    assert archived[0].details["archived"] == "2"
    assert archived[0].details["previous"] == "none"
    for stage in ("none", "retired", ""):
        with pytest.raises(BadInput, match="unknown stage"):
            fresh.models.promote("m", 1, stage)
    with pytest.raises(BadInput, match="only `mlwarden retrain` makes candidates"):
        fresh.models.promote("m", 1, "candidate")
    with pytest.raises(NotFound):
        fresh.models.promote("m", 9, "staging")
    assert [v.stage for v in fresh.models.versions("m")] == ["archived", "archived", "production"]


# ------------------------------------------------------------------------------------- access


def test_access_by_role_and_scope(copy: Settings) -> None:
    with Workspace.open(settings=copy) as admin:
        admin.models.register("hr-model", tiny_model())
        _, alice_token = admin.users.add("alice", "scientist", scopes=("credit-*",))
        _, dan_token = admin.users.add("dan", "deployer")
        _, carol_token = admin.users.add("carol", "auditor")
        _, cleo_token = admin.users.add("cleo", "client")

    def as_(token: str) -> Workspace:
        return Workspace.open(settings=copy, token=token)

    with as_(alice_token) as alice:
        mine = alice.models.train("credit-y", "credit-german", "creditability")
        assert mine.created_by == "alice"
        assert mine.provenance["trained_by"] == "alice"
        with pytest.raises(AccessDenied, match=r"model\.register"):
            alice.models.train("hr-x", "credit-german", "creditability")
        with pytest.raises(AccessDenied, match=r"dataset\.(audit|read)"):  # a model in scope, data out of scope
            alice.models.train("credit-z", "hr-salaries", "left")
        with pytest.raises(AccessDenied, match=r"model\.promote"):
            alice.models.promote("credit-y", 1, "production")
        with pytest.raises(AccessDenied):
            alice.models.info("hr-model")
        with pytest.raises(AccessDenied):
            alice.models.load("hr-model")
        assert alice.models.info("credit-x").version == 1
        assert sorted(v.ref for v in alice.models.list()) == ["credit-x@1", "credit-y@1"]

    with Workspace.open(settings=copy) as admin:
        approve(admin, "credit-y", 1)
    with as_(dan_token) as dan:
        assert dan.models.promote("credit-y", 1, "production").stage == "production"
        assert dan.models.info("hr-model").version == 1
        assert dan.models.load("credit-y", permission="model.serve").sha256 == mine.sha256
        with pytest.raises(AccessDenied, match=r"model\.register"):
            dan.models.train("credit-d", "credit-german", "creditability")
        with pytest.raises(AccessDenied, match=r"model\.register"):
            dan.models.register("credit-d", tiny_model())
        assert sorted(v.ref for v in dan.models.list()) == ["credit-x@1", "credit-y@1", "hr-model@1"]

    for token in (carol_token, cleo_token):
        with as_(token) as other:
            for call in (
                lambda: other.models.info("credit-x"),
                lambda: other.models.list(),
                lambda: other.models.load("credit-x"),
                lambda: other.models.verify("credit-x"),
            ):
                with pytest.raises(AccessDenied, match=r"model\.read"):
                    call()
            with pytest.raises(AccessDenied):
                other.models.load("credit-x", permission="model.serve")

    with Workspace.open(settings=copy) as admin:
        assert [v.ref for v in admin.models.versions("credit-y")] == ["credit-y@1"]
        for name in ("hr-x", "credit-z", "credit-d"):
            with pytest.raises(NotFound):
                admin.models.info(name)
        log = entries(admin)
        denied = {(e.principal, e.action, e.resource) for e in log if e.outcome == "denied"}
        assert ("alice", "model.register", "model:hr-x") in denied
        assert ("alice", "dataset.audit", "dataset:hr-salaries") in denied  # the audit before training reads first
        assert ("alice", "model.promote", "model:credit-y") in denied
        assert ("dan", "model.register", "model:credit-d") in denied
        assert ("carol", "model.read", "model:credit-x") in denied
        assert ("cleo", "model.read", "model:credit-x") in denied
        failed = [e for e in log if e.principal == "alice" and e.resource == "model:credit-z"]
        assert [e.outcome for e in failed] == ["allowed", "failed"]
        promoted = [e for e in log if e.principal == "dan" and e.action == "model.promote"]
        assert [e.outcome for e in promoted] == ["allowed", "succeeded"]
        served = [e for e in log if e.principal == "dan" and e.action == "model.serve"]
        assert [e.outcome for e in served] == ["allowed", "succeeded"]


def test_out_of_scope_names_are_denied_whether_or_not_they_exist(copy: Settings) -> None:
    with Workspace.open(settings=copy) as admin:
        admin.models.register("hr-model", tiny_model())
        _, token = admin.users.add("alice", "scientist", scopes=("credit-*",))
    with Workspace.open(settings=copy, token=token) as alice:
        for name in ("hr-model", "hr-nothing"):  # the refusal says nothing about existence
            with pytest.raises(AccessDenied, match=r"model\.read"):
                alice.models.info(name)
            with pytest.raises(AccessDenied, match=r"model\.read"):
                alice.models.versions(name)
        with pytest.raises(NotFound):
            alice.models.info("credit-nothing")


def test_load_accepts_only_model_permissions(copy: Settings) -> None:
    with Workspace.open(settings=copy) as admin:
        _, token = admin.users.add("carol", "auditor")
    with Workspace.open(settings=copy, token=token) as carol:
        for permission in ("log.read", "key.read", "dataset.list"):
            with pytest.raises((AccessDenied, BadInput)):
                carol.models.load("credit-x", permission=permission)


def test_a_failed_catalog_write_leaves_no_object_and_shreds_its_key(fresh: Workspace, fresh_settings: Settings) -> None:
    fresh.models.register("m", tiny_model())
    objects_before = sorted(p for p in (fresh.home / "models").rglob("*") if p.is_file())
    keys_before = {p.name for p in (fresh.home / "keys" / "data").rglob("*.json")}
    with contextlib.closing(sqlite3.connect(fresh_settings.home / "catalog.db")) as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON model_versions BEGIN SELECT RAISE(ABORT, 'no room'); END")
        conn.commit()
    with pytest.raises(MlwardenError):
        fresh.models.register("m", tiny_model(0.5))
    assert sorted(p for p in (fresh.home / "models").rglob("*") if p.is_file()) == objects_before
    new_keys = [p for p in (fresh.home / "keys" / "data").rglob("*.json") if p.name not in keys_before]
    assert len(new_keys) == 1
    record = json.loads(new_keys[0].read_text())
    assert "shredded" in record
    assert "wrapped" not in record
    assert [v.version for v in fresh.models.versions("m")] == [1]
    assert [e.outcome for e in matching(fresh, action="model.register")] == [
        "allowed",
        "succeeded",
        "allowed",
        "failed",
    ]


# ---------------------------------------------------------------------------- catalog migration


def test_a_version_1_catalog_gains_the_model_table(fresh: Workspace, fresh_settings: Settings) -> None:
    settings = fresh_settings
    fresh.datasets.put(HR, name="hr-salaries")
    fresh.close()
    db = settings.home / "catalog.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE model_versions")
        conn.execute("DROP TABLE data_audits")
        conn.execute("UPDATE mlwarden_meta SET value = '1' WHERE key = 'catalog_version'")
        conn.commit()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "model_versions" not in tables
    with Workspace.open(settings=settings) as ws:
        assert ws.datasets.read_bytes("hr-salaries") == HR
        assert ws.models.list() == []
        assert ws.models.register("m", tiny_model()).version == 1
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM mlwarden_meta WHERE key = 'catalog_version'").fetchone() == ("5",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"model_versions", "data_audits"} <= tables
    with Workspace.open(settings=settings) as ws:  # and opens again as version 3
        assert [v.ref for v in ws.models.list()] == ["m@1"]


def test_a_version_2_catalog_gains_the_audit_table(fresh: Workspace, fresh_settings: Settings) -> None:
    settings = fresh_settings
    fresh.datasets.put(HR, name="hr-salaries")
    fresh.models.register("m", tiny_model())
    fresh.close()
    db = settings.home / "catalog.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE data_audits")
        conn.execute("UPDATE mlwarden_meta SET value = '2' WHERE key = 'catalog_version'")
        conn.commit()
    with Workspace.open(settings=settings) as ws:
        assert ws.datasets.read_bytes("hr-salaries") == HR
        assert [v.ref for v in ws.models.list()] == ["m@1"]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM mlwarden_meta WHERE key = 'catalog_version'").fetchone() == ("5",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "data_audits" in tables


def test_an_unknown_catalog_version_is_refused(fresh: Workspace, fresh_settings: Settings) -> None:
    settings = fresh_settings
    fresh.datasets.put(HR, name="hr-salaries")
    fresh.close()
    with contextlib.closing(sqlite3.connect(settings.home / "catalog.db")) as conn:
        conn.execute("UPDATE mlwarden_meta SET value = '99' WHERE key = 'catalog_version'")
        conn.commit()
    with Workspace.open(settings=settings) as ws, pytest.raises(BadInput, match="catalog format version 99"):
        ws.models.list()


def test_verified_export_matches_model_signing_format(ws: Workspace, tmp_path: Path) -> None:
    """Our own file verifier agrees with the registry about the exported pair."""
    target, signature = ws.models.export("credit-x", None, tmp_path)
    public = ws._signing_keys.find(ws.models.info("credit-x").signing_key).public_key()
    verified = verify_model(target, signature.read_bytes(), public)
    assert verified.provenance == ws.models.info("credit-x").provenance
    assert verified.model_name == "credit-x.skops"


def test_concurrent_registrations_get_distinct_signed_numbers(fresh: Workspace, fresh_settings: Settings) -> None:
    """Writers racing for the next number each end with their own version, whose signed provenance names it."""
    import threading

    blobs = [tiny_model(1.0 + i) for i in range(6)]
    made: list[int] = []
    errors: list[BaseException] = []

    def register(blob: bytes) -> None:
        try:
            with Workspace.open(settings=fresh_settings) as mine:
                made.append(mine.models.register("race", blob).version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(b,)) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(made) == list(range(1, len(blobs) + 1))
    with Workspace.open(settings=fresh_settings) as ws:
        for version in made:
            _, verified = ws.models.verify("race", version)
            assert verified.provenance is not None
            assert verified.provenance["model"] == {"name": "race", "version": version}
