"""Jobs through `hub serve`: pooled workers, the CLI, foreign producers, kills and restarts.

Each run of the test app's jobs appends "id attempt pid" to a file, so a test
counts runs per job id. Every pipeline gets a Redis key prefix of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from hub.clients import RealtimeClient
from hub.jobs import Jobs, JobSpec
from hub.jobs.broker_socket import broker_path
from hub.jobs.redis_driver import key
from hub.settings import load
from hub.tokens import TokenMinter

from .servers import HUB, ROOT, Stack, free_port, stack_config, stop, wait_until

pytestmark = pytest.mark.integration
APP = "tests.integration.jobs_app:app"
TOKEN_SECRET = "integration-token-secret-32-bytes-long"


def jobs_stack(tmp: Path, driver: str, redis_url: str = "", *, workers: int = 2, prefix: str = "",
               **pipeline: Any) -> Stack:  # fmt: skip
    options: dict[str, Any] = {
        "driver": driver, "claim_timeout": 3.0, "poll_timeout": 0.2, "max_attempts": 2,
        "backoff": {"base": 0.05, "cap": 0.2}, **pipeline,
    }  # fmt: skip
    if driver == "redis":
        options["url"] = redis_url
    jobs = {"pipelines": {"default": options}, "prefix": prefix or f"test-{uuid.uuid4().hex[:8]}"}
    config = stack_config(APP, "http", pool={"workers": workers, "destroy_timeout": 2}, jobs=jobs,
                          centrifugo={"token_secret": TOKEN_SECRET})  # fmt: skip
    stack = Stack(tmp, config)
    stack.write()
    return stack


def runs(path: Path) -> collections.Counter[str]:
    """How many times each job id ran to its end."""
    if not path.exists():
        return collections.Counter()
    return collections.Counter(line.split()[0] for line in path.read_text().splitlines() if line)


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line] if path.exists() else []


def cli(stack: Stack, *args: str) -> str:
    done = subprocess.run([str(HUB), "jobs", *args, "-c", str(stack.path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def stats(stack: Stack) -> dict[str, Any]:
    (row,) = json.loads(cli(stack, "stats", "--json"))
    return dict(row)


def opened(stack: Stack) -> Jobs:
    """The stack's pipelines, as any Python process with the settings opens them."""
    return Jobs(load(stack.path).jobs, socket=broker_path(stack.path))


