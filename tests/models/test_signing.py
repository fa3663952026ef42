"""Model signatures in the OpenSSF ``model-signing`` format: interoperability with the reference library
(its CLI and its Python API, both ways), byte-for-byte agreement on digests, names and the statement,
tampering, malformed and fuzzed bundles, and the file walk (parallel hashing, symlinks, ignored paths).

``model_signing`` 1.1.1 is a test-only dependency: it is the oracle here, never imported by mlwarden.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.errors import BadInput, NotFound, SignatureError
from mlwarden.models._signing import (
    DEFAULT_IGNORE,
    VerifiedModel,
    bundle_key_id,
    hash_model,
    key_id,
    sign_digests,
    sign_model,
    verify_bundle,
    verify_model,
)

PAYLOAD_TYPE = "application/vnd.in-toto+json"
MALFORMED = r"^malformed model signature: "
PROVENANCE = {"builder": "mlwarden", "dataset": {"name": "iris", "sha256": "ab" * 32}, "params": [1, 2.5, None, True]}


# ------------------------------------------------------------------------------------------ helpers


@dataclasses.dataclass(frozen=True)
class Keys:
    private: ec.EllipticCurvePrivateKey
    public: ec.EllipticCurvePublicKey
    private_pem: Path
    public_pem: Path


def _keys(folder: Path, curve: ec.EllipticCurve | None = None) -> Keys:
    folder.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(curve or ec.SECP256R1())
    private_pem = folder / "private.pem"
    public_pem = folder / "public.pem"
    private_pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_pem.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return Keys(private, private.public_key(), private_pem, public_pem)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return _keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return _keys(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture
def ms() -> Any:
    return pytest.importorskip("model_signing")


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _make_model(root: Path) -> Path:
    """A folder with nested subfolders, awkward names, git files and an empty folder."""
    _write(root / "config.json", b'{"layers": 3}\n')
    _write(root / "weights" / "a.bin", os.urandom(70_000))
    _write(root / "weights" / "shards" / "b.bin", os.urandom(3_000))
    _write(root / "weights" / "shards" / "deep" / "c.bin", b"")
    # 'a/b' sorts before 'a-c' component-wise, but after it as a string ('-' < '/').
    _write(root / "a" / "b", b"ab")
    _write(root / "a-c", b"a-c")
    _write(root / "tokenizer" / "v\u00f6cab \u2603.txt", "h\u00e9llo".encode())
    _write(root / ".git" / "HEAD", b"ref: refs/heads/main\n")
    _write(root / ".gitignore", b"*.tmp\n")
    (root / "empty" / "nested-empty").mkdir(parents=True)
    return root


def _statement(bundle: bytes) -> dict[str, Any]:
    doc = json.loads(bundle)
    return json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))  # type: ignore[no-any-return]


def _pae(payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)


def _resign(bundle: bytes, statement: Any, private: ec.EllipticCurvePrivateKey, *, raw: bytes | None = None) -> bytes:
    """``bundle`` with its payload replaced by ``statement`` (or ``raw`` bytes) and signed again with ``private``:
    test-side DSSE, independent of the code under test."""
    doc = json.loads(bundle)
    payload = raw if raw is not None else json.dumps(statement, indent=2).encode()
    signature = private.sign(_pae(payload), ec.ECDSA(hashes.SHA256()))
    doc["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    doc["dsseEnvelope"]["signatures"] = [{"sig": base64.b64encode(signature).decode(), "keyid": ""}]
    return json.dumps(doc).encode()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def _cli_verify(model: Path, signature: Path, public_pem: Path) -> subprocess.CompletedProcess[str]:
    return _cli("verify", "key", model, "--signature", signature, "--public_key", public_pem)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------- ours -> their verifier


@pytest.mark.parametrize("layout", ["single-file", "nested-folder", "signature-inside"])
def test_their_verifier_accepts_our_signatures(tmp_path: Path, keys: Keys, ms: Any, layout: str) -> None:
    if layout == "single-file":
        model = _write(tmp_path / "model.skops", os.urandom(5000))
        signature = tmp_path / "model.skops.sig"
        bundle = sign_model(model, keys.private, provenance=PROVENANCE)
    elif layout == "nested-folder":
        model = _make_model(tmp_path / "model")
        signature = tmp_path / "model.sig"
        bundle = sign_model(model, keys.private)
    else:
        model = _make_model(tmp_path / "model")
        signature = model / "model.sig"
        bundle = sign_model(model, keys.private, provenance=PROVENANCE, ignore=["model.sig"])
    signature.write_bytes(bundle)

    result = _cli_verify(model, signature, keys.public_pem)
    assert result.returncode == 0, result.stderr
    assert "Verification succeeded" in result.stdout
    # Their Python API, which reads ignore_paths from the signature (the CLI also ignores the signature file).
    ms.verifying.Config().use_elliptic_key_verifier(public_key=keys.public_pem).verify(model, signature)
    # The provenance is carried in the predicate, which their v1.0 verifier ignored.
    assert _statement(bundle)["predicate"].get("provenance") == (None if layout == "nested-folder" else PROVENANCE)
    assert verify_model(model, bundle, keys.public).provenance == _statement(bundle)["predicate"].get("provenance")


def test_their_cli_rejects_our_tampered_model(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    signature = _write(tmp_path / "model.sig", sign_model(model, keys.private))
    target = model / "weights" / "shards" / "b.bin"
    data = bytearray(target.read_bytes())
    data[1234] ^= 1
    target.write_bytes(bytes(data))
    result = _cli_verify(model, signature, keys.public_pem)
    assert result.returncode != 0
    assert "weights/shards/b.bin" in result.stderr
    with pytest.raises(SignatureError, match=r"model file weights/shards/b\.bin changed since signing"):
        verify_model(model, signature.read_bytes(), keys.public)


# ---------------------------------------------------------------------- theirs -> our verifier


def test_we_accept_their_cli_signature_inside_the_folder(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    signature = model / "model.sig"
    result = _cli("sign", "key", model, "--private_key", keys.private_pem, "--signature", signature)
    assert result.returncode == 0, result.stderr
    bundle = signature.read_bytes()
    assert "model.sig" in _statement(bundle)["predicate"]["serialization"]["ignore_paths"]

    # No ignore= needed: the signed ignore_paths name the signature file.
    verified = verify_model(model, bundle, keys.public)
    expected = hash_model(model, ignore=["model.sig"])
    assert verified.files == tuple(sorted(expected.items(), key=lambda item: item[0].split("/")))
    assert verified.model_name == "model"
    assert verified.key_id == key_id(keys.public) == bundle_key_id(bundle)
    assert verified.provenance is None
    assert "weights/shards/deep/c.bin" in dict(verified.files)
    assert ".gitignore" not in dict(verified.files)


def test_we_accept_their_api_signatures(tmp_path: Path, keys: Keys, ms: Any) -> None:
    config = ms.signing.Config().use_elliptic_key_signer(private_key=keys.private_pem)
    model = _make_model(tmp_path / "model")
    config.sign(model, tmp_path / "folder.sig")
    verified = verify_model(model, (tmp_path / "folder.sig").read_bytes(), keys.public, workers=3)
    assert dict(verified.files) == hash_model(model)

    single = _write(tmp_path / "weights.safetensors", os.urandom(9000))
    config.sign(single, tmp_path / "single.sig")
    verified = verify_model(single, (tmp_path / "single.sig").read_bytes(), keys.public)
    assert verified.files == ((".", _sha(single.read_bytes())),)
    assert verified.model_name == "weights.safetensors"
    assert verified.root_digest == _sha(bytes.fromhex(_sha(single.read_bytes())))


def test_signed_file_under_ignored_path_is_still_checked(tmp_path: Path, keys: Keys) -> None:
    """Signed with --no-ignore-git-paths, .gitignore is a resource: we verify it rather than call it missing."""
    model = _make_model(tmp_path / "model")
    signature = tmp_path / "model.sig"
    result = _cli(
        "sign", "key", model, "--private_key", keys.private_pem, "--signature", signature, "--no-ignore-git-paths"
    )
    assert result.returncode == 0, result.stderr
    verified = verify_model(model, signature.read_bytes(), keys.public)
    assert {".gitignore", ".git/HEAD"} <= set(dict(verified.files))
    (model / ".gitignore").write_bytes(b"changed\n")
    with pytest.raises(SignatureError, match=r"model file \.gitignore changed since signing"):
        verify_model(model, signature.read_bytes(), keys.public)


# ------------------------------------------------------------------- byte-for-byte agreement


def _their_statement_text(ms: Any, model: Path, ignore: list[str]) -> str:
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from model_signing._signing import signing as ms_signing

    manifest = ms.hashing.Config().set_ignored_paths(paths=ignore).hash(model)
    return str(json_format.MessageToJson(ms_signing.Payload(manifest).statement.pb))


def _in_our_key_order(statement: dict[str, Any]) -> dict[str, Any]:
    """Protobuf writes a Struct's keys in no fixed order (and the library's ignore_paths come from a
    frozenset): put them in the order we write, leaving every list's order alone except ignore_paths."""
    ser = statement["predicate"]["serialization"]
    return {
        "_type": statement["_type"],
        "subject": [{"name": s["name"], "digest": {"sha256": s["digest"]["sha256"]}} for s in statement["subject"]],
        "predicateType": statement["predicateType"],
        "predicate": {
            "serialization": {
                "method": ser["method"],
                "hash_type": ser["hash_type"],
                "allow_symlinks": ser["allow_symlinks"],
                "ignore_paths": sorted(ser["ignore_paths"]),
            },
            "resources": [
                {"name": r["name"], "algorithm": r["algorithm"], "digest": r["digest"]}
                for r in statement["predicate"]["resources"]
            ],
        },
    }


