"""Master keys: the root of a workspace's key hierarchy, behind one small interface.

::

    master key (passphrase, environment, later a KMS or HSM)
      └── wraps key-encryption keys (KEKs), versioned, in keys/keyring.json
            └── wrap one random data key per encrypted object

A :class:`MasterKey` only wraps and unwraps: it never has to hand out its key, so a KMS or HSM can
implement it with its own encrypt/decrypt calls. A :class:`MasterKeyProvider` makes a new master
key for a new workspace (returning a public descriptor to store in the keyring) and opens the
master key of an existing one from that descriptor.

Providers here:

``passphrase``
    Argon2id (or scrypt) over a passphrase; the KDF parameters and salt are in the descriptor.
``env``
    32 random bytes, base64-encoded in ``MLWARDEN_MASTER_KEY``; the descriptor keeps a key
    identifier (an HKDF output, which reveals nothing of the key) so a wrong key is named as such.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlwarden.crypto._kdf import KdfParams, derive_key, kdf_params_from_json, new_params
from mlwarden.crypto._streaming_aead import hkdf_sha256
from mlwarden.errors import AccessDenied, BadInput, IntegrityError

__all__ = [
    "EnvMasterKeyProvider",
    "LocalMasterKey",
    "MasterKey",
    "MasterKeyProvider",
    "PassphraseMasterKeyProvider",
    "parse_master_key",
]

_NONCE = 12
MASTER_KEY_ENV = "MLWARDEN_MASTER_KEY"
MIN_PASSPHRASE_LENGTH = 8


class MasterKey(Protocol):
    """Wraps and unwraps small secrets (key-encryption keys) under the workspace's root key."""

    @property
    def kind(self) -> str:
        """The provider's name, such as ``passphrase`` or ``env``."""
        ...

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``associated_data``."""
        ...

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        """Reverse :meth:`wrap`; raises :class:`~mlwarden.errors.AccessDenied` if the key is not the one."""
        ...


class MasterKeyProvider(Protocol):
    """Creates the master key of a new workspace, or opens the one of an existing workspace."""

    @property
    def kind(self) -> str: ...

    def create(self) -> tuple[MasterKey, dict[str, Any]]:
        """A new master key and the public descriptor to store in the keyring."""
        ...

    def open(self, descriptor: dict[str, Any]) -> MasterKey:
        """The master key described by ``descriptor``."""
        ...


class LocalMasterKey:
    """A master key held in this process's memory: AES-256-GCM with a random 96-bit nonce.

    Output is ``nonce (12) || ciphertext || tag (16)``. Cannot be pickled; its repr shows no key.
    """

    __slots__ = ("_aead", "_kind")

    def __init__(self, key: bytes, kind: str) -> None:
        if len(key) != 32:
            raise BadInput("a master key is 32 bytes")
        self._aead = AESGCM(key)
        self._kind = kind

    @property
    def kind(self) -> str:
        return self._kind

    def __repr__(self) -> str:
        return f"<LocalMasterKey {self._kind}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("master keys cannot be pickled or copied")

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        if len(wrapped) < _NONCE + 16:
            raise IntegrityError("a wrapped key is too short")
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], associated_data)
        except InvalidTag:
            raise AccessDenied("the master key does not unlock this workspace") from None


def parse_master_key(text: str) -> bytes:
    """Decode ``MLWARDEN_MASTER_KEY``: standard base64 of exactly 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{MASTER_KEY_ENV} is not valid base64; make one with `mlwarden keys generate`") from None
    if len(key) != 32:
        raise BadInput(f"{MASTER_KEY_ENV} must be base64 of 32 bytes, it decodes to {len(key)}")
    return key


def _key_id(key: bytes) -> str:
    return hkdf_sha256(key, b"", b"mlwarden/master-key-id/v1", 8).hex()


class EnvMasterKeyProvider:
    """The master key is 32 random bytes given in base64 (``MLWARDEN_MASTER_KEY``)."""

    kind = "env"

    def __init__(self, encoded: str | None) -> None:
        self._encoded = encoded

    def _key(self) -> bytes:
        if not self._encoded:
            raise BadInput(f"this workspace is unlocked by {MASTER_KEY_ENV}, which is not set")
        return parse_master_key(self._encoded)

    def create(self) -> tuple[MasterKey, dict[str, Any]]:
        key = self._key()
        return LocalMasterKey(key, self.kind), {"kind": self.kind, "key_id": _key_id(key)}

    def open(self, descriptor: dict[str, Any]) -> MasterKey:
        key = self._key()
        if descriptor.get("key_id") != _key_id(key):
            raise AccessDenied(f"{MASTER_KEY_ENV} is not the key this workspace was created with")
        return LocalMasterKey(key, self.kind)


class PassphraseMasterKeyProvider:
    """The master key is derived from a passphrase with Argon2id (or scrypt).

    ``passphrase`` is a callable so that a prompt runs only when a key is really needed.
    """

    kind = "passphrase"

    def __init__(self, passphrase: Callable[[], str], kdf: KdfParams | None = None) -> None:
        self._passphrase = passphrase
        self._kdf = kdf

    def create(self) -> tuple[MasterKey, dict[str, Any]]:
        passphrase = self._passphrase()
        if len(passphrase) < MIN_PASSPHRASE_LENGTH:
            raise BadInput(f"a new passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters")
        params = self._kdf or new_params()
        key = derive_key(params, passphrase)
        return LocalMasterKey(key, self.kind), {"kind": self.kind, "kdf": params.to_json()}

    def open(self, descriptor: dict[str, Any]) -> MasterKey:
        params = kdf_params_from_json(descriptor.get("kdf"))
        return LocalMasterKey(derive_key(params, self._passphrase()), self.kind)
