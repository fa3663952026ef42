"""The model registry of a workspace (``ws.models``): encrypted, signed, versioned models.

Registering a model scans its bytes (anything but a clean skops file is refused), signs them with
the workspace's active model-signing key in the OpenSSF model-signing format with the provenance
inside the signed statement, encrypts them under a fresh data key into ``<home>/models/``, and
records the version in the catalog (signature, provenance, input schema, metrics, stage).

Reading one back goes through the one load: decrypt (AES-GCM authenticates every segment), check
the bytes against the catalog's SHA-256 and the signature (by a workspace key that is not revoked),
scan, and load with skops' trusted types only. Each call passes the access gate and is logged:
``model.register`` (train, retrain, register), ``model.read`` (info, ls, verify, export, load,
approvals), ``model.approve`` (four-eyes approvals), ``model.promote`` (stage changes), scoped by
model name.

Four eyes: a version reaches ``production`` only with a valid approval (:meth:`ModelRegistry.approval_of`)
by a principal other than the one who trained or registered it, bound to the SHA-256 it approved,
and still entitled (active, holding ``model.approve`` on the model) when it counts. ``retrain``
registers its challenger in stage ``candidate`` and never promotes.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden._clock import Clock, timestamp
from mlwarden._fsio import atomic_create
from mlwarden._json import canonical
from mlwarden.catalog._approvals import Approval
from mlwarden.catalog._models import STAGES, ModelRow, NewModel
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._signing_keys import ModelSigningKeys
from mlwarden.errors import (
    AccessDenied,
    AlreadyExists,
    BadInput,
    IntegrityError,
    NotFound,
    SignatureError,
    Unavailable,
)
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
from mlwarden.store._sealed import SealedObjects

if TYPE_CHECKING:
    from mlwarden.access import Gate
    from mlwarden.auditlog._records import Detail
    from mlwarden.catalog import Catalog
    from mlwarden.crypto._signing_keys import SigningKeyInfo
    from mlwarden.models._retrain import Retraining
    from mlwarden.store import Datasets, DatasetVersion, ObjectBackend

__all__ = ["MAX_NOTE", "Entitled", "ModelRegistry", "ModelVersion", "TrainingGate"]

T = TypeVar("T")
MAX_NOTE = 1000
"""The longest note an approval keeps (characters)."""


class TrainingAllowed(Protocol):
    """What the gate before training lets a run use: the version to read, and the audit's record."""

    @property
    def dataset(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def provenance(self) -> dict[str, Any]: ...


class FeatureGate(Protocol):
    """The check of a training run's features for personal data (``ws.privacy.check_training``):
    raises to refuse, else returns what it checked, for the signed provenance."""

    def __call__(self, dataset: str, version: int, target: str) -> dict[str, Any]: ...


class Entitled(Protocol):
    """Whether a principal, by name, is active now and holds a permission on a resource (the
    workspace asks its access database): how an approval is judged still valid."""

    def __call__(self, name: str, permission: str, resource: str) -> bool: ...


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
        entitled: Entitled | None = None,
        check_features: FeatureGate | None = None,
    ) -> None:
        self._before_training = before_training
        self._check_features = check_features
        self._catalog = catalog
        # Without a way to ask who is entitled, no approval counts: production stays closed.
        self._entitled = entitled
        self._rows = catalog.models
        self._approvals = catalog.approvals
        self._backend = backend
        self._data_keys = data_keys
        self._objects = SealedObjects(backend, data_keys, owner="model")
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
        *,
        stage: str = "none",
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
                    stage=stage,
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
        check_name(name, "model")
        _check_recipe(estimator, test_size)
        with self._gate.act("model.register", f"model:{name}", dataset=dataset, estimator=estimator) as act:
            version, source = self._train(
                name,
                dataset,
                dataset_version,
                target,
                estimator=estimator,
                test_size=test_size,
                seed=seed,
                on_findings=on_findings,
                reason=reason,
                explanation=explanation,
            )
            act.record(
                version=version.version,
                sha256=version.sha256,
                dataset_sha256=source.sha256,
                dataset_version=source.version,
            )
        return version

    def retrain(
        self,
        name: str,
        dataset: str,
        *,
        dataset_version: int | None = None,
        champion_version: int | None = None,
        on_findings: str = "refuse",
        reason: str | None = None,
        trigger: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Train a challenger to ``name``'s champion on new data and register it in stage ``candidate``.

        The champion is ``name``'s production version (or ``champion_version``), loaded through
        the one load; its signed provenance gives the recipe (estimator, target, held-out share,
        seed; the explanation settings: background rule and rows, adverse class, reason map and
        not-reasons, protected columns), and the new data must have its columns. The challenger is
        trained as :meth:`train` trains (the data-audit gate with ``on_findings`` and ``reason``,
        the background, the drift profile, scan, signing: one code path), then both models are
        scored on the challenger's held-out rows of the new data, with paired bootstrap intervals
        of each metric's difference. If the new data repeats rows the champion was trained on,
        the champion may have seen some of those rows, which flatters it
        (``held_out.champion_may_have_seen`` says whether that can be ruled out).

        The comparison, the champion (ref and SHA-256) and ``trigger`` (what started the run, a
        free-form JSON mapping such as a drift report's id, or ``None``) are signed into the
        candidate's provenance as ``retrain``. Gated and recorded as ``model.register``
        (``what=retrain``); it never changes a stage: the production version stays as it was,
        and the candidate reaches production only once another principal approved it
        (:meth:`approve`, :meth:`promote`)."""
        from mlwarden.models._retrain import Retraining, check_trigger, recipe_of

        check_name(name, "model")
        signed_trigger = check_trigger(trigger)
        with self._gate.act("model.register", f"model:{name}", dataset=dataset, what="retrain") as act:
            if champion_version is None:
                production = [r.version for r in self._rows.versions(name) if r.stage == "production"]
                if not production:
                    raise BadInput(f"{name} has no production version to retrain: name the champion (--champion N)")
                champion_version = production[-1]
            champion, loaded = self.load_version(name, champion_version)
            recipe = recipe_of(champion)
            _check_recipe(recipe.estimator, recipe.test_size)
            version, source = self._train(
                name,
                dataset,
                dataset_version,
                recipe.target,
                estimator=recipe.estimator,
                test_size=recipe.test_size,
                seed=recipe.seed,
                on_findings=on_findings,
                reason=reason,
                explanation=recipe.explanation,
                retraining=Retraining(champion, loaded.model, recipe, signed_trigger),
            )
            act.record(
                version=version.version,
                sha256=version.sha256,
                stage=version.stage,
                champion=champion.version,
                champion_sha256=champion.sha256,
                dataset_sha256=source.sha256,
                dataset_version=source.version,
            )
        return version

    def _train(
        self,
        name: str,
        dataset: str,
        dataset_version: int | None,
        target: str,
        *,
        estimator: str,
        test_size: float,
        seed: int,
        on_findings: str,
        reason: str | None,
        explanation: Mapping[str, Any] | None,
        retraining: Retraining | None = None,
    ) -> tuple[ModelVersion, DatasetVersion]:
        """The one training path (``train`` and ``retrain``, inside their gate): the data-audit gate,
        the fit, the background, the drift profile, scan, sign, register. Returns the version and
        the dataset version it was trained on. A ``retraining`` run checks the new data's columns
        first, signs the comparison with its champion in, and registers the version as a candidate."""
        from mlwarden._version import __version__
        from mlwarden.models._serialize import dumps
        from mlwarden.models._training import fit_classifier, library_versions

        if retraining is not None:
            described = self._datasets().info(dataset, dataset_version).schema.columns
            if described is not None:
                retraining.check(c.name for c in described)
        audited: dict[str, Any] | None = None
        if self._before_training is not None:
            allowed = self._before_training(dataset, dataset_version, target, on_findings=on_findings, reason=reason)
            dataset, dataset_version, audited = allowed.dataset, allowed.version, allowed.provenance
        personal: dict[str, Any] | None = None
        if self._check_features is not None:
            checked = self._datasets().info(dataset, dataset_version)
            personal = self._check_features(checked.name, checked.version, target)
            dataset_version = checked.version
        frame, source = self._datasets().read_frame_versioned(dataset, dataset_version)
        if retraining is not None:
            retraining.check(frame.columns)
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
        compared = None if retraining is None else retraining.record(frame, fitted, source)
        del frame
        explained = _explanation_settings(settings, fitted.metrics, fitted.input_schema)
        entry_point = "mlwarden train" if retraining is None else "mlwarden retrain"
        provenance = {
            "dataset": {
                "name": source.name,
                "version": source.version,
                "sha256": source.sha256,
                "rows": source.rows,
                "format": source.format,
            },
            "code": {"mlwarden": __version__, "entry_point": entry_point, "pipeline": "preprocess+classifier"},
            "parameters": fitted.parameters,
            "libraries": library_versions(),
            "metrics": fitted.metrics,
            "trained_by": self._gate.principal.name,
            "trained_at": timestamp(self._clock()),
        }
        if audited is not None:
            provenance["data_audit"] = audited
        if personal is not None:
            provenance["personal_data"] = personal
        if compared is not None:
            provenance["retrain"] = compared
        stored = self._store_background(fitted.background)
        explained["background"] = {**fitted.background_info, **stored}
        provenance["explanations"] = explained
        profiled = self._store_profile(fitted.profile)
        if profiled is not None:
            provenance["drift_profile"] = profiled
        stage = "none" if retraining is None else "candidate"
        try:
            version = self._register(
                name, dumps(fitted.pipeline), provenance, fitted.input_schema, fitted.metrics, stage=stage
            )
        except BaseException:
            self._discard(bytes.fromhex(stored["object"]))
            if profiled is not None:
                self._discard(bytes.fromhex(profiled["object"]))
            raise
        return version, source

    def promote(self, name: str, version: int, stage: str) -> ModelVersion:
        """Move a version to ``staging``, ``production`` or ``archived`` (production archives the previous one).

        Production needs a valid four-eyes approval (:meth:`approval_of`): without one the
        promotion is refused as a denial (:class:`~mlwarden.errors.AccessDenied`, recorded with
        the rule that refused it). Stage ``candidate`` is entered only by :meth:`retrain`."""
        check_name(name, "model")
        if stage == "candidate":
            raise BadInput("only `mlwarden retrain` makes candidates: promote to staging, production or archived")
        if stage not in STAGES or stage == "none":
            raise BadInput(f"unknown stage {stage!r}: use staging, production or archived")
        resource = f"model:{name}"
        refusal = None
        if stage == "production" and self._gate.allows("model.promote", resource):
            # Decided before the gate's entry, so that a refusal is recorded as a denial with its rule;
            # a version that does not exist fails inside the gate, as any other promotion does.
            with contextlib.suppress(NotFound):
                refusal = self._production_refusal(self._rows.get(name, version))
        with self._gate.act("model.promote", resource, refusal=refusal, version=version, stage=stage) as act:
            before = self._rows.get(name, version)
            approval: Approval | None = None
            if stage == "production":
                self._verified(before)  # never promote what would not load
                approval = self._valid_approval(before)
                if approval is None:  # an approver revoked meanwhile
                    raise AccessDenied(self._production_refusal(before) or f"{before.name}@{before.version}")
            row, archived = self._rows.set_stage(
                name, version, stage, by=self._gate.principal.name, at=timestamp(self._clock())
            )
            act.record(
                version=version,
                stage=stage,
                previous=before.stage,
                archived=",".join(map(str, archived)),
                approved_by=None if approval is None else approval.approved_by,
            )
        return ModelVersion.from_row(row)

    # -- four eyes ----------------------------------------------------------------------------

    def approve(self, name: str, version: int, *, note: str | None = None) -> Approval:
        """Approve a version for production as the acting principal (``model.approve``).

        The version is verified first (decrypt, signature, scan), and the approval is bound to its
        SHA-256. Refused as a denial (:class:`~mlwarden.errors.AccessDenied`) when the acting
        principal trained or registered the version (its ``created_by``, its provenance's
        ``trained_by``), whatever its role; an archived version is not approved (``BadInput``), nor
        one the principal approved already (``AlreadyExists``). ``note`` (at most
        :data:`MAX_NOTE` characters) says what was reviewed."""
        check_name(name, "model")
        if note is not None and (
            not isinstance(note, str) or not note.strip() or len(note) > MAX_NOTE or not note.isprintable()
        ):
            raise BadInput(f"an approval's note is one line of 1 to {MAX_NOTE} printable characters")
        resource = f"model:{name}"
        me = self._gate.principal.name
        refusal = None
        if self._gate.allows("model.approve", resource):
            with contextlib.suppress(NotFound):
                refusal = _own_version(self._rows.get(name, version), me)
        with self._gate.act("model.approve", resource, refusal=refusal, version=version) as act:
            row = self._rows.get(name, version)
            if row.stage == "archived":
                raise BadInput(f"{name}@{version} is archived: approve a version that may go to production")
            self._verified(row)
            approval = self._approvals.add(Approval(name, row.version, row.sha256, me, timestamp(self._clock()), note))
            act.record(version=row.version, sha256=row.sha256, stage=row.stage)
        return approval

    def approvals(self, name: str, version: int | None = None) -> list[Approval]:
        """The approvals recorded for a version of ``name`` (every version's when ``version`` is None),
        oldest first, valid or not (``model.read``); :meth:`approval_of` says which one counts."""
        check_name(name, "model")
        with self._gate.act("model.read", f"model:{name}", version=version, what="approvals") as act:
            numbers = [self._rows.get(name, version).version] if version is not None else None
            if numbers is None:
                numbers = [r.version for r in self._rows.versions(name)]
            found = [a for n in numbers for a in self._approvals.of_version(name, n)]
            act.record(approvals=len(found))
        return found

    def approval_of(self, info: ModelVersion) -> Approval | None:
        """The approval that lets ``info`` be in production, or ``None`` (``model.read``, ``what=approval``).

        Valid means: recorded for this version with the SHA-256 the catalog holds for it (and
        ``info`` names), by a principal who neither trained nor registered it, and who is, now,
        active (not revoked, expired or suspended) and holds ``model.approve`` on the model. The
        oldest valid one is returned. The server asks before it serves a production version."""
        check_name(info.name, "model")
        with self._gate.act("model.read", f"model:{info.name}", version=info.version, what="approval") as act:
            row = self._rows.get(info.name, info.version)
            found = self._valid_approval(row) if hmac.compare_digest(row.sha256, info.sha256) else None
            act.record(version=row.version, approved_by=None if found is None else found.approved_by)
        return found

    def _valid_approval(self, row: ModelRow) -> Approval | None:
        makers = _makers(row)
        for approval in self._approvals.of_version(row.name, row.version):
            if (
                hmac.compare_digest(approval.sha256, row.sha256)
                and approval.approved_by not in makers
                and self._entitled is not None
                and self._entitled(approval.approved_by, "model.approve", f"model:{row.name}")
            ):
                return approval
        return None

    def _production_refusal(self, row: ModelRow) -> str | None:
        """Why ``row`` may not go to production (no valid four-eyes approval), or ``None``."""
        if self._valid_approval(row) is not None:
            return None
        ref = f"{row.name}@{row.version}"
        recorded = self._approvals.of_version(row.name, row.version)
        if not recorded:
            return (
                f"{ref} has no approval: a principal other than the one who trained it must approve it "
                f"first (`mlwarden model approve {ref}`)"
            )
        who = ", ".join(sorted({a.approved_by for a in recorded}))
        return (
            f"{ref} has no valid approval (approved by {who}, who no longer may approve it, or for other bytes): "
            f"an entitled principal other than the one who trained it must approve it (`mlwarden model approve {ref}`)"
        )

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

    @staticmethod
    def training_refs(info: ModelVersion) -> builtins.list[str]:
        """The dataset versions (``name@version``) a model version was trained and evaluated on, from
        its signed provenance."""
        refs = []
        for place in (info.provenance.get("dataset"), (info.provenance.get("retrain") or {}).get("held_out")):
            described = place.get("dataset", place) if isinstance(place, Mapping) else None
            if isinstance(described, Mapping) and "name" in described and "version" in described:
                refs.append(f"{described['name']}@{described['version']}")
        return refs

    def retraining_needed(self, info: ModelVersion) -> str | None:
        """Why ``info`` needs retraining: a dataset version it was trained on has been erased (``data
        forget``) or shredded since. ``None`` when every one is still live. Reads catalog rows only."""
        for ref in self.training_refs(info):
            name, _, number = ref.rpartition("@")
            try:
                row = self._catalog.version(name, int(number))
            except (NotFound, ValueError):
                continue
            if row.shredded_at is None:
                continue
            erased = [
                v
                for v in self._catalog.versions(name)
                if v.tags.get("erasure.replaces") == ref and v.shredded_at is None
            ]
            if erased:
                successor = f"{name}@{erased[-1].version}"
                return f"trained on {ref}, erased at {row.shredded_at} (data forget); its successor is {successor}"
            return f"trained on {ref}, shredded at {row.shredded_at} by {row.shredded_by}"
        return None

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

    def _store_profile(self, profile: Any) -> dict[str, Any] | None:
        """Encrypt the drift reference profile as an object of its own; what the provenance signs of it."""
        if profile is None:
            return None
        data = profile.to_bytes()
        object_id = self._seal(data)
        return {
            "object": object_id.hex(),
            "sha256": profile.sha256,
            "format": "mlwarden.drift-profile/v1",
            "rows": profile.rows,
            "columns": len(profile.columns),
            "prediction": profile.score is not None,
        }

    def profile(self, info: ModelVersion, *, permission: str = "model.read") -> Any:
        """The drift reference profile of a version whose provenance was verified (``info`` from
        :meth:`load_version` or :meth:`info`): decrypted in memory, checked against the signed
        SHA-256; one ``permission`` decision (``model.serve`` for the server, ``model.monitor``
        for monitoring), ``what=profile``. ``None`` for a version registered without one."""
        if permission not in ("model.read", "model.serve", "model.monitor"):
            raise BadInput(f"a drift profile is read under model.read, model.serve or model.monitor, not {permission}")
        with self._gate.act(permission, f"model:{info.name}", version=info.version, what="profile") as act:
            found = self._profile(info)
            act.record(rows=0 if found is None else found.rows)
        return found

    def _profile(self, info: ModelVersion) -> Any:
        from mlwarden.monitor import ReferenceProfile

        described = info.provenance.get("drift_profile")
        if not isinstance(described, dict) or "object" not in described:
            return None
        try:
            object_id = bytes.fromhex(str(described["object"]))
            expected = str(described["sha256"])
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(f"{info.ref}: the signed description of its drift profile is damaged") from None
        data = self._open(object_id, f"{info.ref}: its drift profile")
        if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), expected):
            raise IntegrityError(f"{info.ref}: its drift profile does not match its signed SHA-256")
        return ReferenceProfile.from_bytes(data)

    def _seal(self, data: bytes) -> bytes:
        """Store ``data`` encrypted under a fresh data key; its object id (remove with :meth:`_discard`)."""
        return self._objects.seal(data)

    def _discard(self, object_id: bytes) -> None:
        self._objects.discard(object_id)

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
        return self._objects.open(object_id, what)

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


def _check_recipe(estimator: str, test_size: float) -> None:
    from mlwarden.models._training import ESTIMATORS

    if estimator not in ESTIMATORS:
        raise BadInput(f"unknown estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
    if not 0.05 <= test_size <= 0.5:
        raise BadInput("the held-out share must be between 0.05 and 0.5")


def _makers(row: ModelRow) -> set[str]:
    """Who made a version: who registered it, and who trained it (its provenance's ``trained_by``)."""
    makers = {row.created_by}
    trained_by = row.provenance.get("trained_by") if isinstance(row.provenance, Mapping) else None
    if isinstance(trained_by, str):
        makers.add(trained_by)
    return makers


def _own_version(row: ModelRow, principal: str) -> str | None:
    """The four-eyes rule: why ``principal`` may not approve ``row``, or ``None``."""
    if principal in _makers(row):
        return (
            f"{principal} trained or registered {row.name}@{row.version}; another principal must approve it (four eyes)"
        )
    return None


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
