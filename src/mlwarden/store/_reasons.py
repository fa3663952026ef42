"""Why a file could not be parsed, in one line that is safe to keep in the catalog.

Error reasons end up in the catalog, which must not hold the dataset's contents: pyarrow's messages can
quote a row (``Expected 3 columns, got 2: <the row>``) or a value, so :func:`reason` keeps the first
line, cuts row contents and quoted values, and truncates the rest.
"""

from __future__ import annotations

import re

__all__ = ["reason"]

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
