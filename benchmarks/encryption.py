"""Encryption throughput and peak memory: mlwarden against the baselines, side by side in one run.

What it measures
    One random input file (1 GiB by default) is encrypted and the ciphertext decrypted again by
    each method below, in turn, ``--repeat`` times (methods interleaved: a, b, c, d, e, a, b, ...
    so that drift on the machine hits them all alike). Every encryption and every decryption runs
    in a child process of its own, so the peak resident set size reported is that method's alone
    (``VmHWM`` on Linux: ``ru_maxrss`` of a child started by ``subprocess`` would include the
    parent's peak, see ``_peak_rss_kib``); it includes the Python interpreter itself, whose
    baseline is printed too.
    Throughput is plaintext MiB per second of wall time (median over the repeats); the time is
    taken inside the child around the work only (open the files, transform, close the output),
    so interpreter start-up and imports are excluded. Peak RSS is the largest seen over the
    repeats. Each decryption's output is checked against the input (SHA-256, outside the timed
    region) and the output files are removed between runs.

    (a) bare loop: 1 MiB ``read`` chunks, ``AESGCM(key).encrypt(nonce_i, chunk, None)`` from
        pyca/cryptography, written out; decryption reads 1 MiB + 16 chunks. Not a secure file
        format (no header, truncation at a chunk boundary goes unnoticed). The issue takes it as
        the limit for any format; it is the limit for the naive loop, which allocates two fresh
        1 MiB objects per chunk and runs on one core, so a format that encrypts into reused
        buffers (``encrypt_into``) and writes on a second thread can beat it.
    (b) Tink streaming AEAD, ``AES256_GCM_HKDF_1MB`` (the ``tink`` package), copied through with
        1 MiB chunks. mlwarden's format is byte-compatible with this one.
    (c) Fernet (``cryptography.fernet``) on the whole file: read it all, ``encrypt``, write. The
        tutorial approach; slow, and memory grows with the file. ``--skip-fernet`` leaves it out.
    (d) mlwarden hazmat: ``mlwarden.crypto.hazmat.StreamingAead(key).encrypt(fin, fout)`` and
        ``.decrypt(fin, fout)`` on raw key bytes.
    (e) mlwarden envelope encryption through the safe tier, the real product path: the CLI,
        ``mlwarden encrypt IN -o OUT`` / ``mlwarden decrypt IN -o OUT``, in a workspace made once
        with ``mlwarden init`` (``MLWARDEN_HOME`` and ``MLWARDEN_MASTER_KEY`` set). Here the time
        is the whole CLI process, start-up included, and the peak RSS is the CLI process's
        (``RUSAGE_CHILDREN`` in a fresh wrapper process per run). If the CLI is missing or
        ``mlwarden init`` fails, the row says "not available" and the rest still runs.

    The targets from the issue are checked for (d) and (e), for encryption and decryption apart:
    at least 0.8x the bare loop, at least 2x Tink, at least 30x Fernet, and peak RSS under 64 MiB.

Where the files go
    By default a fresh directory under ``/dev/shm`` (memory-backed) when it exists and has room
    for the input, one ciphertext and one decrypted copy, else the system temporary directory.
    Writing to a real disk measures page-cache writeback more than encryption. ``--dir PARENT``
    puts the working directory inside PARENT instead. It is removed at the end either way.

    On tmpfs, right before every run, the parent writes and deletes a scratch file of twice the
    input size (untimed), so that the run's output lands on memory pages that were touched a
    moment ago. On a virtual machine with free page reporting (virtio-balloon, as on the machine
    this was written on) memory freed for a couple of seconds goes back to the host, and touching
    it again costs a host-side fault per page: without the scratch file the same run measured
    anywhere from 350 to 3,000 MiB/s. ``--no-prefault`` turns it off.

How to run (from the repository root)::

    .venv/bin/python benchmarks/encryption.py                         # 1 GiB, 3 repeats
    .venv/bin/python benchmarks/encryption.py --size 64MiB --repeat 1 # quick look
    .venv/bin/python benchmarks/encryption.py --markdown              # also a table for the README
    .venv/bin/python benchmarks/encryption.py --json > bench.json     # machine-readable only

Needs ``tink`` (in the ``test`` extra: ``pip install -e '.[test]'``); ``make bench`` runs it.
"""

