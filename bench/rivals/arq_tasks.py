"""arq: `arq bench.rivals.arq_tasks.WorkerSettings` (one process each; max_jobs 10, its default)."""

from __future__ import annotations

import os
import time
from typing import Any

from arq.connections import RedisSettings

URL, KEY = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"), os.environ.get("BENCH_KEY", "bench")
QUEUE = f"{KEY}:arq"


async def count(ctx: dict[str, Any]) -> None:
    await ctx["redis"].incr(f"{KEY}:count")


async def latency(ctx: dict[str, Any], sent: float) -> None:
    await ctx["redis"].rpush(f"{KEY}:lat", (time.time() - sent) * 1000)


class WorkerSettings:
    functions = [count, latency]
    redis_settings = RedisSettings.from_dsn(URL)
    queue_name = QUEUE
