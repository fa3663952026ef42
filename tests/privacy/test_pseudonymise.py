"""Pseudonymisation and generalisation of a frame (``mlwarden.privacy._pseudonymise``): tokens that join and
reverse, no original value left anywhere in the written Parquet, generalisation's rules, and k-anonymity
against a brute-force count."""

from __future__ import annotations

import io
import sys
import types
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.crypto._pseudonym_keys import PseudonymKey, token_key_number
from mlwarden.errors import BadInput
from mlwarden.privacy._pseudonymise import (
    Generalisation,
    PseudonymisedFrame,
    k_anonymity,
    parse_generalise,
    pseudonymise_frame,
)

KEY = PseudonymKey(1, bytes(range(32)))
OTHER_KEY = PseudonymKey(2, bytes(range(1, 33)))


def _fallback_canonical_value(value: object, kind: str | None) -> str | None:
    """What ``mlwarden.privacy._detect.canonical_value`` is specified to do, for when it has not landed yet."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if kind == "email":
        return text.casefold()
    if kind == "phone":
        digits = "".join(c for c in text if c.isdigit())
        return "+" + digits
    if kind in ("national_id", "iban", "passport"):
        return text.replace(" ", "").replace("-", "").upper()
    return text


@pytest.fixture(autouse=True)
def canonical_value(monkeypatch: pytest.MonkeyPatch) -> Any:
    try:
        from mlwarden.privacy._detect import canonical_value as real
    except ImportError:
        fake = types.ModuleType("mlwarden.privacy._detect")
        fake.canonical_value = _fallback_canonical_value  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "mlwarden.privacy._detect", fake)
        return _fallback_canonical_value
    return real


def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Alice Archer", "Bob Baker", "Carol Carter", None, "Alice Archer", "Dan Dixon"],
            "email": [
                "Alice.Archer@example.org",
                "bob.baker@example.org",
                "carol.carter@example.org",
                "dora.dunn@example.org",
                "alice.archer@EXAMPLE.org ",
                None,
            ],
            "postcode": ["SW1A 2AA", "SW1P 3BB", "EC1A 1BB", "EC2V 7HH", "SW1A 2AA", None],
            "age": [34, 37, 52, 58, 34, 21],
            "birth": pd.to_datetime(["1991-03-04", "1988-07-19", "1973-01-30", "1967-12-01", "1991-03-04", None]),
            "income": [41_000.5, 52_300.25, 77_800.0, 61_100.75, 41_000.5, 23_900.0],
        }
    )


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as it would be stored: pyarrow's pandas metadata, statistics, no compression (so a value
    present anywhere in the file is present in its bytes)."""
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, compression="none")
    return sink.getvalue()


# -- tokens -------------------------------------------------------------------------------------------


def test_one_way_tokens_replace_every_value(canonical_value: Any) -> None:
    frame = people()
    done = pseudonymise_frame(frame, columns=["name", "email"], key=KEY, kinds={"email": "email"})
    assert isinstance(done, PseudonymisedFrame)
    assert done.tokenised == ("name", "email")
    assert done.generalised == ()
    assert done.rows == 6
    for column in ("name", "email"):
        out = done.frame[column]
        assert isinstance(out.dtype, pd.StringDtype)
        for before, after in zip(frame[column], out, strict=True):
            if pd.isna(before):
                assert after is pd.NA
            else:
                assert after == KEY.token(canonical_value(before, "email" if column == "email" else None))
                assert token_key_number(after) == 1
    # Equal canonical values, equal tokens: two spellings of one address, one name twice.
    assert done.frame["email"][0] == done.frame["email"][4]
    assert done.frame["name"][0] == done.frame["name"][4]
    assert done.frame["email"][0] != done.frame["email"][1]
    # The other columns are untouched, and so is the input.
    pd.testing.assert_frame_equal(done.frame.drop(columns=["name", "email"]), frame.drop(columns=["name", "email"]))
    pd.testing.assert_frame_equal(frame, people())


