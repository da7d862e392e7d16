"""What the fuzz tests share: a recording app, in-process callers for both transports, inputs.

No sockets: the HTTP server is fed bytes (:mod:`.wire`), the gRPC service is called
through its generic handler with a stand-in for grpc.aio's servicer context.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from hub.app import App
from hub.centrifugo import GRPC_SERVICE, ConnectResult, ProxySettings, RefreshResult, Request
from hub.pool.executors import InlineExecutor
from hub.proxy import Dispatcher, proxy_service

from .wire import SECRET_HEADER, Wire, request

SECRET = "fuzz-secret"
SETTINGS = ProxySettings(secret=SECRET, max_body_size=64 << 10, forward_headers=["x-device"])
JSON = "application/json"


@dataclass
class Recorder:
    """An app whose handlers write down every request that reaches them."""

    seen: list[Request] = field(default_factory=list)

    def app(self) -> App:
        app = App()

        def record(request: Request) -> Any:
            self.seen.append(request)
            # Read what a real handler reads: a bad payload must come back as a refusal.
            request.connection_meta()
            return request.json() if hasattr(request, "json") else None

        @app.on_connect
        async def connect(request: Request) -> ConnectResult:
            record(request)
            return ConnectResult(user="u")

        @app.on_refresh
        async def refresh(request: Request) -> RefreshResult:
            record(request)
            return RefreshResult(expire_at=1)

        for decorator in (app.on_subscribe, app.on_publish, app.on_sub_refresh):

            @decorator("*")
            async def channel(request: Request) -> None:
                record(request)

        @app.rpc("echo")
        async def echo(request: Request) -> Any:
            return {"echo": record(request)}

        return app


def dispatcher(recorder: Recorder) -> Dispatcher:
    return Dispatcher(InlineExecutor(recorder.app(), 5), SETTINGS)


# -- HTTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpCall:
    kind: str
    body: bytes
    secrets: tuple[str, ...] = (SECRET,)
    content_type: str | None = JSON
    #: The body arrives in pieces; with ``truncated`` the caller goes away before the end.
    chunks: int = 1
    truncated: bool = False


async def http_call(dispatcher: Dispatcher, call: HttpCall) -> tuple[int, bytes]:
    """POST one proxy call to the HTTP server, the body in ``chunks`` writes; (status, body)
    of the answer, or (0, b"") when the caller went away before the end (nobody to answer)."""
    headers = [(SECRET_HEADER, s) for s in call.secrets]
    if call.content_type is not None:
        headers.append(("content-type", call.content_type))
    data = request(call.kind, call.body, headers=headers)
    head = len(data) - len(call.body)
    size = max(1, -(-len(call.body) // call.chunks))
    pieces = [data[:head], *(call.body[i : i + size] for i in range(0, len(call.body), size))]
    if call.truncated:
        pieces = pieces[:-1]
    wire = Wire(dispatcher)
    for piece in pieces:
        wire.send(piece)
    if call.truncated:
        wire.lose()
        assert await wire.settled() == [], "an answer to a call whose body never arrived"
        return 0, b""
    [answer] = await wire.answers(1)
    return answer.status, answer.body


# -- gRPC ----------------------------------------------------------------------------


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class Context:
    """The part of grpc.aio's ServicerContext the proxy service uses."""

    def __init__(self, metadata: list[tuple[str, str | bytes]]) -> None:
        self.metadata = tuple(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self.metadata

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise Aborted(code, details)


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def grpc_call(
    service: grpc.GenericRpcHandler, method: str, body: bytes, metadata: list[tuple[str, str | bytes]]
) -> tuple[grpc.StatusCode, Any]:
    """Call one method of the proxy service; (OK, response) or (status, details)."""
    handler = service.service(_Details(f"/{GRPC_SERVICE}/{method}"))
    if handler is None:
        return grpc.StatusCode.UNIMPLEMENTED, "no such method"
    try:
        return grpc.StatusCode.OK, await handler.unary_unary(body, Context(metadata))
    except Aborted as exc:
        return exc.code, exc.details


def grpc_service(recorder: Recorder) -> grpc.GenericRpcHandler:
    return proxy_service(dispatcher(recorder))


# -- inputs ---------------------------------------------------------------------------

#: A well-formed request of each kind (HTTP JSON bodies).
VALID: dict[str, dict[str, Any]] = {
    "connect": {"client": "c1", "transport": "websocket", "protocol": "json", "encoding": "json",
                "data": {"user": "u"}, "name": "sdk", "version": "1", "channels": ["a"]},
    "refresh": {"client": "c1", "transport": "websocket", "user": "u", "meta": {"tier": 1}},
    "subscribe": {"client": "c1", "user": "u", "channel": "ns:a", "data": {"x": 1}, "token": ""},
    "publish": {"client": "c1", "user": "u", "channel": "ns:a", "data": {"text": "hi"}},
    "sub_refresh": {"client": "c1", "user": "u", "channel": "ns:a"},
    "rpc": {"client": "c1", "user": "u", "method": "echo", "data": {"n": [1, 2]}},
}  # fmt: skip


def nested(depth: int, opener: str = "[") -> str:
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def mutations(seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (kind, body) pairs: valid bodies cut, flipped, spliced and re-nested."""
    rng = random.Random(seed)
    names = sorted(VALID)
    for _ in range(count):
        kind = rng.choice(names)
        body = bytearray(json.dumps(VALID[kind]).encode())
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(7)
            at = rng.randrange(len(body) + 1)
            if op == 0:  # cut
                del body[at:]
            elif op == 1 and body:  # flip a byte
                body[min(at, len(body) - 1)] = rng.randrange(256)
            elif op == 2:  # insert brackets, quotes, escapes
                body[at:at] = rng.choice([b"[", b"{", b"]", b"}", b'"', b"\\", b",", b":", b"\x00", b"\xff"])
            elif op == 3:  # deep nesting in place
                body[at:at] = nested(rng.choice([300, 600, 1500, 5000]), rng.choice("[{")).encode()
            elif op == 4:  # a huge string
                body[at:at] = b'"' + b"x" * rng.choice([1000, 70000]) + b'"'
            elif op == 5:  # duplicate a slice
                end = rng.randint(at, len(body))
                body[at:at] = body[at:end]
            else:  # swap a value's type
                body = bytearray(
                    bytes(body).replace(b'"u"', rng.choice([b"1", b"null", b"[]", b"{}", b"true"]))
                )
        yield kind, bytes(body)
