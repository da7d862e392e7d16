"""When a worker must go: the pure limit decisions, case by case."""

from __future__ import annotations

import dataclasses

import pytest

from hub.pool.limits import EXIT_GRACE, Action, Verdict, Vitals, judge
from hub.pool.settings import PoolSettings
from hub.pool.states import WorkerState as S

NOW = 1000.0
EXEC = 4.0
LIMITS = PoolSettings(max_memory=100, ttl=600, idle_ttl=60, destroy_timeout=5, start_timeout=30)
#: A healthy worker that just beat, spawned a minute ago, idle for 10 s.
HEALTHY = Vitals(state=S.READY, spawned=NOW - 60, last_beat=NOW - 0.1, oldest=None, running=0,
                 idle_since=NOW - 10, served=5, max_calls=100, rss=50 * 2**20)  # fmt: skip


def kill(reason: str) -> Verdict:
    return Verdict(action=Action.KILL, reason=reason)


def recycle(reason: str) -> Verdict:
    return Verdict(action=Action.RECYCLE, reason=reason)


CASES = {
    "healthy": ({}, None),
    "dead is left alone": ({"state": S.DEAD, "last_beat": 0.0}, None),
    "starting within start_timeout": ({"state": S.STARTING, "spawned": NOW - 29, "last_beat": 0.0}, None),
    "starting too long": ({"state": S.STARTING, "spawned": NOW - 31}, kill("start_timeout")),
    "silent: blocked event loop": ({"last_beat": NOW - EXEC - 0.1}, kill("exec_timeout")),
    "silent while stopping": ({"state": S.STOPPING, "last_beat": NOW - EXEC - 0.1}, kill("exec_timeout")),
    "a call past exec+destroy": (
        {"state": S.WORKING, "running": 1, "oldest": NOW - EXEC - 5.1}, kill("exec_timeout")),
    "a long call within exec+destroy": ({"state": S.WORKING, "running": 1, "oldest": NOW - EXEC - 4.9}, None),
    "draining within the destroy timeout": (
        {"state": S.RECYCLING, "draining_since": NOW - 5 - EXIT_GRACE + 0.1}, None),
    "draining too long": (
        {"state": S.RECYCLING, "draining_since": NOW - 5 - EXIT_GRACE - 0.1}, kill("destroy_timeout")),
    "recycling is not judged on soft limits": ({"state": S.RECYCLING, "rss": 2**40}, None),
    "over max_memory": ({"rss": 101 * 2**20}, recycle("max_memory")),
    "over max_memory while busy: recycled, never killed": (
        {"state": S.WORKING, "running": 3, "oldest": NOW - 1, "rss": 101 * 2**20}, recycle("max_memory")),
    "served max_calls": ({"served": 100}, recycle("max_calls")),
    "max_calls 0 is off": ({"served": 10**9, "max_calls": 0}, None),
    "older than ttl": ({"spawned": NOW - 601}, recycle("ttl")),
    "idle past idle_ttl": ({"idle_since": NOW - 61}, recycle("idle_ttl")),
    "busy is never idle": ({"state": S.WORKING, "running": 1, "oldest": NOW - 1, "idle_since": NOW - 61}, None),
    "memory wins over ttl": ({"rss": 101 * 2**20, "spawned": NOW - 601}, recycle("max_memory")),
}  # fmt: skip


@pytest.mark.parametrize(("changes", "expected"), CASES.values(), ids=CASES.keys())
def test_verdict(changes: dict[str, object], expected: Verdict | None) -> None:
    vitals = dataclasses.replace(HEALTHY, **changes)  # type: ignore[arg-type]
    assert judge(vitals, LIMITS, exec_timeout=EXEC, now=NOW) == expected


def test_limits_set_to_zero_are_off() -> None:
    off = PoolSettings(max_memory=0, ttl=0, idle_ttl=0)
    old = dataclasses.replace(HEALTHY, rss=2**40, spawned=0.0, idle_since=0.0, max_calls=0)
    assert judge(old, off, exec_timeout=EXEC, now=NOW) is None
