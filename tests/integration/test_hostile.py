"""A hostile client through a real Centrifugo, over both proxy transports.

Deeply nested JSON in an RPC's or a publication's data gets a permanent error (107),
never the temporary 100 an SDK retries forever, and the other clients go on being served.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from centrifuge import Client

from hub.clients import RealtimeClient

from .servers import Stack

APP = "tests.integration.proxy_app:app"
CONFIG = {"pool": {"workers": 1}, "centrifugo": {"namespaces": {"open": {}}}}


async def hostile(url: str, command: str, body: str) -> dict[str, object]:
    """Connect, send one command whose params are ``body`` (raw JSON text), return the reply."""
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"id": 1, "connect": {"data": {"user": "mallory"}}}))
        assert "connect" in json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(f'{{"id":2,"{command}":{body}}}')
        reply: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return reply


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# 600: past the hub's limit (512); 5000: past Python's recursion limit. (Past 10,000 levels
# Centrifugo's own JSON encoder gives up before calling the proxy, with its temporary 100.)
@pytest.mark.parametrize("depth", [600, 5000])
async def test_deeply_nested_data_gets_a_permanent_error_and_others_are_served(
    stack: Stack, depth: int
) -> None:
    async with RealtimeClient(stack.ws_url) as other:
        await other.connect(data={"user": "bystander"})
        for command, body in (
            ("rpc", f'{{"method":"echo","data":{nested(depth)}}}'),
            ("publish", f'{{"channel":"open:room","data":{{"text":{nested(depth)}}}}}'),
        ):
            reply = await hostile(stack.ws_url, command, body)
            error = reply.get("error")
            assert isinstance(error, dict), reply
            assert error["code"] == 107, reply
            assert not error.get("temporary"), reply
            assert await other.rpc("echo", depth) == {"echo": depth, "user": "bystander"}
    sdk = Client(stack.ws_url, data={"user": "sdk-user"})
    await sdk.connect()
    try:
        assert (await sdk.rpc("echo", {"still": "served"})).data == {
            "echo": {"still": "served"},
            "user": "sdk-user",
        }
    finally:
        await sdk.disconnect()
        # The SDK closes its socket in a task it does not await: wait for it here.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 15)
    logs = stack.log_text()
    assert "Exception in ASGI application" not in logs
    assert "Traceback" not in logs
