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
workspace; one that holds a keyring, an access database, a catalog or objects but no
``workspace.json`` has lost it, and opening it says so (exit 3) rather than suggesting ``init``.
A workspace file that cannot be read (permissions, a folder in its place) is exit 3 as well.

The workspace opens, creates and upgrades this folder, logs a principal in (the ``token``
argument, else ``MLWARDEN_TOKEN``, else the saved admin token) through the one
:class:`~mlwarden.access.Authenticator`, and builds the services that do the work, each
through the one gate as that principal::

    ws.keys       key versions, rotation, the master key, model-signing keys (mlwarden._services)
    ws.users      principals, tokens, limits, suspensions
    ws.log        the audit log: entries, verify, prove, checkpoint
    ws.files      envelope files and bytes, workspace objects
    ws.datasets   encrypted, versioned datasets (mlwarden.store)
    ws.models     encrypted, signed models (mlwarden.models)
    ws.privacy    personal data: PII classes, pseudonymisation, erasure of a person (mlwarden._services)

No attribute hands out a key store, the principal store or the log writer. A version 1
workspace (made before principals existed) is upgraded on first open: its identity key, access
database, first admin and saved token are created then.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlwarden._clock import Clock, timestamp, utc_now
from mlwarden._fsio import atomic_create, atomic_write, file_lock, private_dir
from mlwarden._services import (
    DataAuditService,
    FileService,
    KeyService,
    KeyVersionInfo,
    LogService,
    PassphrasePrompt,
    Rotation,
    UserService,
    key_change_lock,
    master_key_provider,
)
from mlwarden.access import Authenticator, Gate, Principal, PrincipalStore, check_principal_name, new_request_id
from mlwarden.auditlog import AuditLog, NoteSigner
from mlwarden.config import Settings, local_user
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._identity import IDENTITY_OBJECT_ID, WorkspaceIdentity
from mlwarden.crypto._kdf import KdfParams
from mlwarden.crypto._keyring import Keyring, read_keyring_document
from mlwarden.crypto._pseudonym_keys import PseudonymKeys
from mlwarden.crypto._signing_keys import ModelSigningKeys
from mlwarden.errors import AccessDenied, AlreadyExists, BadInput, IntegrityError, NotFound, Shredded

if TYPE_CHECKING:
    from mlwarden._services._explanations import ExplanationService
    from mlwarden._services._monitoring import MonitoringService
    from mlwarden._services._privacy import PrivacyService
    from mlwarden.catalog import Catalog
    from mlwarden.models._registry import ModelRegistry
    from mlwarden.store import Datasets

__all__ = ["KeyVersionInfo", "Rotation", "Workspace"]

WORKSPACE_FORMAT = "mlwarden-workspace"
WORKSPACE_VERSION = 2
ACCESS_DB = "access.db"
ADMIN_TOKEN = Path("keys") / "admin.token"
KEYRING = Path("keys") / "keyring.json"


