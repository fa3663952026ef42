"""The workspace keyring: versioned key-encryption keys (KEKs) wrapped by the master key.

On disk, ``keys/keyring.json`` (mode 0600, replaced atomically on every change)::

    {
      "format": "mlwarden-keyring", "version": 1,
      "workspace_id": "<32 hex digits>",
      "master": {"kind": "passphrase", "kdf": {...}}  or  {"kind": "env", "key_id": "..."},
      "primary": 2,
      "keys": [
        {"version": 1, "created": "2026-11-25T17:00:00Z", "wrapped": "<base64>"},
        {"version": 2, "created": "2026-11-26T09:00:00Z", "wrapped": "<base64>"}
      ]
    }

Each ``wrapped`` is ``MasterKey.wrap(kek, aad)`` with ``aad = b"mlwarden/kek/v1" || workspace_id (16
bytes) || uint32_be(version)``, so a KEK cannot be moved to another version or workspace unnoticed.

Data keys are wrapped by a KEK as ``nonce (12) || AES-256-GCM(kek, data_key) || tag (16)`` (60
bytes) with ``aad = b"mlwarden/dek/v1" || object_id || uint32_be(kek_version)``: the object's
identity and the key version are bound to the wrapped key.

Rotation adds a version and makes it primary; old versions stay so that everything they wrap
stays readable until it is rewrapped. A version can be destroyed once nothing uses it, which is
what completes crypto-shredding: a copy of a destroyed object's wrapped key that survived on disk
(a filesystem may keep old blocks) is useless once the KEK that wrapped it is gone.

Bump ``KEYRING_VERSION`` when the layout changes, and keep a reader for every older version.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlwarden._clock import Clock, timestamp, utc_now
from mlwarden._fsio import atomic_create, atomic_write
from mlwarden.crypto._master_key import MasterKey, MasterKeyProvider
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound

__all__ = ["KEYRING_VERSION", "KeyVersion", "Keyring", "WrappedKey"]

KEYRING_FORMAT = "mlwarden-keyring"
KEYRING_VERSION = 1
WRAPPED_KEY_SIZE = 12 + 32 + 16
_KEK_AAD = b"mlwarden/kek/v1"
_DEK_AAD = b"mlwarden/dek/v1"


@dataclass(frozen=True)
class KeyVersion:
    """Public facts about one key-encryption key version."""

    version: int
    created: str
    primary: bool


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped by key-encryption key ``kek_version``; safe to store anywhere."""

    kek_version: int
    blob: bytes


