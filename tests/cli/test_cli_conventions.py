"""CLI conventions that hold for every command: one-line errors, exit codes, debug tracebacks,
``--help`` and ``--version``, a light start-up, and no secret ever printed."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from importlib.metadata import version as dist_version

import pytest

import mlwarden

FORBIDDEN_AT_STARTUP = ("cryptography", "rich", "pandas", "sklearn", "fastapi", "uvicorn", "starlette", "numpy")


def prepare(ws) -> None:
    """Files most failing invocations refer to: p (plain), c.mlw (good), bad.mlw (tampered), junk."""
    cwd = ws.cli.cwd
    (cwd / "p").write_bytes(os.urandom(3000))
    ws.ok("encrypt", "p", "-o", "c.mlw")
    bad = bytearray((cwd / "c.mlw").read_bytes())
    bad[-1] ^= 0x80
    (cwd / "bad.mlw").write_bytes(bytes(bad))
    (cwd / "junk").write_bytes(b"not encrypted\n")
    (cwd / "adir").mkdir()


OTHER_KEY = base64.b64encode(b"\x42" * 32).decode()

# (id, args, extra env, expected exit code)
FAILURES = [
    ("unknown-command", ["frobnicate"], {}, 2),
    ("unknown-subcommand", ["keys", "frobnicate"], {}, 2),
    ("missing-argument", ["encrypt"], {}, 2),
    ("missing-output-option", ["encrypt", "p"], {}, 2),
    ("missing-option-value", ["encrypt", "p", "-o"], {}, 2),
    ("missing-version", ["keys", "destroy"], {}, 2),
    ("bad-option", ["encrypt", "--bogus", "p", "-o", "x"], {}, 2),
    ("bad-root-option", ["--bogus", "keys", "ls"], {}, 2),
    ("bad-choice", ["init", "--key-source", "kms"], {}, 2),
    ("bad-integer", ["keys", "destroy", "one", "--yes"], {}, 2),
    ("root-option-after-command", ["keys", "ls", "--home", "elsewhere"], {}, 2),
    ("extra-argument", ["keys", "ls", "surplus"], {}, 2),
    ("wrong-key", ["keys", "ls"], {"MLWARDEN_MASTER_KEY": OTHER_KEY}, 3),
    ("wrong-key-decrypt", ["decrypt", "c.mlw", "-o", "out"], {"MLWARDEN_MASTER_KEY": OTHER_KEY}, 3),
    ("bad-base64-key", ["keys", "ls"], {"MLWARDEN_MASTER_KEY": "***"}, 2),
    ("no-key", ["keys", "ls"], {"MLWARDEN_MASTER_KEY": None}, 2),
    ("tampered-file", ["decrypt", "bad.mlw", "-o", "out"], {}, 3),
    ("tampered-file-stdout", ["decrypt", "bad.mlw", "-o", "-"], {}, 3),
    ("not-encrypted", ["decrypt", "junk", "-o", "out"], {}, 2),
    ("missing-workspace", ["keys", "ls"], {"MLWARDEN_HOME": "no-such-workspace"}, 2),
    ("workspace-is-a-file", ["keys", "ls"], {"MLWARDEN_HOME": "junk"}, 2),
    ("missing-workspace-option", ["--home", "nowhere", "encrypt", "p", "-o", "x"], {}, 2),
    ("missing-input", ["encrypt", "absent", "-o", "x"], {}, 2),
    ("input-is-folder", ["encrypt", "adir", "-o", "x"], {}, 2),
    ("output-exists", ["encrypt", "p", "-o", "c.mlw"], {}, 2),
    ("output-same-as-input", ["encrypt", "p", "-o", "p", "--force"], {}, 2),
    ("second-init", ["init"], {}, 2),
    ("destroy-primary", ["keys", "destroy", "1", "--yes"], {}, 2),
]


@pytest.mark.parametrize(("args", "env", "code"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failure_is_one_line_on_stderr(workspace, check_error, args, env, code):
    prepare(workspace)
    proc = workspace.cli.run(*args, env=env)
    if "-" in args and args[-1] == "-":
        # Decrypting to stdout may have written verified segments before failing; stderr is what counts.
        proc = subprocess.CompletedProcess(proc.args, proc.returncode, b"", proc.stderr)
    check_error(proc, code)
    assert b"Traceback" not in proc.stderr
    assert not (workspace.cli.cwd / "out").exists()
    assert not (workspace.cli.cwd / "x").exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-command"),
        pytest.param(["keys"], id="keys-without-subcommand"),
    ],
)
def test_group_without_command_is_one_line_or_help(bare_cli, args):
    proc = bare_cli.run(*args)
    lines = proc.stderr.decode().splitlines()
    if proc.returncode == 0:
        assert b"Usage:" in proc.stdout
        assert lines == []
    else:
        assert proc.returncode == 2
        assert len(lines) == 1, lines
        assert lines[0].startswith("mlwarden: error: ")


SECRET_FILE_VARIABLES = ["MLWARDEN_MASTER_KEY_FILE", "MLWARDEN_PASSPHRASE_FILE", "MLWARDEN_TOKEN_FILE"]


@pytest.mark.parametrize("name", SECRET_FILE_VARIABLES)
@pytest.mark.parametrize("target", ["missing", "folder"])
def test_a_secret_file_variable_naming_no_file_is_one_line_exit_2(cli, check_error, name, target):
    """Once a traceback and exit 1: the settings were read before the error handler existed."""
    path = cli.cwd / "absent" if target == "missing" else cli.cwd
    env = {name: str(path), name.removesuffix("_FILE"): None}  # the plain variable would win
    check_error(cli.run("keys", "ls", env=env), 2, name, str(path))


@pytest.mark.parametrize("name", SECRET_FILE_VARIABLES)
def test_version_and_help_never_read_the_secret_files(bare_cli, name):
    env = {name: str(bare_cli.cwd / "absent")}
    version = bare_cli.run("--version", env=env)
    assert (version.returncode, version.stderr) == (0, b""), version
    assert dist_version("mlwarden").encode() in version.stdout
    helped = bare_cli.run("keys", "--help", env=env)
    assert (helped.returncode, helped.stderr) == (0, b""), helped
    assert b"Usage:" in helped.stdout


def test_an_empty_token_is_refused_not_run_as_admin(workspace, check_error):
    """``MLWARDEN_TOKEN=`` once fell back to the saved admin token, silently."""
    check_error(workspace.cli.run("keys", "ls", env={"MLWARDEN_TOKEN": ""}), 2, "MLWARDEN_TOKEN is set but empty")
    empty = workspace.cli.cwd / "token"
    empty.write_text("\n")
    check_error(
        workspace.cli.run("keys", "ls", env={"MLWARDEN_TOKEN_FILE": str(empty)}),
        2,
        "MLWARDEN_TOKEN_FILE",
        str(empty),
        "empty",
    )


def test_error_stays_one_line_with_odd_file_names(workspace, check_error):
    check_error(workspace.run("encrypt", "a\nb", "-o", "x"), 2)


class TestDebug:
    def test_debug_shows_traceback_for_mlwarden_error(self, cli):
        proc = cli.run("keys", "ls", env={"MLWARDEN_DEBUG": "1"})
        err = proc.stderr.decode()
        assert proc.returncode != 0
        assert "Traceback (most recent call last)" in err
        assert "mlwarden.errors.NotFound" in err
        assert "no workspace at" in err

    def test_debug_shows_traceback_for_integrity_error(self, workspace):
        prepare(workspace)
        proc = workspace.cli.run("decrypt", "bad.mlw", "-o", "out", env={"MLWARDEN_DEBUG": "1"})
        err = proc.stderr.decode()
        assert proc.returncode != 0
        assert "Traceback (most recent call last)" in err
        assert "mlwarden.errors.IntegrityError" in err
        assert not (workspace.cli.cwd / "out").exists()

    @pytest.mark.parametrize("value", ["0", ""])
    def test_debug_off_values(self, cli, check_error, value):
        check_error(cli.run("keys", "ls", env={"MLWARDEN_DEBUG": value}), 2)

    @pytest.mark.parametrize(
        ("args", "code"),
        [(["keys", "ls"], 2), (["decrypt", "bad.mlw", "-o", "out"], 3)],
        ids=["bad-input", "integrity"],
    )
    def test_debug_keeps_exit_code(self, workspace, args, code):
        prepare(workspace)
        env = {"MLWARDEN_DEBUG": "1"}
        if args[0] == "keys":
            env["MLWARDEN_HOME"] = "no-such-workspace"
        proc = workspace.cli.run(*args, env=env)
        assert "Traceback" in proc.stderr.decode()
        assert proc.returncode == code


class TestHelpAndVersion:
    def test_version(self, bare_cli):
        proc = bare_cli.run("--version")
        assert proc.returncode == 0
        assert proc.stdout.decode() == f"mlwarden, version {mlwarden.__version__}\n"
        assert mlwarden.__version__ == dist_version("mlwarden")
        assert proc.stderr == b""

    @pytest.mark.parametrize("flag", ["--help", "-h"])
    def test_help(self, bare_cli, tmp_path, flag):
        proc = bare_cli.run(flag)
        assert proc.returncode == 0
        assert proc.stderr == b""
        out = proc.stdout.decode()
        assert out.startswith("Usage: mlwarden")
        for word in ("init", "encrypt", "decrypt", "keys", "--home", "--version", "MLWARDEN_DEBUG"):
            assert word in out
        assert os.listdir(tmp_path) == []  # --help creates no workspace

    @pytest.mark.parametrize(
        "args",
        [["init"], ["encrypt"], ["decrypt"], ["keys"], ["keys", "ls"], ["keys", "rotate"], ["keys", "destroy"]],
        ids=" ".join,
    )
    def test_command_help(self, bare_cli, args):
        proc = bare_cli.run(*args, "--help")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().startswith(f"Usage: mlwarden {' '.join(args)}")
        assert proc.stderr == b""

    def test_help_needs_no_workspace_even_when_key_is_bad(self, bare_cli):
        proc = bare_cli.run("--help", env={"MLWARDEN_MASTER_KEY": "***", "MLWARDEN_HOME": "/nonexistent"})
        assert proc.returncode == 0


# --------------------------------------------------------------------------------------------
# start-up cost
# --------------------------------------------------------------------------------------------


def imported_modules(importtime_stderr: str) -> set[str]:
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["encrypt", "--help"],
        ["keys", "--help"],
        ["keys", "generate"],
        ["serve", "--help"],
        ["user", "--help"],
    ],
    ids=" ".join,
)
def test_startup_imports_no_heavy_module_importtime(bare_cli, args):
    proc = bare_cli.run(*args, python_args=("-X", "importtime"))
    assert proc.returncode == 0, proc.stderr
    modules = imported_modules(proc.stderr.decode())
    # The parse works: the CLI itself and click show up.
    assert {"click", "mlwarden", "mlwarden.cli"} <= modules, sorted(modules)
    heavy = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN_AT_STARTUP)
    assert heavy == [], f"`mlwarden {' '.join(args)}` imports {heavy}"


def test_startup_imports_no_heavy_module_sys_modules(bare_cli):
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['mlwarden', '--help']\n"
        "try:\n"
        "    runpy.run_module('mlwarden', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "sys.stderr.write(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        cwd=bare_cli.cwd,
        env=bare_cli.env,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stderr)
    assert report["code"] in (0, None)
    modules = set(report["modules"])
    assert "mlwarden.cli._files" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN_AT_STARTUP)
    assert heavy == []
    assert "mlwarden._workspace" not in modules
    assert "mlwarden.crypto" not in modules


# --------------------------------------------------------------------------------------------
# secrets never printed
# --------------------------------------------------------------------------------------------


def secret_forms(key_b64: str) -> list[bytes]:
    raw = base64.b64decode(key_b64)
    return [
        key_b64.encode(),
        key_b64.rstrip("=").encode(),
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw,
    ]


def assert_no_secret(procs, secrets: list[bytes]) -> None:
    for proc in procs:
        blob = proc.stdout + proc.stderr
        for secret in secrets:
            assert secret not in blob, f"a secret appeared in the output of {proc.args!r}"


def test_master_key_never_printed(workspace, tmp_path, make_key):
    key = workspace.master_key
    keyring = workspace.keyring()
    wrapped = [entry["wrapped"].encode() for entry in keyring["keys"]]
    (tmp_path / "p").write_bytes(os.urandom(5000))
    procs = [
        workspace.ok("encrypt", "p", "-o", "c.mlw"),
        workspace.ok("encrypt", "p", "-o", "-"),
        workspace.ok("decrypt", "c.mlw", "-o", "back"),
        workspace.ok("decrypt", "c.mlw", "-o", "-"),
        workspace.ok("keys", "ls"),
        workspace.ok("keys", "ls", "--json"),
        workspace.ok("keys", "rotate"),
        workspace.ok("keys", "rotate", "--json"),
        workspace.ok("keys", "destroy", "1", "--yes"),
        workspace.run("decrypt", "p", "-o", "x"),
        workspace.run("init"),
        workspace.run("init", "--json"),
        workspace.run("keys", "destroy", "3", "--yes"),
    ]
    new_wrapped = [entry["wrapped"].encode() for entry in workspace.keyring()["keys"]]
    records = [json.loads(p.read_text()) for p in (workspace.home / "keys" / "data").rglob("*.json")]
    assert records, "encrypt registers data keys in the workspace"
    new_wrapped += [r["wrapped"].encode() for r in records if "wrapped" in r]
    assert_no_secret(procs, secret_forms(key) + wrapped + new_wrapped)
    # The same goes for a wrong or malformed key someone passes in, and under MLWARDEN_DEBUG.
    other = make_key()
    procs = [
        workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": other}),
        workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": other, "MLWARDEN_DEBUG": "1"}),
        workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": other[:-4]}),
        workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": other[:-4], "MLWARDEN_DEBUG": "1"}),
    ]
    assert [p.returncode for p in procs[::2]] == [3, 2]
    assert_no_secret(procs, [*secret_forms(other), other[:-4].encode()])
    assert_no_secret(procs, secret_forms(key))


def test_init_output_has_no_secret(cli, tmp_path, master_key):
    procs = [cli.ok("init", "--json")]
    keyring = json.loads((tmp_path / "ws" / "keys" / "keyring.json").read_text())
    assert_no_secret(procs, [*secret_forms(master_key), keyring["keys"][0]["wrapped"].encode()])


def test_passphrase_never_printed(cli, tmp_path):
    passphrase = "tr0ub4dor&3-very-secret"
    wrong = "an-incorrect-guess-42"
    pw = cli.with_env(MLWARDEN_MASTER_KEY=None, MLWARDEN_PASSPHRASE=passphrase)
    (tmp_path / "p").write_bytes(b"x" * 100)
    procs = [
        pw.ok("init", "--json"),
        pw.ok("keys", "ls", "--json"),
        pw.ok("encrypt", "p", "-o", "c.mlw"),
        pw.run("keys", "ls", env={"MLWARDEN_PASSPHRASE": wrong}),
        pw.run("keys", "ls", env={"MLWARDEN_PASSPHRASE": wrong, "MLWARDEN_DEBUG": "1"}),
    ]
    assert procs[3].returncode == 3
    assert_no_secret(procs, [passphrase.encode(), wrong.encode()])
    keyring_text = (tmp_path / "ws" / "keys" / "keyring.json").read_bytes()
    assert passphrase.encode() not in keyring_text


@pytest.mark.parametrize(
    "args", [[], ["keys"], ["--help"], ["keys", "generate"], ["encrypt", "--help"]], ids=lambda a: " ".join(a) or "bare"
)
def test_cli_uses_no_deprecated_click_api(bare_cli, args):
    # click announces removals with DeprecationWarning; as errors they would exit 70 here.
    proc = bare_cli.run(*args, python_args=("-W", "error::DeprecationWarning"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
