"""Inbound: the service Centrifugo calls. One generic dispatch, two thin transports.

dispatcher = Dispatcher(handler, settings.proxy)
async with ProxyHttpServer(dispatcher, host, 9000), GrpcServer(dispatcher, host, 9001):
    ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dispatch import Dispatcher, Handler
    from .errors import BadRequest, CallFailed, Overloaded, ProxyError, TooLarge, Unauthenticated
    from .grpc import proxy_service
    from .listeners import GrpcServer, HttpListener, HttpServer, ProxyHttpServer, run_listeners
    from .stats import CallStats

#: Where each export lives, loaded on first use (PEP 562): importing one module of the
#: package does not load the rest.
_EXPORTS = {
    "BadRequest": ".errors",
    "CallFailed": ".errors",
    "CallStats": ".stats",
    "Dispatcher": ".dispatch",
    "GrpcServer": ".listeners",
    "Handler": ".dispatch",
    "HttpListener": ".listeners",
    "HttpServer": ".listeners",
    "Overloaded": ".errors",
    "ProxyError": ".errors",
    "ProxyHttpServer": ".listeners",
    "TooLarge": ".errors",
    "Unauthenticated": ".errors",
    "proxy_service": ".grpc",
    "run_listeners": ".listeners",
}

__all__ = [
    "BadRequest",
    "CallFailed",
    "CallStats",
    "Dispatcher",
    "GrpcServer",
    "Handler",
    "HttpListener",
    "HttpServer",
    "Overloaded",
    "ProxyError",
    "ProxyHttpServer",
    "TooLarge",
    "Unauthenticated",
    "proxy_service",
    "run_listeners",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    return value
