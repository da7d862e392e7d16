"""Fault injection: Centrifugo, a worker and the hub are killed in turn under load.

`hub serve --centrifugo` with a pool of two workers and Centrifugo on Redis (so that its
history outlives Centrifugo itself). While RPC clients call through Centrifugo and a
publisher publishes through the server API, each of the three is killed with SIGKILL in
turn (the hub is then started again). Two promises are checked: no call hangs past its
timeout (each ends with a result or an error), and no publish reported successful is lost
(every one is in the channel's history at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psutil
import pytest
import websockets

from hub.clients import (
    ClientError,
    Publisher,
    PublisherError,
    PublisherSettings,
    RealtimeClient,
    ReplyError,
    StreamPosition,
)

from .servers import Stack, stack_config, wait_until

APP = "tests.integration.proxy_app:app"
CHANNEL = "hist:load"
#: A client's timeout for one RPC: past the proxy's call timeout (3 s), so a slow proxy
#: call still ends with Centrifugo's answer, and only a call nobody answers times out.
RPC_TIMEOUT = 8.0
PUBLISHER = PublisherSettings(request_timeout=2.0, retry_timeout=3.0)
#: The most a publish may take: its retry budget plus a last request.
PUBLISH_LIMIT = PUBLISHER.retry_timeout + 2 * PUBLISHER.request_timeout + 2


class Load:
    """RPC clients and a publisher running until stopped; every outcome is counted."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.rpc: Counter[str] = Counter()
        self.publish: Counter[str] = Counter()
        self.confirmed: set[int] = set()
        self.stop = asyncio.Event()

    async def rpc_client(self, name: str) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                async with RealtimeClient(self.stack.ws_url, timeout=RPC_TIMEOUT) as client:
                    await client.connect(data={"user": name})
                    while not self.stop.is_set():
                        n += 1
                        try:
                            assert await client.rpc("echo", n) == {"echo": n, "user": name}
                            self.rpc["ok"] += 1
                        except ReplyError as exc:
                            self.rpc[f"error {exc.code}"] += 1
                        except TimeoutError:
                            self.rpc["hung"] += 1
                        if client.close_code is not None:
                            break
            except (
                ClientError,
                OSError,
                TimeoutError,
                websockets.ConnectionClosed,
            ) as exc:  # Centrifugo away
                self.rpc[f"connection: {type(exc).__name__}"] += 1
                await asyncio.sleep(0.2)

    async def publisher(self) -> None:
        api = self.stack.api_url
        async with Publisher(
            PUBLISHER, api_url=api, api_key=self.stack.config["centrifugo"]["api_key"]
        ) as pub:
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    async with asyncio.timeout(PUBLISH_LIMIT):
                        await pub.publish(CHANNEL, {"i": i})
                    self.confirmed.add(i)
                    self.publish["ok"] += 1
                except PublisherError as exc:
                    self.publish[type(exc).__name__] += 1
                    await asyncio.sleep(0.1)
                except TimeoutError:
                    self.publish["hung"] += 1
                await asyncio.sleep(0.01)

    async def published(self) -> set[int]:
        """Every ``i`` in the channel's history."""
        found: set[int] = set()
        api, key = self.stack.api_url, self.stack.config["centrifugo"]["api_key"]
        async with Publisher(PUBLISHER, api_url=api, api_key=key) as pub:
            since: StreamPosition | None = None
            while True:
                page = await pub.history(CHANNEL, limit=1000, since=since)
                found.update(p.data["i"] for p in page.publications)
                if len(page.publications) < 1000:
                    return found
                since = StreamPosition(offset=page.publications[-1].offset, epoch=page.epoch)


def log_of(stack: Stack) -> str:
    return (stack.tmp / "hub.log").read_text(errors="replace")


def children(stack: Stack, match: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
    assert stack.hub is not None
    found = []
    for p in psutil.Process(stack.hub.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if match(p):
                found.append(p)
    return found


def is_centrifugo(p: psutil.Process) -> bool:
    return p.name() == "centrifugo"


def is_worker(p: psutil.Process) -> bool:
    return "hub.pool.worker" in " ".join(p.cmdline())


def free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def start_hub(stack: Stack) -> None:
    ready = log_of(stack).count("hub ready") if stack.hub else 0
    stack.hub = stack._spawn("hub", "serve", "--centrifugo")
    wait_until(lambda: log_of(stack).count("hub ready") > ready or stack.hub.poll() is not None, 60, "hub")
    assert stack.hub.poll() is None, log_of(stack)[-3000:]


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    config = stack_config(
        APP, "http", pool={"workers": 2},
        centrifugo={
            "engine": "redis", "redis_url": redis_url, "redis_prefix": f"faults-{uuid.uuid4().hex[:8]}",
            "namespaces": {"hist": {"history_size": 100_000, "history_ttl": 600}},
        },
    )  # fmt: skip
    s = Stack(tmp_path, config)
    s.write()
    try:
        start_hub(s)
        yield s
    except BaseException:
        print(log_of(s)[-6000:])
        raise
    finally:
        s.stop_all()


async def until(check: Callable[[], bool], what: str) -> None:
    await asyncio.to_thread(wait_until, check, 60, what)


async def while_loaded(load: Load, seconds: float) -> None:
    """Let the load run for a moment, and make sure some calls succeed in it."""
    ok = load.rpc["ok"], load.publish["ok"]
    await asyncio.sleep(seconds)
    await until(lambda: load.rpc["ok"] > ok[0] and load.publish["ok"] > ok[1], "calls served again")


async def test_killing_centrifugo_a_worker_and_the_hub_hangs_no_call_and_loses_no_publish(
    stack: Stack,
) -> None:
    load = Load(stack)
    tasks = [asyncio.create_task(load.rpc_client(f"user{i}")) for i in range(2)]
    tasks.append(asyncio.create_task(load.publisher()))
    faults: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    async def kill_centrifugo() -> None:
        (centrifugo,) = children(stack, is_centrifugo)
        again = log_of(stack).count("centrifugo running again")
        centrifugo.kill()
        await until(lambda: log_of(stack).count("centrifugo running again") > again, "centrifugo restarted")

    async def kill_worker() -> None:
        workers = children(stack, is_worker)
        assert len(workers) == 2
        workers[0].kill()
        await until(
            lambda: {p.pid for p in children(stack, is_worker)} - {w.pid for w in workers} != set(),
            "a replacement worker",
        )

    async def kill_hub() -> None:
        assert stack.hub is not None
        stack.hub.send_signal(signal.SIGKILL)
        stack.hub.wait()
        c, p = stack.config["centrifugo"], stack.config["proxy"]
        # Its Centrifugo dies with it and its workers leave: then the ports are free again.
        await until(lambda: all(free(port) for port in (c["port"], p["http_port"], p["grpc_port"])), "ports")
        await asyncio.to_thread(start_hub, stack)

    faults = [("centrifugo", kill_centrifugo), ("worker", kill_worker), ("hub", kill_hub)]
    try:
        await while_loaded(load, 1.0)
        for _, fault in faults:
            await fault()
            await while_loaded(load, 1.0)
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)
    print("rpc", dict(load.rpc), "publish", dict(load.publish))
    assert load.rpc["hung"] == 0, load.rpc
    assert load.publish["hung"] == 0, load.publish
    missing = load.confirmed - await load.published()
    assert not missing, (
        f"{len(missing)} publishes reported successful are not in the history: {sorted(missing)[:20]}"
    )
