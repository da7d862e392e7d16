"""The pool's typed wire: every message round-trips; anything else is a MessageError naming it."""

from __future__ import annotations

import pytest

from hub.pool.messages import (
    CONTROL_REPLY,
    CONTROL_REQUEST,
    FROM_WORKER,
    START,
    TO_WORKER,
    Beat,
    Drain,
    Leaving,
    MessageError,
    Ready,
    Refused,
    Reset,
    ResetDone,
    Start,
    Status,
    WorkerRow,
    Workers,
    frame,
)
from hub.settings import Settings

SETTINGS = Settings(app="m:app")


@pytest.mark.parametrize(
    ("decoder", "message"),
    [
        (FROM_WORKER, Ready()),
        (FROM_WORKER, Beat(served=3, running=1, waiting=0, oldest=12.5, idle_since=10.0)),
        (FROM_WORKER, Leaving(reason="max_calls")),
        (TO_WORKER, Drain(reason="reset")),
        (CONTROL_REQUEST, Workers()),
        (CONTROL_REQUEST, Reset()),
        (CONTROL_REPLY, ResetDone(replaced=2, note="n")),
        (CONTROL_REPLY, Refused(error="no")),
        (
            CONTROL_REPLY,
            Status(
                mode="pool",
                size=1,
                workers=[WorkerRow(pid=1, state="ready", served=0, running=0, waiting=0, rss=1, age=0.5)],
            ),
        ),
    ],
)
def test_every_message_round_trips_as_one_line(decoder: object, message: object) -> None:
    line = frame(message)  # type: ignore[arg-type]
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decoder.decode(line) == message  # type: ignore[attr-defined]


def test_a_worker_starts_with_the_supervisors_settings() -> None:
    start = START.decode(frame(Start.of(SETTINGS, max_calls=97)))
    assert start.max_calls == 97
    assert start.decode_settings() == SETTINGS


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"garbage\n", "JSON is malformed"),
        (b'{"t": "drain", "reason": "x"}\n', "Invalid value 'drain' - at `$.t`"),  # wrong channel
        (b'{"t": "beat", "served": "many"}\n', "Expected `int`, got `str` - at `$.served`"),
        (b'{"served": 1}\n', "missing required field `t`"),
    ],
)
def test_anything_else_is_a_message_error_naming_the_channel_and_problem(line: bytes, problem: str) -> None:
    with pytest.raises(MessageError) as exc:
        FROM_WORKER.decode(line)
    assert str(exc.value).startswith("malformed worker message ")
    assert problem in str(exc.value)


def test_a_control_request_must_be_a_known_command() -> None:
    with pytest.raises(MessageError, match=r"malformed control request .*'shutdown'"):
        CONTROL_REQUEST.decode(b'{"t": "shutdown"}')
