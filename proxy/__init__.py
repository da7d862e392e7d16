"""Inbound: the service Centrifugo calls. One generic dispatch, two thin transports.

dispatcher = Dispatcher(handler, settings.proxy)
async with HttpServer(http_app(dispatcher), host, 9000), GrpcServer(dispatcher, host, 9001):
    ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dispatch import Dispatcher, Handler
    from .errors import BadRequest, CallFailed, Overloaded, ProxyError, TooLarge, Unauthenticated
    from .grpc import proxy_service
    from .http import http_app, proxy_routes
    from .listeners import GrpcServer, HttpServer, run_listeners
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
    "HttpServer": ".listeners",
    "Overloaded": ".errors",
    "ProxyError": ".errors",
    "TooLarge": ".errors",
    "Unauthenticated": ".errors",
    "http_app": ".http",
    "proxy_routes": ".http",
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
    "HttpServer",
    "Overloaded",
    "ProxyError",
    "TooLarge",
    "Unauthenticated",
    "http_app",
    "proxy_routes",
    "proxy_service",
    "run_listeners",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    return value
