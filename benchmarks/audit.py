"""Audit log throughput: durable appends with 1, 8 and 32 writers against plain SQLite, and verification speed.

What it measures, in one run
    Appends. Every entry is the canonical JSON of a representative ``AuditEvent`` (about 285
    bytes: a ``data.put`` that succeeded, with a token id and a SHA-256 in its details), built
    for each call inside the clock, as a gate builds it (time from ``event_time(datetime.now(UTC))``,
    a fresh request id, a fresh SHA-256 detail). Every entry is durable before its call returns.

    SQLite          the baseline from the issue: a plain table ``(seq INTEGER PRIMARY KEY, entry
                    BLOB)`` in the standard library's ``sqlite3``, WAL journal, ``synchronous=FULL``,
                    30 s busy timeout, one ``BEGIN IMMEDIATE; INSERT; COMMIT`` per entry, each
                    writer thread on a connection of its own; it stores the same entry bytes.
    AuditLog        ``mlwarden.auditlog.AuditLog.append(event)``, one log shared by the writer
                    threads of the process, as a server shares it: each commit is one transaction
                    (one fsync) holding every entry queued while the previous one was in flight,
                    with the new tree head signed (Ed25519).
    AuditLog async  ``await mlwarden.auditlog.AuditLog.append_async(event)`` from concurrent
                    coroutines on one asyncio event loop, as an async server calls it: the commits
                    run on the log's committer thread (started by the first call, inside the
                    clock), and one wake-up of the loop settles a whole batch. Each coroutine
                    loops: build a fresh event exactly as the writer threads do, await its append.

    Each with 1 writer and with ``--writers`` (8) concurrent writers (threads; coroutines for
    the async method), and with ``--more-writers`` (32; 0 leaves them out) to show how the
    batches grow with concurrency. Every run appends ``--entries`` (8,000) entries in all, split
    evenly among its writers (``entries // writers`` each), to a fresh database (created,
    schema and WAL mode set, outside the clock). For threads the clock runs from the moment all
    writers are released together until the last one has finished; for coroutines, from the
    start of ``asyncio.run(gather(...))`` to its return (so loop start-up and shutdown count),
    and the log is closed, its committer thread joined, after the clock. ``--repeat`` (3) runs
    of each, interleaved (each round starting one configuration later, so that drift hits all
    alike); the median is reported, with the range. "entries/commit" is the mean batch: entries
    divided by the rows that carry a signed head (one per commit).

    Verification. A log of ``--verify-entries`` (200,000) entries written with ``append_many``
    in batches of ``--batch`` (1,000), then ``AuditLog.verify()`` timed ``--repeat`` times
    (median), and ``verify(checkpoint)`` with the log's latest checkpoint read back through
    ``read_checkpoint(checkpoint().note)``. For comparison also ``verify()`` of the log left by
    the last run with ``--writers`` writers, whose commits are small (a signed head every few
    entries). Every verification must report ``ok``.

    Context. The median of 200 ``fdatasync`` (and of 200 ``fsync``) of a small write to a file
    in the same folder: a durable commit costs at least that, so one writer committing once per
    entry cannot beat its inverse.

    Targets (from the issue): the AuditLog with 8 writers at least 5x the SQLite baseline
    measured in the same run (checked against the higher of SQLite's 1-writer and 8-writer
    figures, the stricter reading; both ratios are shown), and verification at 200,000 entries
    a second or more. The group-commit verdict is printed for the 8 writer threads and for the
    8 coroutines alike; the ``--more-writers`` figures are shown beside it for information
    only (against the highest SQLite figure of the run, 32 writers included), not as the target.

Where the files go
    A fresh hidden folder inside ``--dir`` (default: the current directory), removed at the end,
    also on errors and Ctrl-C. Durability is what is measured, so it must be a disk-backed file
    system: the header names the file system, and warns on tmpfs, where fsync costs nothing.

How to run (from the repository root)::

    .venv/bin/python benchmarks/audit.py                      # defaults, under a minute or so
    .venv/bin/python benchmarks/audit.py --entries 4000 --verify-entries 50000 --repeat 1
    .venv/bin/python benchmarks/audit.py --more-writers 64    # or 0: only 1 and 8 writers
    .venv/bin/python benchmarks/audit.py --dir /var/tmp       # another file system
    .venv/bin/python benchmarks/audit.py --json > audit.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import machine_summary, median, package_versions, text_table
from mlwarden.auditlog import AuditEvent, AuditLog, NoteSigner, event_time

ORIGIN = "mlwarden/bench"
GROUP_TARGET = 5.0  # AuditLog with 8 writers over the SQLite baseline
VERIFY_TARGET = 200_000.0  # entries per second
FSYNC_SAMPLES = 200
MEMORY_FILE_SYSTEMS = {"tmpfs", "ramfs", "devtmpfs"}

_SQLITE_SCHEMA = "CREATE TABLE entries (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL)"
_SQLITE_INSERT = "INSERT INTO entries (entry) VALUES (?)"

Append = Callable[[int], None]
MakeWriter = Callable[[int], tuple[Append, Callable[[], None]]]


# --------------------------------------------------------------------------------------------
# The entry, as a gate would build it
# --------------------------------------------------------------------------------------------


def make_event(principal: str, token: str, i: int) -> AuditEvent:
    """A representative event, built afresh: now, a new request id, a SHA-256 detail."""
    return AuditEvent(
        time=event_time(datetime.now(UTC)),
        principal=principal,
        action="data.put",
        resource="datasets/churn",
        outcome="succeeded",
        request_id=os.urandom(12).hex(),
        details={"token": token, "sha256": hashlib.sha256(token.encode() + i.to_bytes(8, "big")).hexdigest()},
    )


def _writer_identity(w: int) -> tuple[str, str]:
    return f"writer-{w}", os.urandom(8).hex()


# --------------------------------------------------------------------------------------------
# Timing writer threads
# --------------------------------------------------------------------------------------------


def time_writers(writers: int, per_writer: int, make_writer: MakeWriter) -> float:
    """Start ``writers`` threads, release them together, time until the last one is done.

    ``make_writer(w)`` runs in the thread before the clock starts and returns the thread's
    append function and a function to call (outside the clock) once every thread is done.
    """
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []
    closers: list[Callable[[], None]] = []
    lock = threading.Lock()

    def body(w: int) -> None:
        try:
            append, close = make_writer(w)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
            return
        with lock:
            closers.append(close)
        try:
            barrier.wait()
            for i in range(per_writer):
                append(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(w,), name=f"writer-{w}", daemon=True) for w in range(writers)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a writer failed to start: reported below
        barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for close in closers:
        close()
    if errors:
        raise errors[0]
    return elapsed


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _count(path: Path, sql: str) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(sql).fetchone()
    finally:
        conn.close()
    return int(row[0]), int(row[1])


def run_sqlite(path: Path, writers: int, per_writer: int) -> tuple[float, int]:
    """The baseline: one durable transaction per entry. Returns (seconds, commits)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")  # persistent: every later connection uses it
    conn.execute(_SQLITE_SCHEMA)
    conn.close()

    def make_writer(w: int) -> tuple[Append, Callable[[], None]]:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"SQLite baseline: journal mode {mode}, not wal")
        principal, token = _writer_identity(w)
        execute = conn.execute

        def append(i: int) -> None:
            data = make_event(principal, token, i).to_bytes()
            execute("BEGIN IMMEDIATE")
            try:
                execute(_SQLITE_INSERT, (data,))
                execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    execute("ROLLBACK")
                raise

        return append, conn.close

    seconds = time_writers(writers, per_writer, make_writer)
    rows, _ = _count(path, "SELECT COUNT(*), 0 FROM entries")
    if rows != writers * per_writer:
        raise RuntimeError(f"SQLite baseline: {rows} rows, expected {writers * per_writer}")
    return seconds, rows


