"""Hazardous materials: raw cryptographic building blocks.

.. warning::
   Everything here takes raw key bytes and leaves key management to you: where keys come from,
   how they are wrapped, rotated, stored and destroyed. Getting that wrong is how encryption fails
   in practice. Use the safe tier instead, :mod:`mlwarden.crypto` (envelope encryption with a
   workspace keyring) or ``mlwarden encrypt`` / ``mlwarden decrypt``, unless you are implementing a
   format and know why you need this.

:class:`StreamingAead` is Google Tink's ``AES256_GCM_HKDF_1MB`` streaming AEAD, byte for byte; see
:mod:`mlwarden.crypto._streaming_aead` for the wire format.
"""

from mlwarden.crypto._streaming_aead import (
    CIPHERTEXT_SEGMENT_SIZE,
    FIRST_SEGMENT_PLAINTEXT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    SEGMENT_PLAINTEXT_SIZE,
    TAG_SIZE,
    StreamingAead,
)

__all__ = [
    "CIPHERTEXT_SEGMENT_SIZE",
    "FIRST_SEGMENT_PLAINTEXT_SIZE",
    "HEADER_SIZE",
    "KEY_SIZE",
    "SEGMENT_PLAINTEXT_SIZE",
    "TAG_SIZE",
    "StreamingAead",
]
