"""Calling the server's ASGI app directly, with no test client in between (what uvicorn would hand it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]


def post_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of ``POST path`` from 127.0.0.1, with ``headers`` after ``Host``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"mlwarden.test"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("mlwarden.test", 80),
    }


def call(app: Any, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]]) -> list[Message]:
    """Run ``app`` on one request; the messages it sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent
