"""The audit log: round trips, tamper evidence, checkpoints, concurrency, crash safety, failing closed.

Tampering is done the way an attacker without the workspace's master key (so without the signing
key) would: by editing ``access.db`` directly with the standard library's :mod:`sqlite3`, on a
connection of its own. The storage is one table::

    audit_entries(seq INTEGER PRIMARY KEY, entry BLOB, leaf BLOB,
                  head_time, head_root, head_signature, frontier)

where ``leaf = SHA-256(0x00 || seq (8 bytes, big-endian) || entry)`` and the last row of every
commit carries the signed tree head of the log at that size and the tree's frontier. A *naive*
attacker edits an entry only; a *strong* one also recomputes the leaf hashes it broke, and even the
stored roots and frontiers, but cannot sign them.

The logs are built in batches of 1 to 50 entries (one commit, so one signed head, per batch), at
two sizes: 600 entries (only the newest head is checked) and 2,500 entries (the heads past 1,000
and 2,000 are checked too, :data:`HEAD_INTERVAL`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import mlwarden._sqlite
from mlwarden.auditlog import (
    HEAD_INTERVAL,
    OUTCOMES,
    AuditEntry,
    AuditEvent,
    AuditLog,
    AuditUnavailable,
    CheckpointBody,
    Frontier,
    NoteSigner,
    event_time,
    leaf_hash,
    root_of,
)
from mlwarden.auditlog._log import MAX_BATCH
from mlwarden.errors import BadInput, IntegrityError

ORIGIN = "mlwarden/test"
KEY_NAME = "mlwarden/test"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAX_TEST_BATCH = 50
SMALL, LARGE = 600, 2500
SIZES = pytest.mark.parametrize("n", [SMALL, LARGE], ids=["600", "2500"])

# -- building logs ------------------------------------------------------------------------------


def _ticking_clock() -> Callable[[], datetime]:
    """A deterministic clock that moves one microsecond per reading (thread-safe: count is atomic)."""
    ticks = itertools.count()
    return lambda: T0 + timedelta(microseconds=next(ticks))


def _event(i: int, tag: str = "e") -> AuditEvent:
    """Varied content: four principals (one non-ASCII), actions, outcomes and detail types."""
    details: dict[str, str | int | bool | None] = {}
    if i % 5:
        details = {
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "rows": i,
            "pii": i % 2 == 0,
            "note": None if i % 3 else "naïve — ✓",
        }
    return AuditEvent(
        time=event_time(T0 + timedelta(seconds=i)),
        principal=("alice", "bob", "svc-trainer", "zoë")[i % 4],
        action=("dataset.read", "dataset.write", "model.sign", "key.rotate", "predict")[i % 5],
        resource=f"dataset:credit-german-{i % 7}",
        outcome=OUTCOMES[i % len(OUTCOMES)],
        request_id=f"{tag}-{i}",
        details=details,
    )


def _as_entry(event: AuditEvent, seq: int) -> AuditEntry:
    return AuditEntry(**{f.name: getattr(event, f.name) for f in fields(AuditEvent)}, seq=seq)


@dataclass
class Built:
    path: Path
    signer: NoteSigner
    log: AuditLog
    events: list[AuditEvent]

    def open(self, *, writable: bool = True) -> AuditLog:
        """Another AuditLog on the same file, as another process would open it."""
        return AuditLog(
            self.path,
            origin=ORIGIN,
            verifier=self.signer.verifier,
            signer=self.signer if writable else None,
            clock=_ticking_clock(),
        )


def _new_log(path: Path, signer: NoteSigner | None = None) -> Built:
    signer = signer or NoteSigner.from_seed(KEY_NAME, os.urandom(32))
    log = AuditLog(path, origin=ORIGIN, verifier=signer.verifier, signer=signer, clock=_ticking_clock())
    return Built(path, signer, log, [])


def _build(path: Path, n: int, seed: int = 0) -> Built:
    """A log of ``n`` entries appended in batches of 1..50 (batches of one through append())."""
    built = _new_log(path)
    rng = random.Random(seed)
    events = [_event(i) for i in range(n)]
    done = 0
    while done < n:
        size = min(rng.randint(1, MAX_TEST_BATCH), n - done)
        batch = events[done : done + size]
        seqs = [built.log.append(batch[0])] if size == 1 else built.log.append_many(batch)
        assert seqs == list(range(done, done + size))
        done += size
    built.events = events
    return built


# -- editing the storage directly ---------------------------------------------------------------


@contextlib.contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    """The attacker's connection: one transaction, committed if the block succeeds."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def _leaf(seq: int, data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + seq.to_bytes(8, "big") + data).digest()


