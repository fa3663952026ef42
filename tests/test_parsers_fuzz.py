"""Parsers of untrusted bytes fail only with mlwarden's own errors, whatever they are fed (hypothesis)."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden import MlwardenError, Workspace
from mlwarden.config import Settings
from mlwarden.crypto import read_envelope_header
from mlwarden.crypto._keyring import read_keyring_document
from mlwarden.crypto.hazmat import StreamingAead

KEY = base64.b64encode(bytes(32)).decode()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    home = tmp_path_factory.mktemp("fuzz") / "ws"
    return Workspace.init(home, settings=Settings(home=home, master_key=KEY))


@pytest.fixture(scope="module")
def sample(workspace: Workspace) -> bytes:
    out = io.BytesIO()
    workspace.files.encrypt(io.BytesIO(os.urandom(3000)), out)
    return out.getvalue()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_never_crash_the_envelope_reader(workspace: Workspace, data: bytes) -> None:
    with pytest.raises(MlwardenError):
        workspace.files.decrypt(io.BytesIO(data), io.BytesIO())


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    position=st.integers(min_value=0, max_value=3000 + 106 + 56 - 1),
    replacement=st.binary(min_size=1, max_size=8),
    cut=st.integers(min_value=0, max_value=40),
)
def test_spliced_envelopes_fail_cleanly(
    workspace: Workspace, sample: bytes, position: int, replacement: bytes, cut: int
) -> None:
    mutated = sample[:position] + replacement + sample[position + len(replacement) + cut :]
    if mutated == sample:
        return
    out = io.BytesIO()
    with pytest.raises(MlwardenError):
        workspace.files.decrypt(io.BytesIO(mutated), out)


@settings(max_examples=200)
@given(data=st.binary(max_size=200))
def test_header_parser_accepts_only_well_formed_headers(data: bytes) -> None:
    try:
        header = read_envelope_header(io.BytesIO(data))
    except MlwardenError:
        return
    assert data[:6] == b"MLWENC"
    assert len(header.raw) == 106


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values)
def test_keyring_parser_refuses_arbitrary_json(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    path = Path(tmp_path_factory.mktemp("kr")) / "keyring.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(MlwardenError):
        read_keyring_document(path)


@settings(max_examples=300)
@given(data=st.binary(max_size=300), ad=st.binary(max_size=16))
def test_streaming_aead_rejects_random_ciphertexts(data: bytes, ad: bytes) -> None:
    with pytest.raises(MlwardenError):
        StreamingAead(bytes(32)).decrypt_bytes(data, ad)
