"""Outbound: the hub calls Centrifugo (server API publisher, real-time client)."""

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

__all__ = [
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
    "PublisherError",
    "PublisherSettings",
    "Push",
    "RealtimeClient",
    "ReplyError",
    "StreamPosition",
    "UnauthorizedError",
    "UnavailableError",
]