@pytest.mark.parametrize("kind", ["folder", "single-file"])
def test_statement_is_byte_for_byte_theirs(tmp_path: Path, keys: Keys, ms: Any, kind: str) -> None:
    if kind == "folder":
        model = _make_model(tmp_path / "m\u00f6del")
        ignore = ["weights/shards/deep"]
    else:
        model = _write(tmp_path / "w\u00e9ights.bin", os.urandom(3000))
        ignore = []
    ours = base64.b64decode(json.loads(sign_model(model, keys.private, ignore=ignore))["dsseEnvelope"]["payload"])
    theirs = _their_statement_text(ms, model, ignore)
    assert ours.decode("ascii") == json.dumps(_in_our_key_order(json.loads(theirs)), indent=2)
    # Same digests, names and canonical order as their manifest.
    manifest = ms.hashing.Config().set_ignored_paths(paths=ignore).hash(model)
    theirs_items = [(d.identifier, d.digest.digest_hex) for d in manifest.resource_descriptors()]
    assert [(r["name"], r["digest"]) for r in json.loads(ours)["predicate"]["resources"]] == theirs_items
    assert hash_model(model, ignore=ignore) == dict(theirs_items)
    if kind == "folder":
        names = [name for name, _ in theirs_items]
        assert names.index("a/b") < names.index("a-c")
        assert "weights/shards/deep/c.bin" not in names


