"""Drift detection: mlwarden.monitor beside Evidently, NannyML and plain KS / chi-squared and PSI, on the same data.

What it measures, in one run
    Data (``benchmarks/_drift_data.py``, numpy only, seeded): 20 numeric columns of different shapes (normal,
    lognormal, heavy-tailed, integer counts, bounded percentages, missing values, a Gaussian copula over eight
    of them) and 5 categorical ones (2 to 12 categories, skewed; one derived from a numeric), ``--rows``
    (200,000) rows per side.

    The shift set: one reference sample and one current sample of the same law; seven copies of the current
    sample, each with one known shift, each naming what a detector must flag:

        1  sensor_temp       mean + 0.05 sd
        2  session_minutes   mean + 0.2 sd (3% missing)
        3  pressure_kpa      sd x 1.1, mean kept
        4  txn_amount        the tail past the 95th percentile stretched x 1.5 (lognormal)
        5  region            2% of all rows moved from the largest category to the second
        6  channel           a new category in 1% of rows
        7  age, tenure_months  their correlation flipped (0.55 -> -0.55 in the copula); every marginal unchanged

    No-shift runs: ``--no-shift-runs`` (20) fresh pairs of reference and current samples of the same law, with
    seeds of their own.

    Tools, each on every run (or see ``--baseline-no-shift-runs``), each in a child process of its own
    (``benchmarks/_drift_baselines.py``) that loads both sides from Parquet files before the clock:

    evidently   ``Report([DataDriftPreset()])`` (Evidently 0.7, its own venv: it needs pandas<3), column
                types given; per-column verdicts are its ValueDrift tests, the dataset verdict its
                DriftedColumnsCount test (share of drifted columns >= 0.5).
    nannyml     ``UnivariateDriftCalculator`` with its default methods and thresholds (Jensen-Shannon,
                mean + 3 sd of the reference chunks; its default chunking, 10 chunks a side): a column is
                flagged when any analysis chunk alerts; and ``DataReconstructionDriftCalculator`` (PCA
                reconstruction error, defaults): its alert on any chunk is NannyML's dataset verdict. Own venv,
                ``NML_DISABLE_USAGE_LOGGING=1``.
    ks          scipy's two-sample KS on numeric columns (missing values dropped), chi-squared on the
                categories' counts, p < 0.05 per column, no multiple-testing correction.
    psi         PSI > 0.2: numeric columns on the reference deciles plus a missing bin, categorical ones on
                their categories (empty bins at 1e-4).
    ours        ``mlwarden.monitor``: ``ReferenceProfile.from_frame(reference)``, ``ProfileCounts.add_frame``
                on the current side streamed from Parquet in ``--chunk-rows`` (50,000) row batches, then
                ``compare``; its per-column ``drift``, its ``joint`` pairs and ``report.drifted``.

    A shift counts as caught when the tool flags a column it names; for shift 7 (a pair), a flag on either
    column, or, for NannyML, its multivariate alert, or, for ours, the pair flagged in ``report.joint``. The
    flagged columns of every shift run are printed, so a catch that is really a false alarm can be seen.

    False alarms, over the no-shift runs: the share of (column, run) pairs flagged, with a 95% Wilson interval;
    the share of runs with any flag at all (any column, pair or dataset verdict: "a page at night"); and the
    share of runs where the tool's own dataset verdict said drift.

    Seconds are the tool's own calls (for ours: profile + counting the chunks + compare; the Parquet batch
    decoding is reported beside it, not counted, as the other tools get their frames decoded before the clock);
    peak memory is the child's ``ru_maxrss`` (from ``os.wait4``): interpreter, imports, the loaded frames and
    the tool. Median seconds over all runs; peak is the largest of any run.

    Targets (issue 17): ours catches 7 of 7, <= 5% false alarms per column over the no-shift runs, >= 8x faster
    than Evidently on the same data (median over median), peak <= 1 GiB.

Baseline virtual environments
    ``make bench-drift-venvs`` creates ``../bench-venvs/evidently`` and ``../bench-venvs/nannyml`` beside the
    repository (``--evidently-python`` / ``--nannyml-python`` name others). A missing one is reported as
    "skipped" with the command that makes it. mlwarden.monitor missing: ours is "skipped" too.

How to run (from the repository root)::

    make bench-drift-venvs
    .venv/bin/python benchmarks/drift.py                # 200k rows a side, 7 shifts + 20 no-shift runs (~35 min)
    .venv/bin/python benchmarks/drift.py --quick        # 20k rows, 3 no-shift runs: a smoke run
    .venv/bin/python benchmarks/drift.py --tools ours,ks --json drift.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa
import pyarrow.parquet as pq

from _drift_data import CATEGORICAL, COLUMNS, NUMERIC, SHIFTS, Shift, sample
from _measure import machine_summary, markdown_table, pick_workdir, text_table

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_drift_baselines.py"
VENVS = HERE.parent.parent / "bench-venvs"
LABELS = {
    "evidently": "Evidently DataDriftPreset",
    "nannyml": "NannyML (univariate + PCA)",
    "ks": "KS / chi-squared p<0.05",
    "psi": "PSI > 0.2",
    "ours": "mlwarden.monitor",
}
ORDER = ["evidently", "nannyml", "ks", "psi", "ours"]
TARGET_FALSE_ALARMS = 0.05
TARGET_SPEEDUP = 8.0
TARGET_PEAK_KIB = 1 << 20  # 1 GiB


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------


class ToolError(RuntimeError):
    pass


def run_child(
    python: str, spec: dict[str, Any], timeout: float, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the worker with ``spec`` on stdin; its JSON result with ``peak_rss_kib`` from its own rusage."""
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1", **(extra_env or {}))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([python, str(WORKER)], stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted (Ctrl-C, kill): take the child down too
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
        errors = err.read().decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        why = "killed after timeout" if proc.returncode == -9 else f"exit status {proc.returncode}"
        raise ToolError(f"{why}: {errors[-1] if errors else 'no output'}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["peak_rss_kib"] = usage.ru_maxrss
    result["process_seconds"] = wall
    return result


def versions(python: str, tool: str) -> dict[str, str]:
    proc = subprocess.run([python, str(WORKER), "--versions", tool], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    out: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def snapshot_mlwarden(workdir: Path) -> tuple[dict[str, str], str]:
    """Copy the mlwarden package as it is now into ``workdir`` and put it first on ours' PYTHONPATH, so that
    every run measures the same code even while the working tree is being edited. Returns (env, description)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import mlwarden; print(mlwarden.__file__)"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return {}, "?"
    package = Path(probe.stdout.strip()).parent
    target = workdir / "snapshot"
    shutil.copytree(package, target / "mlwarden", ignore=shutil.ignore_patterns("__pycache__"))
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}, f"{package} copied at start, monitor/ {monitor_digest(target / 'mlwarden')}"


def monitor_digest(package: Path) -> str:
    """SHA-256 (first 12 hex digits) over the source files of mlwarden.monitor, and their newest mtime."""
    import hashlib

    files = sorted((package / "monitor").glob("*.py"))
    if not files:
        return "?"
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    newest = max(f.stat().st_mtime for f in files)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(newest))
    return f"{digest.hexdigest()[:12]} ({len(files)} files, newest {stamp} UTC)"


def check_tools(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """Which python runs each tool, and why a tool is skipped."""
    pythons: dict[str, str] = {}
    skipped: dict[str, str] = {}
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(wanted) - set(ORDER)
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))} (choose from {', '.join(ORDER)})")
    for tool, python in (("evidently", args.evidently_python), ("nannyml", args.nannyml_python)):
        if tool not in wanted:
            continue
        if not Path(python).exists():
            skipped[tool] = f"skipped: {python} not found (create it with `make bench-drift-venvs`)"
            continue
        module = "evidently.presets" if tool == "evidently" else "nannyml"
        probe = subprocess.run(
            [python, "-c", f"import {module}"],
            capture_output=True,
            text=True,
            env=dict(os.environ, NML_DISABLE_USAGE_LOGGING="1"),
            check=False,
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            skipped[tool] = f"skipped: `import {module}` fails in {python}: {last} (see `make bench-drift-venvs`)"
            continue
        pythons[tool] = python
    for tool in ("ks", "psi"):
        if tool in wanted:
            pythons[tool] = sys.executable
    if "ours" in wanted:
        probe = subprocess.run(
            [sys.executable, "-c", "from mlwarden.monitor import ReferenceProfile, ProfileCounts, compare"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            skipped["ours"] = f"skipped: mlwarden.monitor is not available ({last})"
        else:
            pythons["ours"] = sys.executable
    return pythons, skipped


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def write_side(path: Path, columns: dict[str, Any], chunk_rows: int) -> None:
    table = pa.table({name: pa.array(values, from_pandas=True) for name, values in columns.items()})
    pq.write_table(table, path, row_group_size=chunk_rows)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def flagged_columns(result: dict[str, Any]) -> list[str]:
    return [c for c in COLUMNS if result["columns"].get(c)]


def flagged_pairs(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(p["columns"]) for p in result.get("detail", {}).get("joint", []) if p["drift"]]


def caught(tool: str, shift: Shift, result: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``result`` catches ``shift``, and how."""
    named = [c for c in shift.columns if result["columns"].get(c)]
    if not shift.joint:
        return (bool(named), "column" if named else "")
    how = []
    if tool == "ours" and any(set(p) == set(shift.columns) for p in flagged_pairs(result)):
        how.append("pair")
    if tool == "nannyml" and result["dataset"]:
        how.append("multivariate")
    if named:
        how.append("column " + "+".join(named))
    return (bool(how), ", ".join(how))


def any_flag(result: dict[str, Any]) -> bool:
    return bool(flagged_columns(result) or flagged_pairs(result) or result["dataset"])


def summarise(tool: str, shift_results: dict[int, Any], null_results: list[Any]) -> dict[str, Any]:
    done_shifts = {k: r for k, r in shift_results.items() if "error" not in r}
    catches = {k: caught(tool, next(s for s in SHIFTS if s.number == k), r) for k, r in done_shifts.items()}
    nulls = [r for r in null_results if "error" not in r]
    k_cols = sum(len(flagged_columns(r)) for r in nulls)
    n_cols = len(COLUMNS) * len(nulls)
    k_any = sum(any_flag(r) for r in nulls)
    k_verdict = sum(bool(r["dataset"]) for r in nulls)
    pairs = [len(r.get("detail", {}).get("joint", [])) for r in nulls]
    k_pairs = sum(len(flagged_pairs(r)) for r in nulls)
    every = list(done_shifts.values()) + nulls
    out = {
        "tool": tool,
        "shift_runs": len(done_shifts),
        "caught": [k for k, (hit, _) in sorted(catches.items()) if hit],
        "how": {k: how for k, (hit, how) in catches.items() if hit},
        "null_runs": len(nulls),
        "column_false_alarms": [k_cols, n_cols],
        "column_false_alarm_share": k_cols / n_cols if n_cols else math.nan,
        "column_false_alarm_ci": wilson(k_cols, n_cols),
        "any_flag_false_alarms": [k_any, len(nulls)],
        "verdict_false_alarms": [k_verdict, len(nulls)],
        "verdict_on_shift_runs": sum(bool(r["dataset"]) for r in done_shifts.values()),
        "pair_false_alarms": [k_pairs, sum(pairs)],
        "median_seconds": statistics.median(r["seconds"] for r in every) if every else math.nan,
        "median_seconds_null": statistics.median(r["seconds"] for r in nulls) if nulls else math.nan,
        "peak_rss_kib": max((r["peak_rss_kib"] for r in every), default=0),
        "median_peak_rss_kib": statistics.median(r["peak_rss_kib"] for r in every) if every else 0,
        "median_loaded_kib": statistics.median(r["rss_loaded_kib"] for r in every) if every else 0,
        "per_column_false_alarms": {c: sum(bool(r["columns"].get(c)) for r in nulls) for c in COLUMNS},
    }
    return out


def pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rows", type=int, default=None, help="rows per side (default 200,000; --quick 20,000)")
    p.add_argument("--no-shift-runs", type=int, default=None, help="no-shift runs (default 20; --quick 3)")
    p.add_argument(
        "--baseline-no-shift-runs",
        type=int,
        default=None,
        help="run the baselines on only the first K no-shift runs (ours runs on all); default: all",
    )
    p.add_argument("--seed", type=int, default=17, help="base seed (default 17)")
    p.add_argument("--chunk-rows", type=int, default=50_000, help="rows per streamed chunk for ours (default 50,000)")
    p.add_argument("--quick", action="store_true", help="20,000 rows, 3 no-shift runs: a smoke run")
    p.add_argument("--tools", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}")
    p.add_argument("--evidently-python", default=str(VENVS / "evidently" / "bin" / "python"))
    p.add_argument("--nannyml-python", default=str(VENVS / "nannyml" / "bin" / "python"))
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a tool's run is killed")
    p.add_argument("--dir", default=None, help="where the Parquet files go (default /dev/shm or the temp dir)")
    p.add_argument("--json", default=None, help="also write every run's raw results to this file")
    p.add_argument("--markdown", action="store_true", help="also print the summary as markdown")
    args = p.parse_args(argv)
    if args.rows is None:
        args.rows = 20_000 if args.quick else 200_000
    if args.no_shift_runs is None:
        args.no_shift_runs = 3 if args.quick else 20
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # on `kill`: clean up and report what was done
    started = time.time()
    pythons, skipped = check_tools(args)
    tools = [t for t in ORDER if t in pythons]
    baseline_nulls = args.no_shift_runs if args.baseline_no_shift_runs is None else args.baseline_no_shift_runs
    baseline_nulls = min(baseline_nulls, args.no_shift_runs)

    print("Drift detection benchmark (issue 17)")
    print(f"machine: {machine_summary()}")
    print(
        f"data: {args.rows:,} rows per side, {len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical columns;"
        f" 7 shifts + {args.no_shift_runs} no-shift runs; seed {args.seed}; ours streams {args.chunk_rows:,}-row chunks"
    )
    if baseline_nulls < args.no_shift_runs:
        print(f"baselines on no-shift runs 1..{baseline_nulls} only; ours on all {args.no_shift_runs}")
    print("versions:")
    tool_versions: dict[str, dict[str, str]] = {}
    for tool in ORDER:
        if tool in pythons:
            tool_versions[tool] = versions(pythons[tool], tool)
            print(f"  {tool:9s} {', '.join(f'{k} {v}' for k, v in tool_versions[tool].items())}")
        elif tool in skipped:
            print(f"  {tool:9s} {skipped[tool]}")
    sys.stdout.flush()
    if not tools:
        print("no tool to run")
        return 1

    need = 2 * args.rows * 400  # two Parquet sides, generously
    workdir, why = pick_workdir(args.dir, need, "drift-bench-")
    print(f"files: {workdir} ({why})")
    ours_env: dict[str, str] = {}
    if "ours" in pythons:
        ours_env, described = snapshot_mlwarden(workdir)
        print(f"ours: {described}")
        sys.stdout.flush()
    raw: dict[str, Any] = {"shift": {t: {} for t in tools}, "null": {t: [] for t in tools}}
    errors: list[str] = []
    order_index = 0

    def run_all(kind: str, label: str, ref: Path, cur: Path, null_index: int | None) -> dict[str, Any]:
        nonlocal order_index
        results: dict[str, Any] = {}
        rotated = tools[order_index % len(tools) :] + tools[: order_index % len(tools)]
        order_index += 1
        for tool in rotated:
            if kind == "null" and tool != "ours" and null_index is not None and null_index >= baseline_nulls:
                continue
            spec = {
                "tool": tool,
                "reference": str(ref),
                "current": str(cur),
                "numeric": NUMERIC,
                "categorical": CATEGORICAL,
                "chunk_rows": args.chunk_rows,
            }
            try:
                results[tool] = run_child(pythons[tool], spec, args.timeout, ours_env if tool == "ours" else None)
            except ToolError as exc:
                results[tool] = {"error": str(exc)}
                errors.append(f"{tool} on {label}: {exc}")
        done = [f"{t} {r['seconds']:.1f}s" for t, r in results.items() if "seconds" in r]
        failed = [f"{t} FAILED" for t, r in results.items() if "error" in r]
        elapsed = time.time() - started
        print(f"  {label:22s} {', '.join(done + failed)}  [{elapsed / 60:.1f} min]")
        sys.stdout.flush()
        return results

    try:
        print("shift runs:")
        ref_path = workdir / "reference.parquet"
        cur_path = workdir / "current.parquet"
        shift_ref_seed, shift_cur_seed = args.seed * 1000 + 1, args.seed * 1000 + 2
        write_side(ref_path, sample(args.rows, shift_ref_seed), args.chunk_rows)
        for shift in SHIFTS:
            write_side(cur_path, sample(args.rows, shift_cur_seed, shift=shift.number), args.chunk_rows)
            for tool, result in run_all("shift", f"shift {shift.number}", ref_path, cur_path, None).items():
                raw["shift"][tool][shift.number] = result
        print("no-shift runs:")
        for i in range(args.no_shift_runs):
            write_side(ref_path, sample(args.rows, args.seed * 1000 + 101 + 2 * i), args.chunk_rows)
            write_side(cur_path, sample(args.rows, args.seed * 1000 + 102 + 2 * i), args.chunk_rows)
            for tool, result in run_all("null", f"no-shift {i + 1}", ref_path, cur_path, i).items():
                raw["null"][tool].append(result)
    except KeyboardInterrupt as exc:
        interrupted = f"INTERRUPTED ({exc or 'Ctrl-C'}) after {time.time() - started:.0f} s: partial figures below"
        print(interrupted)
        errors.append(interrupted)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    duration = time.time() - started
    summaries = {t: summarise(t, raw["shift"][t], raw["null"][t]) for t in tools}
    report(args, tools, skipped, raw, summaries, errors, duration)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "machine": machine_summary(),
                    "versions": tool_versions,
                    "skipped": skipped,
                    "raw": raw,
                    "summary": summaries,
                    "errors": errors,
                    "seconds": duration,
                },
                indent=1,
                default=str,
            )
        )
    return 0


