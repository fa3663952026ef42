"""``mlwarden.store``'s format detection, the catalog's schema record, and the single-pass sniffer.

The CSV type inference is checked differentially against ``pyarrow.csv.read_csv``, whose non-streaming
reader infers types from the whole file (it re-converts earlier blocks when a later one disagrees): on
Hypothesis-made CSVs fed in random chunk sizes, and on files of several blocks where one late value
changes a column's type. JSON Lines are checked against ``pyarrow.json.read_json`` of the file as one
block, with the sniffer's own blocks made tiny. Parquet against ``pyarrow.parquet.read_schema``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlwarden.store._channel as channel_mod
import mlwarden.store._reasons as reasons_mod
import mlwarden.store._sniff_csv as csv_mod
import mlwarden.store._sniff_jsonl as jsonl_mod
import mlwarden.store._sniff_parquet as parquet_mod
import mlwarden.store._sniffer as sniffer_mod
from mlwarden.errors import IntegrityError
from mlwarden.store._formats import FORMATS, detect_format
from mlwarden.store._sniffer import SchemaSniffer
from mlwarden.store._tabular import Column, TabularSchema

GERMAN_CREDIT = Path(__file__).parents[2] / "src" / "mlwarden" / "usecases" / "data" / "german_credit.csv"
SECRET = "s3cr3t-Value-4242"
MiB = 1 << 20


def chunked(data: bytes, sizes: Sequence[int]) -> Iterator[bytes]:
    """``data`` cut into chunks whose sizes cycle through ``sizes``."""
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        yield data[i : i + n]
        i += n
        k += 1


def sniff(fmt: str, data: bytes | Iterable[bytes], sizes: Sequence[int] = (4096,)) -> TabularSchema:
    chunks = chunked(data, sizes) if isinstance(data, bytes) else data
    with SchemaSniffer(fmt) as sniffer:
        for chunk in chunks:
            sniffer.feed(chunk)
        return sniffer.finish()


def described(schema: TabularSchema) -> tuple[list[tuple[str, str]], int]:
    assert schema.known, schema.error
    assert schema.columns is not None
    assert schema.rows is not None
    return [(c.name, c.type) for c in schema.columns], schema.rows


def arrow_described(table_schema: pa.Schema, rows: int) -> tuple[list[tuple[str, str]], int]:
    return [(f.name, str(f.type)) for f in table_schema], rows


def read_csv_oracle(data: bytes) -> tuple[list[tuple[str, str]], int]:
    table = pacsv.read_csv(pa.BufferReader(data))
    return arrow_described(table.schema, table.num_rows)


def sniffer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mlwarden-schema-")]


# --- detect_format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("data.csv", b"", "csv"),
        ("DATA.CSV", b"PAR1", "csv"),  # the extension wins over the content
        ("dir.parquet/data.csv", b"", "csv"),
        ("data.tsv", b"a\tb\n", "binary"),
        ("data.txt", b"a,b\n", "binary"),
        ("data.csv.gz", b"\x1f\x8b\x08", "binary"),
        ("data.parquet", b"", "parquet"),
        ("data.PQ", b"", "parquet"),
        ("data.jsonl", b"", "jsonl"),
        ("data.NDJSON", b"", "jsonl"),
        ("data.json", b"{}", "binary"),
        ("data.bin", b"PAR1\x15\x04", "parquet"),
        ("noextension", b"PAR1", "parquet"),
        (None, b"PAR1", "parquet"),
        (None, b"PAR", "binary"),
        (None, b"", "binary"),
        ("", b"a,b\n", "binary"),
        ("archive.tar", b"PAR1", "parquet"),
        (r"C:\data\x.csv", b"", "csv"),
        (".csv", b"", "csv"),
        ("data.", b"", "binary"),
    ],
)
def test_detect_format(filename: str | None, head: bytes, expected: str) -> None:
    assert detect_format(filename, head) == expected
    assert expected in FORMATS


@pytest.mark.parametrize(
    ("filename", "head", "complete", "expected"),
    [
        (None, b"a,b\n1,2\n", False, "csv"),
        ("<stdin>", b"a,b\n1,2\n", False, "csv"),
        ("/tmp/incoming", b'\xef\xbb\xbfid,"name, full"\r\n1,"x\ny"\r\n', True, "csv"),
        (None, b"a,b\n1,2", False, "binary"),  # one whole record so far: not enough to tell
        (None, b"a,b\n1,2", True, "csv"),  # the whole file
        (None, b"a,b\n", True, "binary"),  # a header alone
        (None, b"a\n1\n2\n", True, "binary"),  # one column: any text would do
        (None, b"a,b\n1,2,3\n", True, "binary"),  # ragged
        (None, b'a,b\n"1,2\n', True, "binary"),  # an open quote
        (None, b"a,b\n1,\x00\n", True, "binary"),
        (None, b"a,b\n1,\x1b[0m\n", True, "binary"),
        (None, b"a,b\n\xe9,1\n", True, "binary"),  # Latin-1, not UTF-8
        ("notes.txt", b"a,b\n1,2\n", True, "binary"),  # an extension that is not a table's
        (None, b'{"a": 1}\n{"a": 2.5, "b": [1]}\n', False, "jsonl"),
        ("events", b'{"a": 1}', True, "jsonl"),
        (None, b'{"a": 1}\n\n{"a": 2}\n', True, "jsonl"),
        (None, b'{"a": 1}\n[1, 2]\n', True, "binary"),  # a line that is not an object
        (None, b'{"a": NaN}\n', True, "binary"),
        (None, b'{\n  "a": 1\n}\n', True, "binary"),  # one JSON document, not JSON Lines
        (None, b"PAR1a,b\n1,2\n", True, "parquet"),
    ],
)
def test_detect_format_from_content(filename: str | None, head: bytes, complete: bool, expected: str) -> None:
    """Without an extension, CSV and JSON Lines are told by their first bytes, conservatively."""
    assert detect_format(filename, head, complete=complete) == expected


def binary_samples() -> Iterator[bytes]:
    import gzip
    import pickle
    import random
    import zipfile

    from cryptography.fernet import Fernet

    table = b"a,b,c\n" + b"1,hello,2.5\n" * 5000
    yield gzip.compress(table)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("t.csv", table)
    yield out.getvalue()
    yield pickle.dumps({"a": [1, 2, 3], "b": "text"})
    yield b"\x89PNG\r\n\x1a\n" + bytes(100)
    yield b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n" + bytes(24)
    yield Fernet(Fernet.generate_key()).encrypt(table) + b"\n"
    yield b"SQLite format 3\x00" + bytes(1000)
    rng = random.Random(7)
    for size in (1, 7, 100, 4096, 1 << 16):
        for _ in range(20):
            yield rng.randbytes(size)


def test_binary_data_is_never_called_a_table() -> None:
    for sample in binary_samples():
        for complete in (False, True):
            assert detect_format(None, sample[: 64 << 10], complete=complete) in ("binary", "parquet"), sample[:40]


# --- TabularSchema ---------------------------------------------------------------------------------

type_names = st.sampled_from(["int64", "double", "string", "bool", "null", "timestamp[s, tz=UTC]", "list<item: int64>"])
columns_st = st.lists(st.builds(Column, st.text(max_size=8), type_names), max_size=5).map(tuple)
one_line = st.text(min_size=1, max_size=40).filter(lambda s: "\n" not in s and "\r" not in s)
schemas = st.one_of(
    st.builds(TabularSchema, st.sampled_from(["csv", "parquet", "jsonl"]), columns_st, st.integers(0, 2**62)),
    st.builds(lambda f, e: TabularSchema(f, None, None, e), st.sampled_from(["csv", "parquet", "jsonl"]), one_line),
    st.just(TabularSchema("binary", None, None, None)),
)


@given(schemas)
def test_schema_json_round_trip(schema: TabularSchema) -> None:
    doc = json.loads(json.dumps(schema.to_json()))
    assert TabularSchema.from_json(doc) == schema
    assert schema.known == (schema.columns is not None)


def test_schema_json_form() -> None:
    schema = TabularSchema("csv", (Column("a", "int64"), Column("b", "string")), 3)
    assert schema.to_json() == {
        "format": "csv",
        "columns": [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}],
        "rows": 3,
        "error": None,
    }
    assert schema.known
    unknown = TabularSchema("csv", None, None, "empty file")
    assert not unknown.known
    assert unknown.to_json() == {"format": "csv", "columns": None, "rows": None, "error": "empty file"}


GOOD = {"format": "csv", "columns": [{"name": "a", "type": "int64"}], "rows": 1, "error": None}


@pytest.mark.parametrize(
    "doc",
    [
        [],
        "csv",
        {},
        {**GOOD, "extra": 1},
        {k: v for k, v in GOOD.items() if k != "error"},
        {**GOOD, "format": "xlsx"},
        {**GOOD, "format": 1},
        {**GOOD, "rows": -1},
        {**GOOD, "rows": 1.0},
        {**GOOD, "rows": True},
        {**GOOD, "rows": "1"},
        {**GOOD, "rows": None},  # columns without rows
        {**GOOD, "columns": None},  # rows without columns
        {**GOOD, "columns": {"a": "int64"}},
        {**GOOD, "columns": [["a", "int64"]]},
        {**GOOD, "columns": [{"name": "a"}]},
        {**GOOD, "columns": [{"name": "a", "type": ""}]},
        {**GOOD, "columns": [{"name": 1, "type": "int64"}]},
        {**GOOD, "columns": [{"name": "a", "type": "int64", "x": 1}]},
        {**GOOD, "error": "a known schema with an error"},
        {**GOOD, "columns": None, "rows": None, "error": 3},
        {**GOOD, "columns": None, "rows": None, "error": "two\nlines"},
        {"format": "binary", "columns": [], "rows": 0, "error": None},
        {"format": "binary", "columns": None, "rows": None, "error": "binary has no error"},
    ],
)
def test_schema_from_json_rejects_damaged_records(doc: Any) -> None:
    with pytest.raises(IntegrityError, match="schema record is damaged"):
        TabularSchema.from_json(doc)


# --- CSV -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, 4096, MiB])
def test_german_credit(size: int) -> None:
    data = GERMAN_CREDIT.read_bytes()
    schema = sniff("csv", data, [size])
    assert schema.format == "csv"
    columns, rows = described(schema)
    assert (len(columns), rows) == (21, 1000)
    assert (columns, rows) == read_csv_oracle(data)
    assert ("credit_amount", "int64") in columns
    assert ("purpose", "string") in columns


# Cells that probe pyarrow's conversion rules: spaces around numbers, dates and times are trimmed,
# around booleans and timestamps they are not; hexadecimal integers; nulls; out-of-range values...
TRICKY = [
    "", "0", "1", "-5", "+5", "0x1F", "-0x1F", " 7", "7 ", "\t8", "1.5", " 1.5", "1e5", "1e400", ".5", "1.", "-",
    "inf", "-Infinity", "nan", "NA", "null", "NULL", "N/A", "#N/A", "-nan", "true", "True", "FALSE", " true", "tRue",
    "2020-01-01", " 2020-01-01", "2020-02-30", "2020-1-1", "0001-01-01", "12:34", "12:34:56", " 12:34", "24:00",
    "12:34:56.5", "1:23", "2020-01-01 00:00:00", "2020-01-01T00:00", "2020-01-01T00", "2020-01-01 00:00:00.123",
    "2020-01-01T00:00:00Z", "2020-01-01T00:00:00+01:00", "2020-01-01T00:00:00.5Z", "9999-12-31T00:00:00.5",
    "2020-01-01T00:00:00.1234567891", "2020-01-01T00:00:00-0800", "99999999999999999999", "x", "é", "1,5", 'a"b',
    "a\nb", "  ", "1 2",
]  # fmt: skip
cell_kinds = [
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, width=64).map(str),
    st.sampled_from(["true", "false", "True", "FALSE", "0", "1"]),
    st.dates().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(sep=" ")),
    st.sampled_from(["", "NA", "null", "nan", "N/A"]),
    st.text(alphabet=st.sampled_from('ab, "\n\r\té'), max_size=6),
    st.sampled_from(TRICKY),
]


def csv_cell(text: str, quote: bool) -> bytes:
    if quote or any(c in text for c in ',"\n\r'):
        return b'"' + text.replace('"', '""').encode() + b'"'
    return text.encode()


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(1, 4))
    names = [draw(st.sampled_from(["a", "b", "a", "", "c d", 'q"r', "x,y", "n\nl"])) for _ in range(width)]
    pools = [draw(st.lists(st.sampled_from(cell_kinds), min_size=1, max_size=2)) for _ in range(width)]
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines = [b",".join(csv_cell(name, draw(st.booleans())) for name in names)]
    for _ in range(draw(st.integers(0, 8))):
        cells = [csv_cell(draw(draw(st.sampled_from(pool))), draw(st.integers(0, 9)) == 0) for pool in pools]
        lines.append(b",".join(cells))
    data = newline.join(lines)
    if len(lines) > 1 and draw(st.booleans()):
        return data  # no final line ending
    return data + newline


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files(), st.lists(st.integers(1, 64), min_size=1, max_size=5))
def test_csv_matches_pyarrow_read_csv(data: bytes, sizes: list[int]) -> None:
    schema = sniff("csv", data, sizes)
    try:
        expected = read_csv_oracle(data)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file or block" in str(exc) and not data.endswith((b"\n", b"\r")):
            # pyarrow refuses a header with no line ending after it; the sniffer takes it as a header.
            assert described(schema) == read_csv_oracle(data + b"\n"), data
            return
        assert not schema.known, (data, schema)
        assert schema.error
        return
    assert described(schema) == expected, data


def test_csv_header_only() -> None:
    expected = ([("a", "null"), ("b", "null")], 0)
    assert described(sniff("csv", b"a,b\n")) == expected == read_csv_oracle(b"a,b\n")
    assert described(sniff("csv", b"a,b\r\n\r\n\n")) == expected
    # pyarrow refuses a header with no line ending ("Empty CSV file or block"); a header is a header.
    assert described(sniff("csv", b"a,b", [1])) == expected


@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n"])
def test_csv_empty_file(data: bytes) -> None:
    assert sniff("csv", data, [1]) == TabularSchema("csv", None, None, "empty file")


def test_csv_awkward_headers() -> None:
    data = b'\xef\xbb\xbf\n"a\nb",a,,"x,""y"""\n1,2,3,4\n'
    assert described(sniff("csv", data, [1])) == read_csv_oracle(data)
    assert described(sniff("csv", data, [1]))[0] == [
        ("a\nb", "int64"),
        ("a", "int64"),
        ("", "int64"),
        ('x,"y"', "int64"),
    ]


