"""RQ: `rq worker` (its default worker forks a child per job)."""

from __future__ import annotations

import os
import time

import redis

URL, KEY = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"), os.environ.get("BENCH_KEY", "bench")
QUEUE = f"{KEY}-rq"
R = redis.Redis.from_url(URL)


def count() -> None:
    R.incr(f"{KEY}:count")


def latency(sent: float) -> None:
    R.rpush(f"{KEY}:lat", (time.time() - sent) * 1000)
