"""Settings: where the workspace is and how it is unlocked. Environment parsing happens only here.

==========================  ============================================================
``MLWARDEN_HOME``           the workspace folder (default ``./.mlwarden``)
``MLWARDEN_PASSPHRASE``     the passphrase of a passphrase-unlocked workspace
``MLWARDEN_MASTER_KEY``     base64 of the 32-byte master key of an env-unlocked workspace
``MLWARDEN_NEW_PASSPHRASE`` the new passphrase, for ``mlwarden keys change-master``
``MLWARDEN_NEW_MASTER_KEY`` the new master key, for ``mlwarden keys change-master``
``MLWARDEN_CATALOG_URL``    the catalog database (default SQLite ``<home>/catalog.db``);
                            a SQLAlchemy URL such as ``postgresql+psycopg://host/db``
``MLWARDEN_TOKEN``          the API token to act with (default: the workspace's saved admin token)
``MLWARDEN_DEBUG``          ``1`` to show tracebacks on errors (CLI)
==========================  ============================================================

``MLWARDEN_PASSPHRASE_FILE``, ``MLWARDEN_MASTER_KEY_FILE`` and ``MLWARDEN_TOKEN_FILE`` name a
file holding the secret instead (one trailing newline is ignored), as container secrets are
mounted: the secret then never appears in the process environment. The plain variable wins when
both are set. A token that is set but empty (``MLWARDEN_TOKEN=``, or an empty token file) is
refused rather than read as "no token": it would otherwise fall back to the saved admin token, so
a deployment whose secret failed to arrive would run as admin.

A file variable naming a missing file, a folder or unreadable bytes raises
:class:`~mlwarden.errors.BadInput` naming the variable and the path (the CLI: one line, exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_HOME", "Settings", "debug_from_env", "local_user"]

DEFAULT_HOME = ".mlwarden"


@dataclass(frozen=True)
class Settings:
    """Resolved settings; secrets are kept out of ``repr``."""

    home: Path
    passphrase: str | None = field(default=None, repr=False)
    master_key: str | None = field(default=None, repr=False)
    new_passphrase: str | None = field(default=None, repr=False)
    new_master_key: str | None = field(default=None, repr=False)
    catalog_url: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    debug: bool = False

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        chosen = home if home is not None else (env.get("MLWARDEN_HOME") or DEFAULT_HOME)
        return cls(
            home=Path(chosen).expanduser(),
            passphrase=_secret(env, "MLWARDEN_PASSPHRASE"),
            master_key=_secret(env, "MLWARDEN_MASTER_KEY"),
            new_passphrase=env.get("MLWARDEN_NEW_PASSPHRASE") or None,
            new_master_key=env.get("MLWARDEN_NEW_MASTER_KEY") or None,
            catalog_url=env.get("MLWARDEN_CATALOG_URL") or None,
            token=_secret(env, "MLWARDEN_TOKEN", empty_is_error=True),
            debug=debug_from_env(env),
        )


def debug_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """``MLWARDEN_DEBUG`` alone, which the CLI reads before any other setting (they may be wrong)."""
    env = os.environ if environ is None else environ
    return env.get("MLWARDEN_DEBUG", "") not in ("", "0")


def _secret(env: Mapping[str, str], name: str, *, empty_is_error: bool = False) -> str | None:
    """``env[name]``, else the content of the file ``env[name + "_FILE"]`` names, else ``None``.

    With ``empty_is_error`` a variable set to the empty string, or a file holding nothing, is
    refused instead of being read as unset.
    """
    from mlwarden.errors import BadInput

    value = env.get(name)
    if value:
        return value
    if value is not None and empty_is_error:
        raise BadInput(f"{name} is set but empty; set it to a token or unset it")
    path = env.get(f"{name}_FILE")
    if not path:
        if path is not None and empty_is_error:
            raise BadInput(f"{name}_FILE is set but empty; name the file holding the token or unset it")
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise BadInput(f"{name}_FILE names {path}, which cannot be read ({reason})") from None
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not text and empty_is_error:
        raise BadInput(f"{name}_FILE names {path}, which is empty; put the token in it or unset {name}_FILE")
    return text or None


def local_user() -> str:
    """The operating-system user running this process, for records such as who made a version."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
