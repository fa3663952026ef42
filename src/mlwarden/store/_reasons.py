"""Why a file could not be parsed, in one line that is safe to keep in the catalog.

Error reasons end up in the catalog, which must not hold the dataset's contents: pyarrow's messages can
quote a row (``Expected 3 columns, got 2: <the row>``) or a value, so :func:`reason` keeps the first
line, cuts row contents and quoted values, and truncates the rest.

pyarrow's words are for pyarrow's developers ("straddling object straddles two block boundaries (try
to increase block size?)", "Column(/a) changed from number to string in row 1"): :func:`csv_reason` and
:func:`json_reason` say the same in a user's terms, with rows and records counted from the start of
the file, and fall back on :func:`reason` for anything else.
"""

from __future__ import annotations

import re

__all__ = ["csv_reason", "json_reason", "reason"]

_REASON_MAX = 200

_ROW_CONTENTS = re.compile(r"(Expected \d+ columns?, got \d+)\s*:.*", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_AFTER_PARSE = re.compile(r"(couldn't parse)\s*:.*")


def reason(exc: BaseException) -> str:
    """One short line saying why a file could not be read, without the file's contents.

    The reason is stored in the catalog, which must not leak the dataset: pyarrow's messages quote the
    offending row (``Expected 2 columns, got 3: 1,2,secret``) or value (``invalid value 'secret'``), so
    row contents are cut, quoted text becomes ``…``, and whatever follows "couldn't parse" goes.
    """
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0].strip()
    text = _ROW_CONTENTS.sub(r"\1", text)
    text = _QUOTED.sub("'…'", text)
    text = _AFTER_PARSE.sub(r"\1 …", text)
    if len(text) > _REASON_MAX:
        text = text[: _REASON_MAX - 1] + "…"
    return text


_CSV_WIDTH = re.compile(r"^CSV parse error: Row #(\d+): Expected (\d+) columns?, got (\d+)")


def csv_reason(exc: BaseException, *, rows: int, block_size: int) -> str:
    """:func:`reason` for pyarrow's CSV reader, ``rows`` rows after the header into the file."""
    text = str(exc)
    if "straddles" in text:  # a row that does not fit in two blocks
        return (
            f"a CSV row after row {rows + 1:,} (the header is row 1) is longer than {block_size >> 20} MiB, "
            "the longest row the schema sniffer reads"
        )
    width = _CSV_WIDTH.match(text)
    if width:
        row, expected, got = width.groups()
        fields = "1 field" if got == "1" else f"{got} fields"
        return f"CSV row {int(row):,} (the header is row 1) has {fields} where the header has {expected}"
    return reason(exc)


_JSON_CHANGED = re.compile(r"^JSON parse error: Column\((.*)\) changed from (\w+) to (\w+)(?: in row (\d+))?$")
_JSON_INVALID = re.compile(r"^JSON parse error: (.*?)\.?(?: in row (\d+))?$")
_ARTICLE = {"array": "an array", "object": "an object"}


def json_reason(text: str, *, offset: int) -> str:
    """:func:`reason`'s line for pyarrow's JSON reader in a user's terms; ``offset`` records precede the block.

    pyarrow counts rows from 0 and from the start of the block it read; records count from 1 and
    from the start of the file. A conflict found between blocks has no row: it is after ``offset``.
    """
    changed = _JSON_CHANGED.match(text)
    if changed:
        path, old, new, row = changed.groups()
        where = f"record {offset + int(row) + 1:,}" if row is not None else f"a record after record {offset:,}"
        if not path:
            return f"JSON Lines {where} is {_ARTICLE.get(new, 'a ' + new)}, not an object"
        return (
            f"JSON Lines field {path.removeprefix('/')} is {_ARTICLE.get(old, 'a ' + old)} in one record and "
            f"{_ARTICLE.get(new, 'a ' + new)} in {where}"
        )[:_REASON_MAX]
    invalid = _JSON_INVALID.match(text)
    if invalid and invalid.group(2) is not None:
        what, row = invalid.groups()
        return f"JSON Lines record {offset + int(row) + 1:,} is not valid JSON ({what[:1].lower() + what[1:]})"
    return text
