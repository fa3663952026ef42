"""Regenerate src/mlwarden/models/pandas_reconstructors.txt for the installed pandas and pyarrow.

Builds a broad set of pandas objects (frames, series, every index kind, categoricals, nullable and
extension arrays, pyarrow-backed strings, datetimes with and without time zones, periods, intervals,
offsets, scalars), pickles each at protocols 0-5 and with ``joblib.dump``, and records each
``pandas.*`` and ``pyarrow.*`` name the unpickler imports (our own pickles, unpickled here only to
list them). Run it when the supported pandas version changes and review the diff.

The names listed are *not* allowed: the scanner rates them MEDIUM ("memory-unsafe reconstructor")
instead of HIGH ("not on the allow-list"), because what they do is known: they only build pandas
and Arrow objects, but from parts they do not validate. A block placement past the frame's columns
(``pandas._libs.internals._unpickle_block``) or an Arrow offsets buffer past its data
(``pyarrow.lib._restore_array``) loads and then crashes the process (SIGSEGV), so a pandas pickle
from someone else is never clean. The script stops if a name with a capability (``pandas.io``,
``pandas.read_*``, ``pandas._testing``) turns up.
"""

from __future__ import annotations

import io
import pickle
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from mlwarden.models._allowlist import capability

OUT = Path(__file__).resolve().parents[1] / "src" / "mlwarden" / "models" / "pandas_reconstructors.txt"
HEADER = [
    "# pandas and pyarrow names a pickled DataFrame, Series, Index or array imports (module.qualname),",
    f"# for pandas {pd.__version__} and pyarrow {pa.__version__}. Made by scripts/list_pandas_reconstructors.py",
    "# from the pickles of a broad set of pandas objects at protocols 0-5 and with joblib.dump.",
    "# Not allowed: rated MEDIUM, memory-unsafe reconstructors (see the script's docstring).",
]
# Reviewed by hand: they build a DataType from an alias string, wrap a bytes-like object, and rebuild an
# array from (type, length, null count, offset, buffers, children, dictionary), validating nothing.
REVIEWED_PYARROW = frozenset({"pyarrow.lib._restore_array", "pyarrow.lib.py_buffer", "pyarrow.lib.type_for_alias"})
FREQS = ("D", "h", "min", "s", "ms", "us", "ns", "B", "W", "W-MON", "ME", "MS", "QE", "QS", "YE", "YS", "BME", "BMS")


