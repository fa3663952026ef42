"""Schema sniffing: the columns, their types and the row count of a dataset, in the single pass of a put.

``mlwarden data put`` reads a file's plaintext exactly once, in chunks that go through SHA-256 and the
encryptor, and never writes plaintext to disk. :class:`SchemaSniffer` rides along on that pass: every
chunk is also handed to :meth:`SchemaSniffer.feed`, and :meth:`SchemaSniffer.finish` at the end gives a
:class:`TabularSchema` for the catalog. Files can be many GiB, so memory is bounded whatever the file's
size (``max_queued`` chunks, a few 1 MiB pyarrow blocks and the batch being looked at; for Parquet, the
tail of the file), and nothing touches the disk.

Each format's sniffer lives in its own module: CSV in :mod:`._sniff_csv` and JSON Lines in
:mod:`._sniff_jsonl`, both on one background thread fed through the bounded channel of
:mod:`._channel`; Parquet in :mod:`._sniff_parquet`, which reads the footer from a bounded tail and
needs no thread. A file pyarrow cannot parse is still stored: the parser records why (in the words of
:mod:`._reasons`), the channel is cancelled, and every later chunk is dropped at once.

pyarrow is imported lazily, in the parser thread or at ``finish``: importing this module is cheap.
"""

from __future__ import annotations

import threading
from types import TracebackType

from mlwarden.store._channel import Channel, join
from mlwarden.store._formats import FORMATS
from mlwarden.store._reasons import reason
from mlwarden.store._sniff_csv import sniff_csv
from mlwarden.store._sniff_jsonl import sniff_jsonl
from mlwarden.store._sniff_parquet import ParquetTail
from mlwarden.store._tabular import TabularSchema

__all__ = ["SchemaSniffer"]


class SchemaSniffer:
    """Infers a dataset's schema from its plaintext fed chunk by chunk, parsing on a background thread.

    Use it as a context manager, or call :meth:`abort` if the put fails before :meth:`finish`::

        with SchemaSniffer("csv") as sniffer:
            for chunk in chunks:
                sniffer.feed(chunk)
            schema = sniffer.finish()
    """

    def __init__(self, fmt: str, *, max_queued: int = 8) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._format = fmt
        self._result: TabularSchema | None = None
        self._state = "open"  # then "finished" or "aborted"
        self._channel: Channel | None = None
        self._thread: threading.Thread | None = None
        self._parquet = ParquetTail() if fmt == "parquet" else None
        if fmt in ("csv", "jsonl"):
            self._channel = Channel(max_queued)
            self._thread = threading.Thread(
                target=self._run, args=(self._channel,), name=f"mlwarden-schema-{fmt}", daemon=True
            )
            self._thread.start()

    def __enter__(self) -> SchemaSniffer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def feed(self, chunk: bytes) -> None:
        """Give the next chunk of plaintext; the caller must not modify it afterwards.

        Blocks while ``max_queued`` chunks wait for the parser. Never raises because of the data: a
        parse failure is recorded, and later chunks are dropped at once.
        """
        if self._state != "open":
            if self._state == "finished":
                raise RuntimeError("feed() after finish()")
            return
        if not chunk:
            return
        if self._channel is not None:
            self._channel.put(bytes(chunk))
        elif self._parquet is not None:
            self._parquet.feed(bytes(chunk))

    def finish(self) -> TabularSchema:
        """End of the data: wait for the parser and return the schema.

        Interrupted while it waits (Ctrl-C), the sniffer is still open: :meth:`abort` stops the parser.
        """
        if self._state == "aborted":
            raise RuntimeError("finish() after abort()")
        if self._state == "open":
            if self._format == "binary":
                self._result = TabularSchema("binary", None, None, None)
            elif self._parquet is not None:
                self._result = self._parquet.result()
                self._parquet.clear()
            else:
                assert self._channel is not None
                assert self._thread is not None
                self._channel.close()
                self._thread.join()
                if self._result is None:  # cannot happen: the thread always leaves a result unless aborted
                    self._result = TabularSchema(self._format, None, None, "the schema parser stopped")
            self._state = "finished"
        assert self._result is not None
        return self._result

    def abort(self) -> None:
        """Stop the parser without a result (the put failed) and wait for its thread to end.

        Idempotent; a no-op after :meth:`finish`. A Ctrl-C while it waits is raised once the thread has
        ended (it takes milliseconds: cancelling wakes every wait of the parser).
        """
        if self._state != "open":
            return
        self._state = "aborted"
        if self._parquet is not None:
            self._parquet.clear()
        if self._channel is not None:
            self._channel.cancel()
        if self._thread is not None:
            join(self._thread)

    # --- the parser thread ---

    def _run(self, channel: Channel) -> None:
        try:
            result = sniff_csv(channel) if self._format == "csv" else sniff_jsonl(channel)
        except ImportError:
            result = TabularSchema(self._format, None, None, "pyarrow is not installed")
        except Exception as exc:  # whatever pyarrow raises: the file is still stored, the reason recorded
            result = TabularSchema(self._format, None, None, reason(exc))
        finally:
            channel.cancel()  # from now on feed() drops chunks at once
        if result is not None:
            self._result = result
