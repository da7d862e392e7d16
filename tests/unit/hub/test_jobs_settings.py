"""hub.yaml ``jobs:`` and the job envelope: defaults, validation messages, versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub import ConfigError, load
from hub.jobs import VERSION, Backoff, BadEnvelope
from hub.jobs import envelope as env
from hub.jobs.redis_client import Cluster, describe, parse_cluster
from hub.jobs.redis_driver import RedisDriver, key

BASE = """
app: demo.app:app
proxy: {secret: s}
centrifugo: {api_key: k, token_secret: t}
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE + extra)
    return path


def test_defaults_one_memory_pipeline(tmp_path: Path) -> None:
    jobs = load(write(tmp_path, "")).jobs
    assert list(jobs.pipelines) == ["default"]
    assert jobs.pipelines["default"].driver == "memory"
    assert jobs.consumed() == ["default"]
    assert jobs.pipeline(None)[0] == "default"


def test_consumed_pipelines_by_priority(tmp_path: Path) -> None:
    jobs = load(write(tmp_path, """
jobs:
  pipelines:
    low: {priority: 1}
    high: {priority: 9, driver: redis, url: "redis://127.0.0.1:1/0"}
    skip: {}
  consume: [low, high]
""")).jobs  # fmt: skip
    assert jobs.consumed() == ["high", "low"]
    assert jobs.pipeline(None)[0] == "low"  # no `default`: the first declared


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "jobs: {pipelines: {a: {driver: kafka}}}",
            "jobs.pipelines.a.driver: expected one of 'memory', 'redis'",
        ),
        ("jobs: {pipelines: {a: {prefetch: 0}}}", "jobs.pipelines.a.prefetch: expected `int` >= 1"),
        (
            "jobs: {pipelines: {a: {backoff: {jitter: 2}}}}",
            "jobs.pipelines.a.backoff.jitter: expected `float` <= 1",
        ),
        ("jobs: {pipelines: {a: {colour: red}}}", "jobs.pipelines.a.colour: unknown key"),
        ("jobs: {consume: [b], pipelines: {a: {}}}", "jobs.consume[0]: expected one of ['a'], got 'b'"),
        ("jobs: {default_pipeline: b, pipelines: {a: {}}}", "jobs.default_pipeline: expected one of ['a']"),
        ("jobs: {pipelines: {a: {claim_timeout: 1}}}", "jobs.pipelines.a.claim_timeout: expected more than"),
        (
            "jobs: {pipelines: {a: {driver: redis, url: 'http://h:1'}}}",
            "jobs.pipelines.a.url: expected redis://HOST:PORT/DB, rediss://..., unix:///PATH (one server) or "
            "redis+cluster://HOST:PORT[,HOST:PORT...] (a Redis Cluster), got a url starting 'http:'",
        ),
        (
            "jobs: {pipelines: {a: {driver: redis, url: 'redis+cluster://:pw@h1:7000,h2'}}}",
            "jobs.pipelines.a.url: expected HOST:PORT for each seed node of the cluster, got 'h2'",
        ),
        (
            "jobs: {pipelines: {a: {driver: redis, url: 'redis+cluster://h1:7000/2'}}}",
            "jobs.pipelines.a.url: a Redis Cluster has only database 0",
        ),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, extra))
    assert str(info.value).startswith(str(tmp_path / "hub.yaml") + ": ")
    assert message in str(info.value)


def test_backoff_exponential_capped_with_jitter() -> None:
    b = Backoff(base=1.0, factor=2.0, cap=5.0, jitter=0.2)
    assert [b.delay(n, rand=0.5) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert b.delay(1, rand=0.0) == pytest.approx(0.8)
    assert b.delay(1, rand=1.0) == pytest.approx(1.2)


def test_envelope_round_trip_and_defaults() -> None:
    e = env.new("reports.build", {"user": "42"}, delay=10)
    back = env.decode(env.encode(e))
    assert back == e
    assert back.v == VERSION
    assert back.not_before > back.enqueued_at
    foreign = env.decode('{"v": 1, "name": "x", "payload": [1]}', fallback_id="1-0")
    assert (foreign.id, foreign.attempt, foreign.headers) == ("1-0", 0, {})


def test_a_jobs_wait_counts_from_its_push_or_from_when_it_was_due() -> None:
    now = env.new("a", None)
    assert env.due_at(now) == now.enqueued_at > 0
    later = env.new("a", None, delay=10)
    assert env.due_at(later) == later.not_before == pytest.approx(later.enqueued_at + 10)
    retry = env.retried(now, 1, delay=2)
    assert env.due_at(retry) == retry.not_before > now.enqueued_at
    assert env.due_at(env.decode('{"v": 1, "name": "x"}')) == 0  # a producer that gave no time


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{oops", "not JSON"),
        ("[1]", "expected a JSON object, got list"),
        ('{"name": "x"}', "v: expected envelope version 1, got None"),
        ('{"v": 1}', "missing required field `name`"),
        ('{"v": 1, "name": "x", "headers": {"a": 1}}', "headers[...]: expected `str`"),
    ],
)
def test_bad_envelopes_say_why(raw: str, message: str) -> None:
    with pytest.raises(BadEnvelope, match=re.escape(message)):
        env.decode(raw)


def test_a_cluster_url_names_its_seeds_and_credentials() -> None:
    cluster = parse_cluster("rediss+cluster://app:s%40cret@10.0.0.1:7000,[::1]:7001/")
    assert cluster == Cluster(
        seeds=(("10.0.0.1", 7000), ("::1", 7001)), username="app", password="s@cret", tls=True
    )
    assert parse_cluster("redis://:pw@127.0.0.1:6379/0") is None
    assert describe("redis+cluster://:pw@h1:7000,h2:7000") == "redis cluster h1:7000,h2:7000"
    assert describe("redis://:pw@h1:6380/0") == "redis h1:6380"


def test_every_key_of_a_pipeline_shares_one_cluster_hash_tag(tmp_path: Path) -> None:
    jobs = load(write(tmp_path, "jobs: {prefix: 'app:jobs', pipelines: {mail: {driver: redis}}}")).jobs
    driver = RedisDriver(FakeRedis(), "mail", jobs.pipelines["mail"], prefix=jobs.prefix, group=jobs.group)
    keys = [
        driver.stream,
        driver.delayed,
        driver.retry_set,
        driver.dead,
        driver.paused_key,
        driver._status_key("7"),
    ]
    assert keys == [
        key("app:jobs", "mail", part) for part in ("stream", "delayed", "retry", "dead", "paused", "status:7")
    ]
    assert {k.split("{")[1].split("}")[0] for k in keys} == {"mail"}  # Redis Cluster hashes only "mail"
    assert driver.stream == "app:jobs:{mail}:stream"


class FakeRedis:
    def register_script(self, script: str) -> str:
        return script
