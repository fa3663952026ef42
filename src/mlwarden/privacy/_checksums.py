"""Validators of identifiers that carry a checksum or allocation rules, and the check digits they use.

Every validator takes the identifier's *compact* text (no spaces, dashes or dots, upper-cased; see
:func:`compact`) and returns a plain ``bool``; none raises on malformed input. The check-digit helpers are
the inverse: given the body, the digit(s) that make it valid (the tests build valid identifiers with them).

=================  ==============================================================================================
``card_valid``     payment card: 12 to 19 digits, the Luhn check (ISO/IEC 7812-1), and an issuer prefix (IIN) and
                   length that a network issues (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro,
                   Mir, RuPay, Verve, Troy)
``iban_valid``     IBAN: country code, the registry's length for that country (ISO 13616), the two check digits
                   by ISO 7064 MOD 97-10 (the whole IBAN, rearranged and read as a number, is 1 mod 97)
``us_ssn_valid``   US Social Security number: 9 digits, area not 000, 666 or 900-999, group not 00, serial not
                   0000 (SSA, randomised assignment since 2011), and not one of the two numbers the SSA
                   voided after they were published (078-05-1120, 219-09-9999)
``uk_nino_valid``  UK National Insurance number: two prefix letters (first not D F I Q U V, second not D F I O Q U
                   V, and not BG GB KN NK NT TN ZZ), six digits, suffix A-D
``de_tax_id_valid``  German Steuer-Identifikationsnummer: 11 digits, first not 0; in the first ten exactly one digit
                   occurs twice or three times (three times never all adjacent); check digit ISO 7064 MOD 11,10
``fr_nir_valid``   French NIR (numero de securite sociale): 13 characters (sex, year, month, department with
                   Corsica as 2A/2B, commune, order) and a 2-digit key 97 - (n mod 97), where 2A counts as 19 and
                   2B as 18
=================  ==============================================================================================
"""

from __future__ import annotations

import re

__all__ = [
    "IBAN_LENGTHS",
    "card_valid",
    "compact",
    "de_tax_id_check_digit",
    "de_tax_id_valid",
    "fr_nir_key",
    "fr_nir_valid",
    "iban_check_digits",
    "iban_valid",
    "luhn_check_digit",
    "luhn_valid",
    "uk_nino_valid",
    "us_ssn_valid",
]

_SEPARATORS = re.compile(r"[\s\-./]+")
_DIGITS = re.compile(r"[0-9]+")


def compact(text: str) -> str:
    """``text`` without whitespace, dashes, dots or slashes, upper-cased: the form every validator takes."""
    return _SEPARATORS.sub("", text).upper()


# --------------------------------------------------------------------------------------------
# Luhn and payment cards
# --------------------------------------------------------------------------------------------