@pytest.mark.parametrize("driver", ["memory", "redis"])
def test_cli_push_stats_pause_resume_retry_dead_through_pooled_workers(
    driver: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if driver == "redis" else ""
    stack = jobs_stack(tmp_path, driver, url)
    out = str(tmp_path / "runs.txt")
    with stack.running(centrifugo=False):
        assert cli(stack, "push", "record", json.dumps({"file": out}), "--id", "a1") == "a1"
        cli(stack, "push", "record", json.dumps({"file": out}), "--id", "a1")  # enqueued once
        cli(stack, "push", "record.sync", json.dumps({"file": out}), "--id", "s1")
        cli(stack, "push", "record", json.dumps({"file": out, "succeed_at": 9}), "--id", "doomed")
        wait_until(lambda: stats(stack)["dead"] == 1 and len(runs(Path(out))) == 2, 30, "a dead job")
        status = json.loads(cli(stack, "status", "doomed"))
        assert (status["state"], status["attempts"], status["error"]) == (
            "dead",
            2,
            "RuntimeError: not yet (attempt 2)",
        )
        assert json.loads(cli(stack, "status", "a1"))["result"]["pid"] > 0

        assert cli(stack, "pause", "default") == "default: paused"
        cli(stack, "push", "record", json.dumps({"file": out}), "--id", "b1")
        time.sleep(0.5)  # not a timing assert: it must simply not run while paused
        row = stats(stack)
        assert row["paused"]
        assert row["queued"] == 1
        assert "b1" not in runs(Path(out))
        cli(stack, "resume", "default")
        wait_until(lambda: "b1" in runs(Path(out)), 30, "the resumed job")

        assert cli(stack, "retry-dead", "default") == "default: 1 dead jobs back in the queue"
        wait_until(lambda: stats(stack)["dead"] == 1 and stats(stack)["failed"] == 0, 30, "dead again")
        assert json.loads(cli(stack, "status", "doomed"))["attempts"] == 2  # counted afresh
    assert runs(Path(out)) == {"a1": 1, "s1": 1, "b1": 1}
    assert len({pid for _, _, pid in lines(Path(out))}) >= 1


def test_foreign_jobs_from_redis_cli_and_node(tmp_path: Path, redis_url: str) -> None:
    # What docs/jobs.md tells outside producers to type is the driver's key.
    assert (
        f"redis-cli XADD '{key('hub:jobs', 'default', 'stream')}' '*' job"
        in (ROOT / "docs/jobs.md").read_text()
    )
    stack = jobs_stack(tmp_path, "redis", redis_url)
    prefix = stack.config["jobs"]["prefix"]
    out = str(tmp_path / "runs.txt")
    host, port = redis_url.removeprefix("redis://").split(":")
    envelope = json.dumps({"v": 1, "id": "from-redis-cli", "name": "record", "payload": {"file": out}})
    with stack.running(centrifugo=False):
        subprocess.run(["redis-cli", "-h", host, "-p", port, "XADD", key(prefix, "default", "stream"), "*", "job",
                        envelope], check=True, capture_output=True)  # fmt: skip
        node = shutil.which("node")
        if node:
            subprocess.run([node, str(ROOT / "docs/examples/push-job.mjs"), redis_url, prefix, "default",
                            "record", json.dumps({"file": out}), "from-node"], check=True, timeout=30)  # fmt: skip
        expected = {"from-redis-cli": 1} | ({"from-node": 1} if node else {})
        wait_until(lambda: runs(Path(out)) == expected, 30, "the foreign jobs")
        status = json.loads(cli(stack, "status", "from-node" if node else "from-redis-cli"))
        assert status["state"] == "done"
    if not node:
        pytest.skip("node is not installed: only the redis-cli job ran")


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the hub and its workers, by pid: a power cut, as far as the jobs can tell."""
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    process.wait()
    psutil.wait_procs(tree, timeout=10)


def _pending_job_ids(url: str, prefix: str) -> set[str]:
    r = redis.Redis.from_url(url, decode_responses=True)
    stream = key(prefix, "default", "stream")
    entries = r.xpending_range(stream, "hub", min="-", max="+", count=100_000)
    ids = set()
    for e in entries:
        for _, fields in r.xrange(stream, min=e["message_id"], max=e["message_id"]):
            ids.add(json.loads(fields["job"])["id"])
    r.close()
    return ids


async def test_10000_jobs_survive_a_sigkill_of_the_whole_hub(tmp_path: Path, redis_url: str) -> None:
    stack = jobs_stack(tmp_path, "redis", redis_url, prefetch=32)
    out = tmp_path / "runs.txt"
    async with opened(stack) as jobs:
        # Each job sleeps a little, so the pool always has about 2 x prefetch jobs in flight.
        ids = await jobs.push_many(
            [JobSpec("record", {"file": str(out), "sleep": 0.05}) for _ in range(10_000)]
        )
    with stack.running(centrifugo=False):
        wait_until(lambda: len(runs(out)) >= 2_000, 120, "2,000 jobs run")
        assert stack.hub is not None
        _kill_tree(stack.hub)
        in_flight = _pending_job_ids(redis_url, stack.config["jobs"]["prefix"])
        assert in_flight, "nothing was in flight at the kill: the test proves nothing"
        done_at_kill = len(runs(out))
        assert done_at_kill < 10_000, "the kill came too late to prove anything"
        stack.start_hub()
        wait_until(lambda: set(runs(out)) >= set(ids), 180, "every job run")
        wait_until(lambda: stats(stack)["in_flight"] == 0, 30, "every job acknowledged")
        assert stats(stack)["queued"] == 0
    counted = runs(out)
    assert set(counted) == set(ids)
    duplicates = {i for i, n in counted.items() if n > 1}
    print(f"in flight at the kill: {len(in_flight)}; ran twice: {len(duplicates)}")
    assert duplicates <= in_flight  # only jobs fetched but not acknowledged at the kill ran twice
    assert all(n <= 2 for n in counted.values())
    # The killed ones were claimed again with their attempt counted.
    attempts = {(i, int(a)) for i, a, _ in lines(out)}
    assert all((i, 2) in attempts for i in duplicates)


def test_a_worker_killed_mid_job_runs_it_again_with_its_attempt_counted(
    tmp_path: Path, redis_url: str
) -> None:
    # The job sleeps 5 s (the exec timeout is 5.5 s): long enough to be killed mid-job however
    # loaded the machine is.
    stack = jobs_stack(tmp_path, "redis", redis_url, workers=1, max_attempts=3, claim_timeout=6.0)
    stack.config["proxy"]["call_timeout"] = 6
    stack.write()
    out, started = tmp_path / "runs.txt", tmp_path / "started.txt"
    with stack.running(centrifugo=False):
        payload = {"file": str(out), "started": str(started), "sleep": 5.0}
        cli(stack, "push", "record", json.dumps(payload), "--id", "slow")
        wait_until(lambda: runs(started)["slow"] == 1, 30, "the slow job to start")
        assert stack.hub is not None
        (worker,) = psutil.Process(stack.hub.pid).children()
        worker.kill()  # the supervisor replaces it; the job is claimed after claim_timeout
        wait_until(lambda: runs(out)["slow"] == 1, 60, "the slow job again")
    assert [a for _, a, _ in lines(started)] == ["1", "2"]
    ((job_id, attempt, pid),) = lines(out)
    assert (job_id, attempt) == ("slow", "2")
    assert int(pid) != worker.pid


def test_two_hubs_share_a_pipeline_and_split_the_jobs(tmp_path: Path, redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = jobs_stack(tmp_path / "a", "redis", redis_url, workers=1, prefix=prefix, claim_timeout=10.0)
    b = jobs_stack(tmp_path / "b", "redis", redis_url, workers=1, prefix=prefix, claim_timeout=10.0)
    out = tmp_path / "runs.txt"
    with a.running(centrifugo=False), b.running(centrifugo=False):
        specs = [JobSpec("record", {"file": str(out), "sleep": 0.001}) for _ in range(2_000)]

        async def push() -> list[str]:
            async with opened(a) as jobs:
                return await jobs.push_many(specs)

        ids = asyncio.run(push())
        wait_until(lambda: len(runs(out)) == 2_000, 120, "every job run")
    counted = runs(out)
    assert set(counted) == set(ids)
    assert set(counted.values()) == {1}  # no kill, no claim: each ran exactly once
    pids = collections.Counter(pid for _, _, pid in lines(out))
    assert len(pids) == 2  # both hubs took a share


@contextlib.contextmanager
def durable_redis(tmp: Path) -> Iterator[tuple[str, Any]]:
    """A Redis with an fsync-always append-only file, and a way to restart it on the same port."""
    port = free_port()
    process: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        process[:] = [subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(tmp)], stdout=subprocess.DEVNULL,
        )]  # fmt: skip

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_until(ready, 10, "redis-server")

    def restart() -> None:
        stop(process[0])
        start()

    start()
    try:
        yield f"redis://127.0.0.1:{port}", restart
    finally:
        stop(process[0])


def test_redis_restarted_mid_run_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with durable_redis(tmp_path) as (url, restart):
        stack = jobs_stack(tmp_path, "redis", url)
        out = tmp_path / "runs.txt"
        with stack.running(centrifugo=False):
            specs = [JobSpec("record", {"file": str(out), "sleep": 0.05}) for _ in range(3_000)]

            async def push() -> list[str]:
                async with opened(stack) as jobs:
                    return await jobs.push_many(specs)

            ids = asyncio.run(push())
            wait_until(lambda: len(runs(out)) >= 500, 60, "500 jobs run")
            restart()
            assert len(runs(out)) < 3_000, "the restart came too late to prove anything"
            wait_until(lambda: set(runs(out)) >= set(ids), 120, "every job run")
            wait_until(
                lambda: stats(stack)["in_flight"] == 0 and stats(stack)["queued"] == 0, 60, "all acked"
            )
        counted = runs(out)
        assert set(counted) == set(ids)
        # Duplicates are possible only for jobs whose ack crossed the restart: a handful, not a replay.
        assert sum(n - 1 for n in counted.values()) <= 2 * 16


@pytest.mark.parametrize("driver", ["memory", "redis"])
async def test_a_job_streams_progress_to_a_subscribed_client(
    driver: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if driver == "redis" else ""
    stack = jobs_stack(tmp_path, driver, url)
    stack.config["centrifugo"]["namespaces"] = {"progress": {"public": True}}
    stack.write()
    channel = f"progress:{uuid.uuid4().hex[:8]}"
    with stack.running():
        token = TokenMinter.from_settings(load(stack.path).centrifugo).connection("alice")
        async with RealtimeClient(stack.ws_url) as client:
            await client.connect(token=token)
            await client.subscribe(channel)
            async with opened(stack) as jobs:
                job_id = await jobs.push("progress", {"channel": channel})
                got = []
                async with asyncio.timeout(30):
                    while len(got) < 3:
                        push = await client.pushes.get()
                        if push.type == "pub":
                            got.append(push.body["data"])
                assert got == [{"job": job_id, "progress": step} for step in (1, 2, 3)]
                async with asyncio.timeout(30):
                    while (status := await jobs.status(job_id)) is None or status.state != "done":  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                assert status.result == "reported"


@pytest.mark.parametrize("driver", ["memory", "redis"])
def test_a_periodic_job_runs_once_per_tick(
    driver: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every worker of every instance schedules; push-once keeps one job per tick (two hubs on Redis)."""
    url = request.getfixturevalue("redis_url") if driver == "redis" else ""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "runs.txt"
    schedule = [{"job": "record.sync", "every": 0.5, "payload": {"file": str(out)}, "misfire_grace": 0}]
    stacks = []
    for name in ("a", "b") if driver == "redis" else ("a",):
        (tmp_path / name).mkdir()
        stack = jobs_stack(tmp_path / name, driver, url, workers=2, prefix=prefix)
        stack.config["jobs"]["schedule"] = schedule
        stack.write()
        stacks.append(stack)
    with contextlib.ExitStack() as running:
        for stack in stacks:
            running.enter_context(stack.running(centrifugo=False))
        wait_until(lambda: len(runs(out)) >= 6, 60, "six ticks")
    counted = runs(out)
    assert set(counted.values()) == {1}  # 2 or 4 schedulers pushed each tick; it ran once
    ticks = sorted(float(job_id.split("@")[1]) for job_id in counted)
    assert all(t * 2 == int(t * 2) for t in ticks)  # on multiples of the interval


def test_shutdown_finishes_jobs_in_flight_and_leaves_the_rest(tmp_path: Path, redis_url: str) -> None:
    """SIGTERM: stop fetching, finish what runs within destroy_timeout, acknowledge nothing unfinished."""
    stack = jobs_stack(tmp_path, "redis", redis_url, workers=1, prefetch=2, claim_timeout=6.0)
    stack.config["proxy"]["call_timeout"] = 6  # exec timeout 5.5 s
    stack.config["pool"]["destroy_timeout"] = 3.0
    stack.write()
    out, started = tmp_path / "runs.txt", tmp_path / "started.txt"

    async def push() -> None:  # in this order: prefetch 2 takes "short" and "long" first
        async with opened(stack) as jobs:
            payload = {"file": str(out), "started": str(started)}
            await jobs.push_many([JobSpec("record", payload | {"sleep": 1.5}, job_id="short"),
                                  JobSpec("record", payload | {"sleep": 5.0}, job_id="long"),
                                  *(JobSpec("record", {"file": str(out)}, job_id=f"later-{n}") for n in range(5))])  # fmt: skip

    asyncio.run(push())
    with stack.running(centrifugo=False):
        wait_until(lambda: set(runs(started)) == {"short", "long"}, 30, "both jobs to start")
        assert stack.hub is not None
        stack.hub.send_signal(signal.SIGTERM)
        stack.hub.wait(30)
        assert runs(out) == {"short": 1}  # finished within the destroy timeout; "long" was not
        row = stats(stack)
        assert (row["in_flight"], row["queued"]) == (1, 5)  # "long" left pending, the rest queued
        assert json.loads(cli(stack, "status", "short"))["state"] == "done"
        stack.start_hub()  # the next consumer claims "long" after claim_timeout, attempt counted
        wait_until(lambda: len(runs(out)) == 7, 60, "every job run")
    assert [a for i, a, _ in lines(out) if i == "long"] == ["2"]
