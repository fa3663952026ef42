"""Dataset store throughput: ``data put`` / ``data get`` of a 1 GiB file against ``cp``, and small puts per second.

What it measures, in one run, on each folder given (by default a real-disk folder and /dev/shm)
    Large files. For each of two 1 GiB inputs, random bytes (stored as ``binary``: no parsing) and
    a CSV of 7 columns (int64, double, double, date, bool, two strings; the put also infers its
    schema and row count with the pyarrow sniffer, so the CSV rows show that sniffer's cost):

    cp              ``cp IN OUT`` (GNU coreutils, same file system); what the issue compares with.
    cp + fsync      the same, then ``fsync`` of OUT and of its folder (plain ``cp`` leaves the data
                    in the page cache; every ``put`` and ``get`` below makes its output durable,
                    so this is the like-for-like baseline on a disk; on tmpfs fsync costs nothing).
    put (CLI)       ``mlwarden data put IN --name N --json``, the whole process, start-up included:
                    read once, SHA-256, sniff, AES-256-GCM, write, fsync, link, data-key record,
                    catalog commit.
    get (CLI)       ``mlwarden data get N -o OUT``, the whole process: decrypt, authenticate,
                    SHA-256 check against the catalog, atomic durable output.
    put (API)       ``ws.datasets.put(IN, name=N)`` in a Python process that has opened the
                    workspace already (imports and catalog set-up outside the clock).
    get (API)       ``ws.datasets.get(N, None, f)`` into ``open(OUT, "wb")``, then ``fsync``.

    Each is run ``--runs`` times (methods interleaved, each run starting one step later, a put and
    its get being one step, so that drift and after-effects hit all alike) and the median
    throughput (MiB of plaintext per second of wall time) is reported with its ratio to ``cp`` and
    to ``cp + fsync``. The issue's target is put and get at least 0.5x ``cp``; it is checked for
    the CLI and the API rows. Every run starts clean: ``sync`` first (so one run's writeback does
    not land on the next), and, unless ``--no-prefault``, the file size written to a scratch
    file in /dev/shm and deleted, so that the run writes to memory pages touched a moment ago (on a
    VM with free page reporting, freshly freed guest memory goes back to the host and touching it
    again costs a host fault per page; see ``benchmarks/encryption.py``). Each put's SHA-256 (and,
    for the CSV, row count) is checked against the input; the get's output size always, and its
    SHA-256 on the first run of each method (the store itself verifies it on every get). Each
    version is shredded after its get, so objects do not pile up.

    Small files. ``--files`` (1,000) files of 10 KiB of random bytes, each stored by a full
    durable put (object fsync and link, data-key record, catalog commit):

    baseline        the least a durable store must do for each: read the file, write a temporary
                    file, fsync, rename, fsync the folder (Python, one process).
    put (API)       ``ws.datasets.put(path, name=...)`` for each file in one process.
    put (CLI)       ``mlwarden data put`` per file, for the first ``--cli-files`` (30) files:
                    process start-up included.

    Reported as operations per second and the ratio to the baseline. Run once per folder.

    Peak RSS (``VmHWM`` of the API process, ``ru_maxrss`` of the CLI process collected by a small
    wrapper) is shown for the large-file rows; it includes the interpreter and the imports.

How to run (from the repository root)::

    .venv/bin/python benchmarks/store.py                   # 1 GiB, 3 runs, disk and /dev/shm (~5 min)
    .venv/bin/python benchmarks/store.py --quick           # 128 MiB, 100 small files, 1 run
    .venv/bin/python benchmarks/store.py --dir /dev/shm    # one folder only (repeat --dir for more)
    .venv/bin/python benchmarks/store.py --json > store.json

Working folders are made inside each ``--dir`` (default: the system temporary folder, normally a
real disk, and /dev/shm) and removed at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

# The child side comes first and exits before the parent's imports (see benchmarks/encryption.py).
# ruff: noqa: E402
import json
import os
import resource
import sys
import time
from typing import Any


def _hwm_kib() -> int:
    """This process's peak RSS in KiB (``VmHWM``; ``ru_maxrss`` elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss


