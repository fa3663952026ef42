"""The embedded workspace: a private folder holding a keyring and the data keys of its objects.

Layout (folders 0700, files 0600)::

    <home>/
      workspace.json          {"format": "mlwarden-workspace", "version": 2, "id": ..., "created": ...}
      keys/keyring.json       versioned key-encryption keys, wrapped by the master key
      keys/data/xx/<id>.json  one wrapped data key (or tombstone) per workspace object
      keys/identity/...       the workspace identity key, wrapped the same way (signs the log)
      keys/admin.token        the first admin's token, for the local user (see ``mlwarden init``)
      catalog.db              the catalog of datasets and versions (SQLite, WAL mode)
      access.db               principals and the audit log (SQLite, WAL mode)
      objects/xx/<id>         encrypted dataset versions (see mlwarden.store)
      .lock                   advisory lock serialising key changes across processes
      .store.lock             advisory lock: puts hold it shared, garbage collection exclusively

``workspace.json`` is written last by :meth:`Workspace.init`, so a folder without it is not a
workspace, whatever else it holds.

Every operation goes through :attr:`Workspace.gate` as the principal whose token opened the
workspace: the ``token`` argument, else ``MLWARDEN_TOKEN``, else the saved admin token. A
version 1 workspace (made before principals existed) is upgraded on first open: its identity
key, access database, first admin and saved token are created then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mlwarden._clock import Clock, event_time, timestamp, utc_now
from mlwarden._fsio import atomic_create, atomic_write, file_lock, private_dir
from mlwarden.access import (
    KEEP,
    MAX_REASON,
    Act,
    Gate,
    LimitChange,
    Principal,
    PrincipalStore,
    TokenRefused,
    check_limit,
    check_principal_name,
    check_role,
    check_scope,
    new_request_id,
    parse_token,
)
from mlwarden.access._gate import record_refused_token
from mlwarden.auditlog import (
    AuditEntry,
    AuditEvent,
    AuditLog,
    Checkpoint,
    InclusionProof,
    LogVerification,
    NoteSigner,
)
from mlwarden.auditlog._records import Detail
from mlwarden.config import Settings, local_user
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._envelope import (
    decrypt_envelope,
    encrypt_envelope,
    envelope_data_key,
    open_object,
    read_envelope_header,
    seal_object,
)
from mlwarden.crypto._identity import IDENTITY_OBJECT_ID, WorkspaceIdentity
from mlwarden.crypto._kdf import KdfParams
from mlwarden.crypto._keyring import Keyring, read_keyring_document
from mlwarden.crypto._master_key import EnvMasterKeyProvider, MasterKeyProvider, PassphraseMasterKeyProvider
from mlwarden.crypto._signing_keys import ModelSigningKeys
from mlwarden.crypto._streaming_aead import Progress, StreamingAead
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Shredded

if TYPE_CHECKING:
    from mlwarden.catalog import Catalog
    from mlwarden.models._registry import ModelRegistry
    from mlwarden.store import Datasets

__all__ = ["KeyVersionInfo", "Rotation", "Workspace"]

WORKSPACE_FORMAT = "mlwarden-workspace"
WORKSPACE_VERSION = 2
ACCESS_DB = "access.db"
ADMIN_TOKEN = Path("keys") / "admin.token"
SERVER_PRINCIPAL = "mlwarden-serve"
"""Who the audit log names for what the inference server decides on its own (a suspension)."""
PassphrasePrompt = Callable[[bool], str]


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


def _provider(
    kind: str,
    settings: Settings,
    passphrase: str | None,
    prompt: PassphrasePrompt | None,
    *,
    new: bool,
    kdf: KdfParams | None = None,
) -> MasterKeyProvider:
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
            raise BadInput("this workspace needs a passphrase: set MLWARDEN_PASSPHRASE or run in a terminal")

        return PassphraseMasterKeyProvider(get, kdf)
    raise BadInput(f"unknown key source {kind!r}: use passphrase or env")


class Workspace:
    """An unlocked workspace. Create one with :meth:`init`, open one with :meth:`open`."""

    def __init__(
        self,
        home: Path,
        meta: dict[str, Any],
        keyring: Keyring,
        clock: Clock = utc_now,
        *,
        settings: Settings | None = None,
        token: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.home = home
        self.id: str = meta["id"]
        self.created: str = meta["created"]
        self.keyring = keyring
        self.data_keys = DataKeyStore(home / "keys" / "data", keyring, clock, lock=home / ".lock")
        self.identity_keys = DataKeyStore(home / "keys" / "identity", keyring, clock, lock=home / ".lock")
        self._settings = settings or Settings.from_env(home)
        self._clock = clock
        self._datasets: Datasets | None = None
        self._catalog: Catalog | None = None
        self.origin = f"mlwarden/{self.id}"
        try:
            identity = WorkspaceIdentity(self.identity_keys.data_key(IDENTITY_OBJECT_ID))
        except (NotFound, Shredded):
            raise IntegrityError(
                f"the identity key of the workspace at {home} is missing; restore it from a backup"
            ) from None
        self._catalog_mark_key = identity.catalog_mark_mac_key
        self.audit, self.principals = _open_access(home, self.id, identity, clock)
        self.signing_keys = ModelSigningKeys(home, keyring, clock, identity.signing_index_mac_key)
        self._models: ModelRegistry | None = None
        request_id = request_id or new_request_id()
        try:
            self.principal: Principal = self._authenticate(token, request_id)
        except BaseException:
            self.audit.close()
            self.principals.close()
            raise
        self.gate = Gate(self.principal, self.audit, clock, request_id=request_id)

    def _authenticate(self, token: str | None, request_id: str) -> Principal:
        """The principal of ``token``, ``MLWARDEN_TOKEN`` or the saved admin token; refused ones are logged."""
        source = "the token given"
        if token is None and self._settings.token:
            token, source = self._settings.token, "MLWARDEN_TOKEN"
        if token is None:
            try:
                token, source = (self.home / ADMIN_TOKEN).read_text().strip(), "the saved admin token"
            except FileNotFoundError:
                raise AccessDenied(
                    f"no token: set MLWARDEN_TOKEN (the saved admin token {self.home / ADMIN_TOKEN} is missing)"
                ) from None
        try:
            return self.principals.authenticate(token)
        except (AccessDenied, IntegrityError) as exc:
            parsed = parse_token(token)
            reason = exc.reason if isinstance(exc, TokenRefused) else "tampered-record"
            token_id = None if parsed is None else parsed.token_id
            record_refused_token(self.audit, self._clock, request_id, token_id, reason)
            refused = AccessDenied if isinstance(exc, AccessDenied) else IntegrityError
            raise refused(f"{source} was refused: {exc}") from None

    @property
    def catalog(self) -> Catalog:
        """The workspace catalog, opened on first use (created on the first, and recorded then).

        The witness holds the workspace's MAC'd record of its catalog in ``access.db``: a
        catalog that is missing, emptied, replaced or older than recorded is refused
        (:class:`~mlwarden.errors.IntegrityError`), never recreated (``mlwarden.catalog._trust``).
        """
        if self._catalog is None:
            from mlwarden.catalog import Catalog, CatalogWitness, evidence_of

            witness = CatalogWitness(
                self.home / ACCESS_DB,
                self._catalog_mark_key,
                lambda: evidence_of(self.audit.entries(), self.home / "objects", self.home / "models"),
            )
            url = self._settings.catalog_url
            self._catalog = (
                Catalog.open_url(url, witness=witness)
                if url
                else Catalog.open_sqlite(self.home / "catalog.db", witness=witness)
            )
        return self._catalog

    @property
    def datasets(self) -> Datasets:
        """The workspace's encrypted, versioned datasets (see :class:`mlwarden.store.Datasets`)."""
        if self._datasets is None:
            from mlwarden.store import Datasets, LocalBackend

            self._datasets = Datasets(
                catalog=self.catalog,
                backend=LocalBackend(self.home / "objects"),
                data_keys=self.data_keys,
                shred_key=self._shred_key,
                lock=self.home / ".store.lock",
                gate=self.gate,
                clock=self._clock,
            )
        return self._datasets

    @property
    def models(self) -> ModelRegistry:
        """The workspace's encrypted, signed model registry (see :class:`mlwarden.models.ModelRegistry`)."""
        if self._models is None:
            from mlwarden.models._registry import ModelRegistry
            from mlwarden.store import LocalBackend

            self._models = ModelRegistry(
                catalog=self.catalog,
                backend=LocalBackend(self.home / "models"),
                data_keys=self.data_keys,
                signing_keys=self.signing_keys,
                gate=self.gate,
                clock=self._clock,
                datasets=lambda: self.datasets,
            )
        return self._models

    def close(self) -> None:
        """Release the catalog's database connections (also done when the process ends)."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
            self._datasets = None
            self._models = None
        self.audit.close()
        self.principals.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Workspace {self.home} id={self.id[:12]}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an open workspace holds key material and cannot be pickled")

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        home: str | os.PathLike[str] | None = None,
        *,
        key_source: str | None = None,
        passphrase: str | None = None,
        kdf: KdfParams | None = None,
        prompt: PassphrasePrompt | None = None,
        settings: Settings | None = None,
        clock: Clock = utc_now,
    ) -> Workspace:
        """Create a workspace at ``home`` (default ``$MLWARDEN_HOME``, else ``./.mlwarden``).

        ``key_source`` is ``"passphrase"`` or ``"env"``; by default ``env`` when
        ``MLWARDEN_MASTER_KEY`` is set, else ``passphrase``. Refuses to touch an existing
        workspace or a non-empty folder.
        """
        settings = settings or Settings.from_env(home)
        path = settings.home if home is None else Path(home).expanduser()
        if (path / "workspace.json").exists():
            raise AlreadyExists(f"a workspace already exists at {path}; refusing to overwrite it")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise AlreadyExists(f"{path} exists and is not an empty folder; choose another --home")
        kind = key_source or ("env" if settings.master_key else "passphrase")
        # Everything that can fail for want of a key fails here, before anything touches the disk.
        master, descriptor = _provider(kind, settings, passphrase, prompt, new=True, kdf=kdf).create()
        created_home = not path.exists()
        try:
            private_dir(path)
            private_dir(path / "keys")
            workspace_id = os.urandom(16)
            keyring = Keyring.create_with_master(
                path / "keys" / "keyring.json", master, descriptor, workspace_id=workspace_id, clock=clock
            )
            meta = {
                "format": WORKSPACE_FORMAT,
                "version": WORKSPACE_VERSION,
                "id": workspace_id.hex(),
                "created": timestamp(clock()),
            }
            token = _bootstrap_access(path, workspace_id.hex(), keyring, clock, "workspace.init")
            atomic_create(path / "workspace.json", (json.dumps(meta, indent=2) + "\n").encode())
        except (AlreadyExists, FileExistsError):
            # Another `init` of the same folder won the race: its files are not ours to remove.
            raise AlreadyExists(
                f"a workspace was created at {path} at the same time; refusing to overwrite it"
            ) from None
        except BaseException:
            # The folder was empty or absent when we started: leave it that way.
            shutil.rmtree(path / "keys", ignore_errors=True)
            for name in (ACCESS_DB, ACCESS_DB + "-wal", ACCESS_DB + "-shm"):
                (path / name).unlink(missing_ok=True)
            if created_home:
                shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, meta, keyring, clock, settings=settings, token=token)

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str] | None = None,
        *,
        passphrase: str | None = None,
        prompt: PassphrasePrompt | None = None,
        settings: Settings | None = None,
        clock: Clock = utc_now,
        token: str | None = None,
        request_id: str | None = None,
    ) -> Workspace:
        """Open and unlock the workspace at ``home`` (default as for :meth:`init`).

        ``passphrase`` defaults to ``MLWARDEN_PASSPHRASE``; an env-key workspace reads
        ``MLWARDEN_MASTER_KEY``. ``token`` (default ``MLWARDEN_TOKEN``, else the saved admin
        token) says which principal acts; every operation is checked against its grants and
        recorded in the audit log under ``request_id`` (default: a fresh random one).
        """
        settings = settings or Settings.from_env(home)
        path = settings.home if home is None else Path(home).expanduser()
        meta = read_workspace_meta(path)
        doc = read_keyring_document(path / "keys" / "keyring.json")
        if doc["workspace_id"] != meta["id"]:
            raise IntegrityError(f"the keyring at {path} belongs to another workspace")
        provider = _provider(str(doc["master"].get("kind")), settings, passphrase, prompt, new=False)
        keyring = Keyring.open(path / "keys" / "keyring.json", provider, clock=clock, document=doc)
        if meta["version"] == 1:
            meta = _upgrade_v1(path, keyring, clock)
        elif not (path / ACCESS_DB).exists():
            raise IntegrityError(
                f"the access database {path / ACCESS_DB} (principals and audit log) is missing; "
                "restore it from a backup"
            )
        return cls(path, meta, keyring, clock, settings=settings, token=token, request_id=request_id)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise a key change against every other process using this workspace."""
        with file_lock(self.home / ".lock", exclusive=True):
            self.keyring.reload()
            yield

    # -- envelope files -------------------------------------------------------------------

    def encrypt_file(self, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None) -> int:
        """Envelope-encrypt ``src`` into ``dst`` (see ``docs/formats.md``); returns plaintext bytes.

        The file's data key is recorded in this workspace too, so that rotation rewraps it and
        :meth:`shred_file` can destroy it.
        """
        with self.gate.act("file.encrypt", "keyring") as act:
            size = encrypt_envelope(self.keyring, src, dst, data_keys=self.data_keys, progress=progress)
            act.record(bytes=size)
            return size

    def decrypt_file(
        self, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None, verify_first: bool = False
    ) -> int:
        """Decrypt an envelope file; raises :class:`~mlwarden.errors.IntegrityError` if tampered
        and :class:`~mlwarden.errors.Shredded` if its data key was shredded.

        ``dst`` may then hold a verified prefix; ``verify_first=True`` (``src`` seekable) checks
        the whole file before writing a byte, for outputs read as they are written (a pipe, a FIFO).
        """
        with self.gate.act("file.decrypt", "keyring") as act:
            if verify_first:
                start = src.tell()
                decrypt_envelope(self.keyring, src, _Discard(), data_keys=self.data_keys)  # type: ignore[arg-type]
                src.seek(start)
            size = decrypt_envelope(self.keyring, src, dst, data_keys=self.data_keys, progress=progress)
            act.record(bytes=size)
            return size

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        """:meth:`encrypt_file` for a payload held in memory; returns the envelope file's bytes."""
        out = io.BytesIO()
        self.encrypt_file(io.BytesIO(plaintext), out)
        return out.getvalue()

    def decrypt_bytes(self, ciphertext: bytes) -> bytes:
        """:meth:`decrypt_file` for an envelope file held in memory; returns the plaintext."""
        out = io.BytesIO()
        self.decrypt_file(io.BytesIO(ciphertext), out)
        return out.getvalue()

    def shred_file(self, src: IO[bytes]) -> bytes:
        """Crypto-shred an envelope file: destroy its data key here; returns its object id.

        Every copy of the file becomes unreadable through this workspace. The header still holds
        the wrap made at encryption time, under the key version it names; destroying that version
        after a rotation (:meth:`destroy_key_version`) makes that copy useless too. The
        tombstone names the acting principal.
        """
        with self.gate.act("file.shred", "keyring") as act:
            object_id = self._shred_file(src, self.principal.name)
            act.record(object=object_id.hex())
            return object_id

    def _shred_file(self, src: IO[bytes], by: str) -> bytes:
        # Authenticate the whole file first: a forged header could otherwise name another object.
        header = read_envelope_header(src)
        data_key = envelope_data_key(self.keyring, header, self.data_keys)
        try:
            StreamingAead(data_key).decrypt(src, _Discard(), header.raw)
        except IntegrityError:
            raise IntegrityError("the encrypted file failed authentication; nothing was shredded") from None
        with self._exclusive():
            self.data_keys.shred(header.object_id, by=by)
        return header.object_id

    # -- workspace objects ----------------------------------------------------------------

    def seal_object(self, object_id: bytes, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None) -> int:
        """Encrypt a workspace object under a new data key held in this workspace."""
        self.gate.check("file.encrypt", f"object:{object_id.hex()}")
        return seal_object(self.data_keys.create(object_id), object_id, src, dst, progress=progress)

    def open_object(self, object_id: bytes, src: IO[bytes], dst: IO[bytes], *, progress: Progress | None = None) -> int:
        """Decrypt a workspace object; :class:`~mlwarden.errors.Shredded` if its key was destroyed."""
        self.gate.check("file.decrypt", f"object:{object_id.hex()}")
        return open_object(self.data_keys.data_key(object_id), object_id, src, dst, progress=progress)

    def shred_object(self, object_id: bytes) -> None:
        """Crypto-shred a workspace object: destroy its data key, leave a tombstone naming the principal."""
        self.gate.check("file.shred", f"object:{object_id.hex()}")
        self._shred_key(object_id, self.principal.name)

    def _shred_key(self, object_id: bytes, by: str) -> None:
        """Destroy an object's data key (for operations already through the gate)."""
        with self._exclusive():
            self.data_keys.shred(object_id, by=by)

    # -- keys -----------------------------------------------------------------------------

    def key_versions(self) -> list[KeyVersionInfo]:
        self.gate.check("key.read", "keyring")
        counts = self.data_keys.count_by_version()
        return [
            KeyVersionInfo(v.version, v.created, v.primary, counts.get(v.version, 0)) for v in self.keyring.versions()
        ]

    def rotate_keys(self, *, progress: Progress | None = None) -> Rotation:
        """Add a key version, make it primary, and rewrap every data key under it.

        Payloads are not touched. Crash-safe: the new version is durable before any data key
        moves to it, and each data key record is replaced atomically.
        """
        with self.gate.act("key.rotate", "keyring") as act, self._exclusive():
            version = self.keyring.add_version()
            rewrapped = self.data_keys.rewrap_all(progress)
            self.identity_keys.rewrap_all()
            self.signing_keys.rewrap_all()
            act.record(primary=version, rewrapped=rewrapped)
        return Rotation(version, rewrapped)

    def change_master_key(
        self,
        key_source: str,
        *,
        passphrase: str | None = None,
        prompt: PassphrasePrompt | None = None,
        settings: Settings | None = None,
        kdf: KdfParams | None = None,
    ) -> None:
        """Put the workspace under a new master key: a new passphrase, or a new environment key.

        ``key_source`` is ``"passphrase"`` (the new passphrase from ``passphrase``, else
        ``MLWARDEN_NEW_PASSPHRASE``, else ``prompt``) or ``"env"`` (``MLWARDEN_NEW_MASTER_KEY``).
        Only the keyring is rewritten, atomically; data keys and payloads are untouched.
        """
        self.gate.check("key.admin", "keyring", change="master", key_source=key_source)
        settings = settings or Settings.from_env(self.home)
        new_settings = Settings(home=self.home, passphrase=settings.new_passphrase, master_key=settings.new_master_key)
        if key_source == "env" and not new_settings.master_key:
            raise BadInput("set MLWARDEN_NEW_MASTER_KEY to the new key (make one with `mlwarden keys generate`)")
        provider = _provider(key_source, new_settings, passphrase, prompt, new=True, kdf=kdf)
        master, descriptor = provider.create()
        with self._exclusive():
            self.keyring.change_master(master, descriptor)

    def destroy_key_version(self, version: int) -> None:
        """Destroy an old key version. Refused while any workspace data key still uses it.

        Files whose data key this workspace records keep working (their record was rewrapped by
        rotation); an envelope file whose record is gone can only be read through its header's
        wrap, and becomes unreadable if that wrap is under this version.
        """
        with self.gate.act("key.admin", "keyring", destroy_version=version), self._exclusive():
            in_use = self.data_keys.count_by_version().get(version, 0)
            if in_use:
                raise BadInput(f"key version {version} still wraps {in_use} data keys; run `mlwarden keys rotate`")
            if version != self.keyring.primary and (
                self.identity_keys.count_by_version().get(version)
                or self.signing_keys.count_by_version().get(version)
            ):
                raise BadInput(
                    f"key version {version} still wraps the workspace identity or model-signing keys; "
                    "run `mlwarden keys rotate`"
                )
            self.keyring.destroy_version(version)

    # -- principals ---------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        role: str,
        *,
        scopes: tuple[str, ...] = ("*",),
        kind: str = "user",
        expires: timedelta | None = None,
        rate_limit: int | None = None,
        daily_quota: int | None = None,
    ) -> tuple[Principal, str]:
        """Add a principal with ``role`` narrowed to ``scopes``; returns it and its token (shown once).

        Needs ``user.manage``, and the role must be one the acting principal may grant, with
        scopes inside its own (a steward scoped to ``credit-*`` cannot grant ``*``).
        ``rate_limit`` (requests per minute) and ``daily_quota`` (requests per UTC day) default
        to :data:`~mlwarden.access.DEFAULT_RATE_LIMIT` and :data:`~mlwarden.access.DEFAULT_DAILY_QUOTA`.
        """
        check_principal_name(name)
        check_role(role)
        scopes = tuple(check_scope(p) for p in scopes) or ("*",)
        rate_limit = None if rate_limit is None else check_limit(rate_limit, "rate_limit")
        daily_quota = None if daily_quota is None else check_limit(daily_quota, "daily_quota")
        why = self.principal.may_grant(role, scopes)
        details: dict[str, Any] = {"role": role, "scopes": ",".join(scopes), "kind": kind}  # Detail values
        if rate_limit is not None:
            details["rate_limit"] = rate_limit
        if daily_quota is not None:
            details["daily_quota"] = daily_quota
        with self.gate.act("user.manage", f"user:{name}", refusal=why, **details) as act:
            principal, token = self.principals.add(
                name,
                role,
                by=self.principal.name,
                scopes=scopes,
                kind=kind,
                expires=expires,
                rate_limit=rate_limit,
                daily_quota=daily_quota,
            )
            act.record(granted_token=principal.token_id, expires=principal.expires)
        return principal, token.token

    def users(self) -> list[Principal]:
        """Every principal, revoked, expired and suspended ones too."""
        self.gate.check("user.read", "user")
        return self.principals.list()

    def user(self, name: str) -> Principal:
        """One principal (needs ``user.read``)."""
        check_principal_name(name)
        self.gate.check("user.read", f"user:{name}")
        return self.principals.get(name)

    def revoke_user(self, name: str) -> Principal:
        """Revoke ``name``'s token for good. A steward may revoke only roles it could grant."""
        with self._managing(name, "revoke") as (_, act):
            done = self.principals.revoke(name, by=self.principal.name)
            act.record(revoked_token=done.token_id)
        return done

    def reissue_token(self, name: str, *, expires: timedelta | None = None) -> tuple[Principal, str]:
        """Give ``name`` a new token (shown once); its old token is refused from now on.

        For a leaked or lost token, or routine rotation. Needs ``user.manage`` and the right to
        grant ``name``'s role and scopes; ``expires`` sets a new lifetime from now. A suspended
        principal stays suspended.
        """
        with self._managing(name, "reissue") as (target, act):
            principal, token = self.principals.reissue(name, expires=expires)
            act.record(revoked_token=target.token_id, granted_token=principal.token_id, expires=principal.expires)
        return principal, token.token

    def set_limits(
        self, name: str, *, rate_limit: LimitChange = KEEP, daily_quota: LimitChange = KEEP
    ) -> Principal:
        """Change ``name``'s rate limit (requests per minute) and daily quota (requests per UTC day).

        For each: a number sets it, ``None`` puts it back to the default, :data:`~mlwarden.access.KEEP`
        (the default argument) leaves it. Gated like :meth:`revoke_user`; the audit entry
        carries the new values (``"default"`` for one put back, absent for one kept).
        """
        if rate_limit is not KEEP and rate_limit is not None:
            rate_limit = check_limit(rate_limit, "rate_limit")
        if daily_quota is not KEEP and daily_quota is not None:
            daily_quota = check_limit(daily_quota, "daily_quota")
        details: dict[str, Detail] = {}
        for key, value in (("rate_limit", rate_limit), ("daily_quota", daily_quota)):
            if value is not KEEP:
                details[key] = "default" if value is None else value
        if not details:
            raise BadInput("give a new rate limit or daily quota (a number, or the default)")
        with self._managing(name, "limits", **details) as (_, act):
            done = self.principals.set_limits(name, rate_limit=rate_limit, daily_quota=daily_quota)
            act.record(rate_limit=done.limits.rate_limit, daily_quota=done.limits.daily_quota)
        return done

    def suspend_user(self, name: str, reason: str | None = None) -> Principal:
        """Suspend ``name``: its token is refused (exit 3, naming when and why) until :meth:`resume_user`.

        Reversible, unlike :meth:`revoke_user`. Gated like it; the last active admin cannot be
        suspended. ``reason`` (at most 500 characters) is kept in the record and the log.
        """
        details: dict[str, Detail] = {} if not reason else {"reason": reason[:200]}
        with self._managing(name, "suspend", **details) as (_, act):
            done = self.principals.suspend(name, by=self.principal.name, reason=reason)
            act.record(suspended_token=done.token_id)
        return done

    def resume_user(self, name: str) -> Principal:
        """Lift ``name``'s suspension: its token works again. Gated like :meth:`revoke_user`."""
        with self._managing(name, "resume") as (_, act):
            done = self.principals.resume(name, by=self.principal.name)
            act.record(resumed_token=done.token_id)
        return done

    def suspend_for_server(self, name: str, *, reason: str, request_id: str | None = None) -> Principal:
        """Suspend ``name`` on the inference server's own decision (its extraction monitor, say).

        No gate check of the workspace's principal: the server decides. The audit entry (action
        ``user.suspend``, principal ``mlwarden-serve``, outcome ``allowed``, the reason cut to
        200 characters, under ``request_id``: the request that tripped the monitor) is written
        and fsynced first; if it cannot be, nothing is suspended
        (:class:`~mlwarden.auditlog.AuditUnavailable`). A principal already suspended is left as it
        is, and returned, with no entry (one suspended by another process meanwhile gets a
        ``failed`` entry and :class:`BadInput`); the last active admin is not suspended
        (:class:`BadInput`, after a ``failed`` entry).
        """
        check_principal_name(name)
        current = self.principals.get(name)
        if current.suspended is not None:
            return current
        reason = reason[:MAX_REASON]
        event = AuditEvent(
            time=event_time(self._clock()),
            principal=SERVER_PRINCIPAL,
            action="user.suspend",
            resource=f"user:{name}",
            outcome="allowed",
            request_id=request_id or new_request_id(),
            details={"suspended_token": current.token_id, "reason": reason[:200]},
        )
        self.audit.append(event)
        try:
            return self.principals.suspend(name, by=SERVER_PRINCIPAL, reason=reason)
        except BaseException as exc:
            failed = dataclasses.replace(
                event, outcome="failed", time=event_time(self._clock()), details={"error": type(exc).__name__}
            )
            with contextlib.suppress(Exception):  # the original error matters more
                self.audit.append(failed)
            raise

    @contextlib.contextmanager
    def _managing(self, name: str, change: str, **details: Detail) -> Iterator[tuple[Principal, Act]]:
        """Gate a change to an existing principal: ``user.manage``, and the right to grant its role.

        The permission is decided (and a denial recorded) before the principal is looked up, so
        that whoever lacks it learns nothing of who exists. ``details`` go into the entries.
        """
        check_principal_name(name)
        recorded: dict[str, Any] = {"change": change, **details}  # Detail values
        if not self.gate.allows("user.manage", f"user:{name}"):
            self.gate.check("user.manage", f"user:{name}", **recorded)  # denied and recorded
        target = self.principals.get(name)
        why = self.principal.may_grant(target.role, target.scopes)
        with self.gate.act("user.manage", f"user:{name}", refusal=why, **recorded) as act:
            yield target, act

    # -- audit log ------------------------------------------------------------------------------

    def log_entries(self, since: str | None = None) -> Iterator[AuditEntry]:
        """The audit log's entries in order (``since``: an RFC 3339 time; those at or after it)."""
        self.gate.check("log.read", "log", since=since)
        return self.audit.entries(since=since)

    def verify_log(
        self, checkpoint: str | None = None, progress: Callable[[int], None] | None = None
    ) -> LogVerification:
        """Verify the whole audit log, and against ``checkpoint`` (a signed note) if given."""
        with self.gate.act("log.read", "log", verify=True, checkpoint=checkpoint is not None) as act:
            body = None if checkpoint is None else self.audit.read_checkpoint(checkpoint)
            result = self.audit.verify(body, progress)
            act.record(ok=result.ok, size=result.size, first_bad=result.first_bad)
        return result

    def log_proof(self, seq: int, checkpoint: Checkpoint | None = None) -> InclusionProof:
        """A proof that entry ``seq`` is in the log as of ``checkpoint`` (default: the newest head)."""
        with self.gate.act("log.read", "log", prove=seq) as act:
            if checkpoint is not None:
                body = self.audit.read_checkpoint(checkpoint.note)
                if (body.size, body.root) != (checkpoint.size, checkpoint.root):
                    raise IntegrityError("the checkpoint's fields do not match its signed note")
            proof = self.audit.inclusion(seq, checkpoint)
            act.record(size=proof.checkpoint.size)
        return proof

    def log_checkpoint(self) -> Checkpoint:
        """A signed checkpoint of the log (taken after recording this request)."""
        self.gate.check("log.checkpoint", "log")
        return self.audit.checkpoint()


