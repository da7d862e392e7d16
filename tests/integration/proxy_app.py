"""The application the proxy suite runs: one handler per behaviour a test checks."""

from __future__ import annotations

import os
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
    RefreshRequest,
    RefreshResult,
    RPCRequest,
    SubRefreshRequest,
    SubRefreshResult,
    SubscribeRequest,
    SubscribeResult,
)

app = App()
#: Per-process state: tests read it back to prove calls reached (or did not reach) the app.
CALLS: dict[str, int] = {}


def _count(kind: str) -> None:
    CALLS[kind] = CALLS.get(kind, 0) + 1


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult | Error | Disconnect:
    _count("connect")
    data = request.json() or {}
    user = data.get("user", "")
    if user == "rejected":
        return Error(code=403, message="not welcome")
    if user == "kicked":
        return Disconnect(code=4501, reason="go away")
    if user == "crash":
        raise RuntimeError("connect handler crashed")
    expire_at = int(time.time()) + data["ttl"] if "ttl" in data else 0
    info = {"name": user, "device": request.headers.get("x-device", "")}
    return ConnectResult(user=user, info=info, expire_at=expire_at, meta={"tier": "gold"})


@app.on_refresh
async def refresh(request: RefreshRequest) -> RefreshResult:
    _count("refresh")
    return RefreshResult(expire_at=int(time.time()) + 60, info={"name": request.user, "refreshed": True})


@app.on_subscribe("open", "sec*")
async def subscribe(request: SubscribeRequest) -> SubscribeResult | Error | None:
    _count("subscribe")
    if request.channel == "secret:vault":
        return Error(code=403, message="vault is closed")
    if request.channel == "secret:expiring":
        return SubscribeResult(expire_at=int(time.time()) + 1, info={"round": 0})
    return SubscribeResult(info={"meta": request.connection_meta()})


@app.on_sub_refresh("secret")
def sub_refresh(request: SubRefreshRequest) -> SubRefreshResult:
    _count("sub_refresh")
    return SubRefreshResult(expire_at=int(time.time()) + 60, info={"round": 1})


@app.on_publish("open")
async def publish(request: PublishRequest) -> PublishResult | Error | None:
    _count("publish")
    data = request.json()
    if data.get("text") == "forbidden":
        return Error(code=400, message="watch your language")
    if data.get("rewrite"):
        return PublishResult(data={"text": data["text"].upper(), "by": request.user})
    return None


@app.rpc("echo")
async def echo(request: RPCRequest) -> Any:
    return {"echo": request.json(), "user": request.user}


@app.rpc("sync.pid")
def pid(request: RPCRequest) -> int:
    return os.getpid()


@app.rpc("teapot")
async def teapot(request: RPCRequest) -> Error:
    return Error(code=418, message="I'm a teapot")


@app.rpc("boom")
async def boom(request: RPCRequest) -> None:
    raise ValueError("handler bug")


@app.rpc("calls")
async def calls(request: RPCRequest) -> dict[str, int]:
    return CALLS
