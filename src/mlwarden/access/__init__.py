"""Principals, roles, scoped tokens, and the one gate every operation passes.

* :data:`ROLES` maps each role to its permissions (the table of ``docs/access.md``);
* :class:`PrincipalStore` keeps users and service accounts, with tokens stored as hashes, their
  request :class:`Limits` (rate per minute, quota per UTC day) and suspensions;
* :class:`Authenticator` turns a token into the :class:`Gate` of its principal (the workspace's and
  the server's logins both), recording refused tokens;
* :class:`Gate` decides with a principal's grants and writes the audit entry, failing closed
  (``act``, ``check``, ``record``, and ``_async`` variants for the server's event loop).

A workspace opened with a token acts as its principal::

    ws = mlwarden.Workspace.open(token=os.environ["MLWARDEN_TOKEN"])
    ws.datasets.read_frame("credit-german")   # AccessDenied unless granted
"""

from mlwarden.access._auth import Authenticator, refusal_reason
from mlwarden.access._gate import Act, Gate, new_request_id
from mlwarden.access._limits import (
    DEFAULT_DAILY_QUOTA,
    DEFAULT_RATE_LIMIT,
    KEEP,
    MAX_LIMIT,
    Keep,
    LimitChange,
    Limits,
    check_limit,
)
from mlwarden.access._principals import (
    KINDS,
    MAX_REASON,
    Principal,
    PrincipalStore,
    TokenRefused,
    check_principal_name,
    parse_duration,
)
from mlwarden.access._roles import (
    GRANTABLE,
    PERMISSIONS,
    ROLES,
    SCOPED_KINDS,
    check_role,
    check_scope,
    scope_covers,
)
from mlwarden.access._tokens import ParsedToken, hash_token, new_token, parse_token

__all__ = [
    "DEFAULT_DAILY_QUOTA",
    "DEFAULT_RATE_LIMIT",
    "GRANTABLE",
    "KEEP",
    "KINDS",
    "MAX_LIMIT",
    "MAX_REASON",
    "PERMISSIONS",
    "ROLES",
    "SCOPED_KINDS",
    "Act",
    "Authenticator",
    "Gate",
    "Keep",
    "LimitChange",
    "Limits",
    "ParsedToken",
    "Principal",
    "PrincipalStore",
    "TokenRefused",
    "check_limit",
    "check_principal_name",
    "check_role",
    "check_scope",
    "hash_token",
    "new_request_id",
    "new_token",
    "parse_duration",
    "parse_token",
    "refusal_reason",
    "scope_covers",
]
