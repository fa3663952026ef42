"""The access model's pure parts: the role table (and its copy in docs/access.md), scopes, grants,
durations and tokens. No workspace is opened here."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.access import (
    GRANTABLE,
    PERMISSIONS,
    ROLES,
    SCOPED_KINDS,
    Principal,
    check_role,
    check_scope,
    hash_token,
    new_token,
    parse_duration,
    parse_token,
    scope_covers,
)
from mlwarden.access._tokens import tokens_equal
from mlwarden.errors import BadInput

DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"
DOC_HEADER = (
    "| permission | admin | steward | scientist | deployer | reviewer | privacy-officer | auditor | client |"
    " explained-client |"
)
TOKEN = re.compile(r"mlw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
CHECK = "\u2713"


def principal(role: str, *scopes: str, name: str = "p") -> Principal:
    return Principal(
        name=name,
        kind="user",
        role=role,
        scopes=scopes or ("*",),
        created="2026-01-01T00:00:00.000000Z",
        created_by="test",
        expires=None,
        revoked=None,
        revoked_by=None,
        token_id="0" * 16,
    )


# --------------------------------------------------------------------------------------------
# the role table
# --------------------------------------------------------------------------------------------


def test_roles_use_only_known_permissions() -> None:
    assert set(ROLES) == {
        "admin",
        "steward",
        "scientist",
        "deployer",
        "reviewer",
        "privacy-officer",
        "auditor",
        "client",
        "explained-client",
    }
    for role, permissions in ROLES.items():
        assert permissions <= set(PERMISSIONS), (role, sorted(permissions - set(PERMISSIONS)))
    for permission in PERMISSIONS:
        kind, dot, verb = permission.partition(".")
        assert permission == "predict" or (dot and kind and verb), permission


def test_admin_has_every_permission() -> None:
    assert ROLES["admin"] == frozenset(PERMISSIONS)


def test_auditor_never_reads_data_nor_predicts() -> None:
    auditor = ROLES["auditor"]
    assert "dataset.read" not in auditor
    assert "dataset.write" not in auditor
    assert "dataset.shred" not in auditor
    assert "predict" not in auditor
    assert "file.decrypt" not in auditor
    assert {"log.read", "log.checkpoint"} <= auditor


def test_client_may_only_predict() -> None:
    assert ROLES["client"] == frozenset({"predict"})


def test_only_admin_has_key_admin_and_scientist_cannot_write() -> None:
    assert [r for r, p in ROLES.items() if "key.admin" in p] == ["admin"]
    assert "dataset.write" not in ROLES["scientist"]
    assert "dataset.read" in ROLES["scientist"]
    assert not {p for p in ROLES["deployer"] if p.startswith("dataset.")}


def test_grantable_rules() -> None:
    assert set(GRANTABLE) == {"admin", "steward"}
    assert GRANTABLE["admin"] == frozenset(ROLES)
    assert GRANTABLE["steward"] == frozenset({"scientist", "auditor"})
    for granter, roles in GRANTABLE.items():
        assert "user.manage" in ROLES[granter]
        assert roles <= set(ROLES)
    # Nobody else may manage principals at all.
    assert {r for r, p in ROLES.items() if "user.manage" in p} == set(GRANTABLE)


def test_check_role() -> None:
    for role in ROLES:
        assert check_role(role) == role
    for bad in ("", "Admin", "root", "admin "):
        with pytest.raises(BadInput, match="unknown role"):
            check_role(bad)


# --------------------------------------------------------------------------------------------
# docs/access.md agrees with ROLES
# --------------------------------------------------------------------------------------------


def _doc_role_table(text: str) -> tuple[list[str], dict[str, set[str]], list[str]]:
    """(roles of the header, permission -> roles granted, permissions in row order)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == DOC_HEADER]
    assert len(starts) == 1, f"expected exactly one role table headed {DOC_HEADER!r} in {DOC}"
    start = starts[0]
    roles = [c.strip() for c in lines[start].strip().strip("|").split("|")][1:]
    separator = lines[start + 1].strip()
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", separator), separator
    granted: dict[str, set[str]] = {}
    order: list[str] = []
    for line in lines[start + 2 :]:
        if not line.strip().startswith("|"):
            break
        cells = [c.strip() for c in line.strip()[1:-1].split("|")]
        assert line.strip().endswith("|"), line
        assert len(cells) == len(roles) + 1, line
        permission, marks = cells[0].strip("`"), cells[1:]
        for mark in marks:
            assert mark in (CHECK, ""), f"cell {mark!r} in row {line!r} is neither {CHECK} nor empty"
        order.append(permission)
        granted[permission] = {role for role, mark in zip(roles, marks, strict=True) if mark == CHECK}
    return roles, granted, order


