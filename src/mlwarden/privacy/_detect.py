"""Which columns of a table hold personal data, and of what kind: :class:`PiiDetector`.

Each column is classified from a seeded sample of at most ``sample_size`` of its non-null values and from
its name. **The values decide; the name is a hint.** A column named ``email`` full of integers is not
e-mail; a column named ``col_7`` full of valid IBANs is ``iban``. The name only raises (or lowers) the
confidence, breaks ties, and is *required* for the kinds whose values alone cannot be told from ordinary
data (5-digit postal codes look like counts, ages like any small integer, bare digit strings like phone
numbers in some numbering plan).

How each kind is recognised (``share`` is the part of the sample that passes; the first number is the
share needed without a name hint, the second with one):

==================  ====================================================================================  ===========
kind                rule                                                                                  share
==================  ====================================================================================  ===========
``email``           an RFC 5322-ish address (``local@domain.tld``, also ``Name <local@domain>``)          0.90 / 0.70
``iban``            ISO 13616: country, that country's length, MOD 97-10 check digits                     0.90 / 0.75
``payment_card``    12-19 digits, Luhn, an issuer prefix (IIN) and a length the network issues            0.90 / 0.75
``fr_nir``          sex digit, month, department (Corsica 2A/2B), key 97 - n mod 97                       0.90 / 0.75
``de_tax_id``       Steuer-IdNr: 11 digits, first not 0, digit-repetition rule, ISO 7064 MOD 11,10        0.90 / 0.75
``uk_nino``         HMRC prefix rules, six digits, suffix A-D                                             0.90 / 0.75
``us_ssn``          SSA rules (area not 000/666/9xx, group not 00, serial not 0000); without a hint the   0.97 / 0.75
                    values must be written ``123-45-6789`` (bare 9-digit numbers pass the rules 89% of
                    the time by chance)
``ip_address``      IPv4/IPv6 by :mod:`ipaddress`; not when the name says version/firmware or the values  0.90 / 0.70
                    are dotted small numbers like ``1.2.3.4`` (versions)
``phone``           :func:`phonenumbers.is_valid_number`: international (``+``/``00``) or national in     0.70 / 0.60
                    one of :data:`PHONE_REGIONS`. Random digit strings are valid somewhere ~95% of the
                    time, so without a hint 60% of the values must also be *written* like phone numbers
                    (``+``, ``00``, a bracketed area code, a trunk ``0`` with separators, NANP groups
                    ``212-555-0134``), must not be near-sequential nor share a 6-digit prefix, and the
                    name must not say they are identifiers (order, invoice, ref, sku, tracking, ...).
                    With a hint, values shaped like phone numbers count at 3/4 weight when too few are
                    valid (generated test data is often unallocated). Dates are never phone numbers.
``date_of_birth``   dates (ISO, DD.MM.YYYY, DD/MM/YYYY, MM/DD/YYYY, datetime dtype, birth years with a    0.90 / 0.80
                    hint) whose implied age today is 0-120 years; without a birth hint the sample must
                    look like births (no times of day, spread over decades, median age 12-95, not
                    recent) and the name must not name an event (order_date, created_at, ...)
``postal_code``     UK, Canadian, Dutch, Irish, ZIP+4 and prefixed (D-10115) forms; pure 4-6 digit        0.90 / 0.80
                    codes (and PL/PT/BR/JP/SE forms) only with a hint
``age``             whole numbers 0-120 (or bands like 30-39), only with an age hint, not in units of     -    / 0.90
                    time (age_days)
``sex``             sex/gender words of many languages (both binary sides present), letter codes          0.90 / 0.90
                    (M/F, M/W/D, H/F, M/V, K/M) as an exact binary-like set or with a hint, ISO 5218
                    codes and booleans with a hint
``occupation``      values in the occupation list (many distinct ones), or job-like text with an          0.80 / 0.90
                    occupation hint (``job`` alone also needs 30% of the values in the list)
``person_name``     1-5 name-shaped words (titles, particles and suffixes allowed, any case); without a   0.90 / 0.85
                    hint 60% must be a known first name + known last name (single words: 80% known
                    first names, or 95% known names, and many distinct values); with ``name``-like
                    hints 40% must hold a known name; with specific hints (first_name, nachname, ...)
                    the shape is enough
``free_text``       multi-word text in which e-mails, phones, IBANs, cards, national ids, IPs or full     see below
                    names are found (listed in ``embedded``); generic text without them is not personal
                    data, unless the name says it is text about people (``patient_notes``)
==================  ====================================================================================  ===========

**Confidence** of a kind is ``share x specificity`` (how rarely ordinary data passes the rule: 0.99 for
IBAN, 0.9 for phone, 0.85 for names and dates), raised halfway to 1 when the name hints the kind and
multiplied by 0.85 when the name hints another kind or says the values are identifiers. When several
kinds fire, the most confident wins (ties: the order of :data:`PII_KINDS`). A ``kind=None`` finding
carries the confidence that the column is *not* personal data: 1 minus the best support any kind had
(a kind ruled out by the name or the shape of the values counts half, one below its share 0.8), so a
plain count column with 0-120 values (age without a hint) says 0.5, a column of amounts 1.0, an all-null
column 1.0 (evidence ``no values``). Evidence names the rules and counts, never a value.

**Free text** fires when at least 2 sampled values (1 in a sample under 20) embed an identifier (a full
name: 2% of them, and never inside postal addresses, where names are those of streets), with confidence
``0.7 + 0.3 x min(1, 5 x share of values embedding one)``, raised halfway when the name says notes,
comments or people; text about people (``patient_notes``) with nothing found gets 0.6.

**Speed.** Only the sample is looked at; regexes are compiled once; the expensive check (phone
numbers) runs on at most :data:`PHONE_CHECKS` values, once their shape makes it worth it.

:class:`ColumnSampler` draws the sample a dataset is classified on in one pass over its chunks
(reservoir sampling, Algorithm R), so a dataset larger than memory is never loaded whole.
:func:`canonical_value` is the one text form of a value that pseudonymisation tokenises.

::

    frame = pandas.DataFrame({"mail": ["ann@example.org", "bo@example.com"], "n": [3, 4]})
    PiiDetector().detect(frame)["mail"].kind   # 'email'
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import numbers
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput
from mlwarden.privacy import _checksums as checks
from mlwarden.privacy import _vocabulary as vocab

if TYPE_CHECKING:
    import pandas

__all__ = [
    "PHONE_REGIONS",
    "PII_KINDS",
    "ColumnFinding",
    "ColumnSampler",
    "PiiDetector",
    "canonical_value",
]

PII_KINDS: dict[str, str] = {
    "email": "direct",
    "phone": "direct",
    "iban": "direct",
    "payment_card": "direct",
    "us_ssn": "direct",
    "uk_nino": "direct",
    "de_tax_id": "direct",
    "fr_nir": "direct",
    "ip_address": "direct",
    "person_name": "direct",
    "free_text": "direct",
    "date_of_birth": "quasi",
    "postal_code": "quasi",
    "age": "quasi",
    "sex": "quasi",
    "occupation": "quasi",
}
"""Every kind of personal data the detector knows, and its category: ``direct`` identifiers name a
person on their own; ``quasi`` identifiers do so in combination."""

PHONE_REGIONS: tuple[str, ...] = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "IE", "PL", "SE", "CA", "AU", "IN", "BR", "JP",
)  # fmt: skip
"""The regions a phone number written in national form is tried in, in this order."""

PHONE_CHECKS = 300
"""At most this many values of a column are checked against the numbering plans."""

_COMPACT_KINDS = frozenset({"iban", "payment_card", "us_ssn", "uk_nino", "de_tax_id", "fr_nir"})
_COMPACT = re.compile(r"[\s\-.]+")

# (share needed without a name hint, share needed with one); None: never without a hint.
_THRESHOLDS: dict[str, tuple[float | None, float]] = {
    "email": (0.90, 0.70),
    "iban": (0.90, 0.75),
    "payment_card": (0.90, 0.75),
    "fr_nir": (0.90, 0.75),
    "de_tax_id": (0.90, 0.75),
    "uk_nino": (0.90, 0.75),
    "us_ssn": (0.97, 0.75),
    "ip_address": (0.90, 0.70),
    "phone": (0.70, 0.60),
    "date_of_birth": (0.90, 0.80),
    "postal_code": (0.90, 0.80),
    "age": (None, 0.90),
    "sex": (0.90, 0.90),
    "occupation": (0.80, 0.90),
    "person_name": (0.90, 0.85),
    "free_text": (0.50, 0.50),
}
# How rarely data that is not of the kind passes its rule (the confidence of a full share, no hint).
_SPECIFICITY: dict[str, float] = {
    "email": 0.98, "iban": 0.99, "payment_card": 0.97, "fr_nir": 0.98, "de_tax_id": 0.97, "uk_nino": 0.97,
    "us_ssn": 0.93, "ip_address": 0.95, "phone": 0.9, "date_of_birth": 0.85, "postal_code": 0.85, "age": 0.9,
    "sex": 0.9, "occupation": 0.85, "person_name": 0.85, "free_text": 0.8,
}  # fmt: skip

# Words of a column name that say its values identify or measure things: identifiers shaped like phone
# numbers, postal codes or ages are not those. (Generic words such as "number" or "code" are left out:
# "phone_number", "zip_code".)
_IDENTIFIER_CONTEXT = vocab.CONTEXT_IDENTIFIER - {
    "number", "nummer", "numero", "num", "no", "nr", "code", "customer", "cust", "client", "user", "member",
    "record", "row", "year",
} | {"imei", "iccid", "imsi", "gtin", "asin", "mpn", "awb", "container", "vin", "tracknr"}  # fmt: skip


# ------------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnFinding:
    """The class of one column: its kind of personal data (None: not personal data), how sure, and why.

    ``confidence`` (0..1, 3 places) is the confidence in ``kind``; for ``kind=None`` it is the confidence
    that the column holds no personal data. ``evidence`` is one line made of rule names and counts, never
    a value. ``embedded`` lists, for ``free_text``, the kinds found inside the text (sorted).
    """

    column: str
    kind: str | None
    confidence: float
    category: str | None
    evidence: str
    embedded: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "confidence": self.confidence,
            "category": self.category,
            "evidence": self.evidence,
            "embedded": list(self.embedded),
        }


@dataclass(frozen=True)
class _Result:
    """What one recogniser made of a column: whether the kind fires, and the support it had if not."""

    kind: str
    fires: bool
    confidence: float
    support: float
    evidence: str
    embedded: tuple[str, ...] = ()
    fit: float = 0.0  # the share of values with the kind's shape: which kind came closest, among equals


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _counted(count: int, total: int) -> str:
    return f"{count}/{total}"


# ------------------------------------------------------------------------------------------------------
# Canonical text of a value
# ------------------------------------------------------------------------------------------------------

_ISO_TEXT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s?(Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def canonical_value(value: object, kind: str | None) -> str | None:
    """The one text form of ``value`` read as ``kind``: what pseudonymisation tokenises and erasure matches.

    None for null, NaN, NA, NaT and text that is empty once stripped. Otherwise:

    * text is stripped; booleans are ``true``/``false``; integers (also floats and decimals that hold
      one, ``3.0``) are written without a fraction; other numbers in plain decimal (``0.0000001``);
      dates and datetimes in ISO 8601, and so are texts that are ISO dates or datetimes (a space
      before the time becomes ``T``; a midnight without zone is the date alone; ``Z`` is ``+00:00``),
      so a value read back from CSV (text) and from Parquet (typed) gives the same form;
    * ``email``: case-folded;
    * ``phone``: E.164 (``+4930123456``) when the digits (a leading ``+`` or ``00`` kept) are a valid
      number: international when they start with ``+``/``00``, else in the first of
      :data:`PHONE_REGIONS` where they are valid, else as an international number without its ``+``
      (how a CSV reader turns ``+49...`` into an integer); otherwise the digits alone, a leading
      ``+`` kept;
    * ``iban``, ``payment_card``, ``us_ssn``, ``uk_nino``, ``de_tax_id``, ``fr_nir``: spaces, dashes
      and dots removed, upper-cased (a US SSN read as an integer gets its leading zeros back);
    * any other kind (or None): the text as above.

    Deterministic, and idempotent: ``canonical_value(canonical_value(v, k), k) == canonical_value(v, k)``.
    """
    text = _plain_text(value, kind)
    if text is None:
        return None
    if kind == "email":
        return text.casefold()
    if kind == "phone":
        return _canonical_phone(text)
    if kind in _COMPACT_KINDS:
        return _COMPACT.sub("", text).upper() or None
    return text


def _plain_text(value: object, kind: str | None) -> str | None:
    """``value`` as stripped text by the number, date and null rules of :func:`canonical_value`."""
    if value is None:
        return None
    kind_of = type(value)
    if kind_of.__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, str):
        text = value.strip()
        return (_iso_text(text) or text) if text else None
    if isinstance(value, bool) or (kind_of.__module__ == "numpy" and kind_of.__name__ in ("bool_", "bool")):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return _int_text(int(value), kind)
    if isinstance(value, Decimal):
        return _decimal_text(value, kind)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if number.is_integer():
            return _int_text(int(number), kind)
        return _decimal_text(Decimal(repr(number)), kind)
    if isinstance(value, datetime):
        if value != value:  # NaT
            return None
        nanosecond = getattr(value, "nanosecond", 0)
        fraction = f"{value.microsecond:06d}{nanosecond:03d}" if nanosecond else f"{value.microsecond:06d}"
        offset = value.utcoffset()
        zone = None
        if offset is not None:
            minutes, seconds = divmod(int(offset.total_seconds()), 60)
            sign = "-" if minutes < 0 else "+"
            hours, minutes = divmod(abs(minutes), 60)
            zone = f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
        return _iso(value.date(), (value.hour, value.minute, value.second), fraction, zone)
    if isinstance(value, date | time):
        return value.isoformat()
    if kind_of.__module__ == "numpy" and kind_of.__name__ == "datetime64":
        text = str(value)
        return None if text == "NaT" else (_iso_text(text) or text)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace").strip()
        return text or None
    text = str(value).strip()
    return text or None


def _int_text(number: int, kind: str | None) -> str:
    if kind == "us_ssn" and 0 <= number < 1_000_000_000:
        return f"{number:09d}"
    return str(number)


def _decimal_text(number: Decimal, kind: str | None) -> str | None:
    if number.is_nan():
        return None
    if number.is_infinite():
        return "inf" if number > 0 else "-inf"
    if number == number.to_integral_value():
        return _int_text(int(number), kind)
    return format(number.normalize(), "f")


def _iso(day: date, clock: tuple[int, int, int] | None, fraction: str, zone: str | None) -> str:
    """ISO 8601 text: the date alone at a midnight without zone, else date, ``T``, time, fraction, zone."""
    fraction = fraction.rstrip("0")
    if clock is None or (clock == (0, 0, 0) and not fraction and zone is None):
        return day.isoformat()
    text = f"{day.isoformat()}T{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}"
    if fraction:
        text += "." + fraction.ljust(6 if len(fraction) <= 6 else 9, "0")
    return text + (zone or "")


def _iso_text(text: str) -> str | None:
    """The canonical ISO form of ``text`` if it is an ISO date or datetime, else None."""
    match = _ISO_TEXT.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = date(int(year), int(month), int(day))
    except ValueError:
        return None
    clock = None
    if hour is not None:
        clock = (int(hour), int(minute), int(second or 0))
        if clock[0] > 23 or clock[1] > 59 or clock[2] > 59:
            return None
    if zone == "Z":
        zone = "+00:00"
    elif zone is not None:
        digits = zone[1:].replace(":", "")
        zone = f"{zone[0]}{digits[:2]}:{digits[2:4] or '00'}"
    return _iso(moment, clock, fraction or "", zone)


def _canonical_phone(text: str) -> str:
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if not digits:
        return text
    return _phone_from_digits(text.startswith("+"), digits)


@functools.lru_cache(maxsize=65536)
def _phone_from_digits(plus: bool, digits: str) -> str:
    if plus or digits.startswith("00"):
        e164 = _e164("+" + (digits if plus else digits[2:]), None)
        if e164 is not None:
            return e164
        return "+" + digits if plus else digits
    for region in PHONE_REGIONS:
        e164 = _e164(digits, region)
        if e164 is not None:
            return e164
    return _e164("+" + digits, None) or digits


def _e164(text: str, region: str | None) -> str | None:
    """``text`` in E.164 if it is a valid number (international, or national in ``region``), else None."""
    number = _parse_phone(text, region)
    if number is None:
        return None
    import phonenumbers

    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _parse_phone(text: str, region: str | None) -> Any:
    """The parsed number if ``text`` is a valid one in ``region`` (None: international), else None."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


