"""Centrifugo's config rendered from hub.yaml agrees with the proxy service."""

from __future__ import annotations

from hub.centrifugo import CentrifugoSettings, Namespace, ProxySettings, Usage, render

USAGE = Usage(
    single=["connect"],
    channel_patterns={"subscribe": ["chat", "room-*"], "publish": ["chat"]},
    rpc_namespaces=["", "admin"],
)


def namespaces(config: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {ns.pop("name"): ns for ns in config["channel"]["namespaces"]}


def test_http_transport_endpoints_and_secret_header() -> None:
    proxy = ProxySettings(secret="s3", http_port=9100, call_timeout=2.5, forward_headers=["x-device"])
    config = render(CentrifugoSettings(api_key="k", token_secret="t"), proxy, USAGE)
    connect = config["client"]["proxy"]["connect"]
    assert connect["enabled"] is True
    assert connect["endpoint"] == "http://127.0.0.1:9100/centrifugo/connect"
    assert connect["http"]["static_headers"] == {"x-hub-proxy-secret": "s3"}
    assert {t["status_code"] for t in connect["http"]["status_to_code_transforms"]} == {400, 413, 415}
    assert connect["timeout"] == "2500ms"
    assert connect["http_headers"] == ["x-device"]
    assert "refresh" not in config["client"]["proxy"]
    assert config["rpc"]["proxy"]["endpoint"] == "http://127.0.0.1:9100/centrifugo/rpc"
    assert config["http_api"] == {"key": "k"}
    assert config["client"]["token"] == {"hmac_secret_key": "t"}


def test_grpc_transport_uses_one_endpoint_and_metadata() -> None:
    config = render(CentrifugoSettings(), ProxySettings(secret="s", transport="grpc", grpc_port=9101), USAGE)
    for proxy in (config["client"]["proxy"]["connect"], *config["channel"]["proxy"].values()):
        assert proxy["endpoint"] == "grpc://127.0.0.1:9101"
        assert proxy["grpc"] == {"static_metadata": {"x-hub-proxy-secret": "s"}}


def test_namespaces_enable_only_the_kinds_with_handlers() -> None:
    settings = CentrifugoSettings(
        namespaces={
            "chat": Namespace(presence=True, history_size=10, history_ttl=60, recovery=True),
            "room-1": Namespace(),
            "news": Namespace(public=True),
        }
    )
    ns = namespaces(render(settings, ProxySettings(secret="s"), USAGE))
    assert ns["chat"] == {
        "subscribe_proxy_enabled": True,
        "publish_proxy_enabled": True,
        "presence": True,
        "allow_presence_for_subscriber": True,
        "history_size": 10,
        "history_ttl": "60s",
        "allow_history_for_subscriber": True,
        "force_recovery": True,
    }
    assert ns["room-1"] == {"subscribe_proxy_enabled": True}
    assert ns["news"] == {"allow_subscribe_for_client": True, "allow_publish_for_subscriber": True}


def test_a_handlers_exact_namespace_exists_even_if_unconfigured() -> None:
    ns = namespaces(render(CentrifugoSettings(), ProxySettings(secret="s"), USAGE))
    assert set(ns) == {"chat"}  # "room-*" is a pattern, not a namespace


def test_rpc_namespaces_and_engine_and_extra() -> None:
    settings = CentrifugoSettings(
        engine="redis",
        redis_url="redis://r:6379",
        grpc_api_port=10000,
        api_key="k",
        extra={"log": {"file": "x"}},
    )
    config = render(settings, ProxySettings(secret="s"), USAGE)
    assert config["rpc"]["without_namespace"] == {"proxy_enabled": True}
    assert config["rpc"]["namespaces"] == [{"name": "admin", "proxy_enabled": True}]
    assert config["engine"] == {
        "type": "redis",
        "redis": {"address": ["redis://r:6379"], "prefix": "centrifugo"},
    }
    assert config["grpc_api"] == {"enabled": True, "address": "127.0.0.1", "port": 10000, "key": "k"}
    assert config["log"] == {"level": "info", "file": "x"}
