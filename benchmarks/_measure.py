"""Small helpers shared by the benchmark scripts in this folder (stdlib only, cheap to import).

The benchmarks run every measurement in a child process of their own so that the child's peak
resident set size (``ru_maxrss``) belongs to the method measured and nothing else. The helpers
here are for the parent side: start such children, parse sizes, pick a working directory, hash
files and lay out tables. A measurement child should not import this module (``hashlib`` alone
maps a second OpenSSL, about 4 MiB of RSS that would be charged to the method measured); keep the
child's own imports to ``json``, ``os``, ``resource``, ``sys`` and ``time``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

_UNITS = {
    "": 1,
    "b": 1,
    "k": KIB,
    "kb": 1000,
    "kib": KIB,
    "m": MIB,
    "mb": 1000**2,
    "mib": MIB,
    "g": GIB,
    "gb": 1000**3,
    "gib": GIB,
    "t": 1 << 40,
    "tb": 1000**4,
    "tib": 1 << 40,
}


def parse_size(text: str) -> int:
    """``"1GiB"`` -> 1073741824; accepts B, KiB/MiB/GiB/TiB (and K/M/G/T, binary) and kB/MB/GB/TB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (try 1GiB, 64MiB, 500MB or a byte count)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 0 or value != int(value):
        raise ValueError(f"not a whole number of bytes: {text!r}")
    return int(value)


def format_size(n: float) -> str:
    """1073741824 -> ``"1 GiB"``; 67108864 -> ``"64 MiB"``; odd sizes get a decimal."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.2f} {unit}"
    return f"{n:.0f} B"


def peak_rss_kib(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident set size in KiB (``ru_maxrss``; Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(who).ru_maxrss
    return rss // KIB if sys.platform == "darwin" else rss


def pick_workdir(parent: str | None, need_bytes: int, prefix: str) -> tuple[Path, str]:
    """Create a fresh working directory and say where and why.

    With ``parent`` the directory is made inside it. Otherwise ``/dev/shm`` (memory-backed, so
    timings are not dominated by page-cache writeback to a real disk) when it exists and has
    ``need_bytes`` free, else the system temporary directory. Returns ``(path, explanation)``;
    the caller removes the directory when done.
    """
    if parent is not None:
        base = Path(parent)
        base.mkdir(parents=True, exist_ok=True)
        why = "given with --dir"
    else:
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= need_bytes:
            base = shm
            why = "/dev/shm, memory-backed"
        else:
            base = Path(tempfile.gettempdir())
            why = (
                "system temp dir: /dev/shm missing or short of room"
                f" (need {format_size(need_bytes)}); real-disk timings include page-cache writeback noise"
            )
    free = shutil.disk_usage(base).free
    if free < need_bytes:
        why += f"; WARNING only {format_size(free)} free, need about {format_size(need_bytes)}"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base)), why


def filesystem_type(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or ``"?"``."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "?"
    best, fstype = "", "?"
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3:
            mount = fields[1]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, fstype = mount, fields[2]
    return fstype


def write_random_file(path: Path, size: int, chunk: int = MIB) -> str:
    """Write ``size`` random bytes to ``path`` in ``chunk``-sized pieces; returns their SHA-256 hex."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(chunk, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def prefault_memory(directory: Path, size: int, chunk: int = MIB) -> None:
    """Write ``size`` bytes to a scratch file in ``directory`` (meant for tmpfs) and delete it.

    On a virtual machine whose host backs guest memory lazily, or takes freed guest memory back
    (virtio-balloon free page reporting, after about two seconds), touching such a page costs a
    host-side fault, so a run that writes its output to fresh tmpfs pages measures the host more
    than itself (seen: the same run at 350 MiB/s, then 3,000 MiB/s). Called right before a timed
    run, this leaves that many bytes of freshly touched free pages for the run to take.
    """
    scratch = directory / "prefault.tmp"
    block = bytes(chunk)
    try:
        with open(scratch, "wb") as f:
            for _ in range(size // chunk):
                f.write(block)
    finally:
        scratch.unlink(missing_ok=True)


def sha256_file(path: Path, chunk: int = MIB) -> str:
    """SHA-256 hex of a file, streamed in ``chunk``-sized reads."""
    digest = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class ChildError(RuntimeError):
    """A measurement child exited badly or printed no result."""


def run_child(argv: Sequence[str], spec: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``argv`` with ``spec`` as JSON on stdin; return the JSON object on the last stdout line.

    Used with a script's own ``--child`` mode: the child reads its spec, does (and times) one
    piece of work, and prints ``{"seconds": ..., "peak_rss_kib": ...}``. Raises :class:`ChildError`
    with the last line of the child's stderr when it fails.
    """
    proc = subprocess.run(
        list(argv),
        input=json.dumps(dict(spec)),
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ChildError(tail)
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def machine_summary() -> str:
    """One line: CPU model, logical cores, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    py = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, {py}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> str:
    """A plain-text table with aligned columns; ``right[i]`` right-aligns column ``i``."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            aligned = cell.rjust(widths[i]) if i < len(right) and right[i] else cell.ljust(widths[i])
            out.append(aligned)
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> str:
    """The same table in GitHub-flavoured markdown."""

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    align = ["---:" if i < len(right) and right[i] else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(esc(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def package_versions(*dists: str) -> dict[str, str]:
    """Installed versions of ``dists`` and of the OpenSSL that pyca/cryptography uses."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        out["openssl"] = backend.openssl_version_text()
    except Exception:
        out["openssl"] = "?"
    return out
