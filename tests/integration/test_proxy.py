"""The proxy service against a real Centrifugo, over both proxy transports.

Clients are the centrifuge-python SDK and the hub's raw WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from centrifuge import Client
from centrifuge import ReplyError as SdkReplyError

from hub.centrifugo import GRPC_SERVICE
from hub.centrifugo.wire import proxy_pb as pb
from hub.clients import RealtimeClient, ReplyError

from .servers import Stack

APP = "tests.integration.proxy_app:app"
CONFIG = {
    "proxy": {"forward_headers": ["x-device"]},
    # Pooled, with one worker: some tests read the app's per-process state (CALLS) back
    # through an RPC, and each worker has its own (test_pool.py proves it does not leak).
    "pool": {"workers": 1},
    "centrifugo": {
        "namespaces": {
            "open": {"presence": True},
            "secret": {"presence": True},
            "closed": {},
            "pub": {"public": True},
        },
        # Centrifugo checks expiring subscriptions on its presence tick (27 s by default), and
        # calls sub_refresh only expired_sub_close_delay (25 s by default) after expiry.
        "extra": {"client": {"presence_update_interval": "1s", "expired_sub_close_delay": "100ms"}},
    },
}


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll ``check`` until true; Centrifugo gives no event for a refresh done server-side."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


@pytest.fixture
async def raw(stack: Stack) -> AsyncIterator[RealtimeClient]:
    async with RealtimeClient(stack.ws_url) as client:
        yield client


@pytest.fixture
async def alice(stack: Stack) -> AsyncIterator[Client]:
    client = Client(stack.ws_url, data={"user": "alice"}, headers={"X-Device": "pytest-device"})
    await client.connect()
    await client.ready()
    yield client
    await client.disconnect()
    await sdk_settled()


async def sdk_settled() -> None:
    """Wait for the SDK's background tasks: it closes its socket in one it does not await."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 15)


async def sdk_subscribe(client: Client, channel: str) -> Any:
    sub = client.new_subscription(channel)
    await sub.subscribe()
    await sub.ready()
    return sub


async def test_connect_accepted_with_info_and_headers_in_presence(stack: Stack, alice: Client) -> None:
    await sdk_subscribe(alice, "open:room")
    presence = await alice.presence("open:room")
    (info,) = presence.clients.values()
    assert info.user == "alice"
    assert info.conn_info == {"name": "alice", "device": "pytest-device"}
    # The subscribe handler saw the connection meta set by the connect handler.
    assert info.chan_info == {"meta": {"tier": "gold"}}


async def test_connect_rejected_with_an_error(raw: RealtimeClient) -> None:
    with pytest.raises(ReplyError) as exc:
        await raw.connect(data={"user": "rejected"})
    assert (exc.value.code, exc.value.message, exc.value.temporary) == (403, "not welcome", False)


async def test_connect_answered_with_a_disconnect(raw: RealtimeClient) -> None:
    with pytest.raises(Exception):  # noqa: B017,PT011 - the socket closes instead of replying
        await raw.connect(data={"user": "kicked"})
    assert await raw.wait_closed() == 4501
    assert raw.close_reason == "go away"


async def test_refresh_extends_a_connection_and_updates_its_info(stack: Stack) -> None:
    async with RealtimeClient(stack.ws_url) as client:
        session = await client.connect(data={"user": "short", "ttl": 1})
        assert "expires" not in session  # with a refresh proxy the server refreshes, not the client
        await client.subscribe("open:refresh")

        async def refreshed() -> bool:
            presence = await client.presence("open:refresh")
            return any(c.get("conn_info", {}).get("refreshed") for c in presence.values())

        await eventually(refreshed, within=90)
        assert client.close_code is None  # still connected well past the first expiry
        assert await client.rpc("echo", 1) == {"echo": 1, "user": "short"}


async def test_subscribe_allowed_and_denied_by_namespace(alice: Client, raw: RealtimeClient) -> None:
    await raw.connect(data={"user": "bob"})
    await raw.subscribe("open:a")  # handler allows
    await raw.subscribe("pub:a")  # no handler, but the namespace is public
    for channel, code in (("closed:a", 103), ("secret:vault", 403)):
        with pytest.raises(ReplyError) as exc:
            await raw.subscribe(channel)
        assert exc.value.code == code, channel


async def test_client_publish_accepted_rewritten_and_rejected(raw: RealtimeClient) -> None:
    await raw.connect(data={"user": "carol"})
    await raw.subscribe("open:pubs")
    await raw.publish("open:pubs", {"text": "as is"})
    await raw.publish("open:pubs", {"text": "loud", "rewrite": True})
    with pytest.raises(ReplyError) as exc:
        await raw.publish("open:pubs", {"text": "forbidden"})
    assert (exc.value.code, exc.value.message) == (400, "watch your language")
    with pytest.raises(ReplyError) as exc:
        await raw.publish("closed:x", {"text": "no handler"})
    assert exc.value.code == 103
    received = [(await asyncio.wait_for(raw.pushes.get(), 5)) for _ in range(2)]
    assert [p.body["data"] for p in received] == [{"text": "as is"}, {"text": "LOUD", "by": "carol"}]
    assert raw.pushes.empty()