# ------------------------------------------------------------------------------------------------------
# The sampled values of one column
# ------------------------------------------------------------------------------------------------------


@dataclass
class _Column:
    """One column's name and its sampled values, in the forms the recognisers read."""

    name: str
    tokens: frozenset[str]
    hints: dict[str, str]
    form: str  # "bool", "datetime", "int", "float", "text", "other"
    raw: list[Any]
    texts: list[str]
    today: date

    @property
    def n(self) -> int:
        return len(self.texts)

    @functools.cached_property
    def compacts(self) -> list[str]:
        return [checks.compact(t) for t in self.texts]

    @functools.cached_property
    def folded(self) -> list[str]:
        return [t.casefold() for t in self.texts]

    @functools.cached_property
    def integers(self) -> list[int | None]:
        """Each value as a whole number (ints, floats holding one, digit strings), else None."""
        if self.form == "int":
            return [int(t) if _INT_TEXT.fullmatch(t) else None for t in self.texts]
        return [int(t) if self.form == "text" and _INT_TEXT.fullmatch(t) else None for t in self.texts]

    def hinted(self, kind: str) -> bool:
        return kind in self.hints

    def contradicted(self, kind: str) -> bool:
        """The name hints another kind and not this one."""
        return bool(self.hints) and kind not in self.hints

    def identifier_context(self) -> str | None:
        """The word of the name that says the values are identifiers or measures of things, if any."""
        return next((t for t in sorted(self.tokens) if t in _IDENTIFIER_CONTEXT), None)

    def hint_text(self, kind: str) -> str:
        return f"name hint '{self.hints[kind]}'; " if kind in self.hints else ""


