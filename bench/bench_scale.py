"""Scale-out: RPC calls/s through Centrifugo with one hub instance, then with a second beside it.

The Go load generator's WebSocket clients call ``rpc("echo")`` in a loop, as in the
RPC scenario. One pair is one Centrifugo node and one hub (a pool of 2 workers); two
pairs are the sidecar topology of docs/scaling.md, two nodes on one Redis
engine (one prefix), each calling its own hub, with the clients split over the nodes
(two load generators at once; their calls/s are summed). Every process shares the
machine's cores: on one machine this measures the overhead of a second instance, not
the gain of a second machine.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ._e2e import PROGRESS, RUNS, Backend, Section, Stack, free_port, median_of, run_load, stack

SECONDS = 2.5
CLIENTS = 64
HUB = Backend(kind="hub", transport="http", workers=2)
CASES = {
    "one pair (memory engine)": (1, False),
    "one pair (Redis engine)": (1, True),
    "two pairs (Redis engine), clients split": (2, True),
}
START = 4.0
RUN = SECONDS + 1.5


def plan() -> None:
    PROGRESS.plan(len(CASES) * (1 + RUNS), len(CASES) * (START + RUNS * RUN))


@contextlib.contextmanager
def _redis(tmp: Path) -> Any:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("the scale benchmark needs redis-server")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([*command, "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def _load(stacks: list[Stack]) -> dict[str, Any]:
    """One run: CLIENTS clients split over the stacks' nodes, all at once; calls/s summed."""
    share = CLIENTS // len(stacks)
    with concurrent.futures.ThreadPoolExecutor(len(stacks)) as pool:
        runs = list(pool.map(
            lambda s: run_load(["rpc", "-url", s.ws, "-token", s.token(), "-clients", str(share),
                                "-duration", f"{SECONDS}s"], s.watched()),
            stacks,
        ))  # fmt: skip
    return {
        "rate": sum(r["rate"] for r in runs),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "cpu_of": {
            f"{name} {i + 1}": cores for i, r in enumerate(runs) for name, cores in r["cpu_of"].items()
        },
        "loadavg": os.getloadavg()[0],
    }


def measure() -> dict[str, Any]:
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name, _redis(Path(name)) as url:
        for label, (pairs, on_redis) in CASES.items():
            PROGRESS.case(f"scale · starting · {label}", START)
            engine = {"engine": "redis", "redis_url": url, "redis_prefix": f"bench-{uuid.uuid4().hex[:6]}"}
            with contextlib.ExitStack() as running:
                stacks = []
                for i in range(pairs):
                    folder = Path(name) / f"{len(results)}-{i}"
                    folder.mkdir()
                    stacks.append(running.enter_context(stack(folder, HUB, **(engine if on_redis else {}))))
                runs = []
                for run in range(RUNS):
                    PROGRESS.case(f"scale · run {run + 1}/{RUNS} · {label}", RUN)
                    runs.append(_load(stacks))
            results[label] = median_of(runs)
    return results


def main() -> Section:
    return report({"cases": measure(), "cpus": os.cpu_count()})


def report(data: dict[str, Any]) -> Section:
    """The section, from measured figures (``python -m bench --report`` rewrites it from results.json)."""
    cases: dict[str, Any] = data["cases"]
    one = next(iter(cases.values()))["rate"]
    rows = [
        f"| {label} | {r['rate']:,.0f} | {r['rate'] / one:.2f}x | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} "
        f"| {r['errors']:.0f} | {sum(v for k, v in r['cpu_of'].items() if not k.startswith('load')):.2f} "
        f"| {r['loadavg']:.1f} |"
        for label, r in cases.items()
    ]
    markdown = "\n".join(
        [
            "<!-- bench:scale -->",
            "## Scale-out: a second hub instance beside the first",
            "",
            f'{CLIENTS} WebSocket clients of the Go load generator call `rpc("echo")` in a loop '
            "(`bench/proxy_app.py`) through Centrifugo v6.9.1. One pair: a Centrifugo node and a hub "
            "(HTTP proxy, pool of 2). Two pairs: the sidecar topology of docs/scaling.md, two nodes on "
            "one Redis engine each calling its own hub, the clients split over the nodes and their "
            f"calls/s summed. Each figure is the median of {RUNS} runs of {SECONDS} s. **Everything "
            f"shares this machine's {data['cpus']} cores**: the second pair adds processes, not cores, "
            "so this measures what a second instance costs on one machine, not what a second machine "
            "adds.",
            "",
            "| topology | calls/s | vs one pair | p50 / p99 ms (worst node) | errors "
            "| CPU of Centrifugo + hubs (cores) | load avg |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    return Section("scale", markdown, data)
