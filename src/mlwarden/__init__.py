"""mlwarden: secure and private machine-learning pipelines by default.

The top of the API::

    import mlwarden

    ws = mlwarden.Workspace.init("./.mlwarden")   # or Workspace.open(); keys from a passphrase or env
    ws.encrypt_file(src, dst)                     # envelope encryption (docs/formats.md)
    ws.rotate_keys()                              # new key version, every data key rewrapped

Errors all derive from :class:`mlwarden.errors.MlwardenError`. Raw primitives live in
:mod:`mlwarden.crypto.hazmat`. Importing this package is cheap: heavy parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlwarden.errors import (
    AccessDenied,
    AlreadyExists,
    BadInput,
    IntegrityError,
    MlwardenError,
    NotFound,
    Shredded,
)

if TYPE_CHECKING:
    from mlwarden._workspace import KeyVersionInfo, Rotation, Workspace

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BadInput",
    "IntegrityError",
    "KeyVersionInfo",
    "MlwardenError",
    "NotFound",
    "Rotation",
    "Shredded",
    "Workspace",
    "__version__",
]

_LAZY = {"Workspace", "KeyVersionInfo", "Rotation"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from mlwarden import _workspace

        return getattr(_workspace, name)
    raise AttributeError(f"module 'mlwarden' has no attribute {name!r}")
