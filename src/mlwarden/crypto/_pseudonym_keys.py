"""The workspace's pseudonymisation keys: keyed, deterministic tokens for personal data.

Each key is 32 random bytes kept like a data key: wrapped by the keyring under a reserved object
id (``mlwarden-psk`` + the key's number as uint32 big-endian, 16 bytes) in ``keys/pseudonym/``,
so rotation of the key-encryption keys rewraps it and only the master key unlocks it. The index
of keys lives in ``keys/pseudonym.json`` (mode 0600, replaced atomically) under an HMAC-SHA256
whose key is derived from the workspace identity (``mlwarden pseudonym keys v1``)::

    {"version": 1,
     "keys": [{"number": 1, "state": "retired", "created_at": "...", "created_by": "alice",
               "changed_at": "...", "changed_by": "bob"},
              {"number": 2, "state": "active", "created_at": "...", "created_by": "bob",
               "changed_at": null, "changed_by": null}],
     "mac": "<hex HMAC-SHA256 over the canonical JSON of {version, keys}>"}

Whoever can write the folder but lacks the master key can neither add a key of their own nor
drop or reorder one without the index failing its check. States: ``active`` (makes new tokens;
one at a time) and ``retired`` (made tokens before a rotation: still matches and reverses them).
A key is never destroyed while data may hold its tokens: erasure (``data forget``) must compute a
person's tokens under every key that ever made any (:meth:`PseudonymKeys.all`).

Tokens. From the key's secret ``s`` two subkeys are derived by HKDF-SHA256 (RFC 5869, no salt)::

    k_tok  = HKDF(s, info=b"mlwarden pseudonym tokens v1", length=32)
    k_seal = HKDF(s, info=b"mlwarden pseudonym seal v1",   length=64)

* one-way: ``"pz" + str(n) + "_" + base32(HMAC-SHA256(k_tok, utf8(text))[:16])`` in lower case
  without padding (26 characters): equal texts give equal tokens under one key, so joins across
  datasets still work; nothing but the key recomputes it, and nothing reverses it;
* reversible: ``"pr" + str(n) + "_" + base64url(AES-SIV(k_seal, utf8(text), ad=[b"mlwarden pseudonym v1"
  || uint32_be(n)]))`` without padding: AES-SIV (RFC 5297, AES-256 in its 64-byte key form) is
  deterministic and authenticated, so the token joins like a one-way one and :meth:`PseudonymKey.open`
  gives the text back to whoever may re-identify. It shows the text's length (SIV output is
  16 bytes longer than its input).

Bump ``_INDEX_VERSION`` when the index's layout changes, and the ``v1`` labels (with a new token
prefix) if the token construction ever does; keep a reader for every older version.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import struct
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mlwarden._clock import Clock, timestamp
from mlwarden._fsio import atomic_write, file_lock
from mlwarden.crypto._data_keys import DataKeyStore
from mlwarden.crypto._keyring import Keyring
from mlwarden.errors import BadInput, IntegrityError, NotFound, Shredded

__all__ = ["PseudonymKey", "PseudonymKeyInfo", "PseudonymKeys", "is_reversible", "token_key_number"]

_PREFIX = b"mlwarden-psk"
_INDEX_VERSION = 1
_TOKEN_LABEL = b"mlwarden pseudonym tokens v1"
_SEAL_LABEL = b"mlwarden pseudonym seal v1"
_SEAL_AD = b"mlwarden pseudonym v1"
_TOKEN_BYTES = 16
_STATES = ("active", "retired")
_ONE_WAY = re.compile(r"pz([1-9][0-9]{0,9})_[a-z2-7]{26}")
_SEALED = re.compile(r"pr([1-9][0-9]{0,9})_([A-Za-z0-9_-]{22,})")
_FIELDS = {"number", "state", "created_at", "created_by", "changed_at", "changed_by"}


def _object_id(number: int) -> bytes:
    return _PREFIX + struct.pack(">I", number)


def token_key_number(token: str) -> int | None:
    """The number of the key that made a ``pz<n>_`` or ``pr<n>_`` token; None if ``token`` is not one."""
    if not isinstance(token, str):
        return None
    match = _ONE_WAY.fullmatch(token) or _SEALED.fullmatch(token)
    if match is None:
        return None
    number = int(match.group(1))
    return number if number < 2**32 else None


def is_reversible(token: str) -> bool:
    """Whether ``token`` is a reversible (``pr<n>_``) token, which :meth:`PseudonymKey.open` reverses."""
    return isinstance(token, str) and token.startswith("pr") and token_key_number(token) is not None


def _derive(secret: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(secret)


def _utf8(text: str) -> bytes:
    if not isinstance(text, str):
        raise BadInput("only text can be pseudonymised")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("a value is not valid Unicode text (it holds a lone surrogate)") from None


class PseudonymKey:
    """One pseudonymisation key (an opaque handle): it makes and opens tokens, and never shows its secret.

    Not picklable; its repr shows only its number.
    """

    __slots__ = ("_number", "_seal", "_tok")

    def __init__(self, number: int, secret: bytes) -> None:
        if type(number) is not int or not 1 <= number < 2**32:
            raise BadInput("a pseudonymisation key's number is from 1 to 2**32 - 1")
        if len(secret) != 32:
            raise BadInput("a pseudonymisation key is 32 bytes")
        self._number = number
        self._tok = _derive(secret, _TOKEN_LABEL, 32)
        self._seal = AESSIV(_derive(secret, _SEAL_LABEL, 64))

    @property
    def number(self) -> int:
        return self._number

    def __repr__(self) -> str:
        return f"<PseudonymKey {self._number}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a pseudonymisation key holds key material and cannot be pickled")

    def _ad(self) -> list[bytes]:
        return [_SEAL_AD + struct.pack(">I", self._number)]

    def token(self, text: str) -> str:
        """The one-way token of ``text``: the same text always gives the same token under this key."""
        digest = hmac.new(self._tok, _utf8(text), hashlib.sha256).digest()[:_TOKEN_BYTES]
        return f"pz{self._number}_" + base64.b32encode(digest).decode().rstrip("=").lower()

    def seal(self, text: str) -> str:
        """The reversible token of ``text`` (deterministic too); :meth:`open` gives ``text`` back."""
        sealed = self._seal.encrypt(_utf8(text), self._ad())
        return f"pr{self._number}_" + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, token: str) -> str:
        """The text a reversible token of this key stands for.

        :class:`BadInput` when ``token`` is not a reversible token of this key (a one-way token,
        another key's, or not a token at all); :class:`IntegrityError` when it has that shape but
        fails authentication (altered, or made by another workspace's key of the same number).
        """
        match = _SEALED.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise BadInput("not a reversible pseudonymisation token")
        if int(match.group(1)) != self._number:
            raise BadInput(f"this token was made by pseudonymisation key {match.group(1)}, not key {self._number}")
        body = match.group(2)
        failed = IntegrityError("a pseudonymisation token failed authentication")
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise failed from None
        # Only the canonical spelling opens: a changed unused bit in the last character is a change too.
        if base64.urlsafe_b64encode(sealed).decode().rstrip("=") != body:
            raise failed
        try:
            return self._seal.decrypt(sealed, self._ad()).decode("utf-8")
        except (InvalidTag, ValueError):
            raise failed from None


@dataclasses.dataclass(frozen=True)
class PseudonymKeyInfo:
    """What the index says of one key; no key material."""

    number: int
    state: str
    created_at: str
    created_by: str
    changed_at: str | None = None
    changed_by: str | None = None


def _valid_entry(entry: object) -> bool:
    if not isinstance(entry, dict) or set(entry) != _FIELDS:
        return False
    number = entry["number"]
    return (
        type(number) is int
        and 1 <= number < 2**32
        and entry["state"] in _STATES
        and isinstance(entry["created_at"], str)
        and isinstance(entry["created_by"], str)
        and all(entry[f] is None or isinstance(entry[f], str) for f in ("changed_at", "changed_by"))
    )


class PseudonymKeys:
    """The pseudonymisation keys of one workspace. The first key is made on first use."""

    def __init__(self, home: Path, keyring: Keyring, clock: Clock, mac_key: bytes) -> None:
        self._store = DataKeyStore(home / "keys" / "pseudonym", keyring, clock, lock=home / ".lock")
        self._index = home / "keys" / "pseudonym.json"
        self._lock = home / "keys" / ".pseudonym.lock"
        self._clock = clock
        self._mac_key = mac_key

    def __repr__(self) -> str:
        return "<PseudonymKeys>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("pseudonymisation keys hold key material and cannot be pickled")

    # -- index --------------------------------------------------------------------------------

    def _mac(self, keys: list[Any]) -> str:
        body = json.dumps({"version": _INDEX_VERSION, "keys": keys}, sort_keys=True, separators=(",", ":"))
        return hmac.new(self._mac_key, body.encode(), hashlib.sha256).hexdigest()

    def _damaged(self) -> IntegrityError:
        return IntegrityError(f"{self._index} is damaged; restore it from a backup")

    def _read(self, *, locked: bool = False) -> list[PseudonymKeyInfo]:
        """The index, checked. ``locked``: the caller holds the keys' lock (no other writer is midway)."""
        try:
            doc = json.loads(self._index.read_bytes())
        except FileNotFoundError:
            if not any(True for _ in self._store.object_ids()):
                return []
            if not locked:
                # The first key's secret is written before the index: wait for a writer midway.
                with file_lock(self._lock, exclusive=False):
                    return self._read(locked=True)
            raise IntegrityError(
                f"{self._index} is missing although pseudonymisation keys exist; restore it from a backup"
            ) from None
        except ValueError:
            raise self._damaged() from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or doc.get("version") != _INDEX_VERSION:
            raise self._damaged()
        if not hmac.compare_digest(str(doc.get("mac", "")), self._mac(doc["keys"])):
            raise IntegrityError(
                f"{self._index} failed its integrity check: the list of pseudonymisation keys was altered; "
                "restore it from a backup"
            )
        if not all(_valid_entry(entry) for entry in doc["keys"]):
            raise self._damaged()
        keys = [PseudonymKeyInfo(**entry) for entry in doc["keys"]]
        numbers = [k.number for k in keys]
        if numbers != sorted(set(numbers)) or sum(k.state == "active" for k in keys) > 1:
            raise self._damaged()
        return keys

    def _write(self, keys: list[PseudonymKeyInfo]) -> None:
        entries = [dataclasses.asdict(k) for k in keys]
        doc = {"version": _INDEX_VERSION, "keys": entries, "mac": self._mac(entries)}
        atomic_write(self._index, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())

    def _handle(self, number: int) -> PseudonymKey:
        try:
            secret = self._store.data_key(_object_id(number))
        except (NotFound, Shredded):
            raise IntegrityError(
                f"pseudonymisation key {number} has lost its secret; restore it from a backup"
            ) from None
        return PseudonymKey(number, secret)

    def _create(self, keys: list[PseudonymKeyInfo], by: str) -> PseudonymKeyInfo:
        # A secret written by a run that died before its index write is skipped (it never made a token).
        taken = {
            int.from_bytes(oid[len(_PREFIX) :], "big")
            for oid in self._store.object_ids()
            if oid[: len(_PREFIX)] == _PREFIX
        }
        number = max(taken | {k.number for k in keys}, default=0) + 1
        self._store.create(_object_id(number))
        return PseudonymKeyInfo(number=number, state="active", created_at=timestamp(self._clock()), created_by=by)

    # -- reading ------------------------------------------------------------------------------

    def keys(self) -> list[PseudonymKeyInfo]:
        """Every key the index lists, oldest first."""
        return self._read()

    def active(self, *, by: str) -> PseudonymKey:
        """The key that makes new tokens (made on first use, by ``by``)."""
        for info in self._read():
            if info.state == "active":
                return self._handle(info.number)
        with file_lock(self._lock, exclusive=True):
            keys = self._read(locked=True)
            for info in keys:
                if info.state == "active":
                    return self._handle(info.number)
            info = self._create(keys, by)
            self._write([*keys, info])
            return self._handle(info.number)

    def key(self, number: int) -> PseudonymKey:
        """Key ``number``, active or retired (to open or match its tokens); :class:`NotFound` if the index lacks it."""
        for info in self._read():
            if info.number == number:
                return self._handle(number)
        raise NotFound(f"no pseudonymisation key {number} in this workspace; see the workspace's key list")

    def all(self) -> list[PseudonymKey]:
        """Every key that ever made tokens, oldest first: erasure looks for a person's tokens under each."""
        return [self._handle(info.number) for info in self._read()]

    def rewrap_all(self) -> int:
        """Rewrap every secret under the keyring's primary version (key rotation)."""
        return self._store.rewrap_all()

    def count_by_version(self) -> dict[int, int]:
        """How many secrets each key-encryption key version wraps."""
        return self._store.count_by_version()

    # -- changing -----------------------------------------------------------------------------

    def rotate(self, *, by: str) -> tuple[PseudonymKeyInfo, PseudonymKeyInfo | None]:
        """Make a new active key; the old one is retired (it still matches and opens its tokens).

        Returns (new, retired); retired is None when there was no key yet.
        """
        with file_lock(self._lock, exclusive=True):
            keys = self._read(locked=True)
            now = timestamp(self._clock())
            retired: PseudonymKeyInfo | None = None
            for i, info in enumerate(keys):
                if info.state == "active":
                    retired = keys[i] = dataclasses.replace(info, state="retired", changed_at=now, changed_by=by)
            new = self._create(keys, by)
            self._write([*keys, new])
            return new, retired