class _Discard(io.RawIOBase):
    """A sink that drops what it is given (verification without keeping plaintext)."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def read_workspace_meta(path: Path) -> dict[str, Any]:
    try:
        raw = (path / "workspace.json").read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no workspace at {path}; create one with `mlwarden init`") from None
    except NotADirectoryError:
        raise NotFound(f"no workspace at {path}: it is not a folder") from None
    try:
        meta = json.loads(raw)
        ok = (
            isinstance(meta, dict)
            and meta.get("format") == WORKSPACE_FORMAT
            and isinstance(meta.get("id"), str)
            and isinstance(meta.get("created"), str)
        )
    except ValueError:
        ok = False
    if not ok:
        raise IntegrityError(f"{path / 'workspace.json'} is damaged")
    if meta.get("version") not in (1, WORKSPACE_VERSION):
        raise BadInput(f"workspace format version {meta.get('version')} is not supported by this mlwarden")
    return meta  # type: ignore[no-any-return]


def _admin_name() -> str:
    """The first admin is named after the local user when that is a valid principal name."""
    try:
        return check_principal_name(local_user())
    except BadInput:
        return "admin"


def _open_access(
    home: Path, workspace_id: str, identity: WorkspaceIdentity, clock: Clock
) -> tuple[AuditLog, PrincipalStore]:
    """The audit log (signing with the identity's log key) and the principal store of a workspace."""
    signer = NoteSigner.from_seed(f"mlwarden/{workspace_id}", identity.log_seed)
    log = AuditLog(home / ACCESS_DB, origin=signer.name, verifier=signer.verifier, signer=signer, clock=clock)
    return log, PrincipalStore(home / ACCESS_DB, identity.record_mac_key, clock)


def _bootstrap_access(home: Path, workspace_id: str, keyring: Keyring, clock: Clock, action: str) -> str:
    """Create the identity key, the access database, the first admin and its saved token.

    Returns the admin's token. The token file is 0600 and written atomically; the audit log's
    first entries record the creation.
    """
    secret = os.urandom(32)
    DataKeyStore(home / "keys" / "identity", keyring, clock).create_wrapped(IDENTITY_OBJECT_ID, secret)
    log, principals = _open_access(home, workspace_id, WorkspaceIdentity(secret), clock)
    try:
        name = _admin_name()
        admin, token = principals.add(name, "admin", by="mlwarden")
        request_id = new_request_id()
        gate = Gate(admin, log, clock, request_id=request_id)
        gate.record(action, "workspace")
        gate.record("user.manage", f"user:{name}", role="admin", granted_token=admin.token_id)
        atomic_create(home / ADMIN_TOKEN, (token.token + "\n").encode())
    finally:
        log.close()
        principals.close()
    return token.token


def _upgrade_v1(home: Path, keyring: Keyring, clock: Clock) -> dict[str, Any]:
    """Give a version 1 workspace its identity key, access database and first admin (once)."""
    with file_lock(home / ".upgrade.lock", exclusive=True):
        meta = read_workspace_meta(home)
        if meta["version"] == 1:
            _bootstrap_access(home, meta["id"], keyring, clock, "workspace.upgrade")
            meta = {**meta, "version": WORKSPACE_VERSION}
            atomic_write(home / "workspace.json", (json.dumps(meta, indent=2) + "\n").encode())
    return meta
