"""Dataset names, NAME@VERSION references and tags: an allow-list, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlwarden.errors import BadInput
from mlwarden.store import check_name, parse_ref, parse_tag
from mlwarden.store._names import check_tags

GOOD = ["credit-german", "a", "A.b_c-9", "x" * 128, "2024.q3"]
BAD = ["", "a/b", "a\\b", "..", ".hidden", "-x", "_x", "a b", "a\nb", "a\x00", "x" * 129, "naïve", "a@1", "a:b"]


@pytest.mark.parametrize("name", GOOD)
def test_good_names(name: str) -> None:
    assert check_name(name) == name
    assert parse_ref(name) == (name, None)
    assert parse_ref(f"{name}@12") == (name, 12)
    assert parse_ref(f"{name}@latest") == (name, None)


@pytest.mark.parametrize("name", BAD)
def test_bad_names_are_one_line_bad_input(name: str) -> None:
    with pytest.raises(BadInput) as info:
        check_name(name)
    message = str(info.value)
    assert "\n" not in message
    assert "\x00" not in message
    assert "dataset name" in message


@pytest.mark.parametrize("ref", ["d@", "d@0", "d@01", "d@-1", "d@x", "d@1.5", "d@²", "d@1@2", "d@9999999999"])
def test_bad_versions(ref: str) -> None:
    with pytest.raises(BadInput):
        parse_ref(ref)


@given(st.text(max_size=200))
def test_parse_ref_never_accepts_unsafe_text(text: str) -> None:
    try:
        name, version = parse_ref(text)
    except BadInput as exc:
        message = str(exc)
        assert "\n" not in message
        return
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert not name.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert version is None or version >= 1


def test_tags() -> None:
    assert parse_tag("source=uci") == ("source", "uci")
    assert parse_tag("query=a=b") == ("query", "a=b")
    assert parse_tag("empty=") == ("empty", "")
    for bad in ["novalue", "=x", "bad key=x", "k=line\nbreak", "k=" + "v" * 1025]:
        with pytest.raises(BadInput):
            parse_tag(bad)
    assert check_tags({"b": "1", "a": "2"}) == {"a": "2", "b": "1"}
    with pytest.raises(BadInput, match="at most"):
        check_tags({f"k{i}": "v" for i in range(65)})
