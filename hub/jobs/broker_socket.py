"""The memory broker over a unix socket: how pooled workers share the service's memory pipelines.

The service (the composition root) owns the :class:`MemoryBroker` and serves it
next to the config file (``.hub.yaml.jobs.sock``); each worker, and ``hub jobs``,
connects with a :class:`BrokerClient`. One JSON line per request
(``{"n": 7, "op": "fetch", "pipeline": "default", "args": {...}}``) and one per
reply (``{"n": 7, "ok": ...}`` or ``{"n": 7, "error": "..."}``); replies may come
out of order, so a blocking fetch never holds up an ack on the same connection.

A blocking fetch takes jobs only for an asker that still waits: a client whose
fetch is cancelled (a worker that stops fetching to leave) sends
``{"n": 7, "op": "cancel"}``, and a connection that closes (a worker that exits or
is killed) cancels its fetches still waiting. Otherwise the next job pushed would
go to a consumer that is gone and wait out the claim timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import msgspec

from ..paths import socket_path
from .envelope import Envelope
from .errors import BrokerError, JobsError
from .memory_driver import MemoryBroker, MemoryDriver
from .settings import JobsSettings
from .status import Delivery, JobStatus, PipelineStats

log = logging.getLogger(__name__)
#: Environment variable through which the service tells its workers where the broker is.
ENV = "HUB_JOBS_SOCKET"
_OPS = {"push", "fetch", "ack", "retry", "bury", "status", "stats", "pause", "retry_dead"}


def broker_path(config: str | os.PathLike[str]) -> Path:
    """Where the service for ``config`` serves its memory pipelines."""
    return socket_path(config, "jobs.sock")


class _Request(msgspec.Struct, frozen=True):
    n: int
    op: str
    pipeline: str
    args: dict[str, Any] = {}


def _forget(fetches: dict[int, asyncio.Task[None]], n: int, _: asyncio.Task[None]) -> None:
    fetches.pop(n, None)


class BrokerServer:
    """Serves a :class:`MemoryBroker`'s pipelines on a unix socket."""

    def __init__(self, broker: MemoryBroker, settings: JobsSettings, path: Path) -> None:
        self.path = path
        self.drivers = {
            name: MemoryDriver(broker, name, p)
            for name, p in settings.pipelines.items()
            if p.driver == "memory"
        }
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        if self._server is not None:
            raise JobsError("BrokerServer can be opened only once")
        if self.path.exists():
            try:
                _, writer = await asyncio.open_unix_connection(str(self.path))
            except OSError:
                self.path.unlink()  # left behind by a service that is gone
            else:
                writer.close()
                raise JobsError(f"another hub is already serving memory pipelines at {self.path}")
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=2**24)
        os.chmod(self.path, 0o600)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fetches: dict[int, asyncio.Task[None]] = {}  # this connection's, still waiting
        try:
            async with asyncio.TaskGroup() as tasks:
                try:  # (errors caught in here: out of a task group they come as a group)
                    while line := await reader.readline():
                        request = msgspec.json.decode(line, type=_Request)
                        if request.op == "cancel":
                            if (fetch := fetches.get(request.n)) is not None:
                                fetch.cancel()
                            continue
                        task = tasks.create_task(self._answer(request, writer))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                        if request.op == "fetch":
                            fetches[request.n] = task
                            task.add_done_callback(functools.partial(_forget, fetches, request.n))
                except ConnectionError:
                    pass  # a worker killed mid-request
                except msgspec.DecodeError as exc:
                    log.warning("jobs broker: not a request (%s); closing the connection", exc)
                finally:  # the asker is gone: its fetches must not take jobs
                    for fetch in list(fetches.values()):
                        fetch.cancel()
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _answer(self, r: _Request, writer: asyncio.StreamWriter) -> None:
        try:
            driver = self.drivers[r.pipeline]
            if r.op not in _OPS:
                raise JobsError(f"unknown operation {r.op!r}")
            args = dict(r.args)
            if "envelopes" in args:
                args["envelopes"] = msgspec.convert(args["envelopes"], list[Envelope])
            if "delivery" in args:
                args["delivery"] = msgspec.convert(args["delivery"], Delivery)
            reply: dict[str, Any] = {"n": r.n, "ok": await getattr(driver, r.op)(**args)}
        except Exception as exc:
            reply = {"n": r.n, "error": f"{type(exc).__name__}: {exc}"}
        if not writer.is_closing():
            writer.write(msgspec.json.encode(reply) + b"\n")


class BrokerClient:
    """One connection to a :class:`BrokerServer`, opened at first use, shared by its drivers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._lock = asyncio.Lock()

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is None or self._writer.is_closing():
                try:
                    reader, self._writer = await asyncio.open_unix_connection(str(self.path), limit=2**24)
                except OSError as exc:
                    raise BrokerError(
                        f"cannot reach the memory pipelines at {self.path} ({exc.strerror}); "
                        "memory pipelines live in `hub serve`: is it running?"
                    ) from exc
                self._reader_task = asyncio.create_task(self._read(reader), name="jobs broker replies")
            return self._writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                reply = msgspec.json.decode(line)
                future = self._waiting.pop(reply["n"], None)
                if future is not None and not future.done():
                    if "error" in reply:
                        future.set_exception(JobsError(f"memory broker: {reply['error']}"))
                    else:
                        future.set_result(reply["ok"])
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(BrokerError("the memory broker went away"))
            self._waiting.clear()
            if self._writer is not None:
                self._writer.close()

    async def call(self, op: str, pipeline: str, **args: Any) -> Any:
        writer = await self._connect()
        n = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[n] = future
        writer.write(msgspec.json.encode({"n": n, "op": op, "pipeline": pipeline, "args": args}) + b"\n")
        try:
            return await future
        except asyncio.CancelledError:
            if op == "fetch" and not writer.is_closing():  # so it takes no job for nobody
                writer.write(msgspec.json.encode({"n": n, "op": "cancel", "pipeline": pipeline}) + b"\n")
            raise
        finally:
            self._waiting.pop(n, None)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task


class RemoteDriver:
    """Implements :class:`hub.jobs.driver.Driver` for a memory pipeline served by the service."""

    def __init__(self, client: BrokerClient, name: str) -> None:
        self.client = client
        self.name = name

    async def push(self, envelopes: Sequence[Envelope]) -> list[bool]:
        return list(await self.client.call("push", self.name, envelopes=list(envelopes)))

    async def fetch(self, consumer: str, count: int, block: float) -> list[Delivery]:
        got = await self.client.call("fetch", self.name, consumer=consumer, count=count, block=block)
        return msgspec.convert(got, list[Delivery])

    async def ack(self, delivery: Delivery, result: Any) -> None:
        await self.client.call("ack", self.name, delivery=delivery, result=result)

    async def retry(self, delivery: Delivery, error: str, delay: float) -> None:
        await self.client.call("retry", self.name, delivery=delivery, error=error, delay=delay)

    async def bury(self, delivery: Delivery, error: str) -> None:
        await self.client.call("bury", self.name, delivery=delivery, error=error)

    async def status(self, job_id: str) -> JobStatus | None:
        got = await self.client.call("status", self.name, job_id=job_id)
        return None if got is None else msgspec.convert(got, JobStatus)

    async def stats(self) -> PipelineStats:
        return msgspec.convert(await self.client.call("stats", self.name), PipelineStats)

    async def pause(self, paused: bool) -> None:
        await self.client.call("pause", self.name, paused=paused)

    async def retry_dead(self) -> int:
        return int(await self.client.call("retry_dead", self.name))

    async def leave(self, consumer: str) -> None:
        return None
