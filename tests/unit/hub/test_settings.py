"""hub.yaml: every mistake names the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub import ConfigError, load

BASE = """
app: demo.app:app
proxy: {secret: s}
centrifugo: {api_key: a, token_secret: t}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, BASE), environ={})
    assert settings.proxy.transport == "http"
    assert settings.proxy.http_port == 9000
    assert settings.centrifugo.engine == "memory"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE + "log_level: loud\n",
            "log_level: expected one of 'debug', 'error', 'info', 'warning', got 'loud'",
        ),
        (
            BASE.replace("{secret: s}", "{secret: s, http_port: 70000}"),
            "proxy.http_port: expected `int` <= 65535",
        ),
        (BASE.replace("{secret: s}", "{secret: s, http_prot: 1}"), "proxy.http_prot: unknown key"),
        (
            BASE.replace("{secret: s}", "{secret: s, transport: ws}"),
            "proxy.transport: expected one of 'grpc', 'http', got 'ws'",
        ),
        (BASE + "extra: 1\n", "extra: unknown key"),
        (
            BASE.replace("{secret: s}", "{}"),
            "proxy.secret: expected a non-empty secret (or set HUB_PROXY_SECRET)",
        ),
        (BASE.replace("app: demo.app:app", "app: demo.app"), "app: expected `module:attribute`"),
        (
            BASE.replace("token_secret: t}", "token_secret: t, namespaces: {chat: {history_size: 10}}}"),
            "centrifugo.namespaces.chat: history_size and history_ttl must be set together",
        ),
        (
            BASE.replace("token_secret: t}", "token_secret: t, namespaces: {chat: {recovery: true}}}"),
            "centrifugo.namespaces.chat: recovery needs history",
        ),
        (
            BASE.replace("token_secret: t}", "token_secret: t, namespaces: {chat: {presense: true}}}"),
            "centrifugo.namespaces.chat.presense: unknown key",
        ),
        (
            BASE.replace("token_secret: t}", "token_secret: t, namespaces: {c: {}}}"),
            "centrifugo.namespaces.c: expected a name of 2+ letters",
        ),
        (
            BASE.replace("{secret: s}", "{secret: s, forward_headers: [x-hub-proxy-secret]}"),
            "proxy.forward_headers: must not contain the secret header",
        ),
        (
            BASE.replace("{secret: s}", "{secret: s, transport: grpc, grpc_port: 0}"),
            "proxy.grpc_port: expected a port",
        ),
        ("app: [1\nproxy: {}\n", "line 2: not valid YAML"),
        ("- a\n- b\n", "expected a mapping of settings at the top, got list"),
    ],
)
def test_mistakes_name_file_key_and_expectation(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    assert str(exc.value).startswith(f"{path}: ")
    assert message in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load(tmp_path / "nope.yaml")


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "app: demo.app:app\n")
    env = {
        "HUB_PROXY_SECRET": "p",
        "HUB_API_KEY": "k",
        "HUB_TOKEN_SECRET": "t",
        "HUB_REDIS_URL": "redis://r:1",
    }
    settings = load(path, environ=env)
    assert settings.proxy.secret == "p"
    assert settings.centrifugo.api_key == "k"
    assert settings.centrifugo.token_secret == "t"
    assert settings.centrifugo.redis_url == "redis://r:1"
    assert load(write(tmp_path, BASE), environ={"HUB_PROXY_SECRET": "env"}).proxy.secret == "env"


def test_every_problem_at_once_with_the_nearest_key(tmp_path: Path) -> None:
    path = write(tmp_path, "app: app:app\npool: {wrokers: 2}\nproxy: {http_port: nine}\n")
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    lines = str(exc.value).splitlines()
    assert lines == [
        f"{path}: pool.wrokers: unknown key (did you mean `workers`?)",
        f"{path}: proxy.http_port: expected `int`, got `str`",
        f"{path}: proxy.secret: expected a non-empty secret (or set HUB_PROXY_SECRET)",
        f"{path}: centrifugo.api_key: expected a non-empty secret (or set HUB_API_KEY)",
        f"{path}: centrifugo.token_secret: expected a non-empty secret (or set HUB_TOKEN_SECRET)",
    ]


def test_app_dir_is_relative_to_the_file_and_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "app_dir: src\n")
    settings = load(path, environ={}, overrides={"pool.workers": 3, "proxy.http_port": 9100})
    assert settings.app_dir == str(tmp_path.resolve() / "src")
    assert settings.pool.workers == 3
    assert settings.proxy.http_port == 9100
    assert load(write(tmp_path, BASE), environ={}).app_dir == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match=r"pool\.wokers: unknown key \(did you mean `workers`\?\)"):
        load(path, environ={}, overrides={"pool.wokers": 3})