_INT_TEXT = re.compile(r"[+-]?\d{1,19}")


def _form_of(dtype: Any, values: list[Any]) -> str:
    """Which of the recognisers' forms a column's values take, from its dtype and its values."""
    from pandas.api import types as pdt

    if isinstance(dtype, _categorical_dtype()):
        dtype = getattr(dtype, "categories").dtype  # noqa: B009 - pandas is untyped here
    if pdt.is_bool_dtype(dtype):
        return "bool"
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pdt.is_integer_dtype(dtype):
        return "int"
    if pdt.is_float_dtype(dtype):
        return "int" if all(float(v).is_integer() for v in values) else "float"
    if pdt.is_complex_dtype(dtype) or pdt.is_timedelta64_dtype(dtype):
        return "other"
    if pdt.is_numeric_dtype(dtype):
        return "float"
    if values and all(isinstance(v, bool) or type(v).__name__ in ("bool_", "bool") for v in values):
        return "bool"
    if values and all(isinstance(v, date | datetime) for v in values):
        return "datetime"
    if values and all(_is_whole(v) for v in values):
        return "int"
    if values and all(isinstance(v, numbers.Real | Decimal) and not isinstance(v, bool) for v in values):
        return "float"
    return "text"


def _is_whole(value: Any) -> bool:
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        return False
    if isinstance(value, numbers.Integral):
        return True
    if isinstance(value, numbers.Real | Decimal):
        try:
            return math.isfinite(value) and float(value).is_integer()
        except (OverflowError, ValueError, InvalidOperation):
            return False
    return False


@functools.cache
def _categorical_dtype() -> type:
    import pandas as pd

    return type(pd.CategoricalDtype())


# ------------------------------------------------------------------------------------------------------
# Recognisers of identifiers with a fixed shape or a checksum
# ------------------------------------------------------------------------------------------------------

_EMAIL_BODY = (
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
)
_EMAIL = re.compile(rf"{_EMAIL_BODY}|(?:\"[^\"]*\"|[^<>\"@]*)<{_EMAIL_BODY}>")
_EMAIL_IN_TEXT = re.compile(rf"(?<![\w.+-]){_EMAIL_BODY}(?![\w-])")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_DIGITS = re.compile(r"\d+")
_SSN_WRITTEN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")
_NINO_SHAPE = re.compile(r"[A-Z]{2}\d{6}[A-Z]")
_NIR_SHAPE = re.compile(r"[1-8]\d{4}(?:\d{2}|2[AB])\d{8}")


def _checksum_kind(
    col: _Column,
    kind: str,
    shaped: Callable[[str], bool],
    valid: Callable[[str], bool],
    what: str,
    rule: str,
) -> _Result:
    """A kind with a checksum or fixed structure, judged on the compact text of each value."""
    n = col.n
    shape_count = 0
    valid_count = 0
    for text in col.compacts:
        if shaped(text):
            shape_count += 1
            if valid(text):
                valid_count += 1
    evidence = f"{col.hint_text(kind)}{_counted(shape_count, n)} values are {what}, {valid_count} pass {rule}"
    result = _judge(col, kind, _share(valid_count, n), evidence, strict_context=kind == "payment_card")
    return replace(result, fit=_share(shape_count, n))


def _judge(
    col: _Column,
    kind: str,
    share: float,
    evidence: str,
    *,
    strict_context: bool = False,
    blocked: str | None = None,
    needs_hint: bool = False,
) -> _Result:
    """Whether ``kind`` fires at ``share``, and with what confidence (see the module's docstring).

    ``blocked`` names a reason the kind cannot fire without a hint (its support then counts half);
    ``strict_context``: a name that says identifiers raises the share needed to 0.98 (Luhn is used
    by order and device numbers too).
    """
    hinted = col.hinted(kind)
    no_hint, with_hint = _THRESHOLDS[kind]
    context = col.identifier_context()
    needed = with_hint if hinted else no_hint
    if not hinted and (needs_hint or no_hint is None):
        blocked = blocked or "needs a name hint"
    if strict_context and context is not None and not hinted:
        needed = max(needed or 0.0, 0.98)
    confidence = share * _SPECIFICITY[kind]
    if hinted:
        confidence += (1.0 - confidence) * 0.5
    if col.contradicted(kind) or (context is not None and not hinted):
        confidence *= 0.85
    confidence = round(min(1.0, confidence), 3)
    if blocked is not None and not hinted:
        return _Result(kind, False, confidence, share * 0.5, f"{evidence} ({blocked})")
    if needed is None or share < needed:
        return _Result(kind, False, confidence, share * 0.8, f"{evidence} (needs {round(needed or 1.0, 2):.0%})")
    return _Result(kind, True, confidence, share, evidence)


def _email(col: _Column) -> _Result | None:
    if sum("@" in t for t in col.texts) < 0.3 * col.n:
        return None
    count = sum(_EMAIL.fullmatch(t) is not None for t in col.texts)
    evidence = f"{col.hint_text('email')}{_counted(count, col.n)} values are e-mail addresses"
    return _judge(col, "email", _share(count, col.n), evidence)


def _iban(col: _Column) -> _Result:
    return _checksum_kind(
        col,
        "iban",
        lambda t: _IBAN_SHAPE.fullmatch(t) is not None,
        checks.iban_valid,
        "IBAN-shaped",
        "the ISO 13616 country length and MOD 97-10 check",
    )


def _card(col: _Column) -> _Result:
    return _checksum_kind(
        col,
        "payment_card",
        lambda t: 12 <= len(t) <= 19 and t.isascii() and t.isdigit(),
        checks.card_valid,
        "12-19 digit numbers",
        "the Luhn check with a card issuer's prefix and length",
    )


def _fr_nir(col: _Column) -> _Result:
    return _checksum_kind(
        col,
        "fr_nir",
        lambda t: _NIR_SHAPE.fullmatch(t) is not None,
        checks.fr_nir_valid,
        "NIR-shaped",
        "the NIR month, department and key rules",
    )


