"""The `hub` command line as a user runs it: exit codes, messages, logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
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
    assert "demo/hub.yaml: ok (app demo.app:app handles: connect, subscribe, publish, rpc)" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"proxy": {"secret": "s", "http_port": "nine"}}, "proxy.http_port: expected `int`, got `str`"),
        ({"app": "no.such.module:app"}, "app: cannot import 'no.such.module'"),
        ({"app": "tests.integration.servers:ROOT"}, "is PosixPath, expected a hub.App"),
        (
            {"centrifugo": {"api_key": "k", "token_secret": "t", "extra": {"client": {"bogus_key": 1}}}},
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
    config["centrifugo"].update(api_key="api-SECRET-value", token_secret="token-SECRET-value")
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
