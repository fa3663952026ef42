"""The pickle scanner against malicious files: every payload kind modelscan's and fickling's test suites
cover, at every pickle protocol it can be written in, bare and inside joblib, NumPy, PyTorch, zip and tar
files; malformed and truncated pickles; arbitrary and mutated bytes (hypothesis); a differential check
against an independent :mod:`pickletools` walk; and a canary that proves nothing is ever run or imported.

Nothing here unpickles a payload. Known scanner bugs are ``xfail(strict=True)`` tests whose reason says
what goes wrong; each one turns into a failure (XPASS) once the scanner is fixed.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import _payloads as P
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.models import FileScan, Finding, ScanReport, Severity, scan, scan_bytes, scan_file
from mlwarden.models._allowlist import classify_import

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IMPORT_KINDS = ("import",)


def exit_code(fs: FileScan) -> int:
    return ScanReport((fs,), 0.0).exit_code


def expected_offsets(stream: bytes, start: int, name: str) -> set[int]:
    """Where the reference walk finds imports that a finding would call ``name``."""
    try:
        found = P.reference_imports(stream, start)
    except Exception:  # a stream pickletools cannot walk (truncated): no reference offsets
        return set()
    return {off for off, _, m, n in found if m is not None and P.shown_name(m, n) == name}


def check(payload: P.Payload, fs: FileScan) -> None:
    """Every expected finding is there, with its severity, kind, archive path and the importing opcode's offset."""
    stream = payload.stream if payload.stream is not None else payload.data
    for exp in payload.expect:
        matches = [f for f in fs.findings if (f.name, f.inner, f.kind) == (exp.name, exp.inner, exp.kind)]
        assert matches, f"{payload.id}: no finding named {exp.name!r} at {exp.inner!r}; got {describe(fs.findings)}"
        assert {f.severity for f in matches} == {exp.severity}, describe(matches)
        if exp.offset is not None:
            assert exp.offset in {f.offset for f in matches}, (exp.offset, describe(matches))
        for f in matches:
            assert f.offset is not None
            if exp.kind in ("import", "dynamic-import"):
                assert stream[f.offset] in P.IMPORT_OPCODES, (f.offset, stream[f.offset : f.offset + 8])
            if exp.offset is None and exp.kind in IMPORT_KINDS:
                reference = expected_offsets(stream, payload.stream_start, exp.name)
                if reference:
                    assert f.offset in reference, (f.offset, reference)
            assert f.path == fs.path


def describe(findings: Iterable[Finding]) -> list[tuple[str, str, str, str, int | None]]:
    return [(f.severity.name, f.kind, f.name, f.inner, f.offset) for f in findings]


def scanned(payload: P.Payload) -> FileScan:
    fs = scan_bytes(payload.data, payload.filename)
    assert fs.error is None, f"{payload.id}: {fs.error}"
    assert exit_code(fs) == 1
    check(payload, fs)
    return fs


# ---------------------------------------------------------------------------------------------
# pickle.dumps payloads (a real pickler writes them), at protocols 0-5
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", P.PROTOCOLS)
@pytest.mark.parametrize("kind", P.REDUCE_KINDS)
def test_reduce_payloads_are_critical(kind: str, protocol: int) -> None:
    payload = P.reduce_payload(kind, protocol)
    fs = scanned(payload)
    assert fs.format == "pickle"
    assert max(f.severity for f in fs.findings) is Severity.CRITICAL


def test_python2_names_are_resolved_and_shown_with_their_origin() -> None:
    """Below protocol 3 the pickler writes Python 2 names; findings give the name the unpickler resolves."""
    import subprocess as sp
    import urllib.request

    cases = [
        (eval, "builtins.eval (from __builtin__.eval)"),
        (sp.getoutput, "subprocess.getoutput (from commands.getoutput)"),
        (sp.Popen, "subprocess.Popen (from commands.Popen)"),
        (urllib.request.urlopen, "urllib.request.urlopen (from urllib.urlopen)"),
    ]
    for func, shown in cases:
        for protocol in (0, 1, 2):
            fs = scan_bytes(P.reduce_pickle(func, ("x",), protocol), "p.pkl")
            assert shown in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}, describe(fs.findings)
        fs = scan_bytes(P.reduce_pickle(func, ("x",), 3), "p.pkl")
        assert shown.split(" (from")[0] in {f.name for f in fs.findings}


# ---------------------------------------------------------------------------------------------
# hand-assembled payloads, each at every protocol it can be written in
# ---------------------------------------------------------------------------------------------

HAND = [p for proto in P.PROTOCOLS for p in P.hand_payloads(proto)]


@pytest.mark.parametrize("payload", HAND, ids=[p.id for p in HAND])
def test_hand_payloads(payload: P.Payload) -> None:
    fs = scanned(payload)
    assert fs.format == "pickle"


def test_hand_payloads_cover_every_protocol_they_exist_in() -> None:
    by_kind: dict[str, set[int]] = {}
    for p in HAND:
        by_kind.setdefault(p.kind, set()).add(p.protocol)  # type: ignore[arg-type]
    first = {"NEWOBJ": 2, "NEWOBJ_EX": 4, "EXT1": 2, "EXT2": 2, "EXT4": 2, "dynamic-import": 4}
    for kind, protocols in by_kind.items():
        start = 4 if kind.startswith("STACK_GLOBAL") else first.get(kind, 0)
        assert protocols == set(range(start, 6)), kind


@pytest.mark.parametrize("payload", P.modelscan_fixtures(), ids=lambda p: p.id)
def test_modelscan_fixtures(payload: P.Payload) -> None:
    scanned(payload)


