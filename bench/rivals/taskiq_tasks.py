"""taskiq with taskiq-redis' stream broker (consumer group, acks): `taskiq worker ...:broker --workers N`."""

from __future__ import annotations

import os
import time

import redis.asyncio as aioredis
from taskiq_redis import RedisStreamBroker

URL, KEY = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"), os.environ.get("BENCH_KEY", "bench")
# consumer_id "0": a group created after the first pushes still reads them.
broker = RedisStreamBroker(URL, queue_name=f"{KEY}-tq", consumer_group_name="bench", consumer_id="0")
_redis: list[aioredis.Redis] = []


def _r() -> aioredis.Redis:
    if not _redis:
        _redis.append(aioredis.Redis.from_url(URL))
    return _redis[0]


@broker.task
async def count() -> None:
    await _r().incr(f"{KEY}:count")


@broker.task
async def latency(sent: float) -> None:
    await _r().rpush(f"{KEY}:lat", (time.time() - sent) * 1000)
