"""Roles and their permissions: the one table every decision is made from.

``docs/access.md`` shows the same table, and a test checks that the two agree. A permission is
``<kind>.<verb>``; the permissions on named things (datasets, models) are *scoped*: a grant may
narrow them to name patterns such as ``credit-*``. Everything not granted is denied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from mlwarden.errors import BadInput

__all__ = [
    "GRANTABLE",
    "PERMISSIONS",
    "ROLES",
    "SCOPED_KINDS",
    "check_role",
    "check_scope",
    "scope_covers",
]

PERMISSIONS: dict[str, str] = {
    "dataset.list": "see which datasets and versions exist (names, sizes, digests; no content)",
    "dataset.read": "read a dataset version's content and schema",
    "dataset.write": "add dataset versions (put, import-fernet)",
    "dataset.shred": "crypto-shred a dataset version",
    "dataset.audit": "audit a dataset version for poisoning and label errors, and read its stored audits",
    "dataset.derive": "add a version made of an audited version less its flagged rows (no new data)",
    "dataset.accept-findings": "accept an audit's findings, with a reason, so the version may be trained on as it is",
    "dataset.classify": "correct a column's personal-data class, allow a direct identifier as a training feature",
    "dataset.pseudonymise": "add a pseudonymised version (keyed tokens, generalised quasi-identifiers)",
    "dataset.reidentify": "turn reversible pseudonyms back into values (each one audited)",
    "dataset.forget": "erase a person from every dataset version (successor versions, crypto-shredding)",
    "store.maintain": "check every stored object and collect garbage",
    "key.read": "list key versions",
    "key.rotate": "rotate the key-encryption keys",
    "key.admin": "change the master key, destroy key versions",
    "file.encrypt": "encrypt files under the workspace's keys",
    "file.decrypt": "decrypt files encrypted under the workspace's keys",
    "file.shred": "crypto-shred an encrypted file",
    "user.read": "list principals, their roles and scopes",
    "user.manage": "add and revoke principals (only roles the granter may grant, within its scopes)",
    "log.read": "read and verify the audit log",
    "log.checkpoint": "export a signed checkpoint of the audit log",
    "model.read": "read registered models and their provenance",
    "model.register": "register trained models",
    "model.promote": "promote a model version to a stage (production only once another principal approved it)",
    "model.approve": "approve a model version for production (four eyes: never a version one trained or registered)",
    "model.monitor": "monitor a model's drift and performance (reference profile, live windows, stored reports)",
    "model.serve": "serve a model for inference",
    "model.explain": "explain a model's decisions on dataset rows (exact contributions, reason codes)",
    "predict": "call predict on a served model",
    "predict.explain": "receive explanations (contributions and reason codes) with predictions from a served model",
    "report.read": "read audit reports",
}

SCOPED_KINDS = ("dataset", "model")
"""Kinds of named resource whose permissions a grant's scopes narrow."""

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "steward": frozenset(
        {
            "dataset.list",
            "dataset.read",
            "dataset.write",
            "dataset.shred",
            "dataset.audit",
            "dataset.derive",
            "dataset.accept-findings",
            "dataset.classify",
            "dataset.pseudonymise",
            "dataset.forget",
            "store.maintain",
            "key.read",
            "key.rotate",
            "file.encrypt",
            "file.decrypt",
            "file.shred",
            "user.read",
            "user.manage",
            "log.read",
        }
    ),
    "scientist": frozenset(
        {
            "dataset.list",
            "dataset.read",
            "dataset.audit",
            "dataset.derive",
            "model.read",
            "model.register",
            "model.explain",
            "model.monitor",
        }
    ),
    "deployer": frozenset({"model.read", "model.promote", "model.serve", "model.monitor"}),
    # Model validation (four eyes): approves what others trained; cannot train, promote or serve.
    "reviewer": frozenset({"model.read", "model.approve", "model.monitor", "report.read", "log.read"}),
    # Data protection: answers erasure requests and re-identifies pseudonyms where the law requires it.
    "privacy-officer": frozenset(
        {"dataset.list", "dataset.classify", "dataset.reidentify", "dataset.forget", "model.read", "log.read"}
    ),
    "auditor": frozenset({"log.read", "log.checkpoint", "report.read", "user.read", "dataset.list", "key.read"}),
    "client": frozenset({"predict"}),
    # Explanations reveal more of a model than labels do: a token gets them only with this role.
    "explained-client": frozenset({"predict", "predict.explain"}),
}

GRANTABLE: dict[str, frozenset[str]] = {
    "admin": frozenset(ROLES),
    "steward": frozenset({"scientist", "auditor"}),
}
"""Which roles a principal of each role may give (``user.manage`` is needed too)."""

_SCOPE = re.compile(r"[A-Za-z0-9*][A-Za-z0-9._*-]{0,127}")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def check_scope(pattern: str) -> str:
    """A scope is a name pattern: name characters and ``*`` (any run of characters)."""
    if not _SCOPE.fullmatch(pattern):
        raise BadInput(
            f"scope {pattern!r} is not a name pattern: use letters, digits, '.', '_', '-' and '*' (e.g. credit-*)"
        )
    return pattern


def scope_covers(outer: Iterable[str], pattern: str) -> bool:
    """Does every name matching ``pattern`` match one of ``outer``?

    With ``*`` as the only wildcard, matching ``pattern`` itself as a string against an outer
    pattern is a sound test: an outer ``*`` may swallow the inner ``*`` and anything around it,
    and an outer literal can only match the same literal.
    """
    return any(fnmatchcase(pattern, o) for o in outer)
