"""Passphrase KDFs: deterministic keys, NFC normalisation, and stored parameters refused before any work.

Every derivation here uses cheap parameters (Argon2id 1 MiB / t=1 / p=1, scrypt N=2**10) so the
whole file runs in well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from mlwarden.crypto import _kdf
from mlwarden.crypto._kdf import (
    ARGON2_MAX_ITERATIONS,
    ARGON2_MAX_LANES,
    ARGON2_MAX_MEMORY_KIB,
    SCRYPT_MAX_LOG2_N,
    SCRYPT_MAX_MEMORY,
    Argon2idParams,
    ScryptParams,
    derive_key,
    kdf_params_from_json,
    new_params,
)
from mlwarden.errors import BadInput, IntegrityError

SALT = bytes(range(16))
OTHER_SALT = bytes(range(1, 17))
CHEAP_ARGON: dict[str, int] = {"memory_kib": 1024, "iterations": 1, "lanes": 1}
CHEAP_SCRYPT: dict[str, int] = {"log2_n": 10, "r": 8, "p": 1}


def cheap(name: str, salt: bytes = SALT) -> Argon2idParams | ScryptParams:
    if name == "argon2id":
        return Argon2idParams(salt=salt, **CHEAP_ARGON)
    return ScryptParams(salt=salt, **CHEAP_SCRYPT)


@pytest.fixture
def no_expensive_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to run Argon2id or scrypt fail the test loudly."""

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a KDF was run although the parameters must be refused first")

    monkeypatch.setattr(_kdf, "Argon2id", forbidden)
    monkeypatch.setattr(_kdf, "Scrypt", forbidden)


# -- derivation ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["argon2id", "scrypt"])
def test_derive_is_deterministic_and_32_bytes(name: str) -> None:
    first = derive_key(cheap(name), "correct horse battery staple")
    second = derive_key(cheap(name), "correct horse battery staple")
    assert isinstance(first, bytes)
    assert len(first) == 32
    assert first == second


@pytest.mark.parametrize("name", ["argon2id", "scrypt"])
def test_derive_depends_on_salt_and_passphrase(name: str) -> None:
    base = derive_key(cheap(name), "passphrase")
    assert derive_key(cheap(name, OTHER_SALT), "passphrase") != base
    assert derive_key(cheap(name), "passphrasf") != base
    assert derive_key(cheap(name), "passphrase ") != base


def test_argon2id_and_scrypt_give_different_keys() -> None:
    assert derive_key(cheap("argon2id"), "pw") != derive_key(cheap("scrypt"), "pw")


@pytest.mark.parametrize(
    "changed",
    [{"iterations": 2}, {"memory_kib": 2048}, {"lanes": 2}],
    ids=["iterations", "memory", "lanes"],
)
def test_every_argon2id_cost_parameter_is_used(changed: dict[str, int]) -> None:
    base = Argon2idParams(salt=SALT, **CHEAP_ARGON).derive(b"pw")
    assert Argon2idParams(salt=SALT, **{**CHEAP_ARGON, **changed}).derive(b"pw") != base


@pytest.mark.parametrize("changed", [{"log2_n": 11}, {"r": 4}, {"p": 2}], ids=["log2_n", "r", "p"])
def test_every_scrypt_cost_parameter_is_used(changed: dict[str, int]) -> None:
    base = ScryptParams(salt=SALT, **CHEAP_SCRYPT).derive(b"pw")
    assert ScryptParams(salt=SALT, **{**CHEAP_SCRYPT, **changed}).derive(b"pw") != base


def test_argon2id_matches_cryptography_directly() -> None:
    # Distinct, asymmetric values so that a swapped or dropped parameter shows.
    params = Argon2idParams(salt=bytes(range(100, 124)), iterations=2, memory_kib=1032, lanes=3)
    expected = Argon2id(salt=bytes(range(100, 124)), length=32, iterations=2, lanes=3, memory_cost=1032).derive(
        b"secret passphrase"
    )
    assert params.derive(b"secret passphrase") == expected
    assert derive_key(params, "secret passphrase") == expected


def test_scrypt_matches_hashlib() -> None:
    salt = bytes(range(200, 220))
    params = ScryptParams(salt=salt, log2_n=11, r=4, p=2)
    expected = hashlib.scrypt(b"secret passphrase", salt=salt, n=2**11, r=4, p=2, dklen=32)
    assert params.derive(b"secret passphrase") == expected
    assert derive_key(params, "secret passphrase") == expected


