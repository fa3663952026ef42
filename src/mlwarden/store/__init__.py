"""The encrypted, versioned dataset store.

::

    import mlwarden

    ws = mlwarden.Workspace.open()                        # MLWARDEN_HOME, MLWARDEN_PASSPHRASE / _MASTER_KEY
    put = ws.datasets.put("german_credit.csv", name="credit-german", tags={"source": "uci"})
    put.version.ref, put.version.sha256                   # ('credit-german@1', '2c0b...')
    with ws.datasets.open("credit-german") as f:          # decrypted as it is read, in memory only
        header = f.readline()
    df = ws.datasets.read_frame("credit-german", version=1)

Every version is one object encrypted under its own data key (streaming AES-256-GCM), in a
:class:`ObjectBackend` (the workspace folder now, S3-compatible storage later), and one row
of the catalog (SQLite or PostgreSQL) with its SHA-256, size, schema, rows, key version, tags,
creator and time. Shredding a version destroys its data key and leaves the row as a tombstone.
Every method passes the workspace's gate (:mod:`mlwarden.access`): ``dataset.write`` to put,
``dataset.read`` to read content, ``dataset.list`` for records and listings (filtered to the
principal's scopes), ``dataset.shred``, ``store.maintain`` for check and gc; each is recorded in
the audit log before it runs.
"""

from mlwarden.store._backend import LocalBackend, ObjectBackend
from mlwarden.store._datasets import Datasets
from mlwarden.store._names import check_name, parse_ref, parse_tag
from mlwarden.store._records import (
    CheckProblem,
    CheckReport,
    DatasetSummary,
    DatasetVersion,
    EraseResult,
    PutResult,
)
from mlwarden.store._tabular import Column, TabularSchema

__all__ = [
    "CheckProblem",
    "CheckReport",
    "Column",
    "DatasetSummary",
    "DatasetVersion",
    "Datasets",
    "EraseResult",
    "LocalBackend",
    "ObjectBackend",
    "PutResult",
    "TabularSchema",
    "check_name",
    "parse_ref",
    "parse_tag",
]
