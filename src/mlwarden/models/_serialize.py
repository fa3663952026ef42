"""Safe serialisation and the one load: skops only, verified, then scanned, then trusted types only.

:func:`save` writes scikit-learn models with skops, whose format is a zip of JSON and ``.npy``
arrays that a loader reconstructs type by type; pickle files are refused. :func:`load` is the
only way mlwarden turns a file into a model, and each step can stop it with its own error:

1. **verify** the OpenSSF model-signing bundle against a trusted key: the bytes read are the bytes
   signed (:class:`~mlwarden.errors.SignatureError`);
2. **scan** those same bytes with the allow-list scanner (:class:`~mlwarden.errors.UnsafeModel`);
3. **load** them with skops, trusting only the types the allow-list allows
   (:class:`~mlwarden.errors.UnsafeModel` for any other type);
4. **check the fitted structure** of every object skops rebuilt, before anything can call
   ``predict`` or ``transform`` (:mod:`mlwarden.models._fitted_check`): tree node arrays, boosting
   grids and predictors, encoder categories, coefficient shapes... scikit-learn's compiled code
   trusts them, so a child index of 50,000,000 would otherwise be a crash (or a read or write where
   the file chose) on the first prediction. A kind with such state and no check is refused
   (:class:`~mlwarden.errors.UnsafeModel`).

Registration (``ws.models.register``) runs steps 2 to 4 on the bytes it is given before it signs
them (its own scan, then :func:`load_scanned`), so the registry never signs a model the one load
would refuse.

The file is read once into memory and every step works on that copy, so a file swapped between
verification and loading changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden._fsio import atomic_write
from mlwarden.errors import BadInput, SignatureError, UnsafeModel
from mlwarden.models._allowlist import is_allowed
from mlwarden.models._findings import FileScan
from mlwarden.models._scanner import scan_bytes
from mlwarden.models._signing import SINGLE_FILE, VerifiedModel, bundle_key_id, signature_path, verify_bundle

__all__ = [
    "KeyLookup",
    "LoadedModel",
    "PublicKeySource",
    "dumps",
    "load",
    "load_bytes",
    "load_public_key",
    "load_scanned",
    "load_verified",
    "save",
]

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".sav", ".p", ".dill", ".cloudpickle"})
PublicKeySource = ec.EllipticCurvePublicKey | bytes | str | os.PathLike[str]
KeyLookup = Callable[[str], ec.EllipticCurvePublicKey]
"""The public key of a signing key id; :class:`SignatureError` when unknown or revoked (a workspace's)."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model that passed the one load: the object, what its signature vouched for, and its scan."""

    model: Any
    signature: VerifiedModel
    scan: FileScan
    sha256: str


def dumps(estimator: Any) -> bytes:
    """The skops bytes of ``estimator`` (a scikit-learn model)."""
    import skops.io as sio

    try:
        return bytes(sio.dumps(estimator))
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadInput(f"skops cannot serialise this {type(estimator).__name__}: {exc}") from None


def save(estimator: Any, path: str | os.PathLike[str]) -> str:
    """Write ``estimator`` with skops to ``path`` (atomically); returns the file's SHA-256.

    Pickle is refused: a ``.pkl``, ``.joblib`` or similar path raises :class:`BadInput`.
    """
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise BadInput(f"{path.name}: pickle is refused (it runs code on load); save to a .skops file instead")
    data = dumps(estimator)
    atomic_write(path, data, mode=0o644)
    return hashlib.sha256(data).hexdigest()


def load_public_key(source: PublicKeySource) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from a key object, PEM bytes, or a PEM file's path."""
    if isinstance(source, ec.EllipticCurvePublicKey):
        key: Any = source
    else:
        pem = source if isinstance(source, bytes) else _read(Path(source), "public key")
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError):
            raise BadInput(
                "the public key is not a PEM public key (make one with `mlwarden model public-key`)"
            ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadInput("the public key is not an ECDSA P-256 key")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def load(
    path: str | os.PathLike[str],
    *,
    signature: str | os.PathLike[str] | None = None,
    public_key: PublicKeySource | None = None,
    key_lookup: KeyLookup | None = None,
) -> Any:
    """Verify, scan and load a skops model file; returns the model. See the module docstring.

    The signature is ``PATH.sig`` unless ``signature`` names it. The key is ``public_key`` when
    given, else ``key_lookup`` of the key id the signature names. To load with a workspace's
    keys, through its gate, use ``ws.models.load_file(path)``.
    """
    return load_verified(path, signature=signature, public_key=public_key, key_lookup=key_lookup).model


def load_verified(
    path: str | os.PathLike[str],
    *,
    signature: str | os.PathLike[str] | None = None,
    public_key: PublicKeySource | None = None,
    key_lookup: KeyLookup | None = None,
) -> LoadedModel:
    """:func:`load`, also returning what the signature vouched for (provenance) and the scan."""
    path = Path(path)
    data = _read(path, "model file")
    sig_path = Path(signature) if signature is not None else signature_path(path)
    try:
        bundle = sig_path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(
            f"no signature at {sig_path}: mlwarden loads only signed models (`mlwarden model sign {path}`)"
        ) from None
    except OSError as exc:
        raise SignatureError(f"cannot read the signature {sig_path}: {exc.strerror or exc}") from None
    if public_key is not None:
        key = load_public_key(public_key)
    elif key_lookup is not None:
        key = key_lookup(bundle_key_id(bundle))
    else:
        raise SignatureError("no key to verify the signature with: pass public_key= (or use ws.models.load_file)")
    return load_bytes(data, path.name, bundle, key)


def load_bytes(
    data: bytes, name: str, bundle: bytes, public_key: ec.EllipticCurvePublicKey, *, sha256: str | None = None
) -> LoadedModel:
    """The one load over bytes already in memory (a file, or a model decrypted from the registry, whose
    ``sha256`` the caller has already computed)."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    verified = check_signature(digest, name, bundle, public_key)
    result = scan_bytes(data, name)
    refuse_unsafe(result)
    if result.format != "skops":
        raise UnsafeModel(f"{name} is a {result.format} file: mlwarden loads only skops models")
    return LoadedModel(load_scanned(data, name), verified, result, digest)


def load_scanned(data: bytes, name: str) -> Any:
    """Steps 3 and 4 of the one load (skops with trusted types, the fitted-structure check) over skops
    bytes the scanner has passed: after the signature check, or before signing (registration)."""
    import skops.io as sio

    from mlwarden.models._fitted_check import check_fitted  # NumPy: imported only when a model is loaded

    try:
        untrusted = [str(t) for t in sio.get_untrusted_types(data=data)]
    except Exception as exc:
        raise UnsafeModel(f"{name} is not a readable skops file: {type(exc).__name__}") from None
    refused = [t for t in untrusted if "." not in t or not is_allowed(*t.rsplit(".", 1))]
    if refused:
        shown = ", ".join(refused[:3]) + (f" and {len(refused) - 3} more" if len(refused) > 3 else "")
        raise UnsafeModel(f"{name} needs types that are not on the allow-list: {shown}; it was not loaded")
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise UnsafeModel(f"{name} could not be loaded by skops: {type(exc).__name__}: {exc}") from None
    check_fitted(model, name)
    return model


def check_signature(digest: str, name: str, bundle: bytes, public_key: ec.EllipticCurvePublicKey) -> VerifiedModel:
    """Verify ``bundle`` with ``public_key`` and that it signs exactly one file (a single-file model, whose
    one resource model-signing names ``"."``) whose SHA-256 is ``digest``."""
    verified = verify_bundle(bundle, public_key)
    names = [n for n, _ in verified.files]
    if names != [SINGLE_FILE]:
        signed = ", ".join(names[:3]) or "nothing"
        raise SignatureError(f"the signature covers a folder ({signed}), not the single model file {name}")
    if not hmac.compare_digest(digest, verified.files[0][1]):
        raise SignatureError(f"model file {name} changed since signing (sha256 {digest[:16]}...)")
    return verified


def refuse_unsafe(result: FileScan) -> None:
    """:class:`UnsafeModel` naming the worst finding, or the scan's error."""
    if result.error is not None:
        raise UnsafeModel(f"{result.path} could not be scanned ({result.error}); it was not loaded")
    if result.findings:
        worst = max(result.findings, key=lambda f: f.severity)
        more = len(result.findings) - 1
        raise UnsafeModel(
            f"{result.path}: {worst.severity} {worst.kind} {worst.name} at {worst.location()}"
            + (f" and {more} more finding{'s' * (more > 1)}" if more else "")
            + "; it was not loaded (see `mlwarden model scan`)"
        )
