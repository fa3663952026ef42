"""``ws.explanations``: explaining a registered model's decisions, and its signed model card.

* :meth:`ExplanationService.explain` explains dataset rows (``mlwarden explain MODEL --data NAME``) or
  given instances (``--instance FILE``): exact per-column contributions relative to the model's
  recorded background, reason codes, and the global importance (mean absolute contribution per
  column) over the rows explained. One ``model.explain`` action; the model and the rows are read
  through their own gated loads (``model.read``, ``dataset.read``).
* :meth:`ExplanationService.card` builds the card from what was signed and what can be recomputed
  exactly: the provenance, the held-out split (the training run's own split, recomputed from the
  dataset version, whose SHA-256 must match), metrics with bootstrap intervals, calibration, global
  importance, fairness per protected column, the data audit and the load's scan and signature
  evidence; then signs it (:mod:`mlwarden.explain._card`).
* :meth:`ExplanationService.verify_card` checks a card's signature by a workspace key and that the
  model it names is the one the registry holds under that name and version.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlwarden._clock import Clock, timestamp
from mlwarden.errors import BadInput, IntegrityError, SignatureError
from mlwarden.models._training_data import plain

if TYPE_CHECKING:
    import numpy as np
    import pandas

    from mlwarden.access import Gate
    from mlwarden.crypto._signing_keys import ModelSigningKeys
    from mlwarden.explain import DecisionExplainer, SignedCard
    from mlwarden.models import ModelRegistry, ModelVersion
    from mlwarden.models._serialize import LoadedModel
    from mlwarden.store import Datasets

__all__ = ["Explained", "ExplanationService"]

_INTENDED_USE = ("purpose", "users", "out_of_scope", "limitations")
_CARD_IMPORTANCE_ROWS = 200


@dataclasses.dataclass(frozen=True)
class Explained:
    """Explanations of some rows of one model version."""

    model: str
    units: str
    explained_class: object
    adverse_class: object | None
    base: float
    columns: tuple[str, ...]
    rows: tuple[int, ...]
    explanations: tuple[dict[str, Any], ...]
    importance: tuple[tuple[str, float], ...]
    background: Mapping[str, Any]
    reason_map_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "units": self.units,
            "explained_class": self.explained_class,
            "adverse_class": self.adverse_class,
            "base": self.base,
            "background": dict(self.background),
            "reason_map_sha256": self.reason_map_sha256,
            "importance": [{"column": c, "mean_abs": v} for c, v in self.importance],
            "explanations": [{"row": r, **e} for r, e in zip(self.rows, self.explanations, strict=True)],
        }


class ExplanationService:
    def __init__(
        self,
        *,
        gate: Gate,
        models: Callable[[], ModelRegistry],
        datasets: Callable[[], Datasets],
        signing_keys: ModelSigningKeys,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._models = models
        self._datasets = datasets
        self._signing_keys = signing_keys
        self._clock = clock

    def __repr__(self) -> str:
        return "<ExplanationService>"

    # -- explanations ---------------------------------------------------------------------------

    def explain(
        self,
        model: str,
        version: int | None = None,
        *,
        data: tuple[str, int | None] | None = None,
        rows: Sequence[int] | None = None,
        instances: Sequence[Mapping[str, Any]] | None = None,
    ) -> Explained:
        """Explain rows of dataset ``data`` (all, or the positions ``rows``), or ``instances``."""
        if (data is None) == (instances is None):
            raise BadInput("explain either dataset rows (--data) or instances (--instance), one of the two")
        with self._gate.act("model.explain", f"model:{model}", version=version) as act:
            info, loaded, served = self._load(model, version)
            pipeline = loaded.model
            if data is not None:
                frame, source = self._datasets().read_frame_versioned(*data)
                picked = _pick(len(frame), rows)
                frame = frame.iloc[list(picked)]
                act.record(dataset=source.ref, dataset_sha256=source.sha256)
            else:
                import pandas

                assert instances is not None
                if not instances or not all(isinstance(i, Mapping) for i in instances):
                    raise BadInput('--instance must hold a JSON object or a list of objects {"column": value}')
                frame = pandas.DataFrame(list(instances))
                picked = tuple(range(len(frame)))
            features, values, labels = _prepare_rows(pipeline, info, frame)
            found = served.explain(features, values, labels)
            columns = served.explainer.columns
            importance = _importance(columns, [e["contributions"] for e in found])
            act.record(version=info.version, rows=len(picked))
        e = served.explainer
        return Explained(
            model=info.ref,
            units=e.units,
            explained_class=e.classes[e.output_class],
            adverse_class=served.adverse_class,
            base=e.base,
            columns=columns,
            rows=picked,
            explanations=tuple(found),
            importance=importance,
            background=dict((info.provenance.get("explanations") or {}).get("background") or {}),
            reason_map_sha256=served.reasons.sha256,
        )

    def _load(self, model: str, version: int | None) -> tuple[ModelVersion, LoadedModel, DecisionExplainer]:
        from mlwarden.explain import decision_explainer

        registry = self._models()
        info, loaded = registry.load_version(model, version)
        served = decision_explainer(loaded.model, info.provenance, registry.background(info), None)
        if served is None:
            raise BadInput(f"{info.ref} has no explanation background: only models made by mlwarden train explain")
        return info, loaded, served

    # -- model cards ----------------------------------------------------------------------------

    def card(
        self,
        model: str,
        version: int | None = None,
        *,
        protected: Sequence[str] = (),
        intended_use: Mapping[str, str | None] | None = None,
        bins: Mapping[str, Sequence[float]] | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """The card of a model version (a dict, schema ``mlwarden.model-card/v1``) and its signed envelope."""
        from mlwarden.explain import CARD_SCHEMA, fairness_report, sign_card
        from mlwarden.models._evaluation import held_out_performance
        from mlwarden.models._training import held_out

        use = dict(intended_use or {})
        unknown = sorted(set(use) - set(_INTENDED_USE))
        if unknown:
            raise BadInput(f"unknown intended-use field {unknown[0]!r}: use {', '.join(_INTENDED_USE)}")
        with self._gate.act("model.explain", f"model:{model}", version=version, what="card") as act:
            # The one load verified the signature and scanned the bytes: its evidence is the card's.
            info, loaded, served = self._load(model, version)
            pipeline = loaded.model
            provenance = info.provenance
            params = provenance.get("parameters") or {}
            source = provenance.get("dataset") or {}
            target = params.get("target")
            if not isinstance(target, str) or "name" not in source:
                raise BadInput(f"{info.ref} has no training provenance (dataset and target); it has no card")
            frame, read = self._datasets().read_frame_versioned(str(source["name"]), int(source["version"]))
            if not hmac.compare_digest(read.sha256, str(source.get("sha256"))):
                raise IntegrityError(f"{read.ref} is not the version {info.ref} was trained on (SHA-256 differs)")
            x_test, y_test = held_out(frame, target, test_size=float(params["test_size"]), seed=int(params["seed"]))
            del frame
            signed = provenance.get("explanations") or {}
            columns = list(protected) or list(signed.get("protected") or [])
            schema_columns = {str(c["name"]) for c in info.input_schema.get("columns", [])}
            for column in columns:
                if column not in schema_columns:
                    raise BadInput(f"--protected {column!r} is not a feature column of {info.ref}")
            performance, y_pred = held_out_performance(pipeline, x_test, y_test)
            sample = x_test.iloc[: min(len(x_test), _CARD_IMPORTANCE_ROWS)]
            features, values, labels = _prepare_rows(pipeline, info, sample)
            found = served.explain(features, values, labels)
            importance = _importance(served.explainer.columns, [e["contributions"] for e in found])
            classes = list(pipeline.classes_)
            adverse = served.adverse_class
            favourable = next((c for c in classes if c != adverse), classes[-1]) if adverse is not None else classes[-1]
            fairness = None
            if columns:
                reports = fairness_report(
                    {c: _column_values(x_test[c]) for c in columns},
                    _plain_array(y_test),
                    _plain_array(y_pred),
                    favourable=plain(favourable),
                    edges=bins,
                )
                fairness = {
                    "favourable": plain(favourable),
                    "rows": len(x_test),
                    "columns": [r.to_json() for r in reports],
                }
            key, private = self._signing_keys.active(by=self._gate.principal.name)
            card: dict[str, Any] = {
                "schema": CARD_SCHEMA,
                "model": {
                    "name": info.name,
                    "version": info.version,
                    "ref": info.ref,
                    "sha256": info.sha256,
                    "format": info.format,
                    "stage": info.stage,
                    "created_at": info.created_at,
                    "created_by": info.created_by,
                    "signing_key": info.signing_key,
                },
                "intended_use": {k: use.get(k) for k in _INTENDED_USE},
                "data": {
                    "dataset": source.get("name"),
                    "version": source.get("version"),
                    "sha256": source.get("sha256"),
                    "rows": source.get("rows"),
                    "format": source.get("format"),
                    "target": target,
                    "train_rows": (provenance.get("metrics") or {}).get("train_rows"),
                    "test_rows": (provenance.get("metrics") or {}).get("test_rows"),
                    "unlabelled_rows_dropped": (provenance.get("metrics") or {}).get("unlabelled_rows_dropped"),
                    "schema": list(info.input_schema.get("columns", [])),
                },
                "training": {
                    "estimator": params.get("estimator"),
                    "seed": params.get("seed"),
                    "test_size": params.get("test_size"),
                    "trained_by": provenance.get("trained_by"),
                    "trained_at": provenance.get("trained_at"),
                    "parameters": params.get("model_params"),
                    "libraries": provenance.get("libraries"),
                },
                "performance": performance,
                "explanations": {
                    "method": "interventional SHAP, exact, per original column (dummies summed)",
                    "units": served.explainer.units,
                    "explained_class": plain(served.explainer.classes[served.explainer.output_class]),
                    "adverse_class": adverse,
                    "base": served.explainer.base,
                    "background": signed.get("background"),
                    "importance": [{"column": c, "mean_abs": v} for c, v in importance],
                    "importance_rows": len(sample),
                    "reason_map_sha256": served.reasons.sha256,
                    "not_reasons": list(served.reasons.not_reasons),
                },
                "fairness": fairness,
                "data_audit": provenance.get("data_audit"),
                "evidence": {
                    "scan": {
                        "format": loaded.scan.format,
                        "clean": loaded.scan.clean,
                        "findings": len(loaded.scan.findings),
                    },
                    "signature": {"key_id": loaded.signature.key_id, "verified": True, "model_sha256": loaded.sha256},
                },
                "sections": _sections(provenance),
                "generated_at": timestamp(self._clock()),
                "generated_by": self._gate.principal.name,
            }
            envelope = sign_card(card, private)
            act.record(version=info.version, signing_key=key.key_id[:16], protected=",".join(columns))
        return card, envelope

    def verify_card(self, data: bytes) -> SignedCard:
        """Check a card: its signature by a workspace key that is not revoked, and that it names the model
        the registry holds under that name and version (``model.read``)."""
        from mlwarden.explain import verify_card

        signed = verify_card(data, self._signing_keys.verification_key)
        name, _, number = signed.subject.rpartition("@")
        with self._gate.act("model.read", f"model:{name}", version=int(number), what="verify-card") as act:
            held = self._models().info(name, int(number))
            if not hmac.compare_digest(held.sha256, signed.sha256):
                raise SignatureError(
                    f"the model card does not verify: it describes a model of another digest than {held.ref}"
                )
            act.record(sha256=held.sha256, signing_key=signed.key_id[:16])
        return signed


# -- helpers ------------------------------------------------------------------------------------


def _pick(n: int, rows: Sequence[int] | None) -> tuple[int, ...]:
    if rows is None:
        return tuple(range(n))
    bad = [r for r in rows if not 0 <= r < n]
    if bad:
        raise BadInput(f"row {bad[0]} is not in the dataset (it has rows 0 to {n - 1})")
    return tuple(rows)


def _plain_array(values: Any) -> np.ndarray:
    import numpy as np

    return np.array([plain(v) for v in list(values)], dtype=object)


def _column_values(column: pandas.Series) -> np.ndarray:
    import numpy as np

    if column.dtype.kind in "iuf":
        values: np.ndarray = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return values
    return np.array([None if _is_null(v) else str(v) for v in column.tolist()], dtype=object)


def _is_null(value: Any) -> bool:
    """A missing value as pandas holds it (None, NaN, pd.NA); a text such as "nan" is a value."""
    import pandas

    return value is None or (not isinstance(value, str) and bool(pandas.isna(value)))


def _prepare_rows(
    pipeline: Any, info: ModelVersion, frame: pandas.DataFrame
) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    """The preprocessed rows, their values by column (JSON-plain), and the model's labels for them."""
    import numpy as np

    schema = list(info.input_schema.get("columns", []))
    names = [str(c["name"]) for c in schema]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise BadInput(f"the rows have no column {missing[0]!r}, which the model uses")
    frame = frame[names].copy()
    # The values reasons show are the rows' own (an integer stays an integer), before the casts below.
    values = [{k: (None if _is_null(v) else plain(v)) for k, v in row.items()} for row in frame.to_dict("records")]
    for column in schema:
        name = str(column["name"])
        if column.get("type") == "categorical":
            frame[name] = frame[name].astype("object")
        else:
            try:
                frame[name] = frame[name].astype("float64")
            except (TypeError, ValueError):
                raise BadInput(f"column {name!r} must be numeric for this model") from None
    pre = pipeline.steps[0][1]
    matrix = pre.transform(frame)
    features = np.ascontiguousarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float64)
    labels = [plain(v) for v in pipeline.steps[1][1].predict(features)]
    return features, values, labels


def _importance(columns: Sequence[str], contributions: Sequence[Mapping[str, float]]) -> tuple[tuple[str, float], ...]:
    """Mean absolute contribution per column, largest first."""
    n = max(1, len(contributions))
    totals = {c: sum(abs(row[c]) for row in contributions) / n for c in columns}
    return tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


def _sections(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The card's further audits from the signed provenance: the personal data the model was trained
    on (quasi-identifiers among its features, direct identifiers a steward allowed, pseudonymised columns)."""
    personal = provenance.get("personal_data")
    if not isinstance(personal, Mapping):
        return {}
    quasi = [
        f"{q.get('column')} ({q.get('kind')})"
        for q in personal.get("quasi_identifiers") or ()
        if isinstance(q, Mapping)
    ]
    return {
        "personal_data": {
            "dataset": personal.get("dataset"),
            "quasi_identifiers": ", ".join(quasi) or "none",
            "direct_identifiers_allowed": ", ".join(personal.get("direct_allowed") or ()) or "none",
            "pseudonymised_columns": ", ".join(personal.get("pseudonymised") or ()) or "none",
            "classified": personal.get("classified"),
        }
    }