def _de_tax_id(col: _Column) -> _Result:
    return _checksum_kind(
        col,
        "de_tax_id",
        lambda t: len(t) == 11 and t.isascii() and t.isdigit(),
        checks.de_tax_id_valid,
        "11-digit numbers",
        "the Steuer-IdNr digit rule and MOD 11,10 check digit",
    )


def _uk_nino(col: _Column) -> _Result:
    return _checksum_kind(
        col,
        "uk_nino",
        lambda t: _NINO_SHAPE.fullmatch(t) is not None,
        checks.uk_nino_valid,
        "NINO-shaped",
        "the HMRC prefix and suffix rules",
    )


def _us_ssn(col: _Column) -> _Result:
    n = col.n
    hinted = col.hinted("us_ssn")
    written = 0
    shaped = 0
    valid = 0
    for text, compact in zip(col.texts, col.compacts, strict=True):
        digits = None
        if _SSN_WRITTEN.fullmatch(text):
            written += 1
            digits = compact
        elif hinted and compact.isascii() and compact.isdigit() and len(compact) == 9:
            digits = compact
        elif hinted and col.form == "int" and compact.isdigit() and 6 <= len(compact) < 9:
            digits = compact.zfill(9)  # leading zeros lost to an integer column
        if digits is not None:
            shaped += 1
            valid += checks.us_ssn_valid(digits)
    evidence = (
        f"{col.hint_text('us_ssn')}{_counted(shaped, n)} values are SSN-shaped ({written} written 123-45-6789), "
        f"{valid} pass the SSA area, group and serial rules"
    )
    blocked = None
    if not hinted and written < 0.9 * n:
        blocked = "bare 9-digit numbers need a name hint"
    elif not hinted and col.identifier_context():
        blocked = f"name says '{col.identifier_context()}'"
    return _judge(col, "us_ssn", _share(valid, n), evidence, blocked=blocked)


_IPV4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?")
_IPV6_BRACKET = re.compile(r"\[([0-9A-Fa-f:.]+(?:%\w+)?)\](?::\d{1,5})?")


def _ip(col: _Column) -> _Result | None:
    if sum(("." in t or ":" in t) for t in col.texts[:100]) < 0.3 * min(col.n, 100):
        return None
    count = 0
    versionish = 0
    v4 = 0
    for text in col.texts:
        address = text
        match = _IPV4_PORT.fullmatch(text) or _IPV6_BRACKET.fullmatch(text)
        if match is not None:
            address = match.group(1)
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            continue
        count += 1
        if parsed.version == 4:
            v4 += 1
            parts = [int(p) for p in address.split(".")]
            versionish += parts[0] <= 30 and parts[1] <= 99 and parts[2] <= 99
    evidence = f"{col.hint_text('ip_address')}{_counted(count, col.n)} values are IPv4 or IPv6 addresses"
    blocked = None
    version_word = next((t for t in sorted(col.tokens) if t in vocab.VERSION_TOKENS), None)
    if version_word is not None:
        blocked = f"name says '{version_word}'"
    elif v4 and versionish >= 0.9 * v4:
        blocked = f"{versionish} are dotted small numbers, like versions"
    return _judge(col, "ip_address", _share(count, col.n), evidence, blocked=blocked)


# ------------------------------------------------------------------------------------------------------
# Phone numbers
# ------------------------------------------------------------------------------------------------------

_PHONE_SHAPE = re.compile(
    r"(?:tel:)?\s*(\+|00)?[\d\s().\-/]{5,25}?(?:\s*(?:x|ext\.?|#|extension)\s*\d{1,6})?", re.IGNORECASE
)
_PHONE_EXTENSION = re.compile(r"\s*(?:x|ext\.?|#|extension)\s*\d{1,6}$", re.IGNORECASE)
_PHONE_SEPARATOR = re.compile(r"[\s().\-/]")
_NANP_WRITTEN = re.compile(r"(?:1[\s.\-])?\(?[2-9]\d{2}\)?[\s.\-]?[2-9]\d{2}[\s.\-]\d{4}")
_DATE_SHAPE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ].*)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:[T ].*)?")


class _PhoneChecker:
    """Validity of numbers against the numbering plans, trying first the regions that worked before."""

    def __init__(self) -> None:
        self.regions = list(PHONE_REGIONS)
        self.hits: Counter[str] = Counter()

    def national(self, digits: str) -> bool:
        for i, region in enumerate(self.regions):
            if _parse_phone(digits, region) is not None:
                self.hits[region] += 1
                if i:  # move to the front: the next number of the column is likely from there too
                    self.regions.insert(0, self.regions.pop(i))
                return True
        return False

    @staticmethod
    def international(digits: str) -> bool:
        return _parse_phone("+" + digits, None) is not None


def _phone(col: _Column) -> _Result | None:
    n = col.n
    hinted = col.hinted("phone")
    if col.form not in ("int", "text"):
        return None
    shaped: list[tuple[str, str, bool]] = []  # (digits, style, formatted)
    for text in col.texts:
        if not _PHONE_SHAPE.fullmatch(text) or _DATE_SHAPE.fullmatch(text):
            continue
        body = _PHONE_EXTENSION.sub("", text).removeprefix("tel:").strip()
        digits = "".join(ch for ch in body if "0" <= ch <= "9")
        if not 7 <= len(digits) <= 15 and not (body.startswith(("+", "00")) and 7 <= len(digits) <= 17):
            continue
        if body.startswith("+"):
            style = "intl"
        elif body.startswith("00"):
            style, digits = "intl", digits[2:]
        else:
            style = "national"
        separated = _PHONE_SEPARATOR.search(body) is not None
        written = (
            style == "intl"
            or body.startswith("(")
            or (body.startswith("0") and separated)
            or _NANP_WRITTEN.fullmatch(body) is not None
        )
        shaped.append((digits, style, written))
    shape_share = _share(len(shaped), n)
    if shape_share < (0.5 if hinted else 0.8):
        if shape_share < 0.3:
            return None
        evidence = f"{col.hint_text('phone')}{_counted(len(shaped), n)} values are shaped like phone numbers"
        return _Result("phone", False, 0.0, shape_share * 0.5, evidence + " (too few)")
    shape_text = f"{col.hint_text('phone')}{_counted(len(shaped), n)} values are shaped like phone numbers"
    blocked = None
    if not hinted:
        context = col.identifier_context()
        written_count = sum(w for _d, _s, w in shaped)
        if context is not None:
            blocked = f"name says '{context}'"
        elif written_count < 0.6 * n:
            blocked = f"only {written_count} written like phone numbers (+, 00, (area), 0 with separators, NANP groups)"
        else:
            blocked = _looks_generated([d for d, _s, _w in shaped])
        if blocked is not None:  # no need to look the numbers up
            return _Result("phone", False, 0.0, shape_share * 0.5, f"{shape_text} ({blocked})")
    checker = _PhoneChecker()
    checked = shaped[:PHONE_CHECKS]
    valid = 0
    for digits, style, _written in checked:
        if style == "intl":
            valid += checker.international(digits)
        elif checker.national(digits) or (col.form == "int" and checker.international(digits)):
            valid += 1
    m = len(checked)
    valid_share = _share(valid, m) * shape_share
    evidence = f"{shape_text}, {valid}/{m} checked are valid in a numbering plan"
    if hinted and valid_share < 0.6:  # generated test data is often unallocated: the shape counts, less
        return _judge(col, "phone", 0.75 * shape_share, evidence)
    return _judge(col, "phone", valid_share, evidence)


def _looks_generated(digit_strings: Sequence[str]) -> str | None:
    """Why numbers look like a counter rather than phone numbers: near-sequential, or a long constant prefix."""
    if len(digit_strings) < 20:
        return None
    prefix = _common_prefix(digit_strings)
    if len(prefix) >= 6:
        return f"all share a {len(prefix)}-digit prefix"
    unique = sorted({int(d) for d in digit_strings})
    if len(unique) >= 20 and unique[-1] - unique[0] <= 1000 * len(unique):
        return "values are near-sequential"
    return None


def _common_prefix(texts: Sequence[str]) -> str:
    low, high = min(texts), max(texts)
    size = 0
    while size < min(len(low), len(high)) and low[size] == high[size]:
        size += 1
    return low[:size]


# ------------------------------------------------------------------------------------------------------
# Dates of birth
# ------------------------------------------------------------------------------------------------------