# One key for the whole run, so that a log written by one run can be verified later on.
_SIGNER = NoteSigner.from_seed(ORIGIN, os.urandom(32))


def _open_log(path: Path) -> AuditLog:
    return AuditLog(path, origin=ORIGIN, verifier=_SIGNER.verifier, signer=_SIGNER)


def run_auditlog(path: Path, writers: int, per_writer: int) -> tuple[float, int]:
    """``AuditLog.append`` from ``writers`` threads sharing one log. Returns (seconds, commits)."""
    log = _open_log(path)

    def make_writer(w: int) -> tuple[Append, Callable[[], None]]:
        principal, token = _writer_identity(w)
        append_event = log.append

        def append(i: int) -> None:
            append_event(make_event(principal, token, i))

        return append, lambda: None

    try:
        seconds = time_writers(writers, per_writer, make_writer)
    finally:
        log.close()
    return seconds, _commits(path, writers * per_writer, "AuditLog")


def _commits(path: Path, expected: int, what: str) -> int:
    """How many commits wrote the log at ``path`` (one signed head each), after checking its size."""
    rows, heads = _count(path, "SELECT COUNT(*), COUNT(head_signature) FROM audit_entries")
    if rows != expected:
        raise RuntimeError(f"{what}: {rows} entries, expected {expected}")
    return heads


