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
  key per publication (the commands the hub's publisher sends), each at 3 batch sizes
- before and now: ``publish_many`` (with and without keys) and the gather of ``publish``
  again, with the publisher of an earlier commit and with this tree's, each in a process
  of its own (bench/_apart_publisher.py)

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml
from cent import AsyncClient, PublishRequest

from hub import App
from hub.centrifugo_process import CentrifugoProcess
from hub.clients import PublisherError
from hub.proxy import run_listeners
from hub.publishing import publisher_for
from hub.settings import Settings, load
from hub.tokens import TokenMinter

from ._e2e import RUNS, Section, cpu_seconds, go_binary, have_revision, plot, source_of

N = 20_000  # publishes per fast variant
N_NAIVE = 2_000  # the naive loop is an order of magnitude slower: keep the run short
ROUNDS = RUNS  # each variant runs this many times; the median round is reported
PAYLOAD = {"kind": "bench", "text": "x" * 64}
ROOT = Path(__file__).resolve().parents[1]
#: The compiled limit: bench/go/load's batch publisher, at these batch sizes (4 in flight).
GO = "compiled Go publisher (batch API)"
GO_BATCHES = (100, 500, 2000)
#: The compiled publisher sending what the hub's does (an idempotency key per publication): these rows.
KEYS = ", idempotency keys"
HUB_MANY = "hub publish_many, HTTP"
#: publish_many(idempotent=False): the commands the keyless limit sends.
HUB_NO_KEYS = "hub publish_many, HTTP, no idempotency keys"
HUB_GATHER = "hub publisher, HTTP (gather of publish)"
HUB_MANY_GRPC = "hub publish_many, gRPC"
#: main before publish_many queued its commands as parts of up to batch_max_size (one queue
#: entry, one settling loop each) instead of an entry, a future slot and checks per publication,
#: and before the gRPC transport filled each publish in place (instead of building and copying it).
PARTS = "b0b8e7e"
#: Rows run again in processes of their own (bench/_apart_publisher.py, and how), side by side:
#: the publisher of PARTS ("before") and this tree's ("now"), each in the same kind of process.
APART = {HUB_MANY: "many", HUB_NO_KEYS: "many-no-keys", HUB_MANY_GRPC: "many-grpc", HUB_GATHER: "gather"}


def apart(when: str, row: str) -> str:
    """The name of ``row`` run apart, ``when`` "before" (PARTS) or "now" (this tree)."""
    return f"{when} · {row}" + (f" (main at {PARTS})" if when == "before" else " (this tree, apart)")


#: Seconds of wall time, and of the publisher's CPU where it runs in Python (None elsewhere).
Timing = tuple[float, float | None]
Timed = Callable[[str, int], Awaitable[Timing]]


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> Timing:
    """Wall and this process's CPU seconds since ``start`` (a ``_now()``)."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


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


class Child:
    """A helper process driven by lines: requests on its stdin, answers on its stdout."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name

    async def line(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.readline()).decode().strip()

    async def ask(self, request: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{request}\n".encode())
        await self.process.stdin.drain()
        return await self.line()


class Subscriber(Child):
    """Drives bench/_subscriber.py, a WebSocket subscriber in its own process."""

    async def subscribe(self, channel: str, count: int) -> None:
        if (await self.ask(f"{channel} {count}")) != "ready":
            raise RuntimeError("the subscriber did not subscribe")

    async def delivered(self) -> int:
        return int((await self.line()).removeprefix("done "))


@dataclass(frozen=True, slots=True)
class Row:
    """One round of one variant."""

    name: str
    count: int
    seconds: float
    delivered: int
    #: CPU seconds of the publisher (where it runs in Python) and of Centrifugo (its deliveries too).
    cpu: float | None
    centrifugo_cpu: float


async def _run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        config, settings = _settings(Path(tmp))
        c = settings.centrifugo
        api_url = f"http://127.0.0.1:{c.port}/api"
        ws_url = f"ws://127.0.0.1:{c.port}/connection/websocket"
        token = TokenMinter.from_settings(c).connection("bench")
        async with CentrifugoProcess(settings, App().usage()) as centrifugo:
            assert centrifugo.pid is not None
            server = psutil.Process(centrifugo.pid)
            subscriber = Subscriber(await _spawn("-m", "bench._subscriber", ws_url, token), "the subscriber")
            children: list[Child] = [subscriber]
            rows: list[Row] = []
            try:
                relay = await _spawn("-m", "bench._relay", str(config), str(Path(tmp) / "relay.sock"))
                children.append(Child(relay, "the relay"))
                apart_from: dict[str, Child] = {}  # "before" and "now": a publisher process each
                if have_revision(PARTS, "publish's before rows"):
                    script = str(ROOT / "bench" / "_apart_publisher.py")
                    for when, tree in (("before", source_of(PARTS, Path(tmp))), ("now", ROOT)):
                        process = await _spawn(script, str(config), json.dumps(PAYLOAD), tree=tree)
                        apart_from[when] = Child(process, f"the publisher of {tree}")
                        children.append(apart_from[when])
                for child in children[1:]:
                    if (await child.line()) != "ready":
                        raise RuntimeError(f"{child.name} did not start")
                variants = _variants(settings, api_url, config, Path(tmp) / "relay.sock", apart_from)
                for round_ in range(ROUNDS):
                    # Every other round in reverse: a variant run after another leaves Centrifugo
                    # busier (it keeps each idempotency key it saw), so none is always second.
                    order = list(variants.items())
                    for name, (count, run) in reversed(order) if round_ % 2 else order:
                        channel = f"bench:{len(rows)}-{round_}"
                        await subscriber.subscribe(channel, count)
                        # Each variant times its publishing alone (clients opened before).
                        served = cpu_seconds([server])
                        elapsed, cpu = await run(channel, count)
                        delivered = await subscriber.delivered()
                        rows.append(Row(name, count, elapsed, delivered, cpu, cpu_seconds([server]) - served))
            finally:
                for child in children:
                    assert child.process.stdin is not None
                    child.process.stdin.close()
                    await child.process.wait()
            return rows


async def _spawn(*arguments: str, tree: Path = ROOT) -> asyncio.subprocess.Process:
    """A Python helper process whose ``hub`` is ``tree``'s (an earlier revision's, or this one)."""
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree != ROOT else None
    return await asyncio.create_subprocess_exec(
        sys.executable, *arguments, cwd=tree, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _variants(
    settings: Settings, api_url: str, config: Path, relay_socket: Path, apart_from: dict[str, Child]
) -> dict[str, tuple[int, Timed]]:
    def hub(transport: str, many: bool, idempotent: bool = True) -> Timed:
        async def publish(channel: str, count: int) -> Timing:
            from msgspec.structs import replace

            s = replace(settings, publisher=replace(settings.publisher, transport=transport))
            async with publisher_for(s) as publisher:
                start = _now()
                if many:
                    items = [(channel, PAYLOAD)] * count
                    results = await publisher.publish_many(items, idempotent=idempotent)
                    failed = [r for r in results if isinstance(r, PublisherError)]
                    if failed:
                        raise RuntimeError(f"{len(failed)} publishes failed: {failed[0]}")
                else:
                    await asyncio.gather(*(publisher.publish(channel, PAYLOAD) for _ in range(count)))
                return _since(start)

        return publish

    async def hub_loop(channel: str, count: int) -> Timing:
        async with publisher_for(settings) as publisher:
            start = _now()
            for _ in range(count):
                await publisher.publish(channel, PAYLOAD)
            return _since(start)

    async def cent_loop(channel: str, count: int) -> Timing:
        async with AsyncClient(api_url, settings.centrifugo.api_key) as cent:
            start = _now()
            for _ in range(count):
                await cent.publish(PublishRequest(channel=channel, data=PAYLOAD))
            return _since(start)

    async def cent_gather(channel: str, count: int) -> Timing:
        async with AsyncClient(api_url, settings.centrifugo.api_key) as cent:
            start = _now()
            await asyncio.gather(
                *(cent.publish(PublishRequest(channel=channel, data=PAYLOAD)) for _ in range(count))
            )
            return _since(start)

    async def relayed(channel: str, count: int) -> Timing:
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
        return elapsed, None  # its CPU is spent in the relay's process

    def asked(child: Child, way: str) -> Timed:
        async def publish(channel: str, count: int) -> Timing:
            answer = await child.ask(f"{channel} {count} {way}")
            if not answer or answer.startswith("failed"):
                raise RuntimeError(f"{child.name}: {answer or 'exited'}")
            wall, cpu = answer.split()
            return float(wall), float(cpu)  # timed by itself, its publisher opened before

        return publish

    def go(batch: int, *more: str) -> Timed:
        async def publish(channel: str, count: int) -> Timing:
            load = await asyncio.create_subprocess_exec(
                str(go_binary("load")), "publish", "-api", api_url, "-key", settings.centrifugo.api_key,
                "-channel", channel, "-n", str(count), "-batch", str(batch), "-inflight", "4", *more,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await load.communicate()
            figures = json.loads(out)
            if load.returncode or figures["failed_batches"]:
                raise RuntimeError(f"the Go publisher failed: {figures}")
            return float(figures["seconds"]), None  # timed by itself, without its process's start

        return publish

    return {
        HUB_MANY: (N, hub("http", many=True)),
        HUB_NO_KEYS: (N, hub("http", many=True, idempotent=False)),
        **{
            apart(when, row): (N, asked(child, way))
            for row, way in APART.items()
            for when, child in apart_from.items()
        },
        HUB_MANY_GRPC: (N, hub("grpc", many=True)),
        HUB_GATHER: (N, hub("http", many=False)),
        "hub publisher, gRPC (gather of publish)": (N, hub("grpc", many=False)),
        "hub publisher, HTTP, await each": (N_NAIVE, hub_loop),
        "cent loop (await each)": (N_NAIVE, cent_loop),
        "cent + asyncio.gather": (N, cent_gather),
        "relayed through another process (HTTP)": (N, relayed),
        **{f"{GO}, batch {b}": (N, go(b)) for b in GO_BATCHES},
        **{f"{GO}, batch {b}{KEYS}": (N, go(b, "-keys")) for b in GO_BATCHES},
    }


def main() -> Section:
    rounds: dict[str, list[dict[str, Any]]] = {}
    for row in run_listeners(_run()):
        rounds.setdefault(row.name, []).append({k: v for k, v in asdict(row).items() if k != "name"})
    return report({"rounds": rounds, "loadavg": os.getloadavg()[0]})


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
    # CPU per publication: the median over the rounds (µs), where it was measured.
    cpu = {name: _median_us(rounds, "cpu") for name, rounds in data["rounds"].items()}
    served = {name: _median_us(rounds, "centrifugo_cpu") for name, rounds in data["rounds"].items()}
    naive = rate["cent loop (await each)"]
    gather = rate["cent + asyncio.gather"]
    go_best = max((n for n in rate if n.startswith(GO) and not n.endswith(KEYS)), key=rate.__getitem__)
    limit = rate[go_best]
    go_keyed = [n for n in rate if n.startswith(GO) and n.endswith(KEYS)]
    go_keys_best = max(go_keyed, key=rate.__getitem__) if go_keyed else None
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
        f"Median of {max(len(r) for r in runs.values())} rounds per variant; all variants in one run,",
        "interleaved, every other round in reverse order. The limit is `bench/go/load publish`: a",
        "compiled publisher sending Centrifugo `batch` requests (4 in flight), at the batch sizes",
        "below; its best is the limit. CPU per publication (median over the rounds): the Python",
        "publisher's process (`time.process_time()`; none for the Go publisher and the relay), and",
        "Centrifugo's (psutil; its deliveries to the subscriber included).",
        f"1-minute load average at the end: {loadavg:.1f}.",
        "",
        f"![Publish]({plot_publish(rate, cpu, served)})",
        "",
        "| variant | publishes | seconds | publishes/s | vs the limit | vs naive loop | vs gather "
        "| CPU µs each: publisher / Centrifugo | delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (count, elapsed, delivered) in median.items():
        r = rate[name]
        ok = "all" if delivered == count else f"{delivered} of {count}"
        each = " / ".join("n/a" if v is None else f"{v:.1f}" for v in (cpu[name], served[name]))
        lines.append(
            f"| {name} | {count:,} | {elapsed:.3f} | {r:,.0f} | **{r / limit:.2f}x** | {r / naive:.1f}x "
            f"| {r / gather:.2f}x | {each} | {ok} |"
        )
    if HUB_MANY in rate and HUB_GATHER in rate and go_keys_best:
        keyed = rate[go_keys_best]
        lines += [
            "",
            f"**Before and after, this run**: the same {N:,} publications as `asyncio.gather` of one",
            f"`publish` each (before) {rate[HUB_GATHER]:,.0f}/s, as one `publish_many` (after)",
            f"{rate[HUB_MANY]:,.0f}/s: {rate[HUB_MANY] / rate[HUB_GATHER]:.1f}x, "
            f"{hub_vs_go:.2f}x the limit ({go_best.removeprefix(GO + ', ')}).",
            "The hub's publisher gives every publication an idempotency key (a retry after a",
            "network failure never publishes twice), and Centrifugo spends CPU on each key; the",
            f"compiled publisher sending keys too made {keyed:,.0f}/s at its best in this run "
            f"({go_keys_best.removeprefix(GO + ', ').removesuffix(KEYS)}; {keyed / limit:.2f}x its keyless "
            "best): `publish_many` is "
            f"**{rate[HUB_MANY] / keyed:.2f}x** the compiled publisher sending the same commands.",
        ]
        if HUB_NO_KEYS in rate:
            lines += [
                f"Without keys (`publish_many(..., idempotent=False)`, the keyless limit's commands) the hub "
                f"made {rate[HUB_NO_KEYS]:,.0f}/s: **{rate[HUB_NO_KEYS] / limit:.2f}x** the limit.",
            ]
    if all(apart(when, row) in rate for row in APART for when in ("before", "now")):
        lines += [
            "",
            f"**The bulk path, before and after**: the publisher of main at {PARTS} (a queue entry, a future",
            "slot and checks per publication; over gRPC, each publish built as a message, then copied into",
            "the batch) against this tree's (a queue entry per part of up to `batch_max_size`; publishes",
            "filled into the gRPC batch in place), each in a process of its own",
            "(`bench/_apart_publisher.py`), side by side in this run:",
        ]
        for row in APART:
            was, now = apart("before", row), apart("now", row)
            lines.append(
                f"- {row}: {rate[was]:,.0f} → {rate[now]:,.0f}/s ({rate[now] / rate[was]:.2f}x); "
                f"CPU per publication: the publisher's {cpu[was] or 0:.1f} → {cpu[now] or 0:.1f} µs, "
                f"Centrifugo's {served[was] or 0:.1f} → {served[now] or 0:.1f} µs"
            )
        lines += [
            "",
            "The publisher's CPU is the figure to compare: Centrifugo's CPU per publication moves with",
            "what ran before (it keeps every idempotency key it saw for about 5 minutes, and its garbage",
            "collector's work lands on whichever row follows), and the rates move with it.",
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
        "go_keys_rate": rate[go_keys_best] if go_keys_best else None,
        "go_keys_best": go_keys_best,
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
    "- `publish_many` (one future for the call, each command a queue entry of its own with a slot",
    "  settled in place, commands queued one batch at a time so the first request leaves while the",
    "  rest are built): 6-8 µs, then 4.5-5 µs once start-up objects are frozen out of the garbage",
    "  collector's sight",
    "  (`gc.freeze()` in `run_listeners`, as the hub's workers run): the 20,000 commands alive at",
    "  once made the collector walk every module's objects again and again (2-2.5 µs less per",
    "  publication with the collector off). What is left, measured apart: building each",
    "  command 1.1 µs (payload encoding, the idempotency key, the dict), the batch body 0.4,",
    "  decoding the replies 0.45, settling each slot 0.8; a publication to a channel without",
    "  history now shares one frozen `Published` (it was 1.1 µs to build one).",
    "- Then the queue entries, the per-command `done()` checks (three per command) and the",
    "  per-command settling went (the before rows): `publish_many` queues parts of up to",
    "  `batch_max_size` commands, one entry each, and a reply list settles a part in one loop; only",
    "  the commands that failed transiently are split off to be retried. The whole `publish_many`",
    "  path against a stand-in transport (encoding the body and decoding replies, no network) fell",
    "  from 2.9 to 1.7 µs per publication; the before rows above show it end to end.",
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


def _median_us(rounds: list[dict[str, Any]], key: str) -> float | None:
    """The median over ``rounds`` of ``key``'s seconds per publication, in µs (None if not measured)."""
    each = sorted(r[key] / r["count"] * 1e6 for r in rounds if r.get(key) is not None)
    return each[len(each) // 2] if each else None


def plot_publish(
    rate: dict[str, float], cpu: dict[str, float | None], served: dict[str, float | None]
) -> str:
    """Throughput, and the CPU each publication cost the publisher and Centrifugo."""
    rows = [(n, r, cpu[n] or 0.0, served[n] or 0.0) for n, r in rate.items()]
    return plot(
        "publish", "Publishing from one process: publishes/s, and CPU µs per publication", rows,
        "publishes/s",
        right=("publisher (Python)", "Centrifugo"), right_unit="CPU µs per publication",
        right_title="CPU per publication (median of rounds)", right_log=True,
    )  # fmt: skip


if __name__ == "__main__":
    print(main())
