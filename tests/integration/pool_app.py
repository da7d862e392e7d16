"""The application the pool suite runs: handlers that crash, hang, leak or keep state."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from hub import App, ConnectRequest, ConnectResult, RPCRequest

if Path(os.environ.get("HUB_TEST_BROKEN_DEPLOY", "/nonexistent")).exists():
    raise RuntimeError("a broken deploy: this module cannot be imported")

app = App()
#: Per-process state: proves what one worker remembers never reaches another.
STATE: dict[str, Any] = {}
#: Memory a handler keeps on purpose, so its worker goes over the RSS limit.
HOARD: list[bytes] = []


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult:
    return ConnectResult(user=(request.json() or {}).get("user", "anon"))


#: An application metric, counted in whichever worker serves the call.
HITS = app.metrics.counter("test_hits", "Calls of the hit RPC, by who asked.", ["who"])


@app.rpc("hit")
async def hit(request: RPCRequest) -> int:
    HITS.labels(request.user).inc()
    return os.getpid()


@app.job("tick")
async def tick(job: Any) -> int:
    """A job run in whichever worker fetches it."""
    return os.getpid()


@app.rpc("pid")
async def pid(request: RPCRequest) -> int:
    return os.getpid()


@app.rpc("work")
async def work(request: RPCRequest) -> int:
    await asyncio.sleep(request.json() or 0)
    return os.getpid()


@app.rpc("loop")
async def loop(request: RPCRequest) -> None:
    while True:  # never yields: only the supervisor's exec timeout can end it
        pass


@app.rpc("stuck")
def stuck(request: RPCRequest) -> int:
    """A sync handler stuck in its thread far past the exec timeout (nothing can stop a thread)."""
    time.sleep(request.json())
    return os.getpid()


@app.rpc("hog")
async def hog(request: RPCRequest) -> int:
    HOARD.append(b"x" * (int(request.json()) << 20))
    return os.getpid()


@app.rpc("remember")
async def remember(request: RPCRequest) -> int:
    STATE["value"] = request.json()
    return os.getpid()


@app.rpc("recall")
async def recall(request: RPCRequest) -> dict[str, Any]:
    return {"pid": os.getpid(), "value": STATE.get("value")}


@app.rpc("block")
async def block(request: RPCRequest) -> int:
    data = request.json()
    flag = Path(data["flag"])
    # Written aside then renamed (atomic): the test never reads it half-written.
    flag.with_suffix(".tmp").write_text(str(os.getpid()))
    flag.with_suffix(".tmp").rename(flag)
    time.sleep(data["seconds"])  # noqa: ASYNC251 - blocks this worker's loop: it accepts nothing meanwhile
    return os.getpid()


@app.rpc("announce")
async def announce(request: RPCRequest) -> int:
    """Publish from inside a worker, through that worker's own publisher."""
    await app.publish("news:pool", {"from": os.getpid(), "text": request.json()})
    return os.getpid()


@app.rpc("announce.sync")
def announce_sync(request: RPCRequest) -> int:
    """The same from a sync handler (a thread of the worker)."""
    app.publish_sync("news:pool", {"from": os.getpid(), "text": request.json()})
    return os.getpid()
