"""The demo's handlers, with no server: sign-in by cookie, rooms, sending, exporting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo import app as demo
from demo import session
from demo.ratelimit import RateLimit
from hub.centrifugo import ConnectResult, Disconnect, Error, RPCResult
from hub.testing import RecordingPublisher, connect, rpc, subscribe


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingPublisher]:
    monkeypatch.setattr(demo, "SENDS", RateLimit(tmp_path / "rl.sqlite3", limit=2, window=60))
    with RecordingPublisher().installed(demo.app) as recording:
        yield recording


async def test_the_session_cookie_names_the_user() -> None:
    cookie = f"{session.COOKIE}={session.sign('alice')}"
    outcome = await demo.app.run(connect(headers={"cookie": cookie}))
    assert isinstance(outcome, ConnectResult)
    assert outcome.user == "alice"


@pytest.mark.parametrize("headers", [{}, {"cookie": f"{session.COOKIE}=alice"}, {"x-user": "alice"}])
async def test_without_a_valid_cookie_nobody_connects(headers: dict[str, str]) -> None:
    outcome = await demo.app.run(connect({"user": "alice"}, headers=headers))
    assert isinstance(outcome, Disconnect)
    assert outcome.code == 4501


@pytest.mark.parametrize(
    ("channel", "code"), [("chat:lobby", None), ("chat:secret", 403), ("chat:nowhere", 404)]
)
async def test_rooms(channel: str, code: int | None) -> None:
    outcome = await demo.app.run(subscribe(channel, user="alice"))
    assert (outcome.code if isinstance(outcome, Error) else None) == code


async def test_send_publishes_a_stamped_message(published: RecordingPublisher) -> None:
    outcome = await demo.app.run(rpc("chat.send", {"room": "lobby", "text": "  hi @bob  "}, user="alice"))
    assert isinstance(outcome, RPCResult)
    [message] = published.data("chat:lobby")
    assert message["text"] == "hi @bob"
    assert message["by"] == "alice"
    assert published.data("personal:#bob") == [
        {"type": "mention", "by": "alice", "room": "lobby", "text": "hi @bob"}
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"room": "lobby", "text": "   "}, "needs some text"),
        ({"room": "lobby", "text": "x" * 301}, "at most 300 characters"),
        ({"room": "secret", "text": "hi"}, "no room 'secret'"),
        ("hi", "no room None"),
    ],
)
async def test_send_refuses_bad_messages(published: RecordingPublisher, data: Any, message: str) -> None:
    outcome = await demo.app.run(rpc("chat.send", data, user="alice"))
    assert isinstance(outcome, Error)
    assert message in outcome.message
    assert published.publications == []


async def test_send_is_rate_limited_per_user(published: RecordingPublisher) -> None:
    for _ in range(2):
        assert isinstance(
            await demo.app.run(rpc("chat.send", {"room": "lobby", "text": "hi"}, user="al")), RPCResult
        )
    outcome = await demo.app.run(rpc("chat.send", {"room": "lobby", "text": "hi"}, user="al"))
    assert isinstance(outcome, Error)
    assert outcome.code == 429
    assert "slow down: at most 2 messages in 60s" in outcome.message
    assert isinstance(
        await demo.app.run(rpc("chat.send", {"room": "lobby", "text": "hi"}, user="bo")), RPCResult
    )
    assert len(published.data("chat:lobby")) == 3
