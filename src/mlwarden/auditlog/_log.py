"""The tamper-evident audit log: durable group-committed appends, signed heads, verification.

Storage: one table of the workspace's ``access.db`` (layout in ``docs/formats.md``)::

    audit_entries(seq INTEGER PRIMARY KEY, entry BLOB, leaf BLOB,
                  head_time TEXT, head_root BLOB, head_signature BLOB, frontier BLOB)

Entry ``seq`` is leaf ``seq`` of an RFC 9162 Merkle tree whose leaf data is ``seq`` (8 bytes,
big-endian) followed by the entry's canonical JSON, so an entry moved to another position no
longer hashes to its leaf. Each commit is one multi-row ``INSERT``; its last row also carries
the new tree head (size ``seq + 1``, root, time), signed with the workspace's Ed25519 key as a
C2SP checkpoint, and the tree's frontier, from which the next commit goes on.

What that detects, for whoever changes the database without the workspace's master key (and so
without the signing key): an edited, inserted, deleted or reordered entry makes its recomputed
leaf, or a signed head's root, disagree, and :meth:`AuditLog.verify` names the first entry
affected. Removing the newest entries together with their heads, back to an older signed head,
is the one change the log cannot see by itself: a checkpoint exported earlier
(:meth:`AuditLog.checkpoint`) and kept elsewhere catches it.

Every value read back is checked for the storage type it was written with (``entry``, ``leaf``,
``head_root``, ``head_signature`` and ``frontier`` BLOB, ``head_time`` TEXT, the head columns NULL
on rows without a head): a value turned into TEXT, say by ``UPDATE ... SET entry = CAST(entry AS
TEXT)``, is tampering like any other edit, and is reported as such, naming the entry, rather than
failing inside the hashing. Text is read undecoded-safe (invalid UTF-8 becomes surrogates, then
a storage problem) so that no edit can make a read raise.

Appends are durable before they return (``synchronous=FULL``: the commit is fsynced). Threads
appending at once share commits: the first becomes the leader and commits everything queued
while the previous commit was in flight, so one fsync and one signature serve the whole group.
Processes take turns through SQLite's write lock.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlwarden._access_db import open_access_db
from mlwarden._clock import Clock, event_time, utc_now
from mlwarden._sqlite import connect
from mlwarden.auditlog._merkle import EMPTY_ROOT, Frontier, inclusion_proof, root_of, verify_inclusion
from mlwarden.auditlog._note import CheckpointBody, NoteSigner, NoteVerifier, open_note, parse_checkpoint_body
from mlwarden.auditlog._records import AuditEntry, AuditEvent, Checkpoint, InclusionProof, LogVerification
from mlwarden.errors import AuditUnavailable, BadInput, IntegrityError

if TYPE_CHECKING:
    import asyncio

__all__ = ["HEAD_INTERVAL", "AuditLog", "AuditUnavailable", "event_time", "verify_inclusion_proof"]

HEAD_INTERVAL = 1000
_HEAD_COLUMNS = "seq, head_root, head_time, head_signature"
_INSERT_COLUMNS = "seq, entry, leaf, head_time, head_root, head_signature, frontier"
# Fixed column lists; every value is a bound parameter.
_SELECT_NEWEST = f"SELECT {_HEAD_COLUMNS} FROM audit_entries ORDER BY seq DESC LIMIT 1"  # noqa: S608
_SELECT_NEWEST_STATE = f"SELECT {_HEAD_COLUMNS}, frontier FROM audit_entries ORDER BY seq DESC LIMIT 1"  # noqa: S608
_SELECT_ALL = f"SELECT entry, leaf, {_HEAD_COLUMNS} FROM audit_entries ORDER BY seq"  # noqa: S608
_sha256 = hashlib.sha256


MAX_BATCH = 4000  # rows per INSERT: 7 parameters each, within SQLite's 32,766


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO audit_entries ({_INSERT_COLUMNS}) VALUES {values}"  # noqa: S608 - placeholders only


class _StaleFrontier(Exception):
    """Another process appended since this one last looked."""


class _Pending:
    """One queued entry.

    A thread's entry has ``wake``, a lock held until a leader finishes the entry or hands its
    writer the lead. A coroutine's entry has ``future`` instead, settled on its event loop.
    """

    __slots__ = ("data", "done", "error", "future", "loop", "seq", "wake", "woken")

    def __init__(
        self,
        data: bytes,
        future: asyncio.Future[int] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.data = data
        self.seq = -1
        self.done = False
        self.error: BaseException | None = None
        self.future = future
        self.loop = loop
        self.wake = threading.Lock()
        self.woken = future is not None
        if future is None:
            self.wake.acquire()

    def wake_up(self) -> None:
        if not self.woken:
            self.woken = True
            self.wake.release()


def _refusal(error: BaseException) -> AuditUnavailable:
    return AuditUnavailable(f"the audit log could not record this action ({_describe(error)}), so it was refused")


def _settle(pending: list[_Pending]) -> None:
    """On an event loop: settle the futures of committed coroutine entries."""
    for p in pending:
        assert p.future is not None
        if p.future.done():  # the awaiting task was cancelled; the entry is recorded all the same
            continue
        if p.error is not None:
            p.future.set_exception(_refusal(p.error))
        else:
            p.future.set_result(p.seq)


@dataclass(frozen=True)
class _Head:
    size: int
    root: bytes
    time: str
    signature: bytes


class AuditLog:
    """Append-only, signed, verifiable. ``signer`` may be ``None`` for a read-only view."""

    def __init__(
        self,
        path: Path,
        *,
        origin: str,
        verifier: NoteVerifier,
        signer: NoteSigner | None = None,
        clock: Clock | None = None,
    ) -> None:
        if signer is not None and signer.verifier.public_key != verifier.public_key:
            raise BadInput("the audit log's signer and verifier keys differ")
        self.path = path
        self.origin = origin
        self._verifier = verifier
        self._signer = signer
        self._clock = clock or utc_now
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._committing = False
        self._frontier: Frontier | None = None
        self._kick = threading.Event()
        self._committer: threading.Thread | None = None
        self._closed = False
        try:
            self._conn = open_access_db(path)  # creates or upgrades the table (mlwarden._access_db)
            self._conn.text_factory = _text
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailable(f"the audit log at {path} cannot be opened ({exc}); nothing was done") from None

    def close(self) -> None:
        self._closed = True
        if self._committer is not None:
            self._kick.set()
            self._committer.join()
        self._conn.close()

    # -- appending ------------------------------------------------------------------------

    def append(self, event: AuditEvent) -> int:
        """Record ``event`` durably; returns its position. :class:`AuditUnavailable` if it cannot."""
        return self._append_data([event.to_bytes()])[0]

    def append_many(self, events: Sequence[AuditEvent]) -> list[int]:
        return self._append_data([e.to_bytes() for e in events])

    def _append_data(self, items: list[bytes]) -> list[int]:
        if self._signer is None:
            raise BadInput("this audit log was opened read-only")
        if not items:
            return []
        mine = [_Pending(data) for data in items]
        last = mine[-1]
        with self._lock:
            self._queue.extend(mine)
            lead = not self._committing
            self._committing = True
        if not lead:
            last.wake.acquire()  # until a leader committed our entries, or handed us the lead
        while not last.done:
            self._lead()
        for p in mine:
            if p.error is not None:
                raise _refusal(p.error) from None
        return [p.seq for p in mine]

    async def append_async(self, event: AuditEvent) -> int:
        """:meth:`append` for coroutines: awaits durability without blocking the event loop.

        Commits run on a committer thread; one commit settles all the futures of its batch
        with a single wake-up of the loop, so many concurrent requests cost a loop far less
        than as many threads would.
        """
        import asyncio

        if self._signer is None:
            raise BadInput("this audit log was opened read-only")
        loop = asyncio.get_running_loop()
        pending = _Pending(event.to_bytes(), loop.create_future(), loop)
        with self._lock:
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_forever, name="mlwarden-audit", daemon=True)
                self._committer.start()
            self._queue.append(pending)
            kick = not self._committing
            self._committing = True
        if kick:
            self._kick.set()
        assert pending.future is not None
        return await pending.future

    def _commit_forever(self) -> None:
        """The committer thread: leads whenever the lead falls to a coroutine's entry."""
        while True:
            self._kick.wait()
            self._kick.clear()
            if self._closed:
                return
            self._lead()

    def _lead(self) -> None:
        """Commit everything queued, then pass the lead to a writer still waiting.

        The whole queue goes into one commit, the leader's own entries included, so a leader
        never hands on the lead with work of its own left (two leaders at once would share the
        connection). Only the writers whose entries were committed wake up; each waits on its
        own lock, so a commit costs one wake-up per entry rather than a stampede.
        """
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        except BaseException as exc:  # every writer of the batch learns of the failure
            for p in batch:
                p.error = exc
        settle: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        kick = False
        with self._lock:
            for p in batch:
                p.done = True
                if p.loop is None:
                    p.wake_up()
                else:
                    settle.setdefault(p.loop, []).append(p)
            if self._queue:
                # The last entry queued belongs to a waiting writer (a group is queued whole):
                # it leads next, committing everything queued by then; a coroutine's entry
                # passes the lead to the committer thread.
                successor = self._queue[-1]
                if successor.loop is None:
                    successor.wake_up()
                else:
                    kick = True
            else:
                self._committing = False
        if kick:
            self._kick.set()
        for loop, pending in settle.items():
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(_settle, pending)

    def _commit(self, batch: list[_Pending]) -> None:
        """Write ``batch`` and a newly signed head in one transaction (one fsync).

        The leader keeps the tree's frontier between commits instead of reading it back; if
        another process appended meanwhile, the first new ``seq`` collides and the commit is
        retried from the stored state.
        """
        for _ in range(100):
            if self._frontier is None:
                self._frontier = self._load_frontier()
            try:
                self._frontier = self._write(self._frontier, batch)
                return
            except _StaleFrontier:
                self._frontier = None
            except BaseException:
                self._frontier = None
                raise
        raise AuditUnavailable("the audit log kept changing under this writer")

    def _load_frontier(self) -> Frontier:
        """The tree state stored with the newest entry, checked against that entry's signed head.

        Without the check, someone who edits an entry and rewrites the stored frontier to match
        would have the next commit sign the forged tree.
        """
        row = self._conn.execute(_SELECT_NEWEST_STATE).fetchone()
        if row is None:
            return Frontier()
        last = row[0]
        try:
            frontier = Frontier.from_bytes(last + 1, row[4])
        except (TypeError, ValueError):
            frontier = None
        misstored = _misstored(last, head_root=row[1], head_time=row[2], head_signature=row[3], frontier=row[4])
        if misstored is not None:
            raise IntegrityError(f"{misstored}, so nothing more is recorded on top of it; run `mlwarden log verify`")
        if frontier is None or not self._check_head(_head(*row[:4]), frontier):
            raise IntegrityError(
                f"the audit log's newest signed head (entry {last}) does not verify, so nothing more is "
                "recorded on top of it; run `mlwarden log verify`"
            )
        return frontier

    def _write(self, start: Frontier, batch: list[_Pending]) -> Frontier:
        """One transaction, so one fsync: a single statement (one release of the GIL) up to
        :data:`MAX_BATCH` entries, several inside ``BEGIN``/``COMMIT`` beyond."""
        frontier = start.copy()
        append = frontier.append
        params: list[object] = []
        for p in batch:
            seq = frontier.size
            leaf = _leaf_hash(seq, p.data)
            append(leaf)
            params += (seq, p.data, leaf, None, None, None, None)
        head = self._sign(frontier.size, frontier.root())
        params[-4:] = (head.time, head.root, head.signature, frontier.to_bytes())
        conn = self._conn
        try:
            if len(batch) <= MAX_BATCH:
                conn.execute(_insert_sql(len(batch)), params)
            else:
                conn.execute("BEGIN IMMEDIATE")
                width = 7 * MAX_BATCH
                for i in range(0, len(params), width):
                    chunk = params[i : i + width]
                    conn.execute(_insert_sql(len(chunk) // 7), chunk)
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise _StaleFrontier from None
            raise AuditUnavailable(str(exc)) from None
        for p, seq in zip(batch, range(start.size, frontier.size), strict=True):
            p.seq = seq
        return frontier

    def _sign(self, size: int, root: bytes) -> _Head:
        assert self._signer is not None
        time = event_time(self._clock())
        body = CheckpointBody(self.origin, size, root, time).text().encode()
        return _Head(size, root, time, self._signer.sign_raw(body))

    # -- reading --------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = connect(self.path)
        conn.text_factory = _text
        return conn

    def size(self) -> int:
        conn = self._reader()
        try:
            last = conn.execute("SELECT MAX(seq) FROM audit_entries").fetchone()[0]
        finally:
            conn.close()
        return 0 if last is None else int(last) + 1

    def entries(self, start: int = 0, since: str | None = None) -> Iterator[AuditEntry]:
        """Entries from position ``start`` on, in order; ``since`` keeps those at or after that time."""
        conn = self._reader()
        try:
            cursor = conn.execute("SELECT seq, entry FROM audit_entries WHERE seq >= ? ORDER BY seq", (start,))
            for seq, raw in cursor:
                misstored = _misstored(seq, entry=raw)
                if misstored is not None:
                    raise IntegrityError(f"{misstored}; run `mlwarden log verify`")
                try:
                    entry = AuditEntry.from_bytes(seq, raw)
                except (ValueError, KeyError, TypeError):
                    raise IntegrityError(f"audit log entry {seq} is damaged; run `mlwarden log verify`") from None
                if since is None or entry.time >= since:
                    yield entry
        finally:
            conn.close()

    def _state(self, conn: sqlite3.Connection) -> _Head | None:
        """The head stored with the newest entry (a blank one if that entry has none)."""
        row = conn.execute(_SELECT_NEWEST).fetchone()
        if row is None:
            return None
        misstored = _misstored(row[0], head_root=row[1], head_time=row[2], head_signature=row[3])
        if misstored is not None:
            raise IntegrityError(f"{misstored}; run `mlwarden log verify`")
        return _head(*row)

    def _head_ok(self, head: _Head) -> bool:
        body = CheckpointBody(self.origin, head.size, head.root, head.time).text().encode()
        return len(head.signature) == 64 and self._verifier.verify(body, head.signature)

    def checkpoint(self) -> Checkpoint:
        """The latest signed head, as a checkpoint to keep outside the workspace."""
        conn = self._reader()
        try:
            head = self._state(conn)
        finally:
            conn.close()
        if head is None:
            if self._signer is None:
                raise BadInput("the audit log is empty and was opened read-only: there is no signed head yet")
            head = self._sign(0, EMPTY_ROOT)
        elif not self._head_ok(head):
            raise IntegrityError("the audit log's latest signed head does not verify; run `mlwarden log verify`")
        note = self._verifier.note(CheckpointBody(self.origin, head.size, head.root, head.time).text(), head.signature)
        return Checkpoint(
            self.origin, head.size, head.root, head.time, head.signature, self._verifier.key_string(), note
        )

    def inclusion(self, seq: int, checkpoint: Checkpoint | None = None) -> InclusionProof:
        """A proof that entry ``seq`` is in the tree of ``checkpoint`` (default: the newest head).

        The proof carries the entry, the audit path and the checkpoint's signed note, so that
        anyone holding the workspace's verifier key can check it without the log
        (:func:`verify_inclusion_proof`). The stored leaves are checked against the signed root
        first: a proof is never built from a log that does not verify.
        """
        checkpoint = checkpoint or self.checkpoint()
        if not 0 <= seq < checkpoint.size:
            raise BadInput(f"entry {seq} is not in a log of {checkpoint.size} entries")
        conn = self._reader()
        try:
            rows = conn.execute(
                "SELECT seq, entry, leaf FROM audit_entries WHERE seq < ? ORDER BY seq", (checkpoint.size,)
            ).fetchall()
        finally:
            conn.close()
        for row_seq, entry, leaf in rows:
            misstored = _misstored(row_seq, entry=entry, leaf=leaf)
            if misstored is not None:
                raise IntegrityError(f"{misstored}; run `mlwarden log verify`")
        leaves = [leaf for _, _, leaf in rows]
        if [r[0] for r in rows] != list(range(checkpoint.size)) or root_of(leaves) != checkpoint.root:
            raise IntegrityError("the audit log does not match its signed head; run `mlwarden log verify`")
        entry = rows[seq][1]
        if _leaf_hash(seq, entry) != leaves[seq]:
            raise IntegrityError(f"audit log entry {seq} was changed; run `mlwarden log verify`")
        return InclusionProof(seq, entry, tuple(inclusion_proof(leaves, seq)), checkpoint)

    def read_checkpoint(self, note: str) -> CheckpointBody:
        """Check a checkpoint's signed note against this log's key and origin; its facts."""
        body = parse_checkpoint_body(open_note(note, self._verifier))
        if body.origin != self.origin:
            raise IntegrityError(f"the checkpoint is for log {body.origin}, not this workspace's ({self.origin})")
        return body

    # -- verification -------------------------------------------------------------------------

    def verify(
        self, checkpoint: CheckpointBody | None = None, progress: Callable[[int], None] | None = None
    ) -> LogVerification:
        """Recompute every leaf and the tree; check each signed head and ``checkpoint``."""
        conn = self._reader()
        try:
            return self._verify(conn, checkpoint, progress)
        finally:
            conn.close()

    def _verify(
        self, conn: sqlite3.Connection, checkpoint: CheckpointBody | None, progress: Callable[[int], None] | None
    ) -> LogVerification:
        """One pass over the entries.

        Every leaf is recomputed and compared with the stored one; the root is recomputed at
        the first signed head past each multiple of :data:`HEAD_INTERVAL` entries and at the
        newest entry, and those heads' signatures checked; and at ``checkpoint``'s size.
        """
        frontier = Frontier()
        append = frontier.append
        cursor = conn.execute(_SELECT_ALL)
        cursor.arraysize = 4096
        expected = 0
        boundary = HEAD_INTERVAL
        trusted = 0  # entries covered by the newest head checked so far
        heads = 0
        roots = {0: EMPTY_ROOT}
        want = -1 if checkpoint is None else checkpoint.size
        # A commit at a position the checkpoint covers, signed after the checkpoint was taken,
        # cannot happen in a log that was only ever appended to: it marks where a log cut back
        # and written again starts to differ.
        taken = None if checkpoint is None else checkpoint.time
        batch_start = 0
        late: int | None = None
        last: _Head | None = None
        bad: tuple[int, str] | None = None
        while bad is None:
            rows = cursor.fetchmany()
            if not rows:
                break
            for data, leaf, seq, root, time, signature in rows:
                if seq != expected:
                    what = f"entry {expected} is missing" if seq > expected else f"entry {seq} is out of order"
                    bad = (expected, what)
                    break
                if type(data) is not bytes or type(leaf) is not bytes:
                    bad = (seq, str(_misstored(seq, entry=data, leaf=leaf)))
                    break
                if not (root is None and time is None and signature is None):
                    misstored = _misstored(seq, head_root=root, head_time=time, head_signature=signature)
                    if misstored is not None:
                        bad = (seq, misstored)
                        break
                if _sha256(b"\x00" + seq.to_bytes(8, "big") + data).digest() != leaf:  # _leaf_hash, inlined
                    bad = (seq, f"entry {seq} does not match its leaf hash: it was changed or moved")
                    break
                append(leaf)
                expected += 1
                if expected == want:
                    roots[want] = frontier.root()
                if signature is not None:
                    if late is None and taken is not None and seq < want and time is not None and time > taken:
                        late = batch_start
                    batch_start = seq + 1
                    last = _head(seq, root, time, signature)
                    if expected >= boundary:
                        heads += 1
                        if not self._check_head(last, frontier):
                            bad = (trusted, _head_problem(trusted, last))
                            break
                        trusted = expected
                        boundary = (expected // HEAD_INTERVAL + 1) * HEAD_INTERVAL
                else:
                    last = None
            if progress is not None:
                progress(len(rows))
        size = frontier.size
        if bad is None and size:
            if last is None or last.size != size:
                bad = (trusted, f"entries {trusted}..{size - 1} are not covered by a signed head")
            elif last.size != trusted:
                heads += 1
                if not self._check_head(last, frontier):
                    bad = (trusted, _head_problem(trusted, last))
        if bad is None and checkpoint is not None:
            if checkpoint.size > size and (late is None or late >= size):
                bad = (
                    size,
                    f"the checkpoint covers {checkpoint.size} entries but the log has {size}: "
                    f"entries {size}..{checkpoint.size - 1} were removed",
                )
            elif late is not None:
                bad = (
                    late,
                    f"entries from {late} on were written after the checkpoint was taken, at positions it "
                    f"covers: the log was cut back to {late} entries (entries {late}..{checkpoint.size - 1} "
                    "removed) and appended to since",
                )
            elif roots.get(checkpoint.size) != checkpoint.root:
                bad = (0, f"the log's first {checkpoint.size} entries differ from the checkpoint's")
        return LogVerification(
            size=size,
            root=frontier.root(),
            heads_checked=heads,
            ok=bad is None,
            problem=None if bad is None else bad[1],
            first_bad=None if bad is None else bad[0],
            checkpoint_size=None if checkpoint is None else checkpoint.size,
        )

    def _check_head(self, head: _Head, frontier: Frontier) -> bool:
        return self._head_ok(head) and frontier.root() == head.root


def _leaf_hash(seq: int, entry: bytes) -> bytes:
    """Leaf ``seq``: SHA-256(0x00 || seq as 8 bytes big-endian || entry)."""
    return _sha256(b"\x00" + seq.to_bytes(8, "big") + entry).digest()


def verify_inclusion_proof(proof: InclusionProof, verifier: NoteVerifier) -> AuditEntry:
    """Check a proof from :meth:`AuditLog.inclusion` with only the log's verifier key.

    The checkpoint's note must be signed by ``verifier``; its root must be reached from the
    entry's leaf by the audit path. Returns the entry; :class:`IntegrityError` otherwise.
    """
    body = parse_checkpoint_body(open_note(proof.checkpoint.note, verifier))
    if (body.origin, body.size, body.root) != (proof.checkpoint.origin, proof.checkpoint.size, proof.checkpoint.root):
        raise IntegrityError("the proof's checkpoint does not match its signed note")
    if not verify_inclusion(_leaf_hash(proof.seq, proof.entry), proof.seq, body.size, proof.path, body.root):
        raise IntegrityError(f"entry {proof.seq} is not in the signed log of {body.size} entries")
    try:
        return AuditEntry.from_bytes(proof.seq, proof.entry)
    except (ValueError, KeyError, TypeError):
        raise IntegrityError("the proven entry is not an audit entry") from None


def _text(raw: bytes) -> str:
    """The readers' ``text_factory``: TEXT values as ``str``, invalid UTF-8 kept as surrogates.

    The standard one raises on invalid UTF-8, so that an entry edited into such TEXT would make
    the read itself fail; this way it is read, and :func:`_misstored` names it.
    """
    return raw.decode("utf-8", "surrogateescape")


_STORAGE = {bytes: "BLOB", str: "TEXT", int: "INTEGER", float: "REAL", type(None): "NULL"}
_NULLABLE = frozenset({"head_root", "head_time", "head_signature", "frontier"})


def _misstored(seq: int, **columns: object) -> str | None:
    """What is wrong with how the columns of entry ``seq`` are stored, or None if nothing.

    Each value must have the storage type it was written with: ``head_time`` TEXT (valid
    UTF-8), every other column BLOB; the head columns may be NULL. Anything else was written by
    someone other than the log (``CAST(entry AS TEXT)``, say), so it is reported as tampering.
    """
    for column, value in columns.items():
        if value is None and column in _NULLABLE:
            continue
        want = "TEXT" if column == "head_time" else "BLOB"
        stored = _STORAGE.get(type(value), type(value).__name__)
        if want == "TEXT" and type(value) is str and not _is_utf8(value):
            stored = "TEXT that is not UTF-8"
        if stored != want:
            return (
                f"audit log entry {seq} was tampered with: its {column} is stored as {stored}, "
                f"not {want} as the log writes it"
            )
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _head(seq: int, root: bytes | None, time: str | None, signature: bytes | None) -> _Head:
    return _Head(seq + 1, root or b"", time or "", signature or b"")


def _head_problem(trusted: int, head: _Head) -> str:
    return (
        f"entries {trusted}..{head.size - 1} do not match the signed head at size {head.size}: "
        "an entry was changed, inserted or removed there, or the head was forged"
    )


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
