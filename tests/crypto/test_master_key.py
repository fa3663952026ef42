"""Master keys and their providers: wrapping, refusal of wrong keys, parsing of MLWARDEN_MASTER_KEY."""

from __future__ import annotations

import base64
import os

import pytest

from mlwarden.crypto._kdf import Argon2idParams, new_params
from mlwarden.crypto._master_key import (
    MASTER_KEY_ENV,
    EnvMasterKeyProvider,
    LocalMasterKey,
    PassphraseMasterKeyProvider,
    parse_master_key,
)
from mlwarden.errors import AccessDenied, BadInput, IntegrityError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
AAD = b"mlwarden/kek/v1 test associated data"
SECRET = bytes(range(100, 132))


def cheap_kdf() -> Argon2idParams:
    params = new_params("argon2id", memory_kib=1024, iterations=1, lanes=1)
    assert isinstance(params, Argon2idParams)
    return params


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Counter:
    """A passphrase callable that counts how often it is asked."""

    def __init__(self, passphrase: str) -> None:
        self.passphrase = passphrase
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.passphrase


# -- LocalMasterKey ----------------------------------------------------------------------------


def test_wrap_unwrap_round_trip() -> None:
    master = LocalMasterKey(KEY, "test")
    wrapped = master.wrap(SECRET, AAD)
    assert len(wrapped) == 12 + len(SECRET) + 16
    assert SECRET not in wrapped
    assert master.unwrap(wrapped, AAD) == SECRET
    # A second instance with the same key reads it too.
    assert LocalMasterKey(KEY, "test").unwrap(wrapped, AAD) == SECRET


def test_wrap_uses_a_fresh_nonce_each_time() -> None:
    master = LocalMasterKey(KEY, "test")
    first, second = master.wrap(SECRET, AAD), master.wrap(SECRET, AAD)
    assert first[:12] != second[:12]
    assert first != second


def test_wrapped_form_is_nonce_then_aes_gcm() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    wrapped = LocalMasterKey(KEY, "test").wrap(SECRET, AAD)
    assert AESGCM(KEY).decrypt(wrapped[:12], wrapped[12:], AAD) == SECRET


def test_wrong_associated_data_is_denied() -> None:
    master = LocalMasterKey(KEY, "test")
    wrapped = master.wrap(SECRET, AAD)
    with pytest.raises(AccessDenied):
        master.unwrap(wrapped, AAD + b"x")
    with pytest.raises(AccessDenied):
        master.unwrap(wrapped, b"")


def test_wrong_key_is_denied() -> None:
    wrapped = LocalMasterKey(KEY, "test").wrap(SECRET, AAD)
    with pytest.raises(AccessDenied):
        LocalMasterKey(OTHER_KEY, "test").unwrap(wrapped, AAD)


def test_every_flipped_bit_is_denied() -> None:
    master = LocalMasterKey(KEY, "test")
    wrapped = master.wrap(SECRET, AAD)
    for bit in range(len(wrapped) * 8):
        damaged = bytearray(wrapped)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(AccessDenied):
            master.unwrap(bytes(damaged), AAD)


@pytest.mark.parametrize("size", [0, 1, 12, 27])
def test_too_short_is_an_integrity_error(size: int) -> None:
    master = LocalMasterKey(KEY, "test")
    wrapped = master.wrap(SECRET, AAD)
    with pytest.raises(IntegrityError, match="too short"):
        master.unwrap(wrapped[:size], AAD)


def test_truncated_but_long_enough_is_denied() -> None:
    master = LocalMasterKey(KEY, "test")
    wrapped = master.wrap(SECRET, AAD)
    with pytest.raises(AccessDenied):
        master.unwrap(wrapped[:28], AAD)
    with pytest.raises(AccessDenied):
        master.unwrap(wrapped[:-1], AAD)
    with pytest.raises(AccessDenied):
        master.unwrap(wrapped + b"\0", AAD)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_master_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(BadInput):
        LocalMasterKey(bytes(size), "test")


