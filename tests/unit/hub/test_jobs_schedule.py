"""Periodic jobs: ticks every instance agrees on, and the config's checks."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from hub import ConfigError, load
from hub.jobs import Periodic

T = datetime.datetime(2026, 1, 1, 3, 0, tzinfo=datetime.UTC).timestamp()


def test_interval_ticks_are_multiples_of_the_interval() -> None:
    p = Periodic(job="sweep", every=60)
    assert p.next_tick(T + 1) == T + 60
    assert p.next_tick(T) == T + 60  # strictly after
    assert p.last_tick(T + 59.9) == T
    assert p.job_id(T) == f"sweep@{T:.0f}"


def test_cron_ticks_in_utc() -> None:
    p = Periodic(job="nightly", cron="0 3 * * *")
    assert p.next_tick(T) == T + 86400
    assert p.next_tick(T - 1) == T
    assert p.last_tick(T) == T
    assert p.last_tick(T + 3600) == T
    assert p.last_tick(T - 1) == T - 86400


BASE = "app: demo.app:app\nproxy: {secret: s}\ncentrifugo: {api_key: k, token_secret: t}\n"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("[{job: a}]", "jobs.schedule[0]: expected exactly one of `cron` or `every`"),
        (
            "[{job: a, every: 5, cron: '* * * * *'}]",
            "jobs.schedule[0]: expected exactly one of `cron` or `every`",
        ),
        ("[{job: a, cron: 'every day'}]", "jobs.schedule[0]: cron: expected a 5-field cron expression"),
        ("[{job: a, every: 5, pipeline: nope}]", "jobs.schedule[0].pipeline: expected one of ['default']"),
        ("[{job: a, every: 5, misfire_grace: 100000}]", "jobs.schedule[0].misfire_grace: expected less than"),
        ("[{job: a, every: -1}]", "jobs.schedule[0].every: expected `float` >= 0"),
    ],
)
def test_schedule_errors_name_the_entry(tmp_path: Path, schedule: str, message: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE + f"jobs: {{schedule: {schedule}}}\n")
    with pytest.raises(ConfigError, match="^" + str(path).replace(".", r"\.") + ": ") as info:
        load(path)
    assert message in str(info.value)
