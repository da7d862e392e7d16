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
