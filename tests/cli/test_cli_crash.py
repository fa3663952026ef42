"""A decryption killed half-way leaves no trace: no OUT, and no partial plaintext under another name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlwarden import _fsio


@pytest.mark.slow
def test_sigkill_during_decrypt_leaves_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(MLWARDEN_HOME=str(tmp_path / "ws"), MLWARDEN_MASTER_KEY="B" * 43 + "=")
    mlwarden = [sys.executable, "-m", "mlwarden"]
    subprocess.run([*mlwarden, "init"], env=env, check=True, capture_output=True)
    plain = tmp_path / "plain.bin"
    with plain.open("wb") as out:
        for _ in range(160):
            out.write(os.urandom(1 << 20))
    sealed = tmp_path / "sealed.mlw"
    subprocess.run([*mlwarden, "encrypt", str(plain), "-o", str(sealed)], env=env, check=True, capture_output=True)
    plain.unlink()
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    started = time.perf_counter()
    subprocess.run([*mlwarden, "decrypt", str(sealed), "-o", str(out_dir / "x")], env=env, check=True)
    full = time.perf_counter() - started
    (out_dir / "x").unlink()

    killed_mid_write = 0
    for fraction in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        proc = subprocess.Popen(
            [*mlwarden, "decrypt", str(sealed), "-o", str(out_dir / "plain.bin")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(full * fraction)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = sorted(p.name for p in out_dir.iterdir())
        # Never a partial plaintext under any name: either nothing, or the whole OUT.
        assert left in ([], ["plain.bin"]), left
        if left:
            assert (out_dir / "plain.bin").stat().st_size == 160 << 20
            (out_dir / "plain.bin").unlink()
        else:
            assert proc.returncode == -signal.SIGKILL
            killed_mid_write += 1
    assert killed_mid_write >= 2, "no kill landed while the output was being written"


def test_atomic_output_without_unnamed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where O_TMPFILE is missing, a hidden named temporary file does the job, and is cleaned up on failure.
    monkeypatch.setattr(_fsio, "_open_unnamed", lambda directory, mode: None)
    target = tmp_path / "t"
    with _fsio.atomic_output(target) as handle:
        handle.write(b"one")
    assert target.read_bytes() == b"one"
    seen_while_writing: list[str] = []

    def failing_write() -> None:
        with _fsio.atomic_output(target) as handle:
            handle.write(b"two")
            seen_while_writing.extend(p.name for p in tmp_path.iterdir())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_write()
    assert any(name.startswith(".t.") for name in seen_while_writing)
    assert target.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["t"]


def test_atomic_output_uses_an_unnamed_file_here(tmp_path: Path) -> None:
    if _fsio._open_unnamed(tmp_path, 0o600) is None:
        pytest.skip("this filesystem has no O_TMPFILE")
    target = tmp_path / "t"
    with _fsio.atomic_output(target) as handle:
        handle.write(b"data")
        assert list(tmp_path.iterdir()) == []  # nothing visible while writing
    assert target.read_bytes() == b"data"
