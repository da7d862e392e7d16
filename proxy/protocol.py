"""The proxy's HTTP/1.1 connections: Centrifugo's calls parsed with httptools and answered
without ASGI.

The proxy protocol is fixed: ``POST /centrifugo/{kind}`` with a JSON body, one JSON
answer with a status, on keep-alive connections from Centrifugo's Go HTTP client. A
general server (uvicorn) builds an ASGI scope, queues, events and a request cycle per
call, and that was most of a call's CPU left in the hub (docs/benchmarks.md, section
"speed"). Here one :class:`ProxyConnection` per TCP connection feeds the parser, keeps
the body, and answers with one write: status line, headers and body together.

What a general server does for hostile input is kept: a malformed request gets 400 and
the connection is closed; headers over :data:`MAX_HEADER_BYTES` get 431; a body over
``proxy.max_body_size`` gets 413 (read and dropped up to :data:`LINGER_FACTOR` times
the limit, so the client can read the answer; past that the connection is closed);
pipelined requests are answered in order; a connection silent for :data:`KEEP_ALIVE`
seconds with nothing in flight is closed. ``GET /health`` answers ``{"status":"ok"}``.

:class:`Connections` is what a listener knows of its connections: it closes them when
too old (``max_age``, so a pool's kernel can hand the next one to another worker), asks
the client to go (``Connection: close``) while draining, and closes idle ones.
"""

from __future__ import annotations

import asyncio
import logging
import select
import time
from collections import deque

import httptools

from .http import ProxyCalls, error_body

log = logging.getLogger(__name__)
#: A request's method, path and headers together may not exceed this many bytes.
MAX_HEADER_BYTES = 64 * 1024
#: A body over the limit is read and dropped up to this many times the limit, then the
#: connection is closed (closing with unread bytes resets it: the client may miss the 413).
LINGER_FACTOR = 8
#: Seconds a connection with nothing in flight may stay silent before it is closed.
KEEP_ALIVE = 75.0
#: Parsed requests a client may send ahead of the answers before reading is paused.
MAX_PIPELINED = 32
#: Seconds a connection must stay idle before a draining listener closes it.
IDLE_CLOSE = 0.25

_PREFIX = b"/centrifugo/"
_REASONS = {
    200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 405: b"Method Not Allowed",
    413: b"Content Too Large", 415: b"Unsupported Media Type", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 503: b"Service Unavailable",
}  # fmt: skip
_HEALTH = b'{"status":"ok"}'
_HEAD = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"


class _Close(Exception):
    """Stop reading this connection: answer ``status`` with ``problem``, then close."""

    def __init__(self, status: int, problem: str) -> None:
        super().__init__(problem)
        self.status = status


class _Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "path", "refused", "too_large")

    def __init__(
        self, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
        too_large: str | None, keep_alive: bool, refused: tuple[int, bytes] | None = None,
    ) -> None:  # fmt: skip
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.too_large = too_large
        self.keep_alive = keep_alive
        #: The answer to a request that could not be read (the connection closes after it).
        self.refused = refused


class Connections:
    """The open connections of one listener, and the rules they close by."""

    def __init__(self, calls: ProxyCalls, *, max_age: float | None = None) -> None:
        self.calls = calls
        #: A connection older than this is closed after its next answer.
        self.max_age = max_age
        #: While draining, every answer says ``Connection: close`` and the connection closes.
        self.draining = False
        self.open: set[ProxyConnection] = set()

    def __call__(self) -> ProxyConnection:
        """A protocol for a new connection (the factory ``loop.create_server`` takes)."""
        return ProxyConnection(self)

    def close_idle(self, idle_for: float) -> None:
        """Close every connection with nothing in flight whose last byte came ``idle_for``
        seconds ago or more, unless the client's next request is already in its socket."""
        now = time.monotonic()
        for connection in list(self.open):
            idle = connection.idle(now)
            if idle is not None and idle >= idle_for and not readable(connection.transport):
                connection.close()

    async def sweep(self) -> None:
        """Close connections silent for :data:`KEEP_ALIVE` seconds, for as long as it runs."""
        while True:
            await asyncio.sleep(KEEP_ALIVE / 4)
            self.close_idle(KEEP_ALIVE)

    async def drain(self, seconds: float) -> None:
        """Close connections as they go idle (:data:`IDLE_CLOSE` seconds in a row, so a client
        is not cut off as it sends its next call), for at most ``seconds``."""
        self.draining = True
        deadline = time.monotonic() + seconds
        while self.open and time.monotonic() < deadline:
            self.close_idle(IDLE_CLOSE)
            await asyncio.sleep(0.02)

    def close_all(self) -> None:
        """Close every connection, and stop the calls still running on them."""
        for connection in list(self.open):
            connection.close(stop=True)


