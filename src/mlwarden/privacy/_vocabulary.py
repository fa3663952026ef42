"""Words the PII detector reads: column-name hints in several languages, and the shipped word lists.

Column names are tokenised (:func:`name_tokens`: accents dropped, lower-cased, split at snake_case, kebab-case,
camelCase, digits and punctuation) and matched two ways: a *token* must equal a whole token of the name (short
words such as ``age``, ``zip``, ``tel``, ``nom``, whose letters occur inside unrelated words), a *stem* may occur
anywhere in the name's tokens joined together (long, specific pieces of compound words such as ``geburt`` in
``geburtsdatum``, ``telefon`` in ``telefonnummer``, ``postleitzahl``).

The word lists under ``data/`` (first names, last names, occupations, from the locale providers of Faker,
MIT licence, and a short list of common job titles written for mlwarden; see ``data/README.md``) load
once, on first use, into case-folded sets.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

__all__ = [
    "CONTEXT_EVENT_TIME",
    "CONTEXT_IDENTIFIER",
    "HINT_STEMS",
    "HINT_TOKENS",
    "NAME_NEGATIVE_TOKENS",
    "NAME_PARTICLES",
    "NAME_PREFIXES",
    "NAME_SUFFIXES",
    "OCCUPATION_STOP",
    "OCCUPATION_STRONG",
    "PERSON_CONTEXT",
    "PERSON_STRONG",
    "PHONE_CONTEXT",
    "SEX_BINARY",
    "SEX_LETTERS",
    "SEX_WORDS",
    "STREET_WORDS",
    "TIME_UNIT_TOKENS",
    "VERSION_TOKENS",
    "first_names",
    "hint_words",
    "last_names",
    "name_hints",
    "name_tokens",
    "occupations",
]

# kind -> tokens that, as a whole token of a column name, suggest the kind.
# fmt: off
HINT_TOKENS: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "mail", "courriel", "correo", "emailadresse", "mailadres", "posta", "epost"}),
    "phone": frozenset(
        {
            "phone", "tel", "tele", "telephone", "telefon", "telefono", "telefoon", "mobile", "mobil", "mobiel",
            "cell", "cellphone", "cellular", "handy", "fax", "gsm", "portable", "cellulare", "movil", "celular",
            "msisdn", "whatsapp", "telnr", "phonenumber", "mob", "natel", "puhelin", "telefone",
        }
    ),
    "iban": frozenset({"iban", "rib", "bic_iban"}),
    "payment_card": frozenset(
        {"card", "cc", "pan", "creditcard", "kreditkarte", "carte", "tarjeta", "carta", "cardnumber", "ccnum"}
    ),
    "us_ssn": frozenset({"ssn", "ssns", "socialsecurity", "sozialversicherung"}),
    "uk_nino": frozenset({"nino", "nin", "ni"}),
    "de_tax_id": frozenset({"steuerid", "idnr", "steuer", "tin", "taxid", "steuernummer", "steuerident"}),
    "fr_nir": frozenset({"nir", "insee", "secu", "nss"}),
    "ip_address": frozenset({"ip", "ipv4", "ipv6", "ipaddr", "ipaddress", "ipadresse", "ipadres", "ipdireccion"}),
    "person_name": frozenset(
        {
            "name", "names", "fullname", "firstname", "lastname", "surname", "surnames", "forename", "givenname",
            "familyname", "vorname", "nachname", "familienname", "nom", "noms", "prenom", "nombre", "nombres",
            "apellido", "apellidos", "nome", "cognome", "naam", "voornaam", "achternaam", "achternamen",
            "imie", "nazwisko", "fornavn", "efternavn", "etternavn", "fornamn", "efternamn", "sukunimi", "etunimi",
            "sobrenome", "contact", "contactperson", "patient", "signatory", "beneficiary", "cardholder",
            "holder", "recipient", "employee", "person", "kunde", "kundin", "ansprechpartner", "titulaire",
        }
    ),
    "free_text": frozenset(
        {
            "note", "notes", "comment", "comments", "remark", "remarks", "description", "message", "messages",
            "text", "body", "feedback", "bemerkung", "bemerkungen", "kommentar", "notiz", "notizen", "nachricht",
            "commentaire", "commentaires", "remarque", "comentario", "comentarios", "nota", "notas", "commento",
            "opmerking", "opmerkingen", "memo", "narrative", "summary", "details", "freetext", "review",
            "complaint", "transcript", "chat", "anmerkung", "observaciones", "observations",
        }
    ),
    "date_of_birth": frozenset(
        {"dob", "birth", "birthday", "birthdate", "born", "bday", "geburtstag", "geburtsdatum", "gebdat", "gebdatum",
         "naissance", "nacimiento", "nascita", "geboorte", "geboortedatum", "ddn", "fnac", "fechanac", "geb"}
    ),
    "postal_code": frozenset(
        {
            "zip", "zipcode", "postcode", "postal", "postalcode", "postleitzahl", "plz", "cp", "cap", "codepostal",
            "postnummer", "postnr", "eircode", "pincode", "cep", "npa", "postcodes", "zip5", "codpostal",
        }
    ),
    # "eta" is Italian eta (age, accent dropped); "yas" Turkish yas; "vek" Czech and Slovak.
    "age": frozenset({"age", "alter", "edad", "leeftijd", "idade", "wiek", "ages", "alder", "ika", "eta", "yas", "vek",
                      "lft", "vozrast"}),
    "sex": frozenset(
        {"sex", "gender", "geschlecht", "sexe", "genre", "sexo", "genero", "genere", "sesso", "geslacht", "kon",
         "plec", "kjonn", "sukupuoli"}
    ),
    "occupation": frozenset(
        {
            "occupation", "job", "jobtitle", "profession", "beruf", "berufsbezeichnung", "metier", "profesion",
            "ocupacion", "professione", "mestiere", "beroep", "functie", "employment", "taetigkeit", "tatigkeit",
            "emploi", "empleo", "lavoro", "yrke", "ammatti", "zawod", "profissao", "occupations", "jobs",
        }
    ),
}
# fmt: on

# kind -> stems that may occur anywhere in the column name's tokens joined together (compound words).
HINT_STEMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "courriel", "correoelec", "mailadres"),
    "phone": ("phone", "telefon", "telephon", "telefoon", "mobilnummer", "handynummer", "cellulare", "msisdn"),
    "iban": ("iban",),
    "payment_card": ("creditcard", "cardnumber", "kreditkart", "cartebancaire", "cartedecredit", "tarjetade"),
    "us_ssn": ("socialsecurity", "ssnumber"),
    "uk_nino": ("nationalinsurance", "ninumber", "ninonumber"),
    "de_tax_id": ("steueridentifikation", "steuerid", "steuerident", "identifikationsnummer"),
    "fr_nir": ("securitesociale", "numsecu", "numerosecu", "nirpp"),
    "ip_address": ("ipaddr", "ipadres", "adresseip", "ipv4", "ipv6"),
    "person_name": ("firstname", "lastname", "fullname", "surname", "givenname", "familyname", "vorname", "nachname",
                    "familienname", "prenom", "apellido", "cognome", "voornaam", "achternaam", "nazwisko"),
    "free_text": ("comment", "description", "freitext", "bemerkung", "kommentar", "remarque", "opmerking"),
    "date_of_birth": ("birth", "geburt", "naissance", "nacimiento", "nascita", "geboorte", "fechanac", "datanasc"),
    "postal_code": ("zipcode", "postcode", "postalcode", "postleitzahl", "codepostal", "codigopostal", "postnummer",
                    "codicepostale", "postcod"),
    "age": (),
    "sex": ("geschlecht", "gender"),
    "occupation": ("occupation", "profession", "beruf", "jobtitle", "berufsbez", "professione", "ocupacion"),
}  # fmt: skip

# A "name" in a column name that names something other than a person.
NAME_NEGATIVE_TOKENS = frozenset(
    {
        "product", "company", "firm", "item", "city", "town", "street", "file", "filename", "host", "hostname",
        "domain", "brand", "store", "shop", "bank", "org", "organization", "organisation", "team", "project",
        "dataset", "model", "user", "username", "login", "account", "screen", "display", "nick", "nickname",
        "country", "region", "state", "province", "category", "department", "dept", "ship", "vessel", "event",
        "campaign", "app", "device", "server", "table", "column", "field", "feature", "job", "role", "place",
        "venue", "school", "university", "hospital", "artikel", "produkt", "firma", "stadt", "ort", "ville",
        "ciudad", "citta", "stad", "straat", "strasse", "rue", "calle", "via", "pet", "animal", "breed", "plan",
        "tier", "color", "colour", "font", "package", "service", "browser", "os", "layer", "class", "type",
        "species", "course", "book", "song", "album", "movie", "game", "merchant", "vendor", "supplier",
        "employer", "entreprise", "societe", "empresa", "azienda", "bedrijf", "unternehmen", "land", "pays",
        "pais", "paese", "gemeente", "gemeinde", "commune", "municipio", "comune", "site", "location", "tag",
        "label", "metric", "queue", "bucket", "key", "building", "room", "unit", "business", "street_name",
        "airport", "airline", "station", "network", "carrier", "sender_domain", "group", "channel", "segment",
    }
)  # fmt: skip

# Tokens of a column name that say its values are identifiers or measurements of things, not people.
CONTEXT_IDENTIFIER = frozenset(
    {
        "id", "ids", "uuid", "guid", "order", "orders", "invoice", "tracking", "track", "sku", "ref", "reference",
        "serial", "batch", "lot", "ticket", "transaction", "txn", "shipment", "parcel", "product", "item", "part",
        "model", "count", "counts", "qty", "quantity", "num", "total", "amount", "price", "score", "rank",
        "version", "build", "release", "year", "level", "hash", "checksum", "sequence", "seq", "code",
        "barcode", "ean", "upc", "isbn", "booking", "confirmation", "reservation", "policy", "claim", "case",
        "account", "acct", "customer", "cust", "client", "user", "member", "voucher", "coupon", "promo", "pin",
        "bestellung", "bestellnummer", "rechnung", "commande", "facture", "pedido", "factura", "ordine",
        "fattura", "bestelling", "factuur", "weight", "height", "size", "duration", "views", "clicks", "visits",
        "balance", "revenue", "cost", "units", "stock", "inventory", "port", "pid", "index", "idx", "row",
        "record", "nr", "no", "number", "nummer", "numero",
    }
)  # fmt: skip

# Tokens of a column name that say its dates are events, not births.
CONTEXT_EVENT_TIME = frozenset(
    {
        "created", "updated", "modified", "deleted", "timestamp", "ts", "time", "datetime", "at", "event",
        "login", "logout", "signup", "registered", "registration", "purchase", "purchased", "order", "ordered",
        "shipped", "ship", "delivered", "delivery", "due", "expiry", "expires", "expiration", "exp", "start",
        "end", "begin", "last", "seen", "paid", "payment", "booking", "booked", "hire", "hired", "joined", "since",
        "valid", "until", "effective", "issued", "issue", "opened", "closed", "visit", "visited", "sent",
        "received", "published", "posted", "transaction", "activity", "scan", "scanned", "install", "installed",
        "erstellt", "geaendert", "bestelldatum", "lieferdatum", "creation", "modification", "fecha_pedido",
        "commande", "livraison", "envoi", "pedido", "entrega", "ordine", "consegna", "besteld", "levering",
        "termin", "appointment", "session", "renewal", "contract", "onboarded", "enrolled", "admission",
        "discharge", "incident", "report", "reported", "released", "launch", "launched", "founded", "maturity",
    }
)  # fmt: skip

# Tokens that say dotted numbers are versions, not IP addresses.
VERSION_TOKENS = frozenset({"version", "ver", "release", "build", "firmware", "fw", "sw", "software", "revision"})

# Words before a bare digit string in free text that make it a phone number.
PHONE_CONTEXT = re.compile(
    r"(?:phone|tel|telephone|call|mobile|cell|fax|ring|reach|whatsapp|sms|text|contact|telefon|telefono|"
    r"téléphone|appeler|appelez|anrufen|rufen|llamar|llame|chiamare|bellen|handy|portable|número|numero|nummer)"
    r"\W{0,3}(?:\w+\W{1,3}){0,3}$",
    re.IGNORECASE,
)

# Titles before a name and qualifications after it (compared case-folded, trailing dot dropped).
NAME_PREFIXES = frozenset(
    {
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "rev", "herr", "frau",
        "fr", "hr", "m", "mme", "mlle", "me", "sr", "sra", "srta", "don", "doña", "dona", "sig", "sig.ra", "sigra",
        "dott", "dott.ssa", "dottssa", "ing", "avv", "dhr", "mevr", "mw", "ir", "drs", "mag", "dipl", "dipl.-ing",
        "univ.prof", "pan", "pani", "hon", "capt", "col", "gen", "st", "fru", "hr.", "mgr", "bc", "doc",
    }
)  # fmt: skip
NAME_SUFFIXES = frozenset(
    {
        "jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "dds", "dvm", "esq", "mba", "bsc", "msc", "ba", "ma",
        "cpa", "rn", "do", "jd", "llm", "b.sc", "m.sc", "b.a", "m.a", "ph.d", "d.d.s", "d.v.m", "m.d", "mba.",
        "dipl.-ing", "dr", "msc.", "bsc.", "ing",
    }
)  # fmt: skip
# Lower-case particles inside a name (van der Berg, de la Cruz, von Bülow, dos Santos, bin Laden, al-...).
NAME_PARTICLES = frozenset(
    {
        "van", "von", "de", "der", "den", "del", "della", "delle", "dei", "di", "da", "dos", "das", "do", "du",
        "le", "la", "les", "y", "i", "e", "zu", "ten", "ter", "te", "bin", "ibn", "al", "el", "st", "vom", "zum",
        "zur", "het", "op", "af", "av", "und", "lo", "degli", "d'", "mac", "mc", "ben", "bint", "abu",
    }
)  # fmt: skip

# Values of a sex/gender column (case-folded, accents kept as written and without them).
SEX_WORDS = frozenset(
    {
        "male", "female", "man", "woman", "men", "women", "boy", "girl", "non-binary", "nonbinary", "non binary",
        "other", "diverse", "divers", "unknown", "prefer not to say", "not specified", "männlich", "maennlich",
        "mannlich", "weiblich", "homme", "femme", "masculin", "féminin", "feminin", "hombre", "mujer", "masculino",
        "femenino", "feminino", "maschio", "femmina", "maschile", "femminile", "uomo", "donna", "vrouw",
        "mannelijk", "vrouwelijk", "kvinna", "kvinde", "kvinne", "mand", "mann", "kobieta", "mężczyzna",
        "mezczyzna", "mies", "nainen", "muž", "žena", "erkek", "kad\u0131n", "kadin", "mâle", "autre", "otro", "otra",
        "altro", "anders", "andere", "inconnu", "desconocido", "sconosciuto", "onbekend", "unbekannt", "x",
        "intersex", "transgender", "genderqueer", "agender",
    }
)  # fmt: skip
# The words of SEX_WORDS that name one of the two binary sexes: a sex column has one of each kind.
SEX_BINARY = (
    frozenset({"male", "man", "men", "boy", "männlich", "maennlich", "mannlich", "homme", "masculin", "hombre",
               "masculino", "maschio", "maschile", "uomo", "mannelijk", "mand", "mann", "mężczyzna", "mezczyzna",
               "mies", "muž", "erkek", "mâle"}),
    frozenset({"female", "woman", "women", "girl", "weiblich", "femme", "féminin", "feminin", "mujer",
               "femenino", "feminino", "femmina", "femminile", "donna", "vrouw", "vrouwelijk", "kvinna", "kvinde",
               "kvinne", "kobieta", "nainen", "žena", "kad\u0131n", "kadin"}),
)  # fmt: skip
# One-letter codes of a sex column (M/F, M/W/D, H/F, M/V, X, U): these need a name hint.
SEX_LETTERS = frozenset({"m", "f", "w", "d", "h", "x", "u", "o", "v", "k", "n", "mf", "fm"})

# Words that occur in product names, places and companies, rarely in a person's name: a name column holds few.
OCCUPATION_STOP = frozenset({"and", "of", "the", "und", "de", "et", "y", "e", "di", "en", "&"})

# Person-name words of a column name that leave no doubt (``vorname``); the others (``name``, ``contact``,
# ``patient``) also name things or roles, so the values must show some known names as well.
PERSON_STRONG = frozenset(
    {
        "fullname", "firstname", "lastname", "surname", "surnames", "forename", "givenname", "familyname",
        "vorname", "nachname", "familienname", "prenom", "apellido", "apellidos", "cognome", "voornaam",
        "achternaam", "achternamen", "imie", "nazwisko", "fornavn", "efternavn", "etternavn", "fornamn",
        "efternamn", "sukunimi", "etunimi", "sobrenome",
    }
)  # fmt: skip

# Words of a column name that say its text is about people (notes on a patient, a customer's message).
PERSON_CONTEXT = frozenset(
    {
        "patient", "customer", "client", "user", "member", "employee", "staff", "applicant", "candidate",
        "student", "guest", "caller", "agent", "support", "kunde", "kunden", "mitarbeiter", "patienten",
        "klant", "cliente", "paciente", "paziente", "personal", "person", "contact", "hr", "case", "clinical",
        "doctor", "nurse", "medical", "incident", "complaint", "complaints", "ticket", "chat", "transcript",
    }
)  # fmt: skip

# Occupation words of a column name that leave no doubt; ``job`` alone also names batch jobs.
OCCUPATION_STRONG = frozenset(
    {
        "occupation", "occupations", "profession", "beruf", "berufsbezeichnung", "metier", "profesion",
        "ocupacion", "professione", "mestiere", "beroep", "yrke", "ammatti", "zawod", "profissao", "jobtitle",
        "job title", "berufsbez",
    }
)  # fmt: skip

# Units of time in a column name: an "age" in days or minutes is the age of a thing, not of a person.
TIME_UNIT_TOKENS = frozenset(
    {
        "days", "day", "hours", "hour", "hrs", "minutes", "minute", "mins", "min", "seconds", "second", "secs",
        "sec", "ms", "weeks", "week", "months", "month", "tage", "jours", "dias", "giorni", "dagen",
    }
)  # fmt: skip

# Words of a postal address (case-folded): a person's name next to one is the name of a street.
STREET_WORDS = frozenset(
    {
        "street", "st", "road", "rd", "avenue", "ave", "av", "boulevard", "blvd", "lane", "ln", "drive", "dr",
        "court", "ct", "place", "pl", "square", "sq", "plaza", "way", "ways", "walk", "walks", "gateway", "terrace",
        "crescent", "close", "parkway", "pkwy", "highway", "hwy", "route", "suite", "apt", "unit", "floor", "box",
        "po", "park", "row", "hill", "hills", "gardens", "mews", "grove", "green", "view", "vista", "trail",
        "calle", "camino", "paseo", "avenida", "ronda", "carrer", "callejon", "callejón", "vial", "acceso",
        "urbanizacion", "urbanización", "pasaje", "plazuela", "glorieta", "cañada", "canada", "rambla",
        "rue", "chemin", "allee", "allée", "impasse", "quai", "cours", "passage", "sentier",
        "strasse", "straße", "str", "weg", "platz", "gasse", "ring", "damm", "ufer", "chaussee",
        "via", "viale", "piazza", "corso", "vicolo", "largo", "contrada", "borgo", "strada", "piazzale",
        "straat", "laan", "plein", "gracht", "kade", "steeg", "dreef", "singel", "ulica", "ul", "rua",
        "travessa", "gatan", "gata", "vej", "vei", "veien", "tie", "katu",
    }
)  # fmt: skip

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")


def _fold(text: str) -> str:
    """Lower-case, accents dropped (``Téléphone`` -> ``telephone``, ``Straße`` -> ``strasse``)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def name_tokens(column: str) -> list[str]:
    """The tokens of a column name: ``"customerEmail_Address"`` -> ``["customer", "email", "address"]``."""
    spaced = _CAMEL.sub(" ", str(column))
    return [t for t in _SPLIT.split(_fold(spaced)) if t]


