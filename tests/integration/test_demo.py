"""The demo application's tour, as `make demo` runs it, against a real Centrifugo and pooled hub."""

from __future__ import annotations

import pytest
import yaml

from demo.tour import tour

from .servers import ROOT, Stack

APP = "demo.app:app"
_DEMO = yaml.safe_load((ROOT / "demo" / "hub.yaml").read_text())
CONFIG = {"pool": _DEMO["pool"], "centrifugo": {"namespaces": _DEMO["centrifugo"]["namespaces"]}}


async def test_the_tour_shows_every_step(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    await tour(stack.ws_url)
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
