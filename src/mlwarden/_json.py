"""One strict JSON parser for documents from outside: request bodies, signature bundles, model headers.

Python's :func:`json.loads` accepts two things that other parsers do not, and that an attacker can use to make
two tools read one document differently:

* a name given twice in one object (Python keeps the last; other parsers keep the first or refuse);
* ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON (RFC 8259) at all.

:func:`loads_strict` refuses both, at any depth, and turns every failure (bad UTF-8, bad syntax, nesting past
the interpreter's recursion limit) into one :class:`JsonRefused` whose ``reason`` is one line. Callers map it
to their own answer: the server to a 422, the signature check to a ``SignatureError``, the scanner to an
unreadable file::

    try:
        doc = loads_strict(body, what="the body")
    except RepeatedName as exc:      # a JsonRefused; exc.name is the repeated name
        ...
    except JsonRefused as exc:
        raise BadInput(str(exc)) from None   # "the body is not valid JSON (Expecting value: ...)"

:func:`canonical` is the one way mlwarden writes JSON it hashes (audit settings and reports, reason
maps): keys sorted, no spaces, ASCII, no NaN, so the same value always gives the same digest.

A caller that must see repeated names instead of refusing them (the safetensors scanner reports them as
findings, and keeps the last value as the reference library does) passes ``on_repeat``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["JsonRefused", "RepeatedName", "canonical", "loads_strict"]

_REASON_LIMIT = 200


def canonical(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: keys sorted, no spaces, ASCII only, NaN refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii")


class JsonRefused(ValueError):
    """A document that is not strict JSON: ``what`` names the document, ``reason`` says why (one line)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what} is not valid JSON ({reason})")
        self.what = what
        self.reason = reason


class RepeatedName(JsonRefused):
    """A name given twice in one JSON object; ``name`` is the first name found repeated."""

    def __init__(self, what: str, name: str) -> None:
        super().__init__(what, f"duplicate key {name!r}"[:_REASON_LIMIT])
        self.name = name


class _Constant(ValueError):
    pass


def _refuse_constant(name: str) -> NoReturn:
    raise _Constant(f"{name} is not JSON")


def loads_strict(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str,
    on_repeat: Callable[[dict[str, Any], str], None] | None = None,
) -> Any:
    """Parse ``data`` (UTF-8 bytes or text) as strict JSON; raise :class:`JsonRefused` naming ``what``.

    With ``on_repeat``, a repeated name is not refused: ``on_repeat(obj, name)`` is called with the object
    being built (holding the earlier value) before the later value replaces it.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if on_repeat is None:
            obj = dict(items)  # the common case, at C speed: no name repeated
            if len(obj) == len(items):
                return obj
        obj = {}
        for key, value in items:
            if key in obj:
                if on_repeat is None:
                    raise RepeatedName(what, key)
                on_repeat(obj, key)
            obj[key] = value
        return obj

    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        return json.loads(text, object_pairs_hook=pairs, parse_constant=_refuse_constant)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(what, "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a constant
        lines = str(exc).splitlines() or [type(exc).__name__]
        raise JsonRefused(what, lines[0][:_REASON_LIMIT]) from None
