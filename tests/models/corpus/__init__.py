"""Our own corpus of hostile and harmless model files (issue 14, deliverable 4), built by code.

:data:`HOSTILE` files each run a payload under their usual loader (proved by :func:`run_proofs`, one
subprocess for all); :data:`HARMLESS` files are what real libraries write; :data:`MEMORY_UNSAFE` files
are what pandas writes, whose loaders trust what a tampered copy can change. :func:`build` writes them
into a folder: ``hostile/``, ``harmless/``, ``unsafe/``, and ``canary/`` (empty until a proof runs). The tests are
``tests/models/test_corpus.py``; ``benchmarks/scanner_corpus.py`` measures other scanners on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._entry import Entry, Proof, canary_for
from ._harmless import HARMLESS, MEMORY_UNSAFE
from ._hostile import HOSTILE

__all__ = ["HARMLESS", "HOSTILE", "MEMORY_UNSAFE", "Entry", "Proof", "build", "canary_for", "run_proofs"]

RUNNER = Path(__file__).with_name("_runner.py")


def build(root: Path) -> dict[str, Path]:
    """Write every entry under ``root``; returns entry name -> path."""
    paths: dict[str, Path] = {}
    for sub in ("hostile", "harmless", "unsafe", "canary"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for entry in HOSTILE + HARMLESS:
        paths[entry.name] = entry.build(root / ("hostile" if entry.hostile else "harmless") / entry.name)
    for entry in MEMORY_UNSAFE:
        paths[entry.name] = entry.build(root / "unsafe" / entry.name)
    return paths


def run_proofs(paths: dict[str, Path], timeout: float = 120) -> dict[str, dict[str, Any]]:
    """Load every hostile file under its usual loader in one child interpreter; name -> {ran, error}."""
    spec = [
        {
            "name": e.name,
            "path": str(paths[e.name]),
            "canary": str(canary_for(paths[e.name])),
            "proof": e.proof.to_json(),
        }
        for e in HOSTILE
        if e.proof is not None
    ]
    for item in spec:
        Path(item["canary"]).unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, str(RUNNER)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the loader-proof runner failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return result
