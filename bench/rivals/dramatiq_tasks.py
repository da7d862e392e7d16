"""Dramatiq with its Redis broker: `dramatiq bench.rivals.dramatiq_tasks --processes N` (8 threads each)."""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

URL, KEY = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"), os.environ.get("BENCH_KEY", "bench")
broker = RedisBroker(url=URL, namespace=f"{KEY}-dq")
dramatiq.set_broker(broker)
R = redis.Redis.from_url(URL)


@dramatiq.actor(queue_name="bench")
def count() -> None:
    R.incr(f"{KEY}:count")


@dramatiq.actor(queue_name="bench")
def latency(sent: float) -> None:
    R.rpush(f"{KEY}:lat", (time.time() - sent) * 1000)
