"""The wire codec: every kind through JSON and protobuf, both payload modes."""

from __future__ import annotations

import base64
import json

import pytest

from hub.centrifugo import (
    KINDS,
    ConnectResult,
    DecodeError,
    Disconnect,
    Error,
    Override,
    PayloadError,
    PublishResult,
    RPCRequest,
    RPCResult,
    SubscribeOptions,
    SubscribeResult,
)
from hub.centrifugo.codec import decode_json, decode_pb, encode_json, encode_pb
from hub.centrifugo.wire import proxy_pb as pb

RPC = KINDS["rpc"]


def test_json_request_keeps_the_payload_raw_until_asked() -> None:
    body = b'{"client":"c1","transport":"websocket","user":"42","method":"m","data":{"a":[1,2]}}'
    request = decode_json(RPC, body, {"x-device": "phone"})
    assert isinstance(request, RPCRequest)
    assert (request.client, request.user, request.method) == ("c1", "42", "m")
    assert request.payload() == b'{"a":[1,2]}'
    assert request.json() == {"a": [1, 2]}
    assert request.headers == {"x-device": "phone"}


def test_binary_mode_request_decodes_base64() -> None:
    body = json.dumps(
        {"encoding": "binary", "method": "m", "b64data": base64.b64encode(b"\x00\x01").decode()}
    )
    request = decode_json(RPC, body.encode())
    assert request.binary
    assert request.payload() == b"\x00\x01"


def test_bad_base64_or_bad_json_payload_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="base64"):
        decode_json(RPC, b'{"method":"m","b64data":"***"}').payload()  # type: ignore[union-attr]
    request = decode_json(
        RPC, b'{"method":"m","b64data":"' + base64.b64encode(b"{oops").decode().encode() + b'"}'
    )
    with pytest.raises(PayloadError, match="not valid JSON"):
        request.json()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "body", "problem"),
    [
        ("rpc", b"[]", "Expected `object`, got `array`"),
        ("rpc", b'{"user": 5}', "Expected `str`, got `int` - at `$.user`"),
        ("subscribe", b'{"user": "u"}', "missing required field `channel`"),
        ("connect", b'{"channels": "a"}', "Expected `array`, got `str` - at `$.channels`"),
        ("publish", b"{", "Input data was truncated"),
    ],
)
def test_malformed_json_names_the_problem(kind: str, body: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=f"malformed {kind} request") as exc:
        decode_json(KINDS[kind], body)
    assert problem in str(exc.value)


def test_protobuf_request_round_trip_for_every_kind() -> None:
    for kind in KINDS.values():
        fields = {"client": "c", "transport": "websocket"}
        if "channel" in kind.request.__struct_fields__:
            fields["channel"] = "chat:1"
        request = decode_pb(kind, kind.pb_request(**fields).SerializeToString(), {"h": "v"})
        assert type(request) is kind.request
        assert request.client == "c"
        assert request.headers == {"h": "v"}


def test_protobuf_garbage_and_missing_channel_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="malformed rpc request"):
        decode_pb(RPC, b"\xff\xff\xff")
    with pytest.raises(DecodeError, match="channel"):
        decode_pb(KINDS["subscribe"], pb.SubscribeRequest(client="c").SerializeToString())


def test_connect_result_in_json_mode_embeds_payloads_as_json() -> None:
    result = ConnectResult(
        user="u",
        info={"name": "A"},
        data=b'"raw"',
        channels=["news"],
        subs={"chat:1": SubscribeOptions(info=[1], override=Override(presence=False))},
        meta={"tier": 1},
    )
    reply = json.loads(encode_json(KINDS["connect"], result, binary=False))
    assert reply == {
        "result": {
            "user": "u",
            "info": {"name": "A"},
            "data": "raw",
            "channels": ["news"],
            "subs": {"chat:1": {"info": [1], "override": {"presence": {"value": False}}}},
            "meta": {"tier": 1},
        }
    }