_DATE_FORMS = (
    # (regex, order of the groups: y m d), time of day optional after the date
    (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"), "ymd"),
    (re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"), "ymd"),
    (re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})"), "dmy"),
    (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})"), "dmy|mdy"),
    (re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})"), "dmy|mdy"),
)
_TIME_PART = re.compile(r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?)?")


def _parse_date(text: str, day_first: bool) -> tuple[date, bool] | None:
    """(the date, whether a time of day other than midnight follows) of a text date, else None."""
    for pattern, order in _DATE_FORMS:
        match = pattern.match(text)
        if match is None:
            continue
        rest = _TIME_PART.fullmatch(text, match.end())
        if rest is None:
            return None
        a, b, c = (int(g) for g in match.groups())
        if order == "ymd":
            y, m, d = a, b, c
        elif order == "dmy" or day_first:
            d, m, y = a, b, c
        else:
            m, d, y = a, b, c
        try:
            day = date(y, m, d)
        except ValueError:
            return None
        timed = rest.group(1) is not None and (int(rest.group(1)), int(rest.group(2)), int(rest.group(3) or 0)) != (
            0,
            0,
            0,
        )
        return day, timed
    return None


def _dates(col: _Column) -> tuple[list[tuple[date, bool]], str]:
    """The values as (date, timed) pairs, and what they were read as (for the evidence)."""
    if col.form == "datetime":
        out = []
        for v in col.raw:
            if isinstance(v, datetime):
                out.append((v.date(), (v.hour, v.minute, v.second, v.microsecond) != (0, 0, 0, 0)))
            elif isinstance(v, date):
                out.append((v, False))
        return out, "dates"
    if col.form == "int" and col.hinted("date_of_birth"):
        years = [(date(i, 7, 1), False) for i in col.integers if i is not None and 1880 <= i <= col.today.year]
        if len(years) >= 0.8 * col.n:
            return years, "birth years"
        compact = []
        for i in col.integers:
            if i is not None and 18_800_101 <= i <= 29_991_231:
                with contextlib.suppress(ValueError):
                    compact.append((date(i // 10000, i // 100 % 100, i % 100), False))
        return compact, "YYYYMMDD dates"
    if col.form != "text":
        return [], "dates"
    sample = [t for t in col.texts[:50] if t[:1].isdigit()]
    if len(sample) < 0.5 * min(col.n, 50):
        return [], "dates"
    best: list[tuple[date, bool]] = []
    for day_first in (True, False):
        parsed = [p for p in (_parse_date(t, day_first) for t in col.texts) if p is not None]
        if len(parsed) > len(best):
            best = parsed
    return best, "dates"


def _date_of_birth(col: _Column) -> _Result | None:
    parsed, what = _dates(col)
    n = col.n
    if len(parsed) < 0.5 * n:
        return None
    today = col.today
    ages = sorted((today - d).days / 365.2425 for d, _timed in parsed)
    in_range = sum(0 <= a <= 120 for a in ages)
    future = sum(a < 0 for a in ages)
    timed = sum(t for _d, t in parsed)
    evidence = (
        f"{col.hint_text('date_of_birth')}{_counted(len(parsed), n)} values are {what}, "
        f"{in_range} imply an age of 0 to 120 years today"
    )
    blocked = None
    event_word = next((t for t in sorted(col.tokens) if t in vocab.CONTEXT_EVENT_TIME), None)
    if event_word is not None:
        blocked = f"name says '{event_word}', an event"
    elif timed > 0.05 * len(parsed):
        blocked = f"{timed} carry a time of day, like events"
    elif future:
        blocked = f"{future} lie in the future"
    else:
        spread = _quantile(ages, 0.9) - _quantile(ages, 0.1)
        median = statistics.median(ages) if ages else 0.0
        recent = sum(a < 1 for a in ages)
        if spread < 10 or not 12 <= median <= 95 or recent > 0.05 * len(ages):
            blocked = "not spread over decades like births"
    return _judge(col, "date_of_birth", _share(in_range, n), evidence, blocked=blocked)


def _quantile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------------------------------------------
# Postal codes, ages, sex
# ------------------------------------------------------------------------------------------------------

# Forms that are postal codes on their own (letters in fixed places, ZIP+4, a country prefix).
_POSTAL_SPECIFIC = re.compile(
    r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}"  # UK
    r"|GIR\s?0AA"
    r"|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d"  # Canada
    r"|[1-9]\d{3}\s?(?!SA|SD|SS)[A-Z]{2}"  # Netherlands
    r"|(?:[AC-FHKNPRTV-Y]\d{2}|D6W)\s?[0-9AC-FHKNPRTV-Y]{4}"  # Ireland (Eircode)
    r"|\d{5}-\d{4}"  # US ZIP+4
    r"|(?:D|F|A|CH|I|E|NL|B|L|DK|S|N|FL|P|PL)-\d{4,5}"  # prefixed continental codes
)
# Forms that are also ordinary numbers or codes: postal codes only when the name says so.
_POSTAL_DIGITS = re.compile(r"\d{4,6}|\d{2}-\d{3}|\d{4}-\d{3}|\d{5}-\d{3}|\d{3}-\d{4}|\d{3}\s\d{2}")


def _postal_code(col: _Column) -> _Result | None:
    n = col.n
    hinted = col.hinted("postal_code")
    specific = 0
    digit_codes = 0
    for text in col.texts:
        upper = text.upper()
        if _POSTAL_SPECIFIC.fullmatch(upper):
            specific += 1
        elif _POSTAL_DIGITS.fullmatch(upper) or (hinted and col.form == "int" and 3 <= len(text) <= 6):
            digit_codes += 1
    if specific + digit_codes < 0.3 * n:
        return None
    evidence = (
        f"{col.hint_text('postal_code')}{_counted(specific + digit_codes, n)} values are postal codes "
        f"({specific} in a form with letters or a country prefix, {digit_codes} digits only)"
    )
    if hinted:
        return _judge(col, "postal_code", _share(specific + digit_codes, n), evidence)
    blocked = None
    if specific < 0.5 * n:
        blocked = "digit-only codes need a name hint"
    elif col.identifier_context():
        blocked = f"name says '{col.identifier_context()}'"
    return _judge(col, "postal_code", _share(specific + digit_codes, n), evidence, blocked=blocked)


_AGE_BAND = re.compile(r"\d{1,3}\s*(?:-|\u2013|to|bis|a)\s*\d{1,3}|\d{1,3}\s*\+|[<>]=?\s*\d{1,3}")


def _age(col: _Column) -> _Result | None:
    n = col.n
    if col.form not in ("int", "text"):
        return None
    whole = sum(i is not None and 0 <= i <= 120 for i in col.integers)
    bands = sum(_AGE_BAND.fullmatch(t) is not None for t in col.texts) if col.form == "text" else 0
    if whole + bands < 0.5 * n:
        return None
    evidence = f"{col.hint_text('age')}{_counted(whole + bands, n)} values are whole numbers in the human age range"
    if bands:
        evidence += f" or age bands ({bands})"
    blocked = None
    unit = next((t for t in sorted(col.tokens) if t in vocab.TIME_UNIT_TOKENS), None)
    context = col.identifier_context()
    if unit is not None:
        blocked = f"name says '{unit}': the age of a thing"
    elif context is not None:
        blocked = f"name says '{context}'"
    if blocked is not None and col.hinted("age"):
        return _Result("age", False, 0.0, 0.3, f"{evidence} ({blocked})")
    return _judge(col, "age", _share(whole + bands, n), evidence, needs_hint=True)


# Letter codes of the two sexes in several languages (male first): M/F, H/F (homme/femme), M/W (männlich/
# weiblich), M/V (man/vrouw), M/K (mężczyzna/kobieta, mand/kvinde).
_SEX_LETTER_PAIRS = ({"m", "f"}, {"h", "f"}, {"m", "w"}, {"m", "v"}, {"m", "k"})
_SEX_EXTRA_LETTERS = {"x", "d", "u", "o", "n"}


def _sex(col: _Column) -> _Result | None:
    n = col.n
    hinted = col.hinted("sex")
    if col.form == "bool":
        if not hinted:
            return None
        return _judge(col, "sex", 1.0, f"{col.hint_text('sex')}{n}/{n} values are booleans")
    if col.form == "int":
        codes = sum(i in (0, 1, 2, 9) for i in col.integers)
        if not hinted or codes < 0.5 * n:
            return None
        evidence = f"{col.hint_text('sex')}{_counted(codes, n)} values are ISO 5218 sex codes"
        return _judge(col, "sex", _share(codes, n), evidence)
    if col.form != "text":
        return None
    folded = col.folded
    distinct = set(folded)
    if len(distinct) > 12:
        return None
    words = sum(f in vocab.SEX_WORDS and len(f) > 1 for f in folded)
    letters = sum(f in vocab.SEX_LETTERS for f in folded)
    males, females = vocab.SEX_BINARY
    both_sides = bool(distinct & males) and bool(distinct & females)
    if words >= letters:
        evidence = f"{col.hint_text('sex')}{_counted(words + letters, n)} values are sex or gender words"
        blocked = None if both_sides else "no pair of words for the two sexes"
        return _judge(col, "sex", _share(words + letters, n), evidence, blocked=blocked)
    evidence = f"{col.hint_text('sex')}{_counted(letters, n)} values are one-letter sex codes"
    core = distinct - _SEX_EXTRA_LETTERS
    binary_like = core in _SEX_LETTER_PAIRS and len(distinct - core) <= 1
    blocked = None if binary_like else "letter codes other than a binary pair need a name hint"
    return _judge(col, "sex", _share(letters, n), evidence, blocked=blocked)


# ------------------------------------------------------------------------------------------------------
# Occupations and names of people
# ------------------------------------------------------------------------------------------------------

_JOB_LIKE = re.compile(r"[^\W\d_][^\d@#$%=<>{}\[\]|\\^~]{1,79}")


def _occupation(col: _Column) -> _Result | None:
    if col.form != "text":
        return None
    n = col.n
    known = vocab.occupations()
    listed = sum(f in known for f in col.folded)
    job_like = sum(_JOB_LIKE.fullmatch(t) is not None and len(t.split()) <= 8 for t in col.texts)
    distinct = len(set(col.folded))
    hinted = col.hinted("occupation")
    if not hinted and listed < 0.3 * n:
        return None
    evidence = (
        f"{col.hint_text('occupation')}{_counted(listed, n)} values are in the occupation list, "
        f"{job_like} are short text like job titles"
    )
    if not hinted:
        blocked = None if distinct >= 5 else f"only {distinct} distinct values"
        return _judge(col, "occupation", _share(listed, n), evidence, blocked=blocked)
    word = col.hints["occupation"]
    strong = word in vocab.OCCUPATION_STRONG or any(s in word for s in vocab.HINT_STEMS["occupation"])
    if distinct < 3 or (not strong and listed < 0.3 * n):
        return _Result("occupation", False, 0.0, 0.3, evidence + " (the name alone is not enough)")
    return _judge(col, "occupation", _share(job_like, n), evidence)


_NAME_WORD = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*\.?")
_COMPANY_WORDS = frozenset(
    {
        "gmbh", "ag", "kg", "ltd", "inc", "llc", "plc", "corp", "co", "sa", "sarl", "sas", "srl", "spa", "bv",
        "nv", "oy", "ab", "as", "group", "holding", "holdings", "and", "&", "und", "et", "the", "of", "e.v",
        "gbr", "ohg", "ug", "limited", "company", "services", "solutions", "systems", "bank", "university",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _NameShape:
    words: int
    full: bool  # a known first name and a known last name
    known: bool  # at least one known first or last name
    first_only: bool  # one word, a known first name


def _name_shape(text: str, first: frozenset[str], last: frozenset[str]) -> _NameShape | None:
    """How ``text`` reads as the name of a person, or None when it is not shaped like one."""
    if len(text) > 80 or any(ch.isdigit() for ch in text) or "@" in text:
        return None
    swapped = False
    if text.count(",") == 1:
        head, tail = (part.strip() for part in text.split(","))
        if tail.casefold().rstrip(".") in vocab.NAME_SUFFIXES:
            text = head
        else:
            text, swapped = f"{tail} {head}", True
    words = text.split()
    while words and words[0].casefold().rstrip(".") in vocab.NAME_PREFIXES and len(words) > 1:
        words = words[1:]
    while len(words) > 1 and words[-1].casefold().rstrip(".") in vocab.NAME_SUFFIXES:
        words = words[:-1]
    core = [w for w in words if w.casefold() not in vocab.NAME_PARTICLES or w is words[0]]
    if not 1 <= len(core) <= 5 or not all(_NAME_WORD.fullmatch(w) for w in core):
        return None
    if any(w.casefold() in _COMPANY_WORDS for w in core):
        return None

    def known_in(word: str, names: frozenset[str]) -> bool:
        folded = word.casefold().rstrip(".")
        return folded in names or ("-" in folded and all(p in names for p in folded.split("-") if p))

    head_first = known_in(core[0], first)
    tail_last = known_in(core[-1], last)
    if len(core) == 1:
        return _NameShape(1, False, head_first or tail_last, head_first)
    full = head_first and tail_last
    if not full and not swapped:  # "Meier Anna": family name first, as in Hungarian or lists
        full = known_in(core[0], last) and known_in(core[-1], first)
    known = full or any(known_in(w, first) or known_in(w, last) for w in core)
    return _NameShape(len(core), full, known, False)


def _person_name(col: _Column) -> _Result | None:
    if col.form != "text":
        return None
    n = col.n
    first, last = vocab.first_names(), vocab.last_names()
    shapes = [_name_shape(t, first, last) for t in col.texts]
    named = [s for s in shapes if s is not None]
    if len(named) < 0.5 * n:
        return None
    full = sum(s.full for s in named)
    known = sum(s.known for s in named)
    single = sum(s.words == 1 for s in named)
    first_only = sum(s.first_only for s in named)
    distinct = len(set(col.folded))
    evidence = (
        f"{col.hint_text('person_name')}{_counted(len(named), n)} values are shaped like names of people, "
        f"{full} a known first and last name, {known} hold a known name"
    )
    shape_share = _share(len(named), n)
    if col.hinted("person_name"):
        word = col.hints["person_name"]
        strong = word in vocab.PERSON_STRONG or any(s in word for s in vocab.HINT_STEMS["person_name"])
        if not strong and known < 0.4 * len(named):
            return _Result("person_name", False, 0.0, shape_share * 0.4, evidence + " (too few known names)")
        return _judge(col, "person_name", shape_share, evidence)
    negative = next((t for t in sorted(col.tokens) if t in vocab.NAME_NEGATIVE_TOKENS), None)
    blocked = None
    if negative is not None:
        blocked = f"name says '{negative}'"
    elif single >= 0.5 * len(named):
        first_names_alone = first_only >= 0.8 * n and distinct >= 20
        last_names_alone = known >= 0.95 * n and distinct >= 50
        if not (first_names_alone or last_names_alone):
            blocked = "single words need 80% known first names (or 95% known names) and many distinct values"
    elif full < 0.6 * n:
        blocked = "needs 60% known first and last names"
    return _judge(col, "person_name", shape_share, evidence, blocked=blocked)


# ------------------------------------------------------------------------------------------------------
# Free text and what it embeds
# ------------------------------------------------------------------------------------------------------

_TEXT_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)[1-9][\d\s().\-/]{5,20}\d(?!\w)")
_TEXT_PHONE_NATIONAL = re.compile(
    r"(?<![\w.,/-])(?:\(0\d{1,4}\)|0\d{1,4})[\s.\-/]?\d[\d\s.\-/]{3,14}\d(?![\w.,/-]\d)"
    r"|(?<![\w.,/-])\(?[2-9]\d{2}\)?[\s.\-]\d{3}[\s.\-]\d{4}(?![\w-])"
)
_TEXT_DIGITS = re.compile(r"(?<![\w.,/-])\d[\d\s\-]{5,18}\d(?![\w.,/-]\d)")
_TEXT_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_TEXT_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_TEXT_CARD = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){11,18}(?![\w-])")
_TEXT_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_TEXT_NINO = re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")
_TEXT_TAX = re.compile(r"(?<![\w-])\d{2}\s?\d{3}\s?\d{3}\s?\d{3}(?![\w-])")
_TEXT_NIR = re.compile(r"(?<![\w-])[1-478]\s?\d{2}\s?\d{2}\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}\s?\d{2}(?![\w-])")
_TEXT_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_TEXT_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])")
_TEXT_VERSION_BEFORE = re.compile(r"(?:version|ver|v|release|build|firmware|fw)\.?\s*$", re.IGNORECASE)
_TEXT_NAME = re.compile(r"\b([^\W\d_]+(?:['\u2019\-][^\W\d_]+)*)\s+([^\W\d_]+(?:['\u2019\-][^\W\d_]+)*)")