def test_reversible_tokens_round_trip(canonical_value: Any) -> None:
    frame = people()
    done = pseudonymise_frame(frame, columns=["email"], key=KEY, reversible=True, kinds={"email": "email"})
    for before, after in zip(frame["email"], done.frame["email"], strict=True):
        if pd.isna(before):
            assert after is pd.NA
            continue
        assert after.startswith("pr1_")
        assert KEY.open(after) == canonical_value(before, "email")
    assert KEY.open(done.frame["email"][0]) == "alice.archer@example.org"


def test_tokens_join_across_datasets() -> None:
    customers = pd.DataFrame({"email": ["A@x.org", "b@x.org", "c@x.org"], "segment": ["gold", "silver", "gold"]})
    orders = pd.DataFrame({"email": [" a@X.org", "c@x.org", "c@x.org", "z@x.org"], "amount": [10, 20, 30, 40]})
    kinds = {"email": "email"}
    left = pseudonymise_frame(customers, columns=["email"], key=KEY, kinds=kinds).frame
    right = pseudonymise_frame(orders, columns=["email"], key=KEY, kinds=kinds).frame
    joined = left.merge(right, on="email")
    assert sorted(zip(joined["segment"], joined["amount"], strict=True)) == [("gold", 10), ("gold", 20), ("gold", 30)]
    # Determinism: the same frame twice gives the same tokens; another key gives others.
    again = pseudonymise_frame(customers, columns=["email"], key=KEY, kinds=kinds).frame
    pd.testing.assert_frame_equal(left, again)
    other = pseudonymise_frame(customers, columns=["email"], key=OTHER_KEY, kinds=kinds).frame
    assert not set(other["email"]) & set(left["email"])
    assert left.merge(pseudonymise_frame(orders, columns=["email"], key=OTHER_KEY, kinds=kinds).frame, on="email").empty


def test_numbers_and_categories_are_tokenised_as_canonical_text(canonical_value: Any) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [1001.0, 1002.0, np.nan, 1001.0],
            "ref": pd.Categorical(["K-1", "K-2", "K-1", None]),
            "n": pd.array([7, None, 7, 8], dtype="Int64"),
        }
    )
    done = pseudonymise_frame(frame, columns=["customer_id", "ref", "n"], key=KEY)
    assert list(done.frame["customer_id"].isna()) == [False, False, True, False]
    assert done.frame["customer_id"][0] == KEY.token(canonical_value(1001.0, None)) == done.frame["customer_id"][3]
    assert not isinstance(done.frame["ref"].dtype, pd.CategoricalDtype)
    assert done.frame["ref"][0] == done.frame["ref"][2] == KEY.token("K-1")
    assert done.frame["ref"][3] is pd.NA
    assert done.frame["n"][1] is pd.NA
    assert done.frame["n"][0] == KEY.token(canonical_value(7, None))


# -- no original value remains --------------------------------------------------------------------------


def test_no_original_value_remains_in_the_frame_or_its_parquet() -> None:
    frame = people()
    frame["ref"] = pd.Categorical(["cat-ref-alpha", "cat-ref-bravo", "cat-ref-alpha", None, "cat-ref-delta", None])
    frame.attrs = {"sample": "Carol Carter"}  # attrs are written into the Parquet metadata
    before = parquet_bytes(frame)
    done = pseudonymise_frame(
        frame,
        columns=["name", "email", "ref"],
        key=KEY,
        kinds={"email": "email"},
        generalise=parse_generalise("postcode=3,age=10,birth=5,income=10000"),
    )
    after = parquet_bytes(done.frame)
    assert done.frame.attrs == {}
    for column in ("name", "email", "ref", "postcode", "age", "birth", "income"):
        originals = {v for v in frame[column] if not pd.isna(v)}
        kept = {v for v in done.frame[column] if not pd.isna(v)}
        assert not originals & kept, column
        assert not {str(v) for v in originals} & kept, column
    in_clear = [v for c in ("name", "email", "ref", "postcode") for v in frame[c] if isinstance(v, str)]
    in_clear += ["Carol Carter"]
    for text in in_clear:
        assert text.encode() in before, text  # the check can see a value where there is one
        assert text.encode() not in after, text
    for text in (v.strip().casefold() for v in frame["email"] if isinstance(v, str)):
        assert text.encode() not in after, text  # nor the canonical form tokens are made of
    # Nor the other encodings pyarrow uses: doubles, timestamps as integers.
    for number in frame["income"]:
        assert np.float64(number).tobytes() in before
        assert np.float64(number).tobytes() not in after
    for moment in frame["birth"].dropna():
        for unit in ("s", "ms", "us", "ns"):
            assert np.int64(moment.as_unit(unit)._value).tobytes() not in after
    assert b"1991-03-04" not in after


