"""``ws.keys``: the workspace's key-encryption key versions, its master key, its model-signing keys.

Every call is a gated, audited decision (``key.read``, ``key.rotate``, ``key.admin``) on
``keyring`` or ``model-signing-key``, from Python as from the CLI. Key material never leaves:
the service hands out versions, counts, key ids and public keys only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlwarden._fsio import file_lock
from mlwarden.access import Gate
from mlwarden.config import Settings
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._kdf import KdfParams
from mlwarden.crypto._keyring import Keyring
from mlwarden.crypto._master_key import EnvMasterKeyProvider, MasterKeyProvider, PassphraseMasterKeyProvider
from mlwarden.crypto._pseudonym_keys import PseudonymKeyInfo, PseudonymKeys
from mlwarden.crypto._signing_keys import ModelSigningKeys, SigningKeyInfo
from mlwarden.crypto._streaming_aead import Progress
from mlwarden.errors import BadInput

__all__ = ["KeyService", "KeyVersionInfo", "PassphrasePrompt", "Rotation", "key_change_lock", "master_key_provider"]

PassphrasePrompt = Callable[[bool], str]
"""Asks for a passphrase (``True``: a new one, to be confirmed)."""
SIGNING_KEY = "model-signing-key"
PSEUDONYM_KEY = "pseudonym-key"


@dataclass(frozen=True)
class KeyVersionInfo:
    """One key-encryption key version and how many live data keys it wraps."""

    version: int
    created: str
    primary: bool
    data_keys: int


@dataclass(frozen=True)
class Rotation:
    """The outcome of a key rotation."""

    new_version: int
    rewrapped: int


def master_key_provider(
    kind: str,
    settings: Settings,
    passphrase: str | None,
    prompt: PassphrasePrompt | None,
    *,
    new: bool,
    kdf: KdfParams | None = None,
    variable: str = "MLWARDEN_PASSPHRASE",
) -> MasterKeyProvider:
    """The master key from ``kind`` (``passphrase`` or ``env``); ``variable`` is the one to name when
    a passphrase is needed and there is neither one nor a terminal to ask on."""
    if kind == "env":
        return EnvMasterKeyProvider(settings.master_key)
    if kind == "passphrase":

        def get() -> str:
            if passphrase:
                return passphrase
            if settings.passphrase:
                return settings.passphrase
            if prompt is not None:
                return prompt(new)
            raise BadInput(f"this workspace needs a passphrase: set {variable} or run in a terminal")

        return PassphraseMasterKeyProvider(get, kdf)
    raise BadInput(f"unknown key source {kind!r}: use passphrase or env")


@contextlib.contextmanager
def key_change_lock(lock: Path, keyring: Keyring) -> Iterator[None]:
    """Serialise a key change against every other process using the workspace (then re-read the keyring)."""
    with file_lock(lock, exclusive=True):
        keyring.reload()
        yield


class KeyService:
    """The keys of one workspace, each change through ``gate`` and under the workspace's key lock."""

    def __init__(
        self,
        *,
        gate: Gate,
        keyring: Keyring,
        data_keys: DataKeyStore,
        identity_keys: DataKeyStore,
        signing_keys: ModelSigningKeys,
        lock: Path,
        home: Path,
        pseudonym_keys: PseudonymKeys | None = None,
    ) -> None:
        self._pseudonym_keys = pseudonym_keys
        self._gate = gate
        self._keyring = keyring
        self._data_keys = data_keys
        self._identity_keys = identity_keys
        self._signing_keys = signing_keys
        self._lock = lock
        self._home = home

    def __repr__(self) -> str:
        return f"<KeyService {self._home}>"

    def _exclusive(self) -> contextlib.AbstractContextManager[None]:
        return key_change_lock(self._lock, self._keyring)

    # -- facts shown beside results (unaudited) ------------------------------------------------

    @property
    def master_kind(self) -> str:
        """What unlocks the workspace: ``passphrase`` or ``env``."""
        return self._keyring.master_kind

    @property
    def primary(self) -> int:
        """The key version new data keys are wrapped with."""
        return self._keyring.primary

    def data_key_count(self) -> int:
        """How many data keys the workspace records (the size of a rotation, for a progress bar).

        Needs ``key.read`` (a denial is recorded) but records nothing when allowed.
        """
        if not self._gate.allows("key.read", "keyring"):
            self._gate.check("key.read", "keyring", count=True)
        return self._data_keys.count()

    # -- key-encryption keys --------------------------------------------------------------------

    def versions(self) -> list[KeyVersionInfo]:
        """Every key version, the primary one, and how many data keys each wraps (``key.read``)."""
        self._gate.check("key.read", "keyring")
        counts = self._data_keys.count_by_version()
        return [
            KeyVersionInfo(v.version, v.created, v.primary, counts.get(v.version, 0)) for v in self._keyring.versions()
        ]

    def rotate(self, *, progress: Progress | None = None) -> Rotation:
        """Add a key version, make it primary, and rewrap every data key under it (``key.rotate``).

        Payloads are not touched. Crash-safe: the new version is durable before any data key
        moves to it, and each data key record is replaced atomically.
        """
        with self._gate.act("key.rotate", "keyring") as act, self._exclusive():
            version = self._keyring.add_version()
            rewrapped = self._data_keys.rewrap_all(progress)
            self._identity_keys.rewrap_all()
            self._signing_keys.rewrap_all()
            if self._pseudonym_keys is not None:
                self._pseudonym_keys.rewrap_all()
            act.record(primary=version, rewrapped=rewrapped)
        return Rotation(version, rewrapped)

    def change_master(
        self,
        key_source: str | None = None,
        *,
        passphrase: str | None = None,
        prompt: PassphrasePrompt | None = None,
        settings: Settings | None = None,
        kdf: KdfParams | None = None,
    ) -> str:
        """Put the workspace under a new master key (``key.admin``); returns the key source now in use.

        ``key_source`` (default: the current one) is ``"passphrase"`` (the new passphrase from
        ``passphrase``, else ``MLWARDEN_NEW_PASSPHRASE``, else ``prompt``) or ``"env"``
        (``MLWARDEN_NEW_MASTER_KEY``). Only the keyring is rewritten, atomically; data keys and
        payloads are untouched.
        """
        kind = key_source or self._keyring.master_kind
        with self._gate.act("key.admin", "keyring", change="master", key_source=kind):
            settings = settings or Settings.from_env(self._home)
            new = Settings(home=self._home, passphrase=settings.new_passphrase, master_key=settings.new_master_key)
            if kind == "env" and not new.master_key:
                raise BadInput("set MLWARDEN_NEW_MASTER_KEY to the new key (make one with `mlwarden keys generate`)")
            provider = master_key_provider(
                kind, new, passphrase, prompt, new=True, kdf=kdf, variable="MLWARDEN_NEW_PASSPHRASE"
            )
            master, descriptor = provider.create()
            with self._exclusive():
                self._keyring.change_master(master, descriptor)
        return kind

    def destroy_version(self, version: int) -> None:
        """Destroy an old key version (``key.admin``). Refused while any workspace data key still uses it.

        Files whose data key this workspace records keep working (their record was rewrapped by
        rotation); an envelope file whose record is gone can only be read through its header's
        wrap, and becomes unreadable if that wrap is under this version.
        """
        with self._gate.act("key.admin", "keyring", destroy_version=version), self._exclusive():
            in_use = self._data_keys.count_by_version().get(version, 0)
            if in_use:
                raise BadInput(f"key version {version} still wraps {in_use} data keys; run `mlwarden keys rotate`")
            if version != self._keyring.primary and (
                self._identity_keys.count_by_version().get(version)
                or self._signing_keys.count_by_version().get(version)
                or (self._pseudonym_keys is not None and self._pseudonym_keys.count_by_version().get(version))
            ):
                raise BadInput(
                    f"key version {version} still wraps the workspace identity, model-signing or "
                    "pseudonymisation keys; run `mlwarden keys rotate`"
                )
            self._keyring.destroy_version(version)

    # -- model-signing keys ---------------------------------------------------------------------

    def signing_key(self) -> SigningKeyInfo:
        """The active model-signing key, its public half included (``key.read``; made on first use)."""
        with self._gate.act("key.read", SIGNING_KEY) as act:
            info, _ = self._signing_keys.active(by=self._gate.principal.name)
            act.record(key_id=info.key_id[:16])
        return info

    def signing_keys(self) -> list[SigningKeyInfo]:
        """Every model-signing key and its state: active, retired, revoked (``key.read``)."""
        self._gate.check("key.read", SIGNING_KEY)
        return self._signing_keys.keys()

    def rotate_signing_key(self) -> tuple[SigningKeyInfo, SigningKeyInfo | None]:
        """A new active model-signing key; the old one is retired (``key.rotate``). Returns (new, old)."""
        with self._gate.act("key.rotate", SIGNING_KEY) as act:
            new, old = self._signing_keys.rotate(by=self._gate.principal.name)
            act.record(key_id=new.key_id[:16], retired=old.key_id[:16] if old else None)
        return new, old

    # -- pseudonymisation keys -----------------------------------------------------------------

    def pseudonym_keys(self) -> list[PseudonymKeyInfo]:
        """Every pseudonymisation key and its state: active (makes new tokens) or retired (``key.read``)."""
        self._gate.check("key.read", PSEUDONYM_KEY)
        return [] if self._pseudonym_keys is None else self._pseudonym_keys.keys()

    def rotate_pseudonym_key(self) -> tuple[PseudonymKeyInfo, PseudonymKeyInfo | None]:
        """A new active pseudonymisation key (``key.rotate``); the old one is retired: its tokens still
        match (erasure) and reverse (re-identification), new versions get the new key's tokens."""
        if self._pseudonym_keys is None:
            raise BadInput("this workspace handle has no pseudonymisation keys")
        with self._gate.act("key.rotate", PSEUDONYM_KEY) as act:
            new, old = self._pseudonym_keys.rotate(by=self._gate.principal.name)
            act.record(number=new.number, retired=old.number if old else None)
        return new, old

    def revoke_signing_key(self, key_id: str) -> SigningKeyInfo:
        """Revoke a model-signing key (``key.admin``; a prefix of 8+ hex digits): nothing it signed verifies."""
        with self._gate.act("key.admin", SIGNING_KEY, revoke=key_id[:16]) as act:
            info = self._signing_keys.revoke(key_id, by=self._gate.principal.name)
            act.record(key_id=info.key_id[:16])
        return info
