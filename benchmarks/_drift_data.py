"""Synthetic tabular data for the drift benchmark (``benchmarks/drift.py``): numpy only, seeded.

One table shape, 20 numeric and 5 categorical columns, meant to look like a credit / usage table with the
awkward parts real tables have: skewed, heavy-tailed, integer-valued and bounded columns, missing values, a
mass at zero, correlated columns (a Gaussian copula over eight of them), categorical columns from 2 to 12
categories with skewed frequencies, and one categorical that depends on a numeric.

``sample(n, seed)`` draws ``n`` rows of the reference distribution. ``sample(n, seed, shift=k)`` draws the same
rows (the same random streams) and applies shift ``k`` (1..7) of :data:`SHIFTS` to them, so a shifted table
differs from the unshifted one of the same seed only by the shift. Each :class:`Shift` names the columns a
detector must flag. Nothing here knows about any detector: the shift sizes are the ones in issue 17
(0.05 sd, 0.2 sd, sd x 1.1, a tail, 2% of a category's mass, a new 1% category, a joint change) and the column
shapes were chosen before any detector was run.

Sizes in sd units use the standard deviation of the column in the rows being shifted (``nanstd``), and the tail
threshold is their 95th percentile: at 20,000 rows and more these are within a few percent of the population
figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUMERIC = [
    "age",  # integer 18..90, copula
    "income",  # lognormal, 2% missing, copula
    "credit_score",  # normal-ish integer 300..850, copula
    "utilization_pct",  # bounded 0..100 with a mass at 0, copula
    "tenure_months",  # integer, negative-binomial-like, copula (tied to age only)
    "balance",  # heavy-tailed (Student t, 3 df), copula
    "debt_to_income",  # bounded 0..3, skewed, copula
    "late_payments",  # zero-inflated count, copula
    "num_accounts",  # Poisson count
    "txn_amount",  # lognormal, long right tail
    "days_since_login",  # exponential, 8% missing
    "session_minutes",  # gamma, 3% missing
    "sensor_temp",  # normal
    "pressure_kpa",  # normal, narrow
    "vibration",  # Weibull
    "discount_share",  # bounded 0..1 (beta)
    "daily_return",  # Laplace
    "price_change",  # very heavy-tailed (Student t, 2 df)
    "household_size",  # integer 1..8
    "rating",  # integer 1..5, skewed
]
CATEGORICAL = ["is_premium", "channel", "region", "product", "risk_band"]
COLUMNS = NUMERIC + CATEGORICAL

# The copula block: latent correlations (a valid correlation matrix; tenure_months is tied to age only, so
# flipping its latent sign flips that one correlation and no other).
_COPULA = [
    "age",
    "income",
    "credit_score",
    "utilization_pct",
    "tenure_months",
    "balance",
    "debt_to_income",
    "late_payments",
]
_CORR = {
    ("age", "income"): 0.35,
    ("age", "credit_score"): 0.25,
    ("age", "tenure_months"): 0.55,
    ("income", "credit_score"): 0.30,
    ("income", "debt_to_income"): -0.35,
    ("income", "balance"): 0.20,
    ("credit_score", "utilization_pct"): -0.45,
    ("credit_score", "late_payments"): -0.50,
    ("credit_score", "debt_to_income"): -0.25,
    ("utilization_pct", "balance"): 0.40,
    ("utilization_pct", "late_payments"): 0.30,
    ("debt_to_income", "late_payments"): 0.20,
}

_CHANNELS = (["web", "app", "branch", "phone"], [0.52, 0.31, 0.11, 0.06])
_REGIONS = (
    ["north", "south", "east", "west", "central", "coast", "mountain", "islands"],
    [0.29, 0.21, 0.16, 0.12, 0.09, 0.06, 0.045, 0.025],
)
_PRODUCTS = [f"p{i:02d}" for i in range(12)]
_BANDS = ["E", "D", "C", "B", "A"]


@dataclass(frozen=True)
class Shift:
    number: int
    name: str
    columns: tuple[str, ...]  # what a detector must flag (for a joint shift: the pair, either column or both)
    joint: bool = False  # every marginal unchanged


SHIFTS = [
    Shift(1, "mean +0.05 sd", ("sensor_temp",)),
    Shift(2, "mean +0.2 sd", ("session_minutes",)),
    Shift(3, "sd x1.1, same mean", ("pressure_kpa",)),
    Shift(4, "right tail x1.5 past p95", ("txn_amount",)),
    Shift(5, "2% of rows north -> south", ("region",)),
    Shift(6, "new category in 1% of rows", ("channel",)),
    Shift(7, "age~tenure correlation flipped", ("age", "tenure_months"), joint=True),
]


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz and Stegun 7.1.26 for erf, error < 1.5e-7; odd by construction, so
    ``_norm_cdf(-z) == 1 - _norm_cdf(z)`` and negating a latent column leaves its uniform's law unchanged)."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def _correlation() -> np.ndarray:
    k = len(_COPULA)
    corr = np.eye(k)
    for (a, b), r in _CORR.items():
        i, j = _COPULA.index(a), _COPULA.index(b)
        corr[i, j] = corr[j, i] = r
    np.linalg.cholesky(corr)  # raises if not positive definite
    return corr


def _inverse(u: np.ndarray, draws: np.ndarray, discrete: bool = False) -> np.ndarray:
    """The law of ``draws`` (a large sample) at probabilities ``u``: its empirical inverse CDF, interpolated
    for continuous laws, stepwise for discrete ones."""
    ref = np.sort(draws)
    if discrete:
        return ref[np.minimum((u * len(ref)).astype(np.int64), len(ref) - 1)]
    grid = (np.arange(len(ref)) + 0.5) / len(ref)
    return np.interp(u, grid, ref)


def _copula_columns(latent: np.ndarray, ref_rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The copula block's columns from their latent normals, each through its own inverse CDF, so the marginals
    never depend on the correlations."""
    z = {name: latent[:, i] for i, name in enumerate(_COPULA)}
    u = {name: _norm_cdf(v) for name, v in z.items()}
    big = 400_000  # size of the fixed reference draws behind the empirical inverse CDFs
    out: dict[str, np.ndarray] = {}
    out["age"] = np.clip(np.round(42.0 + 13.0 * z["age"]), 18, 90).astype(np.int64)
    out["income"] = np.round(np.exp(10.8 + 0.6 * z["income"]), 2)
    out["credit_score"] = np.clip(np.round(680.0 + 60.0 * z["credit_score"]), 300, 850).astype(np.int64)
    # utilisation: 12% exactly 0, the rest a Beta(2, 5) shape on (0, 100]
    uu = u["utilization_pct"]
    body = _inverse(np.clip((uu - 0.12) / 0.88, 0.0, 1.0), ref_rng.beta(2.0, 5.0, big))
    out["utilization_pct"] = np.where(uu < 0.12, 0.0, np.round(100.0 * body, 1))
    # tenure: negative binomial (r=2, p=0.05) months
    out["tenure_months"] = _inverse(u["tenure_months"], ref_rng.negative_binomial(2, 0.05, big), discrete=True)
    out["balance"] = np.round(2000.0 + 1500.0 * _inverse(u["balance"], ref_rng.standard_t(3, big)), 2)
    out["debt_to_income"] = np.round(_inverse(u["debt_to_income"], 3.0 * ref_rng.beta(2.0, 8.0, big)), 3)
    # late payments: 70% zero, else 1 + Poisson(1.5)
    ul = u["late_payments"]
    late = 1 + _inverse(np.clip((ul - 0.70) / 0.30, 0.0, 1.0), ref_rng.poisson(1.5, big), discrete=True)
    out["late_payments"] = np.where(ul < 0.70, 0, late).astype(np.int64)
    return out


