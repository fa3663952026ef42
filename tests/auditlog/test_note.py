"""``mlwarden.auditlog._note``: C2SP signed notes and tlog checkpoints, Ed25519 only.

The reference implementation's example (``golang.org/x/mod/sumdb/note``: Peter Neumann's key and
quote) must be reproduced byte for byte, since Ed25519 signatures are deterministic, and the C2SP
signed-note spec's example must open. Then every tampering of a note (its text, its signature, the
key name, duplicate or missing signatures, a broken layout) is an :class:`IntegrityError`, every
malformed key string a :class:`BadInput`, and checkpoint bodies round-trip and reject malformed
size and root lines.
"""

from __future__ import annotations

import base64
import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.auditlog._note import (
    CheckpointBody,
    NoteSigner,
    NoteVerifier,
    key_id,
    open_note,
    parse_checkpoint_body,
)
from mlwarden.errors import BadInput, IntegrityError

# golang.org/x/mod/sumdb/note, example_test.go
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_NOTE = GO_TEXT + "\n" + "\u2014 PeterNeumann " + GO_SIGNATURE + "\n"

# C2SP signed-note specification example
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_TEXT = "This is an example message.\n"
C2SP_NOTE = (
    C2SP_TEXT
    + "\n\u2014 example.com/foo "
    + "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

GO_PUBLIC = base64.b64decode(GO_VKEY.split("+")[2])[1:]
GO_SEED = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
OTHER_SIGNER = NoteSigner.from_seed("PeterNeumann", bytes(range(32)))
STRANGER = NoteSigner.from_seed("stranger.example/log", bytes(range(1, 33)))
ROOT = bytes(range(32))


def _go_verifier() -> NoteVerifier:
    return NoteVerifier.from_key_string(GO_VKEY)


def _go_signer() -> NoteSigner:
    return NoteSigner.from_key_string(GO_SKEY)


def _signature_line(signer: NoteSigner, text: str) -> str:
    return signer.sign(text)[len(text) + 1 :]


def _vkey(name: str, hex_id: str, raw: bytes) -> str:
    return f"{name}+{hex_id}+{base64.b64encode(raw).decode()}"


# -- the reference examples -------------------------------------------------------------------


def test_go_example_signs_byte_for_byte() -> None:
    signer = _go_signer()
    assert signer.name == "PeterNeumann"
    assert signer.sign(GO_TEXT) == GO_NOTE
    assert signer.verifier.key_string() == GO_VKEY


def test_go_example_verifier_key_round_trips() -> None:
    verifier = _go_verifier()
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == 0xC74F20A3
    assert verifier.public_key == GO_PUBLIC
    assert verifier.key_string() == GO_VKEY
    assert key_id("PeterNeumann", GO_PUBLIC) == 0xC74F20A3


def test_go_example_opens() -> None:
    assert open_note(GO_NOTE, _go_verifier()) == GO_TEXT


def test_go_example_signer_from_seed_matches_key_string() -> None:
    signer = NoteSigner.from_seed("PeterNeumann", GO_SEED)
    assert signer.sign(GO_TEXT) == GO_NOTE


def test_c2sp_spec_example_opens() -> None:
    verifier = NoteVerifier.from_key_string(C2SP_VKEY)
    assert verifier.key_string() == C2SP_VKEY
    assert open_note(C2SP_NOTE, verifier) == C2SP_TEXT


def test_c2sp_example_is_not_opened_by_the_go_key() -> None:
    with pytest.raises(IntegrityError):
        open_note(C2SP_NOTE, _go_verifier())


# -- tampering ----------------------------------------------------------------------------------


def test_every_changed_character_of_the_text_fails() -> None:
    verifier = _go_verifier()
    for position, char in enumerate(GO_TEXT):
        for replacement in {chr(ord(char) ^ 1), "\u00e9", "\n", " "} - {char}:
            note = GO_NOTE[:position] + replacement + GO_NOTE[position + 1 :]
            with pytest.raises(IntegrityError):
                open_note(note, verifier)


def test_inserted_or_deleted_text_fails() -> None:
    verifier = _go_verifier()
    for position in range(len(GO_TEXT)):
        with pytest.raises(IntegrityError):
            open_note(GO_NOTE[:position] + "x" + GO_NOTE[position:], verifier)
        with pytest.raises(IntegrityError):
            open_note(GO_NOTE[:position] + GO_NOTE[position + 1 :], verifier)


def test_every_flipped_bit_of_the_signature_blob_fails() -> None:
    verifier = _go_verifier()
    blob = base64.b64decode(GO_SIGNATURE)
    assert len(blob) == 4 + 64
    for bit in range(len(blob) * 8):
        bad = bytearray(blob)
        bad[bit // 8] ^= 1 << (bit % 8)
        note = GO_NOTE.replace(GO_SIGNATURE, base64.b64encode(bytes(bad)).decode())
        with pytest.raises(IntegrityError):
            open_note(note, verifier)


def test_every_changed_character_of_the_signature_fails() -> None:
    verifier = _go_verifier()
    start = GO_NOTE.index(GO_SIGNATURE)
    original = base64.b64decode(GO_SIGNATURE)
    for offset, char in enumerate(GO_SIGNATURE):
        # Non-ASCII replacements are covered by test_non_ascii_signature_fails_cleanly (a src bug).
        for replacement in {"A", "z", "+", "/", "0", "=", "*", " ", "-", "_"} - {char}:
            signature = GO_SIGNATURE[:offset] + replacement + GO_SIGNATURE[offset + 1 :]
            note = GO_NOTE[: start + offset] + replacement + GO_NOTE[start + offset + 1 :]
            try:
                same_bytes = base64.b64decode(signature, validate=True) == original
            except ValueError:
                same_bytes = False
            if same_bytes:  # only the unused bits of the last base64 digit changed
                assert open_note(note, verifier) == GO_TEXT
            else:
                with pytest.raises(IntegrityError):
                    open_note(note, verifier)


def test_truncated_or_extended_signature_fails() -> None:
    verifier = _go_verifier()
    blob = base64.b64decode(GO_SIGNATURE)
    for bad in (blob[:-1], blob[:5], blob[:4], b"", blob + b"\x00", blob[:4] + blob[5:]):
        note = GO_NOTE.replace(GO_SIGNATURE, base64.b64encode(bad).decode())
        with pytest.raises(IntegrityError):
            open_note(note, verifier)


@pytest.mark.parametrize("name", ["PeterNeumanm", "peterneumann", "PeterNeumann2", "Peter", "x"])
def test_wrong_key_name_in_the_signature_line_fails(name: str) -> None:
    note = GO_NOTE.replace("\u2014 PeterNeumann ", f"\u2014 {name} ")
    with pytest.raises(IntegrityError, match="not signed by PeterNeumann"):
        open_note(note, _go_verifier())


def test_verifier_with_another_name_for_the_same_key_fails() -> None:
    verifier = NoteVerifier("PeterNeumann2", GO_PUBLIC)
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE, verifier)


def test_note_signed_by_another_key_only_fails() -> None:
    # Same name, other key: the key id differs, so the signature is ignored and none is left.
    with pytest.raises(IntegrityError, match="not signed by"):
        open_note(OTHER_SIGNER.sign(GO_TEXT), _go_verifier())
    with pytest.raises(IntegrityError, match="not signed by"):
        open_note(STRANGER.sign(GO_TEXT), _go_verifier())


def test_signature_with_the_right_key_id_but_another_key_fails() -> None:
    forged = bytearray(base64.b64decode(_signature_line(OTHER_SIGNER, GO_TEXT).split(" ")[2]))
    forged[:4] = (0xC74F20A3).to_bytes(4, "big")
    note = f"{GO_TEXT}\n\u2014 PeterNeumann {base64.b64encode(bytes(forged)).decode()}\n"
    with pytest.raises(IntegrityError, match="does not verify"):
        open_note(note, _go_verifier())


def test_two_signatures_by_the_same_key_fail() -> None:
    line = _signature_line(_go_signer(), GO_TEXT)
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE + line, _go_verifier())
    stranger_line = _signature_line(STRANGER, GO_TEXT)
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE + stranger_line + line, _go_verifier())