def test_csv_invalid_utf8_is_binary() -> None:
    data = b"a,b\n\xff\xfe,1\nok,2\n"
    assert described(sniff("csv", data, [3])) == ([("a", "binary"), ("b", "int64")], 2) == read_csv_oracle(data)


def int_rows(total: int) -> bytes:
    row = b"123456,hello,,NA,true\n"
    return row * (total // len(row))


def test_csv_types_describe_the_whole_file() -> None:
    head = b"n,s,empty,na,flag\n"
    body = int_rows(3 * MiB)  # three blocks and more
    assert described(sniff("csv", head + body, [MiB])) == (
        [("n", "int64"), ("s", "string"), ("empty", "null"), ("na", "null"), ("flag", "bool")],
        body.count(b"\n"),
    )
    # One late value changes the type: pyarrow's streaming reader would fail here, read_csv re-converts.
    for late, expected in [
        (b"x,hello,,NA,true\n", "string"),
        (b"1.5,hello,,NA,true\n", "double"),
        (b"0x10,hello,,NA,true\n", "int64"),
    ]:
        data = head + body + late
        columns, rows = described(sniff("csv", data, [65536]))
        assert columns[0] == ("n", expected)
        assert rows == body.count(b"\n") + 1
        assert (columns, rows) == read_csv_oracle(data)
    data = head + body + b"7,1,2020-01-01,12:00,1\n"  # late values in columns that were all null
    columns, _ = described(sniff("csv", data, [MiB]))
    assert columns[2:] == [("empty", "date32[day]"), ("na", "time32[s]"), ("flag", "bool")]
    assert (columns, body.count(b"\n") + 1) == read_csv_oracle(data)
    data = head + b"7,1,2020-01-01,12:00,2\n" + body  # an early value kills kinds the later ones allow
    columns, _ = described(sniff("csv", data, [MiB]))
    assert columns == read_csv_oracle(data)[0]
    assert columns[4] == ("flag", "string")


def test_csv_ragged_row_is_unknown_without_leaking_values() -> None:
    schema = sniff("csv", f"a,b\n1,2\n3,{SECRET},{SECRET}\n".encode())
    assert not schema.known
    assert schema.columns is None
    assert schema.rows is None
    assert schema.error is not None
    assert schema.error == "CSV row 3 (the header is row 1) has 3 fields where the header has 2"
    assert SECRET not in schema.error
    assert "\n" not in schema.error
    # the same beyond the first block
    data = b"a,b\n" + b"1,2\n" * MiB + f"{SECRET}\n".encode() + b"1,2\n" * 10
    schema = sniff("csv", data, [MiB])
    assert schema.error is not None
    assert schema.error == f"CSV row {MiB + 2:,} (the header is row 1) has 1 field where the header has 2"
    assert SECRET not in schema.error


def test_csv_rows_longer_than_a_block_are_named_in_a_users_terms() -> None:
    long_row = b'1,"' + b"x" * (3 * MiB) + b'"\n'
    for data in (b"a,b\n" + b"1,2\n" * 1000 + long_row + b"1,2\n", b"a,b\n" + long_row):
        schema = sniff("csv", data, [MiB])
        assert schema.error is not None
        assert "straddl" not in schema.error
        assert schema.error.startswith("a CSV row after row ")
        assert schema.error.endswith(
            " (the header is row 1) is longer than 1 MiB, the longest row the schema sniffer reads"
        )
    assert sniff("csv", b"a\xff,b\n1,2\n").error == "the CSV header is not UTF-8 text"


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        (f"CSV parse error: Row #3: Expected 2 columns, got 3: 1,{SECRET},3", "Row #3: Expected 2 columns, got 3"),
        (f"In CSV column #1: Row #2: CSV conversion error to int64: invalid value '{SECRET}'", "invalid value"),
        (f"Failed to convert JSON to double, couldn't parse:{SECRET}", "couldn't parse"),
        (f'bad "{SECRET}" here', "bad"),
        (f"first line\nsecond line {SECRET}", "first line"),
        ("x" * 500 + SECRET, "xxxx"),
    ],
)
def test_reason_keeps_data_out(message: str, kept: str) -> None:
    reason = reasons_mod.reason(ValueError(message))
    assert SECRET not in reason
    assert kept in reason
    assert "\n" not in reason
    assert len(reason) <= 200


