"""A publisher that records instead of sending: handlers that publish, tested with no server.

with RecordingPublisher().installed(app) as published:
    await app.run(rpc("chat.send", {"text": "hi"}, user="alice"))
assert published.data("chat:lobby") == [{"user": "alice", "text": "hi"}]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hub.app import App
from hub.clients import Published, PublisherSettings
from hub.errors import HubError


@dataclass(frozen=True, slots=True, kw_only=True)
class Publication:
    """One recorded ``app.publish(channel, data, **options)``."""

    channel: str
    data: Any
    options: dict[str, Any] = field(default_factory=dict)


class RecordingPublisher:
    """Stands in for the app's publisher; ``publications`` in the order they were made."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.settings = PublisherSettings()
        self._offsets = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop publish_sync() hops to: the test's."""
        return self._loop or asyncio.get_running_loop()

    async def publish(self, channel: str, data: Any, **options: Any) -> Published:
        """Record one publication; the data must be what JSON can carry, as on the wire."""
        try:
            msgspec.json.encode(data)
        except (TypeError, msgspec.EncodeError) as exc:
            raise TypeError(f"publish {channel}: data is not JSON: {exc}") from exc
        self.publications.append(Publication(channel=channel, data=data, options=options))
        return Published(offset=next(self._offsets))

    async def publish_many(self, items: Iterable[tuple[str, Any]], **options: Any) -> list[Published]:
        """Record each pair as one publication, as :meth:`publish` does."""
        return [await self.publish(channel, data, **options) for channel, data in items]

    def data(self, channel: str) -> list[Any]:
        """What was published to ``channel``, in order."""
        return [p.data for p in self.publications if p.channel == channel]

    def channels(self) -> list[str]:
        """The channels published to, in order of the first publication."""
        return list(dict.fromkeys(p.channel for p in self.publications))

    @contextlib.contextmanager
    def installed(self, app: App) -> Iterator[RecordingPublisher]:
        """Make this the app's publisher for the block (``app.publish`` records here)."""
        if app._publisher is not None:
            raise HubError("the app already has an open publisher")
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        app._publisher = self  # type: ignore[assignment]
        try:
            yield self
        finally:
            app._publisher = None
