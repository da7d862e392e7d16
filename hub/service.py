"""The composition root: the proxy service (and, optionally, Centrifugo) in one stack.

    async with Service(settings, import_app(settings.app)) as service:
        await stop.wait()              # leaving stops in order

Leaving the stack turns readiness false, stops the listeners (no new calls;
in-flight calls finish and are answered), the jobs consumers and the app's
lifespans (the publisher flushes), then Centrifugo if the hub started it, and
the ops listener last (docs/operations.md, "Shutdown").

With hub.yaml ``web:``, the application's own ASGI app is served on its own
public address next to the proxy's private one: by every pooled worker, or here inline.

With ``pool: workers: N`` (N > 0; the default is one per core, less the one left to
Centrifugo when this service runs it: ``PoolSettings.beside_centrifugo``) and the config
file's path, the listeners live in the pooled workers instead (:mod:`hub.pool`)
and a control socket answers ``hub workers`` and ``hub reset``.

Memory jobs pipelines live here, in the service process: pooled workers (and
``hub jobs``) reach them over a unix socket next to the config file; inline,
the service's own consumer runs the jobs (docs/jobs.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import msgspec
from prometheus_client.core import Metric

from hub.proxy import CallStats, Dispatcher, GrpcServer, HttpServer, ProxyError, ProxyHttpServer

from .app import App
from .centrifugo_process import CentrifugoProcess, check_free
from .centrifugo_process import State as CentrifugoState
from .errors import HubError
from .jobs.broker_socket import ENV as JOBS_SOCKET
from .jobs.broker_socket import BrokerServer, broker_path
from .jobs.commands import pipeline_stats
from .jobs.consumer import LocalRunner, consuming
from .jobs.memory_driver import MemoryBroker
from .jobs.pipelines import Jobs
from .jobs.status import PipelineStats
from .loader import import_web_app
from .metrics import prometheus
from .ops import OpsServer, Part, counter, gauge
from .pool import Controllable, ControlServer, Inline, InlineExecutor, Pool, control_path
from .pool.settings import cores
from .settings import Settings

log = logging.getLogger(__name__)
#: Seconds a scrape waits for one pipeline's counts before saying it could not read them.
STATS_TIMEOUT = 1.0
#: A pipeline's counts on /metrics, as ``hub jobs stats`` names them.
QUEUE_STATES = ("queued", "delayed", "in_flight", "failed", "dead")


def check_ports(settings: Settings, *, with_centrifugo: bool = False) -> None:
    """Refuse to start, naming the key, when a port the service will listen on is taken.

    Checked before anything starts, so a busy port is one line, not a half-started pool.
    The gRPC listener is on whenever ``proxy.grpc_port`` is (whatever ``proxy.transport``
    says: tools and a second Centrifugo may use either), so its message says how to turn it off.
    """
    p, c = settings.proxy, settings.centrifugo
    ports = [("proxy.http_port", p.host, p.http_port, ""), ("proxy.grpc_port", p.host, p.grpc_port, "")]
    if p.transport == "http":
        ports[1] = (*ports[1][:3], "; Centrifugo calls over HTTP here, so `proxy.grpc_port: 0` turns it off")
    if settings.ops.port:
        ports.append(("ops.port", settings.ops.host, settings.ops.port, ""))
    if settings.web.port:
        ports.append(("web.port", settings.web.host, settings.web.port, ""))
    if with_centrifugo:
        ports += [
            ("centrifugo.port", c.host, c.port, ""),
            ("centrifugo.grpc_api_port", c.host, c.grpc_api_port, ""),
        ]
    for key, host, port, hint in ports:
        if port:
            check_free(key, host, port, hint)


class Service:
    """The proxy service for one application."""

    def __init__(
        self, settings: Settings, app: App, *, with_centrifugo: bool = False,
        config: str | os.PathLike[str] | None = None,
    ) -> None:  # fmt: skip
        #: Said at start when the pool's size was chosen for sharing the machine with Centrifugo.
        self._sized: str | None = None
        if with_centrifugo and settings.pool.workers is None:
            pool = settings.pool.beside_centrifugo()
            settings = msgspec.structs.replace(settings, pool=pool)
            self._sized = (f"pool: {pool.size} worker(s) on {cores()} core(s), one left to Centrifugo, "
                           "which runs beside (pool.workers sets the size)")  # fmt: skip
        self.settings = settings
        #: The config file, which pooled workers read; without it handlers run inline.
        self.config = config
        self.pool: Pool | None = None
        self.app = app
        self.with_centrifugo = with_centrifugo
        self.dispatcher = Dispatcher(InlineExecutor(app, settings.proxy.call_timeout), settings.proxy)
        self.centrifugo: CentrifugoProcess | None = None
        #: True from the first moment of a shutdown: readiness turns false before anything stops.
        self.stopping = False
        self._listening = False
        self._stack: AsyncExitStack | None = None
        #: The pipelines as the ops listener reads their depths (None: no listener or no pipeline).
        self._jobs: Jobs | None = None

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise HubError("Service can be started only once")
        self._stack = stack = AsyncExitStack()
        p = self.settings.proxy
        grace = p.call_timeout + 1
        check_ports(self.settings, with_centrifugo=self.with_centrifugo)
        s = self.settings
        memory = MemoryBroker() if any(p.driver == "memory" for p in s.jobs.pipelines.values()) else None
        try:
            if self.settings.ops.port:  # first in, last out: probes answer through start and stop
                await stack.enter_async_context(OpsServer(self.settings.ops, self))
                if s.jobs.pipelines:  # closed just before the listener: a scrape can always read
                    self._jobs = await stack.enter_async_context(Jobs(s.jobs, memory=memory))
            # Centrifugo starts last (it calls the proxy) but stops after the pool and the app's
            # lifespans: the answers of the calls in flight, and the publisher's flush, reach it.
            child = await stack.enter_async_context(AsyncExitStack())
            if memory is not None and self.config is not None:
                # Before the pool: workers settle their jobs while the pool drains.
                path = broker_path(self.config)
                await stack.enter_async_context(BrokerServer(memory, s.jobs, path))
                os.environ[JOBS_SOCKET] = str(path)  # inherited by the workers the pool spawns
                stack.callback(os.environ.pop, JOBS_SOCKET, None)
            target: Controllable = Inline()
            if self.config is not None and self.settings.pool.size:
                if self._sized:
                    log.info("%s", self._sized)
                self.pool = target = Pool(self.settings, self.config)
                # The control socket opens first, so `hub workers` can watch the pool start and stop.
                await stack.enter_async_context(ControlServer(control_path(self.config), target))
                await stack.enter_async_context(self.pool)
            else:
                # Inline, the app's per-process resources live in this process (pooled: in each
                # worker). First in, last out: handlers can publish until every listener stopped.
                await stack.enter_async_context(self.app.lifespan(self.settings, memory=memory))
                await stack.enter_async_context(
                    ProxyHttpServer(self.dispatcher, p.host, p.http_port, grace=grace)
                )
                if p.grpc_port:
                    await stack.enter_async_context(
                        GrpcServer(self.dispatcher, p.host, p.grpc_port, grace=grace)
                    )
                w = s.web
                if w.port:
                    web = import_web_app(w.app, s.app_dir)
                    web_server = HttpServer(
                        web, w.host, w.port, grace=grace, name="web", lifespan=True, forwarded=True
                    )
                    await stack.enter_async_context(web_server)
                runner = LocalRunner(s.pool.concurrency, s.pool.exec_limit(p.call_timeout))
                await stack.enter_async_context(
                    consuming(self.app, runner, destroy_timeout=s.pool.destroy_timeout)
                )
            if self.config is not None and self.pool is None:
                await stack.enter_async_context(ControlServer(control_path(self.config), target))
            self._listening = True
            if self.with_centrifugo:
                self.centrifugo = CentrifugoProcess(self.settings, self.app.usage())
                await child.enter_async_context(self.centrifugo)
        except ProxyError as exc:  # a listener that cannot start (a port taken since the check)
            await stack.aclose()
            raise HubError(str(exc)) from exc  # (it names the listener: proxy, web)
        except BaseException:
            await stack.aclose()
            raise
        return self

    def reset_soon(self) -> None:
        """Replace the pooled workers one by one (SIGHUP); nothing in the inline mode."""
        if self.pool is not None:
            self.pool.request_reset()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopping = True
        if self._stack is not None:
            log.info("stopping")
            await self._stack.aclose()

    # -- what the ops listener reads (hub.ops.Observed) -----------------------

    def parts(self) -> list[Part]:
        """The parts readiness depends on: the proxy (its listeners, the pool), Centrifugo's child."""
        parts: list[Part] = [_ListenerPart(self, "proxy")]
        if self.settings.web.port:
            parts.append(_ListenerPart(self, "web"))
        if self.with_centrifugo:
            parts.append(_CentrifugoPart(self))
        urls = sorted({p.url for p in self.settings.jobs.pipelines.values() if p.driver == "redis"})
        parts += [_RedisPart(url) for url in urls]
        return parts

    def call_stats(self) -> CallStats:
        return self.pool.call_stats() if self.pool is not None else self.dispatcher.stats

    def collect(self) -> Iterator[Metric]:
        if self.pool is not None:
            yield from self.pool.collect()
        else:  # inline: the app's metrics live in this process
            yield from prometheus(self.app.metrics.snapshot())
        if self.with_centrifugo:
            up = self.centrifugo is not None and self.centrifugo.state is CentrifugoState.RUNNING
            restarts = self.centrifugo.restarts if self.centrifugo is not None else 0
            yield gauge("hub_centrifugo_up", "1 while the Centrifugo child runs.", {(): int(up)}, [])
            yield counter("hub_centrifugo_restarts", "Times the Centrifugo child was restarted.",
                          {(): restarts}, [])  # fmt: skip

    async def read(self) -> list[Metric]:
        """Each jobs pipeline's depth by state, read from its broker now (``hub jobs stats``' counts)."""
        jobs = self._jobs
        if jobs is None:
            return []
        rows = await asyncio.gather(*(_stats_within(jobs, name, STATS_TIMEOUT) for name in jobs.drivers))
        read = [r for r in rows if r is not None]
        depth: dict[tuple[str, ...], float] = {
            (r.pipeline, state): getattr(r, state) for r in read for state in QUEUE_STATES
        }
        up: dict[tuple[str, ...], float] = {
            (name,): int(r is not None) for name, r in zip(jobs.drivers, rows, strict=True)
        }
        return [
            gauge("hub_jobs_queue_depth", "Jobs in each pipeline by state (queued, delayed, in_flight, "
                  "failed: waiting out a retry's backoff, dead), read from its broker at this scrape.",
                  depth, ["pipeline", "state"]),
            gauge("hub_jobs_pipeline_paused", "1 while the pipeline is paused.",
                  {(r.pipeline,): int(r.paused) for r in read}, ["pipeline"]),
            gauge("hub_jobs_pipeline_up", f"1 when the pipeline's broker gave its counts to this scrape "
                  f"within {STATS_TIMEOUT:g} s; 0 when not (its depth is then absent).", up, ["pipeline"]),
        ]  # fmt: skip


