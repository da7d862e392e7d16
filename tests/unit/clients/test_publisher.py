"""The publisher's lifecycle (no request is sent, so no socket is opened)."""

from __future__ import annotations

import pytest

from hub.clients import ClosedError, Publisher, PublisherSettings
from hub.clients.publisher import State


def make() -> Publisher:
    return Publisher(PublisherSettings(), api_url="http://127.0.0.1:1/api", api_key="k")


async def test_a_publisher_opens_once_and_refuses_calls_after_closing() -> None:
    publisher = make()
    assert publisher.state is State.NEW
    async with publisher:
        assert publisher.is_open
        with pytest.raises(ClosedError, match="only once"):
            async with publisher:
                pass
    assert publisher.state is State.CLOSED
    with pytest.raises(ClosedError):
        await publisher.publish("news", 1)
    with pytest.raises(ClosedError, match="only once"):
        async with publisher:
            pass


def test_grpc_needs_a_target() -> None:
    with pytest.raises(ValueError, match="grpc_target"):
        Publisher(PublisherSettings(transport="grpc"), api_url="http://x/api", api_key="k")


async def test_a_value_that_is_not_json_fails_at_its_own_call() -> None:
    async with make() as publisher:
        with pytest.raises(TypeError):
            await publisher.publish("news", object())


class Recording:
    """Stands in for the batcher: the commands publish_many queues, each answered at once."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, object]]] = []

    async def call_many(self, commands: object, size: int) -> list[object]:
        self.commands = list(commands)  # type: ignore[call-overload]
        return [{"result": {"offset": i, "epoch": "e"}} for i in range(size)]


@pytest.mark.parametrize("idempotent", [True, False])
async def test_publish_many_gives_every_publication_its_own_key_unless_told_not_to(idempotent: bool) -> None:
    publisher = make()
    recording = Recording()
    publisher._batcher = recording  # type: ignore[assignment]
    await publisher.publish_many([("a", 1), ("b", 2), ("c", 3)], idempotent=idempotent)
    keys = [params.get("idempotency_key") for _, params in recording.commands]
    assert [params["channel"] for _, params in recording.commands] == ["a", "b", "c"]
    if idempotent:
        assert len(set(keys)) == 3
        assert all(isinstance(k, str) and len(k) > 24 for k in keys)
    else:
        assert keys == [None, None, None]