@pytest.mark.parametrize("name", ["argon2id", "scrypt"])
def test_passphrase_is_nfc_normalised_utf8(name: str) -> None:
    composed = "caf\u00e9 \u00c5ngstr\u00f6m"
    decomposed = "cafe\u0301 A\u030angstro\u0308m"
    assert composed != decomposed
    key = derive_key(cheap(name), composed)
    assert derive_key(cheap(name), decomposed) == key
    # NFC, UTF-8: exactly the bytes of the composed form.
    assert cheap(name).derive(composed.encode("utf-8")) == key


def test_normalisation_is_nfc_not_nfkc() -> None:
    # NFKC would fold the ligature into "fi"; NFC keeps them distinct.
    assert derive_key(cheap("argon2id"), "\ufb01le") != derive_key(cheap("argon2id"), "file")


@pytest.mark.parametrize("name", ["argon2id", "scrypt"])
@pytest.mark.usefixtures("no_expensive_work")
def test_empty_passphrase_is_refused(name: str) -> None:
    with pytest.raises(BadInput, match="empty"):
        derive_key(cheap(name), "")


# -- new_params -------------------------------------------------------------------------------


def test_new_params_defaults_follow_the_documented_recommendations() -> None:
    argon = new_params()
    assert isinstance(argon, Argon2idParams)
    assert (argon.iterations, argon.memory_kib, argon.lanes) == (3, 64 * 1024, 4)
    scrypt = new_params("scrypt")
    assert isinstance(scrypt, ScryptParams)
    assert (scrypt.log2_n, scrypt.r, scrypt.p) == (16, 8, 1)


@pytest.mark.parametrize("name", ["argon2id", "scrypt"])
def test_new_params_use_a_fresh_random_salt(name: str) -> None:
    salts = {new_params(name).salt for _ in range(8)}
    assert len(salts) == 8
    assert all(len(salt) == 16 for salt in salts)


def test_new_params_overrides() -> None:
    params = new_params("argon2id", **CHEAP_ARGON)
    assert isinstance(params, Argon2idParams)
    assert (params.memory_kib, params.iterations, params.lanes) == (1024, 1, 1)


@pytest.mark.usefixtures("no_expensive_work")
def test_new_params_refuses_unknown_kdf_and_over_cap_overrides() -> None:
    with pytest.raises(BadInput, match="unknown KDF"):
        new_params("bcrypt")
    # a caller's parameters are bad input (exit 2), each refusal one line saying the allowed range
    with pytest.raises(BadInput, match=rf"memory_kib {ARGON2_MAX_MEMORY_KIB + 1} is outside the allowed range 32\.\."):
        new_params("argon2id", memory_kib=ARGON2_MAX_MEMORY_KIB + 1)
    with pytest.raises(BadInput, match=rf"scrypt log2_n {SCRYPT_MAX_LOG2_N + 1} is outside the allowed range 10\.\."):
        new_params("scrypt", log2_n=SCRYPT_MAX_LOG2_N + 1)


@pytest.mark.usefixtures("no_expensive_work")
@pytest.mark.parametrize(
    ("name", "overrides", "needle"),
    [
        ("argon2id", {"memory_kib": 1}, "argon2id memory_kib 1 is outside the allowed range 32..2097152 KiB"),
        ("argon2id", {"memory_kib": 4, "lanes": 1}, "range 8..2097152 KiB (at least 8 KiB per lane, 1 lane(s)"),
        ("argon2id", {"iterations": 0}, "argon2id iterations 0 is outside the allowed range 1..32"),
        ("argon2id", {"lanes": 65}, "argon2id lanes 65 is outside the allowed range 1..64"),
        ("argon2id", {"memory_kib": "64M"}, "argon2id memory_kib must be a whole number from 32 to 2097152"),
        ("argon2id", {"memory": 1024}, "argon2id has no parameter 'memory': use iterations, memory_kib, lanes"),
        ("scrypt", {"r": 0}, "scrypt r 0 is outside the allowed range 1..32"),
        ("scrypt", {"p": 17}, "scrypt p 17 is outside the allowed range 1..16"),
        ("scrypt", {"log2_n": 22, "r": 32}, "needs 16384 MiB; at most 2 GiB"),
    ],
)
def test_new_params_say_the_allowed_range_in_one_line(name: str, overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadInput) as raised:
        new_params(name, **overrides)
    message = str(raised.value)
    assert needle in message
    assert "\n" not in message
    assert "8*lanes" not in message


