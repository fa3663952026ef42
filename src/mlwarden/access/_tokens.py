"""API tokens: ``mlw_<token id>_<secret>``, shown once, stored only as a hash.

* the token id is 8 random bytes in hex: public, it names the token in ``user ls`` and in the
  audit log, and finds its principal without a scan;
* the secret is 32 random bytes (256 bits) in unpadded base64url;
* the store keeps ``SHA-256("mlwarden-token-v1" || 0x00 || token)`` and compares it in constant
  time. A 256-bit secret needs no slow password hash: it cannot be guessed, so its hash cannot be
  inverted by trying.

The ``mlw_`` prefix lets secret scanners (GitHub's, gitleaks) recognise a leaked token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

__all__ = ["ParsedToken", "hash_token", "new_token", "parse_token", "tokens_equal"]

PREFIX = "mlw"
_TOKEN = re.compile(r"mlw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ParsedToken:
    token_id: str
    token: str

    def __repr__(self) -> str:
        return f"ParsedToken(token_id={self.token_id!r}, token=<hidden>)"


def new_token() -> ParsedToken:
    token_id = os.urandom(8).hex()
    secret = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    return ParsedToken(token_id, f"{PREFIX}_{token_id}_{secret}")


def parse_token(text: str) -> ParsedToken | None:
    """The token's parts, or ``None`` if ``text`` is not shaped like a token."""
    match = _TOKEN.fullmatch(text.strip())
    return None if match is None else ParsedToken(match.group(1), match.group(0))


def hash_token(token: str) -> str:
    return hashlib.sha256(b"mlwarden-token-v1\x00" + token.encode()).hexdigest()


def tokens_equal(stored_hash: str, token: str) -> bool:
    return hmac.compare_digest(stored_hash.encode(), hash_token(token).encode())