from __future__ import annotations

# The child side comes first and exits before the parent's imports, so a measurement child loads
# only what is below plus its method's own library (the interpreter alone is about 9 MiB of RSS;
# argparse, subprocess, hashlib and friends would add 6 more to every figure).
# ruff: noqa: E402
import base64
import json
import os
import resource
import sys
import time
from typing import Any

CHUNK = 1 << 20
TAG = 16


# --------------------------------------------------------------------------------------------
# Child side: one method, one direction, one run. Imports happen here, before the clock starts.
# --------------------------------------------------------------------------------------------


def _bare(op: str, key: bytes, src: str, dst: str) -> float:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    size = CHUNK if op == "encrypt" else CHUNK + TAG
    transform = aead.encrypt if op == "encrypt" else aead.decrypt
    start = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        index = 0
        while chunk := fin.read(size):
            fout.write(transform(index.to_bytes(12, "big"), chunk, None))
            index += 1
    return time.perf_counter() - start


def _tink(op: str, key: bytes, src: str, dst: str) -> float:
    import shutil

    from tink import cleartext_keyset_handle, streaming_aead
    from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

    streaming_aead.register()
    params = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
        ciphertext_segment_size=1 << 20, derived_key_size=32, hkdf_hash_type=common_pb2.SHA256
    )
    raw = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(version=0, key_value=key, params=params)
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url="type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey",
                    value=raw.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    primitive = cleartext_keyset_handle.from_keyset(keyset).primitive(streaming_aead.StreamingAead)
    start = time.perf_counter()
    if op == "encrypt":
        # The encrypting stream closes the file it writes to.
        with open(src, "rb") as fin, primitive.new_encrypting_stream(open(dst, "wb"), b"") as enc:
            shutil.copyfileobj(fin, enc, CHUNK)
    else:
        # The decrypting stream closes the file it reads from.
        with primitive.new_decrypting_stream(open(src, "rb"), b"") as dec, open(dst, "wb") as fout:
            shutil.copyfileobj(dec, fout, CHUNK)
    return time.perf_counter() - start


def _fernet(op: str, key: bytes, src: str, dst: str) -> float:
    from cryptography.fernet import Fernet

    fernet = Fernet(base64.urlsafe_b64encode(key))
    transform = fernet.encrypt if op == "encrypt" else fernet.decrypt
    start = time.perf_counter()
    with open(src, "rb") as fin:
        data = fin.read()
    out = transform(data)
    del data
    with open(dst, "wb") as fout:
        fout.write(out)
    return time.perf_counter() - start


def _hazmat(op: str, key: bytes, src: str, dst: str) -> float:
    from mlwarden.crypto.hazmat import StreamingAead

    aead = StreamingAead(key)
    transform = aead.encrypt if op == "encrypt" else aead.decrypt
    start = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        transform(fin, fout)
    return time.perf_counter() - start


def _peak_rss_kib(who: int = resource.RUSAGE_SELF) -> int:
    """This process's peak resident set size in KiB since it started running this program.

    On Linux that is ``VmHWM`` from ``/proc/self/status``, the high-water mark of the memory map
    made by ``exec``. ``ru_maxrss`` would be the same but for a kernel detail: ``exec`` carries
    over the high-water mark of the map it replaces, which for a child started with ``vfork``
    (as :mod:`subprocess` does) is the parent's, so every child would report at least the
    parent's peak. ``ru_maxrss`` is the fallback elsewhere, and the only way to see a child's
    peak after it has been waited on (``RUSAGE_CHILDREN``, for the CLI run by ``_envelope``).
    """
    if who == resource.RUSAGE_SELF:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    rss = resource.getrusage(who).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss  # macOS reports bytes, Linux KiB


