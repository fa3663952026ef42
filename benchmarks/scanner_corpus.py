"""Our corpus (tests/models/corpus) through three scanners, side by side: mlwarden, modelscan, fickling.

What it measures
    The corpus is built in a temporary folder (hostile files, each proved dangerous under its usual
    loader by the test suite, and harmless files as real libraries write them). Each tool scans each
    file on its own, in this process, never loading it:

    mlwarden    ``mlwarden.models.scan_file(path)``.
    modelscan   ``modelscan.modelscan.ModelScan().scan(path)``, its Python API (what ``modelscan -p``
                calls), default settings.
    fickling    ``fickling.loader``, as its own CLI's Hugging Face scan uses it: a zip through
                ``scan_zip_archive``, a NumPy file skipped (fickling has no scanner for it), anything
                else through ``scan_file``; ``graceful=True``.

    A verdict per file (the helpers of ``benchmarks/models.py``): flagged (with its top severity),
    clean, error or skipped. Per tool: hostile files caught (flagged), passed as clean, not scanned
    (error or skipped); CRITICAL payloads rated at the tool's top level (mlwarden and modelscan
    CRITICAL; fickling OVERTLY_MALICIOUS or LIKELY_OVERTLY_MALICIOUS); harmless files flagged (false
    alarms) and not scanned; total scan seconds over the corpus (each tool imported and warmed up on
    one small pickle first, outside the clock).

How to run (from the repository root)::

    .venv/bin/python benchmarks/scanner_corpus.py            # the summary table
    .venv/bin/python benchmarks/scanner_corpus.py --files    # and every file's verdicts
    .venv/bin/python benchmarks/scanner_corpus.py --json
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "models"), str(HERE.parent / "src")]

import corpus  # noqa: E402

from models import (  # noqa: E402  (benchmarks/models.py: the scanners' adapters)
    _scan_fickling,
    _verdicts_fickling,
    _verdicts_mlwarden,
    _verdicts_modelscan,
)

Verdict = dict[str, str]
_RANK = {
    "LOW": 1,
    "MEDIUM": 2,
    "HIGH": 3,
    "CRITICAL": 4,
    "POSSIBLY_UNSAFE": 1,
    "SUSPICIOUS": 2,
    "LIKELY_UNSAFE": 3,
    "LIKELY_OVERTLY_MALICIOUS": 4,
    "OVERTLY_MALICIOUS": 4,
}


def _one(verdicts: dict[str, Verdict]) -> Verdict:
    """A single file's verdict: the worst of what the tool said about it (members included)."""
    if not verdicts:
        return {"status": "skipped", "top": "", "what": "the tool reported nothing for this file"}
    flagged = [v for v in verdicts.values() if v["status"] == "flagged"]
    if flagged:
        return max(flagged, key=lambda v: _RANK.get(v["top"], 0))
    for status in ("error", "skipped", "clean"):
        for v in verdicts.values():
            if v["status"] == status:
                return v
    return next(iter(verdicts.values()))


def _mlwarden(path: str) -> Verdict:
    from mlwarden.models import ScanReport, scan_file

    return _one(_verdicts_mlwarden(ScanReport((scan_file(path),), 0.0), path))


def _modelscan(path: str) -> Verdict:
    from modelscan.modelscan import ModelScan

    return _one(_verdicts_modelscan(ModelScan().scan(path), path))


def _fickling(path: str) -> Verdict:
    return _one(_verdicts_fickling(_scan_fickling(path), path))


TOOLS: dict[str, Callable[[str], Verdict]] = {"mlwarden": _mlwarden, "modelscan": _modelscan, "fickling": _fickling}


def measure(root: Path) -> dict[str, Any]:
    paths = corpus.build(root)
    warm = root / "warm.pkl"
    warm.write_bytes(pickle.dumps({"a": 1}))
    out: dict[str, Any] = {"tools": {}, "files": {}}
    for tool, scan in TOOLS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scan(str(warm))
            started = time.perf_counter()
            verdicts = {e.name: scan(str(paths[e.name])) for e in corpus.HOSTILE + corpus.HARMLESS}
            seconds = time.perf_counter() - started
        hostile = [verdicts[e.name] for e in corpus.HOSTILE]
        critical = [verdicts[e.name] for e in corpus.HOSTILE if e.critical]
        harmless = [verdicts[e.name] for e in corpus.HARMLESS]
        out["tools"][tool] = {
            "hostile": len(hostile),
            "caught": sum(v["status"] == "flagged" for v in hostile),
            "passed_clean": sum(v["status"] == "clean" for v in hostile),
            "not_scanned": sum(v["status"] in ("error", "skipped") for v in hostile),
            "critical_payloads": len(critical),
            "critical_rated_right": sum(v["status"] == "flagged" and _RANK.get(v["top"], 0) == 4 for v in critical),
            "harmless": len(harmless),
            "false_alarms": sum(v["status"] == "flagged" for v in harmless),
            "harmless_not_scanned": sum(v["status"] in ("error", "skipped") for v in harmless),
            "seconds": round(seconds, 3),
        }
        for e in corpus.HOSTILE + corpus.HARMLESS:
            out["files"].setdefault(e.name, {"class": e.cls, "hostile": e.hostile})[tool] = verdicts[e.name]
    return out


def _cell(v: Verdict) -> str:
    return v["status"] + (f" {v['top']}" if v["top"] else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", action="store_true", help="print every file's verdicts too")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlwarden-corpus-") as tmp:
        result = measure(Path(tmp))
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    head = (
        f"{'tool':10} {'hostile':>7} {'caught':>6} {'clean':>5} {'n/s':>4} {'CRIT ok':>9}"
        f" {'harmless':>8} {'alarms':>6} {'n/s':>4} {'seconds':>8}"
    )
    print(head)
    for tool, t in result["tools"].items():
        print(
            f"{tool:10} {t['hostile']:>7} {t['caught']:>6} {t['passed_clean']:>5} {t['not_scanned']:>4}"
            f" {t['critical_rated_right']:>4}/{t['critical_payloads']:<4} {t['harmless']:>8} {t['false_alarms']:>6}"
            f" {t['harmless_not_scanned']:>4} {t['seconds']:>8.3f}"
        )
    print("(clean: passed as clean; n/s: not scanned, an error or skipped;")
    print(" CRIT ok: CRITICAL payloads rated at the tool's top level)")
    if args.files:
        print()
        print(f"{'file':34} {'class':44} {'mlwarden':16} {'modelscan':16} {'fickling':16}")
        for name, row in result["files"].items():
            kind = ("H " if row["hostile"] else "h ") + row["class"]
            print(f"{name:34} {kind[:44]:44} " + " ".join(f"{_cell(row[t]):16}" for t in TOOLS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
