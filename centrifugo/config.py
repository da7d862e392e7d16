"""Centrifugo's side of hub.yaml, and the renderer of Centrifugo's own v6 config.

The hub and Centrifugo read one file, so they always agree on the proxy
endpoints, the shared secret, the namespaces and the API keys::

    config = render(settings.centrifugo, settings.proxy, app.usage())
    json.dump(config, open("centrifugo.json", "w"))
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

import msgspec

from .keys import load_private_key
from .kinds import KINDS, Route, kinds_routed

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
NamespaceName = Annotated[str, msgspec.Meta(pattern=r"^[-a-zA-Z0-9_.]{2,}$")]
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]+$")]
#: One Redis address: ``redis://host:port/db`` or ``host:port`` (no spaces, no commas:
#: Centrifugo reads a comma inside one cluster entry as a list of seed nodes).
RedisAddress = Annotated[str, msgspec.Meta(pattern=r"^[^\s,]+$")]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Namespace(_Section, frozen=True, kw_only=True):
    """Options of one channel namespace (``chat`` for channels ``chat:*``)."""

    #: Anyone connected may subscribe and publish without a handler.
    public: bool = False
    presence: bool = False
    join_leave: bool = False
    history_size: Annotated[int, msgspec.Meta(ge=0)] = 0
    history_ttl: Annotated[int, msgspec.Meta(ge=0)] = 0
    #: Clients recover missed publications after a reconnect (needs history).
    recovery: bool = False

    def __post_init__(self) -> None:
        if bool(self.history_size) != bool(self.history_ttl):
            raise ValueError("history_size and history_ttl must be set together (both > 0)")
        if self.recovery and not self.history_size:
            raise ValueError("recovery needs history: set history_size and history_ttl")


class ProxySettings(_Section, frozen=True, kw_only=True):
    """How Centrifugo reaches the hub's proxy service (hub.yaml ``proxy:``)."""

    #: The transport Centrifugo uses for proxy calls.
    transport: Literal["grpc", "http"] = "http"
    host: str = "127.0.0.1"
    http_port: Port = 9000
    #: 0 turns the gRPC listener off.
    grpc_port: Port = 9001
    #: Sent by Centrifugo with every call; a call without it is refused.
    secret: str = ""
    secret_header: HeaderName = "x-hub-proxy-secret"
    #: How long Centrifugo waits for an answer (the whole call's deadline).
    call_timeout: Seconds = 5.0
    #: Payloads travel base64-encoded (for clients that send binary data).
    binary_encoding: bool = False
    #: Headers of the client's WebSocket request forwarded to every handler.
    forward_headers: list[HeaderName] = []
    max_body_size: Annotated[int, msgspec.Meta(gt=0)] = 1 << 20
    #: The host Centrifugo reaches the proxy at, when it is not ``host`` (a proxy bound to
    #: 0.0.0.0 in a container is reached by its service name). Default: ``host``, or
    #: 127.0.0.1 when ``host`` is every interface.
    advertise_host: str = ""

    @property
    def reachable_host(self) -> str:
        """Where Centrifugo calls the proxy."""
        if self.advertise_host:
            return self.advertise_host
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host