def test_docs_role_table_matches_roles() -> None:
    if not DOC.exists():
        pytest.skip(f"{DOC} is not written yet")
    roles, granted, order = _doc_role_table(DOC.read_text(encoding="utf-8"))
    assert roles == list(ROLES)
    assert len(order) == len(set(order)), f"a permission appears twice: {order}"
    assert set(order) == set(PERMISSIONS), (
        f"missing from the doc: {sorted(set(PERMISSIONS) - set(order))}; "
        f"unknown in the doc: {sorted(set(order) - set(PERMISSIONS))}"
    )
    for permission in PERMISSIONS:
        expected = {role for role, perms in ROLES.items() if permission in perms}
        assert granted[permission] == expected, permission


# --------------------------------------------------------------------------------------------
# scopes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["credit-*", "*", "credit-german", "a.b_c-1", "x*y*z", "A9", "*-2024"])
def test_check_scope_accepts_name_patterns(pattern: str) -> None:
    assert check_scope(pattern) == pattern


_BAD_SCOPES = [
    *("", "/", "a/b", "credit-*/..", "..", "..x", ".hidden", "-x"),
    *("credit *", " credit", "credit-?", "credit-[ab]", "[a]", "a\nb", "a\\b", "x" * 129, "cr\u00e9dit"),
]


@pytest.mark.parametrize("pattern", _BAD_SCOPES)
def test_check_scope_rejects_other_patterns(pattern: str) -> None:
    with pytest.raises(BadInput, match="scope"):
        check_scope(pattern)


def test_check_scope_length_limit() -> None:
    assert check_scope("x" * 128) == "x" * 128


@pytest.mark.parametrize("inner", ["credit-g*", "credit-german", "credit-*", "credit-*-2024", "credit-"])
def test_credit_star_covers(inner: str) -> None:
    assert scope_covers(["credit-*"], inner)


@pytest.mark.parametrize("inner", ["*", "cred*", "hr-*", "credit", "credi*", "*credit-x", "hr-salaries"])
def test_credit_star_does_not_cover(inner: str) -> None:
    assert not scope_covers(["credit-*"], inner)


def test_scope_covers_with_several_or_no_outer_scopes() -> None:
    assert scope_covers(["hr-*", "credit-*"], "credit-german")
    assert scope_covers(["hr-*", "credit-*"], "hr-*")
    assert not scope_covers(["hr-*", "credit-*"], "*")
    assert scope_covers(["*"], "*")
    assert scope_covers(["*"], "anything-at-all")
    assert not scope_covers([], "credit-german")


_PATTERN = st.text(alphabet="ab-*", min_size=0, max_size=7)
_NAME = st.text(alphabet="ab-", min_size=0, max_size=9)


@settings(max_examples=400, deadline=None)
@given(outer=_PATTERN, inner=_PATTERN, names=st.lists(_NAME, max_size=8))
def test_scope_covers_is_sound_on_random_names(outer: str, inner: str, names: list[str]) -> None:
    if scope_covers([outer], inner):
        for name in names:
            if fnmatchcase(name, inner):
                assert fnmatchcase(name, outer), (outer, inner, name)


