"""The listeners of the proxy service, each an async context manager.

Entering starts listening; leaving stops taking new calls, lets in-flight
calls finish within ``grace`` seconds, then closes::

    async with ProxyHttpServer(dispatcher, "127.0.0.1", 9000), GrpcServer(dispatcher, "127.0.0.1", 9001):
        await stop.wait()

Centrifugo's HTTP calls are served by :class:`ProxyHttpServer` (httptools, no ASGI:
:mod:`hub.proxy.protocol`); an ASGI app (an application's web side, the ops listener)
by :class:`HttpServer`, uvicorn with its fastest installed stack (httptools and uvloop,
both dependencies of the hub). Processes that serve the listeners start their event
loop with :func:`run_listeners`, so they get uvloop when it is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import math
import os
import socket
import struct
import time
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
import psutil
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .dispatch import Dispatcher
from .errors import ProxyError
from .grpc import proxy_service
from .http import ProxyCalls
from .protocol import IDLE_CLOSE, Connections, readable

log = logging.getLogger(__name__)
#: The kernel's accept queue of a listening socket shared by a pool's workers.
SHARED_BACKLOG = 2048
#: Seconds a draining server still accepts what the kernel queued before it refused more.
LINGER = 0.05
#: Linux's SO_ATTACH_FILTER and a classic BPF program of one instruction: return 0 (drop).
_SO_ATTACH_FILTER = 26
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)
T = TypeVar("T")


def refuse_connections(sock: socket.socket) -> bool:
    """Make the kernel drop every new connection attempt to the listening ``sock`` while
    the connections it already queued can still be accepted; False where it cannot (not Linux).

    Closing the last copy of a listening socket resets the connections still in its
    queue, and a client has usually sent its call on them already: a load balancer
    cannot pass such a POST to another server (nginx answers 502). Refused first, then
    emptied, then closed, the socket drops nothing it took; a client that knocked
    meanwhile tries again about a second later, finds the port closed and goes elsewhere.
    The filter belongs to the socket, so every process serving it is covered.
    """
    program = ctypes.create_string_buffer(_DROP_ALL, len(_DROP_ALL))
    fprog = struct.pack("HP", 1, ctypes.addressof(program))  # struct sock_fprog {len, *filter}
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def listening_sockets(port: int) -> int:
    """How many TCP sockets on this machine listen on ``port`` (0 where /proc cannot tell)."""
    hex_port = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows, None)  # the header
                for row in rows:
                    local, state = row.split()[1:4:2]  # sl local_address rem_address st
                    count += state == "0A" and local.endswith(hex_port)  # 0A: LISTEN
        except OSError:
            continue
    return count


def run_listeners(main: Coroutine[Any, Any, T], *, wait_for_threads: bool = True) -> T:
    """``asyncio.run(main)`` on uvloop's event loop when uvloop is installed.

    uvloop serves the proxy's HTTP calls with less CPU per call than asyncio's own
    loop (docs/benchmarks.md, section "speed"); without it, asyncio's loop serves.
    ``wait_for_threads=False`` returns without joining the default executor's threads
    (a pooled worker: a sync handler stuck past the exec timeout must not keep it alive).

    What exists before the loop starts (modules, the app, settings) is moved out of the
    garbage collector's sight (``gc.freeze()``): it lives as long as the process, and a
    full collection would otherwise walk all of it again, a pause of every call it meets.
    """
    gc.freeze()
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    runner = asyncio.Runner(loop_factory=factory)
    if not wait_for_threads:
        return runner.run(main)  # never closed: the caller's process exits right after
    with runner:
        return runner.run(main)


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


class _Lifecycle:
    _opened = False

    def _open(self) -> None:
        if self._opened:
            raise ProxyError(f"{type(self).__name__} can be opened only once")
        self._opened = True


class HttpListener(_Lifecycle):
    """An HTTP listener's socket and its drain, whatever serves its connections.

    ``sock`` is an already-bound listening socket to serve instead of binding
    ``host:port`` (a worker pool passes every worker the same one).
    """

    def __init__(self, name: str, host: str, port: int, sock: socket.socket | None) -> None:
        #: What the listener serves, for its log lines ("proxy", "ops", "web").
        self.name = name
        self.address = f"http://{host}:{port}"
        self._host, self._port = host, port
        self._sockets = [sock] if sock is not None else None
        self._shared = sock is not None
        self._draining = False

    def _servers(self) -> list[asyncio.AbstractServer]:
        """This process's servers of the listening socket (its copies of it)."""
        raise NotImplementedError

    def _bind(self) -> list[socket.socket]:
        if self._sockets is None:
            try:
                self._sockets = [socket.create_server((self._host, self._port), backlog=SHARED_BACKLOG)]
            except OSError as exc:
                why = os.strerror(exc.errno or 0)
                raise ProxyError(f"{self.name}: cannot listen on {self.address}: {why}") from exc
        return self._sockets

    def _listening(self) -> None:
        if self._shared and not self._draining:  # (a draining server on uvloop closed its copy)
            # Serving a socket shared with sibling processes: asyncio accepts `backlog`
            # connections per wake-up, so 1 (set when serving) lets every sibling take its
            # share, while the kernel's queue keeps its full length (reset here).
            for sock in self._sockets or ():
                sock.listen(SHARED_BACKLOG)
        log.info("%s listening on %s", self.name, self.address)

    def stop_accepting(self) -> None:
        """Take no new connection from now on (the listening socket stays open for a moment)."""
        self._draining = True
        loop = asyncio.get_running_loop()
        for server in self._servers():
            if _is_uvloop(loop):
                # uvloop accepts in libuv, out of reach of remove_reader; it attaches a
                # connection as it accepts it, so closing this process's copy of the
                # listening socket at once drops nothing.
                server.close()
                continue
            for sock in getattr(server, "sockets", ()):
                loop.remove_reader(sock.fileno())

    async def drain(self, seconds: float) -> None:
        """Stop accepting, answer calls on open connections with ``Connection: close``, close
        connections that stay idle, and wait up to ``seconds`` for the rest.

        Unless :meth:`stop_accepting` came first (a worker leaving while its siblings
        serve on), the server first takes in what the kernel has queued for it: at
        shutdown that queue dies with the socket. A server that owns its socket stops
        the kernel queueing more (:func:`refuse_connections`); a pool's supervisor does
        that for the socket its workers share.

        A keep-alive connection is closed only after it has been idle for
        :data:`IDLE_CLOSE` seconds in a row: the client (Centrifugo's Go pool
        reuses its most recent connection first) is then unlikely to be sending a
        request on it, and a worker with nothing in flight leaves at once instead of
        waiting out the destroy timeout for connections nobody uses.
        """
        if not self._draining:
            self._draining = True  # from now on every answer says `Connection: close`
            if not self._shared:
                for sock in self._sockets or ():
                    refuse_connections(sock)
            await asyncio.sleep(LINGER)
        self.stop_accepting()
        # A connection accepted just now is attached to the server on the next loop turns;
        # closing the server first would make asyncio drop it with a reset.
        await asyncio.sleep(0.05)
        for server in self._servers():
            server.close()  # this process's copy of the listening socket only
        await self._close_connections(seconds)

    async def _close_connections(self, seconds: float) -> None:
        raise NotImplementedError


