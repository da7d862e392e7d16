"""Scenario 2: a connect storm, through the hub's connect proxy against the limits.

The Go load generator opens CONNECTIONS WebSocket connections, CONCURRENCY at a
time, and keeps each open until all are connected: connections/s through
Centrifugo's connect proxy to the hub (HTTP or gRPC), to the Go no-op connect
proxy, and with a JWT (no proxy call: the limit).
"""

from __future__ import annotations

import contextlib
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

CONNECTIONS = 4000
CONCURRENCY = 200
LIMIT = "JWT only, no proxy call (limit)"
CASES: dict[str, Backend] = {
    LIMIT: Backend(kind="none"),
    "Go no-op connect proxy": Backend(kind="go"),
    DEFAULT_POOL: Backend(kind="hub", transport="http", workers=DEFAULT_WORKERS),
    **{pool_of(n): Backend(kind="hub", transport="http", workers=n) for n in (1, 2)},
    "hub HTTP, inline (workers: 0)": Backend(kind="hub", transport="http", workers=0),
    "hub gRPC, pool of 2": Backend(kind="hub", transport="grpc", workers=2),
    "before · hub HTTP, pool of 2, uvicorn + ASGI": Backend(kind="hub", workers=2, revision="0463d6b"),
    "before · hub HTTP, inline, uvicorn + ASGI": Backend(kind="hub", workers=0, revision="0463d6b"),
    "before · hub HTTP, pool of 2, main: h11 + asyncio loop": Backend(
        kind="hub", workers=2, hide=("uvloop", "httptools"), revision="ca4fd26"
    ),
}
START = 3.0
RUN = 3.0
CASES = chosen(CASES, LIMIT)


def plan() -> None:
    PROGRESS.plan(1 + RUNS * len(CASES), len(CASES) * (START + RUNS * RUN))


def measure() -> dict[str, Any]:
    """All stacks run from the start; the runs go round-robin over the cases (see bench_rpc)."""
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-connect-") as name, contextlib.ExitStack() as running:
        PROGRESS.case(f"connect · starting {len(CASES)} stacks", START * len(CASES))
        stacks = {}
        for i, (label, backend) in enumerate(CASES.items()):
            (Path(name) / str(i)).mkdir()
            stacks[label] = running.enter_context(stack(Path(name) / str(i), backend))
        for run in range(RUNS):
            for label, s in stacks.items():
                PROGRESS.case(f"connect · run {run + 1}/{RUNS} · {label}", RUN)
                args = ["connect", "-url", s.ws, "-n", str(CONNECTIONS), "-concurrency", str(CONCURRENCY)]
                if s.backend.kind == "none":
                    args += ["-token", s.token()]
                runs[label].append(run_load(args, s.watched()))
    return {label: median_of(r) for label, r in runs.items()}


def main() -> Section:
    return report({"cases": measure()})


def report(data: dict[str, Any]) -> Section:
    """The section, from measured figures (``python -m bench --report`` rewrites it from results.json)."""
    results: dict[str, Any] = data["cases"]
    limit = results[LIMIT]["rate"]
    rows = []
    for label, r in results.items():
        cpu = " / ".join(f"{v:.2f}" for v in r["cpu_of"].values())
        rows.append(
            f"| {label} | {r['rate']:,.0f} | **{r['rate'] / limit:.2f}x** "
            f"| {r['p50_ms']:.1f} / {r['p99_ms']:.1f} "
            f"| {r['failed']:.0f} / {r['errors']:.0f} | {' / '.join(r['cpu_of'])}: {cpu} "
            f"| {r['loadavg']:.1f} |"
        )
    picture = plot(
        "connect",
        f"Connect storm: {CONNECTIONS:,} connections, {CONCURRENCY} at a time",
        [(k, v["rate"], v["p50_ms"], v["p99_ms"]) for k, v in results.items()],
        "connections/s",
    )
    markdown = "\n".join(
        [
            "<!-- bench:connect -->",
            "## (2) Connect storm",
            "",
            f"The Go load generator opens {CONNECTIONS:,} WebSocket connections ({CONCURRENCY} connecting at "
            "a time, each kept open until all are connected) to Centrifugo v6.9.1, whose connect proxy goes "
            "to the back end of each row; the limit connects with a JWT, so no proxy call is made. "
            f"Median of {RUNS} runs; connect latency is from dialling to the connect reply. "
            "CPU in cores over "
            "the run (which includes the load generator's start and the connections' close).",
            "",
            f"![Connect storm]({picture})",
            "",
            "| connect through | connections/s | vs JWT only | p50 / p99 ms | failed / client errors "
            "| CPU (cores) | load avg |",
            "|---|---:|---:|---:|---:|---|---:|",
            *rows,
            "",
        ]
    )
    return Section("connect", markdown, data)