def _embedded_in(text: str, checker: _PhoneChecker) -> set[str]:
    """The kinds of identifiers found inside one text."""
    found: set[str] = set()
    if "@" in text and _EMAIL_IN_TEXT.search(text):
        found.add("email")
    for match in _TEXT_PHONE_INTL.finditer(text):
        if checker.international("".join(ch for ch in match.group().lstrip("0+") if ch.isdigit())):
            found.add("phone")
            break
    if "phone" not in found:
        for match in _TEXT_PHONE_NATIONAL.finditer(text):
            candidate = match.group()
            digits = "".join(ch for ch in candidate if ch.isdigit())
            if _TEXT_DATE.fullmatch(candidate) or not 7 <= len(digits) <= 15:
                continue
            if checker.national(digits):
                found.add("phone")
                break
    if "phone" not in found:
        for match in _TEXT_DIGITS.finditer(text):
            digits = "".join(ch for ch in match.group() if ch.isdigit())
            context = vocab.PHONE_CONTEXT.search(text[: match.start()]) is not None
            if 7 <= len(digits) <= 15 and context and checker.national(digits):
                found.add("phone")
                break
    for match in _TEXT_IBAN.finditer(text):
        compact = match.group().replace(" ", "")
        length = checks.IBAN_LENGTHS.get(compact[:2])
        if length is not None and checks.iban_valid(compact[:length]):
            found.add("iban")
            break
    for match in _TEXT_CARD.finditer(text):
        if checks.card_valid(match.group().replace(" ", "").replace("-", "")):
            found.add("payment_card")
            break
    for match in _TEXT_SSN.finditer(text):
        if checks.us_ssn_valid(match.group().replace("-", "")):
            found.add("us_ssn")
            break
    for match in _TEXT_NINO.finditer(text):
        if checks.uk_nino_valid(match.group().replace(" ", "")):
            found.add("uk_nino")
            break
    for match in _TEXT_TAX.finditer(text):
        if checks.de_tax_id_valid(match.group().replace(" ", "")):
            found.add("de_tax_id")
            break
    for match in _TEXT_NIR.finditer(text):
        if checks.fr_nir_valid(match.group().replace(" ", "")):
            found.add("fr_nir")
            break
    for pattern in (_TEXT_IPV4, _TEXT_IPV6):
        for match in pattern.finditer(text):
            if _TEXT_VERSION_BEFORE.search(text[: match.start()]):
                continue
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            found.add("ip_address")
            break
    if _has_full_name(text):
        found.add("person_name")
    return found


