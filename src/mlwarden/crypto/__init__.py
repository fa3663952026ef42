"""Encryption for mlwarden: envelope encryption with a versioned workspace keyring (the safe tier).

::

    from mlwarden import Workspace

    ws = Workspace.open()                      # unlocked by MLWARDEN_PASSPHRASE or MLWARDEN_MASTER_KEY
    with open("train.csv", "rb") as src, open("train.csv.mlw", "wb") as dst:
        ws.files.encrypt(src, dst)             # fresh data key, wrapped by the primary key version
    ws.keys.rotate()                           # new key version; every data key rewrapped

The key hierarchy is master key -> versioned key-encryption keys (:class:`Keyring`) -> one data
key per object (:class:`DataKeyStore`, or the header of an envelope file). Master keys sit
behind :class:`MasterKeyProvider` so that a KMS or HSM can replace the passphrase and
environment providers. Raw primitives are in :mod:`mlwarden.crypto.hazmat`.
"""

from mlwarden.crypto._data_keys import DataKeyRecord, DataKeyStore
from mlwarden.crypto._envelope import (
    ENVELOPE_HEADER_SIZE,
    ENVELOPE_VERSION,
    EnvelopeHeader,
    decrypt_envelope,
    encrypt_envelope,
    open_object,
    read_envelope_header,
    seal_object,
)
from mlwarden.crypto._kdf import Argon2idParams, KdfParams, ScryptParams, new_params
from mlwarden.crypto._keyring import Keyring, KeyVersion, WrappedKey
from mlwarden.crypto._master_key import (
    EnvMasterKeyProvider,
    LocalMasterKey,
    MasterKey,
    MasterKeyProvider,
    PassphraseMasterKeyProvider,
    parse_master_key,
)

__all__ = [
    "ENVELOPE_HEADER_SIZE",
    "ENVELOPE_VERSION",
    "Argon2idParams",
    "DataKeyRecord",
    "DataKeyStore",
    "EnvMasterKeyProvider",
    "EnvelopeHeader",
    "KdfParams",
    "KeyVersion",
    "Keyring",
    "LocalMasterKey",
    "MasterKey",
    "MasterKeyProvider",
    "PassphraseMasterKeyProvider",
    "ScryptParams",
    "WrappedKey",
    "decrypt_envelope",
    "encrypt_envelope",
    "new_params",
    "open_object",
    "parse_master_key",
    "read_envelope_header",
    "seal_object",
]
