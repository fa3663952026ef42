"""Shared fixtures for the end-to-end CLI tests: every test runs the real ``mlwarden`` in a subprocess.

The subprocess is forked from a warm server process that has the CLI's libraries loaded already
(:mod:`forkserver`; ``MLWARDEN_TEST_FORKSERVER=0`` makes every run a plain ``python -m mlwarden``).

Each test gets its own ``tmp_path`` (the subprocess's working directory) and a clean environment:
``os.environ`` without any ``MLWARDEN_*`` variable, plus what the test asks for. Tests use the
``env`` key source (``MLWARDEN_MASTER_KEY``) unless they are about passphrases, since deriving a
key from a passphrase (Argon2id) costs about 0.1 s per command.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import forkserver
import pytest

MLWARDEN = (sys.executable, "-m", "mlwarden")
TIMEOUT_S = 120


def new_master_key() -> str:
    """A fresh value for ``MLWARDEN_MASTER_KEY``: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode()


def clean_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """``os.environ`` without ``MLWARDEN_*`` variables, updated by ``extra`` (``None`` removes one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    # Keep Python's own warnings out of stderr, where the tests count lines.
    env.pop("PYTHONWARNINGS", None)
    env.pop("PYTHONDEVMODE", None)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass(frozen=True)
class Cli:
    """Runs ``mlwarden`` in ``cwd`` with ``env``; derive variants with :meth:`with_env`."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def with_env(self, **changes: str | None) -> Cli:
        """A copy whose environment is updated by ``changes`` (``None`` removes a variable)."""
        env = dict(self.env)
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return replace(self, env=env)

    def run(
        self,
        *args: str | os.PathLike[str],
        input: bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        python_args: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``mlwarden *args``; stdin is ``input`` or else /dev/null (never a terminal)."""
        full_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        server = forkserver.server(clean_env())
        if server is not None and server.can_run(full_env, python_args):
            return server.run([str(a) for a in args], input=input, cwd=self.cwd, env=full_env, timeout=TIMEOUT_S)
        return subprocess.run(
            [MLWARDEN[0], *python_args, *MLWARDEN[1:], *map(str, args)],
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            cwd=self.cwd,
            env=full_env,
            timeout=TIMEOUT_S,
            check=False,
        )

    def ok(self, *args: str | os.PathLike[str], input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run and insist on exit 0."""
        proc = self.run(*args, input=input)
        assert proc.returncode == 0, describe(proc)
        return proc


def describe(proc: subprocess.CompletedProcess[bytes]) -> str:
    """A readable account of a finished run, for assertion messages."""
    out = proc.stdout[:2000]
    return (
        f"args={proc.args!r}\nexit={proc.returncode}\n"
        f"stdout={out!r}{'...' if len(proc.stdout) > 2000 else ''}\nstderr={proc.stderr.decode(errors='replace')}"
    )


def stderr_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return proc.stderr.decode(errors="replace").splitlines()


def assert_error(proc: subprocess.CompletedProcess[bytes], code: int, *needles: str) -> str:
    """Exit ``code``, nothing on stdout, and exactly one ``mlwarden: error:`` line on stderr.

    Each of ``needles`` must appear (case-insensitively) in that line, which is returned.
    """
    assert proc.returncode == code, describe(proc)
    lines = stderr_lines(proc)
    assert len(lines) == 1, describe(proc)
    line = lines[0]
    assert line.startswith("mlwarden: error: "), describe(proc)
    assert "Traceback" not in line, describe(proc)
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    assert proc.stdout == b"", describe(proc)
    return line


@dataclass(frozen=True)
class Workspace:
    """An initialised workspace and a :class:`Cli` that opens it."""

    home: Path
    master_key: str
    cli: Cli
    init_output: str

    @property
    def id(self) -> str:
        return str(json.loads((self.home / "workspace.json").read_text())["id"])

    def keyring(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "keys" / "keyring.json").read_text())
        return data

    def run(self, *args: str | os.PathLike[str], input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return self.cli.run(*args, input=input)

    def ok(self, *args: str | os.PathLike[str], input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return self.cli.ok(*args, input=input)


@pytest.fixture
def master_key() -> str:
    return new_master_key()


@pytest.fixture
def make_key():  # type: ignore[no-untyped-def]
    """``make_key()`` -> a fresh MLWARDEN_MASTER_KEY value."""
    return new_master_key


@pytest.fixture
def check_error():  # type: ignore[no-untyped-def]
    """:func:`assert_error` as a fixture (test modules do not import this conftest)."""
    return assert_error


@pytest.fixture
def show():  # type: ignore[no-untyped-def]
    """:func:`describe` as a fixture, for assertion messages."""
    return describe


@pytest.fixture
def cli(tmp_path: Path, master_key: str) -> Cli:
    """A runner in ``tmp_path`` with MLWARDEN_HOME=tmp_path/ws and a fresh MLWARDEN_MASTER_KEY (no workspace yet)."""
    return Cli(
        cwd=tmp_path,
        env=clean_env({"MLWARDEN_HOME": str(tmp_path / "ws"), "MLWARDEN_MASTER_KEY": master_key}),
    )


@pytest.fixture
def bare_cli(tmp_path: Path) -> Cli:
    """A runner in ``tmp_path`` with no MLWARDEN_* variable at all."""
    return Cli(cwd=tmp_path, env=clean_env())


@pytest.fixture
def run(cli: Cli):  # type: ignore[no-untyped-def]
    """``run(*args, input=None)`` -> CompletedProcess, with the :func:`cli` environment."""
    return cli.run


@pytest.fixture
def workspace(cli: Cli, tmp_path: Path, master_key: str) -> Workspace:
    """A fresh env-key workspace at tmp_path/ws."""
    proc = cli.ok("init")
    return Workspace(home=tmp_path / "ws", master_key=master_key, cli=cli, init_output=proc.stdout.decode())


@pytest.fixture
def write_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``write_file(name, data)`` -> Path under tmp_path."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write
