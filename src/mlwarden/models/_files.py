"""Signing and verifying model files and folders on disk, with a workspace's keys through its gate.

``mlwarden model sign`` and ``model verify`` are ``ws.models.sign_file`` and ``verify_file``,
which call these functions with the registry's gate and signing keys: the signature goes to
``PATH.sig`` beside the model unless another path is given (inside a folder, it is left out of
the hashes), the provenance records who signed and when, and each call is an audited
``model.register`` or ``model.read`` decision on the model's name. :func:`verify_path` with a
``public_key`` alone needs no workspace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlwarden._fsio import check_output, write_output
from mlwarden.crypto._signing_keys import ModelSigningKeys, SigningKeyInfo
from mlwarden.errors import SignatureError
from mlwarden.models._serialize import KeyLookup, PublicKeySource, load_public_key
from mlwarden.models._signing import (
    VerifiedModel,
    bundle_key_id,
    sign_model,
    signature_ignore,
    signature_path,
    verify_model,
)

if TYPE_CHECKING:
    from mlwarden.access import Gate

__all__ = ["sign_path", "verify_path"]


def sign_path(
    path: str | os.PathLike[str],
    *,
    gate: Gate,
    signing_keys: ModelSigningKeys,
    signature: str | os.PathLike[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    force: bool = False,
) -> tuple[Path, SigningKeyInfo]:
    """Sign a model file or folder with the active key of ``signing_keys``, through ``gate``
    (``model.register``); returns the signature's path and the key.

    An existing signature file is replaced only with ``force`` (a FIFO or device is written into:
    the rule of :func:`mlwarden._fsio.open_output`); it is refused before anything is signed.
    """
    from mlwarden._clock import timestamp, utc_now
    from mlwarden._version import __version__

    path = Path(path)
    target = Path(signature) if signature is not None else signature_path(path)
    check_output(target, force=force)
    signed: dict[str, Any] = dict(provenance or {})
    with gate.act("model.register", f"model:{path.name}", what="sign") as act:
        key, private = signing_keys.active(by=gate.principal.name)
        signed.setdefault("signed_by", gate.principal.name)
        signed.setdefault("signed_at", timestamp(utc_now()))
        signed.setdefault("code", {"mlwarden": __version__})
        bundle = sign_model(path, private, provenance=signed, ignore=signature_ignore(path, target))
        write_output(target, bundle, mode=0o644, force=force)
        act.record(signing_key=key.key_id[:16], signature=str(target))
    return target, key


def verify_path(
    path: str | os.PathLike[str],
    *,
    signature: str | os.PathLike[str] | None = None,
    public_key: PublicKeySource | None = None,
    key_lookup: KeyLookup | None = None,
    gate: Gate | None = None,
) -> VerifiedModel:
    """Verify a signed model file or folder with ``public_key`` alone, or with ``key_lookup`` of the key
    that signed it (a workspace's: refused when unknown or revoked), the check an audited ``model.read``
    through ``gate``."""
    path = Path(path)
    sig_path = Path(signature) if signature is not None else signature_path(path)
    try:
        bundle = sig_path.read_bytes()
    except OSError:
        raise SignatureError(f"no signature at {sig_path} (sign with `mlwarden model sign {path}`)") from None
    ignore = signature_ignore(path, sig_path)
    if public_key is not None:
        return verify_model(path, bundle, load_public_key(public_key), ignore=ignore)
    if key_lookup is None or gate is None:
        raise SignatureError("no key to verify the signature with: pass public_key= (or use ws.models.verify_file)")
    with gate.act("model.read", f"model:{path.name}", what="verify") as act:
        verified = verify_model(path, bundle, key_lookup(bundle_key_id(bundle)), ignore=ignore)
        act.record(signing_key=verified.key_id[:16], root=verified.root_digest[:16])
    return verified