def test_extra_signature_by_an_unknown_key_still_opens() -> None:
    stranger_line = _signature_line(STRANGER, GO_TEXT)
    other_line = _signature_line(OTHER_SIGNER, GO_TEXT)
    own_line = _signature_line(_go_signer(), GO_TEXT)
    verifier = _go_verifier()
    assert open_note(GO_NOTE + stranger_line, verifier) == GO_TEXT
    assert open_note(GO_TEXT + "\n" + stranger_line + own_line, verifier) == GO_TEXT
    assert open_note(GO_TEXT + "\n" + other_line + own_line + stranger_line, verifier) == GO_TEXT
    assert open_note(GO_NOTE + stranger_line, STRANGER.verifier) == GO_TEXT


def test_missing_blank_line_fails() -> None:
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE.replace("\n\n\u2014", "\n\u2014"), _go_verifier())


def test_missing_final_newline_fails() -> None:
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE[:-1], _go_verifier())


@pytest.mark.parametrize(
    "note",
    [
        "",
        "\n",
        "\n\n",
        GO_TEXT,
        GO_TEXT + "\n",
        GO_NOTE + "\n",
        GO_NOTE + "trailing garbage\n",
        GO_NOTE.replace("\u2014 ", "-- "),
        GO_NOTE.replace("\u2014 ", "\u2014"),
        GO_NOTE.replace("\u2014 PeterNeumann ", "\u2014  "),
        GO_NOTE.replace("\n\n", "\n\n\n"),
        GO_NOTE.replace("\n", "\r\n"),
        "\n" + GO_NOTE,
    ],
)
def test_malformed_layouts_fail(note: str) -> None:
    with pytest.raises(IntegrityError):
        open_note(note, _go_verifier())


