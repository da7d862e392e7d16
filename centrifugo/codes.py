"""Centrifugo's error and disconnect codes, and the ranges left to applications.

Errors travel inside a normal reply and keep the connection; disconnects close
it. Applications use errors 400-1999 and disconnects 4000-4999: in 4000-4499
the client reconnects, in 4500-4999 it stays disconnected.
"""

from enum import IntEnum


class ErrorCode(IntEnum):
    """The built-in error codes a client can receive."""

    INTERNAL = 100
    UNAUTHORIZED = 101
    UNKNOWN_CHANNEL = 102
    PERMISSION_DENIED = 103
    METHOD_NOT_FOUND = 104
    ALREADY_SUBSCRIBED = 105
    LIMIT_EXCEEDED = 106
    BAD_REQUEST = 107
    NOT_AVAILABLE = 108
    TOKEN_EXPIRED = 109
    EXPIRED = 110
    TOO_MANY_REQUESTS = 111
    UNRECOVERABLE_POSITION = 112


class DisconnectCode(IntEnum):
    """The built-in disconnect codes (WebSocket close codes) a client can see."""

    SHUTDOWN = 3001
    INTERNAL = 3004
    EXPIRED = 3005
    SUBSCRIPTION_EXPIRED = 3006
    INVALID_TOKEN = 3500
    BAD_REQUEST = 3501
    STALE = 3502
    FORCE_DISCONNECT = 3503
    PERMISSION_DENIED = 3507


#: Error codes an application may return from a handler (Centrifugo's own
#: codes 100-399 are allowed too, so a handler can say "permission denied").
APP_ERROR_CODES = range(100, 2000)
#: Disconnect codes an application may return from a handler.
APP_DISCONNECT_CODES = range(4000, 5000)
#: Disconnect codes after which the client reconnects by itself.
RECONNECT_DISCONNECT_CODES = range(4000, 4500)
