"""The two wires to Centrifugo's server API, behind one private protocol.

A transport sends one ``batch`` of commands and returns one reply per
command: the result as a JSON-shaped dict, or the :class:`ApiError` of that
command alone. A failure of the whole request raises (network, timeout,
unauthorized). Payload fields (``data``, ``info``) arrive already encoded as
``msgspec.Raw`` JSON, so a payload is encoded once whatever the wire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
import grpc
import msgspec
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from hub.centrifugo.wire import API_BATCH_METHOD
from hub.centrifugo.wire import api_pb as pb

from .errors import ApiError, ApiTimeoutError, NetworkError, PublisherError, UnauthorizedError

Command = tuple[str, dict[str, Any]]
Reply = dict[str, Any] | ApiError

#: The request message of each method (also its field name in Command and Reply).
REQUESTS: dict[str, type[Message]] = {
    "publish": pb.PublishRequest,
    "broadcast": pb.BroadcastRequest,
    "subscribe": pb.SubscribeRequest,
    "unsubscribe": pb.UnsubscribeRequest,
    "disconnect": pb.DisconnectRequest,
    "presence": pb.PresenceRequest,
    "presence_stats": pb.PresenceStatsRequest,
    "history": pb.HistoryRequest,
    "history_remove": pb.HistoryRemoveRequest,
    "info": pb.InfoRequest,
    "refresh": pb.RefreshRequest,
    "channels": pb.ChannelsRequest,
}
_JSON_BYTES = frozenset({"data", "conn_info", "chan_info", "info"})  # JSON documents as proto bytes
_INT64 = frozenset({"offset", "rss", "expire_at"})  # 64-bit ints that protobuf's JSON writes as strings


class Transport(Protocol):
    """One wire to the server API; opened inside the running loop, closed once."""

    async def open(self) -> None: ...

    async def batch(self, commands: Sequence[Command]) -> list[Reply]: ...

    async def aclose(self) -> None: ...


class HttpTransport:
    """``POST {api_url}/batch`` with JSON, over one aiohttp connection pool.

    cent 5.2.0 is not used on this path: it raises a bare KeyError when one
    command of a batch fails, and its pydantic models cost more per publish
    than the request itself; the JSON shape is the same.
    """

    def __init__(self, api_url: str, api_key: str, *, timeout: float, connections: int) -> None:
        self.url = api_url.rstrip("/") + "/batch"
        self.api_key = api_key
        self.timeout = timeout
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.connections)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )

    async def batch(self, commands: Sequence[Command]) -> list[Reply]:
        assert self._session is not None, "open() first"
        body = msgspec.json.encode({"commands": [{m: p} for m, p in commands], "parallel": False})
        try:
            async with self._session.post(self.url, data=body) as response:
                if response.status == 401:
                    raise UnauthorizedError(f"Centrifugo refused the API key ({self.url}: HTTP 401)")
                if response.status >= 500:
                    raise NetworkError(f"{self.url}: HTTP {response.status}")
                if response.status != 200:
                    raise PublisherError(f"{self.url}: unexpected HTTP {response.status}")
                payload = msgspec.json.decode(await response.read())
        except TimeoutError as exc:
            raise ApiTimeoutError(f"{self.url}: no answer within {self.timeout}s") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise NetworkError(f"{self.url}: answer is not JSON: {exc}") from exc
        return _replies(payload, commands, _http_reply)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class GrpcTransport:
    """``CentrifugoApi.Batch`` over one grpc.aio channel (``grpc_api.key`` as metadata)."""

    def __init__(self, target: str, api_key: str, *, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.metadata = (("authorization", f"apikey {api_key}"),)
        self._channel: grpc.aio.Channel | None = None
        self._call: Any = None

    async def open(self) -> None:
        # Reconnect quickly after Centrifugo restarts (gRPC's default backoff grows to 120 s).
        options = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 1000)]  # fmt: skip
        self._channel = grpc.aio.insecure_channel(self.target, options=options)
        self._call = self._channel.unary_unary(
            API_BATCH_METHOD,
            request_serializer=pb.BatchRequest.SerializeToString,
            response_deserializer=pb.BatchResponse.FromString,
        )

    async def batch(self, commands: Sequence[Command]) -> list[Reply]:
        assert self._call is not None, "open() first"
        request = _request(commands)
        try:
            response = await self._call(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            where = f"grpc://{self.target}"
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise UnauthorizedError(f"Centrifugo refused the API key ({where})") from exc
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ApiTimeoutError(f"{where}: no answer within {self.timeout}s") from exc
            if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED):
                raise PublisherError(f"{where}: {code.name}: {exc.details()}") from exc
            raise NetworkError(f"{where}: {code.name}: {exc.details()}") from exc
        if len(response.replies) != len(commands):
            raise NetworkError(f"{len(response.replies)} replies to {len(commands)} commands")
        pairs = zip(commands, response.replies, strict=True)
        return [_grpc_reply(method, reply) for (method, _), reply in pairs]

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def _replies(payload: Any, commands: Sequence[Command], one: Any) -> list[Reply]:
    if not isinstance(payload, dict):
        raise NetworkError("batch answer is not an object")
    if "error" in payload:  # the whole batch was refused (e.g. bad request)
        error = payload["error"]
        return [ApiError(error.get("code", 0), error.get("message", "")) for _ in commands]
    replies = payload.get("replies")
    if not isinstance(replies, list) or len(replies) != len(commands):
        raise NetworkError(f"batch answer has no reply per command: {str(payload)[:200]}")
    return [one(method, reply) for (method, _), reply in zip(commands, replies, strict=True)]


def _http_reply(method: str, reply: dict[str, Any]) -> Reply:
    error = reply.get("error")
    if error is not None:
        return ApiError(error.get("code", 0), error.get("message", ""))
    result: dict[str, Any] = reply.get(method) or {}
    return result


def _request(commands: Sequence[Command]) -> Any:
    """A ``BatchRequest`` of ``commands``; publishes (the hot path) are filled in place, field
    by field, which costs less than building each message and copying it into the batch."""
    request = pb.BatchRequest()
    add = request.commands.add
    for method, params in commands:
        if method != "publish":
            getattr(add(), method).CopyFrom(_message(method, params))
            continue
        publish = add().publish
        for key, value in params.items():
            if key == "tags":  # the one field of a publish that is not a scalar
                publish.tags.update(value)
            else:
                setattr(publish, key, _field(value))
    return request


def _message(method: str, params: dict[str, Any]) -> Any:
    return REQUESTS[method](**{k: _field(v) for k, v in params.items()})


def _field(value: Any) -> Any:
    """A command's value as protobuf takes it: a JSON document (``msgspec.Raw``) as bytes."""
    return bytes(value) if isinstance(value, msgspec.Raw) else value


def _grpc_reply(method: str, reply: Any) -> Reply:
    if reply.HasField("error"):
        return ApiError(reply.error.code, reply.error.message)
    result = getattr(reply, method)
    if method == "publish":  # the hot path: no generic conversion
        return {"offset": result.offset, "epoch": result.epoch}
    data = MessageToDict(result, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    fixed: dict[str, Any] = _fix(data)
    return fixed


def _fix(value: Any, key: str = "") -> Any:
    """Protobuf's JSON as Centrifugo's HTTP JSON: bytes fields are JSON, 64-bit ints are ints."""
    if isinstance(value, dict):
        return {k: _fix(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix(v, key) for v in value]
    if key in _JSON_BYTES and isinstance(value, str):
        raw = base64.b64decode(value)
        return json.loads(raw) if raw else None
    if key in _INT64 and isinstance(value, str):
        return int(value)
    return value
