"""The one strict JSON parser (mlwarden._json): valid JSON reads back as Python's parser reads it; a name given
twice or NaN/Infinity is refused at any depth, and every other failure is one JsonRefused (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden._json import JsonRefused, RepeatedName, loads_strict

names = st.text(max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=5),
    max_leaves=16,
)
# Smaller values for the siblings and repeated members of the built documents, so that drawing them stays quick.
small_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: st.lists(children, max_size=2) | st.dictionaries(names, children, max_size=2),
    max_leaves=3,
)
dumps_options = st.fixed_dictionaries(
    {"ensure_ascii": st.booleans(), "indent": st.sampled_from([None, 0, 2]), "sort_keys": st.booleans()}
)


# The steps from the top of a document down to a point inside it: into an array (after and before some
# siblings) or into an object (under a name, beside another).
steps = st.lists(st.tuples(st.booleans(), names, st.integers()), max_size=4)


def _embed(inner: str, path: list[tuple[bool, str, int]]) -> str:
    """JSON text holding ``inner`` (a JSON text) at the end of ``path``."""
    for into_array, name, sibling in reversed(path):
        if into_array:
            inner = f"[{sibling}, {inner}, {sibling}]"
        else:
            inner = f"{{{json.dumps(name)}: {inner}, {json.dumps(name + '~')}: {sibling}}}"
    return inner


@st.composite
def repeated_object(draw: st.DrawFn) -> tuple[str, str]:
    """An object naming ``name`` twice (with other names around), and that name."""
    name = draw(names)
    first, second = draw(small_values), draw(small_values)
    others = draw(st.dictionaries(names.filter(lambda k: k != name), small_values, max_size=2))
    members = [f"{json.dumps(name)}: {json.dumps(first)}", f"{json.dumps(name)}: {json.dumps(second)}"]
    members += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in others.items()]
    return "{" + ", ".join(draw(st.permutations(members))) + "}", name


@st.composite
def with_repeat(draw: st.DrawFn) -> tuple[str, str]:
    obj, name = draw(repeated_object())
    return _embed(obj, draw(steps)), name


constants = st.sampled_from(["NaN", "Infinity", "-Infinity"])


@given(json_values, dumps_options)
def test_valid_json_reads_back_as_written(value: Any, options: dict[str, Any]) -> None:
    text = json.dumps(value, allow_nan=False, **options)
    assert loads_strict(text, what="doc") == value
    assert loads_strict(text.encode("utf-8"), what="doc") == value
    assert loads_strict(memoryview(text.encode("utf-8")), what="doc") == value


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(with_repeat())
def test_a_repeated_name_is_refused_at_any_depth(case: tuple[str, str]) -> None:
    text, name = case
    with pytest.raises(RepeatedName) as caught:
        loads_strict(text, what="the doc")
    assert caught.value.name == name
    assert str(caught.value) == f"the doc is not valid JSON (duplicate key {name!r})"


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(with_repeat())
def test_on_repeat_sees_each_repeat_and_the_last_value_wins(case: tuple[str, str]) -> None:
    text, name = case
    seen: list[str] = []
    value = loads_strict(text, what="doc", on_repeat=lambda obj, key: seen.append(key))
    assert seen == [name]
    assert value == json.loads(text)  # Python's own parser keeps the last value too


@given(st.builds(_embed, constants, steps))
def test_nan_and_infinity_are_refused_at_any_depth(text: str) -> None:
    with pytest.raises(JsonRefused) as caught:
        loads_strict(text, what="doc")
    assert not isinstance(caught.value, RepeatedName)
    assert caught.value.reason in {"NaN is not JSON", "Infinity is not JSON", "-Infinity is not JSON"}
    json.loads(text)  # what Python's own parser would have let through


@given(st.binary(max_size=40))
def test_any_bytes_either_parse_or_are_refused_with_one_error(data: bytes) -> None:
    refused: JsonRefused | None = None
    try:
        loads_strict(data, what="doc")
    except JsonRefused as exc:
        refused = exc
    if refused is not None:
        assert "\n" not in refused.reason
        assert len(refused.reason) <= 200


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": "\xff"}', "'utf-8' codec can't decode byte 0xff in position 7: invalid start byte"),
        (b"[1, 2", "Expecting ',' delimiter: line 1 column 6 (char 5)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["not-utf8", "truncated", "too-deep"],
)
def test_other_failures_name_the_document_and_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(JsonRefused) as caught:
        loads_strict(data, what="the bundle")
    assert str(caught.value) == f"the bundle is not valid JSON ({reason})"
