"""Model signing and verification, in the on-disk format of the OpenSSF ``model-signing`` library.

A signature is a `Sigstore bundle v0.3`_ JSON document, written exactly as ``model_signing`` 1.x writes
one for its key-based signer (``model_signing sign key``), so that ``model_signing verify key MODEL
--signature SIG --public_key PUB.pem`` accepts ours and we accept theirs::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"publicKey": {"hint": "<hex SHA-256 of the signer's PEM SubjectPublicKeyInfo>"},
                              "tlogEntries": []},
     "dsseEnvelope": {"payload": "<base64 of the statement>", "payloadType": "application/vnd.in-toto+json",
                      "signatures": [{"sig": "<base64 of a DER ECDSA P-256/SHA-256 signature>", "keyid": ""}]}}

The signature covers the `DSSE v1`_ pre-authentication encoding of the payload,
``"DSSEv1" SP len(type) SP type SP len(payload) SP payload``. The payload is an `in-toto Statement v1`_
carrying the `model_signing v1.0 predicate`_, serialised as protobuf's ``MessageToJson`` does it
(two-space indent, ASCII only)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<model name>", "digest": {"sha256": "<root digest>"}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {
       "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false,
                         "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore", ...]},
       "resources": [{"name": "weights/a.bin", "algorithm": "sha256", "digest": "<hex>"}, ...],
       "provenance": {...}}}

Details that follow ``model_signing``'s own code rather than any written spec:

* The model is a single file or a folder. A folder's resources are its regular files (empty folders
  leave no trace), named by their path relative to the folder in POSIX form, in canonical order:
  sorted component by component like ``pathlib.PurePosixPath`` sorts (``a/b`` before ``a-c``). A
  single-file model has exactly one resource, named ``"."``.
* The root digest (the subject's ``sha256``) is SHA-256 over the concatenated raw resource digests,
  in the order the resources are listed.
* The model name is informative only (renaming a model must not break its signature): the last
  component of the path as given, or of its absolute form when that is empty or ``..``.
* ``ignore_paths`` lists the paths, relative to the model, left out of the signature: by default the
  git files (``.git``, ``.gitattributes``, ``.github``, ``.gitignore``) and, when the signature file
  lies inside the folder, that file. An ignored path also hides everything under it. Verifiers add
  the signed ``ignore_paths`` to their own ignore list, so a signature kept inside its folder
  verifies without being named again. The library writes the list in no particular order (it comes
  from a ``frozenset``); we write it sorted.
* Symbolic links and special files anywhere in the folder are refused, as ``model_signing`` does by
  default (``allow_symlinks: false``).
* Extra predicate fields "should be ignored by verifiers adhering to v1.0", so our provenance (a JSON
  object) rides along under ``predicate.provenance``; ``model_signing`` verifies such signatures.

Verification is stricter than ``model_signing``'s in the ways a bundle is attacker data: the bundle
and statement must have exactly the expected types and shapes (no duplicate JSON keys, one DSSE
signature, ECDSA P-256 with SHA-256 only), resource names must be canonical relative POSIX paths
(no absolute paths, ``..``, ``.``, empty components, backslashes or control characters) and unique,
and files are hashed only after the signature and the statement check out. It is more lenient in
one way that adds checking rather than removing it: a signed file that lies under an ignored path
is still verified instead of being reported missing.

.. _Sigstore bundle v0.3: https://docs.sigstore.dev/about/bundle/
.. _DSSE v1: https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md
.. _in-toto Statement v1: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
.. _model_signing v1.0 predicate: https://github.com/sigstore/model-transparency
   (``src/model_signing/_signing/signing.py``, class ``Payload``)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import errno
import hashlib
import hmac
import json
import os
import re
import stat
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden._json import JsonRefused, loads_strict
from mlwarden.errors import BadInput, NotFound, SignatureError

__all__ = [
    "DEFAULT_IGNORE",
    "SINGLE_FILE",
    "VerifiedModel",
    "bundle_key_id",
    "hash_model",
    "key_id",
    "sign_digests",
    "sign_model",
    "signature_path",
    "verify_bundle",
    "verify_model",
]

BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://model_signing/signature/v1.0"
_LEGACY_PREDICATE_TYPE: Final = "https://model_signing/Digests/v0.1"
# What model_signing leaves out of every model by default (hashing.Config(ignore_git_paths=True)).
DEFAULT_IGNORE: Final = (".git", ".gitattributes", ".github", ".gitignore")
# The resource name of a single-file model (model_signing: the file's path relative to itself).
SINGLE_FILE: Final = "."

_READ_SIZE: Final = 4 << 20
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclasses.dataclass(frozen=True)
class VerifiedModel:
    """What a good signature vouches for. ``files`` are (relative POSIX name, SHA-256 hex) pairs in
    canonical order; a single-file model has one, named ``"."``. ``key_id`` is the hex SHA-256 of the
    signer's PEM SubjectPublicKeyInfo; ``provenance`` the signed ``predicate.provenance`` object, if any."""

    model_name: str
    root_digest: str
    files: tuple[tuple[str, str], ...]
    key_id: str
    provenance: dict[str, Any] | None