def test_kind() -> None:
    assert LocalMasterKey(KEY, "env").kind == "env"
    assert LocalMasterKey(KEY, "passphrase").kind == "passphrase"


def test_repr_shows_no_key_material() -> None:
    master = LocalMasterKey(KEY, "env")
    text = repr(master) + str(master)
    assert "env" in repr(master)
    for shown in (KEY.hex(), b64(KEY), repr(KEY), KEY.hex()[:16], b64(KEY)[:16]):
        assert shown not in text


def test_no_key_in_instance_dict() -> None:
    master = LocalMasterKey(KEY, "env")
    assert not hasattr(master, "__dict__")
    assert not hasattr(master, "key")
    assert not hasattr(master, "_key")


# -- parse_master_key ---------------------------------------------------------------------------


def test_parse_accepts_base64_of_32_bytes() -> None:
    assert parse_master_key(b64(KEY)) == KEY


@pytest.mark.parametrize("around", [(" ", " "), ("\n", "\n"), ("  \t", "\r\n"), ("", "\n")])
def test_parse_strips_surrounding_whitespace(around: tuple[str, str]) -> None:
    assert parse_master_key(around[0] + b64(KEY) + around[1]) == KEY


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!",
        b64(KEY)[:-1],  # bad padding
        b64(KEY)[:20] + " " + b64(KEY)[20:],  # whitespace inside
        base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # URL-safe alphabet, not standard
        "\u00e9" * 44,
        b64(KEY) + "=",
    ],
    ids=["garbage", "padding", "inner-space", "urlsafe", "non-ascii", "extra-pad"],
)
def test_parse_refuses_bad_base64(text: str) -> None:
    assert "-" in base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()  # the urlsafe case is really urlsafe
    with pytest.raises(BadInput, match=MASTER_KEY_ENV):
        parse_master_key(text)


@pytest.mark.parametrize("size", [0, 1, 16, 31, 33, 48, 64])
def test_parse_refuses_wrong_length(size: int) -> None:
    with pytest.raises(BadInput, match=MASTER_KEY_ENV) as caught:
        parse_master_key(b64(os.urandom(size)))
    assert str(size) in str(caught.value)


def test_parse_error_does_not_echo_the_value() -> None:
    secret_ish = b64(os.urandom(31))
    with pytest.raises(BadInput) as caught:
        parse_master_key(secret_ish)
    assert secret_ish not in str(caught.value)


# -- EnvMasterKeyProvider -----------------------------------------------------------------------


def test_env_provider_create_and_open() -> None:
    provider = EnvMasterKeyProvider(b64(KEY))
    master, descriptor = provider.create()
    assert provider.kind == "env"
    assert master.kind == "env"
    assert descriptor["kind"] == "env"
    key_id = descriptor["key_id"]
    assert isinstance(key_id, str)
    assert KEY.hex()[:8] not in key_id
    wrapped = master.wrap(SECRET, AAD)
    reopened = EnvMasterKeyProvider("  " + b64(KEY) + "\n").open(descriptor)
    assert reopened.unwrap(wrapped, AAD) == SECRET


def test_env_key_id_is_stable_and_depends_on_the_key() -> None:
    _, first = EnvMasterKeyProvider(b64(KEY)).create()
    _, again = EnvMasterKeyProvider(b64(KEY)).create()
    _, other = EnvMasterKeyProvider(b64(OTHER_KEY)).create()
    assert first == again
    assert first["key_id"] != other["key_id"]


def test_env_provider_refuses_a_different_key_on_open() -> None:
    _, descriptor = EnvMasterKeyProvider(b64(KEY)).create()
    with pytest.raises(AccessDenied, match=MASTER_KEY_ENV):
        EnvMasterKeyProvider(b64(OTHER_KEY)).open(descriptor)


@pytest.mark.parametrize("descriptor", [{"kind": "env"}, {"kind": "env", "key_id": ""}, {}])
def test_env_provider_refuses_a_descriptor_without_the_key_id(descriptor: dict[str, str]) -> None:
    with pytest.raises(AccessDenied):
        EnvMasterKeyProvider(b64(KEY)).open(descriptor)


