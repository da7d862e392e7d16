"""The supervisor: starts, watches, limits and replaces the pooled worker processes.

    async with Pool(settings, "hub.yaml") as pool:   # binds the HTTP socket, starts workers
        pool.status()                                 # what `hub workers` prints
        await pool.reset()                            # replace workers one by one

Prefork, gunicorn-style: the supervisor binds the proxy's HTTP listening socket
(and the web one of hub.yaml ``web:``, where the workers serve the application's
own ASGI app) once and hands it to every worker, so a worker that leaves never
takes the accept queue with it; gRPC is served by every worker on one port with
SO_REUSEPORT. The supervisor never runs application code and holds no gRPC or
Redis object. See docs/architecture.md for the shape and the state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from prometheus_client.core import Metric

from hub.proxy import CallStats
from hub.proxy.listeners import SHARED_BACKLOG, refuse_connections

from ..errors import PoolError
from ..metrics import Family, merge, prometheus
from ..ops import counter, gauge
from ..settings import Settings
from .limits import Action, judge
from .messages import ResetDone, Start, Status, frame
from .process import WorkerProcess
from .states import WorkerState

log = logging.getLogger(__name__)
S = WorkerState
TICK = 0.05


class Pool:
    """A supervised pool of ``settings.pool.size`` worker processes."""

    def __init__(self, settings: Settings, config: str | os.PathLike[str]) -> None:
        self.settings = settings
        self.limits = settings.pool
        self.config = Path(config).resolve()
        #: The config file as it was when the service started (a reset does not reread it).
        self._config_digest = _digest(self.config)
        self.exec_timeout = self.limits.exec_limit(settings.proxy.call_timeout)
        self.workers: list[WorkerProcess] = []
        #: Why workers were replaced since the start (crash, exec_timeout, max_calls, ...).
        self.replaced: Counter[str] = Counter()
        #: Calls counted by workers that have left (the pool's /metrics adds the live ones).
        self.retired = CallStats()
        self.retired_metrics: list[Family] = []
        self._http: socket.socket | None = None
        self._web: socket.socket | None = None
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._opened = False
        self._started = time.monotonic()
        self._backoff_until = 0.0
        self._failures = 0
        self._reset_requested = asyncio.Event()
        self._reset_lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._opened:
            raise PoolError("Pool can be opened only once")
        self._opened = True
        p = self.settings.proxy
        try:
            self._http = socket.create_server((p.host, p.http_port), backlog=SHARED_BACKLOG)
        except OSError as exc:
            where = f"{p.host}:{p.http_port}"
            raise PoolError(f"proxy.http_port: cannot listen on {where}: {exc.strerror}") from exc
        # Not inheritable: each worker gets them through pass_fds; uvloop's subprocesses close no
        # other descriptor, so an inheritable one would reach Centrifugo's child and keep the
        # port queueing connections nobody accepts after every worker closed its copy.
        web = self.settings.web
        if web.port:
            try:
                self._web = socket.create_server((web.host, web.port), backlog=SHARED_BACKLOG)
            except OSError as exc:
                self._http.close()
                raise PoolError(f"web.port: cannot listen on {web.host}:{web.port}: {exc.strerror}") from exc
        try:
            starting = [await self._spawn() for _ in range(self.limits.size)]
            for w in starting:
                await w.wait_ready(self.limits.start_timeout)
        except BaseException:
            await self._stop_all()
            raise
        if p.transport == "grpc" and self.limits.size > 1 and not migrates_queued_connections():
            log.info(
                "pool: gRPC workers share their port with SO_REUSEPORT; when one crashes, Centrifugo's "
                "reconnect may be reset and its gRPC client waits about a second before trying again. "
                "`sysctl net.ipv4.tcp_migrate_req=1` (Linux 5.14+) hands such connections to a "
                "sibling worker (docs/architecture.md)"
            )
        self._runner = asyncio.create_task(self._run(), name="pool supervisor")
        log.info("pool: %d workers ready (pids %s)", len(starting), [w.pid for w in starting])
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop_all()

    async def _stop_all(self) -> None:
        """Drain every worker within the destroy timeout, then kill what is left."""
        self._closing = True
        live = [w for w in self.workers if w.state is not S.DEAD]
        # No new connection from here on, while the workers still accept what is queued:
        # closing the socket with calls in its queue would reset them (refuse_connections).
        for listening in (self._http, self._web):
            if listening is not None:
                refuse_connections(listening)
        for w in live:
            w.drain(S.STOPPING, "shutdown")
        # Nobody will accept from it again: once each draining worker has closed its copy too,
        # a call Centrifugo sends meanwhile is refused at once (its temporary error 100)
        # instead of waiting in the backlog for the whole drain.
        for listening in (self._http, self._web):
            if listening is not None:
                listening.close()
        deadline = self.limits.destroy_timeout + 1.0
        await asyncio.gather(*(w.wait_dead(deadline) for w in live))
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        log.info("pool: stopped")

    # -- supervision ----------------------------------------------------------

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._resets())
            while True:
                try:
                    self._check_limits()
                    await self._top_up()
                except Exception:  # supervision outlives any one failure (e.g. EMFILE on spawn)
                    log.exception("pool: supervision step failed; retrying in 1 s")
                    self._backoff_until = time.monotonic() + 1.0
                await asyncio.sleep(TICK)

    async def _top_up(self) -> None:
        """Replace missing workers at once (with a back-off if they keep failing to start)."""
        if self._closing or time.monotonic() < self._backoff_until:
            return
        self.workers = [w for w in self.workers if w.state is not S.DEAD]
        counted = [w for w in self.workers if w.state in (S.STARTING, S.READY, S.WORKING)]
        for _ in range(self.limits.size - len(counted)):
            await self._spawn()

    def _check_limits(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.state.serving:
                w.poll_memory()
            verdict = judge(w.vitals(), self.limits, exec_timeout=self.exec_timeout, now=now)
            if verdict is None:
                continue
            if verdict.action is Action.KILL:
                # Past the destroy timeout a drain keeps its own reason (max_memory, reset ...).
                w.kill(w.reason if verdict.reason == "destroy_timeout" and w.reason else verdict.reason)
            else:
                w.drain(S.RECYCLING, verdict.reason)

    async def _spawn(self) -> WorkerProcess:
        jitter = self.limits.max_calls * self.limits.max_calls_jitter
        max_calls = max(1, round(self.limits.max_calls + random.uniform(-jitter, jitter))) * bool(
            self.limits.max_calls
        )
        assert self._http is not None
        parent, child = socket.socketpair()
        fds = {"--control-fd": child.fileno(), "--http-fd": self._http.fileno()}
        if self._web is not None:
            fds["--web-fd"] = self._web.fileno()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hub.pool.worker", *(f"{k}={v}" for k, v in fds.items()),
                stdin=asyncio.subprocess.PIPE, pass_fds=tuple(fds.values()), start_new_session=True,
            )  # fmt: skip
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        # The worker runs with the settings this supervisor validated, never rereading the file.
        assert process.stdin is not None
        process.stdin.write(frame(Start.of(self.settings, max_calls)))
        process.stdin.close()
        worker = WorkerProcess(process, parent, on_exit=self._on_exit, max_calls=max_calls)
        await worker.open()
        self.workers.append(worker)
        log.info("pool: started worker %d", worker.pid)
        log.debug("pool: worker %d recycles after %s calls", worker.pid, max_calls or "unlimited")
        return worker

    def _on_exit(self, worker: WorkerProcess, reason: str) -> None:
        self.replaced[reason] += 1
        self.retired = self.retired.merged(worker.stats)
        self.retired_metrics = merge(self.retired_metrics, worker.metrics)
        if reason == "start_failed":
            self._failures += 1
            self._backoff_until = time.monotonic() + min(0.2 * 2**self._failures, 5.0)
        else:
            self._failures = 0

    # -- commands -------------------------------------------------------------

    def request_reset(self) -> None:
        """Ask for a rolling reset (from a signal handler: SIGHUP)."""
        self._reset_requested.set()

    async def _resets(self) -> None:
        while True:
            await self._reset_requested.wait()
            self._reset_requested.clear()
            try:
                await self.reset()
            except PoolError as exc:
                log.error("pool: reset failed: %s", exc)
            except Exception:  # the loop that serves SIGHUP must outlive any one reset
                log.exception("pool: reset failed")

    async def reset(self) -> ResetDone:
        """Replace every worker, one at a time: start the new one, then drain the old one.

        The new workers import the app's code afresh, with the settings the service
        started with (hub.yaml is not reread: restart to apply an edit of it). No call
        fails because of a reset; a new worker that cannot start (code that does not
        import, no process to be had) stops the reset with :class:`PoolError` and keeps
        the old workers serving.
        """
        async with self._reset_lock:
            note = ""
            if _digest(self.config) != self._config_digest:
                note = (
                    f"{self.config} changed since the service started: a reset reloads the app's "
                    "code, not the config; restart `hub serve` to apply the new config"
                )
                log.warning("pool: %s", note)
            old = [w for w in self.workers if w.state.serving]
            for w in old:
                if self._closing:
                    break
                try:
                    new = await self._spawn()
                except OSError as exc:
                    raise PoolError(f"reset stopped: cannot start a worker: {exc}") from exc
                try:
                    await new.wait_ready(self.limits.start_timeout)
                except PoolError:
                    new.kill("start_failed")
                    raise
                if w.state.serving:
                    w.drain(S.STOPPING, "reset")
                    await w.wait_dead(self.limits.destroy_timeout + 1.0)
            return ResetDone(replaced=len(old), note=note)

    def call_stats(self) -> CallStats:
        """Every call the pool's workers answered, as of their last heartbeats."""
        total = self.retired
        for w in self.workers:
            if w.state is not S.DEAD:
                total = total.merged(w.stats)
        return total

    def serving(self) -> int:
        """Workers taking calls now."""
        return sum(1 for w in self.workers if w.state.serving)

    def collect(self) -> Iterator[Metric]:
        """The pool's metric families, in RoadRunner's spirit (workers by state, memory, ...)."""
        live = [w for w in self.workers if w.state is not S.DEAD]
        by_state = Counter(w.state.value for w in live)
        yield gauge("hub_pool_workers", "Worker processes by state.",
                    {(s.value,): by_state[s.value] for s in S if s is not S.DEAD}, ["state"])  # fmt: skip
        yield gauge("hub_pool_size", "Workers the pool keeps running.", {(): self.limits.size}, [])
        yield gauge("hub_pool_worker_memory_bytes", "Resident memory of each worker.",
                    {(str(w.pid),): w.rss for w in live}, ["pid"])  # fmt: skip
        yield gauge("hub_pool_worker_calls", "Calls each live worker has served.",
                    {(str(w.pid),): w.served for w in live}, ["pid"])  # fmt: skip
        yield gauge("hub_pool_calls_running", "Calls running in the workers now.",
                    {(): sum(w.running for w in live)}, [])  # fmt: skip
        yield gauge("hub_pool_calls_waiting", "Calls waiting for a free slot in their worker.",
                    {(): sum(w.waiting for w in live)}, [])  # fmt: skip
        yield counter("hub_pool_replacements", "Workers replaced since the start, by reason.",
                      {(r,): n for r, n in self.replaced.items()}, ["reason"])  # fmt: skip
        yield from prometheus(merge(self.retired_metrics, *(w.metrics for w in live)))

    def status(self) -> Status:
        """What ``hub workers`` shows: one row per worker, and why workers were replaced."""
        now = time.monotonic()
        return Status(
            mode="pool",
            size=self.limits.size,
            uptime=round(now - self._started, 1),
            replaced=dict(self.replaced),
            workers=[w.row(now) for w in self.workers if w.state is not S.DEAD],
        )


def migrates_queued_connections() -> bool:
    """True when Linux hands connections queued on a closing SO_REUSEPORT listener to a sibling."""
    try:
        return Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        return False


def _digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return b""