def test_generalised_column_keeps_no_value_of_its_own_even_when_short() -> None:
    frame = pd.DataFrame({"postcode": ["SW1", "SW", "", " N1 "]})
    out = pseudonymise_frame(frame, columns=[], key=KEY, generalise=[Generalisation("postcode", 3)]).frame
    assert list(out["postcode"]) == ["SW1*", "SW*", "*", "N1*"]
    assert not set(out["postcode"]) & set(frame["postcode"])


# -- generalisation -------------------------------------------------------------------------------------


def generalised(values: Any, level: int, **series: Any) -> list[Any]:
    frame = pd.DataFrame({"c": pd.Series(values, **series)})
    out = pseudonymise_frame(frame, columns=[], key=KEY, generalise=[Generalisation("c", level)]).frame["c"]
    assert isinstance(out.dtype, pd.StringDtype)
    return [None if v is pd.NA else v for v in out]


def test_integers_go_into_bins() -> None:
    assert generalised([0, 9, 10, 37, 39, 40, -1, -10, -11], 10) == [
        "0-9",
        "0-9",
        "10-19",
        "30-39",
        "30-39",
        "40-49",
        "-10--1",
        "-10--1",
        "-20--11",
    ]
    assert generalised([37, None, 38], 5, dtype="Int64") == ["35-39", None, "35-39"]
    assert generalised([37], 1) == ["37-37"]
    # Floats that all hold integers (ages read back with nulls) are binned as integers.
    assert generalised([37.0, np.nan, 41.0], 10) == ["30-39", None, "40-49"]
    # Numbers held in an object column: numpy scalars, decimals.
    assert generalised([np.int64(37), Decimal("41"), None], 10, dtype=object) == ["30-39", "40-49", None]
    assert generalised([2**62 + 5], 10) == [f"{(2**62 + 5) // 10 * 10}-{(2**62 + 5) // 10 * 10 + 9}"]


def test_other_numbers_go_into_float_bins() -> None:
    assert generalised([37.5, 30.0, 39.99, np.nan, -0.5], 10) == [
        "30.0-40.0",
        "30.0-40.0",
        "30.0-40.0",
        None,
        "-10.0-0.0",
    ]
    assert generalised([0.25, float("inf"), float("-inf")], 1) == ["0.0-1.0", "inf", "-inf"]
    assert generalised([Decimal("3.5"), Decimal("NaN"), np.float32(12.5)], 10, dtype=object) == [
        "0.0-10.0",
        None,
        "10.0-20.0",
    ]


def test_dates_go_into_year_ranges() -> None:
    days = pd.to_datetime(["1984-05-02", "1980-01-01", "1989-12-31", None, "1990-06-01"])
    assert generalised(days, 5) == ["1980-1984", "1980-1984", "1985-1989", None, "1990-1994"]
    assert generalised(days, 1) == ["1984", "1980", "1989", None, "1990"]
    assert generalised(days, 10) == ["1980-1989", "1980-1989", "1980-1989", None, "1990-1999"]
    aware = pd.Series(days).dt.tz_localize("UTC")
    assert generalised(aware, 5) == ["1980-1984", "1980-1984", "1985-1989", None, "1990-1994"]
    assert generalised([date(1984, 5, 2), None, datetime(1977, 1, 1, tzinfo=UTC)], 5, dtype=object) == [
        "1980-1984",
        None,
        "1975-1979",
    ]
    assert generalised(["1984-05-02", "1979-12-31T23:59:59Z", None, " 2001-02-03 "], 5) == [
        "1980-1984",
        "1975-1979",
        None,
        "2000-2004",
    ]


