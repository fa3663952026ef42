"""A table of made-up loan customers with personal data, for the personal-data demo and tests.

Nobody in it is real: names are drawn from short lists of common given and family names, e-mail
addresses are on the reserved ``example.org`` domain (RFC 2606), IBANs are German ones on a made-up
bank code whose mod-97 check digits are computed (ISO 13616), phone numbers are in the UK's range
reserved for drama (Ofcom: 07700 900000-900999). Beside them: age, postcode, sex, income and loan
amount, and a ``default`` target that depends on the figures (not on who the person is). Row ``i``
is the same person whatever ``rows`` is, so two calls with different lengths share their people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

__all__ = ["customers"]

_GIVEN = ("anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas", "lena", "marc")
_FAMILY = ("meier", "schulz", "dubois", "rossi", "smith", "novak", "garcia", "jansen", "weber", "moreau")
_BANK = "37040044"


def _iban_de(account: int) -> str:
    bban = f"{_BANK}{account:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def customers(rows: int = 400, seed: int = 0) -> pandas.DataFrame:
    """``rows`` made-up customers (columns: customer_id, name, email, phone, iban, age, postcode,
    sex, income, loan_amount, default); the figures are drawn with ``seed``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = np.arange(rows)
    given = [_GIVEN[i % len(_GIVEN)] for i in ids]
    family = [_FAMILY[(i // len(_GIVEN)) % len(_FAMILY)] for i in ids]
    income = rng.normal(3200, 900, rows).clip(900).round(2)
    amount = rng.integers(500, 20_000, rows)
    risk = amount / 20_000 - income / 6000 + rng.normal(0, 0.3, rows)
    return pd.DataFrame(
        {
            "customer_id": [f"C-{i:05d}" for i in ids],
            "name": [f"{g.title()} {f.title()}" for g, f in zip(given, family, strict=True)],
            "email": [f"{g}.{f}{i}@example.org" for g, f, i in zip(given, family, ids, strict=True)],
            "phone": [f"+44 7700 900{i % 1000:03d}" for i in ids],
            "iban": [_iban_de(532013000 + int(i) * 7919) for i in ids],
            "age": rng.integers(19, 80, rows),
            "postcode": [f"{int(v):05d}" for v in rng.integers(10_000, 99_999, rows)],
            "sex": rng.choice(["F", "M"], rows),
            "income": income,
            "loan_amount": amount,
            "default": np.where(risk > np.median(risk), "yes", "no"),
        }
    )
