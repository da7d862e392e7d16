"""The HTTP (JSON) transport: an ASGI app Centrifugo POSTs proxy calls to.

Routes: ``POST /centrifugo/{kind}`` for each proxy kind, ``GET /health`` and
``GET /metrics``. A thin adapter over :class:`~hub.proxy.dispatch.Dispatcher`.

:func:`http_app` answers the proxy calls themselves on a lean ASGI path (no
routing, middleware or request objects: about a fifth of the CPU of a call
under load went there, docs/benchmarks.md, section "speed"), with the same
answers as the Starlette routes of :func:`proxy_routes`, which serve everything
else and which an application can mount in its own Starlette app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.centrifugo import KINDS, DecodeError
from hub.centrifugo.codec import decode_json, encode_json

from .dispatch import Dispatcher
from .errors import BadRequest, CallFailed, Overloaded, TooLarge, Unauthenticated


def proxy_routes(dispatcher: Dispatcher) -> list[BaseRoute]:
    """The proxy's routes, to mount in an application's own Starlette app too."""
    header = dispatcher.settings.secret_header
    limit = dispatcher.settings.max_body_size

    async def proxy_call(request: Request) -> Response:
        name = request.path_params["kind"]
        kind = KINDS.get(name)
        if kind is None:
            return _problem(404, f"unknown proxy kind {name!r}; expected one of {sorted(KINDS)}")
        try:
            dispatcher.authorize(request.headers.getlist(header))
            body = await _read_body(request, limit)
            try:
                call = decode_json(kind, body, dispatcher.forwarded(request.headers.items()))
            except DecodeError as exc:
                raise BadRequest(str(exc)) from exc
        except Unauthenticated as exc:
            return _problem(401, str(exc))
        except BadRequest as exc:
            dispatcher.malformed(name, str(exc))
            return _problem(413 if isinstance(exc, TooLarge) else 400, str(exc))
        try:
            outcome = await dispatcher.call(kind, call)
        except Overloaded as exc:
            return _problem(503, str(exc))
        except CallFailed as exc:
            return _problem(500, str(exc))
        return Response(encode_json(kind, outcome, binary=call.binary), media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(dispatcher.stats.prometheus())

    return [
        Route("/centrifugo/{kind}", proxy_call, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def http_app(dispatcher: Dispatcher, extra: list[BaseRoute] | None = None) -> ASGIApp:
    """An ASGI app serving the proxy routes (plus ``extra`` routes)."""
    return _ProxyCalls(dispatcher, Starlette(routes=[*proxy_routes(dispatcher), *(extra or [])]))


_PREFIX = "/centrifugo/"
_JSON = [(b"content-type", b"application/json")]


class _Gone(Exception):
    """The client went away before its request's body arrived."""


class _ProxyCalls:
    """``POST /centrifugo/{kind}`` straight over ASGI; anything else goes to ``fallback``."""

    def __init__(self, dispatcher: Dispatcher, fallback: ASGIApp) -> None:
        self.dispatcher = dispatcher
        self.fallback = fallback
        self.header = dispatcher.settings.secret_header.encode("latin-1")
        self.limit = dispatcher.settings.max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = None
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(_PREFIX):
            kind = KINDS.get(scope["path"][len(_PREFIX) :])
        if kind is None:  # not a proxy call, or an unknown kind: Starlette answers as before
            return await self.fallback(scope, receive, send)
        d = self.dispatcher
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        try:
            d.authorize([v.decode("latin-1") for k, v in headers if k == self.header])
            body = await self._body(headers, receive)
            try:
                call = decode_json(kind, body, d.forwarded(_text(headers)))
            except DecodeError as exc:
                raise BadRequest(str(exc)) from exc
        except Unauthenticated as exc:
            return await _answer(send, 401, _error(str(exc)))
        except BadRequest as exc:
            d.malformed(kind.name, str(exc))
            return await _answer(send, 413 if isinstance(exc, TooLarge) else 400, _error(str(exc)))
        except _Gone:
            return None
        try:
            outcome = await d.call(kind, call)
        except Overloaded as exc:
            return await _answer(send, 503, _error(str(exc)))
        except CallFailed as exc:
            return await _answer(send, 500, _error(str(exc)))
        await _answer(send, 200, encode_json(kind, outcome, binary=call.binary))

    async def _body(self, headers: list[tuple[bytes, bytes]], receive: Receive) -> bytes:
        limit = self.limit
        declared = next((v.decode("latin-1") for k, v in headers if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if int(declared) <= _LINGER * limit:
                # Read and drop it, as _read_body does (closing with unread bytes resets).
                while (await receive()).get("more_body"):
                    pass
            raise TooLarge(f"body too large: {declared} bytes, limit {limit}")
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"body too large: over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _text(headers: list[tuple[bytes, bytes]]) -> Iterable[tuple[str, str]]:
    return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)


def _error(message: str) -> bytes:
    # Byte for byte what Starlette's JSONResponse({"error": message}) sends.
    return json.dumps({"error": message}, ensure_ascii=False, separators=(",", ":")).encode()


async def _answer(send: Send, status: int, body: bytes) -> None:
    start = {"type": "http.response.start", "status": status,
             "headers": [*_JSON, (b"content-length", b"%d" % len(body))]}  # fmt: skip
    await send(start)
    await send({"type": "http.response.body", "body": body})


#: Bodies up to this many times the limit are read (and dropped) before the 413 goes out.
_LINGER = 8


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        if int(declared) <= _LINGER * limit:
            # Read and drop it: closing with unread bytes resets the connection, and the
            # client may never read the 413 (a race the machine's load decides).
            async for _ in request.stream():
                pass
        raise TooLarge(f"body too large: {declared} bytes, limit {limit}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body too large: over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
