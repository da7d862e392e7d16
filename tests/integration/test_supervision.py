"""Supervision that cannot stop silently: the pool in this process, with faults injected.

The pool runs here (not behind `hub serve`) so a test can make spawning a worker
fail, as EMFILE or ENOMEM would; its workers are real processes serving real calls.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.errors import PoolError
from hub.pool import Pool, WorkerState
from hub.settings import load

from .pool_helpers import SECRET, rpc_body
from .servers import free_port

APP = "tests.integration.pool_app:app"


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "app": APP,
        "proxy": {"http_port": free_port(), "grpc_port": 0, "secret": SECRET},
        "centrifugo": {"api_key": "k" * 32, "token_secret": "t" * 32},
        "pool": {"workers": 2, "destroy_timeout": 2},
    }))  # fmt: skip
    async with Pool(load(config), config) as pool:
        yield pool


class SpawnFails:
    """Makes the next ``times`` worker spawns fail with EMFILE, as a process out of descriptors."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        self.left = times
        real: Callable[..., Awaitable[Any]] = asyncio.create_subprocess_exec

        async def spawn(*args: Any, **kwargs: Any) -> Any:
            if self.left > 0:
                self.left -= 1
                raise OSError(errno.EMFILE, "Too many open files")
            return await real(*args, **kwargs)

        monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn)


async def call_pid(pool: Pool) -> int:
    """One RPC straight to the pool's shared HTTP socket; the pid of the worker that answered."""
    port = pool.settings.proxy.http_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = rpc_body("pid", None)
    writer.write(
        b"POST /centrifugo/rpc HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"x-hub-proxy-secret: {SECRET}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )
    response = await reader.read()
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response
    return int(yaml.safe_load(payload)["result"]["data"])


def serving(pool: Pool) -> set[int]:
    return {w.pid for w in pool.workers if w.state.serving}


async def whole(pool: Pool, gone: set[int] = frozenset()) -> set[int]:  # type: ignore[assignment]
    async with asyncio.timeout(20):
        while len(serving(pool)) < pool.limits.size or serving(pool) & gone:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return serving(pool)


async def test_a_spawn_failure_stops_a_reset_with_a_clear_error_and_keeps_the_old_workers(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await whole(pool)
    SpawnFails(monkeypatch, times=1)
    with pytest.raises(PoolError, match=r"reset stopped: cannot start a worker: .*Too many open files"):
        await pool.reset()
    assert serving(pool) == old
    assert await call_pid(pool) in old
    done = await pool.reset()  # the next reset, with processes to be had, replaces them all
    assert done.replaced == 2
    assert not await whole(pool, gone=old) & old


async def test_a_failed_sighup_reset_is_logged_and_supervision_goes_on(
    pool: Pool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.pool")
    old = await whole(pool)
    SpawnFails(monkeypatch, times=1)
    pool.request_reset()  # what SIGHUP does
    async with asyncio.timeout(10):
        while not any("reset failed" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert "Too many open files" in next(
        r.getMessage() for r in caplog.records if "reset failed" in r.getMessage()
    )
    # Supervision still replaces a worker that dies.
    victim = min(old)
    os.kill(victim, signal.SIGKILL)
    assert victim not in await whole(pool, gone={victim})
    assert pool.replaced["crash"] == 1


async def test_a_spawn_failure_while_topping_up_is_retried(
    pool: Pool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hub.pool")
    old = await whole(pool)
    SpawnFails(monkeypatch, times=2)
    victim = min(old)
    os.kill(victim, signal.SIGKILL)
    now = await whole(pool, gone={victim})
    assert len(now) == 2
    failures = [r for r in caplog.records if "supervision step failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(w.state is not WorkerState.DEAD for w in pool.workers)
    assert await call_pid(pool) in now
