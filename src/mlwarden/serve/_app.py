"""The FastAPI application around :class:`~mlwarden.serve._service.Service`.

Routes::

    GET  /healthz                     liveness, no authentication, reveals nothing
    GET  /metrics                     Prometheus text; a token with log.read or model.serve
    GET  /v1/models                   the models this token may use, with their input schemas
    POST /v1/models/{name}/predict    {"instances": [{column: value, ...}, ...]}
    GET  /openapi.json                the OpenAPI 3.1 document of the models this token may use

The predict route is answered by :class:`FastPath`, a few lines of plain ASGI in front of the
FastAPI app: it matches ``/v1/models/{name}/predict`` exactly (other methods: 405), skipping
FastAPI's routing, dependency solving and middleware stack (about half the CPU time of a request
otherwise), and reads the body under its deadline and minimum rate (408 past them); the slots
for requests in progress are the service's (:mod:`mlwarden.serve._admission`). Every other
request goes to the FastAPI app. There is no second predict route that a path spelled slightly
differently could reach.

Routing is on the path as sent: a request whose raw path differs from its decoded form (any
percent-encoding, ``/v1/%6dodels/...``) is answered 404 before any route, FastAPI's included,
so the server and a proxy that filters paths as sent never disagree on which route a request
takes. No path the server answers needs percent-encoding (model names are ``[A-Za-z0-9._-]``).

The OpenAPI document is written here rather than derived from handler signatures: each served
model gets its own predict path whose request schema is exactly what its validator accepts
(columns, types, ranges, categories, instances per call), so clients and fuzzers see the real
contract. Handlers take the raw request, so that the body is measured before it is parsed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlwarden.access import new_request_id
from mlwarden.serve._admission import BodyTooSlow
from mlwarden.serve._service import Reply, Service

__all__ = ["FastPath", "create_app"]

log = logging.getLogger("mlwarden.serve")

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _authorization(request: Request) -> str | None:
    """Every ``Authorization`` header, joined by newlines (which no header value can hold)."""
    values = request.headers.getlist("authorization")
    return "\n".join(values) if values else None


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _respond(reply: Reply) -> Response:
    return Response(
        content=reply.body,
        status_code=reply.status,
        headers={**_HEADERS, **reply.headers},
        media_type="application/json",
    )


def create_app(service: Service, *, close_on_shutdown: bool = True) -> FastPath:
    """The ASGI app serving ``service``: :class:`FastPath` in front of the FastAPI app (``.app``).

    Its lifespan starts the service's reloader (new production versions, SIGHUP) and the rotation
    of its live-profile windows and, when the server stops, ends both, stores the windows in
    progress, waits for background work and closes the workspace (unless ``close_on_shutdown`` is
    false).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.reloader.start()  # SIGHUP, and the checks for new production versions
        service.profiles.start()  # live-profile windows closed every drift_window seconds
        yield
        await service.reloader.stop()
        await service.profiles.stop()
        await service.drain()  # closes and stores the windows in progress
        if close_on_shutdown:
            service.ws.close()

    app = FastAPI(
        title="mlwarden inference",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # a redirect would answer before any check, to a URL built from Host
        lifespan=lifespan,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        """FastAPI's own refusals (unknown path 404, wrong method 405) in the server's error shape."""
        headers = dict(exc.headers or {})
        return _respond(Reply(exc.status_code, json.dumps({"error": str(exc.detail)}).encode(), headers))

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz() -> Response:
        return _respond(Reply(200, b'{"status":"ok"}'))

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        who = await service.authenticate(_authorization(request), new_request_id(), client=_client(request))
        if isinstance(who, Reply):
            return _respond(who)
        if not (who.allows("log.read", "log") or who.allows("model.serve", "model")):
            return _respond(await service.refuse(who, "metrics", "reading metrics needs log.read or model.serve"))
        return Response(content=service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", include_in_schema=False)
    async def list_models(request: Request) -> Response:
        return _respond(await service.list_models(_authorization(request), client=_client(request)))

    documents: dict[tuple[str, ...], bytes] = {}
    generation = service.generation

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        nonlocal generation
        who = await service.authenticate(_authorization(request), new_request_id(), client=_client(request))
        if isinstance(who, Reply):
            return _respond(who)
        if generation != service.generation:  # a model was switched: its schema and version may differ
            documents.clear()
            generation = service.generation
        names = tuple(name for name in sorted(service.models) if service.may_use(who, name))
        if names not in documents:
            documents[names] = json.dumps(openapi_document(service, names)).encode()
        return _respond(Reply(200, documents[names]))

    return FastPath(app, service)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PREDICT = re.compile(r"/v1/models/([^/]+)/predict")
_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()] + [
    (b"content-type", b"application/json")
]


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class FastPath:
    """Plain ASGI in front of ``app``: answers predict requests directly, passes everything else on."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path")
        if raw_path is not None and raw_path.decode("latin-1") != scope["path"]:
            self.service.metrics.refused.labels("encoded-path").inc()
            await _send(send, Reply(404, b'{"error":"Not Found"}'))
            return
        match = _PREDICT.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _send(send, Reply(405, b'{"error":"Method Not Allowed"}', {"Allow": "POST"}))
            return
        await self._predict(match.group(1), scope, receive, send)

    async def _predict(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = content_length = None
        has_body = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                text = value.decode("latin-1")
                authorization = text if authorization is None else f"{authorization}\n{text}"
            elif key == b"content-length":
                content_length = value.decode("latin-1")
                has_body = has_body or content_length.strip() != "0"
            elif key == b"transfer-encoding":
                has_body = True
        config = self.service.config
        read_to_end = False

        async def read_body(limit: int) -> bytes | None:
            """The body, within ``limit`` bytes (``None`` past it), its deadline and its minimum rate."""
            nonlocal read_to_end
            loop = asyncio.get_running_loop()
            start = loop.time()
            chunks: list[bytes] = []
            size = 0
            while True:
                # When the next byte is due: by the deadline, and by the minimum rate after the grace.
                due = start + config.body_timeout
                if config.body_min_rate:
                    due = min(due, start + config.body_grace + (size + 1) / config.body_min_rate)
                try:
                    async with asyncio.timeout_at(due):
                        message = await receive()
                except TimeoutError:
                    elapsed = loop.time() - start
                    if elapsed >= config.body_timeout:
                        raise BodyTooSlow(
                            f"the request body took longer than {config.body_timeout:g} s; send it at once"
                        ) from None
                    raise BodyTooSlow(
                        f"the request body arrived slower than {config.body_min_rate} bytes a second "
                        f"(after {config.body_grace:g} s); send it at once"
                    ) from None
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    read_to_end = True
                    return b"".join(chunks)

        client = scope.get("client")
        try:
            reply = await self.service.predict(
                name, authorization, content_length, read_body, client=None if client is None else str(client[0])
            )
        except _Disconnected:
            return  # the client left before its request was whole: nothing to predict, nobody to answer
        except Exception:
            log.exception("internal error while answering a prediction")
            reply = Reply(500, b'{"error":"internal error; the server log says more"}')
        if has_body and not read_to_end:
            # The rest of the body would only be read to be thrown away, at the client's pace:
            # close the connection instead, so a refused (or slow) sender holds nothing.
            reply = Reply(reply.status, reply.body, {**reply.headers, "Connection": "close"})
        await _send(send, reply)


async def _send(send: Send, reply: Reply) -> None:
    headers = [*_RAW_HEADERS, (b"content-length", str(len(reply.body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def openapi_document(service: Service, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 description of what this server accepts and answers, for the models ``names``.

    ``GET /openapi.json`` needs a token and describes only the models that token may use, so the
    document reveals no more than ``GET /v1/models`` does (a model's schema names its columns,
    ranges and categories).
    """
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    refusals: dict[str, Any] = {
        "401": _response("No, malformed, unknown, expired, revoked or suspended token.", _ERROR),
        "403": _response("The model is not served to this token (unknown models are answered the same).", _ERROR),
        "503": _response("The audit log cannot be written, or every slot for predictions is taken.", _ERROR),
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness (no authentication).",
                "responses": {
                    "200": _response("Alive.", {"type": "object", "properties": {"status": {"type": "string"}}})
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "list_models",
                "summary": "The models this token may use.",
                "security": bearer,
                "responses": {
                    "200": _response(
                        "Models.",
                        {
                            "type": "object",
                            "properties": {"models": {"type": "array", "items": {"type": "object"}}},
                            "required": ["models"],
                        },
                    ),
                    "401": refusals["401"],
                    "503": refusals["503"],
                },
            }
        },
    }
    for name, served in sorted(service.models.items()):
        if names is not None and name not in names:
            continue
        labels = {"type": "array", "items": {"type": ["string", "number", "integer", "boolean", "null"]}}
        probabilities = {
            "anyOf": [
                {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                {"type": "null"},
            ]
        }
        answer = {
            "type": "object",
            "properties": {
                "predictions": labels,
                "probabilities": probabilities,
                "model": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "integer"},
                        "digest": {"type": "string"},
                    },
                    "required": ["name", "version", "digest"],
                },
                "request_id": {"type": "string"},
                "explanations": {
                    "type": "array",
                    "description": 'With "explain": true: per instance the base value, output, contributions per '
                    "column and at most four reasons.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "base": {"type": "number"},
                            "output": {"type": "number"},
                            "contributions": {"type": "object", "additionalProperties": {"type": "number"}},
                            "reasons": {"type": "array", "items": {"type": "object"}, "maxItems": 4},
                        },
                        "required": ["base", "output", "contributions", "reasons"],
                    },
                },
            },
            "required": ["predictions", "probabilities", "model", "request_id"],
        }
        paths[f"/v1/models/{name}/predict"] = {
            "post": {
                "operationId": f"predict_{name}",
                "summary": f"Predict with {name}@{served.version} ({served.output.describe()}).",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": served.validator.json_schema()}},
                },
                "responses": {
                    "200": _response("Predictions, one per instance, in order.", answer),
                    **refusals,
                    "400": _response("A malformed Content-Length header.", _ERROR),
                    "408": _response(
                        f"The body took over {service.config.body_timeout:g} s, or arrived slower than "
                        f"{service.config.body_min_rate} bytes a second; the connection is closed.",
                        _ERROR,
                    ),
                    "413": _response(f"The body is over {service.config.max_body_bytes} bytes.", _ERROR),
                    "500": _response("An explanation failed its additivity check and was withheld.", _ERROR),
                    "422": _response("The body is not JSON, or a row does not fit the model's schema.", _ERROR),
                    "429": {
                        **_response(
                            "Rate limit or daily quota reached, or this token's share of the bodies read "
                            "or of the predictions in progress.",
                            _ERROR,
                        ),
                        "headers": {
                            "Retry-After": {
                                "description": "Seconds until a request may succeed.",
                                "required": True,
                                "schema": {"type": "integer"},
                            }
                        },
                    },
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "mlwarden inference", "version": "1"},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