@pytest.mark.parametrize("encoded", [None, ""])
def test_env_provider_refuses_a_missing_key(encoded: str | None) -> None:
    _, descriptor = EnvMasterKeyProvider(b64(KEY)).create()
    with pytest.raises(BadInput, match=MASTER_KEY_ENV):
        EnvMasterKeyProvider(encoded).create()
    with pytest.raises(BadInput, match=MASTER_KEY_ENV):
        EnvMasterKeyProvider(encoded).open(descriptor)


def test_env_provider_refuses_a_malformed_key() -> None:
    _, descriptor = EnvMasterKeyProvider(b64(KEY)).create()
    with pytest.raises(BadInput, match=MASTER_KEY_ENV):
        EnvMasterKeyProvider(b64(KEY[:31])).open(descriptor)
    with pytest.raises(BadInput, match=MASTER_KEY_ENV):
        EnvMasterKeyProvider("%%%").create()


# -- PassphraseMasterKeyProvider ----------------------------------------------------------------


def test_passphrase_provider_is_lazy() -> None:
    asked = Counter("pw-long-enough")
    provider = PassphraseMasterKeyProvider(asked, cheap_kdf())
    assert asked.calls == 0
    _master, descriptor = provider.create()
    assert asked.calls == 1
    PassphraseMasterKeyProvider(asked).open(descriptor)
    assert asked.calls == 2


def test_passphrase_provider_create_then_open() -> None:
    kdf = cheap_kdf()
    master, descriptor = PassphraseMasterKeyProvider(lambda: "pw-long-enough", kdf).create()
    assert descriptor == {"kind": "passphrase", "kdf": kdf.to_json()}
    assert master.kind == "passphrase"
    wrapped = master.wrap(SECRET, AAD)
    assert PassphraseMasterKeyProvider(lambda: "pw-long-enough").open(descriptor).unwrap(wrapped, AAD) == SECRET
    # Composed and decomposed forms are the same passphrase.
    master2, descriptor2 = PassphraseMasterKeyProvider(lambda: "caf\u00e9 au lait", kdf).create()
    wrapped2 = master2.wrap(SECRET, AAD)
    opened = PassphraseMasterKeyProvider(lambda: "cafe\u0301 au lait").open(descriptor2)
    assert opened.unwrap(wrapped2, AAD) == SECRET


def test_passphrase_provider_wrong_passphrase_is_denied() -> None:
    master, descriptor = PassphraseMasterKeyProvider(lambda: "right passphrase", cheap_kdf()).create()
    wrapped = master.wrap(SECRET, AAD)
    wrong = PassphraseMasterKeyProvider(lambda: "wrong passphrase").open(descriptor)
    with pytest.raises(AccessDenied):
        wrong.unwrap(wrapped, AAD)


def test_passphrase_provider_refuses_an_empty_passphrase() -> None:
    with pytest.raises(BadInput):
        PassphraseMasterKeyProvider(lambda: "", cheap_kdf()).create()


@pytest.mark.parametrize(
    "descriptor",
    [
        {"kind": "passphrase"},
        {"kind": "passphrase", "kdf": None},
        {"kind": "passphrase", "kdf": {"name": "argon2id"}},
    ],
)
def test_passphrase_provider_does_not_ask_for_a_broken_descriptor(descriptor: dict[str, object]) -> None:
    asked = Counter("pw-long-enough")
    with pytest.raises(IntegrityError):
        PassphraseMasterKeyProvider(asked).open(descriptor)
    assert asked.calls == 0


def test_passphrase_provider_refuses_over_cap_params_before_asking() -> None:
    asked = Counter("pw-long-enough")
    kdf = cheap_kdf().to_json()
    kdf["memory_kib"] = 2**40
    with pytest.raises(IntegrityError):
        PassphraseMasterKeyProvider(asked).open({"kind": "passphrase", "kdf": kdf})
    assert asked.calls == 0
