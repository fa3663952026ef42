"""The extraction monitor on the credit model: false positives on benign clients, detection of four attacks, cost.

What it measures, in one run
    The model is the credit-risk use case's: ``mlwarden.models._training.fit_classifier`` on the
    shipped German Credit CSV (target ``creditability``, logistic regression, seed 0). A query's
    features are ``pipeline[:-1].transform(rows)`` (7 standardised numeric columns and 54 one-hot
    columns) and its label ``pipeline[-1].predict(features)``, as the server hands them to
    ``ExtractionMonitor.observe``. Each stream is one token's queries, observed one row at a time
    by a fresh monitor with the default parameters (or those given on the command line).

    Benign streams (false positives: any alert is one)
        resample     rows drawn with replacement from the 1,000 real rows;
        noisy        the same with Gaussian noise on the numeric columns, 0.05 (small) or 0.2
                     (moderate) standard deviations of the training data;
        segment      rows of one customer segment only (credit amount in the top quarter; age 50
                     or more; purpose "car (new)"), drawn with replacement: a narrower client;
        what-if      a loan officer's what-if questions: real rows with replacement, each query
                     with probability 0.5 (or 0.8) instead the previous applicant again with
                     another credit amount (x 0.7 to 1.3) and duration (+- 12 months);
        distinct     rows without replacement (every applicant once), up to 1,000.
        Sizes 200, 500, 1,000 and 2,000 queries, ``--benign-seeds`` (5) seeds each.

    Attacks (detection: the share of streams alerted within the budget, and the queries until the
    alert), ``--attack-seeds`` (10) seeds each, budget ``--budget`` (2,000) queries:
        uniform      rows drawn uniformly over the input schema: numeric columns uniform over the
                     observed [min, max] (rounded where integer), categories uniform (Tramèr et al.
                     2016, random queries);
        jacobian     Jacobian-based augmentation (Papernot et al. 2017) from 10 real seed rows: a
                     substitute logistic regression on the attacker's own encoding (min-max scaled
                     numerics, one-hot categories), refitted whenever it has a quarter more
                     answers; each round every point so far steps ``0.1 * range`` along the sign
                     of the substitute's gradient for the label the model gave, the step's sign
                     flipping every 3 rounds (Papernot's tau); categories are kept; points asked
                     about already are not asked again (when a round has none new, the step size
                     changes);
        line-search  binary search between two real rows the model labels differently (12 steps
                     per pair): numerics interpolated, each category switching at its own random
                     point of the segment (Tramèr et al.'s line search for the boundary); integer
                     columns rounded as the schema's types say, and also left unrounded ("floats");
        perturb      slight perturbations of 5 real seed rows: Gaussian noise of 0.02 (and 0.1)
                     times each numeric column's range (rounded where integer), categories kept.
    And two adaptive attackers, for the documentation: the jacobian attack with a share of natural
    queries mixed in (each query is a real row, without replacement, with that probability), and
    the jacobian attack spread round-robin over 2, 10 and 20 tokens (each token monitored alone).

    Cost: microseconds per ``observe`` call of one row for a token whose class history holds
    100, 1,000 and ``max_history`` points (median of 2,000 calls), a 100-row call per row, and one
    Shapiro-Wilk check of a full window.

How to run (from the repository root)::

    .venv/bin/python benchmarks/extraction.py              # about a minute on one core (two with --sweep)
    .venv/bin/python benchmarks/extraction.py --sweep      # also: lowest W per stream, to choose delta
    .venv/bin/python benchmarks/extraction.py --delta 0.92 --near-radius 0.5
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import machine_summary
from mlwarden.models._training import fit_classifier
from mlwarden.serve._extraction import ExtractionAlert, ExtractionMonitor, _shapiro_w
from mlwarden.usecases import german_credit_csv

Stream = tuple[np.ndarray, np.ndarray]  # (features (n, d), labels (n,))


@dataclass(frozen=True)
class Credit:
    """The credit model, its preprocessing, the real rows and the schema an attacker can read."""

    pre: Any
    model: Any
    rows: pd.DataFrame
    features: np.ndarray
    labels: np.ndarray
    numeric: list[str]
    categorical: list[str]
    schema: dict[str, dict[str, Any]]

    def encode(self, rows: pd.DataFrame) -> Stream:
        features = np.asarray(self.pre.transform(rows[list(self.rows.columns)]), dtype=np.float64)
        return features, self.model.predict(features)

    def clip_round(self, rows: pd.DataFrame, rounded: bool = True) -> pd.DataFrame:
        """Numeric columns clipped to the schema's range and (``rounded``) rounded where the column is integer."""
        for name in self.numeric:
            column = self.schema[name]
            values = np.clip(rows[name].to_numpy(float), column["min"], column["max"])
            integer = rounded and column["dtype"].startswith("int")
            rows[name] = np.round(values).astype(np.int64) if integer else values
        return rows

    def ranges(self) -> np.ndarray:
        return np.array([self.schema[c]["max"] - self.schema[c]["min"] for c in self.numeric])


