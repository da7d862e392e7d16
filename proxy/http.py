"""The HTTP (JSON) transport: an ASGI app Centrifugo POSTs proxy calls to.

Routes: ``POST /centrifugo/{kind}`` for each proxy kind, and ``GET /health``
(this listener answers). A thin adapter over :class:`~hub.proxy.dispatch.Dispatcher`;
metrics and readiness are on the ops listener (:mod:`hub.ops`).

One path answers every proxy call, :class:`ProxyCalls`: straight over ASGI in
:func:`http_app` (no routing, middleware or request objects: about a fifth of
a call's CPU under load went there, docs/benchmarks.md, section "speed"), and
behind the Starlette route of :func:`proxy_routes`, which an application can
mount in its own Starlette app. Every malformed call gets a precise 4xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.centrifugo import KINDS, DecodeError
from hub.centrifugo.codec import decode_json, encode_json

from .dispatch import Dispatcher
from .errors import BadRequest, CallFailed, NotJson, Overloaded, TooLarge, Unauthenticated

log = logging.getLogger(__name__)
Headers = list[tuple[bytes, bytes]]

_PREFIX = "/centrifugo/"
_STATUS: dict[type[BadRequest], int] = {TooLarge: 413, NotJson: 415}
#: Bodies up to this many times the limit are read (and dropped) before the 413 goes out.
_LINGER = 8


class _Gone(Exception):
    """The caller went away before its request's body arrived whole."""


class ProxyCalls:
    """Answers ``POST /centrifugo/{kind}``; anything else goes to ``fallback``."""

    def __init__(self, dispatcher: Dispatcher, fallback: ASGIApp | None = None) -> None:
        self.dispatcher = dispatcher
        self.fallback = fallback
        self.header = dispatcher.settings.secret_header.encode("latin-1")
        self.limit = dispatcher.settings.max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if self.fallback is not None and not (
            scope["type"] == "http" and scope["method"] == "POST" and path.startswith(_PREFIX)
        ):
            return await self.fallback(scope, receive, send)
        status, body = await self.answer(path[len(_PREFIX) :], scope["headers"], receive)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, name: str, headers: Headers, receive: Receive) -> tuple[int, bytes]:
        """The status and JSON body of one proxy call of kind ``name``."""
        d = self.dispatcher
        kind = KINDS.get(name)
        if kind is None:
            return 404, _error(f"unknown proxy kind {name!r}; expected one of {sorted(KINDS)}")
        try:
            d.authorize([v.decode("latin-1") for k, v in headers if k == self.header])
            _check_content_type(next((v for k, v in headers if k == b"content-type"), None))
            body = await self._body(headers, receive)
            try:
                call = decode_json(kind, body, d.forwarded(_text(headers)))
            except DecodeError as exc:
                raise BadRequest(str(exc)) from exc
        except Unauthenticated as exc:
            return 401, _error(str(exc))
        except BadRequest as exc:
            d.malformed(name, str(exc))
            return _STATUS.get(type(exc), 400), _error(str(exc))
        except _Gone:
            # The body never arrived whole and nobody is left to answer.
            d.malformed(name, "the caller went away before sending the whole body")
            return 400, _error("incomplete body")
        try:
            outcome = await d.call(kind, call)
            return 200, encode_json(kind, outcome, binary=call.binary)
        except Overloaded as exc:
            return 503, _error(str(exc))
        except CallFailed as exc:
            return 500, _error(str(exc))
        except Exception:
            # A fault of ours (a result that cannot be encoded...): answered and logged
            # here once, never left to the server's "Exception in ASGI application".
            log.exception("%s call: cannot encode the reply", name)
            return 500, _error(f"{name} reply could not be encoded")

    async def _body(self, headers: Headers, receive: Receive) -> bytes:
        limit = self.limit
        declared = next((v.decode("latin-1") for k, v in headers if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if int(declared) <= _LINGER * limit:
                # Read and drop it: closing with unread bytes resets the connection, and the
                # client may never read the 413 (a race the machine's load decides).
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


def proxy_routes(dispatcher: Dispatcher) -> list[BaseRoute]:
    """The proxy's routes, to mount in an application's own Starlette app too."""
    calls = ProxyCalls(dispatcher)

    async def proxy_call(request: Request) -> Response:
        status, body = await calls.answer(
            request.path_params["kind"], request.scope["headers"], request.receive
        )
        return Response(body, status_code=status, media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/centrifugo/{kind}", proxy_call, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]


def http_app(dispatcher: Dispatcher, extra: list[BaseRoute] | None = None) -> ASGIApp:
    """An ASGI app serving the proxy calls on the lean path, the rest (plus ``extra``) with Starlette."""
    return ProxyCalls(dispatcher, Starlette(routes=[*proxy_routes(dispatcher), *(extra or [])]))


def _check_content_type(value: bytes | None) -> None:
    # Centrifugo always sends application/json; no header at all is accepted too.
    if value is not None and value.partition(b";")[0].strip().lower() != b"application/json":
        shown = value[:100].decode("latin-1")
        raise NotJson(f"content-type: expected application/json, got {shown!r}")


def _text(headers: Headers) -> Iterator[tuple[str, str]]:
    return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)


def _error(message: str) -> bytes:
    # Byte for byte what Starlette's JSONResponse({"error": message}) sends.
    return json.dumps({"error": message}, ensure_ascii=False, separators=(",", ":")).encode()
