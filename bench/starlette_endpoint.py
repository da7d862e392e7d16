"""Baseline: what a user writes without the hub, a single-process Starlette RPC proxy endpoint.

python -m bench.starlette_endpoint PORT SECRET
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def make(secret: str) -> Starlette:
    async def rpc(request: Request) -> Response:
        if request.headers.get("x-hub-proxy-secret") != secret:
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        call = json.loads(await request.body())
        result = {"echo": call.get("data"), "user": call.get("user", "")}
        return JSONResponse({"result": {"data": result}})

    return Starlette(routes=[Route("/centrifugo/rpc", rpc, methods=["POST"])])


if __name__ == "__main__":
    port, secret = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(make(secret), host="127.0.0.1", port=port, log_level="warning", access_log=False)
