"""Coalescing calls into Centrifugo batch requests, with retries and a bound.

Calls wait in one bounded queue. A flusher takes up to ``max_size`` of them
and sends them as one batch while fewer than ``concurrency`` batches are in
flight, so under load batches grow by themselves. When no batch is in
flight the queue goes at once (a lone publish pays no window); otherwise
the flusher first waits up to ``window`` for the batch to fill. Each call gets its own reply or its
own error; :meth:`Batcher.call_many` queues many commands behind one awaitable (one
future for all of them, settled when the last one is), each still with its own
reply or error. A batch that fails as a whole (network, timeout, HTTP 5xx), and
a command answered with the internal error 100, is sent again with capped
exponential backoff until the call's retry budget is spent; publishes carry
an idempotency key, so a resend never publishes twice.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._transport import Command, Transport
from .errors import (
    ApiError,
    ApiTimeoutError,
    ClosedError,
    NetworkError,
    OverloadedError,
    PublisherError,
    UnavailableError,
)

log = logging.getLogger(__name__)

BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0


#: Upper bounds of the batch-size histogram (commands per request).
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(slots=True)
class PublisherCounts:
    """What a publisher has done since it opened (the hub's /metrics sums them over the pool)."""

    #: Batch requests sent, retries included.
    requests: int = 0
    #: Calls sent again after a transient failure.
    retried: int = 0
    #: Finished calls by outcome: "ok", or the error's type (ApiError, NetworkError, ...).
    outcomes: dict[str, int] = field(default_factory=dict)
    #: Commands per request: counts per SIZE_BUCKETS bucket (+Inf last), and their sum.
    sizes: list[int] = field(default_factory=lambda: [0] * (len(SIZE_BUCKETS) + 1))
    size_sum: int = 0


Settled = dict[str, Any] | PublisherError


class _Group:
    """The calls of one :meth:`Batcher.call_many`: one future for all, set when the last settles."""

    __slots__ = ("future", "left", "results")

    def __init__(self, future: asyncio.Future[list[Settled]], size: int) -> None:
        self.future = future
        self.left = size
        self.results: list[Settled | None] = [None] * size

    def settle(self, index: int, value: Settled) -> None:
        self.results[index] = value
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(self.results)  # type: ignore[arg-type]  # none is None now


class _Call:
    """One command and whoever waits for it: its own future, or a slot of a group."""

    __slots__ = ("attempts", "command", "deadline", "future", "group", "index")

    def __init__(
        self,
        command: Command,
        future: asyncio.Future[dict[str, Any]] | None,
        deadline: float,
        group: _Group | None = None,
        index: int = 0,
    ) -> None:
        self.command = command
        self.future = future
        self.deadline = deadline
        self.group = group
        self.index = index
        self.attempts = 0

    def done(self) -> bool:
        """Settled, or no one waits for it any more (its caller was cancelled)."""
        if self.future is not None:
            return self.future.done()
        assert self.group is not None
        return self.group.future.done() or self.group.results[self.index] is not None

    def set_result(self, reply: dict[str, Any]) -> None:
        if self.future is not None:
            self.future.set_result(reply)
        else:
            assert self.group is not None
            self.group.settle(self.index, reply)

    def set_exception(self, error: PublisherError) -> None:
        if self.future is not None:
            self.future.set_exception(error)
        else:
            assert self.group is not None
            self.group.settle(self.index, error)


class Batcher:
    """The queue and the flusher; :meth:`run` is the background loop."""

    def __init__(
        self,
        transport: Transport,
        *,
        max_size: int,
        window: float,
        max_pending: int,
        concurrency: int,
        retry_timeout: float,
    ) -> None:
        self.transport = transport
        self.max_size = max_size
        self.window = window
        self.max_pending = max_pending
        self.retry_timeout = retry_timeout
        self._queue: deque[_Call] = deque()
        self._pending = 0
        self._ready = asyncio.Event()
        self._full = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(concurrency)
        self._closed = False
        self.counts = PublisherCounts()
        self._inflight = 0

    @property
    def pending(self) -> int:
        """Calls queued or in flight."""
        return self._pending

    async def call(self, command: Command) -> dict[str, Any]:
        """Queue one command and wait for its own reply (or its own error)."""
        if self._closed:
            raise ClosedError("the publisher is closing; this call was not sent")
        # The queue may still hold calls whose callers gave up (cancelled): count them too.
        if self._pending >= self.max_pending or len(self._queue) >= self.max_pending:
            raise OverloadedError(
                f"{self._pending} calls already pending (publisher.max_pending); this one was not sent"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        call = _Call(command, future, loop.time() + self.retry_timeout)
        self._pending += 1
        self._idle.clear()
        self._queue.append(call)
        self._ready.set()
        if len(self._queue) >= self.max_size:
            self._full.set()
        outcome = "ok"
        try:
            return await future
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.counts.outcomes[outcome] = self.counts.outcomes.get(outcome, 0) + 1
            self._pending -= 1
            if not self._pending:
                self._idle.set()

    async def call_many(self, commands: Iterable[Command], size: int) -> list[Settled]:
        """Queue ``size`` commands behind one awaitable; one reply or error per command, in order.

        All or nothing at the door: when the publisher is closing, or the commands would
        take the pending calls over ``max_pending``, none is queued and this raises.
        Afterwards each command settles on its own (an error in its slot, never raised).
        ``commands`` is consumed ``max_size`` at a time, letting the flusher send the
        first batches while the next are built.
        """
        if self._closed:
            raise ClosedError("the publisher is closing; these calls were not sent")
        if self._pending + size > self.max_pending or len(self._queue) + size > self.max_pending:
            raise OverloadedError(
                f"{self._pending} calls already pending, {size} more would pass publisher.max_pending "
                f"({self.max_pending}); none of them was sent"
            )
        if not size:
            return []
        loop = asyncio.get_running_loop()
        group = _Group(loop.create_future(), size)
        deadline = loop.time() + self.retry_timeout
        self._pending += size
        self._idle.clear()
        try:
            queued = 0
            source = iter(commands)
            while queued < size:
                if queued:
                    await asyncio.sleep(0)  # the flusher takes what is queued
                chunk = [_Call(c, None, deadline, group, queued + i)
                         for i, c in enumerate(itertools.islice(source, self.max_size))]  # fmt: skip
                if not chunk:
                    raise ValueError(f"call_many: {queued} commands given, {size} announced")
                queued += len(chunk)
                self._queue.extend(chunk)
                self._ready.set()
                if len(self._queue) >= self.max_size:
                    self._full.set()
            return await group.future
        finally:
            if not group.future.done():  # cancelled (or failed) while queueing or waiting
                group.future.cancel()
            outcomes = self.counts.outcomes
            for result in group.results:
                outcome = "CancelledError" if result is None else type(result).__name__
                if outcome == "dict":
                    outcome = "ok"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            self._pending -= size
            if not self._pending:
                self._idle.set()

    async def run(self, group: asyncio.TaskGroup) -> None:
        """Flush batches forever; senders run in ``group``."""
        while True:
            await self._ready.wait()
            await self._slots.acquire()
            if not self._inflight:
                # Idle: no one to wait for but the callers of this very loop tick, so a lone
                # publish goes at once; a burst (gather) is already queued.
                await asyncio.sleep(0)
            elif self.window and len(self._queue) < self.max_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.window):
                        await self._full.wait()
            batch: list[_Call] = []
            while self._queue and len(batch) < self.max_size:
                call = self._queue.popleft()
                if not call.done():  # its caller may have been cancelled
                    batch.append(call)
            if len(self._queue) < self.max_size:
                self._full.clear()
            if not self._queue:
                self._ready.clear()
            if batch:
                self._inflight += 1
                group.create_task(self._send(batch))
            else:
                self._slots.release()

    async def drain(self, within: float) -> None:
        """Refuse new calls and wait (at most ``within`` seconds) for the pending ones."""
        self._closed = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._idle.wait()

    def fail_pending(self) -> None:
        """Fail every call still queued (after the flusher stopped)."""
        while self._queue:
            call = self._queue.popleft()
            if not call.done():
                call.set_exception(ClosedError("the publisher closed before this call was sent"))

    async def _send(self, batch: list[_Call]) -> None:
        loop = asyncio.get_running_loop()
        delay = BACKOFF_MIN
        first_retry = True
        try:
            while batch:
                for call in batch:
                    call.attempts += 1
                retry, error = await self._attempt(batch)
                if not retry:
                    return
                now = loop.time()
                pause = min(delay, BACKOFF_MAX) * random.uniform(0.5, 1.0)
                delay *= 2
                batch = []
                for call in retry:
                    if call.done():
                        continue
                    if now + pause > call.deadline:
                        call.set_exception(_gave_up(error, call.attempts))
                    else:
                        batch.append(call)
                if batch:
                    self.counts.retried += len(batch)
                    # The first retry of a batch is worth a warning; the rest would only repeat it.
                    level = logging.WARNING if first_retry else logging.DEBUG
                    first_retry = False
                    log.log(level, "server API: %s; retrying %d call(s) in %.2fs", error, len(batch), pause)
                    await asyncio.sleep(pause)
        finally:
            self._inflight -= 1
            self._slots.release()
            for call in batch:  # only when cancelled mid-retry
                if not call.done():
                    call.set_exception(ClosedError("the publisher closed while retrying this call"))

    async def _attempt(self, batch: list[_Call]) -> tuple[list[_Call], PublisherError | None]:
        """Send once; settle what is settled; return the calls worth another try."""
        c = self.counts
        c.requests += 1
        c.sizes[bisect.bisect_left(SIZE_BUCKETS, len(batch))] += 1
        c.size_sum += len(batch)
        try:
            replies = await self.transport.batch([c.command for c in batch])
        except (NetworkError, ApiTimeoutError) as exc:
            return batch, exc
        except PublisherError as exc:  # unauthorized, bad request: retrying will not help
            for call in batch:
                if not call.done():
                    call.set_exception(_copy(exc))
            return [], None
        retry: list[_Call] = []
        error: PublisherError | None = None
        for call, reply in zip(batch, replies, strict=True):
            if call.done():
                continue
            if isinstance(reply, ApiError):
                if reply.transient:
                    retry.append(call)
                    error = reply
                else:
                    call.set_exception(reply)
            else:
                call.set_result(reply)
        return retry, error


def _copy(exc: PublisherError) -> PublisherError:
    if isinstance(exc, ApiError):
        return ApiError(exc.code, exc.message)
    return type(exc)(str(exc))


def _gave_up(error: PublisherError | None, attempts: int) -> PublisherError:
    note = f" (gave up after {attempts} attempt(s): publisher.retry_timeout spent)"
    if isinstance(error, ApiError):
        return ApiError(error.code, error.message + note)
    if isinstance(error, UnavailableError):
        return type(error)(f"{error}{note}")
    return NetworkError(f"Centrifugo unavailable{note}")
