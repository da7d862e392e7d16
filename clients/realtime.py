"""A typed asyncio client of Centrifugo's JSON protocol over WebSocket.

For Python services, scripts, tests and load generation; browsers and phones
use Centrifugo's own SDKs. One connection, commands matched to replies by id,
server pings answered, pushes delivered to a queue::

    async with RealtimeClient("ws://127.0.0.1:8000/connection/websocket") as client:
        await client.connect(data={"user": "alice"})
        await client.subscribe("chat:lobby")
        print(await client.rpc("echo", {"x": 1}))
        push = await client.pushes.get()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import websockets
from websockets.asyncio.client import ClientConnection

from .errors import ClientError, ReplyError


@dataclass(frozen=True, slots=True, kw_only=True)
class Push:
    """Something the server sent without being asked: ``pub``, ``join``, ``leave``..."""

    type: str
    channel: str
    body: dict[str, Any]


class RealtimeClient:
    """One WebSocket connection speaking Centrifugo's bidirectional JSON protocol."""

    def __init__(self, url: str, *, timeout: float = 5.0, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.headers = headers or {}
        self.pushes: asyncio.Queue[Push] = asyncio.Queue()
        #: The connect reply's fields (client id, ping interval, ...).
        self.session: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if self._ws is not None:
            raise ClientError("RealtimeClient can be opened only once")
        self._ws = await websockets.connect(self.url, max_size=None, additional_headers=self.headers)
        self._reader = asyncio.create_task(self._read(), name="realtime reader")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code (Centrifugo's disconnect code) once closed."""
        return self._ws.close_code if self._ws is not None else None

    @property
    def close_reason(self) -> str | None:
        return self._ws.close_reason if self._ws is not None else None

    async def wait_closed(self) -> int | None:
        """Wait until the server closes the connection; its close code."""
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader), self.timeout)
        return self.close_code

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one command and return its reply's result; :class:`ReplyError` on an error reply."""
        if self._ws is None:
            raise ClientError("RealtimeClient is not open (use `async with`)")
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        try:
            await self._ws.send(json.dumps({"id": ident, method: params}, separators=(",", ":")))
            reply = await asyncio.wait_for(future, self.timeout)
        except websockets.ConnectionClosed as exc:
            raise ClientError(f"connection closed ({self.close_code})") from exc
        finally:
            self._waiting.pop(ident, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a send that failed may leave it set by the reader
        if "error" in reply:
            error = reply["error"]
            raise ReplyError(error["code"], error.get("message", ""), error.get("temporary", False))
        result: dict[str, Any] = reply.get(method, {})
        return result

    async def connect(self, *, token: str = "", data: Any = None, name: str = "hub-python") -> dict[str, Any]:
        params: dict[str, Any] = {"name": name}
        if token:
            params["token"] = token
        if data is not None:
            params["data"] = data
        self.session = await self.command("connect", params)
        return self.session

    async def subscribe(self, channel: str, **options: Any) -> dict[str, Any]:
        return await self.command("subscribe", {"channel": channel, **options})

    async def unsubscribe(self, channel: str) -> None:
        await self.command("unsubscribe", {"channel": channel})

    async def publish(self, channel: str, data: Any) -> None:
        await self.command("publish", {"channel": channel, "data": data})

    async def rpc(self, method: str, data: Any = None) -> Any:
        return (await self.command("rpc", {"method": method, "data": data})).get("data")

    async def presence(self, channel: str) -> dict[str, Any]:
        presence: dict[str, Any] = (await self.command("presence", {"channel": channel})).get("presence", {})
        return presence

    async def history(self, channel: str, limit: int = -1, **options: Any) -> dict[str, Any]:
        return await self.command("history", {"channel": channel, "limit": limit, **options})

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                for line in str(message).strip().split("\n"):
                    await self._dispatch(json.loads(line))
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ClientError(f"connection closed ({self.close_code})"))

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        if "id" in frame:
            future = self._waiting.get(frame["id"])
            if future is not None and not future.done():
                future.set_result(frame)
        elif "push" in frame:
            push = frame["push"]
            kind = next((k for k in push if k != "channel"), "")
            await self.pushes.put(Push(type=kind, channel=push.get("channel", ""), body=push.get(kind, {})))
        elif self._ws is not None and self.session.get("pong"):  # an empty frame is a ping
            await self._ws.send("{}")
