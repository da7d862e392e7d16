"""Binary payload mode (``proxy.binary_encoding``): payloads travel base64-encoded both ways."""

from __future__ import annotations

import asyncio

from hub.clients import RealtimeClient

from .servers import Stack

APP = "tests.integration.proxy_app:app"
CONFIG = {
    "proxy": {"binary_encoding": True},
    "centrifugo": {"namespaces": {"open": {"presence": True}}},
}


async def test_payloads_round_trip_in_binary_mode(stack: Stack) -> None:
    async with RealtimeClient(stack.ws_url) as client:
        await client.connect(data={"user": "bin"})
        assert await client.rpc("echo", {"ü": [1, 2]}) == {"echo": {"ü": [1, 2]}, "user": "bin"}
        await client.subscribe("open:bin")
        presence = await client.presence("open:bin")
        assert [c["conn_info"] for c in presence.values()] == [{"name": "bin", "device": ""}]
        await client.publish("open:bin", {"text": "quiet", "rewrite": True})
        push = await asyncio.wait_for(client.pushes.get(), 5)
        assert push.body["data"] == {"text": "QUIET", "by": "bin"}
