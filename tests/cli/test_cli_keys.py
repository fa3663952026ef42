"""End-to-end tests of ``mlwarden keys`` (ls, rotate, destroy, generate) in real subprocesses."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest


def ls_json(ws) -> dict:
    proc = ws.ok("keys", "ls", "--json")
    return json.loads(proc.stdout)


def record_path(ws, envelope):
    """The workspace's data key record of an envelope file (named by the object id in its header)."""
    object_id = envelope.read_bytes()[28:44].hex()
    return ws.home / "keys" / "data" / object_id[:2] / f"{object_id}.json"


def table_rows(stdout: bytes) -> list[list[str]]:
    lines = stdout.decode().splitlines()
    assert lines[0].split() == ["VERSION", "CREATED", "DATA", "KEYS", "STATE"]
    return [line.split() for line in lines[1:]]


class TestLs:
    def test_fresh_workspace(self, workspace, show):
        proc = workspace.run("keys", "ls")
        assert proc.returncode == 0, show(proc)
        rows = table_rows(proc.stdout)
        assert len(rows) == 1
        version, created, data_keys, state = rows[0]
        assert version == "1"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
        assert data_keys == "0"
        assert state == "primary"
        assert proc.stderr == b""

    def test_json(self, workspace):
        data = ls_json(workspace)
        assert data["primary"] == 1
        assert data["key_source"] == "env"
        assert [v["version"] for v in data["versions"]] == [1]
        (v1,) = data["versions"]
        assert v1["primary"] is True
        assert v1["data_keys"] == 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v1["created"])

    def test_after_rotations(self, workspace):
        workspace.ok("keys", "rotate")
        workspace.ok("keys", "rotate")
        rows = table_rows(workspace.ok("keys", "ls").stdout)
        assert [(r[0], r[3]) for r in rows] == [
            ("1", "decrypt-only"),
            ("2", "decrypt-only"),
            ("3", "primary"),
        ]
        data = ls_json(workspace)
        assert data["primary"] == 3
        assert [(v["version"], v["primary"]) for v in data["versions"]] == [(1, False), (2, False), (3, True)]

    def test_no_workspace(self, cli, check_error):
        check_error(cli.run("keys", "ls"), 2, "mlwarden init")


class TestRotate:
    def test_increments_primary_and_reports_rewrapped(self, workspace, show):
        for expected in (2, 3, 4):
            proc = workspace.run("keys", "rotate")
            assert proc.returncode == 0, show(proc)
            out = proc.stdout.decode()
            assert re.search(rf"key version {expected} is primary", out), out
            assert re.search(r"\b0 data keys rewrapped", out), out
            assert workspace.keyring()["primary"] == expected

    def test_json(self, workspace):
        data = json.loads(workspace.ok("keys", "rotate", "--json").stdout)
        assert data == {"primary": 2, "rewrapped": 0}

    def test_rewraps_the_data_keys_of_encrypted_files(self, workspace, tmp_path, show):
        for i in range(3):
            (tmp_path / f"p{i}").write_bytes(os.urandom(100))
            workspace.ok("encrypt", f"p{i}", "-o", f"c{i}.mlw")
        counts = {v["version"]: v["data_keys"] for v in ls_json(workspace)["versions"]}
        assert counts == {1: 3}
        proc = workspace.run("keys", "rotate")
        assert proc.returncode == 0, show(proc)
        assert "key version 2 is primary; 3 data keys rewrapped" in proc.stdout.decode()
        counts = {v["version"]: v["data_keys"] for v in ls_json(workspace)["versions"]}
        assert counts == {1: 0, 2: 3}
        rows = table_rows(workspace.ok("keys", "ls").stdout)
        assert [(r[0], r[2], r[3]) for r in rows] == [("1", "0", "decrypt-only"), ("2", "3", "primary")]
        assert json.loads(workspace.ok("keys", "rotate", "--json").stdout) == {"primary": 3, "rewrapped": 3}
        for i in range(3):
            workspace.ok("decrypt", f"c{i}.mlw", "-o", f"back{i}")
            assert (tmp_path / f"back{i}").read_bytes() == (tmp_path / f"p{i}").read_bytes()

    def test_new_files_use_new_primary(self, workspace, write_file, show):
        src = write_file("p", b"data")
        workspace.ok("keys", "rotate")
        proc = workspace.run("encrypt", src, "-o", "c.mlw")
        assert "key version 2" in proc.stderr.decode(), show(proc)
        header = (src.parent / "c.mlw").read_bytes()[:12]
        assert int.from_bytes(header[8:12], "big") == 2

    def test_keyring_stays_private(self, workspace):
        workspace.ok("keys", "rotate")
        path = workspace.home / "keys" / "keyring.json"
        assert path.stat().st_mode & 0o777 == 0o600
        assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]

    def test_wrong_key_cannot_rotate(self, workspace, make_key, check_error):
        before = (workspace.home / "keys" / "keyring.json").read_bytes()
        check_error(workspace.cli.run("keys", "rotate", env={"MLWARDEN_MASTER_KEY": make_key()}), 3)
        assert (workspace.home / "keys" / "keyring.json").read_bytes() == before


