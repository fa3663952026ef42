"""The one load (``mlwarden.models.load``): verify the signature, scan the same bytes, then load
them with skops trusting allow-listed types only; and ``models.save``, which never writes pickle.

What an attacker tries here: unsigned files, one changed byte, a signature by a foreign or
revoked key, a key hint that lies, a signed malicious pickle (a canary file shows nothing ran), a
signed skops file whose schema names ``os.system`` or a harmless type that is not allow-listed.
Every test runs with unpickling disabled: mlwarden must never need it.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import json
import os
import pickle
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import mlwarden
from mlwarden import models
from mlwarden.config import Settings
from mlwarden.errors import BadInput, IntegrityError, SignatureError, UnsafeModel
from mlwarden.models._signing import sign_model

Workspace = mlwarden.Workspace
PROVENANCE = {"dataset": {"name": "iris-ish", "version": 3, "sha256": "cd" * 32}, "note": "h\u00e9llo"}


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def estimator() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, y)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(7, 3))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    workspace = Workspace.init(settings=settings, key_source="env")
    yield workspace
    workspace.close()


@pytest.fixture
def private(ws: Workspace) -> ec.EllipticCurvePrivateKey:
    return ws._signing_keys.active(by="root")[1]


@pytest.fixture
def public_pem(ws: Workspace, tmp_path: Path) -> Path:
    path = tmp_path / "workspace.pem"
    path.write_text(ws._signing_keys.active(by="root")[0].public_pem)
    return path


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any unpickling during a test is a failure: the one load never unpickles. (Recorded as well as
    raised, since a loader that catches every exception would hide the raise.)"""
    import joblib

    calls: list[str] = []

    def refusing(name: str) -> Any:
        def refuse(*args: object, **kwargs: object) -> Any:
            calls.append(name)
            raise AssertionError(f"something called {name}")

        return refuse

    for module, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"), (joblib, "load")):
        monkeypatch.setattr(module, name, refusing(f"{module.__name__}.{name}"))
    yield
    assert calls == [], f"unpickling was attempted: {calls}"


def signed(path: Path, private: ec.EllipticCurvePrivateKey, **kwargs: Any) -> Path:
    """Sign ``path`` into ``path.sig``; returns the signature's path."""
    sig = path.with_name(path.name + ".sig")
    sig.write_bytes(sign_model(path, private, **kwargs))
    return sig


def saved(estimator: Any, folder: Path, private: ec.EllipticCurvePrivateKey, name: str = "model.skops") -> Path:
    path = folder / name
    models.save(estimator, path)
    signed(path, private, provenance=PROVENANCE)
    return path


def pem_of(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def with_schema(data: bytes, edit: Any) -> bytes:
    """A copy of a skops zip whose schema.json was changed by ``edit(schema)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename == "schema.json":
                schema = json.loads(content)
                edit(schema)
                content = json.dumps(schema).encode()
            dst.writestr(item, content)
    return out.getvalue()


class _OpensCanary:
    """Unpickling this opens (creates) a file: proof that it ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.open, (str(self.path), "w"))


class _RunsShell:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


