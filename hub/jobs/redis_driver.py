"""The ``redis`` driver: a Redis Stream per pipeline, read by one consumer group.

Keys (``P`` = ``jobs.prefix``, ``N`` = the pipeline; see docs/jobs.md), every one built by
:func:`key`::

    P:{N}:stream     stream, one entry per job ready to run ({"job": envelope JSON})
    P:{N}:delayed    sorted set of envelopes pushed with a delay, scored by due time (ms)
    P:{N}:retry      sorted set of envelopes waiting out their backoff, scored by due time (ms)
    P:{N}:dead       stream of dead-lettered jobs ({"job", "error", "failed_at"})
    P:{N}:paused     exists while the pipeline is paused
    P:{N}:status:ID  hash: state, pipeline, name, attempts, error, result, updated_at (TTL)

The braces are a Redis Cluster hash tag: every key of one pipeline hashes to one slot,
so each script below may touch several of them on a cluster, and different pipelines
spread over the cluster's masters. The same names on one server.

A job is fetched with XREADGROUP and stays in the group's pending list until a
script acknowledges it (XACK + XDEL) together with its next step (done, retry,
dead). A pending job whose consumer vanished is claimed with XAUTOCLAIM after
``claim_timeout``; each run counts in the status hash's ``attempts``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

import msgspec
import redis.exceptions

from . import _lua
from . import envelope as env
from .envelope import Envelope
from .errors import BadEnvelope, BrokerError
from .settings import PipelineSettings
from .status import Delivery, JobStatus, PipelineStats, State

P = ParamSpec("P")
T = TypeVar("T")
#: Most delayed jobs moved to the stream per fetch.
MOVE_LIMIT = 1000
#: Seconds between a consumer's checks for due delayed jobs and for a pause.
CHORES = 0.05


def _guarded(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Redis' connection errors as :class:`BrokerError` (the consumer backs off and resumes)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise BrokerError(f"redis: {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            if "LOADING" in str(exc) or "NOGROUP" in str(exc):
                raise BrokerError(f"redis: {exc}") from exc
            raise

    return wrapper


def key(prefix: str, pipeline: str, part: str) -> str:
    """The Redis key ``part`` (``stream``, ``dead``, ``status:ID`` ...) of ``pipeline``.

    >>> key("hub:jobs", "default", "stream")
    'hub:jobs:{default}:stream'
    """
    return f"{prefix}:{{{pipeline}}}:{part}"


def _pipelines_scripts(client: Any) -> bool:
    """Whether ``client``'s pipelines carry EVALSHA: a Redis Cluster client's only from redis-py 8
    on (redis-py issue 2914), a single server's always."""
    from redis.asyncio.cluster import RedisCluster
    from redis.cluster import PIPELINE_BLOCKED_COMMANDS

    return not isinstance(client, RedisCluster) or "EVALSHA" not in PIPELINE_BLOCKED_COMMANDS


