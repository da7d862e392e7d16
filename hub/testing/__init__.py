"""hub.testing: the test kit for applications on the hub (a pytest plugin).

Handlers in microseconds, with no server::

    async def test_send(hub_app, published):
        outcome = await hub_app.run(rpc("chat.send", {"text": "hi"}, user="alice"))
        assert outcome == RPCResult(data={"ok": True})
        assert published.data("chat:lobby") == [{"user": "alice", "text": "hi"}]

The whole app against a real Centrifugo, with faults::

    async def test_room(hub_server):
        async with hub_server.client() as alice:
            await alice.connect_as("alice")
            await alice.subscribe_and_join("chat:lobby")
            hub_server.kill_worker()
            await alice.assert_reply("chat.send", {"text": "hi"}, {"ok": True})
            await alice.assert_publication("chat:lobby", {"user": "alice", "text": "hi"})

See docs/testing.md. Exports load lazily (PEP 562): the request builders do not load the server kit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import TestClient
    from .recording import Publication, RecordingPublisher
    from .requests import connect, publish, refresh, rpc, sub_refresh, subscribe
    from .server import HubServer, free_port

_EXPORTS = {
    "HubServer": ".server",
    "Publication": ".recording",
    "RecordingPublisher": ".recording",
    "TestClient": ".client",
    "connect": ".requests",
    "free_port": ".server",
    "publish": ".requests",
    "refresh": ".requests",
    "rpc": ".requests",
    "sub_refresh": ".requests",
    "subscribe": ".requests",
}

__all__ = [
    "HubServer",
    "Publication",
    "RecordingPublisher",
    "TestClient",
    "connect",
    "free_port",
    "publish",
    "refresh",
    "rpc",
    "sub_refresh",
    "subscribe",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