def test_model_name_like_theirs(tmp_path: Path, keys: Keys, ms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _make_model(tmp_path / "my-model")
    monkeypatch.chdir(model)
    for path in (Path("."), Path("weights/..")):
        statement = _statement(sign_model(path, keys.private))
        assert statement["subject"][0]["name"] == "my-model" == ms.hashing.hash(path).model_name


def test_hint_is_their_key_id(tmp_path: Path, keys: Keys) -> None:
    model = _write(tmp_path / "m.bin", b"x")
    result = _cli("sign", "key", model, "--private_key", keys.private_pem, "--signature", tmp_path / "m.sig")
    assert result.returncode == 0, result.stderr
    theirs = json.loads((tmp_path / "m.sig").read_bytes())
    assert theirs["verificationMaterial"]["publicKey"]["hint"] == key_id(keys.public)
    ours = json.loads(sign_model(model, keys.private))
    assert list(ours) == list(theirs) == ["mediaType", "verificationMaterial", "dsseEnvelope"]
    assert ours["verificationMaterial"] == theirs["verificationMaterial"]
    assert list(ours["dsseEnvelope"]) == list(theirs["dsseEnvelope"]) == ["payload", "payloadType", "signatures"]
    assert ours["dsseEnvelope"]["signatures"][0]["keyid"] == theirs["dsseEnvelope"]["signatures"][0]["keyid"] == ""
    ours_statement, theirs_statement = _statement(json.dumps(ours).encode()), _statement(json.dumps(theirs).encode())
    assert _in_our_key_order(ours_statement) == _in_our_key_order(theirs_statement)


# ---------------------------------------------------------------------------- our own round trip


def test_round_trip_fields(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    bundle = sign_model(model, keys.private, provenance=PROVENANCE)
    verified = verify_model(model, bundle, keys.public)
    files = hash_model(model)
    assert verified == verify_bundle(bundle, keys.public)
    assert verified == VerifiedModel(
        model_name="model",
        root_digest=_sha(b"".join(bytes.fromhex(files[n]) for n in sorted(files, key=lambda n: n.split("/")))),
        files=tuple(sorted(files.items(), key=lambda item: item[0].split("/"))),
        key_id=key_id(keys.public),
        provenance=PROVENANCE,
    )
    assert bundle_key_id(bundle) == key_id(keys.public)
    statement = _statement(bundle)
    assert statement["predicate"]["serialization"] == {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": False,
        "ignore_paths": sorted(DEFAULT_IGNORE),
    }
    # Git files and empty folders are not part of the model; adding either later changes nothing.
    assert not any(n.startswith((".git", "empty")) for n in files)
    _write(model / ".git" / "objects" / "ab", b"new object")
    _write(model / ".github" / "workflows" / "ci.yml", b"on: push\n")
    (model / "another-empty").mkdir()
    assert verify_model(model, bundle, keys.public) == verified


def test_signature_file_inside_the_folder(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    bundle = sign_model(model, keys.private)  # not told about the signature file
    _write(model / "model.sig", bundle)
    with pytest.raises(SignatureError, match=r"^file model\.sig is not covered by the signature$"):
        verify_model(model, bundle, keys.public)
    assert verify_model(model, bundle, keys.public, ignore=["model.sig"]).model_name == "model"
    bundle = sign_model(model, keys.private, ignore=["./model.sig"])
    assert "model.sig" in _statement(bundle)["predicate"]["serialization"]["ignore_paths"]
    verify_model(model, bundle, keys.public)


def test_single_file_and_folder_mismatch(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    single = _write(tmp_path / "one.bin", b"1")
    with pytest.raises(SignatureError, match=r"is for a folder model, but .* is a file"):
        verify_model(single, sign_model(model, keys.private), keys.public)
    with pytest.raises(SignatureError, match=r"is for a single-file model, but .* is a folder"):
        verify_model(model, sign_model(single, keys.private), keys.public)
    single.write_bytes(b"2")
    with pytest.raises(SignatureError, match=r"^model file one\.bin changed since signing"):
        verify_model(single, sign_model(tmp_path / "model" / "a-c", keys.private), keys.public)


def test_sign_digests_for_bytes_in_memory(tmp_path: Path, keys: Keys, ms: Any) -> None:
    data = os.urandom(4000)
    single = _write(tmp_path / "iris.skops", data)
    # A single-file model, as model_signing signs `iris.skops`: one resource named ".".
    bundle = sign_digests("iris.skops", {".": _sha(data)}, keys.private, provenance=PROVENANCE)
    _write(tmp_path / "iris.skops.sig", bundle)
    ms.verifying.Config().use_elliptic_key_verifier(public_key=keys.public_pem).verify(
        single, tmp_path / "iris.skops.sig"
    )
    assert verify_model(single, bundle, keys.public) == verify_bundle(bundle, keys.public)
    assert verify_bundle(bundle, keys.public).files == ((".", _sha(data)),)
    assert _statement(bundle) == _statement(sign_model(single, keys.private, provenance=PROVENANCE))
    # Named by its file name, it is a folder that holds that one file.
    folder_bundle = sign_digests("models", {"iris.skops": _sha(data)}, keys.private)
    assert verify_model(tmp_path, folder_bundle, keys.public, ignore=["iris.skops.sig"]).files == (
        ("iris.skops", _sha(data)),
    )
    for digests in ({"../x": _sha(data)}, {"x": "AB" * 32}, {"x": "ab"}, {".": _sha(data), "x": _sha(data)}):
        with pytest.raises(BadInput):
            sign_digests("m", digests, keys.private)


# ------------------------------------------------------------------------------------ tampering


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x80
    path.write_bytes(bytes(data))


TAMPERS: dict[str, tuple[Callable[[Path], object], str]] = {
    "changed-byte": (lambda m: _flip(m / "weights" / "a.bin"), r"^model file weights/a\.bin changed since signing"),
    "changed-unicode-name": (
        lambda m: (m / "tokenizer" / "v\u00f6cab \u2603.txt").write_bytes(b"x"),
        "^model file tokenizer/v\u00f6cab \u2603.txt changed since signing",
    ),
    "emptied": (lambda m: (m / "config.json").write_bytes(b""), r"^model file config\.json changed"),
    "added": (lambda m: _write(m / "extra.bin", b"evil"), r"^file extra\.bin is not covered by the signature$"),
    "added-nested": (
        lambda m: _write(m / "empty" / "nested-empty" / "x.py", b"import os"),
        r"^file empty/nested-empty/x\.py is not covered by the signature$",
    ),
    "removed": (
        lambda m: (m / "weights" / "shards" / "b.bin").unlink(),
        r"^signed file weights/shards/b\.bin is missing$",
    ),
    "renamed": (
        lambda m: (m / "config.json").rename(m / "config2.json"),
        r"^signed file config\.json is missing; file config2\.json is not covered by the signature$",
    ),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_model_is_refused(tmp_path: Path, keys: Keys, tamper: str) -> None:
    model = _make_model(tmp_path / "model")
    bundle = sign_model(model, keys.private)
    change, message = TAMPERS[tamper]
    change(model)
    with pytest.raises(SignatureError, match=message):
        verify_model(model, bundle, keys.public, workers=2)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> tuple[Path, bytes, VerifiedModel]:
    model = _write(tmp_path_factory.mktemp("signed") / "model" / "w.bin", b"weights")
    _write(model.parent / "sub" / "config.json", b"{}")
    _write(model.parent / "sub" / "deeper" / "t.txt", b"tokens")
    bundle = sign_model(model.parent, keys.private, provenance={"run": 1})
    return model.parent, bundle, verify_model(model.parent, bundle, keys.public)


def _edit_bundle(bundle: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    doc = json.loads(bundle)
    edit(doc)
    return json.dumps(doc).encode()


def _edit_payload(bundle: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """Changes the statement without signing again."""
    statement = _statement(bundle)
    edit(statement)
    return _edit_bundle(
        bundle,
        lambda d: d["dsseEnvelope"].update(payload=base64.b64encode(json.dumps(statement, indent=2).encode()).decode()),
    )


def _flip_sig(doc: dict[str, Any]) -> None:
    sig = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 1
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()


def test_tampered_bundle_is_refused(signed: tuple[Path, bytes, VerifiedModel], keys: Keys, other_keys: Keys) -> None:
    model, bundle, _ = signed
    bad_signature = "does not verify with key"
    payload_digest = _edit_payload(bundle, lambda s: s["predicate"]["resources"][0].update(digest="00" * 32))
    payload_prov = _edit_payload(bundle, lambda s: s["predicate"].update(provenance={"run": 2}))
    for tampered in (payload_digest, payload_prov, _edit_bundle(bundle, _flip_sig)):
        with pytest.raises(SignatureError, match=bad_signature):
            verify_model(model, tampered, keys.public)

    mine, theirs = key_id(keys.public), key_id(other_keys.public)
    with pytest.raises(SignatureError, match=f"^signed by key {mine[:12]}, not by {theirs[:12]}$"):
        verify_model(model, bundle, other_keys.public)
    # Without the hint the wrong key is still caught, by the signature itself.
    no_hint = _edit_bundle(bundle, lambda d: d["verificationMaterial"]["publicKey"].pop("hint"))
    assert bundle_key_id(no_hint) == ""
    with pytest.raises(SignatureError, match=f"does not verify with key {theirs[:12]}"):
        verify_model(model, no_hint, other_keys.public)
    assert verify_model(model, no_hint, keys.public).key_id == mine
    # Someone else's signature with our hint pasted in.
    forged = _edit_bundle(
        sign_model(model, other_keys.private), lambda d: d["verificationMaterial"]["publicKey"].update(hint=mine)
    )
    with pytest.raises(SignatureError, match=bad_signature):
        verify_model(model, forged, keys.public)


def test_keys_other_than_p256_are_refused(tmp_path: Path, signed: tuple[Path, bytes, VerifiedModel]) -> None:
    model, bundle, _ = signed
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(BadInput, match="unsupported key curve secp384r1"):
        sign_model(model, p384)
    with pytest.raises(SignatureError, match="unsupported key curve secp384r1"):
        verify_model(model, bundle, p384.public_key())
    with pytest.raises(SignatureError, match="not an elliptic-curve public key"):
        verify_bundle(bundle, p384)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- malformed bundles


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return edit


_DELETE = object()

BUNDLE_CASES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda b: b"",
    "not-json": lambda b: b"not a bundle",
    "not-utf8": lambda b: b"\xff\xfe{}",
    "json-array": lambda b: b"[]",
    "json-string": lambda b: b'"bundle"',
    "deeply-nested": lambda b: b"[" * 100_000 + b"]" * 100_000,
    "nan": lambda b: b.replace(b'"tlogEntries":[]', b'"tlogEntries":NaN'),
    "duplicate-key": lambda b: b.replace(b'{"mediaType"', b'{"mediaType":"x","mediaType"'),
    "truncated": lambda b: b[: len(b) // 2],
    "media-type": lambda b: _edit_bundle(b, _set(["mediaType"], "application/vnd.dev.sigstore.bundle.v0.2+json")),
    "media-type-missing": lambda b: _edit_bundle(b, _set(["mediaType"], _DELETE)),
    "media-type-number": lambda b: _edit_bundle(b, _set(["mediaType"], 3)),
    "no-material": lambda b: _edit_bundle(b, _set(["verificationMaterial"], _DELETE)),
    "no-public-key": lambda b: _edit_bundle(b, _set(["verificationMaterial", "publicKey"], _DELETE)),
    "hint-number": lambda b: _edit_bundle(b, _set(["verificationMaterial", "publicKey", "hint"], 7)),
    "hint-not-hex": lambda b: _edit_bundle(b, _set(["verificationMaterial", "publicKey", "hint"], "zz" * 32)),
    "tlog-not-list": lambda b: _edit_bundle(b, _set(["verificationMaterial", "tlogEntries"], {})),
    "no-envelope": lambda b: _edit_bundle(b, _set(["dsseEnvelope"], _DELETE)),
    "envelope-list": lambda b: _edit_bundle(b, _set(["dsseEnvelope"], [])),
    "payload-type": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "payloadType"], "application/json")),
    "no-payload": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "payload"], _DELETE)),
    "payload-not-base64": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "payload"], "!!not base64!!")),
    "payload-null": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "payload"], None)),
    "no-signatures": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "signatures"], [])),
    "two-signatures": lambda b: _edit_bundle(
        b, lambda d: d["dsseEnvelope"]["signatures"].append(d["dsseEnvelope"]["signatures"][0])
    ),
    "signature-not-object": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "signatures", 0], "sig")),
    "sig-not-base64": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "signatures", 0, "sig"], "%%%")),
    "sig-empty": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "signatures", 0, "sig"], "")),
    "sig-garbage-der": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "signatures", 0, "sig"], "MAA=")),
    "keyid-number": lambda b: _edit_bundle(b, _set(["dsseEnvelope", "signatures", 0, "keyid"], 1)),
}


