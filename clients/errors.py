"""Errors of the outbound clients.

ClientError
└── ReplyError      Centrifugo answered a command with an error (code, message, temporary)
"""


class ClientError(Exception):
    """Root of the outbound clients' errors."""


class ReplyError(ClientError):
    """An error reply: Centrifugo's (or the application's) ``code`` and ``message``."""

    def __init__(self, code: int, message: str, temporary: bool = False) -> None:
        super().__init__(f"{code}: {message}" + (" (temporary)" if temporary else ""))
        self.code = code
        self.message = message
        self.temporary = temporary