def _has_full_name(text: str) -> bool:
    """A known first name followed by a known last name, both capitalised, or a title and a last name.

    Not when a word of an address stands just before or after (``Calle de Juan Bravo``, ``Henry
    Gateway``): that is a street named after someone.
    """
    first, last = vocab.first_names(), vocab.last_names()
    for match in _TEXT_NAME.finditer(text):
        one, two = match.group(1), match.group(2)
        if not (one[0].isupper() and two[0].isupper()):
            continue
        a, b = one.casefold(), two.casefold()
        if a in first and b in last and a not in vocab.NAME_PARTICLES and not _by_a_street(text, match):
            return True
    for match in _TEXT_NAME.finditer(text.replace(".", " ")):
        one, two = match.group(1), match.group(2)
        if one.casefold() in _TITLES and two[0].isupper() and two.casefold() in last:
            return True
    return False


def _looks_like_address(text: str) -> bool:
    """A house number or a postcode, with a word of an address or commas between parts."""
    if not any(ch.isdigit() for ch in text):
        return False
    street = any(w.casefold() in vocab.STREET_WORDS for w in _WORDS.findall(text))
    numbered = _HOUSE_NUMBER.match(text) is not None or _POSTCODE_IN_TEXT.search(text) is not None
    return street or (numbered and "," in text)


_HOUSE_NUMBER = re.compile(r"\d{1,5}[A-Za-z]?\b")
_POSTCODE_IN_TEXT = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{4,5}(?:-\d{4})?|[1-9]\d{3}\s?[A-Z]{2})\b"
)


def _by_a_street(text: str, match: re.Match[str]) -> bool:
    before = _WORDS.findall(text[max(0, match.start() - 30) : match.start()])[-3:]
    after = _WORDS.findall(text[match.end() : match.end() + 30])[:2]
    return any(w.casefold() in vocab.STREET_WORDS for w in (*before, *after))


_WORDS = re.compile(r"[^\W\d_]+")
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "herr", "frau", "mme", "mlle", "sr", "sra", "dhr", "mevr", "prof"})


def _free_text(col: _Column) -> _Result | None:
    if col.form != "text":
        return None
    n = col.n
    # Words with letters in them: an identifier written in groups of digits is not text.
    counts = [sum(_TEXT_WORD.search(w) is not None for w in t.split()) for t in col.texts]
    text_like = sum(c >= 3 and len(t) >= 15 for c, t in zip(counts, col.texts, strict=True))
    if text_like < 0.5 * n or statistics.fmean(counts) < 3.5:
        return None
    checker = _PhoneChecker()
    kinds: Counter[str] = Counter()
    holding = 0
    addresses = 0
    for text in col.texts:
        found = _embedded_in(text, checker)
        kinds.update(found)
        holding += bool(found)
        addresses += _looks_like_address(text)
    if addresses >= 0.3 * n:  # postal addresses: the names in them are those of streets and towns
        kinds.pop("person_name", None)
    needed = 1 if n < 20 else 2
    names_needed = max(needed, math.ceil(0.02 * n))
    embedded = tuple(sorted(k for k, c in kinds.items() if c >= (names_needed if k == "person_name" else needed)))
    hinted = col.hinted("free_text")
    about = next((t for t in sorted(col.tokens) if t in vocab.PERSON_CONTEXT), None)
    if about is None and "person_name" in col.hints:
        about = col.hints["person_name"]
    base = f"{col.hint_text('free_text')}{_counted(text_like, n)} values are multi-word text"
    if embedded:
        listed = ", ".join(f"{_KIND_WORDS[k]} in {kinds[k]}" for k in embedded)
        confidence = 0.7 + 0.3 * min(1.0, 5 * _share(holding, n))
        if hinted or about:
            confidence += (1 - confidence) * 0.5
        return _Result("free_text", True, round(confidence, 3), 1.0, f"{base}; found {listed}", embedded)
    if hinted and about is not None:
        evidence = f"{base} about people (name says '{about}'); no identifier found in the sample"
        return _Result("free_text", True, 0.6, 0.6, evidence)
    return _Result("free_text", False, 0.0, 0.15, f"{base}, no identifier found in them")


_TEXT_WORD = re.compile(r"[^\W\d_]{2,}")
_KIND_WORDS = {
    "email": "e-mail address",
    "phone": "phone number",
    "iban": "IBAN",
    "payment_card": "card number",
    "us_ssn": "US SSN",
    "uk_nino": "UK NINO",
    "de_tax_id": "Steuer-IdNr",
    "fr_nir": "French NIR",
    "ip_address": "IP address",
    "person_name": "full name",
}


# ------------------------------------------------------------------------------------------------------
# The detector
# ------------------------------------------------------------------------------------------------------

_RECOGNISERS: tuple[Callable[[_Column], _Result | None], ...] = (
    _email,
    _phone,
    _iban,
    _card,
    _us_ssn,
    _uk_nino,
    _de_tax_id,
    _fr_nir,
    _ip,
    _person_name,
    _free_text,
    _date_of_birth,
    _postal_code,
    _age,
    _sex,
    _occupation,
)
_ORDER = {kind: i for i, kind in enumerate(PII_KINDS)}