class CentrifugoSettings(_Section, frozen=True, kw_only=True):
    """The Centrifugo server the hub runs with (hub.yaml ``centrifugo:``)."""

    host: str = "127.0.0.1"
    port: Port = 8000
    #: 0 turns Centrifugo's gRPC server API off.
    grpc_api_port: Port = 0
    api_key: str = ""
    #: HMAC secret for connection and subscription JWTs.
    token_secret: str = ""
    #: A PEM RSA or EC private key file: the hub signs tokens with it (RS256/ES256...)
    #: and Centrifugo gets the matching public key. Relative to hub.yaml's folder.
    token_private_key: str = ""
    allowed_origins: list[str] = []
    engine: Literal["memory", "redis"] = "memory"
    #: The one Redis server of the engine (when none of the keys below is set).
    redis_url: RedisAddress = "redis://127.0.0.1:6379"
    #: Several Redis servers: Centrifugo shards channels over them (``redis_url`` is then unused).
    redis_addresses: list[RedisAddress] = []
    #: Every Centrifugo node sharing channels uses the same prefix; other nodes, another one.
    redis_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]+$")] = "centrifugo"
    #: Redis Sentinel: the sentinels (``host:port``) and the name of the master they watch.
    redis_sentinel_addresses: list[RedisAddress] = []
    redis_sentinel_master: str = ""
    #: Redis Cluster: seed nodes (``host:port``) of one cluster.
    redis_cluster_addresses: list[RedisAddress] = []
    log_level: Literal["trace", "debug", "info", "warn", "error", "none"] = "info"
    without_namespace: Namespace = Namespace()
    namespaces: dict[NamespaceName, Namespace] = {}
    #: Raw Centrifugo keys merged over the rendered config (an escape hatch).
    extra: dict[str, Any] = {}

    def problems(self) -> list[str]:
        """Contradictions between the Redis keys, each message naming its key.

        >>> CentrifugoSettings(engine="redis", redis_sentinel_addresses=["s:26379"]).problems()
        ['centrifugo.redis_sentinel_master: expected the name of the master ...']
        """
        found = []
        topologies = {
            "redis_addresses": bool(self.redis_addresses),
            "redis_sentinel_addresses": bool(self.redis_sentinel_addresses or self.redis_sentinel_master),
            "redis_cluster_addresses": bool(self.redis_cluster_addresses),
        }
        chosen = [key for key, used in topologies.items() if used]
        if chosen and self.engine != "redis":
            used = f"centrifugo.{chosen[0]}"
            found.append(f"{used}: only used with `engine: redis`, got engine {self.engine!r}")
        if len(chosen) > 1:
            used = f"centrifugo.{chosen[1]}"
            found.append(f"{used}: cannot be combined with {chosen[0]} (pick one Redis topology)")
        if self.redis_sentinel_addresses and not self.redis_sentinel_master:
            found.append(
                "centrifugo.redis_sentinel_master: expected the name of the master the sentinels "
                "watch when redis_sentinel_addresses is set"
            )
        if self.redis_sentinel_master and not self.redis_sentinel_addresses:
            found.append("centrifugo.redis_sentinel_addresses: expected at least one sentinel (host:port)")
        return found


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Which proxy kinds an application handles, by namespace.

    ``single`` names the app-wide kinds it handles (connect, refresh);
    ``channel_patterns`` maps a channel kind to namespace patterns (fnmatch;
    "" is channels without a namespace); ``rpc_namespaces`` holds "" for
    methods without a namespace.
    """

    single: list[str] = []
    channel_patterns: dict[str, list[str]] = {}
    rpc_namespaces: list[str] = []

    def kinds(self) -> list[str]:
        """Every kind the app handles, in the order of the kinds table."""
        handled = {*self.single, *self.channel_patterns, *(["rpc"] if self.rpc_namespaces else [])}
        return [k for k in KINDS if k in handled]

    def handles(self, kind: str, namespace: str) -> bool:
        """True if some handler of ``kind`` serves channels of ``namespace``."""
        return any(fnmatchcase(namespace, p) for p in self.channel_patterns.get(kind, ()))


def render(c: CentrifugoSettings, p: ProxySettings, usage: Usage) -> dict[str, Any]:
    """Centrifugo's v6 config (as JSON-able dict) for these settings and this app."""
    token: dict[str, Any] = {"hmac_secret_key": c.token_secret}
    if c.token_private_key:
        key = load_private_key(c.token_private_key)
        token[key.config_key] = key.public_pem
    client: dict[str, Any] = {
        "token": token,
        "allowed_origins": list(c.allowed_origins),
        "proxy": {},
    }
    for kind in kinds_routed(Route.SINGLE):
        if kind.name in usage.single:
            client["proxy"][kind.name] = {"enabled": True, **_proxy(p, kind.name)}
    namespaces = dict(c.namespaces)
    for patterns in usage.channel_patterns.values():
        for name in patterns:  # a handler's exact namespace exists even if unconfigured
            if name and not any(ch in name for ch in "*?[") and name not in namespaces:
                namespaces[name] = Namespace()
    channel_kinds = sorted(usage.channel_patterns)
    config: dict[str, Any] = {
        "http_server": {"address": c.host, "port": c.port},
        "log": {"level": c.log_level},
        "client": client,
        "channel": {
            "proxy": {kind: _proxy(p, kind) for kind in channel_kinds},
            "without_namespace": _namespace(c.without_namespace, "", usage),
            "namespaces": [
                {"name": name, **_namespace(ns, name, usage)} for name, ns in sorted(namespaces.items())
            ],
        },
        "rpc": {
            "without_namespace": {"proxy_enabled": "" in usage.rpc_namespaces},
            "namespaces": [
                {"name": name, "proxy_enabled": True} for name in sorted(usage.rpc_namespaces) if name
            ],
        },
        "http_api": {"key": c.api_key},
        "health": {"enabled": True},
        "prometheus": {"enabled": True},
        "usage_stats": {"disabled": True},
    }
    for kind in kinds_routed(Route.METHOD):
        if usage.rpc_namespaces:
            config["rpc"]["proxy"] = _proxy(p, kind.name)
    if c.grpc_api_port:
        config["grpc_api"] = {"enabled": True, "address": c.host, "port": c.grpc_api_port, "key": c.api_key}
    if c.engine == "redis":
        config["engine"] = {"type": "redis", "redis": _redis(c)}
    return _merge(config, c.extra)


