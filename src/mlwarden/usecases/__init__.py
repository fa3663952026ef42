"""End-to-end use cases and the sample data they run on.

:func:`german_credit_csv` is the German Credit data set (UCI Statlog, CC BY 4.0; see
``usecases/data/README.md``), the data of the credit-risk use case. :func:`customers` makes a
table of made-up loan customers with personal data (names, e-mail addresses, IBANs, ...), for the
personal-data part of the story.
"""

from __future__ import annotations

from pathlib import Path

from mlwarden.usecases._customers import customers

__all__ = ["GERMAN_CREDIT_SHA256", "customers", "german_credit_csv"]

GERMAN_CREDIT_SHA256 = "2c0bae00275c028fc853a1ea72cc7a68002c3f6876c41300c5c948711540c8c6"


def german_credit_csv() -> Path:
    """The path of the shipped German Credit CSV (1,000 rows, 21 columns, header row)."""
    return Path(__file__).parent / "data" / "german_credit.csv"
