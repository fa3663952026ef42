"""Reference profiles and counts: formats, streaming equivalence, tampering, no values stored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.errors import IntegrityError
from mlwarden.monitor import PROFILE_FORMAT, ProfileCounts, ReferenceProfile, compare
from mlwarden.monitor._profile import FOLD_ROWS

from .test_drift_statistics import mixed


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    return ReferenceProfile.from_frame(mixed(3000, 1))


def test_profile_bytes_round_trip_and_are_canonical(profile: ReferenceProfile) -> None:
    data = profile.to_bytes()
    again = ReferenceProfile.from_bytes(data)
    assert again.sha256 == profile.sha256
    assert again.to_bytes() == data
    assert json.loads(data)["format"] == PROFILE_FORMAT
    assert (again.joint == profile.joint).all()
    # the same data profiles to the same bytes
    assert ReferenceProfile.from_frame(mixed(3000, 1)).sha256 == profile.sha256


def test_a_changed_profile_is_refused(profile: ReferenceProfile) -> None:
    doc = json.loads(profile.to_bytes())
    doc["columns"][0]["counts"][0] += 1
    changed = json.dumps(doc).encode()
    with pytest.raises(IntegrityError):
        ReferenceProfile.from_bytes(changed)  # not canonical any more, or its digest changed
    doc["format"] = "mlwarden.drift-profile/v9"
    with pytest.raises(IntegrityError, match="format"):
        ReferenceProfile.from_bytes(json.dumps(doc).encode())


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bytes_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        ReferenceProfile.from_bytes(data)


def test_counting_in_chunks_or_requests_equals_counting_at_once(profile: ReferenceProfile) -> None:
    frame = mixed(2500, 7)
    whole = ProfileCounts(profile)
    whole.add_frame(frame)
    chunked = ProfileCounts(profile)
    for start in range(0, len(frame), 700):
        chunked.add_frame(frame.iloc[start : start + 700])
    requests = ProfileCounts(profile)
    for start in range(0, len(frame), 3):
        part = frame.iloc[start : start + 3]
        batch = {c: part[c].to_numpy(dtype=float) for c in ("a", "b", "skewed", "count")}
        batch.update({c: part[c].to_numpy(dtype=object) for c in ("colour", "flag")})
        requests.add_columns(batch)
    assert requests._pending_rows < FOLD_ROWS  # a request is an append; the fold waits for more
    for other in (chunked, requests):
        assert other.to_bytes() == whole.to_bytes()
    merged = ProfileCounts(profile)
    merged.merge(chunked)
    merged.merge(whole)
    assert merged.rows == 2 * len(frame)
    assert all((m == 2 * w).all() for m, w in zip(merged.counts, whole.counts, strict=True))


def test_counts_round_trip_hold_no_values_and_refuse_tampering(profile: ReferenceProfile) -> None:
    frame = mixed(400, 8)
    frame.loc[0, "colour"] = "secret-value-xyz"
    counts = ProfileCounts(profile)
    counts.add_frame(frame)
    data = counts.to_bytes()
    assert b"secret-value-xyz" not in data
    assert b"red" not in data
    again = ProfileCounts.from_bytes(data, profile)
    assert again.to_bytes() == data
    doc = json.loads(data)
    doc["rows"] += 1
    with pytest.raises(IntegrityError, match="add up"):
        ProfileCounts.from_bytes(json.dumps(doc).encode(), profile)
    other = ReferenceProfile.from_frame(mixed(300, 2))
    with pytest.raises(IntegrityError, match="another reference profile"):
        ProfileCounts.from_bytes(data, other)


def test_values_outside_the_reference_fall_in_its_outer_bins(profile: ReferenceProfile) -> None:
    frame = mixed(200, 9)
    frame["a"] = 1e9
    counts = ProfileCounts(profile)
    counts.add_frame(frame)
    a = profile.column("a")
    assert counts.counts[0][a.bins - 2] == 200  # the last value bin, not missing
    assert compare(profile, counts).columns[0].severity == "major"


def test_text_in_a_numeric_column_counts_as_missing(profile: ReferenceProfile) -> None:
    frame = mixed(100, 9).astype({"a": object})
    frame.loc[:9, "a"] = "n/a"
    counts = ProfileCounts(profile)
    counts.add_frame(frame)
    assert counts.counts[0][-1] == 10


def test_a_discrete_column_gets_one_bin_per_value() -> None:
    frame = pd.DataFrame({"k": np.repeat([1.0, 2.0, 5.0], [10, 20, 30])})
    column = ReferenceProfile.from_frame(frame).columns[0]
    assert list(column.edges) == [1.5, 3.5]
    assert list(column.counts) == [10, 20, 30, 0]


def test_with_counts_keeps_the_bins(profile: ReferenceProfile) -> None:
    counts = ProfileCounts(profile)
    counts.add_frame(mixed(5000, 3))
    full = profile.with_counts(counts)
    assert full.rows == 5000
    assert [list(c.edges) for c in full.columns] == [list(c.edges) for c in profile.columns]
    assert full.sha256 != profile.sha256