def build_credit() -> Credit:
    frame = pd.read_csv(german_credit_csv())
    result = fit_classifier(frame, "creditability")
    rows = frame.drop(columns=["creditability"])
    pre, model = result.pipeline[:-1], result.pipeline[-1]
    features = np.asarray(pre.transform(rows), dtype=np.float64)
    return Credit(
        pre=pre,
        model=model,
        rows=rows,
        features=features,
        labels=model.predict(features),
        numeric=list(result.parameters["numeric_features"]),
        categorical=list(result.parameters["categorical_features"]),
        schema={c["name"]: c for c in result.input_schema["columns"]},
    )


# -- benign clients ----------------------------------------------------------------------------


def benign(
    credit: Credit, rng: np.random.Generator, n: int, noise: float = 0.0, pool: np.ndarray | None = None
) -> Stream:
    """Real rows drawn with replacement (from ``pool``, row indexes, if given), numerics + N(0, noise) in sigmas."""
    pool = np.arange(len(credit.rows)) if pool is None else pool
    features = credit.features[rng.choice(pool, n)].copy()
    if noise:
        k = len(credit.numeric)  # the ColumnTransformer puts the numeric columns first
        features[:, :k] += rng.normal(0.0, noise, (n, k))
    return features, credit.model.predict(features)


def distinct(credit: Credit, rng: np.random.Generator, n: int) -> Stream:
    features = credit.features[rng.permutation(len(credit.rows))[: min(n, len(credit.rows))]]
    return features, credit.model.predict(features)


def what_if(credit: Credit, rng: np.random.Generator, n: int, share: float = 0.5) -> Stream:
    """Real applicants (with replacement); with probability ``share`` a query is instead the previous
    applicant again with another credit amount (x 0.7 to 1.3) and duration (+- 12 months): a loan officer's
    what-if questions."""
    follow = rng.random(n) < share
    follow[0] = False
    source = np.maximum.accumulate(np.where(follow, 0, np.arange(n)))
    rows = credit.rows.iloc[rng.integers(0, len(credit.rows), n)[source]].reset_index(drop=True)
    rows["credit_amount"] = rows["credit_amount"].astype(float)
    rows.loc[follow, "credit_amount"] *= rng.uniform(0.7, 1.3, int(follow.sum()))
    rows.loc[follow, "duration_in_month"] += rng.integers(-12, 13, int(follow.sum()))
    return credit.encode(credit.clip_round(rows))


def segments(credit: Credit) -> dict[str, np.ndarray]:
    rows = credit.rows
    return {
        "top-amount": np.flatnonzero(rows["credit_amount"] >= rows["credit_amount"].quantile(0.75)),
        "age-50+": np.flatnonzero(rows["age_in_years"] >= 50),
        "new-car": np.flatnonzero(rows["purpose"] == "car (new)"),
    }


# -- attacks -----------------------------------------------------------------------------------


def uniform(credit: Credit, rng: np.random.Generator, n: int) -> Stream:
    columns: dict[str, Any] = {}
    for name in credit.rows.columns:
        column = credit.schema[name]
        if column["type"] == "numeric":
            columns[name] = rng.uniform(column["min"], column["max"], n)
        else:
            columns[name] = rng.choice(column["categories"], n)
    return credit.encode(credit.clip_round(pd.DataFrame(columns)))


