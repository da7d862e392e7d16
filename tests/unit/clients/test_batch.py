"""The batcher against a scripted transport: coalescing, per-call errors, retries, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hub.clients import ApiError, ClosedError, NetworkError, OverloadedError, UnauthorizedError
from hub.clients._batch import Batcher
from hub.clients._transport import Command, Reply

Script = Callable[[Sequence[Command]], list[Reply]]


class FakeTransport:
    """Answers each batch with ``script`` (which may raise); records every batch sent."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.batches: list[list[Command]] = []
        self.gate: asyncio.Event | None = None
        self.sent = asyncio.Event()

    async def open(self) -> None:
        pass

    async def batch(self, commands: Sequence[Command]) -> list[Reply]:
        self.batches.append(list(commands))
        self.sent.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.script(commands)

    async def aclose(self) -> None:
        pass

    async def until_sent(self, count: int) -> None:
        while len(self.batches) < count:
            self.sent.clear()
            await self.sent.wait()


def ok(commands: Sequence[Command]) -> list[Reply]:
    return [{"offset": p["n"], "epoch": "e"} for _, p in commands]


@asynccontextmanager
async def running(transport: FakeTransport, **options: Any) -> AsyncIterator[Batcher]:
    settings: dict[str, Any] = dict(
        max_size=100, window=0.0, max_pending=1000, concurrency=1, retry_timeout=5.0
    )
    batcher = Batcher(transport, **(settings | options))
    async with asyncio.TaskGroup() as group:
        flusher = group.create_task(batcher.run(group))
        try:
            yield batcher
        finally:
            await batcher.drain(1)
            flusher.cancel()


def publish(n: int, channel: str = "c") -> Command:
    return ("publish", {"channel": channel, "n": n})


async def test_concurrent_calls_share_batches_and_each_gets_its_own_result() -> None:
    transport = FakeTransport(ok)
    async with running(transport, max_size=10) as batcher:
        results = await asyncio.gather(*(batcher.call(publish(n)) for n in range(35)))
    assert [r["offset"] for r in results] == list(range(35))
    assert [len(b) for b in transport.batches] == [10, 10, 10, 5]


async def test_an_error_reply_reaches_only_its_caller() -> None:
    def script(commands: Sequence[Command]) -> list[Reply]:
        return [
            ApiError(102, "unknown channel") if p["channel"] == "bad" else ok([(m, p)])[0]
            for m, p in commands
        ]

    transport = FakeTransport(script)
    async with running(transport) as batcher:
        results = await asyncio.gather(
            *(batcher.call(publish(n, "bad" if n == 3 else "c")) for n in range(6)), return_exceptions=True
        )
    assert len(transport.batches) == 1
    assert isinstance(results[3], ApiError)
    assert results[3].code == 102
    assert [r["offset"] for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5]  # type: ignore[index]


async def test_transient_failures_are_retried_with_the_same_command() -> None:
    failures = iter([NetworkError("refused"), NetworkError("refused")])

    def script(commands: Sequence[Command]) -> list[Reply]:
        error = next(failures, None)
        if error is not None:
            raise error
        return ok(commands)

    transport = FakeTransport(script)
    async with running(transport) as batcher:
        result = await batcher.call(publish(7))
    assert result["offset"] == 7
    assert len(transport.batches) == 3
    assert transport.batches[0] == transport.batches[2]  # same idempotency key on resend


async def test_internal_error_100_is_retried_but_102_is_not() -> None:
    answers = iter([[ApiError(100, "internal"), ApiError(102, "unknown channel")]])

    def script(commands: Sequence[Command]) -> list[Reply]:
        return next(answers, None) or ok(commands)

    transport = FakeTransport(script)
    async with running(transport) as batcher:
        first, second = await asyncio.gather(
            batcher.call(publish(1)), batcher.call(publish(2)), return_exceptions=True
        )
    assert first == {"offset": 1, "epoch": "e"}
    assert isinstance(second, ApiError)
    assert second.code == 102
    assert [len(b) for b in transport.batches] == [2, 1]


