"""End-to-end tests of ``mlwarden data``: the encrypted, versioned dataset store (real subprocesses).

Tests that only read share one module-wide workspace (:func:`library`) holding the German Credit CSV,
a Parquet file and a JSON Lines file, so that the costly puts of tabular files happen once; every
test that changes a workspace gets its own (the ``workspace`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pty_session import run_on_pty

from mlwarden.usecases import GERMAN_CREDIT_SHA256, german_credit_csv

MIB = 1024 * 1024
HEAVY_MODULES = ("pandas", "pyarrow", "sqlalchemy")
COMMANDS = ("put", "get", "ls", "info", "rm", "check", "import-fernet")
FERNET_TIME = 1_700_000_000  # the token's own timestamp ...
FERNET_TIME_TEXT = "2023-11-14T22:13:20Z"  # ... as the catalog records it

JSONL = b'{"x": 1, "y": 1.5, "s": "a", "flag": true}\n{"x": 2, "y": 2.5, "s": "b", "flag": false}\n'
JSONL += b'{"x": 3, "y": null, "s": "c", "flag": true}\n'


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def out_line(proc) -> tuple[str, str]:
    """``NAME@VERSION  sha256:<hex>`` on stdout -> ``(ref, hex)``."""
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    ref, _, digest = lines[0].partition("  sha256:")
    return ref, digest


def stored_objects(home: Path) -> set[Path]:
    """Every encrypted object of a workspace: ``<home>/objects/xx/<32 hex>``."""
    return {p for p in (home / "objects").glob("*/*") if p.is_file()}


def put_new(ws, *args: str | os.PathLike[str], input: bytes | None = None) -> tuple[str, Path]:
    """``data put ARGS`` that must make a new version -> ``(NAME@VERSION, its object file)``."""
    before = stored_objects(ws.home)
    proc = ws.ok("data", "put", *args, input=input)
    ref, _ = out_line(proc)
    (new,) = stored_objects(ws.home) - before
    return ref, new


def info_json(ws_or_cli, ref: str) -> dict:
    return json.loads(ws_or_cli.ok("data", "info", ref, "--json").stdout)


def flip_byte(path: Path, offset: int = -1) -> None:
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def imported_modules(importtime_stderr: bytes) -> set[str]:
    """Module names from ``python -X importtime`` output."""
    names = set()
    for line in importtime_stderr.decode(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def heavy(modules: set[str], forbidden: tuple[str, ...] = HEAVY_MODULES) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in forbidden)


def summary_lines(proc) -> list[str]:
    """stderr without ``-X importtime`` lines."""
    return [line for line in proc.stderr.decode().splitlines() if not line.startswith("import time:")]


# --------------------------------------------------------------------------------------------
# a shared, read-only workspace
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    home: Path
    master_key: str
    parquet: bytes
    jsonl: bytes


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Library:
    """A workspace with credit@1 (German Credit CSV), table@1 (Parquet) and events@1 (JSON Lines).

    Tests must only read it: use :func:`lib` to run commands against it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("data-library")
    key = base64.b64encode(os.urandom(32)).decode()
    # As conftest's clean_env (this module-scoped fixture cannot use the function-scoped ``cli``).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.pop("PYTHONWARNINGS", None)
    env.pop("PYTHONDEVMODE", None)
    env.update(MLWARDEN_HOME=str(root / "ws"), MLWARDEN_MASTER_KEY=key)
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "score": pa.array([0.5, 1.5, None, 3.5, 4.5], pa.float64()),
            "label": pa.array(["a", "b", "c", "d", "e"], pa.string()),
            "ok": pa.array([True, False, True, True, False], pa.bool_()),
        }
    )
    pq.write_table(table, root / "table.parquet")
    (root / "events.jsonl").write_bytes(JSONL)

    def run(*args: str | os.PathLike[str]) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "mlwarden", *map(str, args)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, (args, proc.stderr.decode(errors="replace"))

    run("init")
    run("data", "put", german_credit_csv(), "--name", "credit", "--tag", "source=uci")
    run("data", "put", root / "table.parquet", "--name", "table")
    run("data", "put", root / "events.jsonl", "--name", "events")
    return Library(root / "ws", key, (root / "table.parquet").read_bytes(), JSONL)


@pytest.fixture
def lib(cli, library):
    """A runner (in this test's tmp_path) on the shared :func:`library` workspace."""
    return cli.with_env(MLWARDEN_HOME=str(library.home), MLWARDEN_MASTER_KEY=library.master_key)


# --------------------------------------------------------------------------------------------
# help and start-up
# --------------------------------------------------------------------------------------------


