"""A consumer: fetches jobs in batches from the pipelines this instance consumes and runs them.

    async with Consumer(app, app.jobs, runner, name="host:4242", destroy_timeout=5):
        ...                                   # jobs run until the block ends
    consumer.stop_fetching()                  # when the worker leaves (a limit, a drain)

Each pooled worker runs one (its own consumer of every pipeline, named host:pid);
the inline mode runs one in the service. At most ``prefetch`` jobs of a pipeline
are in flight per consumer; a lower-priority pipeline is fetched only while every
higher-priority one has room. Each job runs through the :class:`Runner` (the
worker's slots and limits), then is settled: acked, retried with backoff, or
dead-lettered. Leaving stops fetching, waits for the jobs in flight (up to the
destroy timeout), and abandons the rest unacknowledged: another consumer claims
them after the claim timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from . import envelope as env
from .context import Job
from .driver import Driver
from .errors import JobsError, JobTimeout
from .pipelines import Jobs
from .schedule import Scheduler
from .status import Delivery

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Back-off bounds (seconds) while the broker is unreachable.
BACKOFF_MIN, BACKOFF_MAX = 0.05, 2.0
#: Upper bounds (seconds) of the buckets of a job's wait in the queue: up to an hour.
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
#: Attempts at settling (ack, retry, bury) a finished job before leaving it to the claim timeout.
SETTLE_TRIES = 20


class Runner(Protocol):
    """Where a job's handler runs: a pooled worker's slots and limits, or the inline ones."""

    async def run_job(self, fn: Callable[[], Awaitable[T]]) -> T: ...


class LocalRunner:
    """The inline mode's runner: ``concurrency`` jobs at once, each within ``timeout`` seconds."""

    def __init__(self, concurrency: int, timeout: float) -> None:
        self.timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def run_job(self, fn: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    return await fn()
            except TimeoutError:
                raise JobTimeout(f"job exceeded the exec timeout ({self.timeout}s)") from None


def consumer_name() -> str:
    """``host:pid``: a consumer per process, recognisable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def call_handler(fn: Callable[[Job], Any], job: Job) -> Any:
    """Run a job handler: async ones on the loop, sync ones in a thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(job)
    value = await asyncio.to_thread(fn, job)
    return await value if inspect.isawaitable(value) else value


class Consumer:
    """Runs the jobs of the consumed pipelines until it is told to stop."""

    def __init__(self, app: App, jobs: Jobs, runner: Runner, *, name: str, destroy_timeout: float) -> None:
        self.app = app
        self.jobs = jobs
        self.runner = runner
        self.name = name
        self.destroy_timeout = destroy_timeout
        s = jobs.settings
        self.pipelines = s.consumed()
        self.inflight = dict.fromkeys(self.pipelines, 0)
        #: Jobs settled since the start, by outcome (done, retried, dead).
        self.settled = dict.fromkeys(("done", "retried", "dead"), 0)
        # On the app's metrics, so the ops listener's /metrics sums them over the pool.
        self._settled = app.metrics.counter(
            "hub_jobs_settled", "Jobs finished, by pipeline and outcome (done, retried, dead).",
            ["pipeline", "outcome"],
        )  # fmt: skip
        self._run_seconds = app.metrics.histogram(
            "hub_jobs_run_seconds", "Time a job's handler ran, by pipeline.", ["pipeline"]
        )
        self._wait_seconds = app.metrics.histogram(
            "hub_jobs_wait_seconds",
            "Time a job waited from its push (or its due time, when delayed or retried) to its "
            "handler's start, by pipeline.",
            ["pipeline"], buckets=WAIT_BUCKETS,
        )  # fmt: skip
        self._room = asyncio.Condition()
        self._loops: list[asyncio.Task[None]] = []
        self._main: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        if self._main is not None:
            raise JobsError("Consumer can be opened only once")
        self._main = asyncio.create_task(self._run(), name=f"jobs consumer {self.name}")
        await self._started.wait()
        log.info("jobs: consuming %s as %s", ", ".join(self.pipelines), self.name)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.drain(self.destroy_timeout)

    def stop_fetching(self) -> None:
        """Fetch no more jobs; the ones in flight carry on."""
        for task in self._loops:
            task.cancel()

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109
        """Stop fetching, wait up to ``timeout`` for the jobs in flight, abandon the rest (unacked)."""
        self.stop_fetching()
        if self._main is None or self._main.done():
            return
        done, _ = await asyncio.wait({self._main}, timeout=timeout)
        if not done:
            left = sum(self.inflight.values())
            log.warning("jobs: %d jobs still running after %ss; left for another consumer", left, timeout)
            self._main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._main
        for name in self.pipelines:  # so the group does not collect one dead consumer per worker
            with contextlib.suppress(Exception):
                await self.jobs.drivers[name].leave(self.name)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as jobs:
            self._group = jobs
            async with asyncio.TaskGroup() as loops:
                self._loops = [loops.create_task(self._fetch(name)) for name in self.pipelines]
                self._started.set()

    def _has_room(self, name: str) -> bool:
        s = self.jobs.settings.pipelines
        # Fetch in batches: wait until a quarter of prefetch is free, not one slot at a time.
        if s[name].prefetch - self.inflight[name] < -(-s[name].prefetch // 4):
            return False
        higher = (o for o in self.pipelines if s[o].priority > s[name].priority)
        return all(self.inflight[o] < s[o].prefetch for o in higher)

    async def _fetch(self, name: str) -> None:
        driver = self.jobs.drivers[name]
        p = self.jobs.settings.pipelines[name]
        backoff = BACKOFF_MIN
        while True:
            async with self._room:
                await self._room.wait_for(lambda: self._has_room(name))
            try:
                batch = await driver.fetch(self.name, p.prefetch - self.inflight[name], p.poll_timeout)
            except Exception as exc:  # the broker went away, or answered oddly: back off, resume
                log.warning("jobs: fetching from %s failed (%s); retrying in %.2fs", name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            assert self._group is not None
            for delivery in batch:
                self.inflight[name] += 1
                self._group.create_task(self._run_one(driver, delivery))

    async def _run_one(self, driver: Driver, d: Delivery) -> None:
        try:
            await self._execute(driver, d)
        finally:
            self.inflight[d.pipeline] -= 1
            async with self._room:
                self._room.notify_all()

    async def _execute(self, driver: Driver, d: Delivery) -> None:
        p = self.jobs.settings.pipelines[d.pipeline]
        e = d.envelope
        if e is None:
            await self._settle(d, "dead", lambda: driver.bury(d, f"bad envelope: {d.problem}"))
            return
        fn = self.app.job_handler(e.name)
        if fn is None:
            await self._settle(
                d, "dead", lambda: driver.bury(d, f"unknown job name {e.name!r}: no @app.job handler")
            )
            return
        if d.attempt > p.max_attempts:  # its earlier runs were lost with their consumers
            reason = (
                f"gave up after {d.attempt - 1} attempts; last error: {d.last_error or 'consumer vanished'}"
            )
            await self._settle(d, "dead", lambda: driver.bury(d, reason))
            return
        job = Job(id=e.id, name=e.name, payload=e.payload, attempt=d.attempt, pipeline=d.pipeline,
                  headers=e.headers, app=self.app)  # fmt: skip
        started = 0.0

        async def run() -> Any:  # in the runner's slot: the job starts now
            nonlocal started
            started = time.perf_counter()
            due = env.due_at(e)
            if due:  # 0: a foreign producer that gave no push time
                self._wait_seconds.labels(d.pipeline).observe(max(time.time() - due, 0.0))
            return await call_handler(fn, job)

        try:
            result = await self.runner.run_job(run)
        except Exception as exc:
            if started:
                self._run_seconds.labels(d.pipeline).observe(time.perf_counter() - started)
            error = f"{type(exc).__name__}: {exc}"
            log.warning("jobs: %s %s attempt %d failed: %s", e.name, e.id, d.attempt, error)
            if d.attempt >= p.max_attempts:
                await self._settle(d, "dead", lambda: driver.bury(d, error))
            else:
                await self._settle(d, "retried", lambda: driver.retry(d, error, p.backoff.delay(d.attempt)))
            return
        self._run_seconds.labels(d.pipeline).observe(time.perf_counter() - started)
        await self._settle(d, "done", lambda: driver.ack(d, result))

    async def _settle(self, d: Delivery, outcome: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run a settling step, retrying while the broker is away; a job never settled runs again."""
        backoff = BACKOFF_MIN
        for attempt in range(SETTLE_TRIES):
            try:
                await step()
            except Exception as exc:
                if attempt == SETTLE_TRIES - 1:
                    log.error("jobs: could not settle a job (%s); it runs again after the claim timeout", exc)
                    return
                log.warning("jobs: settling failed (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            else:
                self.settled[outcome] += 1
                self._settled.labels(d.pipeline, outcome).inc()
                return


@contextlib.asynccontextmanager
async def consuming(app: App, runner: Runner, *, destroy_timeout: float) -> AsyncIterator[Consumer | None]:
    """This process's consumer, and its scheduler of periodic jobs, while the app's lifespan is open.

    None (and no scheduler) when there is nothing to run: the app has no job handlers,
    or hub.yaml ``jobs.consume`` is empty.
    """
    jobs = app.jobs
    if not app.job_names or not jobs.settings.consumed():
        yield None
        return
    async with Consumer(app, jobs, runner, name=consumer_name(), destroy_timeout=destroy_timeout) as c:
        if not jobs.settings.schedule:
            yield c
            return
        async with Scheduler(jobs, jobs.settings.schedule):
            yield c