@settings(max_examples=400, deadline=None)
@given(outer=_PATTERN, inner=_PATTERN, data=st.data())
def test_scope_covers_is_sound_on_names_made_from_the_inner_pattern(
    outer: str, inner: str, data: st.DataObject
) -> None:
    """Names that certainly match ``inner``: each ``*`` replaced by a random run of characters."""
    if not scope_covers([outer], inner):
        return
    parts = inner.split("*")
    fills = [data.draw(_NAME) for _ in parts[1:]]
    name = parts[0] + "".join(fill + part for fill, part in zip(fills, parts[1:], strict=True))
    assert fnmatchcase(name, inner)
    assert fnmatchcase(name, outer), (outer, inner, name)


@settings(max_examples=300, deadline=None)
@given(inner=_PATTERN, data=st.data())
def test_generalised_patterns_cover_and_are_sound(inner: str, data: st.DataObject) -> None:
    """An outer pattern made from ``inner`` by replacing runs with ``*`` covers it, and soundly."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(inner)), max_size=4)))
    outer, start = "", 0
    for i in range(0, len(cuts) - 1, 2):
        outer += inner[start : cuts[i]] + "*"
        start = cuts[i + 1]
    outer += inner[start:]
    assert scope_covers([outer], inner), (outer, inner)
    parts = inner.split("*")
    fills = [data.draw(_NAME) for _ in parts[1:]]
    name = parts[0] + "".join(fill + part for fill, part in zip(fills, parts[1:], strict=True))
    assert fnmatchcase(name, outer), (outer, inner, name)


@settings(max_examples=300, deadline=None)
@given(pattern=_PATTERN)
def test_a_pattern_covers_itself_and_star_covers_all(pattern: str) -> None:
    assert scope_covers([pattern], pattern)
    assert scope_covers(["*"], pattern)


# --------------------------------------------------------------------------------------------
# Principal.allows and may_grant
# --------------------------------------------------------------------------------------------


def test_scoped_scientist_allows() -> None:
    alice = principal("scientist", "credit-*", name="alice")
    assert alice.allows("dataset.read", "dataset:credit-german")
    assert alice.allows("dataset.list", "dataset:credit-german")
    assert alice.allows("dataset.list", "dataset")  # the listing itself; filtered afterwards
    assert alice.allows("model.read", "model:credit-risk")
    assert not alice.allows("dataset.read", "dataset:hr-salaries")
    assert not alice.allows("dataset.list", "dataset:hr-salaries")
    assert not alice.allows("model.read", "model:hr-attrition")
    assert not alice.allows("dataset.write", "dataset:credit-german")
    assert not alice.allows("log.read", "log")
    assert not alice.allows("user.manage", "user:bob")
    assert not alice.allows("no.such", "dataset:credit-german")


def test_scopes_do_not_narrow_unscoped_kinds() -> None:
    steward = principal("steward", "credit-*")
    assert steward.allows("user.manage", "user:anyone")
    assert steward.allows("log.read", "log")
    assert steward.allows("key.rotate", "keyring")
    assert not steward.allows("dataset.write", "dataset:hr-salaries")
    assert set(SCOPED_KINDS) == {"dataset", "model"}


def test_every_role_allows_exactly_its_permissions() -> None:
    for role, permissions in ROLES.items():
        p = principal(role)
        for permission in PERMISSIONS:
            assert p.allows(permission, "dataset:credit-german") == (permission in permissions), (role, permission)


def test_unknown_role_allows_nothing() -> None:
    ghost = principal("superuser")
    assert not any(ghost.allows(p, "log") for p in PERMISSIONS)


def test_may_grant() -> None:
    admin = principal("admin", name="root")
    for role in ROLES:
        assert admin.may_grant(role, ("*",)) is None
    steward = principal("steward", name="sam")
    assert steward.may_grant("scientist", ("*",)) is None
    assert steward.may_grant("auditor", ("credit-*",)) is None
    for role in ("admin", "steward", "deployer", "client"):
        why = steward.may_grant(role, ("credit-*",))
        assert why is not None
        assert role in why
    scoped = principal("steward", "credit-*", name="sue")
    assert scoped.may_grant("scientist", ("credit-g*",)) is None
    assert scoped.may_grant("scientist", ("credit-german", "credit-*")) is None
    for wider in (("*",), ("hr-*",), ("credit-g*", "hr-*"), ("cred*",)):
        why = scoped.may_grant("scientist", wider)
        assert why is not None
        assert "wider" in why
    for role in ("scientist", "deployer", "auditor", "client"):
        why = principal(role).may_grant("scientist", ("credit-*",))
        assert why is not None
        assert "none" in why


# --------------------------------------------------------------------------------------------
# durations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("1m", timedelta(minutes=1)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0d", "1y", "-1d", "", "30", "d", "1.5h", "30D", "1x", "01d", "1 d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(BadInput, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text", ["36526d", "5218w", "1000000d", "52596001m", "876601h", "9" * 30 + "d", "9" * 5000 + "w"]
)
def test_parse_duration_over_the_cap_says_the_cap(text: str) -> None:
    with pytest.raises(BadInput, match=r"longer than the longest lifetime, 36525 days \(100 years, 5217w\)") as raised:
        parse_duration(text)
    assert "not a duration" not in str(raised.value)


def test_parse_duration_accepts_the_cap_itself() -> None:
    assert parse_duration("36525d") == timedelta(days=36525)
    assert parse_duration("52596000m") == timedelta(days=36525)


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


def test_new_token_format_and_secret_size() -> None:
    parsed = new_token()
    assert TOKEN.fullmatch(parsed.token), parsed.token
    prefix, token_id, secret = parsed.token.split("_", 2)
    assert prefix == "mlw"
    assert token_id == parsed.token_id
    assert len(secret) == 43
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32  # 256 bits
    assert parsed.token not in repr(parsed)
    assert secret not in repr(parsed)


def test_new_tokens_differ() -> None:
    tokens = [new_token() for _ in range(50)]
    assert len({t.token_id for t in tokens}) == 50
    assert len({t.token.split("_", 2)[2] for t in tokens}) == 50


def test_parse_token_round_trip() -> None:
    parsed = new_token()
    again = parse_token(parsed.token)
    assert again == parsed
    assert parse_token(f"  {parsed.token}\n") == parsed  # as read from a file or an environment


def test_parse_token_rejects_variants() -> None:
    token = new_token().token
    _, token_id, secret = token.split("_", 2)
    variants = [
        "",
        "mlw",
        "mlw__",
        token[:-1],
        token + "A",
        token.replace("mlw_", "mlx_", 1),
        token.replace("mlw_", "MLW_", 1),
        token.replace("mlw_", "", 1),
        f"mlw_{token_id.upper() if token_id.upper() != token_id else 'G' + token_id[1:]}_{secret}",
        f"mlw_{token_id[:-1]}_{secret}",
        f"mlw_{token_id}0_{secret}",
        f"mlw_{token_id}_{secret[:-1]}+",
        f"mlw_{token_id}_{secret[:-1]}/",
        f"mlw_{token_id}_{secret[:-1]}=",
        f"mlw_{token_id}_{secret}=",
        f"mlw_{token_id}-{secret}",
        f"mlw_{token_id}_{secret[:20]} {secret[21:]}",
        f"Bearer {token}",
        f"{token} {token}",
    ]
    for variant in variants:
        assert parse_token(variant) is None, variant


def test_hash_token_is_domain_separated_sha256_and_differs_per_token() -> None:
    a, b = new_token().token, new_token().token
    assert hash_token(a) == hashlib.sha256(b"mlwarden-token-v1\x00" + a.encode()).hexdigest()
    assert hash_token(a) != hashlib.sha256(a.encode()).hexdigest()
    assert hash_token(a) != hash_token(b)
    assert hash_token(a) == hash_token(a)
    assert a not in hash_token(a)


def test_tokens_equal() -> None:
    a, b = new_token().token, new_token().token
    assert tokens_equal(hash_token(a), a)
    assert not tokens_equal(hash_token(a), b)
    assert not tokens_equal(hash_token(a), a[:-1] + ("A" if a[-1] != "A" else "B"))
    assert not tokens_equal(hash_token(""), a)
    assert not tokens_equal(a, a)  # the stored value is the hash, never the token


def test_the_cli_offers_exactly_the_roles_of_the_table() -> None:
    from mlwarden.cli._users import ROLE_NAMES

    assert list(ROLES) == ROLE_NAMES
