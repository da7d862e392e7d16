"""The app's lifespans: entered in order before serving, left in reverse (no sockets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from hub import App
from hub.app import lifespan, running


async def test_lifespans_run_in_order_and_unwind_in_reverse() -> None:
    app = App()
    log: list[str] = []

    def resource(name: str) -> object:
        @contextlib.asynccontextmanager
        async def enter(a: App) -> AsyncIterator[None]:
            assert a is app
            log.append(f"open {name}")
            try:
                yield
            finally:
                log.append(f"close {name}")

        return enter

    lifespan(app, resource("publisher"))  # type: ignore[arg-type]
    lifespan(app, resource("db"))  # type: ignore[arg-type]
    async with running(app) as same:
        assert same is app
        assert log == ["open publisher", "open db"]
    assert log == ["open publisher", "open db", "close db", "close publisher"]
