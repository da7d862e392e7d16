"""The supervisor's handle on a worker takes typed lines; a malformed one is logged, not fatal."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from hub.pool.messages import Beat, Leaving, Ready, frame
from hub.pool.process import WorkerProcess
from hub.pool.states import WorkerState as S


class FakeProcess:
    pid = 4242


@pytest.fixture
def worker() -> Iterator[WorkerProcess]:
    control = socket.socket()  # never connected: nothing is opened
    yield WorkerProcess(FakeProcess(), control, on_exit=lambda w, r: None, max_calls=7)  # type: ignore[arg-type]
    control.close()


def test_ready_beat_and_leaving_move_the_worker(worker: WorkerProcess) -> None:
    worker.on_line(frame(Ready()))
    assert worker.state is S.READY
    worker.on_line(frame(Beat(served=3, running=2, waiting=1, oldest=5.0, idle_since=4.0)))
    assert (worker.state, worker.served, worker.running, worker.waiting) == (S.WORKING, 3, 2, 1)
    assert worker.vitals().max_calls == 7
    worker.on_line(frame(Leaving(reason="max_calls")))
    assert (worker.state, worker.reason) == (S.RECYCLING, "max_calls")
    assert worker.vitals().draining_since is not None


def test_a_malformed_line_is_logged_and_changes_nothing(
    worker: WorkerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    before: dict[str, Any] = dict(vars(worker)) if hasattr(worker, "__dict__") else {}
    worker.on_line(b'{"t": "beat", "served": "lots"}\n')
    worker.on_line(b"\xff\xfe not json\n")
    assert worker.state is S.STARTING
    assert next(r.getMessage() for r in caplog.records).startswith(
        "pool: worker 4242: malformed worker message"
    )
    assert len(caplog.records) == 2
    assert worker.served == before.get("served", 0)
