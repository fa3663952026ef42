"""Exact explanations: mlwarden's per-column attributions and reason codes against shap, on German Credit.

What it measures, in one run
    Three models of the German Credit data (target ``creditability``, classes ``bad``/``good``) are
    fitted as ``mlwarden train`` fits them (``fit_classifier``: the one-hot and scaling
    ColumnTransformer, then a logistic regression, a random forest or a histogram gradient
    boosting). Everything below uses, per estimator, the same fitted model, the same background
    (the 100 preprocessed training rows the training run recorded for explanations) and the same
    ``--rows`` (200) rows, spread evenly over the file and preprocessed once (1000 x 61 floats).
    What is explained is the model's own output for ``good``: the log-odds (logistic, boosting)
    or the probability (forest, the mean of its trees' probabilities, as shap explains forests).

    1. Cost of reason codes per row (mlwarden): ``Explainer(pipeline, background).explain`` (which
       checks ``base + sum == output`` to 1e-6 on every row) plus ``select_reasons`` (the at most
       four columns pushing hardest toward ``bad``), (a) all rows in one call, divided by the rows,
       and (b) one row per call (median over the rows), with the time to build the explainer.
    2. shap on the same model, background and rows: ``LinearExplainer`` (logistic), interventional
       ``TreeExplainer`` (the trees; ``check_additivity=False``, its gap is measured in 3.), in one
       call and one row per call (median over ``--shap-single`` (20) rows); then shap's default
       ``shap.Explainer`` on the raw rows with their string columns (what a user tries first: it
       cannot mask strings), and the usual work-around (categories as integer codes, a wrapper
       that decodes them, shap's Permutation explainer) on ``--raw-rows`` (5) rows, ``max_evals``
       ``--raw-evals`` (500), stopped after ``--raw-budget`` (30) seconds per model.
       Ratios are shap's cost over mlwarden's (above 1: mlwarden is cheaper).
    3. Exactness: the largest difference between mlwarden's values and shap's (summed per column);
       the additivity gap of each, ``|base + sum - model output|`` (shap's: its ``expected_value``
       and its values against the same model output), and the share of rows above 1e-6. Then the
       definition itself as the oracle: for ``--pairs`` (3) pairs of (row, one background row)
       differing in at most 16 of the 61 features, the interventional Shapley values by brute force
       over all ``2**d`` subsets of the differing features (the model's own output on hybrid rows,
       as ``tests/explain/test_attribution.py`` does), against mlwarden's and shap's values with
       that single-row background.
    4. Output widths: shap gives one value per feature the estimator sees (61: one per one-hot
       dummy), mlwarden one per original column (20).
    5. The server (``--skip-server`` to leave it out): a throw-away workspace (env master key) with
       the data and three models trained by ``ws.models.train(..., explanation={"adverse_class":
       "bad"})`` (logistic, gradient boosting, random forest), all promoted, and ``mlwarden serve
       --workers 1`` on loopback. A ``client`` token sends one-row ``{"instances": [row]}``; an
       ``explained-client`` token sends the same with ``"explain": true`` (contributions and reason
       codes in every answer, in the audit log too). Load: ``wrk`` with
       ``benchmarks/wrk_post.lua`` when it is on the PATH, else a small asyncio HTTP/1.1 client in a
       child process (raw keep-alive sockets, no HTTP library); 32 connections for ``--seconds``
       (10) per run after ``--warmup`` (2) unmeasured seconds. The load shares the machine's cores
       with the server, as in serving.py. Reported: requests/s both ways and the ratio, p50/p99,
       errors; then each body is sent once more with ``explain`` and every returned explanation
       is checked for additivity, and ``mlwarden_explanation_failures_total`` is read from
       ``/metrics``.

    The process's OpenMP threads (HistGradientBoosting predicts with one parallel region per tree)
    are left as installed unless ``--omp-threads N`` limits them in sections 1-4 (the server limits
    its own predictions to one thread). On a shared 2-core machine other work makes those regions
    wait for descheduled threads: the boosting rows then cost many times more; the load average is
    printed before and after.

    The summary checks the targets: logistic throughput with explanations at least 0.5x without;
    forest and boosting cost per row at most 2 ms (both ways of calling); no returned explanation
    failing additivity. Missed performance targets are reported, not hidden; the run exits 1 only
    when an explanation failed its additivity check or a server run had errors.

How to run (from the repository root)::

    .venv/bin/python benchmarks/explain.py                   # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/explain.py --skip-server     # sections 1-4 only
    .venv/bin/python benchmarks/explain.py --rows 50 --seconds 5

Needs the project's venv with shap (the oracle's extra), httpx, and optionally wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import machine_summary, package_versions, run_child, text_table

TARGET = "creditability"
DATASET = "credit-german"
ESTIMATORS = ("logistic", "random-forest", "gradient-boosting")
SERVED = (("credit-lr", "logistic"), ("credit-gb", "gradient-boosting"), ("credit-rf", "random-forest"))
TOLERANCE = 1e-6
TARGET_RATIO = 0.5  # logistic: requests/s with explanations over without
TARGET_ROW_MS = 2.0  # forest and boosting: per-row cost of reason codes
MOST_PLAYERS = 16  # the oracle's games: at most 2**16 hybrid rows


def say(message: str = "") -> None:
    print(message, flush=True)


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    value = seconds * 1e3
    return f"{value:.4f}" if value < 0.01 else f"{value:.3f}" if value < 10 else f"{value:,.1f}"


def ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "-"
    r = a / b
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x" if r < 10 else f"{r:,.0f}x"


def sci(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1e}"


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


# --- data and models -------------------------------------------------------------------------


def dense(matrix: Any) -> Any:
    import numpy as np

    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, dtype=np.float64)


def fit(frame: Any, estimator: str) -> dict[str, Any]:
    """The fitted model, its raw and preprocessed rows, and the raw rows of its recorded background."""
    import numpy as np

    from mlwarden.models._training import fit_classifier

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_classifier(frame, TARGET, estimator=estimator)
    fit_s = time.perf_counter() - start
    pre = result.pipeline.steps[0][1]
    raw = frame.drop(columns=[TARGET]).astype({c: "object" for c in result.parameters["categorical_features"]})
    features = dense(pre.transform(raw))
    background = np.asarray(result.background, dtype=np.float64)
    # The recorded background is preprocessed training rows: find their raw rows (for the raw-row shap run).
    where = {row.tobytes(): i for i, row in enumerate(features)}
    background_raw = [where.get(row.tobytes()) for row in background]
    return {
        "result": result,
        "raw": raw,
        "features": features,
        "background": background,
        "background_raw": None if None in background_raw else np.asarray(background_raw),
        "fit_s": fit_s,
    }


def column_sums(owner: Any, n_columns: int, per_feature: Any) -> Any:
    import numpy as np

    out = np.zeros((per_feature.shape[0], n_columns))
    np.add.at(out.T, owner, per_feature.T)
    return out


# --- 1. mlwarden ------------------------------------------------------------------------------


def time_mlwarden(fitted: dict[str, Any], picked: Any) -> dict[str, Any]:
    import numpy as np

    from mlwarden.explain import Explainer, ExplanationFailed, ReasonMap, select_reasons

    pipeline, background = fitted["result"].pipeline, fitted["background"]
    start = time.perf_counter()
    explainer = Explainer(pipeline, background)
    build_s = time.perf_counter() - start
    columns = explainer.columns
    reason_map = ReasonMap.build(columns=columns)
    rows = fitted["features"][picked]
    values = [fitted["raw"].iloc[int(i)][list(columns)].tolist() for i in picked]  # what a request carries
    n = len(rows)
    failed = 0

    def batch() -> Any:
        found = explainer.explain(rows)
        for i in range(n):
            select_reasons(columns, found.contributions[i], values[i], reason_map, adverse_sign=-1)
        return found

    found = batch()  # warm (and the values compared below)
    repeats: list[float] = []
    budget = time.perf_counter() + 1.0
    while len(repeats) < 5 and (not repeats or time.perf_counter() < budget):
        start = time.perf_counter()
        batch()
        repeats.append((time.perf_counter() - start) / n)
    singles: list[float] = []
    gaps: list[float] = []
    reasons_given = 0
    for i in range(n):
        start = time.perf_counter()
        try:
            one = explainer.explain(rows[i : i + 1])
        except ExplanationFailed:
            failed += 1
            continue
        reasons = select_reasons(columns, one.contributions[0], values[i], reason_map, adverse_sign=-1)
        singles.append(time.perf_counter() - start)
        gaps.append(float(one.gap[0]))
        reasons_given += len(reasons)
    return {
        "explainer": explainer,
        "build_s": build_s,
        "batch_s": statistics.median(repeats),
        "single_s": statistics.median(singles) if singles else math.nan,
        "contributions": found.contributions,
        "output": found.output,
        "gap": max(float(np.max(found.gap)), max(gaps, default=0.0)),
        "failed": failed,
        "reasons_per_row": reasons_given / max(1, len(singles)),
        "width": found.contributions.shape[1],
    }


# --- 2. shap ----------------------------------------------------------------------------------


def shap_explainer(shap: Any, model: Any, estimator: str, background: Any) -> Any:
    if estimator == "logistic":
        return shap.LinearExplainer(model, background)
    return shap.TreeExplainer(model, background, feature_perturbation="interventional")


def shap_values(explainer: Any, estimator: str, rows: Any) -> Any:
    import numpy as np

    if estimator == "logistic":
        values = np.asarray(explainer.shap_values(rows))
    else:
        values = np.asarray(explainer.shap_values(rows, check_additivity=False))
    return values[..., 1] if values.ndim == 3 else values


def shap_base(explainer: Any) -> float:
    import numpy as np

    expected = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    return float(expected[-1])  # two outputs (forest): the second is "good"


def time_shap(shap: Any, fitted: dict[str, Any], estimator: str, picked: Any, single_rows: int) -> dict[str, Any]:
    import numpy as np

    model = fitted["result"].pipeline.steps[1][1]
    rows = fitted["features"][picked]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        explainer = shap_explainer(shap, model, estimator, fitted["background"])
        build_s = time.perf_counter() - start
        shap_values(explainer, estimator, rows[:1])  # warm
        start = time.perf_counter()
        values = shap_values(explainer, estimator, rows)
        batch_s = (time.perf_counter() - start) / len(rows)
        singles = []
        for i in range(min(single_rows, len(rows))):
            start = time.perf_counter()
            shap_values(explainer, estimator, rows[i : i + 1])
            singles.append(time.perf_counter() - start)
    return {
        "build_s": build_s,
        "batch_s": batch_s,
        "single_s": statistics.median(singles) if singles else math.nan,
        "values": values,
        "base": shap_base(explainer),
        "width": int(np.shape(values)[1]),
    }


def raw_shap(shap: Any, fitted: dict[str, Any], mine: dict[str, Any], picked: Any, args: argparse.Namespace) -> str:
    """shap's default Explainer on the raw rows (strings), then the integer-code work-around; one line each."""
    import numpy as np
    import pandas as pd

    result, raw = fitted["result"], fitted["raw"]
    pipeline = result.pipeline
    if fitted["background_raw"] is None:
        return "raw-row shap: the recorded background's raw rows were not found; skipped"
    background = raw.iloc[fitted["background_raw"]]
    some = raw.iloc[picked[: args.raw_rows]]
    lines = []
    for label, model in (("shap.Explainer(pipeline, raw)", pipeline), ("shap.Explainer(predict_proba, raw)", None)):
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                chosen = pipeline.predict_proba if model is None else model
                found = shap.Explainer(chosen, background)
                found(some, max_evals=args.raw_evals)
            lines.append(f"{label}: worked ({(time.perf_counter() - start) / len(some) * 1e3:,.0f} ms a row)")
        except Exception as exc:  # shap's failure is the finding
            lines.append(f"{label}: fails after {time.perf_counter() - start:.2f} s: {one_line(exc)}")

    # The work-around: categories as integer codes, a wrapper that decodes them and calls the model.
    explainer = mine["explainer"]
    columns = list(raw.columns)
    categorical = set(result.parameters["categorical_features"])
    levels = {c: np.asarray(sorted(raw[c].astype(str).unique()), dtype=object) for c in categorical}
    dtypes = raw.dtypes.to_dict()
    coded = np.column_stack(
        [np.searchsorted(levels[c], raw[c].astype(str)) if c in categorical else raw[c].to_numpy() for c in columns]
    ).astype(np.float64)
    pre = pipeline.steps[0][1]

    def model_output(z: Any) -> Any:
        frame = pd.DataFrame(z, columns=columns)
        for c in columns:
            frame[c] = levels[c][frame[c].to_numpy().astype(int)] if c in categorical else frame[c].astype(dtypes[c])
        return explainer.output(dense(pre.transform(frame)))

    permutation = shap.explainers.Permutation(model_output, shap.maskers.Independent(coded[fitted["background_raw"]]))
    done, spent, worst, first = 0, 0.0, 0.0, math.nan
    by_column = [columns.index(c) for c in explainer.columns]
    budget = time.perf_counter() + args.raw_budget
    # One row more than asked: the first call compiles shap's numba code and is timed apart.
    for k, i in enumerate(picked[: args.raw_rows + 1]):
        if k > 1 and time.perf_counter() > budget:
            break
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = permutation(coded[int(i) : int(i) + 1], max_evals=args.raw_evals, silent=True)
        except Exception as exc:
            lines.append(f"codes + Permutation: fails: {one_line(exc)}")
            return "\n    ".join(lines)
        took = time.perf_counter() - start
        worst = max(worst, float(np.max(np.abs(out.values[0][by_column] - mine["contributions"][k]))))
        if k == 0:
            first = took
        else:
            spent += took
            done += 1
    stopped = "" if done == min(args.raw_rows, len(picked) - 1) else f", stopped by --raw-budget {args.raw_budget:g} s"
    lines.append(
        f"codes + Permutation (max_evals {args.raw_evals}): {spent / max(done, 1) * 1e3:,.0f} ms a row over "
        f"{done} rows (the first call {first:.1f} s, with numba compiling{stopped}); 20 values a row, "
        f"max |shap - mlwarden| {worst:.1e} (sampled permutations: exact only for an additive model)"
    )
    return "\n    ".join(lines)


