"""The memory driver on its own (no sockets): priorities, claims of a vanished consumer's jobs."""

from __future__ import annotations

import msgspec

from hub.jobs import PipelineSettings, State
from hub.jobs import envelope as env
from hub.jobs.memory_driver import MemoryBroker, MemoryDriver


def driver(**options: object) -> MemoryDriver:
    return MemoryDriver(MemoryBroker(), "default", msgspec.convert(options, PipelineSettings))


async def test_higher_priority_first_then_first_in_first_out() -> None:
    d = driver()
    await d.push([env.new("a", 1, job_id="low"), env.new("a", 2, job_id="high", priority=5),
                  env.new("a", 3, job_id="low2"), env.new("a", 4, job_id="mid", priority=1)])  # fmt: skip
    got = await d.fetch("c1", 10, 0.01)
    assert [x.envelope.id for x in got if x.envelope] == ["high", "mid", "low", "low2"]


async def test_a_vanished_consumers_job_is_claimed_after_the_claim_timeout_with_its_attempt_counted() -> None:
    d = driver(claim_timeout=1.0)
    await d.push([env.new("a", None, job_id="j")])
    (first,) = await d.fetch("gone", 1, 0.01)
    assert first.attempt == 1
    assert await d.fetch("other", 1, 0.01) == []  # still within the claim timeout
    (again,) = await d.fetch("other", 1, 3.0)  # waits past it
    assert (again.attempt, again.token) == (2, first.token)
    await d.ack(again, "ok")
    status = await d.status("j")
    assert status is not None
    assert (status.state, status.attempts, status.result) == (State.DONE, 2, "ok")
