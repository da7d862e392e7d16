"""hub.yaml ``jobs:``: the pipelines, each with a driver and its options, each with a default.

    jobs:
      consume: [default, reports]   # pipelines this instance runs (default: all)
      pipelines:
        default: {}                 # memory driver, every option at its default
        reports:
          driver: redis
          url: redis://127.0.0.1:6379/0   # or redis+cluster://HOST:PORT[,HOST:PORT...]
          prefetch: 32
          priority: 10              # fetched before pipelines with a lower priority
          max_attempts: 5
          backoff: {base: 1.0, factor: 2.0, cap: 60.0, jitter: 0.2}
          claim_timeout: 30.0       # a job whose consumer vanished runs again after this
          status_ttl: 86400

Without a ``jobs:`` section there is one pipeline, ``default``, on the memory driver.
"""

from __future__ import annotations

import random
from typing import Annotated, Literal

import msgspec

from .redis_client import parse_cluster
from .schedule import Periodic

Positive = Annotated[int, msgspec.Meta(gt=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
OptionalSeconds = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$")]
#: Redis key prefixes are usually namespaced with ':' (``hub:jobs``).
Prefix = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]+$")]


class Backoff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Delay before a failed job's next attempt: ``base * factor**(attempt-1)``, capped, ± jitter."""

    base: OptionalSeconds = 1.0
    factor: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    cap: OptionalSeconds = 60.0
    #: Spread (0.2 = ±20 %) so jobs that failed together do not retry together.
    jitter: Fraction = 0.2

    def delay(self, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        raw = min(self.base * self.factor ** max(attempt - 1, 0), self.cap)
        r = random.random() if rand is None else rand
        return max(raw * (1 + self.jitter * (2 * r - 1)), 0.0)


class PipelineSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One pipeline (hub.yaml ``jobs.pipelines.NAME``)."""

    #: ``memory`` (in the service, for development, tests and the demo) or ``redis`` (Streams).
    driver: Literal["memory", "redis"] = "memory"
    #: The Redis server of a ``redis`` pipeline, or a Redis Cluster's seed nodes
    #: (``redis+cluster://HOST:PORT[,HOST:PORT...]``, see :mod:`hub.jobs.redis_client`).
    url: str = "redis://127.0.0.1:6379/0"
    #: Jobs one consumer fetches at once (and at most runs at once).
    prefetch: Positive = 16
    #: Pipelines with a higher priority are fetched first.
    priority: int = 0
    #: Runs of a job before it is dead-lettered (1: never retried).
    max_attempts: Positive = 3
    backoff: Backoff = Backoff()
    #: A job fetched by a consumer that vanished (killed worker, lost host) runs again after this.
    claim_timeout: Seconds = 30.0
    #: How long a job's status (and its id, for push-once) is kept after its last change.
    status_ttl: Seconds = 86400.0
    #: How long a consumer blocks waiting for new jobs before it checks delayed and stale ones.
    poll_timeout: Seconds = 1.0
    #: Largest JSON result kept in a job's status (bytes; a larger one is dropped with a note).
    max_result: Positive = 65536


class JobsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The jobs pipelines (hub.yaml ``jobs:``)."""

    pipelines: dict[Name, PipelineSettings] = msgspec.field(
        default_factory=lambda: {"default": PipelineSettings()}
    )
    #: Pipelines this instance runs jobs from (``None``: all of them; ``[]``: push only).
    consume: list[str] | None = None
    #: The pipeline of a push that names none (``None``: ``default`` if declared, else the first).
    default_pipeline: str | None = None
    #: Prefix of every Redis key (``{prefix}:{pipeline}:stream`` ...), see docs/jobs.md.
    prefix: Prefix = "hub:jobs"
    #: The Redis consumer group shared by every hub instance.
    group: Name = "hub"
    #: Periodic jobs (see :mod:`hub.jobs.schedule`): each tick runs once across instances.
    schedule: list[Periodic] = msgspec.field(default_factory=list)

    def consumed(self) -> list[str]:
        """The pipelines this instance consumes, highest priority first."""
        names = list(self.pipelines) if self.consume is None else self.consume
        return sorted(names, key=lambda n: -self.pipelines[n].priority)

    def problem(self) -> str | None:
        """A message naming the key when the section contradicts itself."""
        if not self.pipelines:
            return "jobs.pipelines: expected at least one pipeline"
        for name, settings in self.pipelines.items():
            if settings.driver == "redis":
                try:
                    parse_cluster(settings.url)
                except ValueError as exc:
                    return f"jobs.pipelines.{name}.url: {exc}"
        for i, name in enumerate(self.consume or ()):
            if name not in self.pipelines:
                return f"jobs.consume[{i}]: expected one of {sorted(self.pipelines)}, got {name!r}"
        if self.default_pipeline is not None and self.default_pipeline not in self.pipelines:
            return (
                f"jobs.default_pipeline: expected one of {sorted(self.pipelines)}, "
                f"got {self.default_pipeline!r}"
            )
        for i, entry in enumerate(self.schedule):
            where = f"jobs.schedule[{i}]"
            problem = entry.problem()
            if problem:
                return f"{where}: {problem}"
            if entry.pipeline is not None and entry.pipeline not in self.pipelines:
                return f"{where}.pipeline: expected one of {sorted(self.pipelines)}, got {entry.pipeline!r}"
            ttl = self.pipeline(entry.pipeline)[1].status_ttl
            if entry.misfire_grace >= ttl:
                return (
                    f"{where}.misfire_grace: expected less than the pipeline's status_ttl ({ttl}s), "
                    f"got {entry.misfire_grace}s (a tick could run twice)"
                )
        return None

    def pipeline(self, name: str | None) -> tuple[str, PipelineSettings]:
        """The name and settings of pipeline ``name`` (the default one for None)."""
        from .errors import UnknownPipeline

        key = name or self.default_pipeline or ("default" if "default" in self.pipelines else "")
        key = key or next(iter(self.pipelines))
        try:
            return key, self.pipelines[key]
        except KeyError:
            raise UnknownPipeline(
                f"unknown pipeline {key!r}: hub.yaml jobs.pipelines declares {sorted(self.pipelines)}"
            ) from None
