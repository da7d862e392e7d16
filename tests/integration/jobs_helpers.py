"""Shared pieces of the jobs tests: settings per driver, an in-process consumer, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from hub import App
from hub.jobs import Consumer, Jobs, JobsSettings, LocalRunner


def jobs_settings(driver: str, redis_url: str = "", **pipeline: Any) -> JobsSettings:
    """One pipeline, ``default``, with small timeouts and a key prefix of its own."""
    options: dict[str, Any] = {
        "driver": driver, "claim_timeout": 2.0, "poll_timeout": 0.1, "max_attempts": 3,
        "backoff": {"base": 0.05, "factor": 2.0, "cap": 0.2, "jitter": 0.1}, **pipeline,
    }  # fmt: skip
    if driver == "redis":
        options["url"] = redis_url
    return msgspec.convert(
        {"pipelines": {"default": options}, "prefix": f"test-{uuid.uuid4().hex[:8]}"}, JobsSettings
    )


@contextlib.asynccontextmanager
async def consumer(app: App, jobs: Jobs, name: str = "test:1", concurrency: int = 16,
                   job_timeout: float = 1.0) -> AsyncIterator[Consumer]:  # fmt: skip
    runner = LocalRunner(concurrency, job_timeout)
    async with Consumer(app, jobs, runner, name=name, destroy_timeout=2.0) as c:
        yield c


async def eventually(predicate: Callable[[], Any], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Wait until ``predicate()`` (may be async) is true; a generous bound, not a timing assert."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.02)
