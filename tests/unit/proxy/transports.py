"""Both proxy transports driven in process: the Starlette app over ASGI, the gRPC service
through its generic handler. No socket is opened; each call goes through the real adapter.

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
from hub.proxy import Dispatcher, http_app, proxy_service

SECRET_HEADER = "x-hub-proxy-secret"
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
    """The HTTP transport: one ASGI request per call, as Centrifugo POSTs it."""

    name = "http"

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.app = http_app(dispatcher)
        self.secret = dispatcher.settings.secret

    async def call(self, kind: str, fields: dict[str, Any], *, secret: str | None = "",
                   headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        return await self.raw(kind, json.dumps(fields).encode(), secret=secret, headers=headers)

    async def raw(self, kind: str, body: bytes, *, secret: str | None = "",
                  headers: dict[str, str] | None = None, content_type: str = "application/json") -> Reply:  # fmt: skip
        pairs = [("content-type", content_type), ("content-length", str(len(body))), *(headers or {}).items()]
        if secret is not None:
            pairs.append((SECRET_HEADER, secret or self.secret))
        status, payload = await asgi_post(self.app, f"/centrifugo/{kind}", body, pairs)
        decoded = json.loads(payload) if payload else None
        if status == 200:
            return Reply("ok", decoded)
        return Reply(HTTP_STATUS.get(status, str(status)), (decoded or {}).get("error", payload))


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


async def asgi_post(app: Any, path: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """One HTTP POST through an ASGI app, without a server."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 9000),
    }  # fmt: skip
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


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