async def test_sub_refresh_extends_a_subscription(raw: RealtimeClient) -> None:
    await raw.connect(data={"user": "dave"})
    reply = await raw.subscribe("secret:expiring")
    assert "expires" not in reply  # the server refreshes the subscription, not the client

    async def refreshed() -> bool:
        presence = await raw.presence("secret:expiring")
        return any(c.get("chan_info") == {"round": 1} for c in presence.values())

    await eventually(refreshed, within=90)


async def test_rpc_results_and_error_codes_reach_the_client(alice: Client, raw: RealtimeClient) -> None:
    assert (await alice.rpc("echo", {"n": [1, 2]})).data == {"echo": {"n": [1, 2]}, "user": "alice"}
    assert isinstance((await alice.rpc("sync.pid", None)).data, int)
    with pytest.raises(SdkReplyError) as exc:
        await alice.rpc("teapot", None)
    assert (exc.value.code, exc.value.message) == (418, "I'm a teapot")
    await raw.connect(data={"user": "erin"})
    with pytest.raises(ReplyError) as unknown:
        await raw.rpc("no.such.method")
    assert (unknown.value.code, unknown.value.message) == (104, "method not found: no.such.method")


async def test_a_raising_handler_gives_a_temporary_error_and_the_service_keeps_serving(
    raw: RealtimeClient,
) -> None:
    await raw.connect(data={"user": "frank"})
    for _ in range(3):
        with pytest.raises(ReplyError) as exc:
            await raw.rpc("boom")
        assert (exc.value.code, exc.value.temporary) == (100, True)
    assert await raw.rpc("echo", "still here") == {"echo": "still here", "user": "frank"}
    async with RealtimeClient(raw.url) as other:
        with pytest.raises(ReplyError) as crash:
            await other.connect(data={"user": "crash"})
        assert (crash.value.code, crash.value.temporary) == (100, True)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def grpc_call(stack: Stack, method: str, body: bytes, metadata: list[tuple[str, str]]) -> Any:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        call = channel.unary_unary(f"/{GRPC_SERVICE}/{method}")
        return await call(body, metadata=metadata, timeout=5)


async def calls_seen(client: RealtimeClient) -> dict[str, int]:
    result: dict[str, int] = await client.rpc("calls")
    return result


@pytest.mark.any_transport
async def test_calls_without_the_shared_secret_never_reach_the_app(stack: Stack, raw: RealtimeClient) -> None:
    await raw.connect(data={"user": "grace"})
    before = await calls_seen(raw)
    body = json.dumps({"client": "x", "transport": "websocket", "data": {"user": "mallory"}}).encode()
    url = stack.proxy_url + "/centrifugo/connect"
    for headers in ({}, {"x-hub-proxy-secret": "wrong"}):
        status, reply = await asyncio.to_thread(post, url, body, headers)
        assert status == 401
        assert "x-hub-proxy-secret" in reply["error"]
    request = pb.ConnectRequest(client="x", data=b'{"user": "mallory"}').SerializeToString()
    for metadata in ([], [("x-hub-proxy-secret", "wrong")]):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await grpc_call(stack, "Connect", request, metadata)
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await calls_seen(raw))["connect"] == before["connect"]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("rpc", b"{not json", 400, "malformed rpc request: JSON is malformed"),
        ("rpc", b'{"client": 1}', 400, "Expected `str`, got `int` - at `$.client`"),
        ("subscribe", b'{"client": "c", "user": "u"}', 400, "missing required field `channel`"),
        ("publish", b'{"channel": "open:x", "data": {"x": "' + b"y" * (2 << 20) + b'"}}', 413, "too large"),
        ("teleport", b"{}", 404, "unknown proxy kind 'teleport'"),
    ],
)
@pytest.mark.any_transport
async def test_malformed_http_calls_get_a_clear_error(
    stack: Stack, raw: RealtimeClient, path: str, body: bytes, status: int, message: str
) -> None:
    headers = {"x-hub-proxy-secret": "test-proxy-secret", "content-type": "application/json"}
    got_status, reply = await asyncio.to_thread(post, f"{stack.proxy_url}/centrifugo/{path}", body, headers)
    assert got_status == status
    assert message in reply["error"]
    await raw.connect(data={"user": "after-malformed"})
    assert await raw.rpc("echo", 1) == {"echo": 1, "user": "after-malformed"}


@pytest.mark.any_transport
async def test_malformed_grpc_calls_get_invalid_argument(stack: Stack, raw: RealtimeClient) -> None:
    metadata = [("x-hub-proxy-secret", "test-proxy-secret")]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await grpc_call(stack, "RPC", b"\xff\xff\xff", metadata)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed rpc request" in (exc.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await grpc_call(stack, "Subscribe", pb.SubscribeRequest(client="c").SerializeToString(), metadata)
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "channel" in (missing.value.details() or "")
    await raw.connect(data={"user": "after-grpc"})
    assert await raw.rpc("echo", 2) == {"echo": 2, "user": "after-grpc"}
