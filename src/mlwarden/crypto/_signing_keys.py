"""The workspace's model-signing keys: ECDSA P-256, as OpenSSF model-signing verifies them.

Each key's private scalar (32 bytes) is kept like a data key: wrapped by the keyring under a
reserved object id (``mlwarden-msk`` + the key's number), so rotation of the key-encryption
keys rewraps it and only the master key unlocks it. The index of keys (number, key id, public
key, state) lives in ``keys/model-signing.json`` under an HMAC-SHA256 whose key is derived from
the workspace identity: someone who can write the folder but lacks the master key cannot add a
key of their own, un-revoke one, or drop a revocation without the index failing its check.

A key id is the hex SHA-256 of the public key's PEM SubjectPublicKeyInfo, the ``hint`` that
model-signing writes into its bundles. States: ``active`` (signs; one at a time), ``retired``
(verifies what it signed before a rotation), ``revoked`` (nothing it signed is trusted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden._clock import Clock, timestamp
from mlwarden._fsio import atomic_write, file_lock
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._keyring import Keyring
from mlwarden.errors import BadInput, IntegrityError, NotFound, Shredded, SignatureError

__all__ = ["ModelSigningKeys", "SigningKeyInfo", "public_key_id"]

_PREFIX = b"mlwarden-msk"
_INDEX_VERSION = 1


def public_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Hex SHA-256 of the PEM SubjectPublicKeyInfo (model-signing's key hint)."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


@dataclasses.dataclass(frozen=True)
class SigningKeyInfo:
    number: int
    key_id: str
    state: str
    public_pem: str
    created_at: str
    created_by: str
    changed_at: str | None = None
    changed_by: str | None = None

    def public_key(self) -> ec.EllipticCurvePublicKey:
        key = serialization.load_pem_public_key(self.public_pem.encode())
        if not isinstance(key, ec.EllipticCurvePublicKey):  # the index is MACed: this cannot happen unnoticed
            raise IntegrityError("a model-signing key in the index is not an EC key")
        return key


def _object_id(number: int) -> bytes:
    return _PREFIX + struct.pack(">I", number)


class ModelSigningKeys:
    """The signing keys of one workspace. The first key is made on first use."""

    def __init__(self, home: Path, keyring: Keyring, clock: Clock, mac_key: bytes) -> None:
        self._store = DataKeyStore(home / "keys" / "model-signing", keyring, clock, lock=home / ".lock")
        self._index = home / "keys" / "model-signing.json"
        self._lock = home / "keys" / ".model-signing.lock"
        self._clock = clock
        self._mac_key = mac_key

    def __repr__(self) -> str:
        return "<ModelSigningKeys>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("model-signing keys hold key material and cannot be pickled")

    # -- index --------------------------------------------------------------------------------

    def _mac(self, keys: list[dict[str, Any]]) -> str:
        body = json.dumps({"version": _INDEX_VERSION, "keys": keys}, sort_keys=True, separators=(",", ":"))
        return hmac.new(self._mac_key, body.encode(), hashlib.sha256).hexdigest()

    def _read(self, *, locked: bool = False) -> list[SigningKeyInfo]:
        """The index, checked. ``locked``: the caller holds the keys' lock (no other writer is midway)."""
        try:
            doc = json.loads(self._index.read_bytes())
        except FileNotFoundError:
            if not any(True for _ in self._store.object_ids()):
                return []
            if not locked:
                # The first key's private half is written before the index: wait for a writer midway.
                with file_lock(self._lock, exclusive=False):
                    return self._read(locked=True)
            raise IntegrityError(
                f"{self._index} is missing although model-signing keys exist; restore it from a backup"
            ) from None
        except ValueError:
            raise IntegrityError(f"{self._index} is damaged; restore it from a backup") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or doc.get("version") != _INDEX_VERSION:
            raise IntegrityError(f"{self._index} is damaged; restore it from a backup")
        if not hmac.compare_digest(str(doc.get("mac", "")), self._mac(doc["keys"])):
            raise IntegrityError(
                f"{self._index} failed its integrity check: the list of model-signing keys was altered; "
                "restore it from a backup"
            )
        try:
            keys = [SigningKeyInfo(**entry) for entry in doc["keys"]]
        except TypeError:
            raise IntegrityError(f"{self._index} is damaged; restore it from a backup") from None
        for info in keys:
            # Revoking shreds the private half: an index that calls such a key usable was rolled back.
            if info.state != "revoked" and self._shredded(info.number):
                raise IntegrityError(
                    f"{self._index} was rolled back: key {info.key_id[:12]} was revoked; restore the current index"
                )
        return keys

    def _shredded(self, number: int) -> bool:
        try:
            return self._store.record(_object_id(number)).shredded is not None
        except NotFound:  # lost rather than revoked: using the key reports it
            return False

    def _write(self, keys: list[SigningKeyInfo]) -> None:
        entries = [dataclasses.asdict(k) for k in keys]
        doc = {"version": _INDEX_VERSION, "keys": entries, "mac": self._mac(entries)}
        atomic_write(self._index, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    # -- reading ------------------------------------------------------------------------------

    def keys(self) -> list[SigningKeyInfo]:
        return self._read()

    def find(self, key_id: str) -> SigningKeyInfo:
        for info in self._read():
            if hmac.compare_digest(info.key_id, key_id):
                return info
        raise NotFound(f"no model-signing key {key_id[:12]} in this workspace")

    def verification_key(self, key_id: str) -> ec.EllipticCurvePublicKey:
        """The public key to verify a signature by ``key_id``: :class:`SignatureError` when this workspace
        does not know the key or has revoked it (a retired key still verifies what it signed)."""
        try:
            info = self.find(key_id)
        except NotFound:
            raise SignatureError(f"signed by an unknown key {key_id[:12]}: this workspace does not know it") from None
        if info.state == "revoked":
            raise SignatureError(f"signed by key {key_id[:12]}, revoked at {info.changed_at} by {info.changed_by}")
        return info.public_key()

    def active(self, *, by: str) -> tuple[SigningKeyInfo, ec.EllipticCurvePrivateKey]:
        """The key that signs now (made on first use)."""
        for info in self._read():
            if info.state == "active":
                return info, self._private(info)
        with file_lock(self._lock, exclusive=True):
            keys = self._read(locked=True)
            for info in keys:
                if info.state == "active":
                    return info, self._private(info)
            info, private = self._create(keys, by)
            self._write([*keys, info])
            return info, private

    def _private(self, info: SigningKeyInfo) -> ec.EllipticCurvePrivateKey:
        try:
            scalar = self._store.data_key(_object_id(info.number))
        except (NotFound, Shredded):
            raise IntegrityError(f"model-signing key {info.number} has lost its private half") from None
        private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
        if not hmac.compare_digest(public_key_id(private.public_key()), info.key_id):
            raise IntegrityError(f"model-signing key {info.number} does not match its index entry")
        return private

    def _create(self, keys: list[SigningKeyInfo], by: str) -> tuple[SigningKeyInfo, ec.EllipticCurvePrivateKey]:
        number = max((k.number for k in keys), default=0) + 1
        private = ec.generate_private_key(ec.SECP256R1())
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        self._store.create_wrapped(_object_id(number), scalar)
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        info = SigningKeyInfo(
            number=number,
            key_id=public_key_id(private.public_key()),
            state="active",
            public_pem=pem.decode(),
            created_at=timestamp(self._clock()),
            created_by=by,
        )
        return info, private

    def rewrap_all(self) -> int:
        """Rewrap every private half under the keyring's primary version (key rotation)."""
        return self._store.rewrap_all()

    def count_by_version(self) -> dict[int, int]:
        return self._store.count_by_version()

    # -- changing -----------------------------------------------------------------------------

    def rotate(self, *, by: str) -> tuple[SigningKeyInfo, SigningKeyInfo | None]:
        """Make a new active key; the old one is retired (its signatures stay valid). Returns (new, old)."""
        with file_lock(self._lock, exclusive=True):
            keys = self._read(locked=True)
            now = timestamp(self._clock())
            old = next((k for k in keys if k.state == "active"), None)
            keys = [
                dataclasses.replace(k, state="retired", changed_at=now, changed_by=by) if k.state == "active" else k
                for k in keys
            ]
            new, _ = self._create(keys, by)
            self._write([*keys, new])
            retired = next((k for k in keys if old is not None and k.number == old.number), None)
            return new, retired

    def revoke(self, key_id: str, *, by: str) -> SigningKeyInfo:
        """Revoke a key: nothing it signed verifies any more, and its private half is shredded."""
        with file_lock(self._lock, exclusive=True):
            keys = self._read(locked=True)
            matches = [k for k in keys if k.key_id.startswith(key_id.lower())] if len(key_id) >= 8 else []
            if len(matches) != 1:
                raise BadInput(f"{key_id!r} names no single model-signing key; see `mlwarden model keys`")
            target = matches[0]
            if target.state == "revoked":
                raise BadInput(f"model-signing key {target.key_id[:12]} was already revoked at {target.changed_at}")
            now = timestamp(self._clock())
            revoked = dataclasses.replace(target, state="revoked", changed_at=now, changed_by=by)
            self._write([revoked if k.number == target.number else k for k in keys])
            with contextlib.suppress(NotFound, Shredded):
                self._store.shred(_object_id(target.number), by=by)
            return revoked
