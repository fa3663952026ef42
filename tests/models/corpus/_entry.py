"""The corpus's record type, where each file's canary lives, and the small byte builders both halves share.

An :class:`Entry` is one file: its name in the corpus folder, its class (the bullet of issue 14's first
deliverable it belongs to, or the real-world kind of a harmless file), ``build(path) -> path`` and, for a
hostile file, the :class:`Proof`: how its usual loader opens it. A payload only ever creates its canary
(:func:`canary_for`): a file in the corpus's ``canary/`` folder named after the entry. Nothing here loads
anything; :mod:`._runner` does, in its own process.
"""

from __future__ import annotations

import dataclasses
import io
import shlex
import struct
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "Entry",
    "Proof",
    "R",
    "canary_for",
    "g0",
    "s0",
    "shell_touch",
    "tar_bytes",
    "u4",
    "zip_bytes",
]


@dataclasses.dataclass(frozen=True)
class Proof:
    """How the usual loader opens a hostile file (see :mod:`._runner` for each ``loader``).

    ``member``: the archive member it loads (``#N``: the Nth tar member); ``inner``: the loader of that
    member's bytes."""

    loader: str
    member: str | None = None
    inner: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One corpus file. ``cls``: its class. ``critical``: the payload runs code or writes a file, so the
    scanner must rate it CRITICAL. ``clean_today`` / ``below_critical_today``: the root cause (issue 14,
    deliverable 1, bullet N) because of which this branch's scanner still passes it as clean / rates it
    below CRITICAL (the tests mark those xfail(strict=True), so they flip once the fix lands); for a
    harmless file, ``clean_today`` says why it still raises an alarm or is not scanned."""

    name: str
    cls: str
    build: Callable[[Path], Path]
    proof: Proof | None = None
    critical: bool = True
    clean_today: str | None = None
    below_critical_today: str | None = None

    @property
    def hostile(self) -> bool:
        return self.proof is not None


def canary_for(path: Path) -> Path:
    """The file a payload built into ``path`` creates: ``<corpus>/canary/<name>``."""
    return path.parent.parent / "canary" / path.name


def shell_touch(path: Path) -> str:
    return f"touch {shlex.quote(str(canary_for(path)))}"


class R:
    """Pickles as ``func(*args)``: what an attacker's ``__reduce__`` returns."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def g0(module: str, name: str) -> bytes:
    """Protocol 0 GLOBAL."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def s0(text: str) -> bytes:
    """Protocol 0 STRING (quoted like repr, escapes decoded by the unpickler)."""
    return b"S" + repr(text).encode() + b"\n"


def u4(text: str) -> bytes:
    """BINUNICODE."""
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def zip_bytes(members: Sequence[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: Sequence[tuple[str, bytes]], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()
