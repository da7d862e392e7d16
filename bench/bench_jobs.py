"""Jobs end to end through `hub serve` with a pool: push → run a no-op in a worker → acknowledged.

For each driver (redis: every worker its own consumer of a Redis stream; memory:
the service owns the queue and its workers fetch over a unix socket, i.e. a hop
through the front process), with 2 workers:

- throughput: N no-op jobs pushed in batches while the pool consumes; jobs/s from
  the first push until the pipeline is empty (nothing queued, nothing in flight);
- latency: jobs pushed one by one at a moderate rate; each records now - sent.

The comparison with arq, RQ, Dramatiq and taskiq asked for in issue 9 is not built yet.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from hub.jobs import Jobs, JobSpec
from hub.jobs.broker_socket import broker_path
from hub.settings import load

ROOT = Path(__file__).resolve().parents[1]
HUB = Path(sys.executable).parent / "hub"
N = 20_000
RATE, LATENCY_JOBS = 500, 2_000
WORKERS = 2


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _config(tmp: Path, driver: str, redis_url: str) -> Path:
    pipeline: dict[str, Any] = {"driver": driver, "prefetch": 32, "poll_timeout": 0.5}
    if driver == "redis":
        pipeline["url"] = redis_url
    port = _port()
    config = {
        "app": "bench.jobs_app:app", "log_level": "warning",
        "proxy": {"http_port": port, "secret": "bench-secret"},
        "centrifugo": {"port": _port(), "api_key": "bench-key", "token_secret": "b" * 32},
        "pool": {"workers": WORKERS},
        "jobs": {"pipelines": {"default": pipeline}, "prefix": f"bench-{driver}-{time.time_ns()}"},
    }  # fmt: skip
    path = tmp / f"hub-{driver}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _throughput(jobs: Jobs) -> float:
    start = time.perf_counter()
    for _ in range(0, N, 500):
        await jobs.push_many([JobSpec("bench.noop") for _ in range(500)])
    while True:
        (row,) = await jobs.stats()
        if row.queued == 0 and row.in_flight == 0:
            return N / (time.perf_counter() - start)
        await asyncio.sleep(0.01)


async def _latency(jobs: Jobs, file: Path) -> tuple[float, float]:
    for _ in range(LATENCY_JOBS):
        await jobs.push("bench.latency", {"file": str(file), "sent": time.time()})
        await asyncio.sleep(1 / RATE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(_values(file)) < LATENCY_JOBS:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    values = sorted(_values(file))
    return statistics.median(values), values[int(len(values) * 0.99) - 1]


def _values(file: Path) -> list[float]:
    return [float(x) for x in file.read_text().split()] if file.exists() else []


def _run(driver: str, tmp: Path, redis_url: str) -> tuple[float, float, float]:
    path = _config(tmp, driver, redis_url)
    settings = load(path)
    hub = subprocess.Popen([str(HUB), "serve", "-c", str(path)], cwd=ROOT)
    try:
        _wait(lambda: _healthy(f"http://127.0.0.1:{settings.proxy.http_port}/health"), "hub serve")

        async def measure() -> tuple[float, float, float]:
            async with Jobs(settings.jobs, socket=broker_path(path)) as jobs:
                rate = await _throughput(jobs)
                p50, p99 = await _latency(jobs, tmp / f"latency-{driver}.txt")
            return rate, p50, p99

        return asyncio.run(measure())
    finally:
        hub.terminate()
        hub.wait(30)


def main() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("the jobs benchmark needs redis-server")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = _port()
        command = [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", name]
        redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            rows = [(d, *_run(d, tmp, f"redis://127.0.0.1:{port}/0")) for d in ("redis", "memory")]
        finally:
            redis.terminate()
            redis.wait()
    lines = [
        "<!-- bench:jobs -->",
        "## Jobs: push → run a no-op in the pool → acknowledged",
        "",
        f"`hub serve` with {WORKERS} workers, prefetch 32; {N:,} no-op jobs pushed in batches of 500 while",
        f"the pool consumes; latency: {LATENCY_JOBS:,} jobs pushed one by one at about {RATE}/s, each",
        "recording now - sent. The producer shares the machine's 2 cores with Redis and the hub.",
        "",
        "| driver | jobs/s | latency p50 | latency p99 |",
        "|---|---|---|---|",
        *(f"| {d} | {rate:,.0f} | {p50:.1f} ms | {p99:.1f} ms |" for d, rate, p50, p99 in rows),
        "",
        "Not measured yet: arq, RQ, Dramatiq and taskiq-redis side by side (issue 9).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