@pytest.mark.parametrize("case", sorted(BUNDLE_CASES))
def test_malformed_bundle(signed: tuple[Path, bytes, VerifiedModel], keys: Keys, case: str) -> None:
    model, bundle, _ = signed
    bad = BUNDLE_CASES[case](bundle)
    with pytest.raises(SignatureError):
        verify_model(model, bad, keys.public)
    if case not in ("sig-garbage-der", "sig-empty"):  # well-formed; only the signature check fails
        with pytest.raises(SignatureError, match=MALFORMED):
            bundle_key_id(bad)


def _resource(name: str, digest: str = "11" * 32, algorithm: str = "sha256") -> dict[str, str]:
    return {"name": name, "algorithm": algorithm, "digest": digest}


def _with_resources(*resources: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    """Replace the resources and fix the root digest up, so that only the names are wrong."""

    def edit(statement: dict[str, Any]) -> None:
        statement["predicate"]["resources"] = list(resources)
        root = _sha(b"".join(bytes.fromhex(r["digest"]) for r in resources))
        statement["subject"][0]["digest"]["sha256"] = root

    return edit


STATEMENT_CASES: dict[str, Callable[[dict[str, Any]], object]] = {
    "type": _set(["_type"], "https://in-toto.io/Statement/v0.1"),
    "no-type": _set(["_type"], _DELETE),
    "predicate-type": _set(["predicateType"], "https://slsa.dev/provenance/v1"),
    "legacy-predicate-type": _set(["predicateType"], "https://model_signing/Digests/v0.1"),
    "no-subject": _set(["subject"], []),
    "two-subjects": lambda s: s["subject"].append(s["subject"][0]),
    "subject-not-object": _set(["subject", 0], "model"),
    "subject-name-number": _set(["subject", 0, "name"], 3),
    "root-mismatch": _set(["subject", 0, "digest", "sha256"], "00" * 32),
    "root-uppercase": lambda s: s["subject"][0]["digest"].update(sha256=s["subject"][0]["digest"]["sha256"].upper()),
    "root-missing": _set(["subject", 0, "digest"], {"sha512": "00" * 64}),
    "no-predicate": _set(["predicate"], _DELETE),
    "predicate-list": _set(["predicate"], []),
    "method-shards": _set(["predicate", "serialization", "method"], "shards"),
    "hash-blake3": _set(["predicate", "serialization", "hash_type"], "blake3"),
    "symlinks-string": _set(["predicate", "serialization", "allow_symlinks"], "false"),
    "no-allow-symlinks": _set(["predicate", "serialization", "allow_symlinks"], _DELETE),
    "ignore-not-list": _set(["predicate", "serialization", "ignore_paths"], ".git"),
    "ignore-traversal": _set(["predicate", "serialization", "ignore_paths"], ["../outside"]),
    "ignore-dot": _set(["predicate", "serialization", "ignore_paths"], ["."]),
    "ignore-absolute": _set(["predicate", "serialization", "ignore_paths"], ["/etc"]),
    "resources-object": _set(["predicate", "resources"], {}),
    "resource-not-object": _set(["predicate", "resources", 0], "w.bin"),
    "resource-no-name": lambda s: s["predicate"]["resources"][0].pop("name"),
    "resource-algorithm": _with_resources(_resource("w.bin", algorithm="blake2")),
    "resource-digest-short": _with_resources(_resource("w.bin", digest="11" * 16)),
    "resource-digest-number": _set(["predicate", "resources", 0, "digest"], 5),
    "traversal": _with_resources(_resource("../../etc/passwd")),
    "traversal-inner": _with_resources(_resource("sub/../../x")),
    "absolute": _with_resources(_resource("/etc/passwd")),
    "backslash": _with_resources(_resource("sub\\..\\x")),
    "empty-name": _with_resources(_resource("")),
    "double-slash": _with_resources(_resource("sub//config.json")),
    "dot-component": _with_resources(_resource("./w.bin")),
    "trailing-slash": _with_resources(_resource("sub/")),
    "newline": _with_resources(_resource("w.bin\nfile ok")),
    "duplicate": _with_resources(_resource("w.bin"), _resource("w.bin")),
    "single-dot-with-others": _with_resources(_resource("."), _resource("w.bin")),
    "provenance-list": _set(["predicate", "provenance"], [1, 2]),
}


@pytest.mark.parametrize("case", sorted(STATEMENT_CASES))
def test_malformed_statement_even_when_signed(signed: tuple[Path, bytes, VerifiedModel], keys: Keys, case: str) -> None:
    model, bundle, _ = signed
    statement = _statement(bundle)
    STATEMENT_CASES[case](statement)
    with pytest.raises(SignatureError, match=MALFORMED):
        verify_model(model, _resign(bundle, statement, keys.private), keys.public)


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b"[]", b"null", b"\xff", b'{"_type": 1, "_type": 2}', b"[" * 50_000]
)
def test_unparsable_payload_even_when_signed(
    signed: tuple[Path, bytes, VerifiedModel], keys: Keys, payload: bytes
) -> None:
    model, bundle, _ = signed
    with pytest.raises(SignatureError, match=MALFORMED):
        verify_model(model, _resign(bundle, None, keys.private, raw=payload), keys.public)


