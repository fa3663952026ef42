"""Synthetic customer-service table with ground truth for the PII-discovery benchmark (``benchmarks/pii.py``).

``table(rows, seed)`` returns ``(frame, truth)``: a pandas DataFrame of :data:`COLUMNS` (64 columns, 100,000 rows
in the benchmark) and ``truth = {column: kind or None}``. :data:`TRUTH` is the same mapping, fixed. Seeded (numpy
``default_rng([seed, crc32(column)])`` per column, so columns do not depend on one another's draws). Needs numpy,
pandas and ``phonenumbers``; nothing here reads mlwarden, its vocabulary lists or any detector: the name lists
below were written for this file, and every column was designed before any detector was run on it.

Values are meant to look real and to pass the checks real ones pass: phone numbers are valid in their numbering
plans (built from the ``phonenumbers`` example numbers by redrawing digits until ``is_valid_number``), IBANs have
correct mod-97 check digits and the right length per country (and the French RIB key and the Spanish control
digits; the Italian CIN and Dutch/Belgian national checks are not modelled, except Belgium's mod-97 pair),
payment cards have Luhn check digits in real IIN ranges, SSNs follow the SSA rules, NINOs HMRC's prefix rules,
Steuer-IdNr the digit-repetition rule and the ISO 7064 MOD 11,10 check digit, NIR the key 97 - (n mod 97).
The lookalikes (truth None) fail exactly those checks, or are data that merely share a shape.

Locales: US, UK, DE, FR, ES, NL, IT (and BE, AT, CH for IBANs).

Columns (kind in brackets; None = not personal data; "nulls" = share of missing values)

Direct identifiers
    customer_email    [email]          first.last@, flast@, ... on consumer and company domains of 7 locales; 5% nulls
    f3                [email]          the same kind of addresses under an uninformative name
    user_id           [email]          log-in ids that are e-mail addresses (a name that says "id", not "email")
    phone             [phone]          mobile and fixed numbers of US/UK/DE/FR/ES/NL/IT, international format
                                       ("+49 1512 3456789") or E.164 ("+4915123456789"); 8% nulls
    Telefon           [phone]          German numbers, national format ("030 123456", "01512 3456789"); 12% nulls
    col_17            [phone]          UK numbers, national format ("07400 123456", "0121 234 5678")
    portable          [phone]          French mobile numbers, national format ("06 12 34 56 78")
    iban              [iban]           DE/GB/FR/ES/NL/IT/BE/AT/CH, electronic or grouped-by-4 print format
    Bankverbindung    [iban]           German IBANs only, electronic format; 10% nulls
    card_number       [payment_card]   Visa (16), Mastercard (51-55, 2221-2720; 16), Amex (34/37; 15), plain,
                                       spaced or dashed
    ssn               [us_ssn]         "123-45-6789": area 001-899 without 666, group 01-99, serial 0001-9999; 20% nulls
    ni_number         [uk_nino]        "AB 12 34 56 C" or "AB123456C", HMRC prefix rules, suffix A-D
    steuer_id         [de_tax_id]      11 digits, some grouped "12 345 678 901"
    numero_secu       [fr_nir]         15 digits (with Corsican 2A/2B departments), some spaced
    ip_address        [ip_address]     IPv4, mostly public, some 10/8 and 192.168/16
    src_addr          [ip_address]     IPv4 and IPv6 (compressed) mixed
    full_name         [person_name]    "First Last" of 7 locales, some with a middle name, some "Last, First"
    first_name        [person_name]    first names of 7 locales
    Nachname          [person_name]    German last names
    nom_client        [person_name]    French full names
    col_5             [person_name]    last names of 7 locales, under an uninformative name
    ticket_comment    [free_text]      English support-ticket comments, 1-3 sentences, about 40% embedding an
                                       e-mail, a phone number or a name; 10% nulls
    Bemerkung         [free_text]      German comments, about 40% embedding a name, phone or e-mail

Quasi-identifiers
    date_of_birth     [date_of_birth]  a date column (Parquet date32), born 1935-2007
    geburtsdatum      [date_of_birth]  "DD.MM.YYYY" strings
    dob               [date_of_birth]  "MM/DD/YYYY" strings; 3% nulls
    fecha_nacimiento  [date_of_birth]  "DD/MM/YYYY" strings
    zip_code          [postal_code]    US ZIP, 15% ZIP+4
    postcode          [postal_code]    UK postcodes ("SW1A 1AA", "M1 1AE", "LS6 2QT")
    PLZ               [postal_code]    German 5-digit (leading zeros kept)
    code_postal       [postal_code]    French 5-digit
    postcode_nl       [postal_code]    Dutch "1234 AB"
    age               [age]            integer, from date_of_birth (18-90); 4% nulls (nullable Int64)
    edad              [age]            integer 16-90
    gender            [sex]            Male / Female / Non-binary / Prefer not to say; 6% nulls
    Geschlecht        [sex]            m / w / d
    sexe              [sex]            H / F
    sex_iso5218       [sex]            ISO/IEC 5218 codes 1, 2, 0, 9 (integers)
    occupation        [occupation]     English job titles
    Beruf             [occupation]     German job titles

Not personal data (truth None)
    order_number      phone-shaped "123-456-7890" whose first digit is 1 (no NANP area code starts with 1)
    reference_no      16-digit references (some starting 4 or 5) that fail Luhn
    ledger_ref        IBAN-shaped codes (same countries and lengths) whose check digits fail mod-97
    kundennummer      11-digit customer numbers that fail the Steuer-IdNr rule
    items_count       integers 0-100, uniform
    satisfaction      integers 0-100, skewed to the top (survey scores)
    account_age_days  integers 0-3650 (misleading name: "age")
    amount            order amounts, float
    firmware_version  "1.2.3.4" version strings, every part <= 255 (IPv4-shaped)
    session_id        UUID4
    sha256            SHA-256 hex digests
    order_date        a date column, 2019-2025
    created_at        UTC timestamps, 2023-2025
    Lieferdatum       delivery dates, "DD.MM.YYYY", 2023-2025
    country           ISO 3166 alpha-2 codes
    currency          ISO 4217 codes
    product           product names ("USB-C cable 2 m")
    name              product line names, some using words that are also first names (misleading name)
    phone_model       handset models ("iPhone 15 Pro", "Pixel 8") (misleading name)
    description       generic product descriptions, no personal data
    is_active         booleans
    email_opt_in      booleans (misleading name)
    sensor_temp       float readings
    status            order status
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

DIRECT = (
    "email",
    "phone",
    "iban",
    "payment_card",
    "us_ssn",
    "uk_nino",
    "de_tax_id",
    "fr_nir",
    "ip_address",
    "person_name",
    "free_text",
)
QUASI = ("date_of_birth", "postal_code", "age", "sex", "occupation")


def category(kind: str | None) -> str | None:
    """``"direct"``, ``"quasi"`` or None for a kind."""
    if kind is None:
        return None
    return "direct" if kind in DIRECT else "quasi" if kind in QUASI else "?"


Rng = np.random.Generator

# --------------------------------------------------------------------------------------------
# Vocabulary (written for this benchmark; independent of mlwarden's lists)
# --------------------------------------------------------------------------------------------

LOCALES = ("US", "UK", "DE", "FR", "ES", "NL", "IT")

FIRST = {
    "US": "James Michael Robert John David William Richard Joseph Thomas Christopher Daniel Matthew Anthony Mark "
    "Joshua Kevin Brian Tyler Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Ashley "
    "Emily Megan Brittany Amanda Kimberly Nicole Heather Lauren",
    "UK": "Oliver George Harry Jack Charlie Alfie Archie Freddie Callum Rhys Owen Liam Declan Alistair Nigel "
    "Olivia Amelia Isla Ava Poppy Sophie Chloe Charlotte Eleanor Imogen Harriet Siobhan Bethan Niamh Fiona",
    "DE": "Lukas Leon Maximilian Felix Jonas Paul Finn Tobias Jürgen Uwe Dieter Wolfgang Klaus Björn Sören Jörg "
    "Anna Lena Lea Hannah Johanna Katharina Sabine Ursula Gisela Heike Anke Birgit Jutta Frauke Käthe Mareike",
    "FR": "Jean Pierre Michel Philippe Alain Nicolas Julien Mathieu Guillaume Théo Hugo Baptiste Étienne François "
    "Marie Nathalie Isabelle Sylvie Catherine Camille Chloé Manon Léa Émilie Céline Aurélie Margaux Océane Solène",
    "ES": "Antonio Manuel José Francisco Javier Alejandro Pablo Sergio Jorge Álvaro Iñaki Raúl Joaquín Rubén "
    "Carmen Lucía María Dolores Pilar Rocío Inmaculada Montserrat Begoña Nerea Ainhoa Alba Marta Itziar",
    "NL": "Daan Sem Bram Lars Thijs Jeroen Joost Sander Pieter Maarten Wouter Ruud Gert Hendrik Jan-Willem "
    "Sanne Femke Anouk Lotte Fleur Marieke Inge Annelies Willemijn Ilse Eline Noor Tessa Jolien Griet",
    "IT": "Giuseppe Giovanni Francesco Antonio Marco Alessandro Lorenzo Matteo Andrea Luca Davide Salvatore "
    "Gennaro Vincenzo Giulia Francesca Chiara Federica Alessia Martina Giorgia Sara Valentina Elisa Rosaria "
    "Carmela Annunziata Benedetta Ilaria",
}
LAST = {
    "US": "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Moore Jackson Harris Thompson "
    "Robinson Walker Young Allen Hernandez Nguyen Kowalski Washington Rodriguez Sullivan McCarthy Patel",
    "UK": "Jones Evans Roberts Hughes Wright Edwards Cooke Ashworth Pemberton Whitfield Fairclough Llewellyn "
    "Cartwright Ramsbottom Holloway Featherstone Gallagher MacLeod Campbell Stewart Fitzgerald O'Brien Singh",
    "DE": "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter "
    "Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Werner Krause Lehmann "
    "Schmitz Köhler Jäger Groß Weiß",
    "FR": "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre Michel "
    "Garcia Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Chevalier Gauthier Perrin Mercier Lemaire",
    "ES": "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Ruiz Hernández Jiménez Díaz "
    "Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Torres Domínguez Vázquez Ramos Iglesias Etxeberria",
    "NL": "de Jong Jansen de Vries van den Berg van Dijk Bakker Janssen Visser Smit Meijer de Boer Mulder "
    "de Groot Bos Vos Peters Hendriks van Leeuwen Dekker Brouwer de Wit Dijkstra Smits de Graaf van der Meer",
    "IT": "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti De Luca "
    "Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso Ferraro",
}
# Dutch surnames with a particle are kept whole ("de Jong", "van den Berg").
_NL_PARTICLES = {"de", "van", "den", "der"}


def _split_last(text: str) -> list[str]:
    words, out, pending = text.split(), [], []
    for w in words:
        if w in _NL_PARTICLES:
            pending.append(w)
        else:
            out.append(" ".join([*pending, w]))
            pending = []
    return out


FIRST_NAMES = {k: v.split() for k, v in FIRST.items()}
LAST_NAMES = {k: _split_last(v) for k, v in LAST.items()}

EMAIL_DOMAINS = {
    "US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "comcast.net"],
    "UK": ["btinternet.com", "hotmail.co.uk", "sky.com", "yahoo.co.uk", "virginmedia.com"],
    "DE": ["web.de", "gmx.de", "t-online.de", "gmx.net", "posteo.de", "freenet.de"],
    "FR": ["orange.fr", "free.fr", "laposte.net", "sfr.fr", "wanadoo.fr"],
    "ES": ["telefonica.net", "hotmail.es", "yahoo.es", "movistar.es"],
    "NL": ["ziggo.nl", "kpnmail.nl", "hotmail.nl", "xs4all.nl", "planet.nl"],
    "IT": ["libero.it", "virgilio.it", "alice.it", "tiscali.it", "tin.it"],
}
COMPANY_DOMAINS = ["northwind-logistics.com", "brightline.io", "huber-bau.de", "groupe-rivage.fr", "tecnova.es"]

OCCUPATIONS_EN = [
    "Software Engineer",
    "Registered Nurse",
    "Teacher",
    "Accountant",
    "Electrician",
    "Plumber",
    "Sales Manager",
    "Pharmacist",
    "Graphic Designer",
    "Civil Engineer",
    "Dental Hygienist",
    "Truck Driver",
    "Chef",
    "Police Officer",
    "Firefighter",
    "Architect",
    "Data Analyst",
    "Marketing Coordinator",
    "Customer Service Representative",
    "Financial Advisor",
    "Lawyer",
    "Paralegal",
    "Physiotherapist",
    "Veterinarian",
    "Carpenter",
    "Mechanic",
    "Receptionist",
    "Warehouse Operative",
    "Project Manager",
    "Retail Assistant",
    "Social Worker",
    "Journalist",
    "Librarian",
    "Web Developer",
    "HR Manager",
    "Bus Driver",
    "Cleaner",
    "Welder",
    "Estate Agent",
    "Student",
    "Retired",
    "Unemployed",
    "Self-employed",
]
OCCUPATIONS_DE = [
    "Softwareentwickler",
    "Krankenpfleger",
    "Krankenschwester",
    "Lehrerin",
    "Lehrer",
    "Steuerberater",
    "Elektriker",
    "Installateur",
    "Bankkaufmann",
    "Industriekauffrau",
    "Apotheker",
    "Erzieherin",
    "Maurer",
    "Tischler",
    "Kfz-Mechatroniker",
    "Verkäuferin",
    "Bürokauffrau",
    "Ingenieur",
    "Architektin",
    "Rechtsanwalt",
    "Polizeibeamter",
    "Altenpflegerin",
    "Friseurin",
    "Koch",
    "Lagerist",
    "Berufskraftfahrer",
    "Physiotherapeutin",
    "Zahnarzthelferin",
    "Sachbearbeiter",
    "Rentner",
    "Student",
    "Hausfrau",
    "Selbstständig",
    "Landwirt",
]

PRODUCTS = [
    "USB-C cable 2 m",
    "Wireless mouse",
    "Mechanical keyboard",
    "27-inch monitor",
    "Laptop stand",
    "Noise-cancelling headphones",
    "Phone case",
    "Screen protector",
    "Power bank 20000 mAh",
    "HDMI adapter",
    "Desk lamp",
    "Office chair",
    "Standing desk",
    "Water bottle 750 ml",
    "Running shoes",
    "Yoga mat",
    "Coffee grinder",
    "French press",
    "Espresso beans 1 kg",
    "Backpack 30 l",
    "Travel adapter",
    "Bluetooth speaker",
    "Smart plug",
    "LED bulb E27",
    "Webcam 1080p",
    "External SSD 1 TB",
    "Microfibre cloth",
    "Printer paper A4",
    "Ink cartridge black",
    "Notebook A5",
]
PRODUCT_LINES = [
    "Aurora Desk Lamp",
    "Luna Night Light",
    "Atlas Backpack",
    "Nova Power Bank",
    "Orion Monitor Arm",
    "Stella Kettle",
    "Felix Cat Tree",
    "Oscar Office Chair",
    "Juniper Candle",
    "Willow Throw",
    "Summit Trail Shoe",
    "Harbor Rain Jacket",
    "Everest Thermos",
    "Metro Commuter Bag",
    "Pixel Frame",
    "Zen Yoga Mat",
    "Rio Beach Towel",
    "Nordic Oak Shelf",
    "Sierra Tent 2P",
    "Coral Bath Mat",
    "Bella Blender",
    "Max Protein Bar",
    "Iris Vase",
    "Milo Dog Bed",
    "Ruby Wine Glass",
]
PHONE_MODELS = [
    "iPhone 15 Pro",
    "iPhone 14",
    "iPhone SE",
    "Galaxy S24",
    "Galaxy A54",
    "Pixel 8",
    "Pixel 7a",
    "Xperia 10 V",
    "Moto G54",
    "Nokia G42",
    "Fairphone 5",
    "OnePlus 12",
    "Redmi Note 13",
    "Honor 90",
    "Galaxy Z Flip5",
]
STATUSES = ["open", "pending", "shipped", "delivered", "cancelled", "returned", "refunded"]
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "NL", "IT", "BE", "AT", "CH", "PL", "SE", "DK", "IE", "PT"]
CURRENCIES = ["USD", "GBP", "EUR", "CHF", "PLN", "SEK", "DKK"]

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _pick(rng: Rng, items: list[Any], n: int, p: Any = None) -> list[Any]:
    idx = rng.choice(len(items), size=n, p=p)
    return [items[i] for i in idx]


def _nulls(values: list[Any], rng: Rng, share: float) -> list[Any]:
    if share <= 0:
        return values
    mask = rng.random(len(values)) < share
    return [None if m else v for v, m in zip(values, mask, strict=True)]


def _digits(rng: Rng, n: int, k: int, first_nonzero: bool = False) -> np.ndarray:
    d = rng.integers(0, 10, size=(n, k))
    if first_nonzero:
        d[:, 0] = rng.integers(1, 10, size=n)
    return d


def _join(d: np.ndarray) -> list[str]:
    """Rows of a digit matrix as strings."""
    if d.shape[1] == 0:
        return [""] * d.shape[0]
    return ["".join(map(str, row)) for row in d.tolist()]


_ASCII = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "é": "e",
        "è": "e",
        "ê": "e",
        "ë": "e",
        "á": "a",
        "à": "a",
        "â": "a",
        "í": "i",
        "î": "i",
        "ï": "i",
        "ó": "o",
        "ô": "o",
        "ú": "u",
        "ù": "u",
        "û": "u",
        "ñ": "n",
        "ç": "c",
        "'": "",
        " ": "",
        "-": "",
    }
)


def _ascii(name: str) -> str:
    return name.lower().translate(_ASCII)


def _people(rng: Rng, n: int, locales: tuple[str, ...] = LOCALES) -> tuple[list[str], list[str], list[str]]:
    """``(locale, first, last)`` lists for ``n`` people."""
    loc = _pick(rng, list(locales), n)
    u1, u2 = rng.random(n), rng.random(n)
    first = [FIRST_NAMES[c][int(x * len(FIRST_NAMES[c]))] for c, x in zip(loc, u1, strict=True)]
    last = [LAST_NAMES[c][int(x * len(LAST_NAMES[c]))] for c, x in zip(loc, u2, strict=True)]
    return loc, first, last


# --------------------------------------------------------------------------------------------
# Direct identifiers
# --------------------------------------------------------------------------------------------


def emails(rng: Rng, n: int) -> list[str]:
    loc, first, last = _people(rng, n)
    pattern = rng.integers(0, 7, size=n)
    num = rng.integers(1, 100, size=n)
    company = rng.random(n) < 0.15
    u = rng.random(n)
    out = []
    for i in range(n):
        f, la = _ascii(first[i]), _ascii(last[i])
        p = pattern[i]
        local = (
            f"{f}.{la}",
            f"{f[0]}{la}",
            f"{f}_{la}",
            f"{f}.{la}{num[i]}",
            f"{f}{la}{num[i]}",
            f"{la}.{f}",
            f"{f}{num[i] + 1950}",
        )[p]
        domains = COMPANY_DOMAINS if company[i] else EMAIL_DOMAINS[loc[i]]
        out.append(f"{local}@{domains[int(u[i] * len(domains))]}")
    return out


_PHONE_REGION = {"US": "US", "UK": "GB", "DE": "DE", "FR": "FR", "ES": "ES", "NL": "NL", "IT": "IT"}


def _valid_numbers(rng: Rng, region: str, kind: str, n: int) -> list[Any]:
    """``n`` PhoneNumber objects valid in ``region``'s plan: the example number of the type with every digit after
    its first redrawn (lengths kept), kept only when ``phonenumbers.is_valid_number`` accepts it."""
    import phonenumbers as pn
    from phonenumbers import PhoneNumberType

    ptype = PhoneNumberType.MOBILE if kind == "mobile" else PhoneNumberType.FIXED_LINE
    example = pn.example_number_for_type(region, ptype)
    cc = example.country_code
    text = str(example.national_number)
    keep = 1 if kind == "mobile" else 0  # mobiles keep their leading digit (7 in the UK, 6 in France...)
    lengths = [len(text)]
    md = pn.PhoneMetadata.metadata_for_region(region)
    desc = md.mobile if kind == "mobile" else md.fixed_line
    if desc is not None and desc.possible_length:
        lengths = [L for L in desc.possible_length if L >= 7] or lengths

    def number(digits: str) -> Any:
        if digits[0] == "0":
            return None
        candidate = pn.PhoneNumber(
            country_code=cc, national_number=int(digits), italian_leading_zero=example.italian_leading_zero
        )
        ok = pn.is_valid_number_for_region(candidate, region) and pn.number_type(candidate) in (
            ptype,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
        return candidate if ok else None

    # Stage 1: up to 400 valid numbers with every digit after the kept ones drawn at random (all area codes and
    # lengths the plan allows). Stage 2: each number wanted is one of those with its last four digits redrawn,
    # checked again (nearly always still valid), so that a column of 100,000 numbers costs ~100,000 checks.
    seeds: list[Any] = []
    want = min(n, 400)
    while len(seeds) < want:
        length = rng.choice(lengths, size=256)
        for L, row in zip(length, _digits(rng, 256, max(lengths)).tolist(), strict=True):
            found = number(text[:keep] + "".join(map(str, row[: int(L) - keep])))
            if found is not None:
                seeds.append(found)
                if len(seeds) == want:
                    break
    out: list[Any] = []
    while len(out) < n:
        k = n - len(out) + 16
        picks = rng.integers(0, len(seeds), size=k)
        tails = rng.integers(0, 10_000, size=k)
        for j, t in zip(picks.tolist(), tails.tolist(), strict=True):
            base = str(seeds[j].national_number)
            found = number(f"{base[:-4]}{t:04d}")
            if found is not None:
                out.append(found)
                if len(out) == n:
                    break
    return out


def phones(rng: Rng, n: int, regions: tuple[str, ...], fmt: str, mobile_share: float = 0.6) -> list[str]:
    """Valid numbers of ``regions`` (our locale codes) in ``fmt``: "international" (with 25% E.164) or "national"."""
    import phonenumbers as pn

    loc = np.array(_pick(rng, list(regions), n))
    mobile = rng.random(n) < mobile_share
    e164 = rng.random(n) < 0.25
    out: list[str] = [""] * n
    for region in regions:
        for kind, mask in (("mobile", mobile), ("fixed", ~mobile)):
            idx = np.flatnonzero((loc == region) & mask)
            if len(idx) == 0:
                continue
            numbers = _valid_numbers(rng, _PHONE_REGION[region], kind, len(idx))
            for i, number in zip(idx.tolist(), numbers, strict=True):
                if fmt == "national":
                    style = pn.PhoneNumberFormat.NATIONAL
                else:
                    style = pn.PhoneNumberFormat.E164 if e164[i] else pn.PhoneNumberFormat.INTERNATIONAL
                out[i] = pn.format_number(number, style)
    return out


def _letters_to_digits(text: str) -> str:
    return "".join(str(ord(c) - 55) if c.isalpha() else c for c in text)


def iban_check(country: str, bban: str) -> str:
    """The two IBAN check digits (ISO 13616, mod 97) of ``country`` + ``bban``."""
    return f"{98 - int(_letters_to_digits(bban + country + '00')) % 97:02d}"


def iban_valid(iban: str) -> bool:
    s = iban.replace(" ", "")
    return int(_letters_to_digits(s[4:] + s[:4])) % 97 == 1


def _fr_rib_key(bank: str, branch: str, account: str) -> str:
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def _es_control(ten: str) -> str:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    d = 11 - sum(int(c) * w for c, w in zip(ten, weights, strict=True)) % 11
    return str({11: 0, 10: 1}.get(d, d))


_BANKS = {
    "DE": ["10070000", "37040044", "50010517", "20041133", "12030000", "70150000", "43060967", "76050101"],
    "GB": ["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "NAIA"],
    "FR": ["30004", "30003", "30002", "10278", "20041", "17515"],
    "ES": ["2100", "0049", "0182", "0081", "2038", "0128"],
    "NL": ["ABNA", "INGB", "RABO", "SNSB", "TRIO", "KNAB", "ASNB"],
    "IT": ["03069", "02008", "05034", "03111", "01030"],
    "BE": ["001", "068", "310", "363", "539", "735"],
    "AT": ["20111", "12000", "14000", "32000", "19043"],
    "CH": ["00762", "00230", "80808", "09000", "00700"],
}
_CIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _bban(rng: Rng, country: str) -> str:
    bank = _BANKS[country][int(rng.integers(len(_BANKS[country])))]

    def num(k: int) -> str:
        return "".join(map(str, rng.integers(0, 10, size=k)))

    if country == "DE":
        return bank + num(10)
    if country == "GB":
        return bank + num(6) + num(8)
    if country == "FR":
        branch, account = num(5), num(11)
        return bank + branch + account + _fr_rib_key(bank, branch, account)
    if country == "ES":
        branch, account = num(4), num(10)
        return bank + branch + _es_control("00" + bank + branch) + _es_control(account) + account
    if country == "NL":
        return bank + num(10)
    if country == "IT":
        return _CIN[int(rng.integers(26))] + bank + num(5) + num(12)
    if country == "BE":
        first = bank + num(7)
        check = int(first) % 97 or 97
        return f"{first}{check:02d}"
    if country == "AT":
        return bank + num(11)
    if country == "CH":
        return bank + num(12)
    raise ValueError(country)


IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "NL": 18, "IT": 27, "BE": 16, "AT": 20, "CH": 21}


def _print_format(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def ibans(rng: Rng, n: int, countries: tuple[str, ...], print_share: float, valid: bool = True) -> list[str]:
    loc = _pick(rng, list(countries), n)
    printed = rng.random(n) < print_share
    out = []
    for c, p in zip(loc, printed, strict=True):
        bban = _bban(rng, c)
        check = iban_check(c, bban)
        if not valid:  # any pair of digits not congruent to the right one mod 97 fails
            wrong = int(rng.integers(2, 99))
            while (wrong - int(check)) % 97 == 0:
                wrong = int(rng.integers(2, 99))
            check = f"{wrong:02d}"
        iban = c + check + bban
        assert len(iban) == IBAN_LENGTHS[c], (c, iban)
        out.append(_print_format(iban) if p else iban)
    return out


def _luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Luhn check digit for each row of a digit matrix (the payload, without the check digit)."""
    d = body[:, ::-1].copy()
    d[:, 0::2] *= 2
    d[d > 9] -= 9
    return (10 - d.sum(axis=1) % 10) % 10


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, x in enumerate(reversed(digits)):
        if i % 2:
            x *= 2
            if x > 9:
                x -= 9
        total += x
    return total % 10 == 0