def test_text_keeps_its_first_characters() -> None:
    assert generalised(["SW1A 2AA", "EC1A 1BB", None, "N1 9GU"], 3) == ["SW1*", "EC1*", None, "N1 *"]
    assert generalised(["SW1A 2AA", "EC1A 1BB"], 1) == ["S*", "E*"]
    # A column that is not all ISO dates is text; 8-digit numbers as text are not taken for dates.
    assert generalised(["1984-05-02", "SW1A 2AA"], 4) == ["1984*", "SW1A*"]
    assert generalised(["19840502", "19991231"], 4, dtype="string") == ["1984*", "1999*"]
    assert generalised(["1984-13-45"], 4) == ["1984*"]
    # Numbers written as text are text (ZIP codes keep their leading digits, not a numeric bin).
    assert generalised(["02139", "10115"], 3) == ["021*", "101*"]


def test_nulls_stay_null_and_all_null_columns_stay_so() -> None:
    assert generalised([None, None], 10, dtype=object) == [None, None]
    assert generalised([np.nan, np.nan], 10) == [None, None]


def test_true_false_and_complex_columns_are_refused() -> None:
    with pytest.raises(BadInput, match="true/false"):
        generalised([True, False], 10)
    with pytest.raises(BadInput, match="true/false"):
        generalised([True, None], 10, dtype=object)
    with pytest.raises(BadInput, match="true/false"):
        generalised([np.bool_(True), np.bool_(False)], 10, dtype=object)
    with pytest.raises(BadInput, match="complex"):
        generalised([1 + 2j], 10)


# -- k-anonymity ----------------------------------------------------------------------------------------


def brute_force(frame: pd.DataFrame, names: list[str]) -> tuple[int | None, dict[int, int]]:
    if not names:
        return None, {}
    rows = [tuple("<null>" if pd.isna(v) else ("v", v) for v in row) for row in frame[names].itertuples(index=False)]
    sizes = Counter(rows)
    if not sizes:
        return None, {2: 0, 5: 0, 10: 0}
    per_row = [sizes[r] for r in rows]
    return min(sizes.values()), {t: sum(1 for s in per_row if s < t) for t in (2, 5, 10)}


cell = st.one_of(st.sampled_from(["a", "b", "c"]), st.none(), st.just(float("nan")))


