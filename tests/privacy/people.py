"""A small table of made-up customers with personal data, for the workspace-level privacy tests.

Values are generated here (never real people): e-mail addresses on example domains, German IBANs
with their mod-97 check digits computed (ISO 13616), ages, postcodes, sexes, incomes and a target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIRST = ("anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas", "lena", "marc")
LAST = ("meier", "schulz", "dubois", "rossi", "smith", "novak", "garcia", "jansen", "weber", "moreau")


def iban_de(bank: int, account: int) -> str:
    bban = f"{bank:08d}{account:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    check = 98 - int(digits) % 97
    return f"DE{check:02d}{bban}"


def people(rows: int = 240, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(start, start + rows)
    first = [FIRST[i % len(FIRST)] for i in ids]
    last = [LAST[(i // len(FIRST)) % len(LAST)] for i in ids]
    age = rng.integers(19, 80, rows)
    income = rng.normal(3200, 900, rows).round(2)
    amount = rng.integers(500, 20_000, rows)
    risk = (amount / 20_000) - (income / 6000) + rng.normal(0, 0.3, rows)
    return pd.DataFrame(
        {
            "customer_id": [f"C-{i:05d}" for i in ids],
            "email": [f"{f}.{n}{i}@example.org" for f, n, i in zip(first, last, ids, strict=True)],
            "iban": [iban_de(37040044, 532013000 + int(i) * 7919) for i in ids],
            "age": age,
            "postcode": [f"{int(v):05d}" for v in rng.integers(10_000, 99_999, rows)],
            "sex": rng.choice(["F", "M"], rows),
            "income": income,
            "loan_amount": amount,
            "default": np.where(risk > np.median(risk), "yes", "no"),
        }
    )
