"""A real ``mlwarden serve`` in a subprocess, for the tests that need one (TLS, workers, signals, switching).

:func:`serving` starts the command in its own process group on a free port and waits for
``/healthz``; whatever is still running at the end is stopped (SIGINT, then SIGKILL to the group).
A clean stop is one where uvicorn's graceful shutdown ran the app's lifespan to its end: the
workspace was closed, so SQLite removed the ``-wal`` and ``-shm`` files, which a killed server
leaves behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
PREDICT = "/v1/models/credit-risk/predict"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path
    scheme: str = "http"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` and wait for the process to end; its return code."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def children(self) -> list[int]:
        """The process ids of the server's direct children (uvicorn's workers), from /proc."""
        pid = self.process.pid
        with contextlib.suppress(OSError):
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return []


@contextlib.contextmanager
def serving(where: Served, tmp_path: Path, *args: str, verify: ssl.SSLContext | None = None) -> Iterator[Running]:
    """``mlwarden serve --port <free> *args`` as the operator, up and answering /healthz; stopped afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(
        MLWARDEN_HOME=str(where.settings.home),
        MLWARDEN_MASTER_KEY=where.settings.master_key,
        MLWARDEN_TOKEN=where.tokens["operator"],
    )
    port = free_port()
    stderr_path = tmp_path / f"serve-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlwarden", "serve", "--port", str(port), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group, so the workers can be stopped with it
        )
    running = Running(process, port, stderr_path, "https" if verify is not None else "http")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}: {running.stderr()}")
            try:
                if httpx.get(f"{running.base}/healthz", verify=verify or True, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind, if any
        if process.poll() is None:
            process.wait(timeout=STOP_TIMEOUT_S)


def sqlite_leftovers(where: Served) -> list[str]:
    home = Path(where.settings.home)
    return sorted(p.name for p in home.iterdir() if p.name.endswith(("-wal", "-shm")))


def predictions_in_log(where: Served) -> dict[str, Any]:
    """request id -> the audit entry of each answered prediction; the log must verify."""
    with where.open(where.tokens["auditor"]) as ws:
        found = {e.request_id: e for e in ws.log.entries() if e.action == "predict" and e.outcome == "succeeded"}
        assert ws.log.verify().ok
    return found


def assert_stopped_cleanly(running: Running, code: int, where: Served, allowed: tuple[int, ...] = (0,)) -> None:
    assert code in allowed, (code, running.stderr())
    assert "Traceback" not in running.stderr(), running.stderr()
    assert sqlite_leftovers(where) == [], "the workspace was not closed: the shutdown was not graceful"
