"""Serving throughput and latency: ``mlwarden serve`` with its protections against a plain FastAPI endpoint.

What it measures, in one run
    Two servers answer the same one-row predictions of the credit-risk pipeline (one-hot encoding
    and scaling inside, a logistic regression at the end), one after the other, never together:

    plain       the endpoint people write today (``benchmarks/_plain_serving_app.py``): FastAPI, a
                pydantic body ``{"instances": [...]}``, ``pandas.DataFrame(instances)``,
                ``predict_proba`` and ``predict``, JSON back; no authentication, validation,
                audit or limits. ``uvicorn`` with its defaults (uvloop and httptools, both
                installed; access log on), one worker.
    mlwarden    ``mlwarden serve --workers 1``: every request authenticated (a client token scoped
                to ``credit-*``), checked against the rate limit and quota, validated against the
                model's input schema, predicted, written to the tamper-evident audit log and fed
                to the monitor.

    Both serve the same model: a throw-away workspace (in a temporary folder) is made with the
    CLI as a user would (``init``, ``data put`` of the German Credit CSV, ``train``, ``model
    promote``, ``user add`` of the client), and the plain endpoint loads the file that ``mlwarden
    model export`` writes (verified, once, at start-up). Each request body is one real row of the
    CSV (all columns but the target; numbers as JSON numbers, categories as strings), the rows
    taken in turn from ``--rows`` (16) rows spread over the file; the same bodies for both.

    The load is ``wrk`` (the Debian package; ``apt-get install wrk``) with
    ``benchmarks/wrk_post.lua``: ``--connections`` (32) keep-alive connections on ``--threads``
    (1) thread for ``--duration`` (20) seconds against loopback, after an unmeasured warm-up of
    ``--warmup`` (3) seconds with the same settings. The machine's cores are shared by wrk and the
    server, as in the set-up the issue measured (2 cores); one wrk thread is enough for a few
    thousand requests a second and leaves the most CPU to the server (the same for both).
    wrk's timeout is 10 s, so that a slow server's requests are measured, not dropped.

    After the load, each server also answers ``--solo`` (5) seconds of requests on one connection:
    the latency of a lone request, with nothing to queue behind.

    Reported for each: requests/s (completed requests over the run's duration), p50, p90, p99 and
    the mean latency, and the errors (responses other than 2xx/3xx, and socket errors and
    timeouts); then the ratios, throughput mlwarden/plain and p99 mlwarden/plain under the load,
    against the targets from the issue: at least 10x and at most 0.2x. The run fails (exit 1)
    when more than 1 % of any run's requests were errors.

    Then the time of each stage of mlwarden's requests as the server measured it: the summary
    ``mlwarden_stage_seconds{stage=...}`` read from ``GET /metrics`` before and after the load,
    and after the one-connection run; the mean of each stage (the difference of ``_sum`` over
    the difference of ``_count``) per stage: auth, limits, body, validate, predict, audit,
    monitor, total. The protections are auth, limits, validate, audit and monitor; their sum is
    printed too. Under load a stage's time includes waiting (for the micro-batch a request
    joins, for the audit log's group commit), so the one-connection column is the cost of a
    lone request. A lone request's audit entry costs at least one ``fdatasync`` (its entry is
    durable before the answer leaves), so the median of 100 ``fdatasync`` of a small append in
    the workspace's folder is printed before mlwarden's run, for context.

    Last, the answers: each of the rows is sent once more to each server; the labels must be
    equal and mlwarden's probabilities equal to the plain endpoint's within 1e-6 (exit 1
    otherwise).

The slow-body flood (``--flood N``, or ``--only flood`` for it alone; needs no wrk)
    ``mlwarden serve`` with two client tokens. A *victim* sends one-row predictions one after the
    other on one keep-alive connection for ``--flood-seconds`` (10): first with nothing else
    running (flood off); then from the moment another process opens ``N`` connections of the
    second token, each sending complete headers and 6 bytes of a body, then nothing (held: the
    issue's flood, each connection opened once); then the same with every connection the server
    closes opened again at once (reopened: a flood of new connections as well). The flood's
    client shares the machine with the server. Reported side by side: the victim's requests, p50
    and p99 latency and non-200 answers, and how the flood's requests were answered. The run
    fails (exit 1) when any victim request was not 200, or its p99 during the held flood is
    100 ms or more (the issue's target).

Live profiles (``--only drift``; also part of the default run)
    What counting the traffic into the model's drift reference profile costs per served row, two
    ways. In process: the server's own code (``mlwarden.serve._profiles``: the request's hand-over
    on the event loop, then the binning in batches on the profiles' thread) on ``--profile-rows``
    (20,000) validated rows of the CSV and their predictions, sent as requests of 1, 16 and 256
    rows; the best of 3 runs, in us per row, against the issue's target (20 us). Then, with wrk,
    ``mlwarden serve`` twice under the same one-row load, ``--drift-window 300`` (on) and
    ``--drift-window 0`` (off), alternated ``--profile-rounds`` (2) times: the difference of the
    server process's CPU time per request (``/proc``: the event loop and the profiles' thread
    together) is the cost of a served row end to end, and that of 1/throughput (the server is
    saturated) what it costs in capacity; medians of the rounds (other work on the machine moves
    throughput by several percent, CPU time much less).

Where the files go
    A fresh folder in ``--dir`` (default: the system temporary folder), removed at the end, also
    on errors and Ctrl-C. The audit log is durable (an fsync per commit), so that folder should be
    on a disk-backed file system as a real workspace is: the header names it, and warns on tmpfs.

Needs: wrk on the PATH, the project's venv (``.venv``, with the test extras: httpx), and
``MLWARDEN_PASSPHRASE`` (optional: a fixed benchmark passphrase otherwise; it only unlocks the
throw-away workspace). Every server it starts is stopped on every way out (SIGTERM to its whole
process group, SIGKILL after 10 s).

How to run (from the repository root)::

    .venv/bin/python benchmarks/serving.py                  # 20 s per server, under 2 minutes in all
    .venv/bin/python benchmarks/serving.py --duration 5     # a shorter run
    .venv/bin/python benchmarks/serving.py --only plain     # the baseline alone
    .venv/bin/python benchmarks/serving.py --only flood --flood 1100   # victim p99, slow-body flood off and on
    .venv/bin/python benchmarks/serving.py --only drift     # live profiles: us per served row, on against off
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import filesystem_type, machine_summary, package_versions, text_table

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_post.lua"
# Unlocks only the throw-away workspace the run makes and removes (MLWARDEN_PASSPHRASE overrides it).
BENCH_PASSPHRASE = "serving benchmark: a throw-away workspace"  # noqa: S105
TARGET = "creditability"
MODEL = "credit-risk"
DATASET = "credit-german"
STAGES = ("auth", "limits", "body", "validate", "predict", "audit", "monitor", "total")
PROTECTIONS = ("auth", "limits", "validate", "audit", "monitor")
TARGET_THROUGHPUT = 10.0
TARGET_P99 = 0.2
MAX_ERROR_SHARE = 0.01
TOLERANCE = 1e-6
FLOOD_TARGET_P99 = 0.100  # seconds: the victim's p99 during a slow-body flood (the target)
PROFILE_TARGET_US = 20.0  # us per served row: the cost of live profiles (issue 17's target)
PROFILE_REQUEST_ROWS = (1, 16, 256)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def say(message: str) -> None:
    print(message, flush=True)


# --- processes -------------------------------------------------------------------------------


@dataclass
class Server:
    """A server process started in a process group of its own, with its output in a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    base_url: str

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace").rstrip().splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(f"    {line}" for line in text[-lines:])


