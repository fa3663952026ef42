"""Passphrase-based key derivation: Argon2id (default) or scrypt, with stored and capped parameters.

The parameters live in the keyring file next to the keys they protect. Whoever can write that file
could raise them to exhaust memory or time when the workspace is opened, so every parameter is
checked against a cap before any work is done; lowering them gains an attacker nothing, since the
derived key would simply fail to unwrap the key-encryption keys.

Defaults follow RFC 9106's second recommended option for Argon2id (t=3, m=64 MiB, p=4) and
scrypt's interactive-login-plus setting (N=2**16, r=8, p=1).
"""

from __future__ import annotations

import base64
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mlwarden.errors import BadInput, IntegrityError, MlwardenError

__all__ = [
    "Argon2idParams",
    "KdfParams",
    "ScryptParams",
    "derive_key",
    "kdf_params_from_json",
    "new_params",
]

_KEY_SIZE = 32
_SALT_MIN, _SALT_MAX = 16, 64
ARGON2_MAX_MEMORY_KIB = 2 * 1024 * 1024  # 2 GiB
ARGON2_MAX_ITERATIONS = 32
ARGON2_MAX_LANES = 64
SCRYPT_MAX_LOG2_N = 22
SCRYPT_MAX_MEMORY = 2 * 1024 * 1024 * 1024  # 128 * N * r bytes


@dataclass(frozen=True)
class Argon2idParams:
    """Argon2id (RFC 9106) parameters."""

    salt: bytes
    iterations: int = 3
    memory_kib: int = 64 * 1024
    lanes: int = 4

    name = "argon2id"

    def check(self, error: type[MlwardenError] = IntegrityError) -> None:
        """Refuse parameters outside the caps, with ``error`` (the keyring's: integrity; a caller's: bad input)."""
        _check_salt(self.salt)
        _check_range(error, "argon2id iterations", self.iterations, 1, ARGON2_MAX_ITERATIONS)
        _check_range(error, "argon2id lanes", self.lanes, 1, ARGON2_MAX_LANES)
        lanes = self.lanes if type(self.lanes) is int else 1
        _check_range(
            error,
            "argon2id memory_kib",
            self.memory_kib,
            8 * lanes,
            ARGON2_MAX_MEMORY_KIB,
            f" KiB (at least 8 KiB per lane, {lanes} lane(s); at most 2 GiB)",
        )

    def derive(self, secret: bytes) -> bytes:
        self.check()
        kdf = Argon2id(
            salt=self.salt,
            length=_KEY_SIZE,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(secret)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "salt": base64.b64encode(self.salt).decode(),
            "iterations": self.iterations,
            "memory_kib": self.memory_kib,
            "lanes": self.lanes,
        }


@dataclass(frozen=True)
class ScryptParams:
    """scrypt (RFC 7914) parameters; ``log2_n`` is the cost N as a power of two."""

    salt: bytes
    log2_n: int = 16
    r: int = 8
    p: int = 1

    name = "scrypt"

    def check(self, error: type[MlwardenError] = IntegrityError) -> None:
        """Refuse parameters outside the caps, with ``error`` (the keyring's: integrity; a caller's: bad input)."""
        _check_salt(self.salt)
        _check_range(error, "scrypt log2_n", self.log2_n, 10, SCRYPT_MAX_LOG2_N)
        _check_range(error, "scrypt r", self.r, 1, 32)
        _check_range(error, "scrypt p", self.p, 1, 16)
        if 128 * (1 << self.log2_n) * self.r > SCRYPT_MAX_MEMORY:
            raise error(
                f"scrypt log2_n {self.log2_n} with r {self.r} needs {128 * (1 << self.log2_n) * self.r >> 20} MiB; "
                "at most 2 GiB (128 * 2**log2_n * r bytes) is allowed"
            )

    def derive(self, secret: bytes) -> bytes:
        self.check()
        kdf = Scrypt(salt=self.salt, length=_KEY_SIZE, n=1 << self.log2_n, r=self.r, p=self.p)
        return kdf.derive(secret)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "salt": base64.b64encode(self.salt).decode(),
            "log2_n": self.log2_n,
            "r": self.r,
            "p": self.p,
        }


KdfParams = Argon2idParams | ScryptParams


def _check_salt(salt: bytes) -> None:
    if not _SALT_MIN <= len(salt) <= _SALT_MAX:
        raise IntegrityError(f"KDF salt of {len(salt)} bytes outside {_SALT_MIN}..{_SALT_MAX}")


def _check_range(error: type[MlwardenError], what: str, value: object, low: int, high: int, unit: str = "") -> None:
    if type(value) is not int:
        raise error(f"{what} must be a whole number from {low} to {high}{unit}, not {value!r}")
    if not low <= value <= high:
        raise error(f"{what} {value} is outside the allowed range {low}..{high}{unit}")


_TUNABLE = {"argon2id": ("iterations", "memory_kib", "lanes"), "scrypt": ("log2_n", "r", "p")}


def new_params(name: str = "argon2id", **overrides: int) -> KdfParams:
    """Fresh parameters with a new random salt (``overrides`` tune cost, for tests and small machines).

    Raises :class:`~mlwarden.errors.BadInput` naming the parameter and its allowed range."""
    if name not in _TUNABLE:
        raise BadInput(f"unknown KDF {name!r}: use argon2id or scrypt")
    unknown = sorted(set(overrides) - set(_TUNABLE[name]))
    if unknown:
        raise BadInput(f"{name} has no parameter {unknown[0]!r}: use {', '.join(_TUNABLE[name])}")
    salt = os.urandom(16)
    params: KdfParams = (Argon2idParams if name == "argon2id" else ScryptParams)(salt=salt, **overrides)
    params.check(BadInput)
    return params


def kdf_params_from_json(data: object) -> KdfParams:
    """Parse stored parameters, refusing anything malformed or over the caps before any work."""
    if not isinstance(data, dict):
        raise IntegrityError("keyring KDF parameters are malformed")
    try:
        salt = base64.b64decode(data["salt"], validate=True)
        params: KdfParams
        if data["name"] == "argon2id":
            params = Argon2idParams(
                salt=salt,
                iterations=_int(data["iterations"]),
                memory_kib=_int(data["memory_kib"]),
                lanes=_int(data["lanes"]),
            )
        elif data["name"] == "scrypt":
            params = ScryptParams(salt=salt, log2_n=_int(data["log2_n"]), r=_int(data["r"]), p=_int(data["p"]))
        else:
            raise IntegrityError(f"keyring names an unknown KDF {data['name']!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError("keyring KDF parameters are malformed") from exc
    params.check()
    return params


def _int(value: object) -> int:
    if type(value) is not int:
        raise TypeError("not an integer")
    return value


def derive_key(params: KdfParams, passphrase: str) -> bytes:
    """Derive a 32-byte key from a passphrase (NFC-normalised UTF-8, so any keyboard types the same)."""
    if not passphrase:
        raise BadInput("the passphrase is empty")
    return params.derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))
