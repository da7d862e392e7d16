"""The app's lifespan: the publisher, then each registered resource, unwound in reverse (no sockets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub import App, HubError, load


async def test_resources_open_in_order_and_close_in_reverse_with_the_publisher_open(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("app: demo.app:app\nproxy: {secret: s}\ncentrifugo: {api_key: a, token_secret: t}\n")
    settings = load(path, environ={})
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
                assert a.publisher is not None  # still open while resources close
                log.append(f"close {name}")

        return enter

    app.on_lifespan(resource("db"))  # type: ignore[arg-type]
    app.on_lifespan(resource("cache"))  # type: ignore[arg-type]
    async with app.lifespan(settings) as same:
        assert same is app
        assert log == ["open db", "open cache"]
        with pytest.raises(HubError, match="already open"):
            async with app.lifespan(settings):
                pass
    assert log == ["open db", "open cache", "close cache", "close db"]
    with pytest.raises(HubError, match="no open publisher"):
        _ = app.publisher
