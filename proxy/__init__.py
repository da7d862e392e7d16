"""Inbound: the service Centrifugo calls. One generic dispatch, two thin transports.

dispatcher = Dispatcher(handler, settings.proxy)
async with HttpServer(http_app(dispatcher), host, 9000), GrpcServer(dispatcher, host, 9001):
    ...
"""

from .dispatch import Dispatcher, Handler
from .errors import BadRequest, CallFailed, Overloaded, ProxyError, TooLarge, Unauthenticated
from .grpc import proxy_service
from .http import http_app, proxy_routes
from .listeners import GrpcServer, HttpServer
from .listeners import run as run_listeners
from .stats import CallStats

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