async def test_calls_fail_loudly_once_the_retry_budget_is_spent() -> None:
    def down(commands: Sequence[Command]) -> list[Reply]:
        raise NetworkError("connection refused")

    async with running(FakeTransport(down), retry_timeout=0.2) as batcher:
        with pytest.raises(NetworkError, match="gave up after"):
            await batcher.call(publish(1))


async def test_permanent_transport_errors_are_not_retried() -> None:
    def refused(commands: Sequence[Command]) -> list[Reply]:
        raise UnauthorizedError("bad key")

    transport = FakeTransport(refused)
    async with running(transport) as batcher:
        with pytest.raises(UnauthorizedError):
            await batcher.call(publish(1))
    assert len(transport.batches) == 1


async def test_a_full_queue_refuses_new_calls_with_a_typed_error() -> None:
    transport = FakeTransport(ok)
    transport.gate = asyncio.Event()
    async with running(transport, max_pending=3) as batcher:
        calls = [asyncio.create_task(batcher.call(publish(n))) for n in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError):
            await batcher.call(publish(99))
        transport.gate.set()
        assert len(await asyncio.gather(*calls)) == 3


async def test_a_draining_batcher_refuses_new_calls() -> None:
    async with running(FakeTransport(ok)) as batcher:
        await batcher.drain(1)
        with pytest.raises(ClosedError):
            await batcher.call(publish(1))


async def test_a_lone_call_waits_for_no_window_but_busy_batches_fill_up() -> None:
    transport = FakeTransport(ok)
    # An hour-long window: a call that waited for it would never finish within the test.
    async with running(transport, window=3600.0, max_size=3, concurrency=2) as batcher:
        assert (await asyncio.wait_for(batcher.call(publish(0)), 5))["offset"] == 0  # idle: sent at once
        transport.gate = asyncio.Event()
        first = asyncio.create_task(batcher.call(publish(1)))  # idle again: sent at once, held at the gate
        await transport.until_sent(2)
        rest = [asyncio.create_task(batcher.call(publish(n))) for n in (2, 3, 4)]  # a batch in flight:
        await asyncio.wait_for(transport.until_sent(3), 5)  # these wait to fill, and go when full (3)
        transport.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert [len(b) for b in transport.batches] == [1, 1, 3]


# -- call_many: one awaitable for many commands ------------------------------------------------


async def test_call_many_shares_batches_and_gives_each_command_its_own_reply_in_order() -> None:
    transport = FakeTransport(ok)
    async with running(transport, max_size=10) as batcher:
        results = await batcher.call_many([publish(n) for n in range(35)], 35)
    assert [r["offset"] for r in results if isinstance(r, dict)] == list(range(35))
    assert [len(b) for b in transport.batches] == [10, 10, 10, 5]
    assert batcher.counts.outcomes == {"ok": 35}
    assert batcher.pending == 0


async def test_call_many_puts_each_error_in_its_own_slot_and_retries_only_transient_ones() -> None:
    attempts: dict[int, int] = {}

    def script(commands: Sequence[Command]) -> list[Reply]:
        replies: list[Reply] = []
        for _, p in commands:
            attempts[p["n"]] = attempts.get(p["n"], 0) + 1
            if p["n"] == 3:
                replies.append(ApiError(102, "unknown channel"))
            elif p["n"] == 5 and attempts[5] == 1:
                replies.append(ApiError(100, "internal error"))
            else:
                replies.append({"offset": p["n"], "epoch": "e"})
        return replies

    async with running(FakeTransport(script)) as batcher:
        results = await batcher.call_many([publish(n) for n in range(8)], 8)
    assert isinstance(results[3], ApiError)
    assert results[3].code == 102
    assert [r["offset"] for i, r in enumerate(results) if i != 3 and isinstance(r, dict)] == [
        0, 1, 2, 4, 5, 6, 7,
    ]  # fmt: skip
    assert (attempts[5], attempts[3], attempts[0]) == (2, 1, 1)
    assert batcher.counts.outcomes == {"ok": 7, "ApiError": 1}


