"""Scale-out: two Centrifugo nodes on Redis and two hub instances.

The sidecar topology of docs/scaling.md: node A calls hub A, node B calls hub B.
Both render from hub.yaml files that differ only in ports and the instance's name
(``SCALE_INSTANCE`` in its environment), so secrets, namespaces and the engine's
prefix are the same. Hub A only pushes jobs (``jobs.consume: []``); hub B runs them.
The cross-node tests run twice: Centrifugo's engine and the jobs pipeline on one
Redis, then both on a three-master Redis Cluster the module starts.

The load-balanced topology: both nodes call one nginx (docs/deploy/nginx.conf) that
spreads the calls over both hubs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis

from hub.centrifugo import find_binary
from hub.clients import ClientError, Push, RealtimeClient, ReplyError
from hub.jobs import Jobs, JobSpec
from hub.settings import load
from hub.tokens import TokenMinter

from .servers import HUB, ROOT, Stack, free_port, redis_server, stack_config, stop, wait_until

pytestmark = pytest.mark.integration
APP = "tests.integration.scale_app:app"
TOKEN_SECRET = "scale-token-secret-of-32-bytes-or-more"
ROOM = {"presence": True, "history_size": 100, "history_ttl": 300, "recovery": True}


def instance_config(
    jobs_url: str, engine_prefix: str, jobs_prefix: str, engine: dict[str, Any], **jobs: Any
) -> dict[str, Any]:
    pipeline = {
        "driver": "redis", "url": jobs_url, "claim_timeout": 3.0, "poll_timeout": 0.2, "prefetch": 4,
        "max_attempts": 2, "backoff": {"base": 0.05, "cap": 0.2},
    }  # fmt: skip
    return stack_config(
        APP,
        "http",
        centrifugo={
            "engine": "redis",
            **engine,
            "redis_prefix": engine_prefix,
            "token_secret": TOKEN_SECRET,
            "namespaces": {"room": ROOM},
        },
        pool={"workers": 1, "destroy_timeout": 2},
        jobs={"pipelines": {"default": pipeline}, "prefix": jobs_prefix, **jobs},
        ops={"port": free_port()},
    )


@contextlib.contextmanager
def redis_cluster(tmp: Path, masters: int = 3) -> Iterator[list[str]]:
    """A Redis Cluster of ``masters`` masters (no replicas) on free ports, stopped by pid."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server not found: `make test` installs it (apt-get install redis-server)")
    ports = [free_port() for _ in range(masters)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            folder = tmp / f"node-{port}"
            folder.mkdir()
            processes.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-port", str(free_port()), "--cluster-config-file", str(folder / "nodes.conf"),
                 "--save", "", "--appendonly", "no", "--dir", str(folder)],
                stdout=subprocess.DEVNULL,
            ))  # fmt: skip
        addresses = [f"127.0.0.1:{port}" for port in ports]

        def cli(address: str, *args: str) -> str:
            host, port = address.split(":")
            done = subprocess.run(["redis-cli", "-h", host, "-p", port, *args], capture_output=True,
                                  text=True, timeout=30)  # fmt: skip
            return done.stdout

        for address in addresses:
            wait_until(lambda address=address: cli(address, "PING").strip() == "PONG", 10, "a cluster node")
        created = subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0",
                                  "--cluster-yes"], capture_output=True, text=True, timeout=60)  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        for address in addresses:
            wait_until(lambda address=address: "cluster_state:ok" in cli(address, "CLUSTER", "INFO"), 20,
                       "the cluster")  # fmt: skip
        yield addresses
    finally:
        for process in processes:
            stop(process)


