"""The catalog's record of a dataset's shape: :class:`TabularSchema` and its :class:`Column` entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlwarden.errors import IntegrityError
from mlwarden.store._formats import FORMATS

__all__ = ["Column", "TabularSchema"]

_DAMAGED = "the catalog's schema record is damaged"


@dataclass(frozen=True)
class Column:
    """One column: its name and its pyarrow type as ``str(type)`` (``"int64"``, ``"timestamp[s]"``...)."""

    name: str
    type: str


@dataclass(frozen=True)
class TabularSchema:
    """What the catalog records about a dataset's shape.

    ``columns`` and ``rows`` are both set (the schema is *known*) or both ``None``. When unknown,
    ``error`` says why in one line, except for ``binary``, where there is nothing to parse.
    """

    format: str
    columns: tuple[Column, ...] | None
    rows: int | None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}")
        if (self.columns is None) != (self.rows is None):
            raise ValueError("columns and rows must both be known or both unknown")
        if self.rows is not None and self.rows < 0:
            raise ValueError("rows must not be negative")
        if self.columns is not None and self.error is not None:
            raise ValueError("a known schema has no error")
        if self.format == "binary" and (self.columns is not None or self.error is not None):
            raise ValueError("a binary dataset has no schema and no error")
        if self.error is not None and ("\n" in self.error or "\r" in self.error):
            raise ValueError("the error must be one line")

    @property
    def known(self) -> bool:
        """Whether the columns and row count are known."""
        return self.columns is not None

    def to_json(self) -> dict[str, Any]:
        """The catalog's JSON form: ``{"format", "columns": [{"name", "type"}] | null, "rows", "error"}``."""
        columns = None if self.columns is None else [{"name": c.name, "type": c.type} for c in self.columns]
        return {"format": self.format, "columns": columns, "rows": self.rows, "error": self.error}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TabularSchema:
        """Parse :meth:`to_json`'s form strictly; any other shape raises :class:`IntegrityError`."""
        if not isinstance(doc, dict) or set(doc) != {"format", "columns", "rows", "error"}:
            raise IntegrityError(_DAMAGED)
        fmt, raw_columns, rows, error = doc["format"], doc["columns"], doc["rows"], doc["error"]
        if not isinstance(fmt, str) or not (error is None or isinstance(error, str)):
            raise IntegrityError(_DAMAGED)
        if rows is not None and (type(rows) is not int):
            raise IntegrityError(_DAMAGED)
        columns: tuple[Column, ...] | None = None
        if raw_columns is not None:
            if not isinstance(raw_columns, list):
                raise IntegrityError(_DAMAGED)
            parsed = []
            for item in raw_columns:
                if (
                    not isinstance(item, dict)
                    or set(item) != {"name", "type"}
                    or not isinstance(item["name"], str)
                    or not isinstance(item["type"], str)
                    or not item["type"]
                ):
                    raise IntegrityError(_DAMAGED)
                parsed.append(Column(item["name"], item["type"]))
            columns = tuple(parsed)
        try:
            return cls(fmt, columns, rows, error)
        except ValueError:
            raise IntegrityError(_DAMAGED) from None