def cards(rng: Rng, n: int) -> list[str]:
    brand = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])  # Visa, Mastercard, Amex
    style = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])  # plain, spaced, dashed
    out: list[str] = [""] * n
    for b, length in ((0, 16), (1, 16), (2, 15)):
        idx = np.flatnonzero(brand == b)
        if len(idx) == 0:
            continue
        body = _digits(rng, len(idx), length - 1)
        if b == 0:
            body[:, 0] = 4
        elif b == 1:
            two_series = rng.random(len(idx)) < 0.3
            iin = np.where(two_series, rng.integers(2221, 2721, size=len(idx)), rng.integers(51, 56, size=len(idx)))
            for j, (two, v) in enumerate(zip(two_series, iin, strict=True)):
                body[j, : 4 if two else 2] = [int(c) for c in str(v)]
        else:
            body[:, 0] = 3
            body[:, 1] = np.where(rng.random(len(idx)) < 0.5, 4, 7)
        full = np.concatenate([body, _luhn_check_digits(body)[:, None]], axis=1)
        for i, s in zip(idx.tolist(), _join(full), strict=True):
            groups = [s[0:4], s[4:10], s[10:]] if b == 2 else [s[k : k + 4] for k in range(0, 16, 4)]
            out[i] = s if style[i] == 0 else (" " if style[i] == 1 else "-").join(groups)
    return out