# ---------------------------------------------------------------------------------------------- save


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "MODEL.PKL", "m.pickle", "m.pt", "m.sav", "m.dill"])
def test_save_refuses_pickle_paths(estimator: Any, tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput, match="pickle is refused"):
        models.save(estimator, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_save_writes_a_clean_skops_file_and_returns_its_digest(estimator: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    digest = models.save(estimator, path)
    data = path.read_bytes()
    assert digest == hashlib.sha256(data).hexdigest()
    assert zipfile.is_zipfile(path)
    result = models.scan_file(path)
    assert (result.format, result.findings, result.error) == ("skops", (), None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_what_save_writes_is_still_judged_on_load(ws: Workspace, private: Any, tmp_path: Path) -> None:
    """skops writes a lambda as a function reference; the one load refuses it (not allow-listed)."""
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "f.skops"
    models.save(FunctionTransformer(lambda x: x), path)
    signed(path, private)
    with pytest.raises(UnsafeModel, match="lambda"):
        ws.models.load_file(path)


# ------------------------------------------------------------------------------------ a good load


def test_signed_model_loads_and_predicts_the_same(
    estimator: Any, rows: np.ndarray, ws: Workspace, private: Any, public_pem: Path, tmp_path: Path
) -> None:
    path = saved(estimator, tmp_path, private)
    expected = estimator.predict_proba(rows)
    for key in (public_pem, str(public_pem), public_pem.read_bytes(), private.public_key()):
        model = models.load(path, public_key=key)
        np.testing.assert_allclose(model.predict_proba(rows), expected)
    loaded = ws.models.load_file(path)
    np.testing.assert_allclose(loaded.model.predict_proba(rows), expected)
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.signature.provenance == PROVENANCE
    assert loaded.signature.key_id == ws._signing_keys.active(by="root")[0].key_id
    assert loaded.signature.files == ((".", loaded.sha256),)
    assert loaded.signature.model_name == "model.skops"
    assert (loaded.scan.format, loaded.scan.findings) == ("skops", ())


def test_signature_may_live_elsewhere_and_the_model_may_be_renamed(
    estimator: Any, private: Any, public_pem: Path, tmp_path: Path, rows: np.ndarray
) -> None:
    path = saved(estimator, tmp_path, private)
    elsewhere = tmp_path / "sigs" / "anything.json"
    elsewhere.parent.mkdir()
    path.with_name(path.name + ".sig").rename(elsewhere)
    renamed = path.rename(tmp_path / "renamed.skops")
    with pytest.raises(SignatureError, match="no signature"):
        models.load(renamed, public_key=public_pem)
    model = models.load(renamed, signature=elsewhere, public_key=public_pem)
    np.testing.assert_allclose(model.predict_proba(rows), estimator.predict_proba(rows))


# ------------------------------------------------------------------------------------ signatures


def test_unsigned_model_is_refused_naming_the_missing_signature(
    estimator: Any, ws: Workspace, public_pem: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    models.save(estimator, path)
    loads = (lambda: ws.models.load_file(path), lambda: models.load(path, public_key=public_pem))
    for load in loads:
        with pytest.raises(SignatureError, match=r"no signature at .*model\.skops\.sig") as refused:
            load()
        assert "mlwarden model sign" in str(refused.value)
    assert isinstance(refused.value, IntegrityError)
    assert refused.value.exit_code == 3


def test_a_key_is_required(estimator: Any, private: Any, tmp_path: Path) -> None:
    path = saved(estimator, tmp_path, private)
    with pytest.raises(SignatureError, match="no key"):
        models.load(path)


@pytest.mark.parametrize("where", [0, 100, -100, -1])
def test_one_changed_byte_is_refused(
    estimator: Any, ws: Workspace, private: Any, public_pem: Path, tmp_path: Path, where: int
) -> None:
    path = saved(estimator, tmp_path, private)
    data = bytearray(path.read_bytes())
    data[where] ^= 0x01
    path.write_bytes(bytes(data))
    for load in (lambda: ws.models.load_file(path), lambda: models.load(path, public_key=public_pem)):
        with pytest.raises(SignatureError, match="changed since signing"):
            load()


def test_one_appended_byte_is_refused(estimator: Any, ws: Workspace, private: Any, tmp_path: Path) -> None:
    path = saved(estimator, tmp_path, private)
    with path.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(SignatureError):
        ws.models.load_file(path)


def test_the_signature_of_another_model_is_refused(estimator: Any, ws: Workspace, private: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    first = saved(estimator, tmp_path, private, "first.skops")
    other = tmp_path / "other.skops"
    models.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), other)
    with pytest.raises(SignatureError, match="changed since signing"):
        ws.models.load_file(other, signature=first.with_name("first.skops.sig"))


def test_an_altered_bundle_is_refused(estimator: Any, ws: Workspace, private: Any, tmp_path: Path) -> None:
    path = saved(estimator, tmp_path, private)
    sig = path.with_name(path.name + ".sig")
    doc = json.loads(sig.read_bytes())
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    statement["predicate"]["provenance"]["dataset"]["sha256"] = "00" * 32  # claim other training data
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match="does not verify"):
        ws.models.load_file(path)
    for garbage in (b"", b"{}", b"not json at all", os.urandom(64)):
        sig.write_bytes(garbage)
        with pytest.raises(SignatureError):
            ws.models.load_file(path)


def test_a_foreign_key_is_refused(
    estimator: Any, rows: np.ndarray, ws: Workspace, public_pem: Path, tmp_path: Path
) -> None:
    foreign = ec.generate_private_key(ec.SECP256R1())
    path = saved(estimator, tmp_path, foreign)
    with pytest.raises(SignatureError, match="does not know"):
        ws.models.load_file(path)
    with pytest.raises(SignatureError):
        models.load(path, public_key=public_pem)
    # whoever hands over the foreign key explicitly trusts it
    np.testing.assert_allclose(
        models.load(path, public_key=pem_of(foreign.public_key())).predict_proba(rows), estimator.predict_proba(rows)
    )


def test_a_bundle_whose_hint_lies_is_refused(estimator: Any, ws: Workspace, private: Any, tmp_path: Path) -> None:
    """Signed by a foreign key, but claiming (in its unsigned hint) the workspace's key id."""
    foreign = ec.generate_private_key(ec.SECP256R1())
    path = saved(estimator, tmp_path, foreign)
    sig = path.with_name(path.name + ".sig")
    doc = json.loads(sig.read_bytes())
    doc["verificationMaterial"]["publicKey"]["hint"] = ws._signing_keys.active(by="root")[0].key_id
    sig.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match="does not verify"):
        ws.models.load_file(path)
    doc["verificationMaterial"]["publicKey"]["hint"] = ""  # or no hint at all
    sig.write_text(json.dumps(doc))
    with pytest.raises(SignatureError):
        ws.models.load_file(path)


def test_revoked_keys_are_refused_and_retired_keys_still_load(
    estimator: Any, rows: np.ndarray, ws: Workspace, tmp_path: Path
) -> None:
    first, first_private = ws._signing_keys.active(by="root")
    old = saved(estimator, tmp_path, first_private, "old.skops")
    ws._signing_keys.rotate(by="root")
    _, second_private = ws._signing_keys.active(by="root")
    new = saved(estimator, tmp_path, second_private, "new.skops")

    for path in (old, new):  # retired and active
        np.testing.assert_allclose(ws.models.load_file(path).model.predict_proba(rows), estimator.predict_proba(rows))
    ws._signing_keys.revoke(first.key_id, by="root")
    with pytest.raises(SignatureError, match="revoked"):
        ws.models.load_file(old)
    assert ws.models.load_file(new).model is not None


def test_a_folder_signature_does_not_vouch_for_a_single_file(
    estimator: Any, ws: Workspace, private: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    path = folder / "model.skops"
    models.save(estimator, path)
    sig = tmp_path / "folder.sig"
    sig.write_bytes(sign_model(folder, private))
    with pytest.raises(SignatureError, match="covers a folder"):
        ws.models.load_file(path, signature=sig)


# --------------------------------------------------------------------- the scan, after the signature


@pytest.mark.parametrize("payload", [_OpensCanary, _RunsShell])
@pytest.mark.parametrize("name", ["evil.pkl", "evil.skops"])
def test_a_signed_malicious_pickle_is_refused_and_nothing_runs(
    ws: Workspace, private: Any, tmp_path: Path, payload: Any, name: str
) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(payload(canary)))
    signed(path, private)
    with pytest.raises(UnsafeModel, match=r"CRITICAL.*not loaded") as refused:
        ws.models.load_file(path)
    assert ("open" if payload is _OpensCanary else "system") in str(refused.value)
    assert not canary.exists()


def test_a_malicious_pickle_is_refused_by_its_signature_first(ws: Workspace, tmp_path: Path) -> None:
    """Unsigned, or signed by a stranger: refused for the signature, before its bytes are judged."""
    canary = tmp_path / "canary"
    path = tmp_path / "evil.skops"
    path.write_bytes(pickle.dumps(_OpensCanary(canary)))
    with pytest.raises(SignatureError, match="no signature"):
        ws.models.load_file(path)
    signed(path, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureError, match="does not know"):
        ws.models.load_file(path)
    assert not canary.exists()


def test_a_signed_clean_joblib_file_is_still_not_loaded(
    estimator: Any, ws: Workspace, private: Any, tmp_path: Path
) -> None:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path)
    assert models.scan_file(path).findings == ()  # clean: a scikit-learn pickle
    signed(path, private)
    with pytest.raises(UnsafeModel, match="joblib file: mlwarden loads only skops"):
        ws.models.load_file(path)


