"""Fixtures shared by the access tests: a throw-away env-key workspace and its first admin."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlwarden
from mlwarden.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())


@pytest.fixture
def admin(settings: Settings) -> Iterator[mlwarden.Workspace]:
    """The workspace as its first admin (created by init)."""
    ws = mlwarden.Workspace.init(settings=settings, key_source="env")
    yield ws
    ws.close()