def test_message_for_unknown_file_is_one_line(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    bundle = sign_model(model, keys.private)
    _write(model / "evil\nname", b"x")
    with pytest.raises(SignatureError, match=r"^file 'evil\\nname' is not covered by the signature$"):
        verify_model(model, bundle, keys.public)
    with pytest.raises(BadInput, match="control character"):
        sign_model(model, keys.private)


# ------------------------------------------------------------------------------------ fuzzing

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", ".", "..", "sha256", "files", "00" * 32, "AA==", PAYLOAD_TYPE, "w.bin", "../w.bin"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def _mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one node replaced or deleted, or a key added to one object."""
    doc = copy.deepcopy(document)
    path = draw(st.sampled_from(list(_paths(doc))))
    if not path:
        return draw(_json_values)
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=10))] = draw(_json_values)
    else:
        parent[path[-1]] = draw(_json_values)
    return doc


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(model: Path, bundle: bytes, key: ec.EllipticCurvePublicKey) -> VerifiedModel | None:
    """The verified model, or None for a SignatureError; any other exception fails the test."""
    try:
        return verify_model(model, bundle, key)
    except SignatureError:
        return None


@FUZZ
@given(data=st.data())
def test_fuzzed_bundle_json(signed: tuple[Path, bytes, VerifiedModel], keys: Keys, data: st.DataObject) -> None:
    model, bundle, expected = signed
    mutated = data.draw(_mutated(json.loads(bundle)))
    result = _outcome(model, json.dumps(mutated).encode(), keys.public)
    assert result is None or result == expected