def sample(n: int, seed: int, shift: int | None = None) -> dict[str, np.ndarray]:
    """``n`` rows as a dict of numpy columns (float64 with NaN for missing, int64, or str for categoricals)."""
    if shift is not None and shift not in {s.number for s in SHIFTS}:
        raise ValueError(f"no shift {shift}: 1..{len(SHIFTS)}")
    rng = np.random.default_rng(seed)
    # Fixed-seed reference draws for the empirical inverse CDFs: the same in every sample, whatever its seed.
    ref_rng = np.random.default_rng(20240917)

    # --- the copula block
    corr = _correlation()
    latent = rng.standard_normal((n, len(_COPULA))) @ np.linalg.cholesky(corr).T
    if shift == 7:
        # tenure_months is correlated with age alone: negating its latent flips that correlation and leaves its
        # marginal (standard normal, hence uniform after the CDF) and every other pair unchanged.
        latent[:, _COPULA.index("tenure_months")] *= -1.0
    cols = _copula_columns(latent, ref_rng)

    # --- independent numeric columns
    cols["num_accounts"] = rng.poisson(3.0, n).astype(np.int64)
    cols["txn_amount"] = np.round(np.exp(rng.normal(3.5, 1.1, n)), 2)
    cols["days_since_login"] = np.round(rng.exponential(12.0, n), 1)
    cols["session_minutes"] = np.round(rng.gamma(2.0, 15.0, n), 2)
    cols["sensor_temp"] = rng.normal(20.0, 5.0, n)
    cols["pressure_kpa"] = rng.normal(101.3, 0.8, n)
    cols["vibration"] = 0.4 * rng.weibull(1.5, n)
    cols["discount_share"] = rng.beta(0.8, 3.0, n)
    cols["daily_return"] = rng.laplace(0.0, 0.01, n)
    cols["price_change"] = rng.standard_t(2, n)
    cols["household_size"] = np.clip(rng.poisson(1.6, n) + 1, 1, 8).astype(np.int64)
    cols["rating"] = rng.choice(np.arange(1, 6), size=n, p=[0.05, 0.07, 0.15, 0.33, 0.40]).astype(np.int64)

    # --- missing values
    for name, share in (("income", 0.02), ("days_since_login", 0.08), ("session_minutes", 0.03)):
        values = cols[name].astype(np.float64)
        values[rng.random(n) < share] = np.nan
        cols[name] = values

    # --- categoricals
    cols["is_premium"] = np.where(rng.random(n) < 0.15, "yes", "no").astype(object)
    cols["channel"] = rng.choice(np.array(_CHANNELS[0], dtype=object), size=n, p=_CHANNELS[1])
    cols["region"] = rng.choice(np.array(_REGIONS[0], dtype=object), size=n, p=_REGIONS[1])
    weights = 0.72 ** np.arange(len(_PRODUCTS))
    cols["product"] = rng.choice(np.array(_PRODUCTS, dtype=object), size=n, p=weights / weights.sum())
    # risk band: the credit score plus noise, cut at fixed scores (depends on a numeric column)
    noisy = cols["credit_score"] + rng.normal(0.0, 25.0, n)
    cols["risk_band"] = np.array(_BANDS, dtype=object)[np.digitize(noisy, [600.0, 650.0, 700.0, 760.0])]

    # a draw reserved for the shifts, taken whether or not a shift is applied, so streams stay aligned
    pick = rng.random(n)

    if shift is not None and shift != 7:
        _apply(cols, shift, pick)
    return {name: cols[name] for name in COLUMNS}