def _classify(column: _Column) -> ColumnFinding:
    """The finding for one column: the most confident kind that fires, else None with its support."""
    if column.n == 0:
        return ColumnFinding(column.name, None, 1.0, None, "no values")
    if column.form in ("bool", "float", "other") and not (column.form == "bool" and column.hinted("sex")):
        what = {"bool": "boolean values", "float": "numbers with fractions", "other": "values of no text form"}
        reason = what[column.form]
        if column.form == "float" and column.hinted("age"):
            reason += " (an age hint, but not whole numbers)"
        return ColumnFinding(column.name, None, 1.0, None, f"not personal data: {column.n} {reason}")
    results = []
    for recognise in _RECOGNISERS:
        result = recognise(column)
        if result is not None:
            results.append(result)
    fired = [r for r in results if r.fires]
    if fired:
        best = max(fired, key=lambda r: (r.confidence, -_ORDER[r.kind]))
        category = PII_KINDS[best.kind]
        return ColumnFinding(column.name, best.kind, best.confidence, category, best.evidence, best.embedded)
    if not results:
        return ColumnFinding(column.name, None, 1.0, None, f"not personal data: {column.n} values fit no kind")
    # The evidence tells what the name's kind made of the values, if the name hints one; else the closest kind.
    closest = max(results, key=lambda r: (column.hinted(r.kind), r.support, r.fit, -_ORDER[r.kind]))
    confidence = round(max(0.0, 1.0 - max(r.support for r in results)), 3)
    if closest.support == 0 and closest.fit == 0:
        hint = f"name hint '{next(iter(column.hints.values()))}', but " if column.hints else ""
        return ColumnFinding(column.name, None, confidence, None, f"not personal data: {hint}no value fits a kind")
    return ColumnFinding(column.name, None, confidence, None, f"not personal data: {closest.evidence}")


class PiiDetector:
    """Classifies each column of a frame as a kind of personal data (see the module's docstring).

    ``sample_size``: at most this many non-null values per column are looked at, drawn with a
    generator seeded by ``random_state`` (and the column's position), so a result is reproducible.
    """

    def __init__(self, sample_size: int = 1000, random_state: int = 0) -> None:
        self.sample_size = sample_size
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"PiiDetector(sample_size={self.sample_size!r}, random_state={self.random_state!r})"

    def detect(self, frame: pandas.DataFrame) -> dict[str, ColumnFinding]:
        """One finding per column of ``frame``, in column order, keyed by the column's name as text."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise BadInput(f"PII detection needs a pandas DataFrame, not {type(frame).__name__}")
        size = self.sample_size
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise BadInput("sample_size must be a whole number of at least 1")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, numbers.Integral):
            raise BadInput("random_state must be a whole number")
        today = datetime.now(UTC).date()
        findings: dict[str, ColumnFinding] = {}
        for position in range(frame.shape[1]):
            series = frame.iloc[:, position]
            name = str(frame.columns[position])
            values = _sample(series, int(size), int(self.random_state), position)
            findings[name] = _classify(_column(name, series.dtype, values, today))
        return findings


def _column(name: str, dtype: Any, values: list[Any], today: date) -> _Column:
    form = _form_of(dtype, values)
    texts = [_plain_text(v, None) or "" for v in values]
    tokens = frozenset(vocab.name_tokens(name))
    return _Column(name, tokens, vocab.hint_words(name), form, values, texts, today)


def _sample(series: pandas.Series, size: int, seed: int, position: int) -> list[Any]:
    """At most ``size`` non-null, non-blank values of ``series``, drawn at random, in the column's order."""
    import numpy as np

    present = np.flatnonzero(series.notna().to_numpy())
    if len(present) == 0:
        return []
    rng = np.random.default_rng([abs(seed), position, 0 if seed >= 0 else 1])
    order = rng.permutation(len(present)) if len(present) > size else np.arange(len(present))
    chosen: list[tuple[int, Any]] = []
    start = 0
    want = size
    while len(chosen) < size and start < len(order):
        take = order[start : start + want + want // 4 + 8]
        start += len(take)
        positions = present[take]
        for where, value in zip(positions.tolist(), series.iloc[positions].tolist(), strict=True):
            if _blank(value):
                continue
            chosen.append((where, value))
            if len(chosen) == size:
                break
        want = size - len(chosen)
    chosen.sort(key=lambda pair: pair[0])
    return [value for _where, value in chosen]


def _blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType") or value is None


# ------------------------------------------------------------------------------------------------------
# Sampling a stream of chunks
# ------------------------------------------------------------------------------------------------------


class ColumnSampler:
    """A uniform sample of at most ``size`` rows of a stream of frames, in one pass (reservoir sampling).

    Algorithm R, vectorised per chunk: row ``t`` of the stream (counting from 0) goes into the
    reservoir while it is not full; after that it replaces slot ``j`` when a uniform ``j`` in
    ``0..t`` falls below ``size``, so every row seen ends up in the sample with the same chance,
    ``size / rows_seen``. Draws come from a generator seeded by ``random_state``: the same stream and
    seed give the same sample. :meth:`frame` returns the sampled rows in stream order.

    Every chunk must have the columns of the first (same names, same order). Where chunks disagree on
    a column's dtype, the sample's column takes the type pandas gives their concatenation.
    """

    def __init__(self, size: int, random_state: int = 0) -> None:
        import numpy as np

        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise BadInput("the sample size must be a whole number of at least 1")
        if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
            raise BadInput("random_state must be a whole number")
        self.size: int = int(size)
        self.random_state: int = int(random_state)
        self._rng: Any = np.random.default_rng(abs(self.random_state))
        self._rows_seen: int = 0
        self._reservoir: pandas.DataFrame | None = None
        self._stream_index: Any = np.empty(0, dtype=np.int64)  # each slot's row number in the stream

    @property
    def rows_seen(self) -> int:
        """How many rows :meth:`add` has been given."""
        return self._rows_seen

    def add(self, chunk: pandas.DataFrame) -> None:
        """Offer every row of ``chunk`` to the sample."""
        import numpy as np
        import pandas as pd

        if not isinstance(chunk, pd.DataFrame):
            raise BadInput(f"a chunk to sample must be a pandas DataFrame, not {type(chunk).__name__}")
        if self._reservoir is not None and list(map(str, chunk.columns)) != list(map(str, self._reservoir.columns)):
            raise BadInput("every chunk must have the columns of the first, in the same order")
        rows = len(chunk)
        if self._reservoir is None:
            self._reservoir = chunk.iloc[0:0].reset_index(drop=True)
        if rows == 0:
            return
        start = self._rows_seen
        self._rows_seen += rows
        held = len(self._reservoir)
        fill = min(self.size - held, rows)
        parts = [self._reservoir] if held else []
        index_parts = [self._stream_index]
        if fill > 0:
            parts.append(chunk.iloc[:fill])
            index_parts.append(np.arange(start, start + fill, dtype=np.int64))
        combined_index = np.concatenate(index_parts)
        take = np.arange(held + fill)
        if fill < rows:
            stream = np.arange(start + fill, start + rows, dtype=np.int64)
            slots = self._rng.integers(0, stream + 1)  # uniform in 0..t for row t
            hit = slots < self.size
            if hit.any():
                hit_slots, hit_rows = slots[hit], stream[hit]
                # The last row to land in a slot is the one that stays there.
                last = {int(s): int(r) for s, r in zip(hit_slots.tolist(), hit_rows.tolist(), strict=True)}
                rows_in = np.array(sorted(set(last.values())), dtype=np.int64)
                parts.append(chunk.iloc[rows_in - start])
                combined_index = np.concatenate([combined_index, rows_in])
                where = {r: held + fill + i for i, r in enumerate(rows_in.tolist())}
                for slot, row in last.items():
                    take[slot] = where[row]
        combined = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        self._reservoir = combined.iloc[take].reset_index(drop=True)
        self._stream_index = combined_index[take]

    def frame(self) -> pandas.DataFrame:
        """The sampled rows (at most ``size``), in the order they came in the stream, indexed from 0."""
        import numpy as np
        import pandas as pd

        if self._reservoir is None:
            return pd.DataFrame()
        order = np.argsort(self._stream_index, kind="stable")
        return self._reservoir.iloc[order].reset_index(drop=True)
