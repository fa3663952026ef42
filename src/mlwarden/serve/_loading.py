"""Loading the models to serve: each through the one gate, with its validator and predictor.

A model that fails any check (signature, scan, safe load, the catalog binding, an unusable input
schema, and for a server that serves by stage a production version without a four-eyes
approval) is collected as a :class:`LoadFailure` and not served; the caller decides whether the
server may start without it. :func:`load_model` is the same for one version, raising what refused
it: the running server's reloader (:mod:`mlwarden.serve._reload`) loads new production versions
with it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlwarden.errors import AccessDenied, BadInput, MlwardenError
from mlwarden.serve._batching import MicroBatcher
from mlwarden.serve._config import OutputPolicy, ServeConfig
from mlwarden.serve._validate import RowValidator

if TYPE_CHECKING:
    from mlwarden._workspace import Workspace
    from mlwarden.auditlog._records import Detail
    from mlwarden.explain import DecisionExplainer
    from mlwarden.models import LoadedModel, ModelVersion
    from mlwarden.monitor import ReferenceProfile
    from mlwarden.serve._predictor import Predictor
    from mlwarden.serve._profiles import LiveWindow

__all__ = ["LoadFailure", "ServedModel", "load_model", "load_models", "production_versions"]

log = logging.getLogger("mlwarden.serve")


@dataclass(frozen=True)
class LoadFailure:
    """A model the server was asked to serve but refused: which, and why (the error's class and text)."""

    ref: str
    error: str
    message: str


@dataclass
class ServedModel:
    """One verified model version and everything needed to answer for it."""

    name: str
    version: int
    digest: str
    signing_key: str
    dataset: str | None
    dataset_sha256: str | None
    classes: tuple[object, ...]
    validator: RowValidator
    predictor: Predictor
    batcher: MicroBatcher
    output: OutputPolicy
    explainer: DecisionExplainer | None = None
    """What explains its answers (``None``: the model has no explanation background)."""
    info: ModelVersion | None = None
    """The catalog's record of the version (what its live-profile windows are stored under)."""
    profile: ReferenceProfile | None = None
    """Its drift reference profile, when live profiles are on and the model has one."""
    model_json: dict[str, Any] = field(init=False)
    """What each answer says of the model (built once: it is on every response)."""
    window: LiveWindow | None = field(init=False, default=None, repr=False)
    """The live-profile window being counted (:mod:`mlwarden.serve._profiles`); counts only."""
    in_flight: int = field(init=False, default=0)
    """Requests holding this version, from their grant to their answer (on the event loop's thread)."""
    _idle: asyncio.Event | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.model_json = {"name": self.name, "version": self.version, "digest": self.digest}

    def enter(self) -> None:
        """A request now holds this version: it is answered by it, whatever is switched in meanwhile."""
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def idle(self) -> None:
        """Return once no request holds this version (at once if none does)."""
        while self.in_flight:
            self._idle = asyncio.Event()
            await self._idle.wait()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "signing_key": self.signing_key,
            "dataset": self.dataset,
            "classes": list(self.classes),
            "output": self.output.describe(),
            "compiled": self.predictor.compiled,
            "max_instances": self.validator.max_instances,
            "input_schema": self.validator.json_schema()["properties"]["instances"]["items"],
            "explanations": None if self.explainer is None else self.explainer.describe(),
        }


def production_versions(ws: Workspace) -> dict[str, ModelVersion]:
    """The version of each model in stage ``production`` that the operator may read (one ``model.read`` entry)."""
    return {v.name: v for v in ws.models.list() if v.stage == "production"}


def load_models(ws: Workspace, config: ServeConfig) -> tuple[dict[str, ServedModel], list[LoadFailure]]:
    """Load and verify every model to serve through the one gate; failures are collected, not raised."""
    from mlwarden.store._names import parse_ref

    by_stage = not config.models
    refs: list[tuple[str, int | None]]
    if config.models:
        refs = [parse_ref(r, "model") for r in config.models]
    else:
        refs = [(v.name, v.version) for v in production_versions(ws).values()]
        if not refs:
            raise BadInput("no model is in stage production: promote one (`mlwarden model promote`) or name --model")
    served: dict[str, ServedModel] = {}
    failures: list[LoadFailure] = []
    for name, version in refs:
        ref = name if version is None else f"{name}@{version}"
        if name in served:
            raise BadInput(f"model {name} is named twice; serve one version per model")
        try:
            served[name] = load_model(ws, config, name, version, by_stage=by_stage)
        except MlwardenError as exc:
            failures.append(LoadFailure(ref, type(exc).__name__, str(exc)))
    return served, failures


