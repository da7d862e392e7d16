"""A test client in the spirit of Phoenix's ChannelTest: connect, join, call, assert.

    async with server.client() as alice:
        await alice.connect_as("alice")
        await alice.subscribe_and_join("chat:lobby")
        await alice.assert_reply("chat.send", {"text": "hi"}, {"ok": True})
        await alice.assert_publication("chat:lobby", {"user": "alice", "text": "hi"})

Built on :class:`hub.clients.RealtimeClient` (Centrifugo's JSON protocol over a
real WebSocket); every wait is bounded, and a failed assertion says what arrived instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hub.clients import Push, RealtimeClient
from hub.tokens import TokenMinter


class TestClient(RealtimeClient):
    """A :class:`RealtimeClient` with connect-as-a-user and assertion helpers."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, url: str, tokens: TokenMinter, *, timeout: float = 5.0) -> None:
        super().__init__(url, timeout=timeout)
        self._tokens = tokens
        #: Pushes read while waiting for another channel's, kept for later assertions.
        self._seen: list[Push] = []

    async def connect_as(self, user: str, *, data: Any = None) -> dict[str, Any]:
        """Connect with a token for ``user`` (no connect handler involved)."""
        return await self.connect(token=self._tokens.connection(user), data=data)

    async def subscribe_and_join(self, channel: str, **options: Any) -> dict[str, Any]:
        """Subscribe to ``channel`` (its subscribe handler decides); the subscribe reply."""
        return await self.subscribe(channel, **options)

    async def assert_reply(self, method: str, data: Any, expected: Any) -> Any:
        """Call the RPC ``method`` and assert its result equals ``expected``."""
        reply = await self.rpc(method, data)
        assert reply == expected, f"rpc {method}: expected {expected!r}, got {reply!r}"
        return reply

    async def assert_publication(self, channel: str, expected: Any = ..., *, within: float = 5.0) -> Any:
        """Wait (at most ``within`` seconds) for a publication on ``channel``; its data.

        With ``expected``, the first publication equal to it; other publications
        on the channel are skipped.
        """
        deadline = time.monotonic() + within
        others: list[Any] = []
        while True:
            for push in list(self._seen):
                if push.type == "pub" and push.channel == channel:
                    self._seen.remove(push)
                    data = push.body.get("data")
                    if expected is ... or data == expected:
                        return data
                    others.append(data)
            left = deadline - time.monotonic()
            if left <= 0:
                want = "a publication" if expected is ... else f"{expected!r}"
                raise AssertionError(f"{channel}: {want} did not arrive within {within}s (got {others!r})")
            try:
                self._seen.append(await asyncio.wait_for(self.pushes.get(), left))
            except TimeoutError:
                continue

    async def refute_publication(self, channel: str, *, within: float = 0.5) -> None:
        """Assert that no publication arrives on ``channel`` for ``within`` seconds."""
        try:
            data = await self.assert_publication(channel, within=within)
        except AssertionError:
            return
        raise AssertionError(f"{channel}: expected no publication within {within}s, got {data!r}")