async def test_call_many_fails_every_command_loudly_once_the_retry_budget_is_spent() -> None:
    def down(commands: Sequence[Command]) -> list[Reply]:
        raise NetworkError("connection refused")

    async with running(FakeTransport(down), retry_timeout=0.2) as batcher:
        results = await batcher.call_many([publish(n) for n in range(5)], 5)
    assert len(results) == 5
    assert all(isinstance(r, NetworkError) and "gave up after" in str(r) for r in results), results


async def test_call_many_over_the_bound_or_while_draining_sends_nothing() -> None:
    transport = FakeTransport(ok)
    async with running(transport, max_pending=10) as batcher:
        with pytest.raises(OverloadedError, match="none of them was sent"):
            await batcher.call_many([publish(n) for n in range(11)], 11)
        assert await batcher.call_many([publish(n) for n in range(10)], 10)
        await batcher.drain(1)
        with pytest.raises(ClosedError):
            await batcher.call_many([publish(1)], 1)
    assert sum(len(b) for b in transport.batches) == 10


async def test_a_cancelled_call_many_sends_what_is_left_of_it_no_more() -> None:
    transport = FakeTransport(ok)
    transport.gate = asyncio.Event()
    async with running(transport, max_size=10, concurrency=1) as batcher:
        waiting = asyncio.create_task(batcher.call_many([publish(n) for n in range(30)], 30))
        await transport.until_sent(1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        transport.gate.set()
        assert (await batcher.call(publish(99)))["offset"] == 99
    assert [len(b) for b in transport.batches] == [10, 1]  # the 20 not yet sent were dropped
    assert batcher.counts.outcomes == {"CancelledError": 30, "ok": 1}
    assert batcher.pending == 0


async def test_call_many_gives_each_command_its_own_copy_of_a_refusal_of_the_whole_batch() -> None:
    def refused(commands: Sequence[Command]) -> list[Reply]:
        raise UnauthorizedError("bad key")

    transport = FakeTransport(refused)
    async with running(transport, max_size=4) as batcher:
        results = await batcher.call_many([publish(n) for n in range(6)], 6)
    assert all(isinstance(r, UnauthorizedError) for r in results), results
    assert len({id(r) for r in results}) == 6  # raised apart, tracebacks apart
    assert [len(b) for b in transport.batches] == [4, 2]  # not retried
    assert batcher.counts.outcomes == {"UnauthorizedError": 6}


async def test_lone_calls_and_a_call_many_share_a_batch_and_only_the_failed_command_is_sent_again() -> None:
    failed_once: set[int] = set()

    def script(commands: Sequence[Command]) -> list[Reply]:
        replies: list[Reply] = []
        for _, p in commands:
            if p["n"] in (1, 12) and p["n"] not in failed_once:
                failed_once.add(p["n"])
                replies.append(ApiError(100, "internal error"))
            else:
                replies.append({"offset": p["n"], "epoch": "e"})
        return replies

    transport = FakeTransport(script)
    async with running(transport, max_size=10) as batcher:
        lone = [asyncio.create_task(batcher.call(publish(n))) for n in (0, 1)]
        many = asyncio.create_task(batcher.call_many([publish(n) for n in range(10, 15)], 5))
        results = [r["offset"] for r in await asyncio.gather(*lone)]
        results += [r["offset"] for r in await many if isinstance(r, dict)]
    assert results == [0, 1, 10, 11, 12, 13, 14]
    assert [[p["n"] for _, p in b] for b in transport.batches] == [[0, 1, 10, 11, 12, 13, 14], [1, 12]]
    assert batcher.counts.retried == 2
    assert batcher.counts.outcomes == {"ok": 7}
    assert batcher.pending == 0