class TestHelp:
    @pytest.mark.parametrize("args", [["data", "--help"], ["data", "-h"], ["data"]], ids=" ".join)
    def test_group_help_lists_every_command(self, bare_cli, show, args):
        proc = bare_cli.run(*args)
        assert proc.returncode == 0, show(proc)
        out = proc.stdout.decode()
        assert "Usage: mlwarden data" in out
        for command in COMMANDS:
            assert command in out, command
        assert proc.stderr == b""

    def test_root_help_lists_data(self, bare_cli, show):
        proc = bare_cli.run("--help")
        assert proc.returncode == 0, show(proc)
        commands = proc.stdout.decode().split("Commands:", 1)[1]
        assert any(line.split()[:1] == ["data"] for line in commands.splitlines())

    def test_put_help_names_its_options(self, bare_cli, show):
        proc = bare_cli.run("data", "put", "--help")
        assert proc.returncode == 0, show(proc)
        out = proc.stdout.decode()
        for option in ("--name", "--tag", "--force", "--format", "--json"):
            assert option in out, option

    def test_data_help_imports_nothing_heavy(self, bare_cli, show):
        proc = bare_cli.run("data", "--help", python_args=("-X", "importtime"))
        assert proc.returncode == 0, show(proc)
        modules = imported_modules(proc.stderr)
        assert {"click", "mlwarden.cli"} <= modules, sorted(modules)  # the parse works
        assert heavy(modules) == []

    def test_binary_put_and_get_import_neither_pandas_nor_pyarrow(self, workspace, write_file, show):
        write_file("blob.csv", b"a,b\n1,2\n")
        proc = workspace.cli.run(
            "data", "put", "blob.csv", "--name", "blob", "--format", "binary", python_args=("-X", "importtime")
        )
        assert proc.returncode == 0, show(proc)
        modules = imported_modules(proc.stderr)
        assert "mlwarden.cli" in modules
        assert heavy(modules, ("pandas", "pyarrow")) == []
        assert len(summary_lines(proc)) == 1

        proc = workspace.cli.run("data", "get", "blob", "-o", "-", python_args=("-X", "importtime"))
        assert proc.returncode == 0, show(proc)
        assert proc.stdout == b"a,b\n1,2\n"
        assert heavy(imported_modules(proc.stderr), ("pandas", "pyarrow")) == []


# --------------------------------------------------------------------------------------------
# put
# --------------------------------------------------------------------------------------------


