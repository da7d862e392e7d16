"""``hub status``: one screen with the workers, the pipelines, the publisher and Centrifugo.

    $ hub status -c hub.yaml
    listeners   proxy http 127.0.0.1:9000: accepts
                web 127.0.0.1:8080: accepts
                ops 127.0.0.1:9100: ready
    workers     pool: 2 of 2 serving (replaced since start: none)
                PID    STATE  CALLS ...
    jobs        PIPELINE  DRIVER  QUEUED ...
    publisher   http → http://127.0.0.1:8000/api: answers (4 ms)
    centrifugo  node hub-41873-1a2b (v6.9.1): 3 clients, 2 users, 4 channels, up 120 s

Each part is asked on its own: one that cannot be reached says why and the others
are still shown. The exit status is 1 when a part could not be reached.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import HubError
from .pool.control import ask, control_path, table
from .pool.messages import Status, Workers
from .publishing import reachable

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True, slots=True)
class Part:
    """One part of the screen: its name, whether it answered, and its lines."""

    name: str
    ok: bool
    lines: list[str]


def listeners(settings: Settings) -> Part:
    """Whether each listening address of hub.yaml takes a connection, and the ops
    listener's readiness (its ``/ready``, with the parts that are not ready)."""
    p, web, ops = settings.proxy, settings.web, settings.ops
    addresses = [("proxy http", p.host, p.http_port)]
    if p.grpc_port:
        addresses.append(("proxy grpc", p.host, p.grpc_port))
    if web.port:
        addresses.append(("web", web.host, web.port))
    lines = []
    ok = True
    for name, host, port in addresses:
        why = _connect(host, port)
        ok = ok and why is None
        lines.append(f"{name} {host}:{port}: {why or 'accepts'}")
    if ops.port:
        ready, state = _ready(ops.host, ops.port)
        ok = ok and ready
        lines.append(f"ops {ops.host}:{ops.port}: {state}")
    return Part("listeners", ok, lines)


def _connect(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((reachable(host), port), timeout=2):
            return None
    except OSError as exc:
        return f"not reached: {os.strerror(exc.errno) if exc.errno else type(exc).__name__}"


def _ready(host: str, port: int) -> tuple[bool, str]:
    url = f"http://{reachable(host)}:{port}/ready"
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True, "ready"
    except urllib.error.HTTPError as exc:  # 503: the body says which parts are not ready
        try:
            parts = json.loads(exc.read())["parts"]
            waiting = ", ".join(f"{name} ({v.get('state')})" for name, v in parts.items() if not v["ready"])
        except (ValueError, KeyError, TypeError, AttributeError):
            waiting = f"HTTP {exc.code}"
        return False, f"not ready: {waiting}"
    except OSError as exc:
        return False, f"not reached: {exc}"


def workers(config: str) -> Part:
    try:
        status = ask(control_path(config), Workers(), timeout=5)
    except HubError as exc:
        return Part("workers", False, [str(exc)])
    assert isinstance(status, Status)
    if status.mode == "inline":
        return Part("workers", True, [table(status)])
    serving = sum(1 for w in status.workers if w.state in ("ready", "working"))
    replaced = ", ".join(f"{k} {v}" for k, v in sorted(status.replaced.items())) or "none"
    rows = table(status).splitlines()[:-1]  # its summary line is said above instead
    summary = f"pool: {serving} of {status.size} serving (replaced since start: {replaced})"
    return Part("workers", True, [summary, *rows])


async def jobs(settings: Settings, config: str) -> Part:
    if not settings.jobs.pipelines:
        return Part("jobs", True, ["no pipelines configured"])
    from .jobs.broker_socket import broker_path
    from .jobs.commands import pipeline_stats
    from .jobs.commands import table as jobs_table
    from .jobs.pipelines import Jobs

    try:
        async with Jobs(settings.jobs, socket=broker_path(config)) as pipelines:
            rows = [await pipeline_stats(pipelines, name) for name in pipelines.drivers]
    except Exception as exc:  # a part that cannot be reached says why; the others still show
        return Part("jobs", False, [f"{type(exc).__name__}: {exc}"])
    return Part("jobs", not any(isinstance(r, str) for r in rows), jobs_table(rows).splitlines())


async def publisher_and_centrifugo(settings: Settings) -> list[Part]:
    from .clients import PublisherError
    from .publishing import api_url, publisher_for

    where = f"{settings.publisher.transport} → {api_url(settings)}"
    try:
        async with publisher_for(settings) as publisher:
            started = time.perf_counter()
            nodes = await publisher.info()
            took = (time.perf_counter() - started) * 1000
    except PublisherError as exc:
        failed = f"{type(exc).__name__}: {exc}"
        return [Part("publisher", False, [f"{where}: {failed}"]), Part("centrifugo", False, ["not reached"])]
    lines = [
        f"node {n.name} (v{n.version}): {n.num_clients} clients, {n.num_users} users, "
        f"{n.num_channels} channels, up {n.uptime} s"
        for n in nodes
    ]
    return [Part("publisher", True, [f"{where}: answers ({took:.0f} ms)"]), Part("centrifugo", True, lines)]


async def gather(settings: Settings, config: str) -> list[Part]:
    """Every part, each asked on its own."""
    return [
        listeners(settings),
        workers(config),
        await jobs(settings, config),
        *await publisher_and_centrifugo(settings),
    ]


def screen(parts: list[Part]) -> str:
    """The parts as one screen: the name, then its lines, aligned."""
    width = max(len(p.name) for p in parts) + 2
    out = []
    for part in parts:
        first, *rest = part.lines or [""]
        out.append(part.name.ljust(width) + first)
        out += [" " * width + line for line in rest]
    return "\n".join(out)