def _redis(c: CentrifugoSettings) -> dict[str, Any]:
    """Centrifugo's ``engine.redis``: one server, several (sharded), Sentinel or Cluster."""
    redis: dict[str, Any] = {"prefix": c.redis_prefix}
    if c.redis_cluster_addresses:
        # One entry is one cluster (its seed nodes joined by commas); several entries would
        # be several clusters sharded over, which hub.yaml does not model.
        redis["cluster_address"] = [",".join(c.redis_cluster_addresses)]
    elif c.redis_sentinel_addresses:
        redis["sentinel_address"] = list(c.redis_sentinel_addresses)
        redis["sentinel_master_name"] = c.redis_sentinel_master
    else:
        redis["address"] = list(c.redis_addresses) or [c.redis_url]
    return redis


#: The proxy's answers to a call it cannot decode (400 malformed, 413 too large, 415 not
#: JSON) reach the client as the permanent 107, not as the temporary 100 Centrifugo gives
#: any other non-200 (the SDK would retry its own bad input forever). gRPC has no such
#: mapping; there, what a client controls (the payload) is refused as a value (107).
_BAD_REQUEST_TRANSFORMS = [
    {"status_code": status, "to_error": {"code": 107, "message": "bad request", "temporary": False}}
    for status in (400, 413, 415)
]


def _proxy(p: ProxySettings, kind: str) -> dict[str, Any]:
    secret = {p.secret_header: p.secret}
    obj: dict[str, Any] = {"timeout": _duration(p.call_timeout), "include_connection_meta": True}
    if p.transport == "http":
        obj["endpoint"] = f"http://{p.reachable_host}:{p.http_port}/centrifugo/{kind}"
        obj["http"] = {"static_headers": secret, "status_to_code_transforms": _BAD_REQUEST_TRANSFORMS}
    else:
        obj["endpoint"] = f"grpc://{p.reachable_host}:{p.grpc_port}"
        obj["grpc"] = {"static_metadata": secret}
    if p.forward_headers:
        obj["http_headers"] = list(p.forward_headers)
    if p.binary_encoding:
        obj["binary_encoding"] = True
    return obj


def _namespace(ns: Namespace, name: str, usage: Usage) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for kind in kinds_routed(Route.CHANNEL):
        if usage.handles(kind.name, name):
            opts[f"{kind.name}_proxy_enabled"] = True
    if ns.public:
        opts |= {"allow_subscribe_for_client": True, "allow_publish_for_subscriber": True}
    if ns.presence:
        opts |= {"presence": True, "allow_presence_for_subscriber": True}
    if ns.join_leave:
        opts |= {"join_leave": True, "force_push_join_leave": True}
    if ns.history_size:
        opts |= {
            "history_size": ns.history_size,
            "history_ttl": f"{ns.history_ttl}s",
            "allow_history_for_subscriber": True,
        }
    if ns.recovery:
        opts |= {"force_recovery": True}
    return opts


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
