"""Reason codes (selection, maps, digests) and signed model cards (round trip, any changed byte, binding)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.errors import BadInput, SignatureError
from mlwarden.explain import (
    CARD_SCHEMA,
    MAX_REASONS,
    ReasonMap,
    default_text,
    select_reasons,
    sign_card,
    verify_card,
    verify_card_with_key,
)
from mlwarden.models._signing import key_id

COLUMNS = ("age_in_years", "credit_amount", "duration_in_month", "purpose", "housing", "job")


def test_default_texts_come_from_column_names() -> None:
    assert default_text("credit_amount") == "Credit amount"
    assert default_text("durationInMonth") == "Duration in month"
    assert default_text("x") == "X"


def test_at_most_four_reasons_toward_the_adverse_class_largest_first() -> None:
    reasons = ReasonMap.build({"credit_amount": "Amount of credit requested"}, columns=COLUMNS)
    contributions = np.array([-0.9, -0.5, -0.7, 0.4, -0.1, -0.2])
    values = [25, 5000, 48, "car", "own", "skilled"]
    got = select_reasons(COLUMNS, contributions, values, reasons, adverse_sign=-1)
    assert [r.column for r in got] == ["age_in_years", "duration_in_month", "credit_amount", "job"]
    assert got[2].text == "Amount of credit requested"
    assert got[2].value == 5000
    toward_good = select_reasons(COLUMNS, contributions, values, reasons, adverse_sign=1)
    assert [r.column for r in toward_good] == ["purpose"]  # only columns pushing toward the adverse class


def test_excluded_columns_are_never_reasons_but_keep_their_contribution() -> None:
    reasons = ReasonMap.build(columns=COLUMNS, not_reasons=["age_in_years"])
    contributions = np.array([-0.9, -0.5, -0.7, 0.4, -0.1, -0.2])
    got = select_reasons(COLUMNS, contributions, [0] * 6, reasons, adverse_sign=-1)
    assert "age_in_years" not in [r.column for r in got]
    assert len(got) == 4
    assert got[0].column == "duration_in_month"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=6, max_size=6), st.sampled_from([1, -1]))
def test_reason_selection_properties(values: list[float], sign: int) -> None:
    contributions = np.array(values)
    got = select_reasons(COLUMNS, contributions, list(range(6)), ReasonMap.build(columns=COLUMNS), adverse_sign=sign)
    assert len(got) <= MAX_REASONS
    toward = [sign * r.contribution for r in got]
    assert all(t > 0 for t in toward)
    assert toward == sorted(toward, reverse=True)
    strongest = sorted((sign * v for v in values if sign * v > 0), reverse=True)[:MAX_REASONS]
    assert toward == strongest


def test_reason_map_files_are_checked_and_digested() -> None:
    data = json.dumps({"credit_amount": "Amount of credit requested"}).encode()
    parsed = ReasonMap.parse(data, columns=COLUMNS, not_reasons=["age_in_years"])
    wrapped = ReasonMap.parse(
        json.dumps({"version": 1, "reasons": {"credit_amount": "Amount of credit requested"}}).encode(),
        columns=COLUMNS,
        not_reasons=["age_in_years"],
    )
    assert parsed.sha256 == wrapped.sha256
    assert len(parsed.sha256) == 64
    assert parsed.texts["housing"] == "Housing"
    assert ReasonMap.parse(data, columns=COLUMNS).sha256 != parsed.sha256  # exclusions are covered
    for bad, message in (
        (b"\xff", "not JSON"),
        (b"[1]", "JSON object"),
        (json.dumps({"salary": "x"}).encode(), "does not use"),
        (json.dumps({"housing": ""}).encode(), "1 to 300"),
        (json.dumps({"version": 2, "reasons": {}}).encode(), "version"),
    ):
        with pytest.raises(BadInput, match=message):
            ReasonMap.parse(bad, columns=COLUMNS)
    with pytest.raises(BadInput, match="not one the model uses"):
        ReasonMap.build(columns=COLUMNS, not_reasons=["sex"])


# -- cards --------------------------------------------------------------------------------------


def _card(name: str = "credit-lr", version: int = 2, sha: str = "ab" * 32) -> dict[str, object]:
    return {
        "schema": CARD_SCHEMA,
        "model": {"name": name, "version": version, "ref": f"{name}@{version}", "sha256": sha},
        "performance": {"metrics": {"accuracy": {"value": 0.76, "low": 0.71, "high": 0.81}}},
        "fairness": None,
    }


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_a_card_round_trips_as_an_in_toto_statement_about_the_model(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = sign_card(_card(), key)
    signed = verify_card_with_key(envelope, key.public_key())
    assert signed.subject == "credit-lr@2"
    assert signed.sha256 == "ab" * 32
    assert signed.card == _card()
    assert signed.key_id == key_id(key.public_key())
    doc = json.loads(envelope)
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(doc["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "credit-lr@2", "digest": {"sha256": "ab" * 32}}]
    assert statement["predicateType"] == "https://mlwarden.dev/model-card/v1"


def test_every_changed_byte_fails(key: ec.EllipticCurvePrivateKey) -> None:
    envelope = sign_card(_card(), key)
    rng = np.random.default_rng(0)
    positions = sorted(set(rng.integers(0, len(envelope), 300).tolist()) | {0, len(envelope) - 2})
    passed = 0
    for position in positions:
        changed = bytearray(envelope)
        changed[position] ^= 0x01
        try:
            signed = verify_card_with_key(bytes(changed), key.public_key())
        except SignatureError:
            continue
        # Only a change JSON itself ignores may pass (e.g. whitespace between tokens): the card is the same.
        assert signed.card == _card()
        passed += 1
    assert passed <= 2


def test_a_card_by_another_key_or_with_another_subject_fails(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SignatureError, match="another key"):
        verify_card_with_key(sign_card(_card(), other), key.public_key())
    # A statement whose subject is not the card's model, signed by the right key, still fails.
    from mlwarden.explain._card import _pae

    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "credit-lr@2", "digest": {"sha256": "cd" * 32}}],
        "predicateType": "https://mlwarden.dev/model-card/v1",
        "predicate": _card(),
    }
    payload = json.dumps(statement).encode()
    from cryptography.hazmat.primitives import hashes

    sig = key.sign(_pae(payload), ec.ECDSA(hashes.SHA256()))
    forged = json.dumps(
        {
            "payloadType": "application/vnd.in-toto+json",
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode()}],
        }
    ).encode()
    with pytest.raises(SignatureError, match="subject"):
        verify_card_with_key(forged, key.public_key())
    with pytest.raises(SignatureError, match=r"DSSE|JSON"):
        verify_card(b"not json", lambda _: key.public_key())
    with pytest.raises(BadInput, match="schema"):
        sign_card({**_card(), "schema": "other"}, key)
