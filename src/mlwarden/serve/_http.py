"""uvicorn's HTTP protocol with a deadline for request headers: idle and slow clients are closed.

uvicorn arms its keep-alive timer only after a response, and stops it at the first byte of the
next request. A client that connects and sends nothing, or sends its headers a byte at a time,
holds a connection for as long as it likes: a few thousand of them exhaust the process's file
descriptors (or uvicorn's ``limit_concurrency``, which counts idle connections too, and then
refuses everyone). Here each connection must deliver a request's complete headers within
``header_timeout`` seconds of connecting, and within ``keep_alive + header_timeout`` of the
previous response; otherwise it is closed. A body, once the headers are in, is the app's to
read: :class:`~mlwarden.serve._app.FastPath` reads a predict request's body under its own
deadline and minimum rate, and a response sent before a body was read to its end carries
``Connection: close``, so no connection outlives its request at the client's pace.

This subclasses uvicorn's httptools protocol and relies on three of its methods
(``connection_made``, ``on_headers_complete``, ``on_response_complete``); a test opens idle and
slow connections against a real server so that an incompatible uvicorn is noticed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeaderDeadlineProtocol"]


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """An ``HttpToolsProtocol`` closing connections that are slow to send request headers.

    ``header_timeout`` is a class attribute, set by the server before it listens (in each worker
    process too): uvicorn hands its workers the protocol class by name.
    """

    header_timeout = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.timeout_keep_alive + self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