def test_a_signed_npy_or_unknown_file_is_not_loaded(ws: Workspace, private: Any, tmp_path: Path) -> None:
    npy = tmp_path / "a.npy"
    np.save(npy, np.arange(4))
    text = tmp_path / "notes.skops"
    text.write_bytes(b"just some text, no model here\n")
    for path in (npy, text):
        signed(path, private)
        with pytest.raises(UnsafeModel):
            ws.models.load_file(path)


@pytest.mark.parametrize(
    ("module", "cls", "needle"),
    [
        ("os", "system", "system"),
        ("posix", "system", "system"),
        ("builtins", "eval", "eval"),
        ("textwrap", "TextWrapper", "textwrap.TextWrapper"),  # harmless, but not on the allow-list
        ("string", "Formatter", "string.Formatter"),
    ],
)
def test_a_signed_skops_file_naming_an_unlisted_type_is_refused(
    estimator: Any, ws: Workspace, private: Any, tmp_path: Path, module: str, cls: str, needle: str
) -> None:
    def edit(schema: dict[str, Any]) -> None:
        # the pipeline's first step (the scaler) becomes the unlisted type
        steps = schema["content"]["content"]["steps"]["content"]
        scaler = steps[0]["content"][1]
        assert scaler["__class__"] == "StandardScaler"
        scaler["__module__"], scaler["__class__"] = module, cls

    path = tmp_path / "model.skops"
    path.write_bytes(with_schema(models.dumps(estimator), edit))
    signed(path, private)
    with pytest.raises(UnsafeModel, match="not loaded") as refused:
        ws.models.load_file(path)
    assert needle in str(refused.value)


