"""The benchmark's subscriber, in its own process so it does not slow the publisher down.

Reads ``CHANNEL COUNT`` lines on stdin; for each, subscribes, prints ``ready``,
then prints ``done N`` once N == COUNT publications arrived (or after 30 s).
Publications are counted in the raw frames (no JSON decoding), so the
subscriber takes as little CPU as possible from the publisher it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import websockets


class Counting:
    """The channel being counted: its marker, the publications seen, the number awaited."""

    def __init__(self) -> None:
        self.marker = ""
        self.count = 0
        self.expected = 0
        self.done = asyncio.Event()


def _has_ping(text: str) -> bool:
    # A frame holds newline-separated replies; the server's ping is an empty one, `{}`
    # (JSON never carries a raw newline, so "\n{}" can only be a reply boundary).
    return text == "{}" or text.startswith("{}\n") or "\n{}" in text


async def main(url: str, token: str) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        ids = iter(range(1, 1 << 30))

        async def command(method: str, params: dict[str, object]) -> None:
            await ws.send(json.dumps({"id": next(ids), method: params}))

        await command("connect", {"token": token, "name": "bench"})
        reply = json.loads(await ws.recv())
        if "error" in reply:
            raise RuntimeError(f"connect refused: {reply['error']}")
        counting = Counting()

        async def read() -> None:
            # Always reading, between channels too: Centrifugo drops a client that leaves
            # its pings unanswered (25 s + 8 s), and a run of variants takes longer than that.
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode()
                if _has_ping(text):
                    await ws.send("{}")
                if counting.marker:
                    counting.count += text.count(counting.marker)
                    if counting.count >= counting.expected:
                        counting.done.set()

        reader = asyncio.create_task(read())
        while line := await asyncio.to_thread(sys.stdin.readline):
            channel, expected = line.split()
            counting.count, counting.expected, counting.done = 0, int(expected), asyncio.Event()
            counting.marker = f'"channel":"{channel}","pub"'
            await command("subscribe", {"channel": channel})
            print("ready", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(counting.done.wait(), 30)
            count, counting.marker = counting.count, ""
            await command("unsubscribe", {"channel": channel})
            print(f"done {count}", flush=True)
        reader.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
