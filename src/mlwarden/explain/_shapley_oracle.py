"""The Shapley definition by brute force: the oracle the tests and ``benchmarks/explain.py`` share.

For one row ``x`` and one background row ``b`` only the features where they differ are players; the
interventional Shapley value of feature ``i`` is the weighted sum, over every subset ``S`` of the
other players, of ``f(x_{S+i}, b_rest) - f(x_S, b_rest)`` with weight ``|S|! (d-|S|-1)! / d!``. It
costs ``2**d`` model evaluations, so it is for small games (``d`` up to about 20) only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["brute_force_shapley"]

FloatArray = npt.NDArray[np.float64]


def brute_force_shapley(output: Callable[[FloatArray], FloatArray], x: FloatArray, b: FloatArray) -> FloatArray:
    """Interventional Shapley values per feature of row ``x`` against background row ``b``; ``output``
    maps preprocessed rows to the explained output (e.g. :meth:`Explainer.output`)."""
    players = np.flatnonzero(x != b)
    d = len(players)
    if d > 24:
        raise ValueError(f"{d} players: 2**{d} evaluations is too many for the brute force")
    masks = np.arange(1 << d)
    bits = (masks[:, None] >> np.arange(d)) & 1
    hybrid = np.repeat(b[None, :], len(masks), axis=0)
    hybrid[:, players] = np.where(bits == 1, x[players], b[players])
    value = output(hybrid)
    size = bits.sum(axis=1)
    by_size = np.array([math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)])
    phi = np.zeros(len(x))
    for t, feature in enumerate(players):
        without = masks[bits[:, t] == 0]
        phi[feature] = float(np.sum(by_size[size[without]] * (value[without | (1 << t)] - value[without])))
    return phi