def test_the_same_edit_with_a_listed_type_loads(estimator: Any, ws: Workspace, private: Any, tmp_path: Path) -> None:
    """The control for the test above: re-zipping with an allow-listed type is accepted."""

    def edit(schema: dict[str, Any]) -> None:
        scaler = schema["content"]["content"]["steps"]["content"][0]["content"][1]
        assert scaler["__module__"].startswith("sklearn.preprocessing")

    path = tmp_path / "model.skops"
    path.write_bytes(with_schema(models.dumps(estimator), edit))
    signed(path, private)
    assert ws.models.load_file(path).model is not None


def test_a_signed_skops_file_with_a_pickled_array_is_refused_and_nothing_runs(
    estimator: Any, ws: Workspace, private: Any, tmp_path: Path
) -> None:
    """An object-dtype .npy member (which holds a pickle) smuggled into a skops zip."""
    canary = tmp_path / "canary"
    smuggled = io.BytesIO()
    np.save(smuggled, np.array([_OpensCanary(canary)], dtype=object), allow_pickle=True)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(models.dumps(estimator))) as src, zipfile.ZipFile(out, "w") as dst:
        arrays = [i for i in src.infolist() if i.filename.endswith(".npy")]
        assert arrays
        for item in src.infolist():
            dst.writestr(item, smuggled.getvalue() if item.filename.endswith(".npy") else src.read(item))
    path = tmp_path / "model.skops"
    path.write_bytes(out.getvalue())
    signed(path, private)
    with pytest.raises(UnsafeModel) as refused:
        ws.models.load_file(path)
    assert "CRITICAL" in str(refused.value)
    assert not canary.exists()


def test_a_signed_corrupt_skops_file_is_refused(estimator: Any, ws: Workspace, private: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(models.dumps(estimator)[:-200])  # truncated zip
    signed(path, private)
    with pytest.raises(UnsafeModel):
        ws.models.load_file(path)


# ------------------------------------------------------------------------------------ bad arguments


def test_missing_or_folder_model_path_is_bad_input(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        ws.models.load_file(tmp_path / "absent.skops")
    with pytest.raises(BadInput, match="folder"):
        ws.models.load_file(tmp_path)


def test_public_keys_must_be_p256_pem(tmp_path: Path) -> None:
    not_pem = tmp_path / "k.pem"
    not_pem.write_text("hello")
    with pytest.raises(BadInput, match="not a PEM public key"):
        models.load_public_key(not_pem)
    with pytest.raises(BadInput, match="does not exist"):
        models.load_public_key(tmp_path / "absent.pem")
    with pytest.raises(BadInput, match="P-256"):
        models.load_public_key(pem_of(ec.generate_private_key(ec.SECP384R1()).public_key()))
    with pytest.raises(BadInput, match="P-256"):
        models.load_public_key(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()))
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert models.load_public_key(pem_of(key)).public_numbers() == key.public_numbers()
