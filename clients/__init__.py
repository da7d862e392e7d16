"""Outbound: the hub calls Centrifugo (server API publisher, real-time client)."""

from .errors import ClientError, ReplyError
from .realtime import Push, RealtimeClient

__all__ = ["ClientError", "Push", "RealtimeClient", "ReplyError"]
