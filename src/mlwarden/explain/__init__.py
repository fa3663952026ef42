"""Transparency: exact per-column explanations, reason codes, fairness figures and signed model cards.

Example::

    from mlwarden.explain import Explainer, ReasonMap, select_reasons
    explainer = Explainer(pipeline, background)          # background: preprocessed rows
    found = explainer.explain(features)                  # base + contributions.sum(1) == output (checked)
    reasons = select_reasons(explainer.columns, found.contributions[0], values, ReasonMap.build(columns=...),
                             adverse_sign=-1)

Everything here is numpy, scipy and scikit-learn (matplotlib for the card's plots, imported when a
card is rendered); nothing imports shap or fairlearn, which the tests use as oracles.
"""

from __future__ import annotations

from mlwarden.explain._attribution import ADDITIVITY_TOLERANCE, Attribution, Explainer, ExplanationFailed
from mlwarden.explain._card import CARD_PREDICATE, CARD_SCHEMA, SignedCard, sign_card, verify_card, verify_card_with_key
from mlwarden.explain._card_render import render_html, render_markdown
from mlwarden.explain._decisions import DecisionExplainer, decision_explainer
from mlwarden.explain._fairness import ColumnFairness, GroupFigures, column_fairness, fairness_report, numeric_bins
from mlwarden.explain._reasons import MAX_REASONS, Reason, ReasonMap, default_text, read_reason_map, select_reasons

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "CARD_PREDICATE",
    "CARD_SCHEMA",
    "MAX_REASONS",
    "Attribution",
    "ColumnFairness",
    "DecisionExplainer",
    "Explainer",
    "ExplanationFailed",
    "GroupFigures",
    "Reason",
    "ReasonMap",
    "SignedCard",
    "column_fairness",
    "decision_explainer",
    "default_text",
    "fairness_report",
    "numeric_bins",
    "read_reason_map",
    "render_html",
    "render_markdown",
    "select_reasons",
    "sign_card",
    "verify_card",
    "verify_card_with_key",
]