@FUZZ
@given(data=st.data())
def test_fuzzed_statement_signed_again(
    signed: tuple[Path, bytes, VerifiedModel], keys: Keys, data: st.DataObject
) -> None:
    """Past the signature (the fuzzer holds the key), the statement parser still raises only SignatureError,
    and whatever it accepts still matches the files on disk."""
    model, bundle, expected = signed
    mutated = data.draw(_mutated(_statement(bundle)))
    result = _outcome(model, _resign(bundle, mutated, keys.private), keys.public)
    assert result is None or (result.files, result.root_digest) == (expected.files, expected.root_digest)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_fuzzed_bundle_bytes(
    signed: tuple[Path, bytes, VerifiedModel], keys: Keys, edits: list[tuple[int, int]]
) -> None:
    model, bundle, expected = signed
    data = bytearray(bundle)
    for position, value in edits:
        data[position % len(data)] = value
    result = _outcome(model, bytes(data), keys.public)
    assert result is None or result == expected


# ---------------------------------------------------------------------------------- the file walk


def test_hash_model_parallel_equals_serial(tmp_path: Path) -> None:
    model = tmp_path / "model"
    contents = {f"d{i % 4}/f{i:02d}.bin": os.urandom(i * 997) for i in range(40)}
    contents["big/weights.bin"] = os.urandom(9 << 20)  # more than two read buffers
    for name, data in contents.items():
        _write(model / name, data)
    expected = {name: _sha(data) for name, data in contents.items()}
    assert hash_model(model, workers=1) == hash_model(model, workers=4) == hash_model(model) == expected
    assert hash_model(model / "big" / "weights.bin", workers=4) == {".": expected["big/weights.bin"]}
    assert hash_model(model, ignore=["d1", "d2/f02.bin"]) == {
        n: d for n, d in expected.items() if not n.startswith("d1/") and n != "d2/f02.bin"
    }
    with pytest.raises(BadInput, match="workers"):
        hash_model(model, workers=0)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
