"""Checking prediction rows against a model's training schema, and turning them into column arrays.

The schema is the one ``mlwarden train`` recorded (``ModelVersion.input_schema``)::

    {"columns": [{"name": "age", "type": "numeric", "min": 19.0, "max": 75.0, "nullable": false},
                 {"name": "purpose", "type": "categorical", "categories": ["car", ...], "nullable": true}]}

A row is a JSON object naming columns. It is refused (:class:`InvalidRows`, answered 422) when it
names a column the model does not know, lacks a column that may not be null, gives a numeric column
anything but a finite JSON number inside the training range (widened by ``range_margin`` times the
range's width on each side), or gives a categorical column anything but one of the categories seen
in training. Booleans are not numbers here, although Python counts them as ``int``.

The same rules are written as a JSON Schema (:meth:`RowValidator.json_schema`) for the server's
OpenAPI document, so a client, or a fuzzer such as schemathesis, can see exactly what is accepted;
the tests check that the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput
from mlwarden.models._training import MAX_CATEGORIES

if TYPE_CHECKING:
    import numpy

__all__ = ["InvalidRows", "RowValidator"]

_NAN = float("nan")


class InvalidRows(BadInput):
    """Rows that do not fit the model's input schema; the message names the first problem."""


@dataclass(frozen=True)
class _Column:
    name: str
    numeric: bool
    nullable: bool
    low: float
    high: float
    categories: frozenset[str] | None  # None: any string (the training list was cut short)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class RowValidator:
    """Validates ``instances`` for one model and builds the predictor's column arrays."""

    def __init__(self, input_schema: Mapping[str, Any], *, max_instances: int = 256, range_margin: float = 0.0) -> None:
        columns = input_schema.get("columns") if isinstance(input_schema, Mapping) else None
        if not isinstance(columns, list) or not columns:
            raise BadInput("the model has no input schema; it was not trained by `mlwarden train` and cannot be served")
        if max_instances < 1:
            raise BadInput("the largest number of instances per call must be at least 1")
        if range_margin < 0:
            raise BadInput("the range margin must not be negative")
        self.max_instances = max_instances
        self.range_margin = range_margin
        parsed: list[_Column] = []
        for entry in columns:
            name = str(entry["name"])
            nullable = bool(entry.get("nullable", False))
            if entry.get("type") == "numeric":
                low, high = float(entry["min"]), float(entry["max"])
                pad = (high - low) * range_margin
                parsed.append(_Column(name, True, nullable, low - pad, high + pad, None))
            elif entry.get("type") == "categorical":
                listed = [str(c) for c in entry.get("categories", [])]
                full = len(listed) < MAX_CATEGORIES  # a full list may have been cut short
                parsed.append(_Column(name, False, nullable, 0.0, 0.0, frozenset(listed) if full else None))
            else:
                raise BadInput(f"the model's input schema gives column {name!r} an unknown type {entry.get('type')!r}")
        self.columns: tuple[_Column, ...] = tuple(parsed)
        self._by_name = {c.name: c for c in parsed}
        self._required = tuple(c.name for c in parsed if not c.nullable)
        self._schema = input_schema

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def validate(self, instances: object) -> dict[str, numpy.ndarray]:
        """The column arrays of ``instances`` (a list of row objects); :class:`InvalidRows` if any is wrong."""
        import numpy as np

        if not isinstance(instances, list):
            raise InvalidRows('"instances" must be a list of row objects')
        count = len(instances)
        if count == 0:
            raise InvalidRows('"instances" is empty: send at least one row')
        if count > self.max_instances:
            raise InvalidRows(f"{count} instances in one call; at most {self.max_instances} are accepted")
        numeric: dict[str, list[float]] = {c.name: [] for c in self.columns if c.numeric}
        categorical: dict[str, list[str | None]] = {c.name: [] for c in self.columns if not c.numeric}
        by_name = self._by_name
        for index, row in enumerate(instances):
            if not isinstance(row, dict):
                raise InvalidRows(f"instance {index} is not an object of column values")
            for key in row:
                if key not in by_name:
                    raise InvalidRows(f"instance {index} has column {_shown(key)}, which the model does not know")
            for column in self.columns:
                value = row.get(column.name)
                if value is None:
                    if not column.nullable:
                        what = "is null" if column.name in row else "is missing"
                        raise InvalidRows(f"instance {index}: column {column.name!r} {what}; it is required")
                    if column.numeric:
                        numeric[column.name].append(_NAN)
                    else:
                        categorical[column.name].append(None)
                elif column.numeric:
                    numeric[column.name].append(self._number(index, column, value))
                else:
                    categorical[column.name].append(self._category(index, column, value))
        batch: dict[str, numpy.ndarray] = {}
        for name, values in numeric.items():
            batch[name] = np.array(values, dtype=np.float64)
        for name, labels in categorical.items():
            array = np.empty(count, dtype=object)
            array[:] = labels
            batch[name] = array
        return batch

    @staticmethod
    def _number(index: int, column: _Column, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRows(f"instance {index}: column {column.name!r} must be a number, not {_shown(value)}")
        # The bounds are compared with the value as sent (Python compares int and float exactly), so
        # an integer past 2**53 cannot slip in by rounding to a bound; NaN and infinities fail too.
        if not column.low <= value <= column.high:
            raise InvalidRows(
                f"instance {index}: column {column.name!r} is {_shown(value)}, outside the accepted range "
                f"[{column.low:g}, {column.high:g}]"
            )
        return float(value)

    @staticmethod
    def _category(index: int, column: _Column, value: object) -> str:
        if not isinstance(value, str):
            raise InvalidRows(f"instance {index}: column {column.name!r} must be a string, not {_shown(value)}")
        if column.categories is not None and value not in column.categories:
            raise InvalidRows(
                f"instance {index}: column {column.name!r} is {_shown(value)}, not a category the model knows"
            )
        return value

    def json_schema(self) -> dict[str, Any]:
        """The accepted request body as JSON Schema (what :meth:`validate` enforces)."""
        properties: dict[str, Any] = {}
        for column in self.columns:
            spec: dict[str, Any]
            if column.numeric:
                spec = {"type": "number", "minimum": column.low, "maximum": column.high}
                if column.nullable:
                    spec = {"anyOf": [spec, {"type": "null"}]}
            elif column.categories is not None:
                spec = {"type": "string", "enum": sorted(column.categories)}
                if column.nullable:
                    spec = {"anyOf": [spec, {"type": "null"}]}
            else:
                spec = {"type": ["string", "null"] if column.nullable else "string"}
            properties[column.name] = spec
        row = {
            "type": "object",
            "properties": properties,
            "required": list(self._required),
            "additionalProperties": False,
        }
        return {
            "type": "object",
            "properties": {
                "instances": {"type": "array", "items": row, "minItems": 1, "maxItems": self.max_instances},
                "explain": {"type": "boolean"},
            },
            "required": ["instances"],
            "additionalProperties": False,
        }
