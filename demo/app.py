"""The demo application: chat rooms, client RPC, a private channel per user, a background job.

Sign-in (two ways, the page picks one):

- cookie: the web side (demo/web.py) sets a signed session cookie; Centrifugo forwards
  the ``Cookie`` header with the connect call (``proxy.forward_headers``) and
  :func:`connect` reads the user from it. The client never sends a user id.
- JWT: centrifuge-js's ``getToken`` asks the web side's token route for a connection
  token; Centrifugo checks it itself and does not call :func:`connect`.

Rooms are ``chat:NAME`` channels (history, recovery, presence, join/leave: demo/hub.yaml);
``chat:secret`` exists but is refused. Messages are sent by RPC ``chat.send`` (validated,
rate limited per user across every worker) and published by the hub. Each user is
subscribed server-side to ``personal:#NAME`` (Centrifugo's personal channel), which carries
their notifications: mentions, and the progress and result of ``chat.export``, a job that
reads a room's history through the server API and writes a file the web side serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hub import (
    App,
    ConnectRequest,
    ConnectResult,
    Disconnect,
    Error,
    RPCRequest,
    SubscribeRequest,
)
from hub.jobs import Job

from .ratelimit import RateLimit
from .session import user_of_header

app = App()

ROOMS = ("lobby", "python", "random")
#: Listed, but nobody may join: the page shows the refusal.
LOCKED = ("secret",)
MAX_LENGTH = 300
#: Files shared by every worker process: the rate limit's counts, the exports.
DATA = Path(os.environ.get("DEMO_DATA_DIR") or Path(tempfile.gettempdir()) / "hub-demo")
EXPORTS = DATA / "exports"
SENDS = RateLimit(
    DATA / "rate-limit.sqlite3",
    limit=int(os.environ.get("DEMO_SEND_LIMIT", "5")),
    window=float(os.environ.get("DEMO_SEND_WINDOW", "10")),
)
#: Lifetime of the connection JWTs of the token route (short, so the page shows refreshes).
TOKEN_TTL = float(os.environ.get("DEMO_TOKEN_TTL", "60"))
MENTION = re.compile(r"@([A-Za-z0-9_-]{1,24})")


def personal(user: str) -> str:
    """The user's private channel, to which Centrifugo subscribes every connection of theirs."""
    return f"personal:#{user}"


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult | Disconnect:
    """Cookie sign-in: the session cookie Centrifugo forwarded names the user."""
    user = user_of_header(request.headers.get("cookie"))
    if user is None:
        # 4501 is a terminal disconnect: the SDK does not retry without a new sign-in.
        return Disconnect(code=4501, reason="not signed in")
    return ConnectResult(user=user, info={"name": user})


@app.on_lifespan
@contextlib.asynccontextmanager
async def short_tokens(app: App) -> AsyncIterator[None]:
    """Each worker's minter makes short-lived tokens (the web side's token route uses it)."""
    app.tokens.ttl = TOKEN_TTL
    yield


@app.on_subscribe("chat")
async def join(request: SubscribeRequest) -> Error | None:
    room = request.channel.partition(":")[2]
    if room in LOCKED:
        return Error(code=403, message=f"room {room!r} is for staff only")
    return None if room in ROOMS else Error(code=404, message=f"no room {room!r}")


@app.rpc("chat.rooms")
def rooms(request: RPCRequest) -> list[dict[str, Any]]:
    return [{"name": room, "locked": False} for room in ROOMS] + [
        {"name": room, "locked": True} for room in LOCKED
    ]


def _room_of(data: Any) -> str | Error:
    room = data.get("room") if isinstance(data, dict) else None
    return room if room in ROOMS else Error(code=404, message=f"no room {room!r}")


@app.rpc("chat.send")
async def send(request: RPCRequest) -> dict[str, Any] | Error:
    """Validate, rate-limit, then publish through the hub (clients may not publish themselves)."""
    data = request.json()
    room = _room_of(data)
    if isinstance(room, Error):
        return room
    text = str(data.get("text", "")).strip()
    if not text:
        return Error(code=400, message="a message needs some text")
    if len(text) > MAX_LENGTH:
        return Error(code=400, message=f"a message is at most {MAX_LENGTH} characters, got {len(text)}")
    wait = await asyncio.to_thread(SENDS.hit, request.user)
    if wait:
        return Error(
            code=429,
            message=f"slow down: at most {SENDS.limit} messages in {SENDS.window:g}s; "
            f"try again in {wait:.0f}s",
        )
    message = {"text": text, "by": request.user, "at": int(time.time())}
    published = await app.publish(f"chat:{room}", message)
    for name in set(MENTION.findall(text)) - {request.user}:
        await app.publish(personal(name), {"type": "mention", "by": request.user, "room": room, "text": text})
    return {"offset": published.offset}


@app.rpc("chat.export")
async def export(request: RPCRequest) -> dict[str, str] | Error:
    """Push the export job; its progress and result arrive on the user's personal channel."""
    room = _room_of(request.json())
    if isinstance(room, Error):
        return room
    return {"job": await app.jobs.push("chat.export", {"user": request.user, "room": room})}


@app.job("chat.export")
async def build_export(job: Job) -> dict[str, Any]:
    """Read the room's history (server API), write it out, and report progress to the user."""
    user, room = job.payload["user"], job.payload["room"]
    channel = personal(user)

    async def progress(percent: int, **extra: Any) -> None:
        event = {"type": "export", "job": job.id, "room": room, "progress": percent}
        await job.publish(channel, {**event, **extra})

    await progress(0)
    history = await app.publisher.history(f"chat:{room}", limit=-1)
    publications = history.publications
    lines: list[str] = []
    for step in range(10):
        chunk = publications[step * len(publications) // 10 : (step + 1) * len(publications) // 10]
        lines += [json.dumps({"offset": p.offset, **p.data}) for p in chunk]
        await asyncio.sleep(0.05)  # the work a real export would do
        if step < 9:
            await progress((step + 1) * 10)
    folder = EXPORTS / user
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job.id}.jsonl").write_text("".join(line + "\n" for line in lines))
    url = f"/exports/{job.id}.jsonl"
    await progress(100, url=url, messages=len(publications))
    return {"messages": len(publications), "url": url}
