"""Scenario 1: RPC through Centrifugo, end to end, against the limit of Centrifugo's proxy path.

WebSocket clients (the Go load generator on centrifuge-go, connected with a JWT)
call ``rpc("echo")`` through a real Centrifugo whose RPC proxy goes to: the hub
over HTTP or gRPC (pooled, or inline), a hand-written single-process Starlette
endpoint, or the Go no-op proxy (the limit: what Centrifugo's proxy path costs
by itself). Calls/s at saturation; then p50/p99 at a fixed moderate rate, half
of the default hub's saturation rate measured in the same run.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from ._e2e import (
    DEFAULT_POOL,
    DEFAULT_WORKERS,
    PROGRESS,
    RUNS,
    Backend,
    Section,
    chosen,
    median_of,
    plot,
    pool_of,
    run_load,
    stack,
)

SECONDS = 2.5
CLIENTS = 64
LIMIT = "Go no-op HTTP proxy (limit)"
DEFAULT = DEFAULT_POOL
POOL1, POOL2 = pool_of(1), pool_of(2)
#: A handler with CPU work of its own (bench/proxy_app.py `render`): where more workers pay.
RENDER = "render"
RENDER_1 = "hub HTTP, pool of 1, handler with its own CPU work"
RENDER_2 = "hub HTTP, pool of 2, handler with its own CPU work"
#: The stack before the speed work: uvicorn on h11 and asyncio's own loop, and Starlette's
#: routing for every call (main before this branch); then each change on its own.
BEFORE = ("uvloop", "httptools")
MAIN = "ca4fd26"  # main when this branch started
STARLETTE_PATH = "a37247f"  # httptools + uvloop, proxy calls still routed by Starlette
NO_FREEZE = "8a7f7df"  # main before the workers froze their start-up objects out of the GC
TWO_WRITES = "e276536"  # main before an answer's headers and body went out in one write
UVICORN = "0463d6b"  # main before the proxy's calls were served without uvicorn and ASGI
CASES: dict[str, Backend] = {
    DEFAULT: Backend(kind="hub", transport="http", workers=DEFAULT_WORKERS),
    LIMIT: Backend(kind="go"),
    POOL1: Backend(kind="hub", transport="http", workers=1),
    POOL2: Backend(kind="hub", transport="http", workers=2),
    "hub HTTP, pool of 2, http_connection_ttl 0": Backend(
        kind="hub", transport="http", workers=2, pool={"http_connection_ttl": 0}
    ),
    "before · hub HTTP, pool of 2, no gc.freeze()": Backend(kind="hub", workers=2, revision=NO_FREEZE),
    "before · hub HTTP, pool of 2, two writes per answer": Backend(
        kind="hub", workers=2, revision=TWO_WRITES
    ),
    "before · hub HTTP, inline, two writes per answer": Backend(kind="hub", workers=0, revision=TWO_WRITES),
    "before · hub HTTP, pool of 2, uvicorn + ASGI": Backend(kind="hub", workers=2, revision=UVICORN),
    "before · hub HTTP, inline, uvicorn + ASGI": Backend(kind="hub", workers=0, revision=UVICORN),
    RENDER_1: Backend(kind="hub", transport="http", workers=1),
    RENDER_2: Backend(kind="hub", transport="http", workers=2),
    "hub HTTP, inline (workers: 0)": Backend(kind="hub", transport="http", workers=0),
    "hub gRPC, pool of 2": Backend(kind="hub", transport="grpc", workers=2),
    "hub gRPC, pool of 2, grpc_connection_ttl 0": Backend(
        kind="hub", transport="grpc", workers=2, pool={"grpc_connection_ttl": 0}
    ),
    "hub gRPC, inline (workers: 0)": Backend(kind="hub", transport="grpc", workers=0),
    "hand-written Starlette, 1 process": Backend(kind="starlette"),
    "before · hub HTTP, pool of 2, main: h11 + asyncio loop": Backend(
        kind="hub", workers=2, hide=BEFORE, revision=MAIN
    ),
    "before · hub HTTP, pool of 2, httptools + uvloop, Starlette routing": Backend(
        kind="hub", workers=2, revision=STARLETTE_PATH
    ),
    "before · hub HTTP, inline, main: h11 + asyncio loop": Backend(
        kind="hub", workers=0, hide=BEFORE, revision=MAIN
    ),
    "before · hub HTTP, inline, httptools + uvloop, Starlette routing": Backend(
        kind="hub", workers=0, revision=STARLETTE_PATH
    ),
    "before · hub gRPC, pool of 2, main: asyncio loop": Backend(
        kind="hub", transport="grpc", workers=2, hide=BEFORE, revision=MAIN
    ),
    "before · hand-written Starlette, h11 + asyncio loop": Backend(kind="starlette", hide=BEFORE),
}
START = 3.0
RUN = SECONDS + 1.5
CASES = chosen(CASES, DEFAULT, LIMIT, POOL2)


def plan() -> None:
    PROGRESS.plan(1 + 2 * RUNS * len(CASES), len(CASES) * (START + 2 * RUNS * RUN))


def measure() -> dict[str, Any]:
    """Every case's stack runs from the start; the runs go round-robin over the cases, so
    a burst of load from elsewhere on the machine hits one run of each, not all runs of one."""
    saturated: dict[str, list[dict[str, Any]]] = {label: [] for label in CASES}
    paced: dict[str, list[dict[str, Any]]] = {label: [] for label in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-rpc-") as name, contextlib.ExitStack() as running:
        PROGRESS.case(f"rpc · starting {len(CASES)} stacks", START * len(CASES))
        stacks = {}
        for i, (label, backend) in enumerate(CASES.items()):
            (Path(name) / str(i)).mkdir()
            stacks[label] = running.enter_context(stack(Path(name) / str(i), backend))
        args = {label: ["rpc", "-url", s.ws, "-token", s.token(), "-clients", str(CLIENTS),
                        "-duration", f"{SECONDS}s", "-method", RENDER if label in (RENDER_1, RENDER_2)
                        else "echo"] for label, s in stacks.items()}  # fmt: skip
        for run in range(RUNS):
            for label, s in stacks.items():
                PROGRESS.case(f"rpc · saturated, run {run + 1}/{RUNS} · {label}", RUN)
                saturated[label].append(run_load(args[label], s.watched()))
        # The moderate rate: half the default hub's saturation in this run.
        rate = round(statistics.median(r["rate"] for r in saturated[DEFAULT]) / 2, -1)
        for run in range(RUNS):
            for label, s in stacks.items():
                PROGRESS.case(f"rpc · {rate:,.0f} calls/s, run {run + 1}/{RUNS} · {label}", RUN)
                paced[label].append(run_load([*args[label], "-rate", str(rate)], s.watched()))
    return {
        label: {"saturated": median_of(saturated[label]), "paced": median_of(paced[label]), "rate": rate,
                "paced_p99_runs": [r["p99_ms"] for r in paced[label]]}
        for label in CASES
    }  # fmt: skip


def main() -> Section:
    results = measure()
    return report({"rate": results[DEFAULT]["rate"], "cases": results, "cpus": os.cpu_count()})


def _cpu_per_call(r: dict[str, Any]) -> float:
    """CPU µs the back end spent per call while saturated: steadier than calls/s on a shared machine."""
    sat = r["saturated"]
    back_end = next(v for k, v in sat["cpu_of"].items() if k not in ("centrifugo", "load generator"))
    return float(back_end / max(sat["rate"], 1) * 1e6)


def report(data: dict[str, Any]) -> Section:
    """The section, from measured figures (``python -m bench --report`` rewrites it from results.json)."""
    results: dict[str, Any] = data["cases"]
    rate = data["rate"]
    limit = results[LIMIT]
    rows = []
    for label, r in results.items():
        sat, paced = r["saturated"], r["paced"]
        cpu = " / ".join(f"{v:.2f}" for v in sat["cpu_of"].values())
        names = " / ".join(sat["cpu_of"])
        rows.append(
            f"| {label} | {sat['rate']:,.0f} | **{sat['rate'] / limit['saturated']['rate']:.2f}x** "
            f"| {sat['p50_ms']:.1f} / {sat['p99_ms']:.1f} | {paced['p50_ms']:.1f} / {paced['p99_ms']:.1f}"
            f"{' (over its saturation)' if sat['rate'] < rate else ''} "
            f"| {paced['p99_ms'] / limit['paced']['p99_ms']:.2f}x | {sat['errors'] + paced['errors']:.0f} "
            f"| {names}: {cpu} | {sat['loadavg']:.1f} |"
        )
    picture = plot(
        "rpc",
        f"RPC through Centrifugo: calls/s at saturation ({CLIENTS} clients); latency at {rate:,.0f} calls/s",
        [(k, v["saturated"]["rate"], v["paced"]["p50_ms"], v["paced"]["p99_ms"]) for k, v in results.items()],
        "calls/s",
    )
    markdown = "\n".join(
        [
            "<!-- bench:rpc -->",
            "## (1) RPC through Centrifugo, against the limit",
            "",
            f"{CLIENTS} WebSocket clients of the Go load generator (`bench/go/load`, centrifuge-go, JWT "
            'connections) call `rpc("echo")` in a loop through Centrifugo v6.9.1, whose RPC proxy goes to '
            "the back end of each row; the app is `bench/proxy_app.py`, the Starlette baseline "
            "`bench/starlette_endpoint.py`, the limit `bench/go/noproxy` (answers at once). "
            f"Each figure is the median of {RUNS} runs of {SECONDS} s; "
            f"latency at a fixed {rate:,.0f} calls/s (half the default hub's saturation in this run) is "
            "measured from when each call was due. CPU in cores (1.0 = one core busy) during the saturated "
            "runs; the load average is the 1-minute one at the end of the saturated runs.",
            "",
            f"![RPC]({picture})",
            "",
            "| back end | calls/s saturated | vs limit | p50 / p99 ms saturated "
            f"| p50 / p99 ms at {rate:,.0f}/s "
            "| p99 vs limit's | errors | CPU (cores) | load avg |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|",
            *rows,
            "",
            "A row whose saturation is below the fixed rate is overloaded there, and its latency at that "
            "rate is a queue's. The fixed-rate p99 moves most with other work on the machine (a few "
            "stalls of a process among 2,500 calls a second make the 99th percentile): compare rows, not "
            "runs.",
            "",
            f"The pool of 2 spent {_cpu_per_call(results[POOL2]):.0f} µs of CPU per call in this run; "
            "the run of 2026-11-29 (load average 5.2), with the same call path but for `gc.freeze()`, "
            "measured 52 µs and 8,566 calls/s (0.76x the limit). The same work costing more CPU means a "
            "busier machine (other engineers' test runs), which lowers every calls/s figure and the "
            "Python back ends' ratios against the Go limit most.",
            "",
            *_speed(results),
            *_tail(results, rate),
            *_conclusions(results, rate),
        ]
    )
    return Section("rpc", markdown, data)


#: The speed work, each change against what came before it (labels of CASES).
STEPS = [
    ("HTTP, pool of 2", "before · hub HTTP, pool of 2, main: h11 + asyncio loop", "main (h11, asyncio loop)"),
    ("HTTP, pool of 2", "before · hub HTTP, pool of 2, httptools + uvloop, Starlette routing",
     "+ httptools + uvloop"),
    ("HTTP, pool of 2", "before · hub HTTP, pool of 2, no gc.freeze()", "+ lean ASGI path for proxy calls"),
    ("HTTP, pool of 2", "before · hub HTTP, pool of 2, two writes per answer",
     "+ start-up objects frozen out of the GC"),
    ("HTTP, pool of 2", "before · hub HTTP, pool of 2, uvicorn + ASGI", "+ one write per answer"),
    ("HTTP, pool of 2", POOL2, "+ a server for the proxy protocol, no ASGI (now)"),
    ("HTTP, inline", "before · hub HTTP, inline, main: h11 + asyncio loop", "main (h11, asyncio loop)"),
    ("HTTP, inline", "before · hub HTTP, inline, httptools + uvloop, Starlette routing",
     "+ httptools + uvloop"),
    ("HTTP, inline", "before · hub HTTP, inline, two writes per answer", "+ lean ASGI path for proxy calls"),
    ("HTTP, inline", "before · hub HTTP, inline, uvicorn + ASGI", "+ one write per answer"),
    ("HTTP, inline", "hub HTTP, inline (workers: 0)", "+ a server for the proxy protocol, no ASGI (now)"),
    ("gRPC, pool of 2", "before · hub gRPC, pool of 2, main: asyncio loop", "main (asyncio loop)"),
    ("gRPC, pool of 2", "hub gRPC, pool of 2", "now (uvloop)"),
    ("hand-written Starlette", "before · hand-written Starlette, h11 + asyncio loop", "h11, asyncio loop"),
    ("hand-written Starlette", "hand-written Starlette, 1 process", "httptools + uvloop"),
]  # fmt: skip


def _tail(results: dict[str, Any], rate: float) -> list[str]:
    """The default pool's p99 at the fixed rate against the limit's, run by run."""
    if "paced_p99_runs" not in results[DEFAULT]:
        return []
    labels = [
        DEFAULT,
        POOL2,
        "hub HTTP, pool of 2, http_connection_ttl 0",
        "before · hub HTTP, pool of 2, no gc.freeze()",
        "hub HTTP, inline (workers: 0)",
        LIMIT,
    ]
    limit = results[LIMIT]["paced"]["p99_ms"]
    rows = []
    for label in labels:
        if label in results:
            r = results[label]
            runs = " / ".join(f"{p:.1f}" for p in r["paced_p99_runs"])
            p99 = r["paced"]["p99_ms"]
            rows.append(f"| {label} | {runs} | {p99:.1f} | {p99 / limit:.2f}x |")
    return [
        f"### The tail: p99 at {rate:,.0f} calls/s, run by run",
        "",
        "| back end | p99 ms of each run | median | vs limit's |",
        "|---|---|---:|---:|",
        *rows,
        "",
        _spread(results[DEFAULT]["paced_p99_runs"], results[LIMIT]["paced_p99_runs"]),
        "",
        *TAIL_NOTES,
        "",
    ]


def _spread(pool: list[float], limit: list[float]) -> str:
    return (
        f"Single runs of the default pool ranged from {min(pool):.1f} to {max(pool):.1f} ms, those of the "
        f"limit from {min(limit):.1f} to {max(limit):.1f} ms: on this shared machine one run's p99 moves "
        "more than rows differ, so only the medians of runs interleaved in one run are compared, and a "
        "ratio near 1 says the pool adds no tail of its own that these runs can tell apart."
    )


#: What was found about the tail, measured apart from the table (bench/bench_rpc.py says how).
TAIL_NOTES: list[str] = [
    "What the pool adds to the tail, measured apart from this table:",
    "",
    "- **Heartbeats**: a worker's beat (its metrics snapshot and call stats, msgspec-encoded, about",
    "  1.4 KB for this app) costs about 9 µs; ten a second is under 0.01 % of a core. Not a cause.",
    "- **Garbage collection**: each collection's pause, recorded in the workers with `gc.callbacks`",
    "  during fixed-rate runs (an experiment app, not this table): on main, a full (generation 2)",
    "  collection walked the worker's ~66,000 start-up objects (modules, the app) and paused it",
    "  34.6 ms at a load average of 8, every call of that worker waiting behind it. The workers (and",
    "  `hub serve`) now freeze what exists before their loop starts out of the collector's sight",
    "  (`gc.freeze()` in `run_listeners`): full collections then walk 1,000-2,000 objects, 0.2-0.6",
    "  ms. They are rare in steady state (a few per worker and minute), so this removes a rare",
    "  stall of tens of ms, not a steady cost; the row without it is main before the change.",
    "- **Connection age** (`pool.http_connection_ttl`, 2 s): each of Centrifugo's keep-alive",
    "  connections is closed after its next answer once 2 s old, and Centrifugo dials a new one",
    "  (which the kernel may hand to the other worker: what spreads load after a worker is",
    "  replaced). The row with 0 keeps connections for good.",
]


def _speed(results: dict[str, Any]) -> list[str]:
    limit = results[LIMIT]["saturated"]["rate"]
    rows = []
    first: dict[str, dict[str, Any]] = {}
    for group, label, step in STEPS:
        if label not in results:
            continue
        r = results[label]
        base = first.setdefault(group, r)
        rows.append(
            f"| {group} | {step} | {r['saturated']['rate']:,.0f} | {r['saturated']['rate'] / limit:.2f}x "
            f"| {r['saturated']['rate'] / base['saturated']['rate']:.2f}x | {_cpu_per_call(r):.0f} "
            f"| {r['paced']['p99_ms']:.1f} |"
        )
    if not rows:
        return []
    return [
        "### Speed work: each change before and after, side by side in this run",
        "",
        'The "before" rows run the hub\'s code of an earlier commit (`git archive`, first on the back '
        "end's `PYTHONPATH`) and hide uvloop and httptools from it where the row says so, so every step "
        "is measured in the same run as the others, against the same limit. CPU per call is the back "
        "end's CPU time divided by the calls it served (saturated runs): it moves less than calls/s when "
        "other work shares the machine.",
        "",
        "| path | stack | calls/s | vs limit | vs first row of the path | back end CPU µs per call "
        "| p99 ms at the fixed rate |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "What the profile said (py-spy, 200 Hz, the inline hub over HTTP saturated by the Go load; "
        "`py-spy record --format raw`, then self and inclusive time per function): on h11 and asyncio's "
        "loop most of a call's CPU went to uvicorn's h11 protocol and the loop's callbacks, the reason "
        "for the first step. With httptools and uvloop, about 25 % of the samples were the two "
        "`transport.write` calls uvicorn makes per response (headers, then body: two `send` system "
        "calls), about 20 % Starlette's layers (ServerErrorMiddleware, ExceptionMiddleware, Router, "
        "`Request`, `Headers`), and the hub's own work (secret check, msgspec decode, dispatch, "
        "executor, stats, encode) under 10 %: hence the second step, which answers `POST "
        "/centrifugo/{kind}` straight over ASGI with the same bodies and status codes "
        "(`proxy/http.py`), leaving Starlette for `/health`, `/metrics` and an app's own routes. The "
        "next step sent an answer's status line, headers and body in one write (uvicorn's protocol on "
        "a transport that gathered one loop turn's writes): one `send` system call and one TCP segment "
        "for Centrifugo to read instead of two. After it, the profile showed uvicorn's protocol and ASGI "
        "(the scope, the request cycle, its receive and send messages, the flow control) as the largest "
        "cost left in the hub's own code. The last step replaces them for proxy calls: the proxy protocol "
        "is fixed (`POST /centrifugo/{kind}`, JSON in and out, keep-alive connections from one Go "
        "client), so `proxy/protocol.py` feeds httptools directly, keeps the body, and answers with one "
        "write; what a general server does for hostile input is kept (400 for what cannot be parsed, 413, "
        "431, pipelining in order, idle connections closed), each in a unit test. uvicorn still serves "
        "the ASGI apps (the web side, the ops listener).",
        "",
    ]


def _conclusions(results: dict[str, Any], rate: float) -> list[str]:
    def calls(label: str) -> str:
        r = results.get(label)
        return f"{r['saturated']['rate']:,.0f}" if r else "n/a"

    def ratio(a: str, b: str) -> str:
        if a in results and b in results:
            return f"{results[a]['saturated']['rate'] / results[b]['saturated']['rate']:.2f}x"
        return "n/a"

    pool1, pool2, inline = POOL1, POOL2, "hub HTTP, inline (workers: 0)"
    grpc2, grpc0, grpc_ttl0 = (
        "hub gRPC, pool of 2",
        "hub gRPC, inline (workers: 0)",
        ("hub gRPC, pool of 2, grpc_connection_ttl 0"),
    )

    def verdict(one: str, two: str) -> str:
        if one not in results or two not in results:
            return "n/a"
        r = results[two]["saturated"]["rate"] / results[one]["saturated"]["rate"]
        return (
            "the second worker paid in this run" if r > 1.15
            else "the second worker cost throughput in this run" if r < 0.87
            else "no difference beyond the noise in this run"
        )  # fmt: skip

    cpu = {k: f"{_cpu_per_call(results[k]):.0f}" for k in (pool1, pool2, inline, RENDER_1, RENDER_2)
           if k in results}  # fmt: skip
    return [
        "### The pool's size, with Centrifugo on the same cores",
        "",
        f"HTTP, saturated, the echo handler: pool of 1 {calls(pool1)} calls/s, pool of 2 {calls(pool2)}, "
        f"inline {calls(inline)}; pool of 2 / pool of 1 = {ratio(pool2, pool1)}: {verdict(pool1, pool2)} "
        f"(back end CPU per call: {cpu.get(pool1, 'n/a')} / {cpu.get(pool2, 'n/a')} / "
        f"{cpu.get(inline, 'n/a')} µs). With a handler that spends CPU of its own (`render` in "
        "`bench/proxy_app.py`: it builds and encodes a 150-item document per call, about 160 µs of "
        "CPU alone): pool of 1 "
        f"{calls(RENDER_1)} calls/s, pool of 2 {calls(RENDER_2)}; pool of 2 / pool of 1 = "
        f"{ratio(RENDER_2, RENDER_1)}: {verdict(RENDER_1, RENDER_2)} (back end CPU per call: "
        f"{cpu.get(RENDER_1, 'n/a')} / {cpu.get(RENDER_2, 'n/a')} µs). The connect storm below "
        "measures the same question on connects. On 2 cores Centrifugo takes about half a core at "
        "these rates and the load generator another (the CPU column), so the hub never has two idle "
        "cores: a second worker helps only as far as the calls of one worker would wait for its single "
        "thread, and otherwise adds wake-ups (fewer calls per turn of each loop: more CPU per call) and "
        "one more process for the scheduler to fit between Centrifugo's threads, which is what the tail "
        "table above shows. The inline process has the least overhead per call (no supervisor, no "
        "heartbeats, one event loop), which is why it runs closest to the limit, at the price of the "
        "pool's isolation. A second worker pays only where a core is left for it: with the cores "
        "shared with Centrifugo and the load, even the `render` handler's CPU is better spent by one "
        "worker (compare its two rows). More workers pay when the cores outnumber what Centrifugo and "
        "the load use (Centrifugo on other machines, bigger machines), and for handlers that block "
        "(sync handlers, slow libraries): then each worker is a core's worth of Python.",
        "",
        "The default follows: `hub serve --centrifugo` (Centrifugo beside the hub) starts one worker per "
        "core less one, at least one, and says so in its log; `hub serve` alone (Centrifugo elsewhere) "
        "one per core (`PoolSettings.beside_centrifugo`, `hub/pool/settings.py`). Every size keeps the "
        "isolation (a crash, hang or leak costs one worker, and a replacement takes the listening "
        "socket's queued calls); `pool: workers:` overrides it, as it should for handlers like "
        "`render`.",
        "",
        "### gRPC: one HTTP/2 connection from Centrifugo",
        "",
        f"gRPC, saturated: pool of 2 {calls(grpc2)} calls/s (`grpc_connection_ttl` 1 s, the default: "
        "Centrifugo reconnects every second, so the connection, and all calls with it, moves between "
        f"workers), pool of 2 with the connection kept {calls(grpc_ttl0)}, inline {calls(grpc0)}; "
        f"HTTP pool of 2 / gRPC pool of 2 = {ratio(pool2, grpc2)}. Whatever the pool's size, one "
        "worker serves Centrifugo's one connection at a time; spreading its calls over processes "
        "would need a front process that terminates HTTP/2 and hands calls on (the shape the pool "
        "rejected, docs/architecture.md), or several Centrifugo nodes, each with its connection. "
        "grpc.aio also costs more CPU per call than the lean HTTP path here, and its latency at the "
        "fixed rate shows spikes (the p99 column). So HTTP stays the default transport; gRPC is "
        "there for those who need it and gets one core's worth of the pool.",
        "",
    ]
