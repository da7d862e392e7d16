"""When a worker must go: one pure function of its vitals, the limits and the time.

    verdict = judge(worker.vitals(), limits, now=time.monotonic())
    if verdict is not None:
        verdict.action, verdict.reason      # (Action.KILL, "exec_timeout"), (Action.RECYCLE, "ttl") ...

Kills are for what cannot answer any more (a blocked event loop, a call far past
the exec timeout, a worker that never started); everything else recycles: the
worker stops taking calls, finishes the running ones and leaves. A worker is
never killed for a soft limit. The rules, in the order they are checked:

| rule | when | verdict |
|---|---|---|
| start_timeout | starting for longer than ``start_timeout`` | kill |
| exec_timeout (silent) | no heartbeat for ``exec_timeout``: the loop is blocked | kill |
| exec_timeout (stuck) | a call running for ``exec_timeout + destroy_timeout`` | kill |
| destroy_timeout | draining for ``destroy_timeout`` (+1 s: it exits by itself by then) | kill |
| max_memory | resident memory over ``max_memory`` MiB | recycle |
| max_calls | served its (jittered) ``max_calls`` | recycle |
| ttl | older than ``ttl`` | recycle |
| idle_ttl | idle for ``idle_ttl`` | recycle |
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .settings import PoolSettings
from .states import WorkerState

S = WorkerState
#: Seconds a draining worker gets past the destroy timeout to exit by itself.
EXIT_GRACE = 1.0


class Action(enum.Enum):
    """What the supervisor does about a worker."""

    #: SIGKILL now: the worker cannot answer (its calls fail; Centrifugo's clients retry).
    KILL = "kill"
    #: Stop taking calls, finish the running ones, then exit.
    RECYCLE = "recycle"


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    action: Action
    #: Counted in ``hub workers``' "replaced since start" (exec_timeout, ttl, ...).
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Vitals:
    """What the supervisor knows of one worker (times are ``time.monotonic()``)."""

    state: WorkerState
    spawned: float
    last_beat: float
    #: Start of the oldest running call, or None when idle.
    oldest: float | None
    running: int
    idle_since: float
    served: int
    #: This worker's own max_calls (jittered; 0: none).
    max_calls: int
    rss: int
    #: When the worker started to drain (recycling or stopping), or None.
    draining_since: float | None = None


def judge(v: Vitals, limits: PoolSettings, *, exec_timeout: float, now: float) -> Verdict | None:
    """The verdict on one worker now, or None when it may go on as it is."""
    if v.state is S.DEAD:
        return None
    if v.state is S.STARTING:
        return _kill("start_timeout") if now - v.spawned > limits.start_timeout else None
    if now - v.last_beat > exec_timeout:
        # The event loop is blocked: a handler never yields (the last beat may predate the call).
        return _kill("exec_timeout")
    if v.oldest is not None and now - v.oldest > exec_timeout + limits.destroy_timeout:
        return _kill("exec_timeout")
    if v.draining_since is not None and now - v.draining_since > limits.destroy_timeout + EXIT_GRACE:
        return _kill("destroy_timeout")
    if not v.state.serving:
        return None
    if limits.max_memory and v.rss > limits.max_memory * 2**20:
        return _recycle("max_memory")
    if v.max_calls and v.served >= v.max_calls:
        return _recycle("max_calls")
    if limits.ttl and now - v.spawned > limits.ttl:
        return _recycle("ttl")
    if limits.idle_ttl and not v.running and now - v.idle_since > limits.idle_ttl:
        return _recycle("idle_ttl")
    return None


def _kill(reason: str) -> Verdict:
    return Verdict(action=Action.KILL, reason=reason)


def _recycle(reason: str) -> Verdict:
    return Verdict(action=Action.RECYCLE, reason=reason)
