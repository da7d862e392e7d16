"""The listeners of the proxy service, each an async context manager.

Entering starts listening; leaving stops taking new calls, lets in-flight
calls finish within ``grace`` seconds, then closes::

    async with HttpServer(app, "127.0.0.1", 9000), GrpcServer(dispatcher, "127.0.0.1", 9001):
        await stop.wait()

The HTTP stack is uvicorn's fastest one that is installed: the httptools parser and
the uvloop event loop (both dependencies of the hub; measured in docs/benchmarks.md,
section "speed"), else h11 and asyncio's loop. Processes that serve the listeners
start their event loop with :func:`run`, so they get uvloop when it is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .dispatch import Dispatcher
from .errors import ProxyError
from .grpc import proxy_service

log = logging.getLogger(__name__)
#: The kernel's accept queue of a listening socket shared by a pool's workers.
SHARED_BACKLOG = 2048
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop's event loop when uvloop is installed.

    uvloop serves the proxy's HTTP calls with less CPU per call than asyncio's own
    loop (docs/benchmarks.md, section "speed"); without it, asyncio's loop serves.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


class _Lifecycle:
    _opened = False

    def _open(self) -> None:
        if self._opened:
            raise ProxyError(f"{type(self).__name__} can be opened only once")
        self._opened = True


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the hub's command line, which stops servers in order.
        yield


class HttpServer(_Lifecycle):
    """Serves an ASGI app (the proxy's Starlette app) with uvicorn.

    ``sock`` is an already-bound listening socket to serve instead of binding
    ``host:port`` (a worker pool passes every worker the same one).
    """

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, grace: float = 10.0, sock: socket.socket | None = None
    ) -> None:
        config = uvicorn.Config(
            self._asgi, host=host, port=port, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=math.ceil(grace), server_header=False, date_header=False,
            interface="asgi3", backlog=1 if sock is not None else 2048,
        )  # fmt: skip
        self._app = app
        self._server = _Uvicorn(config)
        self._task: asyncio.Task[None] | None = None
        self._sockets = [sock] if sock is not None else None
        self._draining = False
        self.address = f"http://{host}:{port}"

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._draining:
            return await self._app(scope, receive, send)

        async def closing(message: Message) -> None:
            # While draining, every answer asks the client not to reuse the connection.
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        return await self._app(scope, receive, closing)

    def stop_accepting(self) -> None:
        """Take no new connection from now on (the listening socket stays open for a moment)."""
        self._draining = True
        loop = asyncio.get_running_loop()
        for server in getattr(self._server, "servers", ()):
            if _is_uvloop(loop):
                # uvloop accepts in libuv, out of reach of remove_reader; it attaches a
                # connection as it accepts it, so closing this process's copy of the
                # listening socket at once drops nothing.
                server.close()
                continue
            for sock in server.sockets:
                loop.remove_reader(sock.fileno())

    async def drain(self, seconds: float) -> None:
        """Stop accepting, answer calls on open connections with ``Connection: close``, and
        wait up to ``seconds`` for clients to close them.

        Unlike closing idle keep-alive connections at once, this never races a
        client that is just sending a request on one.
        """
        self.stop_accepting()
        # A connection accepted just now is attached to the server on the next loop turns;
        # closing the server first would make asyncio drop it with a reset.
        await asyncio.sleep(0.05)
        for server in self._server.servers:
            server.close()  # this process's copy of the listening socket only
        deadline = time.monotonic() + seconds
        while self._server.server_state.connections and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> Self:
        self._open()
        self._task = asyncio.create_task(self._server.serve(self._sockets), name=f"http {self.address}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ProxyError(f"HTTP server on {self.address} did not start")
            await asyncio.sleep(0.01)
        if self._sockets and not self._draining:  # (a draining server on uvloop closed its copy)
            # Serving a socket shared with sibling processes: asyncio accepts `backlog`
            # connections per wake-up, so 1 (set above) lets every sibling take its share,
            # while the kernel's queue keeps its full length (reset here).
            for sock in self._sockets:
                sock.listen(SHARED_BACKLOG)
        log.info("proxy listening on %s", self.address)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


class GrpcServer(_Lifecycle):
    """Serves Centrifugo's ``CentrifugoProxy`` gRPC service with grpc.aio."""

    def __init__(
        self, dispatcher: Dispatcher, host: str, port: int, *, grace: float = 10.0, reuse_port: bool = False,
        max_connection_age: float | None = None,
    ) -> None:  # fmt: skip
        # reuse_port lets every worker of a pool listen on the same port. max_connection_age
        # makes clients reconnect now and then after a graceful (two-step) GOAWAY, which,
        # unlike a server shutdown, never cancels a call that crosses it.
        options: list[tuple[str, int]] = [("grpc.so_reuseport", int(reuse_port))]
        if max_connection_age is not None:
            options += [
                ("grpc.max_connection_age_ms", int(max_connection_age * 1000)),
                ("grpc.max_connection_age_grace_ms", int(grace * 1000)),
            ]
        self._server = grpc.aio.server(options=options)
        self._server.add_generic_rpc_handlers((proxy_service(dispatcher),))
        self._grace = grace
        self.address = f"{host}:{port}"

    async def __aenter__(self) -> Self:
        self._open()
        if self._server.add_insecure_port(self.address) == 0:
            raise ProxyError(f"cannot listen for gRPC on {self.address}")
        await self._server.start()
        log.info("proxy listening on grpc://%s", self.address)
        return self

    async def drain(self) -> None:
        """Stop listening, send GOAWAY, and let in-flight calls finish within the grace."""
        await self._server.stop(self._grace)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.stop(self._grace)
