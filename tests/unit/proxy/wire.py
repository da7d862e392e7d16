"""The proxy's HTTP server driven by bytes, in process: what a socket would carry, no socket.

wire = Wire(dispatcher)
wire.send(request("rpc", b'{"client": "c", "method": "echo"}', secret="s"))
[answer] = await wire.answers(1)
answer.status, answer.json(), answer.headers["content-type"]
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httptools

from hub.proxy import Dispatcher
from hub.proxy.http import ProxyCalls
from hub.proxy.protocol import Connections

SECRET_HEADER = "x-hub-proxy-secret"


def request(
    kind: str, body: bytes, *, secret: str | None = None, headers: list[tuple[str, str]] | None = None,
    method: str = "POST", path: str | None = None, version: str = "1.1",
) -> bytes:  # fmt: skip
    """One HTTP request as Centrifugo writes it (``content-type`` and ``content-length`` unless
    ``headers`` give their own)."""
    pairs = list(headers or [])
    names = {k.lower() for k, _ in pairs}
    if "content-type" not in names:
        pairs.append(("content-type", "application/json"))
    if "content-length" not in names and "transfer-encoding" not in names:
        pairs.append(("content-length", str(len(body))))
    if secret is not None:
        pairs.append((SECRET_HEADER, secret))
    head = f"{method} {path or '/centrifugo/' + kind} HTTP/{version}\r\nhost: hub\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in pairs)
    return head.encode("latin-1") + b"\r\n" + body


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


class Recorded(asyncio.Transport):
    """Stands in for a TCP transport: what was written, in how many writes, and its state."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.reading = True
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed and self.protocol is not None:  # as asyncio's: connection_lost comes next
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)
        self.closed = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Wire:
    """One connection to the proxy's HTTP server: bytes in, parsed answers out."""

    def __init__(
        self, dispatcher: Dispatcher | None = None, *, connections: Connections | None = None
    ) -> None:
        assert (dispatcher is None) != (connections is None)
        self.connections = connections or Connections(ProxyCalls(dispatcher))  # type: ignore[arg-type]
        self.transport = Recorded()
        self.connection = self.connections()
        self.transport.set_protocol(self.connection)
        self.connection.connection_made(self.transport)
        self._parsed: list[Answer] = []
        self._read = 0
        self._parser = httptools.HttpResponseParser(self)

    def send(self, data: bytes) -> None:
        self.connection.data_received(data)

    def lose(self) -> None:
        """The client goes away."""
        self.transport.protocol = None
        self.transport.closed = True
        self.connection.connection_lost(None)

    async def answers(self, count: int, *, within: float = 5.0) -> list[Answer]:
        """The first ``count`` answers (100 Continue excluded), waiting for them as needed."""
        deadline = time.monotonic() + within
        while True:
            self._parse()
            if len(self._parsed) >= count:
                return self._parsed[:count]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self._parsed)} answers, expected {count}: {self.transport.writes}"
                )
            await asyncio.sleep(0.001)

    async def settled(self) -> list[Answer]:
        """Every answer written once nothing is left in flight."""
        for _ in range(50):
            await asyncio.sleep(0.001)
        self._parse()
        return list(self._parsed)

    def _parse(self) -> None:
        writes = self.transport.writes
        while self._read < len(writes):
            data = writes[self._read]
            self._read += 1
            if data == b"HTTP/1.1 100 Continue\r\n\r\n":
                continue
            self._parser.feed_data(data)

    # httptools.HttpResponseParser callbacks
    def on_message_begin(self) -> None:
        self._current = Answer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._current.body += body

    def on_message_complete(self) -> None:
        self._current.status = self._parser.get_status_code()
        self._parsed.append(self._current)


async def post(dispatcher: Dispatcher, data: bytes) -> Answer:
    """One request on a new connection, and its answer."""
    wire = Wire(dispatcher)
    wire.send(data)
    [answer] = await wire.answers(1)
    return answer
