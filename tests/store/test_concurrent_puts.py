"""Processes putting into one dataset at the same time never corrupt the catalog or lose a version.

Each test starts several real processes on one workspace and releases them at the same moment: each
driver (a small script run with ``python -c``) opens the workspace and its catalog first, prints
``ready``, and starts putting only when the test writes a line to its stdin, so the interpreter's
start-up does not spread them apart. Content is derived from a tag and an index
(``shake_256("tag/i")``, 8 to 200 KiB), so the test can regenerate the exact bytes each printed
version must hold. One test drives the CLI itself instead (``mlwarden data put`` loops on threads).

Afterwards: versions are exactly 1..total with no gap or duplicate, every version a process was
given holds byte-for-byte the content that process put, ``Datasets.check()`` is ok with no orphan,
there is exactly one object file per version, and SQLite's ``PRAGMA integrity_check`` passes.
Two processes putting identical content at the same moment make exactly one version, the loser
discarding its object; puts alongside key rotations in another process leave every data key on the
newest key version. Opening a brand-new catalog while another connection holds its write lock
waits instead of failing (switching to WAL is retried: SQLite does not wait for that lock itself).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from store_processes import assert_sqlite_intact, workspace_env

from mlwarden import Workspace
from mlwarden.catalog import Catalog
from mlwarden.config import Settings

NAME = "shared"
TIMEOUT_S = 120

# Must build the same bytes as _content() below.
DRIVER = r"""
import hashlib, os, sys, time
from pathlib import Path
from mlwarden import Workspace
from mlwarden.catalog import Catalog
from mlwarden.config import Settings
from mlwarden.errors import Unavailable

def content(tag, i):
    return hashlib.shake_256(f"{tag}/{i}".encode()).digest(8192 + (i * 7919 + len(tag) * 104729) % (192 * 1024))

home, name, mode, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ws = Workspace.open(home, settings=Settings(home=Path(home), master_key=os.environ["MLWARDEN_MASTER_KEY"]))
store = ws.datasets
store.list()  # the catalog is open before the start signal
print("ready", flush=True)

def report(result, i):
    v = result.version
    print(v.version, int(result.created), i, v.sha256, v.object_id, v.key_version, flush=True)

if mode == "distinct":
    sys.stdin.readline()
    for i in range(count):
        report(store.put(content(tag, i), name=name), i)
elif mode == "lockstep":  # one put of content("same", i) per line i on stdin
    for line in sys.stdin:
        i = int(line)
        report(store.put(content(tag, i), name=name), i)
elif mode == "rotate":
    sys.stdin.readline()
    for _ in range(count):
        rotation = ws.keys.rotate()
        print(rotation.new_version, rotation.rewrapped, flush=True)
        time.sleep(0.03)
ws.close()
"""


def _content(tag: str, i: int) -> bytes:
    return hashlib.shake_256(f"{tag}/{i}".encode()).digest(8192 + (i * 7919 + len(tag) * 104729) % (192 * 1024))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Home:
    """A fresh env-key workspace and ways to open it, in this process and in drivers."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "ws"
        self.key = base64.b64encode(os.urandom(32)).decode()
        self.env = workspace_env(self.path, self.key)
        with Workspace.init(self.path, settings=self._settings()) as ws:
            # Create the catalog (in WAL mode) now: processes opening a brand-new catalog at the
            # same moment can fail, which test_first_open_of_a_fresh_catalog_waits_for_a_writer shows.
            ws.datasets.list()

    def _settings(self) -> Settings:
        return Settings(home=self.path, master_key=self.key)

    @contextmanager
    def open(self) -> Iterator[Workspace]:
        ws = Workspace.open(self.path, settings=self._settings())
        try:
            yield ws
        finally:
            ws.close()

    def driver(self, mode: str, tag: str, count: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(self.path), NAME, mode, tag, str(count)],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def object_files(self) -> list[str]:
        return sorted(p.name for p in (self.path / "objects").rglob("*") if p.is_file())


