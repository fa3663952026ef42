"""tests/conftest.py finds PostgreSQL's server binaries wherever Debian puts them, for any version."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

# The root conftest, by path: ``import conftest`` could find another folder's.
_spec = importlib.util.spec_from_file_location("_root_conftest", Path(__file__).parent / "conftest.py")
assert _spec is not None
assert _spec.loader is not None
root_conftest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = root_conftest  # its dataclasses look their module up while being made
_spec.loader.exec_module(root_conftest)
postgres_bin_dirs = root_conftest.postgres_bin_dirs
postgres_binaries = root_conftest.postgres_binaries


def _tool(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)


def test_debian_folders_of_any_version_newest_first(tmp_path: Path) -> None:
    for version in ("9.6", "13", "17", "100"):
        _tool(tmp_path / "usr/lib/postgresql" / version / "bin", "initdb", "pg_ctl")
    dirs = postgres_bin_dirs("", root=tmp_path)
    assert dirs == [tmp_path / "usr/local/bin"] + [
        tmp_path / "usr/lib/postgresql" / v / "bin" for v in ("100", "17", "13", "9.6")
    ]
    found = postgres_binaries("", root=tmp_path)
    assert found == {n: str(tmp_path / "usr/lib/postgresql/100/bin" / n) for n in ("initdb", "pg_ctl")}


def test_both_tools_come_from_one_folder(tmp_path: Path) -> None:
    _tool(tmp_path / "usr/local/bin", "initdb")  # pg_ctl missing here: this folder is passed over
    _tool(tmp_path / "usr/lib/postgresql/16/bin", "initdb", "pg_ctl")
    found = postgres_binaries("", root=tmp_path)
    assert found is not None
    assert {Path(p).parent for p in found.values()} == {tmp_path / "usr/lib/postgresql/16/bin"}


def test_path_comes_first_and_nothing_found_is_none(tmp_path: Path) -> None:
    assert postgres_binaries("", root=tmp_path) is None
    _tool(tmp_path / "elsewhere", "initdb", "pg_ctl")
    _tool(tmp_path / "usr/lib/postgresql/17/bin", "initdb", "pg_ctl")
    found = postgres_binaries(str(tmp_path / "elsewhere") + os.pathsep + str(tmp_path / "nope"), root=tmp_path)
    assert found is not None
    assert found["pg_ctl"] == str(tmp_path / "elsewhere" / "pg_ctl")


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_under_ci_a_missing_postgres_fails_instead_of_skipping(ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"no server here; under CI=true the PostgreSQL tests must run"):
        root_conftest._unavailable("no server here")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_elsewhere_a_missing_postgres_skips(ci: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="no server here"):
        root_conftest._unavailable("no server here")