def test_dynamic_import_names_nothing_it_cannot_know() -> None:
    (payload,) = [p for p in P.hand_payloads(4) if p.kind == "dynamic-import"]
    fs = scan_bytes(payload.data, "d.pkl")
    dynamic = [f for f in fs.findings if f.kind == "dynamic-import"]
    assert len(dynamic) == 1
    assert dynamic[0].name == "?"
    assert "os" not in {f.name.split(".")[0] for f in fs.findings}  # it does not run the computation


def test_extension_and_persistent_id_severities_are_documented() -> None:
    ext = next(p for p in P.hand_payloads(2) if p.kind == "EXT1")
    fs = scan_bytes(ext.data, "e.pkl")
    assert [f.severity for f in fs.findings if f.kind == "extension"] == [Severity.CRITICAL]
    pid = next(p for p in P.hand_payloads(2) if p.kind == "persistent-id")
    fs = scan_bytes(pid.data, "p.pkl")
    assert [(f.severity, f.kind) for f in fs.findings] == [(Severity.MEDIUM, "persistent-id")]


def test_call_of_a_call_result_is_medium_indirect_call() -> None:
    chain = next(p for p in P.hand_payloads(3) if p.kind == "getattr-chain")
    fs = scan_bytes(chain.data, "c.pkl")
    assert (Severity.MEDIUM, "indirect-call") in {(f.severity, f.kind) for f in fs.findings}


# ---------------------------------------------------------------------------------------------
# a second pickle in the same file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [pytest.param(a, b, marks=[], id=f"first-p{a}-second-p{b}") for a in P.PROTOCOLS for b in P.PROTOCOLS],
)
def test_attack_in_a_second_pickle(first: int, second: int) -> None:
    benign = pickle.dumps(["a", "b", "c"], protocol=first)
    evil = P.reduce_pickle(os.system, ("id",), second)
    data = benign + evil
    fs = scan_bytes(data, "two.pkl")
    assert fs.members == 2
    scanned(
        P.Payload(
            "second",
            second,
            data,
            "two.pkl",
            (
                P.Expect(
                    "posix.system",
                    offset=len(benign) + evil.index(b"\x93" if second >= 4 else b"c"),
                    inner=f"pickle@{len(benign)}",
                ),
            ),
        )
    )


# ---------------------------------------------------------------------------------------------
# archives: zip, nested zip, tar, tar.gz, npz
# ---------------------------------------------------------------------------------------------


def evil_at(protocol: int) -> tuple[bytes, int]:
    data = P.reduce_pickle(os.system, ("id",), protocol)
    return data, data.index(b"\x93" if protocol >= 4 else b"cposix")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_zip_member(protocol: int, compression: int) -> None:
    evil, at = evil_at(protocol)
    data = P.zip_bytes([("README.md", b"# a model\n"), ("model/weights.pkl", evil)], compression)
    fs = scanned(
        P.Payload(
            "zip",
            protocol,
            data,
            "bundle.zip",
            (P.Expect("posix.system", offset=at, inner="model/weights.pkl"),),
            stream=evil,
        )
    )
    assert fs.format == "zip"


@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_nested_zip_member(protocol: int) -> None:
    evil, at = evil_at(protocol)
    inner = P.zip_bytes([("deep/model.pkl", evil)], zipfile.ZIP_DEFLATED)
    middle = P.zip_bytes([("inner.zip", inner)])
    data = P.zip_bytes([("middle.zip", middle), ("notes.txt", b"hi")], zipfile.ZIP_DEFLATED)
    scanned(
        P.Payload(
            "nested-zip",
            protocol,
            data,
            "outer.zip",
            (P.Expect("posix.system", offset=at, inner="middle.zip!/inner.zip!/deep/model.pkl"),),
            stream=evil,
        )
    )


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_tar_member(protocol: int, mode: str) -> None:
    evil, at = evil_at(protocol)
    data = P.tar_bytes([("model/config.json", b"{}"), ("model/model.pkl", evil)], mode)
    fs = scanned(
        P.Payload(
            "tar",
            protocol,
            data,
            "model.tar",
            (P.Expect("posix.system", offset=at, inner="model/model.pkl"),),
            stream=evil,
        )
    )
    assert fs.format.endswith("tar")


@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_legacy_torch_tar_pickle_member(protocol: int) -> None:
    """PyTorch's oldest format is a tar of ``sys_info``, ``pickle``, ``storages`` and ``tensors``."""
    evil, at = evil_at(protocol)
    data = P.tar_bytes(
        [
            ("sys_info", pickle.dumps({"protocol_version": 1001}, protocol=2)),
            ("pickle", evil),
            ("storages", pickle.dumps(0, protocol=2)),
            ("tensors", pickle.dumps(0, protocol=2)),
        ]
    )
    scanned(
        P.Payload(
            "torch-tar", protocol, data, "old.pt", (P.Expect("posix.system", offset=at, inner="pickle"),), stream=evil
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="limitation: the pre-0.4 torch tar format's storages member interleaves pickles with raw bytes; "
    "only its first pickle is scanned (the rest is a LOW trailing-data finding)",
)
def test_legacy_torch_tar_second_storage_pickle() -> None:
    first = P.asm(2, ("0", "cpu", P.G("torch", "FloatStorage"))).data
    evil, _ = evil_at(2)
    storages = pickle.dumps(2, protocol=2) + first + (4).to_bytes(8, "little") + b"\x00" * 16 + evil
    data = P.tar_bytes(
        [
            ("sys_info", pickle.dumps({}, protocol=2)),
            ("pickle", pickle.dumps(None, protocol=2)),
            ("storages", storages),
            ("tensors", pickle.dumps(0, protocol=2)),
        ]
    )
    fs = scan_bytes(data, "old.pt")
    assert "posix.system" in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}, describe(fs.findings)