@contextlib.contextmanager
def redis_sentinel(tmp: Path, master: str, name: str = "main") -> Iterator[str]:
    """One ``redis-server --sentinel`` on a free port watching ``master`` as ``name``; its address."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server not found: `make test` installs it (apt-get install redis-server)")
    port = free_port()
    host, master_port = master.removeprefix("redis://").split(":")
    config = tmp / "sentinel.conf"  # the sentinel rewrites it: its own copy, in tmp
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp}\nsentinel monitor {name} {host} {master_port} 1\n"
    )
    process = subprocess.Popen([binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        sentinel = redis.Redis(port=port, decode_responses=True)

        def knows_master() -> bool:
            with contextlib.suppress(redis.RedisError):
                return sentinel.sentinel_get_master_addr_by_name(name) == (host, int(master_port))
            return False

        wait_until(knows_master, 10, "the sentinel")
        sentinel.close()
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def cluster_addresses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as addresses:
        yield addresses


def two_configs(
    redis_url: str,
    *,
    engine: dict[str, Any] | None = None,
    jobs_url: str = "",
    a_jobs: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """hub.yaml of instance A and of instance B: the same but for the ports (and ``a_jobs``)."""
    engine_prefix, jobs_prefix = f"scale-{uuid.uuid4().hex[:8]}", f"scale-jobs-{uuid.uuid4().hex[:8]}"
    engine = engine or {"redis_url": redis_url}
    jobs_url = jobs_url or redis_url
    return (
        instance_config(jobs_url, engine_prefix, jobs_prefix, engine, **(a_jobs or {})),
        instance_config(jobs_url, engine_prefix, jobs_prefix, engine),
    )


@contextlib.contextmanager
def two_instances(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, *, engine: dict[str, Any] | None = None,
    jobs_url: str = "", a_jobs: dict[str, Any] | None = None,
) -> Iterator[tuple[Stack, Stack]]:  # fmt: skip
    """Node and hub A, node and hub B, on one Redis (or ``engine``), each node calling its own hub;
    the jobs pipeline on ``jobs_url`` (default: the one Redis)."""
    a_config, b_config = two_configs(redis_url, engine=engine, jobs_url=jobs_url, a_jobs=a_jobs)
    a = Stack(tmp_path_factory.mktemp("scale-a"), a_config, env={"SCALE_INSTANCE": "a"})
    b = Stack(tmp_path_factory.mktemp("scale-b"), b_config, env={"SCALE_INSTANCE": "b"})
    with ExitStack() as stack:
        stack.enter_context(a.running())
        stack.enter_context(b.running())
        yield a, b


def cluster_url(addresses: list[str]) -> str:
    """A jobs pipeline's url for the cluster (hub.jobs.redis_client)."""
    return "redis+cluster://" + ",".join(addresses)


@pytest.fixture(scope="module", params=["one-redis", "redis-cluster", "redis-sentinel"])
def nodes(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Stack]]:
    """Hub A pushes jobs only (``jobs.consume: []``), hub B runs them; Centrifugo's engine and the
    jobs pipeline on one Redis, or on a three-master Redis Cluster started for the module; or
    Centrifugo's engine through a Redis Sentinel watching one master (the jobs on the one Redis)."""
    engine, jobs_url = None, ""
    with ExitStack() as exits:
        if request.param == "redis-cluster":
            addresses = request.getfixturevalue("cluster_addresses")
            engine, jobs_url = {"redis_cluster_addresses": addresses}, cluster_url(addresses)
        elif request.param == "redis-sentinel":
            tmp = tmp_path_factory.mktemp("sentinel")
            (tmp / "master").mkdir()
            master = exits.enter_context(redis_server(tmp / "master"))
            sentinel = exits.enter_context(redis_sentinel(tmp, master))
            engine = {"redis_sentinel_addresses": [sentinel], "redis_sentinel_master": "main"}
        yield exits.enter_context(
            two_instances(
                redis_url, tmp_path_factory, engine=engine, jobs_url=jobs_url, a_jobs={"consume": []}
            )
        )


@pytest.fixture
async def clients() -> AsyncIterator[Any]:
    """``await open_client(stack, user)``: a connected client, closed after the test."""
    async with AsyncExitStack() as exits:

        async def open_client(stack: Stack, user: str) -> RealtimeClient:
            client = await exits.enter_async_context(RealtimeClient(stack.ws_url, timeout=5))
            await client.connect(data={"user": user})
            return client

        yield open_client


def channel() -> str:
    return f"room:{uuid.uuid4().hex[:8]}"


async def next_push(client: RealtimeClient, kind: str) -> Push:
    while True:
        push = await asyncio.wait_for(client.pushes.get(), 10)
        if push.type == kind:
            return push


async def test_each_node_calls_its_own_hub(nodes: tuple[Stack, Stack], clients: Any) -> None:
    a, b = nodes
    on_a, on_b = await clients(a, "alice"), await clients(b, "bob")
    assert await on_a.rpc("whoami") == {"hub": "a"}
    assert await on_b.rpc("whoami") == {"hub": "b"}


