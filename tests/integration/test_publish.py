"""The publisher against a real Centrifugo, over both server-API transports.

Subscribers are the hub's raw WebSocket client and the centrifuge-python SDK,
connecting with tokens minted by the hub.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from hub.clients import (
    ApiError,
    Published,
    Publisher,
    PublisherError,
    Push,
    RealtimeClient,
    StreamPosition,
    UnauthorizedError,
)
from hub.publishing import publisher_for
from hub.settings import Settings, load
from hub.tokens import TokenMinter

from .servers import Stack, free_port, stack_config

APP = "tests.integration.publish_app:app"
TOKEN_SECRET = "integration-token-secret-32-bytes-long"
NAMESPACES = {"pub": {"public": True, "presence": True, "history_size": 2000, "history_ttl": 300}}


def centrifugo_stack(tmp: Path, **centrifugo: Any) -> Stack:
    options = {"grpc_api_port": free_port(), "token_secret": TOKEN_SECRET, "namespaces": NAMESPACES}
    stack = Stack(tmp, stack_config(APP, "http", centrifugo=options | centrifugo))
    stack.write()
    return stack


@pytest.fixture(scope="module")
def centrifugo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One Centrifugo (memory engine) for the module; the hub's proxy is not needed."""
    stack = centrifugo_stack(tmp_path_factory.mktemp("publish"))
    try:
        stack.start_centrifugo()
        yield stack
    except BaseException:
        print(stack.log_text())
        raise
    finally:
        stack.stop_all()


@pytest.fixture(params=["http", "grpc"])
def settings(request: pytest.FixtureRequest, centrifugo: Stack) -> Settings:
    s = load(centrifugo.path)
    return replace(s, publisher=replace(s.publisher, transport=request.param))


@pytest.fixture
async def publisher(settings: Settings) -> AsyncIterator[Publisher]:
    async with publisher_for(settings) as publisher:
        yield publisher


@pytest.fixture
async def subscriber(centrifugo: Stack, settings: Settings) -> AsyncIterator[RealtimeClient]:
    async with RealtimeClient(centrifugo.ws_url) as client:
        await client.connect(token=TokenMinter.from_settings(settings.centrifugo).connection("alice"))
        yield client


def channel() -> str:
    return f"pub:{uuid.uuid4().hex[:12]}"


async def publications(client: RealtimeClient, count: int, within: float = 20) -> list[Push]:
    """The next ``count`` publication pushes (other pushes are skipped)."""
    out: list[Push] = []
    async with asyncio.timeout(within):
        while len(out) < count:
            push = await client.pushes.get()
            if push.type == "pub":
                out.append(push)
    return out


async def test_a_publish_reaches_its_subscriber(publisher: Publisher, subscriber: RealtimeClient) -> None:
    ch = channel()
    await subscriber.subscribe(ch)
    result = await publisher.publish(ch, {"text": "hi"}, tags={"kind": "greeting"})
    [push] = await publications(subscriber, 1)
    assert push.channel == ch
    assert push.body["data"] == {"text": "hi"}
    assert push.body["tags"] == {"kind": "greeting"}
    assert result.offset == push.body["offset"] == 1


async def test_1000_concurrent_publishes_arrive_exactly_once_in_few_requests(
    publisher: Publisher, subscriber: RealtimeClient
) -> None:
    ch = channel()
    await subscriber.subscribe(ch)
    before = publisher.requests
    results = await asyncio.gather(*(publisher.publish(ch, {"n": n}) for n in range(1000)))
    assert sorted(r.offset for r in results) == list(range(1, 1001))
    assert publisher.requests - before < 100  # coalesced into batches
    await publisher.publish(ch, {"n": "end"})
    received = [p.body["data"]["n"] for p in await publications(subscriber, 1001)]
    assert received[-1] == "end"  # nothing after the 1,000, so nothing arrived twice
    assert collections.Counter(received[:-1]) == collections.Counter(range(1000))


