"""Errors of the proxy service.

    ProxyError
    ├── Unauthenticated    the call lacks the shared secret (never reaches app code)
    ├── BadRequest         the call cannot be decoded, or is too large
    │   ├── TooLarge       the body is over ``proxy.max_body_size``
    │   └── NotJson        the body is declared with a content type other than JSON
    └── CallFailed         the handler failed: Centrifugo answers the client with
        │                  the temporary error 100 and the client retries
        └── Overloaded     no capacity to take the call now (also temporary)

A refusal decided by the application is not an error here: it is an
``Error`` or ``Disconnect`` value inside a normal reply.
"""


class ProxyError(Exception):
    """Root of the proxy service's errors."""


class Unauthenticated(ProxyError):
    """The call does not carry the shared secret exactly once."""


class BadRequest(ProxyError):
    """The call cannot be decoded or is too large; the message names the problem."""


class TooLarge(BadRequest):
    """The call's body is over ``proxy.max_body_size``."""


class NotJson(BadRequest):
    """The call's ``content-type`` is not ``application/json``."""


class CallFailed(ProxyError):
    """The handler raised, timed out, or its worker died."""


class Overloaded(CallFailed):
    """No capacity to take the call now (queue full, no free worker in time)."""
