"""`hub serve --centrifugo`: the Centrifugo child is watched, restarted, never orphaned, never stale.

Issue 8, fault 5: (a) a Centrifugo that dies is logged and started again; (b) a hub killed
with SIGKILL takes its Centrifugo with it and leaves no config with secrets behind;
(c) a server already answering on Centrifugo's port is never taken for the hub's own.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hub.clients import RealtimeClient

from .servers import HUB, ROOT, Stack, stack_config, wait_until

APP = "tests.integration.proxy_app:app"


def centrifugo_children(hub: subprocess.Popen[bytes]) -> list[psutil.Process]:
    with_children = psutil.Process(hub.pid).children(recursive=True)
    return [p for p in with_children if p.name() == "centrifugo"]


def port_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def configs_of(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"hub-centrifugo-{pid}-*.json"))


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Stack]:
    """`hub serve --centrifugo` (handlers inline: one process less on a small machine)."""
    with Stack(tmp_path, stack_config(APP, "http", pool={"workers": 0})).serving_with_centrifugo() as stack:
        yield stack


async def rpc_works(stack: Stack) -> None:
    async with RealtimeClient(stack.ws_url) as client:
        await client.connect(data={"user": "after"})
        assert await client.rpc("echo", 1) == {"echo": 1, "user": "after"}


def test_a_centrifugo_that_dies_is_logged_and_started_again(serving: Stack) -> None:
    assert serving.hub is not None
    (first,) = centrifugo_children(serving.hub)
    first.kill()
    wait_until(lambda: "centrifugo running again" in serving.log_text(), 30, "centrifugo restarted")
    (second,) = centrifugo_children(serving.hub)
    assert second.pid != first.pid
    log = serving.log_text()
    assert f"centrifugo (pid {first.pid}) exited with status -9" in log
    asyncio.run(rpc_works(serving))


def test_a_hub_killed_with_sigkill_takes_its_centrifugo_and_leaves_no_config(serving: Stack) -> None:
    assert serving.hub is not None
    (child,) = centrifugo_children(serving.hub)
    # Deleted once Centrifugo read it: nothing with secrets waits on disk for a SIGKILL.
    assert configs_of(serving.hub.pid) == []
    serving.hub.send_signal(signal.SIGKILL)
    serving.hub.wait()
    wait_until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, 30, "orphan gone")
    wait_until(lambda: port_free(serving.config["centrifugo"]["port"]), 30, "centrifugo's port free")
    assert configs_of(serving.hub.pid) == []


@pytest.fixture
def impostor() -> Iterator[int]:
    """Some other server on a port, answering /health with 200 like a Centrifugo would."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_already_on_centrifugos_port_is_not_taken_for_ours(tmp_path: Path, impostor: int) -> None:
    config = stack_config(APP, "http", pool={"workers": 0})
    config["centrifugo"]["port"] = impostor
    stack = Stack(tmp_path, config)
    stack.write()
    result = subprocess.run(
        [HUB, "serve", "--centrifugo", "-c", str(stack.path)], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "hub ready" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"hub: centrifugo.port: cannot listen on 127.0.0.1:{impostor}: Address already in use"
    ]


def test_beside_its_centrifugo_the_default_pool_leaves_it_a_core(tmp_path: Path) -> None:
    """No `pool.workers`: one worker per core less one, said in the log, and it serves."""
    cores = len(os.sched_getaffinity(0))
    expected = max(cores - 1, 1)
    with Stack(tmp_path, stack_config(APP, "http")).serving_with_centrifugo() as stack:
        assert stack.hub is not None
        line = f"pool: {expected} worker(s) on {cores} core(s), one left to Centrifugo"
        assert line in stack.log_text()
        wait_until(lambda: "workers ready" in stack.log_text(), 30, "the pool ready")
        hub = psutil.Process(stack.hub.pid)
        workers = [p for p in hub.children() if p.name() != "centrifugo"]
        assert len(workers) == expected, [(p.pid, p.name(), p.cmdline()) for p in workers]
        asyncio.run(rpc_works(stack))
