"""The formats a dataset is stored as, and how a put guesses one from the file's name or first bytes."""

from __future__ import annotations

__all__ = ["FORMATS", "detect_format"]

FORMATS = ("csv", "parquet", "jsonl", "binary")

_EXTENSIONS = {
    "csv": "csv",
    "parquet": "parquet",
    "pq": "parquet",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
}


def detect_format(filename: str | None, head: bytes) -> str:
    """Guess a file's format from its name's last extension, else from its first bytes.

    ``.csv`` is CSV, ``.parquet`` and ``.pq`` Parquet, ``.jsonl`` and ``.ndjson`` JSON Lines (case
    does not matter). Anything else, compressed files such as ``data.csv.gz`` included, is Parquet if
    it starts with the magic ``PAR1`` and binary (stored, not parsed) otherwise.
    """
    if filename:
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if "." in base:
            fmt = _EXTENSIONS.get(base.rsplit(".", 1)[1].lower())
            if fmt is not None:
                return fmt
    if head.startswith(b"PAR1"):
        return "parquet"
    return "binary"
