"""One pooled worker: a fresh interpreter that imports the app and serves the proxy itself.

Started by the supervisor (:mod:`hub.pool.supervisor`) as ``python -m hub.pool.worker`` (spawn
semantics: nothing is inherited but the file descriptors it is handed, nothing
is pickled)::

    python -m hub.pool.worker --control-fd 5 --http-fd 6 [--web-fd 7]   < Start message (settings, max_calls)

It reads its settings from stdin (:class:`hub.pool.messages.Start`): the ones the
supervisor validated and runs with, so an edit of hub.yaml never reaches a worker
until the service restarts.

It serves the HTTP listening socket the supervisor bound (shared by every
worker) and listens for gRPC on the same port as its siblings (SO_REUSEPORT).
With hub.yaml ``web:``, it also serves the application's own ASGI app on the web
listening socket the supervisor bound, inside the hub app's lifespan (so views can
``await app.publish(...)``); web requests bypass the slot executor and the proxy's counts.
Over the control socket it says ``ready``, then sends a heartbeat every
:data:`BEAT` seconds (calls served, running, waiting, the oldest call's start);
it leaves when told ``drain``, when a limit says so (max calls, exec timeout),
or when the supervisor goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from contextlib import AsyncExitStack

from starlette.types import ASGIApp

from hub.clients import SIZE_BUCKETS
from hub.proxy import (
    CallStats,
    Dispatcher,
    GrpcServer,
    HttpListener,
    HttpServer,
    ProxyHttpServer,
    run_listeners,
)

from ..app import App
from ..jobs.consumer import Consumer, consuming
from ..loader import import_app, import_web_app
from ..logs import configure
from ..metrics import Family, Series
from ..settings import Settings
from .executors import SlotExecutor
from .messages import START, TO_WORKER, Beat, Drain, Leaving, Message, MessageError, Ready, frame

# Run as `python -m hub.pool.worker`, __name__ would be "__main__" in every log line.
log = logging.getLogger("hub.pool.worker")
#: Seconds between heartbeats; a worker silent for the exec timeout is killed.
BEAT = 0.1
#: Exit status of a worker whose app cannot be imported or whose listeners cannot start.
EXIT_START_FAILED = 3


class Worker:
    """The life of one worker process, from listening to leaving."""

    def __init__(self, settings: Settings, app: App, control: socket.socket, http: socket.socket,
                 max_calls: int, web: tuple[ASGIApp, socket.socket] | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.app = app
        self._control = control
        self._http = http
        #: The application's own ASGI app and the web listening socket (hub.yaml ``web:``).
        self._web = web
        self._leave = asyncio.Event()
        self._listeners: list[HttpListener] = []
        self.jobs: Consumer | None = None  # this worker's own consumer of the jobs pipelines
        self.reason = ""
        pool = settings.pool
        self.executor = SlotExecutor(
            app, pool, exec_timeout=pool.exec_limit(settings.proxy.call_timeout), max_calls=max_calls,
            on_limit=self.leave,
        )  # fmt: skip

    def leave(self, reason: str) -> None:
        """Stop taking calls, finish the running ones, then exit."""
        if not self._leave.is_set():
            self.reason = reason
            log.info("worker %d leaving: %s", os.getpid(), reason)
            if reason != "shutdown":  # at shutdown, drain() first takes in what the kernel queued
                for listener in self._listeners:
                    listener.stop_accepting()  # at once: not one more connection for this worker
            if self.jobs is not None:
                self.jobs.stop_fetching()  # nor one more job
            self._leave.set()

    async def run(self) -> None:
        """Serve until told to leave; then drain within the destroy timeout."""
        p, pool = self.settings.proxy, self.settings.pool
        reader, writer = await asyncio.open_unix_connection(sock=self._control)
        dispatcher = Dispatcher(self.executor, p)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.app.lifespan(self.settings))
            # Known to leave() before it is entered: calls are served from the first loop turn
            # of the server's start, and a limit reached then must stop accepting at once.
            http = ProxyHttpServer(
                dispatcher,
                p.host,
                p.http_port,
                grace=pool.destroy_timeout,
                sock=self._http,
                max_connection_age=pool.http_connection_ttl or None,
            )
            self._listeners.append(http)
            await stack.enter_async_context(http)
            if self._web is not None:
                w = self.settings.web
                web = HttpServer(
                    self._web[0], w.host, w.port, grace=pool.destroy_timeout, sock=self._web[1], name="web",
                    lifespan=True, forwarded=True,
                )  # fmt: skip
                self._listeners.append(web)
                await stack.enter_async_context(web)
            grpc = None
            if p.grpc_port:
                grpc = GrpcServer(
                    dispatcher, p.host, p.grpc_port, grace=pool.destroy_timeout, reuse_port=True,
                    max_connection_age=pool.grpc_connection_ttl or None,
                )  # fmt: skip
                await stack.enter_async_context(grpc)
            self.jobs = await stack.enter_async_context(
                consuming(self.app, self.executor, destroy_timeout=pool.destroy_timeout)
            )
            _send(writer, Ready())
            async with asyncio.TaskGroup() as tasks:
                beats = tasks.create_task(self._beat(writer, dispatcher.stats))
                commands = tasks.create_task(self._commands(reader))
                await self._leave.wait()
                _send(writer, Leaving(reason=self.reason))
                # gRPC's stop sends GOAWAY and waits for in-flight calls; HTTP answers what
                # arrives on open connections with `Connection: close` until they are gone.
                # At shutdown every sibling drains too: there is nowhere to move a connection to.
                move = pool.grpc_connection_ttl and self.reason != "shutdown"
                wait = pool.destroy_timeout if move else 0
                await asyncio.gather(
                    *(listener.drain(pool.destroy_timeout) for listener in self._listeners),
                    _drain_grpc(grpc, wait) if grpc else _nothing(),
                    self.jobs.drain(pool.destroy_timeout) if self.jobs else _nothing(),
                )
                commands.cancel()
                beats.cancel()
                _send(writer, self._vitals(dispatcher.stats))  # the last word: every call counted

    def _vitals(self, stats: CallStats) -> Beat:
        e = self.executor
        metrics = [*self.app.metrics.snapshot(), *self._own_metrics()]
        return Beat(
            served=e.served, running=len(e.running), waiting=e.waiting, oldest=e.oldest(),
            idle_since=e.idle_since, stats=stats, metrics=metrics,
        )  # fmt: skip

    def _own_metrics(self) -> list[Family]:
        """The worker's publisher's counts (jobs count on the app's metrics themselves)."""
        publisher = self.app._publisher
        counts = publisher.counts if publisher is not None else None
        if counts is None:
            return []
        one = (Series(labels=(), value=counts.requests),)
        return [
            Family(name="hub_publisher_requests", kind="counter", labels=(), series=list(one),
                   help="Batch requests the workers' publishers sent to Centrifugo, retries included."),
            Family(name="hub_publisher_calls", kind="counter", labels=("outcome",),
                   series=[Series(labels=(o,), value=n) for o, n in counts.outcomes.items()],
                   help="Publisher calls finished, by outcome: ok, or the error's type."),
            Family(name="hub_publisher_retried", kind="counter", labels=(),
                   series=[Series(labels=(), value=counts.retried)],
                   help="Publisher calls sent again after a transient failure."),
            Family(name="hub_publisher_batch_size", kind="histogram", labels=(), bounds=SIZE_BUCKETS,
                   series=[Series(labels=(), value=counts.size_sum, buckets=tuple(counts.sizes))],
                   help="Commands per batch request to Centrifugo's API."),
        ]  # fmt: skip

    async def _beat(self, writer: asyncio.StreamWriter, stats: CallStats) -> None:
        while True:
            _send(writer, self._vitals(stats))
            await asyncio.sleep(BEAT)

    async def _commands(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                message = TO_WORKER.decode(line)
            except MessageError as exc:
                log.error("worker %d: %s (ignored)", os.getpid(), exc)
                continue
            if isinstance(message, Drain):
                self.leave(message.reason)
        self.leave("supervisor gone")


async def _nothing() -> None:
    return None


async def _drain_grpc(server: GrpcServer, seconds: float) -> None:
    """Move Centrifugo's connection to a sibling (waiting up to ``seconds``), then stop gRPC.

    grpc's server shutdown cancels calls that cross its GOAWAY, so this worker first leaves
    the shared port and lets its connection age out (a graceful GOAWAY after
    ``pool.grpc_connection_ttl``): the client's reconnection can only reach a sibling.
    Without one listening by the deadline, calls crossing the shutdown's GOAWAY may fail.
    """
    deadline = time.monotonic() + seconds
    accepting = True
    while time.monotonic() < deadline and server.connected():
        # Leave the port once a sibling listens on it (a replacement may still be starting):
        # with nobody listening, the client's reconnection would be refused and back off.
        if accepting and server.siblings_listening():
            log.info("worker %d: leaves the gRPC port to its siblings (grpc: Closing acceptor)", os.getpid())
            server.stop_accepting()
            accepting = False
        await asyncio.sleep(0.05)
    await server.drain()


def _send(writer: asyncio.StreamWriter, message: Message) -> None:
    # write() sends at once when the socket has room, so a message leaves even if a
    # handler blocks the event loop right after.
    writer.write(frame(message))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m hub.pool.worker``; never returns (the process exits)."""
    parser = argparse.ArgumentParser(prog="hub.pool.worker")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--http-fd", type=int, required=True)
    parser.add_argument("--web-fd", type=int)
    args = parser.parse_args(argv)
    control = socket.socket(fileno=args.control_fd)
    http = socket.socket(fileno=args.http_fd)
    web_sock = socket.socket(fileno=args.web_fd) if args.web_fd is not None else None
    for sock in (control, http, web_sock):  # not into the processes the app may start (uvloop closes none)
        if sock is not None:
            sock.set_inheritable(False)
    code = 0
    try:
        start = START.decode(sys.stdin.buffer.read())
        settings = start.decode_settings()
        configure(settings.log_level, settings.log_format, worker=True)
        # uvicorn's "Started server process" / "Shutting down" repeat ours, under the name uvicorn.error.
        logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, logging.getLogger().level))
        sys.path.insert(0, os.getcwd())
        app = import_app(settings.app, settings.app_dir)
        web = None
        if web_sock is not None:  # after the hub app: the web app's views import it
            web = (import_web_app(settings.web.app, settings.app_dir), web_sock)
        # Not joining the default executor's threads at the end: a sync handler stuck past
        # the exec timeout would keep this process alive after it answered every call.
        # Everything worth waiting for ended with Worker.run().
        worker = Worker(settings, app, control, http, start.max_calls, web)
        run_listeners(worker.run(), wait_for_threads=False)
    except BaseException as exc:  # a worker reports why it failed, then goes
        if not isinstance(exc, KeyboardInterrupt | SystemExit):
            log.critical("worker %d failed: %s: %s", os.getpid(), type(exc).__name__, exc, exc_info=exc)
            print(f"hub worker {os.getpid()}: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = EXIT_START_FAILED
    with contextlib.suppress(Exception):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    # A handler stuck in a thread must not keep the process alive: leave without joining it.
    os._exit(code)


if __name__ == "__main__":
    main()