class Keyring:
    """The unlocked key-encryption keys of one workspace (an opaque handle).

    Obtain one with :meth:`create` or :meth:`open`. It never exposes a KEK: it wraps and unwraps
    data keys. It cannot be pickled and its repr shows no key material.
    """

    __slots__ = ("_clock", "_doc", "_keks", "_master", "_path", "workspace_id")

    def __init__(self, path: Path, doc: dict[str, Any], master: MasterKey, clock: Clock) -> None:
        self._path = path
        self._doc = doc
        self._master = master
        self._clock = clock
        self.workspace_id: bytes = bytes.fromhex(doc["workspace_id"])
        self._keks: dict[int, AESGCM] = {}
        for entry in doc["keys"]:
            version = entry["version"]
            try:
                wrapped = base64.b64decode(entry["wrapped"], validate=True)
            except ValueError:
                raise IntegrityError(f"the keyring's key version {version} is damaged") from None
            try:
                kek = master.unwrap(wrapped, self._kek_aad(version))
            except AccessDenied:
                if master.kind == "passphrase":
                    raise AccessDenied(
                        "wrong passphrase or damaged keyring: the passphrase does not unlock this workspace "
                        "(if it is the right one, restore keys/keyring.json from a backup)"
                    ) from None
                raise
            self._keks[version] = AESGCM(kek)

    def __repr__(self) -> str:
        return f"<Keyring {self.workspace_id.hex()} primary=v{self.primary}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a keyring holds key material and cannot be pickled or copied")

    # -- creation and loading ---------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, provider: MasterKeyProvider, *, workspace_id: bytes, clock: Clock = utc_now) -> Keyring:
        """Create a keyring with one fresh KEK (version 1) at ``path``, which must not exist."""
        master, descriptor = provider.create()
        return cls.create_with_master(path, master, descriptor, workspace_id=workspace_id, clock=clock)

    @classmethod
    def create_with_master(
        cls,
        path: Path,
        master: MasterKey,
        descriptor: dict[str, Any],
        *,
        workspace_id: bytes,
        clock: Clock = utc_now,
    ) -> Keyring:
        """As :meth:`create`, with a master key already made by its provider."""
        doc: dict[str, Any] = {
            "format": KEYRING_FORMAT,
            "version": KEYRING_VERSION,
            "workspace_id": workspace_id.hex(),
            "master": descriptor,
            "primary": 1,
            "keys": [cls._new_entry(master, workspace_id, 1, clock())],
        }
        try:
            atomic_create(path, _dump(doc))
        except FileExistsError:
            raise AlreadyExists(f"a keyring already exists at {path}") from None
        return cls(path, doc, master, clock)

    @classmethod
    def open(
        cls,
        path: Path,
        provider: MasterKeyProvider,
        *,
        clock: Clock = utc_now,
        document: dict[str, Any] | None = None,
    ) -> Keyring:
        """Unlock the keyring at ``path`` with the master key from ``provider``.

        ``document`` is the file's content already read by :func:`read_keyring_document`.
        """
        doc = read_keyring_document(path) if document is None else document
        if doc["master"].get("kind") != provider.kind:
            kind = doc["master"].get("kind")
            raise BadInput(f"this workspace is unlocked by its {kind} key, not a {provider.kind} key")
        return cls(path, doc, provider.open(doc["master"]), clock)

    @staticmethod
    def _kek_aad_for(workspace_id: bytes, version: int) -> bytes:
        return _KEK_AAD + workspace_id + struct.pack(">I", version)

    def _kek_aad(self, version: int) -> bytes:
        return self._kek_aad_for(self.workspace_id, version)

    @classmethod
    def _new_entry(cls, master: MasterKey, workspace_id: bytes, version: int, now: datetime) -> dict[str, Any]:
        kek = AESGCM.generate_key(bit_length=256)
        wrapped = master.wrap(kek, cls._kek_aad_for(workspace_id, version))
        return {"version": version, "created": timestamp(now), "wrapped": base64.b64encode(wrapped).decode()}

    # -- facts ----------------------------------------------------------------------------

    @property
    def primary(self) -> int:
        """The version new data keys are wrapped with."""
        return int(self._doc["primary"])

    @property
    def master_kind(self) -> str:
        return str(self._doc["master"]["kind"])

    def versions(self) -> list[KeyVersion]:
        return [
            KeyVersion(version=e["version"], created=e["created"], primary=e["version"] == self.primary)
            for e in self._doc["keys"]
        ]

    # -- data keys ------------------------------------------------------------------------

    @staticmethod
    def _dek_aad(object_id: bytes, kek_version: int) -> bytes:
        return _DEK_AAD + object_id + struct.pack(">I", kek_version)

    def wrap(self, data_key: bytes, object_id: bytes, kek_version: int | None = None) -> WrappedKey:
        """Wrap ``data_key`` for the object ``object_id`` under the primary KEK (or ``kek_version``)."""
        version = self.primary if kek_version is None else kek_version
        kek = self._kek(version)
        nonce = os.urandom(12)
        return WrappedKey(version, nonce + kek.encrypt(nonce, data_key, self._dek_aad(object_id, version)))

    def unwrap(self, wrapped: WrappedKey, object_id: bytes) -> bytes:
        """The data key of ``object_id``; :class:`IntegrityError` if it was tampered with or moved."""
        kek = self._kek(wrapped.kek_version)
        if len(wrapped.blob) != WRAPPED_KEY_SIZE:
            raise IntegrityError("a wrapped data key has the wrong length")
        try:
            return kek.decrypt(wrapped.blob[:12], wrapped.blob[12:], self._dek_aad(object_id, wrapped.kek_version))
        except InvalidTag:
            raise IntegrityError("a wrapped data key failed authentication") from None

    def _kek(self, version: int) -> AESGCM:
        if version not in self._keks:
            self.reload()  # another process may have rotated since this handle was opened
        try:
            return self._keks[version]
        except KeyError:
            raise AccessDenied(f"key version {version} is not in this workspace's keyring") from None

    # -- changes (callers hold the workspace lock) -------------------------------------------

    def reload(self) -> None:
        """Re-read the keyring file (after another process changed it)."""
        fresh = Keyring(self._path, read_keyring_document(self._path), self._master, self._clock)
        self._doc, self._keks = fresh._doc, fresh._keks

    def add_version(self) -> int:
        """Add a new KEK version and make it primary; durable before it returns."""
        doc = json.loads(json.dumps(self._doc))
        version: int = max(e["version"] for e in doc["keys"]) + 1
        doc["keys"].append(self._new_entry(self._master, self.workspace_id, version, self._clock()))
        doc["primary"] = version
        atomic_write(self._path, _dump(doc))
        self.reload()
        return version

    def change_master(self, master: MasterKey, descriptor: dict[str, Any]) -> None:
        """Rewrap every KEK under a new master key (a new passphrase, say), in one atomic write.

        Data keys and payloads are untouched. After a crash the keyring is wholly under the old
        master key or wholly under the new one.
        """
        doc = json.loads(json.dumps(self._doc))
        for entry in doc["keys"]:
            aad = self._kek_aad(entry["version"])
            kek = self._master.unwrap(base64.b64decode(entry["wrapped"], validate=True), aad)
            entry["wrapped"] = base64.b64encode(master.wrap(kek, aad)).decode()
        doc["master"] = descriptor
        atomic_write(self._path, _dump(doc))
        self._master = master
        self.reload()

    def destroy_version(self, version: int) -> None:
        """Remove KEK ``version`` for good; whatever it still wraps becomes unreadable."""
        if version == self.primary:
            raise BadInput(f"key version {version} is primary; rotate first")
        if version not in self._keks:
            raise NotFound(f"key version {version} is not in this workspace's keyring")
        doc = json.loads(json.dumps(self._doc))
        doc["keys"] = [e for e in doc["keys"] if e["version"] != version]
        atomic_write(self._path, _dump(doc))
        self.reload()


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def read_keyring_document(path: Path) -> dict[str, Any]:
    """Read and structurally validate a keyring file (no key is touched)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no keyring at {path}; create a workspace with `mlwarden init`") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if (
        isinstance(doc, dict)
        and doc.get("format") == KEYRING_FORMAT
        and type(doc.get("version")) is int
        and doc["version"] != KEYRING_VERSION
    ):
        raise BadInput(f"keyring format version {doc.get('version')} is not supported by this mlwarden; upgrade it")
    try:
        ok = (
            isinstance(doc, dict)
            and doc.get("format") == KEYRING_FORMAT
            and isinstance(doc.get("master"), dict)
            and isinstance(doc.get("keys"), list)
            and doc.get("version") == KEYRING_VERSION
            and doc["keys"]
            and all(
                isinstance(e, dict)
                and type(e.get("version")) is int
                and 1 <= e["version"] < 2**32
                and isinstance(e.get("wrapped"), str)
                and isinstance(e.get("created"), str)
                for e in doc["keys"]
            )
            and len({e["version"] for e in doc["keys"]}) == len(doc["keys"])
            and type(doc.get("primary")) is int
            and any(e["version"] == doc["primary"] for e in doc["keys"])
            and len(bytes.fromhex(doc["workspace_id"])) == 16
        )
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise IntegrityError(f"the keyring at {path} is damaged")
    return doc  # type: ignore[no-any-return]
