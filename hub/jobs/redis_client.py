"""A ``redis`` pipeline's ``url``: one Redis server, or the seed nodes of a Redis Cluster.

    redis://[[user]:password@]host:port/db       one server (rediss:// with TLS; unix:///path)
    redis+cluster://[[user]:password@]host:port[,host:port...]
                                                 a Redis Cluster (rediss+cluster:// with TLS):
                                                 any reachable seed tells the client the rest

Parsing needs no Redis import (the settings check every url at load time); :func:`client`
connects.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

#: Schemes of one server, as redis-py's ``from_url`` reads them.
SERVER_SCHEMES = ("redis", "rediss", "unix")
#: Schemes of a Redis Cluster.
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
#: Connections per cluster node: redis-py's cluster client fails, rather than waits, when a
#: node's are all busy; this covers one process's fetches, acks, retries and pushes at once.
CLUSTER_CONNECTIONS = 64
EXPECTED = (
    "redis://HOST:PORT/DB, rediss://..., unix:///PATH (one server) or "
    "redis+cluster://HOST:PORT[,HOST:PORT...] (a Redis Cluster)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """A Redis Cluster url, parsed: where to start and how to log in."""

    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_cluster(url: str) -> Cluster | None:
    """The cluster a ``redis+cluster://`` url names; None for a one-server url; ValueError when
    neither (the message says what is wrong, never the password).

    >>> parse_cluster("redis+cluster://10.0.0.1:7000,10.0.0.2:7000").seeds
    (('10.0.0.1', 7000), ('10.0.0.2', 7000))
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SERVER_SCHEMES + CLUSTER_SCHEMES:
        raise ValueError(f"expected {EXPECTED}, got a url starting {url.split('//')[0]!r}")
    if scheme in SERVER_SCHEMES:
        return None
    location, _, path = rest.partition("/")
    if path.split("?")[0] not in ("", "0") or "?" in path:
        raise ValueError(
            "a Redis Cluster has only database 0 and no options: expected no path after the hosts"
        )
    userinfo, at, hosts = location.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) if colon else None
    seeds = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":")
        if not colon or not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected HOST:PORT for each seed node of the cluster, got {host!r}")
        seeds.append((name.strip("[]"), int(port)))
    return Cluster(seeds=tuple(seeds), username=username, password=password, tls=scheme == "rediss+cluster")


def describe(url: str) -> str:
    """The server or cluster of ``url`` for logs and probes, without credentials."""
    cluster = parse_cluster(url)
    if cluster is not None:
        return "redis cluster " + ",".join(f"{host}:{port}" for host, port in cluster.seeds)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return f"redis {parts.path}"
    return f"redis {parts.hostname}:{parts.port or 6379}"


def client(url: str, connections: int = 8, **options: Any) -> Any:
    """A bounded pool of connections to ``url``'s server (``connections`` at most, waiting for a
    free one) or cluster (:data:`CLUSTER_CONNECTIONS` per node).

    Replies are decoded to ``str``. The caller closes it with ``aclose()``.
    """
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    cluster = parse_cluster(url)
    if cluster is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=connections, decode_responses=True, timeout=30, **options
        )
        return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes its connections
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster.seeds],
        username=cluster.username, password=cluster.password, ssl=cluster.tls,
        decode_responses=True, max_connections=CLUSTER_CONNECTIONS, **options,
    )  # fmt: skip
