"""Signed notes (C2SP signed-note) and log checkpoints (C2SP tlog-checkpoint), Ed25519 only.

A signed note is UTF-8 text ending in a newline, a blank line, then one line per signature::

    <text>\\n
    \\n
    — <key name> <base64(key id (4 bytes, big-endian) || Ed25519 signature (64 bytes))>\\n

The key id is the first four bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)``,
0x01 naming Ed25519. A verifier key is written ``<name>+<key id hex>+<base64(0x01 || public key)>``.
This is the format of Go's ``golang.org/x/mod/sumdb/note`` and of transparency logs (Sigstore,
the Go checksum database); tests run the reference implementation's example key and note.

A checkpoint is a note whose text is the log's origin, its size in decimal and its root hash in
base64, one per line, then optional extension lines (mlwarden adds ``time <RFC 3339>``)::

    mlwarden/6f1c...\\n
    1042\\n
    2Ln1mIo7+VFr4lPjRrR9W3ZzOr3OMgmsxVXmHPv1t1s=\\n
    time 2026-11-25T23:40:00.123456Z\\n
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mlwarden.errors import BadInput, IntegrityError

__all__ = ["CheckpointBody", "NoteSigner", "NoteVerifier", "open_note", "parse_checkpoint_body"]

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
MAX_SIGNATURES = 100


def _check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise BadInput(f"a note key name has no spaces or '+': {name!r}")


def key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class NoteVerifier:
    """Checks signatures of one named Ed25519 key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_key_name(name)
        if len(public_key) != 32:
            raise BadInput("an Ed25519 public key is 32 bytes")
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_key_string(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        name, _, rest = vkey.partition("+")
        hex_id, _, b64 = rest.partition("+")
        try:
            raw = base64.b64decode(b64, validate=True)
            canonical = len(hex_id) == 8 and all(c in "0123456789abcdefABCDEF" for c in hex_id)
            claimed = int(hex_id, 16) if canonical else -1
        except (binascii.Error, ValueError):
            raise BadInput(f"malformed verifier key {vkey!r}") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise BadInput(f"verifier key {vkey!r} is not an Ed25519 key")
        verifier = cls(name, raw[1:])
        if verifier.key_id != claimed:
            raise BadInput(f"verifier key {vkey!r}: its key id does not match its key")
        return verifier

    def key_string(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def note(self, text: str, signature: bytes) -> str:
        """``text`` as a signed note carrying ``signature`` (made earlier by this key)."""
        blob = self.key_id.to_bytes(4, "big") + signature
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """Signs notes with a named Ed25519 key. Not picklable: it holds the private key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.verifier = NoteVerifier(name, _raw_public(private_key.public_key()))
        self.name = name

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_key_string(cls, skey: str) -> NoteSigner:
        """Parse Go's ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise BadInput("malformed signer key")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput("malformed signer key") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise BadInput("the signer key is not an Ed25519 key")
        signer = cls.from_seed(parts[2], raw[1:])
        if f"{signer.verifier.key_id:08x}" != parts[3].lower():
            raise BadInput("the signer key's id does not match its key")
        return signer

    def sign_raw(self, text: bytes) -> bytes:
        return self._key.sign(text)

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (which must end in a newline)."""
        _check_text(text)
        return self.verifier.note(text, self.sign_raw(text.encode()))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a signer holds a private key and cannot be pickled")


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or "\r" in text:
        raise BadInput("a note's text ends in a newline and has no blank lines")


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The text of ``note`` if ``verifier``'s key signed it; :class:`IntegrityError` otherwise.

    Signatures by other keys are allowed and ignored; a second signature by the same key, or a
    malformed note, is an error.
    """
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise IntegrityError("malformed signed note: no signature block")
    text += "\n"
    try:
        _check_text(text)
        raw_text = text.encode()
    except (BadInput, UnicodeEncodeError):
        raise IntegrityError("malformed signed note text") from None
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise IntegrityError("the note has too many signatures")
    found = 0
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise IntegrityError("malformed signature line in signed note")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise IntegrityError("malformed signature in signed note") from None
        if len(blob) < 5 or not name:
            raise IntegrityError("malformed signature in signed note")
        if name != verifier.name or int.from_bytes(blob[:4], "big") != verifier.key_id:
            continue
        found += 1
        if found > 1 or not verifier.verify(raw_text, blob[4:]):
            raise IntegrityError(f"the note's signature by {name} does not verify")
    if not found:
        raise IntegrityError(f"the note is not signed by {verifier.name}")
    return text


@dataclass(frozen=True)
class CheckpointBody:
    """The signed facts of a checkpoint."""

    origin: str
    size: int
    root: bytes
    time: str | None = None

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        if self.time is not None:
            lines.append(f"time {self.time}")
        return "\n".join(lines) + "\n"


def parse_checkpoint_body(text: str) -> CheckpointBody:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise IntegrityError("malformed checkpoint: it needs origin, size and root hash lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    try:
        if not (size_text.isascii() and size_text.isdigit()) or (size_text.startswith("0") and size_text != "0"):
            raise ValueError
        size = int(size_text)
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("malformed checkpoint size or root hash") from None
    if len(root) != 32 or not origin:
        raise IntegrityError("malformed checkpoint: bad origin or root hash")
    time = None
    for extra in lines[3:-1]:
        if extra.startswith("time "):
            time = extra[5:]
    return CheckpointBody(origin, size, root, time)


def same_bytes(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
