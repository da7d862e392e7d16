"""hub.yaml `pool:`: a default for every limit, and precise errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub import ConfigError, load
from hub.pool.settings import PoolSettings, cores

BASE = """
app: demo.app:app
proxy: {secret: s, call_timeout: 5}
centrifugo: {api_key: k, token_secret: t}
"""


def config(tmp_path: Path, pool: str = "") -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE + (f"pool:\n{pool}" if pool else ""))
    return path


def test_defaults(tmp_path: Path) -> None:
    pool = load(config(tmp_path), environ={}).pool
    assert pool == PoolSettings()
    assert pool.size == cores() == len(os.sched_getaffinity(0))  # taskset and cpusets count
    assert pool.exec_limit(5.0) == 4.5  # just under Centrifugo's call timeout
    assert (pool.max_calls, pool.ttl, pool.idle_ttl) == (0, 0.0, 0.0)  # off unless set


@pytest.mark.parametrize(("count", "beside"), [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_beside_centrifugo_the_default_pool_leaves_it_a_core(
    monkeypatch: pytest.MonkeyPatch, count: int, beside: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)))
    assert PoolSettings().size == count
    assert PoolSettings().beside_centrifugo().size == beside


@pytest.mark.parametrize("workers", [0, 1, 2, 8])
def test_beside_centrifugo_a_size_that_is_set_stays(workers: int) -> None:
    assert PoolSettings(workers=workers).beside_centrifugo().size == workers


def test_workers_zero_is_the_inline_mode(tmp_path: Path) -> None:
    assert load(config(tmp_path, "  workers: 0\n"), environ={}).pool.size == 0


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ("  workers: -1\n", "pool.workers: expected `int` >= 0"),
        ("  allocate_timeout: 0\n", "pool.allocate_timeout: expected `float` > 0"),
        ("  concurrency: 0\n", "pool.concurrency: expected `int` >= 1"),
        ("  max_calls_jitter: 2\n", "pool.max_calls_jitter: expected `float` <= 1"),
        ("  max_ram: 10\n", "pool.max_ram: unknown key"),
        ("  exec_timeout: 9\n", "pool.exec_timeout: expected at most proxy.call_timeout (5.0s)"),
    ],
)
def test_bad_limits_name_the_key(tmp_path: Path, pool: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(config(tmp_path, pool), environ={})
    assert message in str(exc.value)
