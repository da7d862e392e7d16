"""The demo application's tour, as `make demo` runs it, against a real Centrifugo and pooled hub.

Started from demo/hub.yaml itself (its gRPC proxy, its pool) by hub.testing's HubServer, on free ports.
The tour does not depend on the proxy transport, so it runs once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demo.tour import tour
from hub.testing import HubServer

from .servers import ROOT


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with HubServer(ROOT / "demo" / "hub.yaml", tmp_path_factory.mktemp("demo")) as server:
        yield server


async def test_the_tour_shows_every_step(demo: HubServer, capsys: pytest.CaptureFixture[str]) -> None:
    await tour(demo.ws_url)
    out = capsys.readouterr().out
    for line in (
        "rooms (RPC chat.rooms): ['lobby', 'python', 'random']",
        "bob received on chat:lobby: {'text': 'hello bob', 'by': 'alice'}",
        "alice got {'text': '*waves*', 'by': 'bob'}",
        "presence in chat:lobby: ['alice', 'bob']",
        "history of chat:lobby: ['hello bob', '*waves*']",
        "bob may not join chat:secret-room: error 404",
        "a message without text is refused: error 400",
        "carol's report job ran in a worker and streamed its progress: [25, 50, 75, 100]",
        "a client without a user name is refused: error 401",
    ):
        assert line in out