def _canonical(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _entry_bytes(conn: sqlite3.Connection, seq: int) -> bytes:
    row = conn.execute("SELECT entry FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
    assert row is not None
    return bytes(row[0])


def _forge(data: bytes) -> bytes:
    """The same entry, still canonical JSON, now saying mallory did it."""
    doc = json.loads(data)
    doc["principal"] = "mallory"
    forged = _canonical(doc)
    assert forged != data
    return forged


def _head_seqs(path: Path) -> list[int]:
    """The rows that carry a signed head, i.e. the last row of every commit."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT seq FROM audit_entries WHERE head_signature IS NOT NULL ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [int(r[0]) for r in rows]


def _rehash_leaves(conn: sqlite3.Connection) -> None:
    """Recompute every stored leaf from the entry and seq now stored with it (a strong attacker)."""
    rows = conn.execute("SELECT seq, entry FROM audit_entries ORDER BY seq").fetchall()
    for seq, data in rows:
        conn.execute("UPDATE audit_entries SET leaf = ? WHERE seq = ?", (_leaf(seq, bytes(data)), seq))


def _reseal_heads(conn: sqlite3.Connection) -> None:
    """Store the true root and frontier at every head row, for the leaves now stored; no key to sign."""
    frontier = Frontier()
    rows = conn.execute("SELECT seq, leaf, head_signature FROM audit_entries ORDER BY seq").fetchall()
    for seq, leaf, signature in rows:
        frontier.append(bytes(leaf))
        if signature is not None:
            conn.execute(
                "UPDATE audit_entries SET head_root = ?, frontier = ? WHERE seq = ?",
                (frontier.root(), frontier.to_bytes(), seq),
            )


def _shift_up(conn: sqlite3.Connection, start: int) -> None:
    """Renumber the rows from ``start`` on by +1, newest first (so no two rows collide)."""
    seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_entries WHERE seq >= ? ORDER BY seq DESC", (start,))]
    for seq in seqs:
        conn.execute("UPDATE audit_entries SET seq = seq + 1 WHERE seq = ?", (seq,))


def _position(where: str, n: int, heads: list[int]) -> int:
    middle_heads = [h for h in heads if n // 3 <= h < n - 1]
    return {"first": 0, "middle": n // 2 + 1, "head": middle_heads[0], "last": n - 1}[where]


def _assert_caught_by_head(result_first_bad: int | None, problem: str | None, k: int, heads: list[int]) -> None:
    """A change that keeps every leaf consistent is found by the first checked signed head covering it.

    ``first_bad`` is then the size of the last head that did verify (every entry before it is
    proven), so it is at or before the changed entry, and at most one head interval and one commit
    before it.
    """
    assert problem is not None
    assert "signed head" in problem
    assert result_first_bad is not None
    assert result_first_bad <= k
    assert result_first_bad == 0 or result_first_bad - 1 in heads
    assert k - result_first_bad < HEAD_INTERVAL + MAX_TEST_BATCH


# -- an intact log ------------------------------------------------------------------------------


@SIZES
def test_intact_log_verifies_and_its_root_is_the_rfc9162_root(tmp_path: Path, n: int) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    seen: list[int] = []
    result = built.log.verify(progress=seen.append)
    assert result.ok, result.problem
    assert (result.size, result.problem, result.first_bad, result.checkpoint_size) == (n, None, None, None)
    assert sum(seen) == n
    # Checked: the first head past each multiple of HEAD_INTERVAL, and the newest one.
    assert result.heads_checked == n // HEAD_INTERVAL + 1
    if n > 2 * HEAD_INTERVAL:
        assert result.heads_checked >= 2

    # The root, computed independently from the appended events by the definition of the tree.
    leaves = [leaf_hash(seq.to_bytes(8, "big") + e.to_bytes()) for seq, e in enumerate(built.events)]
    assert result.root == root_of(leaves)
    checkpoint = built.log.checkpoint()
    assert (checkpoint.size, checkpoint.root, checkpoint.origin) == (n, result.root, ORIGIN)
    assert built.log.size() == n

    # The stored rows are what the format says.
    conn = sqlite3.connect(built.path)
    try:
        rows = conn.execute("SELECT seq, entry, leaf FROM audit_entries ORDER BY seq").fetchall()
    finally:
        conn.close()
    assert [(seq, bytes(data), bytes(leaf)) for seq, data, leaf in rows] == [
        (seq, e.to_bytes(), _leaf(seq, e.to_bytes())) for seq, e in enumerate(built.events)
    ]


def test_empty_log(tmp_path: Path) -> None:
    built = _new_log(tmp_path / "access.db")
    result = built.log.verify()
    assert result.ok
    assert (result.size, result.heads_checked) == (0, 0)
    assert list(built.log.entries()) == []
    assert built.log.size() == 0
    checkpoint = built.log.checkpoint()
    assert checkpoint.size == 0
    assert built.log.verify(checkpoint=built.log.read_checkpoint(checkpoint.note)).ok


# -- round trip -----------------------------------------------------------------------------------


def test_entries_round_trip_in_order(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", SMALL, seed=1)
    got = list(built.log.entries())
    assert [e.seq for e in got] == list(range(SMALL))
    assert got == [_as_entry(e, seq) for seq, e in enumerate(built.events)]
    assert all(type(e) is AuditEntry for e in got)
    # A read-only view on the same file reads the same.
    assert list(built.open(writable=False).entries()) == got


def test_entries_from_a_position_and_since_a_time(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", 200, seed=2)
    expected = [_as_entry(e, seq) for seq, e in enumerate(built.events)]
    assert list(built.log.entries(start=150)) == expected[150:]
    assert list(built.log.entries(start=200)) == []
    # Event i happened at T0 + i seconds; since is inclusive.
    since = event_time(T0 + timedelta(seconds=120))
    assert list(built.log.entries(since=since)) == expected[120:]
    assert list(built.log.entries(since=event_time(T0 + timedelta(seconds=119, microseconds=1)))) == expected[120:]
    assert list(built.log.entries(start=160, since=since)) == expected[160:]
    assert list(built.log.entries(since=event_time(T0 + timedelta(days=1)))) == []
    assert list(built.log.entries(since=event_time(T0 - timedelta(days=1)))) == expected


def test_a_damaged_entry_is_reported_by_entries_and_verify(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", 100, seed=3)
    with _raw(built.path) as conn:
        conn.execute("UPDATE audit_entries SET entry = ? WHERE seq = 42", (b'{"not": "an entry"',))
    with pytest.raises(IntegrityError, match="entry 42 is damaged"):
        list(built.log.entries())
    assert [e.seq for e in itertools.islice(built.log.entries(), 42)] == list(range(42))
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == 42


# -- tampering: edited entries --------------------------------------------------------------------


@SIZES
@pytest.mark.parametrize("where", ["first", "middle", "head", "last"])
def test_edited_entry_is_named(tmp_path: Path, n: int, where: str) -> None:
    """Naive: the JSON is changed and the leaf left alone, so that entry no longer matches its leaf."""
    built = _build(tmp_path / "access.db", n, seed=n)
    k = _position(where, n, _head_seqs(built.path))
    with _raw(built.path) as conn:
        conn.execute("UPDATE audit_entries SET entry = ? WHERE seq = ?", (_forge(_entry_bytes(conn, k)), k))
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == k
    assert result.problem == f"entry {k} does not match its leaf hash: it was changed or moved"


@SIZES
@pytest.mark.parametrize("where", ["first", "middle", "head", "last"])
def test_edited_entry_with_recomputed_leaf_is_caught_by_the_signed_head(tmp_path: Path, n: int, where: str) -> None:
    """Strong: the leaf is recomputed too, so only a signed head's root can disagree."""
    built = _build(tmp_path / "access.db", n, seed=n)
    heads = _head_seqs(built.path)
    k = _position(where, n, heads)
    with _raw(built.path) as conn:
        forged = _forge(_entry_bytes(conn, k))
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (forged, _leaf(k, forged), k))
    result = built.log.verify()
    assert not result.ok
    _assert_caught_by_head(result.first_bad, result.problem, k, heads)
    if n == SMALL:  # only the newest head is checked, and it covers the whole log
        assert result.first_bad == 0
        assert result.problem == (
            f"entries 0..{n - 1} do not match the signed head at size {n}: "
            "an entry was changed, inserted or removed there, or the head was forged"
        )


@SIZES
def test_edited_entry_with_recomputed_leaf_roots_and_frontiers_is_caught(tmp_path: Path, n: int) -> None:
    """Strongest without the key: leaf, every head's root and frontier recomputed, signatures left."""
    built = _build(tmp_path / "access.db", n, seed=n)
    heads = _head_seqs(built.path)
    k = n // 3
    with _raw(built.path) as conn:
        forged = _forge(_entry_bytes(conn, k))
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (forged, _leaf(k, forged), k))
        _reseal_heads(conn)
    result = built.log.verify()
    assert not result.ok
    _assert_caught_by_head(result.first_bad, result.problem, k, heads)
    # The newest head no longer verifies, so no checkpoint can be exported from it.
    with pytest.raises(IntegrityError, match="latest signed head does not verify"):
        built.log.checkpoint()


