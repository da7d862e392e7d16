"""hub.yaml ``web:``: `hub serve` serves the application's own ASGI app next to the proxy.

A real `hub serve` (pooled with 2 workers, and inline), a real Centrifugo, real sockets:
the page, both workers answering, the web app's own lifespan in each worker, the token
route's JWT accepted by Centrifugo, a view's publish reaching a subscribed client, the
proxy's listener still refusing browser-like calls, and a SIGTERM that lets a slow
request finish before the hub exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.clients import RealtimeClient

from .servers import HUB, ROOT, Stack, free_port, http_ok, stack_config, wait_until

APP = "tests.integration.web_app:app"
WEB = "tests.integration.web_app:web"
NAMESPACES = {"pub": {"public": True}}


def web_stack(tmp: Path, workers: int, env: dict[str, str] | None = None) -> Stack:
    config = stack_config(
        APP, "http", centrifugo={"namespaces": NAMESPACES}, pool={"workers": workers},
        web={"app": WEB, "port": free_port()}, ops={"port": free_port()},
    )  # fmt: skip
    return Stack(tmp, config, env=env or {})


def web_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config['web']['port']}"


def request(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body)."""
    data = json.dumps(body).encode() if body is not None else None
    call = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with web_stack(tmp_path_factory.mktemp("web-pooled"), workers=2).running() as stack:
        yield stack


def test_the_page_is_served_on_the_web_address(pooled: Stack) -> None:
    status, body = request(web_url(pooled) + "/")
    assert status == 200
    assert b"<h1>hello from " in body


def test_both_workers_serve_the_web_app_each_with_its_own_lifespan(pooled: Stack) -> None:
    pids: set[int] = set()

    def both() -> bool:
        status, body = request(web_url(pooled) + "/who")
        answer = json.loads(body)
        assert status == 200
        assert answer["lifespan"], "the web app's lifespan did not run in the worker that answered"
        pids.add(answer["pid"])
        return len(pids) == 2

    wait_until(both, 60, "answers from two workers")
    assert pooled.hub is not None
    assert pooled.hub.pid not in pids  # the supervisor serves nothing


async def test_the_token_route_mints_a_jwt_centrifugo_accepts(pooled: Stack) -> None:
    url = web_url(pooled) + "/centrifugo/token"
    status, _ = await asyncio.to_thread(request, url, {})
    assert status == 401  # no user
    status, body = await asyncio.to_thread(request, url, {}, {"x-user": "ada"})
    assert status == 200
    async with RealtimeClient(pooled.ws_url) as client:
        session = await client.connect(token=json.loads(body)["token"])
        assert session["client"]


async def test_a_view_publishes_through_the_hub_app_to_a_subscriber(pooled: Stack) -> None:
    channel = f"pub:{uuid.uuid4().hex[:12]}"
    _, body = await asyncio.to_thread(request, web_url(pooled) + "/centrifugo/token", {}, {"x-user": "bo"})
    async with RealtimeClient(pooled.ws_url) as client:
        await client.connect(token=json.loads(body)["token"])
        await client.subscribe(channel)
        status, _ = await asyncio.to_thread(
            request, web_url(pooled) + "/publish", {"channel": channel, "text": "from a view"}
        )
        assert status == 200
        async with asyncio.timeout(20):
            while (push := await client.pushes.get()).type != "pub":
                pass
    assert push.channel == channel
    assert push.body["data"]["text"] == "from a view"


def test_the_proxy_listener_stays_private(pooled: Stack) -> None:
    browser = {"Origin": web_url(pooled), "Content-Type": "application/json"}
    status, body = request(pooled.proxy_url + "/centrifugo/connect", {"client": "c"}, browser)
    assert status == 401, body  # no proxy secret
    status, _ = request(web_url(pooled) + "/centrifugo/connect", {"client": "c"}, browser)
    assert status in (404, 405)  # the web address does not serve the proxy


def test_readiness_has_a_web_part(pooled: Stack) -> None:
    status, body = request(f"http://127.0.0.1:{pooled.config['ops']['port']}/ready")
    assert status == 200
    assert json.loads(body)["parts"]["web"] == {"ready": True, "state": "2 of 2 workers serving"}


def metric(stack: Stack, name: str) -> float:
    """The sum of a metric's samples on the ops listener's /metrics."""
    _, body = request(f"http://127.0.0.1:{stack.config['ops']['port']}/metrics")
    lines = body.decode().splitlines()
    assert f"# TYPE {name} counter" in lines  # the family exists
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith((f"{name} ", f"{name}{{")))


def test_web_requests_are_not_counted_as_proxy_calls(pooled: Stack) -> None:
    for _ in range(10):
        assert request(web_url(pooled) + "/")[0] == 200
    refused = metric(pooled, "hub_proxy_unauthenticated_total")
    request(pooled.proxy_url + "/centrifugo/rpc", {}, {"Content-Type": "application/json"})
    # Once the refused proxy call is counted, the workers' counts are past the web requests.
    wait_until(lambda: metric(pooled, "hub_proxy_unauthenticated_total") > refused, 20, "the count")
    assert metric(pooled, "hub_proxy_calls_total") == 0


