"""Publishes per second from one Python process, side by side in one run.

Variants, each on its own channel of one Centrifugo (memory engine, no
history), each delivery counted by one WebSocket subscriber:

- hub publisher ``publish_many`` over HTTP and over gRPC (one awaitable for all), and over
  HTTP without idempotency keys (``idempotent=False``: the keyless limit's commands)
- hub publisher over HTTP and gRPC, ``asyncio.gather`` of one ``publish`` per publication
  (batches of concurrent publishes; the only way before ``publish_many``)
- hub publisher over HTTP, each publish awaited before the next (no batching possible)
- cent 5.2.0 ``AsyncClient``, ``await client.publish(...)`` in a loop (the naive way)
- cent 5.2.0 ``AsyncClient`` with ``asyncio.gather`` of every publish
- the same concurrent publishes relayed over a unix socket to another process that
  publishes them (what a pooled worker would do if publishes went through the
  supervisor; bench/_relay.py) against the worker's own publisher (gather)
- the compiled limit, bench/go/load's batch publisher, and the same with an idempotency
  key per publication (the commands the hub's publisher sends)

Each variant times its publishing only: clients are opened before the clock and closed
after it, as the compiled publisher is timed without its process's start. The process
runs its event loop as the hub's worker does (``hub.proxy.run_listeners``: uvloop, and
what exists at start frozen out of the garbage collector's sight).

``python -m bench publish`` writes the section into docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from cent import AsyncClient, PublishRequest

from hub import App
from hub.centrifugo_process import CentrifugoProcess
from hub.clients import PublisherError
from hub.proxy import run_listeners
from hub.publishing import publisher_for
from hub.settings import Settings, load
from hub.tokens import TokenMinter

from ._e2e import RUNS, Section, go_binary, plot

N = 20_000  # publishes per fast variant
N_NAIVE = 2_000  # the naive loop is an order of magnitude slower: keep the run short
ROUNDS = RUNS  # each variant runs this many times; the median round is reported
PAYLOAD = {"kind": "bench", "text": "x" * 64}
ROOT = Path(__file__).resolve().parents[1]
#: The compiled limit: bench/go/load's batch publisher, at these batch sizes (4 in flight).
GO = "compiled Go publisher (batch API)"
GO_BATCHES = (100, 500, 2000)
#: The compiled publisher sending what the hub's does: an idempotency key per publication.
GO_KEYS = f"{GO}, batch 500, idempotency keys"
HUB_MANY = "hub publish_many, HTTP"
#: publish_many(idempotent=False): the commands the keyless limit sends.
HUB_NO_KEYS = "hub publish_many, HTTP, no idempotency keys"
HUB_GATHER = "hub publisher, HTTP (gather of publish)"
Timed = Callable[[str, int], Awaitable[float]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(tmp: Path) -> tuple[Path, Settings]:
    config = {
        "app": "hub:App",
        "log_level": "warning",
        "proxy": {"secret": "bench-proxy-secret", "http_port": _free_port(), "grpc_port": 0},
        # All N publishes are started at once; the default bound (10,000) would refuse half.
        "publisher": {"max_pending": 2 * N},
        "centrifugo": {
            "port": _free_port(),
            "grpc_api_port": _free_port(),
            "api_key": "bench-api-key",
            "token_secret": "bench-token-secret-of-at-least-32-bytes",
            "log_level": "error",
            "namespaces": {"bench": {"public": True}},
            "extra": {"client": {"queue_max_size": 64 << 20}},
        },
    }
    path = tmp / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, load(path)


class Subscriber:
    """Drives bench/_subscriber.py, a WebSocket subscriber in its own process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def _line(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.readline()).decode().strip()

    async def subscribe(self, channel: str, count: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{channel} {count}\n".encode())
        await self.process.stdin.drain()
        if (await self._line()) != "ready":
            raise RuntimeError("the subscriber did not subscribe")

    async def delivered(self) -> int:
        return int((await self._line()).removeprefix("done "))


async def _run() -> list[tuple[str, int, float, int]]:
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        config, settings = _settings(Path(tmp))
        c = settings.centrifugo
        api_url = f"http://127.0.0.1:{c.port}/api"
        ws_url = f"ws://127.0.0.1:{c.port}/connection/websocket"
        token = TokenMinter.from_settings(c).connection("bench")
        async with CentrifugoProcess(settings, App().usage()):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench._subscriber", ws_url, token,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            )  # fmt: skip
            subscriber = Subscriber(process)
            relay = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench._relay", str(config), str(Path(tmp) / "relay.sock"),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            )  # fmt: skip
            rows: list[tuple[str, int, float, int]] = []
            try:
                assert relay.stdout is not None
                if (await relay.stdout.readline()).strip() != b"ready":
                    raise RuntimeError("the relay did not start")
                variants = _variants(settings, api_url, config, Path(tmp) / "relay.sock")
                for round_ in range(ROUNDS):
                    for name, (count, run) in variants.items():
                        channel = f"bench:{len(rows)}-{round_}"
                        await subscriber.subscribe(channel, count)
                        # Each variant times its publishing alone (clients opened before).
                        elapsed = await run(channel, count)
                        rows.append((name, count, elapsed, await subscriber.delivered()))
            finally:
                for child in (process, relay):
                    assert child.stdin is not None
                    child.stdin.close()
                    await child.wait()
            return rows


def _variants(
    settings: Settings, api_url: str, config: Path, relay_socket: Path
) -> dict[str, tuple[int, Timed]]:
    def hub(transport: str, many: bool, idempotent: bool = True) -> Timed:
        async def publish(channel: str, count: int) -> float:
            from msgspec.structs import replace

            s = replace(settings, publisher=replace(settings.publisher, transport=transport))
            async with publisher_for(s) as publisher:
                start = time.perf_counter()
                if many:
                    items = [(channel, PAYLOAD)] * count
                    results = await publisher.publish_many(items, idempotent=idempotent)
                    failed = [r for r in results if isinstance(r, PublisherError)]
                    if failed:
                        raise RuntimeError(f"{len(failed)} publishes failed: {failed[0]}")
                else:
                    await asyncio.gather(*(publisher.publish(channel, PAYLOAD) for _ in range(count)))
                return time.perf_counter() - start

        return publish

    async def hub_loop(channel: str, count: int) -> float:
        async with publisher_for(settings) as publisher:
            start = time.perf_counter()
            for _ in range(count):
                await publisher.publish(channel, PAYLOAD)
            return time.perf_counter() - start

    async def cent_loop(channel: str, count: int) -> float:
        async with AsyncClient(api_url, settings.centrifugo.api_key) as cent:
            start = time.perf_counter()
            for _ in range(count):
                await cent.publish(PublishRequest(channel=channel, data=PAYLOAD))
            return time.perf_counter() - start

    async def cent_gather(channel: str, count: int) -> float:
        async with AsyncClient(api_url, settings.centrifugo.api_key) as cent:
            start = time.perf_counter()
            await asyncio.gather(
                *(cent.publish(PublishRequest(channel=channel, data=PAYLOAD)) for _ in range(count))
            )
            return time.perf_counter() - start

    async def relayed(channel: str, count: int) -> float:
        reader, writer = await asyncio.open_unix_connection(str(relay_socket), limit=1 << 20)
        line = json.dumps({"channel": channel, "data": PAYLOAD})[1:]
        start = time.perf_counter()
        for i in range(count):
            writer.write(b'{"id":%d,' % i + line.encode() + b"\n")
        await writer.drain()
        failed = 0
        for _ in range(count):
            failed += "error" in json.loads(await reader.readline())
        elapsed = time.perf_counter() - start
        writer.close()
        await writer.wait_closed()
        if failed:
            raise RuntimeError(f"{failed} relayed publishes failed")
        return elapsed

    def go(batch: int, *more: str) -> Timed:
        async def publish(channel: str, count: int) -> float:
            load = await asyncio.create_subprocess_exec(
                str(go_binary("load")), "publish", "-api", api_url, "-key", settings.centrifugo.api_key,
                "-channel", channel, "-n", str(count), "-batch", str(batch), "-inflight", "4", *more,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await load.communicate()
            figures = json.loads(out)
            if load.returncode or figures["failed_batches"]:
                raise RuntimeError(f"the Go publisher failed: {figures}")
            return float(figures["seconds"])  # timed by itself, without its process's start

        return publish

    return {
        HUB_MANY: (N, hub("http", many=True)),
        HUB_NO_KEYS: (N, hub("http", many=True, idempotent=False)),
        "hub publish_many, gRPC": (N, hub("grpc", many=True)),
        HUB_GATHER: (N, hub("http", many=False)),
        "hub publisher, gRPC (gather of publish)": (N, hub("grpc", many=False)),
        "hub publisher, HTTP, await each": (N_NAIVE, hub_loop),
        "cent loop (await each)": (N_NAIVE, cent_loop),
        "cent + asyncio.gather": (N, cent_gather),
        "relayed through another process (HTTP)": (N, relayed),
        **{f"{GO}, batch {b}": (N, go(b)) for b in GO_BATCHES},
        GO_KEYS: (N, go(500, "-keys")),
    }


def main() -> Section:
    runs: dict[str, list[tuple[int, float, int]]] = {}
    for name, count, elapsed, delivered in run_listeners(_run()):
        runs.setdefault(name, []).append((count, elapsed, delivered))
    return report({"rounds": {n: [{"count": c, "seconds": e, "delivered": d} for c, e, d in r]
                              for n, r in runs.items()}, "loadavg": os.getloadavg()[0]})  # fmt: skip


def report(data: dict[str, Any]) -> Section:
    """The section, from measured figures (``python -m bench --report`` rewrites it from results.json)."""
    runs = {
        n: [(r["count"], r["seconds"], r["delivered"]) for r in rounds]
        for n, rounds in data["rounds"].items()
    }
    # The median round of each variant (by its rate); every round's figures go to results.json.
    median: dict[str, tuple[int, float, int]] = {
        name: sorted(r, key=lambda x: x[0] / x[1])[len(r) // 2] for name, r in runs.items()
    }
    rate = {name: count / elapsed for name, (count, elapsed, _) in median.items()}
    naive = rate["cent loop (await each)"]
    gather = rate["cent + asyncio.gather"]
    go_best = max((n for n in rate if n.startswith(GO) and n != GO_KEYS), key=rate.__getitem__)
    limit = rate[go_best]
    # Runs recorded before publish_many had only the gather row, under another name.
    hub_name = HUB_MANY if HUB_MANY in rate else "hub publisher, HTTP"
    hub_vs_go = rate[hub_name] / limit
    loadavg = data.get("loadavg", data.get("loadavg_1min_at_end", 0))
    lines = [
        "<!-- bench:publish -->",
        "## (4) Publishing: the hub publisher against cent and the compiled limit",
        "",
        "One Python process publishes a small JSON object (~90 bytes) to one channel of a local",
        "Centrifugo v6.9.1 (memory engine, no history); one WebSocket subscriber, in a process of",
        "its own, counts the deliveries. Each variant times its publishing alone: its client is",
        "opened before the clock and closed after it, as the compiled publisher is timed without",
        "its process's start. The Python process runs its loop as a hub worker does",
        "(`run_listeners`: uvloop, start-up objects frozen out of the garbage collector's sight).",
        f"Median of {ROUNDS} rounds per variant; all variants in one run, interleaved. The limit is",
        "`bench/go/load publish`: a compiled publisher sending Centrifugo `batch` requests (4 in flight),",
        "at the batch sizes below; its best is the limit.",
        f"1-minute load average at the end: {loadavg:.1f}.",
        "",
        f"![Publish]({plot_publish(rate, median)})",
        "",
        "| variant | publishes | seconds | publishes/s | vs the limit | vs naive loop | vs gather "
        "| delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (count, elapsed, delivered) in median.items():
        r = rate[name]
        ok = "all" if delivered == count else f"{delivered} of {count}"
        lines.append(
            f"| {name} | {count:,} | {elapsed:.3f} | {r:,.0f} | **{r / limit:.2f}x** | {r / naive:.1f}x "
            f"| {r / gather:.2f}x | {ok} |"
        )
    if HUB_MANY in rate and HUB_GATHER in rate and GO_KEYS in rate:
        keyed = rate[GO_KEYS]
        lines += [
            "",
            f"**Before and after, this run**: the same {N:,} publications as `asyncio.gather` of one",
            f"`publish` each (before) {rate[HUB_GATHER]:,.0f}/s, as one `publish_many` (after)",
            f"{rate[HUB_MANY]:,.0f}/s: {rate[HUB_MANY] / rate[HUB_GATHER]:.1f}x, "
            f"{hub_vs_go:.2f}x the limit ({go_best.removeprefix(GO + ', ')}).",
            "The hub's publisher gives every publication an idempotency key (a retry after a",
            "network failure never publishes twice), and Centrifugo spends CPU on each key; the",
            f"compiled publisher sending keys too made {keyed:,.0f}/s in this run "
            f"({keyed / limit:.2f}x its keyless best): `publish_many` is "
            f"**{rate[HUB_MANY] / keyed:.2f}x** the compiled publisher sending the same commands.",
        ]
        if HUB_NO_KEYS in rate:
            lines += [
                f"Without keys (`publish_many(..., idempotent=False)`, the keyless limit's commands) the hub "
                f"made {rate[HUB_NO_KEYS]:,.0f}/s: **{rate[HUB_NO_KEYS] / limit:.2f}x** the limit.",
            ]
    lines += PROSE
    lines += [
        "",
        f"Machine: {os.cpu_count()} cores shared by Centrifugo, the publisher and the subscriber,",
        "and possibly by other engineers' test runs: figures vary by 10-30% from run to run.",
    ]
    results = {
        "rates": rate,
        "rounds": data["rounds"],
        "loadavg": loadavg,
        "go_best": go_best,
        "go_best_rate": limit,
        "hub_vs_go": hub_vs_go,
        "hub_name": hub_name,
        "hub_no_keys_vs_go": rate[HUB_NO_KEYS] / limit if HUB_NO_KEYS in rate else None,
        "go_keys_rate": rate.get(GO_KEYS),
    }
    return Section("publish", "\n".join(lines), results)


#: What the figures mean; written from the profiles of docs/benchmarks.md section (4).
PROSE = [
    "",
    "**Where the time went** (py-spy at 400-1,000 Hz over rounds of 20,000 publications, and",
    "each process's CPU time per publication, Python `time.process_time()` and Centrifugo's",
    "from psutil; figures of one quiet moment, load average about 2):",
    "",
    "- `asyncio.gather` of `publish`: about 30 µs of Python CPU per publication. A quarter of the",
    "  samples created the callers' tasks (`gather` wraps each coroutine in a task), a fifth",
    "  suspended on and resumed each call's future (`Batcher.call`), a tenth ran the loop's",
    "  callbacks; sending the batch requests took about 6 %. The cost was one coroutine, task",
    "  and future per publication, not the batching or the encoding.",
    "- `publish_many` (one future for the call, `_Call` slots settled in place, commands queued",
    "  one batch at a time so the first request leaves while the rest are built): 6-8 µs, then",
    "  4.5-5 µs once start-up objects are frozen out of the garbage collector's sight",
    "  (`gc.freeze()` in `run_listeners`, as the hub's workers run): the 20,000 commands alive at",
    "  once made the collector walk every module's objects again and again (2-2.5 µs less per",
    "  publication with the collector off). What is left, measured apart: building each",
    "  command 1.1 µs (payload encoding, the idempotency key, the dict), the batch body 0.4,",
    "  decoding the replies 0.45, settling each slot 0.8; a publication to a channel without",
    "  history now shares one frozen `Published` (it was 1.1 µs to build one).",
    "- Centrifugo: about 6 µs of CPU per publication without an idempotency key and 8.5-9.5",
    "  with one (it keeps each key's result for its `idempotent_result_ttl`). On 2 cores shared",
    "  by Centrifugo, the publisher and the subscriber, those keys bound the hub's publisher below",
    "  the keyless limit: the compiled publisher sending keys is the like-for-like comparison,",
    "  and the remaining difference to it is the Python CPU per publication above.",
    "The relayed row is the other way a pooled worker could publish: each publish sent over a",
    "unix socket to a front process (started before the clock) that publishes it with its own",
    "hub publisher and answers; every worker's publishes would then also cost CPU in the one",
    "front process that prefork keeps off the data path: so handlers publish through a",
    "per-worker publisher (docs/architecture.md).",
    "",
    "Publishes awaited one at a time cannot be batched: there the hub costs about what cent",
    "does (one request each; a lone call waits for no batch window).",
    "The hub coalesces concurrent publishes into Centrifugo `batch` requests (up to",
    "`publisher.batch_max_size` = 500 commands, 1 ms window, 4 requests in flight; here",
    f"`publisher.max_pending` = {2 * N:,} because all {N:,} publishes start at once); cent sends",
    "one HTTP request per publish (with gather, up to aiohttp's 100 pooled connections at once).",
]


def plot_publish(rate: dict[str, float], median: dict[str, tuple[int, float, int]]) -> str:
    """Throughput, and the cost of one publish (µs of wall time per publish, median round)."""
    rows = [
        (n, r, median[n][1] / median[n][0] * 1e6, median[n][1] / median[n][0] * 1e6) for n, r in rate.items()
    ]
    return plot("publish", "Publishing from one process: publishes/s, and wall µs per publish", rows,
                "publishes/s", right=("µs per publish", None), right_unit="µs")  # fmt: skip


if __name__ == "__main__":
    print(main())
