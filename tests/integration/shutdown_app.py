"""The SIGTERM-under-load test's application: jobs_app's jobs, clients that connect, a slow RPC.

``work`` appends its call id to a file as it starts: the calls the hub accepted are on
disk, whatever becomes of their answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub import ConnectRequest, ConnectResult, RPCRequest

from .jobs_app import app  # the `record` job: appends "id attempt pid" to a file when it ends

__all__ = ["app"]


@app.on_connect
async def connect(request: ConnectRequest) -> ConnectResult:
    return ConnectResult(user=(request.json() or {}).get("user", "anon"))


def _accept(call: dict[str, Any]) -> None:
    with open(call["file"], "a") as f:  # one small O_APPEND write per line: lines never mix
        f.write(call["id"] + "\n")


@app.rpc("work")
async def work(request: RPCRequest) -> str:
    call: dict[str, Any] = request.json()
    _accept(call)
    await asyncio.sleep(call["sleep"])
    return str(call["id"])