def check(tmp_path: Path, web: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    stack = Stack(tmp_path, stack_config(APP, "http", web=web))
    stack.write()
    return subprocess.run(
        [str(HUB), "check", "-c", str(stack.path)], cwd=ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"app": "tests.integration.no_such_web:web", "port": 8080},
         "web.app: cannot import 'tests.integration.no_such_web': ModuleNotFoundError"),
        ({"app": "tests.integration.web_app:app", "port": 8080},
         "web.app: 'tests.integration.web_app:app' is App, expected an ASGI app"),
        ({"port": 8080}, "web.app: expected `module:attribute` of an ASGI app, since web.port is 8080"),
        ({"app": WEB, "port": 8080, "hots": "0.0.0.0"}, "web.hots: unknown key (did you mean `host`?)"),
    ],
)  # fmt: skip
def test_hub_check_refuses_a_bad_web_section_with_exit_2(
    tmp_path: Path, web: dict[str, Any], message: str
) -> None:
    result = check(tmp_path, web)
    assert result.returncode == 2
    assert f"{tmp_path / 'hub.yaml'}: {message}" in result.stderr


def test_hub_check_names_the_web_address(tmp_path: Path) -> None:
    result = check(tmp_path, {"app": WEB, "port": 8080, "host": "0.0.0.0"})
    assert result.returncode == 0, result.stderr
    assert f"; web {WEB} on http://0.0.0.0:8080)" in result.stdout


def test_inline_mode_serves_the_same_app(tmp_path: Path) -> None:
    with web_stack(tmp_path, workers=0).running(centrifugo=False) as stack:
        # Inline, the web listener starts after the proxy's, whose /health the stack waited for.
        wait_until(lambda: http_ok(web_url(stack) + "/"), 20, "the web listener")
        status, body = request(web_url(stack) + "/who")
        assert status == 200
        assert stack.hub is not None
        assert json.loads(body) == {"pid": stack.hub.pid, "lifespan": True}
        status, _ = request(web_url(stack) + "/")
        assert status == 200


def test_sigterm_lets_a_slow_web_request_finish_and_the_hub_exits_0(tmp_path: Path) -> None:
    marks = tmp_path / "shutdowns"
    marks.mkdir()
    stack = web_stack(tmp_path, workers=2, env={"WEB_APP_SHUTDOWN_MARKS": str(marks)})
    mark = tmp_path / "in-flight"
    answers: list[tuple[int, bytes]] = []
    with stack.running(centrifugo=False):
        assert stack.hub is not None
        url = f"{web_url(stack)}/slow?seconds=2&mark={mark}"
        slow = threading.Thread(target=lambda: answers.append(request(url)))
        slow.start()
        wait_until(mark.exists, 30, "the slow request in flight")
        stack.hub.send_signal(signal.SIGTERM)
        slow.join(30)
        assert stack.hub.wait(30) == 0, stack.log_text()
    assert answers == [(200, b"done")]
    # Each worker ran the web app's lifespan shutdown, before its hub app's lifespan closed.
    assert sorted(m.read_text() for m in marks.iterdir()) == ["publisher open"] * 2


def test_reload_serves_an_edit_of_the_web_app(tmp_path: Path) -> None:
    """`hub serve --reload`: an edit of the web app's own package is served by the new worker."""
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "__init__.py").write_text("")
    view = pages / "web.py"
    view.write_text(
        "from starlette.applications import Starlette\n"
        "from starlette.responses import PlainTextResponse\n"
        "from starlette.routing import Route\n\n"
        "async def page(request):\n    return PlainTextResponse('old')\n\n"
        "web = Starlette(routes=[Route('/', page)])\n"
    )
    (tmp_path / "hub_app.py").write_text("from hub import App\n\napp = App()\n")
    stack = Stack(
        tmp_path, stack_config("hub_app:app", "http", web={"app": "pages.web:web", "port": free_port()})
    )
    stack.write()
    stack.hub = stack._spawn("hub", "serve", "--reload")
    try:
        wait_until(lambda: "reload: watching" in stack.log_text() or stack.hub.poll() is not None, 30, "hub")
        assert request(web_url(stack) + "/") == (200, b"old")
        view.write_text(view.read_text().replace("'old'", "'new'"))
        wait_until(lambda: request(web_url(stack) + "/") == (200, b"new"), 30, "the edit served")
    except BaseException:
        print(stack.log_text())
        raise
    finally:
        stack.stop_all()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_web_lifespan_startup_that_fails_stops_the_hub_with_its_error(tmp_path: Path, workers: int) -> None:
    (tmp_path / "failing_web.py").write_text(
        "import contextlib\nfrom starlette.applications import Starlette\n\n"
        "@contextlib.asynccontextmanager\nasync def lifespan(app):\n"
        "    raise RuntimeError('database unreachable')\n    yield\n\n"
        "web = Starlette(lifespan=lifespan)\n"
    )
    config = stack_config(
        APP, "http", pool={"workers": workers}, web={"app": "failing_web:web", "port": free_port()}
    )
    config["app_dir"] = str(ROOT)
    stack = Stack(tmp_path, config)
    stack.write()
    result = subprocess.run(  # from tmp_path, where failing_web.py is
        [str(HUB), "serve", "-c", str(stack.path)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "RuntimeError: database unreachable" in result.stderr
    assert f"web: HTTP server on {web_url(stack)}: the app's lifespan startup failed" in result.stderr