def _envelope(spec: dict[str, Any]) -> dict[str, Any]:
    """A wrapper: time the whole CLI process and read its peak RSS once it has been waited on.

    The CLI's ``ru_maxrss`` cannot read below this wrapper's own peak (about 12 MiB, see
    ``_peak_rss_kib``), which is well under what the CLI itself needs.
    """
    import subprocess

    op = spec["op"]
    argv = [spec["cli"], op, spec["src"], "-o", spec["dst"]]
    env = {**os.environ, **spec["env"]}
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(f"mlwarden {op} failed ({proc.returncode}): {lines[-1] if lines else 'no message'}")
    return {"seconds": seconds, "peak_rss_kib": _peak_rss_kib(resource.RUSAGE_CHILDREN)}


def _child_main() -> int:
    """``--child``: read a JSON spec on stdin, do one timed run, print ``{"seconds", "peak_rss_kib"}``."""
    spec: dict[str, Any] = json.loads(sys.stdin.read())
    method = spec["method"]
    if method == "null":  # the interpreter and the imports above, nothing else
        result = {"seconds": 0.0, "peak_rss_kib": _peak_rss_kib()}
    elif method == "envelope":
        result = _envelope(spec)
    else:
        work = {"bare": _bare, "tink": _tink, "fernet": _fernet, "hazmat": _hazmat}[method]
        seconds = work(spec["op"], bytes.fromhex(spec["key"]), spec["src"], spec["dst"])
        result = {"seconds": seconds, "peak_rss_kib": _peak_rss_kib()}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    sys.exit(_child_main())


# --------------------------------------------------------------------------------------------
# Parent side: set up, run the children interleaved, verify, report.
# --------------------------------------------------------------------------------------------

import argparse
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (
    KIB,
    MIB,
    ChildError,
    filesystem_type,
    format_size,
    machine_summary,
    markdown_table,
    median,
    package_versions,
    parse_size,
    pick_workdir,
    prefault_memory,
    remove,
    run_child,
    sha256_file,
    text_table,
    write_random_file,
)

# Method ids in run order, with their table labels.
METHODS: dict[str, str] = {
    "bare": "(a) bare loop: cryptography AESGCM, 1 MiB chunks",
    "tink": "(b) Tink streaming AEAD, AES256_GCM_HKDF_1MB",
    "fernet": "(c) Fernet, whole file",
    "hazmat": "(d) mlwarden hazmat StreamingAead",
    "envelope": "(e) mlwarden envelope (CLI, incl. start-up)",
}
BASELINES = ("bare", "tink", "fernet")
OURS = ("hazmat", "envelope")
OPS = ("encrypt", "decrypt")

# Targets: mlwarden throughput over the baseline's, at least this much; and peak RSS below this.
RATIO_TARGETS: dict[str, float] = {"bare": 0.8, "tink": 2.0, "fernet": 30.0}
RSS_TARGET_MIB = 64.0


@dataclass
class Series:
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def mib_s(self, size: int) -> float:
        return size / MIB / median(self.seconds)

    def range_mib_s(self, size: int) -> tuple[float, float]:
        return size / MIB / max(self.seconds), size / MIB / min(self.seconds)

    def peak_rss_mib(self) -> float:
        return max(self.rss_kib) / KIB


@dataclass
class MethodResult:
    method: str
    ops: dict[str, Series] = field(default_factory=lambda: {op: Series() for op in OPS})
    unavailable: str | None = None  # why the method could not be measured

    @property
    def ok(self) -> bool:
        return self.unavailable is None and all(s.seconds for s in self.ops.values())


