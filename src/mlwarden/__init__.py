"""mlwarden: secure and private machine-learning pipelines by default.

The top of the API::

    import mlwarden

    ws = mlwarden.Workspace.init("./.mlwarden")   # or Workspace.open(); keys from a passphrase or env
    ws.files.encrypt(src, dst)                    # envelope encryption (docs/formats.md)
    ws.keys.rotate()                              # new key version, every data key rewrapped
    ws.datasets.put("train.csv", name="credit")   # an encrypted, versioned dataset (mlwarden.store)
    df = ws.datasets.read_frame("credit")         # decrypted in memory only
    ws.users.add("alice", "scientist", scopes=("credit-*",))  # a principal and its token
    assert ws.log.verify().ok                     # the tamper-evident audit log (mlwarden.auditlog)

Every call goes through the one gate and leaves an audit entry, as from the CLI or the server.

Errors all derive from :class:`mlwarden.errors.MlwardenError`. Raw primitives live in
:mod:`mlwarden.crypto.hazmat`. Importing this package is cheap: heavy parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlwarden._version import __version__
from mlwarden.errors import (
    AccessDenied,
    AlreadyExists,
    AuditUnavailable,
    BadInput,
    IntegrityError,
    MlwardenError,
    NotFound,
    Shredded,
    Unavailable,
)

if TYPE_CHECKING:
    from mlwarden._workspace import KeyVersionInfo, Rotation, Workspace
    from mlwarden.access import Principal
    from mlwarden.auditlog import AuditEntry, Checkpoint, LogVerification
    from mlwarden.store import DatasetSummary, DatasetVersion, PutResult


__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "AuditEntry",
    "AuditUnavailable",
    "BadInput",
    "Checkpoint",
    "DatasetSummary",
    "DatasetVersion",
    "IntegrityError",
    "KeyVersionInfo",
    "LogVerification",
    "MlwardenError",
    "NotFound",
    "Principal",
    "PutResult",
    "Rotation",
    "Shredded",
    "Unavailable",
    "Workspace",
    "__version__",
]

_LAZY = {"Workspace", "KeyVersionInfo", "Rotation"}
_LAZY_STORE = {"DatasetSummary", "DatasetVersion", "PutResult"}
_LAZY_AUDIT = {"AuditEntry", "Checkpoint", "LogVerification"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from mlwarden import _workspace

        return getattr(_workspace, name)
    if name in _LAZY_STORE:
        from mlwarden import store

        return getattr(store, name)
    if name in _LAZY_AUDIT:
        from mlwarden import auditlog

        return getattr(auditlog, name)
    if name == "Principal":
        from mlwarden.access import Principal

        return Principal
    raise AttributeError(f"module 'mlwarden' has no attribute {name!r}")
