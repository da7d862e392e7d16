"""The publisher the hub builds from hub.yaml (``centrifugo:`` and ``publisher:``).

async with publisher_for(settings) as publisher:
    await publisher.publish("news", {"title": "hello"})
"""

from __future__ import annotations

from hub.clients import Publisher

from .settings import Settings

_ANY = {"", "0.0.0.0", "::"}


def api_url(settings: Settings) -> str:
    """Centrifugo's HTTP server API base URL (``publisher.api_url``, or ``http://host:port/api``)."""
    if settings.publisher.api_url:
        return settings.publisher.api_url.rstrip("/")
    c = settings.centrifugo
    return f"http://{reachable(c.host)}:{c.port}/api"


def websocket_url(settings: Settings) -> str:
    """Where clients connect: Centrifugo's WebSocket endpoint (``ws://host:port/connection/websocket``)."""
    c = settings.centrifugo
    return f"ws://{reachable(c.host)}:{c.port}/connection/websocket"


def grpc_target(settings: Settings) -> str:
    """Centrifugo's gRPC server API address, or "" when it is off."""
    c = settings.centrifugo
    return f"{reachable(c.host)}:{c.grpc_api_port}" if c.grpc_api_port else ""


def publisher_for(settings: Settings) -> Publisher:
    """A (not yet opened) publisher for these settings."""
    return Publisher(
        settings.publisher,
        api_url=api_url(settings),
        api_key=settings.centrifugo.api_key,
        grpc_target=grpc_target(settings),
    )


def reachable(host: str) -> str:
    """A listen-on-every-interface address is reached through loopback."""
    return "127.0.0.1" if host in _ANY else host