def ssns(rng: Rng, n: int) -> list[str]:
    area = rng.integers(1, 900, size=n)
    area[area == 666] = 667
    group = rng.integers(1, 100, size=n)
    serial = rng.integers(1, 10000, size=n)
    out = [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)]
    banned = {"078-05-1120", "219-09-9999", "123-45-6789"}
    return ["001-01-0001" if s in banned else s for s in out]


_NINO_FIRST = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in "DFIQUV"]
_NINO_SECOND = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in "DFIOQUV"]
_NINO_PREFIXES = [
    a + b for a in _NINO_FIRST for b in _NINO_SECOND if a + b not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
]


def ninos(rng: Rng, n: int) -> list[str]:
    prefix = _pick(rng, _NINO_PREFIXES, n)
    digits = _join(_digits(rng, n, 6))
    suffix = _pick(rng, list("ABCD"), n)
    spaced = rng.random(n) < 0.5
    return [
        f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}" if sp else f"{p}{d}{s}"
        for p, d, s, sp in zip(prefix, digits, suffix, spaced, strict=True)
    ]


def steuer_check(ten: str) -> int:
    """ISO 7064 MOD 11,10 check digit of the first ten digits of a Steuer-IdNr."""
    product = 10
    for c in ten:
        total = (int(c) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return 0 if check == 10 else check


def steuer_rule(ten: str) -> bool:
    """The Steuer-IdNr digit rule on the first ten digits: no leading zero; exactly one digit occurs twice or three
    times, every other digit at most once; a digit occurring three times does not do so in three adjacent places."""
    if ten[0] == "0":
        return False
    counts = [ten.count(d) for d in "0123456789"]
    repeated = [c for c in counts if c > 1]
    if len(repeated) != 1 or repeated[0] > 3:
        return False
    if repeated[0] == 3:
        d = "0123456789"[counts.index(3)]
        if d * 3 in ten:
            return False
    return True


def steuer_valid(number: str) -> bool:
    s = number.replace(" ", "")
    return len(s) == 11 and s.isdigit() and steuer_rule(s[:10]) and steuer_check(s[:10]) == int(s[10])


def steuer_ids(rng: Rng, n: int) -> list[str]:
    out = []
    grouped = rng.random(n) < 0.3
    while len(out) < n:
        perm = rng.permutation(10)
        triple = rng.random() < 0.3
        if triple:  # 8 distinct digits, one of them three times
            base = list(perm[:8])
            base += [base[0], base[0]]
        else:  # 9 distinct digits, one of them twice
            base = list(perm[:9])
            base.append(base[0])
        rng.shuffle(base)
        ten = "".join(map(str, base))
        if not steuer_rule(ten):
            continue
        s = ten + str(steuer_check(ten))
        out.append(f"{s[:2]} {s[2:5]} {s[5:8]} {s[8:]}" if grouped[len(out)] else s)
    return out


def not_steuer_ids(rng: Rng, n: int) -> list[str]:
    out = []
    while len(out) < n:
        s = "".join(map(str, rng.integers(0, 10, size=11)))
        if s[0] != "0" and not steuer_valid(s):
            out.append(s)
    return out


def nirs(rng: Rng, n: int) -> list[str]:
    sex = rng.integers(1, 3, size=n)
    yy = rng.integers(0, 100, size=n)
    mm = rng.integers(1, 13, size=n)
    dept_num = rng.integers(1, 96, size=n)
    corsica = rng.random(n) < 0.03
    commune = rng.integers(1, 991, size=n)
    order = rng.integers(1, 1000, size=n)
    spaced = rng.random(n) < 0.3
    out = []
    for i in range(n):
        if corsica[i]:
            dept, dept_value = ("2A", "19") if rng.random() < 0.5 else ("2B", "18")
        else:
            d = 21 if dept_num[i] == 20 else int(dept_num[i])
            dept = dept_value = f"{d:02d}"
        body = f"{sex[i]}{yy[i]:02d}{mm[i]:02d}{dept}{commune[i]:03d}{order[i]:03d}"
        numeric = f"{sex[i]}{yy[i]:02d}{mm[i]:02d}{dept_value}{commune[i]:03d}{order[i]:03d}"
        key = 97 - int(numeric) % 97
        if spaced[i]:
            out.append(f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}")
        else:
            out.append(f"{body}{key:02d}")
    return out


def ipv4(rng: Rng, n: int) -> list[str]:
    a = rng.integers(1, 224, size=n)
    a[np.isin(a, [10, 127, 169, 172, 192])] = 81
    b, c, d = rng.integers(0, 256, size=n), rng.integers(0, 256, size=n), rng.integers(1, 255, size=n)
    private = rng.random(n)
    out = []
    for i in range(n):
        if private[i] < 0.08:
            out.append(f"10.{b[i]}.{c[i]}.{d[i]}")
        elif private[i] < 0.15:
            out.append(f"192.168.{c[i]}.{d[i]}")
        else:
            out.append(f"{a[i]}.{b[i]}.{c[i]}.{d[i]}")
    return out


def ipv6(rng: Rng, n: int) -> list[str]:
    prefixes = [0x2A00, 0x2A01, 0x2A02, 0x2001, 0x2003, 0x2A0A, 0x2600, 0x2607, 0x2804]
    out = []
    words = rng.integers(0, 1 << 16, size=(n, 8))
    zeros = rng.random(n) < 0.5
    for i in range(n):
        w = words[i].tolist()
        w[0] = prefixes[int(w[0]) % len(prefixes)]
        if zeros[i]:
            w[4:6] = [0, 0]
        out.append(str(ipaddress.IPv6Address(int("".join(f"{x:04x}" for x in w), 16))))
    return out


def full_names(rng: Rng, n: int, locales: tuple[str, ...] = LOCALES) -> list[str]:
    loc, first, last = _people(rng, n, locales)
    style = rng.random(n)
    _, middle, _ = _people(rng, n, locales)
    out = []
    for i in range(n):
        if style[i] < 0.1:
            out.append(f"{last[i]}, {first[i]}")
        elif style[i] < 0.2 and loc[i] in ("US", "UK", "DE"):
            out.append(f"{first[i]} {middle[i]} {last[i]}")
        else:
            out.append(f"{first[i]} {last[i]}")
    return out


def first_names(rng: Rng, n: int) -> list[str]:
    return _people(rng, n)[1]


def last_names(rng: Rng, n: int, locales: tuple[str, ...] = LOCALES) -> list[str]:
    return _people(rng, n, locales)[2]


_CLEAN_EN = [
    "Customer reports the parcel arrived damaged; replacement requested.",
    "Refund of {amount} EUR issued for order {order}. Ticket closed.",
    "Login issue resolved after password reset.",
    "Customer cannot apply the discount code at checkout.",
    "Wrong size delivered, exchange arranged.",
    "Chat transcript attached. Customer satisfied with the resolution.",
    "Item out of stock, back-order placed for next week.",
    "Invoice {order} was paid twice; the duplicate payment will be reversed.",
    "Tracking shows the parcel is held at the local depot.",
    "Subscription renewed at the old price as a goodwill gesture.",
    "App crashes when opening the order history on Android.",
    "Delivery slot changed to Saturday morning.",
    "Asked about warranty terms for the {product}.",
    "Duplicate ticket, merged with the earlier one.",
]
_PII_EN = [
    "Please call the customer back on {phone} regarding the invoice.",
    "Customer asked to update their email to {email}.",
    "Spoke with {name}, who confirmed the delivery address.",
    "{name} called twice about a missing item; escalated to tier 2.",
    "Confirmation sent to {email}.",
    "Callback requested: {phone}, after 5 pm.",
    "Parcel was signed for by {name} at the front desk.",
]
_CLEAN_DE = [
    "Paket beschädigt angekommen, Ersatz verschickt.",
    "Adresse geändert, bitte neue Lieferung veranlassen.",
    "Zahlung eingegangen, Vorgang abgeschlossen.",
    "Gutschein konnte nicht eingelöst werden.",
    "Rücksendung erhalten, Gutschrift über {amount} EUR veranlasst.",
    "Lieferung verzögert sich wegen Streik beim Paketdienst.",
    "Falsche Farbe geliefert, Umtausch vereinbart.",
    "Kunde wünscht eine Rechnung mit ausgewiesener Mehrwertsteuer.",
    "Bestellung {order} storniert.",
]
_PII_DE = [
    "Kunde bittet um Rückruf unter {phone}.",
    "Frau {last} hat die Lieferung reklamiert.",
    "Rechnung per E-Mail an {email} gesendet.",
    "Herr {last} möchte sein Abonnement kündigen.",
    "Rücksprache mit {name} gehalten, Problem gelöst.",
]


def comments(rng: Rng, n: int, language: str) -> list[str]:
    clean, pii = (_CLEAN_EN, _PII_EN) if language == "en" else (_CLEAN_DE, _PII_DE)
    locales = LOCALES if language == "en" else ("DE",)
    pool = max(1, n // 4)  # names, addresses and numbers to embed (about 40% x 1/3 of the rows need one each)
    names = full_names(rng, pool, locales)
    lasts = last_names(rng, pool, locales)
    mails = emails(rng, pool)
    phone_regions = ("US", "UK", "DE", "FR") if language == "en" else ("DE",)
    tel = phones(rng, pool, phone_regions, "national" if language == "de" else "international")
    which = rng.integers(0, pool, size=n)
    count = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    has_pii = rng.random(n) < 0.4
    amounts = rng.integers(5, 500, size=n)
    orders = rng.integers(100000, 999999, size=n)
    out = []
    for i in range(n):
        parts = [clean[int(j)] for j in rng.integers(0, len(clean), size=int(count[i]))]
        if has_pii[i]:
            parts.insert(int(rng.integers(0, len(parts) + 1)), pii[int(rng.integers(len(pii)))])
        text = " ".join(parts)
        out.append(
            text.format(
                name=names[which[i]],
                last=lasts[which[i]],
                email=mails[which[i]],
                phone=tel[which[i]],
                amount=amounts[i],
                order=orders[i],
                product=PRODUCTS[int(orders[i]) % len(PRODUCTS)].lower(),
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Quasi-identifiers
# --------------------------------------------------------------------------------------------

_TODAY = date(2025, 6, 30)


def birth_dates(rng: Rng, n: int) -> list[date]:
    start, end = date(1935, 1, 1), date(2007, 6, 30)
    days = rng.integers(0, (end - start).days + 1, size=n)
    # More people of working age than of 90: a triangular bump on top of uniform.
    bump = rng.triangular(0, 0.6, 1, size=n)
    mix = rng.random(n) < 0.5
    span = (end - start).days
    days = np.where(mix, (bump * span).astype(int), days)
    return [start + timedelta(days=int(d)) for d in days]


def event_dates(rng: Rng, n: int, start: date, end: date) -> list[date]:
    days = rng.integers(0, (end - start).days + 1, size=n)
    return [start + timedelta(days=int(d)) for d in days]


def fmt_dates(ds: list[date], fmt: str) -> list[str]:
    return [d.strftime(fmt) for d in ds]


def zips(rng: Rng, n: int) -> list[str]:
    z = rng.integers(501, 99951, size=n)
    plus4 = rng.random(n) < 0.15
    ext = rng.integers(1, 10000, size=n)
    return [f"{a:05d}-{e:04d}" if p else f"{a:05d}" for a, p, e in zip(z, plus4, ext, strict=True)]


_UK_AREAS = [
    ("SW", 20),
    ("SE", 28),
    ("E", 18),
    ("N", 22),
    ("NW", 11),
    ("W", 14),
    ("EC", 4),
    ("WC", 2),
    ("M", 40),
    ("B", 80),
    ("L", 40),
    ("LS", 29),
    ("G", 84),
    ("EH", 55),
    ("CF", 83),
    ("BS", 49),
    ("OX", 49),
    ("CB", 25),
    ("NE", 71),
    ("S", 99),
    ("BT", 94),
    ("AB", 56),
    ("KT", 24),
    ("RG", 45),
    ("BN", 45),
    ("PL", 35),
    ("YO", 62),
    ("NG", 34),
    ("LE", 19),
    ("CV", 47),
    ("DE", 75),
    ("GU", 52),
    ("TN", 40),
    ("CH", 66),
    ("DH", 9),
]
_UK_INWARD = "ABDEFGHJLNPQRSTUWXYZ"


def uk_postcodes(rng: Rng, n: int) -> list[str]:
    area = rng.integers(0, len(_UK_AREAS), size=n)
    district_u = rng.random(n)
    sub = rng.random(n) < 0.1
    digit = rng.integers(0, 10, size=n)
    l1, l2 = rng.integers(0, 20, size=n), rng.integers(0, 20, size=n)
    out = []
    for i in range(n):
        a, top = _UK_AREAS[area[i]]
        district = 1 + int(district_u[i] * top)
        if sub[i] and a in ("SW", "EC", "WC", "W", "E", "N", "NW", "SE") and district < 10:
            outward = f"{a}{district}{'ABCDEFGHJKMNPRSTWXY'[int(l1[i]) % 19]}"
        else:
            outward = f"{a}{district}"
        out.append(f"{outward} {digit[i]}{_UK_INWARD[l1[i]]}{_UK_INWARD[l2[i]]}")
    return out


def de_plz(rng: Rng, n: int) -> list[str]:
    return [f"{x:05d}" for x in rng.integers(1067, 99999, size=n)]


def fr_codes(rng: Rng, n: int) -> list[str]:
    dept = rng.integers(1, 96, size=n)
    round_ = rng.random(n) < 0.8
    tail = np.where(round_, rng.integers(0, 100, size=n) * 10, rng.integers(0, 1000, size=n))
    return [f"{d:02d}{t:03d}" for d, t in zip(dept, tail, strict=True)]


_NL_LETTERS = [c for c in "ABCDEGHJKLMNPRSTVWXZ"]


def nl_postcodes(rng: Rng, n: int) -> list[str]:
    num = rng.integers(1000, 10000, size=n)
    a, b = rng.integers(0, len(_NL_LETTERS), size=n), rng.integers(0, len(_NL_LETTERS), size=n)
    out = []
    for x, i, j in zip(num, a, b, strict=True):
        pair = _NL_LETTERS[i] + _NL_LETTERS[j]
        if pair in ("SA", "SD", "SS"):
            pair = "AB"
        out.append(f"{x} {pair}")
    return out


def ages_from(dobs: list[date]) -> list[int]:
    return [_TODAY.year - d.year - ((_TODAY.month, _TODAY.day) < (d.month, d.day)) for d in dobs]


# --------------------------------------------------------------------------------------------
# Not personal
# --------------------------------------------------------------------------------------------


def order_numbers(rng: Rng, n: int) -> list[str]:
    d = _join(_digits(rng, n, 9))
    return [f"1{s[:2]}-{s[2:5]}-{s[5:]}" for s in d]


def failing_luhn(rng: Rng, n: int) -> list[str]:
    body = _digits(rng, n, 15, first_nonzero=True)
    wrong = (_luhn_check_digits(body) + rng.integers(1, 10, size=n)) % 10
    return _join(np.concatenate([body, wrong[:, None]], axis=1))


def versions(rng: Rng, n: int) -> list[str]:
    a = rng.choice([0, 1, 1, 2, 2, 3, 4, 5, 10], size=n)
    b, c, d = rng.integers(0, 31, size=n), rng.integers(0, 100, size=n), rng.integers(0, 256, size=n)
    return [f"{w}.{x}.{y}.{z}" for w, x, y, z in zip(a, b, c, d, strict=True)]


def uuids(rng: Rng, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return [str(uuid.UUID(bytes=bytes(row), version=4)) for row in raw]


def sha256s(rng: Rng, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    return [hashlib.sha256(row.tobytes()).hexdigest() for row in raw]


_ADJ = ["Lightweight", "Durable", "Compact", "Premium", "Ergonomic", "Foldable", "Waterproof", "Classic", "Slim"]
_MATERIAL = ["aluminium", "stainless steel", "recycled plastic", "bamboo", "cotton", "oak", "silicone", "glass"]
_ITEM = [
    "water bottle",
    "desk organiser",
    "phone stand",
    "lunch box",
    "storage basket",
    "cutting board",
    "tote bag",
    "picture frame",
    "plant pot",
    "laptop sleeve",
    "wall clock",
    "cable tidy",
]
_SPEC = [
    "750 ml",
    "30 x 20 cm",
    "set of 3",
    "1.2 kg",
    "fits 15-inch laptops",
    "dishwasher safe",
    "10 l capacity",
    "battery included",
    "available in four colours",
]
_BENEFIT = [
    "Keeps drinks cold for 24 hours.",
    "Easy to clean.",
    "Ideal for home and office.",
    "Two-year warranty.",
    "Made from sustainably sourced materials.",
    "Ships flat-packed.",
    "Non-slip base.",
    "Suitable for indoor and outdoor use.",
    "",
]


def descriptions(rng: Rng, n: int) -> list[str]:
    idx = [rng.integers(0, len(x), size=n) for x in (_ADJ, _MATERIAL, _ITEM, _SPEC, _BENEFIT)]
    return [
        f"{_ADJ[a]} {_MATERIAL[m]} {_ITEM[it]}, {_SPEC[s]}. {_BENEFIT[b]}".strip()
        for a, m, it, s, b in zip(*idx, strict=True)
    ]


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

Gen = Callable[[Rng, int, dict[str, Any]], Any]


def _s(values: list[Any], rng: Rng, nulls: float) -> pd.Series:
    return pd.Series(_nulls(values, rng, nulls), dtype=object)


def _dob_column(rng: Rng, n: int, shared: dict[str, Any]) -> pd.Series:
    dobs = birth_dates(rng, n)
    shared["dob"] = dobs
    return pd.Series(dobs, dtype=object)


def _age_column(rng: Rng, n: int, shared: dict[str, Any]) -> pd.Series:
    ages = pd.array(ages_from(shared["dob"]), dtype="Int64")
    ages[rng.random(n) < 0.04] = pd.NA
    return pd.Series(ages)


def _created_at(rng: Rng, n: int, shared: dict[str, Any]) -> pd.Series:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    seconds = rng.integers(0, 3 * 365 * 86400, size=n)
    return pd.Series(pd.to_datetime(start) + pd.to_timedelta(seconds, unit="s"))


# (name, kind, generator). Generators take (rng, n, shared) and return a list or a Series.
SPEC: list[tuple[str, str | None, Gen]] = [
    # direct
    ("customer_email", "email", lambda r, n, s: _s(emails(r, n), r, 0.05)),
    ("f3", "email", lambda r, n, s: _s(emails(r, n), r, 0.0)),
    ("user_id", "email", lambda r, n, s: _s(emails(r, n), r, 0.0)),
    ("phone", "phone", lambda r, n, s: _s(phones(r, n, LOCALES, "international"), r, 0.08)),
    ("Telefon", "phone", lambda r, n, s: _s(phones(r, n, ("DE",), "national"), r, 0.12)),
    ("col_17", "phone", lambda r, n, s: _s(phones(r, n, ("UK",), "national"), r, 0.0)),
    ("portable", "phone", lambda r, n, s: _s(phones(r, n, ("FR",), "national", 1.0), r, 0.02)),
    ("iban", "iban", lambda r, n, s: _s(ibans(r, n, tuple(IBAN_LENGTHS), 0.4), r, 0.0)),
    ("Bankverbindung", "iban", lambda r, n, s: _s(ibans(r, n, ("DE",), 0.0), r, 0.10)),
    ("card_number", "payment_card", lambda r, n, s: _s(cards(r, n), r, 0.0)),
    ("ssn", "us_ssn", lambda r, n, s: _s(ssns(r, n), r, 0.20)),
    ("ni_number", "uk_nino", lambda r, n, s: _s(ninos(r, n), r, 0.0)),
    ("steuer_id", "de_tax_id", lambda r, n, s: _s(steuer_ids(r, n), r, 0.0)),
    ("numero_secu", "fr_nir", lambda r, n, s: _s(nirs(r, n), r, 0.0)),
    ("ip_address", "ip_address", lambda r, n, s: _s(ipv4(r, n), r, 0.0)),
    (
        "src_addr",
        "ip_address",
        lambda r, n, s: _s(
            [a if u < 0.6 else b for a, b, u in zip(ipv4(r, n), ipv6(r, n), r.random(n), strict=True)], r, 0.0
        ),
    ),
    ("full_name", "person_name", lambda r, n, s: _s(full_names(r, n), r, 0.0)),
    ("first_name", "person_name", lambda r, n, s: _s(first_names(r, n), r, 0.0)),
    ("Nachname", "person_name", lambda r, n, s: _s(last_names(r, n, ("DE",)), r, 0.0)),
    ("nom_client", "person_name", lambda r, n, s: _s(full_names(r, n, ("FR",)), r, 0.0)),
    ("col_5", "person_name", lambda r, n, s: _s(last_names(r, n), r, 0.0)),
    ("ticket_comment", "free_text", lambda r, n, s: _s(comments(r, n, "en"), r, 0.10)),
    ("Bemerkung", "free_text", lambda r, n, s: _s(comments(r, n, "de"), r, 0.0)),
    # quasi
    ("date_of_birth", "date_of_birth", _dob_column),
    ("geburtsdatum", "date_of_birth", lambda r, n, s: _s(fmt_dates(birth_dates(r, n), "%d.%m.%Y"), r, 0.0)),
    ("dob", "date_of_birth", lambda r, n, s: _s(fmt_dates(birth_dates(r, n), "%m/%d/%Y"), r, 0.03)),
    ("fecha_nacimiento", "date_of_birth", lambda r, n, s: _s(fmt_dates(birth_dates(r, n), "%d/%m/%Y"), r, 0.0)),
    ("zip_code", "postal_code", lambda r, n, s: _s(zips(r, n), r, 0.0)),
    ("postcode", "postal_code", lambda r, n, s: _s(uk_postcodes(r, n), r, 0.0)),
    ("PLZ", "postal_code", lambda r, n, s: _s(de_plz(r, n), r, 0.0)),
    ("code_postal", "postal_code", lambda r, n, s: _s(fr_codes(r, n), r, 0.0)),
    ("postcode_nl", "postal_code", lambda r, n, s: _s(nl_postcodes(r, n), r, 0.0)),
    ("age", "age", _age_column),
    ("edad", "age", lambda r, n, s: pd.Series(np.clip(r.normal(44, 15, size=n), 16, 90).astype(np.int64))),
    (
        "gender",
        "sex",
        lambda r, n, s: _s(
            _pick(r, ["Male", "Female", "Non-binary", "Prefer not to say"], n, [0.48, 0.48, 0.02, 0.02]), r, 0.06
        ),
    ),
    ("Geschlecht", "sex", lambda r, n, s: _s(_pick(r, ["m", "w", "d"], n, [0.49, 0.49, 0.02]), r, 0.0)),
    ("sexe", "sex", lambda r, n, s: _s(_pick(r, ["H", "F"], n), r, 0.0)),
    (
        "sex_iso5218",
        "sex",
        lambda r, n, s: pd.Series(r.choice([1, 2, 0, 9], size=n, p=[0.48, 0.48, 0.02, 0.02]).astype(np.int64)),
    ),
    ("occupation", "occupation", lambda r, n, s: _s(_pick(r, OCCUPATIONS_EN, n), r, 0.05)),
    ("Beruf", "occupation", lambda r, n, s: _s(_pick(r, OCCUPATIONS_DE, n), r, 0.0)),
    # not personal
    ("order_number", None, lambda r, n, s: _s(order_numbers(r, n), r, 0.0)),
    ("reference_no", None, lambda r, n, s: _s(failing_luhn(r, n), r, 0.0)),
    ("ledger_ref", None, lambda r, n, s: _s(ibans(r, n, tuple(IBAN_LENGTHS), 0.3, valid=False), r, 0.0)),
    ("kundennummer", None, lambda r, n, s: _s(not_steuer_ids(r, n), r, 0.0)),
    ("items_count", None, lambda r, n, s: pd.Series(r.integers(0, 101, size=n))),
    (
        "satisfaction",
        None,
        lambda r, n, s: pd.Series(np.clip(100 - r.exponential(18, size=n), 0, 100).astype(np.int64)),
    ),
    ("account_age_days", None, lambda r, n, s: pd.Series(r.integers(0, 3651, size=n))),
    ("amount", None, lambda r, n, s: pd.Series(np.round(r.lognormal(3.5, 0.9, size=n), 2))),
    ("firmware_version", None, lambda r, n, s: _s(versions(r, n), r, 0.0)),
    ("session_id", None, lambda r, n, s: _s(uuids(r, n), r, 0.0)),
    ("sha256", None, lambda r, n, s: _s(sha256s(r, n), r, 0.0)),
    (
        "order_date",
        None,
        lambda r, n, s: pd.Series(event_dates(r, n, date(2019, 1, 1), date(2025, 6, 30)), dtype=object),
    ),
    ("created_at", None, _created_at),
    (
        "Lieferdatum",
        None,
        lambda r, n, s: _s(fmt_dates(event_dates(r, n, date(2023, 1, 1), date(2025, 6, 30)), "%d.%m.%Y"), r, 0.05),
    ),
    ("country", None, lambda r, n, s: _s(_pick(r, COUNTRIES, n), r, 0.0)),
    ("currency", None, lambda r, n, s: _s(_pick(r, CURRENCIES, n), r, 0.0)),
    ("product", None, lambda r, n, s: _s(_pick(r, PRODUCTS, n), r, 0.0)),
    ("name", None, lambda r, n, s: _s(_pick(r, PRODUCT_LINES, n), r, 0.0)),
    ("phone_model", None, lambda r, n, s: _s(_pick(r, PHONE_MODELS, n), r, 0.03)),
    ("description", None, lambda r, n, s: _s(descriptions(r, n), r, 0.0)),
    ("is_active", None, lambda r, n, s: pd.Series(r.random(n) < 0.8)),
    ("email_opt_in", None, lambda r, n, s: pd.Series(r.random(n) < 0.35)),
    ("sensor_temp", None, lambda r, n, s: pd.Series(np.round(r.normal(21.5, 2.0, size=n), 3))),
    ("status", None, lambda r, n, s: _s(_pick(r, STATUSES, n), r, 0.0)),
]

COLUMNS = [name for name, _, _ in SPEC]
TRUTH: dict[str, str | None] = {name: kind for name, kind, _ in SPEC}


def table(rows: int = 100_000, seed: int = 0) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """The benchmark table (``rows`` rows, :data:`COLUMNS`) and its ground truth ``{column: kind or None}``."""
    shared: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for name, _, gen in SPEC:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        data[name] = gen(rng, rows, shared)
    return pd.DataFrame(data), dict(TRUTH)


def self_check(frame: pd.DataFrame) -> list[str]:
    """The generator's own checks on a table (valid values valid, lookalikes failing); a list of problems."""
    import phonenumbers as pn

    problems = []

    def values(col: str) -> list[Any]:
        return [v for v in frame[col].tolist() if v is not None]

    for col in ("iban", "Bankverbindung"):
        if not all(iban_valid(v) for v in values(col)):
            problems.append(f"{col}: an IBAN fails mod 97")
    if any(iban_valid(v) for v in values("ledger_ref")):
        problems.append("ledger_ref: a code passes mod 97")
    if not all(luhn_valid(v) for v in values("card_number")):
        problems.append("card_number: a number fails Luhn")
    if any(luhn_valid(v) for v in values("reference_no")):
        problems.append("reference_no: a number passes Luhn")
    if not all(steuer_valid(v) for v in values("steuer_id")):
        problems.append("steuer_id: an id fails the rule")
    if any(steuer_valid(v) for v in values("kundennummer")):
        problems.append("kundennummer: a number passes the rule")
    for v in values("numero_secu"):
        s = v.replace(" ", "")
        body = s[:13].replace("2A", "19").replace("2B", "18")
        if len(s) != 15 or 97 - int(body) % 97 != int(s[13:]):
            problems.append(f"numero_secu: bad key {v}")
            break
    for col, region in (("phone", None), ("Telefon", "DE"), ("col_17", "GB"), ("portable", "FR")):
        for v in values(col)[:2000]:
            if not pn.is_valid_number(pn.parse(v, region)):
                problems.append(f"{col}: invalid number {v}")
                break
    for v in values("order_number")[:2000]:
        if pn.is_valid_number(pn.parse(v, "US")):
            problems.append(f"order_number: valid US number {v}")
            break
    return problems


if __name__ == "__main__":  # a look at the table: python benchmarks/_pii_data.py [rows]
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    t = time.perf_counter()
    df, truth = table(n, 0)
    print(f"{len(df.columns)} columns x {len(df):,} rows in {time.perf_counter() - t:.1f} s")
    print("self-check:", self_check(df) or "ok")
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        for c in df.columns:
            print(f"{c:18s} {truth[c]!s:14s} {df[c].dtype!s:15s} {df[c].head(3).tolist()}")
