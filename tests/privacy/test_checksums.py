"""The identifier validators of ``mlwarden.privacy._checksums``: published vectors pass, every one-digit
mutation of them fails, and identifiers built with the check-digit helpers validate (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.privacy._checksums import (
    IBAN_LENGTHS,
    card_valid,
    compact,
    de_tax_id_check_digit,
    de_tax_id_valid,
    fr_nir_key,
    fr_nir_valid,
    iban_check_digits,
    iban_valid,
    luhn_check_digit,
    luhn_valid,
    uk_nino_valid,
    us_ssn_valid,
)

# The examples of the SWIFT IBAN registry (ISO 13616) for these countries, as printed there.
IBAN_EXAMPLES = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "BE68 5390 0754 7034",
    "CH93 0076 2011 6238 5295 7",
    "AT61 1904 3002 3457 3201",
    "ES91 2100 0418 4502 0005 1332",
    "IT60 X054 2811 1010 0000 0123 456",
    "NO93 8601 1117 947",
    "SE45 5000 0000 0583 9825 7466",
    "PL61 1090 1014 0000 0712 1981 2874",
    "IE29 AIBK 9311 5212 3456 78",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
]
# Test card numbers the networks publish for their sandboxes.
CARD_EXAMPLES = [
    "4111111111111111",  # Visa
    "4012888888881881",  # Visa
    "4222222222222",  # Visa, 13 digits
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "371449635398431",  # American Express
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
    "30569309025904",  # Diners Club
    "6200000000000005",  # UnionPay
]
# Steuer-IdNr examples with a digit twice and a digit three times (BZSt's structure rules, 2016 onwards).
DE_TAX_EXAMPLES = ["86095742719", "65929970489", "47036892816", "57549285017"]
# The NIR examples of the French social security numbering (sex, year, month, department, commune, order, key).
NIR_EXAMPLES = ["269054958815780", "255081416802538"]


def one_digit_mutations(text: str) -> list[str]:
    """Every text that differs from ``text`` in exactly one digit."""
    out = []
    for i, ch in enumerate(text):
        if ch.isdigit():
            out.extend(text[:i] + d + text[i + 1 :] for d in "0123456789" if d != ch)
    return out


def test_compact() -> None:
    assert compact(" gb82-west.1234 5698/7654 32 ") == "GB82WEST12345698765432"


@pytest.mark.parametrize("iban", IBAN_EXAMPLES)
def test_registry_ibans_pass_and_every_one_digit_change_fails(iban: str) -> None:
    text = compact(iban)
    assert iban_valid(text)
    assert iban_check_digits(text[:2], text[4:]) == text[2:4]
    for mutated in one_digit_mutations(text):
        assert not iban_valid(mutated), mutated


def test_iban_length_and_shape_rules() -> None:
    assert not iban_valid("GB82WEST1234569876543")  # one short for GB
    assert not iban_valid("GB82WEST123456987654321")  # one long
    assert not iban_valid("XX82WEST12345698765432")  # no such country
    assert not iban_valid("gb82west12345698765432")  # validators take the compact, upper-case form
    assert not iban_valid("")
    # Check digits 00, 01 and 99 are never issued, even where the MOD 97 sum works out (97 apart).
    body = "WEST12345698765432"
    good = iban_check_digits("GB", body)
    assert iban_valid(f"GB{good}{body}")
    for alias in (int(good) + 97, int(good) - 97):
        if 0 <= alias <= 99:
            assert not iban_valid(f"GB{alias:02d}{body}")
    assert IBAN_LENGTHS["DE"] == 22
    assert IBAN_LENGTHS["NO"] == 15
    assert IBAN_LENGTHS["LC"] == 32


@pytest.mark.parametrize("number", ["79927398713", *CARD_EXAMPLES])
def test_luhn_vectors_and_one_digit_changes(number: str) -> None:
    assert luhn_valid(number)
    assert luhn_check_digit(number[:-1]) == number[-1]
    for mutated in one_digit_mutations(number):
        assert not luhn_valid(mutated), mutated


@pytest.mark.parametrize("number", CARD_EXAMPLES)
def test_published_test_cards_are_cards(number: str) -> None:
    assert card_valid(number)


def test_cards_need_an_issuer_prefix_and_its_length() -> None:
    assert luhn_valid("79927398713")
    assert not card_valid("79927398713")
    body = "9" + "0" * 14  # no network issues 9...
    assert not card_valid(body + luhn_check_digit(body))
    visa_17 = "4" + "1" * 15
    assert not card_valid(visa_17 + luhn_check_digit(visa_17))  # Visa issues 13, 16 and 19 digits
    amex_16 = "37" + "0" * 13
    assert not card_valid(amex_16 + luhn_check_digit(amex_16))  # Amex is 15 digits
    assert not card_valid("4111 1111 1111 1111")  # compact form only
    assert not card_valid("41111111111111a1")


@pytest.mark.parametrize("number", DE_TAX_EXAMPLES)
def test_steuer_idnr_vectors_and_one_digit_changes(number: str) -> None:
    assert de_tax_id_valid(number)
    assert de_tax_id_check_digit(number[:10]) == number[10]
    for mutated in one_digit_mutations(number):
        assert not de_tax_id_valid(mutated), mutated


def test_steuer_idnr_digit_rules() -> None:
    def with_check(body: str) -> str:
        return body + de_tax_id_check_digit(body)

    assert de_tax_id_valid(with_check("8609574271"))
    assert not de_tax_id_valid(with_check("0609574271"))  # first digit 0
    assert not de_tax_id_valid(with_check("1234567890"))  # every digit once: none repeated
    assert not de_tax_id_valid(with_check("1123456788"))  # two digits repeated
    assert not de_tax_id_valid(with_check("1111234567"))  # one digit four times
    assert not de_tax_id_valid(with_check("1112345678"))  # three times, all adjacent
    assert de_tax_id_valid(with_check("1121345678"))  # three times, not all adjacent
    assert not de_tax_id_valid("8609574271")  # ten digits
    assert not de_tax_id_valid("86095742719 ")


@pytest.mark.parametrize("nir", NIR_EXAMPLES)
def test_nir_vectors_and_one_digit_changes(nir: str) -> None:
    assert fr_nir_valid(nir)
    assert fr_nir_key(nir[:13]) == nir[13:]
    for mutated in one_digit_mutations(nir):
        assert not fr_nir_valid(mutated), mutated


def test_nir_corsica_and_structure() -> None:
    # Corsica: 2A counts as 19, 2B as 18 in the key.
    body_2a = "185052A123456"
    assert fr_nir_key(body_2a) == f"{97 - 1850519123456 % 97:02d}"
    assert fr_nir_valid(body_2a + fr_nir_key(body_2a))
    body_2b = "285052B123456"
    assert fr_nir_valid(body_2b + fr_nir_key(body_2b))
    assert fr_nir_key(body_2a) != fr_nir_key(body_2a.replace("2A", "2B"))
    body = "1851275123456"
    assert fr_nir_valid(body + fr_nir_key(body))
    for bad in ("5851275123456", "1851375123456", "1851200123456"):
        assert not fr_nir_valid(bad + fr_nir_key(bad)), bad  # sex digit 5, month 13, department 00


@pytest.mark.parametrize("prefix", ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"])
def test_nino_unallocated_prefixes(prefix: str) -> None:
    assert not uk_nino_valid(f"{prefix}123456A")


def test_nino_letter_rules() -> None:
    assert uk_nino_valid("AB123456C")
    assert uk_nino_valid("JG103759A")
    for first in "DFIQUV":
        assert not uk_nino_valid(f"{first}A123456A")
    for second in "DFIQUVO":
        assert not uk_nino_valid(f"A{second}123456A")
    assert not uk_nino_valid("AB123456E")  # suffix A-D
    assert not uk_nino_valid("AB12345C")
    assert not uk_nino_valid("AB 12 34 56 C")  # compact form only


def test_ssn_rules() -> None:
    assert us_ssn_valid("123456789")
    assert us_ssn_valid("665123456")
    assert us_ssn_valid("899123456")
    for area in ("000", "666", "900", "950", "999"):
        assert not us_ssn_valid(area + "123456"), area
    assert not us_ssn_valid("123006789")  # group 00
    assert not us_ssn_valid("123450000")  # serial 0000
    assert not us_ssn_valid("078051120")  # the Woolworth wallet card
    assert not us_ssn_valid("219099999")
    assert not us_ssn_valid("12345678")
    assert not us_ssn_valid("123-45-6789")


# -- built identifiers validate (hypothesis) --------------------------------------------------------------

alnum = st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    bban = "".join(draw(st.lists(alnum, min_size=IBAN_LENGTHS[country] - 4, max_size=IBAN_LENGTHS[country] - 4)))
    return country + iban_check_digits(country, bban) + bban


@settings(max_examples=200)
@given(ibans(), st.data())
def test_built_ibans_validate_and_one_digit_changes_fail(iban: str, data: st.DataObject) -> None:
    assert iban_valid(iban)
    digits = [i for i, ch in enumerate(iban) if ch.isdigit() and i >= 2]
    where = data.draw(st.sampled_from(digits))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != iban[where]]))
    assert not iban_valid(iban[:where] + new + iban[where + 1 :])


@settings(max_examples=200)
@given(st.text("0123456789", min_size=1, max_size=18), st.data())
def test_luhn_check_digit_validates_and_one_digit_changes_fail(body: str, data: st.DataObject) -> None:
    number = body + luhn_check_digit(body)
    assert luhn_valid(number)
    where = data.draw(st.integers(0, len(number) - 1))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != number[where]]))
    assert not luhn_valid(number[:where] + new + number[where + 1 :])


@settings(max_examples=200)
@given(st.permutations("0123456789"), st.integers(1, 8), st.data())
def test_built_steuer_idnrs_validate(digits: list[str], twice_at: int, data: st.DataObject) -> None:
    # Nine distinct digits with one of them repeated: the BZSt's structure of the first ten digits.
    if digits[0] == "0":
        digits = digits[1:] + digits[:1]
    body = digits[:9]
    body.insert(twice_at + 1, body[twice_at])
    text = "".join(body)
    number = text + de_tax_id_check_digit(text)
    assert de_tax_id_valid(number)
    where = data.draw(st.integers(0, 10))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != number[where]]))
    assert not de_tax_id_valid(number[:where] + new + number[where + 1 :])


@settings(max_examples=200)
@given(
    st.sampled_from("12"),
    st.integers(0, 99),
    st.integers(1, 12),
    st.one_of(st.integers(1, 95).map(lambda d: f"{d:02d}"), st.sampled_from(["2A", "2B"])),
    st.integers(1, 999),
    st.integers(1, 999),
)
def test_built_nirs_validate(sex: str, year: int, month: int, department: str, commune: int, order: int) -> None:
    body = f"{sex}{year:02d}{month:02d}{department}{commune:03d}{order:03d}"
    assert fr_nir_valid(body + fr_nir_key(body))
    assert not fr_nir_valid(body + f"{(int(fr_nir_key(body)) % 97) + 1:02d}")
