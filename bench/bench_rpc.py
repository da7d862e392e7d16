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

from ._e2e import PROGRESS, RUNS, Backend, Section, chosen, median_of, plot, run_load, stack

SECONDS = 2.5
CLIENTS = 64
LIMIT = "Go no-op HTTP proxy (limit)"
DEFAULT = "hub HTTP, pool of 2 (default on 2 cores)"
#: The stack before the speed work: uvicorn on h11 and asyncio's own loop, and Starlette's
#: routing for every call (main before this branch); then each change on its own.
BEFORE = ("uvloop", "httptools")
MAIN = "ca4fd26"  # main when this branch started
STARLETTE_PATH = "a37247f"  # httptools + uvloop, proxy calls still routed by Starlette
CASES: dict[str, Backend] = {
    DEFAULT: Backend(kind="hub", transport="http", workers=2),
    LIMIT: Backend(kind="go"),
    "hub HTTP, pool of 1": Backend(kind="hub", transport="http", workers=1),
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
    "before · hub gRPC, pool of 2, main: asyncio loop": Backend(
        kind="hub", transport="grpc", workers=2, hide=BEFORE, revision=MAIN
    ),
    "before · hand-written Starlette, h11 + asyncio loop": Backend(kind="starlette", hide=BEFORE),
}
START = 3.0
RUN = SECONDS + 1.5
CASES = chosen(CASES, DEFAULT, LIMIT)


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
                        "-duration", f"{SECONDS}s"] for label, s in stacks.items()}  # fmt: skip
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
        label: {"saturated": median_of(saturated[label]), "paced": median_of(paced[label]), "rate": rate}
        for label in CASES
    }


def main() -> Section:
    results = measure()
    rate = results[DEFAULT]["rate"]
    limit = results[LIMIT]
    rows = []
    for label, r in results.items():
        sat, paced = r["saturated"], r["paced"]
        cpu = " / ".join(f"{v:.2f}" for v in sat["cpu_of"].values())
        names = " / ".join(sat["cpu_of"])
        rows.append(
            f"| {label} | {sat['rate']:,.0f} | **{sat['rate'] / limit['saturated']['rate']:.2f}x** "
            f"| {sat['p50_ms']:.1f} / {sat['p99_ms']:.1f} | {paced['p50_ms']:.1f} / {paced['p99_ms']:.1f} "
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
        ]
    )
    return Section("rpc", markdown, {"rate": rate, "cases": results, "cpus": os.cpu_count()})