def report(
    args: argparse.Namespace,
    tools: list[str],
    skipped: dict[str, str],
    raw: dict[str, Any],
    summaries: dict[str, dict[str, Any]],
    errors: list[str],
    duration: float,
) -> None:
    # --- per shift: caught or not, and what each tool flagged
    print()
    print("Per shift: caught? (what must be flagged in brackets)")
    headers = ["shift", "must flag", *tools]
    rows = []
    for shift in SHIFTS:
        row = [
            f"{shift.number} {shift.name}",
            "+".join(shift.columns) if not shift.joint else " or ".join(shift.columns),
        ]
        for tool in tools:
            r = raw["shift"][tool].get(shift.number)
            if not isinstance(r, dict) or "error" in r:
                row.append("not run" if r is None else "error")
                continue
            hit, how = caught(tool, shift, r)
            row.append(("yes" if hit else "no") + (f" ({how})" if shift.joint and hit else ""))
        rows.append(row)
    print(text_table(headers, rows))
    print()
    print("Columns flagged in each shift run (a flag outside the shifted column is a false alarm there):")
    for shift in SHIFTS:
        print(f"  shift {shift.number} ({'+'.join(shift.columns)}):")
        for tool in tools:
            r = raw["shift"][tool].get(shift.number)
            if not isinstance(r, dict) or "error" in r:
                print(f"    {tool:9s} error: {r.get('error') if isinstance(r, dict) else 'not run'}")
                continue
            cols = flagged_columns(r)
            extra = []
            if tool == "ours":
                pairs = flagged_pairs(r)
                extra.append("pairs: " + (", ".join("~".join(p) for p in pairs) if pairs else "none"))
            verdict = "multivariate alert" if tool == "nannyml" else "dataset verdict"
            extra.append(f"{verdict}: {'drift' if r['dataset'] else 'no drift'}")
            print(f"    {tool:9s} {len(cols):2d} columns: {', '.join(cols) or '-'}; {'; '.join(extra)}")

    # --- per tool
    print()
    print(
        f"Summary: {args.rows:,} rows per side, 7 shifts, {args.no_shift_runs} no-shift runs"
        + (
            f" (baselines on {summaries[tools[0]]['null_runs']})"
            if args.baseline_no_shift_runs is not None and args.baseline_no_shift_runs < args.no_shift_runs
            else ""
        )
    )
    headers = [
        "tool",
        "caught",
        "which",
        "false alarms / column (95% CI)",
        "runs with any flag",
        "own verdict: null / shift runs",
        "median s/run",
        "peak MiB",
        "ours faster by",
    ]
    ours = summaries.get("ours")
    rows = []
    for tool in tools:
        s = summaries[tool]
        lo, hi = s["column_false_alarm_ci"]
        k, n = s["column_false_alarms"]
        ka, na = s["any_flag_false_alarms"]
        kv, nv = s["verdict_false_alarms"]
        speed = ""
        if ours is not None and tool != "ours" and ours["median_seconds"] > 0:
            speed = f"{s['median_seconds'] / ours['median_seconds']:.1f}x"
        rows.append(
            [
                LABELS[tool],
                f"{len(s['caught'])}/{s['shift_runs']}",
                ",".join(str(x) for x in s["caught"]) or "-",
                f"{pct(s['column_false_alarm_share'])} ({k}/{n}; {pct(lo)}-{pct(hi)})",
                f"{ka}/{na}",
                f"{kv}/{nv} / {s['verdict_on_shift_runs']}/{s['shift_runs']}",
                f"{s['median_seconds']:.2f}",
                mib(s["peak_rss_kib"]),
                speed,
            ]
        )
    for tool in ORDER:
        if tool in skipped:
            rows.append([LABELS[tool], "skipped", "", skipped[tool].removeprefix("skipped: "), "", "", "", "", ""])
    right = [False, True, False, False, True, True, True, True, True]
    print(text_table(headers, rows, right))
    print(
        "own verdict: Evidently's dataset drift (share of drifted columns >= 0.5); NannyML's PCA reconstruction-error"
        " alert; KS/PSI: any column; ours: report.drifted. 'runs with any flag' counts any column, pair or verdict."
    )
    if args.markdown:
        print()
        print(markdown_table(headers, rows, right))

    # --- details
    print()
    print("Details:")
    for tool in tools:
        s = summaries[tool]
        runs = [r for r in [*raw["shift"][tool].values(), *raw["null"][tool]] if "seconds" in r]
        secs = [r["seconds"] for r in runs]
        if not runs:
            print(f"  {tool:9s} no run finished")
            continue
        line = (
            f"  {tool:9s} seconds min/median/max {min(secs):.2f}/{statistics.median(secs):.2f}/{max(secs):.2f};"
            f" peak MiB median {mib(s['median_peak_rss_kib'])} (RSS with data loaded, before the tool:"
            f" {mib(s['median_loaded_kib'])})"
        )
        print(line)
        if tool == "ours" and runs:
            d = [r["detail"] for r in runs]
            med = {k: statistics.median(x[k] for x in d) for k in ("profile_seconds", "add_seconds", "compare_seconds")}
            read = statistics.median(x["read_seconds"] for x in d)
            print(f"            imported from {sorted({x['mlwarden'] for x in d})}")
            kp, np_ = s["pair_false_alarms"]
            print(
                f"            median profile {med['profile_seconds']:.2f}s + counting {med['add_seconds']:.2f}s"
                f" ({d[0]['chunks']} chunks) + compare {med['compare_seconds']:.2f}s; Parquet batch decoding"
                f" {read:.2f}s (not counted); tests {', '.join(d[0]['tests'])};"
                f" joint pairs tested per run {len(d[0]['joint'])}, pair false alarms {kp}/{np_}"
            )
        if tool == "nannyml" and runs:
            d = [r["detail"] for r in runs]
            print(
                f"            median univariate {statistics.median(x['univariate_seconds'] for x in d):.2f}s"
                f" + multivariate {statistics.median(x['multivariate_seconds'] for x in d):.2f}s;"
                f" methods {', '.join(d[0]['methods'])}; {d[0]['chunks']} analysis chunks"
            )
        if tool == "evidently" and runs:
            print(f"            methods: {'; '.join(runs[0]['detail']['methods'])}")

    nulls = {t: summaries[t]["null_runs"] for t in tools}
    if any(nulls.values()):
        print()
        print("False alarms per column over the no-shift runs (runs flagged / runs):")
        headers = ["column", *tools]
        rows = [[c, *(f"{summaries[t]['per_column_false_alarms'][c]}/{nulls[t]}" for t in tools)] for c in COLUMNS]
        print(text_table(headers, rows, [False, *([True] * len(tools))]))

    # --- targets
    print()
    if ours is None:
        print("Targets: ours was not run (" + skipped.get("ours", "not selected") + ")")
    else:
        print("Targets for ours (issue 17):")
        share = ours["column_false_alarm_share"]
        checks = [
            (f"7 of 7 shifts caught: {len(ours['caught'])}/7", len(ours["caught"]) == 7),
            (f"<= 5% false alarms per column: {pct(share)}", share <= TARGET_FALSE_ALARMS),
            (f"peak memory <= 1 GiB: {mib(ours['peak_rss_kib'])} MiB", ours["peak_rss_kib"] <= TARGET_PEAK_KIB),
        ]
        if "evidently" in summaries:
            ratio = summaries["evidently"]["median_seconds"] / ours["median_seconds"]
            checks.append((f">= 8x faster than Evidently: {ratio:.1f}x", ratio >= TARGET_SPEEDUP))
        else:
            checks.append(("faster than Evidently: not measured (Evidently skipped)", False))
        for text, ok in checks:
            print(f"  [{'met' if ok else 'MISSED'}] {text}")
    if errors:
        print()
        print("Errors:")
        for e in errors:
            print(f"  {e}")
    print()
    print(f"total time {duration / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
