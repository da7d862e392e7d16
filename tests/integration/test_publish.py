"""The publisher against a real Centrifugo, over both server-API transports.

Subscribers are the hub's raw WebSocket client and the centrifuge-python SDK,
connecting with tokens minted by the hub.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from centrifuge import Client, PublicationContext, SubscribedContext, SubscriptionEventHandler
from msgspec.structs import replace

from hub import App, HubError
from hub.clients import (
    ApiError,
    OverloadedError,
    Published,
    Publisher,
    PublisherError,
    Push,
    RealtimeClient,
    StreamPosition,
    UnauthorizedError,
    UnavailableError,
)
from hub.publishing import publisher_for
from hub.settings import Settings, load
from hub.tokens import TokenMinter

from .servers import HUB, ROOT, Stack, free_port, stack_config

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
    with centrifugo_stack(tmp_path_factory.mktemp("publish")).running(hub=False) as stack:
        yield stack


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


async def test_publish_many_arrives_exactly_once_with_each_error_in_its_own_place(
    publisher: Publisher, subscriber: RealtimeClient
) -> None:
    ch = channel()
    await subscriber.subscribe(ch)
    before = publisher.requests
    items: list[tuple[str, Any]] = [(ch, {"n": n}) for n in range(1200)]
    items.insert(700, ("nosuchnamespace:x", "lost"))
    results = await publisher.publish_many(items, tags={"kind": "bulk"})
    assert len(results) == 1201
    error = results.pop(700)
    assert isinstance(error, ApiError)
    assert error.code == 102
    assert all(isinstance(r, Published) for r in results), results
    assert sorted(r.offset for r in results if isinstance(r, Published)) == list(range(1, 1201))
    assert publisher.requests - before <= 10  # batches of up to publisher.batch_max_size (500)
    assert publisher.counts is not None
    assert publisher.counts.outcomes.get("ApiError", 0) >= 1
    await publisher.publish(ch, {"n": "end"})
    pushes = await publications(subscriber, 1201)
    received = [p.body["data"]["n"] for p in pushes]
    assert received[-1] == "end"  # nothing after the 1,200, so nothing arrived twice
    # Batches go 4 at a time, as concurrent publishes do: every pair once, in no promised order.
    assert collections.Counter(received[:-1]) == collections.Counter(range(1200))
    assert pushes[0].body["tags"] == {"kind": "bulk"}
    with pytest.raises(TypeError, match="item 1"):
        await publisher.publish_many([(ch, 1), (ch, object())])
    assert await publisher.publish_many([]) == []


async def test_app_publish_many_from_the_loop_and_from_another_thread(centrifugo: Stack) -> None:
    settings = load(centrifugo.path)
    app = App()
    ch = channel()
    async with RealtimeClient(centrifugo.ws_url) as client:
        await client.connect(token=TokenMinter.from_settings(settings.centrifugo).connection("eve"))
        await client.subscribe(ch)
        async with app.lifespan(settings):
            first = await app.publish_many([(ch, "a"), (ch, "b")])
            second = await asyncio.to_thread(asyncio.run, app.publish_many([(ch, "c")]))
        received = [p.body["data"] for p in await publications(client, 3)]
    assert received == ["a", "b", "c"]
    assert [r.offset for r in first + second if isinstance(r, Published)] == [1, 2, 3]


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


async def test_centrifugo_down_gives_typed_errors_and_a_bounded_queue(settings: Settings) -> None:
    down = replace(
        settings,
        centrifugo=replace(settings.centrifugo, port=free_port(), grpc_api_port=free_port()),
        publisher=replace(settings.publisher, retry_timeout=0.3, request_timeout=0.5, max_pending=3),
    )
    async with publisher_for(down) as publisher:
        calls = (publisher.publish(channel(), n) for n in range(5))
        results = await asyncio.gather(*calls, return_exceptions=True)
    gave_up, refused = results[:3], results[3:]
    assert all(isinstance(r, UnavailableError) and "gave up after" in str(r) for r in gave_up), gave_up
    assert all(isinstance(r, OverloadedError) for r in refused), refused


# -- Centrifugo killed and restarted mid-stream ----------------------------------------------


class Collector(SubscriptionEventHandler):
    """Every publication the SDK delivers (live or recovered), in arrival order."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.changed = asyncio.Event()
        self.recovered: list[bool] = []

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        if ctx.was_recovering:
            self.recovered.append(ctx.recovered)
        self.changed.set()

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.received.append(ctx.pub.data["n"])
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], within: float = 30) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class Stream:
    """Workers publishing numbered values one after another until told to stop."""

    def __init__(self, publisher: Publisher, ch: str) -> None:
        self.publisher = publisher
        self.channel = ch
        self.numbers = itertools.count()
        self.ok: set[int] = set()
        self.failed: dict[int, PublisherError] = {}
        self.spans: dict[int, tuple[int, int]] = {}  # number -> (phase at start, phase at end)
        self.phase = 0  # 0 up, 1 down, 2 restarted
        self.stop = asyncio.Event()
        self.progress = asyncio.Event()

    async def worker(self) -> None:
        while not self.stop.is_set():
            n = next(self.numbers)
            start = self.phase
            try:
                await self.publisher.publish(self.channel, {"n": n})
                self.ok.add(n)
            except PublisherError as exc:  # anything else fails the test
                self.failed[n] = exc
            self.spans[n] = (start, self.phase)
            self.progress.set()

    async def until_ok(self, count: int) -> None:
        async with asyncio.timeout(60):
            while len(self.ok) < count:
                self.progress.clear()
                await self.progress.wait()


