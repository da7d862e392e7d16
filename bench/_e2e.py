"""End-to-end stacks for the scenarios: Centrifugo plus one proxy back end, and the Go load.

A stack is Centrifugo (rendered from a hub.yaml by ``hub centrifugo run``; one node, or
several on their own ports) and one of the back ends its proxy calls go to: the hub
(``hub serve``: pooled, or inline), the hand-written Starlette endpoint, or the Go
no-op proxy (the limit). Loads are the compiled generator ``bench/.bin/load``
(centrifuge-go), built by ``make bench``.
Everything listens on 127.0.0.1 and every process is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from hub.pool.settings import PoolSettings, cores
from hub.settings import load as load_settings
from hub.tokens import TokenMinter

ROOT = Path(__file__).resolve().parents[1]
GOBIN = ROOT / "bench" / ".bin"
HUB = Path(sys.executable).parent / "hub"
SECRET = "bench-proxy-secret"
API_KEY = "bench-api-key"
TOKEN_SECRET = "bench-token-secret-of-at-least-32-bytes"
#: The pool `hub serve --centrifugo` starts on this machine when `pool.workers` is not set.
DEFAULT_WORKERS = PoolSettings().beside_centrifugo().size
DEFAULT_POOL = f"hub HTTP, pool of {DEFAULT_WORKERS} (default beside Centrifugo on {cores()} cores)"


def pool_of(workers: int) -> str:
    """The row of an HTTP pool of this size: the default's own row when it is the default's size."""
    return DEFAULT_POOL if workers == DEFAULT_WORKERS else f"hub HTTP, pool of {workers}"


#: Short runs, several of each: every figure is the median of RUNS runs.
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
#: While developing: run only the cases whose label contains one of these (comma-separated).
ONLY = [w for w in os.environ.get("BENCH_CASES", "").split(",") if w]


def chosen(cases: dict[str, Any], *keep: str) -> dict[str, Any]:
    """The cases to run: all, or those BENCH_CASES names (the ``keep`` ones always); a case
    whose ``revision`` this clone does not hold (e.g. after a squash merge) is left out."""
    cases = {k: v for k, v in cases.items() if have_revision(getattr(v, "revision", None), k)}
    if not ONLY:
        return cases
    return {k: v for k, v in cases.items() if k in keep or any(w in k for w in ONLY)}


def have_revision(revision: str | None, label: str) -> bool:
    if revision is None:
        return True
    found = subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=ROOT, capture_output=True)
    if found.returncode:
        print(f"bench: left out {label!r}: revision {revision} not in this clone", file=sys.stderr)
    return found.returncode == 0


def source_of(revision: str, tmp: Path) -> Path:
    """The project's files as of ``revision`` (an earlier commit), extracted once under ``tmp``."""
    source = tmp / f"src-{revision}"
    if not source.exists():
        source.mkdir()
        archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} at start")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} not up within {seconds}s")


def stop(*processes: subprocess.Popen[bytes]) -> None:
    """SIGTERM to each at once, then wait for them all; SIGKILL to one still there after 15 s."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in running:
        try:
            process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def family(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        with contextlib.suppress(psutil.Error):
            total += sum(p.cpu_times()[:4])  # user, system, and those of waited-for children
    return total


def go_binary(name: str) -> Path:
    path = GOBIN / name
    if not path.exists():
        raise RuntimeError(
            f"{path} is missing: `make bench` builds it (cd bench/go && go build -o ../.bin/ ./...)"
        )
    return path


@dataclass(frozen=True, kw_only=True)
class Backend:
    """Who answers Centrifugo's proxy calls."""

    kind: str  # "hub", "starlette", "go" or "none" (JWT only: the Go proxy is there but never called)
    transport: str = "http"
    workers: int = 0
    #: Pool settings beyond the size, e.g. {"grpc_connection_ttl": 0}.
    pool: dict[str, Any] = field(default_factory=dict)
    #: Packages the back end's processes must not see (e.g. "uvloop", "httptools"): the
    #: stack before the speed work, measured side by side with the one after.
    hide: tuple[str, ...] = ()
    #: Run the hub's code of this git revision (an earlier commit: the "before" of a change).
    revision: str | None = None


