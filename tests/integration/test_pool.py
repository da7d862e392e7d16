"""The worker pool with real processes: `hub serve`, its workers and a real Centrifugo.

Assertions are on what clients see and on the pool's own report (the control
socket behind `hub workers`), never on wall-clock timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from hub.clients import RealtimeClient, ReplyError
from hub.pool.control import control_path
from hub.pool.supervisor import migrates_queued_connections

from .pool_helpers import Burst, connection, direct_rpc, once, serving, status, wait_for
from .servers import HUB, ROOT, Stack, stack_config

APP = "tests.integration.pool_app:app"
#: While this file exists, importing the pool app fails (a broken deploy).
BROKEN = Path(tempfile.gettempdir()) / f"hub-test-broken-deploy-{os.getpid()}"
ENV = {"HUB_TEST_BROKEN_DEPLOY": str(BROKEN)}
CONFIG = {
    "pool": {"workers": 2, "exec_timeout": 1.5, "max_memory": 150, "destroy_timeout": 3},
    "centrifugo": {"namespaces": {"news": {"public": True}}},
}
TEMPORARY = (100, True)


def full(stack: Stack, gone: set[int] = frozenset()) -> dict[str, object]:  # type: ignore[assignment]
    """Wait until the pool serves with all its workers again, none of them in ``gone``."""
    return wait_for(stack, lambda s: len(serving(s)) == s["size"] and not gone & set(serving(s)))


def hub(stack: Stack, verb: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HUB), verb, "-c", str(stack.path)], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.any_transport
def test_hub_workers_prints_one_row_per_worker(stack: Stack) -> None:
    pids = serving(full(stack))
    out = hub(stack, "workers")
    assert out.returncode == 0, out.stderr
    header, *rows, summary = out.stdout.splitlines()
    assert header.split() == ["PID", "STATE", "CALLS", "RUNNING", "WAITING", "MEMORY", "AGE"]
    assert sorted(int(r.split()[0]) for r in rows) == sorted(pids)
    assert summary.startswith("2 of 2 workers")


@pytest.mark.any_transport
async def test_handlers_in_workers_publish_through_their_own_publisher(stack: Stack) -> None:
    async with RealtimeClient(stack.ws_url) as listener, RealtimeClient(stack.ws_url) as caller:
        await listener.connect(data={"user": "listener"})
        await listener.subscribe("news:pool")
        await caller.connect(data={"user": "caller"})
        pids = {await caller.rpc("announce", "async"), await caller.rpc("announce.sync", "sync")}
        received = [await asyncio.wait_for(listener.pushes.get(), 5) for _ in range(2)]
    assert sorted(p.body["data"]["text"] for p in received) == ["async", "sync"]
    assert {p.body["data"]["from"] for p in received} == pids
    assert pids <= set(serving(status(stack)))  # published by the pooled workers themselves


async def test_kill_9_during_a_burst_fails_only_calls_on_that_worker(stack: Stack) -> None:
    before = status(stack)["replaced"].get("crash", 0)
    async with Burst(stack, clients=8) as burst:
        await burst.until(successes=40)
        victim = burst.pids[-1]
        os.kill(victim, signal.SIGKILL)
        s = await asyncio.to_thread(full, stack, {victim})
        served_after = len(burst.pids)
        await burst.until(successes=40)
    assert s["replaced"]["crash"] == before + 1
    assert victim not in burst.pids[served_after:]
    assert set(burst.errors) <= {TEMPORARY}  # anything not served was refused loudly, and retried
    assert burst.hung == 0
    if stack.config["proxy"]["transport"] == "http" or migrates_queued_connections():
        # At most the calls in flight on the killed worker (one per client) failed.
        assert burst.errors.total() <= burst.clients
    # Else, over gRPC, Centrifugo's reconnect may land in the dying worker's listening socket:
    # Linux resets it, and grpc-go backs off for a second (docs/architecture.md, "a crash").


async def test_an_endless_handler_is_answered_and_its_worker_replaced(stack: Stack) -> None:
    before = status(stack)["replaced"].get("exec_timeout", 0)
    pids = set(serving(full(stack)))
    async with RealtimeClient(stack.ws_url, timeout=10) as client:
        await client.connect(data={"user": "looper"})
        with pytest.raises(ReplyError) as exc:
            await client.rpc("loop")
        assert (exc.value.code, exc.value.temporary) == TEMPORARY
        s = await asyncio.to_thread(wait_for, stack, lambda s: s["replaced"].get("exec_timeout", 0) > before)
        s = await asyncio.to_thread(full, stack, pids - set(serving(s)) or set())
        assert len(pids & set(serving(s))) == 1  # exactly one worker was replaced
        assert await client.rpc("pid") in serving(s)


async def test_a_worker_stuck_in_a_thread_leaves_as_soon_as_nothing_is_in_flight(stack: Stack) -> None:
    """Answered by the exec timeout, the worker exits by itself: no kill, no waiting for the thread."""
    before = status(stack)["replaced"].get("exec_timeout", 0)
    async with RealtimeClient(stack.ws_url, timeout=10) as client:
        await client.connect(data={"user": "stuck"})
        with pytest.raises(ReplyError) as exc:
            await client.rpc("stuck", 60)
        assert (exc.value.code, exc.value.temporary) == TEMPORARY
        s = await asyncio.to_thread(wait_for, stack, lambda s: s["replaced"].get("exec_timeout", 0) > before)
    log = stack.log_text()
    gone = re.findall(r"pool: worker (\d+) exited \(exec_timeout\)", log)
    assert gone, log[-2000:]
    assert f"killing worker {gone[-1]}" not in log
    assert int(gone[-1]) not in serving(s)


async def test_a_worker_leaving_after_an_exec_timeout_answers_every_call_under_load(stack: Stack) -> None:
    """Issue 8, fault 2: while a worker recycles, no call already on its connections is reset."""
    before = status(stack)["replaced"].get("exec_timeout", 0)
    async with Burst(stack, clients=8) as burst, RealtimeClient(stack.ws_url, timeout=10) as stuck:
        await burst.until(successes=40)
        await stuck.connect(data={"user": "stuck"})
        for n in (1, 2):  # two recycles under load, one after the other
            with pytest.raises(ReplyError) as exc:
                await stuck.rpc("stuck", 30)
            assert (exc.value.code, exc.value.temporary) == TEMPORARY
            # The worker counts as replaced once it has exited (after its drain); over gRPC,
            # until then, Centrifugo's connection may still bring calls to it.
            await asyncio.to_thread(
                wait_for, stack, lambda s, n=n: s["replaced"].get("exec_timeout", 0) >= before + n
            )
            await asyncio.to_thread(full, stack)
            await burst.until(successes=40)
    assert burst.hung == 0
    assert burst.errors.total() == 0  # the burst's own calls never failed


async def test_after_a_replacement_the_new_worker_gets_its_share_of_calls(stack: Stack) -> None:
    """Centrifugo's keep-alive connections move (http_connection_ttl, grpc_connection_ttl)."""
    old = set(serving(full(stack)))
    async with Burst(stack, clients=8) as burst:
        await burst.until(successes=40)
        victim = burst.pids[-1]
        os.kill(victim, signal.SIGKILL)
        s = await asyncio.to_thread(full, stack, {victim})
        (newcomer,) = set(serving(s)) - old
        await asyncio.to_thread(
            wait_for, stack,
            lambda s: any(w["pid"] == newcomer and w["served"] > 20 for w in s["workers"]),
            within=30, what=f"worker {newcomer} serving calls",
        )  # fmt: skip
    assert burst.pids.count(newcomer) > 20


