"""A short scripted tour of the demo: two users chat through Centrifugo and the hub.

Run it against a running demo (`make demo` runs it once at start):
    .venv/bin/python -m demo.tour [ws://127.0.0.1:8000/connection/websocket]
"""

from __future__ import annotations

import asyncio
import sys

from hub.clients import RealtimeClient, ReplyError

URL = "ws://127.0.0.1:8000/connection/websocket"


def say(text: str) -> None:
    print(f"  tour | {text}", flush=True)


async def tour(url: str) -> None:
    async with RealtimeClient(url) as alice, RealtimeClient(url) as bob:
        await alice.connect(data={"user": "alice"})
        await bob.connect(data={"user": "bob"})
        say("alice and bob connected (the hub's on_connect accepted them)")
        say(f"rooms (RPC chat.rooms): {await alice.rpc('chat.rooms')}")
        await alice.subscribe("chat:lobby")
        await bob.subscribe("chat:lobby")
        await alice.publish("chat:lobby", {"text": "hello bob"})
        push = await asyncio.wait_for(bob.pushes.get(), 5)
        while push.type != "pub":  # alice's join comes first
            say(f"bob sees a {push.type} in {push.channel}: {push.body['info']['user']}")
            push = await asyncio.wait_for(bob.pushes.get(), 5)
        say(f"bob received on {push.channel}: {push.body['data']} (stamped by the hub's on_publish)")
        waved = await bob.rpc("chat.wave", {"room": "lobby"})
        push = await asyncio.wait_for(alice.pushes.get(), 5)
        while push.type != "pub" or push.body["data"]["by"] != "bob":
            push = await asyncio.wait_for(alice.pushes.get(), 5)
        say(f"bob's RPC chat.wave published from the hub ({waved}); alice got {push.body['data']}")
        users = sorted(c["user"] for c in (await bob.presence("chat:lobby")).values())
        say(f"presence in chat:lobby: {users}")
        history = await bob.history("chat:lobby", limit=10)
        say(f"history of chat:lobby: {[p['data']['text'] for p in history.get('publications', [])]}")
        try:
            await bob.subscribe("chat:secret-room")
        except ReplyError as exc:
            say(f"bob may not join chat:secret-room: error {exc.code} {exc.message!r}")
        try:
            await bob.publish("chat:lobby", {"no": "text"})
        except ReplyError as exc:
            say(f"a message without text is refused: error {exc.code} {exc.message!r}")
    async with RealtimeClient(url) as carol:
        await carol.connect(data={"user": "carol"})
        await carol.subscribe("progress:carol")
        started = await carol.rpc("report.start")
        steps = []
        while len(steps) < 4:
            push = await asyncio.wait_for(carol.pushes.get(), 10)
            if push.type == "pub" and push.body["data"]["job"] == started["job"]:
                steps.append(push.body["data"]["progress"])
        say(f"carol's report job ran in a worker and streamed its progress: {steps}")
    async with RealtimeClient(url) as anonymous:
        try:
            await anonymous.connect(data={})
        except ReplyError as exc:
            say(f"a client without a user name is refused: error {exc.code} {exc.message!r}")


if __name__ == "__main__":
    asyncio.run(tour(sys.argv[1] if len(sys.argv) > 1 else URL))