# --- 3. the definition ------------------------------------------------------------------------


def brute_force(explainer: Any, x: Any, b: Any) -> Any:
    """Interventional Shapley values per feature of row ``x`` against one background row ``b``."""
    from mlwarden.explain._shapley_oracle import brute_force_shapley

    return brute_force_shapley(explainer.output, x, b)


def small_games(rows: Any, background: Any, count: int) -> list[tuple[int, int, int]]:
    """Up to ``count`` (row, background row, players) with at most MOST_PLAYERS players, the largest first."""
    import numpy as np

    differ = (rows[:, None, :] != background[None, :, :]).sum(axis=2)
    found = []
    used: set[int] = set()
    for flat in np.argsort(-np.where(differ <= MOST_PLAYERS, differ, -1), axis=None, kind="stable"):
        i, j = divmod(int(flat), background.shape[0])
        if differ[i, j] > MOST_PLAYERS or len(found) == count:
            break
        if i not in used:
            used.add(i)
            found.append((i, j, int(differ[i, j])))
    return found


def oracle(shap: Any, fitted: dict[str, Any], estimator: str, picked: Any, count: int) -> dict[str, Any]:
    import numpy as np

    from mlwarden.explain import Explainer

    pipeline = fitted["result"].pipeline
    model = pipeline.steps[1][1]
    rows, background = fitted["features"][picked], fitted["background"]
    games = small_games(rows, background, count)
    ours = theirs = 0.0
    start = time.perf_counter()
    for i, j, _ in games:
        x, b = rows[i], background[j : j + 1]
        explainer = Explainer(pipeline, b)
        want = column_sums(explainer._owner, len(explainer.columns), brute_force(explainer, x, b[0])[None, :])
        got = explainer.explain(x[None, :]).contributions
        ours = max(ours, float(np.max(np.abs(got - want))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = shap_values(shap_explainer(shap, model, estimator, b), estimator, x[None, :])
        theirs = max(
            theirs, float(np.max(np.abs(column_sums(explainer._owner, len(explainer.columns), values) - want)))
        )
    return {
        "games": games,
        "ours": ours if games else math.nan,
        "theirs": theirs if games else math.nan,
        "seconds": time.perf_counter() - start,
    }


def explain_one(shap: Any, frame: Any, estimator: str, picked: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Sections 1-4 for one estimator: fit, time both, compare both with each other and the definition."""
    import numpy as np

    say(f"\n== {estimator}")
    fitted = fit(frame, estimator)
    say(f"  fitted in {fitted['fit_s']:.2f} s: {fitted['features'].shape[1]} features after preprocessing")
    mine = time_mlwarden(fitted, picked)
    say(f"  mlwarden: {ms(mine['single_s'])} ms a row one per call, {ms(mine['batch_s'])} ms a row in one call")
    theirs = time_shap(shap, fitted, estimator, picked, args.shap_single)
    say(f"  shap: {ms(theirs['single_s'])} ms a row one per call, {ms(theirs['batch_s'])} ms a row in one call")
    explainer = mine["explainer"]
    shap_columns = column_sums(explainer._owner, len(explainer.columns), theirs["values"])
    shap_gap = np.abs(theirs["base"] + theirs["values"].sum(axis=1) - mine["output"])
    exact = oracle(shap, fitted, estimator, picked, args.pairs)
    say(f"  oracle: {len(exact['games'])} games by brute force in {exact['seconds']:.1f} s")
    raw = raw_shap(shap, fitted, mine, picked, args)
    say("  shap on the raw rows:\n    " + raw)
    return {
        "units": explainer.units,
        "mine": mine,
        "theirs": theirs,
        "diff": float(np.max(np.abs(mine["contributions"] - shap_columns))),
        "shap_gap": float(np.max(shap_gap)),
        "shap_over": float(np.mean(shap_gap > TOLERANCE)),
        "exact": exact,
        "raw": raw,
    }


# --- 5. the server ----------------------------------------------------------------------------


def load_child() -> int:
    """``--load-child``: keep-alive POSTs on raw sockets; spec on stdin, one JSON line of figures out."""
    spec = json.load(sys.stdin)
    host, port, seconds = spec["host"], spec["port"], float(spec["seconds"])
    head = (
        f"POST {spec['path']} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {spec['token']}\r\n"
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    )
    requests = [head.format(len(b.encode())).encode() + b.encode() for b in spec["bodies"]]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = {"socket": 0}
    length = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)

    async def connection(offset: int, end: float) -> None:
        k = offset
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                errors["socket"] += 1
                await asyncio.sleep(0.01)
                continue
            try:
                while time.monotonic() < end:
                    request = requests[k % len(requests)]
                    k += 1
                    start = time.perf_counter()
                    writer.write(request)
                    headers = await reader.readuntil(b"\r\n\r\n")
                    found = length.search(headers)
                    if found is None:
                        raise OSError("an answer without Content-Length")
                    await reader.readexactly(int(found.group(1)))
                    latencies.append(time.perf_counter() - start)
                    status = headers[9:12].decode()
                    statuses[status] = statuses.get(status, 0) + 1
                    if b"\r\nconnection: close" in headers.lower():
                        break
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors["socket"] += 1
            finally:
                writer.close()

    async def main() -> float:
        start = time.monotonic()
        end = start + seconds
        await asyncio.gather(*(connection(7 * c, end) for c in range(spec["connections"])))
        return time.monotonic() - start

    duration = asyncio.run(main())
    latencies.sort()

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else math.nan

    ok = sum(v for k, v in statuses.items() if k.startswith(("2", "3")))
    figures = {
        "requests": len(latencies),
        "seconds": duration,
        "non_2xx": len(latencies) - ok,
        "socket_errors": errors["socket"],
        "mean_ms": statistics.fmean(latencies) * 1e3 if latencies else math.nan,
        "p50_ms": pick(0.5),
        "p90_ms": pick(0.9),
        "p99_ms": pick(0.99),
    }
    print(json.dumps(figures))
    return 0


def drive(server: Any, path: str, token: str, bodies: list[str], seconds: float, connections: int, tmp: Path) -> Any:
    """One load run: wrk when installed, else the asyncio child; a serving.LoadResult."""
    from serving import LoadResult, run_wrk

    if shutil.which("wrk"):
        bodies_file = tmp / f"bodies-{abs(hash((path, bodies[0])))}.jsonl"
        bodies_file.write_text("".join(b + "\n" for b in bodies))
        return run_wrk(server.base_url + path, bodies_file, token, seconds, connections, 1)
    port = int(server.base_url.rsplit(":", 1)[1])
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "path": path,
        "token": token,
        "bodies": bodies,
        "seconds": seconds,
        "connections": connections,
    }
    return LoadResult(**run_child([sys.executable, str(Path(__file__).resolve()), "--load-child"], spec))


def server_section(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import pandas as pd

    import mlwarden
    from mlwarden.config import Settings
    from mlwarden.usecases import german_credit_csv
    from serving import free_port as pick_port
    from serving import running

    out: dict[str, Any] = {"runs": {}, "checked": 0, "failed": 0, "errors": 0, "metric_failures": None}
    tmp = Path(tempfile.mkdtemp(prefix="mlwarden-explain-", dir=args.dir))
    try:
        master = base64.b64encode(os.urandom(32)).decode()
        settings = Settings(home=tmp / "ws", master_key=master)
        start = time.perf_counter()
        say(f"workspace: {settings.home} (env master key; data put, 3 x train with explanations, promote, users)")
        with mlwarden.Workspace.init(settings=settings, key_source="env") as ws:
            ws.datasets.put(german_credit_csv(), name=DATASET)
            _, reviewer_token = ws.users.add("bench-reviewer", "reviewer")
            for name, estimator in SERVED:
                version = ws.models.train(
                    name, DATASET, TARGET, estimator=estimator, explanation={"adverse_class": "bad"}
                )
                # Four eyes: a reviewer other than the admin who trained it approves it first.
                with mlwarden.Workspace.open(settings=settings, token=reviewer_token) as reviewer:
                    reviewer.models.approve(name, version.version)
                ws.models.promote(name, version.version, "production")
            limits = {"rate_limit": 1_000_000_000, "daily_quota": 1_000_000_000}
            _, explained_token = ws.users.add("bench-explained", "explained-client", **limits)
            _, client_token = ws.users.add("bench-client", "client", **limits)
        admin_token = (settings.home / "keys" / "admin.token").read_text().strip()
        say(f"  done in {time.perf_counter() - start:.1f} s")

        frame = pd.read_csv(german_credit_csv()).drop(columns=[TARGET])
        records = json.loads(frame.iloc[:: max(1, len(frame) // 16)].head(16).to_json(orient="records"))
        plain = [json.dumps({"instances": [r]}, separators=(",", ":")) for r in records]
        explained = [json.dumps({"instances": [r], "explain": True}, separators=(",", ":")) for r in records]

        env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
        env["MLWARDEN_MASTER_KEY"] = master
        port = pick_port()
        argv = [
            sys.executable, "-m", "mlwarden", "serve", "--home", str(settings.home),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        tool = (
            "wrk (benchmarks/wrk_post.lua)" if shutil.which("wrk") else "asyncio raw-socket client (wrk not installed)"
        )
        say(f"load: {tool}, {args.connections} connections, {args.warmup:g} s warm-up + {args.seconds:g} s per run")
        with running("mlwarden", argv, env, tmp / "serve.log", port) as server:
            for name, estimator in SERVED:
                path = f"/v1/models/{name}/predict"
                for label, token, bodies in (("without", client_token, plain), ("with", explained_token, explained)):
                    if args.warmup > 0:
                        drive(server, path, token, bodies, args.warmup, args.connections, tmp)
                    found = drive(server, path, token, bodies, args.seconds, args.connections, tmp)
                    out["runs"][(estimator, label)] = found
                    out["errors"] += found.errors
                    say(
                        f"  {name} ({estimator}) {label} explain: {found.rps:,.1f} requests/s, "
                        f"p50 {found.p50_ms:.1f} ms, p99 {found.p99_ms:.1f} ms, {found.errors} errors"
                    )
                # Every explanation in an answer must add up to the model's output.
                with httpx.Client(base_url=server.base_url, timeout=30) as client:
                    for body in explained:
                        reply = client.post(
                            path,
                            content=body,
                            headers={"Authorization": f"Bearer {explained_token}", "Content-Type": "application/json"},
                        )
                        if reply.status_code != 200:
                            out["failed"] += 1
                            continue
                        for e in reply.json()["explanations"]:
                            out["checked"] += 1
                            widths = out.setdefault("widths", set())
                            widths.add(len(e["contributions"]))
                            if abs(e["base"] + sum(e["contributions"].values()) - e["output"]) > TOLERANCE:
                                out["failed"] += 1
            metrics = httpx.get(
                server.base_url + "/metrics", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10
            )
            if metrics.status_code == 200:
                counted = re.findall(r"^mlwarden_explanation_failures_total\{[^}]*\}\s+(\S+)", metrics.text, re.M)
                out["metric_failures"] = sum(float(v) for v in counted)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="rows explained per estimator (default 200)")
    parser.add_argument("--shap-single", type=int, default=20, help="rows shap explains one per call (default 20)")
    parser.add_argument("--pairs", type=int, default=3, help="(row, background row) games for the oracle (default 3)")
    parser.add_argument("--raw-rows", type=int, default=5, help="raw rows for shap's default Explainer (default 5)")
    parser.add_argument("--raw-evals", type=int, default=500, help="max_evals of shap's Permutation (default 500)")
    parser.add_argument("--raw-budget", type=float, default=30.0, help="seconds for the raw-row shap per model")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load per server run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument(
        "--omp-threads",
        type=int,
        default=0,
        help="limit OpenMP (HistGradientBoosting's predictions) to N threads in sections 1-4 (default 0: as installed)",
    )
    parser.add_argument("--skip-server", action="store_true", help="leave out section 5 (the server)")
    parser.add_argument("--dir", default=None, help="folder for the throw-away workspace (default: system temp)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.seconds <= 0 or args.warmup < 0 or args.connections < 1 or args.raw_rows < 1:
        parser.error("--rows, --raw-rows and --connections must be at least 1, --seconds positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--load-child"]:
        return load_child()
    args = parse_args(argv)
    import numpy as np
    import pandas as pd
    import shap
    import threadpoolctl

    from mlwarden.usecases import german_credit_csv

    say("explanations benchmark: mlwarden's exact attributions and reason codes against shap, German Credit")
    say(f"machine: {machine_summary()}")
    versions = package_versions("shap", "scikit-learn", "numpy", "pandas", "numba")
    say("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "openssl"))
    load = os.getloadavg()
    say(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work on the machine skews figures)")
    frame = pd.read_csv(german_credit_csv())
    picked = np.unique(np.linspace(0, len(frame) - 1, min(args.rows, len(frame))).astype(int))
    say(f"rows explained: {len(picked)} of {len(frame)}, spread over the file; background: the 100 recorded rows")

    pools = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpoolctl.threadpool_info())
    limit: Any = contextlib.nullcontext()
    if args.omp_threads > 0:
        limit = threadpoolctl.threadpool_limits(limits=args.omp_threads, user_api="openmp")
    say(f"thread pools: {pools}" + (f"; OpenMP limited to {args.omp_threads}" if args.omp_threads > 0 else ""))
    found: dict[str, dict[str, Any]] = {}
    with limit:
        for estimator in ESTIMATORS:
            found[estimator] = explain_one(shap, frame, estimator, picked, args)

    say("\n1./2. cost per row: reason codes (explain with its additivity check + select_reasons) and shap values")
    rows = []
    for est, f in found.items():
        m, t = f["mine"], f["theirs"]
        rows.append(
            [
                est,
                ms(m["build_s"]),
                ms(m["single_s"]),
                ms(m["batch_s"]),
                ms(t["build_s"]),
                ms(t["single_s"]),
                ms(t["batch_s"]),
                ratio(t["single_s"], m["single_s"]),
                ratio(t["batch_s"], m["batch_s"]),
            ]
        )
    headers = ["estimator", "mlw build", "mlw 1/call", "mlw batch", "shap build", "shap 1/call", "shap batch"]
    say(text_table([*headers, "shap/mlw 1/call", "shap/mlw batch"], rows, right=[False, *([True] * 8)]))
    say(
        "  (milliseconds; shap 1/call is the median of its first rows, shap batch excludes its additivity check;\n"
        "   mlwarden's figures include the check and the reason codes)"
    )

    say("\n3. exactness (in each model's units; shap's values summed per column)")
    rows = []
    for est, f in found.items():
        e = f["exact"]
        players = ",".join(str(g[2]) for g in e["games"]) or "none"
        rows.append(
            [
                est,
                f["units"],
                sci(f["diff"]),
                sci(f["mine"]["gap"]),
                str(f["mine"]["failed"]),
                sci(f["shap_gap"]),
                f"{f['shap_over']:.0%}",
                players,
                sci(e["ours"]),
                sci(e["theirs"]),
            ]
        )
    headers = ["estimator", "units", "|mlw-shap|", "mlw gap", "mlw failed", "shap gap", "shap >1e-6"]
    say(text_table([*headers, "players", "|mlw-def|", "|shap-def|"], rows, right=[False, False, *([True] * 8)]))
    say(
        "  gap: max |base + sum - model output| over the rows; players: features differing in each oracle game\n"
        "  (brute force over 2**players subsets); |x-def|: the largest miss of the definition in those games"
    )

    say("\n4. output widths (values per explained row)")
    say(
        text_table(
            ["estimator", "shap", "mlwarden", "mlwarden reasons/row"],
            [
                [e, str(f["theirs"]["width"]), str(f["mine"]["width"]), f"{f['mine']['reasons_per_row']:.1f}"]
                for e, f in found.items()
            ],
            right=[False, True, True, True],
        )
    )
    say("  shap: one value per feature the estimator sees (a one-hot dummy each); mlwarden: one per original column")

    served: dict[str, Any] | None = None
    server_note = "skipped (--skip-server)"
    if not args.skip_server:
        say("\n5. the server: mlwarden serve --workers 1, one-row requests, without and with explain")
        try:
            served = server_section(args)
        except Exception as exc:  # report and go on to the summary
            server_note = f"failed: {one_line(exc)}"
            say(f"  {server_note}")
        if served is not None:
            rows = []
            for _, est in SERVED:
                off, on = served["runs"][(est, "without")], served["runs"][(est, "with")]
                rows.append(
                    [
                        est,
                        f"{off.rps:,.1f}",
                        f"{on.rps:,.1f}",
                        f"{on.rps / off.rps:.2f}x" if off.rps else "-",
                        f"{off.p50_ms:.1f} / {off.p99_ms:.1f}",
                        f"{on.p50_ms:.1f} / {on.p99_ms:.1f}",
                        f"{off.errors} / {on.errors}",
                    ]
                )
            headers = ["model", "req/s without", "req/s with", "with/without", "p50/p99 ms without", "p50/p99 with"]
            say(text_table([*headers, "errors"], rows, right=[False, *([True] * 6)]))
            widths = ",".join(str(w) for w in sorted(served.get("widths", set())))
            say(
                f"  returned explanations checked: {served['checked']}, failing additivity or not 200: "
                f"{served['failed']}; contributions per answer: {widths}; "
                f"mlwarden_explanation_failures_total: {served['metric_failures']}"
            )

    load = os.getloadavg()
    say(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say("summary")
    checks: list[tuple[str, str, bool | None]] = []
    if served is not None:
        off, on = served["runs"][("logistic", "without")], served["runs"][("logistic", "with")]
        share = on.rps / off.rps if off.rps else 0.0
        checks.append(
            (f"logistic server throughput with explain >= {TARGET_RATIO}x without", f"{share:.2f}x", share >= 0.5)
        )
    else:
        checks.append((f"logistic server throughput with explain >= {TARGET_RATIO}x without", server_note, None))
    for est in ("random-forest", "gradient-boosting"):
        m = found[est]["mine"]
        worst = max(m["single_s"], m["batch_s"])
        shown = f"{ms(m['single_s'])} ms one per call, {ms(m['batch_s'])} ms in one call"
        checks.append((f"{est} reason codes <= {TARGET_ROW_MS:g} ms a row", shown, worst * 1e3 <= TARGET_ROW_MS))
    failed = sum(f["mine"]["failed"] for f in found.values()) + (served["failed"] if served else 0)
    gap = max(f["mine"]["gap"] for f in found.values())
    checked = len(found) * len(picked) * 2 + (served["checked"] if served else 0)
    metric = served["metric_failures"] if served else None
    extra = "" if metric is None else f", server counted {metric:g} failures"
    checks.append(
        (
            "no returned explanation fails additivity",
            f"{failed} failed of {checked} checked, max gap {gap:.1e}{extra}",
            failed == 0 and gap <= TOLERANCE and not metric,
        )
    )
    mark = {True: "met", False: "MISSED", None: "not measured"}
    say(text_table(["target", "measured", ""], [[t, v, mark[ok]] for t, v, ok in checks]))
    bad = failed > 0 or gap > TOLERANCE or bool(metric) or (served is not None and served["errors"] > 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