def test_csv_blocks_without_batches() -> None:
    """Blocks that give pyarrow no batch (empty lines, a long row) do not stall the bounded read-ahead."""
    for data in [
        b"a,b\n" + b"\n" * (5 * MiB) + b"1,2\n" * 5,
        b"a,b\n" + (b"1," + b"x" * (900 << 10) + b"\n") * 6,
    ]:
        start = time.monotonic()
        assert described(sniff("csv", data, [65536])) == read_csv_oracle(data)
        assert time.monotonic() - start < 5


def test_csv_quoted_newlines_across_blocks() -> None:
    # read_csv's default (newlines_in_values=False) cuts blocks inside quoted values; the sniffer does not.
    data = b"a,b\n" + (b'1,"' + b"line\n" * 50_000 + b'"\n') * 6
    parse = pacsv.ParseOptions(newlines_in_values=True)
    table = pacsv.read_csv(pa.BufferReader(data), parse_options=parse)
    assert described(sniff("csv", data, [MiB])) == arrow_described(table.schema, 6)


def test_csv_flow_control_never_deadlocks() -> None:
    """With one block of read-ahead, pyarrow often needs a block it may not read yet: it must get it."""
    row = b"12345,hello world,3.25\n"
    data = b"a,b,c\n" + row * (20 * MiB // len(row))
    result: list[TabularSchema] = []

    def run() -> None:
        with mock.patch.object(channel_mod, "_READAHEAD", 1):
            result.append(sniff("csv", data, [1_048_560]))  # a put's chunk size, off the block boundaries

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the sniffer deadlocked"
    assert described(result[0]) == ([("a", "int64"), ("b", "string"), ("c", "double")], data.count(b"\n") - 1)


def test_csv_read_ahead_is_bounded() -> None:
    """pyarrow reads up to 32 blocks ahead of its batches; the sniffer holds it to a few."""
    row = b"1234567\n"
    fed = sum_read = 0
    worst = 0
    real_read, real_narrow = channel_mod.Pipe.read, csv_mod._narrow

    def counting_read(self: Any, size: int = -1) -> bytes | memoryview:
        nonlocal sum_read
        data = real_read(self, size)
        sum_read += len(data)
        return data

    def slow_narrow(mask: int, column: Any) -> int:  # one column: one call per batch
        nonlocal fed, worst
        fed += len(column) * len(row)
        worst = max(worst, sum_read - fed)
        time.sleep(0.005)
        return real_narrow(mask, column)

    with (
        mock.patch.object(channel_mod.Pipe, "read", counting_read),
        mock.patch.object(csv_mod, "_narrow", slow_narrow),
    ):
        schema = sniff("csv", [b"n\n"] + [row * (MiB // len(row))] * 40)
    assert described(schema) == ([("n", "int64")], 40 * MiB // len(row))
    assert worst <= (channel_mod._READAHEAD + 2) * MiB, f"pyarrow read {worst / MiB:.1f} MiB ahead"


def test_csv_many_columns() -> None:
    """A header longer than pyarrow's 1 MiB block (and rows as long) gets longer blocks."""
    names = [f"{'c' * 1000}{i}" for i in range(1500)]
    header = ",".join(names).encode() + b"\n"
    assert len(header) > MiB
    data = header + (b",".join(b"%d" % i for i in range(1500)) + b"\n") * 3
    assert described(sniff("csv", data, [MiB])) == ([(name, "int64") for name in names], 3)
    too_long = b",".join(b"c%d" % i for i in range(400_000)) + b"\n"
    assert len(too_long) > 2 * MiB
    assert sniff("csv", too_long, [MiB]).error == "the CSV header is longer than 2 MiB"


def test_csv_row_longer_than_a_block_is_unknown() -> None:
    data = b"a,b\n1," + b"x" * (2 * MiB) + b"\n"
    schema = sniff("csv", data, [MiB])
    assert not schema.known
    assert schema.error


# --- JSON Lines ------------------------------------------------------------------------------------


def test_jsonl_from_pandas() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, None, 3.0],
            "s": ["a", "b", None],
            "b": [True, False, True],
            "l": [[1, 2], [], None],
            "o": [{"x": 1}, {"x": 2, "y": "z"}, None],
        }
    )
    data = frame.to_json(orient="records", lines=True).encode()
    table = pajson.read_json(pa.BufferReader(data))
    columns, rows = described(sniff("jsonl", data, [5]))
    assert (columns, rows) == arrow_described(table.schema, table.num_rows)
    assert columns[:4] == [("i", "int64"), ("f", "double"), ("s", "string"), ("b", "bool")]
    assert rows == 3


def test_jsonl_types_describe_the_whole_file() -> None:
    early = b'{"a": 1, "b": "x", "t": "2020-01-01", "n": null}\n' * (MiB // 40)
    late = b'{"a": 1.5, "c": [1, 2], "t": "not a time", "n": {"k": true}}\n'
    schema = sniff("jsonl", early + late + b"\n", [65536])
    assert described(schema) == (
        [
            ("a", "double"),
            ("b", "string"),
            ("t", "string"),
            ("n", "struct<k: bool>"),
            ("c", "list<item: int64>"),
        ],
        early.count(b"\n") + 1,
    )


def test_jsonl_conflicts_are_unknown() -> None:
    early = b'{"a": 1}\n' * (MiB // 8)
    schema = sniff("jsonl", [early, f'{{"a": "{SECRET}"}}\n'.encode()])  # in the second block
    assert not schema.known
    n = early.count(b"\n")
    assert schema.error == f"JSON Lines field a is a number in one record and a string in a record after record {n:,}"
    schema = sniff("jsonl", b'{"a": 1}\n{"a": "x"}\n')
    assert schema.error == "JSON Lines field a is a number in one record and a string in record 2"
    schema = sniff("jsonl", b'{"a": {"b": [1]}}\n{"a": {"b": {}}}\n')
    assert schema.error == "JSON Lines field a/b is an array in one record and an object in record 2"
    assert sniff("jsonl", b'{"a": 1}\n[1, 2]\n').error == "JSON Lines record 2 is an array, not an object"


def test_jsonl_invalid_json_is_unknown_with_the_row() -> None:
    early = b'{"a": 1}\n' * (MiB // 8)
    n = early.count(b"\n")
    schema = sniff("jsonl", early + b'{"a": 2}\n{"a": ]}\n{"a": 3}\n', [MiB])
    assert not schema.known
    assert schema.error == f"JSON Lines record {n + 2:,} is not valid JSON (invalid value)"


def test_jsonl_long_lines() -> None:
    line = b'{"a": "' + b"x" * (3 * MiB) + b'"}\n'
    start = time.monotonic()
    assert described(sniff("jsonl", line * 2 + b'{"a": null}\n', [65536])) == ([("a", "string")], 3)
    assert time.monotonic() - start < 5
    too_long = b'{"a": "' + b"x" * (17 * MiB) + b'"}\n'
    assert sniff("jsonl", too_long, [MiB]).error == "a JSON line is longer than 16 MiB"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", TabularSchema("jsonl", None, None, "empty file")),
        (b"\n\n", TabularSchema("jsonl", (), 0)),
        (b"{}\n{}\n", TabularSchema("jsonl", (), 2)),
        (b'{"a": 1}', TabularSchema("jsonl", (Column("a", "int64"),), 1)),
    ],
)
def test_jsonl_edge_cases(data: bytes, expected: TabularSchema) -> None:
    assert sniff("jsonl", data, [1]) == expected


JSON_VALUES = [None, 1, -3, 1.5, 2**64, True, False, "x", "2020-01-01", "2020-01-01T00:00:00Z", [], [1], [1.5], ["a"],
               [None], {}, {"b": 1}, {"c": "x"}, {"b": 2.5}, [{"b": 1}], [{"c": None}], {"b": {"d": [1]}}]  # fmt: skip


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    keys = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True))
    pools = {k: draw(st.lists(st.sampled_from(JSON_VALUES), min_size=1, max_size=3)) for k in keys}
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        row = {k: draw(st.sampled_from(pools[k])) for k in keys if draw(st.integers(0, 4))}
        lines.append(json.dumps(row).encode())
    return b"\n".join(lines) + b"\n"


@settings(max_examples=200, deadline=None)
@given(jsonl_files())
def test_jsonl_blocks_merge_like_one_block(data: bytes) -> None:
    """Cut into blocks of a line or two, the file gets the types pyarrow gives it in a single block."""
    with mock.patch.object(jsonl_mod, "BLOCK_SIZE", 24):
        schema = sniff("jsonl", data, [7])
    try:
        table = pajson.read_json(pa.BufferReader(data))
    except pa.ArrowInvalid as exc:
        message = str(exc)
    else:
        assert described(schema) == arrow_described(table.schema, table.num_rows)
        return
    assert not schema.known
    assert schema.error is not None
    # The first conflict met may differ (a later block can conflict within itself), not the verdict.
    assert schema.error.startswith("JSON Lines ") == message.startswith("JSON parse error: ")


# --- Parquet ---------------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, **kwargs)
    return out.getvalue()


SAMPLE_TABLE = pa.table(
    {
        "i": pa.array(range(10_000), pa.int64()),
        "f": pa.array([x / 3 for x in range(10_000)]),
        "s": pa.array([f"row {x}" for x in range(10_000)]),
        "b": pa.array([x % 2 == 0 for x in range(10_000)]),
        "t": pa.array(range(10_000), pa.timestamp("ms", "UTC")),
        "l": pa.array([[x, x] for x in range(10_000)]),
        "st": pa.array([{"k": x} for x in range(10_000)]),
        "d": pa.array([f"c{x % 3}" for x in range(10_000)]).dictionary_encode(),
    }
)


@pytest.mark.parametrize("sizes", [[1], [4096], [MiB], [3, 50_000, 17]])
def test_parquet_multiple_row_groups(sizes: list[int]) -> None:
    data = parquet_bytes(SAMPLE_TABLE, row_group_size=1000)
    assert pq.read_metadata(pa.BufferReader(data)).num_row_groups == 10
    if sizes == [1]:
        data = parquet_bytes(SAMPLE_TABLE.slice(0, 50), row_group_size=7)
    expected = pq.read_schema(pa.BufferReader(data))
    columns, rows = described(sniff("parquet", data, sizes))
    assert columns == arrow_described(expected, 0)[0]
    assert rows == (50 if sizes == [1] else 10_000)
    assert ("t", "timestamp[ms, tz=UTC]") in columns
    assert ("st", "struct<k: int64>") in columns


def test_parquet_from_pandas() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"], "z": [0.5, None, 1.5]}, index=[10, 20, 30])
    out = io.BytesIO()
    frame.to_parquet(out)
    data = out.getvalue()
    columns, rows = described(sniff("parquet", data, [100]))
    assert (columns, rows) == arrow_described(pq.read_schema(pa.BufferReader(data)), 3)
    assert columns[0] == ("x", "int64")


def test_parquet_empty_table() -> None:
    data = parquet_bytes(pa.table({"a": pa.array([], pa.int32())}))
    assert described(sniff("parquet", data)) == ([("a", "int32")], 0)


def test_parquet_damaged() -> None:
    data = parquet_bytes(SAMPLE_TABLE.slice(0, 100))
    footer_size = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_size
    garbled = data[:start] + bytes(b ^ 0x5A for b in data[start : start + footer_size]) + data[-8:]
    schema = sniff("parquet", garbled)
    assert not schema.known
    assert schema.error is not None
    assert schema.error.startswith("damaged Parquet footer")
    too_long = data[:-8] + (len(data)).to_bytes(4, "little") + b"PAR1"
    assert sniff("parquet", too_long).error == f"damaged Parquet file: footer length {len(data)} exceeds the file"
    assert sniff("parquet", data[:-1]).error == "not a Parquet file (no PAR1 magic at the end)"
    assert sniff("parquet", data[:-8] + data[-8:-4] + b"PARE").error is not None
    assert sniff("parquet", b"PAR1PAR1").error == "not a Parquet file (too short)"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "empty file"),
        (b"a,b\n1,2\n" * 100, "not a Parquet file (no PAR1 magic at the start)"),
        (b"PA", "not a Parquet file (no PAR1 magic at the start)"),
    ],
)
def test_not_parquet(data: bytes, error: str) -> None:
    assert sniff("parquet", data, [3]) == TabularSchema("parquet", None, None, error)


