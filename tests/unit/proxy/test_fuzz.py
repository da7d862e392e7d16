"""Property-based fuzzing of both proxy transports, in process.

Whatever arrives (bad JSON or protobuf, wrong types, missing and unknown fields, huge
strings, deep nesting, truncated bodies, wrong content types, with and without the
secret): never a 5xx or INTERNAL, nothing reaches the app unless the call was
authenticated and decoded, and valid calls are answered afterwards.

Run derandomized when CI is set (the same examples every run); about 8,000 calls in all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.centrifugo import KINDS
from hub.centrifugo._proto import proxy_pb2 as pb

from .fuzzing import (
    JSON,
    SECRET,
    VALID,
    HttpCall,
    Recorder,
    dispatcher,
    grpc_call,
    grpc_service,
    http_call,
    mutations,
    nested,
)

FUZZ = settings(
    max_examples=int(os.environ.get("HUB_FUZZ_EXAMPLES", "300")),
    derandomize=bool(os.environ.get("CI")),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECRETS = [(SECRET,), (), ("wrong",), (SECRET, SECRET), (SECRET[:-1],)]
GOOD_GRPC = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def json_bodies(draw: st.DrawFn, kind: str) -> bytes:
    """A valid body, then fields dropped, retyped, added, nested deep or made huge."""
    fields: dict[str, Any] = dict(VALID.get(kind, VALID["rpc"]))
    for key in draw(st.sets(st.sampled_from(sorted(fields)), max_size=3)):
        del fields[key]
    for key in draw(st.lists(st.sampled_from([*VALID["connect"], "channel", "method", "meta"]), max_size=3)):
        fields[key] = draw(json_values)
    for key in draw(st.lists(st.text(max_size=10), max_size=2)):
        fields[key] = draw(json_values)
    shape = draw(st.sampled_from(["fields", "raw", "truncated", "deep", "huge", "top"]))
    body = json.dumps(fields).encode()
    if shape == "raw":
        return draw(st.binary(max_size=200))
    if shape == "truncated":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))]
    if shape == "deep":
        depth = draw(st.sampled_from([500, 510, 511, 512, 600, 999, 1000, 1001, 5000, 50_000]))
        where = draw(st.sampled_from(["data", "meta", "unknown", "channel", "headers"]))
        return body[:-1] + f', "{where}": {nested(depth, draw(st.sampled_from("[{")))}}}'.encode()
    if shape == "huge":
        size = draw(st.integers(60 << 10, 70 << 10))
        where = draw(st.sampled_from(["client", "channel", "method", "data", "zzz"]))
        value = '"' + "y" * size + '"'
        return body[:-1] + f', "{where}": {value}}}'.encode()
    if shape == "top":
        return json.dumps(draw(json_values)).encode()
    return body


@st.composite
def http_calls(draw: st.DrawFn) -> HttpCall:
    kind = draw(st.sampled_from([*sorted(VALID), "teleport"]))
    return HttpCall(
        kind=kind,
        body=draw(json_bodies(kind)),
        secrets=draw(st.sampled_from(SECRETS)),
        content_type=draw(
            st.sampled_from(
                [JSON, JSON, None, "application/json; charset=utf-8", "text/plain", "APPLICATION/JSON"]
            )
            | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
        ),
        chunks=draw(st.integers(1, 3)),
        truncated=draw(st.booleans()) and draw(st.booleans()),
    )


def check_http(recorder: Recorder, call: HttpCall, status: int, reply: bytes) -> None:
    before = len(recorder.seen)
    if call.truncated:
        assert status == 0  # the body never came whole: no answer, and no handler ran
        return
    assert status < 500, (call, status, reply[:300])
    if call.kind not in KINDS:
        assert status == 404
    elif call.secrets != (SECRET,):
        assert status == 401
    if status != 200:
        assert json.loads(reply)["error"], reply[:300]  # a precise message, never empty
        assert len(recorder.seen) == before
        return
    answer = json.loads(reply)
    assert len(answer) == 1, reply[:300]
    assert next(iter(answer)) in {"result", "error", "disconnect"}, reply[:300]
    if "error" in answer:
        assert answer["error"]["code"] in {103, 104, 107}, answer
        assert answer["error"].get("temporary") is not True


async def valid_http_calls_work(proxy: Any) -> None:
    for kind, fields in VALID.items():
        status, reply = await http_call(proxy, HttpCall(kind=kind, body=json.dumps(fields).encode()))
        assert status == 200, (kind, reply)
        assert "result" in json.loads(reply), (kind, reply)
    status, reply = await http_call(proxy, HttpCall(kind="rpc", body=json.dumps(VALID["rpc"]).encode()))
    assert json.loads(reply) == {"result": {"data": {"echo": {"n": [1, 2]}}}}


def no_faults_logged(caplog: pytest.LogCaptureFixture) -> None:
    faults = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not faults, [r.getMessage() for r in faults[:5]]


def test_http_transport_survives_any_body(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    proxy = dispatcher(recorder)
    with asyncio.Runner() as runner:

        @FUZZ
        @given(http_calls())
        def one(call: HttpCall) -> None:
            before = len(recorder.seen)
            status, reply = runner.run(http_call(proxy, call))
            if status != 200:
                assert len(recorder.seen) == before
            check_http(recorder, call, status, reply)

        one()
        runner.run(valid_http_calls_work(proxy))
    no_faults_logged(caplog)


def test_http_transport_survives_thousands_of_mutated_bodies(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    proxy = dispatcher(recorder)
    statuses: dict[int, int] = {}

    async def run() -> None:
        for kind, body in mutations(seed=8, count=4000):
            before = len(recorder.seen)
            call = HttpCall(kind=kind, body=body)
            status, reply = await http_call(proxy, call)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200:
                assert len(recorder.seen) == before
            check_http(recorder, call, status, reply)
        await valid_http_calls_work(proxy)

    asyncio.run(run())
    # Both paths were exercised.
    assert statuses[400] > 1000, statuses
    assert statuses[200] > 100, statuses
    no_faults_logged(caplog)


# -- gRPC ----------------------------------------------------------------------------


def pb_request(kind: str, fields: dict[str, Any]) -> bytes:
    values = {k: json.dumps(v).encode() if k in ("data", "meta") else v for k, v in fields.items()}
    return KINDS[kind].pb_request(**values).SerializeToString()  # type: ignore[no-any-return]


@st.composite
def pb_bodies(draw: st.DrawFn, kind: str) -> bytes:
    fields = dict(VALID[kind])
    for key in draw(st.sets(st.sampled_from(sorted(fields)), max_size=3)):
        del fields[key]
    valid = pb_request(kind, fields)
    shape = draw(st.sampled_from(["valid", "raw", "truncated", "flipped", "groups", "payload", "huge"]))
    if shape == "raw":
        return draw(st.binary(max_size=200))
    if shape == "truncated":
        return valid[: draw(st.integers(0, max(0, len(valid) - 1)))]
    if shape == "flipped" and valid:
        at = draw(st.integers(0, len(valid) - 1))
        return valid[:at] + bytes([draw(st.integers(0, 255))]) + valid[at + 1 :]
    if shape == "groups":  # unknown field 15 as nested start/end groups
        depth = draw(st.sampled_from([10, 100, 101, 1000, 100_000]))
        return valid + bytes([15 << 3 | 3]) * depth + bytes([15 << 3 | 4]) * depth
    if shape == "payload":  # data or meta bytes that are not usable JSON
        bad = draw(
            st.sampled_from(
                [b"{bad", b"\xff\xfe", nested(600).encode(), nested(50_000, "{").encode(), b"[1,"]
            )
            | st.binary(max_size=50)
        )
        names = sorted({"data", "meta"} & set(KINDS[kind].pb_request.DESCRIPTOR.fields_by_name))
        key = draw(st.sampled_from(names))
        message = KINDS[kind].pb_request.FromString(valid)
        setattr(message, key, bad)
        return message.SerializeToString()  # type: ignore[no-any-return]
    if shape == "huge":
        return valid + pb.RPCRequest(client="z" * draw(st.integers(60 << 10, 70 << 10))).SerializeToString()
    return valid


@st.composite
def grpc_calls(draw: st.DrawFn) -> tuple[str, str, bytes, list[tuple[str, str | bytes]]]:
    kind = draw(st.sampled_from(sorted(VALID)))
    secrets = draw(st.sampled_from(SECRETS))
    metadata: list[tuple[str, str | bytes]] = [("x-hub-proxy-secret", s) for s in secrets]
    if draw(st.booleans()):
        metadata.append(("x-device", draw(st.text(max_size=20))))
    if draw(st.booleans()):
        metadata.append(("x-hub-proxy-secret-bin", draw(st.binary(max_size=8))))
    return kind, KINDS[kind].grpc_method, draw(pb_bodies(kind)), metadata


async def check_grpc(
    service: grpc.GenericRpcHandler, recorder: Recorder, method: str, body: bytes,
    metadata: list[tuple[str, str | bytes]],
) -> grpc.StatusCode:  # fmt: skip
    before = len(recorder.seen)
    status, answer = await grpc_call(service, method, body, metadata)
    assert status in GOOD_GRPC, (method, body[:100], status, answer)
    secrets = [v for k, v in metadata if k == "x-hub-proxy-secret"]
    if secrets != [SECRET]:
        assert status == grpc.StatusCode.UNAUTHENTICATED
    if status != grpc.StatusCode.OK:
        assert answer, "a precise message, never empty"
        assert len(recorder.seen) == before
    elif answer.HasField("error"):
        assert answer.error.code in {103, 104, 107}, answer
        assert not answer.error.temporary
    return status


async def valid_grpc_calls_work(service: grpc.GenericRpcHandler) -> None:
    metadata: list[tuple[str, str | bytes]] = [("x-hub-proxy-secret", SECRET)]
    for kind, fields in VALID.items():
        status, answer = await grpc_call(service, KINDS[kind].grpc_method, pb_request(kind, fields), metadata)
        assert status == grpc.StatusCode.OK, (kind, answer)
        assert answer.HasField("result"), (kind, answer)
    _, answer = await grpc_call(service, "RPC", pb_request("rpc", VALID["rpc"]), metadata)
    assert json.loads(answer.result.data) == {"echo": {"n": [1, 2]}}


def test_grpc_transport_survives_any_message(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    service = grpc_service(recorder)
    with asyncio.Runner() as runner:

        @FUZZ
        @given(grpc_calls())
        def one(call: tuple[str, str, bytes, list[tuple[str, str | bytes]]]) -> None:
            _, method, body, metadata = call
            runner.run(check_grpc(service, recorder, method, body, metadata))

        one()
        runner.run(valid_grpc_calls_work(service))
    no_faults_logged(caplog)


def test_grpc_transport_survives_thousands_of_mutated_messages(caplog: pytest.LogCaptureFixture) -> None:
    import random

    recorder = Recorder()
    service = grpc_service(recorder)
    rng = random.Random(6)
    outcomes: dict[grpc.StatusCode, int] = {}
    metadata: list[tuple[str, str | bytes]] = [("x-hub-proxy-secret", SECRET)]

    async def run() -> None:
        for _ in range(3000):
            kind = rng.choice(sorted(VALID))
            body = bytearray(pb_request(kind, VALID[kind]))
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(body))
                op = rng.randrange(3)
                if op == 0:
                    del body[at:]
                elif op == 1:
                    body[at] = rng.randrange(256)
                else:
                    body[at:at] = rng.randbytes(rng.randint(1, 6))
                if not body:
                    break
            status = await check_grpc(service, recorder, KINDS[kind].grpc_method, bytes(body), metadata)
            outcomes[status] = outcomes.get(status, 0) + 1
        await valid_grpc_calls_work(service)

    asyncio.run(run())
    assert outcomes[grpc.StatusCode.INVALID_ARGUMENT] > 300, outcomes
    assert outcomes[grpc.StatusCode.OK] > 300, outcomes
    no_faults_logged(caplog)
