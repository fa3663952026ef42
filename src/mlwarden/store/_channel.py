"""The hand-off between a put's thread, which reads the file, and the parser thread, which sniffs it.

CSV and JSON Lines are parsed with pyarrow on one background thread, fed through a bounded
:class:`Channel`: ``put`` blocks once ``max_items`` chunks wait, which paces the put to the parser
(pyarrow releases the GIL while it parses, so hashing, encryption and parsing overlap on several
cores). When the parser gives up or the put is aborted, the channel is cancelled and every later chunk
is dropped at once. pyarrow's streaming CSV reader pulls its input from its own I/O thread and would
read 32 blocks ahead; :class:`Pipe` holds it to :data:`_READAHEAD`.

A worker thread is always joined before the put returns or raises, with :func:`join`, which a
Ctrl-C does not cut short: a thread left running inside pyarrow when the interpreter exits aborts
it (``Fatal Python error: PyGILState_Release``). Cancelling wakes every wait of the worker, so the
join takes milliseconds.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["BLOCK_SIZE", "Channel", "Pipe", "join"]

#: Bytes pyarrow parses at a time (its own default); a CSV row must fit in one block.
BLOCK_SIZE = 1 << 20
#: Blocks pyarrow may read ahead of the batches it has handed out (see :class:`Pipe`).
_READAHEAD = 3
#: A read returns once it has a block's size less this (see :meth:`Pipe.read`).
_SLACK = 64 << 10
_STALL = 0.05


def join(thread: threading.Thread) -> None:
    """Wait for ``thread`` (already told to stop) to end; a ``KeyboardInterrupt`` meanwhile is raised after."""
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            thread.join()
        except KeyboardInterrupt as exc:
            interrupted = exc
            continue
        break
    if interrupted is not None:
        raise interrupted


class Channel:
    """A bounded hand-off of chunks from the feeding thread to the parser thread.

    ``put`` blocks while ``max_items`` chunks wait. ``close`` marks the end of the data; ``cancel``
    (the parser gave up, or the put was aborted) drops what waits, wakes both sides, and makes every
    later ``put`` return at once and every ``get`` return ``None``.
    """

    def __init__(self, max_items: int) -> None:
        self._items: collections.deque[bytes] = collections.deque()
        self._max = max_items
        self.cond = threading.Condition()
        self._closed = False
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def put(self, item: bytes) -> None:
        with self.cond:
            while len(self._items) >= self._max and not self._cancelled:
                self.cond.wait()
            if not self._cancelled:
                self._items.append(item)
                self.cond.notify_all()

    def get(self) -> bytes | None:
        """The next chunk, or ``None`` at the end of the data or once cancelled."""
        with self.cond:
            while not self._items and not self._closed and not self._cancelled:
                self.cond.wait()
            if self._cancelled or not self._items:
                return None
            item = self._items.popleft()
            self.cond.notify_all()
            return item

    def close(self) -> None:
        with self.cond:
            self._closed = True
            self.cond.notify_all()

    def cancel(self) -> None:
        with self.cond:
            self._cancelled = True
            self._items.clear()
            self.cond.notify_all()


class Pipe:
    """A read-only file over a :class:`Channel`, with bytes pushed back in front; what pyarrow reads.

    ``read(n)`` blocks until it has about ``n`` bytes (at most ``n``, at least ``n - _SLACK``) or the
    data ends; it returns ``b""`` at the end of the data and as soon as the channel is cancelled, so a
    pyarrow reader stuck in a read unblocks on abort.

    pyarrow's streaming CSV reader calls ``read`` from its I/O thread pool and reads up to 32 blocks
    ahead of the batches it has handed out (32 MiB with 1 MiB blocks). To keep memory small, ``read``
    also holds back while :data:`_READAHEAD` blocks read are not yet back as batches, counted with
    :meth:`batches`. A block does not always make a batch (a row longer than a block, a block of empty
    lines), so to never deadlock, a read also goes ahead when the parser thread has been waiting for a
    batch for :data:`_STALL` seconds: then pyarrow needs more data than it has.
    """

    closed = False

    def __init__(self, channel: Channel, pushback: bytes = b"") -> None:
        self._channel = channel
        self._pending: collections.deque[bytes | memoryview] = collections.deque([pushback] if pushback else [])
        self._eof = False
        self._outstanding = 0  # blocks read that have not come back as batches
        self._consumer_waiting = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around each call of the parser thread into pyarrow that may need data to return."""
        cond = self._channel.cond
        with cond:
            self._consumer_waiting = True
            cond.notify_all()  # a read held back may now have to go ahead (see _hold_back)
        try:
            yield
        finally:
            with cond:
                self._consumer_waiting = False

    def batches(self, reader: Any) -> Iterator[Any]:
        """The batches of ``reader`` (a pyarrow reader over this pipe), counted for the flow control."""
        cond = self._channel.cond
        while True:
            try:
                with self.waiting():
                    batch = reader.read_next_batch()
            except StopIteration:
                return
            with cond:
                self._outstanding = max(0, self._outstanding - 1)
                cond.notify_all()
            yield batch

    def _hold_back(self) -> None:
        cond = self._channel.cond
        with cond:
            stalled_at = None
            while self._outstanding >= _READAHEAD and not self._channel.cancelled:
                if not self._consumer_waiting:
                    stalled_at = None
                    cond.wait()
                    continue
                now = time.monotonic()
                if stalled_at is None:
                    stalled_at = now
                elif now - stalled_at >= _STALL:
                    break  # the parser has waited all this time: pyarrow cannot make a batch of what it has
                cond.wait(stalled_at + _STALL - now)
            self._outstanding += 1

    def _next(self) -> bytes | memoryview | None:
        if self._pending:
            return self._pending.popleft()
        if self._eof:
            return None
        chunk = self._channel.get()
        if chunk is None:
            self._eof = True
        return chunk

    def read(self, size: int | None = -1, /) -> bytes | memoryview:
        self._hold_back()
        if self._channel.cancelled:
            return b""
        limit = BLOCK_SIZE if size is None or size < 0 else size
        # Whole chunks pass through as they are when they nearly fill the block (a put's chunks are
        # a little under 1 MiB): no copying. pyarrow takes each read as a block, and a row must not
        # straddle three blocks, so small chunks are gathered up to about a block.
        enough = limit - _SLACK if limit > 2 * _SLACK else limit
        parts: list[bytes | memoryview] = []
        have = 0
        while have < enough:
            chunk = self._next()
            if chunk is None:
                break
            if have + len(chunk) > limit:  # a chunk larger than a block: cut without copying
                cut = limit - have
                view = memoryview(chunk)
                self._pending.appendleft(view[cut:])
                chunk = view[:cut]
            parts.append(chunk)
            have += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)
