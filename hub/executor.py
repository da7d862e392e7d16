"""The inline executor: runs handlers in the service's own event loop.

Async handlers run on the loop, sync ones in a thread. Used with ``pool:
workers: 0`` and in tests; the worker pool implements the same
:class:`hub.proxy.Handler` protocol.
"""

from __future__ import annotations

import asyncio

from hub.centrifugo import Outcome, Request
from hub.proxy import CallFailed

from .app import App


class InlineExecutor:
    """Runs each call's handler in this process, bounded by ``call_timeout``."""

    def __init__(self, app: App, call_timeout: float) -> None:
        self.app = app
        self.call_timeout = call_timeout

    async def handle(self, request: Request) -> Outcome:
        """Run the handler; :class:`CallFailed` when it takes longer than ``call_timeout``."""
        try:
            async with asyncio.timeout(self.call_timeout):
                return await self.app.run(request)
        except TimeoutError:
            raise CallFailed(f"{request.kind} handler exceeded {self.call_timeout}s") from None
