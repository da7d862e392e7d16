"""The composition root: the proxy service (and, optionally, Centrifugo) in one stack.

    async with Service(settings, import_app(settings.app)) as service:
        await stop.wait()              # leaving stops in order

Leaving the stack stops Centrifugo (if the hub started it), then the
listeners (no new calls; in-flight calls finish), then the executor.

With ``pool: workers: N`` (N > 0, the default is the CPU count) and the config
file's path, the listeners live in the pooled workers instead (:mod:`hub.pool`)
and a control socket answers ``hub workers`` and ``hub reset``.

Memory jobs pipelines live here, in the service process: pooled workers (and
``hub jobs``) reach them over a unix socket next to the config file; inline,
the service's own consumer runs the jobs (docs/jobs.md).
"""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from hub.proxy import Dispatcher, GrpcServer, HttpServer, http_app

from .app import App
from .centrifugo_process import CentrifugoProcess
from .errors import HubError
from .jobs.broker_socket import ENV as JOBS_SOCKET
from .jobs.broker_socket import BrokerServer, broker_path
from .jobs.consumer import LocalRunner, consuming
from .jobs.memory_driver import MemoryBroker
from .pool import Controllable, ControlServer, Inline, InlineExecutor, Pool, control_path
from .settings import Settings

log = logging.getLogger(__name__)


class Service:
    """The proxy service for one application."""

    def __init__(
        self, settings: Settings, app: App, *, with_centrifugo: bool = False,
        config: str | os.PathLike[str] | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        #: The config file, which pooled workers read; without it handlers run inline.
        self.config = config
        self.pool: Pool | None = None
        self.app = app
        self.with_centrifugo = with_centrifugo
        self.dispatcher = Dispatcher(InlineExecutor(app, settings.proxy.call_timeout), settings.proxy)
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise HubError("Service can be started only once")
        self._stack = stack = AsyncExitStack()
        p = self.settings.proxy
        grace = p.call_timeout + 1
        s = self.settings
        memory = MemoryBroker() if any(p.driver == "memory" for p in s.jobs.pipelines.values()) else None
        try:
            if memory is not None and self.config is not None:
                # Before the pool: workers settle their jobs while the pool drains.
                path = broker_path(self.config)
                await stack.enter_async_context(BrokerServer(memory, s.jobs, path))
                os.environ[JOBS_SOCKET] = str(path)  # inherited by the workers the pool spawns
                stack.callback(os.environ.pop, JOBS_SOCKET, None)
            target: Controllable = Inline()
            if self.config is not None and self.settings.pool.size:
                self.pool = target = Pool(self.settings, self.config)
                # The control socket opens first, so `hub workers` can watch the pool start and stop.
                await stack.enter_async_context(ControlServer(control_path(self.config), target))
                await stack.enter_async_context(self.pool)
            else:
                # Inline, the app's per-process resources live in this process (pooled: in each
                # worker). First in, last out: handlers can publish until every listener stopped.
                await stack.enter_async_context(self.app.lifespan(self.settings, memory=memory))
                await stack.enter_async_context(
                    HttpServer(http_app(self.dispatcher), p.host, p.http_port, grace=grace)
                )
                if p.grpc_port:
                    await stack.enter_async_context(
                        GrpcServer(self.dispatcher, p.host, p.grpc_port, grace=grace)
                    )
                runner = LocalRunner(s.pool.concurrency, s.pool.exec_limit(p.call_timeout))
                await stack.enter_async_context(
                    consuming(self.app, runner, destroy_timeout=s.pool.destroy_timeout)
                )
            if self.config is not None and self.pool is None:
                await stack.enter_async_context(ControlServer(control_path(self.config), target))
            if self.with_centrifugo:
                await stack.enter_async_context(CentrifugoProcess(self.settings, self.app.usage()))
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
        if self._stack is not None:
            log.info("stopping")
            await self._stack.aclose()
