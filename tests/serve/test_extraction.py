"""The extraction monitor: its bookkeeping and bounds on synthetic streams, then its verdicts on the credit model.

The first part feeds hand-made streams whose outcome is known (constant steps are not normal; a
cloud of independent points is), and checks the bounds the server relies on: one alert per token,
LRU on tokens, capped history and window, exact repeats left out, thread safety. The second part
(``slow``) replays the benchmark's streams (``benchmarks/extraction.py``, fixed seeds) against the
credit model's preprocessing and asserts the qualitative results documented in
``docs/extraction.md``: benign clients pass, the four attacks are caught.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlwarden.errors import BadInput
from mlwarden.serve._extraction import ExtractionAlert, ExtractionMonitor

NUM, BLOCKS = 8, 3  # synthetic feature vectors: 8 numeric columns, then 3 one-hot blocks of 4 columns
D = NUM + 4 * BLOCKS


def natural(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows like preprocessed natural data: standard normal numerics and one category per block.

    Like the credit data's, distinct rows are rarely within the near radius (1.0) of each other.
    """
    rows = np.zeros((n, D))
    rows[:, :NUM] = rng.normal(0.0, 1.0, (n, NUM))
    for block in range(BLOCKS):
        rows[np.arange(n), NUM + 4 * block + rng.integers(0, 4, n)] = 1.0
    return rows


def steps(n: int, step: float = 2.0) -> np.ndarray:
    """A walk of equal steps along one direction: every distance the same, as a Jacobian attack's are."""
    rows = np.zeros((n, D))
    rows[:, 0] = step * np.arange(n)
    rows[:, [NUM + 4 * block for block in range(BLOCKS)]] = 1.0
    return rows


def feed(monitor: ExtractionMonitor, rows: np.ndarray, who: str = "t") -> list[ExtractionAlert]:
    """One row per call, as a client sending single-row requests; the alerts returned."""
    alerts = []
    for i in range(len(rows)):
        alert = monitor.observe(who, rows[i : i + 1], ["good"])
        if alert is not None:
            alerts.append(alert)
    return alerts


# -- the interface -------------------------------------------------------------------------------


def test_alert_is_a_frozen_record_with_the_servers_fields() -> None:
    alert = ExtractionAlert(token_id="t", test="prada", statistic=0.5, threshold=0.88, queries=120, detail="x")
    assert [f.name for f in dataclasses.fields(alert)] == [
        "token_id",
        "test",
        "statistic",
        "threshold",
        "queries",
        "detail",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.queries = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "options",
    [
        {"delta": 0.0},
        {"delta": 1.0},
        {"min_distances": 2},
        {"check_every": 0},
        {"max_history": 0},
        {"max_tokens": 0},
        {"window": 5001},
        {"window": 50, "min_distances": 100},
        {"near_radius": -1.0},
        {"near_radius": math.nan},
        {"spread_limit": 1.0},
        {"min_coverage": -1},
    ],
)
def test_bad_parameters_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(BadInput):
        ExtractionMonitor(**options)


@pytest.mark.parametrize(
    ("features", "labels"),
    [
        (np.zeros(D), ["a"]),  # not 2-D
        (np.zeros((2, D)), ["a"]),  # one label short
        (np.array([[0.0, math.nan]]), ["a"]),
        (np.array([[math.inf, 0.0]]), ["a"]),
    ],
)
def test_malformed_batches_are_refused_and_record_nothing(features: np.ndarray, labels: list[str]) -> None:
    monitor = ExtractionMonitor()
    with pytest.raises(BadInput):
        monitor.observe("t", features, labels)
    assert monitor.stats("t")["queries"] == 0


def test_an_empty_batch_is_nothing() -> None:
    monitor = ExtractionMonitor()
    assert monitor.observe("t", np.zeros((0, D)), []) is None
    assert monitor.stats("t")["queries"] == 0


def test_stats_of_an_unknown_token_are_empty() -> None:
    stats = ExtractionMonitor().stats("nobody")
    assert stats["queries"] == stats["distances"] == stats["history"] == stats["alerted"] == 0
    assert math.isnan(float(stats["last_w"]))
    assert math.isnan(float(stats["spread"]))