def _child_argv() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child"]


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _last_line(text: str, fallback: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else fallback


def _setup_envelope(workdir: Path) -> tuple[dict[str, Any] | None, str | None, float | None]:
    """Make the workspace once. Returns (spec fields, reason it is unavailable, CLI start-up seconds)."""
    cli = Path(sys.executable).parent / "mlwarden"
    if not cli.exists():
        return None, f"no mlwarden executable next to {sys.executable}", None
    env = {
        "MLWARDEN_HOME": str(workdir / "ws"),
        "MLWARDEN_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    try:
        proc = subprocess.run(
            [str(cli), "init"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"mlwarden init: {exc}", None
    if proc.returncode != 0:
        reason = _last_line(proc.stderr or proc.stdout, f"exit status {proc.returncode}")
        return None, f"mlwarden init failed: {reason}", None
    # Rough CLI start-up cost (one `--help`), to read the envelope row against.
    start = time.perf_counter()
    subprocess.run([str(cli), "--help"], env={**os.environ, **env}, capture_output=True, check=False)
    startup = time.perf_counter() - start
    return {"cli": str(cli), "env": env}, None, startup


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    quiet = args.json
    size: int = args.size
    methods = [m for m in METHODS if not (m == "fernet" and args.skip_fernet)]
    biggest_ciphertext = size * 4 // 3 + 4 * MIB if "fernet" in methods else size + size // 16 + MIB
    # Input, a ciphertext, and the larger of a decrypted copy or the scratch file.
    need = size + biggest_ciphertext + 2 * size + 64 * MIB
    workdir, why = pick_workdir(args.dir, need, "mlwarden-bench-")
    try:
        fstype = filesystem_type(workdir)
        _log(quiet, f"working directory: {workdir} on {fstype} ({why})")
        plain = workdir / "input.bin"
        sealed = workdir / "sealed.bin"
        opened = workdir / "opened.bin"
        _log(quiet, f"writing {format_size(size)} of random bytes ...")
        expected = write_random_file(plain, size)
        prefault = fstype == "tmpfs" and not args.no_prefault

        results = {m: MethodResult(m) for m in methods}
        keys = {m: os.urandom(32).hex() for m in methods}
        envelope, reason, cli_startup = _setup_envelope(workdir)
        if reason is not None:
            results["envelope"].unavailable = reason
            _log(quiet, f"envelope (CLI): not available: {reason}")

        baseline_rss = run_child(_child_argv(), {"method": "null", "op": "none"})["peak_rss_kib"] / KIB
        load_before = os.getloadavg()

        for rep in range(1, args.repeat + 1):
            for method in methods:
                result = results[method]
                if result.unavailable is not None:
                    continue
                for op, src, dst in (("encrypt", plain, sealed), ("decrypt", sealed, opened)):
                    spec: dict[str, Any] = {"method": method, "op": op, "src": str(src), "dst": str(dst)}
                    spec.update((envelope or {}) if method == "envelope" else {"key": keys[method]})
                    if prefault:
                        prefault_memory(workdir, 2 * size)
                    try:
                        out = run_child(_child_argv(), spec)
                    except ChildError as exc:
                        result.unavailable = f"{op} failed: {exc}"
                        break
                    series = result.ops[op]
                    series.seconds.append(out["seconds"])
                    series.rss_kib.append(out["peak_rss_kib"])
                    _log(
                        quiet,
                        f"[{rep}/{args.repeat}] {method:8} {op}: {size / MIB / out['seconds']:9.1f} MiB/s,"
                        f" peak RSS {out['peak_rss_kib'] / KIB:8.1f} MiB",
                    )
                if result.unavailable is None and sha256_file(opened) != expected:
                    result.unavailable = "decrypted output does not match the input"
                if result.unavailable is not None:
                    label = "envelope (CLI)" if method == "envelope" else method
                    _log(quiet, f"{label}: not available: {result.unavailable}")
                remove(sealed, opened)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    return _summarise(
        args,
        results,
        why=why,
        fstype=fstype,
        workdir=str(workdir),
        baseline_rss=baseline_rss,
        cli_startup=cli_startup,
        prefault=prefault,
        load=(load_before[0], load_after[0]),
    )


def _versions() -> dict[str, str]:
    return package_versions("cryptography", "tink", "mlwarden")


def _summarise(args: argparse.Namespace, results: dict[str, MethodResult], **info: Any) -> dict[str, Any]:
    size: int = args.size
    methods: dict[str, Any] = {}
    for method, result in results.items():
        entry: dict[str, Any] = {"label": METHODS[method], "available": result.ok}
        if not result.ok:
            entry["reason"] = result.unavailable or "no runs"
        else:
            for op, series in result.ops.items():
                low, high = series.range_mib_s(size)
                entry[op] = {
                    "mib_per_s": series.mib_s(size),
                    "mib_per_s_min": low,
                    "mib_per_s_max": high,
                    "peak_rss_mib": series.peak_rss_mib(),
                    "seconds": series.seconds,
                    "rss_kib": series.rss_kib,
                }
        methods[method] = entry

    targets: list[dict[str, Any]] = []
    for ours in OURS:
        for op in OPS:
            row: dict[str, Any] = {"method": ours, "op": op}
            mine = methods.get(ours, {}).get(op)
            for base in BASELINES:
                theirs = methods.get(base, {}).get(op)
                if mine is None or theirs is None:
                    row[base] = None
                else:
                    ratio = mine["mib_per_s"] / theirs["mib_per_s"]
                    row[base] = {
                        "ratio": ratio,
                        "target": RATIO_TARGETS[base],
                        "met": ratio >= RATIO_TARGETS[base],
                    }
            row["rss"] = (
                None
                if mine is None
                else {
                    "mib": mine["peak_rss_mib"],
                    "target": RSS_TARGET_MIB,
                    "met": mine["peak_rss_mib"] < RSS_TARGET_MIB,
                }
            )
            targets.append(row)

    return {
        "size_bytes": size,
        "repeat": args.repeat,
        "workdir": info["workdir"],
        "workdir_fs": info["fstype"],
        "workdir_why": info["why"],
        "machine": machine_summary(),
        "versions": _versions(),
        "interpreter_baseline_rss_mib": info["baseline_rss"],
        "cli_startup_s": info["cli_startup"],
        "prefault": info["prefault"],
        "loadavg_1min_before_after": list(info["load"]),
        "methods": methods,
        "targets": targets,
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _tables(
    report: dict[str, Any],
) -> tuple[list[str], list[list[str]], list[bool], list[str], list[list[str]], list[bool]]:
    repeat = report["repeat"]
    h1 = ["Method", "Enc MiB/s", "Enc range", "Enc peak RSS", "Dec MiB/s", "Dec range", "Dec peak RSS"]
    r1: list[list[str]] = []
    for entry in report["methods"].values():
        if not entry["available"]:
            name = "(e) envelope (CLI)" if entry["label"].startswith("(e)") else entry["label"]
            r1.append([f"{name}: not available: {entry['reason']}", "", "", "", "", "", ""])
            continue
        cells = [entry["label"]]
        for op in OPS:
            o = entry[op]
            spread = f"{o['mib_per_s_min']:.0f}-{o['mib_per_s_max']:.0f}" if repeat > 1 else "-"
            cells += [f"{o['mib_per_s']:.1f}", spread, f"{o['peak_rss_mib']:.1f} MiB"]
        r1.append(cells)

    h2 = [
        "mlwarden vs baseline",
        "vs bare loop (>= 0.8x)",
        "vs Tink (>= 2x)",
        "vs Fernet (>= 30x)",
        f"peak RSS (< {RSS_TARGET_MIB:.0f} MiB)",
    ]
    r2: list[list[str]] = []
    for row in report["targets"]:
        name = f"{'hazmat' if row['method'] == 'hazmat' else 'envelope (CLI)'} {row['op']}"
        if row["rss"] is None:
            r2.append([name, "not available", "", "", ""])
            continue
        cells = [name]
        for base in BASELINES:
            cell = row[base]
            if cell is None:
                skipped = base == "fernet" and "fernet" not in report["methods"]
                cells.append("n/a (skipped)" if skipped else "n/a")
            else:
                cells.append(f"{cell['ratio']:.2f}x {'met' if cell['met'] else 'NOT met'}")
        rss = row["rss"]
        cells.append(f"{rss['mib']:.1f} MiB {'met' if rss['met'] else 'NOT met'}")
        r2.append(cells)
    right1 = [False, True, True, True, True, True, True]
    right2 = [False, True, True, True, True]
    return h1, r1, right1, h2, r2, right2


def _verdict(report: dict[str, Any]) -> str:
    checks = [
        cell["met"] for row in report["targets"] for key in (*BASELINES, "rss") if (cell := row.get(key)) is not None
    ]
    missing = sum(1 for row in report["targets"] if row["rss"] is None)
    text = f"targets met: {sum(checks)} of {len(checks)}"
    if missing:
        text += f" ({missing} mlwarden rows not measured)"
    return text


def _preamble(report: dict[str, Any]) -> list[str]:
    v = report["versions"]
    size = format_size(report["size_bytes"])
    startup = report["cli_startup_s"]
    before, after = report["loadavg_1min_before_after"]
    return [
        f"Encryption benchmark: {size} file, {report['repeat']} run(s) per method,"
        " every encryption and decryption in a process of its own",
        f"files: {report['workdir']} on {report['workdir_fs']} ({report['workdir_why']})"
        + ("; memory pre-touched before each run" if report["prefault"] else ""),
        f"machine: {report['machine']}; 1-minute load average {before:.2f} before, {after:.2f} after",
        f"versions: cryptography {v['cryptography']} ({v['openssl']}), tink {v['tink']}, mlwarden {v['mlwarden']}",
        "MiB/s: plaintext MiB per second of wall time, median over the runs (range: slowest-fastest run);"
        " (a)-(d) time the work only,",
        "  (e) the whole CLI process, start-up included"
        + (f" (`mlwarden --help` alone takes about {startup * 1000:.0f} ms)." if startup is not None else "."),
        "peak RSS: the largest over the runs (VmHWM; for (e) the CLI's ru_maxrss), interpreter included"
        f" ({report['interpreter_baseline_rss_mib']:.1f} MiB for an idle child).",
    ]


def print_report(report: dict[str, Any], markdown: bool) -> None:
    h1, r1, right1, h2, r2, right2 = _tables(report)
    print("\n".join(_preamble(report)))
    print()
    print(text_table(h1, r1, right1))
    print()
    print(text_table(h2, r2, right2))
    print()
    print(_verdict(report))
    if markdown:
        print()
        print("Markdown:")
        print()
        for line in _preamble(report):
            print(line.strip() + "  ")
        print()
        print(markdown_table(h1, r1, right1))
        print()
        print(markdown_table(h2, r2, right2))
        print()
        print(_verdict(report))


def _size(text: str) -> int:
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1:
        raise argparse.ArgumentTypeError("the size must be at least one byte")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--size", type=_size, default="1GiB", help="input size, e.g. 1GiB, 64MiB (default 1GiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the median is reported (default 3)")
    parser.add_argument(
        "--dir",
        help="parent of the working directory (default: /dev/shm when it has room, else the temp dir)",
    )
    parser.add_argument("--skip-fernet", action="store_true", help="leave out Fernet (the slow one)")
    parser.add_argument("--json", action="store_true", help="print only a JSON report on stdout")
    parser.add_argument(
        "--no-prefault", action="store_true", help="do not touch fresh memory pages before each run (tmpfs)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as markdown")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    report = run_benchmark(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
