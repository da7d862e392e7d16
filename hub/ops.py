"""The ops listener: ``/metrics`` for the whole pool, ``/health`` and ``/ready`` probes.

Served by the supervisor (or the inline service) on hub.yaml ``ops:`` (default
127.0.0.1:9002), apart from the proxy's listeners, so a scrape or a probe never
lands on one worker and a busy pool never delays them::

    async with OpsServer(settings.ops, service):
        ...   # GET /metrics, /health, /ready

How the pool's numbers reach one scrape: every worker counts its own calls
in-process (:class:`hub.proxy.CallStats`, about 0.2 µs a call) and sends the
cumulative counts to the supervisor with each heartbeat; the supervisor adds the
live workers' counts to those of the workers that left. prometheus-client's
multiprocess mode was measured at about 6.5 µs a call (a counter and a histogram
in mmap files), 30 times the in-process count, on the proxy's hot path: the
heartbeat costs nothing per call. A worker killed with SIGKILL loses the calls
it counted since its last heartbeat (0.1 s at most). The jobs pipelines' depths
are no worker's: they are asked of each pipeline's broker at every scrape
(:meth:`Observed.read`), each within a second, so a broker that is down makes the
scrape say so (``hub_jobs_pipeline_up 0``) rather than hang.

``/health`` (liveness) answers while the service's event loop runs. ``/ready``
(readiness) is true when every part is: the proxy listeners up, the pool at
its size, Centrifugo's child (with ``--centrifugo``) running and answering, the
jobs pipelines' Redis servers answering PING, and false from the first moment of
a shutdown. Each returns a JSON breakdown by
part, with status 200 or 503, usable as Kubernetes probes as they are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Protocol, Self

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.proxy import CallStats, HttpServer
from hub.proxy.stats import BUCKETS

from .errors import HubError
from .metrics import Family, Series, prometheus
from .settings import OpsSettings

log = logging.getLogger(__name__)


class Part(Protocol):
    """One part of the service that readiness depends on."""

    name: str

    async def ready(self) -> tuple[bool, str]:
        """Whether the part is ready, and a short word on its state."""
        ...


class Observed(Protocol):
    """What the ops listener reads from the running service (:class:`hub.service.Service`)."""

    stopping: bool

    def parts(self) -> list[Part]: ...

    def call_stats(self) -> CallStats: ...

    def collect(self) -> Iterable[Metric]:
        """The service's own metric families (the pool's, Centrifugo's child)."""
        ...

    async def read(self) -> list[Metric]:
        """The families asked afresh at each scrape, each within a short timeout (queue depths)."""
        ...


class _ServiceCollector(Collector):
    def __init__(self, service: Observed) -> None:
        self.service = service
        #: What :meth:`Observed.read` gave for the scrape being written.
        self.read: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        yield from proxy_families(self.service.call_stats())
        yield from self.service.collect()
        yield from self.read


def proxy_families(stats: CallStats) -> Iterator[Metric]:
    """The proxy's per-call counters as Prometheus metric families."""
    kinds = sorted(stats.kinds.items())
    calls = [Series(labels=(kind, o), value=n) for kind, k in kinds for o, n in k.outcomes.items()]
    seconds = [Series(labels=(kind,), value=k.seconds, buckets=tuple(k.buckets)) for kind, k in kinds]
    yield from prometheus([
        Family(name="hub_proxy_calls", kind="counter", labels=("kind", "outcome"), series=calls,
               help="Proxy calls answered, by kind and outcome (ok, refused, failed)."),
        Family(name="hub_proxy_call_seconds", kind="histogram", labels=("kind",), bounds=BUCKETS,
               series=seconds, help="Time from a decoded proxy call to its outcome."),
        Family(name="hub_proxy_unauthenticated", kind="counter", labels=(),
               series=[Series(labels=(), value=stats.refused)],
               help="Proxy calls refused for a missing or wrong shared secret."),
        Family(name="hub_proxy_malformed", kind="counter", labels=(),
               series=[Series(labels=(), value=stats.malformed)],
               help="Proxy calls that could not be decoded."),
    ])  # fmt: skip


def gauge(name: str, documentation: str, samples: dict[tuple[str, ...], float], labels: list[str]) -> Metric:
    """A gauge family from ``{label values: value}``."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples.items():
        family.add_metric(list(values), value)
    return family


def counter(
    name: str, documentation: str, samples: dict[tuple[str, ...], float], labels: list[str]
) -> Metric:
    """A counter family from ``{label values: value}``."""
    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, value in samples.items():
        family.add_metric(list(values), value)
    return family


class OpsServer:
    """The ops listener of one running service; an async context manager, opened once."""

    def __init__(self, settings: OpsSettings, service: Observed) -> None:
        self.settings = settings
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._collector = _ServiceCollector(service)
        self.registry.register(self._collector)
        self._started = time.monotonic()
        app = Starlette(
            routes=[
                Route("/metrics", self._metrics, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/ready", self._ready, methods=["GET"]),
            ]
        )
        self._listener = HttpServer(app, settings.host, settings.port, grace=1.0, name="ops")
        self._opened = False

    async def __aenter__(self) -> Self:
        if self._opened:
            raise HubError("OpsServer can be opened only once")
        self._opened = True
        await self._listener.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._listener.__aexit__(et, e, tb)

    async def _metrics(self, request: Request) -> Response:
        read = await self.service.read()
        # No await from here to the text: a concurrent scrape cannot swap what this one reads.
        self._collector.read = read
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def _health(self, request: Request) -> Response:
        uptime = round(time.monotonic() - self._started, 1)
        return JSONResponse({"status": "ok", "parts": {"event_loop": "ok"}, "uptime": uptime})

    async def _ready(self, request: Request) -> Response:
        parts: dict[str, dict[str, object]] = {}
        if self.service.stopping:
            parts["service"] = {"ready": False, "state": "stopping"}
        for part in self.service.parts():
            try:
                ok, state = await part.ready()
            except Exception as exc:  # a probe that fails is a part that is not ready
                ok, state = False, f"{type(exc).__name__}: {exc}"
            parts[part.name] = {"ready": ok, "state": state}
        ready = all(p["ready"] for p in parts.values())
        return JSONResponse({"ready": ready, "parts": parts}, status_code=200 if ready else 503)
