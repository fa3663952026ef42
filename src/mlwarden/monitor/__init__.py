"""Drift monitoring: reference profiles, counts of new rows, and their comparison.

- :class:`ReferenceProfile`: made at training (or from any reference dataset), stored encrypted
  with the model, its SHA-256 signed into the provenance.
- :class:`ProfileCounts`: new rows counted into the profile's bins (a dataset, chunk by chunk, or
  a server's traffic, window by window); counts only, no values.
- :func:`compare`: a test per column suited to its type, prediction drift and the dependence of
  each pair of columns, corrected together (Benjamini-Hochberg), with effect sizes (PSI,
  normalised Wasserstein, Jensen-Shannon) and a severity reported apart from significance.
"""

from mlwarden.monitor._drift import SEVERITIES, ColumnDrift, DriftReport, PairDrift, compare
from mlwarden.monitor._profile import (
    COUNTS_FORMAT,
    PROFILE_FORMAT,
    ColumnProfile,
    ProfileCounts,
    ReferenceProfile,
)

__all__ = [
    "COUNTS_FORMAT",
    "PROFILE_FORMAT",
    "SEVERITIES",
    "ColumnDrift",
    "ColumnProfile",
    "DriftReport",
    "PairDrift",
    "ProfileCounts",
    "ReferenceProfile",
    "compare",
]
