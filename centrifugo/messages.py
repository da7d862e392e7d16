"""Typed values of Centrifugo's proxy protocol: one request and one result per kind.

Requests are decoded straight from the wire (JSON field names are the proto
field names), so a malformed call fails with a message that names the field.
Payloads stay raw bytes until a handler asks for them::

    async def on_rpc(request: RPCRequest) -> RPCResult:
        return RPCResult(data={"echo": request.json()})

Results carry payloads as plain Python values (anything JSON can encode) or
as ``bytes`` that are already encoded; :mod:`hub.centrifugo.codec` turns them
into JSON or protobuf replies.
"""

from __future__ import annotations

import base64
import binascii
import re
from itertools import accumulate
from typing import Any, ClassVar

import msgspec

from .codes import APP_DISCONNECT_CODES, APP_ERROR_CODES
from .errors import PayloadError

#: The deepest nesting of arrays and objects accepted in a request body or payload.
#: Deeper ones are refused as bad input; msgspec itself stops near the interpreter's
#: recursion limit (about 1,000 levels, fewer in a deep call stack), so this keeps
#: every later step (the handler's ``json()``, the reply's encoding) well clear of it.
MAX_DEPTH = 512
TOO_DEEP = f"JSON nested too deeply (the limit is {MAX_DEPTH} levels)"
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def too_deep(body: bytes) -> bool:
    """True if the JSON text nests arrays and objects deeper than :data:`MAX_DEPTH`.

    Fast for any size (C loops only): counting brackets settles most bodies; only
    bodies with many brackets have their strings blanked and their depth measured.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    # Each opening bracket as +1, each closing one as -1 (signed bytes); the running sum
    # is the depth. Unterminated strings count as brackets: the body is malformed anyway.
    steps = _STRING.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b")), default=0) > MAX_DEPTH


class Error(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A refusal that keeps the connection: the client gets ``code`` and ``message``.

    >>> Error(code=403, message="not a member")
    """

    code: int
    message: str = ""
    temporary: bool = False

    def __post_init__(self) -> None:
        if self.code not in APP_ERROR_CODES:
            raise ValueError(f"error code must be in 100-1999, got {self.code}")


