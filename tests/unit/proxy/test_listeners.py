"""The listeners' socket handling: refusing new connections, leaving a shared port."""

from __future__ import annotations

import socket

import grpc
import pytest

from hub.centrifugo import GRPC_SERVICE, KINDS, Outcome, ProxySettings, Request, RPCResult
from hub.proxy import Dispatcher, GrpcServer
from hub.proxy.listeners import listening_sockets, refuse_connections
from hub.testing import free_port


def test_a_refused_listener_takes_no_new_connection_but_keeps_its_queue() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as queued:
            queued.sendall(b"call")
            if not refuse_connections(server):
                pytest.skip("socket filters are Linux's")
            with socket.socket() as late:
                late.settimeout(0.3)
                with pytest.raises(TimeoutError):
                    late.connect(("127.0.0.1", port))  # the kernel dropped its SYN
            accepted, _ = server.accept()
            with accepted:
                assert accepted.recv(10) == b"call"
    with socket.socket() as after, pytest.raises(ConnectionRefusedError):
        after.connect(("127.0.0.1", port))  # closed: refused at once, the client goes elsewhere


#: A channel of its own connection (grpc shares one per target within a process otherwise).
ALONE = [("grpc.use_local_subchannel_pool", 1)]


class Named:
    """Answers every RPC with its own name."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def handle(self, request: Request) -> Outcome:
        return RPCResult(data=self.name)


async def test_a_grpc_server_that_stops_accepting_leaves_the_port_to_its_sibling_and_keeps_its_connection() -> (
    None
):
    port = free_port()
    settings = ProxySettings(secret="s")
    request = KINDS["rpc"].pb_request(client="c", method="m").SerializeToString()
    method = f"/{GRPC_SERVICE}/{KINDS['rpc'].grpc_method}"

    async def who(channel: grpc.aio.Channel) -> str:
        reply = await channel.unary_unary(method)(request, metadata=[("x-hub-proxy-secret", "s")], timeout=5)
        return "leaving" if b"leaving" in reply else "sibling" if b"sibling" in reply else repr(reply)

    def server(name: str) -> GrpcServer:
        return GrpcServer(Dispatcher(Named(name), settings), "127.0.0.1", port, grace=1, reuse_port=True)

    async with (
        server("leaving") as leaving,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=ALONE) as kept,
    ):
        assert await who(kept) == "leaving"  # alone on the port
        assert not leaving.siblings_listening()
        async with server("sibling") as sibling:
            assert listening_sockets(port) == 2
            assert leaving.siblings_listening()
            assert leaving.stop_accepting() == 1
            assert listening_sockets(port) == 1
            assert not sibling.siblings_listening()
            assert await who(kept) == "leaving"  # the open connection is still served
            for _ in range(8):  # every new connection reaches the sibling
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=ALONE) as new:
                    assert await who(new) == "sibling"
