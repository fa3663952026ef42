"""Governed retraining: a challenger trained with its champion's signed recipe, compared on the same rows.

:meth:`ModelRegistry.retrain <mlwarden.models.ModelRegistry.retrain>` reads the recipe from the
champion's signed provenance (:func:`recipe_of`: estimator, target, held-out share, seed, and the
explanation settings), trains through the same path as ``train`` (the data-audit gate, the
background, the drift profile, scan, signing), and hands this module the fitted challenger:
:meth:`Retraining.record` scores champion and challenger on the challenger's held-out rows of the
new data (:func:`mlwarden.models._evaluation.compare_held_out`: paired bootstrap intervals of
each difference) and returns the ``retrain`` record signed into the candidate's provenance::

    "retrain": {
      "champion": {"ref": "credit@3", "version": 3, "sha256": "...", "stage": "production"},
      "held_out": {"dataset": {"name", "version", "sha256"}, "rows": 250, "test_size": 0.25, "seed": 0,
                   "split": "stratified", "champion_may_have_seen": true},
      "comparison": {"rows": 250, "classes": [...], "metrics": {"roc_auc": {"champion": {value, low, high},
                     "challenger": {...}, "difference": {...}, "better": "higher", "finding": "..."}, ...},
                     "interval": {"method": "paired percentile bootstrap", "rounds": 1000, "level": 0.95, "seed": 0}},
      "trigger": {...} or null,
    }

``champion_may_have_seen`` is false only when the new data is the very version the champion was
trained on (same SHA-256): with the same recipe the split is the same, so the champion never saw
the held-out rows. Otherwise the new data may repeat rows the champion was fitted on, which flatters
the champion.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mlwarden._json import canonical
from mlwarden.errors import BadInput

if TYPE_CHECKING:
    import pandas

    from mlwarden.models._registry import ModelVersion
    from mlwarden.models._training import TrainResult
    from mlwarden.store import DatasetVersion

__all__ = ["MAX_TRIGGER_BYTES", "Recipe", "Retraining", "check_trigger", "recipe_of"]

MAX_TRIGGER_BYTES = 4096
"""The largest trigger (canonical JSON) a retraining run signs into its provenance."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the champion was trained, as its signed provenance records it."""

    target: str
    estimator: str
    test_size: float
    seed: int
    features: tuple[str, ...]
    explanation: dict[str, Any]
    """The settings ``train`` takes as ``explanation`` (background rule and rows, adverse class,
    reason map with its not-reasons, protected columns)."""


def recipe_of(info: ModelVersion) -> Recipe:
    """The recipe in a verified version's provenance; :class:`BadInput` when it holds none
    (a model registered from a file, not trained by mlwarden)."""
    provenance = info.provenance
    params = provenance.get("parameters")
    if not isinstance(params, Mapping) or not {"estimator", "target", "test_size", "seed"} <= set(params):
        raise BadInput(
            f"{info.ref} has no training recipe in its signed provenance (it was registered, not trained "
            "by `mlwarden train`): train the new model instead"
        )
    explained = provenance.get("explanations")
    explained = explained if isinstance(explained, Mapping) else {}
    background = explained.get("background")
    background = background if isinstance(background, Mapping) else {}
    settings: dict[str, Any] = {
        "background": str(background.get("rule", "training")),
        # The champion's background size (what its run picked, at most what it asked for).
        "background_rows": int(background.get("rows", 100)),
    }
    for key in ("adverse_class", "reason_map", "protected"):
        if explained.get(key) is not None:
            settings[key] = explained[key]
    features = [*params.get("numeric_features", ()), *params.get("categorical_features", ())]
    return Recipe(
        target=str(params["target"]),
        estimator=str(params["estimator"]),
        test_size=float(params["test_size"]),
        seed=int(params["seed"]),
        features=tuple(str(c) for c in features),
        explanation=settings,
    )


def check_trigger(trigger: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What started the run (a drift report's id, say), as the JSON object signed: at most
    :data:`MAX_TRIGGER_BYTES` of canonical JSON."""
    if trigger is None:
        return None
    if not isinstance(trigger, Mapping):
        raise BadInput("a retraining trigger is a mapping (e.g. {'drift_report': 12}) or None")
    try:
        data = canonical(dict(trigger))
    except (TypeError, ValueError):
        raise BadInput("a retraining trigger must be JSON: string keys; strings, numbers, lists, mappings") from None
    if len(data) > MAX_TRIGGER_BYTES:
        raise BadInput(f"a retraining trigger holds at most {MAX_TRIGGER_BYTES} bytes of JSON")
    found: dict[str, Any] = json.loads(data)
    return found


@dataclasses.dataclass(frozen=True)
class Retraining:
    """One retraining run: the champion (verified, loaded through the one load) and its recipe."""

    champion: ModelVersion
    pipeline: Any
    recipe: Recipe
    trigger: dict[str, Any] | None

    def check(self, names: Iterable[object]) -> None:
        """The new data's columns are the champion's, no fewer and no more (the same recipe, the same inputs).

        Checked on the catalog's schema before the data's audit runs (a wrong table fails fast),
        and on the table that is trained on."""
        columns = [str(c) for c in names if str(c) != self.recipe.target]
        missing = [c for c in self.recipe.features if c not in columns]
        if missing:
            raise BadInput(f"the new data lacks column {missing[0]!r}, which the champion {self.champion.ref} uses")
        extra = [c for c in columns if c not in self.recipe.features]
        if extra:
            raise BadInput(
                f"the new data has column {extra[0]!r}, which the champion {self.champion.ref} does not use: "
                "a retrain keeps the champion's inputs (train a new model to change them)"
            )

    def record(self, frame: pandas.DataFrame, fitted: TrainResult, source: DatasetVersion) -> dict[str, Any]:
        """The signed ``retrain`` record: both models scored on the challenger's held-out rows."""
        from mlwarden.models._evaluation import compare_held_out
        from mlwarden.models._training import held_out

        recipe = self.recipe
        x_test, y_test = held_out(frame, recipe.target, test_size=recipe.test_size, seed=recipe.seed)
        comparison = compare_held_out(self.pipeline, fitted.pipeline, x_test, y_test)
        trained_on = self.champion.provenance.get("dataset")
        same = isinstance(trained_on, Mapping) and trained_on.get("sha256") == source.sha256
        return {
            "champion": {
                "ref": self.champion.ref,
                "version": self.champion.version,
                "sha256": self.champion.sha256,
                "stage": self.champion.stage,
            },
            "held_out": {
                "dataset": {"name": source.name, "version": source.version, "sha256": source.sha256},
                "rows": len(y_test),
                "test_size": recipe.test_size,
                "seed": recipe.seed,
                "split": "stratified",
                "champion_may_have_seen": not same,
            },
            "comparison": comparison,
            "trigger": self.trigger,
        }