async def test_a_publish_through_node_b_reaches_a_client_on_node_a(
    nodes: tuple[Stack, Stack], clients: Any
) -> None:
    a, b = nodes
    room = channel()
    on_a, on_b = await clients(a, "alice"), await clients(b, "bob")
    await on_a.subscribe(room)
    # Hub B's handler publishes through its publisher, i.e. through node B's server API.
    reply = await on_b.rpc("announce", {"channel": room, "text": "hello from b"})
    assert reply["hub"] == "b"
    push = await next_push(on_a, "pub")
    assert push.channel == room
    assert push.body["data"] == {"text": "hello from b", "hub": "b"}
    assert push.body["offset"] == reply["offset"]


async def test_presence_lists_the_clients_of_both_nodes(nodes: tuple[Stack, Stack], clients: Any) -> None:
    a, b = nodes
    room = channel()
    on_a, on_b = await clients(a, "alice"), await clients(b, "bob")
    await on_a.subscribe(room)
    await on_b.subscribe(room)
    expected = {on_a.session["client"]: "alice", on_b.session["client"]: "bob"}
    for client in (on_a, on_b):
        presence = await client.presence(room)
        assert {cid: info["user"] for cid, info in presence.items()} == expected
        assert {info["conn_info"]["hub"] for info in presence.values()} == {"a", "b"}


async def test_history_is_recovered_when_a_client_reconnects_to_the_other_node(
    nodes: tuple[Stack, Stack], clients: Any
) -> None:
    a, b = nodes
    room = channel()
    async with RealtimeClient(a.ws_url, timeout=5) as first:
        await first.connect(data={"user": "carol"})
        subscribed = await first.subscribe(room)
        assert subscribed.get("recoverable") is True
        epoch, offset = subscribed["epoch"], subscribed.get("offset", 0)
    # Missed while away: published through hub A and node A.
    announcer = await clients(a, "dave")
    for text in ("one", "two", "three"):
        await announcer.rpc("announce", {"channel": room, "text": text})
    again = await clients(b, "carol")
    recovered = await again.subscribe(room, recover=True, epoch=epoch, offset=offset)
    assert recovered.get("recovered") is True
    assert [p["data"]["text"] for p in recovered["publications"]] == ["one", "two", "three"]
    assert recovered["epoch"] == epoch


async def test_a_token_minted_from_hub_as_config_is_accepted_by_node_b(
    nodes: tuple[Stack, Stack], clients: Any
) -> None:
    a, b = nodes
    room = channel()
    tokens = TokenMinter.from_settings(load(a.path, environ={}).centrifugo)
    on_b = await clients(b, "grace")
    # A subscription token skips the subscribe proxy: node B checks it with its own secret.
    await on_b.subscribe(room, token=tokens.subscription("grace", room))
    forged = TokenMinter(secret="another-secret-of-32-bytes-or-more!")
    other = await clients(b, "grace")
    with pytest.raises(ClientError):
        await other.subscribe(room, token=forged.subscription("grace", room))


async def test_the_engine_keeps_history_where_the_config_says(
    nodes: tuple[Stack, Stack], clients: Any
) -> None:
    a, _ = nodes
    room = channel()
    await (await clients(a, "frank")).rpc("announce", {"channel": room, "text": "kept"})
    if "redis_cluster_addresses" in a.config["centrifugo"]:
        servers = [f"redis://{address}" for address in a.config["centrifugo"]["redis_cluster_addresses"]]
    elif "redis_sentinel_addresses" in a.config["centrifugo"]:
        (sentinel,) = a.config["centrifugo"]["redis_sentinel_addresses"]
        asked = redis.Redis.from_url(f"redis://{sentinel}", decode_responses=True)
        host, port = asked.sentinel_get_master_addr_by_name("main")
        asked.close()
        servers = [f"redis://{host}:{port}"]
        assert servers != [a.config["jobs"]["pipelines"]["default"]["url"]]  # not the jobs' Redis
    else:
        servers = [a.config["centrifugo"]["redis_url"]]
    keys = []
    for url in servers:
        r = redis.Redis.from_url(url, decode_responses=True)
        keys += [key for key in r.scan_iter(f"{a.config['centrifugo']['redis_prefix']}*") if room in key]
        r.close()
    assert keys, f"no engine key of {room} on {servers}"


