""".ci/run finds PostgreSQL as tests/conftest.py does, and installs it only when it is missing.

The script runs in its dry-run mode (``MLWARDEN_CI_DRY_RUN=1``: it says what it would do) against a
fake root (``MLWARDEN_CI_ROOT``) and a PATH without PostgreSQL, so nothing is installed or run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "run"
pytestmark = [
    pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash"),
    # The dry runs search PATH=/usr/bin:/bin first: a system with PostgreSQL there (Fedora, Arch)
    # would find it, and the "missing" cases cannot be staged.
    pytest.mark.skipif(
        shutil.which("initdb", path="/usr/bin:/bin") is not None, reason="PostgreSQL is installed in /usr/bin"
    ),
]


def _tools(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)


def _dry_run(root: Path, path: str = "/usr/bin:/bin") -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MLWARDEN_CI_ROOT", "MLWARDEN_CI_DRY_RUN")}
    env.update(PATH=path, MLWARDEN_CI_ROOT=str(root), MLWARDEN_CI_DRY_RUN="1")
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_missing_postgres_is_installed_from_debian_packages_then_make_test(tmp_path: Path) -> None:
    (tmp_path / "usr/lib/postgresql/16/bin").mkdir(parents=True)  # a folder without the tools
    out = _dry_run(tmp_path)
    assert "PostgreSQL not found; would run: apt-get update && apt-get install -y" in out
    assert "postgresql" in out.splitlines()[0]
    assert out.splitlines()[-1] == ".ci/run: would run: make test (CI=true)"


def test_debian_binaries_of_any_version_are_found_newest_first(tmp_path: Path) -> None:
    for version in ("9.6", "13", "100"):
        _tools(tmp_path / "usr/lib/postgresql" / version / "bin")
    (tmp_path / "usr/lib/postgresql/200/bin").mkdir(parents=True)  # no tools: passed over
    out = _dry_run(tmp_path)
    assert f"PostgreSQL found in {tmp_path}/usr/lib/postgresql/100/bin" in out
    assert "apt-get" not in out


def test_path_and_usr_local_come_before_debian_folders(tmp_path: Path) -> None:
    _tools(tmp_path / "usr/lib/postgresql/17/bin")
    _tools(tmp_path / "usr/local/bin")
    assert f"found in {tmp_path}/usr/local/bin" in _dry_run(tmp_path)
    _tools(tmp_path / "on-path")
    assert f"found in {tmp_path}/on-path" in _dry_run(tmp_path, f"{tmp_path}/on-path:/usr/bin:/bin")
