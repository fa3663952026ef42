"""The model registry of a workspace (``ws.models``): encrypted, signed, versioned models.

Registering a model scans its bytes (anything but a clean skops file is refused), signs them with
the workspace's active model-signing key in the OpenSSF model-signing format with the provenance
inside the signed statement, encrypts them under a fresh data key into ``<home>/models/``, and
records the version in the catalog (signature, provenance, input schema, metrics, stage).

Reading one back goes through the one load: decrypt (AES-GCM authenticates every segment), check
the bytes against the catalog's SHA-256 and the signature (by a workspace key that is not revoked),
scan, and load with skops' trusted types only. Each call passes the access gate and is logged:
``model.register`` (train, register), ``model.read`` (info, ls, verify, export, load),
``model.promote`` (stage changes), scoped by model name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import io
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden._clock import Clock, timestamp
from mlwarden._fsio import atomic_create
from mlwarden._json import canonical
from mlwarden.catalog._models import STAGES, ModelRow, NewModel
from mlwarden.crypto._data_keys import OBJECT_ID_SIZE, DataKeyStore
from mlwarden.crypto._envelope import open_object, seal_object
from mlwarden.crypto._signing_keys import ModelSigningKeys
from mlwarden.errors import AlreadyExists, BadInput, IntegrityError, NotFound, Shredded, SignatureError, Unavailable
from mlwarden.models._files import sign_path, verify_path
from mlwarden.models._scanner import scan_bytes
from mlwarden.models._serialize import (
    LoadedModel,
    check_signature,
    load_bytes,
    load_scanned,
    load_verified,
    refuse_unsafe,
)
from mlwarden.models._signing import SINGLE_FILE, VerifiedModel, bundle_key_id, sign_digests, verify_bundle
from mlwarden.store._names import check_name

if TYPE_CHECKING:
    from mlwarden.access import Gate
    from mlwarden.auditlog._records import Detail
    from mlwarden.catalog import Catalog
    from mlwarden.crypto._signing_keys import SigningKeyInfo
    from mlwarden.store import Datasets, ObjectBackend

__all__ = ["ModelRegistry", "ModelVersion", "TrainingGate"]

T = TypeVar("T")


class TrainingAllowed(Protocol):
    """What the gate before training lets a run use: the version to read, and the audit's record."""

    @property
    def dataset(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def provenance(self) -> dict[str, Any]: ...


class TrainingGate(Protocol):
    """The check every training run passes first (``ws.data_audits.before_training``)."""

    def __call__(
        self, dataset: str, version: int | None, target: str, *, on_findings: str, reason: str | None
    ) -> TrainingAllowed: ...


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    """One registered model version: what it is and where it came from. No weights, no keys."""

    name: str
    version: int
    sha256: str
    size: int
    format: str
    stage: str
    signing_key: str
    provenance: Mapping[str, Any]
    input_schema: Mapping[str, Any]
    metrics: Mapping[str, Any]
    created_at: str
    created_by: str
    stage_changed_at: str | None = None
    stage_changed_by: str | None = None

    @classmethod
    def from_row(cls, row: ModelRow) -> ModelVersion:
        """The record of a catalog row: every field but where the bytes are and the signature itself."""
        return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.format}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ModelRegistry:
    def __init__(
        self,
        *,
        catalog: Catalog,
        backend: ObjectBackend,
        data_keys: DataKeyStore,
        signing_keys: ModelSigningKeys,
        gate: Gate,
        clock: Clock,
        datasets: Callable[[], Datasets],
        before_training: TrainingGate | None = None,
    ) -> None:
        self._before_training = before_training
        self._rows = catalog.models
        self._backend = backend
        self._data_keys = data_keys
        self._signing_keys = signing_keys
        self._gate = gate
        self._clock = clock
        self._datasets = datasets

    def __repr__(self) -> str:
        return "<ModelRegistry>"

    # -- writing ------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        data: bytes,
        *,
        provenance: Mapping[str, Any] | None = None,
        input_schema: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Scan, sign, encrypt and record a skops model's bytes as the next version of ``name``."""
        check_name(name, "model")
        with self._gate.act("model.register", f"model:{name}", sha256=hashlib.sha256(data).hexdigest()) as act:
            version = self._register(name, data, dict(provenance or {}), input_schema or {}, metrics or {})
            act.record(version=version.version, sha256=version.sha256, signing_key=version.signing_key[:16])
        return version

    def _register(
        self,
        name: str,
        data: bytes,
        provenance: dict[str, Any],
        input_schema: Mapping[str, Any],
        metrics: Mapping[str, Any],
    ) -> ModelVersion:
        result = scan_bytes(data, f"{name}.skops")
        refuse_unsafe(result)
        if result.format != "skops":
            raise BadInput(f"the registry holds skops models; this is a {result.format} file (use models.save)")
        # What the one load would refuse is never signed: skops with trusted types, then the fitted structure.
        load_scanned(data, f"{name}.skops")
        digest = hashlib.sha256(data).hexdigest()
        key, private = self._signing_keys.active(by=self._gate.principal.name)
        object_id = self._seal(data)
        try:
            for _ in range(16):
                # The name and number are signed with the provenance, so a catalog row pointed at another
                # model's (or version's) object and signature is refused on load.
                number = self._rows.next_version(name)
                signed = {**provenance, "model": {"name": name, "version": number}}
                bundle = sign_digests(f"{name}.skops", {SINGLE_FILE: digest}, private, provenance=signed)
                row = self._rows.add(
                    name,
                    NewModel(
                        object_id=object_id.hex(),
                        sha256=digest,
                        size=len(data),
                        format="skops",
                        signature=bundle.decode(),
                        signing_key=key.key_id,
                        provenance=signed,
                        input_schema=input_schema,
                        metrics=metrics,
                        created_at=timestamp(self._clock()),
                        created_by=self._gate.principal.name,
                    ),
                    version=number,
                )
                if row is not None:
                    return ModelVersion.from_row(row)
            raise Unavailable(f"the registry is too busy: could not number a new version of {name}")
        except BaseException:
            self._discard(object_id)
            raise

    def train(
        self,
        name: str,
        dataset: str,
        target: str,
        *,
        dataset_version: int | None = None,
        estimator: str = "logistic",
        test_size: float = 0.25,
        seed: int = 0,
        on_findings: str = "refuse",
        reason: str | None = None,
        explanation: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Fit a pipeline on a dataset (decrypted in memory only) and register it with its provenance.

        The data's audit runs first (or is read back; ``ws.data_audits``): with findings the run is
        refused (:class:`~mlwarden.errors.DataFindings`) unless ``on_findings`` is ``"exclude"``
        (train on a derived version without the flagged rows) or ``"accept"`` (findings accepted,
        now with ``reason`` if the caller may accept). The audit's digest and decision are signed
        into the provenance (``data_audit``).

        ``explanation`` sets how decisions are explained (all optional): ``background``
        (``training`` or ``near-cutoff``), ``background_rows``, ``adverse_class`` (a class of the
        target), ``reason_map`` (``{"version": 1, "reasons": {...}, "not_reasons": [...]}``; its
        ``reason_map_sha256`` is computed here), ``protected`` (columns the card reports fairness for). The
        background rows are encrypted beside the model; their SHA-256 and these settings are signed
        into the provenance (``explanations``)."""
        from mlwarden._version import __version__
        from mlwarden.models._serialize import dumps
        from mlwarden.models._training import ESTIMATORS, fit_classifier, library_versions

        check_name(name, "model")
        if estimator not in ESTIMATORS:
            raise BadInput(f"unknown estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
        if not 0.05 <= test_size <= 0.5:
            raise BadInput("the held-out share must be between 0.05 and 0.5")
        resource = f"model:{name}"
        with self._gate.act("model.register", resource, dataset=dataset, estimator=estimator) as act:
            audited: dict[str, Any] | None = None
            if self._before_training is not None:
                allowed = self._before_training(
                    dataset, dataset_version, target, on_findings=on_findings, reason=reason
                )
                dataset, dataset_version, audited = allowed.dataset, allowed.version, allowed.provenance
            frame, source = self._datasets().read_frame_versioned(dataset, dataset_version)
            settings = dict(explanation or {})
            fitted = fit_classifier(
                frame,
                target,
                estimator=estimator,
                test_size=test_size,
                seed=seed,
                background=str(settings.get("background", "training")),
                background_rows=int(settings.get("background_rows", 100)),
            )
            del frame
            explained = _explanation_settings(settings, fitted.metrics, fitted.input_schema)
            provenance = {
                "dataset": {
                    "name": source.name,
                    "version": source.version,
                    "sha256": source.sha256,
                    "rows": source.rows,
                    "format": source.format,
                },
                "code": {"mlwarden": __version__, "entry_point": "mlwarden train", "pipeline": "preprocess+classifier"},
                "parameters": fitted.parameters,
                "libraries": library_versions(),
                "metrics": fitted.metrics,
                "trained_by": self._gate.principal.name,
                "trained_at": timestamp(self._clock()),
            }
            if audited is not None:
                provenance["data_audit"] = audited
            stored = self._store_background(fitted.background)
            explained["background"] = {**fitted.background_info, **stored}
            provenance["explanations"] = explained
            try:
                version = self._register(name, dumps(fitted.pipeline), provenance, fitted.input_schema, fitted.metrics)
            except BaseException:
                self._discard(bytes.fromhex(stored["object"]))
                raise
            act.record(
                version=version.version,
                sha256=version.sha256,
                dataset_sha256=source.sha256,
                dataset_version=source.version,
            )
        return version

    def promote(self, name: str, version: int, stage: str) -> ModelVersion:
        """Move a version to ``staging``, ``production`` or ``archived`` (production archives the previous one)."""
        check_name(name, "model")
        if stage not in STAGES or stage == "none":
            raise BadInput(f"unknown stage {stage!r}: use staging, production or archived")
        with self._gate.act("model.promote", f"model:{name}", version=version, stage=stage) as act:
            before = self._rows.get(name, version)
            if stage == "production":
                self._verified(before)  # never promote what would not load
            row, archived = self._rows.set_stage(
                name, version, stage, by=self._gate.principal.name, at=timestamp(self._clock())
            )
            act.record(version=version, stage=stage, previous=before.stage, archived=",".join(map(str, archived)))
        return ModelVersion.from_row(row)

    # -- reading ------------------------------------------------------------------------------

    def info(self, name: str, version: int | None = None) -> ModelVersion:
        check_name(name, "model")
        with self._gate.act("model.read", f"model:{name}", version=version, what="info"):
            row = self._rows.get(name, version)
            # What info shows is what was signed: the signature is checked (not the weights: see verify).
            _check_binding(row, verify_bundle(row.signature.encode(), self._key(row)))
            return ModelVersion.from_row(row)

    def versions(self, name: str) -> list[ModelVersion]:
        check_name(name, "model")
        with self._gate.act("model.read", f"model:{name}", what="versions"):
            return [ModelVersion.from_row(r) for r in self._rows.versions(name)]

    def list(self) -> list[ModelVersion]:
        """Every version of the models the caller may read (others are left out, not refused)."""
        self._gate.check("model.read", "model", what="list")
        allowed = self._gate.allows
        return [ModelVersion.from_row(r) for r in self._rows.all() if allowed("model.read", f"model:{r.name}")]

    def verify(self, name: str, version: int | None = None) -> tuple[ModelVersion, VerifiedModel]:
        """Decrypt and check a version (signature by a trusted key, digest, scan) without loading it."""
        check_name(name, "model")
        with self._gate.act("model.read", f"model:{name}", version=version, what="verify") as act:
            row = self._rows.get(name, version)
            verified = self._verified(row)
            act.record(version=row.version, sha256=row.sha256, verified=True)
        return ModelVersion.from_row(row), verified

    def load(self, name: str, version: int | None = None, *, permission: str = "model.read") -> LoadedModel:
        """The one load for a registered model (``permission`` is ``model.serve`` for the server)."""
        return self.load_version(name, version, permission=permission)[1]

    def load_version(
        self, name: str, version: int | None = None, *, permission: str = "model.read"
    ) -> tuple[ModelVersion, LoadedModel]:
        """:meth:`load`, and the catalog row the model was loaded from (its input schema, provenance)."""
        check_name(name, "model")
        if permission not in ("model.read", "model.serve"):
            raise BadInput(f"a model is loaded under model.read or model.serve, not {permission}")
        with self._gate.act(permission, f"model:{name}", version=version, what="load") as act:
            row = self._rows.get(name, version)
            data = self._decrypt(row)
            # _decrypt has checked the bytes against the catalog's SHA-256: hash them once.
            loaded = load_bytes(
                data, f"{row.name}.{row.format}", row.signature.encode(), self._key(row), sha256=row.sha256
            )
            _check_binding(row, loaded.signature)
            act.record(version=row.version, sha256=row.sha256)
        return ModelVersion.from_row(row), loaded

    def export(self, name: str, version: int | None, folder: Path) -> tuple[Path, Path]:
        """Write the verified model file and its signature (``NAME.skops``, ``NAME.skops.sig``) into ``folder``.

        ``folder`` is created if missing, but not its parents (like every output: a mistyped
        path is refused, not made); an existing file of either name is never replaced.
        """
        check_name(name, "model")
        folder = Path(folder)
        if not folder.is_dir() and not folder.parent.is_dir():
            raise NotFound(f"the folder of output {folder} does not exist")
        with self._gate.act("model.read", f"model:{name}", version=version, what="export") as act:
            row = self._rows.get(name, version)
            data = self._decrypt(row)
            verified = check_signature(row.sha256, f"{row.name}.{row.format}", row.signature.encode(), self._key(row))
            _check_binding(row, verified)
            try:
                folder.mkdir(exist_ok=True)
            except FileExistsError:
                raise BadInput(f"output {folder} is not a folder; give a folder to export into") from None
            except FileNotFoundError:
                raise NotFound(f"the folder of output {folder} does not exist") from None
            target = folder / f"{row.name}.{row.format}"
            signature = target.with_name(target.name + ".sig")
            for path in (target, signature):
                if os.path.lexists(path):
                    raise AlreadyExists(f"{path} exists; remove it or export to another folder")
            try:
                atomic_create(target, data, mode=0o644)
                atomic_create(signature, row.signature.encode(), mode=0o644)
            except FileExistsError as exc:  # created by someone else meanwhile: theirs is kept
                raise AlreadyExists(f"{exc.filename or folder} exists; remove it or export to another folder") from None
            act.record(version=row.version, sha256=row.sha256)
        return target, signature

    def prepare(
        self,
        name: str,
        version: int | None,
        build: Callable[[ModelVersion, LoadedModel], tuple[T, Mapping[str, Detail]]],
    ) -> tuple[ModelVersion, T]:
        """Load a version for serving (``model.serve``) and ``build`` what serves it, as one more
        ``model.serve`` decision (``what=prepare``): a model that loads but cannot be served (no
        usable input schema) is recorded ``failed``. ``build`` returns its result and the details
        to record."""
        info, loaded = self.load_version(name, version, permission="model.serve")
        with self._gate.act("model.serve", f"model:{name}", version=info.version, what="prepare") as act:
            built, details = build(info, loaded)
            act.record(version=info.version, **details)
        return info, built

    # -- model files on disk (outside the registry) -------------------------------------------

    def sign_file(
        self,
        path: str | os.PathLike[str],
        *,
        signature: str | os.PathLike[str] | None = None,
        provenance: Mapping[str, Any] | None = None,
        dataset: tuple[str, int | None] | None = None,
        force: bool = False,
    ) -> tuple[Path, SigningKeyInfo]:
        """Sign a model file or folder with the workspace's active key (``model.register``); returns
        the signature's path (default ``PATH.sig``) and the key. ``dataset`` (name, version) records
        that workspace dataset version and its SHA-256 as the data; an existing signature file is
        replaced only with ``force``."""
        signed: dict[str, Any] = dict(provenance or {})
        if dataset is not None:
            info = self._datasets().info(*dataset)
            signed["dataset"] = {"name": info.name, "version": info.version, "sha256": info.sha256, "rows": info.rows}
        return sign_path(
            path, gate=self._gate, signing_keys=self._signing_keys, signature=signature, provenance=signed, force=force
        )

    def verify_file(
        self, path: str | os.PathLike[str], *, signature: str | os.PathLike[str] | None = None
    ) -> VerifiedModel:
        """Verify a signed model file or folder with the workspace key that signed it (``model.read``;
        refused when the key is unknown or revoked)."""
        return verify_path(path, signature=signature, key_lookup=self._signing_keys.verification_key, gate=self._gate)

    def load_file(
        self, path: str | os.PathLike[str], *, signature: str | os.PathLike[str] | None = None
    ) -> LoadedModel:
        """The one load (verify, scan, load) of a model file signed by a workspace key (``model.read``)."""
        with self._gate.act("model.read", f"model:{Path(path).name}", what="load") as act:
            loaded = load_verified(path, signature=signature, key_lookup=self._signing_keys.verification_key)
            act.record(sha256=loaded.sha256, signing_key=loaded.signature.key_id[:16])
        return loaded

    # -- helpers ------------------------------------------------------------------------------

    def _key(self, row: ModelRow) -> ec.EllipticCurvePublicKey:
        """The workspace key that signed ``row`` (the one the catalog names), unless unknown or revoked."""
        key_id = bundle_key_id(row.signature.encode())
        if not hmac.compare_digest(key_id, row.signing_key):
            raise SignatureError(f"{row.name}@{row.version}: the signature's key differs from the catalog's")
        try:
            return self._signing_keys.verification_key(key_id)
        except SignatureError as exc:
            raise SignatureError(f"{row.name}@{row.version}: {exc}") from None

    def _store_background(self, matrix: Any) -> dict[str, Any]:
        """Encrypt the explanation background (float64, little-endian, row-major) as an object of its own."""
        import numpy as np

        data = np.ascontiguousarray(matrix, dtype="<f8").tobytes()
        object_id = self._seal(data)
        return {
            "object": object_id.hex(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "features": int(matrix.shape[1]),
            "encoding": "float64-le",
        }

    def _seal(self, data: bytes) -> bytes:
        """Store ``data`` encrypted under a fresh data key; its object id (remove with :meth:`_discard`)."""
        object_id = os.urandom(OBJECT_ID_SIZE)
        data_key = os.urandom(32)
        with self._backend.create(object_id.hex()) as out:
            seal_object(data_key, object_id, io.BytesIO(data), out)
        try:
            self._data_keys.create_wrapped(object_id, data_key)
        except BaseException:
            self._backend.delete(object_id.hex())
            raise
        return object_id

    def _discard(self, object_id: bytes) -> None:
        with contextlib.suppress(NotFound, Shredded):
            self._data_keys.shred(object_id, by="mlwarden (uncommitted model)")
        self._backend.delete(object_id.hex())

    def background(self, info: ModelVersion, *, permission: str = "model.read") -> Any:
        """The explanation background of a version whose provenance was verified (a load, ``info``
        from :meth:`load_version` or :meth:`info`): decrypted in memory, checked against the signed
        SHA-256; one ``permission`` decision (``model.serve`` for the server), ``what=background``.
        ``None`` for a model registered without one (``model register``)."""
        if permission not in ("model.read", "model.serve"):
            raise BadInput(f"a background is read under model.read or model.serve, not {permission}")
        with self._gate.act(permission, f"model:{info.name}", version=info.version, what="background") as act:
            found = self._background(info)
            act.record(rows=0 if found is None else int(found.shape[0]))
        return found

    def _background(self, info: ModelVersion) -> Any:
        import numpy as np

        described = (info.provenance.get("explanations") or {}).get("background")
        if not isinstance(described, dict) or "object" not in described:
            return None
        try:
            object_id = bytes.fromhex(str(described["object"]))
            rows, features, expected = int(described["rows"]), int(described["features"]), str(described["sha256"])
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(
                f"{info.ref}: the signed description of its explanation background is damaged"
            ) from None
        data = self._open(object_id, f"{info.ref}: its explanation background")
        if len(data) != rows * features * 8 or not hmac.compare_digest(hashlib.sha256(data).hexdigest(), expected):
            raise IntegrityError(f"{info.ref}: its explanation background does not match its signed SHA-256")
        return np.frombuffer(data, dtype="<f8").reshape(rows, features).astype(np.float64)

    def _open(self, object_id: bytes, what: str) -> bytes:
        """Decrypt one of the registry's objects; ``what`` names it in errors (exit 3)."""
        try:
            data_key = self._data_keys.data_key(object_id)
        except (NotFound, Shredded):
            raise IntegrityError(f"{what} has lost its data key; it cannot be read") from None
        out = io.BytesIO()
        try:
            src = self._backend.open(object_id.hex())
        except NotFound:
            raise IntegrityError(f"{what} is missing from the store") from None
        with src:
            try:
                open_object(data_key, object_id, src, out)
            except IntegrityError as exc:
                raise IntegrityError(f"{what} failed authentication: {exc}") from None
        return out.getvalue()

    def _decrypt(self, row: ModelRow) -> bytes:
        data = self._open(bytes.fromhex(row.object_id), f"{row.name}@{row.version}")
        if len(data) != row.size or not hmac.compare_digest(hashlib.sha256(data).hexdigest(), row.sha256):
            raise IntegrityError(f"{row.name}@{row.version} does not match its catalog entry (SHA-256)")
        return data

    def _verified(self, row: ModelRow) -> VerifiedModel:
        data = self._decrypt(row)
        verified = check_signature(row.sha256, f"{row.name}.{row.format}", row.signature.encode(), self._key(row))
        _check_binding(row, verified)
        refuse_unsafe(scan_bytes(data, f"{row.name}.{row.format}"))
        return verified


def _explanation_settings(
    settings: Mapping[str, Any], metrics: Mapping[str, Any], schema: Mapping[str, Any]
) -> dict[str, Any]:
    """The signed ``explanations`` settings, checked against what was trained."""
    classes = [str(c) for c in metrics.get("classes", [])]
    adverse = settings.get("adverse_class")
    if adverse is not None and str(adverse) not in classes:
        raise BadInput(
            f"--adverse-class {adverse!r} is not a class of the target; its classes are {', '.join(classes)}"
        )
    columns = {str(c["name"]) for c in schema.get("columns", [])}
    for column in settings.get("protected") or ():
        if column not in columns:
            raise BadInput(f"--protected {column!r} is not a feature column of the model")
    reason_map = settings.get("reason_map")
    if isinstance(reason_map, dict):
        named = set(reason_map.get("reasons", {})) | set(reason_map.get("not_reasons", []))
        if not named <= columns:
            raise BadInput(f"the reason map names column {sorted(named - columns)[0]!r}, which the model does not use")
    found: dict[str, Any] = {"method": "interventional-shap", "explained_class": classes[-1] if classes else None}
    if adverse is not None:
        found["adverse_class"] = str(adverse)
    if reason_map is not None:
        found["reason_map"] = reason_map
        # The digest the server logs with each reason (ReasonMap.sha256): over exactly what is signed.
        found["reason_map_sha256"] = hashlib.sha256(canonical(reason_map)).hexdigest()
    if settings.get("protected"):
        found["protected"] = list(settings["protected"])
    return found


def _check_binding(row: ModelRow, verified: VerifiedModel) -> None:
    """The signed statement is this row's: same model name and version, same provenance as the catalog shows."""
    signed = verified.provenance or {}
    model = signed.get("model") if isinstance(signed, dict) else None
    if not isinstance(model, dict) or model.get("name") != row.name or model.get("version") != row.version:
        claimed = f"{model.get('name')}@{model.get('version')}" if isinstance(model, dict) else "no model"
        raise SignatureError(f"{row.name}@{row.version}: its signature was made for {claimed}, not for this version")
    if signed != dict(row.provenance):
        raise IntegrityError(f"{row.name}@{row.version}: the catalog's provenance differs from the signed provenance")