@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_npz_object_member(protocol: int) -> None:
    evil, at = evil_at(protocol)
    npy = P.npy_object(evil)
    data = P.zip_bytes(
        [("weights.npy", P.npy_header("<f8", (2,)) + b"\x00" * 16), ("objects.npy", npy)], zipfile.ZIP_DEFLATED
    )
    fs = scanned(
        P.Payload(
            "npz",
            protocol,
            data,
            "arrays.npz",
            (P.Expect("posix.system", offset=len(npy) - len(evil) + at, inner="objects.npy"),),
            stream=npy,
        )
    )
    assert fs.format == "npz"


def test_np_savez_of_an_object_array() -> None:
    buf = io.BytesIO()
    np.savez(buf, ok=np.arange(3), bad=np.array([P.Reduce(os.system, ("id",))], dtype=object))
    fs = scan_bytes(buf.getvalue(), "a.npz")
    assert {(f.name, f.inner) for f in fs.findings if f.severity is Severity.CRITICAL} == {("posix.system", "bad.npy")}
    assert exit_code(fs) == 1


def test_zip_with_a_bad_central_directory_crc_is_still_scanned() -> None:
    """picklescan's CVE-2025-10156: a wrong CRC must not make a stored member go unscanned."""
    evil, _ = evil_at(4)
    data = bytearray(P.zip_bytes([("archive/data.pkl", evil)]))
    crc = data.index(b"PK\x01\x02") + 16
    data[crc : crc + 4] = bytes(b ^ 0xFF for b in data[crc : crc + 4])
    fs = scan_bytes(bytes(data), "model.pt")
    assert ("posix.system", "archive/data.pkl") in {(f.name, f.inner) for f in fs.findings}
    deflated = bytearray(P.zip_bytes([("archive/data.pkl", evil)], zipfile.ZIP_DEFLATED))
    crc = deflated.index(b"PK\x01\x02") + 16
    deflated[crc : crc + 4] = bytes(b ^ 0xFF for b in deflated[crc : crc + 4])
    fs = scan_bytes(bytes(deflated), "model.pt")
    assert exit_code(fs) == 2  # a member it cannot check is never passed over in silence


@pytest.mark.parametrize(
    "compression",
    [
        zipfile.ZIP_DEFLATED,
        zipfile.ZIP_BZIP2,
        pytest.param(
            zipfile.ZIP_LZMA,
            marks=(),
        ),
    ],
)
def test_corrupt_compressed_zip_member_is_an_error(compression: int) -> None:
    evil, _ = evil_at(4)
    data = bytearray(P.zip_bytes([("m.pkl", evil * 20)], compression))
    start = data.index(b"m.pkl") + len("m.pkl") + 20
    data[start : start + 10] = b"\xff" * 10
    fs = scan_bytes(bytes(data), "m.zip")
    assert fs.error is not None
    assert exit_code(fs) == 2


def test_zip_member_path_traversal_is_high() -> None:
    data = P.zip_bytes([("../../etc/cron.d/x", b"* * * * * root id\n"), ("ok.txt", b"hi")])
    fs = scan_bytes(data, "bad.zip")
    assert (Severity.HIGH, "path-traversal") in {(f.severity, f.kind) for f in fs.findings}


