"""The benchmark's subscriber, in its own process so it does not slow the publisher down.

Reads ``CHANNEL COUNT`` lines on stdin; for each, subscribes, prints ``ready``,
then prints ``done N`` once N == COUNT publications arrived (or after 30 s).
Publications are counted in the raw frames (no JSON decoding), so the
subscriber takes as little CPU as possible from the publisher it measures.
"""

from __future__ import annotations

import asyncio
import json
import sys

import websockets


async def main(url: str, token: str) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        ids = iter(range(1, 1 << 30))

        async def command(method: str, params: dict[str, object]) -> None:
            await ws.send(json.dumps({"id": next(ids), method: params}))

        await command("connect", {"token": token, "name": "bench"})
        reply = json.loads(await ws.recv())
        if "error" in reply:
            raise RuntimeError(f"connect refused: {reply['error']}")
        while line := await asyncio.to_thread(sys.stdin.readline):
            channel, expected = line.split()
            marker = f'"channel":"{channel}","pub"'
            await command("subscribe", {"channel": channel})
            count = 0
            print("ready", flush=True)
            try:
                async with asyncio.timeout(30):
                    while count < int(expected):
                        frame = await ws.recv()
                        text = frame if isinstance(frame, str) else frame.decode()
                        if text == "{}":  # the server's ping
                            await ws.send("{}")
                        count += text.count(marker)
            except TimeoutError:
                pass
            await command("unsubscribe", {"channel": channel})
            print(f"done {count}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
