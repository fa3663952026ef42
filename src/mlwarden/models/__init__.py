"""Model security: the allow-list scanner, safe serialisation, signing with provenance, and the one load.

The safe API::

    from mlwarden import models

    report = models.scan(["model.pkl", "checkpoints/"])   # never imports or runs anything
    models.save(estimator, "model.skops")                  # skops, never pickle
    estimator = models.load("model.skops", public_key="signer.pem")   # verify, scan, then load

``load`` is the one gate: the signature is verified, then the same bytes are scanned, then skops
loads them with the allow-listed types only; each step fails with its own error
(:class:`~mlwarden.errors.SignatureError`, :class:`~mlwarden.errors.UnsafeModel`) and loads nothing.
Nothing in this package unpickles. Registered models live in ``Workspace.models``
(:class:`ModelRegistry`): encrypted, signed with provenance, versioned and staged; it also signs,
verifies and loads model files on disk with the workspace's keys, through its gate
(``ws.models.sign_file``, ``verify_file``, ``load_file``). Nothing here imports the workspace:
the registry is handed its gate, stores and key lookups.

Governed retraining and four eyes: ``ws.models.retrain`` trains a challenger with the champion's
signed recipe and registers it in stage ``candidate`` with a comparison on the same held-out rows;
``ws.models.approve`` records an :class:`Approval` by a principal other than the one who trained
the version, and ``promote(..., "production")`` needs one (``ws.models.approval_of``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlwarden.models._files import verify_path
from mlwarden.models._findings import FileScan, Finding, ScanReport, Severity
from mlwarden.models._scanner import scan, scan_bytes, scan_file
from mlwarden.models._serialize import LoadedModel, dumps, load, load_public_key, load_verified, save
from mlwarden.models._signing import VerifiedModel, hash_model, sign_model, verify_model

if TYPE_CHECKING:
    from mlwarden.catalog._approvals import Approval
    from mlwarden.models._registry import ModelRegistry, ModelVersion

__all__ = [
    "Approval",
    "FileScan",
    "Finding",
    "LoadedModel",
    "ModelRegistry",
    "ModelVersion",
    "ScanReport",
    "Severity",
    "VerifiedModel",
    "dumps",
    "hash_model",
    "load",
    "load_public_key",
    "load_verified",
    "save",
    "scan",
    "scan_bytes",
    "scan_file",
    "sign_model",
    "verify_model",
    "verify_path",
]


def __getattr__(name: str) -> Any:
    # The registry needs the catalog (SQLAlchemy, ~0.2 s to import): only when asked for, so that
    # `mlwarden model scan` and `models.load` start fast.
    if name in ("ModelRegistry", "ModelVersion"):
        from mlwarden.models import _registry

        return getattr(_registry, name)
    if name == "Approval":
        from mlwarden.catalog._approvals import Approval

        return Approval
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