class ProxyHttpServer(HttpListener):
    """Serves Centrifugo's HTTP proxy calls (:mod:`hub.proxy.protocol`, no ASGI).

    ``max_connection_age``: a keep-alive connection older than this is closed after its
    next answer, so the client reconnects and the kernel may hand the new connection to
    another worker of the pool.
    """

    def __init__(
        self, dispatcher: Dispatcher, host: str, port: int, *, grace: float = 10.0,
        sock: socket.socket | None = None, max_connection_age: float | None = None,
    ) -> None:  # fmt: skip
        super().__init__("proxy", host, port, sock)
        self.connections = Connections(ProxyCalls(dispatcher), max_age=max_connection_age)
        self._grace = grace
        self._server: asyncio.AbstractServer | None = None
        self._sweep: asyncio.Task[None] | None = None

    def _servers(self) -> list[asyncio.AbstractServer]:
        return [self._server] if self._server is not None else []

    def stop_accepting(self) -> None:
        self.connections.draining = True
        super().stop_accepting()

    async def _close_connections(self, seconds: float) -> None:
        await self.connections.drain(seconds)

    async def __aenter__(self) -> Self:
        self._open()
        sockets = self._bind()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.connections, sock=sockets[0], backlog=1 if self._shared else SHARED_BACKLOG
        )
        self._sweep = asyncio.create_task(self.connections.sweep(), name=f"keep-alive {self.address}")
        self._listening()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._draining:
            await self.drain(self._grace)
        self.connections.close_all()
        if self._sweep is not None:
            self._sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the hub's command line, which stops servers in order.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit as exc:
            # uvicorn exits the process when the app's lifespan startup fails; a SystemExit
            # out of a task would stop the whole event loop, the proxy's listeners with it.
            failed = getattr(getattr(self, "lifespan", None), "should_exit", False)
            raise ProxyError(
                "the app's lifespan startup failed (its error is logged above)" if failed else "did not start"
            ) from exc


