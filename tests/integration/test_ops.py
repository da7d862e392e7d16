"""The ops listener: one /metrics for the whole pool, /health and /ready that mean something."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import itertools
import json
import random
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from hub.clients import ClientError, RealtimeClient, ReplyError
from hub.jobs import Jobs
from hub.jobs.envelope import decode
from hub.jobs.redis_driver import RedisDriver
from hub.settings import load as load_settings

from .pool_helpers import connection, direct_rpc, serving, status, wait_for
from .servers import HUB, Stack, free_port, redis_server, stack_config, wait_until

APP = "tests.integration.pool_app:app"


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["content-type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # prometheus-client sorts them
    pattern = (
        rf"^{re.escape(name)}(?:\{{{re.escape(want)}\}})? (\S+)$" if want else rf"^{re.escape(name)} (\S+)$"
    )
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = stack_config(APP, "http", pool={"workers": 2}, ops={"port": free_port()})
    stack = Stack(tmp_path_factory.mktemp("ops"), config)
    with stack.running():
        yield stack


def ops_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config['ops']['port']}"


def rpc_ok(stack: Stack) -> float:
    return sample(get(ops_url(stack) + "/metrics")[2], "hub_proxy_calls_total", kind="rpc", outcome="ok")


async def test_one_scrape_sums_the_calls_of_every_worker(pooled: Stack) -> None:
    before = rpc_ok(pooled)
    pids: list[int] = []
    async with RealtimeClient(pooled.ws_url) as a, RealtimeClient(pooled.ws_url) as b:
        await a.connect(data={"user": "a"})
        await b.connect(data={"user": "b"})
        async with asyncio.timeout(30):  # until both workers served some (connections age out in 2 s)
            while len(set(pids)) < 2 or len(pids) < 100:
                pids += await asyncio.gather(a.rpc("work", 0.002), b.rpc("work", 0.002))
    wait_until(lambda: rpc_ok(pooled) >= before + len(pids), 5, "the heartbeats to carry every call")
    code, content_type, text = get(ops_url(pooled) + "/metrics")
    assert code == 200
    assert content_type.startswith("text/plain; version=")  # the exposition format prometheus-client writes
    assert sample(text, "hub_proxy_calls_total", kind="rpc", outcome="ok") == before + len(pids)
    assert sample(text, "hub_proxy_calls_total", kind="connect", outcome="ok") >= 2
    assert sample(text, "hub_proxy_call_seconds_count", kind="rpc") == sample(
        text, "hub_proxy_calls_total", kind="rpc", outcome="ok"
    )
    assert "# HELP hub_proxy_calls_total Proxy calls answered" in text
    assert (
        sample(text, "hub_pool_workers", state="ready") + sample(text, "hub_pool_workers", state="working")
        == 2
    )
    assert sample(text, "hub_pool_size") == 2
    for pid in set(pids):
        assert sample(text, "hub_pool_worker_memory_bytes", pid=str(pid)) > 10 * 2**20
    assert sample(text, "process_resident_memory_bytes") > 0  # the supervisor's own process_* families


async def test_calls_of_workers_that_left_stay_counted(pooled: Stack) -> None:
    old = set(serving(wait_for(pooled, lambda s: len(serving(s)) == 2)))
    start = rpc_ok(pooled)
    async with RealtimeClient(pooled.ws_url) as client:
        await client.connect(data={"user": "c"})
        for _ in range(20):
            await client.rpc("pid")
    wait_until(lambda: rpc_ok(pooled) == start + 20, 5, "the heartbeats to carry the calls")
    reset = await asyncio.to_thread(
        subprocess.run, [str(HUB), "reset", "-c", str(pooled.path)], capture_output=True, text=True
    )
    assert reset.returncode == 0, reset.stderr
    assert not old & set(serving(status(pooled)))
    after = get(ops_url(pooled) + "/metrics")[2]
    assert sample(after, "hub_proxy_calls_total", kind="rpc", outcome="ok") == start + 20  # none lost
    assert sample(after, "hub_pool_replacements_total", reason="reset") >= 2


async def test_application_metrics_from_every_worker_in_one_scrape(pooled: Stack) -> None:
    pids: list[int] = []
    async with RealtimeClient(pooled.ws_url) as a, RealtimeClient(pooled.ws_url) as b:
        await a.connect(data={"user": "ann"})
        await b.connect(data={"user": "ben"})
        async with asyncio.timeout(30):  # until both workers counted some
            while len(set(pids)) < 2 or len(pids) < 100:
                pids += await asyncio.gather(a.rpc("hit"), b.rpc("hit"))
    half = len(pids) // 2

    def counted() -> bool:
        text = get(ops_url(pooled) + "/metrics")[2]
        return (
            sample(text, "test_hits_total", who="ann") == sample(text, "test_hits_total", who="ben") == half
        )

    wait_until(counted, 5, "every worker's hits in one scrape")
    text = get(ops_url(pooled) + "/metrics")[2]
    assert "# HELP test_hits_total Calls of the hit RPC, by who asked." in text
    assert "# TYPE hub_publisher_requests_total counter" in text  # each worker's publisher, summed


async def test_jobs_and_publisher_families_sum_over_the_pool(pooled: Stack) -> None:
    def scrape() -> str:
        return get(ops_url(pooled) + "/metrics")[2]

    done = sample(scrape(), "hub_jobs_settled_total", pipeline="default", outcome="done")
    for n in range(5):  # the memory pipeline, through the running service's socket
        command = [str(HUB), "jobs", "push", "-c", str(pooled.path), "tick", str(n)]
        pushed = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr
    wait_until(
        lambda: sample(scrape(), "hub_jobs_settled_total", pipeline="default", outcome="done") == done + 5,
        10, "the five jobs counted",
    )  # fmt: skip
    assert sample(scrape(), "hub_jobs_run_seconds_count", pipeline="default") >= 5

    def calls() -> float:
        text = scrape()
        return sum(float(v) for v in re.findall(r"^hub_publisher_calls_total\{[^}]*\} (\S+)$", text, re.M))

    before = calls()
    async with RealtimeClient(pooled.ws_url) as client:
        await client.connect(data={"user": "pub"})
        for n in range(4):  # each publishes once from its worker, to a namespace that is not there
            with pytest.raises(ReplyError):  # the publish fails, so the handler does
                await client.rpc("announce", n)
    wait_until(lambda: calls() == before + 4, 5, "the four publishes counted")
    text = scrape()
    assert sample(text, "hub_publisher_calls_total", outcome="ApiError") >= 4  # errors by type
    assert sample(text, "hub_publisher_batch_size_count") >= 4
    assert sample(text, "hub_publisher_requests_total") >= 4


def test_health_and_ready_with_a_breakdown(pooled: Stack) -> None:
    code, content_type, body = get(ops_url(pooled) + "/health")
    assert (code, content_type) == (200, "application/json")
    assert json.loads(body)["status"] == "ok"
    code, _, body = get(ops_url(pooled) + "/ready")
    ready: dict[str, Any] = json.loads(body)
    assert code == 200
    assert ready["ready"] is True
    assert ready["parts"]["proxy"] == {"ready": True, "state": "2 of 2 workers serving"}


@pytest.fixture
def with_centrifugo(tmp_path: Path) -> Iterator[Stack]:
    """`hub serve --centrifugo`, inline, with the ops listener."""
    config = stack_config(APP, "http", pool={"workers": 0}, ops={"port": free_port()})
    with Stack(tmp_path, config).serving_with_centrifugo() as stack:
        yield stack


def test_ready_turns_false_while_centrifugo_is_down_and_true_when_it_is_back(with_centrifugo: Stack) -> None:
    url = ops_url(with_centrifugo) + "/ready"
    wait_until(lambda: get(url)[0] == 200, 10, "ready")
    assert json.loads(get(url)[2])["parts"]["centrifugo"] == {"ready": True, "state": "running"}
    assert with_centrifugo.hub is not None
    (child,) = [p for p in psutil.Process(with_centrifugo.hub.pid).children() if p.name() == "centrifugo"]
    child.send_signal(signal.SIGKILL)
    wait_until(lambda: get(url)[0] == 503, 10, "not ready while Centrifugo is down")
    down = json.loads(get(url)[2])
    assert down["ready"] is False
    assert down["parts"]["centrifugo"]["ready"] is False
    assert down["parts"]["proxy"]["ready"] is True
    wait_until(lambda: get(url)[0] == 200, 30, "ready again once Centrifugo was restarted")
    metrics = get(ops_url(with_centrifugo) + "/metrics")[2]
    assert sample(metrics, "hub_centrifugo_up") == 1
    assert sample(metrics, "hub_centrifugo_restarts_total") == 1


async def test_a_failure_is_one_json_line_with_its_ids_and_no_secret_at_any_level(tmp_path: Path) -> None:
    config = stack_config("tests.integration.proxy_app:app", "http", pool={"workers": 1},
                          log_level="debug", log_format="json")  # fmt: skip
    secrets = [
        config["proxy"]["secret"],
        config["centrifugo"]["api_key"],
        config["centrifugo"]["token_secret"],
    ]
    with Stack(tmp_path, config).running() as stack:
        async with RealtimeClient(stack.ws_url) as client:
            session = await client.connect(data={"user": "erin"})
            with pytest.raises(Exception, match="100"):
                await client.rpc("boom")
    lines = [
        json.loads(line) for line in (tmp_path / "hub.log").read_text().splitlines() if line.startswith("{")
    ]
    failures = [line for line in lines if line["message"] == "rpc handler raised"]
    assert len(failures) == 1
    (failure,) = failures
    assert (failure["kind"], failure["client"], failure["user"]) == ("rpc", session["client"], "erin")
    assert "ValueError: handler bug" in failure["exc"]
    assert failure["pid"] in {line["pid"] for line in lines if line["logger"] == "hub.pool.worker"}
    access = [line for line in lines if line.get("kind") == "connect" and line["level"] == "debug"]
    assert access, "no per-call access line at debug level"
    text = (tmp_path / "hub.log").read_text()
    assert not [s for s in secrets if s in text]


def test_hub_status_shows_every_part_on_one_screen(pooled: Stack) -> None:
    out = subprocess.run([str(HUB), "status", "-c", str(pooled.path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    parts = {line.split()[0] for line in lines if line and not line.startswith(" ")}
    assert parts == {"listeners", "workers", "jobs", "publisher", "centrifugo"}
    proxy, ops = pooled.config["proxy"], pooled.config["ops"]
    assert f"proxy http 127.0.0.1:{proxy['http_port']}: accepts" in out.stdout
    assert f"proxy grpc 127.0.0.1:{proxy['grpc_port']}: accepts" in out.stdout
    assert f"ops 127.0.0.1:{ops['port']}: ready" in out.stdout
    assert "pool: 2 of 2 serving" in out.stdout
    assert any(line.split()[:2] == ["PID", "STATE"] for line in (line.strip() for line in lines))
    assert f"http → {pooled.api_url}: answers" in out.stdout
    assert "(v" in next(line for line in lines if line.startswith("centrifugo"))


def test_hub_status_says_which_part_is_unreachable(tmp_path: Path) -> None:
    config = stack_config(APP, "http", pool={"workers": 1}, ops={"port": free_port()})
    with Stack(tmp_path, config).running(centrifugo=False) as stack:
        out = subprocess.run([str(HUB), "status", "-c", str(stack.path)], capture_output=True, text=True)
        config["web"] = {"app": "tests.integration.web_app:web", "port": free_port()}  # nobody serves it
        stack.path.write_text(yaml.safe_dump(config))
        web = subprocess.run([str(HUB), "status", "-c", str(stack.path)], capture_output=True, text=True)
    assert out.returncode == 1
    publisher = next(line for line in out.stdout.splitlines() if line.startswith("publisher"))
    assert "NetworkError" in publisher or "UnavailableError" in publisher, out.stdout
    assert "pool: 1 of 1 serving" in out.stdout  # the parts that answer are still shown
    assert f"proxy http 127.0.0.1:{config['proxy']['http_port']}: accepts" in out.stdout
    assert f"ops 127.0.0.1:{config['ops']['port']}: ready" in out.stdout  # readiness leaves Centrifugo to it
    assert f"web 127.0.0.1:{config['web']['port']}: not reached: Connection refused" in web.stdout, web.stdout


def test_ready_turns_false_while_a_jobs_redis_is_down_and_true_when_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    for folder in ("r1", "r2", "hub"):
        (tmp_path / folder).mkdir()
    with redis_server(tmp_path / "r1", port) as url:
        config = stack_config(APP, "http", pool={"workers": 1}, ops={"port": free_port()},
                              jobs={"pipelines": {"work": {"driver": "redis", "url": url}}})  # fmt: skip
        stack = Stack(tmp_path / "hub", config)
        ready = ops_url(stack) + "/ready"
        with stack.running(centrifugo=False):
            wait_until(lambda: get(ready)[0] == 200, 10, "ready")
            assert json.loads(get(ready)[2])["parts"][f"redis 127.0.0.1:{port}"] == {
                "ready": True,
                "state": "answers",
            }
    # Redis is gone: the hub (started again) says so, part by part.
    with Stack(tmp_path / "hub", config).running(centrifugo=False) as stack:
        wait_until(lambda: json.loads(get(ready)[2])["parts"]["proxy"]["ready"], 10, "the pool")
        code, _, body = get(ready)
        assert code == 503
        assert json.loads(body)["parts"][f"redis 127.0.0.1:{port}"]["ready"] is False
        status = subprocess.run([str(HUB), "status", "-c", str(stack.path)], capture_output=True, text=True)
        ops = f"ops 127.0.0.1:{config['ops']['port']}: not ready: redis 127.0.0.1:{port} ("
        assert ops in status.stdout, status.stdout
        with redis_server(tmp_path / "r2", port):
            wait_until(lambda: get(ready)[0] == 200, 10, "ready once Redis is back")


def hub_jobs(stack: Stack, *args: str) -> str:
    done = subprocess.run([str(HUB), "jobs", *args, "-c", str(stack.path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("driver", ["memory", "redis"])
def test_queue_depth_and_job_wait_on_metrics(driver: str, tmp_path: Path) -> None:
    """Paused with five jobs: depth queued 5; resumed: 0, and the wait histogram counts five waits
    at least as long as the pause lasted after the last push. A Redis that goes away: the scrape says so."""
    with contextlib.ExitStack() as servers:
        pipeline: dict[str, Any] = {"driver": driver, "poll_timeout": 0.2}
        if driver == "redis":
            (tmp_path / "redis").mkdir()
            redis = servers.enter_context(redis_server(tmp_path / "redis"))
            pipeline["url"] = redis
        jobs = {"pipelines": {"default": pipeline}, "prefix": f"test-{uuid.uuid4().hex[:8]}"}
        config = stack_config(APP, "http", pool={"workers": 2}, ops={"port": free_port()}, jobs=jobs)
        stack = servers.enter_context(Stack(tmp_path, config).running(centrifugo=False))

        def scrape() -> str:
            return get(ops_url(stack) + "/metrics")[2]

        def depth(state: str, text: str = "") -> float:
            return sample(text or scrape(), "hub_jobs_queue_depth", pipeline="default", state=state)

        wait_until(lambda: "# TYPE hub_jobs_wait_seconds histogram" in scrape(), 10, "the workers' beats")
        text = scrape()
        assert sample(text, "hub_jobs_pipeline_up", pipeline="default") == 1
        assert "# HELP hub_jobs_queue_depth Jobs in each pipeline by state" in text
        assert [depth(s, text) for s in ("queued", "delayed", "in_flight", "failed", "dead")] == [0] * 5
        hub_jobs(stack, "pause", "default")
        for n in range(5):
            hub_jobs(stack, "push", "tick", str(n))
        hub_jobs(stack, "push", "tick", "5", "--delay", "3600")
        last_push = time.time()
        text = scrape()
        assert (depth("queued", text), depth("delayed", text)) == (5, 1)
        assert sample(text, "hub_jobs_pipeline_paused", pipeline="default") == 1
        assert sample(text, "hub_jobs_wait_seconds_count", pipeline="default") == 0
        time.sleep(0.5)  # the jobs wait at least this long: the histogram must show it
        resumed = time.time()
        hub_jobs(stack, "resume", "default")
        wait_until(lambda: sample(scrape(), "hub_jobs_wait_seconds_count", pipeline="default") == 5, 10,
                   "five jobs started")  # fmt: skip
        wait_until(lambda: depth("queued") == depth("in_flight") == 0, 10, "the queue empty")
        text = scrape()
        assert depth("delayed", text) == 1  # not due for an hour: not started, not counted
        assert sample(text, "hub_jobs_pipeline_paused", pipeline="default") == 0
        waited = sample(text, "hub_jobs_wait_seconds_sum", pipeline="default")
        assert waited >= 5 * (resumed - last_push)  # each waited out the pause at least
        assert sample(text, "hub_jobs_wait_seconds_bucket", pipeline="default", le="0.25") == 0
        assert sample(text, "hub_jobs_wait_seconds_bucket", pipeline="default", le="+Inf") == 5
        if driver == "redis":  # the broker goes away: the scrape still answers, and says so
            servers.close()  # stops the hub, then Redis: start the hub again without its Redis
    if driver == "redis":
        with Stack(tmp_path, config).running(centrifugo=False) as stack:
            code, _, text = get(ops_url(stack) + "/metrics")
            assert code == 200
            assert sample(text, "hub_jobs_pipeline_up", pipeline="default") == 0
            assert 'hub_jobs_queue_depth{pipeline="default"' not in text


def test_calls_waiting_for_a_slot_on_the_queue_wait_histogram(tmp_path: Path) -> None:
    config = stack_config(APP, "http", pool={"workers": 1, "concurrency": 1}, ops={"port": free_port()})
    with Stack(tmp_path, config).running(centrifugo=False) as stack:
        conns = [connection(stack) for _ in range(3)]
        try:
            with concurrent.futures.ThreadPoolExecutor(3) as pool:  # one runs, two wait for its slot
                answers = list(pool.map(lambda c: direct_rpc(c, "work", 0.3), conns))
        finally:
            for c in conns:
                c.close()
        assert [code for code, _ in answers] == [200] * 3

        def waited() -> float:
            return sample(get(ops_url(stack) + "/metrics")[2], "hub_pool_queue_wait_seconds_count")

        wait_until(lambda: waited() == 2, 5, "the two waits carried by a heartbeat")
        text = get(ops_url(stack) + "/metrics")[2]
        assert sample(text, "hub_pool_queue_wait_seconds_sum") > 0
        assert "# HELP hub_pool_queue_wait_seconds Time a call that found every slot" in text


@dataclasses.dataclass
class Load:
    """RPC clients calling ``work`` in a loop and a producer pushing ``record`` jobs, until stopped."""

    stack: Stack
    accepted: Path  # the ids the handler saw start
    ran: Path  # the ids of the jobs that ran to their end
    clients: int = 6
    answered: list[str] = dataclasses.field(default_factory=list)
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    pushed: list[str] = dataclasses.field(default_factory=list)
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def call(self, client: RealtimeClient, call_id: str, sleep: float) -> bool:
        """One call; False once the connection is gone. Every outcome is recorded."""
        try:
            answer = await client.rpc("work", {"id": call_id, "sleep": sleep, "file": str(self.accepted)})
        except ReplyError as exc:  # refused by Centrifugo: the hub never had it
            self.refused[f"{exc.code} temporary={exc.temporary}"] += 1
            await asyncio.sleep(0.01)  # as a client backs off
        except ClientError:  # the node closed the connection: nothing more to send on it
            self.refused["connection closed"] += 1
            return False
        except TimeoutError:  # no answer within the client's timeout: what must never happen
            self.refused["hung"] += 1
        else:
            assert answer == call_id
            self.answered.append(call_id)
        return True

    async def caller(self, i: int) -> None:
        async with RealtimeClient(self.stack.ws_url, timeout=20) as client:
            await client.connect(data={"user": f"load-{i}"})
            for n in itertools.count():
                sleep = 0.05 + 0.15 * random.random()  # handlers of 50 to 200 ms
                if self.stop.is_set() or not await self.call(client, f"c{i}-{n}", sleep):
                    return

    async def producer(self, jobs: Jobs) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            job_id = f"j-{n}"
            self.pushed.append(job_id)  # before: a push that fails half-way is still looked for
            await jobs.push("record", {"file": str(self.ran), "sleep": 0.1}, job_id=job_id)
            await asyncio.sleep(0.01)


def ready_poller(url: str, seen: list[tuple[float, int]], done: threading.Event) -> None:
    """Poll /ready until the ops listener is gone; record (monotonic time, status) of each answer."""
    while not done.is_set():
        try:
            status = get(url)[0]
        except OSError:  # the listener closed: the service is gone
            return
        seen.append((time.monotonic(), status))  # when the answer came
        time.sleep(0.01)


async def test_sigterm_under_rpc_and_job_load_loses_no_call_and_no_job(tmp_path: Path) -> None:
    """`hub serve --centrifugo`, 2 workers, a Redis jobs pipeline, clients and a producer busy; SIGTERM:
    /ready is 503 while calls are still answered, every call the hub accepted is answered, every job
    pushed either ran or is still in the stream for the next instance, and the hub exits 0 in time."""
    accepted, ran = tmp_path / "accepted.txt", tmp_path / "ran.txt"
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as redis_url:
        pipeline = {"driver": "redis", "url": redis_url, "poll_timeout": 0.2, "prefetch": 4}
        destroy = 5.0
        config = stack_config(
            "tests.integration.shutdown_app:app", "http", ops={"port": free_port()},
            pool={"workers": 2, "destroy_timeout": destroy},
            jobs={"pipelines": {"default": pipeline}, "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        )  # fmt: skip
        with Stack(tmp_path, config).serving_with_centrifugo() as stack:
            assert stack.hub is not None
            ready = ops_url(stack) + "/ready"
            wait_until(lambda: get(ready)[0] == 200, 20, "ready")
            load = Load(stack, accepted, ran)
            seen: list[tuple[float, int]] = []
            done = threading.Event()
            poller = threading.Thread(target=ready_poller, args=(ready, seen, done))
            async with Jobs(load_settings(stack.path).jobs) as jobs, asyncio.TaskGroup() as tasks:
                tasks.create_task(load.producer(jobs))
                for i in range(load.clients):
                    tasks.create_task(load.caller(i))
                async with asyncio.timeout(30):
                    while len(load.answered) < 50 or len(lines(ran)) < 20:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                # One slow call the hub has surely accepted when the signal comes.
                async with RealtimeClient(stack.ws_url, timeout=20) as slow:
                    await slow.connect(data={"user": "slow"})
                    last = tasks.create_task(load.call(slow, "slow", 1.5))
                    async with asyncio.timeout(10):
                        while "slow" not in lines(accepted):  # noqa: ASYNC110
                            await asyncio.sleep(0.01)
                    poller.start()
                    signalled = time.monotonic()
                    stack.hub.send_signal(signal.SIGTERM)
                    await last
                    slow_answered = time.monotonic()
                    grace = destroy + 1 + 10  # docs/operations.md: the pool's drain, then Centrifugo's stop
                    code = await asyncio.to_thread(stack.hub.wait, grace)
                load.stop.set()
            done.set()
            poller.join(10)
            in_queue = await left_in_redis(stack, tmp_path)
    assert code == 0
    # Readiness turned false at the signal, while accepted calls were still being answered.
    stopping = [t for t, status in seen if status == 503]
    assert stopping, f"/ready never answered 503 during the shutdown: {seen[:5]}"
    assert signalled <= stopping[0] < slow_answered
    assert all(status == 503 for t, status in seen if t >= stopping[0])  # and stayed false
    # Every call the hub accepted got its answer; the others were refused loudly, none hung.
    assert "slow" in load.answered
    assert set(lines(accepted)) == set(load.answered)
    assert set(load.refused) <= {"100 temporary=True", "connection closed"}, load.refused
    assert load.refused["100 temporary=True"] > 0  # refused at once while the pool drained, not held
    # Every job pushed ran once, or waits in the stream for the next instance.
    ran_ids = collections.Counter(lines(ran))
    assert set(ran_ids.values()) == {1}
    assert not set(ran_ids) & in_queue
    assert set(load.pushed) == set(ran_ids) | in_queue, set(load.pushed) - set(ran_ids) - in_queue


def lines(path: Path) -> list[str]:
    """The first word of each line of a file the handlers append to ([] before the first)."""
    return [line.split()[0] for line in path.read_text().splitlines() if line] if path.exists() else []


async def left_in_redis(stack: Stack, tmp: Path) -> set[str]:
    """The ids of the jobs the next instance will run: in the stream past the group's last delivery
    (queued) or in its pending list (fetched, not acknowledged), or in the delayed and retry sets."""
    async with Jobs(load_settings(stack.path).jobs) as jobs:
        driver = jobs.drivers["default"]
        assert isinstance(driver, RedisDriver)
        redis = driver.redis
        (group,) = [g for g in await redis.xinfo_groups(driver.stream) if g["name"] == driver.group]
        pending = await redis.xpending_range(driver.stream, driver.group, "-", "+", 1_000_000)
        pending_ids = {p["message_id"] for p in pending}
        entries = [
            (entry, fields)
            for entry, fields in await redis.xrange(driver.stream)
            if _after(entry, group["last-delivered-id"]) or entry in pending_ids
        ]
        later = [*await redis.zrange(driver.delayed, 0, -1), *await redis.zrange(driver.retry_set, 0, -1)]
        assert await redis.xlen(driver.dead) == 0
    return {decode(fields["job"], fallback_id=i).id for i, fields in entries} | {decode(e).id for e in later}


def _after(entry: str, last: str) -> bool:
    """Stream entry ids compare as (milliseconds, sequence)."""
    return tuple(map(int, entry.split("-"))) > tuple(map(int, last.split("-")))