def start_server(name: str, argv: Sequence[str], env: dict[str, str], log: Path, port: int) -> Server:
    say(f"  starting {name}: {' '.join(argv)}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(argv), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, proc, log, f"http://127.0.0.1:{port}")


def stop_server(server: Server) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after 10 s."""
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            say(f"  {server.name} ignored SIGTERM for 10 s: killing it")
    # The leader may be gone while workers of its group live on: SIGKILL the group either way.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=5)


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], env: dict[str, str], log: Path, port: int) -> Iterator[Server]:
    server = start_server(name, argv, env, log, port)
    try:
        wait_ready(server)
        yield server
    finally:
        stop_server(server)
        say(f"  stopped {name}")


def wait_ready(server: Server, timeout: float = 90.0) -> None:
    """Poll ``GET /healthz`` until it answers 200; fail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"{server.name} exited with status {server.proc.returncode} before it was ready:\n{server.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base_url + "/healthz", timeout=2).status_code == 200:
                say(f"  {server.name} ready after {time.monotonic() - started:.1f} s")
                return
        time.sleep(0.1)
    raise BenchError(f"{server.name} not ready after {timeout:.0f} s:\n{server.log_tail()}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mlwarden_cli(args: Sequence[str], env: dict[str, str], home: Path) -> str:
    """Run ``mlwarden --home HOME ARGS``; returns its stdout, or raises with its output."""
    argv = [PYTHON, "-m", "mlwarden", "--home", str(home), *args]
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shown = " ".join(args)
        raise BenchError(f"`mlwarden {shown}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


# --- the workspace and the request bodies ---------------------------------------------------


@dataclass(frozen=True)
class Setup:
    home: Path
    model_file: Path
    public_key: Path
    client_token: str
    flood_token: str
    admin_token: str
    bodies_file: Path
    rows: list[dict[str, Any]]


def make_workspace(tmp: Path, env: dict[str, str], n_rows: int) -> Setup:
    from mlwarden.usecases import german_credit_csv

    home = tmp / "workspace"
    csv = german_credit_csv()
    t0 = time.monotonic()
    say(f"workspace: {home} (init, data put, train, approve, promote, export, user add)")
    mlwarden_cli(["init"], env, home)
    mlwarden_cli(["data", "put", str(csv), "--name", DATASET], env, home)
    mlwarden_cli(["train", "--data", DATASET, "--target", TARGET, "--name", MODEL], env, home)
    # Four eyes: a reviewer other than the admin who trained it approves it before it may go to production.
    reviewer = mlwarden_cli(["user", "add", "bench-reviewer", "--role", "reviewer"], env, home).strip().splitlines()[-1]
    mlwarden_cli(["model", "approve", f"{MODEL}@1"], {**env, "MLWARDEN_TOKEN": reviewer.strip()}, home)
    mlwarden_cli(["model", "promote", f"{MODEL}@1", "--stage", "production"], env, home)
    export = tmp / "export"
    mlwarden_cli(["model", "export", f"{MODEL}@1", "-o", str(export)], env, home)
    public_key = tmp / "signer.pem"
    mlwarden_cli(["model", "public-key", "-o", str(public_key)], env, home)
    # Limits high enough to be checked on every request but never to refuse one.
    add = ["user", "add", "bench-client", "--role", "client", "--scope", "credit-*"]
    add += ["--rate-limit", "1000000000", "--quota", "1000000000"]
    client_token = mlwarden_cli(add, env, home).strip().splitlines()[-1].strip()
    add[2] = "bench-flood"  # the slow-body flood's own token (--flood)
    flood_token = mlwarden_cli(add, env, home).strip().splitlines()[-1].strip()
    admin_token = (home / "keys" / "admin.token").read_text().strip()
    say(f"  done in {time.monotonic() - t0:.1f} s")

    rows = sample_rows(csv, n_rows)
    bodies_file = tmp / "bodies.jsonl"
    with open(bodies_file, "w") as f:
        for row in rows:
            f.write(json.dumps({"instances": [row]}, separators=(",", ":")) + "\n")
    return Setup(home, export / f"{MODEL}.skops", public_key, client_token, flood_token, admin_token, bodies_file, rows)


def sample_rows(csv: Path, n: int) -> list[dict[str, Any]]:
    """``n`` rows spread evenly over the CSV, without the target: numbers as numbers, categories as strings."""
    import pandas as pd

    frame = pd.read_csv(csv).drop(columns=[TARGET])
    step = max(1, len(frame) // n)
    picked = frame.iloc[::step].head(n)
    records: list[dict[str, Any]] = json.loads(picked.to_json(orient="records"))
    return records


# --- the load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 1.0


def run_wrk(url: str, bodies: Path, token: str, seconds: float, connections: int, threads: int) -> LoadResult:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies),
    ]
    env = {**os.environ, "WRK_TOKEN": token}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    found = [line for line in proc.stdout.splitlines() if line.startswith("WRK_JSON ")]
    if proc.returncode != 0 or not found:
        raise BenchError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    raw = json.loads(found[-1].removeprefix("WRK_JSON "))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx_3xx"],
        socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
        mean_ms=raw["latency_mean_us"] / 1e3,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
    )


def warm_up(server: Server, path: str, setup: Setup, token: str, args: argparse.Namespace) -> None:
    load = os.getloadavg()
    say(f"  load average now: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.warmup > 0:
        say(f"  warm-up: {args.warmup:g} s")
        warm = run_wrk(server.base_url + path, setup.bodies_file, token, args.warmup, args.connections, args.threads)
        say(f"    {warm.rps:,.0f} requests/s, {warm.errors} errors")


def measure(
    server: Server, path: str, setup: Setup, token: str, seconds: float, connections: int, threads: int
) -> LoadResult:
    say(f"  load: wrk, {connections} connection(s), {threads} thread(s), {seconds:g} s")
    result = run_wrk(server.base_url + path, setup.bodies_file, token, seconds, connections, threads)
    say(
        f"    {result.rps:,.1f} requests/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors"
    )
    return result


@dataclass(frozen=True)
class Answer:
    """What a server answered for one row: its label and its class probabilities."""

    label: Any
    probabilities: list[float]


def answers(server: Server, path: str, setup: Setup, token: str) -> list[Answer]:
    """Each row sent once; the answer for its one instance, in the order of the rows."""
    out: list[Answer] = []
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        for row in setup.rows:
            resp = client.post(path, content=json.dumps({"instances": [row]}))
            if resp.status_code != 200:
                raise BenchError(f"{server.name} answered {resp.status_code} to a check request: {resp.text[:500]}")
            reply = resp.json()
            out.append(Answer(reply["predictions"][0], [float(p) for p in reply["probabilities"][0]]))
    return out


# --- /metrics -------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


StageTotals = dict[str, tuple[float, float]]


def read_stages(server: Server, admin_token: str) -> StageTotals | str:
    """``{stage: (seconds summed, count)}`` from ``mlwarden_stage_seconds``, or why there is none."""
    try:
        resp = httpx.get(server.base_url + "/metrics", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    except httpx.HTTPError as exc:
        return f"GET /metrics failed: {exc}"
    if resp.status_code != 200:
        return f"GET /metrics answered {resp.status_code}"
    text = resp.text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or not match["name"].startswith("mlwarden_stage_seconds_"):
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        stage = labels.get("stage")
        if stage is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        if match["name"] == "mlwarden_stage_seconds_sum":
            sums[stage] = sums.get(stage, 0.0) + value
        elif match["name"] == "mlwarden_stage_seconds_count":
            counts[stage] = counts.get(stage, 0.0) + value
    totals = {stage: (sums[stage], counts[stage]) for stage in sums if stage in counts}
    return totals or "no mlwarden_stage_seconds samples in /metrics"


def stage_means(before: StageTotals | str, after: StageTotals | str) -> StageTotals | str:
    """``{stage: (mean seconds, count)}`` of the requests between two readings of /metrics."""
    if isinstance(after, str):
        return after
    if isinstance(before, str):
        return before
    means = {}
    for stage, (total, count) in after.items():
        earlier_total, earlier_count = before.get(stage, (0.0, 0.0))
        if count > earlier_count:
            means[stage] = ((total - earlier_total) / (count - earlier_count), count - earlier_count)
    return means or "no request was counted between the two readings of /metrics"


def fdatasync_median_ms(folder: Path, rounds: int = 100) -> float:
    """Median milliseconds of ``fdatasync`` after a small append in ``folder``: the floor of a durable commit."""
    probe = folder / "fsync-probe"
    times = []
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(rounds):
            os.write(fd, b"x" * 300)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
    return sorted(times)[len(times) // 2] * 1e3


# --- the report -----------------------------------------------------------------------------


def result_row(name: str, r: LoadResult) -> list[str]:
    return [
        name,
        f"{r.rps:,.1f}",
        f"{r.p50_ms:.2f}",
        f"{r.p90_ms:.2f}",
        f"{r.p99_ms:.2f}",
        f"{r.mean_ms:.2f}",
        f"{r.requests:,}",
        f"{r.non_2xx:,} / {r.socket_errors:,}",
    ]


def report(results: dict[str, LoadResult]) -> list[str]:
    """Print the table and the verdicts; returns the failures (too many errors)."""
    headers = ["server", "requests/s", "p50 ms", "p90 ms", "p99 ms", "mean ms", "requests", "non-2xx / socket err"]
    rows = [result_row(name, r) for name, r in results.items()]
    say("")
    say(text_table(headers, rows, right=[False, True, True, True, True, True, True, True]))
    failures = []
    for name, r in results.items():
        if r.error_share > MAX_ERROR_SHARE:
            failures.append(f"{name}: {r.errors:,} of {r.requests:,} requests were errors ({r.error_share:.1%})")
    if "plain" in results and "mlwarden" in results:
        plain, ours = results["plain"], results["mlwarden"]
        throughput = ours.rps / plain.rps if plain.rps else math.inf
        p99 = ours.p99_ms / plain.p99_ms if plain.p99_ms else math.inf
        say("")
        say(
            f"throughput mlwarden/plain: {throughput:.1f}x  "
            f"(target >= {TARGET_THROUGHPUT:g}x: {'met' if throughput >= TARGET_THROUGHPUT else 'MISSED'})"
        )
        say(
            f"p99 mlwarden/plain:        {p99:.3f}x  "
            f"(target <= {TARGET_P99:g}x: {'met' if p99 <= TARGET_P99 else 'MISSED'})"
        )
    return failures


def print_stage_costs(loaded: StageTotals | str, solo: StageTotals | str | None, args: argparse.Namespace) -> None:
    """The mean time of each stage per request, under the load and (when measured) on one connection."""
    say("")
    say("time of each stage per request in mlwarden serve (means of mlwarden_stage_seconds from /metrics, in us):")
    if isinstance(loaded, str):
        say(f"  not available: {loaded}")
        return
    columns: list[tuple[str, StageTotals]] = [(f"{args.connections} conn.", loaded)]
    if isinstance(solo, dict):
        columns.append(("1 conn.", solo))
    elif isinstance(solo, str):
        say(f"  one connection: not available: {solo}")
    order = [s for s in STAGES if s in loaded] + sorted(s for s in loaded if s not in STAGES)
    rows = []
    for stage in order:
        row = [stage + (" (protection)" if stage in PROTECTIONS else "")]
        for _, means in columns:
            mean = means.get(stage, (math.nan, 0.0))[0]
            total = means.get("total", (0.0, 0.0))[0]
            share = f" {mean / total:4.0%}" if total and stage != "total" and not math.isnan(mean) else "      "
            row.append(f"{mean * 1e6:,.1f}{share}")
        rows.append(row)
    counts = ["requests"] + [f"{means.get('total', (0.0, 0.0))[1]:,.0f}" for _, means in columns]
    rows.append(counts)
    headers = ["stage", *(name for name, _ in columns)]
    say(text_table(headers, rows, right=[False, *([True] * len(columns))]))
    for name, means in columns:
        protections = [s for s in PROTECTIONS if s in means]
        cost = sum(means[s][0] for s in protections)
        say(f"  {name}: the protections ({', '.join(protections)}) together {cost * 1e6:,.1f} us per request")
    say(
        "  Under load a stage's time includes waiting: predict for the micro-batch it joins, audit for the\n"
        "  group commit (one fsync for all the entries queued meanwhile); one connection shows the time of a\n"
        "  lone request, whose audit entry costs at least one fdatasync (measured above). The server's busy\n"
        "  time per request under load is about 1/throughput."
    )


def compare_answers(plain: list[Answer], ours: list[Answer]) -> str | None:
    """None when every label is equal and every probability agrees within TOLERANCE, else what differs."""
    worst = 0.0
    for i, (a, b) in enumerate(zip(plain, ours, strict=True)):
        if len(a.probabilities) != len(b.probabilities):
            return f"row {i}: {len(a.probabilities)} probabilities from plain, {len(b.probabilities)} from mlwarden"
        if a.label != b.label:
            return f"row {i}: plain predicted {a.label!r}, mlwarden {b.label!r}"
        worst = max([worst, *(abs(x - y) for x, y in zip(a.probabilities, b.probabilities, strict=True))])
    say(f"  labels equal for all {len(plain)} rows; largest probability difference {worst:.2e}")
    say(f"  (tolerance {TOLERANCE:g}; mlwarden rounds probabilities to 6 decimals by default, at most 5e-7 off)")
    if worst > TOLERANCE:
        return f"probabilities differ by up to {worst:.2e} (> {TOLERANCE:g})"
    return None


# --- main -----------------------------------------------------------------------------------


# --- the slow-body flood ----------------------------------------------------------------------


@dataclass(frozen=True)
class VictimResult:
    requests: int
    p50: float
    p99: float
    not_ok: int


def _flood_process(port: int, token: str, connections: int, seconds: float, reopen: bool, answers: Any) -> None:
    """In its own process: ``connections`` slow senders of ``token``; ``reopen``: each reopened when closed."""

    async def sender(head: bytes, end: float, counts: dict[str, int]) -> None:
        first = True
        while time.monotonic() < end and (first or reopen):
            first = False
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                counts["connect errors"] = counts.get("connect errors", 0) + 1
                await asyncio.sleep(0.05)
                continue
            try:
                writer.write(head + b'{"inst')
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(), max(0.1, end - time.monotonic()))
                match = re.match(rb"HTTP/1\.1 (\d{3})", answer)
                key = match.group(1).decode() if match else "closed"
                counts[key] = counts.get(key, 0) + 1
            except (TimeoutError, OSError):
                counts["held to the end"] = counts.get("held to the end", 0) + 1
            finally:
                writer.close()

    async def main() -> dict[str, int]:
        head = (
            f"POST /v1/models/{MODEL}/predict HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
        ).encode()
        counts: dict[str, int] = {}
        end = time.monotonic() + seconds
        await asyncio.gather(*(sender(head, end, counts) for _ in range(connections)))
        return counts

    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    answers.put(asyncio.run(main()))


def run_victim(port: int, setup: Setup, seconds: float) -> VictimResult:
    """One-row predictions one after the other on one keep-alive connection (reopened if closed)."""
    bodies = [json.dumps({"instances": [row]}, separators=(",", ":")).encode() for row in setup.rows]
    latencies: list[float] = []
    not_ok = 0
    end = time.monotonic() + seconds
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        headers = {"Authorization": f"Bearer {setup.client_token}", "Content-Type": "application/json"}
        while time.monotonic() < end:
            body = bodies[len(latencies) % len(bodies)]
            start = time.perf_counter()
            try:
                status = client.post(f"/v1/models/{MODEL}/predict", content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            latencies.append(time.perf_counter() - start)
            not_ok += status != 200
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return VictimResult(len(latencies), pick(0.5), pick(0.99), not_ok)


def flood_comparison(port: int, setup: Setup, connections: int, seconds: float) -> list[str]:
    """The victim without the flood, with it held, with it reopened; the failures against the target."""
    say(f"  flood off: the victim alone for {seconds:g} s")
    results = {"flood off": run_victim(port, setup, seconds)}
    answered: dict[str, dict[str, int]] = {}
    for reopen in (False, True):
        name = f"flood on ({connections} {'reopened at once' if reopen else 'held'})"
        say(f"  {name}: slow-body connections of another token, the victim for {seconds:g} s from their start")
        answers: Any = multiprocessing.Queue()
        flood = multiprocessing.Process(
            target=_flood_process, args=(port, setup.flood_token, connections, seconds, reopen, answers)
        )
        flood.start()
        try:
            results[name] = run_victim(port, setup, seconds)
            answered[name] = answers.get(timeout=seconds + 60)
        finally:
            flood.join(timeout=30)
            if flood.is_alive():
                flood.kill()
        time.sleep(3.0)  # the refusals' audit entries settle; the next run starts from a quiet server
    rows = [
        [name, str(r.requests), f"{r.p50 * 1000:.1f}", f"{r.p99 * 1000:.1f}", str(r.not_ok)]
        for name, r in results.items()
    ]
    say("")
    say(f"victim token during a slow-body flood of {connections} connections (target: p99 < 100 ms, all 200)")
    say(text_table(["", "requests", "p50 ms", "p99 ms", "not 200"], rows))
    for name, counts in answered.items():
        say(f"{name}: the flood's requests were answered " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    say(
        "(the flood's client runs on the same machine as the server; reopened at once, it is a flood of new "
        "connections, which a proxy's per-address limit is for)"
    )
    failures = [f"{name}: the victim got {r.not_ok} answers other than 200" for name, r in results.items() if r.not_ok]
    held = results[f"flood on ({connections} held)"]
    if held.p99 >= FLOOD_TARGET_P99:
        failures.append(f"the victim's p99 during the held flood is {held.p99 * 1000:.1f} ms (target < 100 ms)")
    return failures


# --- live profiles ---------------------------------------------------------------------------


def profile_cost_in_process(setup: Setup, passphrase: str, total_rows: int) -> list[tuple[int, float, float]]:
    """(rows per request, us per row on the event loop, us per row in all) of the server's live-profile
    counting: its own code, the model and its reference profile loaded through the server's gate."""
    import pandas as pd

    from mlwarden import Workspace
    from mlwarden.monitor._profile import FOLD_ROWS
    from mlwarden.serve import ServeConfig
    from mlwarden.serve._loading import load_model
    from mlwarden.serve._profiles import LiveWindow, _count
    from mlwarden.usecases import german_credit_csv

    with Workspace.open(setup.home, passphrase=passphrase) as ws:
        served = load_model(ws, ServeConfig(models=(f"{MODEL}@1",)), MODEL, 1, by_stage=False)
    if served.profile is None:
        raise BenchError(f"{MODEL}@1 has no drift reference profile: nothing to count")
    records: list[dict[str, Any]] = json.loads(
        pd.read_csv(german_credit_csv()).drop(columns=[TARGET]).to_json(orient="records")
    )
    found = []
    for size in PROFILE_REQUEST_ROWS:
        requests = []
        for i in range(total_rows // size):
            rows = [records[(i * size + j) % len(records)] for j in range(size)]
            batch = served.validator.validate(rows)
            requests.append((batch, served.predictor.predict(batch)))
        rows_counted = len(requests) * size
        best_loop = best_all = math.inf
        for _ in range(3):
            window = LiveWindow(served.profile, "-")
            loop = binning = 0.0
            for batch, prediction in requests:
                t0 = time.perf_counter()
                parts = window.add(batch, prediction, size, FOLD_ROWS)
                t1 = time.perf_counter()
                if parts:
                    _count(window.counts, parts)
                loop += t1 - t0
                binning += time.perf_counter() - t1
            t2 = time.perf_counter()
            _count(window.counts, window.take())
            binning += time.perf_counter() - t2
            if window.counts.rows != rows_counted:
                raise BenchError(f"the window counted {window.counts.rows} rows of {rows_counted}")
            best_loop = min(best_loop, loop)
            best_all = min(best_all, loop + binning)
        found.append((size, best_loop / rows_counted * 1e6, best_all / rows_counted * 1e6))
    return found


def profile_comparison(
    setup: Setup, env: dict[str, str], tmp: Path, args: argparse.Namespace
) -> tuple[list[str], list[str]]:
    """Live profiles in process, then end to end (on against off, if wrk is there); (lines, failures)."""
    lines: list[str] = []
    failures: list[str] = []
    say(f"\n== live profiles: the cost of counting each served row (in process, {args.profile_rows:,} rows)")
    costs = profile_cost_in_process(setup, env["MLWARDEN_PASSPHRASE"], args.profile_rows)
    headers = ["rows per request", "event loop us/row", "in all us/row", f"target <= {PROFILE_TARGET_US:g}"]
    table = [
        [str(size), f"{loop:.2f}", f"{total:.2f}", "met" if total <= PROFILE_TARGET_US else "MISSED"]
        for size, loop, total in costs
    ]
    lines.append("live profiles, in process (the server's counting code; best of 3):")
    lines.append(text_table(headers, table, right=[True, True, True, False]))
    if shutil.which("wrk") is None:
        lines.append("live profiles end to end: skipped (wrk is not installed)")
        return lines, failures
    path = f"/v1/models/{MODEL}/predict"
    shape: tuple[float, int, int] = (args.duration, args.connections, args.threads)
    results: dict[str, list[tuple[LoadResult, float]]] = {"on": [], "off": []}
    # Alternated, so that a change in the machine's other load falls on both alike.
    for label, window in [("on", "300"), ("off", "0")] * args.profile_rounds:
        say(f"\n== mlwarden serve, one worker, live profiles {label} (--drift-window {window})")
        port = free_port()
        argv = [
            PYTHON, "-m", "mlwarden", "serve", "--home", str(setup.home), "--drift-window", window,
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        with running(f"mlwarden (profiles {label})", argv, env, tmp / f"profiles-{label}.log", port) as server:
            warm_up(server, path, setup, setup.client_token, args)
            cpu = process_cpu_seconds(server.proc.pid)
            result = measure(server, path, setup, setup.client_token, *shape)
            used = process_cpu_seconds(server.proc.pid) - cpu
            cpu_us = used / result.requests * 1e6 if result.requests else math.nan
            say(f"    server CPU {cpu_us:.1f} us per request")
            results[label].append((result, cpu_us))
    for label, runs in results.items():
        for result, _ in runs:
            if result.error_share > MAX_ERROR_SHARE:
                failures.append(f"live profiles {label}: {result.errors:,} of {result.requests:,} requests were errors")

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    summary = {
        label: (
            median([r.rps for r, _ in runs]),
            median([r.p99_ms for r, _ in runs]),
            median([1e6 / r.rps for r, _ in runs if r.rps]),
            median([c for _, c in runs]),
        )
        for label, runs in results.items()
    }
    lines.append(
        f"live profiles end to end (one-row requests, saturated server, wrk; medians of {args.profile_rounds} "
        "alternated runs each):"
    )
    lines.append(
        text_table(
            ["live profiles", "requests/s", "p99 ms", "us per request (1/throughput)", "server CPU us per request"],
            [[name, f"{v[0]:,.1f}", f"{v[1]:.2f}", f"{v[2]:.1f}", f"{v[3]:.1f}"] for name, v in summary.items()],
            right=[False, True, True, True, True],
        )
    )
    on, off = summary["on"], summary["off"]
    lines.append(
        f"  cost per served row, end to end: {on[3] - off[3]:.1f} us of server CPU, {on[2] - off[2]:.1f} us of "
        f"1/throughput (target <= {PROFILE_TARGET_US:g} us)"
    )
    return lines, failures


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its threads so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="mlwarden serve against a plain FastAPI endpoint on the credit-risk pipeline (wrk load)."
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per server (default 20)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1; the same for both servers)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds of load first (default 3)")
    parser.add_argument(
        "--solo", type=float, default=5.0, help="seconds on one connection after the load (lone requests; 0: skip)"
    )
    parser.add_argument("--dir", default=None, help="folder for the throw-away workspace (default: system temp)")
    parser.add_argument("--rows", type=int, default=16, help="distinct CSV rows the requests rotate through")
    parser.add_argument(
        "--only",
        choices=("both", "plain", "mlwarden", "flood", "drift"),
        default="both",
        help="measure one part only (both: plain, mlwarden and drift)",
    )
    parser.add_argument(
        "--profile-rows", type=int, default=20_000, help="rows counted per request size in process (default 20000)"
    )
    parser.add_argument(
        "--profile-rounds", type=int, default=2, help="alternated on/off server runs for live profiles (default 2)"
    )
    parser.add_argument(
        "--flood", type=int, default=0, help="slow-body connections of the flood run (0: no flood run; default 0)"
    )
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="seconds of the victim per flood run")
    args = parser.parse_args(argv)
    if args.only == "flood" and args.flood == 0:
        args.flood = 1100
    if args.profile_rows < max(PROFILE_REQUEST_ROWS) or args.profile_rounds < 1:
        parser.error(f"--profile-rows must be at least {max(PROFILE_REQUEST_ROWS)}, --profile-rounds at least 1")
    if args.duration <= 0 or args.warmup < 0 or args.solo < 0 or args.rows < 1:
        parser.error("--duration must be positive, --warmup and --solo not negative, --rows at least 1")
    if args.connections < args.threads or args.threads < 1:
        parser.error("wrk needs at least one thread and at least as many connections as threads")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None and args.only not in ("flood", "drift"):
        say("serving: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
        return 2

    # SIGTERM (and SIGHUP, unless ignored as under nohup) end the run through the finally blocks, as Ctrl-C does.
    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, terminate)

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env["MLWARDEN_PASSPHRASE"] = os.environ.get("MLWARDEN_PASSPHRASE") or BENCH_PASSPHRASE

    say("serving benchmark: mlwarden serve against a plain FastAPI endpoint")
    say(f"machine: {machine_summary()}")
    versions = package_versions("fastapi", "uvicorn", "scikit-learn", "pandas", "numpy")
    say("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "openssl"))
    if shutil.which("wrk") is not None:
        wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
        say(f"load: {wrk_version.splitlines()[0].strip() if wrk_version else 'wrk'}")
    load = os.getloadavg()
    say(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work on the machine skews figures)")

    want_ours = args.only in ("both", "mlwarden")
    flood_failures: list[str] = []
    want_plain = args.only in ("both", "plain")
    want_drift = args.only in ("both", "drift")
    drift_lines: list[str] = []

    shape: tuple[float, int, int] = (args.duration, args.connections, args.threads)
    if args.dir is not None:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mlwarden-serving-", dir=args.dir))
    fstype = filesystem_type(tmp)
    say(f"workspace file system: {fstype} ({tmp})")
    if fstype in ("tmpfs", "ramfs"):
        say("  WARNING: on tmpfs an fsync costs nothing: the audit log's durable commits look free (use --dir)")
    results: dict[str, LoadResult] = {}
    probabilities: dict[str, list[Answer]] = {}
    loaded_costs: StageTotals | str = "mlwarden serve not measured"
    solo_costs: StageTotals | str | None = None
    try:
        setup = make_workspace(tmp, env, args.rows)

        if want_plain:
            say("\n== plain FastAPI endpoint (no auth, no validation, no audit), one uvicorn worker")
            port = free_port()
            plain_env = {**env, "BENCH_MODEL": str(setup.model_file), "BENCH_PUBLIC_KEY": str(setup.public_key)}
            argv_plain = [
                PYTHON, "-m", "uvicorn", "--app-dir", str(REPO / "benchmarks"), "_plain_serving_app:app",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ]  # fmt: skip
            with running("plain", argv_plain, plain_env, tmp / "plain.log", port) as server:
                warm_up(server, "/predict", setup, "", args)
                results["plain"] = measure(server, "/predict", setup, "", *shape)
                if args.solo > 0:
                    results["plain, 1 conn."] = measure(server, "/predict", setup, "", args.solo, 1, 1)
                probabilities["plain"] = answers(server, "/predict", setup, "")

        if want_ours:
            say("\n== mlwarden serve (authentication, limits, validation, audit, monitor), one worker")
            port = free_port()
            argv_ours = [
                PYTHON, "-m", "mlwarden", "serve", "--home", str(setup.home),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ]  # fmt: skip
            path = f"/v1/models/{MODEL}/predict"
            token = setup.client_token
            say(f"  fdatasync of a small append in the workspace's folder: median {fdatasync_median_ms(tmp):.2f} ms")
            with running("mlwarden", argv_ours, env, tmp / "mlwarden.log", port) as server:
                warm_up(server, path, setup, token, args)
                before = read_stages(server, setup.admin_token)
                results["mlwarden"] = measure(server, path, setup, token, *shape)
                after = read_stages(server, setup.admin_token)
                loaded_costs = stage_means(before, after)
                if args.solo > 0:
                    results["mlwarden, 1 conn."] = measure(server, path, setup, token, args.solo, 1, 1)
                    solo_costs = stage_means(after, read_stages(server, setup.admin_token))
                probabilities["mlwarden"] = answers(server, path, setup, token)

        if args.flood > 0:
            say(f"\n== mlwarden serve, one worker: a slow-body flood of {args.flood} connections")
            port = free_port()
            argv_flood = [
                PYTHON, "-m", "mlwarden", "serve", "--home", str(setup.home), "--no-extraction-monitor",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ]  # fmt: skip
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            wanted = 2 * args.flood + 1024  # the server inherits it
            if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            with running("mlwarden (flood)", argv_flood, env, tmp / "flood.log", port):
                flood_failures = flood_comparison(port, setup, args.flood, args.flood_seconds)
        if want_drift:
            drift_lines, drift_failures = profile_comparison(setup, env, tmp, args)
            flood_failures += drift_failures
    except BenchError as exc:
        say(f"\nserving: FAILED: {exc}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    failures = report(results) if results else []
    failures += flood_failures
    if want_ours:
        print_stage_costs(loaded_costs, solo_costs, args)
    if drift_lines:
        say("")
        for line in drift_lines:
            say(line)
    if "plain" in probabilities and "mlwarden" in probabilities:
        say("")
        say("same answers: mlwarden's probabilities against the plain endpoint's, row by row")
        mismatch = compare_answers(probabilities["plain"], probabilities["mlwarden"])
        if mismatch is not None:
            failures.append(mismatch)
    load = os.getloadavg()
    say(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if failures:
        say("\nserving: FAILED")
        for failure in failures:
            say(f"  {failure}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("\nserving: interrupted (every server it started is stopped)")
        sys.exit(130)