async def test_a_memory_hog_is_recycled_after_its_call(stack: Stack) -> None:
    before = status(stack)["replaced"].get("max_memory", 0)
    async with RealtimeClient(stack.ws_url, timeout=10) as client:
        await client.connect(data={"user": "hog"})
        hog = await client.rpc("hog", 200)  # the call itself succeeds
        s = await asyncio.to_thread(wait_for, stack, lambda s: s["replaced"].get("max_memory", 0) > before)
        await asyncio.to_thread(full, stack, {hog})
        assert hog not in serving(status(stack))
        assert await client.rpc("pid") != hog
    assert s["replaced"]["max_memory"] == before + 1


@pytest.mark.any_transport
def test_state_does_not_leak_between_workers(stack: Stack, tmp_path: Path) -> None:
    full(stack)
    flag = tmp_path / "blocked"
    block = (
        b'{"client":"c","user":"u","method":"block","data":{"flag":"%s","seconds":1.0}}' % str(flag).encode()
    )
    first = connection(stack)
    try:
        status_code, a = direct_rpc(first, "remember", "only-in-a")
        assert status_code == 200
        # The same keep-alive connection reaches the same worker A; its handler then blocks
        # A's event loop, so a new connection can only be taken by worker B.
        first.request(
            "POST", "/centrifugo/rpc", headers={"x-hub-proxy-secret": "test-proxy-secret"}, body=block
        )
        wait_for(stack, lambda s: flag.exists(), what="the block call")
        assert int(flag.read_text()) == a
        _, other = once(stack, "recall")
        assert other["pid"] != a
        assert other["value"] is None
        assert json.loads(first.getresponse().read()) == {"result": {"data": a}}
        assert direct_rpc(first, "recall") == (200, {"pid": a, "value": "only-in-a"})
    finally:
        first.close()


