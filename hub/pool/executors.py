"""The executors: what runs a call's handler, pooled (in a worker) or inline.

:class:`SlotExecutor`, inside one pooled worker: bounded concurrency, a bounded queue, timeouts.

    executor = SlotExecutor(app, settings.pool, exec_timeout=4.5, on_limit=leave)
    dispatcher = Dispatcher(executor, settings.proxy)

A call takes one of ``concurrency`` slots; if none is free it waits at most
``allocate_timeout`` seconds, and if ``max_queue`` calls already wait it fails
at once (:class:`Overloaded`, a temporary error for the client). A call running
past ``exec_timeout`` fails with :class:`CallFailed`, and ``on_limit`` tells
the worker to leave (its handler may be stuck in a thread nothing can stop).

:class:`InlineExecutor` runs handlers in the service's own event loop (``pool:
workers: 0``, and tests). Both implement :class:`hub.proxy.Handler`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hub.centrifugo import Outcome, Request
from hub.proxy import CallFailed, Overloaded

from ..app import App
from ..jobs.errors import JobTimeout
from .settings import PoolSettings

T = TypeVar("T")


class SlotExecutor:
    """Implements :class:`hub.proxy.Handler` for one worker process."""

    def __init__(
        self, app: App, limits: PoolSettings, *, exec_timeout: float, max_calls: int,
        on_limit: Callable[[str], None],
    ) -> None:  # fmt: skip
        self.app = app
        self.limits = limits
        self.exec_timeout = exec_timeout
        self.max_calls = max_calls
        self.on_limit = on_limit
        self.served = 0
        self.waiting = 0
        #: Start time (monotonic) of each running call, by call id.
        self.running: dict[int, float] = {}
        self.idle_since = time.monotonic()
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._ids = itertools.count()
        # On the app's metrics, so the ops listener's /metrics sums it over the pool.
        self._queue_wait = app.metrics.histogram(
            "hub_pool_queue_wait_seconds",
            "Time a call that found every slot of its worker busy waited for one (served or refused).",
        )

    async def handle(self, request: Request) -> Outcome:
        """Run the handler in a free slot; :class:`Overloaded` or :class:`CallFailed` on faults."""
        await self._acquire()
        try:
            return await self._in_slot(self.app.run(request))
        except TimeoutError:
            raise CallFailed(
                f"{request.kind} handler exceeded the exec timeout ({self.exec_timeout}s)"
            ) from None

    async def run_job(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run a job in a slot (hub.jobs.Runner), under the same limits as a call; it waits as
        long as it takes for the slot, since a consumer fetches at most ``prefetch`` jobs."""
        await self._slots.acquire()
        try:
            return await self._in_slot(fn())
        except TimeoutError:
            raise JobTimeout(f"job exceeded the exec timeout ({self.exec_timeout}s)") from None

    async def _in_slot(self, work: Awaitable[T]) -> T:
        """Await ``work`` in the slot just acquired, under the exec timeout; then count it,
        free the slot and apply the worker's limits (exec timeout, max calls)."""
        call = next(self._ids)
        self.running[call] = time.monotonic()
        try:
            async with asyncio.timeout(self.exec_timeout):
                return await work
        except TimeoutError:
            self.on_limit("exec_timeout")
            raise
        finally:
            del self.running[call]
            self._slots.release()
            self.served += 1
            self.idle_since = time.monotonic()
            if self.max_calls and self.served == self.max_calls:
                self.on_limit("max_calls")

    async def _acquire(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        if self.waiting >= self.limits.max_queue:
            raise Overloaded(f"worker queue full ({self.limits.max_queue} calls waiting)")
        self.waiting += 1
        queued = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.allocate_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise Overloaded(
                f"no free slot within the allocate timeout ({self.limits.allocate_timeout}s)"
            ) from None
        finally:
            self.waiting -= 1
            self._queue_wait.observe(time.monotonic() - queued)

    def oldest(self) -> float | None:
        """When the longest-running call started (monotonic), or None when idle."""
        return min(self.running.values(), default=None)


class InlineExecutor:
    """Runs each call's handler in this process, bounded by ``call_timeout``."""

    def __init__(self, app: App, call_timeout: float) -> None:
        self.app = app
        self.call_timeout = call_timeout

    async def handle(self, request: Request) -> Outcome:
        """Run the handler; :class:`CallFailed` when it takes longer than ``call_timeout``."""
        try:
            async with asyncio.timeout(self.call_timeout):
                return await self.app.run(request)
        except TimeoutError:
            raise CallFailed(f"{request.kind} handler exceeded {self.call_timeout}s") from None
