"""Importing the application named by hub.yaml's ``app:`` (``module:attribute``).

Every command imports it the same way: from ``app_dir`` (hub.yaml's folder unless
the file or ``--app-dir`` says otherwise), then from the current directory.

Kept apart from the service so a pooled worker imports the app without the
supervisor, the control server or the Centrifugo runner::

    app = import_app("demo.app:app", settings.app_dir)
    web = import_web_app("demo.web:web", settings.app_dir)   # hub.yaml's `web.app:`
"""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from typing import Any

from .app import App
from .errors import AppImportError


def import_app(spec: str, app_dir: str | None = None) -> App:
    """The :class:`App` named ``module:attribute``, imported from ``app_dir`` first."""
    app = _import("app", spec, app_dir)
    if not isinstance(app, App):
        raise AppImportError(f"app: {spec!r} is {type(app).__name__}, expected a hub.App")
    return app


def import_web_app(spec: str, app_dir: str | None = None) -> Any:
    """The ASGI app (Starlette, FastAPI, Django's ``get_asgi_application()`` ...) that hub.yaml's
    ``web.app`` names, imported from ``app_dir`` first like the hub's own app."""
    web = _import("web.app", spec, app_dir)
    # A Starlette, FastAPI or Django app is an object whose class has an `async def __call__`.
    if not (inspect.iscoroutinefunction(web) or inspect.iscoroutinefunction(type(web).__call__)):
        raise AppImportError(
            f"web.app: {spec!r} is {type(web).__name__}, expected an ASGI app "
            "(an async callable taking scope, receive and send, such as a Starlette or FastAPI app)"
        )
    return web


def _import(key: str, spec: str, app_dir: str | None) -> Any:
    if app_dir and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppImportError(
            f"{key}: cannot import {module_name!r}: {type(exc).__name__}: {exc}{_where(exc)}"
        ) from exc
    if not hasattr(module, attribute):
        raise AppImportError(f"{key}: {module_name} has no attribute {attribute!r}")
    return getattr(module, attribute)


def _where(exc: BaseException) -> str:
    """`` (at app.py:12)``: where the import failed, the innermost frame (a syntax error's own spot)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "importlib" not in f.filename and f.filename != __file__]
    return f" (at {ours[-1].filename}:{ours[-1].lineno})" if ours else ""
