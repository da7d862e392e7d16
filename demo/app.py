"""The demo application: chat rooms with presence and history, client RPC, a background job.

Clients connect with ``{"user": "alice"}`` as connect data (no token needed);
they may subscribe to ``chat:*`` rooms and publish into them (messages are
stamped with their author), and call ``chat.rooms`` and ``echo``. ``report.start``
pushes a ``report.build`` job (memory pipeline: no Redis needed), which runs in a
pooled worker and streams its progress to ``progress:USER``, a channel only that
user may subscribe to.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hub import (
    App,
    ConnectRequest,
    ConnectResult,
    Disconnect,
    Error,
    PublishRequest,
    PublishResult,
    RPCRequest,
    SubscribeRequest,
)
from hub.jobs import Job

app = App()
ROOMS = ("lobby", "python", "random")


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult | Error | Disconnect:
    data = request.json() or {}
    user = str(data.get("user", "")).strip()
    if not user:
        return Error(code=401, message="send {'user': NAME} as connect data")
    if user == "banned":
        return Disconnect(code=4501, reason="banned")
    return ConnectResult(user=user, info={"name": user, "since": int(time.time())})


@app.on_subscribe("chat")
async def subscribe(request: SubscribeRequest) -> Error | None:
    room = request.channel.partition(":")[2]
    return None if room in ROOMS else Error(code=404, message=f"no room {room!r}")


@app.on_publish("chat")
async def publish(request: PublishRequest) -> PublishResult | Error:
    message = request.json()
    if not isinstance(message, dict) or not str(message.get("text", "")).strip():
        return Error(code=400, message="a message is {'text': '...'}")
    return PublishResult(data={"text": str(message["text"])[:500], "by": request.user})


@app.rpc("chat.rooms")
def rooms(request: RPCRequest) -> list[str]:
    return list(ROOMS)


@app.rpc("chat.wave")
async def wave(request: RPCRequest) -> dict[str, Any]:
    """Server-side publish from a handler: the hub publisher, opened in this worker."""
    room = str((request.json() or {}).get("room", "lobby"))
    if room not in ROOMS:
        return {"waved": False}
    published = await app.publish(f"chat:{room}", {"text": "*waves*", "by": request.user})
    return {"waved": True, "offset": published.offset}


@app.rpc("echo")
async def echo(request: RPCRequest) -> Any:
    return request.json()


@app.on_subscribe("progress")
async def own_progress(request: SubscribeRequest) -> Error | None:
    """``progress:alice`` is alice's alone."""
    return None if request.channel == f"progress:{request.user}" else Error(code=403, message="not yours")


@app.rpc("report.start")
async def start_report(request: RPCRequest) -> dict[str, str]:
    """Push a background job from a handler; the client follows it on its progress channel."""
    return {"job": await app.jobs.push("report.build", {"user": request.user})}


@app.job("report.build")
async def build_report(job: Job) -> dict[str, int]:
    for percent in (25, 50, 75, 100):
        await asyncio.sleep(0.05)  # the work
        await job.publish(f"progress:{job.payload['user']}", {"job": job.id, "progress": percent})
    return {"pages": 4}
