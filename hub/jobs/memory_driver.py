"""The ``memory`` driver: the same behaviour as the redis driver, in one process.

A :class:`MemoryBroker` holds every memory pipeline of a service; with a pool it
lives in the service's main process and the workers reach it over a unix socket
(:mod:`hub.jobs.broker_socket`). Nothing survives a restart of that process:
use it for development, tests and the demo, and ``redis`` where jobs must survive.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import envelope as env
from .envelope import Envelope
from .errors import BadEnvelope
from .settings import PipelineSettings
from .status import Delivery, JobStatus, PipelineStats, State

#: Every this many pushes, expired statuses are swept.
SWEEP_EVERY = 1024


@dataclass(slots=True)
class _Pending:
    raw: str
    consumer: str
    since: float


@dataclass(slots=True)
class _Queue:
    ready: list[tuple[int, int, str]] = field(default_factory=list)  # (-priority, seq, raw)
    later: list[tuple[float, int, str, bool]] = field(default_factory=list)  # (due, seq, raw, retry)
    pending: dict[str, _Pending] = field(default_factory=dict)
    dead: list[tuple[str, str, float]] = field(default_factory=list)  # (raw, error, failed_at)
    paused: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class MemoryBroker:
    """The state of every memory pipeline of one service, and the jobs' statuses."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.statuses: dict[str, tuple[dict[str, Any], float]] = {}
        self.seq = itertools.count(1)
        self._pushes = 0

    def queue(self, name: str) -> _Queue:
        return self.queues.setdefault(name, _Queue())

    def status(self, job_id: str) -> dict[str, Any] | None:
        found = self.statuses.get(job_id)
        if found is None or found[1] < time.monotonic():
            self.statuses.pop(job_id, None)
            return None
        return found[0]

    def touch(self, job_id: str, ttl: float, **values: Any) -> dict[str, Any]:
        record = self.status(job_id) or {"id": job_id, "attempts": 0, "error": ""}
        record.update(values, updated_at=time.time())
        self.statuses[job_id] = (record, time.monotonic() + ttl)
        return record

    def sweep(self) -> None:
        self._pushes += 1
        if self._pushes % SWEEP_EVERY == 0:
            now = time.monotonic()
            for job_id in [k for k, (_, until) in self.statuses.items() if until < now]:
                del self.statuses[job_id]


