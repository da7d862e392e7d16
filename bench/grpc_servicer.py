"""Baseline: what a user writes without the hub, a single-process grpc.aio CentrifugoProxy RPC.

python -m bench.grpc_servicer PORT SECRET
"""

from __future__ import annotations

import asyncio
import json
import sys

import grpc

from hub.centrifugo._proto import proxy_pb2_grpc as pb_grpc
from hub.centrifugo.wire import proxy_pb as pb


class Proxy(pb_grpc.CentrifugoProxyServicer):  # type: ignore[misc]
    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def RPC(self, request: pb.RPCRequest, context: grpc.aio.ServicerContext) -> pb.RPCResponse:
        if dict(context.invocation_metadata() or ()).get("x-hub-proxy-secret") != self.secret:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
        result = {"echo": json.loads(request.data or b"null"), "user": request.user}
        return pb.RPCResponse(result=pb.RPCResult(data=json.dumps(result).encode()))


async def main(port: int, secret: str) -> None:
    server = grpc.aio.server()
    pb_grpc.add_CentrifugoProxyServicer_to_server(Proxy(secret), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