def _luhn_sum(digits: str) -> int:
    """Luhn sum of ``digits`` where the rightmost digit is not doubled."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (ASCII digits only, at least 2) passes the Luhn check."""
    return len(digits) >= 2 and _DIGITS.fullmatch(digits) is not None and _luhn_sum(digits) % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that, appended to ``body``, makes it pass the Luhn check."""
    return str((10 - _luhn_sum(body + "0") % 10) % 10)


# (first prefix, last prefix, lengths): prefixes compared on the number's first len(prefix) digits.
_CARD_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),
    ("6011", "6011", frozenset(range(16, 20))),  # Discover
    ("644", "649", frozenset(range(16, 20))),
    ("65", "65", frozenset(range(16, 20))),
    ("3528", "3589", frozenset(range(16, 20))),  # JCB
    ("2131", "2131", frozenset({15})),  # JCB, older 15-digit ranges
    ("1800", "1800", frozenset({15})),
    ("300", "305", frozenset(range(14, 20))),  # Diners Club
    ("3095", "3095", frozenset(range(14, 20))),
    ("36", "36", frozenset(range(14, 20))),
    ("38", "39", frozenset(range(14, 20))),
    ("62", "62", frozenset(range(16, 20))),  # UnionPay
    ("81", "82", frozenset(range(16, 20))),  # UnionPay, RuPay
    ("50", "50", frozenset(range(12, 20))),  # Maestro, Verve
    ("56", "69", frozenset(range(12, 20))),  # Maestro and national debit schemes
    ("2200", "2204", frozenset(range(16, 20))),  # Mir
    ("9792", "9792", frozenset({16})),  # Troy
)


def card_valid(digits: str) -> bool:
    """Whether ``digits`` is a payment card number: a known issuer prefix and length, and the Luhn check."""
    if _DIGITS.fullmatch(digits) is None or not 12 <= len(digits) <= 19:
        return False
    for low, high, lengths in _CARD_RANGES:
        head = digits[: len(low)]
        if low <= head <= high and len(digits) in lengths:
            return luhn_valid(digits)
    return False


# --------------------------------------------------------------------------------------------
# IBAN (ISO 13616, check digits ISO 7064 MOD 97-10)
# --------------------------------------------------------------------------------------------

# The IBAN registry's length for every country that issues IBANs.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def _mod97(alnum: str) -> int:
    """``alnum`` read as a number with A=10 ... Z=35, modulo 97."""
    rest = 0
    for ch in alnum:
        # A digit shifts the number by one decimal place, a letter (10..35) by two.
        value, shift = (ord(ch) - 48, 10) if "0" <= ch <= "9" else (ord(ch) - 55, 100)
        rest = (rest * shift + value) % 97
    return rest


def iban_valid(iban: str) -> bool:
    """Whether ``iban`` (compact, upper-case) has its country's length and valid MOD 97-10 check digits."""
    if _IBAN_SHAPE.fullmatch(iban) is None or IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    if iban[2:4] in ("00", "01", "99"):  # never issued: the check digits run 02..98
        return False
    return _mod97(iban[4:] + iban[:4]) == 1


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of the IBAN for ``country`` (two letters) and ``bban`` (upper-case alphanumeric)."""
    return f"{98 - _mod97(bban + country + '00'):02d}"


# --------------------------------------------------------------------------------------------
# National identifiers
# --------------------------------------------------------------------------------------------

# The two numbers the SSA voided after they were printed in advertising: the one on the sample card in
# Woolworth's wallets (1938) and the one in a 1940 Social Security Board pamphlet.
_VOIDED_SSNS = frozenset({"078051120", "219099999"})


def us_ssn_valid(digits: str) -> bool:
    """Whether ``digits`` (9 digits) could be an issued US SSN: area, group and serial rules of the SSA."""
    if len(digits) != 9 or _DIGITS.fullmatch(digits) is None:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in _VOIDED_SSNS


_NINO = re.compile(r"([A-CEGHJ-PR-TW-Z])([A-CEGHJ-NPR-TW-Z])[0-9]{6}[A-D]")
_NINO_NOT_ALLOCATED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino_valid(nino: str) -> bool:
    """Whether ``nino`` (compact, upper-case, e.g. ``AB123456C``) follows HMRC's rules for NI numbers."""
    match = _NINO.fullmatch(nino)
    return match is not None and nino[:2] not in _NINO_NOT_ALLOCATED


def de_tax_id_check_digit(body: str) -> str:
    """The ISO 7064 MOD 11,10 check digit of the first ten digits of a Steuer-IdNr."""
    product = 10
    for ch in body:
        total = (ord(ch) - 48 + product) % 10
        if total == 0:
            total = 10
        product = (total * 2) % 11
    check = 11 - product
    return "0" if check == 10 else str(check)


def _de_tax_id_repetition_ok(body: str) -> bool:
    counts = [body.count(d) for d in "0123456789"]
    repeated = [i for i, c in enumerate(counts) if c > 1]
    if len(repeated) != 1 or counts[repeated[0]] > 3:
        return False
    if counts[repeated[0]] == 3:
        return str(repeated[0]) * 3 not in body
    return True


def de_tax_id_valid(digits: str) -> bool:
    """Whether ``digits`` (11 digits) is a well-formed German Steuer-IdNr (digit rules and check digit)."""
    if len(digits) != 11 or _DIGITS.fullmatch(digits) is None or digits[0] == "0":
        return False
    return _de_tax_id_repetition_ok(digits[:10]) and de_tax_id_check_digit(digits[:10]) == digits[10]


_NIR = re.compile(r"[1-478]([0-9]{2})([0-9]{2})(2[AB]|[0-9]{2})[0-9]{6}([0-9]{2})")


def fr_nir_key(body: str) -> str:
    """The 2-digit key of a NIR's first 13 characters (Corsican departments 2A and 2B count as 19 and 18)."""
    department = body[5:7]
    if department in ("2A", "2B"):
        body = body[:5] + ("19" if department == "2A" else "18") + body[7:]
    number = int(body)
    return f"{97 - number % 97:02d}"


def fr_nir_valid(nir: str) -> bool:
    """Whether ``nir`` (15 characters, compact) is a French NIR: shape, month, department and key."""
    match = _NIR.fullmatch(nir)
    if match is None:
        return False
    month = int(match.group(2))
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    if match.group(3) == "00":
        return False
    return fr_nir_key(nir[:13]) == nir[13:]
