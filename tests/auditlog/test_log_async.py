"""``AuditLog.append_async``: coroutines share commits with each other and with threads."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlwarden.auditlog import AuditEvent, AuditLog, AuditUnavailable, NoteSigner, event_time
from mlwarden.errors import BadInput


def _log(path: Path) -> AuditLog:
    signer = NoteSigner.from_seed("mlwarden/test", os.urandom(32))
    return AuditLog(path, origin="mlwarden/test", verifier=signer.verifier, signer=signer)


def _event(who: str, i: int) -> AuditEvent:
    return AuditEvent(
        time=event_time(datetime.now(UTC)),
        principal=who,
        action="predict",
        resource="model:credit",
        outcome="allowed",
        request_id=f"{who}-{i}",
        details={"n": i},
    )


def test_concurrent_coroutines_get_distinct_durable_positions(tmp_path: Path) -> None:
    log = _log(tmp_path / "access.db")

    async def writer(name: str) -> list[int]:
        return [await log.append_async(_event(name, i)) for i in range(100)]

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(writer(f"w{k}") for k in range(8)))

    results = asyncio.run(main())
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(800))
    by_seq = {e.seq: e for e in log.entries()}
    for k, positions in enumerate(results):
        assert [by_seq[s].request_id for s in positions] == [f"w{k}-{i}" for i in range(100)]
    # Shared commits: far fewer signed heads than entries.
    conn = sqlite3.connect(tmp_path / "access.db")
    heads = conn.execute("SELECT COUNT(*) FROM audit_entries WHERE head_signature IS NOT NULL").fetchone()[0]
    conn.close()
    assert heads < 800
    assert log.verify().ok
    log.close()


def test_threads_and_coroutines_share_one_log(tmp_path: Path) -> None:
    log = _log(tmp_path / "access.db")
    thread_seqs: list[int] = []

    def thread_writer() -> None:
        for i in range(150):
            thread_seqs.append(log.append(_event("thread", i)))

    async def main() -> list[int]:
        return [await log.append_async(_event("coro", i)) for i in range(150)]

    threads = [threading.Thread(target=thread_writer) for _ in range(2)]
    for t in threads:
        t.start()
    coro_seqs = asyncio.run(main())
    for t in threads:
        t.join()
    assert sorted(thread_seqs + coro_seqs) == list(range(450))
    result = log.verify()
    assert result.ok
    assert result.size == 450
    log.close()


def test_a_failed_commit_refuses_every_waiting_coroutine(tmp_path: Path) -> None:
    log = _log(tmp_path / "access.db")
    asyncio.run(log.append_async(_event("ok", 0)))

    def broken(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    log._write = broken  # type: ignore[method-assign,assignment]

    async def main() -> list[BaseException | int]:
        return await asyncio.gather(*(log.append_async(_event("w", i)) for i in range(5)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, AuditUnavailable) for o in outcomes)
    assert "refused" in str(outcomes[0])
    assert log.size() == 1
    log.close()


def test_read_only_log_refuses_async_appends(tmp_path: Path) -> None:
    writer = _log(tmp_path / "access.db")
    reader = AuditLog(
        tmp_path / "access.db",
        origin="mlwarden/test",
        verifier=NoteSigner.from_seed("mlwarden/test", os.urandom(32)).verifier,
    )
    with pytest.raises(BadInput):
        asyncio.run(reader.append_async(_event("x", 0)))
    reader.close()
    writer.close()


def test_close_stops_the_committer_thread(tmp_path: Path) -> None:
    log = _log(tmp_path / "access.db")
    asyncio.run(log.append_async(_event("x", 0)))
    committer = log._committer
    assert committer is not None
    assert committer.is_alive()
    log.close()
    assert not committer.is_alive()