@pytest.mark.parametrize("signature", ["!!!!", "x08go/ZJ kuBS9UG", "x08go/ZJkuBS9UG", "====", "x08go-ZJkuBS9UG_"])
def test_non_base64_signature_fails(signature: str) -> None:
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE.replace(GO_SIGNATURE, signature), _go_verifier())


def test_more_than_one_hundred_signature_lines_fail() -> None:
    stranger_line = _signature_line(STRANGER, GO_TEXT)
    verifier = _go_verifier()
    assert open_note(GO_NOTE + stranger_line * 99, verifier) == GO_TEXT
    with pytest.raises(IntegrityError, match="too many signatures"):
        open_note(GO_NOTE + stranger_line * 100, verifier)
    with pytest.raises(IntegrityError, match="too many signatures"):
        open_note(GO_TEXT + "\n" + stranger_line * 1000 + _signature_line(_go_signer(), GO_TEXT), verifier)


@pytest.mark.parametrize("signature", ["\u00e9\u00e9\u00e9\u00e9", "\u00e9" + GO_SIGNATURE[1:]])
def test_non_ascii_signature_fails_cleanly(signature: str) -> None:
    with pytest.raises(IntegrityError):
        open_note(GO_NOTE.replace(GO_SIGNATURE, signature), _go_verifier())