# -- tampering: deleted, inserted, reordered rows -----------------------------------------------


@SIZES
@pytest.mark.parametrize("where", ["first", "middle", "head"])
def test_deleted_row_is_named_missing(tmp_path: Path, n: int, where: str) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    k = _position(where, n, _head_seqs(built.path))
    with _raw(built.path) as conn:
        conn.execute("DELETE FROM audit_entries WHERE seq = ?", (k,))
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == k
    assert result.problem == f"entry {k} is missing"


@SIZES
def test_log_cut_inside_a_commit_is_not_covered_by_a_signed_head(tmp_path: Path, n: int) -> None:
    """Deleting the newest rows back to a row that carries no head leaves entries no head signed."""
    built = _build(tmp_path / "access.db", n, seed=n)
    assert built.log.append_many([_event(n + i) for i in range(5)]) == list(range(n, n + 5))
    with _raw(built.path) as conn:
        conn.execute("DELETE FROM audit_entries WHERE seq >= ?", (n + 3,))
    result = built.log.verify()
    assert not result.ok
    assert result.size == n + 3
    assert result.problem is not None
    assert result.problem.endswith(f"..{n + 2} are not covered by a signed head")
    assert result.first_bad is not None
    assert result.first_bad <= n


@SIZES
def test_newest_head_removed_is_not_covered_by_a_signed_head(tmp_path: Path, n: int) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    with _raw(built.path) as conn:
        conn.execute(
            "UPDATE audit_entries SET head_time = NULL, head_root = NULL, head_signature = NULL WHERE seq = ?",
            (n - 1,),
        )
    result = built.log.verify()
    assert not result.ok
    assert "not covered by a signed head" in (result.problem or "")


@SIZES
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_inserted_row_is_detected(tmp_path: Path, n: int, where: str) -> None:
    """A forged row at k, consistent with its own leaf, pushes the old entry k to k + 1.

    The forged row itself hashes correctly; the first row that does not is the displaced one,
    whose leaf was computed at its old position.
    """
    built = _build(tmp_path / "access.db", n, seed=n)
    k = _position(where, n, _head_seqs(built.path))
    forged = _canonical({**json.loads(built.events[k].to_bytes()), "principal": "mallory", "request": "forged"})
    with _raw(built.path) as conn:
        _shift_up(conn, k)
        conn.execute("INSERT INTO audit_entries (seq, entry, leaf) VALUES (?, ?, ?)", (k, forged, _leaf(k, forged)))
    assert built.log.size() == n + 1
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == k + 1
    assert result.problem == f"entry {k + 1} does not match its leaf hash: it was changed or moved"


