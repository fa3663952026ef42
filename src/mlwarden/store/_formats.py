"""The formats a dataset is stored as, and how a put guesses one from the file's name or first bytes.

A name's last extension decides: ``.csv`` is CSV, ``.parquet`` and ``.pq`` Parquet, ``.jsonl`` and
``.ndjson`` JSON Lines (case does not matter). A file that starts with the Parquet magic ``PAR1`` is
Parquet whatever its name, unless the extension says otherwise. Any other extension
(``data.csv.gz``, ``notes.txt``) means binary: stored, not parsed.

A file with no extension, or with no name at all (stdin, a FIFO, bytes given to the Python API), is
also judged by its first 64 KiB, conservatively, so that binary data is never called CSV:

* **JSON Lines** when that text holds at least one line and every non-blank complete line is a JSON
  object (strict JSON: no ``NaN``);
* **CSV** when it is UTF-8 text without control characters (tab, CR and LF aside) and its complete
  records, read with the CSV quoting rules, are a header and at least one row, all with the same
  number of fields, at least two.

Anything else is binary. ``--format`` (``format=``) overrides the guess.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from mlwarden._json import JsonRefused, loads_strict

__all__ = ["FORMATS", "detect_format"]

FORMATS = ("csv", "parquet", "jsonl", "binary")

_EXTENSIONS = {
    "csv": "csv",
    "parquet": "parquet",
    "pq": "parquet",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
}
# Bytes that do not occur in CSV or JSON Lines text: C0 controls other than tab, LF and CR, and DEL.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def detect_format(filename: str | None, head: bytes, *, complete: bool = False) -> str:
    """Guess a file's format from its name's last extension, else from ``head``, its first bytes.

    ``complete`` says that ``head`` is the whole file (its last line is then a whole line too).
    """
    extension = None
    if filename:
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if "." in base:
            extension = base.rsplit(".", 1)[1].lower()
            fmt = _EXTENSIONS.get(extension)
            if fmt is not None:
                return fmt
    if head.startswith(b"PAR1"):
        return "parquet"
    if extension is None:
        text = _text(head, complete)
        if text is not None:
            if _is_json_lines(text):
                return "jsonl"
            if _is_csv(text):
                return "csv"
    return "binary"


def _text(head: bytes, complete: bool) -> str | None:
    """``head``'s whole lines as text, or ``None`` if it is not UTF-8 text or holds no whole line."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not complete:
        head = head[: head.rfind(b"\n") + 1]
    if not head.strip() or _CONTROL.search(head):
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _keep_later(obj: dict[str, Any], name: str) -> None:
    """A repeated name in a record: its later value stands (as json.loads does)."""


def _is_json_lines(text: str) -> bool:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines or not lines[0].lstrip().startswith("{"):
        return False
    for line in lines:
        try:  # repeated names are the reader's to judge, not the guess's
            value = loads_strict(line, what="a JSON Lines record", on_repeat=_keep_later)
        except JsonRefused:
            return False
        if not isinstance(value, dict):
            return False
    return True


def _is_csv(text: str) -> bool:
    try:
        records = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
    except csv.Error:
        return False
    if len(records) < 2 or len(records[0]) < 2:
        return False
    return all(len(r) == len(records[0]) for r in records)
