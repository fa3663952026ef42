"""Poisoning and label-noise detection: mlwarden's data audit beside cleanlab, IsolationForest and ART.

    python benchmarks/poisoning.py            # German Credit x 3 seeds, 50k synthetic x 3 seeds
    python benchmarks/poisoning.py --quick    # 1 seed, German Credit and a 10k synthetic table

For each data set, seed and attack (random flips 1/5/10%, targeted flips 5%, backdoors 1% and 3% in two trigger
families) it prints AUROC and precision@k (k = poisoned rows) of each tool and its seconds on the same data, and
for backdoors the attack success rate (share of trigger-stamped held-out rows of the other classes predicted as
the attacker's label) of a HistGradientBoosting model trained on the poisoned data, on the data without the rows
mlwarden flagged, and on the clean data. A tool that is not installed shows "not installed".
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.metrics import roc_auc_score

from mlwarden.audit import audit_frame
from mlwarden.audit._encoding import encode_frame, hgb_matrix
from mlwarden.audit._label_quality import encode_labels, oof_hgb
from mlwarden.audit._poison_generators import (
    Poisoned,
    german_credit,
    inject_backdoor,
    random_flips,
    synthetic_table,
    targeted_flips,
)


def _metrics(n: int, rows: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    truth = np.zeros(n, dtype=bool)
    truth[rows] = True
    return float(roc_auc_score(truth, scores)), float(truth[np.argsort(-scores, kind="stable")[: len(rows)]].mean())


def _cleanlab(frame: pd.DataFrame, target: str, seed: int) -> np.ndarray | None:
    try:
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        return None
    enc = encode_frame(frame.drop(columns=[target]))
    _, codes = encode_labels(frame[target])
    proba = oof_hgb(enc, codes, 5, 100, seed)
    return np.asarray(1.0 - get_label_quality_scores(codes, proba))


def _isolation(frame: pd.DataFrame, target: str, seed: int) -> np.ndarray:
    enc = encode_frame(frame.drop(columns=[target]))
    model = IsolationForest(random_state=seed).fit(enc.dense)
    return np.asarray(-model.score_samples(enc.dense))


def _art_spectral(frame: pd.DataFrame, target: str, seed: int) -> np.ndarray | None:
    try:
        import torch
        from art.defences.detector.poison import SpectralSignatureDefense
        from art.estimators.classification import PyTorchClassifier
    except ImportError:
        return None
    torch.manual_seed(seed)
    enc = encode_frame(frame.drop(columns=[target]))
    classes, codes = encode_labels(frame[target])
    x = enc.dense.astype(np.float32)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, len(classes)))
    clf = PyTorchClassifier(
        model=net,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(net.parameters()),
        input_shape=(x.shape[1],),
        nb_classes=len(classes),
    )
    onehot = np.eye(len(classes))[codes]
    clf.fit(x, onehot, nb_epochs=5, batch_size=128, verbose=False)
    defence = SpectralSignatureDefense(clf, x, onehot, expected_pp_poison=0.05, batch_size=128, eps_multiplier=1.5)
    report, _ = defence.detect_poison()
    scores = np.zeros(len(x))
    for index, value in report.items():
        scores[int(index)] = float(value)
    return scores


def _asr(train: pd.DataFrame, target: str, poisoned: Poisoned, test: pd.DataFrame, seed: int) -> float:
    enc = encode_frame(train.drop(columns=[target]))
    X, mask = hgb_matrix(enc)
    model = HistGradientBoostingClassifier(random_state=seed, categorical_features=mask)
    model.fit(X, train[target].astype(str).to_numpy())
    victims = test[test[target] != poisoned.label]
    stamped = poisoned.stamp(victims, np.arange(len(victims)), seed + 99)
    both = pd.concat([train, stamped], ignore_index=True)  # encode with the training levels
    enc_all = encode_frame(both.drop(columns=[target]))
    X_all, _ = hgb_matrix(enc_all)
    predicted = model.predict(X_all[len(train) :])
    return float(np.mean(predicted == str(poisoned.label)))


def _scenarios(frame: pd.DataFrame, target: str, seed: int) -> list[tuple[str, Poisoned]]:
    return [
        ("random 1%", random_flips(frame, target, 0.01, seed)),
        ("random 5%", random_flips(frame, target, 0.05, seed)),
        ("random 10%", random_flips(frame, target, 0.10, seed)),
        ("targeted 5%", targeted_flips(frame, target, 0.05, seed)),
        ("backdoor cat 1%", inject_backdoor(frame, target, 0.01, seed, "categorical")),
        ("backdoor cat 3%", inject_backdoor(frame, target, 0.03, seed, "categorical")),
        ("backdoor mixed 1%", inject_backdoor(frame, target, 0.01, seed, "mixed")),
        ("backdoor mixed 3%", inject_backdoor(frame, target, 0.03, seed, "mixed")),
        ("backdoor numeric 1%", inject_backdoor(frame, target, 0.01, seed, "numeric")),
        ("backdoor numeric 3%", inject_backdoor(frame, target, 0.03, seed, "numeric")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed; German Credit and a 10k synthetic table")
    parser.add_argument("--no-art", action="store_true", help="skip ART's SpectralSignature (slow)")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    n_synth = 10000 if args.quick else 50000
    rows: list[dict[str, Any]] = []
    german, german_target = german_credit()
    for data_name in ("german", f"synthetic {n_synth // 1000}k"):
        for seed in seeds:
            if data_name == "german":
                frame, target, test = german, german_target, german
            else:
                frame, target = synthetic_table(n_synth, seed), "label"
                test = synthetic_table(5000, seed + 1000)
            clean_report = audit_frame(frame, target)
            rows.append({"data": data_name, "seed": seed, "attack": "clean", "flagged": len(clean_report.flagged)})
            for attack, poisoned in _scenarios(frame, target, seed):
                n = len(poisoned.frame)
                row: dict[str, Any] = {"data": data_name, "seed": seed, "attack": attack}
                start = time.perf_counter()
                report = audit_frame(poisoned.frame, target)
                row["mlwarden s"] = time.perf_counter() - start
                row["mlwarden"] = _metrics(n, poisoned.rows, np.asarray(report.scores))
                row["flagged"] = len(report.flagged)
                for tool, fn in (("cleanlab", _cleanlab), ("iforest", _isolation), ("art", _art_spectral)):
                    if tool == "art" and args.no_art:
                        continue
                    start = time.perf_counter()
                    scores = fn(poisoned.frame, target, seed)
                    row[f"{tool} s"] = time.perf_counter() - start
                    row[tool] = None if scores is None else _metrics(n, poisoned.rows, scores)
                if poisoned.kind == "backdoor":
                    kept = poisoned.frame.drop(index=list(report.flagged))
                    row["asr"] = (
                        _asr(poisoned.frame, target, poisoned, test, seed),
                        _asr(kept, target, poisoned, test, seed),
                        _asr(frame, target, poisoned, test, seed),
                    )
                rows.append(row)
                print(_line(row), flush=True)
    print()
    _table(rows)
    print()
    _memory(n_synth)


def _memory(n_rows: int) -> None:
    """Peak resident memory of one audit of the synthetic table, in a fresh process (interpreter and libraries
    included), and its seconds there."""
    import resource
    import subprocess
    import sys

    code = (
        "import time; from mlwarden.audit import audit_frame; "
        "from mlwarden.audit._poison_generators import synthetic_table; "
        f"f = synthetic_table({n_rows}, 0); t = time.perf_counter(); audit_frame(f, 'label'); "
        "print(f'{time.perf_counter() - t:.1f}')"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"one audit of {n_rows} x 20 in a fresh process: {out} s, peak RSS {max(peak, before) / 1024:.0f} MiB")


def _cell(value: Any) -> str:
    if value is None:
        return "not installed"
    return f"{value[0]:.3f} / {value[1]:.2f}"


def _line(row: dict[str, Any]) -> str:
    parts = [f"{row['data']} s{row['seed']} {row['attack']}:"]
    for tool in ("mlwarden", "cleanlab", "iforest", "art"):
        if tool in row:
            parts.append(f"{tool} {_cell(row[tool])} ({row[tool + ' s']:.1f}s)")
    if "asr" in row:
        parts.append("ASR poisoned/audited/clean " + "/".join(f"{v:.2f}" for v in row["asr"]))
    parts.append(f"flagged {row.get('flagged')}")
    return "  ".join(parts)


def _table(rows: list[dict[str, Any]]) -> None:
    """Means over seeds: AUROC / precision@k per tool, seconds, ASR."""
    frame = pd.DataFrame(rows)
    header = "| data | attack | mlwarden | cleanlab | IsolationForest | ART spectral | s (mlw/cl/if/art) |"
    print(header + " ASR pois/audit/clean | flagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (data, attack), group in frame.groupby(["data", "attack"], sort=False):
        cells = []
        for tool in ("mlwarden", "cleanlab", "iforest", "art"):
            if tool not in group or attack == "clean":
                cells.append("")
                continue
            values = [v for v in group[tool] if isinstance(v, tuple)]
            cells.append(_cell(tuple(np.mean(values, axis=0))) if values else "not installed")
        secs = "/".join(
            f"{group[t + ' s'].mean():.1f}"
            for t in ("mlwarden", "cleanlab", "iforest", "art")
            if t + " s" in group and attack != "clean"
        )
        asr = ""
        if "asr" in group:
            values = [v for v in group["asr"] if isinstance(v, tuple)]
            asr = "/".join(f"{x:.2f}" for x in np.mean(values, axis=0)) if values else ""
        print(f"| {data} | {attack} | {' | '.join(cells)} | {secs} | {asr} | {group['flagged'].mean():.1f} |")


if __name__ == "__main__":
    main()
