"""hub.yaml ``web:`` and the app's tokens for a web side: validation, import, lifespan (no sockets)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette

from hub import App, ConfigError, HubError, load
from hub.errors import AppImportError
from hub.loader import import_web_app

BASE = """
app: demo.app:app
proxy: {secret: s, http_port: 9000, grpc_port: 9001}
centrifugo: {api_key: a, token_secret: token-secret-of-32-bytes-or-more}
"""
SECRET = "token-secret-of-32-bytes-or-more"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    return path


def test_web_is_off_by_default_and_on_with_an_app_and_a_port(tmp_path: Path) -> None:
    assert load(write(tmp_path, BASE), environ={}).web.port == 0
    web = load(write(tmp_path, BASE + "web: {app: demo.web:web, port: 8080}\n"), environ={}).web
    assert (web.app, web.host, web.port) == ("demo.web:web", "127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ("{app: demo.web:web, prot: 8080}", "web.prot: unknown key (did you mean `port`?)"),
        ("{app: demo.web:web, port: 70000}", "web.port: expected `int` <= 65535"),
        ("{app: demo.web:web, port: -1}", "web.port: expected `int` >= 0"),
        ("{app: demo.web:web, port: web}", "web.port: expected `int`, got `str`"),
        ("{port: 8080}", "web.app: expected `module:attribute` of an ASGI app, since web.port is 8080"),
        ("{app: demo.web, port: 8080}", "web.app: expected `module:attribute` of an ASGI app (e.g. `demo.web:web`), got 'demo.web'"),
        ("{app: demo.web:web, port: 9000}", "web.port: expected a port of its own, got 9000, which proxy.http_port uses"),
        ("{app: demo.web:web, port: 9001}", "web.port: expected a port of its own, got 9001, which proxy.grpc_port uses"),
        ("[8080]", "web: expected `object`, got `array`"),
    ],
)  # fmt: skip
def test_web_mistakes_name_file_key_and_expectation(tmp_path: Path, web: str, message: str) -> None:
    path = write(tmp_path, BASE + f"web: {web}\n")
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    assert str(exc.value) == f"{path}: {message}"


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "webmods.py").write_text(
        "from starlette.applications import Starlette\n"
        "web = Starlette()\n"
        "async def bare(scope, receive, send): ...\n"
        "def sync(environ, start_response): ...\n"
        "class Handler:\n"
        "    async def __call__(self, scope, receive, send): ...\n"
        "handler = Handler()\n"
        "page = '<html>'\n"
    )
    (tmp_path / "broken_web.py").write_text("import starlette\nweb = undefined_name\n")
    yield tmp_path
    for name in ("webmods", "broken_web"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("attribute", ["web", "bare", "handler"])
def test_an_asgi_app_is_imported_from_app_dir(modules: Path, attribute: str) -> None:
    assert callable(import_web_app(f"webmods:{attribute}", str(modules)))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("webmods:sync", "web.app: 'webmods:sync' is function, expected an ASGI app (an async callable"),
        ("webmods:page", "web.app: 'webmods:page' is str, expected an ASGI app"),
        ("webmods:nope", "web.app: webmods has no attribute 'nope'"),
        ("no_such_web_module:web", "web.app: cannot import 'no_such_web_module': ModuleNotFoundError"),
        ("broken_web:web", "web.app: cannot import 'broken_web': NameError: name 'undefined_name' is not"),
    ],
)
def test_what_is_not_an_asgi_app_is_refused_naming_the_key(modules: Path, spec: str, message: str) -> None:
    with pytest.raises(AppImportError) as exc:
        import_web_app(spec, str(modules))
    assert str(exc.value).startswith(message)


def test_tokens_outside_the_lifespan_raise() -> None:
    with pytest.raises(HubError, match=r"no token settings: mint tokens inside `async with app\.lifespan"):
        _ = App().tokens


async def asgi_post(app: Any, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """One POST through an ASGI app, without sockets."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


async def test_token_routes_built_before_the_lifespan_mint_inside_it(tmp_path: Path) -> None:
    settings = load(write(tmp_path, BASE), environ={})
    app = App()
    web = Starlette(routes=app.token_routes(lambda request: request.headers.get("x-user")))
    async with app.lifespan(settings):
        assert await asgi_post(web, "/centrifugo/token", {}) == (401, {"error": "not authenticated"})
        status, body = await asgi_post(web, "/centrifugo/token", {"x-user": "ada"})
        assert status == 200
        assert jwt.decode(body["token"], SECRET, algorithms=["HS256"])["sub"] == "ada"
        assert app.tokens is app.tokens  # made once per lifespan
    with pytest.raises(HubError, match="no token settings"):
        _ = app.tokens
