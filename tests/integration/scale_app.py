"""The application two hub instances run in the scale-out test.

Each instance's environment names it (``SCALE_INSTANCE``), so a reply or a job's
record tells which instance did the work.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from hub import App, ConnectRequest, ConnectResult, RPCRequest, SubscribeRequest
from hub.jobs import Job

app = App()


def instance() -> str:
    return os.environ.get("SCALE_INSTANCE", "?")


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult:
    user = (request.json() or {}).get("user", "anonymous")
    return ConnectResult(user=user, info={"hub": instance()})


@app.on_subscribe("room")
async def subscribe(request: SubscribeRequest) -> None:
    return None


@app.rpc("whoami")
async def whoami(request: RPCRequest) -> dict[str, Any]:
    return {"hub": instance()}


@app.rpc("announce")
async def announce(request: RPCRequest) -> dict[str, Any]:
    """Publish through this instance's publisher (its own Centrifugo node's server API)."""
    data = request.json()
    published = await app.publish(data["channel"], {"text": data["text"], "hub": instance()})
    return {"hub": instance(), "offset": published.offset}


@app.rpc("slow")
async def slow(request: RPCRequest) -> dict[str, Any]:
    """Note the call's start in a file, then take a while: a call in flight for a shutdown test."""
    data = request.json()
    with open(data["file"], "a") as f:  # noqa: ASYNC230 (one small append)
        f.write(f"{data['id']} {instance()}\n")
    await asyncio.sleep(data["sleep"])
    return {"hub": instance(), "id": data["id"]}


@app.rpc("enqueue")
async def enqueue(request: RPCRequest) -> dict[str, Any]:
    data = request.json()
    job_id = await app.jobs.push("record", {"file": data["file"]}, job_id=data["id"])
    return {"hub": instance(), "id": job_id}


@app.job("record")
def record(job: Job) -> dict[str, Any]:  # sync: runs in a thread
    time.sleep(job.payload.get("sleep", 0))
    if job.attempt < job.payload.get("succeed_at", 1):
        raise RuntimeError(f"not yet (attempt {job.attempt} on {instance()})")
    with open(job.payload["file"], "a") as f:  # one small O_APPEND write per line: lines never mix
        f.write(f"{job.id} {instance()} {os.getpid()}\n")
    return {"hub": instance()}
