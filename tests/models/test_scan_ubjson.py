"""The UBJSON reader (XGBoost's ``.ubj`` models) on files built here: well-formed values are clean, optimised
containers are stepped over by their counts, hostile counts and deep nesting fail fast as Unreadable,
random truncations and mutations never raise anything else, and bytes after the value are judged (an
appended pickle is found)."""

from __future__ import annotations

import contextlib
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
from corpus._harmless import _ubjson, _xgboost_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.models import Severity, scan_bytes, scan_file
from mlwarden.models._findings import Unreadable
from mlwarden.models._scan_ubjson import MAX_DEPTH, scan_ubjson

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key(text: str) -> bytes:
    raw = text.encode()
    return b"U" + bytes([len(raw)]) + raw


def typed_floats(values: list[float]) -> bytes:
    """``[$d#l<count>`` and big-endian float32s: how XGBoost writes a float array."""
    return b"[$d#l" + struct.pack(">i", len(values)) + struct.pack(f">{len(values)}f", *values)


def refused(data: bytes) -> str:
    with pytest.raises(Unreadable) as info:
        scan_ubjson(data)
    return str(info.value)


def test_xgboost_model_is_clean_under_any_name() -> None:
    data = _ubjson(_xgboost_model())
    for name in ("model.ubj", "model.bin", "model"):
        result = scan_bytes(data, name)
        assert (result.format, result.error, result.findings) == ("xgboost-ubjson", None, ()), name
    other = scan_bytes(_ubjson({"weights": [1.5, 2.5], "name": "not xgboost"}), "x.ubj")
    assert (other.format, other.error, other.findings) == ("ubjson", None, ())


def test_every_marker_and_optimised_containers() -> None:
    scalars = b"[" + b"ZNTF" + b"i\xff" + b"U\xff" + b"I\x00\x01" + b"l" + bytes(4) + b"L" + bytes(8)
    scalars += b"d" + bytes(4) + b"D" + bytes(8) + b"Ca" + b"SU\x02\xc3\xa9" + b"HU\x05-1e+5" + b"]"
    typed = typed_floats([0.5] * 1000)
    counted = b"[#U\x03" + b"Z" + b"SU\x01x" + b"{}"  # counted, untyped: no closing marker
    typed_strings = b"[$S#U\x02" + b"U\x01a" + b"U\x00"
    typed_object = b"{$l#U\x02" + key("a") + bytes(4) + key("b") + bytes(4)
    typed_arrays = b"[$[#U\x02" + b"]" + b"$i#U\x02\x01\x02"  # elements are arrays with no '[' of their own
    no_payload = b"[$Z#L" + struct.pack(">q", 2**40)  # 2**40 nulls take no bytes
    body = [scalars, typed, counted, typed_strings, typed_object, typed_arrays, no_payload]
    data = b"{" + b"".join(key(f"k{i}") + v for i, v in enumerate(body)) + b"}"
    assert scan_ubjson(data).end == len(data)
    assert scan_bytes(data, "x.ubj").error is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"[$d#L" + struct.pack(">q", 2**62), "runs past the end"),
        (b"[#L" + struct.pack(">q", 2**62) + b"Z", "more than the 1 bytes left"),
        (b"{#L" + struct.pack(">q", 2**62) + b"U\x01aZ", "more than the 4 bytes left"),
        (b"{$Z#L" + struct.pack(">q", 2**62), "more than the 0 bytes left"),
        (b"[$S#l\x7f\xff\xff\xff", "more than the 0 bytes left"),
        (b"SL" + struct.pack(">q", 2**62) + b"abc", "runs past the end"),
        (b"S" + b"l\xff\xff\xff\xff", "negative"),
        (b"[$d" + b"\x00\x00", "no count"),
        (b"[$Q#U\x01", "not a value type"),
        (b"{U\x01a}", "unexpected marker '}'"),
        (b"[}", "unexpected marker '}'"),
        (b"{Z", "not an integer"),
        (b"SU\x02\xff\xfe", "not UTF-8"),
        (b"HU\x031x2", "not a JSON number"),
        (b"[" * (MAX_DEPTH + 1), "deeper than"),
        (b"[[[", "file ends"),
    ],
)
def test_malformed_is_unreadable_with_offset(data: bytes, why: str) -> None:
    message = refused(data)
    assert why in message
    assert "at byte" in message


