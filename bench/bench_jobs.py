"""Jobs end to end: push → run the task in a worker process → done, for this hub and its rivals.

Every system runs on the same Redis server with the same number of worker
processes (WORKERS), at its documented defaults, with the same two tasks
(bench/jobs_app.py, bench/rivals/): ``count`` increments a Redis counter,
``latency`` records now - sent. Throughput: N ``count`` jobs pushed (in batches
where the library offers it) while the workers consume, jobs/s from the first
push until the counter reaches N. Latency: jobs pushed one by one at about
RATE/s. The hub's figures are for its redis driver (each worker its own consumer
of a stream) and its memory driver (the queue in the service process).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
N = 10_000
RATE, LATENCY_JOBS = 200, 1_000
WORKERS = 2
PROMISES = {
    "hub (redis)": "at least once: acked after the handler returns; a dead consumer's jobs claimed after "
    "claim_timeout; retries with backoff, dead-letter stream, push-once, status by id",
    "hub (memory)": "the same within one `hub serve`; lost when that process stops",
    "taskiq-redis streams": "at least once: acked once the result is saved (ack_type when_saved, the "
    "default); a dead worker's pending jobs re-read after idle_timeout (10 min); no retries by default",
    "dramatiq": "at least once (acks after the actor returns; unacked messages requeued when a worker's "
    "heartbeat expires); retries with backoff by default",
    "arq": "jobs may run more than once (an in-progress key that expires); retried when a job raises Retry",
    "rq": "one job at a time per worker, forked per job; a job whose worker died is moved to the failed "
    "registry, not retried, unless Retry is configured",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@dataclass
class System:
    name: str
    start: Callable[[dict[str, str], Path], list[subprocess.Popen[bytes]]]
    push_many: Callable[[int], Awaitable[None]]
    push_one: Callable[[float], Awaitable[None]]
    n: int = N


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)


def _hub(driver: str, url: str, key: str, tmp: Path) -> System:
    from hub.jobs import Jobs, JobSpec
    from hub.jobs.broker_socket import broker_path
    from hub.settings import load

    pipeline: dict[str, Any] = {"driver": driver, "prefetch": 32, "poll_timeout": 0.5}
    if driver == "redis":
        pipeline["url"] = url
    config = {
        "app": "bench.jobs_app:app", "log_level": "warning",
        "proxy": {"http_port": _port(), "secret": "bench-secret"},
        "centrifugo": {"port": _port(), "api_key": "bench-key", "token_secret": "b" * 32},
        "pool": {"workers": WORKERS},
        "jobs": {"pipelines": {"default": pipeline}, "prefix": key},
    }  # fmt: skip
    path = tmp / f"hub-{driver}.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = load(path)
    opened: list[Jobs] = []

    async def jobs() -> Jobs:
        if not opened:
            opened.append(await Jobs(settings.jobs, socket=broker_path(path)).__aenter__())
        return opened[0]

    def start(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
        hub = _spawn([str(BIN / "hub"), "serve", "-c", str(path)], env, log)
        deadline = time.monotonic() + 60
        while not _healthy(f"http://127.0.0.1:{settings.proxy.http_port}/health"):
            if time.monotonic() > deadline or hub.poll() is not None:
                raise RuntimeError(f"hub serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        return [hub]

    async def push_many(n: int) -> None:
        j = await jobs()
        for i in range(0, n, 500):
            await j.push_many([JobSpec("bench.count") for _ in range(min(500, n - i))])

    async def push_one(sent: float) -> None:
        await (await jobs()).push("bench.latency", {"sent": sent})

    return System(f"hub ({driver})", start, push_many, push_one)


def _arq(url: str, key: str) -> System:
    from arq import create_pool
    from arq.connections import ArqRedis, RedisSettings

    pools: list[ArqRedis] = []

    async def pool() -> ArqRedis:
        if not pools:
            pools.append(await create_pool(RedisSettings.from_dsn(url)))
        return pools[0]

    def start(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
        return [
            _spawn([str(BIN / "arq"), "bench.rivals.arq_tasks.WorkerSettings"], env, log)
            for _ in range(WORKERS)
        ]

    async def push_many(n: int) -> None:
        p = await pool()
        for i in range(0, n, 500):  # arq has no batch enqueue: concurrent single enqueues
            await asyncio.gather(
                *(p.enqueue_job("count", _queue_name=f"{key}:arq") for _ in range(min(500, n - i)))
            )

    async def push_one(sent: float) -> None:
        await (await pool()).enqueue_job("latency", sent, _queue_name=f"{key}:arq")

    return System("arq", start, push_many, push_one)


def _rq(url: str, key: str) -> System:
    import redis
    from rq import Queue

    queue = Queue(f"{key}-rq", connection=redis.Redis.from_url(url))

    def start(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
        command = [str(BIN / "rq"), "worker", "-u", url, f"{key}-rq"]
        return [_spawn(command, env, log) for _ in range(WORKERS)]

    async def push_many(n: int) -> None:
        from bench.rivals import rq_tasks

        queue.enqueue_many([Queue.prepare_data(rq_tasks.count) for _ in range(n)])

    async def push_one(sent: float) -> None:
        from bench.rivals import rq_tasks

        queue.enqueue(rq_tasks.latency, sent)

    return System("rq", start, push_many, push_one, n=1_000)


def _dramatiq(url: str, key: str) -> System:
    def start(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
        command = [str(BIN / "dramatiq"), "bench.rivals.dramatiq_tasks", "--processes", str(WORKERS)]
        return [_spawn(command, env, log)]

    async def push_many(n: int) -> None:
        from bench.rivals import dramatiq_tasks

        for _ in range(n):  # one message per send (its Lua enqueue)
            dramatiq_tasks.count.send()

    async def push_one(sent: float) -> None:
        from bench.rivals import dramatiq_tasks

        dramatiq_tasks.latency.send(sent)

    return System("dramatiq", start, push_many, push_one)


def _taskiq(url: str, key: str) -> System:
    started: list[bool] = []

    async def broker() -> Any:
        from bench.rivals import taskiq_tasks

        if not started:
            await taskiq_tasks.broker.startup()
            started.append(True)
        return taskiq_tasks

    def start(env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
        command = [
            str(BIN / "taskiq"),
            "worker",
            "bench.rivals.taskiq_tasks:broker",
            "--workers",
            str(WORKERS),
        ]
        return [_spawn(command, env, log)]

    async def push_many(n: int) -> None:
        t = await broker()
        for i in range(0, n, 500):
            await asyncio.gather(*(t.count.kiq() for _ in range(min(500, n - i))))

    async def push_one(sent: float) -> None:
        await (await broker()).latency.kiq(sent)

    return System("taskiq-redis streams", start, push_many, push_one)


async def _measure(system: System, r: aioredis.Redis, key: str) -> tuple[float, float, float, float]:
    async def counted(n: int, limit: float) -> None:
        deadline = time.monotonic() + limit
        while int(await r.get(f"{key}:count") or 0) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{system.name}: {await r.get(f'{key}:count')} of {n} jobs done")
            await asyncio.sleep(0.005)

    await system.push_many(1)  # warm up: the workers are consuming
    await counted(1, 60)
    await r.delete(f"{key}:count")
    start = time.perf_counter()
    await system.push_many(system.n)
    await counted(system.n, 300)
    rate = system.n / (time.perf_counter() - start)
    # A moderate rate: RATE/s, or half of what the system sustains when that is less.
    pace = min(RATE, rate / 2)
    jobs = min(LATENCY_JOBS, int(pace * 5))
    for _ in range(jobs):
        await system.push_one(time.time())
        await asyncio.sleep(1 / pace)
    deadline = time.monotonic() + 60
    while await r.llen(f"{key}:lat") < jobs and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    values = sorted(float(v) for v in await r.lrange(f"{key}:lat", 0, -1))
    return rate, statistics.median(values), values[max(int(len(values) * 0.99) - 1, 0)], pace


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:  # each leads a session of its own: its worker children go with it
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _run(make: Callable[[str, str], System], url: str, tmp: Path) -> tuple[str, str]:
    key = f"bench-{time.time_ns()}"
    # The rivals' task modules read these at import, in the workers and in this producer.
    os.environ.update(BENCH_REDIS=url, BENCH_KEY=key)
    system = make(url, key)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp / f"{key}.log"
    processes = system.start(env, log)
    try:

        async def go() -> tuple[float, float, float, float]:
            r = aioredis.Redis.from_url(url)
            try:
                return await _measure(system, r, key)
            finally:
                await r.aclose()

        rate, p50, p99, pace = asyncio.run(go())
        row = f"| {system.name} | {system.n:,} | {rate:,.0f} | {pace:.0f}/s | {p50:.1f} ms | {p99:.1f} ms |"
        return system.name, row
    except Exception as exc:
        return system.name, f"| {system.name} | {system.n:,} | failed: {exc} | | | |"
    finally:
        _stop(processes)


def main() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("the jobs benchmark needs redis-server")
    makers: list[Callable[[str, str], System]] = [
        lambda u, k: _hub("redis", u, k, tmp), lambda u, k: _hub("memory", u, k, tmp),
        _taskiq, _dramatiq, _arq, _rq,
    ]  # fmt: skip
    only = os.environ.get("BENCH_JOBS_ONLY")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = _port()
        command = [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", name]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        rows = []
        try:
            time.sleep(0.5)
            for make in makers:
                if only and only not in repr(make):  # BENCH_JOBS_ONLY=_rq etc.: one system, by its maker
                    continue
                name_, row = _run(make, f"redis://127.0.0.1:{port}/0", tmp)
                rows.append((name_, row))
                print(row, file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait()
    lines = [
        "<!-- bench:jobs -->",
        "## Jobs: push → run in a worker process → done, against arq, RQ, Dramatiq and taskiq",
        "",
        f"Same Redis server, {WORKERS} worker processes each, each library at its defaults; the task",
        "increments a Redis counter (`bench/rivals/`, `bench/jobs_app.py`). jobs/s: N jobs pushed while the",
        "workers consume, until the counter reaches N. Latency: jobs pushed one by one for 5 s at",
        f"{RATE}/s (or half the system's throughput if less), each recording now - sent. The producer,",
        "Redis and the workers share the machine's 2 cores.",
        "",
        "| system | N | jobs/s | latency at | p50 | p99 |",
        "|---|---|---|---|---|---|",
        *(row for _, row in rows),
        "",
        "What each promises:",
        "",
        *(f"- **{name_}**: {PROMISES.get(name_, '')}" for name_, _ in rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
