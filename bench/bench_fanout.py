"""Scenario 6: fan-out, one publication to a channel with SUBSCRIBERS subscribers.

The Go load generator connects SUBSCRIBERS clients and subscribes each to one
channel; then MESSAGES publications, each carrying the time it was sent, go out
one at a time, INTERVAL apart. Delivery latency is from the publish call to each
subscriber's receipt (one clock: every process runs on this machine).

- Centrifugo alone: JWT connections, the Go generator publishes through the
  server API itself.
- The hub: connections through the hub's connect proxy, publications through the
  hub's publisher (``app.publish``'s client) from Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.publishing import publisher_for
from hub.settings import load as load_settings

from ._e2e import PROGRESS, RUNS, Backend, Section, Stack, go_binary, median_of, plot, stack

SUBSCRIBERS = 1000
MESSAGES = 40
INTERVAL = 0.05
ALONE = "Centrifugo alone (Go publisher, JWT)"
HUB = "hub publisher, hub connect proxy"
CASES = {
    ALONE: Backend(kind="none"),
    HUB: Backend(kind="hub", transport="http", workers=2),
}
START = 3.0
RUN = 5.0


def plan() -> None:
    PROGRESS.plan(1 + RUNS * len(CASES), len(CASES) * (START + RUNS * RUN))


def one_run(s: Stack, channel: str) -> dict[str, Any]:
    args = [str(go_binary("load")), "fanout", "-url", s.ws, "-channel", channel, "-subs", str(SUBSCRIBERS),
            "-messages", str(MESSAGES)]  # fmt: skip
    if s.backend.kind == "none":
        args += ["-token", s.token(), "-api", s.api, "-key", s.config["centrifugo"]["api_key"],
                 "-interval", f"{int(INTERVAL * 1000)}ms"]  # fmt: skip
    load = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert load.stderr is not None
    assert load.stdout is not None
    line = load.stderr.readline()
    if line.strip() != "ready":
        load.kill()
        raise RuntimeError(f"fan-out subscribers not ready: {line}{load.stderr.read()}")
    if s.backend.kind == "hub":
        asyncio.run(_publish(s, channel))
    out, err = load.communicate(timeout=60)
    if load.returncode:
        raise RuntimeError(f"fan-out load failed: {err}")
    figures: dict[str, Any] = json.loads(out)
    figures["loadavg"] = os.getloadavg()[0]
    return figures


async def _publish(s: Stack, channel: str) -> None:
    async with publisher_for(load_settings(s.path)) as publisher:
        await publisher.publish(channel + "-warm-up", {})  # the connection to the API, before the clock
        for _ in range(MESSAGES):
            await publisher.publish(channel, {"t": time.time_ns()})
            await asyncio.sleep(INTERVAL)


def measure() -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as name, contextlib.ExitStack() as running:
        PROGRESS.case(f"fanout · starting {len(CASES)} stacks", START * len(CASES))
        stacks = {}
        for i, (label, backend) in enumerate(CASES.items()):
            (Path(name) / str(i)).mkdir()
            stacks[label] = running.enter_context(
                stack(Path(name) / str(i), backend, namespaces={"bench": {"public": True}})
            )
        for run in range(RUNS):
            for label, s in stacks.items():
                PROGRESS.case(f"fanout · run {run + 1}/{RUNS} · {label}", RUN)
                runs[label].append(one_run(s, f"bench:fanout-{run}"))
    return {label: median_of(r) for label, r in runs.items()}


def main() -> Section:
    return report({"subscribers": SUBSCRIBERS, "messages": MESSAGES, "cases": measure()})


def report(data: dict[str, Any]) -> Section:
    """The section, from measured figures (``python -m bench --report`` rewrites it from results.json)."""
    results: dict[str, Any] = data["cases"]
    alone = results[ALONE]
    rows = [
        f"| {label} | {r['delivered']:,.0f} of {r['expected']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
        f"| {r['max_ms']:.1f} | {r['p99_ms'] / alone['p99_ms']:.2f}x | {r['cpu']:.2f} | {r['loadavg']:.1f} |"
        for label, r in results.items()
    ]
    picture = plot(
        "fanout",
        f"Fan-out: one publication to {SUBSCRIBERS:,} subscribers ({MESSAGES} publications per run)",
        [
            (k, v["delivered"] / max(v["expected"], 1) * 100, v["p50_ms"], v["p99_ms"])
            for k, v in results.items()
        ],
        "% delivered",
    )
    markdown = "\n".join(
        [
            "<!-- bench:fanout -->",
            "## (6) Fan-out: one publish to 1,000 subscribers",
            "",
            f"{SUBSCRIBERS:,} WebSocket clients of the Go load generator subscribe to one channel; "
            f"{MESSAGES} publications, {int(INTERVAL * 1000)} ms apart, each carry the time they were sent, "
            "and each subscriber notes when it received them (one clock: everything runs on this machine). "
            f"Median of {RUNS} runs of the p50 and p99 over every delivery of a run "
            f"({SUBSCRIBERS * MESSAGES:,}). Centrifugo alone: JWT connections, the Go generator publishes "
            "through Centrifugo's HTTP server API itself; the hub: connections through the hub's "
            "connect proxy (pool of 2), publications through the hub's publisher (`app.publish`'s "
            "client, from Python, each awaited).",
            "",
            f"![Fan-out]({picture})",
            "",
            "| case | delivered | p50 ms | p99 ms | max ms | p99 vs Centrifugo alone | load generator CPU "
            "| load avg |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Once a publication is in Centrifugo, the fan-out is Centrifugo's alone (the hub is not on that "
            "path); what the hub adds is its publisher's hop to Centrifugo's API, the difference between "
            "the rows.",
            "",
        ]
    )
    return Section("fanout", markdown, data)
