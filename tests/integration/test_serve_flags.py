"""The flags people expect of `hub serve`: --workers, --host, --port, --log-level, -o KEY=VALUE, --app-dir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .servers import HUB, ROOT, free_port, http_ok, stack_config, stop, wait_until

APP = "tests.integration.proxy_app:app"


def test_flags_and_options_override_the_file(tmp_path: Path) -> None:
    config = stack_config(APP, "http", pool={"workers": 3})
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    port, ws_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    command = [str(HUB), "serve", "-c", str(path), "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "debug", "-o", f"centrifugo.port={ws_port}", "-o", "proxy.grpc_port=0"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=out)
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health") or process.poll() is not None, 30, "hub"
        )
        assert process.poll() is None, log.read_text()
        status = subprocess.run(
            [str(HUB), "workers", "-c", str(path), "--json"], capture_output=True, text=True
        )
        assert len(json.loads(status.stdout)["workers"]) == 1
    finally:
        stop(process)
    text = log.read_text()
    assert f"clients connect to ws://127.0.0.1:{ws_port}/connection/websocket" in text
    assert " DEBUG " in text


def test_app_dir_moves_where_the_app_is_imported_from(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mine.py").write_text("from hub import App\n\napp = App()\n")
    path = tmp_path / "conf" / "hub.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(stack_config("mine:app", "http")))

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HUB), "check", "-c", str(path), *args], cwd=tmp_path, capture_output=True, text=True
        )

    assert check().returncode == 2  # hub.yaml's folder (conf/) has no mine.py
    assert "app: cannot import 'mine'" in check().stderr
    assert check("--app-dir", "src").returncode == 0
    assert check("-o", "app_dir=../src").returncode == 0  # in the file: relative to hub.yaml


def test_bad_options_are_reported_like_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(stack_config(APP, "http")))
    result = subprocess.run(
        [str(HUB), "check", "-c", str(path), "-o", "pool.wrokers=2", "-o", "proxy.http_port=nine"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert sorted(result.stderr.splitlines()) == [
        f"hub: {path}: pool.wrokers: unknown key (did you mean `workers`?)",
        f"hub: {path}: proxy.http_port: expected `int`, got `str`",
    ]