def test_deep_nesting_fails_fast_without_recursion() -> None:
    data = b"[" * 1_000_000 + b"]" * 1_000_000
    assert "deeper than" in refused(data)
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert scan_ubjson(ok).end == len(ok)


def test_appended_pickle_is_judged_as_a_pickle() -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            import os

            return (os.system, ("true",))

    result = scan_bytes(_ubjson(_xgboost_model()) + pickle.dumps(Payload(), protocol=4), "model.ubj")
    assert result.error is None
    assert any(f.severity is Severity.CRITICAL and f.name.endswith(".system") for f in result.findings)


def test_other_trailing_bytes_are_low() -> None:
    result = scan_bytes(_ubjson({"a": 1}) + b"\x01\x02junk", "model.ubj")
    assert result.error is None
    assert [(f.severity, f.kind) for f in result.findings] == [(Severity.LOW, "trailing-data")]


def test_a_ubj_is_still_read_as_a_pickle_from_byte_0() -> None:
    # Valid UBJSON (an int16, 'I' "1\n") and, from byte 0, a protocol-0 pickle ('I' INT "1\n", POP, os.system).
    polyglot = b"I1\n0cos\nsystem\n(S'true'\ntR."
    result = scan_bytes(polyglot, "model.ubj")
    assert result.format == "ubjson+pickle"
    assert any(f.severity is Severity.CRITICAL and f.name == "os.system" for f in result.findings)
    # A pickle named .ubj: the UBJSON refusal does not hide it.
    named = scan_bytes(pickle.dumps({"a": 1}, protocol=2), "model.ubj")
    assert (named.format, named.error) == ("pickle", None)
    # And a real .ubj is no pickle: '{' is not an opcode, so pickle.loads refuses it at once.
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(_ubjson(_xgboost_model()))  # noqa: S301 - our own bytes, refused at byte 0


def test_broken_ubj_is_an_error_but_content_sniffed_text_is_not() -> None:
    data = _ubjson(_xgboost_model())
    broken = scan_bytes(data[:-5], "model.ubj")
    assert broken.format == "unreadable"
    assert "UBJSON" in (broken.error or "")
    assert scan_bytes(b"{Unfinished business", "notes.txt").format == "inert"


def test_one_mib_file_scans(tmp_path: Path) -> None:
    trees = [{"split_conditions": [0.25] * 2000, "left_children": list(range(2000))} for _ in range(60)]
    path = tmp_path / "big.ubj"
    path.write_bytes(_ubjson({"learner": {"trees": trees}, "version": [2, 1, 3]}))
    assert path.stat().st_size > 1 << 20
    result = scan_file(path)
    assert (result.format, result.error, result.findings) == ("xgboost-ubjson", None, ())


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(width=32, allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=30,
)


@FUZZ
@given(_JSON)
def test_random_values_are_clean(value: Any) -> None:
    data = _ubjson(value)
    assert scan_ubjson(data).end == len(data)
    result = scan_bytes(data, "value.ubj")
    assert (result.error, result.findings) == (None, ())


@FUZZ
@given(_JSON, st.data())
def test_truncations_and_mutations_never_crash(value: Any, draw: st.DataObject) -> None:
    data = bytearray(_ubjson({"v": value}))
    cut = draw.draw(st.integers(0, len(data)))
    for i in draw.draw(st.lists(st.integers(0, len(data) - 1), max_size=4)):
        data[i] = draw.draw(st.integers(0, 255))
    mutated = bytes(data[:cut])
    with contextlib.suppress(Unreadable):
        scan_ubjson(mutated)
    result = scan_bytes(mutated, "model.ubj")
    assert result.format != "unsupported"
    assert "could not parse" not in (result.error or "")  # the scanner's own code never chokes


def test_real_xgboost_model(tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    import numpy as np

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 4)), rng.integers(0, 2, 200)
    booster = xgboost.train({"max_depth": 3}, xgboost.DMatrix(x, label=y), num_boost_round=5)
    path = tmp_path / "model.ubj"
    booster.save_model(str(path))
    result = scan_file(path)
    assert (result.format, result.error, result.findings) == ("xgboost-ubjson", None, ())
