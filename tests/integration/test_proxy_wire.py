"""Bad input at the wire, against a real `hub serve`: what the in-process fuzz cannot send.

Truncated HTTP requests, garbage instead of HTTP/2, fuzzed bodies over real sockets on both
listeners: never a 5xx or INTERNAL, never a traceback in the log, valid calls answered after.
(The thousands of bodies are in tests/unit/proxy/test_fuzz.py, in process.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest

from hub.centrifugo import GRPC_SERVICE
from hub.centrifugo._proto import proxy_pb2 as pb

from .servers import Stack, stack_config

APP = "tests.integration.proxy_app:app"
SECRET = "test-proxy-secret"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`hub serve` alone (no Centrifugo needed), handlers in one pooled worker."""
    stack = Stack(tmp_path_factory.mktemp("wire"), stack_config(APP, "http", pool={"workers": 1}))
    with stack.running(centrifugo=False):
        yield stack


def raw_http(stack: Stack, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection, stop writing, read whatever comes back."""
    with socket.create_connection(("127.0.0.1", stack.config["proxy"]["http_port"]), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def post(stack: Stack, kind: str, body: bytes, content_type: str = "application/json") -> int:
    request = urllib.request.Request(
        f"{stack.proxy_url}/centrifugo/{kind}", data=body, method="POST",
        headers={"x-hub-proxy-secret": SECRET, "content-type": content_type},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def head(kind: str, length: int) -> bytes:
    return (
        f"POST /centrifugo/{kind} HTTP/1.1\r\nhost: x\r\nx-hub-proxy-secret: {SECRET}\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


def assert_serving(stack: Stack) -> None:
    body = json.dumps({"client": "c", "user": "u", "method": "echo", "data": {"n": 1}}).encode()
    assert post(stack, "rpc", body) == 200
    log = stack.log_text()
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log


def test_truncated_and_garbled_http_requests_are_answered_or_dropped_never_a_5xx(hub: Stack) -> None:
    valid = json.dumps({"client": "c", "method": "echo", "data": {"x": [1, 2, 3]}}).encode()
    for data in (
        head("rpc", len(valid)) + valid[: len(valid) // 2],  # the caller stops half-way
        head("rpc", 10**6) + b"{",  # declares a megabyte, sends a byte
        head("rpc", 2) + b"[" * 5000,  # more than declared
        b"POST /centrifugo/rpc HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),  # TLS to a plain port
        b"GET / HTTP/9.9\r\n\r\n",
        bytes(random.Random(1).randrange(256) for _ in range(3000)),
    ):
        reply = raw_http(hub, data)
        if reply:
            status = int(reply.split(b" ", 2)[1])
            assert status < 500, reply[:200]
    assert_serving(hub)


def test_fuzzed_bodies_over_a_real_socket_get_no_5xx(hub: Stack) -> None:
    rng = random.Random(8)
    valid = json.dumps(
        {"client": "c", "user": "u", "channel": "open:x", "method": "echo", "data": [1]}
    ).encode()
    statuses = []
    for _ in range(150):
        body = bytearray(valid)
        at = rng.randrange(len(body))
        body[at:at] = rng.choice([b"[" * 3000, b"{", b'"', b"\xff", b"\\u12", b"]"])
        statuses.append(post(hub, rng.choice(["subscribe", "rpc"]), bytes(body)))
        assert statuses[-1] < 500, bytes(body)[:100]
    assert statuses.count(400) > 50  # many are malformed (some land inside a string: still JSON)
    assert post(hub, "rpc", valid, content_type="text/plain") == 415
    assert_serving(hub)


async def test_fuzzed_messages_and_garbage_on_the_grpc_port(hub: Stack) -> None:
    rng = random.Random(6)
    valid = pb.RPCRequest(client="c", user="u", method="echo", data=b'{"t": 1}').SerializeToString()
    metadata = [("x-hub-proxy-secret", SECRET)]
    async with grpc.aio.insecure_channel(hub.grpc_target) as channel:
        call = channel.unary_unary(f"/{GRPC_SERVICE}/RPC")
        codes = []
        for _ in range(150):
            body = bytearray(valid)
            at = rng.randrange(len(body))
            if rng.random() < 0.5:
                del body[at:]
            else:
                body[at:at] = rng.randbytes(rng.randint(1, 8))
            try:
                await call(bytes(body), metadata=metadata, timeout=10)
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
            assert codes[-1] in {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}, bytes(body)
        assert codes.count(grpc.StatusCode.INVALID_ARGUMENT) > 30
    port = int(hub.grpc_target.rsplit(":", 1)[1])
    for garbage in (
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(50),
        b"GET / HTTP/1.1\r\n\r\n",
        bytes(range(256)),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(garbage)
        with contextlib.suppress(OSError):
            await writer.drain()
            await asyncio.wait_for(reader.read(1000), 5)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    async with grpc.aio.insecure_channel(hub.grpc_target) as channel:
        reply = await channel.unary_unary(f"/{GRPC_SERVICE}/RPC")(valid, metadata=metadata, timeout=10)
    answer = pb.RPCResponse.FromString(reply)
    assert answer.HasField("result")
    assert_serving(hub)
