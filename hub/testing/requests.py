"""Proxy requests for tests, built from plain values and checked as they are built.

    outcome = await app.run(rpc("chat.send", {"text": "hi"}, user="alice"))

Each builder encodes ``data`` as JSON the way Centrifugo sends it, so the
handler's ``request.json()`` sees exactly what it would in production; a value
JSON cannot carry, an empty channel or method fails here, not in the handler.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hub.centrifugo import (
    ConnectRequest,
    PublishRequest,
    RefreshRequest,
    RPCRequest,
    SubRefreshRequest,
    SubscribeRequest,
)

_CALL: dict[str, Any] = {
    "client": "test-client", "transport": "websocket", "protocol": "json", "encoding": "json",
}  # fmt: skip


def _payload(data: Any) -> msgspec.Raw:
    if data is None:
        return msgspec.Raw()
    try:
        return msgspec.Raw(msgspec.json.encode(data))
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(
            f"data: a client can only send JSON values, got {type(data).__name__}: {exc}"
        ) from exc


def _named(what: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: expected a non-empty string, got {value!r}")
    return value


def _meta(meta: Any) -> msgspec.Raw:
    return msgspec.Raw() if meta is None else _payload(meta)


def connect(data: Any = None, *, name: str = "test", headers: dict[str, str] | None = None) -> ConnectRequest:
    """A client without a token asks to connect, sending ``data``."""
    return ConnectRequest(**_CALL, data=_payload(data), name=name, headers=headers or {})


def refresh(user: str, *, meta: Any = None) -> RefreshRequest:
    """``user``'s connection is about to expire."""
    return RefreshRequest(**_CALL, user=user, meta=_meta(meta))


def subscribe(channel: str, *, user: str = "", data: Any = None, meta: Any = None) -> SubscribeRequest:
    """``user`` asks to subscribe to ``channel``."""
    return SubscribeRequest(
        **_CALL, channel=_named("channel", channel), user=user, data=_payload(data), meta=_meta(meta)
    )


def publish(channel: str, data: Any, *, user: str = "", meta: Any = None) -> PublishRequest:
    """``user`` publishes ``data`` into ``channel``."""
    return PublishRequest(
        **_CALL, channel=_named("channel", channel), user=user, data=_payload(data), meta=_meta(meta)
    )


def sub_refresh(channel: str, *, user: str = "", meta: Any = None) -> SubRefreshRequest:
    """``user``'s subscription to ``channel`` is about to expire."""
    return SubRefreshRequest(**_CALL, channel=_named("channel", channel), user=user, meta=_meta(meta))


def rpc(method: str, data: Any = None, *, user: str = "", meta: Any = None) -> RPCRequest:
    """``user`` calls the RPC ``method`` with ``data``."""
    return RPCRequest(
        **_CALL, method=_named("method", method), user=user, data=_payload(data), meta=_meta(meta)
    )
