"""The jobs pipelines: durable background jobs that run in the pool and may publish to clients.

    @app.job("reports.build")
    async def build(job: Job) -> dict:
        await job.publish(f"user:{job.payload['user']}", {"progress": 50})
        return {"ok": True}

    async with app.lifespan(settings):
        await app.jobs.push("reports.build", {"user": "42"})

One module per concept: :mod:`.settings` (hub.yaml ``jobs:``), :mod:`.envelope`
(the versioned JSON on the wire), :mod:`.status` (states, deliveries, stats),
:mod:`.driver` (the protocol), :mod:`.redis_driver`, :mod:`.memory_driver`,
:mod:`.broker_socket` (memory pipelines shared with pooled workers),
:mod:`.pipelines` (``app.jobs``), :mod:`.consumer` (fetch and run), :mod:`.context`
(what a handler gets), :mod:`.schedule` (periodic jobs), :mod:`.commands` (``hub jobs``).
docs/jobs.md has the envelope schema and the Redis keys.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .consumer import Consumer, LocalRunner, Runner
    from .context import Job
    from .envelope import VERSION, Envelope
    from .errors import BadEnvelope, BrokerError, JobsError, JobTimeout, UnknownPipeline
    from .pipelines import Jobs, JobSpec
    from .schedule import Periodic, Scheduler
    from .settings import Backoff, JobsSettings, PipelineSettings
    from .status import Delivery, JobStatus, PipelineStats, State

#: Where each export lives, loaded on first use (PEP 562): importing one module of the
#: package does not load the rest.
_EXPORTS = {
    "Backoff": ".settings",
    "BadEnvelope": ".errors",
    "BrokerError": ".errors",
    "Consumer": ".consumer",
    "Delivery": ".status",
    "Envelope": ".envelope",
    "Job": ".context",
    "JobSpec": ".pipelines",
    "JobStatus": ".status",
    "JobTimeout": ".errors",
    "Jobs": ".pipelines",
    "JobsError": ".errors",
    "JobsSettings": ".settings",
    "LocalRunner": ".consumer",
    "Periodic": ".schedule",
    "PipelineSettings": ".settings",
    "PipelineStats": ".status",
    "Runner": ".consumer",
    "Scheduler": ".schedule",
    "State": ".status",
    "UnknownPipeline": ".errors",
    "VERSION": ".envelope",
}

__all__ = [
    "VERSION",
    "Backoff",
    "BadEnvelope",
    "BrokerError",
    "Consumer",
    "Delivery",
    "Envelope",
    "Job",
    "JobSpec",
    "JobStatus",
    "JobTimeout",
    "Jobs",
    "JobsError",
    "JobsSettings",
    "LocalRunner",
    "Periodic",
    "PipelineSettings",
    "PipelineStats",
    "Runner",
    "Scheduler",
    "State",
    "UnknownPipeline",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    return value