@SIZES
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_inserted_row_with_all_leaves_recomputed_is_caught_by_the_signed_head(
    tmp_path: Path, n: int, where: str
) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    heads = _head_seqs(built.path)
    k = _position(where, n, heads)
    forged = _canonical({**json.loads(built.events[k].to_bytes()), "principal": "mallory", "request": "forged"})
    with _raw(built.path) as conn:
        _shift_up(conn, k)
        conn.execute("INSERT INTO audit_entries (seq, entry, leaf) VALUES (?, ?, ?)", (k, forged, b""))
        _rehash_leaves(conn)
        _reseal_heads(conn)
    result = built.log.verify()
    assert not result.ok
    _assert_caught_by_head(result.first_bad, result.problem, k, heads)


@SIZES
def test_row_appended_at_the_end_with_a_copied_head_is_detected(tmp_path: Path, n: int) -> None:
    """A forged newest row reusing the real newest head: that head signed another size."""
    built = _build(tmp_path / "access.db", n, seed=n)
    forged = _event(10_000, tag="forged").to_bytes()
    with _raw(built.path) as conn:
        head = conn.execute(
            "SELECT head_time, head_root, head_signature, frontier FROM audit_entries WHERE seq = ?", (n - 1,)
        ).fetchone()
        conn.execute("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?)", (n, forged, _leaf(n, forged), *head))
    result = built.log.verify()
    assert not result.ok
    assert "signed head" in (result.problem or "")


@SIZES
@pytest.mark.parametrize(("i", "j"), [(0, 1), ("middle", "middle+7"), (5, "last")])
def test_swapped_rows_name_the_lower_one(tmp_path: Path, n: int, i: int | str, j: int | str) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    names = {"middle": n // 2, "middle+7": n // 2 + 7, "last": n - 1}
    lo = names[i] if isinstance(i, str) else i
    hi = names[j] if isinstance(j, str) else j
    with _raw(built.path) as conn:
        a = conn.execute("SELECT entry, leaf FROM audit_entries WHERE seq = ?", (lo,)).fetchone()
        b = conn.execute("SELECT entry, leaf FROM audit_entries WHERE seq = ?", (hi,)).fetchone()
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (*b, lo))
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (*a, hi))
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == lo
    assert result.problem == f"entry {lo} does not match its leaf hash: it was changed or moved"


@SIZES
def test_swapped_rows_with_leaves_recomputed_are_caught_by_the_signed_head(tmp_path: Path, n: int) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    heads = _head_seqs(built.path)
    lo, hi = n // 2, n // 2 + 30
    with _raw(built.path) as conn:
        a = _entry_bytes(conn, lo)
        b = _entry_bytes(conn, hi)
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (b, _leaf(lo, b), lo))
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (a, _leaf(hi, a), hi))
    result = built.log.verify()
    assert not result.ok
    _assert_caught_by_head(result.first_bad, result.problem, lo, heads)


# -- tampering: storage types ------------------------------------------------------------------

# (column, the edit, the storage it leaves): every column a reader takes, edited in place with
# SQL alone into a type the log never writes. The bytes may even be the same; the storage is not.
_RETYPED = [
    ("entry", "CAST(entry AS TEXT)", "TEXT"),
    ("entry", "CAST(CAST(entry AS TEXT) AS INTEGER)", "INTEGER"),
    ("leaf", "CAST(leaf AS TEXT)", "TEXT"),  # random bytes: TEXT that is not even UTF-8
    ("head_root", "CAST(head_root AS TEXT)", "TEXT"),
    ("head_signature", "CAST(head_signature AS TEXT)", "TEXT"),
    ("head_time", "CAST(head_time AS BLOB)", "BLOB"),
    ("head_time", "CAST(X'ff00' AS TEXT)", "TEXT that is not UTF-8"),
    ("frontier", "CAST(frontier AS TEXT)", "TEXT"),
]


@pytest.mark.parametrize(("column", "edit", "stored"), _RETYPED, ids=[f"{c}-{s}" for c, _, s in _RETYPED])
def test_a_column_stored_as_another_type_is_tampering_named_by_entry(
    tmp_path: Path, column: str, edit: str, stored: str
) -> None:
    """``log verify`` and ``log prove`` once failed with "can't concat str to bytes" (exit 70) here."""
    n = 40
    built = _build(tmp_path / "access.db", n, seed=3)
    k = n - 1  # the newest row carries every column, the head's included
    with _raw(built.path) as conn:
        conn.execute(f"UPDATE audit_entries SET {column} = {edit} WHERE seq = ?", (k,))  # noqa: S608
        assert conn.execute(f"SELECT typeof({column}) FROM audit_entries WHERE seq = ?", (k,)).fetchone()[0] == (  # noqa: S608
            "integer" if stored == "INTEGER" else "blob" if stored == "BLOB" else "text"
        )
    named = rf"entry {k} was tampered with: its {column} is stored as {stored}, not (BLOB|TEXT)"
    if column == "frontier":  # read only by a writer, to go on from: a new one refuses to
        with pytest.raises(AuditUnavailable, match=named):
            _reopened(built).append(_event(n))
        assert built.log.size() == n
        return
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == k
    assert result.problem is not None
    assert re.search(named, result.problem), result.problem
    if column in ("entry", "leaf"):
        with pytest.raises(IntegrityError, match=named):
            built.log.inclusion(0)
        if column == "entry":
            with pytest.raises(IntegrityError, match=named):
                list(built.log.entries())
    else:
        with pytest.raises(IntegrityError, match=named):
            built.log.checkpoint()
        with pytest.raises(IntegrityError, match=named):
            built.log.inclusion(0)
        with pytest.raises(AuditUnavailable, match=named):
            _reopened(built).append(_event(n))
        assert built.log.size() == n


