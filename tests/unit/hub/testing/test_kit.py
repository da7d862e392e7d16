"""hub.testing's parts that need no server: request builders and the recording publisher."""

from __future__ import annotations

import msgspec
import pytest

from hub import App, RPCRequest, RPCResult
from hub.testing import RecordingPublisher, connect, publish, rpc, subscribe


def test_builders_encode_data_as_centrifugo_sends_it() -> None:
    request = rpc("chat.send", {"text": "hi"}, user="alice")
    assert request.json() == {"text": "hi"}
    assert request.user == "alice"
    assert connect().json() is None
    assert publish("chat:lobby", [1, 2]).json() == [1, 2]


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: rpc("", {}), ValueError, "method: expected a non-empty string"),
        (lambda: subscribe(""), ValueError, "channel: expected a non-empty string"),
        (lambda: rpc("m", {"when": object()}), TypeError, "data: a client can only send JSON values"),
        (lambda: RPCRequest(method="m", data={"text": "hi"}), TypeError, "build requests with hub.testing"),
    ],
)
def test_a_request_that_could_not_come_from_centrifugo_fails_where_it_is_built(
    build: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()  # type: ignore[operator]


def test_a_decoded_request_is_still_accepted() -> None:
    request = msgspec.json.decode(b'{"method": "m", "data": {"a": 1}}', type=RPCRequest)
    assert request.json() == {"a": 1}


async def test_publications_are_recorded_from_async_and_sync_handlers() -> None:
    app = App()

    @app.rpc("async")
    async def from_async(request: RPCRequest) -> None:
        await app.publish("news", request.json())

    @app.rpc("sync")
    def from_sync(request: RPCRequest) -> None:
        app.publish_sync("news", request.json(), skip_history=True)

    with RecordingPublisher().installed(app) as published:
        assert await app.run(rpc("async", 1)) == RPCResult()
        assert await app.run(rpc("sync", 2)) == RPCResult()
        with pytest.raises(TypeError, match="not JSON"):
            await app.publish("news", object())
    assert published.data("news") == [1, 2]
    assert published.publications[1].options == {"skip_history": True}