@pytest.mark.parametrize("where", ["file", "folder", "in-git-folder", "model-path"])
def test_symlinks_are_refused(tmp_path: Path, keys: Keys, where: str) -> None:
    model = _make_model(tmp_path / "model")
    bundle = sign_model(model, keys.private)
    target = model
    if where == "file":
        (model / "weights" / "link.bin").symlink_to(model / "weights" / "a.bin")
    elif where == "folder":
        (model / "linked").symlink_to(tmp_path)
    elif where == "in-git-folder":
        (model / ".git" / "link").symlink_to("/etc/passwd")
    else:
        target = tmp_path / "link-to-model"
        target.symlink_to(model)
    for call in (
        lambda: hash_model(target),
        lambda: sign_model(target, keys.private),
        lambda: verify_model(target, bundle, keys.public),
    ):
        with pytest.raises(BadInput, match="symbolic link"):
            call()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_refused(tmp_path: Path, keys: Keys) -> None:
    model = _make_model(tmp_path / "model")
    os.mkfifo(model / "pipe")
    with pytest.raises(BadInput, match="not a regular file"):
        sign_model(model, keys.private)


def test_unusable_inputs(tmp_path: Path, keys: Keys, signed: tuple[Path, bytes, VerifiedModel]) -> None:
    model, bundle, _ = signed
    with pytest.raises(NotFound, match="does not exist"):
        sign_model(tmp_path / "missing", keys.private)
    with pytest.raises(NotFound, match="does not exist"):
        verify_model(tmp_path / "missing", bundle, keys.public)
    for bad in ("../outside", "/etc/passwd", ".", ""):
        with pytest.raises(BadInput, match="ignored path"):
            sign_model(model, keys.private, ignore=[bad])
    provenances: list[Any] = [{"x": float("nan")}, {"x": {1, 2}}, {"x": (1, 2)}, {1: "int key"}, ["not", "a", "map"]]
    for provenance in provenances:
        with pytest.raises(BadInput, match="provenance"):
            sign_model(model, keys.private, provenance=provenance)


def test_empty_model_folder_like_theirs(tmp_path: Path, keys: Keys, ms: Any) -> None:
    model = tmp_path / "empty"
    (model / "only" / "folders").mkdir(parents=True)
    bundle = sign_model(model, keys.private)
    assert _statement(bundle)["subject"][0]["digest"]["sha256"] == _sha(b"")
    assert verify_model(model, bundle, keys.public).files == ()
    _write(tmp_path / "empty.sig", bundle)
    ms.verifying.Config().use_elliptic_key_verifier(public_key=keys.public_pem).verify(model, tmp_path / "empty.sig")
