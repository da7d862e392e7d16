"""The proxy's HTTP server (hub.proxy.protocol), byte by byte: how it reads requests, answers
them, and closes connections. What a call's answer says is test_transports.py's."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from hub.centrifugo import Outcome, ProxySettings, Request, RPCResult
from hub.proxy import Dispatcher
from hub.proxy.http import ProxyCalls
from hub.proxy.protocol import KEEP_ALIVE, LINGER_FACTOR, MAX_HEADER_BYTES, MAX_PIPELINED, Connections

from .wire import Wire, request

SECRET = "s3cret"
LIMIT = 1024
RPC = json.dumps({"client": "c1", "method": "m", "data": {"n": 1}}).encode()


class Gate:
    """A handler that answers each call with its data, once ``open`` is set."""

    def __init__(self, *, open: bool = True) -> None:
        self.open = asyncio.Event()
        if open:
            self.open.set()
        self.started = 0
        self.finished = 0

    async def handle(self, request: Request) -> Outcome:
        self.started += 1
        await self.open.wait()
        self.finished += 1
        return RPCResult(data=getattr(request, "data", None))


def dispatcher(handler: Gate) -> Dispatcher:
    return Dispatcher(handler, ProxySettings(secret=SECRET, max_body_size=LIMIT))


def rpc(n: int = 1, **options: object) -> bytes:
    body = json.dumps({"client": "c1", "method": "m", "data": {"n": n}}).encode()
    return request("rpc", body, secret=SECRET, **options)  # type: ignore[arg-type]


async def test_an_answer_is_one_write_and_the_connection_stays_open() -> None:
    wire = Wire(dispatcher(Gate()))
    wire.send(rpc(1))
    [answer] = await wire.answers(1)
    assert answer.status == 200
    assert answer.json() == {"result": {"data": {"n": 1}}}
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.body)
    assert "connection" not in answer.headers
    assert len(wire.transport.writes) == 1  # status line, headers and body in one write
    wire.send(rpc(2))  # the same connection serves the next call
    assert (await wire.answers(2))[1].json() == {"result": {"data": {"n": 2}}}
    assert not wire.transport.closed


async def test_a_request_in_pieces_and_pipelined_requests_are_answered_in_order() -> None:
    gate = Gate(open=False)
    wire = Wire(dispatcher(gate))
    data = rpc(1) + rpc(2) + rpc(3)
    for i in range(0, len(data), 7):
        wire.send(data[i : i + 7])
    await asyncio.sleep(0.01)
    assert gate.started == 1  # one call at a time per connection, as HTTP/1.1 answers in order
    gate.open.set()
    answers = await wire.answers(3)
    assert [a.json()["result"]["data"]["n"] for a in answers] == [1, 2, 3]


async def test_a_chunked_body_is_read_whole() -> None:
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(RPC[i : i + 10]), RPC[i : i + 10]) for i in range(0, len(RPC), 10)
    )
    wire = Wire(dispatcher(Gate()))
    wire.send(
        request("rpc", chunked + b"0\r\n\r\n", secret=SECRET, headers=[("transfer-encoding", "chunked")])
    )
    [answer] = await wire.answers(1)
    assert (answer.status, answer.json()) == (200, {"result": {"data": {"n": 1}}})


@pytest.mark.parametrize(
    "data",
    [b"NOT HTTP AT ALL\r\n\r\n", b"POST /centrifugo/rpc HTTP/1.1\r\ncontent-length: x\r\n\r\n",
     b"POST /centrifugo/rpc HTTP/1.1\r\nbad header\r\n\r\n"],
)  # fmt: skip
async def test_a_request_that_cannot_be_parsed_gets_400_and_the_connection_closes(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    d = dispatcher(gate)
    wire = Wire(d)
    wire.send(data)
    [answer] = await wire.answers(1)
    assert answer.status == 400
    assert answer.json()["error"].startswith("malformed HTTP request")
    assert answer.headers["connection"] == "close"
    assert wire.transport.closed
    wire.send(rpc())  # nothing more is read from a stream that cannot be trusted
    assert (gate.started, d.stats.malformed) == (0, 1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_answers_before_a_malformed_request_still_go_out_first() -> None:
    gate = Gate(open=False)
    wire = Wire(dispatcher(gate))
    wire.send(rpc(1) + b"GARBAGE\r\n\r\n")
    gate.open.set()
    first, second = await wire.answers(2)
    assert (first.status, first.json()["result"]["data"], second.status) == (200, {"n": 1}, 400)
    assert wire.transport.closed


async def test_headers_over_the_limit_get_431() -> None:
    wire = Wire(dispatcher(Gate()))
    wire.send(rpc(headers=[("x-big", "y" * MAX_HEADER_BYTES)]))
    [answer] = await wire.answers(1)
    assert answer.status == 431
    assert wire.transport.closed


async def test_a_body_over_the_limit_is_read_and_refused_with_413_and_the_connection_serves_on() -> None:
    gate = Gate()
    wire = Wire(dispatcher(gate))
    wire.send(request("rpc", b"x" * (3 * LIMIT), secret=SECRET))
    [answer] = await wire.answers(1)
    assert answer.status == 413
    assert answer.json()["error"] == f"body too large: {3 * LIMIT} bytes, limit {LIMIT}"
    wire.send(rpc(5))
    assert (await wire.answers(2))[1].status == 200
    assert gate.started == 1


async def test_a_chunked_body_over_the_limit_gets_413() -> None:
    big = b"x" * (2 * LIMIT)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
    wire = Wire(dispatcher(Gate()))
    wire.send(request("rpc", chunked, secret=SECRET, headers=[("transfer-encoding", "chunked")]))
    [answer] = await wire.answers(1)
    assert (answer.status, answer.json()["error"]) == (413, f"body too large: over {LIMIT} bytes")


async def test_a_body_far_over_the_limit_is_refused_at_once_and_the_connection_closed() -> None:
    wire = Wire(dispatcher(Gate()))
    size = LINGER_FACTOR * LIMIT + 1
    wire.send(request("rpc", b"", secret=SECRET, headers=[("content-length", str(size))]))
    [answer] = await wire.answers(1)  # before one byte of the body came
    assert answer.status == 413
    assert wire.transport.closed


async def test_expect_100_continue_is_answered_before_the_body() -> None:
    wire = Wire(dispatcher(Gate()))
    data = rpc(7, headers=[("expect", "100-continue")])
    head, body = data.split(b"\r\n\r\n", 1)
    wire.send(head + b"\r\n\r\n")
    assert wire.transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    wire.send(body)
    [answer] = await wire.answers(1)
    assert answer.json() == {"result": {"data": {"n": 7}}}


async def test_http_1_0_gets_its_answer_and_the_connection_closes() -> None:
    wire = Wire(dispatcher(Gate()))
    wire.send(rpc(version="1.0"))
    [answer] = await wire.answers(1)
    assert (answer.status, answer.headers["connection"]) == (200, "close")
    assert wire.transport.closed


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [("GET", "/health", 200, {"status": "ok"}),
     ("GET", "/centrifugo/rpc", 405, {"error": "method not allowed: proxy calls are POST"}),
     ("POST", "/elsewhere", 404, {"error": "not found"}),
     ("POST", "/centrifugo/teleport", 404, None)],
)  # fmt: skip
async def test_other_paths_and_methods(method: str, path: str, status: int, body: object) -> None:
    wire = Wire(dispatcher(Gate()))
    wire.send(request("rpc", b"", secret=SECRET, method=method, path=path))
    [answer] = await wire.answers(1)
    assert answer.status == status
    if body is not None:
        assert answer.json() == body


async def test_a_client_gone_mid_call_lets_the_call_finish_unanswered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate(open=False)
    wire = Wire(dispatcher(gate))
    wire.send(rpc(1) + rpc(2))
    await asyncio.sleep(0.01)
    wire.lose()
    gate.open.set()
    assert await wire.settled() == []
    assert (gate.started, gate.finished) == (1, 1)  # the one taken ran to its end; the next was dropped
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_reading_pauses_while_answers_cannot_be_written_or_too_many_requests_wait() -> None:
    gate = Gate(open=False)
    wire = Wire(dispatcher(gate))
    wire.connection.pause_writing()
    assert not wire.transport.reading
    wire.connection.resume_writing()
    assert wire.transport.reading
    wire.send(b"".join(rpc(n) for n in range(MAX_PIPELINED + 1)))
    assert not wire.transport.reading
    gate.open.set()
    await wire.answers(MAX_PIPELINED + 1)
    assert wire.transport.reading


async def test_draining_answers_with_connection_close_and_closes_idle_connections() -> None:
    gate = Gate(open=False)
    connections = Connections(ProxyCalls(dispatcher(gate)))
    busy, idle = Wire(connections=connections), Wire(connections=connections)
    busy.send(rpc(1))
    idle.send(rpc(2))
    await asyncio.sleep(0.01)
    gate.open.set()
    await idle.answers(1)
    gate.open.clear()
    busy_answer = asyncio.ensure_future(busy.answers(2))
    busy.send(rpc(3))  # in flight as the drain starts
    await asyncio.sleep(0.01)
    drained = asyncio.ensure_future(connections.drain(5.0))
    await asyncio.sleep(0.4)
    assert idle.transport.closed  # idle for IDLE_CLOSE: closed
    assert not busy.transport.closed  # its call is still running
    gate.open.set()
    _, last = await busy_answer
    assert (last.status, last.headers["connection"]) == (200, "close")
    await asyncio.wait_for(drained, 1.0)
    assert busy.transport.closed
    assert not connections.open


async def test_a_connection_older_than_max_age_closes_after_its_next_answer() -> None:
    connections = Connections(ProxyCalls(dispatcher(Gate())), max_age=0.05)
    wire = Wire(connections=connections)
    wire.send(rpc(1))
    [first] = await wire.answers(1)
    assert "connection" not in first.headers
    await asyncio.sleep(0.06)
    wire.send(rpc(2))
    second = (await wire.answers(2))[1]
    assert (second.status, second.headers["connection"]) == (200, "close")
    assert wire.transport.closed


async def test_silent_connections_are_closed_busy_ones_are_not() -> None:
    gate = Gate(open=False)
    connections = Connections(ProxyCalls(dispatcher(gate)))
    silent, busy = Wire(connections=connections), Wire(connections=connections)
    busy.send(rpc())
    await asyncio.sleep(0.01)
    connections.close_idle(0.0)
    assert silent.transport.closed
    assert not busy.transport.closed
    assert KEEP_ALIVE > 60  # Centrifugo's Go client keeps idle connections without a limit
