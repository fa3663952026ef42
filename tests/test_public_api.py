"""The public names are a contract: this test pins them, so a change to them is a deliberate one."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mlwarden
import mlwarden.crypto
import mlwarden.crypto.hazmat
import mlwarden.errors


def test_top_level_names() -> None:
    assert sorted(mlwarden.__all__) == sorted(
        [
            "AccessDenied",
            "AlreadyExists",
            "AuditEntry",
            "AuditUnavailable",
            "BadInput",
            "Checkpoint",
            "DatasetSummary",
            "DatasetVersion",
            "IntegrityError",
            "KeyVersionInfo",
            "LogVerification",
            "MlwardenError",
            "NotFound",
            "Principal",
            "PutResult",
            "Rotation",
            "Shredded",
            "Unavailable",
            "Workspace",
            "__version__",
        ]
    )
    for name in mlwarden.__all__:
        assert getattr(mlwarden, name) is not None


def test_access_and_audit_names_resolve() -> None:
    import mlwarden.access
    import mlwarden.auditlog

    for module in (mlwarden.access, mlwarden.auditlog):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
    assert mlwarden.AuditUnavailable is mlwarden.auditlog.AuditUnavailable
    assert issubclass(mlwarden.AuditUnavailable, mlwarden.Unavailable)


def test_hazmat_names() -> None:
    assert "StreamingAead" in mlwarden.crypto.hazmat.__all__
    for name in mlwarden.crypto.hazmat.__all__:
        assert hasattr(mlwarden.crypto.hazmat, name)


def test_crypto_names_resolve() -> None:
    for name in mlwarden.crypto.__all__:
        assert hasattr(mlwarden.crypto, name), name
    # The safe tier does not re-export the raw primitive.
    assert "StreamingAead" not in mlwarden.crypto.__all__


def test_error_tree() -> None:
    errors = mlwarden.errors
    for name in ("BadInput", "IntegrityError", "AccessDenied", "NotFound", "AlreadyExists", "Shredded", "Unavailable"):
        assert issubclass(getattr(errors, name), errors.MlwardenError)
    assert issubclass(errors.NotFound, errors.BadInput)
    assert errors.IntegrityError.exit_code == 3
    assert errors.AccessDenied.exit_code == 3
    assert errors.BadInput.exit_code == 2
    assert errors.Shredded.exit_code == 2
    assert errors.Unavailable.exit_code == 3


def test_importing_mlwarden_is_light() -> None:
    heavy = "('cryptography', 'rich', 'click', 'sqlalchemy', 'pyarrow', 'pandas')"
    code = f"import sys, mlwarden; print(','.join(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        mlwarden.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_store_names_resolve() -> None:
    import mlwarden.catalog
    import mlwarden.store

    for module in (mlwarden.store, mlwarden.catalog):
        for name in module.__all__:
            assert hasattr(module, name), name