# ----------------------------------------------------------------------------------------------- keys


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key's id: hex SHA-256 of its PEM SubjectPublicKeyInfo, as ``model_signing`` writes in the hint."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _curve_problem(key: object, *, private: bool) -> str | None:
    kind = ec.EllipticCurvePrivateKey if private else ec.EllipticCurvePublicKey
    if not isinstance(key, kind):
        what = "private" if private else "public"
        return f"not an elliptic-curve {what} key ({type(key).__name__}); only ECDSA P-256 keys are accepted"
    curve = key.curve
    if not isinstance(curve, ec.SECP256R1):
        return f"unsupported key curve {curve.name}: only P-256 (secp256r1) with ECDSA SHA-256 is accepted"
    return None


# -------------------------------------------------------------------------------------------- hashing


def _sort_key(name: str) -> tuple[str, ...]:
    """Canonical order: component by component, as ``PurePosixPath`` compares."""
    return tuple(name.split("/"))


def _check_name(name: str) -> str | None:
    """Why a relative POSIX name is not canonical, or None. ``"."`` is not accepted here."""
    if not name:
        return "is empty"
    if _CONTROL.search(name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is absolute"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return "has an empty, '.' or '..' component"
    return None


def _display(name: str) -> str:
    return name if _check_name(name) is None else ascii(name)


def _normalise_ignore(ignore: Sequence[str]) -> tuple[str, ...]:
    if isinstance(ignore, str | bytes):
        raise BadInput("ignore must be a list of relative paths, not a single string")
    out: list[str] = []
    for raw in ignore:
        text = os.fspath(raw)
        if not isinstance(text, str):
            raise BadInput(f"ignored path {text!r} must be a string")
        pure = PurePosixPath(text.replace(os.sep, "/") if os.sep != "/" else text)
        name = str(pure)
        problem = "is absolute" if pure.is_absolute() else _check_name(name)
        if problem is not None:
            raise BadInput(f"ignored path {text!a} {problem}: give a path relative to the model folder")
        out.append(name)
    return tuple(out)


def _is_under(name: str, ignored: Sequence[str]) -> bool:
    """``name`` is one of ``ignored`` or lies under one (model_signing's ``Path.is_relative_to``)."""
    if name == SINGLE_FILE:
        return False
    return any(name == p or name.startswith(p + "/") for p in ignored)


def _check_root(path: Path) -> os.stat_result:
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise NotFound(f"model path {path} does not exist") from None
    except OSError as exc:
        raise BadInput(f"cannot use model path {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise BadInput(f"model path {path} is a symbolic link; symlinks are not allowed in signed models")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise BadInput(f"model path {path} is neither a regular file nor a folder")
    return st


def _walk(path: Path) -> dict[str, tuple[str, int]]:
    """Every regular file of the model: relative POSIX name -> (OS path, size). Ignored paths are walked
    too, so that a symlink or special file anywhere is refused, like ``model_signing`` does."""
    st = _check_root(path)
    if stat.S_ISREG(st.st_mode):
        return {SINGLE_FILE: (os.fspath(path), st.st_size)}
    found: dict[str, tuple[str, int]] = {}
    stack: list[tuple[str, str]] = [(os.fspath(path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as entries:
                children = list(entries)
        except OSError as exc:
            raise BadInput(f"cannot list {_display(prefix or '.')} in model {path}: {exc.strerror}") from None
        for entry in children:
            name = prefix + entry.name
            try:
                info = entry.stat(follow_symlinks=False)
                mode = info.st_mode
            except OSError as exc:
                raise BadInput(f"cannot use {_display(name)} in model {path}: {exc.strerror}") from None
            if stat.S_ISLNK(mode):
                raise BadInput(f"{_display(name)} in model {path} is a symbolic link; symlinks are not allowed")
            if stat.S_ISDIR(mode):
                stack.append((entry.path, name + "/"))
            elif stat.S_ISREG(mode):
                found[name] = (entry.path, info.st_size)
            else:
                raise BadInput(f"{_display(name)} in model {path} is not a regular file or folder")
    return found


_tls = threading.local()


def _hash_file(os_path: str, name: str) -> str:
    buffer: bytearray | None = getattr(_tls, "buffer", None)
    if buffer is None:
        buffer = _tls.buffer = bytearray(_READ_SIZE)
    view = memoryview(buffer)
    try:
        fd = os.open(os_path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInput(f"{_display(name)} is a symbolic link; symlinks are not allowed") from None
        raise BadInput(f"cannot read model file {_display(name)}: {exc.strerror}") from None
    with open(fd, "rb", buffering=0) as f:
        digest = hashlib.sha256()
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BadInput(f"model file {_display(name)} is not a regular file")
            while n := f.readinto(view):
                digest.update(view[:n])
        except OSError as exc:
            raise BadInput(f"cannot read model file {_display(name)}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _hash_files(files: Mapping[str, tuple[str, int]], workers: int | None) -> dict[str, str]:
    """name -> SHA-256 hex of each (OS path, size), on a thread pool (hashlib releases the GIL on big
    updates), biggest files first so that one large file does not start last. In canonical order."""
    if workers is None:
        workers = _default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BadInput(f"workers must be a positive integer, not {workers!r}")
    names = sorted(files, key=_sort_key)
    if workers == 1 or len(names) <= 1:
        return {name: _hash_file(files[name][0], name) for name in names}
    pool = ThreadPoolExecutor(max_workers=min(workers, len(names)), thread_name_prefix="mlwarden-hash")
    futures: dict[str, Future[str]] = {}
    try:
        for name in sorted(names, key=lambda n: -files[n][1]):
            futures[name] = pool.submit(_hash_file, files[name][0], name)
        return {name: futures[name].result() for name in names}
    finally:
        # On an error, skip the files not yet started rather than hash the rest of the model.
        pool.shutdown(wait=True, cancel_futures=True)


def hash_model(path: Path, *, ignore: Sequence[str] = (), workers: int | None = None) -> dict[str, str]:
    """Relative POSIX name -> SHA-256 hex, for a single file (named ``"."``) or every regular file under a
    folder except the git files and ``ignore`` (relative paths; each also hides what lies under it).

    Files are hashed in parallel on ``workers`` threads (default: every usable core). Symbolic links and
    special files anywhere in the folder, names that are not portable (backslashes, control characters,
    not UTF-8) and a missing path raise :class:`~mlwarden.errors.BadInput`."""
    path = Path(path)
    ignored = DEFAULT_IGNORE + _normalise_ignore(ignore)
    files = {name: p for name, p in _walk(path).items() if not _is_under(name, ignored)}
    for name in files:
        if name != SINGLE_FILE and (problem := _check_name(name)) is not None:
            raise BadInput(f"model file {_display(name)} cannot be signed: its name {problem}")
    return _hash_files(files, workers)


def signature_path(path: Path) -> Path:
    """``PATH.sig`` beside the file or folder (``.`` and ``..`` resolved to their real name first)."""
    real = path.resolve() if path.name in ("", ".", "..") else path
    return real.with_name(real.name + ".sig")


def signature_ignore(path: Path, signature: Path) -> list[str]:
    """The signature file's relative path when it lies inside the model folder (left out of the hashes)."""
    if not path.is_dir() or not signature.resolve().is_relative_to(path.resolve()):
        return []
    return [signature.resolve().relative_to(path.resolve()).as_posix()]


def _model_name(path: Path) -> str:
    name = path.name
    if not name or name == "..":
        name = os.path.basename(path.resolve())
    return name


def _root_digest(digests: Sequence[str]) -> str:
    return hashlib.sha256(b"".join(bytes.fromhex(d) for d in digests)).hexdigest()


def _pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of an in-toto payload."""
    kind = PAYLOAD_TYPE.encode("ascii")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


# -------------------------------------------------------------------------------------------- signing


def sign_model(
    path: Path,
    private_key: ec.EllipticCurvePrivateKey,
    *,
    provenance: Mapping[str, Any] | None = None,
    ignore: Sequence[str] = (),
    workers: int | None = None,
) -> bytes:
    """Sign the model at ``path`` (a file or a folder) and return the Sigstore bundle JSON bytes.

    ``ignore`` are extra relative paths left out of the signature and recorded in its ``ignore_paths``
    (give the signature file's path here when it lies inside the folder); the git files always are.
    ``provenance``, a JSON object, is signed along as ``predicate.provenance``."""
    _check_signing_key(private_key)
    path = Path(path)
    extra = _normalise_ignore(ignore)
    prov = _provenance_json(provenance)
    files = hash_model(path, ignore=extra, workers=workers)
    return _sign(_model_name(path), files, private_key, prov, extra)


def sign_digests(
    model_name: str,
    digests: Mapping[str, str],
    private_key: ec.EllipticCurvePrivateKey,
    *,
    provenance: Mapping[str, Any] | None = None,
    ignore: Sequence[str] = (),
) -> bytes:
    """Sign files already hashed (e.g. bytes held in memory): ``digests`` maps relative POSIX names to
    SHA-256 hex, as :func:`hash_model` returns them. A single-file model, the way ``model_signing``
    signs ``MODEL.bin``, is ``{SINGLE_FILE: digest}`` (the name ``"."``) with ``model_name`` the file's
    name; ``{"MODEL.bin": digest}`` is instead a folder holding that one file."""
    _check_signing_key(private_key)
    if not isinstance(model_name, str) or _CONTROL.search(model_name):
        raise BadInput("the model name must be a string without control characters")
    extra = _normalise_ignore(ignore)
    prov = _provenance_json(provenance)
    files: dict[str, str] = {}
    for name, digest in digests.items():
        if not isinstance(name, str) or (name != SINGLE_FILE and _check_name(name) is not None):
            raise BadInput(f"cannot sign file name {name!a}: give a relative POSIX path")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise BadInput(f"the digest of {name!a} is not a lowercase hex SHA-256")
        files[name] = digest
    if SINGLE_FILE in files and len(files) > 1:
        raise BadInput(f"{SINGLE_FILE!r} names a single-file model; it cannot be signed with other files")
    return _sign(model_name, files, private_key, prov, extra)


def _check_signing_key(private_key: ec.EllipticCurvePrivateKey) -> None:
    if (problem := _curve_problem(private_key, private=True)) is not None:
        raise BadInput(f"cannot sign with this key: {problem}")


def _sign(
    model_name: str,
    files: Mapping[str, str],
    private_key: ec.EllipticCurvePrivateKey,
    provenance: dict[str, Any] | None,
    extra_ignore: tuple[str, ...],
) -> bytes:
    names = sorted(files, key=_sort_key)
    predicate: dict[str, Any] = {
        "serialization": {
            "method": "files",
            "hash_type": "sha256",
            "allow_symlinks": False,
            "ignore_paths": sorted(set(DEFAULT_IGNORE + extra_ignore)),
        },
        "resources": [{"name": n, "algorithm": "sha256", "digest": files[n]} for n in names],
    }
    if provenance is not None:
        predicate["provenance"] = provenance
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": _root_digest([files[n] for n in names])}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    payload = json.dumps(statement, indent=2, ensure_ascii=True, allow_nan=False).encode("ascii")
    signature = private_key.sign(_pae(payload), ec.ECDSA(hashes.SHA256()))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_id(private_key.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _provenance_json(provenance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if provenance is None:
        return None
    if not isinstance(provenance, Mapping):
        raise BadInput(f"provenance must be a JSON object (a mapping), not {type(provenance).__name__}")
    value = dict(provenance)
    try:
        copy = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise BadInput(f"provenance is not JSON-serialisable: {exc}") from None
    if copy != value:
        raise BadInput("provenance must be plain JSON (string keys, lists not tuples) so that it reads back the same")
    return dict(copy)


# ------------------------------------------------------------------------------------ bundle parsing


@dataclasses.dataclass(frozen=True)
class _Bundle:
    hint: str
    payload: bytes
    signature: bytes


@dataclasses.dataclass(frozen=True)
class _Statement:
    model_name: str
    root_digest: str
    resources: tuple[tuple[str, str], ...]  # in bundle order
    ignore_paths: tuple[str, ...]
    provenance: dict[str, Any] | None


def _malformed(what: str) -> NoReturn:
    raise SignatureError(f"malformed model signature: {what}")


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = loads_strict(data, what=what)
    except JsonRefused as exc:
        _malformed(str(exc))
    if not isinstance(value, dict):
        _malformed(f"{what} is not a JSON object")
    return value


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        _malformed(f"{where} has no {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        _malformed(f"{where}.{key} is not a {_KIND_NAMES.get(kind, kind.__name__)}")
    return value


_KIND_NAMES: Final[dict[type, str]] = {dict: "JSON object", list: "JSON array", str: "string", bool: "boolean"}


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        _malformed(f"{where} is not valid base64")


def _parse_bundle(bundle: bytes) -> _Bundle:
    if not isinstance(bundle, bytes | bytearray | memoryview):
        _malformed(f"the bundle is {type(bundle).__name__}, not bytes")
    data = bytes(bundle)
    doc = _load_json(data, "the bundle")
    media = _field(doc, "mediaType", str, "bundle")
    if media != BUNDLE_MEDIA_TYPE:
        _malformed(f"bundle media type {media[:100]!a}, expected {BUNDLE_MEDIA_TYPE}")
    material = _field(doc, "verificationMaterial", dict, "bundle")
    public_key = _field(material, "publicKey", dict, "verificationMaterial")
    hint = public_key.get("hint")
    if hint is None:
        hint = ""
    if not isinstance(hint, str) or (hint and not _HEX64.fullmatch(hint)):
        _malformed("the public key hint is not a hex SHA-256")
    if not isinstance(material.get("tlogEntries", []), list):
        _malformed("verificationMaterial.tlogEntries is not a JSON array")
    envelope = _field(doc, "dsseEnvelope", dict, "bundle")
    payload_type = _field(envelope, "payloadType", str, "dsseEnvelope")
    if payload_type != PAYLOAD_TYPE:
        _malformed(f"DSSE payload type {payload_type[:100]!a}, expected {PAYLOAD_TYPE}")
    payload = _b64(_field(envelope, "payload", str, "dsseEnvelope"), "dsseEnvelope.payload")
    signatures = _field(envelope, "signatures", list, "dsseEnvelope")
    if len(signatures) != 1:
        _malformed(f"expected exactly one DSSE signature, found {len(signatures)}")
    entry = signatures[0]
    if not isinstance(entry, dict):
        _malformed("dsseEnvelope.signatures[0] is not a JSON object")
    signature = _b64(_field(entry, "sig", str, "dsseEnvelope.signatures[0]"), "the signature")
    if not isinstance(entry.get("keyid", ""), str | None):
        _malformed("dsseEnvelope.signatures[0].keyid is not a string")
    return _Bundle(hint=hint, payload=payload, signature=signature)


def _parse_statement(payload: bytes) -> _Statement:
    doc = _load_json(payload, "the signed statement")
    kind = _field(doc, "_type", str, "statement")
    if kind != STATEMENT_TYPE:
        _malformed(f"statement type {kind[:100]!a}, expected {STATEMENT_TYPE}")
    predicate_type = _field(doc, "predicateType", str, "statement")
    if predicate_type == _LEGACY_PREDICATE_TYPE:
        _malformed(f"legacy predicate {_LEGACY_PREDICATE_TYPE} (model_signing < 1.0) is not supported; re-sign")
    if predicate_type != PREDICATE_TYPE:
        _malformed(f"predicate type {predicate_type[:100]!a}, expected {PREDICATE_TYPE}")
    subjects = _field(doc, "subject", list, "statement")
    if len(subjects) != 1:
        _malformed(f"expected exactly one subject, found {len(subjects)}")
    if not isinstance(subjects[0], dict):
        _malformed("statement.subject[0] is not a JSON object")
    model_name = _field(subjects[0], "name", str, "subject")
    root = _field(_field(subjects[0], "digest", dict, "subject"), "sha256", str, "subject.digest")
    if not _HEX64.fullmatch(root):
        _malformed("the subject's sha256 digest is not 64 lowercase hex digits")

    predicate = _field(doc, "predicate", dict, "statement")
    ser = _field(predicate, "serialization", dict, "predicate")
    method = _field(ser, "method", str, "serialization")
    if method != "files":
        _malformed(f"serialization method {method[:50]!a} is not supported (only 'files')")
    hash_type = _field(ser, "hash_type", str, "serialization")
    if hash_type != "sha256":
        _malformed(f"hash type {hash_type[:50]!a} is not supported (only 'sha256')")
    _field(ser, "allow_symlinks", bool, "serialization")
    listed = ser.get("ignore_paths", [])
    if not isinstance(listed, list):
        _malformed("serialization.ignore_paths is not a JSON array")
    ignore_paths: list[str] = []
    for item in listed:
        if not isinstance(item, str) or _check_name(item) is not None:
            _malformed(f"ignored path {ascii(item)[:200]} is not a canonical relative path")
        ignore_paths.append(item)

    raw = _field(predicate, "resources", list, "predicate")
    resources: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, res in enumerate(raw):
        where = f"resources[{i}]"
        if not isinstance(res, dict):
            _malformed(f"{where} is not a JSON object")
        name = _field(res, "name", str, where)
        if _field(res, "algorithm", str, where) != "sha256":
            _malformed(f"{where} uses algorithm {res['algorithm'][:50]!a}, only sha256 is supported")
        digest = _field(res, "digest", str, where)
        if not _HEX64.fullmatch(digest):
            _malformed(f"{where}.digest is not 64 lowercase hex digits")
        if name == SINGLE_FILE:
            if len(raw) != 1:
                _malformed("resource '.' (a single-file model) is listed with other files")
        elif (problem := _check_name(name)) is not None:
            _malformed(f"resource name {name[:200]!a} {problem}")
        if name in seen:
            _malformed(f"resource {name[:200]!a} is listed twice")
        seen.add(name)
        resources.append((name, digest))
    if not hmac.compare_digest(_root_digest([d for _, d in resources]), root):
        _malformed("the root digest does not match the listed resources")

    provenance = predicate.get("provenance")
    if provenance is not None and not isinstance(provenance, dict):
        _malformed("predicate.provenance is not a JSON object")
    return _Statement(model_name, root, tuple(resources), tuple(ignore_paths), provenance)


def bundle_key_id(bundle: bytes) -> str:
    """The key id hinted at by a bundle, without verifying anything (to pick the key to verify with).
    ``""`` when the bundle carries no hint (older ``model_signing`` signers). Raises
    :class:`~mlwarden.errors.SignatureError` when ``bundle`` is not a well-formed model signature bundle."""
    return _parse_bundle(bundle).hint


# --------------------------------------------------------------------------------------- verification


def verify_bundle(bundle: bytes, public_key: ec.EllipticCurvePublicKey) -> VerifiedModel:
    """Verify the bundle alone and say what it signs, without looking at any file.

    Checks the bundle's shape and types, that the key matches the bundle's hint, the ECDSA signature
    over the DSSE envelope, and the statement (types, canonical unique names, root digest). The caller
    must still compare ``files`` with the model (for bytes already in memory); :func:`verify_model`
    does that for a path. Every failure raises :class:`~mlwarden.errors.SignatureError`."""
    return _verify_bundle(bundle, public_key)[0]


def _verify_bundle(bundle: bytes, public_key: ec.EllipticCurvePublicKey) -> tuple[VerifiedModel, tuple[str, ...]]:
    if (problem := _curve_problem(public_key, private=False)) is not None:
        raise SignatureError(f"cannot verify with this key: {problem}")
    parsed = _parse_bundle(bundle)
    kid = key_id(public_key)
    if parsed.hint and not hmac.compare_digest(parsed.hint, kid):
        raise SignatureError(f"signed by key {parsed.hint[:12]}, not by {kid[:12]}")
    try:
        public_key.verify(parsed.signature, _pae(parsed.payload), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        raise SignatureError(
            f"the signature does not verify with key {kid[:12]}: the bundle was altered or made with another key"
        ) from None
    statement = _parse_statement(parsed.payload)
    verified = VerifiedModel(
        model_name=statement.model_name,
        root_digest=statement.root_digest,
        files=tuple(sorted(statement.resources, key=lambda r: _sort_key(r[0]))),
        key_id=kid,
        provenance=statement.provenance,
    )
    return verified, statement.ignore_paths


def verify_model(
    path: Path,
    bundle: bytes,
    public_key: ec.EllipticCurvePublicKey,
    *,
    ignore: Sequence[str] = (),
    workers: int | None = None,
) -> VerifiedModel:
    """Verify the model at ``path`` against ``bundle`` with ``public_key``, and say what was signed.

    First everything :func:`verify_bundle` checks, and only then the files: every file not ignored must
    be signed, every signed file must exist with the signed digest. Ignored are the git files, the
    bundle's signed ``ignore_paths`` and ``ignore`` (e.g. the signature file when it lies in the folder
    and was not ignored at signing). Any failure raises :class:`~mlwarden.errors.SignatureError` with a
    one-line reason; an unusable path (missing, a symlink or special file in the model) raises
    :class:`~mlwarden.errors.BadInput`."""
    path = Path(path)
    extra = _normalise_ignore(ignore)
    _check_root(path)
    verified, signed_ignores = _verify_bundle(bundle, public_key)

    signed = dict(verified.files)
    on_disk = _walk(path)
    if (SINGLE_FILE in signed) != (SINGLE_FILE in on_disk):
        if SINGLE_FILE in signed:
            raise SignatureError(f"the signature is for a single-file model, but {path} is a folder")
        raise SignatureError(f"the signature is for a folder model, but {path} is a file")
    ignored = DEFAULT_IGNORE + signed_ignores + extra
    # Signed files are checked even under an ignored path; unsigned ones there are skipped.
    to_check = {n: p for n, p in on_disk.items() if n in signed or not _is_under(n, ignored)}
    shown = {n: ((path.name or n) if n == SINGLE_FILE else _display(n)) for n in set(to_check) | set(signed)}
    problems = [f"signed file {shown[n]} is missing" for n in sorted(set(signed) - set(to_check), key=_sort_key)]
    problems += [
        f"file {shown[n]} is not covered by the signature" for n in sorted(set(to_check) - set(signed), key=_sort_key)
    ]
    _raise_problems(problems)
    actual = _hash_files(to_check, workers)
    problems = [
        f"model file {shown[n]} changed since signing (sha256 {actual[n]}, signed {signed[n]})"
        for n in sorted(signed, key=_sort_key)
        if not hmac.compare_digest(actual[n], signed[n])
    ]
    _raise_problems(problems)
    return verified


def _raise_problems(problems: list[str]) -> None:
    if not problems:
        return
    message = "; ".join(problems[:3])
    if len(problems) > 3:
        message += f"; and {len(problems) - 3} more"
    raise SignatureError(message)
