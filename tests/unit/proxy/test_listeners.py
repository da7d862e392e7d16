"""The listeners' socket handling: one write per answer, refusing new connections, leaving a shared port."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import grpc
import pytest

from hub.centrifugo import GRPC_SERVICE, KINDS, Outcome, ProxySettings, Request, RPCResult
from hub.proxy import Dispatcher, GrpcServer
from hub.proxy.listeners import _Gathered, listening_sockets, refuse_connections
from hub.testing import free_port


class Recorded:
    """Stands in for an asyncio transport: what was written, in how many writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"extra {name}"


async def test_what_one_loop_turn_writes_goes_out_as_one_write() -> None:
    real = Recorded()
    gathered = _Gathered(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    gathered.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    gathered.write(b"{}")
    assert real.writes == []
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    gathered.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next"]
    assert gathered.get_extra_info("socket") == "extra socket"  # the rest is the real transport's


async def test_close_sends_what_was_written_first() -> None:
    real = Recorded()
    gathered = _Gathered(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    gathered.write(b"answer")
    gathered.close()
    assert (real.writes, real.closed) == ([b"answer"], True)
    await asyncio.sleep(0)  # the flush already scheduled finds nothing left
    assert real.writes == [b"answer"]


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
