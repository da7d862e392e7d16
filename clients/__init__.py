"""Outbound: the hub calls Centrifugo (server API publisher, real-time client)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._batch import SIZE_BUCKETS, PublisherCounts
    from .errors import (
        ApiError,
        ApiTimeoutError,
        ClientError,
        ClosedError,
        NetworkError,
        OverloadedError,
        PublisherError,
        ReplyError,
        UnauthorizedError,
        UnavailableError,
    )
    from .publisher import Publisher, PublisherSettings
    from .realtime import Push, RealtimeClient
    from .results import ClientInfo, History, Node, PresenceStats, Publication, Published, StreamPosition

#: Where each export lives, loaded on first use (PEP 562): importing one module of the
#: package does not load the rest.
_EXPORTS = {
    "SIZE_BUCKETS": "._batch",
    "PublisherCounts": "._batch",
    "ApiError": ".errors",
    "ApiTimeoutError": ".errors",
    "ClientError": ".errors",
    "ClientInfo": ".results",
    "ClosedError": ".errors",
    "History": ".results",
    "NetworkError": ".errors",
    "Node": ".results",
    "OverloadedError": ".errors",
    "PresenceStats": ".results",
    "Publication": ".results",
    "Published": ".results",
    "Publisher": ".publisher",
    "PublisherError": ".errors",
    "PublisherSettings": ".publisher",
    "Push": ".realtime",
    "RealtimeClient": ".realtime",
    "ReplyError": ".errors",
    "StreamPosition": ".results",
    "UnauthorizedError": ".errors",
    "UnavailableError": ".errors",
}

__all__ = [
    "SIZE_BUCKETS",
    "ApiError",
    "ApiTimeoutError",
    "ClientError",
    "ClientInfo",
    "ClosedError",
    "History",
    "NetworkError",
    "Node",
    "OverloadedError",
    "PresenceStats",
    "Publication",
    "Published",
    "Publisher",
    "PublisherCounts",
    "PublisherError",
    "PublisherSettings",
    "Push",
    "RealtimeClient",
    "ReplyError",
    "StreamPosition",
    "UnauthorizedError",
    "UnavailableError",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    return value
