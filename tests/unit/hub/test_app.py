"""The App: routing by kind, method and namespace pattern; deny by default; outcomes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hub import (
    App,
    ConnectRequest,
    ConnectResult,
    Error,
    PublishRequest,
    PublishResult,
    RefreshRequest,
    RefreshResult,
    RPCRequest,
    RPCResult,
    SubRefreshRequest,
    SubscribeRequest,
    SubscribeResult,
)
from hub.app import namespace_of, outcome_of


def rpc(method: str, data: bytes = b"null") -> RPCRequest:
    import msgspec

    return RPCRequest(method=method, data=msgspec.Raw(data))


@pytest.mark.parametrize(
    ("channel", "namespace"),
    [("chat:index", "chat"), ("news", ""), ("chat:room:1", "chat"), ("$private", ""), ("a:b#42", "a")],
)
def test_namespace_of(channel: str, namespace: str) -> None:
    assert namespace_of(channel) == namespace


async def test_exact_namespace_wins_over_a_glob() -> None:
    app = App()

    @app.on_subscribe("room-*")
    async def any_room(request: SubscribeRequest) -> Error:
        return Error(code=400, message="glob")

    @app.on_subscribe("room-vip")
    async def vip(request: SubscribeRequest) -> Error:
        return Error(code=401, message="exact")

    assert await app.run(SubscribeRequest(channel="room-vip:1")) == Error(code=401, message="exact")
    assert await app.run(SubscribeRequest(channel="room-x:1")) == Error(code=400, message="glob")


async def test_deny_by_default() -> None:
    app = App()

    @app.on_subscribe("chat")
    async def chat(request: SubscribeRequest) -> None:
        return None

    assert await app.run(SubscribeRequest(channel="chat:1")) == SubscribeResult()
    assert await app.run(SubscribeRequest(channel="other:1")) == Error(code=103, message="permission denied")
    assert await app.run(SubscribeRequest(channel="plain")) == Error(code=103, message="permission denied")
    assert await app.run(PublishRequest(channel="chat:1")) == Error(code=103, message="permission denied")
    assert await app.run(ConnectRequest()) == Error(code=103, message="permission denied")
    assert await app.run(rpc("nope")) == Error(code=104, message="method not found: nope")
    assert await app.run(RefreshRequest()) == RefreshResult(expired=True)
    assert (await app.run(SubRefreshRequest(channel="chat:1"))).expired  # type: ignore[union-attr]


async def test_sync_handlers_run_in_a_thread_and_async_ones_on_the_loop() -> None:
    app = App()
    seen: dict[str, Any] = {}

    @app.rpc("sync")
    def sync(request: RPCRequest) -> str:
        seen["sync"] = threading.current_thread() is threading.main_thread()
        return "s"

    @app.rpc("async")
    async def asynchronous(request: RPCRequest) -> str:
        seen["async"] = threading.current_thread() is threading.main_thread()
        return "a"

    assert await app.run(rpc("sync")) == RPCResult(data="s")
    assert await app.run(rpc("async")) == RPCResult(data="a")
    assert seen == {"sync": False, "async": True}


def test_outcomes_of_return_values() -> None:
    assert outcome_of(rpc("m"), {"x": 1}) == RPCResult(data={"x": 1})
    assert outcome_of(rpc("m"), None) == RPCResult(data=None)
    assert outcome_of(PublishRequest(channel="c"), None) == PublishResult()
    assert outcome_of(ConnectRequest(), ConnectResult(user="u")) == ConnectResult(user="u")
    with pytest.raises(TypeError, match="connect handler returned str; expected ConnectResult"):
        outcome_of(ConnectRequest(), "u")
    with pytest.raises(TypeError, match=r"subscribe handler returned bool.*or None to allow"):
        outcome_of(SubscribeRequest(channel="c"), True)


def test_usage_tells_which_kinds_and_namespaces_are_handled() -> None:
    app = App()
    app.on_connect(lambda r: None)
    app.on_subscribe("chat", "room-*")(lambda r: None)
    app.on_publish("chat")(lambda r: None)
    app.rpc("echo")(lambda r: None)
    app.rpc("admin:stats")(lambda r: None)
    usage = app.usage()
    assert usage.single == ["connect"]
    assert usage.kinds() == ["connect", "subscribe", "publish", "rpc"]
    assert usage.channel_patterns == {"subscribe": ["chat", "room-*"], "publish": ["chat"]}
    assert usage.rpc_namespaces == ["", "admin"]
    assert usage.handles("subscribe", "room-7")
    assert not usage.handles("publish", "room-7")


def test_registration_mistakes_are_loud() -> None:
    app = App()
    app.rpc("m")(lambda r: None)
    with pytest.raises(ValueError, match="already has a handler"):
        app.rpc("m")(lambda r: None)
    with pytest.raises(ValueError, match="at least one namespace pattern"):
        app.on_subscribe()