async def test_reset_under_load_fails_no_call(stack: Stack) -> None:
    old = set(serving(full(stack)))
    async with Burst(stack, clients=8) as burst:
        await burst.until(successes=20)
        reset = await asyncio.to_thread(hub, stack, "reset")
        await burst.until(successes=20)
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == "replaced 2 workers"
    assert not old & set(serving(status(stack)))
    assert burst.hung == 0
    assert burst.errors.total() == 0


@pytest.mark.any_transport
def test_sighup_replaces_every_worker(stack: Stack) -> None:
    assert stack.hub is not None
    old = set(serving(full(stack)))
    before = status(stack)["replaced"].get("reset", 0)
    stack.hub.send_signal(signal.SIGHUP)
    s = wait_for(stack, lambda s: s["replaced"].get("reset", 0) == before + len(old))
    s = full(stack, old)
    assert not old & {w["pid"] for w in s["workers"]}
    assert once(stack, "pid")[0] == 200


@pytest.mark.any_transport
def test_a_reset_to_code_that_cannot_import_keeps_the_old_workers(stack: Stack) -> None:
    old = serving(full(stack))
    before = status(stack)["replaced"].get("start_failed", 0)
    BROKEN.touch()
    try:
        reset = hub(stack, "reset")
    finally:
        BROKEN.unlink()
    assert reset.returncode == 2
    assert "exited at start" in reset.stderr
    s = status(stack)
    assert sorted(serving(s)) == sorted(old)
    assert s["replaced"]["start_failed"] == before + 1
    code, pid = once(stack, "pid")
    assert code == 200
    assert pid in old


async def test_sigterm_under_load_loses_no_accepted_call(stack: Stack) -> None:
    """Runs last in this module: it stops the stack's hub."""
    assert stack.hub is not None
    workers = serving(full(stack))
    async with contextlib.AsyncExitStack() as clients:
        slow = []
        for i in range(4):  # one slow call per client: Centrifugo runs a client's RPCs in turn
            client = await clients.enter_async_context(RealtimeClient(stack.ws_url, timeout=10))
            await client.connect(data={"user": f"slow-{i}"})
            slow.append(asyncio.create_task(client.rpc("work", 1.0)))
        await asyncio.to_thread(wait_for, stack, lambda s: sum(w["running"] for w in s["workers"]) == 4)
        async with Burst(stack, clients=4) as burst:
            await burst.until(successes=10)
            stack.hub.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(stack.hub.wait, 15)
            await asyncio.sleep(0.5)  # calls after the hub has gone fail loudly
        answered = await asyncio.gather(*slow)
    assert code == 0
    assert set(answered) <= set(workers)  # in-flight calls finished
    assert set(burst.errors) <= {TEMPORARY}  # anything not served was refused loudly
    assert burst.errors.total() > 0
    assert burst.hung == 0
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in workers)


# -- limits that need a small pool of their own (no Centrifugo: calls go to the proxy directly) --


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    pool = {"workers": 1, "concurrency": 1, "max_queue": 1, "allocate_timeout": 0.5,
            "max_calls": 4, "max_calls_jitter": 0}  # fmt: skip
    s = Stack(tmp_path_factory.mktemp("small"), stack_config(APP, "http", pool=pool))
    with s.running(centrifugo=False):
        yield s


