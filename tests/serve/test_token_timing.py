"""A wrong secret for a token id that exists costs what an unknown id costs: the answer's timing tells nothing.

Measured at the authenticator (in-process, no network between): 2,000 calls of each kind,
alternated so that whatever else the machine does falls on both alike. Before both paths did the
same work, a wrong secret (the record read out of SQLite, its HMAC checked, its fields parsed)
took more than twice as long as an unknown id (an index miss, one hash); now the unknown id goes
through the same steps on a decoy record, and only the index lookup differs (a hit reads the
table's row: a few per cent). The medians must be within 10 % of each other, a bound far from
the old gap and wide enough that noise does not cross it; the Mann-Whitney U statistic
(``U / n^2``, the chance that a wrong secret took longer than an unknown id, 0.5 for equal
costs, 0.99 before) is shown with any failure.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from typing import Any

import pytest
from scipy.stats import mannwhitneyu

from mlwarden.access import TokenRefused, parse_token

Served = Any  # tests/serve/conftest.py's Served

CALLS = 2_000


def _refusal_times(authenticate: Any, tokens: tuple[str, str]) -> tuple[list[int], list[int]]:
    times: tuple[list[int], list[int]] = ([], [])
    for _ in range(200):  # warm caches and the branch predictor alike for both kinds
        for token in tokens:
            with pytest.raises(TokenRefused):
                authenticate(token)
    for _ in range(CALLS):
        for kind, token in enumerate(tokens):
            start = time.perf_counter_ns()
            with contextlib.suppress(TokenRefused):
                authenticate(token)
            times[kind].append(time.perf_counter_ns() - start)
    return times


def test_a_wrong_secret_and_an_unknown_id_take_the_same_time(served: Served) -> None:
    parsed = parse_token(served.tokens["client-credit"])
    assert parsed is not None
    secret = parsed.token[len(f"mlw_{parsed.token_id}_") :]
    wrong_secret = f"mlw_{parsed.token_id}_{'A' * 43 if secret[0] != 'A' else 'B' * 43}"
    unknown_id = f"mlw_{os.urandom(8).hex()}_{secret}"
    with served.open(served.tokens["operator"]) as ws:
        authenticate = ws.authenticator.authenticate
        for token, reason in ((wrong_secret, "wrong-secret"), (unknown_id, "unknown")):
            with pytest.raises(TokenRefused) as refused:
                authenticate(token)
            assert refused.value.reason == reason
        unknown, wrong = _refusal_times(authenticate, (unknown_id, wrong_secret))
    u = mannwhitneyu(wrong, unknown, alternative="two-sided").statistic
    chance = float(u) / (len(wrong) * len(unknown))
    ratio = statistics.median(wrong) / statistics.median(unknown)
    shown = f"medians {statistics.median(wrong):.0f} ns (wrong secret), {statistics.median(unknown):.0f} ns (unknown)"
    assert 0.9 < ratio < 1.1, f"median ratio {ratio:.3f}, P(wrong secret slower) = {chance:.3f}; {shown}"
