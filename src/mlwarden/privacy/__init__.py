"""Personal data in datasets: discovery of PII columns, keyed pseudonymisation and generalisation.

=================================  ===================================================================
:class:`PiiDetector`               classifies each column of a frame (e-mail, phone, IBAN, card, national
                                   ids, IP, names, free text; date of birth, postal code, age, sex,
                                   occupation) from its name and a seeded sample of its values
:class:`ColumnFinding`             one column's kind, category (``direct``/``quasi``), confidence and
                                   evidence (counts and rules, never a value)
:class:`ColumnSampler`             a reservoir sample of rows over a stream of chunks, in one pass
:data:`PII_KINDS`                  every kind and its category
:func:`canonical_value`            the one text form of a value that tokens are made of
:func:`pseudonymise_frame`         keyed tokens for columns, generalisation of others, k-anonymity
:func:`k_anonymity`                the smallest class over quasi-identifiers
:class:`Generalisation`,           ``"age=10,postcode=3"`` as rules
:func:`parse_generalise`
=================================  ===================================================================

::

    import pandas
    from mlwarden.privacy import PiiDetector

    frame = pandas.DataFrame({"mail": ["ann@example.org", "bo@example.com"], "visits": [3, 4]})
    findings = PiiDetector(sample_size=1000).detect(frame)
    findings["mail"].kind, findings["mail"].category    # ('email', 'direct')
    findings["visits"].kind                             # None

The names are loaded on first use, so importing this package loads neither pandas nor phonenumbers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlwarden.privacy._detect import PII_KINDS, ColumnFinding, ColumnSampler, PiiDetector, canonical_value
    from mlwarden.privacy._pseudonymise import (
        Generalisation,
        PseudonymisedFrame,
        k_anonymity,
        parse_generalise,
        pseudonymise_frame,
    )

__all__ = [
    "PII_KINDS",
    "ColumnFinding",
    "ColumnSampler",
    "Generalisation",
    "PiiDetector",
    "PseudonymisedFrame",
    "canonical_value",
    "k_anonymity",
    "parse_generalise",
    "pseudonymise_frame",
]

_HOMES = {
    "PII_KINDS": "_detect",
    "ColumnFinding": "_detect",
    "ColumnSampler": "_detect",
    "PiiDetector": "_detect",
    "canonical_value": "_detect",
    "Generalisation": "_pseudonymise",
    "PseudonymisedFrame": "_pseudonymise",
    "k_anonymity": "_pseudonymise",
    "parse_generalise": "_pseudonymise",
    "pseudonymise_frame": "_pseudonymise",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
