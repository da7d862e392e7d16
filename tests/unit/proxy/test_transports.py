"""The two transport adapters behave alike, in process: one suite, parametrized over HTTP and gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.centrifugo import (
    KINDS,
    ConnectResult,
    Disconnect,
    Error,
    Outcome,
    ProxySettings,
    RefreshResult,
    Request,
    RPCResult,
    SubRefreshResult,
    SubscribeResult,
)
from hub.centrifugo.messages import PublishResult
from hub.proxy import CallFailed, Dispatcher, Overloaded

from .transports import GRPC, HTTP, Transport

SETTINGS = ProxySettings(secret="s3cret", forward_headers=["x-device"], max_body_size=4096)


class Recorder:
    """The app side: records every request that reached it and answers with ``answer(request)``."""

    def __init__(self, answer: Callable[[Request], Outcome] | Exception) -> None:
        self.answer = answer
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Outcome:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(request)


def make(transport: str, answer: Callable[[Request], Outcome] | Exception,
         settings: ProxySettings = SETTINGS) -> tuple[Transport, Recorder]:  # fmt: skip
    recorder = Recorder(answer)
    dispatcher = Dispatcher(recorder, settings)
    return (HTTP(dispatcher) if transport == "http" else GRPC(dispatcher)), recorder


TRANSPORTS = pytest.mark.parametrize("transport", ["http", "grpc"])

#: One valid call of every kind, and the result the app answers it with.
CALLS: dict[str, tuple[dict[str, Any], Outcome, dict[str, Any]]] = {
    "connect": ({"client": "c1", "transport": "websocket", "data": {"user": "ada"}, "name": "js"},
                ConnectResult(user="ada", info={"n": 1}, channels=["news"]),
                {"user": "ada", "info": {"n": 1}, "channels": ["news"]}),
    "refresh": ({"client": "c1", "user": "ada"}, RefreshResult(expire_at=2_000_000_000),
                {"expire_at": "2000000000"}),
    "subscribe": ({"client": "c1", "user": "ada", "channel": "chat:a", "data": [1]},
                  SubscribeResult(info={"room": "a"}), {"info": {"room": "a"}}),
    "publish": ({"client": "c1", "user": "ada", "channel": "chat:a", "data": {"t": "hi"}},
                PublishResult(data={"t": "HI"}, skip_history=True), {"data": {"t": "HI"}, "skip_history": True}),
    "sub_refresh": ({"client": "c1", "user": "ada", "channel": "chat:a"}, SubRefreshResult(expired=True),
                    {"expired": True}),
    "rpc": ({"client": "c1", "user": "ada", "method": "sum", "data": [1, 2]}, RPCResult(data=3), {"data": 3}),
}  # fmt: skip


@TRANSPORTS
@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_reaches_the_app_typed_and_its_result_goes_back(transport: str, kind: str) -> None:
    fields, result, wire = CALLS[kind]
    proxy, app = make(transport, lambda r: result)
    reply = await proxy.call(kind, fields)
    assert reply.status == "ok"
    result_on_wire = reply.body["result"]
    if transport == "http":  # JSON writes 64-bit ints as numbers, protobuf's JSON as strings
        result_on_wire = {k: str(v) if k == "expire_at" else v for k, v in result_on_wire.items()}
    assert result_on_wire == wire
    (request,) = app.requests
    assert isinstance(request, KINDS[kind].request)
    if "data" in fields:
        assert request.json() == fields["data"]  # type: ignore[union-attr]
    assert getattr(request, "user", None) == fields.get("user")
    assert request.client == "c1"


@TRANSPORTS
@pytest.mark.parametrize(
    ("outcome", "wire"),
    [
        (Error(code=403, message="not a member"), {"error": {"code": 403, "message": "not a member"}}),
        (
            Error(code=500, message="later", temporary=True),
            {"error": {"code": 500, "message": "later", "temporary": True}},
        ),
        (Disconnect(code=4501, reason="go away"), {"disconnect": {"code": 4501, "reason": "go away"}}),
    ],
)
async def test_refusals_travel_as_values_in_a_normal_reply(
    transport: str, outcome: Outcome, wire: Any
) -> None:
    proxy, _ = make(transport, lambda r: outcome)
    reply = await proxy.call("rpc", {"method": "m"})
    assert reply.status == "ok"
    assert reply.body == wire


@TRANSPORTS
@pytest.mark.parametrize("secret", [None, "wrong", "s3cre"])
async def test_a_call_without_the_right_secret_never_reaches_the_app(
    transport: str, secret: str | None
) -> None:
    proxy, app = make(transport, lambda r: RPCResult(data=1))
    reply = await proxy.call("rpc", {"method": "m"}, secret=secret)
    assert reply.status == "unauthenticated"
    assert "x-hub-proxy-secret" in reply.body
    assert app.requests == []


@TRANSPORTS
async def test_only_configured_headers_reach_the_app(transport: str) -> None:
    proxy, app = make(transport, lambda r: RPCResult(data=1))
    await proxy.call("rpc", {"method": "m"}, headers={"x-device": "phone", "x-other": "no"})
    assert app.requests[0].headers == {"x-device": "phone"}


@TRANSPORTS
@pytest.mark.parametrize(
    ("kind", "body", "problem"),
    [
        ("rpc", b"\xff\xff\xff", "malformed rpc request"),
        ("subscribe", b"", "channel"),  # the channel is required
    ],
)
async def test_a_malformed_call_is_invalid_names_the_problem_and_never_reaches_the_app(
    transport: str, kind: str, body: bytes, problem: str
) -> None:
    proxy, app = make(transport, lambda r: SubscribeResult())
    if transport == "http" and not body:
        body = b'{"client": "c"}'
    reply = await proxy.raw(kind, body)
    assert reply.status == "invalid"
    assert problem in reply.body
    assert app.requests == []


async def test_http_names_the_wrong_field_and_refuses_a_body_over_the_limit() -> None:
    proxy, app = make("http", lambda r: RPCResult(data=1))
    wrong = await proxy.raw("rpc", b'{"method": 7}')
    assert wrong.status == "invalid"
    assert wrong.body == "malformed rpc request: Expected `str`, got `int` - at `$.method`"
    big = await proxy.raw("rpc", b'{"method": "m", "data": "' + b"x" * 5000 + b'"}')
    assert big.status == "invalid"
    assert big.body.startswith("body too large")
    unknown = await proxy.raw("nope", b"{}")
    assert unknown.status == "not_found"
    assert app.requests == []


@TRANSPORTS
@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (RuntimeError("boom"), "failed"),
        (CallFailed("exec timeout"), "failed"),
        (Overloaded("queue full"), "unavailable"),
    ],
)
async def test_a_fault_is_a_transport_error_so_the_client_retries(
    transport: str, fault: Exception, status: str
) -> None:
    proxy, _ = make(transport, fault)
    reply = await proxy.call("rpc", {"method": "m"})
    assert reply.status == status


@TRANSPORTS
async def test_binary_mode_takes_base64_in_and_gives_base64_out(transport: str) -> None:
    proxy, app = make(transport, lambda r: RPCResult(data=b"\x00\x01raw"))
    reply = await proxy.call("rpc", {"method": "m", "encoding": "binary", "b64data": "AAEC"})
    assert app.requests[0].payload() == b"\x00\x01\x02"  # type: ignore[union-attr]
    assert reply.body == {"result": {"b64data": "AAFyYXc="}}
