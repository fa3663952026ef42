"""Measurement child for ``benchmarks/drift.py``: one drift tool on one (reference, current) pair, in its own process.

Run by the parent as ``PYTHON benchmarks/_drift_baselines.py`` with a JSON spec on stdin::

    {"tool": "evidently" | "nannyml" | "ks" | "psi" | "ours",
     "reference": "ref.parquet", "current": "cur.parquet",
     "numeric": [...], "categorical": [...], "chunk_rows": 50000}

or ``... --versions TOOL`` (prints the versions of what TOOL uses). The PYTHON is the tool's own virtual
environment (Evidently needs pandas<3; NannyML has its own pins) or the project's (KS/chi-squared, PSI,
mlwarden). It loads both sides (outside the clock, except that ``ours`` streams the current side from the
Parquet file in ``chunk_rows`` row batches and only the reference is loaded whole), runs the tool with the clock
around the tool's own calls, and prints one JSON line::

    {"columns": {col: bool}, "scores": {col: float}, "dataset": bool, "seconds": float,
     "rss_loaded_kib": int, "detail": {...}}

``columns`` is the tool's per-column verdict, ``dataset`` its own dataset-level verdict (Evidently: the
DriftedColumnsCount test of DataDriftPreset; NannyML: an alert of the PCA reconstruction-error calculator on
any chunk; KS and PSI: any column; ours: ``report.drifted``). The parent takes the peak RSS from the
process's rusage (``os.wait4``). Imports here are stdlib only until a tool runs, so every tool's figure starts
from the same interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _rss_kib() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _load(spec: dict[str, Any]) -> tuple[Any, Any]:
    import pandas as pd

    return pd.read_parquet(spec["reference"]), pd.read_parquet(spec["current"])


# --------------------------------------------------------------------------------------------
# Evidently: DataDriftPreset with its defaults; the column types given explicitly
# --------------------------------------------------------------------------------------------


def _evidently(spec: dict[str, Any]) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = _load(spec)
    loaded = _rss_kib()
    definition = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
    start = time.perf_counter()
    reference = Dataset.from_pandas(ref, data_definition=definition)
    current = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data=current, reference_data=reference)
    result = snapshot.dict()
    seconds = time.perf_counter() - start

    columns: dict[str, bool] = {}
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    dataset = None
    for test in result["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        kind = params.get("type", "")
        if kind.endswith("ValueDrift"):
            columns[params["column"]] = test["status"] != "SUCCESS"
        elif kind.endswith("DriftedColumnsCount"):
            dataset = test["status"] != "SUCCESS"  # the "share of drifted columns < drift_share" test failed
    for metric in result["metrics"]:
        params = metric.get("config", {})
        if params.get("type", "").endswith("ValueDrift"):
            scores[params["column"]] = float(metric["value"])
            methods[params["column"]] = f"{params.get('method')} @ {params.get('threshold')}"
    if dataset is None or set(columns) != set(spec["numeric"]) | set(spec["categorical"]):
        raise RuntimeError(f"unexpected Evidently result: {len(columns)} column tests, dataset test {dataset}")
    return {
        "columns": columns,
        "scores": scores,
        "dataset": dataset,
        "seconds": seconds,
        "rss_loaded_kib": loaded,
        "detail": {"methods": sorted(set(methods.values()))},
    }


# --------------------------------------------------------------------------------------------
# NannyML: UnivariateDriftCalculator and DataReconstructionDriftCalculator, defaults
# --------------------------------------------------------------------------------------------


def _nannyml(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    import nannyml as nml

    ref, cur = _load(spec)
    loaded = _rss_kib()
    names = spec["numeric"] + spec["categorical"]
    start = time.perf_counter()
    uni = nml.UnivariateDriftCalculator(column_names=names, treat_as_categorical=spec["categorical"])
    uni.fit(ref)
    uni_df = uni.calculate(cur).filter(period="analysis").to_df()
    mid = time.perf_counter()
    multi = nml.DataReconstructionDriftCalculator(column_names=names)
    multi.fit(ref)
    multi_df = multi.calculate(cur).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start

    methods = sorted({m for (c, m, f) in uni_df.columns if c in names and f == "alert"})
    columns: dict[str, bool] = {}
    scores: dict[str, float] = {}
    for name in names:
        alerts = [uni_df[(name, m, "alert")] for m in methods if (name, m, "alert") in uni_df.columns]
        columns[name] = bool(any(a.any() for a in alerts))
        values = [uni_df[(name, m, "value")] for m in methods if (name, m, "value") in uni_df.columns]
        scores[name] = float(max(v.max() for v in values))
    multi_alerts = multi_df[("reconstruction_error", "alert")]
    return {
        "columns": columns,
        "scores": scores,
        "dataset": bool(multi_alerts.any()),
        "seconds": seconds,
        "rss_loaded_kib": loaded,
        "detail": {
            "univariate_seconds": mid - start,
            "multivariate_seconds": seconds - (mid - start),
            "methods": methods,
            "chunks": len(uni_df),
            "multivariate_alert_chunks": int(multi_alerts.sum()),
            "multivariate_chunks": len(multi_df),
        },
    }


# --------------------------------------------------------------------------------------------
# Plain tests: KS (numeric) / chi-squared (categorical) at p < 0.05; PSI > 0.2
# --------------------------------------------------------------------------------------------


def _columns(frame: Any, name: str) -> Any:
    return frame[name].to_numpy()


def _ks(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    ref, cur = _load(spec)
    loaded = _rss_kib()
    start = time.perf_counter()
    columns: dict[str, bool] = {}
    scores: dict[str, float] = {}
    for name in spec["numeric"]:
        a = _columns(ref, name).astype(np.float64)
        b = _columns(cur, name).astype(np.float64)
        p = float(stats.ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)]).pvalue)
        columns[name], scores[name] = p < 0.05, p
    for name in spec["categorical"]:
        a = _columns(ref, name).astype(str)
        b = _columns(cur, name).astype(str)
        cats = np.union1d(a, b)
        table = np.vstack(
            [
                np.bincount(np.searchsorted(cats, a), minlength=len(cats)),
                np.bincount(np.searchsorted(cats, b), minlength=len(cats)),
            ]
        )
        p = float(stats.chi2_contingency(table, correction=False).pvalue)
        columns[name], scores[name] = p < 0.05, p
    seconds = time.perf_counter() - start
    return {
        "columns": columns,
        "scores": scores,
        "dataset": any(columns.values()),
        "seconds": seconds,
        "rss_loaded_kib": loaded,
        "detail": {"rule": "KS p<0.05 (numeric, missing dropped), chi-squared p<0.05 (categorical), no correction"},
    }


def _psi_value(ref_share: Any, cur_share: Any, eps: float = 1e-4) -> float:
    import numpy as np

    r = np.clip(ref_share, eps, None)
    c = np.clip(cur_share, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _psi(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    ref, cur = _load(spec)
    loaded = _rss_kib()
    start = time.perf_counter()
    columns: dict[str, bool] = {}
    scores: dict[str, float] = {}
    for name in spec["numeric"]:
        a = _columns(ref, name).astype(np.float64)
        b = _columns(cur, name).astype(np.float64)
        # ten bins at the reference deciles (fewer where values repeat), plus one for missing values
        edges = np.unique(np.quantile(a[~np.isnan(a)], np.linspace(0.1, 0.9, 9)))

        def shares(x: Any, edges: Any = edges) -> Any:
            bins = np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, x, side="right"))
            return np.bincount(bins, minlength=len(edges) + 2) / len(x)

        value = _psi_value(shares(a), shares(b))
        columns[name], scores[name] = value > 0.2, value
    for name in spec["categorical"]:
        a = _columns(ref, name).astype(str)
        b = _columns(cur, name).astype(str)
        cats = np.union1d(a, b)
        sa = np.bincount(np.searchsorted(cats, a), minlength=len(cats)) / len(a)
        sb = np.bincount(np.searchsorted(cats, b), minlength=len(cats)) / len(b)
        value = _psi_value(sa, sb)
        columns[name], scores[name] = value > 0.2, value
    seconds = time.perf_counter() - start
    return {
        "columns": columns,
        "scores": scores,
        "dataset": any(columns.values()),
        "seconds": seconds,
        "rss_loaded_kib": loaded,
        "detail": {"rule": "PSI > 0.2; numeric: reference deciles + a missing bin; categorical: categories"},
    }


# --------------------------------------------------------------------------------------------
# Ours: mlwarden.monitor, the current side streamed in chunks
# --------------------------------------------------------------------------------------------


def _ours(spec: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    import mlwarden
    from mlwarden.monitor import ProfileCounts, ReferenceProfile, compare

    ref = pd.read_parquet(spec["reference"])
    loaded = _rss_kib()
    start = time.perf_counter()
    profile = ReferenceProfile.from_frame(ref)
    profile_seconds = time.perf_counter() - start
    del ref  # the profile is what a server keeps
    counts = ProfileCounts(profile)
    add_seconds = 0.0
    read_seconds = 0.0
    chunks = 0
    source = pq.ParquetFile(spec["current"])
    mark = time.perf_counter()
    for batch in source.iter_batches(batch_size=int(spec["chunk_rows"])):
        chunk = batch.to_pandas()
        now = time.perf_counter()
        read_seconds += now - mark
        counts.add_frame(chunk)
        mark = time.perf_counter()
        add_seconds += mark - now
        chunks += 1
    del chunk
    now = time.perf_counter()
    report = compare(profile, counts)
    compare_seconds = time.perf_counter() - now

    columns = {c.column: bool(c.drift) for c in report.columns}
    scores = {c.column: float(c.p_value) if c.p_value is not None else float("nan") for c in report.columns}
    joint = [
        {
            "columns": list(p.columns),
            "test": p.test,
            "p_value": None if p.p_value is None else float(p.p_value),
            "drift": bool(p.drift),
            "severity": p.severity,
        }
        for p in report.joint
    ]
    return {
        "columns": columns,
        "scores": scores,
        "dataset": bool(report.drifted),
        "seconds": profile_seconds + add_seconds + compare_seconds,
        "rss_loaded_kib": loaded,
        "detail": {
            "profile_seconds": profile_seconds,
            "add_seconds": add_seconds,
            "compare_seconds": compare_seconds,
            "read_seconds": read_seconds,
            "chunks": chunks,
            "mlwarden": mlwarden.__file__,
            "tests": sorted({c.test for c in report.columns}),
            "severity": {c.column: c.severity for c in report.columns},
            "effect": {
                c.column: {k: None if v is None else float(v) for k, v in (c.effect or {}).items()}
                for c in report.columns
            },
            "joint": joint,
        },
    }


TOOLS = {"evidently": _evidently, "nannyml": _nannyml, "ks": _ks, "psi": _psi, "ours": _ours}
VERSIONS = {
    "evidently": ["evidently", "pandas", "numpy", "scipy", "scikit-learn"],
    "nannyml": ["nannyml", "pandas", "numpy", "scipy", "scikit-learn"],
    "ks": ["scipy", "numpy", "pandas"],
    "psi": ["numpy", "pandas"],
    "ours": ["mlwarden", "numpy", "scipy", "pandas"],
}


def _versions(tool: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in VERSIONS[tool]:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--versions":
        print(json.dumps(_versions(sys.argv[2])))
        return 0
    spec = json.loads(sys.stdin.read())
    result = TOOLS[spec["tool"]](spec)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