def _reopened(built: Built) -> AuditLog:
    """A new writer on ``built``'s database (the first keeps its tree state in memory)."""
    return AuditLog(built.path, origin=ORIGIN, verifier=built.signer.verifier, signer=built.signer)


def test_a_retyped_column_inside_the_log_is_named_too(tmp_path: Path) -> None:
    """Not only the newest row: an entry in the middle, and a head row inside the log."""
    n = 120
    built = _build(tmp_path / "access.db", n, seed=5)
    head = [h for h in _head_seqs(built.path) if h < n - 1][1]
    with _raw(built.path) as conn:
        conn.execute("UPDATE audit_entries SET head_signature = CAST(head_signature AS TEXT) WHERE seq = ?", (head,))
    result = built.log.verify()
    assert (result.ok, result.first_bad) == (False, head)
    assert f"entry {head} was tampered with: its head_signature is stored as TEXT" in str(result.problem)
    with _raw(built.path) as conn:
        conn.execute("UPDATE audit_entries SET head_signature = CAST(head_signature AS BLOB) WHERE seq = ?", (head,))
        conn.execute("UPDATE audit_entries SET entry = CAST(entry AS TEXT) WHERE seq = 7")
    result = built.log.verify()
    assert (result.ok, result.first_bad) == (False, 7)
    assert "entry 7 was tampered with: its entry is stored as TEXT" in str(result.problem)
    with pytest.raises(IntegrityError, match="entry 7 was tampered with"):
        list(built.log.entries(start=3))
    assert [e.seq for e in built.log.entries(start=8)] == list(range(8, n))


# -- tampering: heads ---------------------------------------------------------------------------


def _flip_first_byte(value: bytes) -> bytes:
    return bytes([value[0] ^ 0x01]) + value[1:]


@SIZES
@pytest.mark.parametrize("column", ["head_signature", "head_root", "head_time"])
def test_forged_newest_head_fails(tmp_path: Path, n: int, column: str) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    heads = _head_seqs(built.path)
    assert heads[-1] == n - 1
    with _raw(built.path) as conn:
        value = conn.execute(f"SELECT {column} FROM audit_entries WHERE seq = ?", (n - 1,)).fetchone()[0]  # noqa: S608
        forged: bytes | str = value.replace("12:00", "11:59") if column == "head_time" else _flip_first_byte(value)
        assert forged != value
        conn.execute(f"UPDATE audit_entries SET {column} = ? WHERE seq = ?", (forged, n - 1))  # noqa: S608
    result = built.log.verify()
    assert not result.ok
    assert result.problem is not None
    assert f"do not match the signed head at size {n}" in result.problem
    assert result.first_bad is not None
    assert result.first_bad == 0 or result.first_bad - 1 in heads
    assert n - result.first_bad < HEAD_INTERVAL + MAX_TEST_BATCH
    with pytest.raises(IntegrityError, match="does not verify"):
        built.log.checkpoint()


def test_forged_checked_head_inside_a_large_log_fails(tmp_path: Path) -> None:
    """The first head past HEAD_INTERVAL entries is checked, not only the newest."""
    built = _build(tmp_path / "access.db", LARGE, seed=7)
    first_checked = min(h for h in _head_seqs(built.path) if h + 1 >= HEAD_INTERVAL)
    with _raw(built.path) as conn:
        value = conn.execute("SELECT head_signature FROM audit_entries WHERE seq = ?", (first_checked,)).fetchone()[0]
        conn.execute(
            "UPDATE audit_entries SET head_signature = ? WHERE seq = ?", (_flip_first_byte(value), first_checked)
        )
    result = built.log.verify()
    assert not result.ok
    assert result.first_bad == 0
    assert result.problem is not None
    assert f"entries 0..{first_checked} do not match the signed head at size {first_checked + 1}" in result.problem


# -- truncation and checkpoints -----------------------------------------------------------------


