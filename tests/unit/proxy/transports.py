"""Both proxy transports driven in process: the HTTP server by bytes (:mod:`.wire`), the
gRPC service through its generic handler. No socket is opened; each call goes through the
real adapter.

    transport = HTTP(dispatcher)          # or GRPC(dispatcher)
    reply = await transport.call("rpc", {"client": "c", "method": "m", "data": {"x": 1}})
    reply.status, reply.body              # "ok", {"result": {"data": {...}}}
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict

from hub.centrifugo import GRPC_SERVICE, KINDS
from hub.proxy import Dispatcher, proxy_service

from .wire import SECRET_HEADER, post, request

#: HTTP statuses and gRPC codes, as one vocabulary the tests assert on.
HTTP_STATUS = {200: "ok", 400: "invalid", 401: "unauthenticated", 404: "not_found", 413: "invalid",
               500: "failed", 503: "unavailable"}  # fmt: skip
GRPC_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: "invalid",
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.INTERNAL: "failed",
    grpc.StatusCode.UNAVAILABLE: "unavailable",
}


@dataclass(frozen=True, slots=True)
class Reply:
    #: ok, invalid, unauthenticated, not_found, failed or unavailable.
    status: str
    #: The reply as Centrifugo reads it ({"result": ...} / {"error": ...}), or the problem text.
    body: Any


class Transport(Protocol):
    name: str

    async def call(self, kind: str, fields: dict[str, Any], *, secret: str | None = ...,
                   headers: dict[str, str] | None = ...) -> Reply: ...  # fmt: skip

    async def raw(self, kind: str, body: bytes, *, secret: str | None = ...) -> Reply: ...


class HTTP:
    """The HTTP transport: one request per call on a new connection, as Centrifugo POSTs it."""

    name = "http"

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.secret = dispatcher.settings.secret

    async def call(self, kind: str, fields: dict[str, Any], *, secret: str | None = "",
                   headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        return await self.raw(kind, json.dumps(fields).encode(), secret=secret, headers=headers)

    async def raw(self, kind: str, body: bytes, *, secret: str | None = "",
                  headers: dict[str, str] | None = None, content_type: str = "application/json") -> Reply:  # fmt: skip
        pairs = [("content-type", content_type), *(headers or {}).items()]
        shown = None if secret is None else secret or self.secret
        answer = await post(self.dispatcher, request(kind, body, secret=shown, headers=pairs))
        decoded = answer.json() if answer.body else None
        if answer.status == 200:
            return Reply("ok", decoded)
        return Reply(
            HTTP_STATUS.get(answer.status, str(answer.status)), (decoded or {}).get("error", answer.body)
        )


class GRPC:
    """The gRPC transport: the generic handler's method, called with a stand-in context."""

    name = "grpc"

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.service = proxy_service(dispatcher)
        self.secret = dispatcher.settings.secret

    async def call(self, kind: str, fields: dict[str, Any], *, secret: str | None = "",
                   headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        message = KINDS[kind].pb_request()
        ParseDict(_as_pb_fields(fields), message)
        return await self.raw(kind, message.SerializeToString(), secret=secret, headers=headers)

    async def raw(self, kind: str, body: bytes, *, secret: str | None = "",
                  headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        method = KINDS[kind].grpc_method if kind in KINDS else kind
        metadata = list((headers or {}).items())
        if secret is not None:
            metadata.append((SECRET_HEADER, secret or self.secret))
        handler = self.service.service(_Details(f"/{GRPC_SERVICE}/{method}"))
        if handler is None:
            return Reply("not_found", f"no method {method}")
        context = _Context(metadata)
        try:
            response = await handler.unary_unary(body, context)
        except _Aborted as exc:
            return Reply(GRPC_STATUS[exc.code], exc.details)
        wire = KINDS[kind].pb_response.FromString(handler.response_serializer(response))
        return Reply("ok", _as_json_reply(wire))


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details


@dataclass
class _Details:
    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


class _Context:
    """What the proxy's gRPC methods use of ``grpc.aio.ServicerContext``."""

    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise _Aborted(code, details)


#: JSON-valued request fields: raw JSON over HTTP, bytes of JSON text over gRPC.
_JSON_BYTES = ("data", "meta", "info")


def _as_pb_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for name in _JSON_BYTES:
        if name in out:
            out[name] = base64.b64encode(json.dumps(out[name]).encode()).decode()
    return out


def _as_json_reply(message: Any) -> dict[str, Any]:
    """A gRPC response as the HTTP transport would have written it (payloads as JSON values)."""
    reply: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    result = reply.get("result")
    if isinstance(result, dict):
        for name in _JSON_BYTES:
            if name in result:
                result[name] = json.loads(base64.b64decode(result[name]))
    return reply
