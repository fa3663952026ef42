"""Starting the server: one process, or uvicorn's workers, each unlocking the workspace itself.

With one worker the models are loaded in the calling process and the app is handed to uvicorn.
With several, uvicorn starts fresh processes that each call :func:`app_from_env`: the serving
configuration travels in ``MLWARDEN_SERVE_CONFIG`` (no secrets in it), and each worker opens the
workspace with the same environment (``MLWARDEN_PASSPHRASE`` or ``MLWARDEN_MASTER_KEY``, and the
operator's ``MLWARDEN_TOKEN``), so the keys never cross a process boundary in any other form.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput
from mlwarden.serve._config import ServeConfig
from mlwarden.serve._loading import LoadFailure, ServedModel, load_models
from mlwarden.serve._service import Service

if TYPE_CHECKING:
    from mlwarden._workspace import Workspace
    from mlwarden.serve._app import FastPath

__all__ = ["SetupCheck", "app_from_env", "check_setup", "log_to_stderr", "preflight", "run", "uvicorn_options"]

CONFIG_ENV = "MLWARDEN_SERVE_CONFIG"
_WORKER_READY_S = 120
"""Seconds a worker may take to start serving, or to answer the supervisor's health check."""


def _open(config: ServeConfig) -> Workspace:
    from mlwarden._workspace import Workspace

    return Workspace.open(config.home)


def _check_tls(config: ServeConfig) -> None:
    if config.tls_cert is None or config.tls_key is None:
        return
    for option, name in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key)):
        if not os.path.isfile(name):
            raise BadInput(f"{option} {name} does not exist or is not a file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise BadInput(
            f"--tls-cert {config.tls_cert} and --tls-key {config.tls_key} do not load as a PEM certificate "
            f"chain and its private key ({exc})"
        ) from None


def _check_port(config: ServeConfig) -> None:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            raise BadInput(f"cannot listen on {config.host}:{config.port} ({exc.strerror or exc})") from None


def _tls_context(_config: object, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's TLS context, held to TLS 1.2 or newer whatever the system's OpenSSL allows."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class SetupCheck:
    """What ``mlwarden serve --check`` found: the models that would be served and those refused."""

    operator: str
    served: tuple[ServedModel, ...]
    failures: tuple[LoadFailure, ...]
    tls: bool


def preflight(config: ServeConfig) -> None:
    """The checks that need no workspace: options, TLS files, the port, the workers' keys."""
    config.check()
    _check_tls(config)
    _check_port(config)
    if config.workers > 1:
        _check_worker_env()


def check_setup(config: ServeConfig) -> SetupCheck:
    """Everything the server checks before it listens, without listening."""
    preflight(config)
    with _open(config) as ws:
        models, failures = load_models(ws, config)
        return SetupCheck(ws.principal.name, tuple(models.values()), tuple(failures), config.tls_cert is not None)


def _check_worker_env() -> None:
    names = ("MLWARDEN_PASSPHRASE", "MLWARDEN_MASTER_KEY", "MLWARDEN_PASSPHRASE_FILE", "MLWARDEN_MASTER_KEY_FILE")
    if not any(os.environ.get(name) for name in names):
        raise BadInput(
            "--workers N > 1 needs MLWARDEN_PASSPHRASE or MLWARDEN_MASTER_KEY (or their _FILE forms) in the "
            "environment: "
            "each worker process unlocks the workspace itself"
        )


def app_from_env() -> FastPath:
    """uvicorn's factory in each worker process (``--workers N``)."""
    from mlwarden.serve._app import create_app

    log_to_stderr(f"mlwarden serve [worker {os.getpid()}]")
    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    from mlwarden.serve._http import HeaderDeadlineProtocol

    HeaderDeadlineProtocol.header_timeout = config.header_timeout
    app = create_app(Service.start(config, _open(config)))
    _settle_heap()
    return app


def log_to_stderr(prefix: str) -> None:
    """Show the server's own log lines (models served or refused, alerts) on stderr, once per process."""
    logger = logging.getLogger("mlwarden.serve")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _settle_heap() -> None:
    """Move everything start-up made (libraries, models) out of the garbage collector's way.

    A full collection walks every tracked object; after importing scikit-learn and pandas there
    are hundreds of thousands, and walking them stalls every request in flight for milliseconds.
    Frozen objects are never walked; requests' own short-lived objects still are.
    """
    gc.collect()
    gc.freeze()


def uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    """The settings ``uvicorn.run`` gets for ``config`` (one worker or several)."""
    from mlwarden.serve._http import HeaderDeadlineProtocol

    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "access_log": False,  # every prediction is in the audit log; no plaintext of it goes elsewhere
        "server_header": False,
        "ssl_certfile": config.tls_cert,
        "ssl_keyfile": config.tls_key,
        "ssl_context_factory": _tls_context if config.tls_cert else None,
        "timeout_keep_alive": 30,
        # No limit_concurrency: it counts idle connections too, so a few thousand of them would
        # refuse everyone. Idle and slow connections are closed by the header deadline instead,
        # bodies by their deadline and minimum rate, and the service caps the predictions in
        # progress (max_in_flight, a share per token).
        "http": HeaderDeadlineProtocol,
        # X-Forwarded-For and -Proto are believed only from the proxies named: uvicorn's default
        # (proxy_headers on, FORWARDED_ALLOW_IPS or loopback trusted) would let any local process
        # claim any client address, and so spread its refusals over as many budgets.
        "proxy_headers": bool(config.forwarded_allow_ips),
        # With --workers N, SIGHUP to the supervisor replaces the workers one by one, each only once its
        # replacement is up; a replacement imports scikit-learn and loads every model first, far past
        # uvicorn's default 5 s, after which it would give up and keep the old workers.
        "timeout_worker_healthcheck": _WORKER_READY_S,
    }
    if config.forwarded_allow_ips:
        options["forwarded_allow_ips"] = list(config.forwarded_allow_ips)
    return options


def run(config: ServeConfig, service: Service | None = None, *, checked: bool = False) -> None:
    """Serve until interrupted. ``service``: an already started one (one worker only).

    ``checked``: the caller has run :func:`preflight` (or :func:`check_setup`) already.
    """
    import uvicorn

    from mlwarden.serve._http import HeaderDeadlineProtocol

    HeaderDeadlineProtocol.header_timeout = config.header_timeout
    if not checked:
        preflight(config)
    options = uvicorn_options(config)
    if config.workers == 1:
        from mlwarden.serve._app import create_app

        if service is None:
            service = Service.start(config, _open(config))
        app = create_app(service)
        _settle_heap()
        uvicorn.run(app, **options)
        return
    _check_worker_env()
    os.environ[CONFIG_ENV] = config.to_json()
    uvicorn.run("mlwarden.serve._server:app_from_env", factory=True, workers=config.workers, **options)