def test_non_ascii_signer_key_is_bad_input() -> None:
    with pytest.raises(BadInput):
        NoteSigner.from_key_string(GO_SKEY.replace("AYEK", "\u00e9YEK"))


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(GO_NOTE)),
    cut=st.integers(min_value=0, max_value=4),
    insert=st.text(st.characters(max_codepoint=127), max_size=4),
)
def test_spliced_notes_open_to_the_original_text_or_fail_cleanly(position: int, cut: int, insert: str) -> None:
    note = GO_NOTE[:position] + insert + GO_NOTE[position + cut :]
    try:
        text = open_note(note, _go_verifier())
    except IntegrityError:
        return
    assert text == GO_TEXT


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(GO_TEXT) - 1),
    cut=st.integers(min_value=0, max_value=4),
    insert=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=4),
)
def test_unicode_spliced_into_the_text_fails_cleanly(position: int, cut: int, insert: str) -> None:
    # Keeps the text's final newline, so the signature block stays the original one: non-ASCII in
    # a signature line hits the src bug of test_non_ascii_signature_fails_cleanly.
    note = GO_NOTE[:position] + insert + GO_NOTE[min(position + cut, len(GO_TEXT) - 1) :]
    try:
        text = open_note(note, _go_verifier())
    except IntegrityError:
        return
    assert text == GO_TEXT


@settings(max_examples=300, deadline=None)
@given(note=st.text(max_size=300))
def test_arbitrary_notes_fail_cleanly(note: str) -> None:
    with pytest.raises(IntegrityError):
        open_note(note, _go_verifier())


def test_note_text_with_a_lone_surrogate_fails_cleanly() -> None:
    blob = (0xC74F20A3).to_bytes(4, "big") + bytes(64)
    note = f"\ud800\n\n\u2014 PeterNeumann {base64.b64encode(blob).decode()}\n"
    with pytest.raises(IntegrityError):
        open_note(note, _go_verifier())


# -- signing ------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), min_size=1, max_size=30),
        min_size=1,
        max_size=5,
    )
)
def test_sign_then_open_round_trips(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    signer = _go_signer()
    note = signer.sign(text)
    assert open_note(note, signer.verifier) == text
    with pytest.raises(IntegrityError):
        open_note(note, OTHER_SIGNER.verifier)


@pytest.mark.parametrize("text", ["", "no final newline", "blank\n\nline\n", "carriage\r\n", "\n\n"])
def test_sign_rejects_text_that_cannot_be_a_note(text: str) -> None:
    with pytest.raises(BadInput):
        _go_signer().sign(text)


def test_signer_cannot_be_pickled() -> None:
    signer = _go_signer()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(signer, protocol=protocol)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)


def test_verifier_alone_rejects_wrong_signatures() -> None:
    verifier = _go_verifier()
    signature = _go_signer().sign_raw(GO_TEXT.encode())
    assert verifier.verify(GO_TEXT.encode(), signature)
    assert not verifier.verify(GO_TEXT.encode() + b"x", signature)
    assert not verifier.verify(GO_TEXT.encode(), signature[:-1])
    assert not verifier.verify(GO_TEXT.encode(), b"")


# -- malformed keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        _vkey("PeterNeumann", "c74f20a4", b"\x01" + GO_PUBLIC),  # wrong id
        _vkey("PeterNeumann", "c74f20a", b"\x01" + GO_PUBLIC),  # short id
        _vkey("PeterNeumann", "c74f20a30", b"\x01" + GO_PUBLIC),  # long id
        _vkey("PeterNeumann", "c74f20ag", b"\x01" + GO_PUBLIC),  # not hex
        _vkey("PeterNeumann", "", b"\x01" + GO_PUBLIC),
        _vkey("PeterNeumann", "c74f20a3", b"\x02" + GO_PUBLIC),  # not Ed25519
        _vkey("PeterNeumann", "c74f20a3", GO_PUBLIC),  # no algorithm byte
        _vkey("PeterNeumann", "c74f20a3", b"\x01" + GO_PUBLIC[:31]),
        _vkey("PeterNeumann", "c74f20a3", b"\x01" + GO_PUBLIC + b"\x00"),
        GO_VKEY[:-1],  # bad base64 padding
        GO_VKEY.replace("ARpc", "AR!c"),  # not base64
        GO_VKEY + "\n",
        GO_VKEY.replace("PeterNeumann", "Peter Neumann"),  # space in the name
        GO_VKEY.replace("PeterNeumann", "Peter+Neumann"),  # '+' in the name
        GO_VKEY.replace("PeterNeumann", ""),  # empty name
        GO_VKEY.replace("PeterNeumann", "Peter\tNeumann"),
    ],
)
def test_malformed_verifier_keys_are_bad_input(vkey: str) -> None:
    with pytest.raises(BadInput):
        NoteVerifier.from_key_string(vkey)


