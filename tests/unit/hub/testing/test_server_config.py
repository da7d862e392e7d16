"""HubServer's copy of the user's hub.yaml: every listener on a free port, the page's origin with it."""

from __future__ import annotations

from pathlib import Path

from hub.testing import HubServer

CONFIG = """
app: demo.app:app
proxy: {secret: s3cret-proxy}
centrifugo:
  api_key: k3y
  token_secret: a-token-secret-of-thirty-two-bytes!
  allowed_origins: ["http://127.0.0.1:8080"]
web: {app: demo.web:web, port: 8080}
ops: {port: 9002}
"""


def test_the_web_and_ops_listeners_move_to_free_ports_and_the_page_may_still_connect(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(CONFIG)
    server = HubServer(tmp_path / "hub.yaml", tmp_path / "run")
    settings = server._write()
    assert settings.web.port not in (0, 8080)
    assert settings.ops.port not in (0, 9002)
    assert settings.web.app == "demo.web:web"
    moved = f"http://127.0.0.1:{settings.web.port}"
    assert settings.centrifugo.allowed_origins == [
        "http://127.0.0.1:8080",
        moved,
        f"http://localhost:{settings.web.port}",
    ]


def test_a_config_without_web_or_ops_gets_neither(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(
        CONFIG.replace("web: {app: demo.web:web, port: 8080}\nops: {port: 9002}\n", "")
    )
    settings = HubServer(tmp_path / "hub.yaml", tmp_path / "run")._write()
    assert settings.web.port == 0
    assert settings.ops.port == 0
    assert settings.centrifugo.allowed_origins == ["http://127.0.0.1:8080"]
