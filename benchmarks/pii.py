"""PII discovery: mlwarden's column detector beside Microsoft Presidio, on one synthetic table with ground truth.

What it measures
    Data (``benchmarks/_pii_data.py``, seeded): a customer-service table of 64 columns and ``--rows`` (100,000)
    rows, with ground truth per column: 23 direct identifiers (e-mails, phone numbers valid in their numbering
    plans, IBANs, payment cards, US SSNs, UK NINOs, German Steuer-IdNr, French NIR, IPv4/IPv6, person names,
    free-text comments), 17 quasi-identifiers (dates of birth in four forms, postal codes of five countries, ages,
    sex/gender in four codings, occupations) and 24 columns that are not personal data, many of them lookalikes
    (phone-shaped order numbers, 16-digit references failing Luhn, IBAN-shaped codes failing mod 97, 11-digit
    numbers failing the Steuer-IdNr rule, counts 0-100, versions like 1.2.3.4, UUIDs, hashes, event dates,
    product names under the column name ``name``...). Locales US, UK, DE, FR, ES, NL, IT. Column names are
    multilingual, some uninformative (``col_17``, ``f3``), some misleading. The table is written to a Parquet file
    (row groups of ``--chunk-rows``) and every tool reads that file, outside its clock.

    Tools
    ours            ``mlwarden.privacy._detect.PiiDetector(sample_size=1000, random_state=seed).detect(frame)`` on
                    the whole frame, in this process; seconds include the detector's own sampling (median of 3).
    ours-streamed   as ``data put`` does it: ``ColumnSampler(1000, random_state=seed)`` fed the Parquet file in
                    ``--chunk-rows`` (10,000) row batches, then ``detect(sampler.frame())``; seconds include the
                    Parquet batch decoding (shown apart too).
    presidio        presidio-analyzer's ``BatchAnalyzerEngine.analyze_dict`` over 1,000 non-null values per column
                    (the same sample size), the column name passed as context, in Presidio's own venv
                    (``benchmarks/_pii_presidio.py`` says how the engine is set up). A column's label is the
                    entity type found in the largest share of its sampled values (at any score, Presidio's
                    default threshold 0) if that share is >= 0.5; ties go to the higher mean score. The same
                    analysis is also labelled with a share of 0.3 and with a score threshold of 0.5 (rows
                    "presidio share>=0.3", "presidio score>=0.5"), to show how much the rule matters.
    presidio-structured  presidio-structured's ``PandasAnalysisBuilder().generate_analysis(frame, n=1000)``, its
                    default "most_common" strategy, the same engine.

    Presidio's entity types as our kinds: EMAIL_ADDRESS email, PHONE_NUMBER phone, IBAN_CODE iban, CREDIT_CARD
    payment_card, US_SSN us_ssn, UK_NINO uk_nino, DE_TAX_ID de_tax_id, IP_ADDRESS ip_address, PERSON
    person_name, UK_POSTCODE and DE_PLZ postal_code, LOCATION postal_code (generous: Presidio's nearest type),
    DATE_TIME date_of_birth (Presidio has no date-of-birth type: this gives it recall on birth dates and false
    positives on event dates). Any other type (US_BANK_NUMBER, US_DRIVER_LICENSE, UUID, URL, NRP, ...) is a
    prediction of personal data of a kind that is never right ("other:TYPE"). Kinds Presidio cannot represent
    (fr_nir, age, sex, occupation, free_text) count as misses.

    Figures, per tool, pooled over ``--seeds`` tables: kind precision (columns whose predicted kind is the true
    one / columns given a kind) and recall (/ columns that have a kind), "any-PII" precision and recall (only
    personal vs not), category accuracy (direct / quasi / none, over all columns), each with a 95% Wilson
    interval (the columns of one table are ~64 cases, and the seeds repeat the same column designs with new
    values, so the intervals are optimistic for more than one seed); seconds per table (median over seeds) and
    how many times mlwarden's figure each tool takes. Then every column with its truth and each tool's label
    (``*`` marks an error), and mlwarden's errors with their evidence strings.

Baseline virtual environment
    ``make bench-pii-venv`` creates ``../bench-venvs/presidio`` beside the repository (``--presidio-python`` names
    another). Missing: Presidio is reported as skipped with that command.

How to run (from the repository root)::

    make bench-pii-venv
    .venv/bin/python benchmarks/pii.py                          # 100,000 rows, seed 0
    .venv/bin/python benchmarks/pii.py --seeds 3                # seeds 0, 1, 2, pooled
    .venv/bin/python benchmarks/pii.py --rows 20000 --no-structured --no-scaling   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import machine_summary, markdown_table, pick_workdir, text_table
from _pii_data import COLUMNS, TRUTH, category, self_check, table

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_pii_presidio.py"
VENVS = HERE.parent.parent / "bench-venvs"

PRESIDIO_TO_KIND = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "CREDIT_CARD": "payment_card",
    "US_SSN": "us_ssn",
    "UK_NINO": "uk_nino",
    "DE_TAX_ID": "de_tax_id",
    "IP_ADDRESS": "ip_address",
    "PERSON": "person_name",
    "UK_POSTCODE": "postal_code",
    "DE_PLZ": "postal_code",
    "LOCATION": "postal_code",
    "DATE_TIME": "date_of_birth",
}
PRESIDIO_CANNOT = ("fr_nir", "age", "sex", "occupation", "free_text")
# (tool label, score threshold, share threshold) for the labelling rules applied to Presidio's analysis.
PRESIDIO_RULES = [
    ("presidio", 0.0, 0.5),
    ("presidio share>=0.3", 0.0, 0.3),
    ("presidio score>=0.5", 0.5, 0.5),
]


def presidio_kind(entity: str | None) -> str | None:
    if entity is None:
        return None
    return PRESIDIO_TO_KIND.get(entity, f"other:{entity}")


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


def predicted_category(kind: str | None) -> str | None:
    """A prediction's category; Presidio's types with no kind of ours ("other:US_BANK_NUMBER") count as direct."""
    if kind is None:
        return None
    return "direct" if kind.startswith("other:") else category(kind)


def scores(pairs: Sequence[tuple[str | None, str | None]]) -> dict[str, tuple[int, int]]:
    """(k, n) for each figure, from (truth, predicted) pairs."""
    predicted = [(t, p) for t, p in pairs if p is not None]
    actual = [(t, p) for t, p in pairs if t is not None]
    cat = [category(t) == predicted_category(p) for t, p in pairs]
    return {
        "precision": (sum(t == p for t, p in predicted), len(predicted)),
        "recall": (sum(t == p for t, p in actual), len(actual)),
        "any_precision": (sum(t is not None for t, _ in predicted), len(predicted)),
        "any_recall": (sum(p is not None for _, p in actual), len(actual)),
        "category": (sum(cat), len(pairs)),
        "direct_recall": (
            sum(t == p for t, p in actual if category(t) == "direct"),
            sum(category(t) == "direct" for t, _ in actual),
        ),
        "quasi_recall": (
            sum(t == p for t, p in actual if category(t) == "quasi"),
            sum(category(t) == "quasi" for t, _ in actual),
        ),
    }


def fmt_share(kn: tuple[int, int], ci: bool = True) -> str:
    k, n = kn
    if n == 0:
        return "n/a"
    lo, hi = wilson(k, n)
    text = f"{100 * k / n:.0f}% ({k}/{n}"
    return text + (f"; {100 * lo:.0f}-{100 * hi:.0f}%)" if ci else ")")


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


def detect_digest() -> str:
    import mlwarden.privacy._detect as detect

    path = Path(detect.__file__)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(path.stat().st_mtime))
    return f"{path} sha256 {digest} (modified {stamp} UTC)"


def run_ours(path: Path, seed: int, sample: int, chunk_rows: int, repeats: int = 3) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    from mlwarden.privacy._detect import ColumnSampler, PiiDetector

    frame = pd.read_parquet(path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        findings = PiiDetector(sample_size=sample, random_state=seed).detect(frame)
        times.append(time.perf_counter() - start)
    del frame

    start = time.perf_counter()
    decode = 0.0
    sampler = ColumnSampler(sample, random_state=seed)
    batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
    chunks = 0
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            decode += time.perf_counter() - t0
            break
        chunk = batch.to_pandas()
        decode += time.perf_counter() - t0
        sampler.add(chunk)
        chunks += 1
    streamed = PiiDetector(sample_size=sample, random_state=seed).detect(sampler.frame())
    stream_seconds = time.perf_counter() - start

    def as_json(found: dict[str, Any]) -> dict[str, Any]:
        return {c: {"kind": f.kind, "confidence": f.confidence, "evidence": f.evidence} for c, f in found.items()}

    return {
        "ours": {
            "labels": {c: f.kind for c, f in findings.items()},
            "seconds": statistics.median(times),
            "all_seconds": times,
            "findings": as_json(findings),
        },
        "ours-streamed": {
            "labels": {c: f.kind for c, f in streamed.items()},
            "seconds": stream_seconds,
            "decode_seconds": decode,
            "chunks": chunks,
            "findings": as_json(streamed),
        },
    }


def presidio_versions(python: str) -> dict[str, str]:
    proc = subprocess.run([python, str(WORKER), "--versions"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    out: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def run_presidio(python: str, path: Path, args: argparse.Namespace, seed: int, first: bool) -> dict[str, Any]:
    argv = [python, str(WORKER), str(path), "--sample", str(args.sample), "--seed", str(seed), "--ner", args.ner]
    if args.no_structured or (args.structured_first_only and not first):
        argv.append("--no-structured")
    if first and not args.no_scaling and args.scaling_columns:
        argv += ["--scaling-columns", args.scaling_columns, "--scaling-budget", str(args.scaling_budget)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {args.timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": tail}
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def presidio_label(column: dict[str, Any], thresholds: list[float], score: float, share: float) -> str | None:
    """The entity type found in the largest share of the column's values at ``score``, if that share >= ``share``."""
    n = column["n"]
    if n == 0:
        return None
    i = min(range(len(thresholds)), key=lambda j: abs(thresholds[j] - score))
    best: tuple[float, float, str] | None = None
    for entity, t in column["types"].items():
        s = t["hist"][i] / n
        if s >= share - 1e-12:
            key = (s, t["mean_score"], entity)
            if best is None or key[:2] > best[:2] or (key[:2] == best[:2] and entity < best[2]):
                best = key
    return None if best is None else best[2]