async def _stats_within(jobs: Jobs, name: str, timeout: float) -> PipelineStats | None:  # noqa: ASYNC109
    """A pipeline's counts, or None (logged) when they could not be read within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            stats = await pipeline_stats(jobs, name)
        if not isinstance(stats, str):
            return stats
        log.warning("metrics: reading pipeline %s", stats)  # the broker's error
    except TimeoutError:
        log.warning("metrics: pipeline %s gave no counts within %g s", name, timeout)
    except Exception as exc:  # a scrape says what it could not read and carries on
        log.warning("metrics: reading pipeline %s failed: %s: %s", name, type(exc).__name__, exc)
    return None


class _ListenerPart:
    """The proxy's listeners, or the web listener: each pooled worker serves both."""

    def __init__(self, service: Service, name: str) -> None:
        self.service = service
        self.name = name

    async def ready(self) -> tuple[bool, str]:
        pool = self.service.pool
        if pool is not None:
            serving, size = pool.serving(), pool.limits.size
            return serving >= size, f"{serving} of {size} workers serving"
        return self.service._listening, "listening (inline)" if self.service._listening else "starting"


class _CentrifugoPart:
    name = "centrifugo"

    def __init__(self, service: Service) -> None:
        self.service = service

    async def ready(self) -> tuple[bool, str]:
        child = self.service.centrifugo
        if child is None or child.state is not CentrifugoState.RUNNING:
            return False, child.state.value if child is not None else "starting"
        healthy = await asyncio.to_thread(_answers, child.url + "/health")
        return healthy, "running" if healthy else "running, but /health does not answer"


class _RedisPart:
    """The Redis server (or cluster) of some jobs pipelines: it answers PING (asked afresh at each
    probe; on a cluster, every master must answer)."""

    def __init__(self, url: str) -> None:
        from .jobs.redis_client import describe

        self.url = url
        self.name = describe(url)  # the server or the cluster's seeds, never a password

    async def ready(self) -> tuple[bool, str]:
        from redis.asyncio.cluster import RedisCluster

        from .jobs.redis_client import client

        redis = client(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(3):  # a cluster's client retries its seeds; a probe does not wait
                if isinstance(redis, RedisCluster):  # its PING goes to one node unless told otherwise
                    await redis.ping(target_nodes=RedisCluster.PRIMARIES)
                else:
                    await redis.ping()
        except Exception as exc:  # redis-py 5's cluster client can fail a PING with AttributeError
            return False, f"unreachable ({type(exc).__name__})"
        finally:
            await redis.aclose()
        return True, "answers"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
