"""Key rotation survives a crash at any point: every object stays readable, a new run finishes.

Two angles: a deterministic one that stops the rotation at every single file replacement it makes
(what is on disk then is exactly what a SIGKILL at that moment leaves, since every write before it
was fsynced), and a real one that SIGKILLs ``mlwarden keys rotate`` at random moments.
"""

from __future__ import annotations

import base64
import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlwarden import Workspace
from mlwarden.config import Settings


class _Crash(Exception):
    pass


def _make_workspace(home: Path, key: str, objects: int) -> dict[bytes, tuple[bytes, bytes]]:
    ws = Workspace.init(home, settings=Settings(home=home, master_key=key))
    sealed: dict[bytes, tuple[bytes, bytes]] = {}
    for i in range(objects):
        object_id = os.urandom(16)
        plaintext = f"object {i} ".encode() * (i % 7 + 1)
        out = io.BytesIO()
        ws.files.seal_object(object_id, io.BytesIO(plaintext), out)
        sealed[object_id] = (plaintext, out.getvalue())
    return sealed


def _check_all_readable(home: Path, key: str, sealed: dict[bytes, tuple[bytes, bytes]]) -> dict[int, int]:
    ws = Workspace.open(home, settings=Settings(home=home, master_key=key))
    for object_id, (plaintext, ciphertext) in sealed.items():
        out = io.BytesIO()
        ws.files.open_object(object_id, io.BytesIO(ciphertext), out)
        assert out.getvalue() == plaintext
    return ws._data_keys.count_by_version()


def test_rotation_interrupted_at_every_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    home = tmp_path / "ws"
    sealed = _make_workspace(home, key, objects=12)
    real_replace = os.replace

    # Count the file replacements one rotation makes: keyring + one per data key + the identity key.
    calls = 0

    def counting(src: str, dst: str) -> None:
        nonlocal calls
        calls += 1
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", counting)
    Workspace.open(home, settings=Settings(home=home, master_key=key)).keys.rotate()
    monkeypatch.setattr(os, "replace", real_replace)
    assert calls == 1 + len(sealed) + 1

    mixed_states = 0
    for crash_at in range(calls + 1):
        done = 0

        def crashing(src: str, dst: str, crash_at: int = crash_at) -> None:
            nonlocal done
            if done == crash_at:
                raise _Crash
            done += 1
            real_replace(src, dst)

        ws = Workspace.open(home, settings=Settings(home=home, master_key=key))
        monkeypatch.setattr(os, "replace", crashing)
        try:
            ws.keys.rotate()
        except _Crash:
            pass
        finally:
            monkeypatch.setattr(os, "replace", real_replace)
        counts = _check_all_readable(home, key, sealed)
        assert sum(counts.values()) == len(sealed)
        if len(counts) > 1:
            mixed_states += 1
        # No temporary file is left visible as a record.
        assert not list((home / "keys").rglob("*.json.*"))

    assert mixed_states >= len(sealed) - 1  # the crash really landed between rewraps
    ws = Workspace.open(home, settings=Settings(home=home, master_key=key))
    result = ws.keys.rotate()
    assert result.rewrapped == len(sealed)
    assert _check_all_readable(home, key, sealed) == {result.new_version: len(sealed)}


@pytest.mark.slow
def test_rotation_survives_sigkill(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    home = tmp_path / "ws"
    # 200 objects (was 800): each rotation rewraps and fsyncs every data key, so the loop's time
    # grows with the count, while the kills' landing inside a rotation needs only a few of them.
    sealed = _make_workspace(home, key, objects=200)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(MLWARDEN_HOME=str(home), MLWARDEN_MASTER_KEY=key)
    command = [sys.executable, "-m", "mlwarden", "keys", "rotate"]

    # What a rotation costs before its first write (start-up and unlocking, as `keys ls` does) and
    # in all: the median of three runs each, so that one cold or disturbed run does not set the window.
    def timed(args: list[str]) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(args, env=env, check=True, capture_output=True)
            runs.append(time.perf_counter() - started)
        return sorted(runs)[1]

    reading = timed([*command[:-1], "ls"])
    full = max(timed(command), reading + 0.01)

    rng = random.Random(1234)
    kills = mid_rotation = 0
    for _ in range(16):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill moments drawn over the writing part of the run (after start-up, before a run a
        # little faster than the measured ones has finished).
        time.sleep(rng.uniform(reading, reading + 0.9 * (full - reading)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        counts = _check_all_readable(home, key, sealed)
        assert sum(counts.values()) == len(sealed)
        if len(counts) > 1:
            mid_rotation += 1
    assert kills >= 6
    assert mid_rotation >= 3, "no kill landed in the middle of a rotation; the test proved nothing"
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert len(_check_all_readable(home, key, sealed)) == 1