# -- stored parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["argon2id", "scrypt"])
def test_json_round_trip(name: str) -> None:
    params = cheap(name, bytes(range(40)))
    stored = json.loads(json.dumps(params.to_json()))
    parsed = kdf_params_from_json(stored)
    assert parsed == params
    assert type(parsed) is type(params)
    assert parsed.to_json() == params.to_json()
    assert derive_key(parsed, "pw") == derive_key(params, "pw")


def test_to_json_layout() -> None:
    argon = Argon2idParams(salt=SALT, iterations=2, memory_kib=2048, lanes=3).to_json()
    assert argon == {
        "name": "argon2id",
        "salt": base64.b64encode(SALT).decode(),
        "iterations": 2,
        "memory_kib": 2048,
        "lanes": 3,
    }
    scrypt = ScryptParams(salt=SALT, log2_n=12, r=4, p=2).to_json()
    assert scrypt == {"name": "scrypt", "salt": base64.b64encode(SALT).decode(), "log2_n": 12, "r": 4, "p": 2}


def _argon_json(**changes: Any) -> dict[str, Any]:
    doc = Argon2idParams(salt=SALT, **CHEAP_ARGON).to_json()
    doc.update(changes)
    return doc


def _scrypt_json(**changes: Any) -> dict[str, Any]:
    doc = ScryptParams(salt=SALT, **CHEAP_SCRYPT).to_json()
    doc.update(changes)
    return doc


def _b64(size: int) -> str:
    return base64.b64encode(bytes(size)).decode()


# The largest r whose memory (128 * N * r bytes) fits the cap at the largest N.
SCRYPT_R_AT_CAP = SCRYPT_MAX_MEMORY // (128 << SCRYPT_MAX_LOG2_N)
assert 1 <= SCRYPT_R_AT_CAP < 16

OVER_CAPS = {
    "argon-memory-cap+1": _argon_json(memory_kib=ARGON2_MAX_MEMORY_KIB + 1),
    "argon-memory-huge": _argon_json(memory_kib=2**62),
    "argon-memory-below-8-per-lane": _argon_json(lanes=4, memory_kib=31),
    "argon-memory-zero": _argon_json(memory_kib=0),
    "argon-memory-negative": _argon_json(memory_kib=-1024),
    "argon-iterations-cap+1": _argon_json(iterations=ARGON2_MAX_ITERATIONS + 1),
    "argon-iterations-huge": _argon_json(iterations=10**12),
    "argon-iterations-zero": _argon_json(iterations=0),
    "argon-lanes-cap+1": _argon_json(lanes=ARGON2_MAX_LANES + 1, memory_kib=1024 * 1024),
    "argon-lanes-huge": _argon_json(lanes=2**40),
    "argon-lanes-zero": _argon_json(lanes=0),
    "scrypt-log2n-cap+1": _scrypt_json(log2_n=SCRYPT_MAX_LOG2_N + 1),
    "scrypt-log2n-huge": _scrypt_json(log2_n=10**9),
    "scrypt-log2n-below-10": _scrypt_json(log2_n=9),
    "scrypt-r-33": _scrypt_json(r=33),
    "scrypt-r-zero": _scrypt_json(r=0),
    "scrypt-p-17": _scrypt_json(p=17),
    "scrypt-p-zero": _scrypt_json(p=0),
    "scrypt-memory-over-cap": _scrypt_json(log2_n=SCRYPT_MAX_LOG2_N, r=SCRYPT_R_AT_CAP + 1),
    "scrypt-memory-over-cap-b": _scrypt_json(log2_n=SCRYPT_MAX_LOG2_N - 1, r=2 * SCRYPT_R_AT_CAP + 1),
    "scrypt-memory-over-cap-max-r": _scrypt_json(log2_n=SCRYPT_MAX_LOG2_N, r=32),
    "salt-15": _argon_json(salt=_b64(15)),
    "salt-65": _argon_json(salt=_b64(65)),
    "salt-empty": _scrypt_json(salt=""),
    "scrypt-salt-65": _scrypt_json(salt=_b64(65)),
}