class TestPut:
    def test_prints_ref_and_plaintext_sha256(self, workspace, write_file):
        data = os.urandom(5000)
        write_file("blob.bin", data)
        proc = workspace.ok("data", "put", "blob.bin", "--name", "blob")
        assert proc.stdout.decode() == f"blob@1  sha256:{sha256(data)}\n"
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1
        assert "blob@1" in lines[0]
        # Only ciphertext is stored: the plaintext appears in no file of the workspace.
        for path in workspace.home.rglob("*"):
            if path.is_file():
                assert data[:64] not in path.read_bytes(), path

    def test_versions_count_up_and_unchanged_content_makes_none(self, workspace, write_file, show):
        one, two = b"first content\n", b"second content\n"
        write_file("d.bin", one)
        assert out_line(workspace.ok("data", "put", "d.bin", "--name", "d")) == ("d@1", sha256(one))
        write_file("d.bin", two)
        assert out_line(workspace.ok("data", "put", "d.bin", "--name", "d")) == ("d@2", sha256(two))

        before = stored_objects(workspace.home)
        proc = workspace.ok("data", "put", "d.bin", "--name", "d")
        assert out_line(proc) == ("d@2", sha256(two))
        assert "unchanged" in proc.stderr.decode()
        assert "--force" in proc.stderr.decode()
        assert stored_objects(workspace.home) == before

        proc = workspace.ok("data", "put", "d.bin", "--name", "d", "--force")
        assert out_line(proc) == ("d@3", sha256(two))
        assert "unchanged" not in proc.stderr.decode()
        # Equal to an older version but not the latest: a new version.
        write_file("d.bin", one)
        assert out_line(workspace.ok("data", "put", "d.bin", "--name", "d")) == ("d@4", sha256(one))

        listed = json.loads(workspace.ok("data", "ls", "--json").stdout)
        assert [(d["name"], d["versions"], d["latest"]["ref"]) for d in listed] == [("d", 4, "d@4")], show(proc)

    def test_stdin(self, workspace):
        data = b"a,b\n1,x\n2,y\n"
        proc = workspace.ok("data", "put", "-", "--name", "piped", input=data)
        assert out_line(proc) == ("piped@1", sha256(data))
        assert info_json(workspace, "piped")["format"] == "csv"  # no file name to go by: the content tells

        proc = workspace.ok("data", "put", "-", "--name", "piped", "--format", "binary", "--force", input=data)
        assert info_json(workspace, "piped@2")["format"] == "binary"
        proc = workspace.ok("data", "put", "-", "--name", "piped", "--format", "csv", "--force", input=data)
        record = info_json(workspace, "piped@3")
        assert record["format"] == "csv"
        assert record["rows"] == 2
        assert record["schema"]["columns"] == [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
        assert workspace.ok("data", "get", "piped@3", "-o", "-").stdout == data
        workspace.ok("data", "put", "-", "--name", "events", input=JSONL)
        assert info_json(workspace, "events")["format"] == "jsonl"

    def test_json_record(self, workspace, write_file):
        data = b"id,v\n1,2.5\n"
        write_file("small.csv", data)
        proc = workspace.ok("data", "put", "small.csv", "--name", "small", "--tag", "team=risk", "--json")
        record = json.loads(proc.stdout)
        assert record["created"] is True
        assert record["ref"] == "small@1"
        assert record["name"] == "small"
        assert record["version"] == 1
        assert record["sha256"] == sha256(data)
        assert record["size"] == len(data)
        assert record["rows"] == 1
        assert record["format"] == "csv"
        assert record["key_version"] == 1
        assert record["tags"] == {"team": "risk"}
        assert record["shredded"] is False
        assert record["schema"]["columns"] == [{"name": "id", "type": "int64"}, {"name": "v", "type": "double"}]

        again = json.loads(workspace.ok("data", "put", "small.csv", "--name", "small", "--json").stdout)
        assert again["created"] is False
        assert again["ref"] == "small@1"

    def test_format_overrides_detection(self, workspace, write_file):
        write_file("events.txt", JSONL)
        write_file("table.csv", b"a,b\n1,2\n")
        workspace.ok("data", "put", "events.txt", "--name", "guessed")
        workspace.ok("data", "put", "events.txt", "--name", "told", "--format", "jsonl")
        workspace.ok("data", "put", "table.csv", "--name", "raw", "--format", "binary")
        assert info_json(workspace, "guessed")["format"] == "binary"
        told = info_json(workspace, "told")
        assert told["format"] == "jsonl"
        assert told["rows"] == 3
        raw = info_json(workspace, "raw")
        assert raw["format"] == "binary"
        assert raw["rows"] is None
        assert raw["schema"]["columns"] is None

    def test_tags_are_kept(self, workspace, write_file):
        write_file("t.bin", b"tagged")
        workspace.ok("data", "put", "t.bin", "--name", "t", "--tag", "owner=ana", "--tag", "note=a=b", "--tag", "e=")
        assert info_json(workspace, "t")["tags"] == {"owner": "ana", "note": "a=b", "e": ""}
        out = workspace.ok("data", "info", "t").stdout.decode()
        assert "owner" in out
        assert "ana" in out

    # Tags, --format and --name are checked before the workspace is opened: the runners below have no
    # workspace, so a check that moved after opening it would fail with "no workspace" instead.

    @pytest.mark.parametrize(
        ("tags", "needle"),
        [
            (["novalue"], "key=value"),
            (["a=1", "a=2"], "twice"),
            (["bad key=1"], "not allowed"),
            (["k=line\nbreak"], "control"),
        ],
        ids=["no-equals", "repeated", "bad-key", "control-in-value"],
    )
    def test_bad_tags(self, cli, write_file, check_error, tags, needle):
        write_file("t.bin", b"x")
        args = [a for tag in tags for a in ("--tag", tag)]
        check_error(cli.run("data", "put", "t.bin", "--name", "t", *args), 2, needle)

    def test_unknown_format_is_usage_error(self, cli, write_file, check_error):
        write_file("t.bin", b"x")
        check_error(cli.run("data", "put", "t.bin", "--name", "t", "--format", "xml"), 2, "--format")

    def test_missing_name_is_usage_error(self, cli, write_file, check_error):
        write_file("t.bin", b"x")
        check_error(cli.run("data", "put", "t.bin"), 2, "--name")

    def test_without_workspace(self, cli, write_file, check_error):
        write_file("t.bin", b"x")
        check_error(cli.run("data", "put", "t.bin", "--name", "t"), 2, "mlwarden init")


# --------------------------------------------------------------------------------------------
# get
# --------------------------------------------------------------------------------------------


class TestGet:
    def test_latest_or_given_version_restores_exact_bytes(self, workspace, write_file, tmp_path):
        v1, v2 = os.urandom(3000), os.urandom(4000)
        write_file("in.bin", v1)
        workspace.ok("data", "put", "in.bin", "--name", "d")
        write_file("in.bin", v2)
        workspace.ok("data", "put", "in.bin", "--name", "d")

        proc = workspace.ok("data", "get", "d", "-o", "latest.bin")
        assert (tmp_path / "latest.bin").read_bytes() == v2
        assert proc.stdout == b""
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1
        assert "d@2" in lines[0]
        assert (tmp_path / "latest.bin").stat().st_mode & 0o777 == 0o600

        workspace.ok("data", "get", "d@1", "-o", "first.bin")
        assert (tmp_path / "first.bin").read_bytes() == v1
        workspace.ok("data", "get", "d@latest", "--output", "named.bin")
        assert (tmp_path / "named.bin").read_bytes() == v2

    def test_stdout(self, workspace, write_file):
        data = os.urandom(2 * MIB + 123)  # several segments
        write_file("in.bin", data)
        workspace.ok("data", "put", "in.bin", "--name", "d")
        proc = workspace.ok("data", "get", "d@1", "-o", "-")
        assert proc.stdout == data
        assert len(proc.stderr.decode().splitlines()) == 1

    def test_refuses_to_overwrite_without_force(self, workspace, write_file, tmp_path, check_error):
        write_file("in.bin", b"stored")
        workspace.ok("data", "put", "in.bin", "--name", "d")
        write_file("out.bin", b"precious")
        check_error(workspace.run("data", "get", "d", "-o", "out.bin"), 2, "exists", "--force")
        assert (tmp_path / "out.bin").read_bytes() == b"precious"

        workspace.ok("data", "get", "d", "-o", "out.bin", "--force")
        assert (tmp_path / "out.bin").read_bytes() == b"stored"

    @pytest.mark.parametrize(
        ("out", "needle"), [("missing/out.bin", "does not exist"), (".", "folder")], ids=["no-folder", "is-folder"]
    )
    def test_bad_output(self, lib, check_error, out, needle):
        check_error(lib.run("data", "get", "credit", "-o", out, "--force"), 2, needle)

    def test_output_is_required(self, lib, check_error):
        check_error(lib.run("data", "get", "credit"), 2, "-o")


# --------------------------------------------------------------------------------------------
# tabular data: German Credit CSV, Parquet, JSON Lines (the shared library)
# --------------------------------------------------------------------------------------------


class TestTabular:
    def test_german_credit_round_trips_byte_identical(self, lib, tmp_path):
        source = german_credit_csv()
        assert sha256(source.read_bytes()) == GERMAN_CREDIT_SHA256
        lib.ok("data", "get", "credit@1", "-o", "credit.csv")
        assert (tmp_path / "credit.csv").read_bytes() == source.read_bytes()

    def test_german_credit_info_json(self, lib):
        record = info_json(lib, "credit")
        with german_credit_csv().open(newline="") as handle:
            header = next(csv.reader(handle))
        assert record["ref"] == "credit@1"
        assert record["format"] == "csv"
        assert record["rows"] == 1000
        assert record["sha256"] == GERMAN_CREDIT_SHA256
        assert record["size"] == german_credit_csv().stat().st_size
        assert record["key_version"] == 1
        assert record["tags"] == {"source": "uci"}
        assert record["shredded"] is False
        columns = {c["name"]: c["type"] for c in record["schema"]["columns"]}
        assert len(record["schema"]["columns"]) == 21
        assert [c["name"] for c in record["schema"]["columns"]] == header
        assert columns["duration_in_month"] == "int64"
        assert columns["credit_amount"] == "int64"
        assert columns["age_in_years"] == "int64"
        assert columns["creditability"] == "string"
        assert columns["purpose"] == "string"
        assert set(columns.values()) == {"int64", "string"}

    def test_german_credit_info_text(self, lib):
        out = lib.ok("data", "info", "credit@1").stdout.decode()
        assert "credit@1" in out
        assert "1,000" in out
        assert GERMAN_CREDIT_SHA256 in out
        assert f"{german_credit_csv().stat().st_size:,} bytes" in out
        assert "key version" in out
        assert "source" in out
        assert "schema (21 columns)" in out
        assert any(line.split() == ["duration_in_month", "int64"] for line in out.splitlines())
        assert any(line.split() == ["creditability", "string"] for line in out.splitlines())

    def test_parquet(self, lib, library, tmp_path):
        record = info_json(lib, "table")
        assert record["format"] == "parquet"
        assert record["rows"] == 5
        assert record["sha256"] == sha256(library.parquet)
        assert record["schema"]["columns"] == [
            {"name": "id", "type": "int64"},
            {"name": "score", "type": "double"},
            {"name": "label", "type": "string"},
            {"name": "ok", "type": "bool"},
        ]
        lib.ok("data", "get", "table", "-o", "back.parquet")
        assert (tmp_path / "back.parquet").read_bytes() == library.parquet

    def test_jsonl(self, lib, library, tmp_path):
        record = info_json(lib, "events")
        assert record["format"] == "jsonl"
        assert record["rows"] == 3
        assert record["schema"]["columns"] == [
            {"name": "x", "type": "int64"},
            {"name": "y", "type": "double"},
            {"name": "s", "type": "string"},
            {"name": "flag", "type": "bool"},
        ]
        lib.ok("data", "get", "events@1", "-o", "back.jsonl")
        assert (tmp_path / "back.jsonl").read_bytes() == library.jsonl

    def test_ragged_csv_is_stored_with_schema_unknown(self, workspace, write_file):
        data = b"a,b\n1,2\n3\n4,5,6\n"
        write_file("ragged.csv", data)
        proc = workspace.ok("data", "put", "ragged.csv", "--name", "ragged")
        assert out_line(proc) == ("ragged@1", sha256(data))
        assert "schema unknown" in proc.stderr.decode()
        record = info_json(workspace, "ragged")
        assert record["format"] == "csv"
        assert record["rows"] is None
        assert record["schema"]["columns"] is None
        assert record["schema"]["error"] == "CSV row 3 (the header is row 1) has 1 field where the header has 2"
        out = workspace.ok("data", "info", "ragged").stdout.decode()
        schema_line = next(line for line in out.splitlines() if line.startswith("schema"))
        assert "unknown" in schema_line
        assert "the header has 2" in schema_line  # the reason, in a user's terms
        assert workspace.ok("data", "get", "ragged", "-o", "-").stdout == data


# --------------------------------------------------------------------------------------------
# ls and info
# --------------------------------------------------------------------------------------------


class TestLsInfo:
    def test_ls_empty(self, workspace):
        proc = workspace.ok("data", "ls")
        assert proc.stdout == b""
        assert "no datasets yet" in proc.stderr.decode()
        assert json.loads(workspace.ok("data", "ls", "--json").stdout) == []

    def test_ls_table(self, lib):
        proc = lib.ok("data", "ls")
        lines = proc.stdout.decode().splitlines()
        assert lines[0].split() == ["NAME", "LATEST", "VERSIONS", "SIZE", "ROWS", "FORMAT", "CREATED"]
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert sorted(rows) == ["credit", "events", "table"]
        assert rows["credit"][1:3] == ["credit@1", "1"]
        assert "1,000" in rows["credit"]
        assert "csv" in rows["credit"]
        assert "parquet" in rows["table"]
        assert "jsonl" in rows["events"]

    def test_ls_json(self, lib):
        listed = json.loads(lib.ok("data", "ls", "--json").stdout)
        assert [d["name"] for d in listed] == ["credit", "events", "table"]
        for d in listed:
            assert d["versions"] == 1
            assert d["latest"]["ref"] == f"{d['name']}@1"
            assert d["created_by"]
            assert d["created_at"]
        assert listed[0]["latest"]["sha256"] == GERMAN_CREDIT_SHA256

    def test_info_default_is_latest(self, workspace, write_file):
        write_file("d.bin", b"one")
        workspace.ok("data", "put", "d.bin", "--name", "d")
        write_file("d.bin", b"two")
        workspace.ok("data", "put", "d.bin", "--name", "d")
        assert info_json(workspace, "d")["version"] == 2
        assert info_json(workspace, "d@1")["sha256"] == sha256(b"one")
        out = workspace.ok("data", "info", "d@1").stdout.decode()
        assert "binary" in out
        assert "unknown: not a tabular format" in out

    def test_home_option_on_the_group(self, bare_cli, library, show):
        proc = bare_cli.run("data", "--home", library.home, "ls", env={"MLWARDEN_MASTER_KEY": library.master_key})
        assert proc.returncode == 0, show(proc)
        assert "credit@1" in proc.stdout.decode()
        proc = bare_cli.run(
            "data", "info", "--home", library.home, "table", env={"MLWARDEN_MASTER_KEY": library.master_key}
        )
        assert proc.returncode == 0, show(proc)


# --------------------------------------------------------------------------------------------
# rm --shred
# --------------------------------------------------------------------------------------------


def key_record(home: Path, object_file: Path) -> dict:
    name = object_file.name
    return json.loads((home / "keys" / "data" / name[:2] / f"{name}.json").read_text())


class TestRm:
    def test_shred_destroys_the_key_and_keeps_a_tombstone(self, workspace, write_file, check_error):
        write_file("d.bin", b"secret version one")
        _, first = put_new(workspace, "d.bin", "--name", "d")
        write_file("d.bin", b"version two")
        _, second = put_new(workspace, "d.bin", "--name", "d")
        assert "wrapped" in key_record(workspace.home, first)

        proc = workspace.ok("data", "rm", "d@1", "--shred")
        assert "shredded d@1" in proc.stdout.decode()
        record = key_record(workspace.home, first)
        assert "wrapped" not in record
        assert record["shredded"]
        assert not first.exists()
        assert second.exists()

        tomb = info_json(workspace, "d@1")
        assert tomb["shredded"] is True
        assert tomb["shredded_at"]
        assert tomb["shredded_by"]
        assert tomb["sha256"] == sha256(b"secret version one")  # the tombstone keeps the facts
        out = workspace.ok("data", "info", "d@1").stdout.decode()
        shred_line = next(line for line in out.splitlines() if line.startswith("shredded"))
        assert tomb["shredded_at"] in shred_line
        assert f"by {tomb['shredded_by']}" in shred_line

        check_error(workspace.run("data", "get", "d@1", "-o", "out"), 2, "shredded", "d@1")
        check_error(workspace.run("data", "get", "d@1", "-o", "-"), 2, "shredded")
        assert not (workspace.cli.cwd / "out").exists()
        assert workspace.ok("data", "get", "d", "-o", "-").stdout == b"version two"
        report = json.loads(workspace.ok("data", "check", "--json").stdout)
        assert report["ok"] is True
        assert report["shredded"] == 1
        assert report["versions"] == 1

        check_error(workspace.run("data", "rm", "d@1", "--shred"), 2, "already shredded")

    def test_latest_falls_back_and_numbers_are_not_reused(self, workspace, write_file, check_error):
        write_file("d.bin", b"one")
        workspace.ok("data", "put", "d.bin", "--name", "d")
        write_file("d.bin", b"two")
        workspace.ok("data", "put", "d.bin", "--name", "d")
        workspace.ok("data", "rm", "d@2", "--shred")
        assert workspace.ok("data", "get", "d", "-o", "-").stdout == b"one"
        assert info_json(workspace, "d")["ref"] == "d@1"
        # The content of the shredded version again: a new version, numbered after it.
        assert out_line(workspace.ok("data", "put", "d.bin", "--name", "d"))[0] == "d@3"

        workspace.ok("data", "rm", "d@1", "--shred")
        workspace.ok("data", "rm", "d@3", "--shred")
        listing = workspace.ok("data", "ls").stdout.decode().splitlines()
        assert listing[1].split()[:3] == ["d", "shredded", "3"]
        assert json.loads(workspace.ok("data", "ls", "--json").stdout)[0]["latest"] is None
        check_error(workspace.run("data", "get", "d", "-o", "-"), 2, "shredded")

    def test_refusals_destroy_nothing(self, workspace, write_file, check_error):
        write_file("d.bin", b"keep me")
        _, obj = put_new(workspace, "d.bin", "--name", "d")
        refusals = [
            (["d@1"], ["--shred"]),  # no --shred
            (["d", "--shred"], ["which version", "d@VERSION"]),  # no @VERSION
            (["d@latest", "--shred"], ["which version"]),
            (["d@9", "--shred"], ["no version 9"]),
            (["nope@1", "--shred"], ["no dataset", "nope"]),
            (["d@0", "--shred"], ["not a version number"]),
        ]
        for args, needles in refusals:
            check_error(workspace.run("data", "rm", *args), 2, *needles)
        assert obj.exists()
        assert "wrapped" in key_record(workspace.home, obj)
        assert info_json(workspace, "d@1")["shredded"] is False
        assert workspace.ok("data", "get", "d@1", "-o", "-").stdout == b"keep me"


# --------------------------------------------------------------------------------------------
# check (and gc)
# --------------------------------------------------------------------------------------------


class TestCheck:
    def test_empty_workspace_is_ok(self, workspace):
        proc = workspace.ok("data", "check")
        assert proc.stdout.decode().startswith("ok: 0 versions verified")

    def test_all_well(self, lib):
        proc = lib.ok("data", "check")
        assert proc.stdout.decode().startswith("ok: 3 versions verified")
        report = json.loads(lib.ok("data", "check", "--json").stdout)
        assert report == {
            "ok": True,
            "versions": 3,
            "bytes": report["bytes"],
            "shredded": 0,
            "problems": [],
            "orphans": [],
        }
        assert report["bytes"] > german_credit_csv().stat().st_size

    def test_tampered_object_is_exit_3_naming_the_version(self, workspace, write_file, show):
        write_file("a.bin", os.urandom(1000))
        _, a_obj = put_new(workspace, "a.bin", "--name", "a")
        write_file("b.bin", os.urandom(1000))
        put_new(workspace, "b.bin", "--name", "b")
        flip_byte(a_obj, len(a_obj.read_bytes()) // 2)

        proc = workspace.run("data", "check")
        assert proc.returncode == 3, show(proc)
        out = proc.stdout.decode()
        assert "MISMATCH a@1" in out
        assert "b@1" not in out
        assert "1 problem" in out

        proc = workspace.run("data", "check", "--json")
        assert proc.returncode == 3, show(proc)
        report = json.loads(proc.stdout)
        assert report["ok"] is False
        assert [p["ref"] for p in report["problems"]] == ["a@1"]
        assert "a@1" in report["problems"][0]["problem"]
        assert report["orphans"] == []
        assert report["versions"] == 1

    def test_missing_object(self, workspace, write_file, check_error, show):
        write_file("a.bin", b"soon gone")
        _, obj = put_new(workspace, "a.bin", "--name", "a")
        obj.unlink()
        proc = workspace.run("data", "check", "--json")
        assert proc.returncode == 3, show(proc)
        assert [p["ref"] for p in json.loads(proc.stdout)["problems"]] == ["a@1"]
        check_error(workspace.run("data", "get", "a", "-o", "out"), 3, "a@1", "missing")

    def test_orphans_are_reported_and_collected(self, workspace, write_file, show):
        write_file("a.bin", b"real")
        _, obj = put_new(workspace, "a.bin", "--name", "a")
        orphan = obj.parent.parent / "ab" / ("ab" + "0" * 30)
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_bytes(obj.read_bytes())

        proc = workspace.ok("data", "check")
        assert "gc" in proc.stderr.decode()
        report = json.loads(workspace.ok("data", "check", "--json").stdout)
        assert report["ok"] is True
        assert report["orphans"] == [orphan.name]

        proc = workspace.ok("data", "gc", "--yes")
        assert "removed 1" in proc.stdout.decode()
        assert not orphan.exists()
        assert obj.exists()
        assert json.loads(workspace.ok("data", "check", "--json").stdout)["orphans"] == []

    def test_gc_asks_before_destroying_orphans(self, workspace, write_file, check_error):
        write_file("a.bin", b"real")
        _, obj = put_new(workspace, "a.bin", "--name", "a")
        assert "removed 0" in workspace.ok("data", "gc").stdout.decode()  # nothing to destroy: no question
        orphan = obj.parent.parent / "ab" / ("ab" + "0" * 30)
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_bytes(obj.read_bytes())
        check_error(workspace.run("data", "gc"), 2, "--yes")
        assert orphan.exists()

    def test_a_deleted_catalog_is_refused_until_restored(self, workspace, write_file, check_error, tmp_path):
        """Issue 13: a deleted catalog was recreated empty, and gc then deleted every object."""
        contents = {"a@1": b"one", "a@2": b"two", "b@1": b"three"}
        for ref, data in contents.items():
            write_file("in.bin", data)
            put_new(workspace, "in.bin", "--name", ref.partition("@")[0])
        objects = stored_objects(workspace.home)
        db = workspace.home / "catalog.db"
        backup = tmp_path / "catalog.backup"
        backup.write_bytes(db.read_bytes())  # no process holds it open: the WAL was checkpointed on close
        for suffix in ("", "-wal", "-shm"):
            (workspace.home / f"catalog.db{suffix}").unlink(missing_ok=True)

        for command in (("data", "ls"), ("data", "check"), ("data", "gc", "--yes"), ("data", "get", "a", "-o", "x")):
            check_error(workspace.run(*command), 3, str(db), "missing", "restore it from a backup")
        assert not db.exists()
        assert stored_objects(workspace.home) == objects

        db.write_bytes(backup.read_bytes())
        assert "removed 0" in workspace.ok("data", "gc", "--yes").stdout.decode()
        for ref, data in contents.items():
            out = tmp_path / f"out-{ref}"
            workspace.ok("data", "get", ref, "-o", out)
            assert out.read_bytes() == data
        report = json.loads(workspace.ok("data", "check", "--json").stdout)
        assert (report["ok"], report["versions"], report["orphans"]) == (True, 3, [])


# --------------------------------------------------------------------------------------------
# tampered or corrupted objects on get
# --------------------------------------------------------------------------------------------


class TestTamperedGet:
    @pytest.fixture
    def tampered(self, workspace, write_file):
        """d@1: 2.5 MiB (three segments) whose last stored byte is flipped; the first segments still verify."""
        write_file("big.bin", os.urandom(5 * MIB // 2))
        _, obj = put_new(workspace, "big.bin", "--name", "d")
        flip_byte(obj)
        return workspace

    def test_nothing_is_written_to_out(self, tampered, tmp_path, check_error):
        before = sorted(os.listdir(tmp_path))
        check_error(tampered.run("data", "get", "d@1", "-o", "out.bin"), 3, "d@1")
        assert not (tmp_path / "out.bin").exists()
        assert sorted(os.listdir(tmp_path)) == before  # no temporary file left either

    def test_existing_out_keeps_its_content(self, tampered, tmp_path, check_error):
        (tmp_path / "out.bin").write_bytes(b"old content")
        check_error(tampered.run("data", "get", "d", "-o", "out.bin", "--force"), 3, "d@1")
        assert (tmp_path / "out.bin").read_bytes() == b"old content"

    def test_stdout_gets_nothing(self, tampered, check_error):
        # check_error insists on an empty stdout: the whole version is verified before the first byte.
        check_error(tampered.run("data", "get", "d", "-o", "-"), 3, "d@1", "tampered")

    def test_swapped_and_truncated_objects(self, workspace, write_file, check_error):
        write_file("x.bin", b"version one" * 100)
        _, one = put_new(workspace, "x.bin", "--name", "x")
        write_file("x.bin", b"version two" * 100)
        _, two = put_new(workspace, "x.bin", "--name", "x")
        two.chmod(0o600)
        two.write_bytes(one.read_bytes())  # a valid object, but another version's
        check_error(workspace.run("data", "get", "x@2", "-o", "-"), 3, "x@2")
        one.chmod(0o600)
        one.write_bytes(one.read_bytes()[:-20])
        check_error(workspace.run("data", "get", "x@1", "-o", "out"), 3, "x@1")
        assert not (workspace.cli.cwd / "out").exists()


# --------------------------------------------------------------------------------------------
# import-fernet
# --------------------------------------------------------------------------------------------


class TestImportFernet:
    PLAIN = b"id,score\n1,0.5\n2,0.75\n"

    @pytest.fixture
    def fernet_files(self, write_file):
        from cryptography.fernet import Fernet

        key = Fernet.generate_key()
        write_file("secret.key", key + b"\n")
        write_file("other.key", Fernet.generate_key())
        token = Fernet(key).encrypt_at_time(self.PLAIN, FERNET_TIME)
        write_file("scores.csv.enc", token)
        return token

    def test_imports_plaintext_with_origin_tags(self, workspace, fernet_files, tmp_path):
        proc = workspace.ok(
            "data", "import-fernet", "scores.csv.enc", "--key", "secret.key", "--name", "scores", "--tag", "team=risk"
        )
        assert out_line(proc) == ("scores@1", sha256(self.PLAIN))
        reminder = proc.stderr.decode()
        assert len(reminder.splitlines()) == 1
        assert "secret.key" in reminder
        assert "scores.csv.enc" in reminder
        assert "destroy" in reminder

        record = info_json(workspace, "scores")
        assert record["tags"] == {
            "origin": "fernet",
            "origin.file": "scores.csv.enc",
            "origin.fernet_timestamp": FERNET_TIME_TEXT,
            "team": "risk",
        }
        assert record["format"] == "csv"  # from the name without .enc
        assert record["rows"] == 2
        workspace.ok("data", "get", "scores", "-o", "back.csv")
        assert (tmp_path / "back.csv").read_bytes() == self.PLAIN

    def test_format_option(self, workspace, fernet_files):
        workspace.ok(
            "data", "import-fernet", "scores.csv.enc", "--key", "secret.key", "--name", "s", "--format", "binary"
        )
        assert info_json(workspace, "s")["format"] == "binary"

    def _assert_refused(self, workspace, check_error, args, code, *needles):
        before = stored_objects(workspace.home)
        check_error(workspace.run("data", "import-fernet", *args), code, *needles)
        assert stored_objects(workspace.home) == before

    def test_wrong_key_or_damaged_token_is_exit_3(self, workspace, fernet_files, write_file, check_error):
        workspace.ok("data", "import-fernet", "scores.csv.enc", "--key", "secret.key", "--name", "scores")
        token = bytearray(fernet_files)
        middle = len(token) // 2
        token[middle] = ord("B") if token[middle] == ord("A") else ord("A")
        write_file("flipped.enc", bytes(token))
        write_file("truncated.enc", fernet_files[:-7])
        write_file("cut-short.enc", fernet_files[:30])
        write_file("empty.enc", b"")

        self._assert_refused(workspace, check_error, ["scores.csv.enc", "--key", "other.key", "--name", "scores"], 3)
        for damaged in ("flipped.enc", "truncated.enc", "cut-short.enc", "empty.enc"):
            self._assert_refused(workspace, check_error, [damaged, "--key", "secret.key", "--name", "scores"], 3)
        # Still just the one good version, and no orphan left behind.
        assert info_json(workspace, "scores")["ref"] == "scores@1"
        listed = json.loads(workspace.ok("data", "ls", "--json").stdout)
        assert [(d["name"], d["versions"]) for d in listed] == [("scores", 1)]
        assert json.loads(workspace.ok("data", "check", "--json").stdout)["orphans"] == []
        # A brand-new name is not created either.
        check_error(workspace.run("data", "import-fernet", "flipped.enc", "--key", "secret.key", "--name", "fresh"), 3)
        check_error(workspace.run("data", "info", "fresh"), 2, "no dataset")

    def test_bad_key_file_is_exit_2(self, workspace, fernet_files, write_file, check_error):
        garbage = b"not a fernet key"
        short = base64.urlsafe_b64encode(b"sixteen byte key")
        write_file("garbage.key", garbage)
        write_file("short.key", short)
        (workspace.cli.cwd / "folder.key").mkdir()
        for key_file, needle in [
            ("garbage.key", "malformed"),
            ("short.key", "malformed"),
            ("absent.key", "does not exist"),
            ("folder.key", "folder"),
        ]:
            line = check_error(
                workspace.run("data", "import-fernet", "scores.csv.enc", "--key", key_file, "--name", "s"), 2, needle
            )
            # The key file's content is never echoed.
            assert garbage.decode() not in line
            assert short.decode() not in line
        assert stored_objects(workspace.home) == set()

    def test_missing_token_file(self, workspace, fernet_files, check_error):
        check_error(
            workspace.run("data", "import-fernet", "absent.enc", "--key", "secret.key", "--name", "s"),
            2,
            "does not exist",
        )
        (workspace.cli.cwd / "adir").mkdir()
        check_error(workspace.run("data", "import-fernet", "adir", "--key", "secret.key", "--name", "s"), 2, "adir")


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

BAD_NAMES = ["a/b", "..", ".", "x\x01y", "line\nbreak", "a\\b", "-x", "", "d@1", "x" * 129, "caf\u00e9"]


class TestBadInput:
    @pytest.mark.parametrize("name", BAD_NAMES, ids=ascii)
    def test_bad_dataset_name_on_put(self, cli, write_file, check_error, tmp_path, name):
        write_file("in.bin", b"x")
        line = check_error(cli.run("data", "put", "in.bin", "--name", name), 2, "dataset name")
        assert "\n" not in line
        assert not (tmp_path / "ws").exists()

    @pytest.mark.parametrize(
        "args",
        [["info", "a/b"], ["get", "..", "-o", "out"], ["rm", "x\x01y@1", "--shred"], ["info", "line\nbreak@1"]],
        ids=ascii,
    )
    def test_bad_dataset_name_on_other_commands(self, lib, check_error, args):
        check_error(lib.run("data", *args), 2, "dataset name")
        assert not (lib.cwd / "out").exists()

    @pytest.mark.parametrize(
        ("command", "ref", "needles"),
        [
            ("info", "nope", ["no dataset", "nope"]),
            ("get", "nope", ["no dataset", "nope"]),
            ("get", "nope@1", ["no dataset", "nope"]),
            ("info", "credit@99", ["no version 99", "credit"]),
            ("get", "credit@99", ["no version 99", "credit"]),
            ("info", "credit@0", ["not a version number"]),
            ("get", "credit@0", ["not a version number"]),
            ("get", "credit@x", ["not a version number"]),
            ("info", "credit@-1", ["not a version number"]),
            ("info", "credit@01", ["not a version number"]),
            ("info", "credit@", ["not a version number"]),
            ("info", "credit@1@2", ["not a version number"]),
        ],
        ids=lambda v: v if isinstance(v, str) else "",
    )
    def test_unknown_dataset_or_version(self, lib, check_error, command, ref, needles):
        args = ["-o", "out"] if command == "get" else []
        check_error(lib.run("data", command, ref, *args), 2, *needles)
        assert not (lib.cwd / "out").exists()

    def test_missing_input_file(self, workspace, check_error):
        check_error(workspace.run("data", "put", "absent.csv", "--name", "d"), 2, "absent.csv", "does not exist")
        assert stored_objects(workspace.home) == set()

    def test_input_is_a_folder(self, workspace, check_error):
        (workspace.cli.cwd / "adir").mkdir()
        check_error(workspace.run("data", "put", "adir", "--name", "d"), 2, "folder")
        assert stored_objects(workspace.home) == set()

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode, so chmod 000 blocks nothing")
    def test_unreadable_input_file(self, workspace, write_file, check_error):
        locked = write_file("locked.csv", b"a\n1\n")
        locked.chmod(0)
        try:
            check_error(workspace.run("data", "put", "locked.csv", "--name", "d"), 2, "permission denied")
        finally:
            locked.chmod(0o600)
        assert stored_objects(workspace.home) == set()


# --------------------------------------------------------------------------------------------
# key rotation
# --------------------------------------------------------------------------------------------


class TestRotation:
    def test_old_versions_read_back_after_rotation(self, workspace, write_file, tmp_path):
        old = os.urandom(10_000)
        write_file("d.bin", old)
        workspace.ok("data", "put", "d.bin", "--name", "d")
        workspace.ok("keys", "rotate")
        new = os.urandom(10_000)
        write_file("d.bin", new)
        proc = workspace.ok("data", "put", "d.bin", "--name", "d", "--json")
        assert json.loads(proc.stdout)["key_version"] == 2

        workspace.ok("data", "get", "d@1", "-o", "old.bin")
        assert (tmp_path / "old.bin").read_bytes() == old
        assert workspace.ok("data", "get", "d", "-o", "-").stdout == new
        # Rotation rewrapped d@1's data key: info reports the key version wrapping it now.
        assert info_json(workspace, "d@1")["key_version"] == 2
        assert json.loads(workspace.ok("data", "check", "--json").stdout)["ok"] is True


# --------------------------------------------------------------------------------------------
# progress on a terminal
# --------------------------------------------------------------------------------------------


class TestProgress:
    def test_large_put_and_get_show_a_bar_only_on_a_terminal(self, workspace, tmp_path):
        big = tmp_path / "big.bin"
        with big.open("wb") as out:  # sparse: 40 MiB of zeros without writing them
            out.truncate(40 * MIB)
        env, cwd = workspace.cli.env, workspace.cli.cwd

        code, screen = run_on_pty(["data", "put", "big.bin", "--name", "big"], env, cwd=cwd, timeout=60)
        assert code == 0, screen
        assert "storing big" in screen  # the bar's label (the summary line says "stored")
        assert "/40.0 MiB" in screen  # done/total
        code, screen = run_on_pty(["data", "get", "big", "-o", "back.bin"], env, cwd=cwd, timeout=60)
        assert code == 0, screen
        assert "restoring big@1" in screen
        assert "/40.0 MiB" in screen
        assert (tmp_path / "back.bin").stat().st_size == 40 * MIB

        # Without a terminal: no bar, only the one summary line.
        proc = workspace.ok("data", "put", "big.bin", "--name", "big", "--force")
        assert len(proc.stderr.decode().splitlines()) == 1
        assert "storing" not in proc.stderr.decode()
        proc = workspace.ok("data", "get", "big@2", "-o", "again.bin")
        assert len(proc.stderr.decode().splitlines()) == 1
        assert "restoring" not in proc.stderr.decode()
        assert (tmp_path / "again.bin").read_bytes() == big.read_bytes()

    def test_small_file_shows_no_bar_even_on_a_terminal(self, workspace, write_file):
        write_file("small.bin", b"tiny")
        code, screen = run_on_pty(
            ["data", "put", "small.bin", "--name", "small"], workspace.cli.env, cwd=workspace.cli.cwd, timeout=60
        )
        assert code == 0, screen
        assert "storing small" not in screen
        assert "small@1" in screen