@SIZES
def test_truncated_tail_is_caught_only_by_an_earlier_checkpoint(tmp_path: Path, n: int) -> None:
    built = _build(tmp_path / "access.db", n, seed=n)
    checkpoint = built.log.read_checkpoint(built.log.checkpoint().note)
    assert checkpoint.size == n
    heads = _head_seqs(built.path)
    h = [s for s in heads if s < n * 2 // 3][-1]  # an older signed head to cut back to
    with _raw(built.path) as conn:
        conn.execute("DELETE FROM audit_entries WHERE seq > ?", (h,))

    # Removing the newest entries together with their heads leaves exactly the log as it was
    # when head h was signed: every leaf, every root and every signature still agree, so the log
    # by itself cannot tell. Only a checkpoint kept elsewhere, from before the cut, can.
    alone = built.log.verify()
    assert alone.ok, alone.problem
    assert alone.size == h + 1

    result = built.log.verify(checkpoint=checkpoint)
    assert not result.ok
    assert result.checkpoint_size == n
    assert result.first_bad == h + 1
    assert result.problem is not None
    assert "removed" in result.problem
    assert f"entries {h + 1}..{n - 1} were removed" in result.problem


def test_truncated_and_rewritten_log_differs_from_the_checkpoint(tmp_path: Path) -> None:
    """Cut back and appended again (even by the key's holder) past the checkpoint: not its prefix."""
    built = _build(tmp_path / "access.db", SMALL, seed=8)
    checkpoint = built.log.read_checkpoint(built.log.checkpoint().note)
    h = [s for s in _head_seqs(built.path) if s < SMALL // 2][-1]
    built.log.close()
    with _raw(built.path) as conn:
        conn.execute("DELETE FROM audit_entries WHERE seq > ?", (h,))
    rewriter = built.open()
    rewriter.append_many([_event(i, tag="rewritten") for i in range(SMALL)])
    assert rewriter.verify().ok
    result = rewriter.verify(checkpoint=checkpoint)
    assert not result.ok
    assert result.first_bad == 0
    assert result.problem == f"the log's first {SMALL} entries differ from the checkpoint's"


@SIZES
def test_log_growing_after_checkpoints_still_verifies_against_them(tmp_path: Path, n: int) -> None:
    built = _new_log(tmp_path / "access.db")
    checkpoints: list[CheckpointBody] = [built.log.read_checkpoint(built.log.checkpoint().note)]  # empty log
    rng = random.Random(n)
    i = 0
    while i < n:
        size = min(rng.randint(1, MAX_TEST_BATCH), n - i)
        built.log.append_many([_event(j) for j in range(i, i + size)])
        i += size
        if rng.random() < 0.1:
            checkpoints.append(built.log.read_checkpoint(built.log.checkpoint().note))
    checkpoints.append(built.log.read_checkpoint(built.log.checkpoint().note))
    # Another writer (another process, say) keeps appending after the last checkpoint.
    other = built.open()
    other.append_many([_event(n + j) for j in range(30)])
    built.log.append(_event(n + 30))
    assert len(checkpoints) >= 3
    for checkpoint in checkpoints:
        result = other.verify(checkpoint=checkpoint)
        assert result.ok, (checkpoint.size, result.problem)
        assert result.size == n + 31
        assert result.checkpoint_size == checkpoint.size


def test_checkpoint_note_round_trip(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", 50, seed=9)
    checkpoint = built.log.checkpoint()
    body = built.log.read_checkpoint(checkpoint.note)
    assert (body.origin, body.size, body.root, body.time) == (ORIGIN, 50, checkpoint.root, checkpoint.time)
    assert checkpoint.verifier_key == built.signer.verifier.key_string()
    # A read-only view (no signer) reads and checks it just the same.
    assert built.open(writable=False).read_checkpoint(checkpoint.note) == body


def test_checkpoint_of_another_log_is_refused(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", 40, seed=10)
    # Another key, same origin and key name.
    stranger = _build(tmp_path / "stranger.db", 40, seed=10)
    with pytest.raises(IntegrityError, match="not signed by"):
        built.log.read_checkpoint(stranger.log.checkpoint().note)
    # The same key, another origin.
    other_origin = AuditLog(
        tmp_path / "other.db", origin="mlwarden/other", verifier=built.signer.verifier, signer=built.signer
    )
    other_origin.append(_event(0))
    with pytest.raises(IntegrityError, match="mlwarden/other"):
        built.log.read_checkpoint(other_origin.checkpoint().note)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda note: note.replace("\n40\n", "\n41\n", 1), id="size"),
        pytest.param(lambda note: note.replace("time 2026", "time 2027", 1), id="time"),
        pytest.param(lambda note: note.replace("\n\n", "\n", 1), id="no-signature-block"),
        pytest.param(lambda note: note.rsplit(" ", 1)[0] + " AAAA\n", id="signature"),
        pytest.param(lambda note: "", id="empty"),
    ],
)
def test_edited_checkpoint_is_refused(tmp_path: Path, edit: Callable[[str], str]) -> None:
    built = _build(tmp_path / "access.db", 40, seed=11)
    note = built.log.checkpoint().note
    edited = edit(note)
    assert edited != note
    with pytest.raises(IntegrityError):
        built.log.read_checkpoint(edited)


def test_tampering_is_not_laundered_by_the_next_append(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", 30, seed=12)
    built.log.close()
    k = 3
    with _raw(built.path) as conn:
        forged = _forge(_entry_bytes(conn, k))
        conn.execute("UPDATE audit_entries SET entry = ?, leaf = ? WHERE seq = ?", (forged, _leaf(k, forged), k))
        _reseal_heads(conn)  # only the newest row's frontier matters to the writer
    assert not built.open(writable=False).verify().ok  # caught so far
    # The workspace's next action, in a new process: the writer checks the stored tree state
    # against the newest signed head before building on it, and refuses (fail closed) rather
    # than sign a head over the forged entry.
    with pytest.raises(AuditUnavailable, match="does not verify"):
        built.open().append(_event(30))
    result = built.open(writable=False).verify()
    assert not result.ok, "the forged entry 3 must not verify under a head the workspace signed"


# -- concurrency ----------------------------------------------------------------------------------


def test_a_batch_larger_than_one_statement_commits_whole_beside_other_writers(tmp_path: Path) -> None:
    """An append_many of more than MAX_BATCH entries is one commit of several INSERTs, while
    other threads keep appending: every entry once, each call's entries contiguous."""
    built = _new_log(tmp_path / "access.db")
    big = MAX_BATCH + 1500
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def bulk() -> None:
        try:
            barrier.wait()
            results["bulk"] = built.log.append_many([_event(i, tag="bulk") for i in range(big)])
        except BaseException as exc:
            errors.append(exc)

    def single(t: int) -> None:
        try:
            barrier.wait()
            results[f"t{t}"] = [built.log.append(_event(i, tag=f"t{t}")) for i in range(300)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bulk)] + [threading.Thread(target=single, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    bulk_seqs = results["bulk"]
    assert bulk_seqs == list(range(bulk_seqs[0], bulk_seqs[0] + big))
    every = sorted(seq for seqs in results.values() for seq in seqs)
    assert every == list(range(big + 900))
    result = built.log.verify()
    assert result.ok, result.problem
    assert result.size == big + 900


def test_threads_share_one_log(tmp_path: Path) -> None:
    """8 threads x 200 entries on one AuditLog: four call append(), four append_many() of 1..5."""
    built = _new_log(tmp_path / "access.db")
    threads, per_thread = 8, 200
    barrier = threading.Barrier(threads)
    got: dict[int, list[tuple[int, str]]] = {}
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        mine: list[tuple[int, str]] = []
        rng = random.Random(t)
        try:
            barrier.wait()
            i = 0
            while i < per_thread:
                if t < threads // 2:
                    seqs = [built.log.append(_event(i, tag=f"t{t}"))]
                else:
                    size = min(rng.randint(1, 5), per_thread - i)
                    seqs = built.log.append_many([_event(i + j, tag=f"t{t}") for j in range(size)])
                    assert seqs == list(range(seqs[0], seqs[0] + size)), "one call's entries are contiguous"
                mine += [(seq, f"t{t}-{i + j}") for j, seq in enumerate(seqs)]
                i += len(seqs)
        except BaseException as exc:
            errors.append(exc)
        got[t] = mine

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    returned = sorted(seq for mine in got.values() for seq, _ in mine)
    assert returned == list(range(threads * per_thread)), "each append got its own seq, none skipped"
    by_seq = {e.seq: e for e in built.log.entries()}
    assert len(by_seq) == threads * per_thread
    for t, mine in got.items():
        assert [s for s, _ in mine] == sorted(s for s, _ in mine), "a thread's own entries stay in its order"
        for seq, request_id in mine:
            assert by_seq[seq].request_id == request_id
            assert by_seq[seq] == _as_entry(_event(int(request_id.split("-")[1]), tag=f"t{t}"), seq)
    result = built.log.verify()
    assert result.ok, result.problem
    assert result.size == threads * per_thread


# The same event builder as _worker_event below, in the child processes.
_WORKER = r"""
import json, sys
from pathlib import Path
from mlwarden.auditlog import AuditEvent, AuditLog, NoteSigner

path, seed, tag, mode = Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4]
signer = NoteSigner.from_seed("mlwarden/test", seed)
log = AuditLog(path, origin="mlwarden/test", verifier=signer.verifier, signer=signer)

def event(i):
    return AuditEvent(time="2026-03-01T12:00:00.000000Z", principal=tag, action="dataset.read",
                      resource="dataset:credit-german", outcome="allowed", request_id=f"{tag}-{i}",
                      details={"i": i, "sha256": "ab" * 32})

print("ready", flush=True)
if mode == "race":
    sys.stdin.readline()
    acked, i = {}, 0
    while i < 100:
        group = [event(j) for j in range(i, min(100, i + (1 if i % 2 else 3)))]
        seqs = log.append_many(group) if len(group) > 1 else [log.append(group[0])]
        for e, seq in zip(group, seqs):
            acked[e.request_id] = seq
        i += len(group)
    print(json.dumps(acked), flush=True)
elif mode == "forever":
    i = 0
    while True:
        group = [event(j) for j in range(i, i + (1 + i % 3))]
        seqs = log.append_many(group) if len(group) > 1 else [log.append(group[0])]
        for e, seq in zip(group, seqs):
            print(seq, e.request_id, flush=True)
        i += len(group)
elif mode == "nospace":
    import resource, signal
    assert log.size() > 0
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    try:
        log.append(event(0))
        outcome = {"error": None}
    except Exception as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print(json.dumps(outcome), flush=True)
"""


def _worker_event(tag: str, i: int) -> AuditEvent:
    return AuditEvent(
        time="2026-03-01T12:00:00.000000Z",
        principal=tag,
        action="dataset.read",
        resource="dataset:credit-german",
        outcome="allowed",
        request_id=f"{tag}-{i}",
        details={"i": i, "sha256": "ab" * 32},
    )


def _spawn(path: Path, seed: bytes, tag: str, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(path), seed.hex(), tag, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def _finish(proc: subprocess.Popen[str]) -> str:
    """The rest of the child's output (read from ``proc.stdout`` itself: readline() buffered some)."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.close()
    out = proc.stdout.read()
    proc.stdout.close()
    proc.wait(timeout=120)
    return out


@pytest.mark.slow
def test_processes_share_one_log(tmp_path: Path) -> None:
    """4 processes, each its own AuditLog on the file: their cached frontiers go stale and retry."""
    seed = os.urandom(32)
    path = tmp_path / "access.db"
    signer = NoteSigner.from_seed(KEY_NAME, seed)
    procs = [_spawn(path, seed, f"p{p}", "race") for p in range(4)]
    outputs: list[str] = []
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out = _finish(proc)
        assert proc.returncode == 0
        outputs.append(out)
    acked: dict[str, int] = {}
    for out in outputs:
        acked.update(json.loads(out))
    assert sorted(acked.values()) == list(range(400))
    log = AuditLog(path, origin=ORIGIN, verifier=signer.verifier)
    by_seq = {e.seq: e for e in log.entries()}
    for request_id, seq in acked.items():
        tag, i = request_id.split("-")
        assert by_seq[seq] == _as_entry(_worker_event(tag, int(i)), seq)
    result = log.verify()
    assert result.ok, result.problem
    assert result.size == 400


@pytest.mark.slow
def test_sigkilled_writer_leaves_a_valid_log_with_every_acknowledged_entry(tmp_path: Path) -> None:
    """An entry whose seq the writer printed (after append returned) survives SIGKILL at any moment."""
    seed = os.urandom(32)
    path = tmp_path / "access.db"
    signer = NoteSigner.from_seed(KEY_NAME, seed)
    reader = AuditLog(path, origin=ORIGIN, verifier=signer.verifier)
    rng_seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(rng_seed)
    acked: dict[int, tuple[str, int]] = {}
    killed = 0
    for run in range(20):
        tag = f"run{run}"
        proc = _spawn(path, seed, tag, "forever")
        time.sleep(rng.choice([0.0, rng.uniform(0, 0.005), rng.uniform(0, 0.05)]))
        proc.send_signal(signal.SIGKILL)
        out = _finish(proc)
        killed += proc.returncode == -signal.SIGKILL
        for line in out.splitlines(keepends=True):
            if line.endswith("\n"):  # a complete acknowledgement
                seq_text, request_id = line.split()
                assert int(seq_text) not in acked, (rng_seed, run, seq_text)
                acked[int(seq_text)] = (tag, int(request_id.split("-")[1]))

        result = reader.verify()
        assert result.ok, (rng_seed, run, result.problem)
        by_seq = {e.seq: e for e in reader.entries()}
        for seq, (t, i) in acked.items():
            assert by_seq.get(seq) == _as_entry(_worker_event(t, i), seq), (rng_seed, run, seq)
    assert killed == 20
    assert acked, "no run acknowledged anything before it was killed"
    # The log is still appendable, from where the killed writers left it.
    writer = AuditLog(path, origin=ORIGIN, verifier=signer.verifier, signer=signer)
    size = writer.size()
    assert writer.append(_event(0)) == size
    assert writer.verify().ok


# -- failing closed -------------------------------------------------------------------------------


def test_append_fails_closed_while_the_database_is_locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlwarden._sqlite, "BUSY_TIMEOUT_S", 0.2)
    built = _build(tmp_path / "access.db", 30, seed=13)
    blocker = sqlite3.connect(built.path, isolation_level=None, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    errors: list[BaseException] = []
    try:
        with pytest.raises(AuditUnavailable, match=r"could not record this action \(.*locked.*\), so it was refused"):
            built.log.append(_event(30, tag="refused"))
        with pytest.raises(AuditUnavailable, match="refused"):
            built.log.append_many([_event(31 + i, tag="refused") for i in range(3)])

        # Writers sharing a commit all learn of its failure.
        def writer(i: int) -> None:
            try:
                built.log.append(_event(40 + i, tag="refused"))
            except AuditUnavailable as exc:
                errors.append(exc)

        workers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(errors) == 4
    assert all("refused" in str(e) for e in errors)
    # Nothing of the refused actions was stored, and the log carries on where it was.
    assert built.log.size() == 30
    assert all(e.request_id.startswith("e-") for e in built.log.entries())
    assert built.log.append(_event(30)) == 30
    result = built.log.verify()
    assert result.ok, result.problem
    assert result.size == 31


def test_append_fails_closed_when_the_file_cannot_grow(tmp_path: Path) -> None:
    """A child process whose file-size limit (RLIMIT_FSIZE) stops every write, as a full disk would."""
    seed = os.urandom(32)
    signer = NoteSigner.from_seed(KEY_NAME, seed)
    built = _new_log(tmp_path / "access.db", signer)
    built.log.append_many([_event(i) for i in range(20)])
    built.log.close()  # the last connection closing empties the WAL, so the child must grow a file
    proc = _spawn(built.path, seed, "nospace", "nospace")
    out = _finish(proc)
    assert proc.returncode == 0
    outcome = json.loads(out)
    assert outcome["error"] == "AuditUnavailable"
    assert "could not record this action" in outcome["message"]
    assert outcome["message"].endswith("so it was refused")
    reader = built.open(writable=False)
    result = reader.verify()
    assert result.ok, result.problem
    assert result.size == 20
    assert [e.request_id for e in reader.entries()] == [f"e-{i}" for i in range(20)]


def test_read_only_log_refuses_appends(tmp_path: Path) -> None:
    built = _build(tmp_path / "access.db", 10, seed=14)
    reader = built.open(writable=False)
    with pytest.raises(BadInput, match="read-only"):
        reader.append(_event(10))
    with pytest.raises(BadInput, match="read-only"):
        reader.append_many([_event(10), _event(11)])
    assert reader.size() == 10
    assert reader.verify().ok
    assert reader.checkpoint().size == 10


def test_signer_must_match_the_verifier(tmp_path: Path) -> None:
    signer = NoteSigner.from_seed(KEY_NAME, os.urandom(32))
    other = NoteSigner.from_seed(KEY_NAME, os.urandom(32))
    with pytest.raises(BadInput, match="keys differ"):
        AuditLog(tmp_path / "access.db", origin=ORIGIN, verifier=other.verifier, signer=signer)


def test_unopenable_database_is_unavailable(tmp_path: Path) -> None:
    signer = NoteSigner.from_seed(KEY_NAME, os.urandom(32))
    with pytest.raises(AuditUnavailable, match="cannot be opened"):
        AuditLog(tmp_path, origin=ORIGIN, verifier=signer.verifier, signer=signer)  # a folder