@settings(max_examples=150)
@given(
    st.integers(min_value=0, max_value=40).flatmap(
        lambda n: st.tuples(
            st.lists(cell, min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(cell, min_size=n, max_size=n),
        )
    ),
    st.lists(st.sampled_from(["x", "y", "z"]), max_size=3, unique=True),
)
def test_k_anonymity_matches_a_brute_force_count(columns: tuple[list[Any], ...], names: list[str]) -> None:
    x, y, z = columns
    frame = pd.DataFrame({"x": pd.Series(x, dtype=object), "y": y, "z": pd.Series(z, dtype=object)})
    assert k_anonymity(frame, names) == brute_force(frame, names)


def test_k_anonymity_reported_after_generalisation() -> None:
    frame = people()
    done = pseudonymise_frame(
        frame, columns=["name", "email"], key=KEY, generalise=parse_generalise("age=10,postcode=2")
    )
    assert done.quasi_identifiers == ("age", "postcode")
    # (30-39, SW*) x3, (50-59, EC*) x2, (20-29, null) x1
    assert done.k_anonymity == 1
    assert done.classes_below == {2: 1, 5: 6, 10: 6}
    named = pseudonymise_frame(
        frame, columns=[], key=KEY, generalise=[Generalisation("age", 100)], quasi_identifiers=["age"]
    )
    assert (named.k_anonymity, named.classes_below) == (6, {2: 0, 5: 0, 10: 6})
    none = pseudonymise_frame(frame, columns=["name"], key=KEY)
    assert (none.quasi_identifiers, none.k_anonymity, none.classes_below) == ((), None, {})
    empty = pseudonymise_frame(frame.iloc[0:0], columns=["name"], key=KEY, generalise=[Generalisation("age", 10)])
    assert (empty.k_anonymity, empty.classes_below, empty.rows) == (None, {2: 0, 5: 0, 10: 0}, 0)


# -- bad input ------------------------------------------------------------------------------------------


def test_parse_generalise() -> None:
    assert parse_generalise("age=10,postcode=3") == (Generalisation("age", 10), Generalisation("postcode", 3))
    assert parse_generalise(" age = 10 , a=b=2") == (Generalisation("age", 10), Generalisation("a=b", 2))


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("", "''"),
        ("age", "'age'"),
        ("age=", "'age='"),
        ("=3", "'=3'"),
        ("age=0", "'age=0'"),
        ("age=-1", "'age=-1'"),
        ("age=x", "'age=x'"),
        ("age=1.5", "'age=1.5'"),
        ("age=\u0661\u0660", "'age=\u0661\u0660'"),
        ("age=10,", "''"),
        ("age=10,,postcode=3", "''"),
        ("age=10,age=5", "'age'"),
        ("age=10,ag\ne=x", "'ag\\ne=x'"),
    ],
)
def test_bad_generalise_specs(spec: str, named: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_generalise(spec)
    message = str(err.value)
    assert named in message
    assert "\n" not in message


def test_unknown_columns_are_named_with_what_exists() -> None:
    frame = pd.DataFrame({f"col{i}": ["Alice Archer"] for i in range(12)})
    with pytest.raises(BadInput) as err:
        pseudonymise_frame(frame, columns=["email", "col1", "phone"], key=KEY)
    message = str(err.value)
    assert "'email', 'phone'" in message
    assert "'col0'" in message
    assert "and 4 more" in message
    assert "Alice" not in message
    with pytest.raises(BadInput, match="'age'"):
        pseudonymise_frame(frame, columns=[], key=KEY, generalise=[Generalisation("age", 10)])
    with pytest.raises(BadInput, match="'zip'"):
        pseudonymise_frame(frame, columns=["col1"], key=KEY, quasi_identifiers=["zip"])


def test_column_both_tokenised_and_generalised_is_refused() -> None:
    with pytest.raises(BadInput, match="both"):
        pseudonymise_frame(people(), columns=["postcode"], key=KEY, generalise=[Generalisation("postcode", 3)])


def test_bad_levels_and_doubled_columns_are_refused() -> None:
    for level in (0, -3, 2.5, True):
        with pytest.raises(BadInput, match="level"):
            pseudonymise_frame(people(), columns=[], key=KEY, generalise=[Generalisation("age", level)])  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="twice"):
        pseudonymise_frame(people(), columns=["name", "name"], key=KEY)
    with pytest.raises(BadInput, match="twice"):
        pseudonymise_frame(
            people(), columns=[], key=KEY, generalise=[Generalisation("age", 1), Generalisation("age", 2)]
        )
    doubled = pd.DataFrame([["a", "b"]], columns=["name", "name"])
    with pytest.raises(BadInput, match="more than one column"):
        pseudonymise_frame(doubled, columns=["name"], key=KEY)


def test_error_messages_hold_no_values() -> None:
    frame = pd.DataFrame({"flag": [True, False], "secret": ["Alice Archer", "Bob Baker"]})
    for call in (
        lambda: pseudonymise_frame(frame, columns=[], key=KEY, generalise=[Generalisation("flag", 2)]),
        lambda: pseudonymise_frame(frame, columns=["nope"], key=KEY),
    ):
        with pytest.raises(BadInput) as err:
            call()
        assert "Alice" not in str(err.value)
        assert "True" not in str(err.value)