@pytest.mark.parametrize("transport", ["http", "grpc"])
async def test_centrifugo_killed_and_restarted_mid_stream_loses_nothing_reported_ok(
    tmp_path: Path, redis_url: str, transport: str
) -> None:
    stack = centrifugo_stack(
        tmp_path,
        engine="redis",
        redis_url=redis_url,
        redis_prefix=f"test-{uuid.uuid4().hex}",
        namespaces={"rec": {"public": True, "history_size": 20000, "history_ttl": 600, "recovery": True}},
        extra={"client": {"recovery_max_publication_limit": 20000}},
    )
    stack.config["publisher"] = {"transport": transport, "retry_timeout": 15, "request_timeout": 1}
    stack.write()
    settings = load(stack.path)
    ch = f"rec:{uuid.uuid4().hex[:12]}"
    events = Collector()
    token = TokenMinter.from_settings(settings.centrifugo).connection("bob")
    sdk = Client(stack.ws_url, token=token, min_reconnect_delay=0.05, max_reconnect_delay=0.5)
    try:
        stack.start_centrifugo()
        sub = sdk.new_subscription(ch, events=events, recoverable=True)
        await sdk.connect()
        await sub.subscribe()
        await sub.ready()
        async with publisher_for(settings) as publisher:
            stream = Stream(publisher, ch)
            async with asyncio.TaskGroup() as group:
                for _ in range(4):
                    group.create_task(stream.worker())
                await stream.until_ok(200)
                stream.phase = 1
                stack.stop_centrifugo(kill=True)
                await asyncio.sleep(1.5)  # the outage itself, not a synchronisation
                await asyncio.to_thread(stack.start_centrifugo)
                stream.phase = 2
                ok_at_restart = len(stream.ok)
                await stream.until_ok(ok_at_restart + 200)
                stream.stop.set()
            history = await publisher.history(ch, limit=-1)

        overlapping = [n for n, (start, end) in stream.spans.items() if start < 2 and end >= 1]
        assert overlapping, "no publish was in flight during the outage"
        assert all(n in stream.ok or n in stream.failed for n in overlapping)
        in_history = collections.Counter(p.data["n"] for p in history.publications)
        assert max(in_history.values()) == 1, "a publication is in history twice"
        assert stream.ok <= set(in_history), sorted(stream.ok - set(in_history))[:10]

        await events.until(lambda: stream.ok <= set(events.received))
        assert max(collections.Counter(events.received).values()) == 1, "a publication arrived twice"
        assert events.recovered, "the subscriber never recovered"
        assert all(events.recovered)
    except BaseException:
        print(stack.log_text())
        raise
    finally:
        await sdk.disconnect()
        await sdk_settled()
        stack.stop_all()


async def sdk_settled() -> None:
    """Wait for the SDK's background tasks: it closes its socket in one it does not await."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 15)


# -- the command line ------------------------------------------------------------------------


async def test_hub_publish_one_value_and_json_lines(centrifugo: Stack) -> None:
    ch = channel()
    async with RealtimeClient(centrifugo.ws_url) as client:
        await client.connect(
            token=TokenMinter.from_settings(load(centrifugo.path).centrifugo).connection("carol")
        )
        await client.subscribe(ch)
        one = await hub_cli("publish", "-c", str(centrifugo.path), ch, '{"n": 0}')
        assert one.returncode == 0, one.stderr
        assert json.loads(one.stdout)["offset"] == 1
        lines = b"".join(b'{"n": %d}\n' % n for n in range(1, 51)) + b"{broken\n" + b'{"n": 51}\n'
        bulk = await hub_cli("publish", "-c", str(centrifugo.path), ch, stdin=lines)
        assert bulk.returncode == 1
        assert "line 51: not valid JSON" in bulk.stderr
        assert f"published 51 of 52 to {ch} (1 failed)" in bulk.stderr
        received = [p.body["data"]["n"] for p in await publications(client, 52)]
    assert sorted(received) == list(range(52))


async def hub_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HUB), *args], cwd=ROOT, input=stdin.decode(), capture_output=True, text=True
        )

    return await asyncio.to_thread(run)


# -- the app's lifecycle ---------------------------------------------------------------------


async def test_app_publish_and_publish_sync_from_a_thread(centrifugo: Stack) -> None:
    settings = load(centrifugo.path)
    app = App()
    ch = channel()
    async with RealtimeClient(centrifugo.ws_url) as client:
        await client.connect(token=TokenMinter.from_settings(settings.centrifugo).connection("dan"))
        await client.subscribe(ch)
        async with app.lifespan(settings):
            with pytest.raises(HubError, match="already open"):
                async with app.lifespan(settings):
                    pass
            await app.publish(ch, "from a coroutine")
            await asyncio.to_thread(app.publish_sync, ch, "from a thread")
            await asyncio.to_thread(asyncio.run, app.publish(ch, "from another event loop"))
            with pytest.raises(HubError, match="event loop"):
                app.publish_sync(ch, "from the loop's own thread")
        received = [p.body["data"] for p in await publications(client, 3)]
    assert received == ["from a coroutine", "from a thread", "from another event loop"]
    with pytest.raises(HubError, match="lifespan"):
        await app.publish(ch, "after the lifespan")
