"""Fixtures shared by every test folder: a throw-away PostgreSQL server for the catalog tests.

The server runs from a temporary folder, listens on a Unix socket only (no TCP port), is started
once per test process (pytest-xdist workers get their own) and stopped at the end. PostgreSQL
refuses to run as root, so under root it runs as the ``postgres`` system user. On a machine
without PostgreSQL the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_SEARCH = ["/usr/local/bin", "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]
PORT = 54329


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _SEARCH:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return None


class PostgresServer:
    def __init__(self, root: Path, user: str | None) -> None:
        self.root = root
        self.socket_dir = root / "sock"
        self._user = user
        self._admin = None

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        assert initdb is not None
        assert pg_ctl is not None
        self._run(initdb, "-D", str(self.root / "data"), "-A", "trust", "-U", "mlwarden", "--no-sync")
        options = f"-k {self.socket_dir} -p {PORT} -c listen_addresses='' -c fsync=off"
        self._run(pg_ctl, "-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        pg_ctl = _binary("pg_ctl")
        if pg_ctl is not None:
            self._run(pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(
            host=str(self.socket_dir), port=PORT, user="mlwarden", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://mlwarden@/{name}?host={self.socket_dir}&port={PORT}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if _binary("initdb") is None or _binary("pg_ctl") is None:
        pytest.skip("PostgreSQL is not installed on this machine (initdb, pg_ctl)")
    pytest.importorskip("psycopg")
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="mlwarden-pg-"))
    (root / "sock").mkdir()
    if user is not None:
        info = pwd.getpwnam(user)
        for path in (root, root / "sock"):
            os.chown(path, info.pw_uid, info.pw_gid)
    server = PostgresServer(root, user)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
