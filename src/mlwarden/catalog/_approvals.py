"""Four-eyes approvals of model versions: who approved which version, bound to the SHA-256 approved.

One row of ``model_approvals`` per approval: the version (name and number), the SHA-256 of the
model file the approver verified, the approving principal, when, and an optional note. A principal
approves a version at most once (the ``(name, version, approved_by)`` unique constraint). Rows are
only ever added: whether an approval still counts (the digest still the version's, the approver
still entitled) is the registry's decision (:meth:`~mlwarden.models.ModelRegistry.approval_of`),
made each time it is asked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden.catalog._tables import model_approvals
from mlwarden.errors import AlreadyExists

__all__ = ["Approval", "ApprovalCatalog"]

_A = model_approvals.c


@dataclass(frozen=True)
class Approval:
    """One principal's approval of one model version for production, bound to the file's SHA-256."""

    name: str
    version: int
    sha256: str
    approved_by: str
    approved_at: str
    note: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "note": self.note,
        }


class ApprovalCatalog:
    """Rows of ``model_approvals`` through the catalog's transactions."""

    def __init__(self, transaction: Callable[..., contextlib.AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction

    def add(self, approval: Approval) -> Approval:
        """Record ``approval``; :class:`~mlwarden.errors.AlreadyExists` if its principal approved the version before."""
        try:
            with self._transaction(write=True) as conn:
                conn.execute(insert(model_approvals).values(**approval.to_json()))
        except SqlIntegrityError:
            raise AlreadyExists(f"{approval.approved_by} approved {approval.ref} already") from None
        return approval

    def of_version(self, name: str, version: int) -> list[Approval]:
        """Every approval of one model version, oldest first."""
        with self._transaction(write=False) as conn:
            query = select(model_approvals).where(_A.name == name, _A.version == version).order_by(_A.id)
            return [_approval(r) for r in conn.execute(query)]


def _approval(r: Any) -> Approval:
    m = r._mapping
    return Approval(
        name=m["name"],
        version=m["version"],
        sha256=m["sha256"],
        approved_by=m["approved_by"],
        approved_at=m["approved_at"],
        note=m["note"],
    )
