"""A large dataset goes through ``mlwarden data put`` and ``data get`` with peak RSS under 200 MiB.

The issue's requirement: "``put`` and ``get`` stream: a 5 GiB file keeps peak RSS under 200 MiB."
The suite runs it on 512 MiB (2.5 times the bound: a put or get that held the file, or any fixed
fraction of it above two fifths, fails), to keep ``make test`` within its time; ``make bench`` runs
the same test on 5 GiB.
Both commands run as real CLI processes, and each one's own peak resident set size is read from
``wait4`` once it exits. Two inputs: random bytes (format ``binary``: the pure streaming path) and a
CSV (the put also runs the pyarrow schema sniffer on its thread, over all 5 GiB).

How the peak is measured
    ``ru_maxrss`` is not reset by ``exec``: Linux carries the high-water mark of the memory map
    that ``exec`` replaces into the new program, and a child started with ``vfork``/``posix_spawn``
    (as :mod:`subprocess` does) replaces its *parent's* map. A CLI started straight from pytest
    would so report at least pytest's own peak (easily 200 MiB+ in a worker that has loaded pandas
    and pyarrow for other tests). So each command is started by a tiny ``python -c`` wrapper
    (stdlib only, about 10 MiB) that spawns the CLI, collects it with ``os.wait4`` (the rusage of
    that one child) and prints the figure as JSON. The most the wrapper can add is its own ~10 MiB,
    and a probe child that touches 256 MiB checks that the figure is not too low either.

The inputs
    Binary: 80 copies of one 64 MiB block of ``os.urandom`` bytes, each copy stamped with its index
    in its first 8 bytes, so that no two 64 MiB stretches are equal (a segment swapped, dropped or
    repeated by the store would change the SHA-256). CSV: a header, then copies of one ~16 MiB block
    of random rows (int, two floats, date, bool, two strings), each copy led by a row of its own.
    Neither is a sparse or all-zero file: such a file reads without disk I/O and from the kernel's
    shared zero page, so it would test less (and a bug that, say, handed on a stale buffer would
    go unseen on zeros). Writing either costs about as much as ``cp`` of 5 GiB, and the random
    content is made only once per block.

Disk
    Everything lives under ``tmp_path`` on a real disk (not /dev/shm, whose pages would take RAM
    from the machine). The input is deleted as soon as ``put`` has stored it (its SHA-256 is known
    from writing it), and the output as soon as it has been hashed, so at most two 5 GiB files exist
    at a time. The test skips, saying so, when the disk has less than 2 x 5 GiB + 1 GiB free.

``MLWARDEN_TEST_LARGE_SIZE`` (bytes, default 512 MiB) sets the size (``make bench``: 5 GiB).
Measured on a 2-core AMD EPYC VM with an ext4 disk, under load from other tests: binary 42-65 s, CSV
50-54 s (1.5-2 min for both, in series); writing the input and the sniffer's pace dominate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from store_processes import workspace_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB and /proc: Linux only"),
]

MIB = 1 << 20
GIB = 1 << 30
SIZE = int(os.environ.get("MLWARDEN_TEST_LARGE_SIZE", str(GIB // 2)))
BLOCK = 64 * MIB
CSV_BLOCK = 16 * MIB
RSS_LIMIT_MIB = 200
TIMEOUT_S = 900
CSV_COLUMNS = [
    ("id", "int64"),
    ("amount", "double"),
    ("score", "double"),
    ("day", "date32[day]"),
    ("active", "bool"),
    ("category", "string"),
    ("customer", "string"),
]

# Spawns argv[1:], waits for it with wait4 and prints its exit code, own peak RSS and wall time.
_WRAPPER = """\
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open("/proc/self/status") as f:
    hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), -1)
sys.stdout.flush()
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss,
                  "seconds": seconds, "wrapper_hwm_kib": hwm}))
"""


def _measured(env: dict[str, str], cwd: Path, *argv: str | Path) -> tuple[dict[str, Any], str, str]:
    """Run ``argv`` under the wrapper: (its figures, its stdout, its stderr); insists on exit 0."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *map(str, argv)],
        stdin=subprocess.DEVNULL,  # never a terminal: no progress bar
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    lines = out.strip().splitlines()
    assert proc.returncode == 0, f"wrapper failed ({proc.returncode}):\n{out}\n{err}"
    assert lines, f"wrapper printed nothing:\n{err}"
    figures: dict[str, Any] = json.loads(lines[-1])
    child_out = "\n".join(lines[:-1])
    assert figures["code"] == 0, f"{' '.join(map(str, argv))} exited {figures['code']}:\n{child_out}\n{err}"
    return figures, child_out, err


def _mlwarden(env: dict[str, str], cwd: Path, *args: str | Path) -> tuple[dict[str, Any], str, str]:
    return _measured(env, cwd, sys.executable, "-m", "mlwarden", *args)


def _write_binary(path: Path, size: int) -> tuple[str, int | None]:
    """Copies of one random 64 MiB block, each stamped with its index. Returns (SHA-256, None)."""
    block = bytearray(os.urandom(min(BLOCK, size)))
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left, index = size, 0
        while left:
            n = min(len(block), left)
            block[:8] = index.to_bytes(8, "big")
            view = memoryview(block)[:n]
            digest.update(view)
            f.write(view)
            left -= n
            index += 1
    return digest.hexdigest(), None


