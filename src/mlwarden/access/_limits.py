"""Per-principal request limits: a rate (requests per minute) and a quota (requests per UTC day).

Every principal has both. A record stores only the values an admin set; ``None`` in a record
means the default below, so changing a default here changes it for every principal that has
none of its own. The inference server enforces them (``mlwarden.serve``); this module only
names and checks the numbers::

    Limits(rate_limit=600, daily_quota=50_000)   # the defaults
    check_limit("120", "--rate-limit")           # -> 120; BadInput for 0, -1, "lots", 10**10
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from mlwarden.errors import BadInput

__all__ = [
    "DEFAULT_DAILY_QUOTA",
    "DEFAULT_RATE_LIMIT",
    "KEEP",
    "MAX_LIMIT",
    "Keep",
    "LimitChange",
    "Limits",
    "check_limit",
]

DEFAULT_RATE_LIMIT: Final = 600
"""Requests per minute for a principal with no rate limit of its own."""
DEFAULT_DAILY_QUOTA: Final = 50_000
"""Requests per UTC day for a principal with no quota of its own."""
MAX_LIMIT: Final = 10**9
"""The largest rate limit or quota that may be set (and the largest integer a record holds)."""


class Keep(enum.Enum):
    """The type of :data:`KEEP`: "leave this value as it is" in a change of limits."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
"""Passed for a limit that a change should leave as it is (``None`` means "back to the default")."""

LimitChange = int | None | Literal[Keep.KEEP]
"""A new value for one limit: a number, ``None`` for the default, or :data:`KEEP`."""


@dataclass(frozen=True)
class Limits:
    """A principal's effective limits: requests per minute and requests per UTC day."""

    rate_limit: int
    daily_quota: int


def check_limit(value: object, option_name: str) -> int:
    """``value`` (an int, or decimal digits as text) as a limit from 1 to :data:`MAX_LIMIT`.

    :class:`BadInput` naming ``option_name`` otherwise (a bool is not a number here).
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            # A long run of digits is too large anyway; int() of a huge one would be slow.
            number = int(text) if len(text) <= 12 else MAX_LIMIT + 1
    if number is None or not 1 <= number <= MAX_LIMIT:
        shown = repr(value)[:40]
        raise BadInput(f"{option_name} {shown} is not allowed: give a whole number from 1 to {MAX_LIMIT:,}")
    return number
