"""The supervisor's handle on one worker process: its state, its heartbeats, its exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable

import psutil

from hub.proxy import CallStats

from ..errors import PoolError
from ..metrics import Family
from .limits import Vitals
from .messages import FROM_WORKER, Beat, Drain, Leaving, MessageError, Ready, WorkerRow, frame
from .states import WorkerState, check_transition

log = logging.getLogger(__name__)
S = WorkerState


class WorkerProcess:
    """One worker as the supervisor sees it; every state change goes through :meth:`move`."""

    def __init__(
        self, process: asyncio.subprocess.Process, control: socket.socket,
        on_exit: Callable[[WorkerProcess, str], None], *, max_calls: int = 0,
    ) -> None:  # fmt: skip
        self.process = process
        self.pid = process.pid
        self.max_calls = max_calls
        #: The worker's call counts as of its last heartbeat.
        self.stats = CallStats()
        #: The worker's metrics as of its last heartbeat.
        self.metrics: list[Family] = []
        self.draining_since: float | None = None
        self.state = S.STARTING
        self.spawned = self.last_beat = self.idle_since = time.monotonic()
        self.served = self.running = self.waiting = self.rss = 0
        self.oldest: float | None = None
        #: Why the worker is going (or went): a limit, a command, or how it died.
        self.reason = ""
        self._control = control
        self._writer: asyncio.StreamWriter | None = None
        self._watch: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._dead = asyncio.Event()
        self._on_exit = on_exit
        self._ps: psutil.Process | None = None

    def move(self, new: WorkerState) -> None:
        """Change state, refusing a transition the state machine does not allow."""
        self.state = check_transition(self.state, new)

    async def open(self) -> None:
        """Start watching the worker's control socket and its exit."""
        reader, self._writer = await asyncio.open_unix_connection(sock=self._control)
        self._watch = asyncio.create_task(self._follow(reader), name=f"worker {self.pid}")

    async def _follow(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                self.on_line(line)
        except (ConnectionError, ValueError):  # ValueError: a line over the reader's limit
            pass
        except Exception:
            log.exception("pool: lost track of worker %d; killing it", self.pid)
            self.kill("supervisor_error")
        code = await self.process.wait()
        if not self.reason:
            self.reason = "start_failed" if self.state is S.STARTING else "crash"
        if self.reason in ("crash", "start_failed"):
            log.warning("pool: worker %d died (exit status %s) while %s", self.pid, code, self.state.value)
        else:
            log.info("pool: worker %d exited (%s)", self.pid, self.reason)
        self.move(S.DEAD)
        self._ready.set()
        self._dead.set()
        if self._writer is not None:
            self._writer.close()
        self._on_exit(self, self.reason)

    def on_line(self, line: bytes) -> None:
        """Take one line from the worker; a malformed one is logged and skipped."""
        try:
            message = FROM_WORKER.decode(line)
        except MessageError as exc:
            log.error("pool: worker %d: %s (ignored)", self.pid, exc)
            return
        now = time.monotonic()
        if isinstance(message, Ready) and self.state is S.STARTING:
            self.last_beat = now
            self.move(S.READY)
            self._ready.set()
        elif isinstance(message, Beat):
            self.last_beat = now
            self.served, self.running, self.waiting = message.served, message.running, message.waiting
            self.oldest, self.idle_since = message.oldest, message.idle_since
            if message.stats is not None:
                self.stats = message.stats
            if message.metrics is not None:
                self.metrics = message.metrics
            busy = S.WORKING if self.running else S.READY
            if self.state.serving and self.state is not busy:
                self.move(busy)
        elif isinstance(message, Leaving) and self.state.serving:
            self.reason = message.reason
            self.draining_since = now
            self.move(S.RECYCLING)

    def vitals(self) -> Vitals:
        """What the limits are judged on (:func:`hub.pool.limits.judge`)."""
        return Vitals(
            state=self.state, spawned=self.spawned, last_beat=self.last_beat, oldest=self.oldest,
            running=self.running, idle_since=self.idle_since, served=self.served,
            max_calls=self.max_calls, rss=self.rss, draining_since=self.draining_since,
        )  # fmt: skip

    async def wait_ready(self, limit: float) -> None:
        """Until the worker listens; :class:`PoolError` if it dies or takes too long."""
        try:
            async with asyncio.timeout(limit):
                await self._ready.wait()
        except TimeoutError:
            self.kill("start_timeout")
            raise PoolError(f"worker {self.pid} did not start within {limit}s") from None
        if self.state is S.DEAD:
            raise PoolError(f"worker {self.pid} exited at start (see its error above)")

    async def wait_dead(self, limit: float) -> None:
        """Until the process is gone; killed when it takes longer than ``limit`` seconds."""
        try:
            async with asyncio.timeout(limit):
                await self._dead.wait()
        except TimeoutError:
            self.kill(self.reason or "destroy_timeout")
            await self._dead.wait()

    def drain(self, state: WorkerState, reason: str) -> None:
        """Tell the worker to stop taking calls and leave once its calls are done."""
        if self.state is S.DEAD or self.state is state or self.state is S.STOPPING:
            return
        self.move(state)
        self.reason = self.reason or reason
        self.draining_since = self.draining_since or time.monotonic()
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame(Drain(reason=reason)))

    def kill(self, reason: str) -> None:
        """SIGKILL: for an exec timeout, a worker that will not start, or one past the destroy timeout."""
        if self.state is S.DEAD:
            return
        self.reason = reason
        log.warning("pool: killing worker %d (%s)", self.pid, reason)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    def poll_memory(self) -> None:
        """Refresh the resident memory figure (psutil)."""
        try:
            self._ps = self._ps or psutil.Process(self.pid)
            self.rss = self._ps.memory_info().rss
        except psutil.Error:
            pass

    def row(self, now: float) -> WorkerRow:
        """This worker as a row of ``hub workers``."""
        return WorkerRow(
            pid=self.pid, state=self.state.value, served=self.served, running=self.running,
            waiting=self.waiting, rss=self.rss, age=round(now - self.spawned, 1),
        )  # fmt: skip