def tar_pickle_polyglot(pickled: bytes, member_suffix: str, content: bytes) -> bytes:
    """A valid tar whose first member's *name* is a protocol 0 pickle: pickle.load stops at its STOP."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(pickled.decode("latin-1") + member_suffix)
        info.size = len(content)
        tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.mark.parametrize(("suffix", "content"), [("", b""), ("notes.txt", b"hello")], ids=["empty", "txt"])
def test_tar_pickle_polyglot(suffix: str, content: bytes) -> None:
    evil = P.asm(0, P.Call(P.SYSTEM, ("id",))).data
    data = tar_pickle_polyglot(evil, suffix, content)
    assert data.startswith(evil)
    fs = scan_bytes(data, "model.pkl")
    assert ("os.system", 0) in {(f.name, f.offset) for f in fs.findings}, (fs.format, describe(fs.findings))


# ---------------------------------------------------------------------------------------------
# NumPy .npy with an object array
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_npy_object_array(protocol: int) -> None:
    evil, at = evil_at(protocol)
    data = P.npy_object(evil)
    fs = scanned(
        P.Payload("npy", protocol, data, "arr.npy", (P.Expect("posix.system", offset=len(data) - len(evil) + at),))
    )
    assert fs.format == "npy"


def test_np_save_of_an_object_array() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([1, P.Reduce(os.system, ("id",))], dtype=object), allow_pickle=True)
    fs = scan_bytes(buf.getvalue(), "arr.npy")
    assert "posix.system" in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}


def test_npy_structured_dtype_with_an_object_field() -> None:
    evil, at = evil_at(3)
    data = P.npy_header([("w", "<f8"), ("meta", "|O")], (1,)) + evil
    fs = scan_bytes(data, "rec.npy")
    assert ("posix.system", len(data) - len(evil) + at) in {(f.name, f.offset) for f in fs.findings}


# ---------------------------------------------------------------------------------------------
# joblib: the pickle, object arrays (nested pickles), compression, array data
# ---------------------------------------------------------------------------------------------


def test_joblib_dump_of_a_malicious_object() -> None:
    data = P.joblib_dump({"model": P.Reduce(os.system, ("id",)), "w": np.arange(1000.0)})
    fs = scan_bytes(data, "m.joblib")
    assert fs.format == "joblib"
    assert [f.name for f in fs.findings] == ["posix.system"]
    assert data[fs.findings[0].offset] in P.IMPORT_OPCODES  # type: ignore[index]


def test_joblib_object_array_hides_a_nested_pickle() -> None:
    data = P.joblib_dump({"w": np.arange(10.0), "o": np.array([1, P.Reduce(os.system, ("id",))], dtype=object)})
    fs = scan_bytes(data, "m.joblib")
    crit = [f for f in fs.findings if f.severity is Severity.CRITICAL]
    assert [f.name for f in crit] == ["posix.system"]
    nested = data.index(b"\x80", data.index(b"O8"))  # the object array's own pickle starts after the wrapper
    assert crit[0].offset is not None
    assert crit[0].offset > nested
    assert data[crit[0].offset] in P.IMPORT_OPCODES


@pytest.mark.parametrize("method", ["zlib", "gzip", "bz2", "xz", "lzma"])
def test_compressed_joblib(method: str) -> None:
    data = P.joblib_dump({"model": P.Reduce(os.system, ("id",)), "w": np.arange(100.0)}, compress=(method, 3))
    fs = scan_bytes(data, "m.joblib")
    assert fs.format == f"{method}+joblib"
    assert [f.name for f in fs.findings if f.severity is Severity.CRITICAL] == ["posix.system"]


@pytest.mark.parametrize("method", sorted(P.COMPRESSORS))
@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_compressed_pickle(protocol: int, method: str) -> None:
    evil, at = evil_at(protocol)
    fs = scan_bytes(P.COMPRESSORS[method](evil), "m.pkl")
    assert fs.format.startswith(method + "+")
    assert ("posix.system", at) in {(f.name, f.offset) for f in fs.findings}


@pytest.mark.parametrize("method", ["gzip", "bz2", "xz"])
def test_multi_member_compressed_stream(method: str) -> None:
    benign = pickle.dumps([1, 2, 3], protocol=4)
    evil, _ = evil_at(4)
    data = P.COMPRESSORS[method](benign) + P.COMPRESSORS[method](evil)
    fs = scan_bytes(data, "m.pkl")
    assert "posix.system" in {f.name for f in fs.findings}, (fs.format, describe(fs.findings))


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_joblib_array_data_that_plain_pickle_would_run(protocol: int, padded: bool) -> None:
    """joblib reads an array's bytes as data, pickle.load reads them as opcodes: the scanner shadow-parses them."""
    evil, at = evil_at(protocol)
    head = P.joblib_wrapper(len(evil), padded=padded)
    body = (b"\x00" if padded else b"") + evil
    data = head + body + b"."
    fs = scan_bytes(data, "m.joblib")
    found = {(f.name, f.offset, f.severity) for f in fs.findings}
    if padded:  # the padding-length byte is not an opcode: pickle.load stops there, nothing can run
        assert found == set()
        return
    assert ("posix.system", len(head) + at, Severity.CRITICAL) in found
    assert exit_code(fs) == 1


SHADOW_BUG = (
    "scanner bug: the shadow parse of joblib array data starts with an empty stack and memo, while pickle.load "
    "continues with the stack and memo it has; array bytes that first pop the wrapper (POP) or fetch from the memo "
    "(BINGET) make the shadow parse fail at once, and the os.system call after them goes unreported (scan clean)"
)


@pytest.mark.parametrize("prefix", [b"0", b"h\x00", b"2"], ids=["POP", "BINGET", "DUP"])
def test_joblib_array_data_that_continues_the_outer_stack(prefix: bytes) -> None:
    evil = prefix + P.asm(4, P.Call(P.SYSTEM, ("id",)), header=False).data
    data = P.joblib_wrapper(len(evil)) + evil + b"."
    fs = scan_bytes(data, "m.joblib")
    assert "os.system" in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}, describe(fs.findings)


DESYNC_BUG = (
    "scanner bug: the scanner skips joblib array data by a byte count it computes differently from joblib, so "
    "the opcodes joblib runs after the array are skipped as data and the scan is clean"
)


def test_joblib_dtype_elsize_desync() -> None:
    cont = b"0" + P.asm(4, P.Call(P.SYSTEM, ("id",)), header=False).data
    data = P.joblib_wrapper(1, dtype=P.joblib_dtype("f8", 8 + len(cont), "<")) + b"\xff" * 8 + cont + b"."
    fs = scan_bytes(data, "m.joblib")
    assert "os.system" in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}, describe(fs.findings)


def test_joblib_object_field_dtype_desync() -> None:
    nested = pickle.dumps(np.zeros(1), protocol=2)
    cont = b"0" + P.asm(4, P.Call(P.SYSTEM, ("id",)), header=False).data
    count = (len(nested) + len(cont)) // 8 + 1
    body = (nested + cont).ljust(count * 8, b"\x00")
    data = P.joblib_wrapper(count, dtype=P.object_field_dtype()) + body + b"."
    fs = scan_bytes(data, "m.joblib")
    assert "os.system" in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}, describe(fs.findings)


@pytest.mark.parametrize("code", ["f\u00b2", "f" + "9" * 5000])
def test_joblib_odd_dtype_code_is_an_error_not_an_exception(code: str) -> None:
    raw = code.encode()
    dtype = P.joblib_dtype("u1").replace(b"\x8c\x02u1", b"X" + len(raw).to_bytes(4, "little") + raw)
    fs = scan_bytes(P.joblib_wrapper(1, dtype=dtype) + b"\x00.", "m.joblib")
    assert fs.error is not None