class TestDestroy:
    def test_destroy_old_version(self, workspace, tmp_path, check_error, show):
        """After a rotation and ``keys destroy 1``, a file made under version 1 whose data key
        record the workspace no longer holds (only the header's wrap, under version 1, is left)
        can never be decrypted again; files whose record was rewrapped by the rotation still can."""
        (tmp_path / "p1").write_bytes(b"made under version 1, record lost")
        workspace.ok("encrypt", "p1", "-o", "c1.mlw")
        (tmp_path / "p1k").write_bytes(b"made under version 1, record kept")
        workspace.ok("encrypt", "p1k", "-o", "c1k.mlw")
        lost = record_path(workspace, tmp_path / "c1.mlw")
        assert lost.is_file()
        lost.unlink()  # as if the workspace were restored from a backup older than the file
        # The header's wrap still opens it while version 1 exists.
        workspace.ok("decrypt", "c1.mlw", "-o", "still-readable")
        assert (tmp_path / "still-readable").read_bytes() == b"made under version 1, record lost"

        workspace.ok("keys", "rotate")
        (tmp_path / "p2").write_bytes(b"made under version 2")
        workspace.ok("encrypt", "p2", "-o", "c2.mlw")

        proc = workspace.run("keys", "destroy", "1", "--yes")
        assert proc.returncode == 0, show(proc)
        assert "destroyed key version 1" in proc.stdout.decode()

        data = ls_json(workspace)
        assert [v["version"] for v in data["versions"]] == [2]
        assert data["primary"] == 2

        outdir = tmp_path / "out"
        outdir.mkdir()
        check_error(workspace.run("decrypt", "c1.mlw", "-o", outdir / "p1"), 3)
        assert os.listdir(outdir) == []
        workspace.ok("decrypt", "c1k.mlw", "-o", outdir / "p1k")
        assert (outdir / "p1k").read_bytes() == b"made under version 1, record kept"
        workspace.ok("decrypt", "c2.mlw", "-o", outdir / "p2")
        assert (outdir / "p2").read_bytes() == b"made under version 2"

    def test_destroy_primary_refused(self, workspace, check_error):
        check_error(workspace.run("keys", "destroy", "1", "--yes"), 2, "primary")
        workspace.ok("keys", "rotate")
        check_error(workspace.run("keys", "destroy", "2", "--yes"), 2, "primary")
        assert [v["version"] for v in ls_json(workspace)["versions"]] == [1, 2]

    @pytest.mark.parametrize("version", ["9", "0", "-1"])
    def test_destroy_unknown_version(self, workspace, check_error, version):
        workspace.ok("keys", "rotate")
        check_error(workspace.run("keys", "destroy", "--yes", "--", version), 2)
        assert [v["version"] for v in ls_json(workspace)["versions"]] == [1, 2]

    def test_destroy_twice(self, workspace, check_error):
        workspace.ok("keys", "rotate")
        workspace.ok("keys", "destroy", "1", "--yes")
        check_error(workspace.run("keys", "destroy", "1", "--yes"), 2, "1")

    def test_destroy_not_an_integer(self, workspace, check_error):
        check_error(workspace.run("keys", "destroy", "one", "--yes"), 2, "VERSION")

    def test_destroy_without_yes_and_no_terminal_destroys_nothing(self, workspace, show):
        workspace.ok("keys", "rotate")
        proc = workspace.run("keys", "destroy", "1")
        assert proc.returncode != 0, show(proc)
        assert "Traceback" not in proc.stderr.decode()
        assert [v["version"] for v in ls_json(workspace)["versions"]] == [1, 2]

    def test_destroy_without_a_terminal_needs_yes(self, workspace, check_error):
        # A "y" piped in is not a person confirming: without a terminal only --yes destroys.
        workspace.ok("keys", "rotate")
        proc = workspace.run("keys", "destroy", "1", input=b"y\n")
        check_error(proc, 2)
        assert "--yes" in proc.stderr.decode()
        assert [v["version"] for v in ls_json(workspace)["versions"]] == [1, 2]
        workspace.ok("keys", "destroy", "1", "--yes")
        assert [v["version"] for v in ls_json(workspace)["versions"]] == [2]

    def test_rotate_after_destroy_keeps_counting_up(self, workspace):
        workspace.ok("keys", "rotate")
        workspace.ok("keys", "rotate")
        workspace.ok("keys", "destroy", "1", "--yes")
        workspace.ok("keys", "destroy", "2", "--yes")
        assert json.loads(workspace.ok("keys", "rotate", "--json").stdout)["primary"] == 4
        assert [v["version"] for v in ls_json(workspace)["versions"]] == [3, 4]


class TestGenerate:
    def test_prints_base64_of_32_bytes(self, bare_cli, show):
        seen = set()
        for _ in range(2):
            proc = bare_cli.run("keys", "generate")
            assert proc.returncode == 0, show(proc)
            assert proc.stderr == b""
            text = proc.stdout.decode()
            assert text.endswith("\n")
            assert len(text.splitlines()) == 1
            key = base64.b64decode(text.strip(), validate=True)
            assert len(key) == 32
            seen.add(text)
        assert len(seen) == 2

    def test_needs_no_workspace_and_no_key(self, bare_cli, tmp_path):
        bare_cli.ok("keys", "generate")
        assert os.listdir(tmp_path) == []

    def test_generated_key_unlocks_a_new_workspace(self, bare_cli, tmp_path, make_key, check_error, show):
        key = bare_cli.ok("keys", "generate").stdout.decode().strip()
        ws = bare_cli.with_env(MLWARDEN_MASTER_KEY=key, MLWARDEN_HOME=str(tmp_path / "ws"))
        proc = ws.run("init", "--key-source", "env")
        assert proc.returncode == 0, show(proc)
        (tmp_path / "p").write_bytes(b"hello")
        ws.ok("encrypt", "p", "-o", "c.mlw")
        ws.ok("decrypt", "c.mlw", "-o", "back")
        assert (tmp_path / "back").read_bytes() == b"hello"
        # Surrounding whitespace (as from `$(mlwarden keys generate)` or a .env file) is tolerated.
        ws.with_env(MLWARDEN_MASTER_KEY=f" {key}\n").ok("keys", "ls")
        check_error(ws.with_env(MLWARDEN_MASTER_KEY=make_key()).run("keys", "ls"), 3)
