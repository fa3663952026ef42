"""The CLI tests' fork server runs ``mlwarden`` exactly as ``python -m mlwarden`` does.

Each case runs once forked from the server and once as a plain subprocess: the exit status, stdout
and stderr must be the same (with the workspace's random parts the same, since both runs use one
workspace). The cases cover what a fork could get wrong: the environment read at start-up, stdin
as a pipe and as /dev/null, the working directory, a usage error, a failure, a missing file named
by a setting, and a command's output to a file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import forkserver
import pytest

from conftest import Cli, clean_env


def _both(cli: Cli, *args: str, input: bytes | None = None) -> tuple[subprocess.CompletedProcess[bytes], ...]:
    server = forkserver.server(clean_env())
    if server is None:
        pytest.skip("the fork server is turned off here (MLWARDEN_TEST_FORKSERVER=0, or no pidfd_open)")
    assert server.can_run(cli.env, ())
    forked = server.run(list(args), input=input, cwd=cli.cwd, env=cli.env, timeout=60)
    plain = subprocess.run(
        [sys.executable, "-m", "mlwarden", *args],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        cwd=cli.cwd,
        env=cli.env,
        timeout=60,
        check=False,
    )
    return forked, plain


@pytest.mark.parametrize(
    ("args", "input"),
    [
        (("--version",), None),
        (("data", "ls"), None),
        (("data", "ls", "--bogus"), None),
        (("data", "info", "nothing-here"), None),
        (("encrypt", "-", "-o", "out.mlw", "--force"), b"secret bytes"),
        (("keys", "ls"), None),
    ],
)
def test_a_forked_run_is_a_plain_run(cli: Cli, args: tuple[str, ...], input: bytes | None) -> None:
    cli.ok("init")
    forked, plain = _both(cli, *args, input=input)
    assert (forked.returncode, forked.stdout, forked.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_settings_come_from_the_runs_environment(cli: Cli, tmp_path: Path) -> None:
    missing = cli.with_env(MLWARDEN_MASTER_KEY=None, MLWARDEN_MASTER_KEY_FILE=str(tmp_path / "missing"))
    forked, plain = _both(missing, "data", "ls")
    assert forked.returncode == plain.returncode != 0
    assert forked.stdout == plain.stdout
    # The message; a traceback's frames may name runpy's file differently.
    assert forked.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1]


def test_interpreter_options_and_startup_variables_run_a_plain_process(cli: Cli) -> None:
    server = forkserver.server(clean_env())
    if server is None:
        pytest.skip("the fork server is turned off here")
    assert not server.can_run(cli.env, ("-X", "importtime"))
    assert not server.can_run({**cli.env, "PYTHONIOENCODING": "latin-1"}, ())
    assert not server.can_run({**cli.env, "LC_ALL": "C"}, ())
    assert server.can_run({**cli.env, "MLWARDEN_TOKEN": "x"}, ())
