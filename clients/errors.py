"""Errors of the outbound clients.

ClientError
├── ReplyError          the real-time client: Centrifugo answered a command with an error
└── PublisherError      the server-API publisher
    ├── ApiError            Centrifugo refused the command: ``code`` (102 unknown channel, 107 bad
    │                       request, 108 not available, ...) and ``message``; permanent unless 100
    ├── UnavailableError    Centrifugo could not be reached within the retry budget
    │   ├── NetworkError        connection refused or reset, HTTP 5xx, gRPC UNAVAILABLE
    │   └── ApiTimeoutError     no answer within ``request_timeout``
    ├── UnauthorizedError   the API key was refused (HTTP 401, gRPC UNAUTHENTICATED)
    ├── OverloadedError     ``max_pending`` calls are already waiting; nothing was sent
    └── ClosedError         the publisher is not open (or is closing)
"""

from __future__ import annotations


class ClientError(Exception):
    """Root of the outbound clients' errors."""


class ReplyError(ClientError):
    """An error reply: Centrifugo's (or the application's) ``code`` and ``message``."""

    def __init__(self, code: int, message: str, temporary: bool = False) -> None:
        super().__init__(f"{code}: {message}" + (" (temporary)" if temporary else ""))
        self.code = code
        self.message = message
        self.temporary = temporary


class PublisherError(ClientError):
    """Root of the server-API publisher's errors."""


class ApiError(PublisherError):
    """Centrifugo answered this command with an error (``code``, ``message``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Centrifugo API error {code}: {message}")
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        """Code 100 (internal, e.g. its broker is briefly down) is worth a retry."""
        return self.code == 100


class UnavailableError(PublisherError):
    """Centrifugo could not be reached; raised once the retry budget is spent."""


class NetworkError(UnavailableError):
    """The connection failed (refused, reset, HTTP 5xx, gRPC UNAVAILABLE)."""


class ApiTimeoutError(UnavailableError):
    """Centrifugo did not answer within the request timeout."""


class UnauthorizedError(PublisherError):
    """Centrifugo refused the API key (``centrifugo.api_key`` differs from the server's)."""


class OverloadedError(PublisherError):
    """Too many calls are pending (``publisher.max_pending``); this one was not sent."""


class ClosedError(PublisherError):
    """The publisher is not open, or is closing: open it with ``async with``."""