# ---------------------------------------------------------------------------------------------
# PyTorch: zip checkpoints and legacy torch.save files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [1, 2, 3, 4, 5])
def test_torch_zip_checkpoint(protocol: int) -> None:
    clean, _ = P.torch_state_dict_pickle(protocol)
    fs = scan_bytes(P.torch_zip(clean), "model.pt")
    assert fs.format == "pytorch-zip"
    assert fs.findings == (), describe(fs.findings)  # storages' persistent ids are PyTorch's own: no finding
    evil, at = P.torch_state_dict_pickle(protocol, evil=P.Call(P.SYSTEM, ("id",)))
    payload = P.Payload(
        "torch-zip",
        protocol,
        P.torch_zip(evil),
        "model.pt",
        (P.Expect("os.system", offset=at, inner="archive/data.pkl"),),
        stream=evil,
    )
    fs = scanned(payload)
    assert "persistent-id" not in {f.kind for f in fs.findings}


@pytest.mark.parametrize("protocol", [2, 4])
def test_torch_zip_other_pickles_and_names(protocol: int) -> None:
    evil, at = evil_at(protocol)
    clean, _ = P.torch_state_dict_pickle(protocol)
    # a second record pickle (TorchScript archives have constants.pkl), and a checkpoint under another name
    data = P.torch_zip(clean, name="resnet", extra=[("resnet/constants.pkl", evil)])
    fs = scan_bytes(data, "model.pt")
    assert ("posix.system", "resnet/constants.pkl", at) in {(f.name, f.inner, f.offset) for f in fs.findings}


def test_torch_zip_does_not_hide_other_folders() -> None:
    clean, _ = P.torch_state_dict_pickle(2)
    evil = P.joblib_dump({"m": P.Reduce(os.system, ("id",))})
    data = P.torch_zip(clean, extra=[("tools/data/model.joblib", evil)])
    fs = scan_bytes(data, "bundle.zip")
    assert "posix.system" in {f.name for f in fs.findings}, describe(fs.findings)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_torch_legacy_file(protocol: int) -> None:
    clean_obj, _ = P.torch_legacy_object(protocol, P.Call(P.G("collections", "OrderedDict")))
    fs = scan_bytes(P.torch_legacy(clean_obj, protocol=protocol), "old.pt")
    assert fs.format == "torch-legacy"
    assert fs.findings == (), describe(fs.findings)
    obj, at = P.torch_legacy_object(protocol, P.Call(P.SYSTEM, ("id",)))
    data = P.torch_legacy(obj, protocol=protocol)
    start = data.index(obj)
    fs = scanned(
        P.Payload(
            "torch-legacy",
            protocol,
            data,
            "old.pt",
            (P.Expect("os.system", offset=start + at, inner=f"pickle@{start}"),),
            stream_start=start,
        )
    )
    assert fs.format == "torch-legacy"


@pytest.mark.parametrize("protocol", [0, 1])
def test_torch_legacy_file_at_protocol_0_and_1(protocol: int) -> None:
    obj, _ = P.torch_legacy_object(protocol, P.Call(P.SYSTEM, ("id",)))
    fs = scan_bytes(P.torch_legacy(obj, protocol=protocol), "old.pt")
    assert "os.system" in {f.name for f in fs.findings if f.severity is Severity.CRITICAL}, describe(fs.findings)


# ---------------------------------------------------------------------------------------------
# names: file extensions that lie, and dangerous callables reached by other names
# ---------------------------------------------------------------------------------------------


INERT_NAMES = {"notes.txt", "config.json", "logo.png", "README", "version"}


@pytest.mark.parametrize(
    ("filename", "protocol"),
    [
        pytest.param(name, p, marks=[], id=f"{name}-p{p}")
        for name in ["model.bin", "model.pt", "weights", *sorted(INERT_NAMES)]
        for p in P.PROTOCOLS
    ],
)
def test_misleading_extension(protocol: int, filename: str) -> None:
    evil, at = evil_at(protocol)
    fs = scan_bytes(evil, filename)
    assert ("posix.system", at, Severity.CRITICAL) in {(f.name, f.offset, f.severity) for f in fs.findings}


ALIAS_BUG = "scanner gap: this reaches code execution, a process, a signal or nested unpickling, but is only HIGH"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        pytest.param("uuid", "os.system", id="uuid.os.system (attribute walk at protocol 4)"),
        pytest.param("collections", "_sys.modules", id="collections._sys.modules"),
        pytest.param("numpy", "__builtins__", id="numpy.__builtins__ (fickling test_pop_mark)"),
        pytest.param("numpy", "mean.__globals__", id="numpy.mean.__globals__"),
        pytest.param("_posixsubprocess", "fork_exec", id="_posixsubprocess.fork_exec"),
        pytest.param("_signal", "raise_signal", id="_signal.raise_signal (pickle.dumps(signal.raise_signal))"),
        pytest.param("mailcap", "findmatch", id="mailcap.findmatch (modelscan test)"),
        pytest.param("numpy.lib._npyio_impl", "load", id="numpy.lib._npyio_impl.load (numpy 2)"),
        pytest.param("numpy.lib.format", "read_array", id="numpy.lib.format.read_array"),
    ],
)
def test_dangerous_callables_by_other_names(module: str, name: str) -> None:
    data = P.asm(4, P.Call(P.G(module, name), ("id",))).data
    fs = scan_bytes(data, "alias.pkl")
    assert [f.severity for f in fs.findings if f.kind in IMPORT_KINDS] == [Severity.CRITICAL], describe(fs.findings)


def test_dangerous_callables_by_other_names_are_at_least_high() -> None:
    for module, name in [
        ("uuid", "os.system"),
        ("numpy", "__builtins__"),
        ("_signal", "raise_signal"),
        ("mailcap", "findmatch"),
        ("numpy.lib.format", "read_array"),
    ]:
        fs = scan_bytes(P.asm(4, P.Call(P.G(module, name), ("id",))).data, "alias.pkl")
        assert exit_code(fs) == 1
        assert max(f.severity for f in fs.findings) >= Severity.HIGH


