"""The PII column detector (``mlwarden.privacy._detect``): every kind found in tables of several locales and
languages, the lookalikes that must not fire, values over names, determinism, evidence free of values,
canonical values, and the reservoir sampler.

All data is generated here from seeded numpy generators: made-up people, valid identifiers built with
their check digits, phone numbers kept only when libphonenumber says they are valid."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlwarden.privacy
from mlwarden.errors import BadInput
from mlwarden.privacy._checksums import (
    IBAN_LENGTHS,
    de_tax_id_check_digit,
    fr_nir_key,
    iban_check_digits,
    luhn_check_digit,
)
from mlwarden.privacy._detect import PII_KINDS, ColumnFinding, ColumnSampler, PiiDetector, canonical_value

ROWS = 1500

FIRST = {
    "en": ["James", "Emily", "Oliver", "Olivia", "Noah", "Sophie", "Thomas", "Julia", "David", "Emma"],
    "de": ["Anna", "Lukas", "Greta", "Felix", "Lena", "Jonas", "Marie", "Paul", "Clara", "Hugo"],
    "fr": ["Pierre", "Camille", "Chloé", "Marie", "Thomas", "Paul", "Emma", "Hugo", "Julia", "Eva"],
    "es": ["Lucía", "Javier", "Mateo", "Sofía", "Carmen", "David", "Elena", "Pablo", "Marta", "Hugo"],
    "nl": ["Sanne", "Daan", "Jan", "Eva", "Emma", "Noah", "Julia", "Lucas", "Anna", "Thomas"],
}
LAST = {
    "en": ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Wright", "Thompson", "White"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"],
    "fr": ["Dubois", "Martin", "Bernard", "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux"],
    "es": ["García", "López", "Martínez", "Fernández", "González", "Rodríguez", "Sánchez", "Pérez", "Gómez", "Díaz"],
    "nl": ["Jansen", "Visser", "Bakker", "Smit", "Meijer", "Mulder", "Bos", "Vos", "Peters", "Hendriks"],
}
JOBS = ["Teacher", "Nurse", "Software engineer", "Accountant", "Lawyer", "Electrician", "Pharmacist", "Architect"]
BERUFE = ["Lehrerin", "Krankenpfleger", "Ingenieur", "Ärztin", "Bäcker", "Elektriker", "Erzieherin", "Tischler"]


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def pick(r: np.random.Generator, items: list[str], n: int = ROWS) -> list[str]:
    return [items[i] for i in r.integers(0, len(items), n)]


def digits(r: np.random.Generator, count: int) -> str:
    return "".join(str(d) for d in r.integers(0, 10, count))


# -- generators of valid identifiers --------------------------------------------------------------------


def people(r: np.random.Generator, n: int = ROWS) -> list[tuple[str, str]]:
    out = []
    for lang in r.choice(sorted(FIRST), n):
        out.append((pick(r, FIRST[lang], 1)[0], pick(r, LAST[lang], 1)[0]))
    return out


def emails(r: np.random.Generator, n: int = ROWS) -> list[str]:
    domains = ["example.org", "example.com", "beispiel.de", "exemple.fr", "ejemplo.es", "voorbeeld.nl"]
    out = []
    for i, (first, last) in enumerate(people(r, n)):
        local = f"{first}.{last}".lower().replace("ü", "ue").replace("é", "e").replace("í", "i").replace("á", "a")
        out.append(f"{local}{i % 97}@{pick(r, domains, 1)[0]}")
    return out


# (region, international form, national form) of numbers that are valid in libphonenumber's metadata.
PHONE_PLANS = [
    ("DE", "+49 30 {8}", "030 {8}"),
    ("DE", "+49 151 {8}", "0151 {8}"),
    ("FR", "+33 6 {2} {2} {2} {2}", "06 {2} {2} {2} {2}"),
    ("GB", "+44 7{3} {6}", "07{3} {6}"),
    ("US", "+1 (212) 5{2}-{4}", "(212) 5{2}-{4}"),
    ("ES", "+34 6{2} {3} {3}", "6{2} {3} {3}"),
    ("NL", "+31 6 {8}", "06-{8}"),
    ("IT", "+39 3{2} {7}", "3{2} {7}"),
]


def _fill(r: np.random.Generator, template: str) -> str:
    out = template
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        out = out[:start] + digits(r, int(out[start + 1 : end])) + out[end + 1 :]
    return out


def phones(r: np.random.Generator, n: int = ROWS, national: bool = False, regions: tuple[str, ...] = ()) -> list[str]:
    plans = [p for p in PHONE_PLANS if not regions or p[0] in regions]
    out: list[str] = []
    while len(out) < n:
        region, international, domestic = plans[int(r.integers(0, len(plans)))]
        text = _fill(r, domestic if national else international)
        if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
            out.append(text)
    return out


def ibans(r: np.random.Generator, n: int = ROWS, spaced: bool = True) -> list[str]:
    out = []
    for country in r.choice(["DE", "FR", "GB", "NL", "ES", "IT", "BE", "AT"], n):
        length = IBAN_LENGTHS[country] - 4
        if country in ("GB", "NL"):
            bban = "".join(chr(65 + int(c)) for c in r.integers(0, 26, 4)) + digits(r, length - 4)
        else:
            bban = digits(r, length)
        iban = country + iban_check_digits(country, bban) + bban
        out.append(" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if spaced and r.random() < 0.5 else iban)
    return out


def cards(r: np.random.Generator, n: int = ROWS) -> list[str]:
    out = []
    for network in r.integers(0, 3, n):
        body = ("4" + digits(r, 14)) if network == 0 else ("5" + str(r.integers(1, 6)) + digits(r, 13))
        if network == 2:
            body = "37" + digits(r, 12)
        number = body + luhn_check_digit(body)
        out.append(" ".join(number[i : i + 4] for i in range(0, len(number), 4)) if r.random() < 0.3 else number)
    return out


def ssns(r: np.random.Generator, n: int = ROWS) -> list[str]:
    out = []
    while len(out) < n:
        area = int(r.integers(1, 900))
        if area == 666:
            continue
        out.append(f"{area:03d}-{int(r.integers(1, 100)):02d}-{int(r.integers(1, 10000)):04d}")
    return out


def ninos(r: np.random.Generator, n: int = ROWS) -> list[str]:
    firsts = "ABCEGHJKLMNOPRSTWXYZ"
    seconds = "ABCEGHJKLMNPRSTWXYZ"
    out: list[str] = []
    while len(out) < n:
        prefix = firsts[int(r.integers(0, len(firsts)))] + seconds[int(r.integers(0, len(seconds)))]
        if prefix in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            continue
        body = digits(r, 6)
        suffix = "ABCD"[int(r.integers(0, 4))]
        spaced = r.random() < 0.5
        out.append(f"{prefix} {body[:2]} {body[2:4]} {body[4:]} {suffix}" if spaced else f"{prefix}{body}{suffix}")
    return out


def tax_ids(r: np.random.Generator, n: int = ROWS) -> list[str]:
    out = []
    for _ in range(n):
        order = [str(d) for d in r.permutation(10)]
        if order[0] == "0":
            order = order[1:] + order[:1]
        body = order[:9]
        twice = int(r.integers(0, 9))
        body.insert(int(r.integers(twice + 1, 10)), body[twice])
        text = "".join(body)
        out.append(text + de_tax_id_check_digit(text))
    return out


def nirs(r: np.random.Generator, n: int = ROWS) -> list[str]:
    out = []
    for _ in range(n):
        department = "2A" if r.random() < 0.05 else f"{int(r.integers(1, 96)):02d}"
        body = (
            f"{int(r.integers(1, 3))}{int(r.integers(40, 100)):02d}{int(r.integers(1, 13)):02d}{department}"
            f"{int(r.integers(1, 990)):03d}{int(r.integers(1, 1000)):03d}"
        )
        key = fr_nir_key(body)
        out.append(f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:]} {key}")
    return out


def ips(r: np.random.Generator, n: int = ROWS) -> list[str]:
    out = []
    for i in range(n):
        if i % 4 == 0:
            out.append(":".join(f"{int(g):x}" for g in r.integers(0, 65536, 8)))
        else:
            out.append(".".join(str(int(x)) for x in (r.integers(11, 224), *r.integers(0, 256, 3))))
    return out


def birth_dates(r: np.random.Generator, n: int = ROWS) -> list[date]:
    start = date(1940, 1, 1)
    return [start + timedelta(days=int(d)) for d in r.integers(0, 365 * 65, n)]


def uk_postcodes(r: np.random.Generator, n: int = ROWS) -> list[str]:
    areas = ["SW", "EC", "N", "M", "B", "LS", "G", "EH", "CF", "BS"]
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return [
        f"{a}{int(r.integers(1, 20))} {int(r.integers(0, 10))}{letters[int(r.integers(0, 20))]}"
        f"{letters[int(r.integers(0, 20))]}"
        for a in pick(r, areas, n)
    ]


def comments(r: np.random.Generator, n: int = ROWS) -> list[str]:
    plain = [
        "Delivery was late but the driver was friendly",
        "Bitte beim Nachbarn abgeben, danke schön",
        "Le colis est arrivé en bon état, merci beaucoup",
        "Necesito cambiar la dirección de entrega del pedido",
        "Graag voor de deur neerzetten als niemand thuis is",
    ]
    mails = emails(r, n)
    numbers = phones(r, n)
    out = []
    for i in range(n):
        text = plain[i % len(plain)]
        if i % 6 == 0:
            text += f", write to {mails[i]} please"
        elif i % 6 == 3:
            text += f". Call me on {numbers[i]} after six"
        out.append(text)
    return out


def nl_postcodes(r: np.random.Generator, n: int = ROWS) -> list[str]:
    """Dutch postcodes: four digits and two letters (never SA, SD or SS)."""
    numbers, first, second = r.integers(1000, 10000, n), pick(r, list("ABCEFGHJK"), n), pick(r, list("LMNPRTVWXZ"), n)
    return [f"{int(v)} {a}{b}" for v, a, b in zip(numbers, first, second, strict=True)]


def positives() -> tuple[pd.DataFrame, dict[str, str]]:
    """A table with every kind, column names in English, German, French, Spanish and Dutch, and some c1..cN."""
    r = rng(1)
    who = people(r)
    dob = birth_dates(r)
    columns: dict[str, Any] = {
        "email": emails(r),
        "courriel": emails(r),
        "c1": emails(r),
        "telefon": phones(r),
        "numero_de_telefono": phones(r, national=True, regions=("ES",)),
        "c2": phones(r),
        "c3": phones(r, national=True, regions=("DE", "FR", "GB")),
        "iban": ibans(r),
        "col_7": ibans(r, spaced=False),
        "kreditkarte": cards(r),
        "c4": cards(r),
        "ssn": ssns(r),
        "c5": ssns(r),
        "ni_number": ninos(r),
        "c6": ninos(r),
        "steuer_id": tax_ids(r),
        "c7": tax_ids(r),
        "numero_securite_sociale": nirs(r),
        "c8": nirs(r),
        "ip_address": ips(r),
        "c9": ips(r),
        "full_name": [f"{f} {last}" for f, last in who],
        "vorname": [f for f, _ in who],
        "achternaam": [last for _, last in people(r)],
        "nombre": [f"{f} {last}" for f, last in people(r)],
        "c10": [f"{f} {last}" for f, last in people(r)],
        "c11": [f"{last.upper()}, {f.upper()}" for f, last in people(r)],
        "commentaire": comments(r),
        "geburtsdatum": [d.strftime("%d.%m.%Y") for d in dob],
        "fecha_nacimiento": [d.isoformat() for d in birth_dates(r)],
        "date_of_birth": [d.strftime("%m/%d/%Y") for d in birth_dates(r)],
        "c12": pd.to_datetime(birth_dates(r)),
        "postcode": uk_postcodes(r),
        "plz": [f"{int(v):05d}" for v in r.integers(1000, 99999, ROWS)],
        "code_postal": [f"{int(v):05d}" for v in r.integers(1000, 96000, ROWS)],
        "postcode_nl": nl_postcodes(r),
        "c13": uk_postcodes(r),
        "age": r.integers(0, 100, ROWS),
        "alter": r.integers(18, 90, ROWS),
        "edad": [str(int(v)) for v in r.integers(18, 90, ROWS)],
        "leeftijd": r.integers(18, 90, ROWS).astype(float),
        "âge": pd.array(r.integers(18, 90, ROWS), dtype="Int64"),
        "geschlecht": pick(r, ["m", "w", "d"]),
        "sexe": pick(r, ["H", "F"]),
        "gender": pick(r, ["Male", "Female", "Non-binary"]),
        "c14": pick(r, ["female", "male"]),
        "c15": pick(r, ["M", "F"]),
        "beruf": pick(r, BERUFE),
        "profession": pick(r, JOBS),
        "c16": pick(r, JOBS),
    }  # fmt: skip
    expected = {
        "email": "email",
        "courriel": "email",
        "c1": "email",
        "telefon": "phone",
        "numero_de_telefono": "phone",
        "c2": "phone",
        "c3": "phone",
        "iban": "iban",
        "col_7": "iban",
        "kreditkarte": "payment_card",
        "c4": "payment_card",
        "ssn": "us_ssn",
        "c5": "us_ssn",
        "ni_number": "uk_nino",
        "c6": "uk_nino",
        "steuer_id": "de_tax_id",
        "c7": "de_tax_id",
        "numero_securite_sociale": "fr_nir",
        "c8": "fr_nir",
        "ip_address": "ip_address",
        "c9": "ip_address",
        "full_name": "person_name",
        "vorname": "person_name",
        "achternaam": "person_name",
        "nombre": "person_name",
        "c10": "person_name",
        "c11": "person_name",
        "commentaire": "free_text",
        "geburtsdatum": "date_of_birth",
        "fecha_nacimiento": "date_of_birth",
        "date_of_birth": "date_of_birth",
        "c12": "date_of_birth",
        "postcode": "postal_code",
        "plz": "postal_code",
        "code_postal": "postal_code",
        "postcode_nl": "postal_code",
        "c13": "postal_code",
        "age": "age",
        "alter": "age",
        "edad": "age",
        "leeftijd": "age",
        "âge": "age",
        "geschlecht": "sex",
        "sexe": "sex",
        "gender": "sex",
        "c14": "sex",
        "c15": "sex",
        "beruf": "occupation",
        "profession": "occupation",
        "c16": "occupation",
    }
    return pd.DataFrame(columns), expected


def dotted(r: np.random.Generator, n: int, highs: tuple[int, ...]) -> list[str]:
    """Version strings: dotted small numbers, each part below its ``highs``."""
    return [".".join(str(int(r.integers(0, high))) for high in highs) for _ in range(n)]


def lookalikes() -> pd.DataFrame:
    """Columns that look like personal data in one way or another and are not."""
    r = rng(2)
    n = ROWS
    not_luhn = []
    for _ in range(n):
        body = "4" + digits(r, 14)
        check = int(luhn_check_digit(body))
        not_luhn.append(body + str((check + int(r.integers(1, 10))) % 10))
    not_iban = []
    for country in r.choice(["DE", "FR", "GB", "NL"], n):
        bban = digits(r, IBAN_LENGTHS[country] - 4)
        good = iban_check_digits(country, bban)
        bad = f"{(int(good) + int(r.integers(1, 90))) % 97 + 2:02d}"
        not_iban.append(country + (bad if bad != good else f"{(int(good) + 1) % 97 + 2:02d}") + bban)
    not_tax = []
    for good in tax_ids(r, n):
        not_tax.append(good[:10] + str((int(good[10]) + int(r.integers(1, 10))) % 10))
    start = datetime(2023, 1, 1, tzinfo=UTC)
    products = [
        "Wireless Mouse", "Ergonomic Office Chair", "Steel Water Bottle", "Cotton T-Shirt", "Laptop Stand",
        "Noise Cancelling Headphones", "Ceramic Coffee Mug", "Running Shoes", "Desk Lamp", "Yoga Mat",
        "Mechanical Keyboard", "Leather Wallet", "Garden Hose", "Bluetooth Speaker", "Rain Jacket",
    ]  # fmt: skip
    descriptions = [
        "A sturdy chair with a soft cushion and adjustable height for long working days",
        "Keeps drinks cold for twenty four hours and fits in most cup holders",
        "Lightweight shoes with a breathable mesh upper and a cushioned sole",
        "Bright lamp with three colour temperatures and a flexible neck",
    ]
    return pd.DataFrame(
        {
            "order_no": [digits(r, 1) .replace("0", "1") + digits(r, 9) for _ in range(n)],
            "invoice": [f"{digits(r, 3)}-{digits(r, 4)}-{digits(r, 3)}" for _ in range(n)],
            "reference": [f"0{digits(r, 10)}" for _ in range(n)],
            "tracking_number": [digits(r, 11) for _ in range(n)],
            "sku": [f"{digits(r, 3)} {digits(r, 3)} {digits(r, 4)}" for _ in range(n)],
            "c20": [f"+49 30 5550{1000 + i:04d}" for i in range(n)],  # phone-shaped, sequential, one prefix
            "c21": [f"0171 {8_000_000 + 7 * i}" for i in range(n)],  # near-sequential
            "c22": not_luhn,
            "c23": not_iban,
            "c24": not_tax,
            "c25": [digits(r, 10) for _ in range(n)],
            "visits": r.integers(0, 100, n),
            "c26": r.integers(0, 120, n),
            "amount": r.normal(250, 80, n).round(2),
            "quantity": r.integers(1, 50, n),
            "firmware": dotted(r, n, (5, 20, 30, 250)),
            "c27": dotted(r, n, (4, 12, 40, 99)),
            "hash": [f"{int(v):032x}" for v in r.integers(0, 2**62, n) * 2**62 + r.integers(0, 2**62, n)],
            "c28": [str(uuid.UUID(int=int(v) * 2**64 + 12345, version=4)) for v in r.integers(0, 2**62, n)],
            "created_at": [start + timedelta(seconds=int(s)) for s in r.integers(0, 3 * 365 * 86400, n)],
            "order_date": [(date(2022, 1, 1) + timedelta(days=int(d))).isoformat() for d in r.integers(0, 900, n)],
            "transaction_date": pd.to_datetime(date(2021, 1, 1)) + pd.to_timedelta(r.integers(0, 1200, n), unit="D"),
            "c29": [(date(2023, 6, 1) + timedelta(days=int(d))).strftime("%d.%m.%Y") for d in r.integers(0, 500, n)],
            "country": pick(r, ["DE", "FR", "GB", "NL", "ES", "IT", "US", "BE", "AT", "CH"]),
            "currency": pick(r, ["EUR", "USD", "GBP", "CHF", "SEK", "PLN"]),
            "product_name": pick(r, products),
            "c30": pick(r, products),
            "description": pick(r, descriptions),
            "is_active": r.random(n) < 0.5,
            "c31": r.random(n) < 0.3,
            "status": pick(r, ["open", "closed", "pending"]),
            "size": pick(r, ["S", "M", "L", "XL"]),
            "account_age": r.integers(0, 100, n),
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def positive_table() -> tuple[pd.DataFrame, dict[str, str], dict[str, ColumnFinding]]:
    frame, expected = positives()
    return frame, expected, PiiDetector().detect(frame)


@pytest.fixture(scope="module")
def lookalike_table() -> tuple[pd.DataFrame, dict[str, ColumnFinding]]:
    frame = lookalikes()
    return frame, PiiDetector().detect(frame)


# -- every kind is found ----------------------------------------------------------------------------------


def test_every_kind_is_covered_by_the_tables(positive_table: Any) -> None:
    _frame, expected, _found = positive_table
    assert set(expected.values()) == set(PII_KINDS)


def test_every_kind_is_detected(positive_table: Any) -> None:
    frame, expected, found = positive_table
    assert list(found) == list(frame.columns)
    wrong = {c: (found[c].kind, found[c].evidence) for c, kind in expected.items() if found[c].kind != kind}
    assert not wrong
    for column, finding in found.items():
        assert finding.column == column
        assert finding.category == PII_KINDS[expected[column]]
        assert 0.5 <= finding.confidence <= 1.0, column


def test_free_text_lists_what_it_embeds(positive_table: Any) -> None:
    _frame, _expected, found = positive_table
    assert found["commentaire"].embedded == ("email", "phone")
    assert all(found[c].embedded == () for c in found if c != "commentaire")


def test_a_name_hint_raises_the_confidence(positive_table: Any) -> None:
    _frame, _expected, found = positive_table
    assert found["iban"].confidence >= found["col_7"].confidence
    assert found["email"].confidence > found["c1"].confidence
    assert found["kreditkarte"].confidence > found["c4"].confidence
    assert "name hint" in found["email"].evidence
    assert "name hint" not in found["c1"].evidence


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["Anna Müller", "Lukas Schmidt", "Greta Fischer", "Jonas Weber"] * 10, "person_name"),
        (["anna müller", "LUKAS SCHMIDT", "Dr. Greta Fischer", "Jonas Weber-Meyer"] * 10, "person_name"),
        (["Xövrin Plakk", "Ömera Zubbat", "Kwentin Draxl", "Ylvana Moor"] * 10, "person_name"),  # not in the lists
    ],
)
def test_names_with_a_specific_hint(values: list[str], kind: str) -> None:
    found = PiiDetector().detect(pd.DataFrame({"customer_full_name": values}))["customer_full_name"]
    assert found.kind == kind


def test_names_not_in_the_lists_need_a_hint() -> None:
    values = ["Xövrin Plakk", "Ömera Zubbat", "Kwentin Draxl", "Ylvana Moor"] * 10
    assert PiiDetector().detect(pd.DataFrame({"c1": values}))["c1"].kind is None


def test_birth_years_and_compact_dates_with_a_hint() -> None:
    r = rng(3)
    frame = pd.DataFrame(
        {
            "birth_year": r.integers(1940, 2005, 500),
            "geburtsdatum": [int(d.strftime("%Y%m%d")) for d in birth_dates(r, 500)],
            "year": r.integers(1940, 2005, 500),
        }
    )
    found = PiiDetector().detect(frame)
    assert found["birth_year"].kind == "date_of_birth"
    assert found["geburtsdatum"].kind == "date_of_birth"
    assert found["year"].kind is None


def test_dtypes_of_every_sort() -> None:
    r = rng(4)
    n = 400
    mails = emails(r, n)
    frame = pd.DataFrame(
        {
            "email": pd.array(mails, dtype="string"),
            "email_cat": pd.Categorical(mails),
            "gender": pd.Categorical(pick(r, ["F", "M"], n)),
            "age": pd.array(
                [None if i % 9 == 0 else int(v) for i, v in enumerate(r.integers(1, 99, n))], dtype="Int64"
            ),
            "age_float": [np.nan if i % 9 == 0 else float(v) for i, v in enumerate(r.integers(1, 99, n))],
            "dob": pd.to_datetime(birth_dates(r, n)).tz_localize("Europe/Berlin"),
            "dob_objects": pd.Series(birth_dates(r, n), dtype=object),
            "card_int": [int(c.replace(" ", "")) for c in cards(r, n)],
            "steuer_id": [int(t) for t in tax_ids(r, n)],
            "mixed": pd.Series([1, "two", 3.5, None, True] * (n // 5), dtype=object),
            "durations": pd.to_timedelta(r.integers(0, 1000, n), unit="s"),
            "complex": r.random(n) + 1j,
            "is_female": r.random(n) < 0.5,
            "sex": r.random(n) < 0.5,
            0: emails(r, n),
            ("a", "b"): r.integers(0, 5, n),
        }
    )
    found = PiiDetector().detect(frame)
    assert list(found) == [str(c) for c in frame.columns]
    kinds = {c: f.kind for c, f in found.items()}
    assert kinds == {
        "email": "email",
        "email_cat": "email",
        "gender": "sex",
        "age": "age",
        "age_float": "age",
        "dob": "date_of_birth",
        "dob_objects": "date_of_birth",
        "card_int": "payment_card",
        "steuer_id": "de_tax_id",
        "mixed": None,
        "durations": None,
        "complex": None,
        "is_female": None,
        "sex": "sex",  # true/false under a sex hint
        "0": "email",
        "('a', 'b')": None,
    }


def test_nulls_and_empty_columns() -> None:
    r = rng(5)
    mails: list[Any] = emails(r, 1000)
    sparse = [m if i % 10 == 0 else None for i, m in enumerate(mails)]
    blank = [m if i % 10 == 0 else "   " for i, m in enumerate(mails)]
    frame = pd.DataFrame(
        {
            "sparse": sparse,
            "blank": blank,
            "nothing": [None] * 1000,
            "nans": [np.nan] * 1000,
            "empty_strings": [""] * 1000,
            "nat": pd.to_datetime([None] * 1000),
        }
    )
    found = PiiDetector().detect(frame)
    assert found["sparse"].kind == "email"
    assert "100/100" in found["sparse"].evidence
    assert found["blank"].kind == "email"
    assert "100/100" in found["blank"].evidence
    for column in ("nothing", "nans", "empty_strings", "nat"):
        assert found[column] == ColumnFinding(column, None, 1.0, None, "no values")
    assert PiiDetector().detect(pd.DataFrame()) == {}
    assert PiiDetector().detect(pd.DataFrame({"email": pd.Series([], dtype=object)}))["email"].evidence == "no values"


# -- lookalikes do not fire -------------------------------------------------------------------------------


def test_lookalikes_are_not_personal_data(lookalike_table: Any) -> None:
    _frame, found = lookalike_table
    fired = {c: (f.kind, f.evidence) for c, f in found.items() if f.kind is not None}
    assert not fired
    for column, finding in found.items():
        assert finding.category is None
        assert finding.embedded == ()
        assert 0.0 <= finding.confidence <= 1.0, column
        assert finding.evidence.startswith("not personal data"), column


def test_lookalike_evidence_says_why(lookalike_table: Any) -> None:
    _frame, found = lookalike_table
    assert "name says 'order'" in found["order_no"].evidence
    assert "name says 'version'" not in found["firmware"].evidence  # firmware is its own word
    assert "firmware" in found["firmware"].evidence
    assert "like versions" in found["c27"].evidence
    assert "prefix" in found["c20"].evidence or "sequential" in found["c20"].evidence
    assert "sequential" in found["c21"].evidence or "prefix" in found["c21"].evidence
    assert "Luhn" in found["c22"].evidence
    assert "MOD 97-10" in found["c23"].evidence
    assert "written like phone numbers" in found["c24"].evidence
    # Under the name of the kind, the checksum is what says no.
    named = PiiDetector().detect(
        lookalike_table[0][["c22", "c23", "c24"]].set_axis(["card_number", "iban", "steuer_id"], axis=1)
    )
    assert [f.kind for f in named.values()] == [None, None, None]
    assert "Luhn" in named["card_number"].evidence
    assert "MOD 97-10" in named["iban"].evidence
    assert "Steuer-IdNr" in named["steuer_id"].evidence
    assert "needs a name hint" in found["visits"].evidence
    assert "event" in found["created_at"].evidence or "time of day" in found["created_at"].evidence
    assert "'order'" in found["order_date"].evidence
    assert "decades" in found["c29"].evidence
    # A count with ages' range and no hint is half-way; amounts are plainly not personal data.
    assert found["visits"].confidence == 0.5
    assert found["amount"].confidence == 1.0


def test_checksums_need_a_high_share_of_valid_values() -> None:
    """About 10% of random numbers pass Luhn and 1/97 pass MOD 97: a few valid ones are not enough, even
    with a name hint, and a mix that is mostly valid is."""
    r = rng(6)
    good = [c.replace(" ", "") for c in cards(r, 1000)]
    bad = lookalikes()["c22"].tolist()[:1000]
    half = good[:500] + bad[:500]
    assert PiiDetector().detect(pd.DataFrame({"c": half}))["c"].kind is None
    assert PiiDetector().detect(pd.DataFrame({"card_number": half}))["card_number"].kind is None
    mostly = good[:940] + bad[:60]
    assert PiiDetector().detect(pd.DataFrame({"c": mostly}))["c"].kind == "payment_card"
    assert PiiDetector().detect(pd.DataFrame({"card_number": good[:800] + bad[:200]}))["card_number"].kind == (
        "payment_card"
    )


def test_pure_digit_codes_need_a_hint_and_counts_are_not_ages() -> None:
    r = rng(7)
    codes = [f"{int(v):05d}" for v in r.integers(1000, 99999, 500)]
    frame = pd.DataFrame({"zip": codes, "c1": codes, "amount_due": r.integers(10000, 99999, 500)})
    found = PiiDetector().detect(frame)
    assert found["zip"].kind == "postal_code"
    assert found["c1"].kind is None
    assert found["amount_due"].kind is None
    ages = r.integers(18, 90, 500)
    found = PiiDetector().detect(pd.DataFrame({"age": ages, "n_items": ages, "age_days": ages}))
    assert (found["age"].kind, found["n_items"].kind, found["age_days"].kind) == ("age", None, None)
    assert PiiDetector().detect(pd.DataFrame({"age": r.integers(200, 5000, 500)}))["age"].kind is None


# -- values decide, names are hints ------------------------------------------------------------------------


def test_values_dominate_over_a_misleading_name() -> None:
    r = rng(8)
    frame = pd.DataFrame(
        {
            "email": r.integers(0, 10**6, 500),
            "phone": emails(r, 500),
            "iban": pick(r, ["Wireless Mouse", "Desk Lamp", "Yoga Mat", "Garden Hose"], 500),
            "postcode": ibans(r, 500),
            "first_name": [str(v) for v in r.integers(0, 10**9, 500)],
            "ip_address": cards(r, 500),
        }
    )
    found = PiiDetector().detect(frame)
    assert found["email"].kind is None
    assert found["phone"].kind == "email"
    assert found["iban"].kind is None
    assert found["postcode"].kind == "iban"
    assert found["first_name"].kind is None
    assert found["ip_address"].kind == "payment_card"
    # The name that says something else lowers the confidence of what the values say.
    plain = PiiDetector().detect(pd.DataFrame({"c": frame["phone"]}))["c"]
    assert found["phone"].confidence < plain.confidence


# -- determinism, sampling, evidence ----------------------------------------------------------------------


def test_determinism_and_sample_size(positive_table: Any) -> None:
    frame, _expected, found = positive_table
    again = PiiDetector(sample_size=1000, random_state=0).detect(frame)
    assert again == found
    assert [f.to_json() for f in again.values()] == [f.to_json() for f in found.values()]
    small = PiiDetector(sample_size=50, random_state=3).detect(frame[["email", "iban", "alter"]])
    assert {c: f.kind for c, f in small.items()} == {"email": "email", "iban": "iban", "alter": "age"}
    assert "50/50" in small["email"].evidence
    assert "1000/1000" in found["email"].evidence


def test_bad_parameters_are_refused() -> None:
    frame = pd.DataFrame({"a": [1]})
    for size in (0, -1, 2.5, True, "10"):
        with pytest.raises(BadInput, match="sample_size"):
            PiiDetector(sample_size=size).detect(frame)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="random_state"):
        PiiDetector(random_state="x").detect(frame)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="DataFrame"):
        PiiDetector().detect([{"a": 1}])  # type: ignore[arg-type]
    assert repr(PiiDetector(10, 2)) == "PiiDetector(sample_size=10, random_state=2)"


def test_evidence_holds_no_value(positive_table: Any, lookalike_table: Any) -> None:
    frames = [(positive_table[0], positive_table[2]), lookalike_table]
    for frame, found in frames:
        for column in frame.columns:
            evidence = found[str(column)].evidence
            for value in set(frame[column].dropna().tolist()):
                text = str(value)
                if len(text) >= 4:
                    assert text not in evidence, column
                    canon = canonical_value(value, found[str(column)].kind)
                    assert canon is None or len(canon) < 4 or canon not in evidence, column


def test_to_json() -> None:
    finding = ColumnFinding("notes", "free_text", 0.9, "direct", "why", ("email", "phone"))
    assert finding.to_json() == {
        "column": "notes",
        "kind": "free_text",
        "confidence": 0.9,
        "category": "direct",
        "evidence": "why",
        "embedded": ["email", "phone"],
    }


def test_kinds_and_categories() -> None:
    assert {k for k, c in PII_KINDS.items() if c == "direct"} == {
        "email", "phone", "iban", "payment_card", "us_ssn", "uk_nino", "de_tax_id", "fr_nir", "ip_address",
        "person_name", "free_text",
    }  # fmt: skip
    assert {k for k, c in PII_KINDS.items() if c == "quasi"} == {
        "date_of_birth", "postal_code", "age", "sex", "occupation",
    }  # fmt: skip


def test_a_wide_table_of_100k_rows() -> None:
    frame, expected = positives()
    names = list(frame.columns[:30])
    wide = pd.DataFrame({c: np.resize(frame[c].to_numpy(), 100_000) for c in names})
    found = PiiDetector(sample_size=1000).detect(wide)
    assert len(found) == 30
    assert {c: f.kind for c, f in found.items()} == {c: expected[c] for c in names}


def test_the_package_exports_lazily() -> None:
    assert set(mlwarden.privacy.__all__) == {
        "PII_KINDS", "ColumnFinding", "ColumnSampler", "Generalisation", "PiiDetector", "PseudonymisedFrame",
        "canonical_value", "k_anonymity", "parse_generalise", "pseudonymise_frame",
    }  # fmt: skip
    for name in mlwarden.privacy.__all__:
        assert getattr(mlwarden.privacy, name) is not None
    assert mlwarden.privacy.PiiDetector is PiiDetector
    with pytest.raises(AttributeError):
        _ = mlwarden.privacy.nothing_here  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_pandas() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlwarden.privacy, mlwarden.privacy._detect; "
        "print(sorted(m for m in ('pandas', 'numpy', 'phonenumbers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- canonical values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "canonical"),
    [
        (None, None, None),
        (float("nan"), None, None),
        (pd.NA, None, None),
        (pd.NaT, None, None),
        (np.datetime64("NaT"), None, None),
        ("   ", "email", None),
        (" text ", None, "text"),
        (3.0, None, "3"),
        (np.float64(3.0), None, "3"),
        (3, None, "3"),
        (np.int64(-7), None, "-7"),
        (2.5, None, "2.5"),
        (1e-7, None, "0.0000001"),
        (Decimal("2.50"), None, "2.5"),
        (Decimal("4.00"), None, "4"),
        (True, None, "true"),
        (np.bool_(False), None, "false"),
        (date(1985, 3, 12), None, "1985-03-12"),
        (datetime(1985, 3, 12), None, "1985-03-12"),
        (pd.Timestamp("1985-03-12"), "date_of_birth", "1985-03-12"),
        (pd.Timestamp("2024-05-01 10:20:30", tz="UTC"), None, "2024-05-01T10:20:30+00:00"),
        ("2024-05-01 10:20:30+00:00", None, "2024-05-01T10:20:30+00:00"),
        ("2024-05-01T10:20:30Z", None, "2024-05-01T10:20:30+00:00"),
        ("1985-03-12 00:00:00", None, "1985-03-12"),
        (np.datetime64("2024-05-01T10:20:30"), None, "2024-05-01T10:20:30"),
        (" Anna.Mueller@Example.ORG ", "email", "anna.mueller@example.org"),
        ("+49 30 12345678", "phone", "+493012345678"),
        ("0049 (30) 12345678", "phone", "+493012345678"),
        ("(212) 555-0134", "phone", "+12125550134"),
        ("020 7946 0958", "phone", "+442079460958"),
        # National forms are read in the first region of PHONE_REGIONS where they are valid: US, GB, DE, ...
        ("030 12345678", "phone", "+443012345678"),
        ("0151 12345678", "phone", "+4915112345678"),
        ("06 12 34 56 78", "phone", "+49612345678"),
        (493012345678, "phone", "+493012345678"),
        ("+999 123", "phone", "+999123"),
        ("12-34", "phone", "1234"),
        ("DE89 3704-0044.0532 0130 00", "iban", "DE89370400440532013000"),
        ("4111-1111 1111.1111", "payment_card", "4111111111111111"),
        ("ab 12 34 56 c", "uk_nino", "AB123456C"),
        ("078-05-1120", "us_ssn", "078051120"),
        (78051120, "us_ssn", "078051120"),
        (86095742719.0, "de_tax_id", "86095742719"),
        ("2 69 05 49 588 157 80", "fr_nir", "269054958815780"),
        ("SW1A 2AA", "postal_code", "SW1A 2AA"),
    ],
)
def test_canonical_values(value: object, kind: str | None, canonical: str | None) -> None:
    assert canonical_value(value, kind) == canonical


values = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(alphabet="+0123456789 -()./", max_size=25),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=4),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
    st.emails(),
)


@settings(max_examples=400, deadline=None)
@given(values, st.sampled_from([None, *PII_KINDS]))
def test_canonical_value_is_idempotent(value: object, kind: str | None) -> None:
    once = canonical_value(value, kind)
    assert once is None or (isinstance(once, str) and once == once.strip() and once)
    assert canonical_value(once, kind) == once
    assert canonical_value(value, kind) == once  # deterministic


def test_canonical_values_agree_between_csv_and_parquet() -> None:
    r = rng(9)
    n = 200
    frame = pd.DataFrame(
        {
            "email": emails(r, n),
            "phone": [p.replace(" ", "") for p in phones(r, n)],
            "ssn": [s.replace("-", "") for s in ssns(r, n)],
            "dob": pd.to_datetime(birth_dates(r, n)),
            "seen": pd.to_datetime(datetime(2024, 1, 1, 8, 30)) + pd.to_timedelta(r.integers(0, 10**5, n), unit="m"),
            "age": [None if i % 7 == 0 else int(v) for i, v in enumerate(r.integers(1, 99, n))],
            "score": r.normal(0, 1, n).round(3),
            "active": r.random(n) < 0.5,
        }
    )  # fmt: skip
    kinds = {"email": "email", "phone": "phone", "ssn": "us_ssn", "dob": "date_of_birth"}
    text = io.StringIO()
    frame.to_csv(text, index=False)
    from_csv = pd.read_csv(io.StringIO(text.getvalue()))
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    from_parquet = pd.read_parquet(io.BytesIO(parquet.getvalue()))
    assert from_csv["ssn"].dtype.kind == "i"  # the CSV reader made integers of them (leading zeros lost)
    for column in frame.columns:
        kind = kinds.get(column)
        left = [canonical_value(v, kind) for v in from_csv[column]]
        right = [canonical_value(v, kind) for v in from_parquet[column]]
        assert left == right, column


# -- the reservoir sampler --------------------------------------------------------------------------------


def chunks(sizes: list[int], seed: int = 0) -> list[pd.DataFrame]:
    r = rng(seed)
    out = []
    start = 0
    for i, size in enumerate(sizes):
        out.append(
            pd.DataFrame(
                {
                    "row": np.arange(start, start + size),
                    "chunk": i,
                    "email": emails(r, size),
                    "amount": r.normal(0, 1, size),
                    "when": pd.to_datetime(birth_dates(r, size)),
                },
                index=np.arange(size) + 10_000 * i,  # indexes of their own, overlapping nothing
            )
        )
        start += size
    return out


def sampled(size: int, sizes: list[int], seed: int = 0) -> tuple[ColumnSampler, pd.DataFrame]:
    sampler = ColumnSampler(size, random_state=seed)
    for chunk in chunks(sizes):
        sampler.add(chunk)
    return sampler, sampler.frame()


def test_sampler_bounds_and_keeps_columns_and_dtypes() -> None:
    sampler, frame = sampled(300, [1000, 0, 5000, 500])
    assert sampler.rows_seen == 6500
    assert len(frame) == 300
    first = chunks([10])[0]
    assert list(frame.columns) == list(first.columns)
    assert frame.dtypes.to_dict() == first.dtypes.to_dict()
    assert list(frame.index) == list(range(300))
    assert frame["row"].is_monotonic_increasing
    assert frame["row"].is_unique
    whole = pd.concat([c for c in chunks([1000, 0, 5000, 500]) if len(c)], ignore_index=True).set_index("row")
    # Each sampled row is a whole row of the stream, not a mix of rows.
    pd.testing.assert_frame_equal(frame.set_index("row"), whole.loc[frame["row"]], check_names=False)


def test_sampler_keeps_everything_of_a_short_stream() -> None:
    sampler, frame = sampled(1000, [120, 30])
    assert sampler.rows_seen == 150
    assert frame["row"].tolist() == list(range(150))
    assert ColumnSampler(5).frame().empty


def test_sampler_is_deterministic_per_seed() -> None:
    _s, one = sampled(200, [700, 800, 900], seed=4)
    _s, two = sampled(200, [700, 800, 900], seed=4)
    _s, other = sampled(200, [700, 800, 900], seed=5)
    pd.testing.assert_frame_equal(one, two)
    assert one["row"].tolist() != other["row"].tolist()


def test_sampler_is_uniform_over_the_stream() -> None:
    """Each chunk is represented in proportion to its rows, and over many seeds every part of the stream
    is sampled as often as any other (chi-square over tenths of the stream)."""
    sizes = [1000, 2000, 3000]
    _s, frame = sampled(600, sizes, seed=1)
    counts = frame["chunk"].value_counts().to_dict()
    for i, size in enumerate(sizes):
        expected = 600 * size / sum(sizes)
        assert abs(counts.get(i, 0) - expected) < 4 * np.sqrt(expected), counts
    tenths = np.zeros(10)
    stream = [pd.DataFrame({"row": np.arange(s, s + 500)}) for s in range(0, 3000, 500)]
    for seed in range(60):
        sampler = ColumnSampler(100, random_state=seed)
        for part in stream:
            sampler.add(part)
        tenths += np.bincount(sampler.frame()["row"].to_numpy() // 300, minlength=10)
    expected = tenths.sum() / 10
    chi2 = float(((tenths - expected) ** 2 / expected).sum())
    assert chi2 < 27.9  # the 0.1% point of chi-square with 9 degrees of freedom


def test_sampler_takes_chunks_whose_dtypes_differ() -> None:
    sampler = ColumnSampler(50, random_state=2)
    sampler.add(pd.DataFrame({"a": np.arange(40), "b": ["x"] * 40, "c": pd.to_datetime(["2020-01-01"] * 40)}))
    sampler.add(pd.DataFrame({"a": [0.5, np.nan] * 30, "b": [1, 2] * 30, "c": ["2021-01-01"] * 60}))
    sampler.add(pd.DataFrame({"a": pd.array([1, None] * 20, dtype="Int64"), "b": [True] * 40, "c": [None] * 40}))
    frame = sampler.frame()
    assert sampler.rows_seen == 140
    assert len(frame) == 50
    assert list(frame.columns) == ["a", "b", "c"]
    found = PiiDetector().detect(frame)
    assert list(found) == ["a", "b", "c"]


def test_sampler_refuses_bad_input() -> None:
    for size in (0, -1, 1.5, True):
        with pytest.raises(BadInput):
            ColumnSampler(size)  # type: ignore[arg-type]
    sampler = ColumnSampler(10)
    sampler.add(pd.DataFrame({"a": [1], "b": [2]}))
    with pytest.raises(BadInput, match="columns"):
        sampler.add(pd.DataFrame({"b": [2], "a": [1]}))
    with pytest.raises(BadInput, match="DataFrame"):
        sampler.add([1, 2])  # type: ignore[arg-type]


def test_sampled_frames_classify_like_the_whole(positive_table: Any) -> None:
    frame, expected, _found = positive_table
    part = frame[["email", "iban", "geburtsdatum", "plz", "commentaire"]]
    sampler = ColumnSampler(400, random_state=7)
    for start in range(0, len(part), 250):
        sampler.add(part.iloc[start : start + 250])
    found = PiiDetector(sample_size=400).detect(sampler.frame())
    assert {c: f.kind for c, f in found.items()} == {c: expected[c] for c in part.columns}