class Disconnect(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A refusal that closes the connection with ``code`` (4000-4999) and ``reason``."""

    code: int
    reason: str = ""

    def __post_init__(self) -> None:
        if self.code not in APP_DISCONNECT_CODES:
            raise ValueError(f"disconnect code must be in 4000-4999, got {self.code}")


class _Call(msgspec.Struct, frozen=True, kw_only=True):
    """Fields every proxy request has. ``headers`` holds the forwarded headers."""

    kind: ClassVar[str]
    client: str = ""
    transport: str = ""
    protocol: str = ""
    encoding: str = ""
    meta: msgspec.Raw = msgspec.Raw()
    headers: dict[str, str] = {}

    @property
    def binary(self) -> bool:
        """True when Centrifugo sends payloads base64-encoded (``binary_encoding``)."""
        return self.encoding == "binary"

    def connection_meta(self) -> Any:
        """The connection's ``meta`` (set by the connect result or the token), or None.

        Raises :class:`PayloadError` if it is not JSON (a handler need not catch it:
        the call is then refused with 107 "bad request", a permanent error).
        """
        return _decode("meta", bytes(self.meta)) if self.meta else None


class _WithPayload(_Call, frozen=True, kw_only=True):
    data: msgspec.Raw = msgspec.Raw()
    b64data: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.data, msgspec.Raw):
            raise TypeError(
                f"data: expected the encoded JSON (msgspec.Raw), got {type(self.data).__name__}; "
                "in a test, build requests with hub.testing (rpc(method, data), subscribe(...), ...)"
            )

    def payload(self) -> bytes:
        """The client's payload as bytes: JSON text, or raw bytes in binary mode."""
        if self.b64data:
            try:
                return base64.b64decode(self.b64data, validate=True)
            except binascii.Error as exc:
                raise PayloadError(f"b64data is not valid base64: {exc}") from exc
        return bytes(self.data)

    def json(self) -> Any:
        """The client's payload decoded as JSON (None when there is no payload).

        Raises :class:`PayloadError` when the payload is not JSON or is nested too
        deeply; a handler need not catch it: the call is then refused with 107 "bad
        request", a permanent error for the client (it is the client's bad input).
        """
        raw = self.payload()
        return _decode("data", raw) if raw else None


def _decode(field: str, raw: bytes) -> Any:
    if too_deep(raw):
        raise PayloadError(f"{field}: {TOO_DEEP}")
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise PayloadError(f"{field} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise PayloadError(f"{field}: {TOO_DEEP}") from exc


class ConnectRequest(_WithPayload, frozen=True, kw_only=True):
    """A client without a token asks to connect."""

    kind: ClassVar[str] = "connect"
    name: str = ""
    version: str = ""
    channels: list[str] = []


class RefreshRequest(_Call, frozen=True, kw_only=True):
    """A connection with an expiry is about to expire."""

    kind: ClassVar[str] = "refresh"
    user: str = ""


class SubscribeRequest(_WithPayload, frozen=True, kw_only=True):
    """A client asks to subscribe to ``channel``."""

    kind: ClassVar[str] = "subscribe"
    user: str = ""
    channel: str
    token: str = ""


class PublishRequest(_WithPayload, frozen=True, kw_only=True):
    """A client publishes ``data`` into ``channel``."""

    kind: ClassVar[str] = "publish"
    user: str = ""
    channel: str


class SubRefreshRequest(_Call, frozen=True, kw_only=True):
    """A subscription with an expiry is about to expire."""

    kind: ClassVar[str] = "sub_refresh"
    user: str = ""
    channel: str


class RPCRequest(_WithPayload, frozen=True, kw_only=True):
    """A client calls ``method`` with ``data``."""

    kind: ClassVar[str] = "rpc"
    user: str = ""
    method: str = ""


Request = ConnectRequest | RefreshRequest | SubscribeRequest | PublishRequest | SubRefreshRequest | RPCRequest


class _Result(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payload fields (``info``, ``data``) hold JSON values, or bytes already encoded."""


class Override(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-subscription overrides of the namespace's options (None keeps the default)."""

    presence: bool | None = None
    join_leave: bool | None = None
    force_recovery: bool | None = None
    force_positioning: bool | None = None
    force_push_join_leave: bool | None = None


class SubscribeOptions(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """Options of a server-side subscription made at connect time."""

    expire_at: int = 0
    info: Any = None
    data: Any = None
    override: Override | None = None


class ConnectResult(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """Accept the connection as ``user`` ("" is anonymous)."""

    user: str
    expire_at: int = 0
    info: Any = None
    data: Any = None
    channels: list[str] = []
    subs: dict[str, SubscribeOptions] = {}
    meta: Any = None


class RefreshResult(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """Extend the connection to ``expire_at``, or end it with ``expired=True``."""

    expired: bool = False
    expire_at: int = 0
    info: Any = None
    meta: Any = None


class SubscribeResult(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """Allow the subscription (all fields optional)."""

    expire_at: int = 0
    info: Any = None
    data: Any = None
    override: Override | None = None


class PublishResult(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """Allow the publication; ``data`` (if set) replaces what the client sent."""

    data: Any = None
    skip_history: bool = False
    tags: dict[str, str] = {}
    idempotency_key: str = ""
    delta: bool = False


class SubRefreshResult(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """Extend the subscription to ``expire_at``, or end it with ``expired=True``."""

    expired: bool = False
    expire_at: int = 0
    info: Any = None


class RPCResult(_Result, frozen=True, kw_only=True, omit_defaults=True):
    """The value returned to the caller of an RPC."""

    data: Any = None


Result = ConnectResult | RefreshResult | SubscribeResult | PublishResult | SubRefreshResult | RPCResult
#: What a call ends with: a result, or a refusal as a value.
Outcome = Result | Error | Disconnect