def _apply(cols: dict[str, np.ndarray], shift: int, pick: np.ndarray) -> None:
    n = len(pick)
    if shift in (1, 2):
        name = "sensor_temp" if shift == 1 else "session_minutes"
        x = cols[name]
        cols[name] = x + (0.05 if shift == 1 else 0.2) * np.nanstd(x)
    elif shift == 3:
        x = cols["pressure_kpa"]
        m = np.nanmean(x)
        cols["pressure_kpa"] = m + 1.1 * (x - m)
    elif shift == 4:
        x = cols["txn_amount"]
        q = np.nanquantile(x, 0.95)
        cols["txn_amount"] = np.where(x > q, q + 1.5 * (x - q), x)
    elif shift == 5:
        region = cols["region"].copy()
        rows = np.flatnonzero(region == "north")
        k = round(0.02 * n)
        chosen = rows[np.argsort(pick[rows], kind="stable")[:k]]
        region[chosen] = "south"
        cols["region"] = region
    elif shift == 6:
        channel = cols["channel"].copy()
        channel[pick < 0.01] = "partner"
        cols["channel"] = channel


def describe() -> list[tuple[str, str]]:
    """(column, what it is) for the docs and the benchmark's header."""
    kinds = {
        "age": "integer 18-90 (copula)",
        "income": "lognormal, 2% missing (copula)",
        "credit_score": "integer 300-850 (copula)",
        "utilization_pct": "0-100, 12% at 0 (copula)",
        "tenure_months": "integer, neg. binomial (copula, tied to age)",
        "balance": "Student t 3 df (copula)",
        "debt_to_income": "0-3, beta (copula)",
        "late_payments": "zero-inflated count (copula)",
        "num_accounts": "Poisson count",
        "txn_amount": "lognormal",
        "days_since_login": "exponential, 8% missing",
        "session_minutes": "gamma, 3% missing",
        "sensor_temp": "normal",
        "pressure_kpa": "normal",
        "vibration": "Weibull",
        "discount_share": "0-1, beta",
        "daily_return": "Laplace",
        "price_change": "Student t 2 df",
        "household_size": "integer 1-8",
        "rating": "integer 1-5, skewed",
        "is_premium": "2 categories, 15/85",
        "channel": "4 categories",
        "region": "8 categories",
        "product": "12 categories, geometric",
        "risk_band": "5 bands from credit_score + noise",
    }
    return [(c, kinds[c]) for c in COLUMNS]