def presidio_tools(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    analyze = result["analyze"]
    thresholds = result["config"]["thresholds"]
    for label, score, share in PRESIDIO_RULES:
        entities = {c: presidio_label(analyze["columns"][c], thresholds, score, share) for c in COLUMNS}
        out[label] = {
            "labels": {c: presidio_kind(e) for c, e in entities.items()},
            "entities": entities,
            "seconds": analyze["seconds"],
        }
    structured = result.get("structured")
    if structured and "mapping" in structured:
        mapping = structured["mapping"]
        out["presidio-structured"] = {
            "labels": {c: presidio_kind(mapping.get(c)) for c in COLUMNS},
            "entities": {c: mapping.get(c) for c in COLUMNS},
            "seconds": structured["seconds"],
        }
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows of the table (default 100,000)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--seeds", type=int, default=1, help="tables to run, seeds SEED..SEED+N-1 (default 1)")
    p.add_argument("--sample", type=int, default=1000, help="values per column each tool looks at (default 1,000)")
    p.add_argument("--chunk-rows", type=int, default=10_000, help="rows per streamed chunk (default 10,000)")
    p.add_argument("--presidio-python", default=str(VENVS / "presidio" / "bin" / "python"))
    p.add_argument("--ner", choices=["auto", "none"], default="auto", help="Presidio's spaCy NER: auto or none")
    p.add_argument("--no-presidio", action="store_true", help="run mlwarden only")
    p.add_argument("--no-structured", action="store_true", help="skip presidio-structured")
    p.add_argument("--structured-first-only", action="store_true", help="presidio-structured on the first table only")
    p.add_argument("--no-scaling", action="store_true", help="skip Presidio's full-column timing")
    p.add_argument("--scaling-columns", default="customer_email,ticket_comment")
    p.add_argument("--scaling-budget", type=float, default=150.0, help="seconds for the full-column timing")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before Presidio's run is killed")
    p.add_argument("--dir", default=None, help="where the Parquet file goes (default /dev/shm or the temp dir)")
    p.add_argument("--json", default=None, help="also write every run's raw results to this file")
    p.add_argument("--markdown", action="store_true", help="also print the summary as markdown")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    seeds = list(range(args.seed, args.seed + args.seeds))
    print("PII discovery benchmark: mlwarden vs Microsoft Presidio")
    print(f"machine: {machine_summary()}")
    print(
        f"data: {args.rows:,} rows x {len(COLUMNS)} columns ({sum(k is not None for k in TRUTH.values())} personal,"
        f" {sum(k is None for k in TRUTH.values())} not), seeds {', '.join(map(str, seeds))};"
        f" {args.sample:,} values per column per tool"
    )
    try:
        print(f"mlwarden detector: {detect_digest()}")
    except Exception as exc:
        print(f"mlwarden.privacy._detect is not available: {exc}")
        return 1
    presidio_python: str | None = None
    skipped = ""
    if not args.no_presidio:
        if not Path(args.presidio_python).exists():
            skipped = f"skipped: {args.presidio_python} not found (create it with `make bench-pii-venv`)"
        else:
            v = presidio_versions(args.presidio_python)
            if "error" in v:
                skipped = f"skipped: {v['error']} (see `make bench-pii-venv`)"
            else:
                presidio_python = args.presidio_python
                print("presidio: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    if skipped:
        print(f"presidio: {skipped}")
    sys.stdout.flush()

    workdir, why = pick_workdir(args.dir, args.rows * 1200, "pii-bench-")
    print(f"files: {workdir} ({why})")
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    presidio_config: dict[str, Any] | None = None
    scaling: dict[str, Any] | None = None
    try:
        for i, seed in enumerate(seeds):
            t0 = time.perf_counter()
            frame, truth = table(args.rows, seed)
            generated = time.perf_counter() - t0
            problems = self_check(frame)
            if problems:
                errors.append(f"seed {seed}: generator self-check: {'; '.join(problems)}")
            path = workdir / f"table-{seed}.parquet"
            frame.to_parquet(path, index=False, row_group_size=args.chunk_rows)
            del frame
            size = path.stat().st_size
            run: dict[str, Any] = {"seed": seed, "truth": truth, "tools": {}, "generate_seconds": generated}
            run["tools"].update(run_ours(path, seed, args.sample, args.chunk_rows))
            line = (
                f"  seed {seed}: table {generated:.1f}s ({size / 2**20:.0f} MiB Parquet);"
                f" ours {run['tools']['ours']['seconds']:.2f}s,"
                f" streamed {run['tools']['ours-streamed']['seconds']:.2f}s"
            )
            if presidio_python is not None:
                result = run_presidio(presidio_python, path, args, seed, i == 0)
                if "error" in result:
                    errors.append(f"seed {seed}: presidio: {result['error']}")
                    line += "; presidio FAILED"
                else:
                    presidio_config = result["config"]
                    run["presidio_raw"] = result
                    run["tools"].update(presidio_tools(result))
                    line += f"; presidio {result['analyze']['seconds']:.1f}s"
                    if "structured" in result:
                        s = result["structured"]
                        if "error" in s:
                            errors.append(f"seed {seed}: presidio-structured: {s['error']}")
                            line += ", structured FAILED"
                        else:
                            line += f", structured {s['seconds']:.1f}s"
                    if "scaling" in result:
                        scaling = result["scaling"]
            path.unlink()
            runs.append(run)
            print(line + f"  [{(time.time() - started) / 60:.1f} min]")
            sys.stdout.flush()
    except KeyboardInterrupt:
        errors.append(f"INTERRUPTED after {time.time() - started:.0f} s: partial figures below")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not runs:
        print("no run finished")
        return 1
    report(args, runs, presidio_config, scaling, skipped, errors, time.time() - started)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"args": vars(args), "machine": machine_summary(), "runs": runs, "errors": errors},
                indent=1,
                default=str,
            )
        )
    return 0


