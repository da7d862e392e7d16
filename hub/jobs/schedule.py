"""Periodic jobs (hub.yaml ``jobs.schedule``): each tick runs once, however many hubs run.

    jobs:
      schedule:
        - {job: reports.nightly, cron: "0 3 * * *", payload: {kind: daily}}
        - {job: cache.sweep, every: 60}

Every process that consumes jobs runs a :class:`Scheduler`. At each tick each of
them pushes the job with an id derived from the tick (``cache.sweep@1767225600``),
and push-once keeps one: no lease, no leader. Ticks are UTC; ``every`` ticks fall
on multiples of the interval since the Unix epoch, so every instance agrees.

Missed ticks (nothing ran at the time): skipped, except the latest one if it is
at most ``misfire_grace`` seconds old when a scheduler starts (default 60; 0 runs
no missed tick). A tick that already ran is not run again as long as its status
is kept (``status_ttl`` of its pipeline, checked to exceed the grace).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Self

import msgspec
from cronsim import CronSim, CronSimError

from .errors import JobsError

if TYPE_CHECKING:
    from .pipelines import Jobs

log = logging.getLogger(__name__)
UTC = datetime.UTC


class Periodic(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One periodic job (an item of hub.yaml ``jobs.schedule``)."""

    #: The job's name, as in ``@app.job(NAME)``.
    job: str
    #: A 5-field cron expression, in UTC ("0 3 * * *": at 03:00 every day) ...
    cron: str = ""
    #: ... or an interval in seconds (ticks on multiples of it since the epoch).
    every: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    payload: Any = None
    #: The pipeline (default: jobs.default_pipeline).
    pipeline: str | None = None
    #: The latest missed tick runs at start if at most this old (seconds; 0: never).
    misfire_grace: Annotated[float, msgspec.Meta(ge=0)] = 60.0

    def problem(self) -> str | None:
        """What is wrong with this entry (the caller prefixes the key), or None."""
        if bool(self.cron) == bool(self.every):
            return "expected exactly one of `cron` or `every`"
        if self.cron:
            try:
                CronSim(self.cron, datetime.datetime.now(UTC))
            except CronSimError as exc:
                return f"cron: expected a 5-field cron expression, got {self.cron!r} ({exc})"
        return None

    def next_tick(self, after: float) -> float:
        """The first tick strictly after ``after`` (Unix seconds)."""
        if self.every:
            return (math.floor(after / self.every) + 1) * self.every
        start = datetime.datetime.fromtimestamp(math.floor(after), UTC)
        return next(CronSim(self.cron, start)).timestamp()

    def last_tick(self, at: float) -> float:
        """The latest tick at or before ``at``."""
        if self.every:
            return math.floor(at / self.every) * self.every
        start = datetime.datetime.fromtimestamp(math.floor(at) + 1, UTC)
        return next(CronSim(self.cron, start, reverse=True)).timestamp()

    def job_id(self, tick: float) -> str:
        """The id of this entry's job for ``tick``: the same in every instance."""
        return f"{self.job}@{tick:.0f}" if tick == int(tick) else f"{self.job}@{tick:.3f}"


class Scheduler:
    """Pushes each periodic job at its ticks while open."""

    def __init__(self, jobs: Jobs, entries: list[Periodic], clock: Callable[[], float] = time.time) -> None:
        self.jobs = jobs
        self.entries = entries
        self.clock = clock
        #: Ticks this scheduler pushed (whether or not push-once kept them).
        self.pushed = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise JobsError("Scheduler can be opened only once")
        self._task = asyncio.create_task(self._run(), name="jobs scheduler")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for entry in self.entries:
                tasks.create_task(self._tick(entry))

    async def _tick(self, entry: Periodic) -> None:
        now = self.clock()
        missed = entry.last_tick(now)
        if entry.misfire_grace and now - missed <= entry.misfire_grace:
            await self._push(entry, missed)
        tick = entry.next_tick(now)
        while True:
            await asyncio.sleep(max(tick - self.clock(), 0))
            await self._push(entry, tick)
            tick = entry.next_tick(max(tick, self.clock()))  # ticks passed while pushing are skipped

    async def _push(self, entry: Periodic, tick: float) -> None:
        when = datetime.datetime.fromtimestamp(tick, UTC).isoformat()
        for attempt in range(5):
            try:
                await self.jobs.push(
                    entry.job, entry.payload, pipeline=entry.pipeline, job_id=entry.job_id(tick),
                    headers={"scheduled_for": when},
                )  # fmt: skip
            except Exception as exc:  # the broker is away: try a little, then leave it to other instances
                log.warning("jobs: could not push %s for %s (%s)", entry.job, when, exc)
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                self.pushed += 1
                return
