"""The HTTP (JSON) transport: a Starlette app Centrifugo POSTs proxy calls to.

Routes: ``POST /centrifugo/{kind}`` for each proxy kind, and ``GET /health``
(this listener answers). A thin adapter over :class:`~hub.proxy.dispatch.Dispatcher`;
metrics and readiness are on the ops listener (:mod:`hub.ops`).
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.centrifugo import KINDS, DecodeError
from hub.centrifugo.codec import decode_json, encode_json

from .dispatch import Dispatcher
from .errors import BadRequest, CallFailed, NotJson, Overloaded, TooLarge, Unauthenticated

log = logging.getLogger(__name__)


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
            _check_content_type(request.headers.get("content-type"))
            body = await _read_body(request, limit)
            try:
                call = decode_json(kind, body, dispatcher.forwarded(request.headers.items()))
            except DecodeError as exc:
                raise BadRequest(str(exc)) from exc
        except Unauthenticated as exc:
            return _problem(401, str(exc))
        except BadRequest as exc:
            dispatcher.malformed(name, str(exc))
            return _problem(_STATUS.get(type(exc), 400), str(exc))
        except ClientDisconnect:
            # The body never arrived whole and nobody is left to answer.
            dispatcher.malformed(name, "the caller went away before sending the whole body")
            return _problem(400, "incomplete body")
        try:
            outcome = await dispatcher.call(kind, call)
            body = encode_json(kind, outcome, binary=call.binary)
        except Overloaded as exc:
            return _problem(503, str(exc))
        except CallFailed as exc:
            return _problem(500, str(exc))
        except Exception:
            # A fault of ours (a result that cannot be encoded...): answered and logged
            # here once, never left to the server's "Exception in ASGI application".
            log.exception("%s call: cannot encode the reply", name)
            return _problem(500, f"{name} reply could not be encoded")
        return Response(body, media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/centrifugo/{kind}", proxy_call, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]


def http_app(dispatcher: Dispatcher, extra: list[BaseRoute] | None = None) -> Starlette:
    """A Starlette app serving the proxy routes (plus ``extra`` routes)."""
    return Starlette(routes=[*proxy_routes(dispatcher), *(extra or [])])


_STATUS: dict[type[BadRequest], int] = {TooLarge: 413, NotJson: 415}


def _check_content_type(value: str | None) -> None:
    # Centrifugo always sends application/json; no header at all is accepted too.
    if value is not None and value.partition(";")[0].strip().lower() != "application/json":
        raise NotJson(f"content-type: expected application/json, got {value[:100]!r}")


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
