"""Helpers of the pool suite: direct proxy calls, the control socket, bursts of client RPCs."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hub.clients import RealtimeClient, ReplyError
from hub.pool.control import ask, control_path
from hub.pool.messages import Workers

from .servers import Stack

SECRET = "test-proxy-secret"


def rpc_body(method: str, data: Any, user: str = "tester") -> bytes:
    """A Centrifugo RPC proxy request, as Centrifugo sends it over HTTP."""
    return json.dumps({
        "client": "c-1", "transport": "websocket", "protocol": "json", "encoding": "json",
        "user": user, "method": method, "data": data,
    }).encode()  # fmt: skip


def direct_rpc(conn: http.client.HTTPConnection, method: str, data: Any = None) -> tuple[int, Any]:
    """One RPC straight to the proxy (no Centrifugo) on ``conn``: (status, result or error)."""
    headers = {"x-hub-proxy-secret": SECRET, "content-type": "application/json"}
    conn.request("POST", "/centrifugo/rpc", body=rpc_body(method, data), headers=headers)
    response = conn.getresponse()
    reply = json.loads(response.read())
    return response.status, reply.get("result", {}).get("data", reply.get("error"))


def connection(stack: Stack, timeout: float = 10) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", stack.config["proxy"]["http_port"], timeout=timeout)


def once(stack: Stack, method: str, data: Any = None) -> tuple[int, Any]:
    """One RPC on a fresh connection."""
    conn = connection(stack)
    try:
        return direct_rpc(conn, method, data)
    finally:
        conn.close()


def status(stack: Stack) -> dict[str, Any]:
    """The pool as the running service reports it (what `hub workers --json` prints)."""
    return msgspec.to_builtins(ask(control_path(stack.path), Workers(), timeout=10))  # type: ignore[no-any-return]


def serving(s: dict[str, Any]) -> list[int]:
    return [w["pid"] for w in s["workers"] if w["state"] in ("ready", "working")]


def wait_for(stack: Stack, check: Any, within: float = 15, what: str = "pool state") -> dict[str, Any]:
    """Poll the pool's status until ``check(status)`` holds (bounded, not a timing assert)."""
    deadline = time.monotonic() + within
    while True:
        s = status(stack)
        if check(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within}s: {s}")
        time.sleep(0.05)


@dataclass
class Burst:
    """Clients calling an RPC in a loop until stopped; every outcome is recorded."""

    stack: Stack
    clients: int = 8
    method: str = "work"
    data: Any = 0.01
    pids: list[int] = field(default_factory=list)
    errors: Counter[tuple[int, bool]] = field(default_factory=Counter)
    hung: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> Burst:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def until(self, successes: int, within: float = 20) -> None:
        target = len(self.pids) + successes
        async with asyncio.timeout(within):
            while len(self.pids) < target:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    async def _client(self, i: int) -> None:
        async with RealtimeClient(self.stack.ws_url, timeout=10) as client:
            await client.connect(data={"user": f"burst-{i}"})
            while not self._stop.is_set():
                try:
                    self.pids.append(await client.rpc(self.method, self.data))
                except ReplyError as exc:
                    self.errors[exc.code, exc.temporary] += 1
                except TimeoutError:
                    self.hung += 1
