"""The application's side of the jobs pipelines: push jobs, read their status.

    async with app.lifespan(settings):                       # opens app.jobs
        job_id = await app.jobs.push("reports.build", {"user": "42"})
        await app.jobs.push("mail.send", {...}, pipeline="mail", delay=60, job_id="welcome-42")
        await app.jobs.push_many([JobSpec("thumbs.make", {"img": i}) for i in range(100)])
        status = await app.jobs.status(job_id)               # JobStatus(state=State.DONE, ...)

Application code does not change when a pipeline's driver does. Memory pipelines
live in the service process: a pooled worker, or ``hub jobs``, reaches them over
the socket the service names in ``HUB_JOBS_SOCKET``; a process with neither gets
memory pipelines of its own (tests, scripts).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import msgspec

from . import envelope as env
from .broker_socket import ENV, BrokerClient, RemoteDriver
from .driver import Driver
from .errors import JobsError
from .memory_driver import MemoryBroker, MemoryDriver
from .redis_client import client
from .redis_driver import RedisDriver
from .settings import JobsSettings
from .status import JobStatus, PipelineStats


class JobSpec(msgspec.Struct, frozen=True, kw_only=False):
    """One job of a :meth:`Jobs.push_many`; the fields mean what :meth:`Jobs.push`'s arguments do."""

    name: str
    payload: Any = None
    pipeline: str | None = None
    delay: float = 0.0
    priority: int = 0
    job_id: str | None = None
    headers: dict[str, str] | None = None


class Jobs:
    """Every pipeline of hub.yaml ``jobs:``, open for pushing (and for consumers to fetch from)."""

    def __init__(self, settings: JobsSettings, *, memory: MemoryBroker | None = None,
                 socket: Path | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.drivers: dict[str, Driver] = {}
        self._memory = memory
        env_socket = os.environ.get(ENV)
        self._socket = socket or (Path(env_socket) if env_socket and memory is None else None)
        self._redis: dict[str, Any] = {}  # url -> a Redis or RedisCluster client
        self._broker: BrokerClient | None = None
        self._opened = False

    async def __aenter__(self) -> Self:
        if self._opened:
            raise JobsError("Jobs can be opened only once")
        self._opened = True
        for name, p in self.settings.pipelines.items():
            if p.driver == "redis":
                redis = self._redis.get(p.url) or self._redis.setdefault(p.url, client(p.url))
                self.drivers[name] = RedisDriver(redis, name, p, prefix=self.settings.prefix,
                                                 group=self.settings.group)  # fmt: skip
            elif self._socket is not None:
                self._broker = self._broker or BrokerClient(self._socket)
                self.drivers[name] = RemoteDriver(self._broker, name)
            else:
                self._memory = self._memory or MemoryBroker()
                self.drivers[name] = MemoryDriver(self._memory, name, p)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.close()
        for redis in self._redis.values():
            await redis.aclose()

    def driver(self, pipeline: str | None) -> tuple[str, Driver]:
        """The name and driver of ``pipeline`` (None: the default); UnknownPipeline if undeclared."""
        name, _ = self.settings.pipeline(pipeline)
        return name, self.drivers[name]

    async def push(self, name: str, payload: Any = None, *, pipeline: str | None = None, delay: float = 0.0,
                   priority: int = 0, job_id: str | None = None,
                   headers: dict[str, str] | None = None) -> str:  # fmt: skip
        """Enqueue one job and return its id; an id already known is not enqueued again.

        await app.jobs.push("reports.build", {"user": "42"}, delay=5)
        """
        (job,) = await self.push_many([JobSpec(name, payload, pipeline, delay, priority, job_id, headers)])
        return job

    async def push_many(self, jobs: Iterable[JobSpec]) -> list[str]:
        """Enqueue many jobs in one round trip per pipeline; their ids, in order."""
        by_pipeline: dict[str, list[env.Envelope]] = {}
        ids = []
        for spec in jobs:
            pipeline, _ = self.settings.pipeline(spec.pipeline)
            e = env.new(spec.name, spec.payload, job_id=spec.job_id, delay=spec.delay,
                        priority=spec.priority, headers=spec.headers)  # fmt: skip
            by_pipeline.setdefault(pipeline, []).append(e)
            ids.append(e.id)
        for pipeline, envelopes in by_pipeline.items():
            await self.drivers[pipeline].push(envelopes)
        return ids

    async def status(self, job_id: str, pipeline: str | None = None) -> JobStatus | None:
        """A job's status (None: unknown or expired), from its pipeline or from any."""
        drivers: Sequence[Driver] = [self.driver(pipeline)[1]] if pipeline else list(self.drivers.values())
        for driver in drivers:
            found = await driver.status(job_id)
            if found is not None:
                return found
        return None

    async def stats(self) -> list[PipelineStats]:
        """One row per pipeline, as ``hub jobs stats`` prints them."""
        return [await d.stats() for d in self.drivers.values()]

    async def pause(self, pipeline: str, paused: bool = True) -> None:
        """Stop (or, with False, resume) handing out the pipeline's jobs, in every instance."""
        await self.driver(pipeline)[1].pause(paused)

    async def retry_dead(self, pipeline: str) -> int:
        """Put the pipeline's dead-lettered jobs back in its queue; how many."""
        return await self.driver(pipeline)[1].retry_dead()
