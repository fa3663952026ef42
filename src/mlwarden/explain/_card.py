"""Signed model cards: an in-toto statement about one model's digest, in a DSSE envelope.

A model card beside a model file says nothing about *which* model it describes; here the card is
the predicate of an `in-toto Statement v1`_ whose subject is the model (its registry reference and
the SHA-256 of its bytes), signed with the workspace's model-signing key (ECDSA P-256, SHA-256) over
the `DSSE v1`_ pre-authentication encoding. The file a user gets (``card.json``) is the envelope::

    {"payloadType": "application/vnd.in-toto+json",
     "payload": "<base64 of the statement>",
     "signatures": [{"keyid": "<hex SHA-256 of the signer's PEM SubjectPublicKeyInfo>", "sig": "<base64 DER>"}]}

    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "NAME@VERSION", "digest": {"sha256": "<model sha256>"}}],
                 "predicateType": "https://mlwarden.dev/model-card/v1",
                 "predicate": {"schema": "mlwarden.model-card/v1", "model": {...}, ...}}

Verification fails closed (:class:`~mlwarden.errors.SignatureError`, exit 3) on any change: a byte of
the envelope, a key that is unknown or revoked, a statement whose subject is not the card's model,
an unknown schema. Whether the subject is the model a workspace holds under that name is checked by
the caller that has the registry (``mlwarden model verify-card``).

.. _in-toto Statement v1: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
.. _DSSE v1: https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden._json import JsonRefused, loads_strict
from mlwarden.errors import BadInput, SignatureError
from mlwarden.models._signing import PAYLOAD_TYPE, STATEMENT_TYPE, key_id

__all__ = ["CARD_PREDICATE", "CARD_SCHEMA", "SignedCard", "sign_card", "verify_card", "verify_card_with_key"]

CARD_PREDICATE: Final = "https://mlwarden.dev/model-card/v1"
CARD_SCHEMA: Final = "mlwarden.model-card/v1"
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_MAX_CARD: Final = 16 << 20


@dataclasses.dataclass(frozen=True)
class SignedCard:
    """A card whose signature and statement checked out: what it says, and about which model."""

    card: Mapping[str, Any]
    subject: str
    """``NAME@VERSION``."""
    sha256: str
    """The model's digest, as signed."""
    key_id: str


def _pae(payload: bytes) -> bytes:
    kind = PAYLOAD_TYPE.encode("ascii")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _subject(card: Mapping[str, Any]) -> tuple[str, str]:
    model = card.get("model")
    if not isinstance(model, Mapping):
        raise BadInput("the card has no model section")
    name, version, digest = model.get("name"), model.get("version"), model.get("sha256")
    if not isinstance(name, str) or not isinstance(version, int) or not isinstance(digest, str):
        raise BadInput("the card's model section needs name, version and sha256")
    if not _HEX64.fullmatch(digest):
        raise BadInput("the card's model sha256 is not a lowercase hex SHA-256")
    return f"{name}@{version}", digest


def sign_card(card: Mapping[str, Any], private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The DSSE envelope (JSON bytes) of ``card`` as an in-toto statement about its model."""
    if card.get("schema") != CARD_SCHEMA:
        raise BadInput(f"the card's schema must be {CARD_SCHEMA}")
    subject, digest = _subject(card)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {"sha256": digest}}],
        "predicateType": CARD_PREDICATE,
        "predicate": dict(card),
    }
    try:
        payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"the card is not plain JSON: {exc}") from None
    data = payload.encode("ascii")
    signature = private_key.sign(_pae(data), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(data).decode("ascii"),
        "signatures": [{"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(signature).decode("ascii")}],
    }
    return (json.dumps(envelope, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def _refuse(what: str) -> SignatureError:
    return SignatureError(f"the model card does not verify: {what}")


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise _refuse(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _refuse(f"{what} is not valid base64") from None


def verify_card(data: bytes, key_lookup: Callable[[str], ec.EllipticCurvePublicKey]) -> SignedCard:
    """Check a card envelope: one signature by the key ``key_lookup`` returns for its key id
    (which raises for an unknown or revoked key), then the statement and the card's subject."""
    if len(data) > _MAX_CARD:
        raise _refuse("the file is larger than a card can be")
    try:
        envelope = loads_strict(data, what="the card")
    except JsonRefused:
        raise _refuse("the file is not a JSON DSSE envelope") from None
    if not isinstance(envelope, dict) or set(envelope) != {"payloadType", "payload", "signatures"}:
        raise _refuse("the file is not a DSSE envelope (payloadType, payload, signatures)")
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise _refuse(f"its payload type is not {PAYLOAD_TYPE}")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], dict):
        raise _refuse("it must carry exactly one signature")
    if set(signatures[0]) != {"keyid", "sig"} or not isinstance(signatures[0]["keyid"], str):
        raise _refuse("its signature entry is malformed")
    payload = _b64(envelope["payload"], "the payload")
    signature = _b64(signatures[0]["sig"], "the signature")
    claimed = signatures[0]["keyid"]
    public_key = key_lookup(claimed)
    if key_id(public_key) != claimed:
        raise _refuse("the signing key is not the one the card names")
    try:
        public_key.verify(signature, _pae(payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _refuse("the signature does not match the card (it was changed, or signed by another key)") from None
    try:
        statement = loads_strict(payload, what="the statement")
    except JsonRefused:
        raise _refuse("the signed statement is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _refuse("the payload is not an in-toto Statement v1")
    if statement.get("predicateType") != CARD_PREDICATE:
        raise _refuse(f"the statement is not a model card ({CARD_PREDICATE})")
    card = statement.get("predicate")
    subjects = statement.get("subject")
    if not isinstance(card, dict) or card.get("schema") != CARD_SCHEMA:
        raise _refuse(f"the card's schema is not {CARD_SCHEMA}")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise _refuse("the statement must name exactly one subject")
    try:
        subject, digest = _subject(card)
    except BadInput as exc:
        raise _refuse(str(exc)) from None
    if subjects[0] != {"name": subject, "digest": {"sha256": digest}}:
        raise _refuse("the statement's subject is not the model the card describes")
    return SignedCard(card, subject, digest, claimed)


def verify_card_with_key(data: bytes, public_key: ec.EllipticCurvePublicKey) -> SignedCard:
    """:func:`verify_card` by one given public key (no workspace: the registry check is left to the caller)."""

    def lookup(claimed: str) -> ec.EllipticCurvePublicKey:
        if claimed != key_id(public_key):
            raise _refuse("it was signed by another key than the one given")
        return public_key

    return verify_card(data, lookup)
