"""The workspace identity key: one secret from which the audit log's signing key and the
principal records' MAC key are derived.

It is 32 random bytes, kept like a data key (wrapped by the keyring under a reserved object id,
in ``keys/identity/``): key rotation rewraps it and only the master key unlocks it. Each use gets its own key by
HKDF-SHA256 (RFC 5869) with a distinct ``info`` label:

* ``mlwarden log signing key v1`` -> the Ed25519 seed that signs the log's tree heads;
* ``mlwarden principal records v1`` -> the HMAC-SHA256 key over principal records;
* ``mlwarden model signing keys v1`` -> the HMAC-SHA256 key over the index of model-signing keys;
* ``mlwarden catalog mark v1`` -> the HMAC-SHA256 key over the catalog mark (what the catalog must hold);
* ``mlwarden pseudonym keys v1`` -> the HMAC-SHA256 key over the index of pseudonymisation keys;
* ``mlwarden erasure subjects v1`` -> the HMAC-SHA256 key over erasure subjects (who asked to be forgotten).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["IDENTITY_OBJECT_ID", "WorkspaceIdentity"]

IDENTITY_OBJECT_ID = b"mlwarden-idkey-1"
assert len(IDENTITY_OBJECT_ID) == 16


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


class WorkspaceIdentity:
    """Derived keys of one workspace. Not picklable, no ``repr`` of key material."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError("a workspace identity key is 32 bytes")
        self.log_seed = _derive(secret, b"mlwarden log signing key v1")
        self.record_mac_key = _derive(secret, b"mlwarden principal records v1")
        self.signing_index_mac_key = _derive(secret, b"mlwarden model signing keys v1")
        self.catalog_mark_mac_key = _derive(secret, b"mlwarden catalog mark v1")
        self.pseudonym_index_mac_key = _derive(secret, b"mlwarden pseudonym keys v1")
        self.subject_mac_key = _derive(secret, b"mlwarden erasure subjects v1")

    def __repr__(self) -> str:
        return "<WorkspaceIdentity>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a workspace identity holds key material and cannot be pickled")