class MemoryDriver:
    """Implements :class:`hub.jobs.driver.Driver` on a :class:`MemoryBroker`."""

    def __init__(self, broker: MemoryBroker, name: str, settings: PipelineSettings) -> None:
        self.broker = broker
        self.name = name
        self.settings = settings
        self.q = broker.queue(name)

    def _enqueue(self, raw: str, priority: int = 0) -> None:
        heapq.heappush(self.q.ready, (-priority, next(self.broker.seq), raw))

    async def _notify(self) -> None:
        async with self.q.changed:
            self.q.changed.notify_all()

    async def push(self, envelopes: Sequence[Envelope]) -> list[bool]:
        b, ttl = self.broker, self.settings.status_ttl
        out = []
        for e in envelopes:
            b.sweep()
            if b.status(e.id) is not None:
                out.append(False)
                continue
            raw = env.encode(e).decode()
            if e.not_before > time.time():
                heapq.heappush(self.q.later, (e.not_before, next(b.seq), raw, False))
                state = State.DELAYED
            else:
                self._enqueue(raw, e.priority)
                state = State.QUEUED
            b.touch(e.id, ttl, state=state, pipeline=self.name, name=e.name, attempts=0, error="")
            out.append(True)
        await self._notify()
        return out

    async def push_raw(self, raw: str) -> None:
        """Enqueue bytes as they are, as a foreign producer might (tests of bad input)."""
        self._enqueue(raw)
        await self._notify()

    def _move_due(self) -> None:
        now = time.time()
        while self.q.later and self.q.later[0][0] <= now:
            _, _, raw, _ = heapq.heappop(self.q.later)
            e = msgspec.json.decode(raw, type=Envelope)
            self._enqueue(raw, e.priority)
            if self.broker.status(e.id) is not None:
                self.broker.touch(e.id, self.settings.status_ttl, state=State.QUEUED)

    def _take(self, consumer: str, count: int) -> list[tuple[str, str]]:
        self._move_due()
        if self.q.paused:
            return []
        now = time.monotonic()
        taken: list[tuple[str, str]] = []
        for token, p in list(self.q.pending.items()):  # claims: their consumer vanished
            if len(taken) >= count:
                break
            if now - p.since >= self.settings.claim_timeout:
                p.consumer, p.since = consumer, now
                taken.append((token, p.raw))
        while self.q.ready and len(taken) < count:
            _, seq, raw = heapq.heappop(self.q.ready)
            token = str(seq)
            self.q.pending[token] = _Pending(raw, consumer, now)
            taken.append((token, raw))
        return taken

    async def fetch(self, consumer: str, count: int, block: float) -> list[Delivery]:
        taken = self._take(consumer, count)
        if not taken:
            wait = block
            if self.q.later:
                wait = min(wait, max(self.q.later[0][0] - time.time(), 0.001))
            if self.q.pending:  # wake up when the oldest pending job becomes claimable
                oldest = min(p.since for p in self.q.pending.values())
                wait = min(wait, max(oldest + self.settings.claim_timeout - time.monotonic(), 0.001))
            async with self.q.changed:
                try:
                    async with asyncio.timeout(wait):
                        await self.q.changed.wait()
                except TimeoutError:
                    pass
            taken = self._take(consumer, count)
        return [self._start(token, raw) for token, raw in taken]

    def _start(self, token: str, raw: str) -> Delivery:
        try:
            e: Envelope | None = env.decode(raw, fallback_id=f"memory-{token}")
            problem = ""
        except BadEnvelope as exc:
            e, problem = None, str(exc)
        job_id = e.id if e else f"memory-{token}"
        before = self.broker.status(job_id) or {}
        record = self.broker.touch(
            job_id, self.settings.status_ttl, state=State.RUNNING, pipeline=self.name,
            name=e.name if e else "", attempts=before.get("attempts", 0) + 1,
        )  # fmt: skip
        attempt = max(record["attempts"], e.attempt + 1) if e else record["attempts"]
        return Delivery(pipeline=self.name, token=token, raw=raw, envelope=e, problem=problem,
                        attempt=attempt, last_error=record.get("error", ""))  # fmt: skip

    def _settle(self, d: Delivery, **values: Any) -> None:
        self.q.pending.pop(d.token, None)
        job_id = d.envelope.id if d.envelope else f"memory-{d.token}"
        self.broker.touch(job_id, self.settings.status_ttl, **values)

    async def ack(self, delivery: Delivery, result: Any) -> None:
        text = json.dumps(result, default=str)
        if len(text) > self.settings.max_result:
            result = {
                "dropped": f"result of {len(text)} bytes exceeds max_result ({self.settings.max_result})"
            }
        self._settle(delivery, state=State.DONE, result=json.loads(json.dumps(result, default=str)))

    async def retry(self, delivery: Delivery, error: str, delay: float) -> None:
        assert delivery.envelope is not None
        again = env.retried(delivery.envelope, delivery.attempt, delay)
        heapq.heappush(
            self.q.later, (again.not_before, next(self.broker.seq), env.encode(again).decode(), True)
        )
        self._settle(delivery, state=State.FAILED, error=error)

    async def bury(self, delivery: Delivery, error: str) -> None:
        self.q.dead.append((delivery.raw, error, time.time()))
        self._settle(delivery, state=State.DEAD, error=error, pipeline=self.name)

    async def status(self, job_id: str) -> JobStatus | None:
        record = self.broker.status(job_id)
        return msgspec.convert(record, JobStatus) if record else None

    async def stats(self) -> PipelineStats:
        q = self.q
        retrying = sum(1 for item in q.later if item[3])
        return PipelineStats(pipeline=self.name, driver="memory", queued=len(q.ready),
                             delayed=len(q.later) - retrying, in_flight=len(q.pending), failed=retrying,
                             dead=len(q.dead), paused=q.paused)  # fmt: skip

    async def pause(self, paused: bool) -> None:
        self.q.paused = paused
        await self._notify()

    async def leave(self, consumer: str) -> None:
        return None  # pending jobs are claimable whoever held them; nothing to forget

    async def retry_dead(self) -> int:
        keep, moved = [], 0
        for raw, error, at in self.q.dead:
            try:
                e = env.decode(raw)
            except BadEnvelope:
                keep.append((raw, error, at))
                continue
            fresh = msgspec.structs.replace(e, attempt=0, not_before=0.0, enqueued_at=time.time())
            self._enqueue(env.encode(fresh).decode(), e.priority)
            self.broker.touch(e.id, self.settings.status_ttl, state=State.QUEUED, attempts=0)
            moved += 1
        self.q.dead = keep
        await self._notify()
        return moved
