"""The one error tree of mlwarden.

Every error mlwarden raises on purpose derives from :class:`MlwardenError`::

    MlwardenError
     ├── BadInput            the caller gave something malformed or unusable (exit 2)
     │    ├── NotFound        a named thing does not exist (exit 2)
     │    └── AlreadyExists   refusing to overwrite something that exists (exit 2)
     ├── IntegrityError      data failed authentication or a consistency check (exit 3)
     │    ├── SignatureError  a model's signature is missing, invalid, or by an unknown or revoked key (exit 3)
     │    └── UnsafeModel     a model file holds code or types that are not allowed, so it was not loaded (exit 3)
     ├── AccessDenied        the caller may not do this, or the key does not unlock it (exit 3)
     ├── DataFindings        a training run refused: the data's audit has findings no one accepted (exit 1)
     ├── PersonalDataFindings  a training run refused: direct identifiers among its features (exit 1)
     ├── Shredded            the object's data key was destroyed on purpose (exit 2)
     └── Unavailable         a store or catalog cannot be used right now: locked, unreachable (exit 3)
          └── AuditUnavailable  the audit log could not record an action, so it was refused (exit 3)

Security failures say nothing an attacker could use: a failed decryption is always the same
``IntegrityError("... failed authentication")`` whatever went wrong inside, like Fernet's single
``InvalidToken``. The exit codes are the CLI's contract (0 ok, 1 findings, 2 bad input or usage,
3 integrity or access failure); each class carries its own so that only ``mlwarden.cli`` has to
map them.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "AuditUnavailable",
    "BadInput",
    "DataFindings",
    "IntegrityError",
    "MlwardenError",
    "NotFound",
    "PersonalDataFindings",
    "Shredded",
    "SignatureError",
    "Unavailable",
    "UnsafeModel",
]


class MlwardenError(Exception):
    """Base class of every error mlwarden raises on purpose."""

    exit_code: int = 2


class BadInput(MlwardenError):
    """Malformed or unusable input: a bad argument, file, name or setting. Exit code 2."""

    exit_code = 2


class NotFound(BadInput):
    """A named workspace, key, object or file does not exist. Exit code 2."""


class AlreadyExists(BadInput):
    """Refusing to overwrite something that already exists. Exit code 2."""


class IntegrityError(MlwardenError):
    """Data failed authentication or a consistency check: tampered, truncated or corrupted. Exit code 3."""

    exit_code = 3


class SignatureError(IntegrityError):
    """A model's signature is missing or invalid, does not match the files, or was made by an unknown
    or revoked key. Nothing was loaded. Exit code 3."""


class UnsafeModel(IntegrityError):
    """A model file holds imports, code or types that are not on the allow-list, so it was not
    loaded. Exit code 3 (``model scan`` itself reports such findings with exit code 1)."""


class AccessDenied(MlwardenError):
    """The caller may not do this, or the key or passphrase given does not unlock it. Exit code 3."""

    exit_code = 3


class DataFindings(MlwardenError):
    """A training run was refused because the audit of its data found suspicious rows (poisoning,
    label errors) and no one accepted them. Nothing was trained. Exit code 1 (findings); proceed by
    excluding the flagged rows or by having a steward accept the findings with a reason."""

    exit_code = 1


class PersonalDataFindings(MlwardenError):
    """A training run was refused because its features hold direct identifiers (e-mail addresses,
    IBANs, national ids...) in clear that no steward allowed. Nothing was trained. Exit code 1
    (findings); proceed by pseudonymising the columns or having a steward allow them."""

    exit_code = 1


class Shredded(MlwardenError):
    """The object's data key was destroyed on purpose (crypto-shredding): it can never be read again.

    Not an integrity failure: nothing was tampered with, the data is gone by design. Exit code 2.
    """

    exit_code = 2


class Unavailable(MlwardenError):
    """A store or catalog cannot be used: locked for too long, unreachable, or failing. Exit code 3.

    Nothing was changed: the operation that met it was abandoned whole.
    """

    exit_code = 3


class AuditUnavailable(Unavailable):
    """The audit log could not record an action, so the action was refused (fail closed). Exit code 3."""
