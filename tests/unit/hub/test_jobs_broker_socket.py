"""The memory broker over its unix socket: a fetch whose asker is gone takes no job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from hub.jobs import JobsSettings
from hub.jobs import envelope as env
from hub.jobs.broker_socket import BrokerClient, BrokerServer, RemoteDriver
from hub.jobs.errors import BrokerError
from hub.jobs.memory_driver import MemoryBroker

#: Long enough that a job taken for nobody could not come back within a test.
SETTINGS = msgspec.convert({"pipelines": {"default": {"claim_timeout": 60.0}}}, JobsSettings)


@pytest.fixture
async def socket(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "jobs.sock"
    async with BrokerServer(MemoryBroker(), SETTINGS, path):
        yield path


async def waiting_fetch(client: BrokerClient) -> asyncio.Task[object]:
    """A fetch blocked in the broker (its request written, no job yet)."""
    fetch = asyncio.create_task(RemoteDriver(client, "default").fetch("leaving", 16, 30.0))
    await asyncio.sleep(0.1)
    assert not fetch.done()
    return fetch


async def next_job(path: Path) -> list[str]:
    other = BrokerClient(path)
    try:
        driver = RemoteDriver(other, "default")
        await driver.push([env.new("tick", 1, job_id="j1")])
        return [d.envelope.id for d in await driver.fetch("staying", 16, 2.0) if d.envelope]
    finally:
        await other.close()


async def test_a_cancelled_fetch_takes_no_job(socket: Path) -> None:
    leaving = BrokerClient(socket)
    fetch = await waiting_fetch(leaving)
    fetch.cancel()  # a worker that stops fetching to leave, its connection still open
    await asyncio.sleep(0.05)
    assert await next_job(socket) == ["j1"]
    await leaving.close()


async def test_a_closed_connection_takes_no_job(socket: Path, caplog: pytest.LogCaptureFixture) -> None:
    leaving = BrokerClient(socket)
    fetch = await waiting_fetch(leaving)
    assert leaving._writer is not None
    leaving._writer.transport.abort()  # a worker killed mid-fetch: no cancel sent, just gone
    with pytest.raises(BrokerError, match="went away"):
        await fetch
    assert await next_job(socket) == ["j1"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a hang-up is no error


async def test_a_line_that_is_not_a_request_closes_its_connection_with_a_warning(
    socket: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_unix_connection(str(socket))
    writer.write(b"{not json\n")
    assert await asyncio.wait_for(reader.read(), 2.0) == b""  # closed, no answer
    writer.close()
    assert "jobs broker: not a request" in caplog.text
    assert await next_job(socket) == ["j1"]  # the broker serves on
