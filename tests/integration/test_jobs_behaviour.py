"""The jobs pipeline's behaviour, the same for the memory and the redis driver (in one process)."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio as aioredis

from hub import App
from hub.jobs import Job, Jobs, JobSpec, JobsSettings, State
from hub.jobs.redis_driver import key

from .jobs_helpers import consumer, eventually, jobs_settings

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "redis"])
async def jobs(request: pytest.FixtureRequest) -> AsyncIterator[Jobs]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    async with Jobs(jobs_settings(request.param, url)) as j:
        yield j


def counting_app() -> tuple[App, collections.Counter[str], dict[str, list[int]]]:
    app = App()
    runs: collections.Counter[str] = collections.Counter()
    attempts: dict[str, list[int]] = collections.defaultdict(list)

    @app.job("ok")
    async def ok(job: Job) -> dict[str, object]:
        runs[job.id] += 1
        attempts[job.id].append(job.attempt)
        return {"double": job.payload["n"] * 2}

    @app.job("flaky")
    def flaky(job: Job) -> str:  # sync: runs in a thread
        runs[job.id] += 1
        attempts[job.id].append(job.attempt)
        if job.attempt < job.payload["succeed_at"]:
            raise RuntimeError(f"boom {job.attempt}")
        return "finally"

    return app, runs, attempts


async def test_a_job_runs_once_and_keeps_its_result(jobs: Jobs) -> None:
    app, runs, _ = counting_app()
    async with consumer(app, jobs):
        job_id = await jobs.push("ok", {"n": 21})
        await eventually(lambda: _state(jobs, job_id, State.DONE))
    status = await jobs.status(job_id)
    assert status is not None
    assert (status.result, status.attempts, status.name, status.pipeline) == (
        {"double": 42},
        1,
        "ok",
        "default",
    )
    assert runs[job_id] == 1


async def test_retries_with_backoff_then_succeed(jobs: Jobs) -> None:
    app, _, attempts = counting_app()
    async with consumer(app, jobs):
        job_id = await jobs.push("flaky", {"succeed_at": 3})
        await eventually(lambda: _state(jobs, job_id, State.DONE))
    assert attempts[job_id] == [1, 2, 3]
    status = await jobs.status(job_id)
    assert status is not None
    assert status.attempts == 3
    assert status.result == "finally"
    assert status.error == "RuntimeError: boom 2"  # the last failure is kept


async def test_dead_letter_after_max_attempts_and_retry_dead(jobs: Jobs) -> None:
    app, _, attempts = counting_app()
    async with consumer(app, jobs):
        job_id = await jobs.push("flaky", {"succeed_at": 4})  # max_attempts is 3
        await eventually(lambda: _state(jobs, job_id, State.DEAD))
        status = await jobs.status(job_id)
        assert status is not None
        assert status.error == "RuntimeError: boom 3"
        (stats,) = await jobs.stats()
        assert stats.dead == 1
        assert await jobs.retry_dead("default") == 1
        # Attempts start again from 1: it fails at 1, 2 and dies at 3 again.
        await eventually(lambda: len(attempts[job_id]) == 6)
        await eventually(lambda: _state(jobs, job_id, State.DEAD))
    assert attempts[job_id] == [1, 2, 3, 1, 2, 3]


async def test_push_once_by_job_id(jobs: Jobs) -> None:
    app, runs, _ = counting_app()
    await jobs.push("ok", {"n": 1}, job_id="same")
    await jobs.push("ok", {"n": 2}, job_id="same")
    await jobs.push_many([JobSpec("ok", {"n": 3}, job_id="same"), JobSpec("ok", {"n": 4}, job_id="other")])
    async with consumer(app, jobs):
        await eventually(lambda: _state(jobs, "other", State.DONE))
        await eventually(lambda: _state(jobs, "same", State.DONE))
    status = await jobs.status("same")
    assert status is not None
    assert status.result == {"double": 2}
    assert runs == {"same": 1, "other": 1}


async def test_delayed_job_waits(jobs: Jobs) -> None:
    app, _runs, _ = counting_app()
    job_id = await jobs.push("ok", {"n": 1}, delay=0.5)
    status = await jobs.status(job_id)
    assert status is not None
    assert status.state is State.DELAYED
    (stats,) = await jobs.stats()
    assert stats.delayed == 1
    async with consumer(app, jobs):
        await eventually(lambda: _state(jobs, job_id, State.DONE))


async def test_bad_input_is_dead_lettered_and_the_consumer_carries_on(
    jobs: Jobs, request: pytest.FixtureRequest
) -> None:
    app, _runs, _ = counting_app()
    _name, _driver = jobs.driver("default")
    bad = [b"{not json", b'{"v": 2, "name": "ok", "payload": {}}', b'{"v": 1, "name": "nobody.home"}',
           b'{"v": 1, "name": "ok", "payload": {}, "attempt": "x"}']  # fmt: skip
    for raw in bad:
        await _push_raw(jobs, request, raw.decode())
    async with consumer(app, jobs):
        good = await jobs.push("ok", {"n": 5})
        await eventually(lambda: _state(jobs, good, State.DONE))
        await eventually(lambda: _dead(jobs, len(bad)))
    reasons = await _dead_reasons(jobs, request)
    assert any("not JSON" in r for r in reasons)
    assert any("expected envelope version 1, got 2" in r for r in reasons)
    assert any("unknown job name 'nobody.home'" in r for r in reasons)
    assert any("attempt" in r for r in reasons)


async def test_pause_and_resume(jobs: Jobs) -> None:
    app, runs, _ = counting_app()
    await jobs.pause("default")
    async with consumer(app, jobs):
        job_id = await jobs.push("ok", {"n": 1})
        await asyncio.sleep(0.3)  # not a timing assert: it must simply not have run
        (stats,) = await jobs.stats()
        assert stats.paused
        assert stats.queued == 1
        assert runs[job_id] == 0
        await jobs.pause("default", False)
        await eventually(lambda: _state(jobs, job_id, State.DONE))


async def test_two_consumers_split_the_jobs(jobs: Jobs) -> None:
    app, runs, _ = counting_app()
    ids = await jobs.push_many([JobSpec("ok", {"n": i}) for i in range(200)])
    async with consumer(app, jobs, name="test:a") as a, consumer(app, jobs, name="test:b") as b:
        await eventually(lambda: a.settled["done"] + b.settled["done"] == 200)
    assert set(runs) == set(ids)
    assert set(runs.values()) == {1}


async def _state(jobs: Jobs, job_id: str, state: State) -> bool:
    status = await jobs.status(job_id)
    return status is not None and status.state is state


async def _dead(jobs: Jobs, n: int) -> bool:
    (stats,) = await jobs.stats()
    return stats.dead == n


async def _push_raw(jobs: Jobs, request: pytest.FixtureRequest, raw: str) -> None:
    _, driver = jobs.driver("default")
    if jobs.settings.pipelines["default"].driver == "memory":
        await driver.push_raw(raw)  # type: ignore[attr-defined]
    else:
        r = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
        await r.xadd(key(jobs.settings.prefix, "default", "stream"), {"job": raw})
        await r.aclose()


async def _dead_reasons(jobs: Jobs, request: pytest.FixtureRequest) -> list[str]:
    _, driver = jobs.driver("default")
    if jobs.settings.pipelines["default"].driver == "memory":
        return [error for _, error, _ in driver.q.dead]  # type: ignore[attr-defined]
    r = aioredis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
    entries = await r.xrange(key(jobs.settings.prefix, "default", "dead"))
    await r.aclose()
    return [fields["error"] for _, fields in entries]


async def test_redis_consumers_leave_the_group_and_survive_a_lost_group(redis_url: str) -> None:
    app, runs, _ = counting_app()
    async with Jobs(jobs_settings("redis", redis_url)) as jobs:
        stream = key(jobs.settings.prefix, "default", "stream")
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            async with consumer(app, jobs, name="test:lost"):
                first = await jobs.push("ok", {"n": 1})
                await eventually(lambda: _state(jobs, first, State.DONE))
                assert [c["name"] for c in await r.xinfo_consumers(stream, "hub")] == ["test:lost"]
                await r.delete(stream)  # a Redis that lost its data: the group is gone too
                second = await jobs.push("ok", {"n": 2})
                await eventually(lambda: _state(jobs, second, State.DONE))
            assert await r.xinfo_consumers(stream, "hub") == []  # it held nothing: forgotten
        finally:
            await r.aclose()
    assert runs == {first: 1, second: 1}


async def test_priority_between_pipelines_and_consumed_pipelines() -> None:
    """A lower-priority pipeline waits while a higher one is full; `consume` picks the pipelines run."""
    settings = msgspec.convert(
        {"pipelines": {"high": {"priority": 10, "prefetch": 1, "poll_timeout": 0.05},
                       "low": {"prefetch": 4, "poll_timeout": 0.05},
                       "other": {"poll_timeout": 0.05}},
         "consume": ["low", "high"]},
        JobsSettings,
    )  # fmt: skip
    assert settings.consumed() == ["high", "low"]
    app = App()
    release = asyncio.Event()
    ran: list[str] = []

    @app.job("hold")
    async def hold(job: Job) -> None:
        ran.append(job.id)
        await release.wait()

    @app.job("quick")
    async def quick(job: Job) -> None:
        ran.append(job.id)

    async with Jobs(settings) as jobs, consumer(app, jobs, job_timeout=30):
        await jobs.push("hold", job_id="h1", pipeline="high")
        await jobs.push("hold", job_id="h2", pipeline="high")
        await eventually(lambda: ran == ["h1"])
        await asyncio.sleep(0.2)  # a fetch of "low" already waiting (poll_timeout 0.05) ends first
        await jobs.push("quick", job_id="l1", pipeline="low")
        await jobs.push("quick", job_id="o1", pipeline="other")
        await asyncio.sleep(0.3)  # not a timing assert: "high" is full, so "low" must not be fetched
        assert ran == ["h1"]
        release.set()
        await eventually(lambda: set(ran) == {"h1", "h2", "l1"})
        (other,) = [s for s in await jobs.stats() if s.pipeline == "other"]
        assert other.queued == 1  # not consumed here
