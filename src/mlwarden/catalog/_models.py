"""The model registry's rows: each model version, its signature, provenance and stage.

A version's number is signed into its provenance before it is recorded, so the writing
transaction only confirms it: when another writer took it first (the number moved on, or the
``(name, version)`` unique constraint fired), :meth:`ModelCatalog.add` says so and the registry
signs again with the next number. Promoting a version to
``production`` archives the model's other production version in the same transaction, so a
model has at most one production version at any time.

Stages: ``none`` (registered), ``candidate`` (made by a retraining run, waiting for review: a
version is recorded in it from the start, never moved into it), ``staging``, ``production`` and
``archived``. Who may move a version where (four eyes before production) is the registry's rule.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden.catalog._tables import model_versions
from mlwarden.errors import BadInput, IntegrityError, NotFound

__all__ = ["STAGES", "ModelCatalog", "ModelRow", "NewModel"]

STAGES = ("none", "candidate", "staging", "production", "archived")
_M = model_versions.c


@dataclass(frozen=True)
class NewModel:
    """The facts of a new model version, as the registry measured them."""

    object_id: str
    sha256: str
    size: int
    format: str
    signature: str
    signing_key: str
    provenance: Mapping[str, Any]
    input_schema: Mapping[str, Any]
    metrics: Mapping[str, Any]
    created_at: str
    created_by: str


@dataclass(frozen=True)
class ModelRow(NewModel):
    name: str
    version: int
    stage: str
    stage_changed_at: str | None
    stage_changed_by: str | None


class ModelCatalog:
    """Rows of ``model_versions`` through the catalog's transactions."""

    def __init__(self, transaction: Callable[..., contextlib.AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction

    def next_version(self, name: str) -> int:
        """The number the next version of ``name`` will most likely get (``add`` confirms it)."""
        with self._transaction(write=False) as conn:
            return int(conn.execute(select(func.max(_M.version)).where(_M.name == name)).scalar() or 0) + 1

    def add(self, name: str, new: NewModel, *, version: int, stage: str = "none") -> ModelRow | None:
        """Record ``new`` as version ``version`` of ``name`` in ``stage`` (``none``, or ``candidate`` for
        a retraining run's); ``None`` when that number was taken meanwhile (the caller signed the
        number into the provenance, so it signs again with the next one)."""
        if stage not in ("none", "candidate"):
            raise BadInput(f"a new version starts in stage none or candidate, not {stage!r}")
        # A candidate's stage was set when it was made, by whoever made it.
        changed = {"stage_changed_at": new.created_at, "stage_changed_by": new.created_by} if stage != "none" else {}
        try:
            with self._transaction(write=True, grows=True) as conn:
                number = (conn.execute(select(func.max(_M.version)).where(_M.name == name)).scalar() or 0) + 1
                if number != version:
                    return None
                conn.execute(
                    insert(model_versions).values(name=name, version=number, stage=stage, **changed, **_values(new))
                )
                return self._one(conn, name, number)
        except SqlIntegrityError:  # another writer took the number first (PostgreSQL's read committed)
            return None

    def get(self, name: str, version: int | None = None) -> ModelRow:
        """A version of ``name``; the newest when ``version`` is None."""
        with self._transaction(write=False) as conn:
            if version is None:
                version = conn.execute(select(func.max(_M.version)).where(_M.name == name)).scalar()
                if version is None:
                    raise NotFound(f"no model named {name!r}; see `mlwarden model ls`")
            return self._one(conn, name, version)

    def versions(self, name: str) -> list[ModelRow]:
        with self._transaction(write=False) as conn:
            rows = [_row(r) for r in conn.execute(select(model_versions).where(_M.name == name).order_by(_M.version))]
        if not rows:
            raise NotFound(f"no model named {name!r}; see `mlwarden model ls`")
        return rows

    def all(self) -> list[ModelRow]:
        with self._transaction(write=False) as conn:
            return [_row(r) for r in conn.execute(select(model_versions).order_by(_M.name, _M.version))]

    def object_ids(self) -> set[str]:
        with self._transaction(write=False) as conn:
            return set(conn.execute(select(_M.object_id)).scalars())

    def set_stage(self, name: str, version: int, stage: str, *, by: str, at: str) -> tuple[ModelRow, list[int]]:
        """Move a version to ``stage``; returns it and the versions archived to make room in production."""
        if stage not in STAGES:
            raise BadInput(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
        with self._transaction(write=True) as conn:
            self._one(conn, name, version)
            archived: list[int] = []
            if stage == "production":
                archived = list(
                    conn.execute(
                        select(_M.version).where(_M.name == name, _M.stage == "production", _M.version != version)
                    ).scalars()
                )
                if archived:
                    conn.execute(
                        update(model_versions)
                        .where(_M.name == name, _M.version.in_(archived))
                        .values(stage="archived", stage_changed_at=at, stage_changed_by=by)
                    )
            conn.execute(
                update(model_versions)
                .where(_M.name == name, _M.version == version)
                .values(stage=stage, stage_changed_at=at, stage_changed_by=by)
            )
            return self._one(conn, name, version), archived

    def _one(self, conn: Connection, name: str, version: int) -> ModelRow:
        found = conn.execute(select(model_versions).where(_M.name == name, _M.version == version)).first()
        if found is not None:
            return _row(found)
        if conn.execute(select(_M.id).where(_M.name == name).limit(1)).first() is None:
            raise NotFound(f"no model named {name!r}; see `mlwarden model ls`")
        raise NotFound(f"model {name!r} has no version {version}; see `mlwarden model info {name}`")


# The one mapping between a model version and its row of model_versions: the columns named as the fields are
# copied, the three mappings are stored as JSON in ``<field>_json``.
_COLUMNS = ("object_id", "sha256", "size", "format", "signature", "signing_key", "created_at", "created_by")
_ROW_COLUMNS = (*_COLUMNS, "name", "version", "stage", "stage_changed_at", "stage_changed_by")
_JSON_FIELDS = ("provenance", "input_schema", "metrics")


def _values(new: NewModel) -> dict[str, Any]:
    """The columns of a new version's row (but its name, number and stage)."""
    values = {column: getattr(new, column) for column in _COLUMNS}
    for name in _JSON_FIELDS:
        values[f"{name}_json"] = json.dumps(dict(getattr(new, name)), sort_keys=True, separators=(",", ":"))
    return values


def _row(r: Any) -> ModelRow:
    stored = r._mapping
    try:
        parsed = {name: json.loads(stored[f"{name}_json"]) for name in _JSON_FIELDS}
    except ValueError:
        raise IntegrityError(f"the catalog entry of model {r.name}@{r.version} is damaged") from None
    return ModelRow(**{column: stored[column] for column in _ROW_COLUMNS}, **parsed)
