"""Wire codec of the proxy protocol: JSON (HTTP proxy) and protobuf (gRPC proxy).

One generic path for every kind, driven by :data:`hub.centrifugo.kinds.KINDS`::

    request = decode_json(KINDS["rpc"], body)        # raises DecodeError
    body = encode_json(KINDS["rpc"], RPCResult(data=1), binary=False)
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import msgspec
from google.protobuf.message import DecodeError as PbDecodeError
from google.protobuf.message import Message

from . import messages as m
from .errors import DecodeError
from .kinds import Kind

_RAW_FIELDS = frozenset({"data", "meta"})
_PAYLOAD_FIELDS = ("info", "data")
_DECODERS: dict[type[m.Request], msgspec.json.Decoder[Any]] = {}
_ENCODER = msgspec.json.Encoder()


def decode_json(kind: Kind, body: bytes, headers: dict[str, str] | None = None) -> m.Request:
    """Decode an HTTP proxy request body into the kind's typed request."""
    decoder = _DECODERS.get(kind.request)
    if decoder is None:
        decoder = _DECODERS[kind.request] = msgspec.json.Decoder(kind.request)
    if m.too_deep(body):
        raise DecodeError(f"malformed {kind.name} request: {m.TOO_DEEP}")
    try:
        request: m.Request = decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed {kind.name} request: {exc}") from exc
    except RecursionError as exc:
        # msgspec guards its recursion with the interpreter's limit (even to skip a Raw
        # field): in a deep call stack it may stop before MAX_DEPTH, cleanly.
        raise DecodeError(f"malformed {kind.name} request: {m.TOO_DEEP}") from exc
    if headers:
        request = msgspec.structs.replace(request, headers=headers)
    return request


def decode_pb(kind: Kind, body: bytes, headers: dict[str, str] | None = None) -> m.Request:
    """Decode a serialized gRPC proxy request into the kind's typed request."""
    message = kind.pb_request()
    try:
        message.ParseFromString(body)
    except (PbDecodeError, RecursionError) as exc:
        raise DecodeError(f"malformed {kind.name} request: {exc}") from exc
    fields: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        name = descriptor.name
        if name in _RAW_FIELDS:
            fields[name] = msgspec.Raw(value)
        elif isinstance(value, str | int | bool):
            fields[name] = value
        else:
            fields[name] = list(value)
    if "channel" in kind.request.__struct_fields__ and "channel" not in fields:
        raise DecodeError(f"malformed {kind.name} request: Object missing required field `channel`")
    if headers:
        fields["headers"] = headers
    return kind.request(**fields)


def _encode_payload(value: Any) -> bytes:
    return value if isinstance(value, bytes) else _ENCODER.encode(value)


def _wire_fields(result: msgspec.Struct, binary: bool, raw_json: bool) -> dict[str, Any]:
    """Result fields as the wire wants them.

    ``raw_json``: payloads embedded as JSON values (HTTP); otherwise bytes (protobuf).
    ``binary``: payloads as base64 in ``b64info``/``b64data`` (binary_encoding).
    """
    fields: dict[str, Any] = {}
    for name in result.__struct_fields__:
        value = getattr(result, name)
        if value is None:
            continue
        if name in _PAYLOAD_FIELDS:
            encoded = _encode_payload(value)
            if binary:
                fields["b64" + name] = base64.b64encode(encoded).decode()
            else:
                fields[name] = msgspec.Raw(encoded) if raw_json else encoded
        elif name == "meta":
            encoded = _encode_payload(value)
            fields[name] = msgspec.Raw(encoded) if raw_json else encoded
        elif name == "override":
            fields[name] = {
                k: {"value": v} for k, v in msgspec.structs.asdict(value).items() if v is not None
            }
        elif name == "subs" and value:
            fields[name] = {ch: _wire_fields(opts, binary, raw_json) for ch, opts in value.items()}
        elif value:
            fields[name] = value
    return fields


def encode_json(kind: Kind, outcome: m.Outcome, *, binary: bool) -> bytes:
    """Encode an outcome as the HTTP proxy's JSON reply."""
    if isinstance(outcome, m.Error):
        return _ENCODER.encode({"error": outcome})
    if isinstance(outcome, m.Disconnect):
        return _ENCODER.encode({"disconnect": outcome})
    _check_result(kind, outcome)
    return _ENCODER.encode({"result": _wire_fields(outcome, binary, raw_json=True)})


def _new(cls: type[Message], **fields: Any) -> Message:
    """``cls(**fields)``: generated messages take their fields as keywords (Message's stubs do not say so)."""
    make: Callable[..., Message] = cls
    return make(**fields)


def encode_pb(kind: Kind, outcome: m.Outcome, *, binary: bool) -> Message:
    """Encode an outcome as the gRPC proxy's response message."""
    if isinstance(outcome, m.Error):
        return _new(kind.pb_response, error=msgspec.structs.asdict(outcome))
    if isinstance(outcome, m.Disconnect):
        return _new(kind.pb_response, disconnect=msgspec.structs.asdict(outcome))
    _check_result(kind, outcome)
    result = _new(kind.pb_result, **_wire_fields(outcome, binary, raw_json=False))
    return _new(kind.pb_response, result=result)


def _check_result(kind: Kind, outcome: m.Result) -> None:
    if not isinstance(outcome, kind.result):
        raise TypeError(
            f"a {kind.name} call must end with {kind.result.__name__}, got {type(outcome).__name__}"
        )
