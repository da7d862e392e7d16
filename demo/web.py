"""The demo's web side (hub.yaml ``web:``): sign-in, the page, the token route, the exports.

``hub serve`` runs this Starlette app in every pooled worker, inside the hub app's
lifespan, so views may use ``app.publish``, ``app.jobs`` and ``app.tokens``.

    GET  /                the chat page (the sign-in form when signed out);
                          ?auth=jwt signs in to Centrifugo with a JWT, ?protocol=protobuf
                          uses centrifuge-js's protobuf build
    POST /login, /logout  set or clear the HMAC-signed session cookie
    POST /centrifugo/token         centrifuge-js's getToken (by the same cookie)
    GET  /exports/JOB.jsonl        a finished export, to the user who made it
    GET  /static/..., /vendor/...  the page's files; centrifuge-js from demo/web/node_modules
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import session
from .app import EXPORTS, MAX_LENGTH, app

HERE = Path(__file__).resolve().parent / "web"
#: centrifuge-js's browser builds, installed from the npm registry by `make demo` (npm ci).
VENDOR = HERE / "node_modules" / "centrifuge" / "dist"
BUNDLES = {"json": "centrifuge.js", "protobuf": "centrifuge.protobuf.js"}
#: The page's switches: each choice and the other one.
OTHER = {"cookie": "jwt", "jwt": "cookie", "json": "protobuf", "protobuf": "json"}
JOB_FILE = re.compile(r"[A-Za-z0-9_-]+\.jsonl")


def _template(name: str) -> Template:
    return Template((HERE / name).read_text())


def user_of(request: Request) -> str | None:
    """The signed-in user of a request (its session cookie), or None."""
    return session.user_of(request.cookies.get(session.COOKIE))


def _options(request: Request) -> dict[str, str]:
    """The page's choices, from the query: ``auth`` (cookie or jwt), ``protocol`` (json or protobuf)."""
    q = request.query_params
    return {
        "auth": "jwt" if q.get("auth") == "jwt" else "cookie",
        "protocol": "protobuf" if q.get("protocol") == "protobuf" else "json",
    }


def _query(options: dict[str, str]) -> str:
    """A query string, escaped for an HTML attribute."""
    return html.escape(urlencode(options))


def _login_page(request: Request, *, error: str = "", name: str = "", status: int = 200) -> Response:
    body = _template("login.html").substitute(
        query=_query(_options(request)),
        name=html.escape(name),
        error=html.escape(error),
        error_hidden="" if error else "hidden",
    )
    return HTMLResponse(body, status_code=status)


def _websocket_url(request: Request) -> str:
    """Centrifugo's WebSocket on the page's own host name: cookies are per host (not per port),
    so the session cookie set by this page goes along with the WebSocket to Centrifugo."""
    port = urlsplit(app.publisher.api_url).port
    return f"ws://{request.url.hostname}:{port}/connection/websocket"


async def page(request: Request) -> Response:
    user = user_of(request)
    if user is None:
        return _login_page(request)
    options = _options(request)
    bundle = BUNDLES[options["protocol"]]
    if not (VENDOR / bundle).is_file():
        return PlainTextResponse(
            f"centrifuge-js is not installed ({VENDOR / bundle} is missing): run `make demo`, "
            "or `npm ci` in demo/web",
            status_code=500,
        )
    config = {
        **options,
        "user": user,
        "url": _websocket_url(request),
        "tokenUrl": "/centrifugo/token",
        "maxLength": MAX_LENGTH,
    }
    # JSON inside <script>: "</" must not end the element.
    body = _template("page.html").substitute(
        config=json.dumps(config).replace("</", "<\\/"),
        bundle=bundle,
        user=html.escape(user),
        auth=options["auth"],
        protocol=options["protocol"],
        query=_query(options),
        other_auth=_query({**options, "auth": OTHER[options["auth"]]}),
        other_protocol=_query({**options, "protocol": OTHER[options["protocol"]]}),
        max_length=MAX_LENGTH,
    )
    return HTMLResponse(body)


async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode(errors="replace"))
    name = form.get("name", [""])[0].strip()
    problem = session.name_problem(name)
    if problem:
        return _login_page(request, error=problem, name=name, status=400)
    response = RedirectResponse(f"/?{urlencode(_options(request))}", status_code=303)
    response.set_cookie(
        session.COOKIE, session.sign(name), max_age=session.MAX_AGE, httponly=True, samesite="lax"
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse(f"/?{urlencode(_options(request))}", status_code=303)
    response.delete_cookie(session.COOKIE, httponly=True, samesite="lax")
    return response


async def exported(request: Request) -> Response:
    user, name = user_of(request), request.path_params["name"]
    path = EXPORTS / str(user) / name
    if user is None or not JOB_FILE.fullmatch(name) or not path.is_file():
        return PlainTextResponse("no such export", status_code=404)
    return FileResponse(path, media_type="application/x-ndjson", filename=f"chat-export-{name}")


web = Starlette(
    routes=[
        Route("/", page),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/exports/{name}", exported),
        *app.token_routes(user_of),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        # check_dir=False: the app imports before `npm ci`; a missing bundle is then a 404.
        Mount("/vendor", StaticFiles(directory=VENDOR, check_dir=False), name="vendor"),
    ]
)
