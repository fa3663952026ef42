"""Files written by format version 1 stay readable by every later mlwarden (see tests/goldens/)."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import pytest

from mlwarden import Workspace
from mlwarden.config import Settings
from mlwarden.crypto import read_envelope_header

GOLDENS = Path(__file__).parent / "goldens" / "v1"
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
PASSPHRASE = "golden passphrase v1"
PLAINTEXT = b"mlwarden golden file, format version 1\n" * 100


@pytest.fixture
def goldens(tmp_path: Path) -> Path:
    # Work on a copy: opening a workspace may create its lock file, and the goldens stay pristine.
    copy = tmp_path / "v1"
    shutil.copytree(GOLDENS, copy)
    return copy


def _decrypt(ws: Workspace, path: Path) -> bytes:
    out = io.BytesIO()
    with path.open("rb") as src:
        ws.files.decrypt(src, out)
    return out.getvalue()


def test_env_workspace_v1_reads(goldens: Path) -> None:
    home = goldens / "env-workspace"
    ws = Workspace.open(home, settings=Settings(home=home, master_key=MASTER_KEY))
    assert [v.version for v in ws.keys.versions()] == [1, 2]
    assert ws.keys.primary == 2
    assert _decrypt(ws, goldens / "env-file.mlw") == PLAINTEXT
    assert _decrypt(ws, goldens / "env-empty.mlw") == b""
    header = read_envelope_header(io.BytesIO((goldens / "env-file.mlw").read_bytes()))
    assert header.kek_version == 1
    assert ws._data_keys.record(header.object_id).kek_version == 2


def test_passphrase_workspace_v1_reads(goldens: Path) -> None:
    home = goldens / "passphrase-workspace"
    ws = Workspace.open(home, settings=Settings(home=home, passphrase=PASSPHRASE))
    assert _decrypt(ws, goldens / "passphrase-file.mlw") == PLAINTEXT


def test_golden_layout_is_what_formats_md_says(goldens: Path) -> None:
    blob = (goldens / "env-file.mlw").read_bytes()
    assert blob[:6] == b"MLWENC"
    assert blob[6] == 1
    assert blob[7] == 0
    assert int.from_bytes(blob[44:46], "big") == 60
    assert blob[106] == 40  # the streaming header's length byte follows the 106-byte envelope header
    assert len(blob) == 106 + 40 + len(PLAINTEXT) + 16
