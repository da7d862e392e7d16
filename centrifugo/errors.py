"""Errors of the Centrifugo contract package.

CentrifugoError
├── DecodeError        a proxy request that cannot be decoded (names the field)
├── PayloadError       a payload that is not what its encoding says
├── BinaryNotFound     no Centrifugo binary to run (says how to get one)
└── TokenKeyError      a token signing key file that cannot be used (says why)
"""


class CentrifugoError(Exception):
    """Root of this package's errors."""


class DecodeError(CentrifugoError, ValueError):
    """A proxy request that cannot be decoded; the message names the field."""


class PayloadError(CentrifugoError, ValueError):
    """A request's payload is not what its encoding says (bad base64 or bad JSON)."""


class BinaryNotFound(CentrifugoError):
    """No Centrifugo binary was found; the message says how to provide one."""


class TokenKeyError(CentrifugoError, ValueError):
    """A token signing key file that cannot be used; the message says why."""
