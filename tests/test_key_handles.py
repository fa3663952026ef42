"""Every object that holds key material refuses to be pickled or copied, and shows no key in its repr.

One list for all of them (Tink's KeysetHandle rule): a new key-holding class is added here.
"""

from __future__ import annotations

import base64
import copy
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from mlwarden import Workspace
from mlwarden.config import Settings
from mlwarden.crypto import LocalMasterKey
from mlwarden.crypto.hazmat import StreamingAead

KEY = bytes(range(200, 232))


def _workspace(tmp_path: Path) -> Workspace:
    home = tmp_path / "ws"
    return Workspace.init(home, settings=Settings(home=home, master_key=base64.b64encode(KEY).decode()))


HANDLES: dict[str, Callable[[Path], object]] = {
    "StreamingAead": lambda _: StreamingAead(KEY),
    "LocalMasterKey": lambda _: LocalMasterKey(KEY, "env"),
    "Keyring": lambda tmp: _workspace(tmp)._keyring,
    "Workspace": _workspace,
}


@pytest.mark.parametrize("make", list(HANDLES.values()), ids=list(HANDLES))
def test_cannot_be_pickled_or_copied(tmp_path: Path, make: Callable[[Path], object]) -> None:
    handle = make(tmp_path)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(handle, protocol=protocol)
    with pytest.raises(TypeError):
        copy.copy(handle)
    with pytest.raises(TypeError):
        copy.deepcopy(handle)


@pytest.mark.parametrize("make", list(HANDLES.values()), ids=list(HANDLES))
def test_repr_shows_no_key(tmp_path: Path, make: Callable[[Path], object]) -> None:
    handle = make(tmp_path)
    text = repr(handle) + str(handle)
    for form in (KEY.hex(), base64.b64encode(KEY).decode(), repr(KEY)[2:-1]):
        assert form not in text
