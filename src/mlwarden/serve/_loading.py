"""Loading the models to serve: each through the one gate, with its validator and predictor.

A model that fails any check (signature, scan, safe load, the catalog binding, an unusable input
schema) is collected as a :class:`LoadFailure` and not served; the caller decides whether the
server may start without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput, MlwardenError
from mlwarden.serve._batching import MicroBatcher
from mlwarden.serve._config import OutputPolicy, ServeConfig
from mlwarden.serve._validate import RowValidator

if TYPE_CHECKING:
    from mlwarden._workspace import Workspace
    from mlwarden.auditlog._records import Detail
    from mlwarden.explain import DecisionExplainer
    from mlwarden.models import LoadedModel, ModelVersion
    from mlwarden.serve._predictor import Predictor

__all__ = ["LoadFailure", "ServedModel", "load_models"]


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
    model_json: dict[str, Any] = field(init=False)
    """What each answer says of the model (built once: it is on every response)."""

    def __post_init__(self) -> None:
        self.model_json = {"name": self.name, "version": self.version, "digest": self.digest}

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


def load_models(ws: Workspace, config: ServeConfig) -> tuple[dict[str, ServedModel], list[LoadFailure]]:
    """Load and verify every model to serve through the one gate; failures are collected, not raised."""
    from mlwarden.explain import decision_explainer, read_reason_map
    from mlwarden.serve._compiled import build_predictor
    from mlwarden.store._names import parse_ref

    refs: list[tuple[str, int | None]]
    if config.models:
        refs = [parse_ref(r, "model") for r in config.models]
    else:
        refs = [(v.name, v.version) for v in ws.models.list() if v.stage == "production"]
        if not refs:
            raise BadInput("no model is in stage production: promote one (`mlwarden model promote`) or name --model")
    served: dict[str, ServedModel] = {}
    failures: list[LoadFailure] = []
    for name, version in refs:
        ref = name if version is None else f"{name}@{version}"
        if name in served:
            raise BadInput(f"model {name} is named twice; serve one version per model")

        def prepare(
            info: ModelVersion, loaded: LoadedModel, name: str = name
        ) -> tuple[tuple[RowValidator, Predictor, DecisionExplainer | None], dict[str, Detail]]:
            validator = RowValidator(
                info.input_schema, max_instances=config.max_instances, range_margin=config.range_margin
            )
            predictor = build_predictor(loaded.model, info.input_schema)
            deployer_map = read_reason_map(config.reason_map_for(name))
            explainer = decision_explainer(
                loaded.model, info.provenance, ws.models.background(info, permission="model.serve"), deployer_map
            )
            details: dict[str, Detail] = {"compiled": predictor.compiled, "explanations": explainer is not None}
            if explainer is not None:
                details["reason_map_sha256"] = explainer.reasons.sha256
                details["reason_map"] = explainer.reason_map_source
            return (validator, predictor, explainer), details

        try:
            # One read: the model and the catalog row it came from, checked against each other
            # (model.serve); a model that loaded but cannot be served (no usable input schema) is
            # recorded as failed, through the same gate.
            info, (validator, predictor, explainer) = ws.models.prepare(name, version, prepare)
        except MlwardenError as exc:
            failures.append(LoadFailure(ref, type(exc).__name__, str(exc)))
            continue
        dataset = (info.provenance or {}).get("dataset") or {}
        served[name] = ServedModel(
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
        )
    return served, failures
