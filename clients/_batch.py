"""Coalescing calls into Centrifugo batch requests, with retries and a bound.

Calls wait in one bounded queue: a lone :meth:`Batcher.call` as one entry (its
command and its caller's future), a :meth:`Batcher.call_many` as parts of up to
``max_size`` commands (one entry each; one future for the whole call). A flusher
takes whole entries, up to ``max_size`` commands, and sends them as one batch
while fewer than ``concurrency`` batches are in flight, so under load batches
grow by themselves. When no batch is in flight the queue goes at once (a lone
publish pays no window); otherwise the flusher first waits up to ``window`` for
the batch to fill. Each command gets its own reply or its own error (a call_many's
in its slot of the results). A batch that fails as a whole (network, timeout,
HTTP 5xx), and a command answered with the internal error 100, is sent again
with capped exponential backoff until the call's retry budget is spent (only the
commands that failed: a part is split); publishes carry an idempotency key, so a
resend never publishes twice."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._transport import Command, Reply, Transport
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
    """The caller of one :meth:`Batcher.call_many`: one future for all of its commands, set
    when the last one settles. ``results`` holds each command's reply or error in its place;
    ``ok`` and ``errors`` count them for the outcome metric."""

    __slots__ = ("errors", "future", "left", "ok", "results")

    def __init__(self, future: asyncio.Future[list[Settled]], size: int) -> None:
        self.future = future
        self.left = size
        self.ok = 0
        self.errors: dict[str, int] | None = None  # made by the first error (most calls have none)
        self.results: list[Settled | None] = [None] * size

    def fail(self, slot: int, error: PublisherError) -> None:
        self.results[slot] = error
        if self.errors is None:
            self.errors = {}
        name = type(error).__name__
        self.errors[name] = self.errors.get(name, 0) + 1
        self.settled(1)

    def settled(self, count: int) -> None:
        self.left -= count
        if not self.left and not self.future.done():
            self.future.set_result(self.results)  # type: ignore[arg-type]  # none is None now

    def outcomes(self, into: dict[str, int]) -> None:
        """Add this group's outcomes to ``into``: ok, each error's type, CancelledError for the rest."""
        if self.ok:
            into["ok"] = into.get("ok", 0) + self.ok
        if self.errors is not None:
            for name, count in self.errors.items():
                into[name] = into.get(name, 0) + count
        if self.left:
            into["CancelledError"] = into.get("CancelledError", 0) + self.left


class _Call:
    """A queue entry of one command: a lone :meth:`Batcher.call` and its caller's future.

    Queue entries (this and :class:`_Part`) answer the same few questions for the
    flusher: their ``size`` and ``commands``, ``done()``, ``settle()`` and ``fail()``.
    A lone call stays one object: many wait at once under load (``gather``), and each
    object alive longer is more work for the garbage collector.
    """

    __slots__ = ("attempts", "command", "deadline", "future")
    size = 1

    def __init__(self, command: Command, future: asyncio.Future[dict[str, Any]], deadline: float) -> None:
        self.command = command
        self.future = future
        self.deadline = deadline
        self.attempts = 0

    @property
    def commands(self) -> tuple[Command]:
        return (self.command,)

    def done(self) -> bool:
        """Settled, or no one waits for it any more (its caller was cancelled)."""
        return self.future.done()

    def settle(self, replies: Sequence[Reply], start: int) -> tuple[_Call | None, ApiError | None]:
        """Settle with ``replies[start]``; return this call again if that was a transient error."""
        reply = replies[start]
        if type(reply) is dict:
            self.future.set_result(reply)
            return None, None
        assert isinstance(reply, ApiError)
        if reply.transient:
            return self, reply
        self.future.set_exception(reply)
        return None, None

    def fail(self, error: Callable[[], PublisherError]) -> None:
        self.future.set_exception(error())


class _Part:
    """Up to ``max_size`` commands of one call_many that travel together: a queue entry."""

    __slots__ = ("attempts", "commands", "deadline", "group", "size", "slots")

    def __init__(self, group: _Group, commands: list[Command], slots: Sequence[int], deadline: float) -> None:
        self.group = group
        self.commands = commands
        self.size = len(commands)
        self.slots = slots  # each command's place in the group's results
        self.deadline = deadline
        self.attempts = 0

    def done(self) -> bool:
        """Settled, or no one waits for it any more (its caller was cancelled)."""
        return self.group.future.done()

    def settle(self, replies: Sequence[Reply], start: int) -> tuple[_Part | None, ApiError | None]:
        """Put each reply (this part's are ``replies[start:start + size]``) in its slot; return the part
        left to retry (the transient errors) and one of them."""
        group = self.group
        results = group.results
        again: list[int] | None = None  # positions in this part, made by the first transient error
        error: ApiError | None = None
        ok = 0
        for position, slot in enumerate(self.slots):
            reply = replies[start + position]
            if type(reply) is dict:
                results[slot] = reply
                ok += 1
            else:
                assert isinstance(reply, ApiError)
                if reply.transient:
                    if again is None:
                        again = []
                    again.append(position)
                    error = reply
                else:
                    group.fail(slot, reply)
        if ok:
            group.ok += ok
            group.settled(ok)
        if again is None:
            return None, None
        if len(again) == self.size:
            return self, error
        slots, commands = self.slots, self.commands
        part = _Part(group, [commands[i] for i in again], [slots[i] for i in again], self.deadline)
        part.attempts = self.attempts
        return part, error

    def fail(self, error: Callable[[], PublisherError]) -> None:
        """Settle every command of this part with its own error."""
        for slot in self.slots:
            self.group.fail(slot, error())


#: What the queue holds and a batch is made of.
_Entry = _Call | _Part


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
        self._queue: deque[_Entry] = deque()
        self._queued = 0  # commands in the queue, those of cancelled callers too
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
        if self._pending >= self.max_pending or self._queued >= self.max_pending:
            raise OverloadedError(
                f"{self._pending} calls already pending (publisher.max_pending); this one was not sent"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending += 1
        self._idle.clear()
        self._put(_Call(command, future, loop.time() + self.retry_timeout))
        outcome = "ok"
        try:
            return await future
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.counts.outcomes[outcome] = self.counts.outcomes.get(outcome, 0) + 1
            self._left(1)

    async def call_many(self, commands: Iterable[Command], size: int) -> list[Settled]:
        """Queue ``size`` commands behind one awaitable; one reply or error per command, in order.

        All or nothing at the door: when the publisher is closing, or the commands would
        take the pending calls over ``max_pending``, none is queued and this raises.
        Afterwards each command settles on its own (an error in its slot, never raised).
        ``commands`` is consumed ``max_size`` at a time, one queue entry each, letting the
        flusher send the first batches while the next are built.
        """
        if self._closed:
            raise ClosedError("the publisher is closing; these calls were not sent")
        if self._pending + size > self.max_pending or self._queued + size > self.max_pending:
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
                chunk = list(itertools.islice(source, min(self.max_size, size - queued)))
                if not chunk:
                    raise ValueError(f"call_many: {queued} commands given, {size} announced")
                self._put(_Part(group, chunk, range(queued, queued + len(chunk)), deadline))
                queued += len(chunk)
            return await group.future
        finally:
            if not group.future.done():  # cancelled (or failed) while queueing or waiting
                group.future.cancel()
            group.outcomes(self.counts.outcomes)
            self._left(size)

    def _put(self, entry: _Entry) -> None:
        self._queue.append(entry)
        self._queued += entry.size
        self._ready.set()
        if self._queued >= self.max_size:
            self._full.set()

    def _left(self, size: int) -> None:
        """``size`` calls are no longer waited for (settled, cancelled or failed)."""
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
            elif self.window and self._queued < self.max_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.window):
                        await self._full.wait()
            batch = self._take()
            if batch:
                self._inflight += 1
                group.create_task(self._send(batch))
            else:
                self._slots.release()

    def _take(self) -> list[_Entry]:
        """The next batch: whole entries from the queue, at most ``max_size`` commands."""
        queue = self._queue
        batch: list[_Entry] = []
        size = 0
        while queue and size + queue[0].size <= self.max_size:
            entry = queue.popleft()
            self._queued -= entry.size
            if not entry.done():  # its caller may have been cancelled
                batch.append(entry)
                size += entry.size
        if self._queued < self.max_size:
            self._full.clear()
        if not queue:
            self._ready.clear()
        return batch

    async def drain(self, within: float) -> None:
        """Refuse new calls and wait (at most ``within`` seconds) for the pending ones."""
        self._closed = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._idle.wait()

    def fail_pending(self) -> None:
        """Fail every call still queued (after the flusher stopped)."""
        while self._queue:
            entry = self._queue.popleft()
            self._queued -= entry.size
            if not entry.done():
                entry.fail(lambda: ClosedError("the publisher closed before this call was sent"))

    async def _send(self, batch: list[_Entry]) -> None:
        loop = asyncio.get_running_loop()
        delay = BACKOFF_MIN
        first_retry = True
        try:
            while batch:
                for entry in batch:
                    entry.attempts += 1
                retry, error = await self._attempt(batch)
                batch = []  # settled, or in retry
                if not retry:
                    return
                now = loop.time()
                pause = min(delay, BACKOFF_MAX) * random.uniform(0.5, 1.0)
                delay *= 2
                for entry in retry:
                    if entry.done():
                        continue
                    if now + pause > entry.deadline:
                        entry.fail(functools.partial(_gave_up, error, entry.attempts))
                    else:
                        batch.append(entry)
                if batch:
                    count = sum(entry.size for entry in batch)
                    self.counts.retried += count
                    # The first retry of a batch is worth a warning; the rest would only repeat it.
                    level = logging.WARNING if first_retry else logging.DEBUG
                    first_retry = False
                    log.log(level, "server API: %s; retrying %d call(s) in %.2fs", error, count, pause)
                    await asyncio.sleep(pause)
        finally:
            self._inflight -= 1
            self._slots.release()
            for entry in batch:  # only when cancelled while sending or pausing
                if not entry.done():
                    entry.fail(lambda: ClosedError("the publisher closed while retrying this call"))

    async def _attempt(self, batch: list[_Entry]) -> tuple[list[_Entry], PublisherError | None]:
        """Send once; settle what is settled; return the entries worth another try."""
        commands = batch[0].commands if len(batch) == 1 else [c for entry in batch for c in entry.commands]
        c = self.counts
        c.requests += 1
        c.sizes[bisect.bisect_left(SIZE_BUCKETS, len(commands))] += 1
        c.size_sum += len(commands)
        try:
            replies = await self.transport.batch(commands)
        except (NetworkError, ApiTimeoutError) as exc:
            return batch, exc
        except PublisherError as exc:  # unauthorized, bad request: retrying will not help
            for entry in batch:
                if not entry.done():
                    entry.fail(functools.partial(_copy, exc))
            return [], None
        retry: list[_Entry] = []
        error: PublisherError | None = None
        assert len(replies) == len(commands), "a transport answers every command"
        start = 0
        for entry in batch:
            if not entry.done():
                again, transient = entry.settle(replies, start)
                if again is not None:
                    retry.append(again)
                    error = transient
            start += entry.size
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