@dataclass
class Stack:
    tmp: Path
    backend: Backend
    config: dict[str, Any]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    start_centrifugo: Callable[[], None] = lambda: None
    #: Each Centrifugo node's client port; the first is hub.yaml's ``centrifugo.port``.
    ports: list[int] = field(default_factory=list)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.config['centrifugo']['port']}/connection/websocket"

    @property
    def node_urls(self) -> list[str]:
        """Each Centrifugo node's WebSocket endpoint, the first node's (``ws``) first."""
        return [f"ws://127.0.0.1:{port}/connection/websocket" for port in self.ports]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.config['centrifugo']['port']}/api"

    @property
    def path(self) -> Path:
        return self.tmp / "hub.yaml"

    def token(self, user: str = "bench") -> str:
        return TokenMinter.from_settings(load_settings(self.path).centrifugo).connection(user)

    def watched(self) -> dict[str, list[psutil.Process]]:
        return {name: family(p.pid) for name, p in self.processes.items()}

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.config['ops']['port']}/metrics"

    def restart_centrifugo(self) -> float:
        """Stop every Centrifugo node at once (SIGTERM, as a deploy does), then start them all
        again; seconds it took."""
        started = time.monotonic()
        stop(*(self.processes[_node(i)] for i in range(len(self.ports))))
        self.start_centrifugo()
        return time.monotonic() - started


def _node(i: int) -> str:
    """The name of the i-th Centrifugo node's process in ``Stack.processes``."""
    return "centrifugo" if i == 0 else f"centrifugo {i + 1}"


def hub_yaml(
    tmp: Path, backend: Backend, app: str = "bench.proxy_app:app", *, ops: bool = False, **centrifugo: Any
) -> dict[str, Any]:
    pool = {"workers": backend.workers, **backend.pool}
    return {
        **({"ops": {"port": free_port()}} if ops else {}),
        "app": app,
        "log_level": "warning",
        "proxy": {"transport": backend.transport, "http_port": free_port(), "grpc_port": free_port(),
                  "secret": SECRET, "call_timeout": 5},
        "pool": pool,
        "publisher": {"max_pending": 100_000},
        "centrifugo": {"port": free_port(), "api_key": API_KEY, "token_secret": TOKEN_SECRET,
                       "log_level": "error", **centrifugo},
    }  # fmt: skip