def test_parquet_keeps_a_bounded_tail() -> None:
    data = parquet_bytes(SAMPLE_TABLE, row_group_size=1000)
    footer_size = int.from_bytes(data[-8:-4], "little")
    assert len(data) > 8 * (footer_size + 8)
    with mock.patch.object(parquet_mod, "PARQUET_TAIL_MAX", footer_size + 8), SchemaSniffer("parquet") as sniffer:
        for chunk in chunked(data, [1000]):
            sniffer.feed(chunk)
            assert sniffer._parquet is not None
            assert sniffer._parquet._tail_size <= footer_size + 8 + 1000
        assert described(sniffer.finish())[1] == 10_000
    with mock.patch.object(parquet_mod, "PARQUET_TAIL_MAX", footer_size + 7):
        schema = sniff("parquet", data, [1000])
    assert schema.error == f"Parquet footer too large to read ({footer_size} bytes)"


# --- the sniffer's life cycle --------------------------------------------------------------------


def test_binary_does_nothing() -> None:
    before = len(sniffer_threads())
    with SchemaSniffer("binary") as sniffer:
        assert len(sniffer_threads()) == before
        sniffer.feed(b"PAR1 whatever")
        assert sniffer.finish() == TabularSchema("binary", None, None, None)
        assert sniffer.finish() == TabularSchema("binary", None, None, None)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        SchemaSniffer("xlsx")
    with pytest.raises(ValueError, match="max_queued"):
        SchemaSniffer("csv", max_queued=0)