def jacobian(credit: Credit, rng: np.random.Generator, n: int, seeds: int = 10, step: float = 0.1) -> Stream:
    from sklearn.linear_model import LogisticRegression

    low = np.array([credit.schema[c]["min"] for c in credit.numeric])
    span = credit.ranges()
    data = credit.rows.iloc[rng.choice(len(credit.rows), seeds, replace=False)].reset_index(drop=True)
    features, labels = credit.encode(data)
    parts, answers = [features], [labels]
    known = list(labels)
    asked = {row.tobytes() for row in features}
    rounds, fitted, substitute = 0, 0, None
    while len(known) < n:
        y = np.array(known)
        if len(set(known)) > 1 and len(known) >= 1.25 * fitted:  # refit once there is a quarter more to learn
            fitted = len(known)
            scaled = (data[credit.numeric].to_numpy(float) - low) / span
            onehot = pd.get_dummies(data[credit.categorical].astype(str)).to_numpy(float)
            substitute = LogisticRegression(max_iter=500).fit(np.hstack([scaled, onehot]), y)
        if substitute is not None:
            towards = np.where(y == substitute.classes_[1], 1.0, -1.0)[:, None]
            direction = towards * np.sign(substitute.coef_[0][: len(credit.numeric)])[None, :]
        else:
            direction = rng.choice([-1.0, 1.0], (len(data), len(credit.numeric)))
        sign = -1.0 if (rounds // 3) % 2 else 1.0
        new = data.copy()
        new[credit.numeric] = data[credit.numeric].to_numpy(float) + sign * step * direction * span
        features, labels = credit.encode(credit.clip_round(new))
        fresh = []  # a real attacker does not pay twice for a point it has asked about already
        for i, row in enumerate(features):
            if row.tobytes() not in asked and len(fresh) < n - len(known):
                asked.add(row.tobytes())
                fresh.append(i)
        if not fresh:  # stuck at the bounds: change the step size
            step *= 0.5 if rounds % 2 else 1.5
            rounds += 1
            continue
        parts.append(features[fresh])
        answers.append(labels[fresh])
        known += list(labels[fresh])
        data = pd.concat([data, new.iloc[fresh]], ignore_index=True)
        rounds += 1
    return np.vstack(parts)[:n], np.concatenate(answers)[:n]


def line_search(credit: Credit, rng: np.random.Generator, n: int, steps: int = 12, rounded: bool = True) -> Stream:
    per_pair = steps + 2
    pairs = math.ceil(n / per_pair)
    good = np.flatnonzero(credit.labels == credit.model.classes_[1])
    bad = np.flatnonzero(credit.labels == credit.model.classes_[0])
    a = credit.rows.iloc[rng.choice(good, pairs)].reset_index(drop=True)
    b = credit.rows.iloc[rng.choice(bad, pairs)].reset_index(drop=True)
    switch = rng.uniform(0.0, 1.0, (pairs, len(credit.categorical)))

    def at(t: np.ndarray) -> Stream:
        point = a.copy()
        for name in credit.numeric:
            point[name] = (1 - t) * a[name].to_numpy(float) + t * b[name].to_numpy(float)
        for j, name in enumerate(credit.categorical):
            point[name] = np.where(t > switch[:, j], b[name], a[name])
        return credit.encode(credit.clip_round(point, rounded))

    low, high = np.zeros(pairs), np.ones(pairs)
    fa, la = at(low)
    fb, lb = at(high)
    features, labels = [fa, fb], [la, lb]
    for _ in range(steps):
        mid = (low + high) / 2
        f, lab = at(mid)
        same = lab == la
        low, high = np.where(same, mid, low), np.where(same, high, mid)
        features.append(f)
        labels.append(lab)
    # queries in the order the attacker sends them: one pair after the other
    order_f = np.stack(features, axis=1).reshape(pairs * per_pair, -1)
    order_l = np.stack(labels, axis=1).reshape(pairs * per_pair)
    return order_f[:n], order_l[:n]


def perturb(credit: Credit, rng: np.random.Generator, n: int, seeds: int = 5, scale: float = 0.02) -> Stream:
    base = credit.rows.iloc[rng.choice(len(credit.rows), seeds, replace=False)]
    rows = base.iloc[rng.integers(0, seeds, n)].reset_index(drop=True)
    noise = rng.normal(0.0, scale, (n, len(credit.numeric))) * credit.ranges()
    rows[credit.numeric] = rows[credit.numeric].to_numpy(float) + noise
    return credit.encode(credit.clip_round(rows))


def mixed(credit: Credit, rng: np.random.Generator, attack: Stream, natural: float) -> Stream:
    """An attack stream with real rows (without replacement) interleaved: each query is real with probability
    ``natural``, and the attack's queries keep their order."""
    attack_f, attack_l = attack
    n = len(attack_l)
    real_f, real_l = distinct(credit, rng, len(credit.rows))
    take_real = rng.random(n) < natural
    features, labels = np.empty_like(attack_f), np.empty_like(attack_l)
    picks = np.flatnonzero(take_real)
    cycle = np.arange(len(picks)) % len(real_l)
    features[picks], labels[picks] = real_f[cycle], real_l[cycle]
    rest = np.flatnonzero(~take_real)
    features[rest], labels[rest] = attack_f[: len(rest)], attack_l[: len(rest)]
    return features, labels


ATTACKS: dict[str, Callable[[Credit, np.random.Generator, int], Stream]] = {
    "uniform": uniform,
    "jacobian": jacobian,
    "line-search": line_search,
    "line-search, floats": lambda c, r, n: line_search(c, r, n, rounded=False),
    "perturb 0.02": perturb,
    "perturb 0.1": lambda c, r, n: perturb(c, r, n, scale=0.1),
}


# -- running a stream --------------------------------------------------------------------------


def run(monitor: ExtractionMonitor, stream: Stream) -> ExtractionAlert | None:
    """Observe the stream one row at a time; the first alert (or None)."""
    features, labels = stream
    for i in range(len(labels)):
        alert = monitor.observe("t", features[i : i + 1], labels[i : i + 1])
        if alert is not None:
            return alert
    return None


def lowest_w(options: dict[str, Any], stream: Stream) -> float:
    """The lowest Shapiro-Wilk W over every check of the stream (no alerts), for choosing delta."""
    monitor = ExtractionMonitor(**{**options, "delta": 1e-9, "min_coverage": 0})
    features, labels = stream
    lowest, checks = math.inf, 0
    for i in range(len(labels)):
        monitor.observe("t", features[i : i + 1], labels[i : i + 1])
        now = monitor.stats("t")
        if now["checks"] != checks:
            checks = int(now["checks"])
            lowest = min(lowest, float(now["last_w"]), float(now["last_w_near"]))  # NaN never wins
    return lowest


def benign_streams(credit: Credit, seeds: int) -> Iterator[tuple[str, int, Stream]]:
    for n in (200, 500, 1000, 2000):
        for seed in range(seeds):
            yield "resample", n, benign(credit, np.random.default_rng([1, n, seed]), n)
            yield "noisy 0.05", n, benign(credit, np.random.default_rng([2, n, seed]), n, 0.05)
            yield "noisy 0.2", n, benign(credit, np.random.default_rng([3, n, seed]), n, 0.2)
            for k, (name, pool) in enumerate(segments(credit).items()):
                yield f"segment {name}", n, benign(credit, np.random.default_rng([4 + k, n, seed]), n, pool=pool)
            yield "what-if 0.5", n, what_if(credit, np.random.default_rng([8, n, seed]), n)
            yield "what-if 0.8", n, what_if(credit, np.random.default_rng([10, n, seed]), n, 0.8)
            if n <= 1000:
                yield "distinct", n, distinct(credit, np.random.default_rng([9, n, seed]), n)


# -- cost ----------------------------------------------------------------------------------------


def cost(credit: Credit, options: dict[str, Any]) -> list[tuple[str, float]]:
    """Microseconds per observed row at several history sizes (one class, points far apart)."""
    rng = np.random.default_rng(7)
    d = credit.features.shape[1]
    out = []
    default_history = int(options.get("max_history", ExtractionMonitor().max_history))
    for size in sorted({100, 1000, default_history}):
        monitor = ExtractionMonitor(**{**options, "max_history": size, "delta": 1e-9, "min_coverage": 0})
        # ever farther apart, so that every point joins the history
        warm = rng.normal(0.0, 1.0, (size, d)) * (10.0 + np.arange(size))[:, None]
        monitor.observe("t", warm, ["c"] * size)
        history = monitor.stats("t")["history"]
        probes = rng.normal(0.0, 1.0, (2000, d)) * (20.0 + size)
        times = []
        for i in range(len(probes)):
            started = time.perf_counter()
            monitor.observe("t", probes[i : i + 1], ["c"])
            times.append(time.perf_counter() - started)
        out.append((f"1 row, history {history}", statistics.median(times) * 1e6))
        batch = rng.normal(0.0, 1.0, (100, d)) * (20.0 + size)
        started = time.perf_counter()
        monitor.observe("t", batch, ["c"] * 100)
        out.append((f"100 rows, history {history}+ (per row)", (time.perf_counter() - started) / 100 * 1e6))
    window = np.abs(rng.normal(3.0, 1.0, int(options.get("window", ExtractionMonitor().window))))
    started = time.perf_counter()
    for _ in range(50):
        _shapiro_w(window)
    out.append((f"one Shapiro-Wilk check of {len(window)} distances", (time.perf_counter() - started) / 50 * 1e6))
    return out


# -- report --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benign-seeds", type=int, default=5)
    parser.add_argument("--attack-seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--sweep", action="store_true", help="also print the lowest W of each stream kind")
    for name in ("delta", "near_radius", "spread_limit"):
        parser.add_argument("--" + name.replace("_", "-"), type=float)
    for name in ("min_distances", "max_history", "check_every", "window", "min_coverage"):
        parser.add_argument("--" + name.replace("_", "-"), type=int)
    args = parser.parse_args(argv)
    names = ("delta", "near_radius", "spread_limit", "min_distances", "max_history", "check_every", "window")
    options = {k: getattr(args, k) for k in (*names, "min_coverage") if getattr(args, k) is not None}
    defaults = ExtractionMonitor(**options)
    print("monitor: " + ", ".join(f"{k}={getattr(defaults, k)}" for k in (*names, "min_coverage")))
    credit = build_credit()
    print(
        f"credit model: {credit.features.shape[1]} features ({len(credit.numeric)} numeric), classes "
        f"{list(credit.model.classes_)}, {len(credit.rows)} real rows"
    )

    print("\nBenign streams (an alert is a false positive)")
    print(f"{'kind':<22}{'queries':>8}{'streams':>9}{'tested':>8}{'alerts':>8}  tests fired      lowest W")
    kinds: dict[tuple[str, int], list[tuple[ExtractionAlert | None, float, bool]]] = {}
    for kind, n, stream in benign_streams(credit, args.benign_seeds):
        monitor = ExtractionMonitor(**options)
        alert = run(monitor, stream)
        low = lowest_w(options, stream) if args.sweep else math.nan
        kinds.setdefault((kind, n), []).append((alert, low, monitor.stats("t")["checks"] > 0))
    total = alerted = 0
    for (kind, n), results in kinds.items():
        fired = [a for a, _, _ in results if a is not None]
        tested = sum(checked for _, _, checked in results)
        total += len(results)
        alerted += len(fired)
        tests = ",".join(sorted({a.test for a in fired})) or "-"
        low = min(w for _, w, _ in results)
        shown = "" if math.isnan(low) else "-" if math.isinf(low) else f"{low:.3f}"
        print(f"{kind:<22}{n:>8}{len(results):>9}{tested:>8}{len(fired):>8}  {tests:<16} {shown}")
    print(f"false positives: {alerted} of {total} benign streams ('tested': streams with at least one normality test;")
    print("a client with fewer than min_distances distinct queries is never tested, only its coverage is)")

    print(f"\nAttacks (budget {args.budget} queries, {args.attack_seeds} seeds)")
    print(f"{'attack':<26}{'detected':>9}  {'queries to alert (median, range)':<34} tests fired   lowest W")
    seeds = range(args.attack_seeds)
    jacobians = {seed: jacobian(credit, np.random.default_rng([20, seed]), args.budget) for seed in seeds}
    makers: dict[str, Any] = {"jacobian": None}
    makers.update((name, make) for name, make in ATTACKS.items() if name != "jacobian")
    makers.update({"jacobian + 50% natural": 0.5, "jacobian + 80% natural": 0.8})
    for name, make in makers.items():
        found, low = [], []
        for seed in range(args.attack_seeds):
            rng = np.random.default_rng([20, seed])
            if make is None:
                stream = jacobians[seed]
            elif isinstance(make, float):
                stream = mixed(credit, rng, jacobians[seed], make)
            else:
                stream = make(credit, rng, args.budget)
            found.append(run(ExtractionMonitor(**options), stream))
            if args.sweep:
                low.append(lowest_w(options, stream))
        hits = [a for a in found if a is not None]
        spent = sorted(a.queries for a in hits)
        where = f"{statistics.median(spent):.0f} ({spent[0]}..{spent[-1]})" if spent else "-"
        tests = ",".join(sorted({a.test for a in hits})) or "-"
        lw = f"{min(low):.3f}..{max(low):.3f}".replace("inf", "-") if low else ""
        print(f"{name:<26}{len(hits):>4}/{len(found):<4}  {where:<34} {tests:<13} {lw}")
    for tokens in (2, 10, 20):
        caught: list[ExtractionAlert] = []
        for seed in range(args.attack_seeds):
            features, labels = jacobians[seed]
            monitor = ExtractionMonitor(**options)
            first = None
            for i in range(len(labels)):
                alert = monitor.observe(f"t{i % tokens}", features[i : i + 1], labels[i : i + 1])
                first = first or alert
            if first is not None:
                caught.append(first)
        tests = ",".join(sorted({a.test for a in caught})) or "-"
        label = f"jacobian over {tokens} tokens"
        print(f"{label:<26}{len(caught):>4}/{args.attack_seeds:<4}  {'(any token alerted)':<34} {tests}")

    print(f"\nCost per observe() (median microseconds per row; {machine_summary()})")
    for label, micros in cost(credit, options):
        print(f"  {label:<44}{micros:>9.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
