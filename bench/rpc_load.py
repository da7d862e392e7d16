"""Load generator for the end-to-end bench: WebSocket clients calling an RPC through Centrifugo.

python -m bench.rpc_load WS_URL CLIENTS SECONDS    # prints one JSON line of figures
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import psutil

from hub.clients import RealtimeClient, ReplyError


async def client(url: str, i: int, until: float, latencies: list[float], errors: list[int]) -> None:
    async with RealtimeClient(url, timeout=10) as c:
        await c.connect(data={"user": f"load-{i}"})
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                await c.rpc("echo", {"n": i})
            except ReplyError as exc:
                errors.append(exc.code)
                continue
            latencies.append(time.perf_counter() - started)


async def main(url: str, clients: int, seconds: float) -> None:
    latencies: list[float] = []
    errors: list[int] = []
    me = psutil.Process()
    cpu0 = sum(me.cpu_times()[:2])
    started = time.monotonic()
    await asyncio.gather(*(client(url, i, started + seconds, latencies, errors) for i in range(clients)))
    wall = time.monotonic() - started
    latencies.sort()
    n = len(latencies)
    print(json.dumps({
        "calls": n, "errors": len(errors), "wall": wall,
        "p50": latencies[n // 2] if n else 0, "p99": latencies[int(n * 0.99)] if n else 0,
        "cpu": (sum(me.cpu_times()[:2]) - cpu0) / wall,
    }))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
