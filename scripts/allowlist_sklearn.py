"""Regenerate src/mlwarden/models/allowed_sklearn.txt for the installed scikit-learn.

Fits every estimator scikit-learn lists (default parameters, a small synthetic problem), pickles it at
protocols 0-5 and records each name the unpickler imports (our own pickles, unpickled here only to list
them), plus every estimator and kernel class. Run it when the supported scikit-learn version changes and
review the diff: each added line is a name a model may import without a finding.
"""

from __future__ import annotations

import inspect
import io
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn.gaussian_process.kernels as kernels
from sklearn.datasets import make_classification
from sklearn.utils import all_estimators

OUT = Path(__file__).resolve().parents[1] / "src" / "mlwarden" / "models" / "allowed_sklearn.txt"


def main() -> None:
    warnings.filterwarnings("ignore")
    x, y = make_classification(n_samples=80, n_features=6, random_state=0)
    names: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            names.add(f"{module}.{name}")
            return super().find_class(module, name)

    for _, cls in all_estimators():
        names.add(f"{cls.__module__}.{cls.__qualname__}")
        for features in (x, np.abs(x)):
            try:
                est = cls()
                try:
                    est.fit(features, y)
                except TypeError:
                    est.fit(features)
                for protocol in range(6):
                    Recorder(io.BytesIO(pickle.dumps(est, protocol=protocol))).load()
                break
            except Exception:  # noqa: S112 - estimators that need other inputs are skipped
                continue
    for _, cls in inspect.getmembers(kernels, inspect.isclass):
        if cls.__module__ == kernels.__name__:
            names.add(f"{cls.__module__}.{cls.__qualname__}")
    sk = sorted(n for n in names if n.startswith("sklearn."))
    header = OUT.read_text().splitlines()[:3]
    OUT.write_text("\n".join([*header, *sk]) + "\n")
    print(f"{len(sk)} names -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
