"""Configuration for deployment: ${VAR} in hub.yaml, HUB_CONFIG, an advertised proxy host,
the API at any URL, JSON logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hub.centrifugo import CentrifugoSettings, ProxySettings, Usage, render
from hub.errors import ConfigError
from hub.logs import JsonFormatter
from hub.publishing import api_url
from hub.settings import load

BASE = """
app: m:app
proxy: {secret: "${PROXY_SECRET}", http_port: "${PORT:-9100}", host: 0.0.0.0}
centrifugo: {api_key: "key-${STAGE:-dev}-0123456789abcdef0123456789", token_secret: "%s"}
""" % ("t" * 32)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    return path


def test_variables_defaults_and_typed_values(tmp_path: Path) -> None:
    settings = load(write(tmp_path, BASE), environ={"PROXY_SECRET": "from-env", "PORT": "9200"})
    assert settings.proxy.secret == "from-env"
    assert settings.proxy.http_port == 9200  # a value that is only ${...} is read as YAML: a number
    assert settings.centrifugo.api_key == "key-dev-0123456789abcdef0123456789"  # the default, inside text
    assert load(write(tmp_path, BASE), environ={"PROXY_SECRET": "x"}).proxy.http_port == 9100


def test_an_unset_variable_without_default_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path, BASE), environ={})
    assert "proxy.secret: ${PROXY_SECRET} is not set in the environment (and has no `:-default`)" in str(
        exc.value
    )


def test_centrifugo_calls_the_advertised_host_not_every_interface() -> None:
    usage = Usage(rpc_namespaces=[""])
    c = CentrifugoSettings(api_key="k", token_secret="t")
    bound_everywhere = render(c, ProxySettings(secret="s", host="0.0.0.0"), usage)
    assert bound_everywhere["rpc"]["proxy"]["endpoint"] == "http://127.0.0.1:9000/centrifugo/rpc"
    advertised = render(c, ProxySettings(secret="s", host="0.0.0.0", advertise_host="hub.internal"), usage)
    assert advertised["rpc"]["proxy"]["endpoint"] == "http://hub.internal:9000/centrifugo/rpc"
    grpc = render(c, ProxySettings(secret="s", transport="grpc", advertise_host="hub"), usage)
    assert grpc["rpc"]["proxy"]["endpoint"] == "grpc://hub:9001"


def test_the_api_at_any_url(tmp_path: Path) -> None:
    text = BASE + "publisher: {api_url: 'https://centrifugo.example/api/'}\n"
    settings = load(write(tmp_path, text), environ={"PROXY_SECRET": "x"})
    assert api_url(settings) == "https://centrifugo.example/api"
    with pytest.raises(ConfigError, match=r"publisher.api_url: expected an http:// or https:// URL"):
        load(write(tmp_path, BASE + "publisher: {api_url: 'ftp://x'}\n"), environ={"PROXY_SECRET": "x"})


def test_a_json_log_line_carries_the_ids_and_the_traceback() -> None:
    record = logging.LogRecord("hub.proxy", logging.WARNING, __file__, 1, "%s call failed", ("rpc",), None)
    record.__dict__.update(kind="rpc", client="c-1", user="ada")
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "rpc call failed"
    assert (line["level"], line["logger"], line["kind"], line["client"], line["user"]) == (
        "warning", "hub.proxy", "rpc", "c-1", "ada")  # fmt: skip
    assert isinstance(line["pid"], int)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exc"]