def load_model(ws: Workspace, config: ServeConfig, name: str, version: int | None, *, by_stage: bool) -> ServedModel:
    """One model version through the one gate (``model.serve``), built to be served; raises what refused it.

    ``by_stage``: the version is served because it is in production, so it must also carry a valid
    approval by a principal other than the one who trained it (four eyes); one without is refused
    like a model that fails its checks, recorded ``failed`` by the gate.
    """
    from mlwarden.explain import decision_explainer, read_reason_map
    from mlwarden.serve._compiled import build_predictor

    def prepare(
        info: ModelVersion, loaded: LoadedModel
    ) -> tuple[tuple[RowValidator, Predictor, DecisionExplainer | None, ReferenceProfile | None], dict[str, Detail]]:
        details: dict[str, Detail] = {}
        if by_stage:
            _check_approved(ws, info)
            details["approved"] = True
        validator = RowValidator(
            info.input_schema, max_instances=config.max_instances, range_margin=config.range_margin
        )
        predictor = build_predictor(loaded.model, info.input_schema)
        deployer_map = read_reason_map(config.reason_map_for(name))
        explainer = decision_explainer(
            loaded.model, info.provenance, ws.models.background(info, permission="model.serve"), deployer_map
        )
        details.update(compiled=predictor.compiled, explanations=explainer is not None)
        if explainer is not None:
            details["reason_map_sha256"] = explainer.reasons.sha256
            details["reason_map"] = explainer.reason_map_source
        profile = _live_profile(ws, config, info) if config.drift_window else None
        details["live_profile"] = profile is not None
        retrain = ws.models.retraining_needed(info)
        if retrain is not None:
            # Served still (taking it down is the deployer's decision), but said at every start.
            log.warning("%s needs retraining: %s; retrain it with `mlwarden retrain %s`", info.ref, retrain, name)
            details["needs_retraining"] = True
        return (validator, predictor, explainer, profile), details

    # One read: the model and the catalog row it came from, checked against each other
    # (model.serve); a model that loaded but cannot be served (no usable input schema, no
    # approval) is recorded as failed, through the same gate.
    info, (validator, predictor, explainer, profile) = ws.models.prepare(name, version, prepare)
    dataset = (info.provenance or {}).get("dataset") or {}
    return ServedModel(
        name=name,
        version=info.version,
        digest=info.sha256,
        signing_key=info.signing_key,
        dataset=f"{dataset['name']}@{dataset['version']}" if "name" in dataset else None,
        dataset_sha256=dataset.get("sha256"),
        classes=tuple(predictor.classes),
        validator=validator,
        predictor=predictor,
        batcher=MicroBatcher(predictor, max_rows=config.max_batch_rows),
        output=config.output_for(name),
        explainer=explainer,
        info=info,
        profile=profile,
    )


def _live_profile(ws: Workspace, config: ServeConfig, info: ModelVersion) -> ReferenceProfile | None:
    """The reference profile the server counts ``info``'s traffic against, or ``None`` (trained before
    profiles, or profiling columns the server does not receive). A profile that fails its signed
    SHA-256 refuses the model, as a changed background does."""
    profile: ReferenceProfile | None = ws.models.profile(info, permission="model.serve")
    if profile is None:
        log.warning("%s has no drift reference profile (trained before profiles): no live profile", info.ref)
        return None
    received = {str(c["name"]) for c in info.input_schema.get("columns", [])}
    missing = [name for name in profile.names if name not in received]
    if missing:
        log.warning(
            "%s: its reference profile has column %r, which no request carries: no live profile", info.ref, missing[0]
        )
        return None
    return profile


def _check_approved(ws: Workspace, info: ModelVersion) -> None:
    """Refuse a production version that no principal other than its trainer approved (four eyes)."""
    if ws.models.approval_of(info) is None:
        raise AccessDenied(
            f"{info.ref} is in stage production without a valid approval by a principal other than the one "
            f"who trained it (four eyes), so it is not served; a reviewer approves it with "
            f"`mlwarden model approve {info.ref}`"
        )