def objects() -> list[object]:
    """The objects whose pickles are listed, with python- and pyarrow-backed strings."""
    text = pd.StringDtype("python")
    arrow = pd.StringDtype("pyarrow")
    days = pd.date_range("2024-01-01", periods=3, freq="D")
    out: list[object] = [
        pd.DataFrame({"i": [1, 2, 3], "f": [1.5, 2.5, np.nan], "b": [True, False, True], "o": [1, "x", None]}),
        pd.DataFrame({"s": pd.array(["a", None, "c"], dtype=text)}, index=pd.Index(["x", "y", "z"], dtype=text)),
        pd.DataFrame(np.zeros((2, 2)), columns=pd.MultiIndex.from_tuples([(1, "a"), (2, "b")])),
        pd.Series([1, 2, 3], name="x"),
        pd.DataFrame({"s": pd.array(["a", None], dtype=arrow)}, index=pd.Index(["x", "y"], dtype=arrow)),
        pd.Series(["a", "b"]),
        pd.Index(["a", "b"]),
        pd.Series(pd.array(["a", "b"], dtype=text)),
        pd.Series([1.0, 2.0], index=pd.Index([3.5, 4.5])),
        pd.RangeIndex(5),
        pd.Index([1, 5]),
        pd.Index([1.0, 2.0]),
        pd.Index([True, False]),
        pd.Index(["a", "b"], dtype=text),
        pd.Index(["a", 1], dtype=object),
        pd.MultiIndex.from_product([[1, 2], pd.array(["a", "b"], dtype=text)], names=["n", "s"]),
        pd.CategoricalIndex(pd.Categorical([1, 2, 1])),
        pd.Categorical(pd.array(["a", "b", "a"], dtype=text)),
        pd.Categorical([1.0, 2.0], ordered=True),
        pd.Series(pd.Categorical([1, 2], categories=[1, 2, 3])),
        pd.period_range("2024-01", periods=2, freq="M"),
        pd.period_range("2024-01-01", periods=2, freq="D"),
        pd.Period("2024", "Y"),
        pd.interval_range(0, 3),
        pd.IntervalIndex.from_breaks([0.0, 0.5, 1.0], closed="left"),
        pd.Interval(0, 1),
        pd.timedelta_range("1s", periods=2),
        pd.Timedelta(1, "s"),
        pd.to_timedelta([1, 2], unit="D"),
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-01", tz="Europe/Paris"),
        pd.NaT,
        pd.NA,
        days,
        pd.DatetimeIndex(["2024-01-01", "2024-03-01"]),
        pd.date_range("2024-01-01", periods=3, tz="UTC"),
        pd.date_range("2024-01-01", periods=3, tz="America/New_York"),
        pd.DataFrame({"t": days, "tz": days.tz_localize("Asia/Tokyo"), "td": days - days[0]}),
        pd.DataFrame({"p": pd.period_range("2024", periods=3, freq="Q"), "iv": pd.interval_range(0, 3)}),
    ]
    for dtype in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64"):
        out.append(pd.array([1, None], dtype=dtype))
        out.append(pd.Series([1, None], dtype=dtype))
    out += [pd.array([True, None], dtype="boolean"), pd.Series([False, None], dtype="boolean")]
    out += [pd.array(["a", None], dtype=text), pd.Series([None, "b"], dtype=text)]
    for unit in ("s", "ms", "us", "ns"):
        out.append(pd.Series(days.as_unit(unit)))
        out.append(pd.Series((days - days[0]).as_unit(unit)))
    for freq in FREQS:
        out.append(pd.date_range("2024-01-01", periods=3, freq=freq))
        out.append(pd.tseries.frequencies.to_offset(freq))
    return out


def main() -> None:
    names: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            names.add(f"{module}.{name}")
            return super().find_class(module, name)

    class JoblibRecorder(joblib.numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> object:
            names.add(f"{module}.{name}")
            return super().find_class(module, name)

    with tempfile.TemporaryDirectory() as tmp:
        for obj in objects():
            for protocol in range(6):
                Recorder(io.BytesIO(pickle.dumps(obj, protocol=protocol))).load()
            path = Path(tmp) / "obj.joblib"
            joblib.dump(obj, path)
            with path.open("rb") as fh:  # joblib's own framing: a pickle with arrays between opcodes
                JoblibRecorder(str(path), fh, ensure_native_byte_order=False).load()
    pandas_names = sorted(n for n in names if n.startswith(("pandas.", "pyarrow.")))
    # pyarrow as a module opens files (pyarrow.fs, pyarrow.parquet): only its reviewed builders may be listed.
    unreviewed = [n for n in pandas_names if n.startswith("pyarrow.") and n not in REVIEWED_PYARROW]
    if unreviewed:
        raise SystemExit(f"pandas pickles import pyarrow names nobody reviewed: {unreviewed}")
    dangerous = [n for n in pandas_names if n.startswith("pandas.") and capability(*n.rsplit(".", 1)) is not None]
    if dangerous:
        raise SystemExit(f"pandas pickles import names with a capability: {dangerous}")
    OUT.write_text("\n".join([*HEADER, *pandas_names]) + "\n")
    others = sorted(n for n in names if not n.startswith(("pandas.", "pyarrow.")))
    print(f"{len(pandas_names)} names -> {OUT}; other imports seen: {others}", file=sys.stderr)


if __name__ == "__main__":
    main()