def run_auditlog_async(path: Path, writers: int, per_writer: int) -> tuple[float, int]:
    """``await AuditLog.append_async`` from ``writers`` coroutines on one event loop. Returns (seconds, commits)."""
    log = _open_log(path)
    identities = [_writer_identity(w) for w in range(writers)]
    append_event = log.append_async

    async def writer(principal: str, token: str) -> None:
        for i in range(per_writer):
            await append_event(make_event(principal, token, i))

    async def all_writers() -> None:
        await asyncio.gather(*(writer(principal, token) for principal, token in identities))

    try:
        start = time.perf_counter()
        asyncio.run(all_writers())
        seconds = time.perf_counter() - start
    finally:
        log.close()  # joins the committer thread
    return seconds, _commits(path, writers * per_writer, "AuditLog async")


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def build_log(path: Path, entries: int, batch: int) -> tuple[AuditLog, float]:
    """A log of ``entries`` entries written ``batch`` at a time; returns it and the seconds taken."""
    log = _open_log(path)
    principal, token = _writer_identity(0)
    start = time.perf_counter()
    done = 0
    while done < entries:
        n = min(batch, entries - done)
        log.append_many([make_event(principal, token, done + k) for k in range(n)])
        done += n
    return log, time.perf_counter() - start


def time_verify(log: AuditLog, runs: int, use_checkpoint: bool) -> tuple[list[float], int, int]:
    """Seconds of each ``verify`` run, the size verified and the heads checked (last run)."""
    body = log.read_checkpoint(log.checkpoint().note) if use_checkpoint else None
    seconds: list[float] = []
    size = heads = 0
    for _ in range(runs):
        start = time.perf_counter()
        report = log.verify(body)
        seconds.append(time.perf_counter() - start)
        if not report.ok:
            raise RuntimeError(f"verify reported a problem: {report.problem}")
        if body is not None and report.checkpoint_size != body.size:
            raise RuntimeError("verify did not check the checkpoint")
        size, heads = report.size, report.heads_checked
    return seconds, size, heads


# --------------------------------------------------------------------------------------------
# Context: the file system and what one fsync costs there
# --------------------------------------------------------------------------------------------