class _OneByOne:
    """What the driver uses of a pipeline, each command sent on its own (no round trip shared)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._results: list[asyncio.Future[Any]] = []

    def __getattr__(self, name: str) -> Callable[..., _OneByOne]:
        command = getattr(self._client, name)

        def queue(*args: Any, **kwargs: Any) -> _OneByOne:
            self._results.append(asyncio.ensure_future(command(*args, **kwargs)))
            return self

        return queue

    async def evalsha(self, *args: Any) -> Any:
        # Awaited by the script itself, which loads it and calls again on NOSCRIPT: only the
        # call that succeeded is a result.
        result = await self._client.evalsha(*args)
        done = asyncio.get_running_loop().create_future()
        done.set_result(result)
        self._results.append(done)
        return result

    async def script_load(self, script: str) -> Any:
        return await self._client.script_load(script)

    async def execute(self) -> list[Any]:
        return [await result for result in self._results]


class RedisDriver:
    """Implements :class:`hub.jobs.driver.Driver` on Redis Streams."""

    def __init__(self, redis: Any, name: str, settings: PipelineSettings, *, prefix: str,
                 group: str) -> None:  # fmt: skip
        # A redis.asyncio Redis or RedisCluster (hub.jobs.redis_client); redis-py's types do not
        # follow decode_responses=True: replies are str here.
        self.redis: Any = redis
        self.name = name
        self.settings = settings
        self.group = group
        self.stream, self.delayed = key(prefix, name, "stream"), key(prefix, name, "delayed")
        self.retry_set, self.dead = key(prefix, name, "retry"), key(prefix, name, "dead")
        self.paused_key, self.status_prefix = key(prefix, name, "paused"), key(prefix, name, "status:")
        self._ttl = int(settings.status_ttl * 1000)
        self._push = redis.register_script(_lua.PUSH)
        self._move = redis.register_script(_lua.MOVE_DUE)
        self._ack = redis.register_script(_lua.ACK)
        self._retry = redis.register_script(_lua.RETRY)
        self._bury = redis.register_script(_lua.BURY)
        self._revive = redis.register_script(_lua.REVIVE)
        self._start_script = redis.register_script(_lua.START)
        # Acks of jobs finishing together share one round trip (a pipeline of scripts).
        self._scripts_pipeline = _pipelines_scripts(redis)
        self._acks: list[tuple[list[str], list[Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._group_ready = False
        self._next_claim = self._next_chores = 0.0
        self._paused = False

    def _status_key(self, job_id: str) -> str:
        return self.status_prefix + job_id

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    @_guarded
    async def push(self, envelopes: Sequence[Envelope]) -> list[bool]:
        if not envelopes:
            return []
        keys = [self.stream, self.delayed] + [self._status_key(e.id) for e in envelopes]
        args: list[Any] = [self._ttl, self.name, time.time()]
        for e in envelopes:
            args += [e.name, env.encode(e).decode(), int(e.not_before * 1000) if e.not_before else 0]
        done = await self._push(keys=keys, args=args)
        return [bool(x) for x in done]

    @_guarded
    async def fetch(self, consumer: str, count: int, block: float) -> list[Delivery]:
        try:
            return await self._fetch(consumer, count, block)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" in str(exc):  # the server lost its data (no persistence): make the group again
                self._group_ready = False
            raise

    async def _fetch(self, consumer: str, count: int, block: float) -> list[Delivery]:
        await self._ensure_group()
        now = time.monotonic()
        if now >= self._next_chores:  # under load, at most every CHORES seconds: not per batch
            self._next_chores = now + CHORES
            now_ms = int(time.time() * 1000)
            keys = [self.delayed, self.retry_set, self.stream]

            async def chores(pipe: Any) -> None:
                pipe.exists(self.paused_key)
                await self._move(keys=keys, args=[now_ms, MOVE_LIMIT, self.status_prefix], client=pipe)

            paused, _ = await self._pipelined(chores)
            self._paused = bool(paused)
        if self._paused:
            await asyncio.sleep(block)
            return []
        entries: list[tuple[str, dict[str, str]]] = []
        if now >= self._next_claim:
            self._next_claim = now + min(self.settings.claim_timeout / 4, 1.0)
            reply = await self.redis.xautoclaim(
                self.stream, self.group, consumer, int(self.settings.claim_timeout * 1000), "0-0", count=count
            )
            entries += [(i, f) for i, f in reply[1] if f]
        if len(entries) < count:
            read = await self.redis.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=count - len(entries),
                block=None if entries else max(int(block * 1000), 1),
            )  # fmt: skip
            for _, items in read or ():
                entries += [(i, f) for i, f in items if f]
        return await self._start(entries)

    async def _start(self, entries: list[tuple[str, dict[str, str]]]) -> list[Delivery]:
        """Count an attempt for each fetched job and mark it running (one round trip)."""
        decoded: list[tuple[str, str, Envelope | None, str]] = []
        for entry, fields in entries:
            raw = fields.get("job", "")
            try:
                decoded.append((entry, raw, env.decode(raw, fallback_id=entry), ""))
            except BadEnvelope as exc:
                decoded.append((entry, raw, None, str(exc)))
        if not decoded:
            return []
        keys = [self._status_key(e.id if e else entry) for entry, _, e, _ in decoded]
        names = [e.name if e else "" for _, _, e, _ in decoded]
        replies = await self._start_script(keys=keys, args=[self.name, time.time(), self._ttl, *names])
        out = []
        for n, (entry, raw, e, problem) in enumerate(decoded):
            attempts, last_error = int(replies[n][0]), replies[n][1] or ""
            attempt = max(attempts, e.attempt + 1) if e else attempts
            out.append(Delivery(pipeline=self.name, token=entry, raw=raw, envelope=e, problem=problem,
                                attempt=attempt, last_error=last_error))  # fmt: skip
        return out

    def _key_of(self, d: Delivery) -> str:
        return self._status_key(d.envelope.id if d.envelope else d.token)

    async def ack(self, delivery: Delivery, result: Any) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = [self.stream, self._key_of(delivery)]
        args = [self.group, delivery.token, _result(result, self.settings.max_result), time.time(), self._ttl]
        self._acks.append((keys, args, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_acks(), name=f"jobs acks {self.name}")
        await done

    async def _flush_acks(self) -> None:
        """Send every waiting ack in one pipeline, until none is waiting."""
        while self._acks:
            batch, self._acks = self._acks, []
            try:
                await self._pipelined(functools.partial(self._queue_acks, batch))
            except Exception as exc:
                error = BrokerError(f"redis: {exc}") if isinstance(exc, redis.exceptions.RedisError) else exc
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _queue_acks(
        self, batch: list[tuple[list[str], list[Any], asyncio.Future[None]]], pipe: Any
    ) -> None:
        for keys, args, _ in batch:
            await self._ack(keys=keys, args=args, client=pipe)

    async def _pipelined(self, fill: Callable[[Any], Coroutine[Any, Any, None]]) -> list[Any]:
        """Run what ``fill`` queues in one round trip (no transaction).

        On one server, redis-py loads a pipeline's scripts before running it; a cluster's
        pipeline does not, so a node that never ran one (or restarted, or was promoted)
        answers NOSCRIPT: the scripts are loaded on every master and the pipeline runs again
        (each script is safe to run twice). A cluster client whose pipelines refuse scripts
        (redis-py before 8) runs them one command at a time instead.
        """
        if not self._scripts_pipeline:
            one_by_one = _OneByOne(self.redis)
            await fill(one_by_one)
            return await one_by_one.execute()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                await fill(pipe)
                return list(await pipe.execute())
        except redis.exceptions.NoScriptError:
            for script in (self._move, self._ack):
                await self.redis.script_load(script.script)
            async with self.redis.pipeline(transaction=False) as pipe:
                await fill(pipe)
                return list(await pipe.execute())

    @_guarded
    async def retry(self, delivery: Delivery, error: str, delay: float) -> None:
        assert delivery.envelope is not None
        again = env.retried(delivery.envelope, delivery.attempt, delay)
        await self._retry(keys=[self.stream, self.retry_set, self._key_of(delivery)],
                          args=[self.group, delivery.token, env.encode(again).decode(),
                                int(again.not_before * 1000), error, time.time(), self._ttl])  # fmt: skip

    @_guarded
    async def bury(self, delivery: Delivery, error: str) -> None:
        await self._bury(keys=[self.stream, self.dead, self._key_of(delivery)],
                         args=[self.group, delivery.token, delivery.raw, error, time.time(), self._ttl,
                               self.name])  # fmt: skip

    @_guarded
    async def leave(self, consumer: str) -> None:
        # DELCONSUMER drops the consumer's pending entries with it: only when it holds none.
        if not await self.redis.xpending_range(self.stream, self.group, "-", "+", 1, consumername=consumer):
            await self.redis.xgroup_delconsumer(self.stream, self.group, consumer)

    @_guarded
    async def status(self, job_id: str) -> JobStatus | None:
        data = await self.redis.hgetall(self._status_key(job_id))
        return status_of(job_id, data) if data else None

    @_guarded
    async def stats(self) -> PipelineStats:
        await self._ensure_group()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream)
            pipe.xinfo_groups(self.stream)
            pipe.zcard(self.delayed)
            pipe.zcard(self.retry_set)
            pipe.xlen(self.dead)
            pipe.exists(self.paused_key)
            length, groups, delayed, failed, dead, paused = await pipe.execute()
        pending = next((int(g["pending"]) for g in groups if g["name"] == self.group), 0)
        return PipelineStats(pipeline=self.name, driver="redis", queued=max(length - pending, 0),
                             delayed=delayed, in_flight=pending, failed=failed, dead=dead,
                             paused=bool(paused))  # fmt: skip

    @_guarded
    async def pause(self, paused: bool) -> None:
        if paused:
            await self.redis.set(self.paused_key, "1")
        else:
            await self.redis.delete(self.paused_key)

    @_guarded
    async def retry_dead(self) -> int:
        moved = 0
        last = "-"
        while True:
            batch = await self.redis.xrange(self.dead, min=last, max="+", count=100)
            batch = [(i, f) for i, f in batch if i != last]
            if not batch:
                return moved
            for entry, fields in batch:
                last = entry
                try:
                    e = env.decode(fields.get("job", ""), fallback_id=entry)
                except BadEnvelope:
                    continue  # it would only die again: left in the dead-letter stream
                fresh = msgspec.structs.replace(e, attempt=0, not_before=0.0, enqueued_at=time.time())
                moved += await self._revive(keys=[self.dead, self.stream, self._status_key(e.id)],
                                            args=[entry, env.encode(fresh).decode(), time.time(),
                                                  self._ttl])  # fmt: skip


def _result(value: Any, limit: int) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    if len(text) > limit:
        return json.dumps({"dropped": f"result of {len(text)} bytes exceeds max_result ({limit})"})
    return text


def status_of(job_id: str, data: dict[str, str]) -> JobStatus:
    """A status hash (all strings) as a :class:`JobStatus`."""
    try:
        result = json.loads(data["result"]) if data.get("result") else None
    except ValueError:
        result = None
    return JobStatus(
        id=job_id, state=State(data.get("state", "queued")), pipeline=data.get("pipeline", ""),
        name=data.get("name", ""), attempts=int(data.get("attempts", 0)), error=data.get("error", ""),
        result=result, updated_at=float(data.get("updated_at", 0)),
    )  # fmt: skip
