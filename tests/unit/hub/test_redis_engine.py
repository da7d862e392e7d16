"""hub.yaml's Redis engine keys: one server, several (sharded), Sentinel or Cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub import ConfigError, load
from hub.centrifugo import CentrifugoSettings, ProxySettings, Usage, render

BASE = """
app: demo.app:app
proxy: {secret: s}
centrifugo: {api_key: a, token_secret: t, %s}
"""


def engine(text: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE % text)
    settings = load(path, environ={})
    config = render(settings.centrifugo, ProxySettings(secret="s"), Usage())
    return dict(config["engine"])


@pytest.mark.parametrize(
    ("text", "redis"),
    [
        ("engine: redis", {"address": ["redis://127.0.0.1:6379"], "prefix": "centrifugo"}),
        (
            "engine: redis, redis_url: 'redis://r:6380/2', redis_prefix: 'app:rt'",
            {"address": ["redis://r:6380/2"], "prefix": "app:rt"},
        ),
        (
            "engine: redis, redis_addresses: ['redis://a:6379', 'redis://b:6379']",
            {"address": ["redis://a:6379", "redis://b:6379"], "prefix": "centrifugo"},
        ),
        (
            "engine: redis, redis_sentinel_addresses: ['s1:26379', 's2:26379'], redis_sentinel_master: main",
            {
                "sentinel_address": ["s1:26379", "s2:26379"],
                "sentinel_master_name": "main",
                "prefix": "centrifugo",
            },
        ),
        (
            "engine: redis, redis_cluster_addresses: ['c1:7000', 'c2:7000', 'c3:7000']",
            {"cluster_address": ["c1:7000,c2:7000,c3:7000"], "prefix": "centrifugo"},
        ),
    ],
    ids=["default", "url-and-prefix", "sharded", "sentinel", "cluster"],
)
def test_each_topology_renders_centrifugos_v6_keys(tmp_path: Path, text: str, redis: dict[str, Any]) -> None:
    assert engine(text, tmp_path) == {"type": "redis", "redis": redis}


def test_the_memory_engine_renders_no_engine_section() -> None:
    assert "engine" not in render(CentrifugoSettings(), ProxySettings(secret="s"), Usage())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "redis_cluster_addresses: ['c1:7000']",
            "centrifugo.redis_cluster_addresses: only used with `engine: redis`, got engine 'memory'",
        ),
        (
            "engine: redis, redis_sentinel_addresses: ['s1:26379']",
            "centrifugo.redis_sentinel_master: expected the name of the master the sentinels watch",
        ),
        (
            "engine: redis, redis_sentinel_master: main",
            "centrifugo.redis_sentinel_addresses: expected at least one sentinel",
        ),
        (
            "engine: redis, redis_addresses: ['redis://a:6379'], redis_cluster_addresses: ['c1:7000']",
            "centrifugo.redis_cluster_addresses: cannot be combined with redis_addresses",
        ),
        (
            "engine: redis, redis_cluster_addresses: ['c1:7000,c2:7000']",
            "centrifugo.redis_cluster_addresses[0]: expected `str` matching regex",
        ),
        ("engine: redis, redis_prefix: 'a b'", "centrifugo.redis_prefix: expected `str` matching regex"),
        ("engine: redis, redis_sentinels: []", "centrifugo.redis_sentinels: unknown key"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE % text)
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    assert message in str(exc.value)


def test_the_redis_url_still_comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE % "engine: redis")
    settings = load(path, environ={"HUB_REDIS_URL": "redis://from-env:6379"})
    config = render(settings.centrifugo, ProxySettings(secret="s"), Usage())
    assert config["engine"]["redis"]["address"] == ["redis://from-env:6379"]