def hint_words(column: str) -> dict[str, str]:
    """The kinds a column's name suggests, each with the word of the name that suggests it.

    The word is the longest token or stem that matched (``first_name``: ``firstname``); a few two-word phrases (``social
    security``, ``national insurance``, ``job title``, ``zip code``, ...) count as hints too. A
    person-name word next to a word for a thing (``product_name``, ``city_name``, ``username``) is
    not a person hint, unless a specific stem (``firstname``, ``nachname``) says otherwise.
    """
    tokens = name_tokens(column)
    joined = "".join(tokens)
    token_set = set(tokens)
    found: dict[str, str] = {}
    for kind, words in HINT_TOKENS.items():
        matched = [t for t in tokens if t in words] + [stem for stem in HINT_STEMS[kind] if stem in joined]
        if matched:
            found[kind] = max(matched, key=len)  # the most specific: "firstname" over "name"
    if "person_name" in found and token_set & NAME_NEGATIVE_TOKENS and not _person_stem(joined):
        del found["person_name"]
    phrases = (
        ("email", {"e", "mail"}, None),
        ("us_ssn", {"social", "security"}, None),
        ("uk_nino", {"national", "insurance"}, None),
        ("occupation", {"job", "title"}, None),
        ("de_tax_id", {"tax"}, {"id", "identification", "identifier", "de", "steuer"}),
        ("ip_address", {"addr"}, {"remote", "client", "source", "src", "dst", "host"}),
        ("postal_code", {"code"}, {"post", "postal", "zip"}),
        ("date_of_birth", {"date"}, {"naiss", "nac", "nasc", "geb"}),
        ("payment_card", {"credit"}, {"card", "number", "no", "nr"}),
    )
    for kind, needed, one_of in phrases:
        if needed <= token_set and (one_of is None or token_set & one_of):
            found[kind] = " ".join(t for t in tokens if t in needed or (one_of and t in one_of))
    return found


def _person_stem(joined: str) -> bool:
    return any(stem in joined for stem in HINT_STEMS["person_name"])


def name_hints(column: str) -> set[str]:
    """The kinds a column's name suggests (possibly none, possibly several)."""
    return set(hint_words(column))


def _load(filename: str) -> frozenset[str]:
    text = resources.files("mlwarden.privacy").joinpath("data", filename).read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


@functools.cache
def first_names() -> frozenset[str]:
    """Given names of many locales, case-folded."""
    return _load("first_names.txt")


@functools.cache
def last_names() -> frozenset[str]:
    """Family names of many locales, case-folded."""
    return _load("last_names.txt")


@functools.cache
def occupations() -> frozenset[str]:
    """Job titles of many locales, case-folded: Faker's, plain common ones, and the head of each title
    (``Teacher, primary school`` -> ``teacher``; ``Fachinformatiker (Systemintegration)`` ->
    ``fachinformatiker``)."""
    titles = _load("occupations.txt") | _load("occupations_common.txt")
    heads = {_OCCUPATION_HEAD.split(title, maxsplit=1)[0].strip() for title in titles}
    return titles | {h for h in heads if len(h) >= 3}


_OCCUPATION_HEAD = re.compile(r"[,(/]| - ")