def test_verifier_key_with_a_wrong_algorithm_byte_and_matching_id_is_bad_input() -> None:
    with pytest.raises(BadInput, match="not an Ed25519 key"):
        NoteVerifier.from_key_string(_vkey("PeterNeumann", "c74f20a3", b"\x02" + GO_PUBLIC))


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "new\nline", "bell\x07", " lead"])
def test_verifier_names_with_spaces_or_plus_are_bad_input(name: str) -> None:
    with pytest.raises(BadInput):
        NoteVerifier(name, GO_PUBLIC)
    with pytest.raises(BadInput):
        NoteSigner.from_seed(name, GO_SEED)


def test_verifier_rejects_a_public_key_of_the_wrong_length() -> None:
    with pytest.raises(BadInput):
        NoteVerifier("PeterNeumann", GO_PUBLIC[:31])
    with pytest.raises(BadInput):
        NoteVerifier("PeterNeumann", GO_PUBLIC + b"\x00")


def _skey(name: str, hex_id: str, raw: bytes, prefix: str = "PRIVATE+KEY") -> str:
    return f"{prefix}+{name}+{hex_id}+{base64.b64encode(raw).decode()}"


@pytest.mark.parametrize(
    "skey",
    [
        "",
        "PRIVATE+KEY",
        GO_SKEY.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        GO_SKEY.replace("PRIVATE+KEY", "private+key"),
        GO_SKEY[len("PRIVATE+KEY+") :],
        _skey("PeterNeumann", "c74f20a4", b"\x01" + GO_SEED),  # wrong id
        _skey("PeterNeumann", "c74f20a3", b"\x01" + GO_SEED + b"\x00"),  # 32-byte seed only
        _skey("PeterNeumann", "c74f20a", b"\x01" + GO_SEED),
        _skey("PeterNeumann", "zzzzzzzz", b"\x01" + GO_SEED),
        _skey("PeterNeumann", "c74f20a3", b"\x02" + GO_SEED),  # not Ed25519
        _skey("PeterNeumann", "c74f20a3", GO_SEED),
        _skey("PeterNeumann", "c74f20a3", b"\x01" + GO_SEED[:31]),
        GO_SKEY[:-1],
        GO_SKEY.replace("AYEK", "AY!K"),
        GO_SKEY.replace("PeterNeumann", "Peter Neumann"),
        GO_SKEY.replace("PeterNeumann", "Peter+Neumann"),
        GO_SKEY.replace("PeterNeumann", ""),
        GO_VKEY,
    ],
)
def test_malformed_signer_keys_are_bad_input(skey: str) -> None:
    with pytest.raises(BadInput):
        NoteSigner.from_key_string(skey)


def test_verifier_key_id_must_be_eight_hex_digits() -> None:
    # A name whose key id for the Go public key is below 0x01000000, so that "0x" + 6 digits fits.
    name = next(f"n{i}" for i in range(10**6) if key_id(f"n{i}", GO_PUBLIC) < 0x01000000)
    hex_id = f"0x{key_id(name, GO_PUBLIC):06x}"
    with pytest.raises(BadInput):
        NoteVerifier.from_key_string(_vkey(name, hex_id, b"\x01" + GO_PUBLIC))


# -- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_body_text_layout() -> None:
    body = CheckpointBody("example.com/log", 1042, ROOT, "2026-11-25T23:40:00.123456Z")
    root_line = base64.b64encode(ROOT).decode()
    assert body.text() == f"example.com/log\n1042\n{root_line}\ntime 2026-11-25T23:40:00.123456Z\n"
    assert CheckpointBody("o", 0, ROOT).text() == f"o\n0\n{root_line}\n"