def test_stack_global_of_binstring_operands() -> None:
    a = P._Asm(4)
    a.w(b"\x80\x04")
    a.string("os", op="BINSTRING")
    a.string("system", op="BINSTRING")
    a.w(b"\x93")
    a.value(("id",))
    a.w(b"R.")
    fs = scan_bytes(bytes(a.out), "b.pkl")
    assert "os.system" in {f.name for f in fs.findings}, describe(fs.findings)


@pytest.mark.parametrize("op", ["STRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "BINUNICODE8"])
def test_stack_global_of_other_string_opcodes(op: str) -> None:
    a = P._Asm(4)
    a.w(b"\x80\x04")
    a.string("os", op=op)
    a.string("system", op=op)
    where = len(a.out)
    a.w(b"\x93")
    a.value(("id",))
    a.w(b"R.")
    fs = scan_bytes(bytes(a.out), "b.pkl")
    assert ("os.system", where) in {(f.name, f.offset) for f in fs.findings}


# ---------------------------------------------------------------------------------------------
# malformed and truncated pickles: an error (exit 2), never an exception
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(P.MALFORMED))
def test_malformed_pickle_is_an_error(name: str, tmp_path: Path) -> None:
    data = P.MALFORMED[name]
    fs = scan_bytes(data, "bad.pkl")
    assert fs.error is not None, describe(fs.findings)
    assert exit_code(fs) == 2
    path = tmp_path / "bad.pkl"
    path.write_bytes(data)
    report = scan([path])
    assert report.exit_code == 2
    assert report.files[0].error is not None


@pytest.mark.parametrize("protocol", [pytest.param(p, marks=[]) for p in P.PROTOCOLS])
def test_truncated_malicious_pickle_keeps_its_finding(protocol: int) -> None:
    evil, at = evil_at(protocol)
    import_end = at + (1 if protocol >= 4 else len(b"cposix\nsystem\n"))
    for cut in sorted({import_end, import_end + 3, len(evil) - 1}):
        fs = scan_bytes(evil[:cut], "cut.pkl")
        assert fs.error is not None
        assert exit_code(fs) == 1  # the finding wins over the error, which is still reported
        assert ("posix.system", at, Severity.CRITICAL) in {(f.name, f.offset, f.severity) for f in fs.findings}, cut


@pytest.mark.parametrize("protocol", P.PROTOCOLS)
def test_every_truncation_of_a_real_pickle_is_an_error(protocol: int) -> None:
    data = pickle.dumps({"w": [1.5, 2, "x"], "b": b"\x00" * 70, "n": None}, protocol=protocol)
    for cut in range(1, len(data)):
        fs = scan_bytes(data[:cut], "cut.pkl")
        assert fs.error is not None, cut
        assert exit_code(fs) == 2


# ---------------------------------------------------------------------------------------------
# hypothesis: arbitrary and mutated bytes only ever give a FileScan, fast
# ---------------------------------------------------------------------------------------------

PREFIXES = [
    b"",
    b"\x80\x02",
    b"\x80\x04",
    b"\x80\x05\x95",
    b"(",
    b"c",
    b"PK\x03\x04",
    b"\x93NUMPY\x01\x00",
    b"\x1f\x8b",
    b"x\x9c",
    b"BZh9",
    b"\xfd7zXZ\x00",
]
NAMES = ["m.pkl", "m.joblib", "m.pt", "m.npy", "m.npz", "m.zip", "m", "m.txt", "m.bin", "m.tar"]


def scans_quickly(data: bytes, name: str) -> FileScan:
    started = time.perf_counter()
    fs = scan_bytes(data, name)
    assert time.perf_counter() - started < 2.0
    assert isinstance(fs, FileScan)
    assert exit_code(fs) in (0, 1, 2)
    assert fs.error is not None or fs.format not in ("unreadable", "unsupported")
    for f in fs.findings:
        assert isinstance(f.severity, Severity)
    return fs


@FUZZ
@given(st.sampled_from(PREFIXES), st.binary(max_size=400), st.sampled_from(NAMES))
def test_arbitrary_bytes_never_raise(prefix: bytes, body: bytes, name: str) -> None:
    scans_quickly(prefix + body, name)


def _corpus() -> list[bytes]:
    items: list[Any] = [
        {"w": np.arange(6.0).reshape(2, 3), "s": "x"},
        [1, 2.5, None, True, b"raw"],
        P.Reduce(os.system, ("id",)),
        {"k": P.Reduce(eval, ("1",))},
    ]
    out = [pickle.dumps(obj, protocol=p) for obj in items for p in P.PROTOCOLS]
    out += [p.data for p in HAND[:: max(1, len(HAND) // 20)]]
    out.append(P.joblib_dump({"a": np.arange(5), "o": np.array([1, "x"], dtype=object)}))
    out.append(P.torch_zip(P.torch_state_dict_pickle(2)[0]))
    out.append(P.npy_object(pickle.dumps([1, 2], protocol=3)))
    return out


CORPUS = _corpus()
mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
)


@FUZZ
@given(st.sampled_from(range(len(CORPUS))), st.lists(mutation, min_size=1, max_size=6), st.sampled_from(NAMES))
def test_mutated_real_files_never_raise(index: int, mutations: list[tuple[str, int, int]], name: str) -> None:
    data = bytearray(CORPUS[index])
    for op, where, value in mutations:
        if not data:
            break
        at = where % len(data)
        if op == "flip":
            data[at] = value
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = bytes([value])
        else:
            del data[at : at + value]
    scans_quickly(bytes(data), name)


@FUZZ
@given(st.data())
def test_generated_pickles_agree_with_the_reference(data: st.DataObject) -> None:
    """Random opcode-level pickles built from imports, memo traffic and calls: the scanner's import findings are
    exactly the reference walk's non-allowed imports, at the same offsets."""
    proto = data.draw(st.sampled_from(P.PROTOCOLS))
    names = st.sampled_from(
        [
            ("os", "system"),
            ("numpy", "dtype"),
            ("collections", "OrderedDict"),
            ("ipaddress", "ip"),
            ("__builtin__", "eval"),
            ("builtins", "int"),
            ("uuid", "UUID"),
            ("json", "loads"),
        ]
    )
    leaf = st.one_of(st.integers(-5, 70000), st.text(max_size=5), st.none(), names.map(lambda mn: P.G(*mn)))
    tree = st.recursive(
        leaf,
        lambda kids: st.one_of(
            st.tuples(kids, kids).map(lambda t: P.Call(t[0], (t[1],))),
            st.lists(kids, max_size=3),
            st.tuples(kids, kids).map(lambda t: P.Keep(t[0], (t[1],))),
            st.tuples(kids, kids, kids).map(tuple),
        ),
        max_leaves=8,
    )
    built = P.asm(proto, data.draw(tree))
    assert_same_imports(built.data)


# ---------------------------------------------------------------------------------------------
# differential: the scanner finds exactly the imports an independent pickletools walk finds
# ---------------------------------------------------------------------------------------------


def assert_same_imports(data: bytes) -> None:
    reference = set()
    for offset, _, module, name in P.reference_imports(data):
        if module is None or name is None:
            reference.add((offset, "?"))
            continue
        severity, shown = classify_import(module, name)
        if severity is not None:
            reference.add((offset, shown))
    fs = scan_bytes(data, "d.pkl")
    # the stream's own imports (a pickle carried inside it as bytes is judged too, as a nested stream)
    ours = {(f.offset, f.name) for f in fs.findings if f.kind in ("import", "dynamic-import") and not f.inner}
    assert ours == reference


class _Point:
    def __init__(self) -> None:
        self.x = 1


def _differential_corpus() -> list[tuple[str, bytes]]:
    import argparse
    import collections
    import datetime
    import decimal
    import fractions
    import functools
    import ipaddress
    import operator
    import pathlib
    import re
    import types
    import uuid

    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(n_samples=40, n_features=4, random_state=0)
    objects: dict[str, Any] = {
        "sklearn-pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "sklearn-forest": RandomForestClassifier(n_estimators=2, random_state=0).fit(x, y),
        "numpy": [np.arange(5), np.float32(1.5), np.dtype([("a", "<f4")]), np.random.default_rng(1)],
        "stdlib": [
            collections.OrderedDict(a=1),
            collections.Counter("aab"),
            datetime.datetime(2020, 1, 1),
            decimal.Decimal("1.1"),
            fractions.Fraction(1, 3),
            uuid.UUID(int=5),
            {1, 2},
            frozenset({3}),
            bytearray(b"ab"),
            complex(1, 2),
            range(3),
            slice(1, 2),
        ],
        "high": [
            ipaddress.ip_address("10.0.0.1"),
            argparse.Namespace(a=1),
            _Point(),
            re.IGNORECASE,
            pathlib.PurePosixPath("/x"),
        ],
        "critical": [
            types.SimpleNamespace(a=1),
            functools.partial(int, "3"),
            operator.itemgetter(1),
            P.Reduce(os.system, ("id",)),
            P.Reduce(eval, ("1",)),
            P.Reduce(getattr, (1, "real")),
        ],
        "shared": [[P.Reduce(os.system, ("a",))] * 3, {"x": np.arange(3), "y": np.arange(3)}],
    }
    out = [(f"{k}-p{p}", pickle.dumps(v, protocol=p)) for k, v in objects.items() for p in P.PROTOCOLS]
    out += [(p.id, p.data) for p in HAND if p.data.endswith(b".")]
    out += [(p.id, p.data) for p in P.modelscan_fixtures() if p.data.endswith(b".")]
    return out


DIFF = _differential_corpus()


@pytest.mark.parametrize(("label", "data"), DIFF, ids=[d[0] for d in DIFF])
def test_same_imports_as_a_pickletools_walk(label: str, data: bytes) -> None:
    assert_same_imports(data)


def test_differential_corpus_exercises_both_severities() -> None:
    severities: set[Severity] = set()
    for _, data in DIFF:
        severities |= {f.severity for f in scan_bytes(data, "d.pkl").findings}
    assert {Severity.HIGH, Severity.CRITICAL} <= severities


# ---------------------------------------------------------------------------------------------
# end to end through scan(): every payload file in one folder
# ---------------------------------------------------------------------------------------------


def test_scan_of_a_folder_of_payloads(tmp_path: Path) -> None:
    payloads = [P.reduce_payload(k, p) for k in P.REDUCE_KINDS[::3] for p in (0, 2, 4, 5)] + HAND[::4]
    for i, payload in enumerate(payloads):
        (tmp_path / f"{i:03d}-{payload.filename}").write_bytes(payload.data)
    report = scan([tmp_path])
    assert report.exit_code == 1
    assert len(report.files) == len(payloads)
    for fs in report.files:
        assert fs.error is None, (fs.path, fs.error)
        assert fs.findings, fs.path
        assert all(f.path == fs.path for f in fs.findings)
    big = tmp_path.parent / "big"
    big.mkdir()
    evil, at = evil_at(4)
    (big / "big.pkl").write_bytes(evil[:-1] + b"0" + pickle.dumps(np.zeros(400_000), protocol=4)[2:])
    fs = scan_file(big / "big.pkl")  # over 1 MiB: the mapped path
    assert fs.size > 1 << 20
    assert ("posix.system", at) in {(f.name, f.offset) for f in fs.findings}


# ---------------------------------------------------------------------------------------------
# the canary: scanning never runs, imports or calls anything from the files
# ---------------------------------------------------------------------------------------------

UNIMPORTED = ["colorsys", "wave", "mailbox", "nntplib", "this"]


def _canary_pickles(marker: Path) -> list[Any]:
    mod, fn = P.CANARY
    return [
        P.Call(P.G(mod, fn), (str(marker),)),
        P.Call(P.G("os", "system"), (f"touch {marker}",)),
        P.Call(P.G("builtins", "exec"), (f"import os; os.environ['{P.CANARY_ENV}'] = '1'",)),
        P.Call(P.G("importlib", "import_module"), ("colorsys",)),
        P.Call(P.G("builtins", "__import__"), (P.MISSING_MODULE,)),
        P.Call(P.G(P.MISSING_MODULE, "boom"), ()),
        P.Call(P.G("wave", "open"), (str(marker), "wb")),
        P.Call(P.G("mailbox", "mbox"), (str(marker),)),
        P.G("this", "s"),
        P.Obj(P.G(mod, fn), (str(marker),)),
        P.Inst(mod, fn, (str(marker),)),
        P.Build(P.Call(P.G("collections", "OrderedDict")), ({"__setstate__": P.G(mod, fn)}, str(marker))),
    ]


def test_canary_nothing_is_ever_run_or_imported(tmp_path: Path) -> None:
    marker = tmp_path / "canary"
    folder = tmp_path / "files"
    folder.mkdir()
    values = _canary_pickles(marker)
    files: dict[str, bytes] = {}
    for proto in P.PROTOCOLS:
        for i, value in enumerate(values):
            files[f"p{proto}-{i}.pkl"] = P.asm(proto, value).data
    every = P.asm(4, list(values)).data
    files["canary.joblib"] = P.joblib_dump(
        {"m": P.Reduce(P.canary, (str(marker),)), "o": np.array([P.Reduce(P.canary, (str(marker),))], dtype=object)}
    )
    files["canary.gz.joblib"] = P.joblib_dump({"m": P.Reduce(P.canary, (str(marker),))}, compress=("gzip", 3))
    files["shadow.joblib"] = P.joblib_wrapper(len(every)) + every + b"."
    files["canary.npy"] = P.npy_object(every)
    files["canary.pt"] = P.torch_zip(P.torch_state_dict_pickle(2, evil=values[0])[0])
    files["legacy.pt"] = P.torch_legacy(P.torch_legacy_object(2, values[1])[0])
    files["canary.zip"] = P.zip_bytes([(n, d) for n, d in files.items() if n.startswith("p4")], zipfile.ZIP_DEFLATED)
    files["canary.tar"] = P.tar_bytes([(n, d) for n, d in files.items() if n.startswith("p2")])
    files["canary.tar.xz"] = P.tar_bytes([("m.pkl", every)], "w:xz")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    before = set(sys.modules)
    unimported = [m for m in UNIMPORTED if m not in before]
    os.environ.pop(P.CANARY_ENV, None)
    P.CANARY_CALLS.clear()
    report = scan([folder])
    for fs in report.files:
        scan_bytes((folder / Path(fs.path).name).read_bytes(), Path(fs.path).name)
    assert not marker.exists()
    assert P.CANARY_CALLS == []
    assert P.CANARY_ENV not in os.environ
    gained = set(sys.modules) - before
    assert not gained & {P.MISSING_MODULE, *UNIMPORTED}, gained
    # only the scanner's own modules and the standard library it uses (zip name codecs...) may appear
    assert all(m.startswith("mlwarden") or m.split(".")[0] in sys.stdlib_module_names for m in gained), sorted(gained)
    assert unimported, "the canary needs modules that are not imported yet"
    assert report.exit_code == 1, [(fs.path, fs.error) for fs in report.files if fs.error]
    assert all(fs.findings for fs in report.files), [fs.path for fs in report.files if not fs.findings]
    canary_name = f"{P.CANARY[0]}.{P.CANARY[1]}"
    assert canary_name in {f.name for f in report.findings}


def test_the_canary_leaves_traces(tmp_path: Path) -> None:
    """The canary itself works: called (here, directly) it leaves every trace the canary test looks for."""
    marker = tmp_path / "canary"
    try:
        P.canary(str(marker))
        assert marker.exists()
        assert [(str(marker),)] == P.CANARY_CALLS
        assert os.environ[P.CANARY_ENV] == "1"
    finally:
        P.CANARY_CALLS.clear()
        os.environ.pop(P.CANARY_ENV, None)


def test_findings_win_over_a_file_that_could_not_be_scanned(tmp_path: Path) -> None:
    """A folder holding a malicious pickle beside an unreadable file exits 1 (findings), not 2: a CI
    gate that reads 2 as a usage error would otherwise pass it. The unscanned file is still listed."""
    evil, _ = evil_at(4)
    (tmp_path / "evil.pkl").write_bytes(evil)
    (tmp_path / "notes.bin").write_bytes(b"just text, not a model\n")
    report = scan([tmp_path])
    assert report.exit_code == 1
    assert [Path(f.path).name for f in report.errors] == ["notes.bin"]
    assert any(f.severity is Severity.CRITICAL for f in report.findings)
    assert report.to_json()["summary"]["errors"] == 1
    # and alone, the unscannable file is still an incomplete scan (2), never clean
    assert scan([tmp_path / "notes.bin"]).exit_code == 2
