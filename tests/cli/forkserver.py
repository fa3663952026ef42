"""Runs ``python -m mlwarden ARGS`` in a fresh process forked from a warm one, for the CLI tests.

Every CLI test runs the real CLI in its own process, and most of what such a process costs is
start-up: the interpreter, then SQLAlchemy, cryptography and click (about 0.3 s of CPU of a
0.45 s ``data ls``). The CLI tests make some 900 such runs. This module keeps one server process
per test process that has imported those libraries once; each run is a ``fork`` of it, which then
behaves as ``python -m mlwarden`` would: its own pid, its stdin, stdout and stderr on the caller's
pipes, the caller's environment and working directory, ``sys.argv``, and its own exit status
(reaped by the server, which reports it).

What keeps it faithful:
- mlwarden itself is not kept: the server imports ``mlwarden.cli`` (so that the libraries it
  needs are loaded), then drops every ``mlwarden`` module, so each run imports mlwarden afresh
  under its own environment, exactly as a new interpreter does (settings, lazy imports).
- The server refuses to start if importing left a second thread (forking would copy a process
  whose other threads are gone); it imports only what ``mlwarden.cli`` imports at its top, and
  libraries that start threads (pandas, pyarrow, scikit-learn) stay lazy, imported by the run.
- A run whose environment changes what the interpreter reads at start-up (``PYTHON*``, ``LC_*``,
  ``LANG``), or that passes interpreter options, is started as a plain subprocess instead.
- ``MLWARDEN_TEST_FORKSERVER=0`` turns it off: every run is then a plain subprocess.

The tests that are about processes (SIGKILL loops, SIGINT, terminals, the server) start their
own ``subprocess.Popen`` and do not come here.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

_STARTUP_VARS = ("PYTHON", "LC_", "LANG")
_MAX_MESSAGE = 1 << 20
_PRELOAD = ("mlwarden.cli", "mlwarden.catalog", "mlwarden.store", "sqlalchemy.dialects.sqlite")


def _startup_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP_VARS)}


# --- the server side -------------------------------------------------------------------------------


def _run_child(request: dict[str, object], fds: Sequence[int]) -> NoReturn:
    """In the forked child: become ``python -m mlwarden ARGS``. Never returns.

    The run ends as the interpreter's would: its ``SystemExit`` (or exception) goes up through
    :func:`serve` to the top, and the interpreter shuts down as after ``python -m``: it waits for
    threads, runs atexit, closes what is still open (SQLite checkpoints its WAL then) and flushes.
    """
    try:
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        cwd = str(request["cwd"])
        os.chdir(cwd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Standard streams as a new interpreter makes them for pipes (not terminals).
        encoding, out_errors = sys.stdout.encoding, sys.stdout.errors
        sys.stdin = sys.__stdin__ = open(0, closefd=False, encoding=encoding)  # noqa: SIM115
        sys.stdout = sys.__stdout__ = open(1, "w", closefd=False, encoding=encoding, errors=out_errors)  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
            2, "w", closefd=False, encoding=encoding, errors="backslashreplace", buffering=1
        )
        args = request["args"]
        assert isinstance(args, list)
        sys.argv = ["-m", *map(str, args)]
        sys.path[0] = cwd  # as `python -m` puts the working directory first
    except BaseException:
        os._exit(70)
    import runpy

    runpy.run_module("mlwarden", run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve(path: str) -> None:
    """The server's main loop: one forked child per request, reaped and reported."""
    import importlib

    # Load the libraries the runs need (the CLI's imports, and SQLAlchemy, which the catalog
    # imports only when a command opens it); a module another version has moved is passed over.
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for name in [n for n in sys.modules if n == "mlwarden" or n.startswith("mlwarden.")]:
        del sys.modules[name]
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        print("threads", flush=True)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                message, fds, _, _ = socket.recv_fds(conn, _MAX_MESSAGE, 3)
                if not message:
                    conn.close()
                    continue
                request = json.loads(message)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    conn.close()
                    for pidfd, (_, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    _run_child(request, fds)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ)
                _send(conn, {"pid": pid})
            else:
                pidfd = key.fd
                selector.unregister(pidfd)
                pid, conn = children.pop(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                _send(conn, {"code": os.waitstatus_to_exitcode(status)})
                conn.close()


def _send(conn: socket.socket, message: dict[str, object]) -> None:
    with contextlib.suppress(OSError):  # the caller gave up (timeout) and closed its end
        conn.send(json.dumps(message).encode())


# --- the caller's side ----------------------------------------------------------------------------


class ForkServer:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._dir = tempfile.mkdtemp(prefix="mlw-fork-")
        self.path = os.path.join(self._dir, "sock")
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self.path],
            env=self._env,
            cwd=self._dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        self.ready = self._proc.stdout.readline().strip() == b"ready"
        atexit.register(self.close)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for name in ("sock",):
            Path(self._dir, name).unlink(missing_ok=True)
        os.rmdir(self._dir)

    def can_run(self, env: Mapping[str, str], python_args: Sequence[str]) -> bool:
        return (
            self.ready
            and self._proc.poll() is None
            and not python_args
            and _startup_env(env) == _startup_env(self._env)
        )

    def run(
        self, args: Sequence[str], *, input: bytes | None, cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[bytes]:
        deadline = time.monotonic() + timeout
        argv = [sys.executable, "-m", "mlwarden", *args]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_w = None
        if input is None:
            in_r = os.open(os.devnull, os.O_RDONLY)
        else:
            in_r, in_w = os.pipe()
        request = {"args": list(args), "cwd": str(cwd), "env": dict(env)}
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            try:
                conn.connect(self.path)
                socket.send_fds(conn, [json.dumps(request).encode()], [in_r, out_w, err_w])
            finally:
                for fd in (in_r, out_w, err_w):
                    os.close(fd)
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            pid = int(json.loads(conn.recv(_MAX_MESSAGE))["pid"])
            writer = None
            if in_w is not None:
                writer = threading.Thread(target=_feed, args=(in_w, input or b""), daemon=True)
                writer.start()
            try:
                stdout, stderr = _collect(out_r, err_r, deadline)
                conn.settimeout(max(0.1, deadline - time.monotonic()))
                code = int(json.loads(conn.recv(_MAX_MESSAGE))["code"])
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(argv, timeout) from None
            finally:
                if writer is not None:
                    writer.join(timeout=5)
        return subprocess.CompletedProcess(argv, code, stdout, stderr)


def _feed(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass  # the command stopped reading, as with subprocess.run(input=...)
    finally:
        os.close(fd)


def _collect(out_r: int, err_r: int, deadline: float) -> tuple[bytes, bytes]:
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    selector = selectors.DefaultSelector()
    for fd in chunks:
        selector.register(fd, selectors.EVENT_READ)
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            for key, _ in selector.select(remaining):
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    finally:
        selector.close()
        os.close(out_r)
        os.close(err_r)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r])


_server: ForkServer | None = None
_server_lock = threading.Lock()


def server(base_env: Mapping[str, str]) -> ForkServer | None:
    """This test process's fork server (started on first use), or None where it is turned off."""
    global _server
    if os.environ.get("MLWARDEN_TEST_FORKSERVER", "1") == "0" or not hasattr(os, "pidfd_open"):
        return None
    with _server_lock:
        if _server is None:
            _server = ForkServer(base_env)
    return _server if _server.ready else None


if __name__ == "__main__":
    serve(sys.argv[1])