def test_checkpoint_extension_lines_other_than_time_are_ignored() -> None:
    root_line = base64.b64encode(ROOT).decode()
    parsed = parse_checkpoint_body(f"o\n7\n{root_line}\nother extension\ntime T\n")
    assert parsed == CheckpointBody("o", 7, ROOT, "T")
    assert parse_checkpoint_body(f"o\n7\n{root_line}\nother extension\n").time is None


origins = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n"), min_size=1, max_size=40)
times = st.none() | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    origin=origins,
    size=st.integers(min_value=0, max_value=2**80),
    root=st.binary(min_size=32, max_size=32),
    time=times,
)
def test_checkpoint_body_round_trips(origin: str, size: int, root: bytes, time: str | None) -> None:
    body = CheckpointBody(origin, size, root, time)
    assert parse_checkpoint_body(body.text()) == body


@settings(max_examples=100, deadline=None)
@given(
    origin=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), min_size=1, max_size=40),
    size=st.integers(min_value=0, max_value=2**64),
    root=st.binary(min_size=32, max_size=32),
)
def test_checkpoint_round_trips_through_a_signed_note(origin: str, size: int, root: bytes) -> None:
    body = CheckpointBody(origin, size, root, "2026-01-01T00:00:00Z")
    signer = _go_signer()
    assert parse_checkpoint_body(open_note(signer.sign(body.text()), signer.verifier)) == body


ROOT_LINE = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "origin\n",
        "origin\n5\n",
        f"origin\n{ROOT_LINE}\n",
        f"origin\n5\n{ROOT_LINE}",  # no final newline
        f"origin\n5\n{ROOT_LINE}\ntime T",  # no final newline after an extension
        f"\n5\n{ROOT_LINE}\n",  # empty origin
        f"origin\n\n{ROOT_LINE}\n",  # empty size
        f"origin\n-5\n{ROOT_LINE}\n",
        f"origin\n+5\n{ROOT_LINE}\n",
        f"origin\n 5\n{ROOT_LINE}\n",
        f"origin\n5 \n{ROOT_LINE}\n",
        f"origin\n5.0\n{ROOT_LINE}\n",
        f"origin\n0x5\n{ROOT_LINE}\n",
        f"origin\n5a\n{ROOT_LINE}\n",
        f"origin\n1_000\n{ROOT_LINE}\n",
        f"origin\n\u00b2\n{ROOT_LINE}\n",  # superscript two: isdigit() but not decimal
        f"origin\n05\n{ROOT_LINE}\n",  # leading zeros
        f"origin\n00\n{ROOT_LINE}\n",
        f"origin\n007\n{ROOT_LINE}\n",
        f"origin\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31 bytes
        f"origin\n5\n{base64.b64encode(ROOT + b'x').decode()}\n",  # 33 bytes
        f"origin\n5\n{base64.b64encode(ROOT * 2).decode()}\n",
        "origin\n5\n\n",
        f"origin\n5\n{ROOT_LINE[:-1]}\n",  # padding missing
        f"origin\n5\n{ROOT_LINE.replace('A', '!')}\n",  # not base64
        f"origin\n5\n{base64.urlsafe_b64encode(bytes([0xFB] * 32)).decode()}\n",  # URL-safe alphabet
        f"origin\n5\n {ROOT_LINE}\n",
        f"origin\r\n5\r\n{ROOT_LINE}\r\n",
    ],
)
def test_malformed_checkpoint_bodies_fail(text: str) -> None:
    with pytest.raises(IntegrityError):
        parse_checkpoint_body(text)


def test_checkpoint_size_must_be_ascii_decimal() -> None:
    with pytest.raises(IntegrityError):
        parse_checkpoint_body(f"origin\n\u0661\u0660\n{ROOT_LINE}\n")  # Arabic-Indic "10"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_parse_checkpoint_body_fails_cleanly_on_garbage(text: str) -> None:
    try:
        body = parse_checkpoint_body(text)
    except IntegrityError:
        return
    assert len(body.root) == 32
    assert body.size >= 0
    assert body.origin
