"""The worker's executor: concurrency slots, a bounded queue, allocate and exec timeouts."""

from __future__ import annotations

import asyncio

import pytest

from hub import App, RPCRequest
from hub.pool.executors import SlotExecutor
from hub.pool.settings import PoolSettings
from hub.proxy import CallFailed, Overloaded

app = App()
#: The "wait" handler's release, made anew in each test's event loop.
gates: list[asyncio.Event] = []


@app.rpc("wait")
async def wait(request: RPCRequest) -> str:
    await gates[-1].wait()
    return "done"


@app.rpc("fast")
async def fast(request: RPCRequest) -> str:
    return "fast"


def call(method: str) -> RPCRequest:
    return RPCRequest(client="c", user="u", method=method)


def executor(
    settings: PoolSettings, max_calls: int = 0, exec_timeout: float = 5.0
) -> tuple[SlotExecutor, list[str]]:
    reasons: list[str] = []
    ex = SlotExecutor(app, settings, exec_timeout=exec_timeout, max_calls=max_calls, on_limit=reasons.append)
    return ex, reasons


async def test_a_full_queue_refuses_at_once_and_a_waiting_call_times_out() -> None:
    gates.append(gate := asyncio.Event())
    ex, _ = executor(PoolSettings(concurrency=1, max_queue=1, allocate_timeout=0.05))
    running = asyncio.create_task(ex.handle(call("wait")))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(ex.handle(call("fast")))
    await asyncio.sleep(0)
    assert (len(ex.running), ex.waiting) == (1, 1)
    with pytest.raises(Overloaded, match="queue full"):
        await ex.handle(call("fast"))
    with pytest.raises(Overloaded, match="allocate timeout"):
        await waiting
    gate.set()
    assert (await running).data == "done"  # type: ignore[union-attr]
    assert (ex.served, ex.waiting, ex.oldest()) == (1, 0, None)


async def test_exec_timeout_fails_the_call_and_asks_the_worker_to_leave() -> None:
    gates.append(asyncio.Event())
    ex, reasons = executor(PoolSettings(), exec_timeout=0.05)
    with pytest.raises(CallFailed, match="exec timeout"):
        await ex.handle(call("wait"))
    assert reasons == ["exec_timeout"]
    assert ex.running == {}


async def test_max_calls_asks_to_leave_once() -> None:
    ex, reasons = executor(PoolSettings(), max_calls=3)
    for _ in range(5):
        await ex.handle(call("fast"))
    assert reasons == ["max_calls"]
    assert ex.served == 5  # calls already on open connections are still served while leaving