def _csv_rows(rng: random.Random, start: int, count: int) -> bytes:
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    lines = [
        f"{i},{rng.random() * 1000:.2f},{rng.random():.6f},20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-"
        f"{rng.randint(1, 28):02d},{'true' if rng.random() < 0.5 else 'false'},{rng.choice(words)},"
        f"cust-{rng.getrandbits(32):08x}\n"
        for i in range(start, start + count)
    ]
    return "".join(lines).encode()


def _write_csv(path: Path, size: int) -> tuple[str, int | None]:
    """A CSV of exactly ``size`` bytes or a little less (whole rows). Returns (SHA-256, data rows)."""
    rng = random.Random(1234)
    header = (",".join(name for name, _ in CSV_COLUMNS) + "\n").encode()
    block = _csv_rows(rng, 1, CSV_BLOCK // 64)
    block_rows = block.count(b"\n")
    digest = hashlib.sha256()
    rows = 0
    with open(path, "wb") as f:
        f.write(header)
        digest.update(header)
        left, index = size - len(header), 0
        while True:
            # Each copy is led by a row of its own, so no two copies are equal.
            lead = f"{-index},0.0,0.0,2020-01-01,false,copy,copy-{index}\n".encode()
            if len(lead) > left:
                break
            whole = len(lead) + len(block) <= left
            body = block if whole else block[: block.rfind(b"\n", 0, left - len(lead)) + 1]
            for part in (lead, body):
                f.write(part)
                digest.update(part)
                left -= len(part)
            rows += 1 + (block_rows if whole else body.count(b"\n"))
            index += 1
            if not whole:
                break
    return digest.hexdigest(), rows


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    buf = bytearray(4 * MIB)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def _report(figures: dict[str, Any], what: str, size: int) -> str:
    return (
        f"{what}: peak RSS {figures['maxrss_kib'] / 1024:.1f} MiB, {figures['seconds']:.1f} s "
        f"({size / MIB / figures['seconds']:.0f} MiB/s); wrapper peak {figures['wrapper_hwm_kib'] / 1024:.1f} MiB"
    )


def _round_trip(tmp_path: Path, kind: str) -> tuple[dict[str, Any], dict[str, Any], int, float]:
    """Init, write the input, put it, get it back, check everything; returns (put, get, size, written)."""
    home = tmp_path / "ws"
    env = workspace_env(home, base64.b64encode(os.urandom(32)).decode())
    # The measurement itself: a child that touches 256 MiB must read as at least that much.
    probe, _, _ = _measured(env, tmp_path, sys.executable, "-c", "x = bytearray(256 << 20)")
    assert probe["maxrss_kib"] >= 256 * 1024, probe
    _mlwarden(env, tmp_path, "init")

    source = tmp_path / f"big.{'csv' if kind == 'csv' else 'bin'}"
    expected, rows = _write_csv(source, SIZE) if kind == "csv" else _write_binary(source, SIZE)
    size = source.stat().st_size
    written = time.perf_counter()

    put, put_out, _ = _mlwarden(env, tmp_path, "data", "put", source, "--name", "big", "--json")
    source.unlink()  # its hash is known; make room for the output
    record = json.loads(put_out)
    assert (record["ref"], record["sha256"], record["size"]) == ("big@1", expected, size), record
    assert (record["format"], record["rows"]) == (kind, rows), record
    if kind == "csv":
        columns = [(c["name"], c["type"]) for c in record["schema"]["columns"]]
        assert columns == CSV_COLUMNS, record["schema"]
    objects = [p for p in (home / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 1, objects
    # Ciphertext: a 40-byte header, then 1 MiB segments each with a 16-byte tag (the first holds the header).
    segments = 1 + max(0, -(-(size - (MIB - 56)) // (MIB - 16)))
    assert objects[0].stat().st_size == 40 + size + 16 * segments

    restored = tmp_path / "restored"
    get, _, _ = _mlwarden(env, tmp_path, "data", "get", "big@1", "-o", restored)
    assert restored.stat().st_size == size
    assert oct(restored.stat().st_mode & 0o777) == "0o600"
    assert _sha256_file(restored) == expected
    restored.unlink()

    return put, get, size, written


@pytest.mark.parametrize("kind", ["binary", "csv"])
def test_put_and_get_of_a_large_file_stream_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    free = shutil.disk_usage(tmp_path).free
    need = 2 * SIZE + GIB
    if free < need:
        pytest.skip(f"needs {need / GIB:.1f} GiB free under {tmp_path}, has {free / GIB:.1f} GiB")
    started = time.perf_counter()
    try:
        put, get, size, written = _round_trip(tmp_path, kind)
    finally:
        # pytest keeps the last few tmp_path folders: never leave 5 GiB files behind, pass or fail.
        for entry in tmp_path.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    timings = (
        f"{kind}, {size / GIB:.2f} GiB: {_report(put, 'put', size)}; {_report(get, 'get', size)}; "
        f"input written in {written - started:.1f} s; whole test {time.perf_counter() - started:.1f} s"
    )
    print(timings)
    assert get["maxrss_kib"] < RSS_LIMIT_MIB * 1024, timings
    assert put["maxrss_kib"] < RSS_LIMIT_MIB * 1024, timings
