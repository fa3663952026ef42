"""Explaining decisions: exact per-column contributions and reason codes of one registered model.

Built once per served model from its signed explanation settings (``provenance.explanations``) and
its encrypted background (:meth:`mlwarden.models.ModelRegistry.background`); a deployer may put
another reason map in front (``mlwarden serve --reason-map NAME=FILE``), whose digest is recorded
at load and in every answer's log entry. Each answer's explanations are checked for additivity by
:class:`mlwarden.explain.Explainer` before they leave: one that fails is never returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwarden.errors import BadInput
from mlwarden.explain._attribution import Explainer
from mlwarden.explain._reasons import ReasonMap, select_reasons

__all__ = ["DecisionExplainer", "decision_explainer"]


@dataclass(frozen=True)
class DecisionExplainer:
    """What explains one model's decisions (the server's answers, ``mlwarden explain``). Immutable: shared."""

    explainer: Explainer
    reasons: ReasonMap
    adverse_class: object | None
    background_sha256: str
    reason_map_source: str
    """``model`` (signed with the model) or ``server`` (the deployer's map)."""

    def describe(self) -> dict[str, Any]:
        e = self.explainer
        return {
            "units": e.units,
            "explained_class": e.classes[e.output_class],
            "adverse_class": self.adverse_class,
            "base": e.base,
            "background_rows": e.background_rows,
            "background_sha256": self.background_sha256,
            "reason_map_sha256": self.reasons.sha256,
            "reason_map": self.reason_map_source,
            "not_reasons": list(self.reasons.not_reasons),
        }

    def explain(
        self, features: np.ndarray, rows: Sequence[Mapping[str, Any]], labels: Sequence[object]
    ) -> list[dict[str, Any]]:
        """One explanation per row (raises :class:`~mlwarden.explain.ExplanationFailed` if any fails)."""
        e = self.explainer
        found = e.explain(features)
        explained = e.classes[e.output_class]
        out = []
        for i, row in enumerate(rows):
            contributions = found.contributions[i]
            adverse = self.adverse_class if self.adverse_class is not None else labels[i]
            sign = 1 if adverse == explained else -1
            values = [row.get(c) for c in e.columns]
            reasons = select_reasons(e.columns, contributions, values, self.reasons, adverse_sign=sign)
            out.append(
                {
                    "base": found.base,
                    "output": float(found.output[i]),
                    "contributions": {c: float(v) for c, v in zip(e.columns, contributions, strict=True)},
                    "reasons": [r.to_json() for r in reasons],
                }
            )
        return out


def decision_explainer(
    pipeline: Any, provenance: Mapping[str, Any], background: np.ndarray | None, deployer_map: bytes | None
) -> DecisionExplainer | None:
    """The explainer of a loaded model, or ``None`` when it was registered without a background."""
    settings = provenance.get("explanations")
    if background is None or not isinstance(settings, dict):
        return None
    classes = list(pipeline.steps[-1][1].classes_)
    plain = [str(c) for c in classes]
    adverse_text = settings.get("adverse_class")
    adverse = None if adverse_text is None else classes[plain.index(str(adverse_text))]
    if len(classes) == 2:
        output_class = 1
    elif adverse is not None:
        output_class = plain.index(str(adverse_text))
    else:
        raise BadInput("a model of more than two classes is explained only with an adverse class (--adverse-class)")
    explainer = Explainer(pipeline, background, output_class=output_class)
    signed_map = settings.get("reason_map") or {}
    not_reasons = list(signed_map.get("not_reasons", []))
    if deployer_map is not None:
        reasons = ReasonMap.parse(deployer_map, columns=explainer.columns, not_reasons=not_reasons)
        source = "server"
    else:
        reasons = ReasonMap.build(signed_map.get("reasons"), columns=explainer.columns, not_reasons=not_reasons)
        source = "model"
    # Values as the label JSON shows them (numpy scalars are not JSON).
    adverse_plain = adverse.item() if isinstance(adverse, np.generic) else adverse
    return DecisionExplainer(
        explainer, reasons, adverse_plain, str((settings.get("background") or {}).get("sha256")), source
    )
