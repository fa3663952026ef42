"""Reason codes: the at most four columns that pushed one decision hardest toward the adverse class.

Regulation B (12 CFR 1002.9(b)(2)) asks a lender for the *principal* reasons of an adverse action:
specific, relating to the factors actually scored, no more than about four. Here they are read off
the exact attribution of the decision (:mod:`mlwarden.explain._attribution`): the columns whose
contribution moved the explained output toward the adverse class, largest first, each with the
applicant's value and a text from the model's **reason map**. A column can be left out of the
reasons (not actionable, or not permitted as a reason: age, sex) and still count in the attribution
and in the decision: leaving it out hides nothing from the log, which holds every contribution.

A reason map is a JSON object ``{"column": "text", ...}`` (or ``{"version": 1, "reasons": {...}}``);
a column it does not name gets a text made from its name (``credit_amount`` -> "Credit amount").
Its SHA-256 (over the canonical JSON of :meth:`ReasonMap.to_json`: the map's own texts and the
excluded columns; the other texts follow from the column names) is recorded with the model or the server
configuration, so the texts given to an applicant can be traced to the map that made them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlwarden._json import canonical
from mlwarden.errors import BadInput

__all__ = ["MAX_REASONS", "Reason", "ReasonMap", "default_text", "read_reason_map", "select_reasons"]

MAX_REASONS = 4
"""The most reasons given for one decision (Regulation B: "more than four ... is not meaningful")."""
_MAX_TEXT = 300


def read_reason_map(path: str | None) -> bytes | None:
    """The bytes of a reason map file (at most 1 MiB), or ``None`` for no path."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read((1 << 20) + 1)
    except OSError as exc:
        raise BadInput(f"reason map {path}: cannot read it ({exc.strerror})") from None
    if len(data) > 1 << 20:
        raise BadInput(f"reason map {path} is larger than 1 MiB; a map holds one short text per column")
    return data


def default_text(column: str) -> str:
    """A reason text made from a column name: ``credit_amount`` -> ``Credit amount``."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column).replace("_", " ").replace("-", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:] if text else column


@dataclasses.dataclass(frozen=True)
class Reason:
    column: str
    value: Any
    contribution: float
    """The column's contribution, in the explanation's units (positive-class output): its sign points
    toward the adverse class."""
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "value": self.value, "contribution": self.contribution, "text": self.text}


@dataclasses.dataclass(frozen=True)
class ReasonMap:
    """Reason texts per column, the columns never given as reasons, and the map's digest."""

    texts: Mapping[str, str]
    """Every column's text: the map's own, else one made from the column name."""
    not_reasons: tuple[str, ...] = ()
    given: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The texts the map itself gave (what its digest covers, with ``not_reasons``)."""

    @classmethod
    def parse(cls, data: bytes, *, columns: Sequence[str] | None, not_reasons: Sequence[str] = ()) -> ReasonMap:
        """Read a reason map file's bytes; every column it names must be one of ``columns`` (``None``:
        not known yet, before training; the registry checks them against the trained model's)."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadInput('the reason map is not JSON in UTF-8: write {"column": "reason text", ...}') from None
        if isinstance(doc, dict) and set(doc) <= {"version", "reasons"} and isinstance(doc.get("reasons"), dict):
            if doc.get("version", 1) != 1:
                raise BadInput(f"reason map version {doc.get('version')!r} is not supported (use 1)")
            doc = doc["reasons"]
        if not isinstance(doc, dict):
            raise BadInput('the reason map must be a JSON object: {"column": "reason text", ...}')
        texts: dict[str, str] = {}
        for column, text in doc.items():
            if columns is not None and column not in columns:
                raise BadInput(f"the reason map names column {column[:60]!r}, which the model does not use")
            if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
                raise BadInput(f"the reason for {column!r} must be a text of 1 to {_MAX_TEXT} characters")
            texts[column] = text.strip()
        named = list(dict.fromkeys([*texts, *not_reasons])) if columns is None else columns
        return cls.build(texts, columns=named, not_reasons=not_reasons)

    @classmethod
    def build(
        cls, texts: Mapping[str, str] | None = None, *, columns: Sequence[str], not_reasons: Sequence[str] = ()
    ) -> ReasonMap:
        """The full map: the given texts, and a text from the name for every other column."""
        given = dict(texts or {})
        unknown = sorted(set(not_reasons) - set(columns)) + sorted(set(given) - set(columns))
        if unknown:
            raise BadInput(f"column {unknown[0]!r} is not one the model uses; check --not-reason and the map")
        full = {c: given.get(c) or default_text(c) for c in columns}
        return cls(full, tuple(sorted(set(not_reasons))), dict(sorted(given.items())))

    def to_json(self) -> dict[str, Any]:
        """The map as signed with a model: its own texts (the others come from the names) and exclusions."""
        return {"version": 1, "reasons": dict(sorted(self.given.items())), "not_reasons": list(self.not_reasons)}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical(self.to_json())).hexdigest()


def select_reasons(
    columns: Sequence[str],
    contributions: np.ndarray,
    values: Sequence[Any],
    reason_map: ReasonMap,
    *,
    adverse_sign: int,
    limit: int = MAX_REASONS,
) -> list[Reason]:
    """The at most ``limit`` columns whose contribution points toward the adverse class, largest first.

    ``adverse_sign`` is ``+1`` when a larger explained output means the adverse class (the adverse class
    is the explained one), ``-1`` when it means the other. Columns in ``reason_map.not_reasons`` and
    contributions of exactly 0 are never reasons; ties go to the column listed first.
    """
    if adverse_sign not in (1, -1):
        raise BadInput("adverse_sign must be +1 or -1")
    if not 1 <= limit <= MAX_REASONS:
        raise BadInput(f"a decision gets 1 to {MAX_REASONS} reasons")
    toward = np.asarray(contributions, dtype=np.float64) * adverse_sign
    excluded = set(reason_map.not_reasons)
    order = sorted(
        (i for i in range(len(columns)) if toward[i] > 0 and columns[i] not in excluded), key=lambda i: (-toward[i], i)
    )
    return [
        Reason(
            columns[i], values[i], float(contributions[i]), reason_map.texts.get(columns[i], default_text(columns[i]))
        )
        for i in order[:limit]
    ]