async def test_a_job_pushed_through_hub_a_runs_on_hub_b(
    nodes: tuple[Stack, Stack], clients: Any, tmp_path: Path
) -> None:
    a, _ = nodes
    out = tmp_path / "runs.txt"
    on_a = await clients(a, "erin")
    job_ids = [f"job-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    for job_id in job_ids:
        reply = await on_a.rpc("enqueue", {"file": str(out), "id": job_id})
        assert reply == {"hub": "a", "id": job_id}

    def ran() -> list[list[str]]:
        return [line.split() for line in out.read_text().splitlines()] if out.exists() else []

    wait_until(lambda: len(ran()) >= len(job_ids), 30, "the jobs")
    assert sorted(job for job, _, _ in ran()) == sorted(job_ids)  # each ran once
    assert {hub for _, hub, _ in ran()} == {"b"}  # hub A consumes nothing


def jobs_cli(stack: Stack, *args: str) -> str:
    done = subprocess.run([str(HUB), "jobs", *args, "-c", str(stack.path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def pipeline_keys(stack: Stack) -> dict[str, list[str]]:
    """The jobs pipeline's keys on each Redis server (each master of a cluster) of ``stack``."""
    url = stack.config["jobs"]["pipelines"]["default"]["url"]
    servers = (
        [f"redis://{a}" for a in url.removeprefix("redis+cluster://").split(",")]
        if "+cluster" in url
        else [url]
    )
    found = {}
    for server in servers:
        r = redis.Redis.from_url(server, decode_responses=True)
        found[server] = sorted(r.scan_iter(f"{stack.config['jobs']['prefix']}:*"))
        r.close()
    return found


async def test_a_failing_job_is_retried_then_dead_lettered_and_hub_jobs_sees_it(
    nodes: tuple[Stack, Stack], tmp_path: Path
) -> None:
    a, b = nodes
    out = tmp_path / "runs.txt"
    flaky, doomed = f"flaky-{uuid.uuid4().hex[:6]}", f"doomed-{uuid.uuid4().hex[:6]}"
    async with Jobs(load(a.path, environ={}).jobs) as jobs:  # a producer outside both hubs
        await jobs.push("record", {"file": str(out), "succeed_at": 2}, job_id=flaky)
        await jobs.push("record", {"file": str(out), "succeed_at": 99}, job_id=doomed)

    def status(job_id: str) -> dict[str, Any]:
        return dict(json.loads(jobs_cli(a, "status", job_id)))

    wait_until(
        lambda: status(doomed)["state"] == "dead" and status(flaky)["state"] == "done", 30, "both settled"
    )
    assert [(job, hub) for job, hub, _ in (line.split() for line in out.read_text().splitlines())] == [
        (flaky, "b")
    ]
    assert (status(flaky)["attempts"], status(doomed)["attempts"]) == (2, 2)
    assert status(doomed)["error"].startswith("RuntimeError: not yet (attempt 2 on b)")
    (row,) = json.loads(jobs_cli(a, "stats", "--json"))
    assert (row["pipeline"], row["driver"], row["dead"]) == ("default", "redis", 1)
    assert jobs_cli(b, "retry-dead", "default") == "default: 1 dead jobs back in the queue"
    wait_until(lambda: status(doomed)["state"] == "dead", 30, "dead again")
    assert status(doomed)["attempts"] == 2  # counted afresh
    # Every key of the pipeline is on one server: on the cluster, one master holds the slot.
    holding = {server: keys for server, keys in pipeline_keys(a).items() if keys}
    assert len(holding) == 1, holding
    (keys,) = holding.values()
    assert {k.rsplit(":", 1)[-1] for k in keys} >= {"stream", "dead", flaky, doomed}


def test_ready_pings_the_jobs_redis_or_every_master_of_the_cluster(nodes: tuple[Stack, Stack]) -> None:
    a, _ = nodes
    url = a.config["jobs"]["pipelines"]["default"]["url"]
    name = (
        "redis cluster " + url.removeprefix("redis+cluster://")
        if "+cluster" in url
        else "redis " + url.removeprefix("redis://")
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{a.config['ops']['port']}/ready", timeout=10) as response:
        parts = json.loads(response.read())["parts"]
    assert parts[name] == {"ready": True, "state": "answers"}


def test_ready_is_false_while_a_master_of_the_jobs_cluster_is_down(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    def ready() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as response:
                return response.status, json.loads(response.read())["parts"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())["parts"]

    with redis_cluster(tmp_path_factory.mktemp("small-cluster")) as addresses:
        config, _ = two_configs(redis_url, jobs_url=cluster_url(addresses))
        port, name = config["ops"]["port"], "redis cluster " + ",".join(addresses)
        with Stack(tmp_path_factory.mktemp("cluster-ready"), config).running(centrifugo=False):
            wait_until(lambda: ready()[0] == 200, 20, "ready")
            assert ready()[1][name] == {"ready": True, "state": "answers"}
            host, first = addresses[-1].split(":")
            subprocess.run(["redis-cli", "-h", host, "-p", first, "SHUTDOWN", "NOSAVE"], capture_output=True,
                           timeout=30)  # fmt: skip
            wait_until(lambda: ready()[0] == 503, 20, "not ready")
            assert ready()[1][name]["ready"] is False
            assert ready()[1][name]["state"].startswith("unreachable")


def job_runs(path: Path) -> collections.Counter[tuple[str, str]]:
    """How many times each (job id, hub) ran to its end."""
    text = path.read_text() if path.exists() else ""
    return collections.Counter((job, hub) for job, hub, _ in (line.split() for line in text.splitlines()))


async def eventually(predicate: Any, within: float, what: str) -> None:
    """``wait_until`` that keeps the event loop (and the clients' readers) running."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} not ready within {within}s")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("jobs_on", ["one-redis", "redis-cluster"])
async def test_sigterm_to_one_hub_under_load_finishes_its_calls_and_loses_no_job(
    jobs_on: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    out, started = tmp_path / "runs.txt", tmp_path / "started.txt"
    jobs_url = cluster_url(request.getfixturevalue("cluster_addresses")) if jobs_on == "redis-cluster" else ""
    with two_instances(redis_url, tmp_path_factory, jobs_url=jobs_url) as (a, b):
        async with Jobs(load(a.path, environ={}).jobs) as jobs:  # a producer outside both hubs
            ids = await jobs.push_many(
                [JobSpec("record", {"file": str(out), "sleep": 0.2}) for _ in range(200)]
            )
        await eventually(
            lambda: {hub for _, hub in job_runs(out)} == {"a", "b"}, 30, "both hubs running jobs"
        )
        async with AsyncExitStack() as exits:
            callers = [
                await exits.enter_async_context(RealtimeClient(b.ws_url, timeout=15)) for _ in range(8)
            ]
            for i, caller in enumerate(callers):
                await caller.connect(data={"user": f"caller-{i}"})
            calls = [
                asyncio.create_task(
                    caller.rpc("slow", {"file": str(started), "id": f"call-{i}", "sleep": 1.5})
                )
                for i, caller in enumerate(callers)
            ]
            await eventually(
                lambda: started.exists() and len(started.read_text().splitlines()) == 8, 15, "8 calls"
            )
            assert b.hub is not None
            b.hub.send_signal(signal.SIGTERM)
            done_at_sigterm = len({job for job, _ in job_runs(out)})
            assert done_at_sigterm < len(ids), "every job ran before the SIGTERM: the test proves nothing"
            replies = await asyncio.gather(*calls)
            # Every call hub B had accepted finished with its answer.
            assert replies == [{"hub": "b", "id": f"call-{i}"} for i in range(8)]
            assert await asyncio.to_thread(b.hub.wait, 30) == 0
            # Node B stays up without its hub: its clients' calls get the temporary error 100.
            with pytest.raises(ReplyError) as refused:
                await callers[0].rpc("whoami")
            assert (refused.value.code, refused.value.temporary) == (100, True)
        # New calls reach the other instance: a client reconnecting to node A gets hub A.
        async with RealtimeClient(a.ws_url, timeout=5) as late:
            await late.connect(data={"user": "late"})
            assert await late.rpc("whoami") == {"hub": "a"}
        # No job lost: hub A runs what hub B did not finish (claimed after claim_timeout).
        await eventually(lambda: {job for job, _ in job_runs(out)} >= set(ids), 60, "every job run")
    runs = job_runs(out)
    per_job = collections.Counter(job for job, _ in runs.elements())
    assert set(per_job) == set(ids)
    print(f"jobs done at the SIGTERM: {done_at_sigterm}; run twice: {sum(n > 1 for n in per_job.values())}")


NGINX_CONF = ROOT / "docs" / "deploy" / "nginx.conf"


@contextlib.contextmanager
def nginx(tmp: Path, hub_ports: list[int]) -> Iterator[int]:
    """docs/deploy/nginx.conf on a free port in front of ``hub_ports``, stopped by pid; its port."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        pytest.fail("nginx not found: `make test` installs it (apt-get install nginx)")
    port = free_port()
    text = NGINX_CONF.read_text()
    upstreams = "".join(f"        server 127.0.0.1:{p};\n" for p in hub_ports)
    text, n = re.subn(r"(?m)^ *server hub-\d+:9000;\n", "", text)
    assert n == 2, "docs/deploy/nginx.conf: expected the two example hub lines"
    text = text.replace("upstream hub_proxy {\n", "upstream hub_proxy {\n" + upstreams)
    text = text.replace("listen 9000;", f"listen 127.0.0.1:{port};")
    # Everything nginx writes goes to tmp (the packaged paths are the system's).
    private = "".join(
        f"    {key} {tmp / name};\n"
        for key, name in [("client_body_temp_path", "body"), ("proxy_temp_path", "proxy"),
                          ("fastcgi_temp_path", "fastcgi"), ("uwsgi_temp_path", "uwsgi"),
                          ("scgi_temp_path", "scgi")]
    )  # fmt: skip
    text = text.replace("http {\n", "http {\n    access_log off;\n" + private, 1)
    (tmp / "nginx.conf").write_text(text)
    directives = f"daemon off; pid {tmp / 'nginx.pid'}; error_log {tmp / 'error.log'} warn;"
    process = subprocess.Popen([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", directives],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None, 10, "nginx")
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited at start:\n{(tmp / 'error.log').read_text()}")
        yield port
    finally:
        stop(process)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class Calls:
    """Clients calling ``whoami`` in a loop, each call recorded with its answer or its error."""

    def __init__(self, clients: list[RealtimeClient]) -> None:
        self.clients = clients
        #: (started, finished, the hub that answered or the error)
        self.done: list[tuple[float, float, str]] = []
        self._stop = asyncio.Event()

    async def _loop(self, client: RealtimeClient) -> None:
        clock = asyncio.get_running_loop().time
        while not self._stop.is_set():
            start = clock()
            try:
                answer = (await client.rpc("whoami"))["hub"]
            except (ClientError, TimeoutError) as exc:
                answer = f"error: {exc!r}"
            self.done.append((start, clock(), answer))
            await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Calls]:
        async with asyncio.TaskGroup() as tasks:
            for client in self.clients:
                tasks.create_task(self._loop(client))
            try:
                yield self
            finally:
                self._stop.set()


async def test_behind_one_balanced_address_sigterm_moves_new_calls_to_the_other_hub(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Both nodes call nginx, which spreads the calls over both hubs; SIGTERM to hub B under load:
    the calls it accepted finish with its answers, every later call reaches hub A, none fails,
    and no job is lost."""
    out, started = tmp_path / "runs.txt", tmp_path / "started.txt"
    a_config, b_config = two_configs(redis_url)
    hub_a = Stack(tmp_path_factory.mktemp("lb-hub-a"), a_config, env={"SCALE_INSTANCE": "a"})
    hub_b = Stack(tmp_path_factory.mktemp("lb-hub-b"), b_config, env={"SCALE_INSTANCE": "b"})
    with ExitStack() as stack:
        stack.enter_context(hub_a.running(centrifugo=False))
        stack.enter_context(hub_b.running(centrifugo=False))
        balancer = stack.enter_context(
            nginx(tmp_path_factory.mktemp("nginx"), [c["proxy"]["http_port"] for c in (a_config, b_config)])
        )
        # Each node renders its config from its hub's hub.yaml with the balancer as the proxy's address
        # (in production: the same port on other machines, proxy.advertise_host naming the balancer).
        nodes = []
        for name, config in (("a", a_config), ("b", b_config)):
            node_config = copy.deepcopy(config)
            node_config["proxy"]["http_port"] = balancer
            node_config["ops"]["port"] = 0
            nodes.append(Stack(tmp_path_factory.mktemp(f"lb-node-{name}"), node_config))
            stack.enter_context(nodes[-1].running(hub=False))
        async with Jobs(load(hub_a.path, environ={}).jobs) as jobs:  # a producer outside both hubs
            ids = await jobs.push_many(
                [JobSpec("record", {"file": str(out), "sleep": 0.2}) for _ in range(200)]
            )
        async with AsyncExitStack() as exits:
            callers = []
            for i in range(8):
                caller = await exits.enter_async_context(RealtimeClient(nodes[i % 2].ws_url, timeout=15))
                await caller.connect(data={"user": f"caller-{i}"})
                callers.append(caller)
            # The balancer spreads each node's calls over both hubs.
            for node in (0, 1):
                answers = {(await callers[node].rpc("whoami"))["hub"] for _ in range(6)}
                assert answers == {"a", "b"}, f"node {'ab'[node]}'s calls reached {answers}"
            # Slow calls on four clients, spread over both hubs; the others call in a loop.
            slow = [
                asyncio.create_task(
                    caller.rpc("slow", {"file": str(started), "id": f"call-{i}", "sleep": 1.5})
                )
                for i, caller in enumerate(callers[:4])
            ]
            await eventually(
                lambda: started.exists() and len(started.read_text().splitlines()) == 4, 15, "4 calls"
            )
            accepted = dict(line.split() for line in started.read_text().splitlines())
            assert "b" in accepted.values(), f"no slow call reached hub B: {accepted}"
            async with Calls(callers[4:]).running() as load_calls:
                await eventually(lambda: len(load_calls.done) >= 20, 15, "calls under load")
                assert hub_b.hub is not None
                hub_b.hub.send_signal(signal.SIGTERM)
                signalled = asyncio.get_running_loop().time()
                done_at_sigterm = len({job for job, _ in job_runs(out)})
                replies = await asyncio.gather(*slow)
                # Every call a hub had accepted finished there, with its answer.
                assert replies == [{"hub": accepted[f"call-{i}"], "id": f"call-{i}"} for i in range(4)]
                assert await asyncio.to_thread(hub_b.hub.wait, 30) == 0
                exited = asyncio.get_running_loop().time()
                await eventually(
                    lambda: sum(start > exited for start, _, _ in load_calls.done) >= 40, 15, "more calls"
                )
            calls = load_calls.done
            assert not [c for c in calls if c[2].startswith("error")], "a call failed"
            assert {hub for start, _, hub in calls if start < signalled} == {"a", "b"}
            assert {hub for start, _, hub in calls if start > exited} == {"a"}
            # And after the load: a new client on either node gets hub A.
            for node in nodes:
                async with RealtimeClient(node.ws_url, timeout=5) as late:
                    await late.connect(data={"user": "late"})
                    assert await late.rpc("whoami") == {"hub": "a"}
        assert done_at_sigterm < len(ids), "every job ran before the SIGTERM: the test proves nothing"
        # No job lost: hub A runs what hub B did not finish (claimed after claim_timeout).
        await eventually(lambda: {job for job, _ in job_runs(out)} >= set(ids), 60, "every job run")
    print(
        f"calls under load: {len(calls)}, after hub B exited: {sum(start > exited for start, _, _ in calls)}"
    )


TOPOLOGIES = {
    "one": {"redis_url": "redis://127.0.0.1:6379/0", "redis_prefix": "app:rt"},
    "sharded": {"redis_addresses": ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]},
    "sentinel": {
        "redis_sentinel_addresses": ["10.0.0.1:26379", "10.0.0.2:26379"],
        "redis_sentinel_master": "main",
    },
    "cluster": {"redis_cluster_addresses": ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]},
}


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_each_redis_topology_passes_centrifugo_strict_check(tmp_path: Path, topology: str) -> None:
    config = stack_config(APP, "http", centrifugo={"engine": "redis", **TOPOLOGIES[topology]})
    (tmp_path / "hub.yaml").write_text(json.dumps(config))
    rendered = subprocess.run([str(HUB), "centrifugo", "config", "-c", str(tmp_path / "hub.yaml")], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    redis = json.loads(rendered.stdout)["engine"]["redis"]
    assert set(redis) & {"address", "sentinel_address", "cluster_address"}
    (tmp_path / "centrifugo.json").write_text(rendered.stdout)
    check = subprocess.run([str(find_binary()), "checkconfig", "--strict", "-c", str(tmp_path / "centrifugo.json")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stderr + check.stdout