def tool_order(runs: list[dict[str, Any]]) -> list[str]:
    order = ["ours", "ours-streamed", *(r[0] for r in PRESIDIO_RULES), "presidio-structured"]
    present = set().union(*(r["tools"] for r in runs))
    return [t for t in order if t in present]


def report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    config: dict[str, Any] | None,
    scaling: dict[str, Any] | None,
    skipped: str,
    errors: list[str],
    duration: float,
) -> None:
    tools = tool_order(runs)
    print()
    if config is not None:
        print(
            f"Presidio engine: {config['nlp']}; recognizers added to Presidio's English defaults: "
            f"{', '.join(config['added'])}; entity types: {', '.join(config['entities'])}"
        )
        if config.get("model") is None:
            print(
                "  NOTE: no spaCy model, so Presidio finds no PERSON or LOCATION: its recall on names is 0 here,"
                " which handicaps it on person_name columns."
            )
        print(
            f"  kinds Presidio has no type for (counted as misses): {', '.join(PRESIDIO_CANNOT)};"
            " DATE_TIME counted as date_of_birth, LOCATION as postal_code."
        )

    # --- summary
    pairs: dict[str, list[tuple[str | None, str | None]]] = {t: [] for t in tools}
    seconds: dict[str, list[float]] = {t: [] for t in tools}
    for run in runs:
        for t in tools:
            if t in run["tools"]:
                labels = run["tools"][t]["labels"]
                pairs[t] += [(run["truth"][c], labels.get(c)) for c in COLUMNS]
                seconds[t].append(run["tools"][t]["seconds"])
    print()
    seeds_text = f"{len(runs)} table{'s' if len(runs) > 1 else ''} (seeds {', '.join(str(r['seed']) for r in runs)})"
    print(
        f"Summary: {args.rows:,} rows x {len(COLUMNS)} columns, {seeds_text}; figures pooled over the tables;"
        " 95% Wilson intervals"
    )
    headers = [
        "tool",
        "kind precision",
        "kind recall",
        "any-PII precision",
        "any-PII recall",
        "category accuracy",
        "s/table",
        "x ours",
    ]
    ours_s = statistics.median(seconds["ours"]) if seconds.get("ours") else math.nan
    rows = []
    summary: dict[str, Any] = {}
    for t in tools:
        s = scores(pairs[t])
        summary[t] = s
        sec = statistics.median(seconds[t]) if seconds[t] else math.nan
        ratio = "" if t == "ours" else f"{sec / ours_s:.1f}x"
        rows.append(
            [
                t,
                fmt_share(s["precision"]),
                fmt_share(s["recall"]),
                fmt_share(s["any_precision"]),
                fmt_share(s["any_recall"]),
                fmt_share(s["category"]),
                f"{sec:.2f}",
                ratio,
            ]
        )
    if skipped:
        rows.append(["presidio", skipped, "", "", "", "", "", ""])
    right = [False, True, True, True, True, True, True, True]
    print(text_table(headers, rows, right))
    print(
        "kind: the predicted kind equals the true one; any-PII: personal vs not; category: direct/quasi/none over"
        " all columns. s/table: ours = detect() with its sampling (median of 3); ours-streamed = Parquet decoding"
        " + ColumnSampler + detect(); presidio = sampling + analyze_dict (engine and model load not counted);"
        " structured = generate_analysis()."
    )
    if len(runs) > 1:
        print(
            "With several tables the intervals count each (table, column) as a case; the tables repeat the same"
            " column designs with new values, so the cases are not independent and the intervals are too narrow."
        )
    if args.markdown:
        print()
        print(markdown_table(headers, rows, right))

    print()
    print("Recall by category (kind exact):")
    rows = [
        [t, fmt_share(summary[t]["direct_recall"], False), fmt_share(summary[t]["quasi_recall"], False)] for t in tools
    ]
    print(text_table(["tool", "direct", "quasi"], rows, [False, True, True]))

    # --- timing details
    print()
    print("Timing details:")
    for run in runs:
        o, st = run["tools"]["ours"], run["tools"]["ours-streamed"]
        text = (
            f"  seed {run['seed']}: ours {', '.join(f'{x:.2f}' for x in o['all_seconds'])} s;"
            f" streamed {st['seconds']:.2f} s ({st['chunks']} chunks, {st['decode_seconds']:.2f} s of it"
            " Parquet decoding)"
        )
        raw = run.get("presidio_raw")
        if raw:
            a = raw["analyze"]
            analysis = a["seconds"] - a["sample_seconds"]
            values = max(1, sum(c["n"] for c in a["columns"].values()))
            text += (
                f"; presidio setup {raw['setup_seconds']:.1f} s, sampling {a['sample_seconds']:.2f} s,"
                f" analysis {analysis:.1f} s ({1000 * analysis / values:.2f} ms/value)"
            )
        print(text)
    if scaling:
        print("  Presidio on every value of a column (no sampling), seed of the first table:")
        for col, s in scaling.items():
            how = f"measured on {s['measured_values']:,} values, extrapolated" if s["extrapolated"] else "measured"
            every = s["full_seconds"] * len(COLUMNS) / 60
            print(
                f"    {col:16s} {s['values']:,} values: {s['full_seconds']:.0f} s ({how});"
                f" all {len(COLUMNS)} columns at that rate: ~{every:.0f} min"
            )

    # --- per column
    print()
    print("Per column (* = wrong; with several tables: the most common label, and how many tables gave it):")
    headers = ["column", "truth", *tools]
    rows = []
    wrong_counts = Counter()
    for c in COLUMNS:
        truth = runs[0]["truth"][c]
        row = [c, str(truth)]
        for t in tools:
            got = [r["tools"][t]["labels"].get(c) for r in runs if t in r["tools"]]
            if not got:
                row.append("")
                continue
            label, k = Counter(got).most_common(1)[0]
            wrong = sum(g != truth for g in got)
            wrong_counts[t] += wrong
            cell = str(label) + (" *" if label != truth else "") + (f" ({k}/{len(got)})" if k < len(got) else "")
            row.append(cell)
        rows.append(row)
    print(text_table(headers, rows))

    # --- ours' errors with evidence
    print()
    print("mlwarden's misclassifications (truth -> predicted: evidence):")
    any_error = False
    for t in ("ours", "ours-streamed"):
        for run in runs:
            findings = run["tools"][t]["findings"]
            for c in COLUMNS:
                f = findings[c]
                if f["kind"] != run["truth"][c]:
                    any_error = True
                    print(
                        f"  [{t}, seed {run['seed']}] {c}: {run['truth'][c]} -> {f['kind']}"
                        f" (confidence {f['confidence']}): {f['evidence']}"
                    )
    if not any_error:
        print("  none")

    # --- presidio's errors, briefly
    if any("presidio" in r["tools"] for r in runs):
        print()
        print("Presidio's labels that are wrong (first table; entity type, share of values at score >= 0):")
        run = next(r for r in runs if "presidio" in r["tools"])
        cols = run["presidio_raw"]["analyze"]["columns"]
        for c in COLUMNS:
            label = run["tools"]["presidio"]["labels"][c]
            if label != run["truth"][c]:
                top = sorted(cols[c]["types"].items(), key=lambda kv: (-kv[1]["hist"][0], -kv[1]["mean_score"]))[:3]
                shares = ", ".join(f"{e} {t['hist'][0] / max(cols[c]['n'], 1):.0%}" for e, t in top) or "nothing found"
                print(f"  {c}: {run['truth'][c]} -> {label} ({shares})")

    if errors:
        print()
        print("Errors:")
        for e in errors:
            print(f"  {e}")
    print()
    print(f"total time {duration / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
