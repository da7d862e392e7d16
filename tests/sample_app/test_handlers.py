"""The sample's handlers, one by one, with no server: hub.testing's request builders and recording publisher."""

from hub import App, ConnectResult, Error, RPCResult, SubscribeResult
from hub.testing import RecordingPublisher, connect, rpc, subscribe


async def test_a_client_must_say_who_it_is(hub_app: App) -> None:
    assert await hub_app.run(connect({"user": "alice"})) == ConnectResult(user="alice")
    assert await hub_app.run(connect({})) == Error(code=401, message="who are you?")


async def test_only_members_enter_a_room(hub_app: App) -> None:
    assert await hub_app.run(subscribe("room:python", user="alice")) == SubscribeResult()
    assert await hub_app.run(subscribe("room:python", user="carol")) == Error(
        code=403, message="members only"
    )


async def test_a_post_is_published_to_the_room(hub_app: App, published: RecordingPublisher) -> None:
    assert await hub_app.run(rpc("room.post", {"room": "python", "text": "hi"}, user="bob")) == RPCResult(
        data={"offset": 1}
    )
    assert await hub_app.run(rpc("room.post", {"room": "rust", "text": "hi"}, user="bob")) == Error(
        code=403, message="members only"
    )
    assert published.data("room:python") == [{"from": "bob", "text": "hi"}]
    assert published.channels() == ["room:python"]
