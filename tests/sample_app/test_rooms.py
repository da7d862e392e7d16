"""The sample app end to end: a real Centrifugo and `hub serve`, clients, and faults (hub.testing)."""

import pytest

from hub.clients import ReplyError
from hub.testing import HubServer


async def test_members_talk_in_a_room(hub_server: HubServer) -> None:
    async with hub_server.client() as alice, hub_server.client() as bob:
        await alice.connect_as("alice")
        await bob.connect_as("bob")
        await bob.subscribe_and_join("room:python")
        reply = await alice.rpc("room.post", {"room": "python", "text": "hello"})
        assert reply["offset"] >= 1
        await bob.assert_publication("room:python", {"from": "alice", "text": "hello"})


async def test_a_stranger_is_kept_out(hub_server: HubServer) -> None:
    async with hub_server.client() as carol, hub_server.client() as bob:
        await carol.connect_as("carol")
        with pytest.raises(ReplyError) as refused:
            await carol.subscribe_and_join("room:python")
        assert refused.value.code == 403
        await bob.connect_as("bob")
        await bob.subscribe_and_join("room:python")
        with pytest.raises(ReplyError) as refused:
            await carol.rpc("room.post", {"room": "python", "text": "let me in"})
        assert refused.value.code == 403
        await bob.refute_publication("room:python")


async def test_a_killed_worker_is_replaced_and_calls_go_on(hub_server: HubServer) -> None:
    victim = hub_server.kill_worker()
    hub_server.wait_for_workers(2, without=victim)
    async with hub_server.client() as alice:
        await alice.connect_as("alice")
        for _ in range(5):
            await alice.assert_reply("room.post", {"room": "python", "text": "still here"}, ANY_OFFSET)


async def test_a_slow_handler_fails_the_call_not_the_service(hub_server: HubServer) -> None:
    async with hub_server.client() as alice:
        await alice.connect_as("alice")
        with hub_server.slow("rpc:room.post", 5.0), pytest.raises(ReplyError):
            await alice.rpc("room.post", {"room": "python", "text": "too late"})
        await alice.assert_reply("room.post", {"room": "python", "text": "on time"}, ANY_OFFSET)


async def test_centrifugo_restarts_and_clients_come_back(hub_server: HubServer) -> None:
    hub_server.restart_centrifugo()
    async with hub_server.client() as alice, hub_server.client() as bob:
        await bob.connect_as("bob")
        await bob.subscribe_and_join("room:python")
        await alice.connect_as("alice")
        await alice.assert_reply("room.post", {"room": "python", "text": "back"}, ANY_OFFSET)
        await bob.assert_publication("room:python", {"from": "alice", "text": "back"})


class _AnyOffset:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and isinstance(other.get("offset"), int)

    def __repr__(self) -> str:
        return "{'offset': <int>}"


ANY_OFFSET = _AnyOffset()
