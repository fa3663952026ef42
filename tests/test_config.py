"""Settings from the environment, and secrets read from files (``MLWARDEN_*_FILE``, container secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlwarden.config import Settings
from mlwarden.errors import BadInput


def test_plain_variables_are_read() -> None:
    settings = Settings.from_env(
        environ={"MLWARDEN_HOME": "/x", "MLWARDEN_PASSPHRASE": "p", "MLWARDEN_MASTER_KEY": "k", "MLWARDEN_TOKEN": "t"}
    )
    assert (settings.home, settings.passphrase, settings.master_key, settings.token) == (Path("/x"), "p", "k", "t")


@pytest.mark.parametrize("name", ["MLWARDEN_PASSPHRASE", "MLWARDEN_MASTER_KEY", "MLWARDEN_TOKEN"])
@pytest.mark.parametrize(
    ("content", "expected"), [("s3cret\n", "s3cret"), ("s3cret\r\n", "s3cret"), ("a b\n\n", "a b\n")]
)
def test_a_secret_is_read_from_the_file_its_FILE_variable_names(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(content)
    settings = Settings.from_env(environ={f"{name}_FILE": str(secret)})
    field = {"MLWARDEN_PASSPHRASE": "passphrase", "MLWARDEN_MASTER_KEY": "master_key", "MLWARDEN_TOKEN": "token"}
    assert getattr(settings, field[name]) == expected
    assert expected not in repr(settings)


def test_the_plain_variable_wins_over_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file")
    env = {"MLWARDEN_PASSPHRASE": "from-env", "MLWARDEN_PASSPHRASE_FILE": str(secret)}
    assert Settings.from_env(environ=env).passphrase == "from-env"


@pytest.mark.parametrize(
    ("name", "field"), [("MLWARDEN_PASSPHRASE", "passphrase"), ("MLWARDEN_MASTER_KEY", "master_key")]
)
def test_an_empty_key_secret_file_is_no_secret(tmp_path: Path, name: str, field: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text("\n")
    assert getattr(Settings.from_env(environ={f"{name}_FILE": str(secret)}), field) is None


@pytest.mark.parametrize("content", ["", "\n", "\r\n"])
def test_an_empty_token_file_is_refused_not_read_as_no_token(tmp_path: Path, content: str) -> None:
    """No token means the saved admin token: a token secret that arrived empty must not mean that."""
    secret = tmp_path / "secret"
    secret.write_text(content)
    with pytest.raises(BadInput, match=r"MLWARDEN_TOKEN_FILE names .*secret, which is empty"):
        Settings.from_env(environ={"MLWARDEN_TOKEN_FILE": str(secret)})


@pytest.mark.parametrize("environ", [{"MLWARDEN_TOKEN": ""}, {"MLWARDEN_TOKEN": "", "MLWARDEN_TOKEN_FILE": "/x"}])
def test_an_empty_token_variable_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(BadInput, match=r"^MLWARDEN_TOKEN is set but empty"):
        Settings.from_env(environ=environ)


def test_an_empty_token_file_variable_is_refused() -> None:
    with pytest.raises(BadInput, match=r"^MLWARDEN_TOKEN_FILE is set but empty"):
        Settings.from_env(environ={"MLWARDEN_TOKEN_FILE": ""})


@pytest.mark.parametrize("name", ["MLWARDEN_PASSPHRASE", "MLWARDEN_MASTER_KEY", "MLWARDEN_TOKEN"])
def test_a_secret_file_that_is_a_folder_is_named_in_one_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput, match=rf"^{name}_FILE names {tmp_path}, which cannot be read \(Is a directory\)$"):
        Settings.from_env(environ={f"{name}_FILE": str(tmp_path)})


def test_an_unreadable_secret_file_is_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"MLWARDEN_MASTER_KEY_FILE names .*missing, which cannot be read") as caught:
        Settings.from_env(environ={"MLWARDEN_MASTER_KEY_FILE": str(tmp_path / "missing")})
    assert "\n" not in str(caught.value)