def test_allocate_timeout_and_max_queue_under_saturation(small: Stack) -> None:
    conns = [connection(small) for _ in range(3)]
    try:
        full(small)
        running, waiting, refused = conns
        running.request("POST", "/centrifugo/rpc", headers={"x-hub-proxy-secret": "test-proxy-secret"},
                        body=b'{"client":"c","user":"u","method":"work","data":1.5}')  # fmt: skip
        wait_for(small, lambda s: s["workers"][0]["running"] == 1, what="one running call")
        waiting.request("POST", "/centrifugo/rpc", headers={"x-hub-proxy-secret": "test-proxy-secret"},
                        body=b'{"client":"c","user":"u","method":"pid"}')  # fmt: skip
        wait_for(small, lambda s: s["workers"][0]["waiting"] == 1, what="one waiting call")
        code, error = direct_rpc(refused, "pid")
        assert (code, error) == (503, "worker queue full (1 calls waiting)")
        response = waiting.getresponse()
        assert response.status == 503
        assert b"no free slot within the allocate timeout (0.5s)" in response.read()
        response = running.getresponse()
        assert response.status == 200
        response.read()
    finally:
        for c in conns:
            c.close()


def test_max_calls_recycles_workers(small: Stack) -> None:
    before = full(small)["replaced"].get("max_calls", 0)
    pids = []
    for i in range(12):
        try:
            pids.append(once(small, "pid")[1])
        except ConnectionError as exc:
            raise AssertionError(f"call {i} after {pids} at {time.time()}") from exc
    counts = {p: pids.count(p) for p in pids}
    assert max(counts.values()) <= 4
    assert len(counts) >= 3
    assert status(small)["replaced"]["max_calls"] >= before + 2


def test_a_reset_after_editing_hub_yaml_keeps_the_settings_the_service_runs_with(small: Stack) -> None:
    """Documented: a reset reloads the app's code, not the config (docs/architecture.md)."""
    old = set(serving(full(small)))
    original = small.path.read_text()
    edited = yaml.safe_load(original)
    edited["proxy"]["secret"] = "a-new-secret-nobody-rendered-for-centrifugo"
    small.path.write_text(yaml.safe_dump(edited))
    try:
        reset = hub(small, "reset")
    finally:
        small.path.write_text(original)
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == "replaced 1 workers"
    assert "changed since the service started: a reset reloads the app's code, not the config" in reset.stderr
    new = set(serving(full(small, old)))
    assert not new & old
    assert once(small, "pid") == (200, new.pop())  # the old secret, which Centrifugo still sends, works


def test_a_malformed_control_request_is_refused_and_the_service_goes_on(small: Stack) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(control_path(small.path)))
        s.sendall(b'{"t": "shutdown"}\n')
        reply = s.makefile("rb").readline()
    assert reply.startswith(b'{"t":"refused","error":"malformed control request')
    assert b"expected a workers or reset request" in reply
    out = hub(small, "workers")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith("1 of 1 workers")


def _listening_inode(port: int) -> str:
    """The inode of the socket listening on 127.0.0.1:``port`` (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
            return fields[9]
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def _holds(pid: int, inode: str) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fd) == f"socket:[{inode}]" for fd in fds.iterdir() if fd.is_symlink())


def test_sigterm_answers_the_calls_the_kernel_had_queued(tmp_path: Path) -> None:
    """Calls sent on connections the kernel accepted but no worker had taken yet (a load
    balancer has sent its POST and cannot move it elsewhere) are answered, not reset.

    The worker is stopped (SIGSTOP) while the calls queue up and until the supervisor has
    begun the shutdown and closed its own copy of the listening socket."""
    config = stack_config(APP, "http", pool={"workers": 1, "destroy_timeout": 5})
    s = Stack(tmp_path, config)
    with s.running(centrifugo=False):
        assert s.hub is not None
        (worker,) = serving(full(s))
        port = s.config["proxy"]["http_port"]
        inode = _listening_inode(port)
        body = b'{"client":"c","user":"u","method":"pid"}'
        request = (
            b"POST /centrifugo/rpc HTTP/1.1\r\nhost: hub\r\nx-hub-proxy-secret: test-proxy-secret\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        queued = []
        os.kill(worker, signal.SIGSTOP)
        try:
            for _ in range(8):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(request)
                queued.append(sock)
            s.hub.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _holds(s.hub.pid, inode):
                assert time.monotonic() < deadline, "the supervisor kept its copy of the listening socket"
                time.sleep(0.01)
        finally:
            os.kill(worker, signal.SIGCONT)
        answers = []
        for sock in queued:
            with sock, sock.makefile("rb") as reply:
                answers.append((reply.readline().strip(), json.loads(reply.read().split(b"\r\n\r\n", 1)[1])))
        assert answers == [(b"HTTP/1.1 200 OK", {"result": {"data": worker}})] * 8
        assert s.hub.wait(15) == 0