@contextlib.contextmanager
def stack(
    tmp: Path, backend: Backend, *, ops: bool = False, nodes: int = 1, **centrifugo: Any
) -> Iterator[Stack]:
    """Start the back end, then Centrifugo; stop both (by pid) on the way out. ``ops``: the
    hub's ops listener on a free port (``Stack.metrics_url``). ``nodes``: that many
    Centrifugo nodes from the one hub.yaml, each on its own free client port (``-o
    centrifugo.port=...``), all calling the same back end (``Stack.node_urls``)."""
    s = Stack(tmp, backend, hub_yaml(tmp, backend, ops=ops, **centrifugo))
    s.ports = [s.config["centrifugo"]["port"], *(free_port() for _ in range(nodes - 1))]
    s.path.write_text(yaml.safe_dump(s.config))
    port = s.config["proxy"]["http_port"]
    log = (tmp / "stack.log").open("ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    path = [str(ROOT)]
    # The hub's code as of an earlier commit, first on the path of the back end and its workers.
    source = source_of(backend.revision, tmp) if backend.revision else None
    if source:
        path.insert(0, str(source))
    if backend.hide:
        # A module that fails to import stands in for each hidden package.
        stubs = tmp / ("hide-" + "-".join(backend.hide))
        stubs.mkdir(exist_ok=True)
        for package in backend.hide:
            (stubs / f"{package}.py").write_text(f"raise ImportError('{package} hidden by the benchmark')\n")
        path.insert(0, str(stubs))
    if len(path) > 1:
        env["PYTHONPATH"] = os.pathsep.join([*path, env.get("PYTHONPATH", "")])

    # `python -m hub.pool.worker` puts its working directory first on sys.path: the hub of
    # an earlier revision runs from its own tree, or its workers would import today's code.
    hub_cwd = source or ROOT

    def spawn(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        cwd = hub_cwd if name == "hub" else ROOT
        s.processes[name] = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=log, env=env)
        return s.processes[name]

    try:
        if backend.kind == "hub":
            hub = spawn("hub", [str(HUB), "serve", "-c", str(s.path)])
            wait_http(f"http://127.0.0.1:{port}/health", hub)
            deadline = time.monotonic() + 30
            while len(family(hub.pid)) < backend.workers + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            if backend.transport == "grpc":
                _wait_tcp(s.config["proxy"]["grpc_port"])
        elif backend.kind == "starlette":
            cmd = [sys.executable, "-m", "bench.starlette_endpoint", str(port), SECRET]
            process = spawn("starlette", cmd)
            _wait_tcp(port, process)
        else:
            process = spawn("go proxy", [str(go_binary("noproxy")), "-addr", f"127.0.0.1:{port}"])
            wait_http(f"http://127.0.0.1:{port}/health", process)

        def start_centrifugo() -> None:
            command = [str(HUB), "centrifugo", "run", "-c", str(s.path)]
            # The first node runs hub.yaml as it is (a "before" row's older hub has no `-o`).
            started = [
                (spawn(_node(i), [*command, *(["-o", f"centrifugo.port={port}"] if i else [])]), port)
                for i, port in enumerate(s.ports)
            ]
            for centrifugo, port in started:
                wait_http(f"http://127.0.0.1:{port}/health", centrifugo)

        s.start_centrifugo = start_centrifugo
        start_centrifugo()
        time.sleep(0.3)
        yield s
    finally:
        for process in reversed(s.processes.values()):
            stop(process)
        log.close()


def _wait_tcp(port: int, process: subprocess.Popen[bytes] | None = None, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def run_load(
    args: list[str], watched: dict[str, list[psutil.Process]], timeout: float = 120
) -> dict[str, Any]:
    """Run the Go load generator once; add the CPU (cores) of each watched process family
    over the run and the 1-minute load average at its end."""
    before = {name: cpu_seconds(ps) for name, ps in watched.items()}
    started = time.monotonic()
    out = subprocess.run([str(go_binary("load")), *args], capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(f"load {' '.join(args[:1])} failed: {out.stderr.strip()[-2000:]}")
    figures: dict[str, Any] = json.loads(out.stdout)
    figures["cpu_of"] = {name: (cpu_seconds(ps) - before[name]) / wall for name, ps in watched.items()}
    figures["cpu_of"]["load generator"] = figures.pop("cpu")
    figures["loadavg"] = os.getloadavg()[0]
    return figures


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every figure over the runs (CPU per process family too), plus the runs."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
        elif isinstance(value, dict):
            out[key] = {k: statistics.median(r[key][k] for r in runs) for k in value}
    out["runs"] = len(runs)
    return out


class Progress:
    """A line per case with the time spent and an estimate of the time left.

    Scenarios announce their cases' planned seconds up front (``plan``); the
    estimate scales what is left of the plan by how fast the plan went so far.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.planned = 0.0
        self.done = 0.0
        self.cases = 0
        self.total_cases = 0

    def plan(self, cases: int, seconds: float) -> None:
        self.total_cases += cases
        self.planned += seconds

    def case(self, label: str, seconds: float) -> None:
        """Say what runs now; ``seconds`` is its share of the plan, counted as done from now."""
        elapsed = time.monotonic() - self.started
        pace = elapsed / self.done if self.done else 1.0
        left = max(self.planned - self.done, 0) * pace
        self.cases += 1
        print(
            f"[{self.cases:>3}/{self.total_cases}] {_clock(elapsed)} elapsed, ~{_clock(left)} left · {label}",
            file=sys.stderr,
            flush=True,
        )
        self.done += seconds


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


PROGRESS = Progress()


@dataclass
class Section:
    """What a scenario hands back: its Markdown, its figures (for results.json), its plot."""

    name: str
    markdown: str
    results: dict[str, Any]


def machine() -> dict[str, Any]:
    import platform

    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def plot(
    name: str, title: str, rows: list[tuple[str, float, float, float]], unit: str,
    *, right: tuple[str, str | None] = ("p50", "p99"), right_unit: str = "ms", right_title: str = "",
    right_log: bool = False,
) -> str:  # fmt: skip
    """One PNG: throughput bars on the left, p50/p99 bars on the right. Returns its path
    relative to docs/. ``rows`` are (label, throughput, p50 ms, p99 ms); with ``right``
    naming one series only, the right panel shows the first of the two; ``right_log`` draws
    it on a log scale (0 leaves a bar out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r[0] for r in rows]
    fig, (left, _) = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 1.8))
    y = range(len(rows))
    left.barh(y, [r[1] for r in rows], color="#4c72b0")
    left.set_yticks(list(y), labels, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel(unit)
    left.set_title("throughput (median)", fontsize=10)
    for i, r in enumerate(rows):
        left.text(r[1], i, f" {r[1]:,.0f}", va="center", fontsize=7)
    panel = right
    right_axes = fig.axes[1]
    if panel[1] is None:
        right_axes.barh(list(y), [r[2] for r in rows], color="#55a868", label=panel[0])
    else:
        h = 0.4
        right_axes.barh([i - h / 2 for i in y], [r[2] for r in rows], h, label=panel[0], color="#55a868")
        right_axes.barh([i + h / 2 for i in y], [r[3] for r in rows], h, label=panel[1], color="#c44e52")
    right_axes.set_yticks(list(y), ["" for _ in rows])
    if right_log:  # values an order of magnitude apart: a log scale, each bar labelled
        right_axes.set_xscale("log")
        for i, r in enumerate(rows):
            for value, dy in ((r[2], -0.2), (r[3], 0.2)) if panel[1] else ((r[2], 0.0),):
                if value:
                    right_axes.text(value, i + dy, f" {value:.1f}", va="center", fontsize=6)
    right_axes.invert_yaxis()
    right_axes.set_xlabel(right_unit)
    right_axes.set_title(right_title or ("latency (median of runs)" if panel[1] else panel[0]), fontsize=10)
    right_axes.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = ROOT / "docs" / "benchmarks" / f"{name}.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return f"benchmarks/{name}.png"
