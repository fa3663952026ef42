"""The services a :class:`~mlwarden.Workspace` builds, one per job, each through the one gate.

=============  =====================  ==================================================
``ws.keys``    :class:`KeyService`    key versions, rotation, the master key, model-signing keys
``ws.users``   :class:`UserService`   principals, tokens, limits, suspensions
``ws.log``     :class:`LogService`    the audit log: entries, verify, prove, checkpoint
``ws.files``   :class:`FileService`   envelope files and bytes, workspace objects
``ws.datasets``  :class:`mlwarden.store.Datasets`         encrypted, versioned datasets
``ws.models``  :class:`mlwarden.models.ModelRegistry`     encrypted, signed models
=============  =====================  ==================================================

Each takes only the pieces it needs (the gate, stores, key lookups), never the workspace, and
every public method either writes an audit entry or is one of the few reads listed in
``docs/access.md`` (``tests/test_public_api_gate.py`` walks them all).
"""

from mlwarden._services._files import FileService
from mlwarden._services._keys import (
    KeyService,
    KeyVersionInfo,
    PassphrasePrompt,
    Rotation,
    key_change_lock,
    master_key_provider,
)
from mlwarden._services._log import LogService
from mlwarden._services._users import SERVER_PRINCIPAL, UserService

__all__ = [
    "SERVER_PRINCIPAL",
    "FileService",
    "KeyService",
    "KeyVersionInfo",
    "LogService",
    "PassphrasePrompt",
    "Rotation",
    "UserService",
    "key_change_lock",
    "master_key_provider",
]
