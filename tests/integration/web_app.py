"""The hub app and the web side (hub.yaml ``web:``) that tests/integration/test_web.py serves.

A page, a view that publishes through the hub app, the token routes, and a slow view
that marks a file when it starts (so a test knows it is in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub import App, HubError

app = App()
#: The pid whose web lifespan started (set by the web app's own ASGI lifespan).
started_in: int | None = None


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global started_in
    started_in = os.getpid()
    yield
    # Its shutdown runs too, while the hub app's lifespan (the publisher) is still open.
    folder = os.environ.get("WEB_APP_SHUTDOWN_MARKS")
    if folder:
        try:
            _ = app.publisher
            state = "publisher open"
        except HubError:
            state = "publisher closed"
        await asyncio.to_thread((Path(folder) / str(os.getpid())).write_text, state)


async def page(request: Request) -> Response:
    return HTMLResponse(f"<!doctype html><title>web</title><h1>hello from {os.getpid()}</h1>")


async def who(request: Request) -> Response:
    return JSONResponse({"pid": os.getpid(), "lifespan": started_in == os.getpid()})


async def publish(request: Request) -> Response:
    body = await request.json()
    result = await app.publish(body["channel"], {"text": body["text"], "pid": os.getpid()})
    return JSONResponse({"offset": result.offset})


async def slow(request: Request) -> Response:
    await asyncio.to_thread(Path(request.query_params["mark"]).touch)
    await asyncio.sleep(float(request.query_params["seconds"]))
    return PlainTextResponse("done")


def user_of(request: Request) -> str | None:
    return request.headers.get("x-user")  # a test's stand-in for a session cookie


web = Starlette(
    routes=[
        Route("/", page),
        Route("/who", who),
        Route("/publish", publish, methods=["POST"]),
        Route("/slow", slow),
        *app.token_routes(user_of),
    ],
    lifespan=lifespan,
)
