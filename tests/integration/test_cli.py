"""The `hub` command line as a user runs it: exit codes, messages, logs."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hub.centrifugo import find_binary

from .servers import ROOT, http_ok, stack_config, wait_until

HUB = str(Path(sys.executable).parent / "hub")
APP = "tests.integration.proxy_app:app"


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HUB, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def write(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_check_accepts_the_demo_config() -> None:
    result = hub("check", "-c", "demo/hub.yaml")
    assert result.returncode == 0, result.stderr
    assert (
        "demo/hub.yaml: ok (app demo.app:app handles: connect, subscribe, rpc; "
        "web demo.web:web on http://127.0.0.1:8080)"
    ) in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"proxy": {"secret": "s", "http_port": "nine"}}, "proxy.http_port: expected `int`, got `str`"),
        ({"app": "no.such.module:app"}, "app: cannot import 'no.such.module'"),
        ({"app": "tests.integration.servers:ROOT"}, "is PosixPath, expected a hub.App"),
        (
            {"app": "tests.integration.proxy_app:nope"},
            "app: tests.integration.proxy_app has no attribute 'nope'",
        ),
        (
            {"centrifugo": {"api_key": "k", "token_secret": "short"}},
            "centrifugo.token_secret: 5 bytes; expected at least 32",
        ),
        (
            {
                "centrifugo": {
                    "api_key": "k",
                    "token_secret": "t" * 32,
                    "extra": {"client": {"bogus_key": 1}},
                }
            },
            "Centrifugo rejects the rendered config",
        ),
    ],
)
def test_check_rejects_a_bad_config_with_exit_2(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    config = stack_config(APP, "http")
    config.update(change)
    path = write(tmp_path, config)
    result = hub("check", "-c", str(path))
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_rendered_config_passes_centrifugo_strict_check(tmp_path: Path, transport: str) -> None:
    path = write(
        tmp_path, stack_config(APP, transport, centrifugo={"grpc_api_port": 10999, "engine": "redis"})
    )
    rendered = hub("centrifugo", "config", "-c", str(path))
    assert rendered.returncode == 0, rendered.stderr
    config = json.loads(rendered.stdout)
    assert config["client"]["proxy"]["connect"]["enabled"] is True
    (tmp_path / "centrifugo.json").write_text(rendered.stdout)
    check = subprocess.run(
        [str(find_binary()), "checkconfig", "--strict", "-c", str(tmp_path / "centrifugo.json")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr + check.stdout


def test_centrifugo_path_names_the_pinned_binary() -> None:
    result = hub("centrifugo", "path")
    assert result.returncode == 0
    binary = Path(result.stdout.strip())
    assert binary.is_file()
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True).stdout
    assert "6.9.1" in version


def test_serve_stops_cleanly_on_sigterm_and_never_logs_secrets(tmp_path: Path) -> None:
    config = stack_config(APP, "http", log_level="debug")
    config["proxy"]["secret"] = "proxy-SECRET-value"
    config["centrifugo"].update(
        api_key="api-SECRET-value", token_secret="token-SECRET-value-of-32-bytes-or-more"
    )
    path = write(tmp_path, config)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([HUB, "serve", "-c", str(path)], cwd=ROOT, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{config['proxy']['http_port']}"
    try:
        wait_until(lambda: http_ok(url + "/health"), 20, "hub serve")
        # A refused call and a malformed one: both log, neither may log the secret.
        import urllib.error
        import urllib.request

        for headers in (
            {"x-hub-proxy-secret": "proxy-SECRET-valu"},
            {"x-hub-proxy-secret": "proxy-SECRET-value"},
        ):
            request = urllib.request.Request(
                url + "/centrifugo/rpc", data=b"{bad", headers=headers, method="POST"
            )
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    text = log.read_text()
    assert "malformed rpc proxy call" in text
    assert "stopped" in text
    assert "SECRET" not in text


# -- error paths: one line, the right exit status, never a traceback (issue 8, fault 6) ----------


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def busy() -> Iterator[socket.socket]:
    """A port some other program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


@pytest.mark.parametrize(
    ("key", "workers", "transport"),
    [("http_port", 0, "http"), ("grpc_port", 0, "grpc"), ("grpc_port", 1, "grpc"), ("http_port", 1, "http")],
)
def test_serve_on_a_busy_port_says_which_key_in_one_line(
    tmp_path: Path, busy: socket.socket, key: str, workers: int, transport: str
) -> None:
    config = stack_config(APP, transport, pool={"workers": workers})
    config["proxy"][key] = busy.getsockname()[1]
    result = hub("serve", "-c", str(write(tmp_path, config)))
    assert result.returncode == 2
    assert one_line(result).startswith(
        f"hub: proxy.{key}: cannot listen on 127.0.0.1:{busy.getsockname()[1]}"
    )


def test_a_busy_grpc_port_when_centrifugo_calls_over_http_says_how_to_turn_it_off(
    tmp_path: Path, busy: socket.socket
) -> None:
    # Decision: both listeners stay on (tools and a second Centrifugo may use either);
    # the message says how to turn the unused one off.
    config = stack_config(APP, "http", pool={"workers": 0})
    config["proxy"]["grpc_port"] = busy.getsockname()[1]
    result = hub("serve", "-c", str(write(tmp_path, config)))
    assert result.returncode == 2
    assert "`proxy.grpc_port: 0` turns it off" in one_line(result)


def test_check_fails_when_centrifugo_bin_names_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, stack_config(APP, "http"))
    result = subprocess.run(
        [HUB, "check", "-c", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "CENTRIFUGO_BIN": "/nonexistent"},
    )  # fmt: skip
    assert result.returncode == 2
    assert one_line(result) == "hub: CENTRIFUGO_BIN=/nonexistent is not an executable file"


def test_token_with_a_short_secret_warns_in_our_words_not_pyjwts(tmp_path: Path) -> None:
    config = stack_config(APP, "http")
    config["centrifugo"]["token_secret"] = "short"
    result = hub("token", "alice", "-c", str(write(tmp_path, config)))
    assert result.returncode == 0
    assert result.stdout.count(".") == 2  # a JWT
    assert "centrifugo.token_secret is 5 bytes, under the 32 that HS256 wants" in one_line(result)
    assert "InsecureKeyLengthWarning" not in result.stderr


@pytest.mark.parametrize("ttl", ["-5", "0", "soon"])
def test_token_refuses_a_ttl_that_is_not_positive(tmp_path: Path, ttl: str) -> None:
    result = hub("token", "alice", "--ttl", ttl, "-c", str(write(tmp_path, stack_config(APP, "http"))))
    assert result.returncode == 2
    assert "argument --ttl: expected a number of seconds" in result.stderr
    assert result.stdout == ""


def test_centrifugo_config_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    path = write(tmp_path, stack_config(APP, "http"))
    read, write_end = os.pipe()
    os.close(read)  # like `| head` that already left: every write gets EPIPE
    try:
        result = subprocess.run(
            [HUB, "centrifugo", "config", "-c", str(path)], cwd=ROOT, stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert result.stderr == ""


def test_version() -> None:
    result = hub("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"hub {importlib.metadata.version('hub')} (Centrifugo v6.9.1 pinned)"
