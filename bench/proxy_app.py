"""The application every proxy benchmark runs: one small RPC, as a user would write it."""

from __future__ import annotations

import json
from typing import Any

from hub import App, ConnectRequest, ConnectResult, RPCRequest

app = App()


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult:
    return ConnectResult(user=(request.json() or {}).get("user", "bench"))


@app.rpc("echo")
async def echo(request: RPCRequest) -> Any:
    return {"echo": request.json(), "user": request.user}


@app.rpc("render")
async def render(request: RPCRequest) -> Any:
    """A handler with CPU work of its own: it builds and encodes a 150-item document."""
    items = [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(150)]
    return {"size": len(json.dumps(items)), "user": request.user}