async def test_publishes_awaited_in_turn_arrive_in_order(
    publisher: Publisher, subscriber: RealtimeClient
) -> None:
    ch = channel()
    await subscriber.subscribe(ch)
    for n in range(200):
        await publisher.publish(ch, n)
    assert [p.body["data"] for p in await publications(subscriber, 200)] == list(range(200))


async def test_an_error_in_one_command_of_a_batch_reaches_only_its_caller(
    publisher: Publisher, subscriber: RealtimeClient
) -> None:
    ch = channel()
    await subscriber.subscribe(ch)
    before = publisher.requests
    calls = [publisher.publish(ch, n) for n in range(20)]
    calls.insert(10, publisher.publish("nosuchnamespace:x", "lost"))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert publisher.requests - before == 1  # all in one batch
    error = results.pop(10)
    assert isinstance(error, ApiError)
    assert error.code == 102
    assert all(isinstance(r, Published) for r in results)
    assert [p.body["data"] for p in await publications(subscriber, 20)] == list(range(20))


async def test_a_bad_request_is_not_retried(publisher: Publisher) -> None:
    before = publisher.requests
    with pytest.raises(ApiError) as info:
        await publisher.publish("", "no channel")
    assert info.value.code == 107
    assert publisher.requests - before == 1


async def test_the_rest_of_the_server_api(publisher: Publisher, subscriber: RealtimeClient) -> None:
    ch = channel()
    await subscriber.subscribe(ch)
    first = await publisher.publish(ch, {"n": 1})
    await publisher.publish(ch, {"n": 2}, skip_history=True)
    await publisher.publish(ch, {"n": 3})

    history = await publisher.history(ch, limit=-1)
    assert [p.data for p in history.publications] == [{"n": 1}, {"n": 3}]
    assert history.epoch == first.epoch
    since = await publisher.history(
        ch, limit=10, since=StreamPosition(offset=first.offset, epoch=first.epoch)
    )
    assert [p.data for p in since.publications] == [{"n": 3}]
    newest = await publisher.history(ch, limit=1, reverse=True)
    assert [p.data for p in newest.publications] == [{"n": 3}]

    [info] = (await publisher.presence(ch)).values()
    assert info.user == "alice"
    stats = await publisher.presence_stats(ch)
    assert (stats.num_clients, stats.num_users) == (1, 1)
    assert (await publisher.channels(ch)) == {ch: 1}
    [node] = await publisher.info()
    assert node.version.startswith("6.9.1")

    results = await publisher.broadcast([ch, "nosuchnamespace:y"], {"n": 4})
    assert isinstance(results[0], Published)
    assert isinstance(results[1], ApiError)
    assert results[1].code == 102

    await publisher.history_remove(ch)
    assert (await publisher.history(ch, limit=-1)).publications == ()

    server_side = channel()
    await publisher.subscribe("alice", server_side)
    await publisher.publish(server_side, "pushed")
    async with asyncio.timeout(10):
        while (push := await subscriber.pushes.get()).channel != server_side or push.type != "pub":
            pass
    assert push.body["data"] == "pushed"
    await publisher.unsubscribe("alice", server_side)
    await publisher.refresh("alice", expired=False)
    await publisher.disconnect("alice", code=4500, reason="bye")
    assert await subscriber.wait_closed() == 4500


async def test_a_wrong_api_key_is_a_typed_error(settings: Settings) -> None:
    wrong = replace(settings, centrifugo=replace(settings.centrifugo, api_key="wrong"))
    async with publisher_for(wrong) as publisher:
        with pytest.raises(UnauthorizedError):
            await publisher.publish(channel(), 1)


async def test_centrifugo_down_gives_a_typed_error_within_the_budget(settings: Settings) -> None:
    down = replace(
        settings,
        centrifugo=replace(settings.centrifugo, port=free_port(), grpc_api_port=free_port()),
        publisher=replace(settings.publisher, retry_timeout=0.3, request_timeout=0.5),
    )
    async with publisher_for(down) as publisher:
        results = await asyncio.gather(
            *(publisher.publish(channel(), n) for n in range(5)), return_exceptions=True
        )
    assert all(isinstance(r, PublisherError) and "gave up after" in str(r) for r in results), results