# -- the prada test ------------------------------------------------------------------------------


def test_equal_steps_raise_one_prada_alert() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5)
    alerts = feed(monitor, steps(200))
    assert len(alerts) == 1  # at most once per token
    alert = alerts[0]
    assert (alert.token_id, alert.test, alert.threshold) == ("t", "prada", 0.88)
    assert alert.statistic < alert.threshold
    # the first row starts the class's history; 20 distances are needed before the first check
    assert alert.queries == 21
    assert "W=" in alert.detail
    assert "\n" not in alert.detail
    stats = monitor.stats("t")
    assert stats["alerted"] == 1
    assert stats["queries"] == 200  # still counted after the alert


def test_natural_rows_raise_nothing() -> None:
    monitor = ExtractionMonitor(min_distances=50, check_every=5)
    assert feed(monitor, natural(np.random.default_rng(1), 1500)) == []
    stats = monitor.stats("t")
    assert stats["queries"] == 1500
    assert int(stats["checks"]) > 50
    assert 0.9 < float(stats["last_w"]) <= 1.0


def test_a_huge_value_does_not_blind_the_test() -> None:
    """A value beyond float32's range once made every later distance NaN, and W with it."""
    monitor = ExtractionMonitor(min_distances=20, check_every=5, min_coverage=0)
    huge = steps(2)
    huge[1, 1] = 1e300
    assert monitor.observe("t", huge, ["good", "good"]) is None
    alerts = feed(monitor, steps(60) + 5.0)
    assert len(alerts) == 1
    assert math.isfinite(alerts[0].statistic)


def test_an_alert_mid_batch_reports_the_whole_batch_and_forget_starts_afresh() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5)
    alert = monitor.observe("t", steps(100), ["good"] * 100)
    assert alert is not None
    assert alert.queries == 100
    assert monitor.observe("t", steps(100), ["good"] * 100) is None  # no second alert
    monitor.forget("t")
    assert monitor.stats("t")["queries"] == 0
    assert monitor.observe("t", steps(100), ["good"] * 100) is not None


def test_each_token_is_judged_on_its_own_queries() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5)
    rng = np.random.default_rng(2)
    assert feed(monitor, natural(rng, 300), who="benign") == []
    assert len(feed(monitor, steps(100), who="thief")) == 1
    assert monitor.stats("benign")["alerted"] == 0


def test_classes_have_histories_of_their_own() -> None:
    """Two interleaved walks on one line, one per predicted class: a query's distance is to its own class's points."""
    monitor = ExtractionMonitor(min_distances=200, min_coverage=0, near_radius=3.0)  # no check: W would be 0
    good = steps(60, step=4.0)  # at 0, 4, 8, ...
    bad = good.copy()
    bad[:, 0] += 2.0  # at 2, 6, 10, ...: 2 from the other class's points, 4 from its own
    rows = np.empty((120, D))
    rows[0::2], rows[1::2] = good, bad
    labels = ["good", "bad"] * 60
    for i in range(len(rows)):
        monitor.observe("t", rows[i : i + 1], labels[i : i + 1])
    stats = monitor.stats("t")
    assert stats["classes"] == 2
    assert stats["distances"] == 118  # all 4 apart (beyond the near radius of 3), none 2
    assert stats["near_distances"] == 0
    assert stats["history"] == 120


def test_exact_repeats_add_no_distance() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5)
    rows = natural(np.random.default_rng(3), 50)
    for _ in range(20):  # a client resubmitting the same 50 rows
        assert monitor.observe("t", rows, ["good"] * 50) is None
    stats = monitor.stats("t")
    assert stats["queries"] == 1000
    assert stats["repeats"] == 950
    assert int(stats["distances"]) + int(stats["near_distances"]) == 49


def test_near_repeats_are_tested_apart_from_fresh_rows() -> None:
    """Fresh rows and noisy copies of them: each part is normal, the two pooled are not."""
    rng = np.random.default_rng(4)
    fresh = natural(rng, 600)
    copies = fresh.copy()
    copies[:, :NUM] += rng.normal(0.0, 0.1, (600, NUM))
    rows = np.empty((1200, D))
    rows[0::2], rows[1::2] = fresh, copies
    split = ExtractionMonitor()
    assert feed(split, rows) == []
    assert int(split.stats("t")["near_distances"]) > 300
    pooled = ExtractionMonitor(near_radius=0.0)
    assert len(feed(pooled, rows)) == 1


