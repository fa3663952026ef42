"""What every test folder shares: hypothesis profiles, the run order, and a throw-away PostgreSQL server.

Hypothesis profiles: ``ci`` (chosen under ``CI=true``) and ``dev`` (elsewhere); ``HYPOTHESIS_PROFILE``
picks one by name. Both run without a deadline (a loaded 2-core machine makes timing flaky, and
the suite has no timed assertions); ``ci`` prints the blob that reproduces a failure and keeps no
example database (a fresh CI clone would only write it and throw it away). A test's own
``@settings(max_examples=...)`` wins over a profile; the profiles set the count of those without.

Run order: the few longest tests (crash loops, 5 GiB files, servers) run first, longest first, so
that pytest-xdist's two workers share them out at the start and finish together,
instead of one worker running a multi-minute test alone at the end while the other waits.

PostgreSQL:

The server runs from a temporary folder, listens on a Unix socket only (no TCP port), is started
once per test process (pytest-xdist workers get their own) and stopped at the end. PostgreSQL
refuses to run as root, so under root it runs as the ``postgres`` system user. Its binaries are
found on PATH, in /usr/local/bin, or where Debian's packages put them (/usr/lib/postgresql/N/bin,
any version N, newest first); ``initdb`` and ``pg_ctl`` always come from the same folder. On a
machine without PostgreSQL the tests that need it are skipped, saying why, except under ``CI=true``
(``.ci/run`` installs PostgreSQL first): there a missing server fails the test, so the PostgreSQL
path can never silently go untested.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Before any test imports scikit-learn (which loads OpenMP), one OpenMP/BLAS thread per test process:
# pytest-xdist runs two workers on two cores, and scikit-learn's gradient boosting with two OpenMP
# threads in each (busy-waiting for each other) ran the audit tests 100x slower.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

PORT = 54329
_TOOLS = ("initdb", "pg_ctl")


def _version_key(folder: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/17/bin`` -> (17,); a folder whose version is not a number sorts last."""
    parts = folder.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (-1,)


def postgres_bin_dirs(path: str | None = None, root: Path = Path("/")) -> list[Path]:
    """Folders to look for PostgreSQL's server binaries in, in order: ``path`` (default: PATH),
    /usr/local/bin, then every Debian ``/usr/lib/postgresql/*/bin``, newest version first."""
    folders = [Path(p) for p in (os.environ.get("PATH", "") if path is None else path).split(os.pathsep) if p]
    folders.append(root / "usr/local/bin")
    folders.extend(sorted((root / "usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True))
    return folders


def postgres_binaries(path: str | None = None, root: Path = Path("/")) -> dict[str, str] | None:
    """``{"initdb": ..., "pg_ctl": ...}`` from the first folder that holds both, or None."""
    for folder in postgres_bin_dirs(path, root):
        found = {name: folder / name for name in _TOOLS}
        if all(p.is_file() and os.access(p, os.X_OK) for p in found.values()):
            return {name: str(p) for name, p in found.items()}
    return None


def _binary(name: str) -> str | None:
    found = postgres_binaries()
    return None if found is None else found[name]


def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``, or ``CI=1``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _unavailable(reason: str) -> None:
    """Skip, or under CI=true fail: CI must run the PostgreSQL tests, never skip them."""
    if in_ci():
        pytest.fail(f"{reason}; under CI=true the PostgreSQL tests must run (.ci/run installs PostgreSQL)")
    pytest.skip(reason)


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


settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    print_blob=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))

# The longest tests, costliest first (measured on 2 cores); they run first, then every other test
# in collection order. Only these move: moving a test away from its module would set up that
# module's fixtures twice.
_LONGEST = (
    "tests/store/test_put_crash.py",
    "tests/store/test_large_data.py",
    "tests/test_rotation_crash.py::test_rotation_survives_sigkill",
    "tests/serve/test_openapi_fuzz.py",
    "tests/store/test_concurrent_puts.py",
    "tests/cli/test_cli_models.py::test_train_inspect_export_and_tamper",
    "tests/serve/test_tls_and_workers.py",
    "tests/serve/test_startup.py::test_check_exit_codes_and_json",
    "tests/test_workspace.py::test_concurrent_sealing_and_rotation",
    "tests/cli/test_cli_crash.py::test_sigkill_during_decrypt_leaves_nothing",
)


def _rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(_LONGEST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(_LONGEST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Stable: within a rank, collection order. Every xdist worker sorts the same way.
    items.sort(key=_rank)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if postgres_binaries() is None:
        _unavailable("PostgreSQL is not installed on this machine (initdb, pg_ctl)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[test]')")
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user to run PostgreSQL as")
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


# -- four eyes and retraining ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Governed:
    """A workspace with a champion in production, for the four-eyes and retraining tests (see ``governed``)."""

    settings: Any  # mlwarden.config.Settings
    tokens: dict[str, str]  # principal name -> token

    def open(self, who: str | None = None) -> Any:
        """The workspace as ``who`` (a principal's name; ``None``: the first admin)."""
        import mlwarden

        return mlwarden.Workspace.open(settings=self.settings, token=None if who is None else self.tokens[who])

    def copy(self, to: Path) -> Governed:
        shutil.copytree(self.settings.home, to)
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, home=to))


GOVERNED_EXPLANATION = {
    "background": "near-cutoff",
    "background_rows": 40,
    "adverse_class": "bad",
    "reason_map": {
        "version": 1,
        "reasons": {"duration_in_month": "Length of the loan"},
        "not_reasons": ["age_in_years"],
    },
    "protected": ["personal_status_and_sex"],
}
"""The explanation settings the champion was trained with (a retrain must carry them over)."""


@pytest.fixture(scope="session")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Governed:
    """``credit@1`` (the German credit data) and ``credit@2`` (the same rows in reverse order: another
    version, whose audit passes too), both audited; ``credit-risk@1`` trained on ``credit@1`` by the
    scientist ``sci`` (with :data:`GOVERNED_EXPLANATION`), approved by the reviewer ``rev`` and
    promoted by the deployer ``dep``. Tests copy it (each audit of the data costs seconds)."""
    import base64

    import pandas as pd

    import mlwarden
    from mlwarden.config import Settings
    from mlwarden.usecases import german_credit_csv

    home = tmp_path_factory.mktemp("governed") / "ws"
    settings = Settings(home=home, master_key=base64.b64encode(os.urandom(32)).decode())
    tokens: dict[str, str] = {}
    reversed_rows = pd.read_csv(german_credit_csv()).iloc[::-1].to_csv(index=False).encode()
    with mlwarden.Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(german_credit_csv(), name="credit")
        ws.datasets.put(reversed_rows, name="credit", format="csv")
        for name, role in (("sci", "scientist"), ("rev", "reviewer"), ("dep", "deployer")):
            _, tokens[name] = ws.users.add(name, role)
    governed = Governed(settings, tokens)
    with governed.open("sci") as sci:
        sci.data_audits.run("credit", "creditability", version=2)
        sci.models.train("credit-risk", "credit", "creditability", dataset_version=1, explanation=GOVERNED_EXPLANATION)
    with governed.open("rev") as rev:
        rev.models.approve("credit-risk", 1, note="validation report VR-1")
    with governed.open("dep") as dep:
        dep.models.promote("credit-risk", 1, "production")
    return governed
