"""The inference server: verified models only, every request authenticated, limited, validated and audited.

The only package that imports FastAPI (and only when :func:`create_app` or :func:`run` is used)::

    from mlwarden import Workspace
    from mlwarden.serve import ServeConfig, Service, create_app

    ws = Workspace.open("~/.mlwarden")                  # the operator: a deployer or admin token
    service = Service.start(ServeConfig(), ws)         # loads production models through the one gate
    app = create_app(service)                          # an ASGI app for uvicorn

``mlwarden serve`` does the same from the command line; ``docs/serving.md`` describes the API,
the checks each request passes, and what the server records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlwarden.serve._config import OutputPolicy, ServeConfig, parse_output_policy
from mlwarden.serve._loading import LoadFailure, ServedModel
from mlwarden.serve._service import Reply, Service

if TYPE_CHECKING:
    from mlwarden.serve._app import create_app
    from mlwarden.serve._server import SetupCheck, check_setup, preflight, run

__all__ = [
    "LoadFailure",
    "OutputPolicy",
    "Reply",
    "ServeConfig",
    "ServedModel",
    "Service",
    "SetupCheck",
    "check_setup",
    "create_app",
    "parse_output_policy",
    "preflight",
    "run",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from mlwarden.serve._app import create_app

        return create_app
    if name in ("SetupCheck", "check_setup", "preflight", "run"):
        from mlwarden.serve import _server

        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