def test_small_equal_steps_are_caught_among_near_repeats() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5)
    alerts = feed(monitor, steps(100, step=0.5))
    assert len(alerts) == 1
    assert "within 1 of an earlier query" in alerts[0].detail
    stats = monitor.stats("t")  # 0.5 and 1.0 from the last kept point are near; at 1.5 a point is kept again
    assert stats["near_distances"] == 20
    assert stats["distances"] == 9


def test_checks_run_every_check_every_distances_once_there_are_enough() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5, delta=1e-6)
    rows = natural(np.random.default_rng(6), 200) * 10.0  # far apart: every distance is a far one
    feed(monitor, rows[:41])  # 40 distances: checks at 20, 25, 30, 35, 40
    stats = monitor.stats("t")
    assert stats["distances"] == 40
    assert stats["checks"] == 5


# -- bounds --------------------------------------------------------------------------------------


def test_tokens_are_bounded_least_recently_used_first() -> None:
    monitor = ExtractionMonitor(max_tokens=3)
    rows = natural(np.random.default_rng(7), 5)
    for token in ("a", "b", "c"):
        monitor.observe(token, rows, ["good"] * 5)
    monitor.observe("a", rows[:1], ["good"])  # a is now the most recently used
    monitor.observe("d", rows, ["good"] * 5)  # b, the least recently used, goes
    assert [monitor.stats(t)["queries"] for t in "abcd"] == [6, 0, 5, 5]


def test_history_is_capped_per_class() -> None:
    monitor = ExtractionMonitor(max_history=30, delta=1e-6, min_coverage=0)
    rows = natural(np.random.default_rng(8), 400) * 10.0
    monitor.observe("t", rows[:200], ["good"] * 200)
    monitor.observe("t", rows[200:], ["bad"] * 200)
    stats = monitor.stats("t")
    assert stats["classes"] == 2
    assert stats["history"] == 60


def test_the_window_keeps_the_most_recent_distances() -> None:
    from mlwarden.serve._extraction import _Ring

    ring = _Ring(100, np.float64)
    for value in range(1000):
        ring.add(float(value))
    assert ring.count == 1000
    assert sorted(ring.held()) == list(range(900, 1000))


def test_a_tested_window_is_at_most_window_long() -> None:
    monitor = ExtractionMonitor(window=100, min_distances=20, check_every=5, min_coverage=0)
    rows = np.vstack([natural(np.random.default_rng(16), 300) * 10.0, steps(50) + 1000.0])
    alerts = feed(monitor, rows)
    assert len(alerts) == 1
    assert "for the last 100 distances" in alerts[0].detail


def test_labels_beyond_the_class_cap_share_one_history() -> None:
    monitor = ExtractionMonitor(delta=1e-6)
    rows = natural(np.random.default_rng(9), 300)
    monitor.observe("t", rows, [f"label-{i}" for i in range(300)])
    assert monitor.stats("t")["classes"] == 65  # 64 classes and the shared one


def test_unhashable_labels_are_accepted() -> None:
    monitor = ExtractionMonitor()
    rows = natural(np.random.default_rng(10), 3)
    assert monitor.observe("t", rows, [[1], [1], [2]]) is None
    assert monitor.stats("t")["classes"] == 2


def test_features_of_another_width_start_the_token_afresh() -> None:
    monitor = ExtractionMonitor()
    rng = np.random.default_rng(11)
    monitor.observe("t", natural(rng, 10), ["good"] * 10)
    monitor.observe("t", rng.normal(size=(4, 3)), ["good"] * 4)
    stats = monitor.stats("t")
    assert stats["queries"] == 14
    assert int(stats["distances"]) + int(stats["near_distances"]) == 3  # the first of the 4 started a history


