"""Audits of training data: flipped labels, backdoor triggers and conflicting duplicates.

The package name ``mlwarden.audit`` is for the data, privacy and dependency audits (the tamper-evident log is
:mod:`mlwarden.auditlog`). Example::

    from mlwarden.audit import audit_frame
    report = audit_frame(frame, target="creditability")
    report.findings, report.summary(), [p.describe() for p in report.patterns]

The detectors follow scikit-learn's conventions (parameters in ``__init__``, ``fit(X, y)`` sets fitted state
ending in ``_``, seeded and deterministic) and can be used on their own. ``_poison_generators`` holds the seeded
generators of clean and poisoned tables that the tests and the benchmark share.
"""

from __future__ import annotations

from mlwarden.audit._backdoor import SpectralOutlierDetector, TriggerPatternDetector
from mlwarden.audit._data_audit import DataAuditReport, DataAuditSettings, TriggerPattern, audit_frame
from mlwarden.audit._duplicates import DuplicateConflictDetector
from mlwarden.audit._label_quality import LabelQualityDetector

__all__ = [
    "DataAuditReport",
    "DataAuditSettings",
    "DuplicateConflictDetector",
    "LabelQualityDetector",
    "SpectralOutlierDetector",
    "TriggerPattern",
    "TriggerPatternDetector",
    "audit_frame",
]
