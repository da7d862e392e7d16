"""The application every proxy benchmark runs: one small RPC, as a user would write it."""

from __future__ import annotations

from typing import Any

from hub import App, ConnectRequest, ConnectResult, RPCRequest

app = App()


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult:
    return ConnectResult(user=(request.json() or {}).get("user", "bench"))


@app.rpc("echo")
async def echo(request: RPCRequest) -> Any:
    return {"echo": request.json(), "user": request.user}
