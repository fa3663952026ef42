"""The services a :class:`~mlwarden.Workspace` builds, one per job, each through the one gate.

=============  =====================  ==================================================
``ws.keys``    :class:`KeyService`    key versions, rotation, the master key, model-signing keys
``ws.users``   :class:`UserService`   principals, tokens, limits, suspensions
``ws.log``     :class:`LogService`    the audit log: entries, verify, prove, checkpoint
``ws.files``   :class:`FileService`   envelope files and bytes, workspace objects
``ws.datasets``  :class:`mlwarden.store.Datasets`         encrypted, versioned datasets
``ws.models``  :class:`mlwarden.models.ModelRegistry`     encrypted, signed models
``ws.data_audits``  :class:`DataAuditService`     training-data audits and the gate before training
=============  =====================  ==================================================

Each takes only the pieces it needs (the gate, stores, key lookups), never the workspace, and
every public method either writes an audit entry or is one of the few reads listed in
``docs/access.md`` (``tests/test_public_api_gate.py`` walks them all).
"""

from mlwarden._services._data_audits import FINDINGS_POLICIES, DataAudit, DataAuditService, TrainingData
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
    "FINDINGS_POLICIES",
    "SERVER_PRINCIPAL",
    "DataAudit",
    "DataAuditService",
    "FileService",
    "KeyService",
    "KeyVersionInfo",
    "LogService",
    "PassphrasePrompt",
    "Rotation",
    "TrainingData",
    "UserService",
    "key_change_lock",
    "master_key_provider",
]
