"""Parsing Centrifugo's batch replies (HTTP JSON and gRPC), with no sockets."""

from __future__ import annotations

import pytest

from hub.centrifugo.wire import api_pb as pb
from hub.clients import ApiError, NetworkError
from hub.clients._transport import _grpc_reply, _http_reply, _message, _replies, _request


def test_http_replies_give_each_command_its_result_or_its_error() -> None:
    commands = [("publish", {}), ("publish", {}), ("presence_stats", {})]
    payload = {
        "replies": [
            {"publish": {"offset": 3, "epoch": "e"}},
            {"error": {"code": 102, "message": "unknown channel"}},
            {"presence_stats": {"num_clients": 1, "num_users": 1}},
        ]
    }
    first, second, third = _replies(payload, commands, _http_reply)
    assert first == {"offset": 3, "epoch": "e"}
    assert isinstance(second, ApiError)
    assert (second.code, second.message) == (102, "unknown channel")
    assert third == {"num_clients": 1, "num_users": 1}


def test_an_empty_result_is_an_empty_dict() -> None:
    assert _replies({"replies": [{}]}, [("history_remove", {})], _http_reply) == [{}]


def test_a_refused_batch_fails_every_command_with_its_error() -> None:
    errors = _replies({"error": {"code": 107, "message": "bad request"}}, [("publish", {})] * 2, _http_reply)
    assert [(e.code, e.message) for e in errors if isinstance(e, ApiError)] == [(107, "bad request")] * 2


def test_a_reply_count_mismatch_is_a_network_error() -> None:
    with pytest.raises(NetworkError):
        _replies({"replies": []}, [("publish", {})], _http_reply)


def test_grpc_replies_read_like_the_http_ones() -> None:
    history = pb.Reply(
        history=pb.HistoryResult(
            publications=[pb.Publication(data=b'{"a": 1}', offset=7, tags={"k": "v"})], epoch="e", offset=7
        )
    )
    assert _grpc_reply("history", history) == {
        "publications": [{"data": {"a": 1}, "offset": 7, "tags": {"k": "v"}}],
        "epoch": "e",
        "offset": 7,
    }
    error = _grpc_reply("publish", pb.Reply(error=pb.Error(code=102, message="unknown channel")))
    assert isinstance(error, ApiError)
    assert error.code == 102
    assert _grpc_reply("publish", pb.Reply(publish=pb.PublishResult(offset=2, epoch="x"))) == {
        "offset": 2,
        "epoch": "x",
    }


def test_grpc_requests_carry_json_payloads_as_bytes() -> None:
    import msgspec

    message = _message("publish", {"channel": "c", "data": msgspec.Raw(b'{"a":1}'), "tags": {"k": "v"}})
    assert message == pb.PublishRequest(channel="c", data=b'{"a":1}', tags={"k": "v"})
    nested = _message("disconnect", {"user": "u", "disconnect": {"code": 4500, "reason": "bye"}})
    assert nested.disconnect.code == 4500


def test_a_grpc_batch_carries_each_command_as_its_message_would() -> None:
    import msgspec

    publish = {"channel": "c", "data": msgspec.Raw(b'{"a":1}'), "idempotency_key": "k-1", "tags": {"k": "v"},
               "delta": True, "skip_history": True}  # fmt: skip
    disconnect = {"user": "u", "disconnect": {"code": 4500, "reason": "bye"}}
    broadcast = {"channels": ["a", "b"], "data": msgspec.Raw(b"[1]"), "idempotency_key": "k-2"}
    commands = [
        ("publish", publish),
        ("disconnect", disconnect),
        ("broadcast", broadcast),
        ("publish", publish),
    ]

    request = _request(commands)

    assert list(request.commands) == [pb.Command(**{m: _message(m, p)}) for m, p in commands]
    assert request.commands[0].publish.data == b'{"a":1}'
    assert dict(request.commands[3].publish.tags) == {"k": "v"}