def _ready(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != "ready\n":
            proc.kill()
            _, err = proc.communicate(timeout=TIMEOUT_S)
            pytest.fail(f"a driver did not start: {line!r}\n{err}")


def _go(procs: list[subprocess.Popen[str]], line: str = "go") -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()


def _finish(proc: subprocess.Popen[str]) -> list[list[str]]:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err
    return [line.split() for line in out.splitlines()]


def _check_store(home: _Home, expected: dict[int, bytes]) -> None:
    """Versions are exactly 1..len(expected), each holding its bytes; the store checks clean."""
    with home.open() as ws:
        versions = ws.datasets.versions(NAME)
        assert sorted(v.version for v in versions) == list(range(1, len(expected) + 1))
        assert sorted(expected) == list(range(1, len(expected) + 1))
        for v in versions:
            assert v.sha256 == _sha(expected[v.version]), f"{v.ref} holds another process's content"
            assert ws.datasets.read_bytes(NAME, v.version) == expected[v.version], v.ref
        report = ws.datasets.check()
        assert report.ok, report.problems
        assert report.orphans == ()
        assert report.versions == len(expected)
        assert len(home.object_files()) == len(expected)
        assert len({v.object_id for v in versions}) == len(expected)
    assert_sqlite_intact(home.path / "catalog.db")


def _interleavings(owners: list[str]) -> int:
    return sum(1 for a, b in itertools.pairwise(owners) if a != b)


@pytest.mark.parametrize(("processes", "puts"), [(2, 30), (4, 25)])
def test_simultaneous_puts_keep_every_version(tmp_path: Path, processes: int, puts: int) -> None:
    home = _Home(tmp_path)
    tags = [f"p{n}" for n in range(processes)]
    procs = [home.driver("distinct", tag, puts) for tag in tags]
    _ready(procs)
    _go(procs)
    expected: dict[int, bytes] = {}
    owner: dict[int, str] = {}
    for tag, proc in zip(tags, procs, strict=True):
        lines = _finish(proc)
        assert len(lines) == puts
        for version, created, i, sha, *_ in lines:
            content = _content(tag, int(i))
            assert created == "1"
            assert sha == _sha(content)
            assert int(version) not in expected, f"{NAME}@{version} was given to two puts"
            expected[int(version)] = content
            owner[int(version)] = tag
    assert len(expected) == processes * puts
    _check_store(home, expected)
    # They really ran at the same time: the numbers interleave.
    switches = _interleavings([owner[v] for v in sorted(owner)])
    print(f"{processes} processes: the owner changes {switches} times along versions 1..{len(owner)}")
    assert switches >= 2


def test_simultaneous_cli_puts_keep_every_version(tmp_path: Path) -> None:
    home = _Home(tmp_path)
    puts = 10
    tags = ["cli-a", "cli-b"]
    for tag in tags:
        for i in range(puts):
            (tmp_path / f"{tag}-{i}.bin").write_bytes(_content(tag, i))
    barrier = threading.Barrier(len(tags))
    results: dict[str, list[subprocess.CompletedProcess[bytes]]] = {tag: [] for tag in tags}

    def loop(tag: str) -> None:
        barrier.wait()
        for i in range(puts):
            results[tag].append(
                subprocess.run(
                    [sys.executable, "-m", "mlwarden", "data", "put", str(tmp_path / f"{tag}-{i}.bin"), "--name", NAME],
                    env=home.env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=TIMEOUT_S,
                    check=False,
                )
            )

    threads = [threading.Thread(target=loop, args=(tag,)) for tag in tags]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected: dict[int, bytes] = {}
    for tag in tags:
        assert len(results[tag]) == puts
        for i, proc in enumerate(results[tag]):
            assert proc.returncode == 0, proc.stderr.decode()
            ref, digest = proc.stdout.decode().split()
            name, version = ref.split("@")
            assert name == NAME
            assert digest == f"sha256:{_sha(_content(tag, i))}"
            assert "stored" in proc.stderr.decode()
            assert int(version) not in expected, f"{ref} was given to two puts"
            expected[int(version)] = _content(tag, i)
    _check_store(home, expected)
    listing = subprocess.run(
        [sys.executable, "-m", "mlwarden", "data", "ls", "--json"], env=home.env, capture_output=True, check=True
    )
    [summary] = json.loads(listing.stdout)
    assert summary["name"] == NAME
    assert summary["versions"] == 2 * puts


def test_identical_content_at_the_same_moment_makes_one_version(tmp_path: Path) -> None:
    home = _Home(tmp_path)
    rounds = 20
    procs = [home.driver("lockstep", "same", 0) for _ in range(2)]
    _ready(procs)
    expected: dict[int, bytes] = {}
    for r in range(rounds):
        _go(procs, str(r))
        answers = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                _finish(proc)
                pytest.fail("a driver stopped")
            answers.append(line.split())
        content = _content("same", r)
        # Both name the same, single new version; exactly one of them made it.
        assert {a[0] for a in answers} == {str(r + 1)}, answers
        assert sorted(a[1] for a in answers) == ["0", "1"], answers
        assert {a[3] for a in answers} == {_sha(content)}
        assert len({a[4] for a in answers}) == 1, "the loser reported its own object"
        expected[r + 1] = content
    for proc in procs:
        assert _finish(proc) == []  # communicate() closes its stdin: the driver ends
    _check_store(home, expected)
    with home.open() as ws:
        live = {v.object_id for v in ws.datasets.versions(NAME)}
        assert set(home.object_files()) == live  # every loser discarded its object
        # Losers that got as far as the catalog transaction left a shredded data key behind.
        discarded = [r for r in ws._data_keys.records() if r.shredded is not None]
        assert all(r.shredded_by == "mlwarden (uncommitted put)" for r in discarded)
        assert {r.object_id.hex() for r in discarded}.isdisjoint(live)
        print(f"{len(discarded)} of {rounds} losers lost in the catalog transaction, the rest before it")
        assert discarded, "no round raced as far as the catalog transaction; the test proved little"


def test_key_rotation_while_putting(tmp_path: Path) -> None:
    home = _Home(tmp_path)
    puts, rotations = 25, 6
    tags = ["r0", "r1"]
    putters = [home.driver("distinct", tag, puts) for tag in tags]
    rotator = home.driver("rotate", "-", rotations)
    _ready([*putters, rotator])
    _go([*putters, rotator])
    expected: dict[int, bytes] = {}
    key_versions: set[int] = set()
    for tag, proc in zip(tags, putters, strict=True):
        for version, created, i, sha, _object_id, key_version in _finish(proc):
            assert created == "1"
            assert sha == _sha(_content(tag, int(i)))
            expected[int(version)] = _content(tag, int(i))
            key_versions.add(int(key_version))
    rotated = _finish(rotator)
    assert [int(line[0]) for line in rotated] == list(range(2, rotations + 2))
    assert len(expected) == len(tags) * puts
    assert len(key_versions) >= 2, "no put overlapped a rotation"
    print(f"versions were made under key versions {sorted(key_versions)}")
    _check_store(home, expected)
    with home.open() as ws:
        # Keys that existed at the last rotation were rewrapped by it, and puts after it wrapped
        # theirs under the new primary: none is left under an older version, even before a final rotate.
        newest = rotations + 1
        assert {i.version: i.data_keys for i in ws.keys.versions() if i.data_keys} == {newest: len(expected)}
        final = ws.keys.rotate()
        assert final.new_version == rotations + 2
        infos = ws.keys.versions()
        assert [i.version for i in infos if i.primary] == [final.new_version]
        assert {i.version: i.data_keys for i in infos if i.data_keys} == {final.new_version: len(expected)}
        for number, content in expected.items():
            assert ws.datasets.read_bytes(NAME, number) == content
    _check_store(home, expected)


def test_first_open_of_a_fresh_catalog_waits_for_a_writer(tmp_path: Path) -> None:
    # Two processes doing their first put in a new workspace both open a brand-new catalog.db and
    # switch it to WAL; for an instant one holds a write lock on the file in rollback-journal mode.
    # Here another connection holds that lock for 0.3 s: opening should wait for it (the catalog's
    # busy timeout is 60 s), not fail.
    db = tmp_path / "catalog.db"
    db.touch()
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, args=("ROLLBACK",))
    release.start()
    try:
        Catalog.open_sqlite(db).close()
    finally:
        release.join()
        other.close()