def _child_cli(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one or more CLI commands in turn; total wall time and the largest child peak RSS.

    The CLI's ``ru_maxrss`` cannot read below this wrapper's own peak (about 12 MiB): ``exec``
    carries over the high-water mark of the parent's memory map.
    """
    import subprocess

    env = {**os.environ, **spec["env"]}
    stdout = ""
    start = time.perf_counter()
    for argv in spec["argvs"]:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines()
            raise SystemExit(f"{' '.join(argv[1:3])} failed ({proc.returncode}): {lines[-1] if lines else '?'}")
        stdout = proc.stdout.decode()
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "peak_rss_kib": rss, "stdout": stdout}


def _child_api(spec: dict[str, Any]) -> dict[str, Any]:
    import mlwarden

    op = spec["op"]
    ws = mlwarden.Workspace.open(spec["home"])
    ws.datasets.list()  # opens the catalog outside the clock
    result: dict[str, Any] = {}
    if op == "put":
        start = time.perf_counter()
        v = ws.datasets.put(spec["src"], name=spec["name"]).version
        result["seconds"] = time.perf_counter() - start
        result.update(sha256=v.sha256, rows=v.rows, version=v.version, format=v.format)
    elif op == "get":
        start = time.perf_counter()
        with open(spec["dst"], "wb") as f:
            ws.datasets.get(spec["name"], None, f)
            f.flush()
            os.fsync(f.fileno())
        result["seconds"] = time.perf_counter() - start
    elif op == "small":
        srcs = spec["srcs"]
        start = time.perf_counter()
        for i, src in enumerate(srcs):
            ws.datasets.put(src, name=f"small-{i:05d}")
        result["seconds"] = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown op {op}")
    ws.close()
    result["peak_rss_kib"] = _hwm_kib()
    return result


def _child_baseline_small(spec: dict[str, Any]) -> dict[str, Any]:
    """Read each file, write it to a temporary file, fsync, rename into place, fsync the folder."""
    out = spec["dir"]
    os.makedirs(out, exist_ok=True)
    dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    start = time.perf_counter()
    try:
        for i, src in enumerate(spec["srcs"]):
            with open(src, "rb") as f:
                data = f.read()
            final = os.path.join(out, f"{i:05d}")
            tmp = final + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, final)
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return {"seconds": time.perf_counter() - start, "peak_rss_kib": _hwm_kib()}


def _child_main() -> int:
    spec: dict[str, Any] = json.loads(sys.stdin.read())
    work = {"cli": _child_cli, "api": _child_api, "baseline-small": _child_baseline_small}[spec["method"]]
    print(json.dumps(work(spec)), flush=True)
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    sys.exit(_child_main())


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------

import argparse
import base64
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (
    KIB,
    MIB,
    filesystem_type,
    format_size,
    machine_summary,
    median,
    package_versions,
    parse_size,
    pick_workdir,
    prefault_memory,
    remove,
    run_child,
    sha256_file,
    text_table,
    write_random_file,
)

LARGE_METHODS: dict[str, str] = {
    "cp": "cp",
    "cp_fsync": "cp + fsync",
    "cli_put": "put (CLI)",
    "cli_get": "get (CLI)",
    "api_put": "put (API)",
    "api_get": "get (API)",
}
OURS = ("cli_put", "cli_get", "api_put", "api_get")
KINDS = {"binary": "random bytes (binary)", "csv": "CSV, 7 columns (schema sniffed)"}
TARGET = 0.5  # put and get: at least this times cp's throughput


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _child_argv() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child"]


def _cli_path() -> str:
    cli = Path(sys.executable).parent / "mlwarden"
    if not cli.exists():
        raise SystemExit(f"no mlwarden executable next to {sys.executable}: pip install -e . first")
    return str(cli)


# --- inputs -----------------------------------------------------------------------------------


def write_csv_file(path: Path, size: int) -> tuple[str, int]:
    """A CSV of about ``size`` bytes (whole rows, at most ``size``); returns (SHA-256, data rows).

    One block of 200,000 random rows is made with pyarrow and repeated (the last copy cut at a row
    end): every row is parsed by the sniffer all the same.
    """
    import hashlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(42)
    n = 200_000
    words = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    table = pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "amount": pa.array(np.round(rng.gamma(2.0, 150.0, n), 2)),
            "score": pa.array(rng.random(n)),
            "day": pa.array(np.datetime64("2020-01-01") + rng.integers(0, 1500, n).astype("timedelta64[D]")),
            "active": pa.array(rng.random(n) < 0.5),
            "category": pa.array(words[rng.integers(0, len(words), n)]),
            "customer": pa.array([f"cust-{x:08x}" for x in rng.integers(0, 1 << 32, n)]),
        }
    )
    out = pa.BufferOutputStream()
    pacsv.write_csv(table, out)
    text = out.getvalue().to_pybytes()
    cut = text.index(b"\n") + 1
    header, block = text[:cut], text[cut:]
    digest = hashlib.sha256()
    rows = 0
    with open(path, "wb") as f:
        f.write(header)
        digest.update(header)
        left = size - len(header)
        while left > 0:
            part = block if len(block) <= left else block[: block.rfind(b"\n", 0, left) + 1]
            if not part:
                break
            f.write(part)
            digest.update(part)
            rows += part.count(b"\n")
            left -= len(part)
    return digest.hexdigest(), rows


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Series:
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def mib_s(self, size: int) -> float:
        return size / MIB / median(self.seconds)

    def spread(self, size: int) -> tuple[float, float]:
        return size / MIB / max(self.seconds), size / MIB / min(self.seconds)


@dataclass
class Folder:
    """Everything measured in one working folder."""

    parent: str
    workdir: Path
    fstype: str
    why: str
    large: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> {size, rows, series}
    small: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    startup_s: float | None = None  # `mlwarden data ls` on the workspace: start-up, imports, opening it


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Folder, prefault_dir: Path | None) -> None:
        self.args = args
        self.folder = folder
        self.dir = folder.workdir
        self.prefault_dir = prefault_dir
        self.cli = _cli_path()
        self.env = {
            "MLWARDEN_HOME": str(self.dir / "ws"),
            "MLWARDEN_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        }
        self.full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}, **self.env}
        self.quiet = args.json

    def mlwarden(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.cli, *args], env=self.full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mlwarden {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def startup(self) -> float:
        """Median wall time of ``mlwarden data ls`` (start-up, imports, unlocking and opening the workspace)."""
        times = []
        for _ in range(5):
            start = time.perf_counter()
            self.mlwarden("data", "ls")
            times.append(time.perf_counter() - start)
        return median(times)

    def clean_slate(self, size: int) -> None:
        os.sync()
        if self.prefault_dir is not None:
            prefault_memory(self.prefault_dir, size + 64 * MIB)

    def cli_child(self, argvs: list[list[str]]) -> dict[str, Any]:
        return run_child(_child_argv(), {"method": "cli", "argvs": argvs, "env": self.env}, env=self.full_env)

    def api_child(self, spec: dict[str, Any]) -> dict[str, Any]:
        return run_child(_child_argv(), {"method": "api", "home": self.env["MLWARDEN_HOME"], **spec}, env=self.full_env)

    # -- large files --

    def large(self, kind: str) -> None:
        args, size = self.args, self.args.size
        src = self.dir / f"input.{'csv' if kind == 'csv' else 'bin'}"
        out = self.dir / "output"
        _log(self.quiet, f"  writing {format_size(size)} input ({KINDS[kind]}) ...")
        if kind == "csv":
            expected, rows = write_csv_file(src, size)
        else:
            expected, rows = write_random_file(src, size), None
        actual = src.stat().st_size
        series = {m: Series() for m in LARGE_METHODS}
        self.folder.large[kind] = {"size": actual, "rows": rows, "series": series}
        try:
            # A get reads what the put before it stored, so the two go together.
            units = [["cp"], ["cp_fsync"], ["cli_put", "cli_get"], ["api_put", "api_get"]]
            for run in range(1, args.runs + 1):
                # Each run starts one unit later, so that no method always follows the same one.
                shift = (run - 1) % len(units)
                for method in [m for unit in units[shift:] + units[:shift] for m in unit]:
                    seconds, rss = self.large_once(kind, method, run, src, out, expected, rows, actual)
                    series[method].seconds.append(seconds)
                    if rss is not None:
                        series[method].rss_kib.append(rss)
                    rss_text = "" if rss is None else f", peak RSS {rss / KIB:.0f} MiB"
                    _log(
                        self.quiet,
                        f"  [{run}/{args.runs}] {kind:6} {LARGE_METHODS[method]:11}"
                        f" {actual / MIB / seconds:8.0f} MiB/s ({seconds:.2f} s{rss_text})",
                    )
        finally:
            remove(src, out)

    def large_once(
        self, kind: str, method: str, run: int, src: Path, out: Path, sha: str, rows: int | None, size: int
    ) -> tuple[float, int | None]:
        name = f"{kind}-{method.split('_')[0]}-{run}"
        self.clean_slate(size)
        rss: int | None = None
        if method in ("cp", "cp_fsync"):
            start = time.perf_counter()
            subprocess.run(["cp", str(src), str(out)], check=True)
            if method == "cp_fsync":
                for path, flags in ((out, os.O_RDONLY), (self.dir, os.O_RDONLY | os.O_DIRECTORY)):
                    fd = os.open(path, flags)
                    os.fsync(fd)
                    os.close(fd)
            seconds = time.perf_counter() - start
            remove(out)
            return seconds, None
        if method == "cli_put":
            res = self.cli_child([[self.cli, "data", "put", str(src), "--name", name, "--json"]])
            record = json.loads(res["stdout"])
            self.check_put(method, record["sha256"], record["rows"], sha, rows)
        elif method == "api_put":
            res = self.api_child({"op": "put", "src": str(src), "name": name})
            self.check_put(method, res["sha256"], res["rows"], sha, rows)
        elif method == "cli_get":
            res = self.cli_child([[self.cli, "data", "get", name, "-o", str(out)]])
        else:
            res = self.api_child({"op": "get", "name": name, "dst": str(out)})
        seconds, rss = res["seconds"], res["peak_rss_kib"]
        if method.endswith("_get"):
            if out.stat().st_size != size:
                raise RuntimeError(f"{method}: output is {out.stat().st_size} bytes, expected {size}")
            if run == 1 and sha256_file(out) != sha:
                raise RuntimeError(f"{method}: output differs from the input")
            remove(out)
            self.mlwarden("data", "rm", f"{name}@1", "--shred")
        return seconds, rss

    @staticmethod
    def check_put(method: str, got_sha: str, got_rows: int | None, sha: str, rows: int | None) -> None:
        if got_sha != sha:
            raise RuntimeError(f"{method}: stored SHA-256 {got_sha} differs from the input's {sha}")
        if got_rows != rows:
            raise RuntimeError(f"{method}: sniffed {got_rows} rows, the CSV has {rows}")

    # -- small files --

    def small(self) -> None:
        n, size, n_cli = self.args.files, self.args.file_size, min(self.args.cli_files, self.args.files)
        src_dir = self.dir / "small-in"
        src_dir.mkdir()
        srcs = []
        for i in range(n):
            path = src_dir / f"f{i:05d}.bin"
            path.write_bytes(os.urandom(size))
            srcs.append(str(path))
        result: dict[str, Any] = {"files": n, "file_size": size, "cli_files": n_cli}
        try:
            self.clean_slate(0)
            base = run_child(_child_argv(), {"method": "baseline-small", "srcs": srcs, "dir": str(self.dir / "small")})
            result["baseline"] = n / base["seconds"]
            _log(self.quiet, f"  small  baseline    {result['baseline']:8.0f} files/s")
            self.clean_slate(0)
            api = self.api_child({"op": "small", "srcs": srcs})
            result["api"] = n / api["seconds"]
            _log(self.quiet, f"  small  put (API)   {result['api']:8.0f} puts/s")
            self.clean_slate(0)
            argvs = [[self.cli, "data", "put", s, "--name", f"cli-small-{i:05d}"] for i, s in enumerate(srcs[:n_cli])]
            cli = self.cli_child(argvs)
            result["cli"] = n_cli / cli["seconds"]
            _log(self.quiet, f"  small  put (CLI)   {result['cli']:8.1f} puts/s")
        finally:
            shutil.rmtree(src_dir, ignore_errors=True)
            shutil.rmtree(self.dir / "small", ignore_errors=True)
        self.folder.small = result


def _default_dirs() -> list[str]:
    dirs = [tempfile.gettempdir()]
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        dirs.append("/dev/shm")
    return dirs


def _versions() -> dict[str, str]:
    import sqlite3

    out = package_versions("mlwarden", "cryptography", "pyarrow", "sqlalchemy")
    out["sqlite"] = sqlite3.sqlite_version
    try:
        cp = subprocess.run(["cp", "--version"], capture_output=True, text=True, check=False).stdout
        out["cp"] = cp.splitlines()[0] if cp else "?"
    except OSError:
        out["cp"] = "?"
    return out


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    quiet = args.json
    folders: list[Folder] = []
    started = time.perf_counter()
    shm = Path("/dev/shm")
    scratch: Path | None = None
    if not args.no_prefault and shm.is_dir() and os.access(shm, os.W_OK):
        scratch = Path(tempfile.mkdtemp(prefix="mlwarden-prefault-", dir=shm))
    try:
        for parent in args.dir:
            # Input, object, output and the CLI's temporary output; the small files are tiny.
            need = 3 * args.size + 64 * MIB
            workdir, why = pick_workdir(parent, need, "mlwarden-store-bench-")
            folder = Folder(parent, workdir, filesystem_type(workdir), why)
            folders.append(folder)
            try:
                _log(quiet, f"{workdir} on {folder.fstype}")
                bench = Bench(args, folder, scratch)
                bench.mlwarden("init")
                folder.startup_s = bench.startup()
                for kind in KINDS:
                    try:
                        bench.large(kind)
                    except (RuntimeError, subprocess.CalledProcessError) as exc:
                        folder.errors.append(f"{kind}: {exc}")
                        _log(quiet, f"  {kind}: FAILED: {exc}")
                try:
                    bench.small()
                except RuntimeError as exc:
                    folder.errors.append(f"small files: {exc}")
                    _log(quiet, f"  small files: FAILED: {exc}")
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return _summarise(args, folders, time.perf_counter() - started)


def _summarise(args: argparse.Namespace, folders: list[Folder], elapsed: float) -> dict[str, Any]:
    out_folders = []
    for f in folders:
        large: dict[str, Any] = {}
        for kind, data in f.large.items():
            size, series = data["size"], data["series"]
            if not all(s.seconds for s in series.values()):
                continue
            cp, cp_fsync = series["cp"].mib_s(size), series["cp_fsync"].mib_s(size)
            methods = {}
            for method, s in series.items():
                rate = s.mib_s(size)
                low, high = s.spread(size)
                methods[method] = {
                    "label": LARGE_METHODS[method],
                    "mib_per_s": rate,
                    "mib_per_s_min": low,
                    "mib_per_s_max": high,
                    "vs_cp": rate / cp,
                    "vs_cp_fsync": rate / cp_fsync,
                    "peak_rss_mib": max(s.rss_kib) / KIB if s.rss_kib else None,
                    "seconds": s.seconds,
                    "target_met": rate / cp >= TARGET if method in OURS else None,
                }
            large[kind] = {"label": KINDS[kind], "size_bytes": size, "rows": data["rows"], "methods": methods}
        small = dict(f.small)
        if "baseline" in small:
            small["api_vs_baseline"] = small["api"] / small["baseline"]
            small["cli_vs_baseline"] = small["cli"] / small["baseline"]
        out_folders.append(
            {
                "dir": str(f.workdir),
                "fs": f.fstype,
                "why": f.why,
                "cli_startup_s": f.startup_s,
                "large": large,
                "small": small,
                "errors": f.errors,
            }
        )
    return {
        "size_bytes": args.size,
        "runs": args.runs,
        "prefault": not args.no_prefault,
        "machine": machine_summary(),
        "versions": _versions(),
        "elapsed_s": elapsed,
        "folders": out_folders,
    }


def _ratio(value: float) -> str:
    """``0.51x``; two significant digits below 0.1 (``0.0082x``), so small ratios do not read as zero."""
    if value >= 0.1 or value <= 0:
        return f"{value:.2f}x"
    return f"{value:.{1 - math.floor(math.log10(value))}f}x"


def print_report(report: dict[str, Any]) -> None:
    v = report["versions"]
    print(
        f"Dataset store benchmark: {format_size(report['size_bytes'])} files, median of {report['runs']} run(s);"
        f" total {report['elapsed_s']:.0f} s"
    )
    print(f"machine: {report['machine']}")
    print(
        f"versions: mlwarden {v['mlwarden']}, cryptography {v['cryptography']} ({v['openssl']}),"
        f" pyarrow {v['pyarrow']}, SQLAlchemy {v['sqlalchemy']}, SQLite {v['sqlite']}, {v['cp']}"
    )
    print(
        "MiB/s: plaintext MiB per second of wall time (range: slowest-fastest run); CLI rows include process"
        " start-up; every put and get fsyncs its output, plain cp does not."
    )
    verdicts: list[str] = []
    for f in report["folders"]:
        print()
        startup = f["cli_startup_s"]
        note = (
            "" if startup is None else f"; `mlwarden data ls` (CLI start-up + workspace open) {startup * 1000:.0f} ms"
        )
        print(f"== {f['dir']} ({f['fs']}){note}")
        for kind, data in f["large"].items():
            rows = f", {data['rows']:,} rows" if data["rows"] is not None else ""
            print()
            print(f"{data['size_bytes'] / MIB:.0f} MiB {data['label']}{rows}")
            headers = ["method", "MiB/s", "range", "vs cp", "vs cp+fsync", "peak RSS", f"target >= {TARGET}x cp"]
            table = []
            for m in data["methods"].values():
                rss = "-" if m["peak_rss_mib"] is None else f"{m['peak_rss_mib']:.0f} MiB"
                met = "" if m["target_met"] is None else ("met" if m["target_met"] else "NOT met")
                spread = f"{m['mib_per_s_min']:.0f}-{m['mib_per_s_max']:.0f}" if report["runs"] > 1 else "-"
                table.append(
                    [
                        m["label"],
                        f"{m['mib_per_s']:.0f}",
                        spread,
                        _ratio(m["vs_cp"]),
                        _ratio(m["vs_cp_fsync"]),
                        rss,
                        met,
                    ]
                )
                if m["target_met"] is not None:
                    verdict = "met" if m["target_met"] else "NOT met"
                    verdicts.append(f"{f['fs']} {kind} {m['label']}: {_ratio(m['vs_cp'])} cp {verdict}")
            print(text_table(headers, table, [False, True, True, True, True, True, False]))
        s = f["small"]
        if "baseline" in s:
            print()
            print(f"{s['files']:,} files of {format_size(s['file_size'])}, each a durable commit")
            table = [
                ["baseline: write, fsync, rename, fsync dir", f"{s['baseline']:.0f} files/s", "1.00x"],
                [f"put (API), {s['files']:,} files", f"{s['api']:.0f} puts/s", _ratio(s["api_vs_baseline"])],
                [f"put (CLI), {s['cli_files']:,} files", f"{s['cli']:.1f} puts/s", _ratio(s["cli_vs_baseline"])],
            ]
            print(text_table(["method", "rate", "vs baseline"], table, [False, True, True]))
        for error in f["errors"]:
            print(f"FAILED: {error}")
    if verdicts:
        print()
        hits = sum("NOT met" not in line for line in verdicts)
        print(f"target (put and get at least {TARGET}x cp): met {hits} of {len(verdicts)}")
        for line in verdicts:
            print(f"  {line}")


def _size(text: str) -> int:
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1:
        raise argparse.ArgumentTypeError("the size must be at least one byte")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--size", type=_size, default=None, help="large file size (default 1GiB; --quick 128MiB)")
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per method, median reported (default 3; --quick 1)"
    )
    parser.add_argument("--files", type=int, default=None, help="small files put via the API (default 1000)")
    parser.add_argument("--file-size", type=_size, default="10KiB", help="small file size (default 10KiB)")
    parser.add_argument("--cli-files", type=int, default=None, help="small files put via the CLI (default 30)")
    parser.add_argument(
        "--dir",
        action="append",
        default=None,
        help="parent of a working folder; repeat for several (default: the temp dir and /dev/shm)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test: 128 MiB, 100 small files, 10 via the CLI")
    parser.add_argument("--no-prefault", action="store_true", help="do not touch fresh memory before each run")
    parser.add_argument("--json", action="store_true", help="print only a JSON report on stdout")
    args = parser.parse_args(argv)
    quick = args.quick
    args.size = args.size or parse_size("128MiB" if quick else "1GiB")
    args.runs = args.runs or (1 if quick else 3)
    args.files = args.files or (100 if quick else 1000)
    args.cli_files = args.cli_files or (10 if quick else 30)
    args.dir = args.dir or _default_dirs()
    if args.runs < 1 or args.files < 1 or args.cli_files < 1:
        parser.error("--runs, --files and --cli-files must be at least 1")
    report = run_benchmark(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