def test_misuse() -> None:
    sniffer = SchemaSniffer("csv")
    sniffer.feed(b"a\n1\n")
    schema = sniffer.finish()
    assert sniffer.finish() is schema
    with pytest.raises(RuntimeError, match="after finish"):
        sniffer.feed(b"2\n")
    sniffer.abort()  # a no-op after finish
    assert sniffer.finish() is schema
    aborted = SchemaSniffer("jsonl")
    aborted.abort()
    aborted.abort()
    aborted.feed(b"{}\n")  # dropped
    with pytest.raises(RuntimeError, match="after abort"):
        aborted.finish()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_abort_without_feeding(fmt: str) -> None:
    sniffer = SchemaSniffer(fmt)
    thread = sniffer._thread
    assert thread is not None
    assert thread.daemon
    start = time.monotonic()
    sniffer.abort()
    assert time.monotonic() - start < 2
    assert not thread.is_alive()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_abort_while_the_parser_waits_for_data(fmt: str) -> None:
    sniffer = SchemaSniffer(fmt)
    # pyarrow parses the first block, then waits inside a read for the rest
    sniffer.feed(b"a,b\n" + b"1,2\n" * (MiB // 3) if fmt == "csv" else b'{"a": 1}\n' * (MiB // 6))
    time.sleep(0.3)
    thread = sniffer._thread
    assert thread is not None
    assert thread.is_alive()
    start = time.monotonic()
    sniffer.abort()
    assert time.monotonic() - start < 2
    assert not thread.is_alive()


def test_abort_unblocks_a_blocked_feeder() -> None:
    started = threading.Event()

    def stuck_parser(channel: Any) -> None:  # never consumes: the queue fills and feed() blocks
        started.set()
        while not channel.cancelled:
            time.sleep(0.01)

    with mock.patch.object(sniffer_mod, "sniff_csv", stuck_parser):
        sniffer = SchemaSniffer("csv", max_queued=2)
    assert started.wait(5)
    fed = []

    def feeder() -> None:
        for _ in range(10):
            sniffer.feed(b"x" * 100)
            fed.append(1)

    feeding = threading.Thread(target=feeder, daemon=True)
    feeding.start()
    time.sleep(0.2)
    assert len(fed) == 2  # blocked on the third
    assert feeding.is_alive()
    sniffer.abort()
    feeding.join(2)
    assert not feeding.is_alive()
    assert sniffer._thread is not None
    assert not sniffer._thread.is_alive()


def test_context_manager_aborts_on_error() -> None:
    sniffer = SchemaSniffer("csv")

    def failing_put() -> None:
        with sniffer:
            sniffer.feed(b"a,b\n1,2\n")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        failing_put()
    assert sniffer._thread is not None
    assert not sniffer._thread.is_alive()
    with pytest.raises(RuntimeError, match="after abort"):
        sniffer.finish()


def test_after_a_parse_failure_chunks_are_dropped_at_once() -> None:
    chunk = b"1,2\n" * (MiB // 4)
    start = time.monotonic()
    with SchemaSniffer("csv", max_queued=1) as sniffer:
        sniffer.feed(b"a,b\n1\n")  # ragged at once
        time.sleep(0.2)
        for _ in range(500):  # 500 MiB: parsed, this would take seconds
            sniffer.feed(chunk)
        schema = sniffer.finish()
    assert time.monotonic() - start < 5
    assert schema.error is not None
    assert schema.error == "CSV row 2 (the header is row 1) has 1 field where the header has 2"


def test_importing_the_module_does_not_import_pyarrow() -> None:
    code = "import mlwarden.store._sniffer, sys; assert 'pyarrow' not in sys.modules, 'pyarrow imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sniffing_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas (40 MiB of RSS) when it converts Python values; the sniffer never does."""
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_parquet(tmp_path / "frame.parquet")
    csv = b"i,f,b,d,t,ts,tz,s\n1,1.5,true,2020-01-01,12:00,2020-01-01 00:00:00,2020-01-01T00:00:00Z,x\n"
    (tmp_path / "data.csv").write_bytes(csv)
    (tmp_path / "data.jsonl").write_bytes(b'{"a": 1, "b": {"c": [1]}}\n{"a": 1.5, "b": {"c": [], "d": "x"}}\n')
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from mlwarden.store._sniffer import SchemaSniffer

        for name, fmt in [("data.csv", "csv"), ("data.jsonl", "jsonl"), ("frame.parquet", "parquet")]:
            with SchemaSniffer(fmt) as sniffer:
                sniffer.feed(Path(sys.argv[1], name).read_bytes())
                assert sniffer.finish().known
        assert "pyarrow" in sys.modules
        assert "pandas" not in sys.modules, "pandas imported"
        """
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import random, sys
    from mlwarden.store._sniffer import SchemaSniffer

    def peak_rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

    def rows(seed):
        r = random.Random(seed)
        lines, size = [], 0
        while size < (1 << 20):
            line = f"{r.randint(0, 10**9)},{r.random():.5f},word{r.randint(0, 99)},{r.choice(['true', 'false'])}\\n"
            lines.append(line)
            size += len(line)
        return "".join(lines).encode()

    warm = SchemaSniffer("csv")
    warm.feed(b"a,b,c,d\\n" + rows(99))
    warm.finish()
    chunks = [rows(seed) for seed in range(4)]  # fed over and over: the test holds 4 MiB
    base = peak_rss()
    with SchemaSniffer("csv") as sniffer:
        sniffer.feed(b"id,score,word,flag\\n")
        for i in range(int(sys.argv[1])):
            sniffer.feed(chunks[i % 4])
        schema = sniffer.finish()
    print(schema.rows, [c.type for c in schema.columns], peak_rss() - base)
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for the peak RSS")
def test_memory_stays_bounded() -> None:
    mib = 200
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(mib)], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out[1:5] == ["['int64',", "'double',", "'string',", "'bool']"]
    assert int(out[0]) > 2_000_000
    growth = int(out[-1])
    assert growth < 64 * MiB, f"peak RSS grew by {growth / MiB:.0f} MiB while sniffing {mib} MiB"