class HttpServer(HttpListener):
    """Serves an ASGI app (an application's web side, the ops listener) with uvicorn.

    ``lifespan=True`` runs the app's own ASGI lifespan (startup on entering, shutdown
    after the last connection on leaving; an app without lifespan support is served all
    the same). ``forwarded=True`` takes the client's address from ``X-Forwarded-For``
    when the peer is a reverse proxy on this machine (uvicorn's ``proxy_headers``): for
    an app behind nginx.
    """

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, grace: float = 10.0, sock: socket.socket | None = None,
        name: str = "web", lifespan: bool = False, forwarded: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(name, host, port, sock)
        config = uvicorn.Config(
            self._asgi, host=host, port=port, log_config=None, access_log=False,
            lifespan="auto" if lifespan else "off",
            timeout_graceful_shutdown=math.ceil(grace), server_header=False, date_header=False,
            interface="asgi3", backlog=1 if sock is not None else SHARED_BACKLOG, proxy_headers=forwarded,
        )  # fmt: skip
        self._app = app
        self._server = _Uvicorn(config)
        self._task: asyncio.Task[None] | None = None

    def _servers(self) -> list[asyncio.AbstractServer]:
        return list(getattr(self._server, "servers", ()))

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._draining:
            return await self._app(scope, receive, send)

        async def closing(message: Message) -> None:
            # While draining, every answer asks the client not to reuse the connection.
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        return await self._app(scope, receive, closing)

    async def _close_connections(self, seconds: float) -> None:
        connections = self._server.server_state.connections
        #: connection -> (the request cycle it was idle after, since when)
        idle: dict[object, tuple[object, float]] = {}
        deadline = time.monotonic() + seconds
        while connections and (now := time.monotonic()) < deadline:
            for connection in list(connections):
                cycle = getattr(connection, "cycle", None)
                if cycle is not None and not cycle.response_complete:
                    idle.pop(connection, None)  # a call in flight: it gets `Connection: close`
                    continue
                seen = idle.get(connection)
                if seen is None or seen[0] is not cycle:  # idle after a new request: start again
                    idle[connection] = (cycle, now)
                elif now - seen[1] >= IDLE_CLOSE and not readable(getattr(connection, "transport", None)):
                    connection.shutdown()
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> Self:
        self._open()
        # Bound here, not by uvicorn, which answers a busy port with sys.exit() in its task.
        sockets = self._bind()
        self._task = asyncio.create_task(self._server.serve(sockets), name=f"http {self.address}")
        while not self._server.started:
            if self._task.done():
                try:
                    self._task.result()
                except ProxyError as exc:
                    raise ProxyError(f"{self.name}: HTTP server on {self.address}: {exc}") from exc
                raise ProxyError(f"{self.name}: HTTP server on {self.address} did not start")
            await asyncio.sleep(0.01)
        self._listening()
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
        self._port = port
        self._listening: set[int] = set()
        self.address = f"{host}:{port}"

    async def __aenter__(self) -> Self:
        self._open()
        others = self._listening_fds()
        if self._server.add_insecure_port(self.address) == 0:
            raise ProxyError(f"proxy: cannot listen for gRPC on {self.address}")
        await self._server.start()
        self._listening = self._listening_fds() - others  # grpc's own sockets, for stop_accepting
        log.info("proxy listening on grpc://%s", self.address)
        return self

    def siblings_listening(self) -> bool:
        """True when another socket than this server's listens on its port (Linux's tables)."""
        return listening_sockets(self._port) > len(self._listening)

    def connected(self) -> bool:
        """True while a client holds an established connection to this process's port."""
        return any(c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr[1] == self._port
                   for c in psutil.Process().net_connections("tcp"))  # fmt: skip

    def stop_accepting(self) -> int:
        """Leave the port to the siblings sharing it; the connections already open stay served.

        grpc has no call for this, so its listening socket is shut down under it (grpc logs
        "Closing acceptor. Failed accept4: Invalid argument" once and stops accepting). Linux
        then takes the socket out of the SO_REUSEPORT group at once: a client that reconnects
        reaches a sibling, never this server again. Returns how many sockets were shut down.
        """
        for fd in self._listening:
            with socket.socket(fileno=os.dup(fd)) as sock, contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
        return len(self._listening)

    def _listening_fds(self) -> set[int]:
        return {c.fd for c in psutil.Process().net_connections("tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr[1] == self._port}  # fmt: skip

    async def drain(self) -> None:
        """Stop listening, send GOAWAY, and let in-flight calls finish within the grace."""
        await self._server.stop(self._grace)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.stop(self._grace)