def test_binary_mode_result_uses_b64_fields() -> None:
    reply = json.loads(
        encode_json(KINDS["subscribe"], SubscribeResult(info={"a": 1}, data=b"\x00"), binary=True)
    )
    assert reply == {
        "result": {
            "b64info": base64.b64encode(b'{"a":1}').decode(),
            "b64data": base64.b64encode(b"\x00").decode(),
        }
    }


def test_falsy_rpc_data_is_still_sent() -> None:
    assert json.loads(encode_json(RPC, RPCResult(data=0), binary=False)) == {"result": {"data": 0}}
    assert json.loads(encode_json(RPC, RPCResult(data=None), binary=False)) == {"result": {}}


def test_refusals_encode_in_both_transports() -> None:
    error = Error(code=403, message="no", temporary=True)
    assert json.loads(encode_json(RPC, error, binary=False)) == {
        "error": {"code": 403, "message": "no", "temporary": True}
    }
    message = encode_pb(RPC, Disconnect(code=4501, reason="bye"), binary=False)
    assert isinstance(message, pb.RPCResponse)
    assert (message.disconnect.code, message.disconnect.reason) == (4501, "bye")
    assert not message.HasField("result")


def test_protobuf_result_carries_json_bytes() -> None:
    message = encode_pb(KINDS["publish"], PublishResult(data={"t": 1}, tags={"k": "v"}), binary=False)
    assert isinstance(message, pb.PublishResponse)
    assert message.result.data == b'{"t":1}'
    assert dict(message.result.tags) == {"k": "v"}


def test_a_result_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="rpc call must end with RPCResult"):
        encode_json(RPC, SubscribeResult(), binary=False)


@pytest.mark.parametrize("code", [0, 99, 2000])
def test_error_codes_outside_the_ranges_are_refused(code: int) -> None:
    with pytest.raises(ValueError, match="error code"):
        Error(code=code)


@pytest.mark.parametrize("code", [3000, 3999, 5000])
def test_disconnect_codes_outside_the_app_range_are_refused(code: int) -> None:
    with pytest.raises(ValueError, match="disconnect code"):
        Disconnect(code=code)


def nest(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [513, 1000, 100_000])
@pytest.mark.parametrize("field", ["data", "meta", "unknown", "method"])
def test_a_body_nested_too_deeply_is_a_decode_error_naming_the_limit(depth: int, field: str) -> None:
    body = b'{"method":"m","' + field.encode() + b'":' + nest(depth) + b"}"
    with pytest.raises(
        DecodeError, match=r"malformed rpc request: JSON nested too deeply \(the limit is 512 levels\)"
    ):
        decode_json(RPC, body)


def test_nesting_up_to_the_limit_is_decoded_and_brackets_in_strings_do_not_count() -> None:
    body = b'{"method":"m","data":' + nest(511) + b"}"  # 512 levels with the body's own object
    assert decode_json(RPC, body).json() == json.loads(nest(511))  # type: ignore[union-attr]
    strings = b'{"method":"m","data":["' + b"[{\\\\" * 2000 + b'", "\\"[[["]}'
    assert decode_json(RPC, strings).json()[1] == '"[[['  # type: ignore[union-attr]


@pytest.mark.parametrize("payload", [nest(600), b"{bad", nest(100_000)])
def test_a_deep_or_broken_payload_over_grpc_is_a_payload_error(payload: bytes) -> None:
    request = decode_pb(RPC, pb.RPCRequest(method="m", data=payload, meta=payload).SerializeToString())
    with pytest.raises(PayloadError, match=r"^data"):
        request.json()  # type: ignore[union-attr]
    with pytest.raises(PayloadError, match=r"^meta"):
        request.connection_meta()


def test_deeply_nested_protobuf_groups_are_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="malformed rpc request"):
        decode_pb(RPC, bytes([15 << 3 | 3]) * 1000 + bytes([15 << 3 | 4]) * 1000)