class Workspace:
    """An unlocked workspace. Create one with :meth:`init`, open one with :meth:`open`.

    ``principal`` is who acts; the work is done by the services :attr:`keys`, :attr:`users`,
    :attr:`log`, :attr:`files`, :attr:`datasets` and :attr:`models`, each gated and audited.
    ``authenticator`` logs further principals in (the inference server's callers).
    """

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
        self.origin = f"mlwarden/{self.id}"
        self._settings = settings or Settings.from_env(home)
        self._clock = clock
        self._keyring = keyring
        self._data_keys = DataKeyStore(home / "keys" / "data", keyring, clock, lock=home / ".lock")
        identity_keys = DataKeyStore(home / "keys" / "identity", keyring, clock, lock=home / ".lock")
        try:
            identity = WorkspaceIdentity(identity_keys.data_key(IDENTITY_OBJECT_ID))
        except (NotFound, Shredded):
            raise IntegrityError(
                f"the identity key of the workspace at {home} is missing; restore it from a backup"
            ) from None
        self._catalog_mark_key = identity.catalog_mark_mac_key
        self._audit, self._principals = _open_access(home, self.id, identity, clock)
        try:
            self.authenticator = Authenticator(self._principals, self._audit, clock)
            self._gate = self._login(token, request_id or new_request_id())
        except BaseException:
            self._audit.close()
            self._principals.close()
            raise
        self.principal: Principal = self._gate.principal
        self._signing_keys = ModelSigningKeys(home, keyring, clock, identity.signing_index_mac_key)
        self._pseudonym_keys = PseudonymKeys(home, keyring, clock, identity.pseudonym_index_mac_key)
        self._subject_key = identity.subject_mac_key
        self.keys = KeyService(
            gate=self._gate,
            keyring=keyring,
            data_keys=self._data_keys,
            identity_keys=identity_keys,
            signing_keys=self._signing_keys,
            pseudonym_keys=self._pseudonym_keys,
            lock=home / ".lock",
            home=home,
        )
        self.users = UserService(gate=self._gate, principals=self._principals, authenticator=self.authenticator)
        self.log = LogService(gate=self._gate, log=self._audit)
        self.files = FileService(gate=self._gate, keyring=keyring, data_keys=self._data_keys, shred_key=self._shred_key)
        self._datasets: Datasets | None = None
        self._catalog: Catalog | None = None
        self._models: ModelRegistry | None = None
        self._data_audits: DataAuditService | None = None
        self._explanations: ExplanationService | None = None
        self._monitoring: MonitoringService | None = None
        self._privacy: PrivacyService | None = None

    def _login(self, token: str | None, request_id: str) -> Gate:
        """The gate of ``token``, ``MLWARDEN_TOKEN`` or the saved admin token; refused ones are logged."""
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
        return self.authenticator.login(token, request_id=request_id, source=source)

    def _shred_key(self, object_id: bytes, by: str) -> None:
        """Destroy an object's data key (for operations already through the gate)."""
        with key_change_lock(self.home / ".lock", self._keyring):
            self._data_keys.shred(object_id, by=by)

    def _open_catalog(self) -> Catalog:
        """The catalog the services share, opened on first use (created on the first, and recorded then).

        Private: a catalog handle could change metadata past the gate, so only the services get it.

        The witness holds the workspace's MAC'd record of its catalog in ``access.db``: a
        catalog that is missing, emptied, replaced or older than recorded is refused
        (:class:`~mlwarden.errors.IntegrityError`), never recreated (``mlwarden.catalog._trust``).
        """
        if self._catalog is None:
            from mlwarden.catalog import Catalog, CatalogWitness, evidence_of

            witness = CatalogWitness(
                self.home / ACCESS_DB,
                self._catalog_mark_key,
                lambda: evidence_of(self._audit.entries(), self.home / "objects", self.home / "models"),
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
                catalog=self._open_catalog(),
                backend=LocalBackend(self.home / "objects"),
                data_keys=self._data_keys,
                shred_key=self._shred_key,
                lock=self.home / ".store.lock",
                gate=self._gate,
                clock=self._clock,
                after_put=lambda version, frames: self.privacy._after_put(version, frames),
            )
        return self._datasets

    @property
    def models(self) -> ModelRegistry:
        """The workspace's encrypted, signed model registry (see :class:`mlwarden.models.ModelRegistry`)."""
        if self._models is None:
            from mlwarden.models._registry import ModelRegistry
            from mlwarden.store import LocalBackend

            self._models = ModelRegistry(
                catalog=self._open_catalog(),
                backend=LocalBackend(self.home / "models"),
                data_keys=self._data_keys,
                signing_keys=self._signing_keys,
                gate=self._gate,
                clock=self._clock,
                datasets=lambda: self.datasets,
                before_training=self.data_audits.before_training,
                entitled=self._entitled,
                check_features=lambda dataset, version, target: self.privacy.check_training(dataset, version, target),
            )
        return self._models

    def _entitled(self, name: str, permission: str, resource: str) -> bool:
        """Whether principal ``name`` is active now (its record intact, not revoked, expired or
        suspended) and holds ``permission`` on ``resource``: one row of the access database, read
        each time (how the registry judges that an approval still counts)."""
        try:
            principal = self._principals.get(name)
        except NotFound:
            return False
        return principal.state(self._principals.now()) == "active" and principal.allows(permission, resource)

    @property
    def data_audits(self) -> DataAuditService:
        """Audits of training data, stored encrypted, and the gate before training (see
        :class:`mlwarden._services.DataAuditService`)."""
        if self._data_audits is None:
            from mlwarden.store import LocalBackend

            reports = LocalBackend(self.home / "reports")
            self._data_audits = DataAuditService(
                gate=self._gate,
                audits=lambda: self._open_catalog().audits,
                datasets=lambda: self.datasets,
                backend=lambda: reports,
                data_keys=self._data_keys,
                clock=self._clock,
            )
        return self._data_audits

    @property
    def monitoring(self) -> MonitoringService:
        """Drift of data and live traffic against a model's reference, and performance over time
        (see :class:`mlwarden._services.MonitoringService`)."""
        if self._monitoring is None:
            from mlwarden._services._monitoring import MonitoringService
            from mlwarden.store import LocalBackend

            reports = LocalBackend(self.home / "reports")
            windows = LocalBackend(self.home / "models")
            self._monitoring = MonitoringService(
                gate=self._gate,
                models=lambda: self.models,
                datasets=lambda: self.datasets,
                rows=lambda: self._open_catalog().monitoring,
                reports=lambda: reports,
                windows=lambda: windows,
                data_keys=self._data_keys,
                clock=self._clock,
            )
        return self._monitoring

    @property
    def privacy(self) -> PrivacyService:
        """Personal data: the classes of columns, the guard before training, pseudonymisation,
        re-identification and erasure of one person everywhere (see :class:`mlwarden._services.PrivacyService`)."""
        if self._privacy is None:
            from mlwarden._services._privacy import PrivacyService

            self._privacy = PrivacyService(
                gate=self._gate,
                rows=lambda: self._open_catalog().privacy,
                datasets=lambda: self.datasets,
                models=lambda: self.models,
                pseudonym_keys=self._pseudonym_keys,
                subject_key=self._subject_key,
                clock=self._clock,
            )
        return self._privacy

    @property
    def explanations(self) -> ExplanationService:
        """Explanations of registered models' decisions and their signed model cards (see
        :class:`mlwarden._services.ExplanationService`)."""
        if self._explanations is None:
            from mlwarden._services._explanations import ExplanationService

            self._explanations = ExplanationService(
                gate=self._gate,
                models=lambda: self.models,
                datasets=lambda: self.datasets,
                signing_keys=self._signing_keys,
                clock=self._clock,
            )
        return self._explanations

    def close(self) -> None:
        """Release the catalog's and the access database's connections (also done when the process ends)."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
            self._datasets = None
            self._models = None
            self._data_audits = None
            self._explanations = None
            self._monitoring = None
            self._privacy = None
        self._audit.close()
        self._principals.close()

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
        master, descriptor = master_key_provider(kind, settings, passphrase, prompt, new=True, kdf=kdf).create()
        created_home = not path.exists()
        try:
            private_dir(path)
            private_dir(path / "keys")
            workspace_id = os.urandom(16)
            keyring = Keyring.create_with_master(
                path / KEYRING, master, descriptor, workspace_id=workspace_id, clock=clock
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
        try:
            meta = read_workspace_meta(path)
            if not (path / KEYRING).exists():
                raise IntegrityError(
                    f"the keyring {path / KEYRING} of the workspace at {path} is missing; restore it from a backup"
                )
            doc = read_keyring_document(path / KEYRING)
            if doc["workspace_id"] != meta["id"]:
                raise IntegrityError(f"the keyring at {path} belongs to another workspace")
            provider = master_key_provider(str(doc["master"].get("kind")), settings, passphrase, prompt, new=False)
            keyring = Keyring.open(path / KEYRING, provider, clock=clock, document=doc)
            if meta["version"] == 1:
                meta = _upgrade_v1(path, keyring, clock)
            elif not (path / ACCESS_DB).exists():
                raise IntegrityError(
                    f"the access database {path / ACCESS_DB} (principals and audit log) is missing; "
                    "restore it from a backup"
                )
            return cls(path, meta, keyring, clock, settings=settings, token=token, request_id=request_id)
        except OSError as exc:
            raise _unreadable(path, exc) from None


def _unreadable(home: Path, exc: OSError) -> IntegrityError:
    """A workspace file that cannot be read (permissions, a folder where a file belongs): exit 3, naming it."""
    name = exc.filename if exc.filename is not None else home
    why = exc.strerror or type(exc).__name__
    return IntegrityError(
        f"cannot read {name} of the workspace at {home} ({why}); check its permissions or restore it from a backup"
    )


_WORKSPACE_FILES = (KEYRING, Path(ACCESS_DB), Path("catalog.db"), Path("objects"), Path("models"))
"""What only a workspace holds: a folder with one of these but no workspace.json lost its workspace.json."""


def read_workspace_meta(path: Path) -> dict[str, Any]:
    """The checked content of ``path/workspace.json``; :class:`NotFound` if ``path`` holds no workspace,
    :class:`IntegrityError` if it holds one whose workspace.json is lost, damaged or unreadable."""
    try:
        raw = (path / "workspace.json").read_bytes()
    except FileNotFoundError:
        if any((path / name).exists() for name in _WORKSPACE_FILES):
            raise IntegrityError(
                f"{path / 'workspace.json'} is missing, but {path} holds the rest of a workspace; "
                "restore workspace.json from a backup (`mlwarden init` will not overwrite the folder; "
                "if an `mlwarden init` was cut short here, remove the folder and run it again)"
            ) from None
        raise NotFound(f"no workspace at {path}; create one with `mlwarden init`") from None
    except NotADirectoryError:
        raise NotFound(f"no workspace at {path}: it is not a folder") from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
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