MALFORMED = {
    "not-a-dict-none": None,
    "not-a-dict-list": [_argon_json()],
    "not-a-dict-str": "argon2id",
    "not-a-dict-int": 3,
    "iterations-true": _argon_json(iterations=True),
    "memory-float": _argon_json(memory_kib=1024.0),
    "lanes-str": _argon_json(lanes="1"),
    "iterations-none": _argon_json(iterations=None),
    "memory-list": _argon_json(memory_kib=[1024]),
    "log2n-true": _scrypt_json(log2_n=True),
    "r-float": _scrypt_json(r=8.0),
    "p-false": _scrypt_json(p=False),
    "p-str": _scrypt_json(p="1"),
    "salt-not-base64": _argon_json(salt="not base64!!"),
    "salt-bad-padding": _argon_json(salt="AAAAAAAAAAAAAAAAAAAAAAA"),
    "salt-not-str": _argon_json(salt=12345),
    "salt-non-ascii": _argon_json(salt="\u00e9" * 24),
    "name-unknown": _argon_json(name="bcrypt"),
    "name-argon2i": _argon_json(name="argon2i"),
    "name-case": _argon_json(name="ARGON2ID"),
    "name-empty": _argon_json(name=""),
    "name-none": _argon_json(name=None),
    "scrypt-fields-under-argon-name": {**_scrypt_json(), "name": "argon2id"},
    "argon-fields-under-scrypt-name": {**_argon_json(), "name": "scrypt"},
}
for _key in ["name", "salt", "iterations", "memory_kib", "lanes"]:
    MALFORMED[f"argon-missing-{_key}"] = {k: v for k, v in _argon_json().items() if k != _key}
for _key in ["name", "salt", "log2_n", "r", "p"]:
    MALFORMED[f"scrypt-missing-{_key}"] = {k: v for k, v in _scrypt_json().items() if k != _key}


@pytest.mark.parametrize("stored", list(OVER_CAPS.values()), ids=list(OVER_CAPS))
@pytest.mark.usefixtures("no_expensive_work")
def test_stored_params_over_the_caps_are_refused_fast(stored: dict[str, Any]) -> None:
    start = time.perf_counter()
    with pytest.raises(IntegrityError):
        kdf_params_from_json(stored)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("stored", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.usefixtures("no_expensive_work")
def test_malformed_stored_params_are_refused_fast(stored: object) -> None:
    start = time.perf_counter()
    with pytest.raises(IntegrityError):
        kdf_params_from_json(stored)
    assert time.perf_counter() - start < 0.5


@pytest.mark.usefixtures("no_expensive_work")
def test_params_at_the_caps_are_accepted() -> None:
    # Parsing only: nothing is derived (the fixture would fail the test if it were).
    argon = kdf_params_from_json(
        _argon_json(
            salt=_b64(64),
            memory_kib=ARGON2_MAX_MEMORY_KIB,
            iterations=ARGON2_MAX_ITERATIONS,
            lanes=ARGON2_MAX_LANES,
        )
    )
    assert isinstance(argon, Argon2idParams)
    assert argon.memory_kib == ARGON2_MAX_MEMORY_KIB
    scrypt = kdf_params_from_json(_scrypt_json(salt=_b64(16), log2_n=SCRYPT_MAX_LOG2_N, r=SCRYPT_R_AT_CAP, p=16))
    assert isinstance(scrypt, ScryptParams)
    assert scrypt.log2_n == SCRYPT_MAX_LOG2_N
    lowest = kdf_params_from_json(_argon_json(lanes=4, memory_kib=32, iterations=1))
    assert isinstance(lowest, Argon2idParams)


COST_OVER_CAPS = {k: v for k, v in OVER_CAPS.items() if "salt" not in k}


@pytest.mark.parametrize("stored", list(COST_OVER_CAPS.values()), ids=list(COST_OVER_CAPS))
@pytest.mark.usefixtures("no_expensive_work")
def test_derive_checks_the_caps_itself(stored: dict[str, Any]) -> None:
    """Parameters built in code (not parsed) are checked too before the KDF runs."""
    fields = {k: v for k, v in stored.items() if k not in ("name", "salt")}
    params = (Argon2idParams if stored["name"] == "argon2id" else ScryptParams)(salt=SALT, **fields)
    with pytest.raises(IntegrityError):
        params.derive(b"pw")
    with pytest.raises(IntegrityError):
        derive_key(params, "pw")