class ProxyConnection(asyncio.Protocol):
    """One TCP connection from Centrifugo: requests parsed as they arrive, answered in order."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._calls = connections.calls
        self._limit = connections.calls.limit
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._born = self._last = time.monotonic()
        #: The request being answered (its task), and those parsed behind it.
        self._answering: asyncio.Task[None] | None = None
        self._pending: deque[_Request] = deque()
        self._reading = True
        self._writable = True
        #: The stream could not be parsed: nothing more is read from it.
        self._broken = False
        # The request being parsed.
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_large: str | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a TCP one (uvloop's is no subclass)
        self._connections.open.add(self)

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._last = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Close):
                self._refuse(cause.status, str(cause))
            else:
                log.exception("proxy connection: cannot read a request")
                self._refuse(400, "malformed HTTP request")
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not served here")
        except httptools.HttpParserError as exc:
            self._refuse(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        # A call already taken runs to its end (its handler may have acted); nobody reads
        # its answer. Requests parsed behind it are dropped, as their client is gone.
        self._connections.open.discard(self)
        self._pending.clear()

    def pause_writing(self) -> None:
        self._writable = False
        self._flow()

    def resume_writing(self) -> None:
        self._writable = True
        self._flow()

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._chunks = []
        self._size = 0
        self._too_large = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count(len(name) + len(value))

    def on_headers_complete(self) -> None:
        limit = self._limit
        declared = next((v for k, v in self._headers if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self._too_large = f"body too large: {int(declared)} bytes, limit {limit}"
            if int(declared) > LINGER_FACTOR * limit:
                raise _Close(413, self._too_large)
        elif any(k == b"expect" and v.lower() == b"100-continue" for k, v in self._headers):
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= self._limit:
            self._chunks.append(body)
            return
        self._chunks = []
        if self._too_large is None:
            self._too_large = f"body too large: over {self._limit} bytes"
        if self._size > LINGER_FACTOR * self._limit:
            raise _Close(413, self._too_large)

    def on_message_complete(self) -> None:
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        method = self._parser.get_method()
        keep_alive = self._parser.should_keep_alive() and self._parser.get_http_version() == "1.1"
        self._queue(_Request(method, self._url, self._headers, body, self._too_large, keep_alive))

    # -- answering -------------------------------------------------------------------

    def _queue(self, request: _Request) -> None:
        if self._answering is None:
            self._answering = asyncio.get_running_loop().create_task(self._answer(request))
        else:
            self._pending.append(request)
            self._flow()

    async def _answer(self, request: _Request) -> None:
        while True:
            status, body = await self._respond(request)
            if not self._send(status, body, request.keep_alive):
                return
            if not self._pending:
                self._answering = None
                return
            request = self._pending.popleft()
            self._flow()

    async def _respond(self, request: _Request) -> tuple[int, bytes]:
        if request.refused is not None:
            return request.refused
        path = request.path.partition(b"?")[0]
        if path.startswith(_PREFIX):
            if request.method != b"POST":
                return 405, error_body("method not allowed: proxy calls are POST")
            name = path[len(_PREFIX) :].decode("latin-1")
            try:
                return await self._calls.answer(name, request.headers, request.body, request.too_large)
            except Exception:
                log.exception("%s call: no answer", name)
                return 500, error_body(f"{name} call could not be answered")
        if path == b"/health":
            return (200, _HEALTH) if request.method in (b"GET", b"HEAD") else (405, error_body("use GET"))
        return 404, error_body("not found")

    def _send(self, status: int, body: bytes, keep_alive: bool) -> bool:
        """Write one answer; False when the connection closes after it."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        c = self._connections
        now = time.monotonic()
        young = c.max_age is None or now - self._born < c.max_age
        keep = keep_alive and young and not c.draining
        head = _HEAD % (status, _REASONS.get(status, b"Unknown"), len(body))
        transport.write(head + (b"\r\n" if keep else b"connection: close\r\n\r\n") + body)
        self._last = now
        if not keep:
            self.close()
        return keep

    def _refuse(self, status: int, problem: str) -> None:
        """Answer a request that cannot be read after those before it, then close (what
        follows it in the stream cannot be trusted)."""
        self._broken = True
        self._calls.dispatcher.malformed("HTTP", problem)
        refused = (status, error_body(problem))
        self._queue(_Request(b"", b"", [], b"", None, keep_alive=False, refused=refused))

    # -- state -----------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _Close(431, f"request headers over {MAX_HEADER_BYTES} bytes")

    def _flow(self) -> None:
        """Read while answers can be written and few requests wait; else let TCP push back."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        reading = self._writable and len(self._pending) < MAX_PIPELINED
        if reading != self._reading:
            self._reading = reading
            (transport.resume_reading if reading else transport.pause_reading)()

    def idle(self, now: float) -> float | None:
        """Seconds since the last byte in or out, or None while a call is in flight."""
        return None if self._answering is not None else now - self._last

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    def close(self, *, stop: bool = False) -> None:
        """Close the connection; ``stop=True`` also cancels the call in flight."""
        if stop and self._answering is not None:
            self._answering.cancel()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def readable(transport: asyncio.BaseTransport | None) -> bool:
    """True when the peer's next request is already in the transport's socket, not yet read
    by the loop: closing now would reset it. The loop reads it on its next turn; close later."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    try:
        ready, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(ready)
