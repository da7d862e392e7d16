"""The jobs benchmark's app: the same two tasks as bench/rivals (a counter, a latency record)."""

from __future__ import annotations

import os
import time

import redis.asyncio as aioredis

from hub import App
from hub.jobs import Job

app = App()
URL, KEY = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"), os.environ.get("BENCH_KEY", "bench")
_redis: list[aioredis.Redis] = []


def _r() -> aioredis.Redis:
    if not _redis:
        _redis.append(aioredis.Redis.from_url(URL))
    return _redis[0]


@app.job("bench.count")
async def count(job: Job) -> None:
    await _r().incr(f"{KEY}:count")


@app.job("bench.latency")
async def latency(job: Job) -> None:
    await _r().rpush(f"{KEY}:lat", (time.time() - job.payload["sent"]) * 1000)