def test_concurrent_observers_lose_no_query() -> None:
    monitor = ExtractionMonitor(min_distances=20, check_every=5)
    rows = natural(np.random.default_rng(12), 400)
    alerts: list[ExtractionAlert | None] = []
    errors: list[BaseException] = []

    def client(part: np.ndarray, token: str) -> None:
        try:
            for i in range(len(part)):
                alerts.append(monitor.observe(token, part[i : i + 1], ["good"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(rows[k::4], "shared")) for k in range(4)]
    threads.append(threading.Thread(target=client, args=(steps(100), "thief")))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert monitor.stats("shared")["queries"] == 400
    assert [a.token_id for a in alerts if a is not None] == ["thief"]


# -- the coverage test ---------------------------------------------------------------------------


def test_uniform_probing_of_a_wide_box_raises_a_coverage_alert() -> None:
    rng = np.random.default_rng(13)
    rows = natural(rng, 200)
    rows[:, :NUM] = rng.uniform(-1.5, 5.0, (200, NUM))  # the ranges of skewed columns, scaled
    monitor = ExtractionMonitor()
    alerts = feed(monitor, rows)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.test == "coverage"
    assert alert.queries == 100  # the first query it may judge
    assert alert.statistic < alert.threshold == 0.45


def test_one_unusual_column_is_not_probing() -> None:
    """A client whose customers are all older: one column far from the training data, the others not."""
    rows = natural(np.random.default_rng(14), 300)
    rows[:, 0] = 2.5
    monitor = ExtractionMonitor()
    assert feed(monitor, rows) == []
    assert 0.8 < float(monitor.stats("t")["spread"]) < 1.3


def test_coverage_alarm_can_be_turned_off_and_coverage_is_still_reported() -> None:
    rng = np.random.default_rng(15)
    rows = natural(rng, 200)
    rows[:, :NUM] = rng.uniform(-1.5, 5.0, (200, NUM))
    monitor = ExtractionMonitor(min_coverage=0)
    assert feed(monitor, rows) == []
    stats = monitor.stats("t")
    assert float(stats["spread"]) < 0.45
    assert stats["category_coverage"] == 1.0  # all 12 one-hot columns seen
    assert 0.5 < float(stats["numeric_coverage"]) < 1.0  # the bins of [-1.5, 3] of the 12 over [-3, 3]


# -- the credit model (the benchmark's streams, fixed seeds) -------------------------------------


@pytest.fixture(scope="module")
def bench() -> Any:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "extraction.py"
    spec = importlib.util.spec_from_file_location("extraction_benchmark", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def credit(bench: Any) -> Any:
    return bench.build_credit()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resample", "noisy 0.05", "noisy 0.2", "what-if 0.5", "segment age-50+", "distinct"])
def test_benign_credit_clients_raise_nothing(bench: Any, credit: Any, kind: str) -> None:
    rng = np.random.default_rng([30, len(kind)])
    n = 1000
    if kind == "resample":
        stream = bench.benign(credit, rng, n)
    elif kind.startswith("noisy"):
        stream = bench.benign(credit, rng, n, float(kind.split()[1]))
    elif kind == "what-if 0.5":
        stream = bench.what_if(credit, rng, n)
    elif kind == "segment age-50+":
        stream = bench.benign(credit, rng, n, 0.05, pool=bench.segments(credit)["age-50+"])  # ~130 rows, edited
    else:
        stream = bench.distinct(credit, rng, n)
    monitor = ExtractionMonitor()
    assert bench.run(monitor, stream) is None
    assert int(monitor.stats("t")["checks"]) > 0  # the test did run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("attack", "test", "budget"),
    [
        ("uniform", "coverage", 100),
        ("jacobian", "prada", 1000),
        ("line-search", "prada", 1000),
        ("perturb 0.1", None, 1000),
    ],
)
def test_credit_attacks_are_caught(bench: Any, credit: Any, attack: str, test: str | None, budget: int) -> None:
    stream = bench.ATTACKS[attack](credit, np.random.default_rng([20, 0]), 1000)
    alert = bench.run(ExtractionMonitor(), stream)
    assert alert is not None
    assert alert.queries <= budget
    if test is not None:
        assert alert.test == test