def mount_of(path: Path) -> tuple[str, str, str]:
    """(device, mount point, file system type) of the mount holding ``path``, from /proc/mounts."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "?", "?", "?"
    target = str(path.resolve())
    best = ("?", "", "?")
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        device, mount, fstype = fields[0], fields[1].replace("\\040", " "), fields[2]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[1]):
            best = (device, mount, fstype)
    return best if best[1] else ("?", "?", "?")


def sync_latency(folder: Path, sync: Callable[[int], None], samples: int = FSYNC_SAMPLES) -> float:
    """Median seconds of ``sync(fd)`` after a 64-byte append to a file in ``folder``."""
    probe = folder / "fsync.probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        sync(fd)
        times = []
        for _ in range(samples):
            os.write(fd, os.urandom(64))
            start = time.perf_counter()
            sync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
    return median(times)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

METHODS: dict[str, str] = {
    "sqlite": "SQLite, one commit per entry (threads)",
    "auditlog": "mlwarden AuditLog.append (threads)",
    "auditlog-async": "mlwarden AuditLog.append_async (asyncio)",
}
RUNNERS: dict[str, Callable[[Path, int, int], tuple[float, int]]] = {
    "sqlite": run_sqlite,
    "auditlog": run_auditlog,
    "auditlog-async": run_auditlog_async,
}


def writer_counts(writers: int, more_writers: int) -> list[int]:
    """The writer counts measured: 1, ``--writers`` and, unless 0, ``--more-writers``."""
    return [1, writers] + ([more_writers] if more_writers else [])


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    quiet = args.json
    parent = Path(args.dir)
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".audit-bench-", dir=parent)).resolve()
    try:
        device, mount, fstype = mount_of(workdir)
        _log(quiet, f"working directory: {workdir} on {fstype} ({device} at {mount})")
        fdatasync_s = sync_latency(workdir, os.fdatasync)
        fsync_s = sync_latency(workdir, os.fsync)
        _log(quiet, f"fdatasync {fdatasync_s * 1e6:.0f} us, fsync {fsync_s * 1e6:.0f} us (median of {FSYNC_SAMPLES})")
        sample = make_event(*_writer_identity(0), 0).to_bytes()

        configs = [(m, w) for w in writer_counts(args.writers, args.more_writers) for m in METHODS]
        runs: dict[str, list[dict[str, float]]] = {f"{m}/{w}": [] for m, w in configs}
        kept: Path | None = None  # the last many-writer AuditLog database, verified below
        load_before = os.getloadavg()
        for rep in range(args.repeat):
            order = configs[rep % len(configs) :] + configs[: rep % len(configs)]
            for method, writers in order:
                per_writer = args.entries // writers
                path = workdir / f"{method}-{writers}w-{rep}.db"
                seconds, commits = RUNNERS[method](path, writers, per_writer)
                total = per_writer * writers
                runs[f"{method}/{writers}"].append(
                    {"seconds": seconds, "entries": total, "commits": commits, "rate": total / seconds}
                )
                _log(
                    quiet,
                    f"[{rep + 1}/{args.repeat}] {method:14} {writers:3} writer(s): {total / seconds:9,.0f} entries/s,"
                    f" {total / commits:6.1f} entries/commit",
                )
                if method == "auditlog" and writers == args.writers:
                    if kept is not None:
                        _remove_db(kept)
                    kept = path
                else:
                    _remove_db(path)

        verification: dict[str, Any] = {}
        _log(quiet, f"writing a log of {args.verify_entries:,} entries, {args.batch:,} per append_many ...")
        big = workdir / "verify.db"
        log, build_s = build_log(big, args.verify_entries, args.batch)
        try:
            verification["build"] = {"entries": args.verify_entries, "seconds": build_s}
            for key, use_checkpoint in (("verify", False), ("verify_checkpoint", True)):
                times, size, heads = time_verify(log, args.repeat, use_checkpoint)
                verification[key] = {"entries": size, "seconds": times, "heads_checked": heads}
                _log(quiet, f"{key}: {size / median(times):,.0f} entries/s")
        finally:
            log.close()
        _remove_db(big)
        if kept is not None:
            small = _verify_kept(kept, args.repeat, int(runs[f"auditlog/{args.writers}"][-1]["commits"]))
            verification["small_commits"] = small
            _log(
                quiet,
                f"verify, {args.writers}-writer log: {small['entries'] / median(small['seconds']):,.0f} entries/s",
            )
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    return {
        "machine": machine_summary(),
        "versions": _versions(),
        "workdir": str(workdir),
        "filesystem": {"device": device, "mount": mount, "type": fstype},
        "fdatasync_s": fdatasync_s,
        "fsync_s": fsync_s,
        "entry_bytes": len(sample),
        "entry_sample": sample.decode(),
        "entries_per_run": args.entries,
        "writers": args.writers,
        "more_writers": args.more_writers,
        "writer_counts": writer_counts(args.writers, args.more_writers),
        "repeat": args.repeat,
        "batch": args.batch,
        "loadavg_1min_before_after": [load_before[0], load_after[0]],
        "runs": runs,
        "verification": verification,
    }


def _verify_kept(path: Path, runs: int, commits: int) -> dict[str, Any]:
    """Verify the log left by the last many-writer run: small commits, a signed head on each."""
    log = _open_log(path)
    try:
        seconds, size, heads = time_verify(log, runs, use_checkpoint=False)
    finally:
        log.close()
    return {"entries": size, "commits": commits, "seconds": seconds, "heads_checked": heads}


def _versions() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        **package_versions("mlwarden", "cryptography"),
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _rate(report: dict[str, Any], method: str, writers: int) -> float:
    return median(r["rate"] for r in report["runs"][f"{method}/{writers}"])


def _ratio(x: float, base: float) -> str:
    return f"{x / base:.2f}x"


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """The figures the tables and the verdict are made of (also in the JSON report).

    ``group_commit`` is the target's verdict for the writer threads, ``group_commit_async``
    for the coroutines; ``more_writers`` (absent with ``--more-writers 0``) is information only.
    """
    many = report["writers"]
    rates = {key: median(r["rate"] for r in runs) for key, runs in report["runs"].items()}
    batches = {key: median(r["entries"] / r["commits"] for r in runs) for key, runs in report["runs"].items() if runs}
    base1, base_many = rates["sqlite/1"], rates[f"sqlite/{many}"]
    stricter = 1 if base1 >= base_many else many
    base = max(base1, base_many)

    def verdict(method: str) -> dict[str, Any]:
        ours = rates[f"{method}/{many}"]
        return {
            "auditlog_rate": ours,
            "vs_sqlite_1": ours / base1,
            f"vs_sqlite_{many}": ours / base_many,
            "checked_against_sqlite_writers": stricter,
            "ratio": ours / base,
            "target": GROUP_TARGET,
            "met": ours / base >= GROUP_TARGET,
        }

    out: dict[str, Any] = {
        "rates": rates,
        "entries_per_commit": batches,
        "group_commit": verdict("auditlog"),
        "group_commit_async": verdict("auditlog-async"),
    }
    more = report["more_writers"]
    if more:
        counts = report["writer_counts"]
        top = max(counts, key=lambda w: rates[f"sqlite/{w}"])  # the highest SQLite figure of the run
        top_rate = rates[f"sqlite/{top}"]
        out["more_writers"] = {
            "writers": more,
            "sqlite_rate": rates[f"sqlite/{more}"],
            "compared_with_sqlite_writers": top,
            "compared_with_sqlite_rate": top_rate,
            **{
                key: {"rate": rates[f"{method}/{more}"], "ratio": rates[f"{method}/{more}"] / top_rate}
                for key, method in (("threads", "auditlog"), ("async", "auditlog-async"))
            },
        }
    v = report["verification"]
    verify_rate = v["verify"]["entries"] / median(v["verify"]["seconds"])
    out["verification"] = {"rate": verify_rate, "target": VERIFY_TARGET, "met": verify_rate >= VERIFY_TARGET}
    return out


def print_report(report: dict[str, Any], summary: dict[str, Any]) -> None:
    many = report["writers"]
    counts = report["writer_counts"]
    entries = report["entries_per_run"]
    fs = report["filesystem"]
    v = report["versions"]
    before, after = report["loadavg_1min_before_after"]
    fdatasync_us = report["fdatasync_s"] * 1e6
    splits = " or ".join(f"{w} x {entries // w:,}" for w in sorted(counts, reverse=True))
    lines = [
        f"Audit log benchmark: durable appends with {', '.join(map(str, counts[:-1]))} and {counts[-1]} writers"
        " (threads, or coroutines on one asyncio loop), against a plain SQLite table; verification",
        f"machine: {report['machine']}; 1-minute load average {before:.2f} before, {after:.2f} after",
        f"versions: Python {v['python']}, SQLite {v['sqlite']}, mlwarden {v['mlwarden']},"
        f" cryptography {v['cryptography']} ({v['openssl']})",
        f"files: {report['workdir']} on {fs['type']} ({fs['device']} mounted at {fs['mount']})",
        f"one fsync here: fdatasync {fdatasync_us:.0f} us, fsync {report['fsync_s'] * 1e6:.0f} us"
        f" (median of {FSYNC_SAMPLES} after a 64-byte write), so at most about {1 / report['fdatasync_s']:,.0f}"
        " durable commits/s one after another",
        f"entry: canonical JSON of an AuditEvent, {report['entry_bytes']} bytes, built per call (time, request id,"
        " SHA-256 detail)",
        f"each writer run: {entries:,} entries ({splits}) into a fresh database; median of {report['repeat']}"
        " run(s), range slowest-fastest",
    ]
    if fs["type"] in MEMORY_FILE_SYSTEMS:
        lines.append(
            f"WARNING: {fs['type']} is memory-backed: fsync costs nothing there, so these are not disk-durable"
            " figures; use --dir on a disk"
        )
    print("\n".join(lines))
    print()

    base1 = summary["rates"]["sqlite/1"]
    headers = [
        "method",
        "writers",
        "entries/s",
        "range",
        "vs SQLite (same writers)",
        "vs SQLite 1 writer",
        "entries/commit",
        "append latency",
    ]
    rows = []
    for writers in counts:
        same = summary["rates"][f"sqlite/{writers}"]
        for method, label in METHODS.items():
            key = f"{method}/{writers}"
            rates = [r["rate"] for r in report["runs"][key]]
            rate = summary["rates"][key]
            spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else "-"
            rows.append(
                [
                    label,
                    str(writers),
                    f"{rate:,.0f}",
                    spread,
                    _ratio(rate, same),
                    _ratio(rate, base1),
                    f"{summary['entries_per_commit'][key]:.1f}",
                    f"{writers / rate * 1e6:,.0f} us",
                ]
            )
    print(text_table(headers, rows, [False, True, True, True, True, True, True, True]))
    need = many / (GROUP_TARGET * max(base1, summary["rates"][f"sqlite/{many}"]))
    print(
        "append latency: the mean time one append takes, writers / entries/s (Little's law: each writer waits"
        " for its own append; a coroutine awaits it). entries/commit: entries / signed heads (one per commit)."
        f" {GROUP_TARGET:.0f}x the higher SQLite baseline with {many} writers needs it at"
        f" {need * 1e6:,.0f} us or less, fsync ({fdatasync_us:.0f} us) included."
    )
    print()

    ver = report["verification"]
    headers = ["verification (AuditLog.verify)", "entries", "heads checked", "seconds", "entries/s", "vs target"]
    rows = []
    build = ver["build"]
    rows.append(
        [
            f"(write it: append_many, {report['batch']:,} per commit)",
            f"{build['entries']:,}",
            "",
            f"{build['seconds']:.2f}",
            f"{build['entries'] / build['seconds']:,.0f}",
            "",
        ]
    )
    labels = [("verify", "verify()"), ("verify_checkpoint", "verify(checkpoint), from checkpoint().note")]
    if "small_commits" in ver:
        small = ver["small_commits"]
        labels.append(
            (
                "small_commits",
                f"verify() of the last {many}-writer log ({small['entries'] / small['commits']:.1f} entries/commit)",
            )
        )
    for key, label in labels:
        item = ver[key]
        seconds = median(item["seconds"])
        rate = item["entries"] / seconds
        rows.append(
            [
                label,
                f"{item['entries']:,}",
                f"{item['heads_checked']:,}",
                f"{seconds:.3f}",
                f"{rate:,.0f}",
                f"{rate / VERIFY_TARGET:.2f}x",
            ]
        )
    print(text_table(headers, rows, [False, True, True, True, True, True]))
    print()

    for key, what in (
        ("group_commit", f"AuditLog.append with {many} writer threads"),
        ("group_commit_async", f"AuditLog.append_async with {many} coroutines"),
    ):
        group = summary[key]
        stricter = group["checked_against_sqlite_writers"]
        other = many if stricter == 1 else 1
        base = summary["rates"][f"sqlite/{stricter}"]
        verdict = "PASS" if group["met"] else "FALL SHORT"
        print(
            f"{verdict}: group commit: {what} {group['auditlog_rate']:,.0f} entries/s ="
            f" {group['ratio']:.2f}x the SQLite baseline with {stricter} writer{'s' if stricter > 1 else ''}"
            f" ({base:,.0f}/s, the higher of the two baselines measured in this run);"
            f" {group['auditlog_rate'] / summary['rates'][f'sqlite/{other}']:.2f}x SQLite with {other}"
            f" writer{'s' if other > 1 else ''}; target >= {GROUP_TARGET:.0f}x"
        )
    if "more_writers" in summary:
        more = summary["more_writers"]
        top = more["compared_with_sqlite_writers"]
        print(
            f"info (not the target, which is defined on {many} writers): with {more['writers']} concurrent"
            f" writers: threads {more['threads']['rate']:,.0f}/s = {more['threads']['ratio']:.2f}x,"
            f" async {more['async']['rate']:,.0f}/s = {more['async']['ratio']:.2f}x the highest SQLite figure"
            f" of this run ({more['compared_with_sqlite_rate']:,.0f}/s, with {top} writer{'s' if top > 1 else ''});"
            f" SQLite itself with {more['writers']} writers: {more['sqlite_rate']:,.0f}/s"
        )
    check = summary["verification"]
    verdict = "PASS" if check["met"] else "FALL SHORT"
    print(
        f"{verdict}: verification: {check['rate']:,.0f} entries/s (verify() of {ver['verify']['entries']:,} entries,"
        f" median of {len(ver['verify']['seconds'])}); target >= {VERIFY_TARGET:,.0f} entries/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--entries", type=int, default=8_000, help="entries per writer run, split among its writers (default 8000)"
    )
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers, the target's (default 8)")
    parser.add_argument(
        "--more-writers",
        type=int,
        default=32,
        help="also measure this many concurrent writers, for information; 0 leaves it out (default 32)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median is reported (default 3)")
    parser.add_argument("--verify-entries", type=int, default=200_000, help="size of the log verified (default 200000)")
    parser.add_argument(
        "--batch", type=int, default=1000, help="entries per append_many when writing it (default 1000)"
    )
    parser.add_argument(
        "--dir", default=".", help="parent of the working folder; must be the disk to measure (default: current dir)"
    )
    parser.add_argument("--json", action="store_true", help="print only a JSON report on stdout")
    args = parser.parse_args(argv)
    if args.writers < 2:
        parser.error("--writers must be at least 2 (1 writer is always measured)")
    if args.more_writers and (args.more_writers < 2 or args.more_writers == args.writers):
        parser.error("--more-writers must be 0 or at least 2, and differ from --writers")
    if args.entries < max(args.writers, args.more_writers):
        parser.error("--entries must be at least --writers and --more-writers")
    if args.repeat < 1 or args.verify_entries < 1 or not 1 <= args.batch <= 4000:
        parser.error("--repeat and --verify-entries must be at least 1, --batch between 1 and 4000")
    report = run_benchmark(args)
    summary = summarise(report)
    if args.json:
        print(json.dumps({**report, "summary": summary}, indent=2))
    else:
        print_report(report, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
