"""Importing the application named by hub.yaml's ``app:`` (``module:attribute``).

Kept apart from the service so a pooled worker imports the app without the
supervisor, the control server or the Centrifugo runner::

    app = import_app("demo.app:app")
"""

from __future__ import annotations

import importlib

from .app import App
from .errors import AppImportError


def import_app(spec: str) -> App:
    """The :class:`App` named ``module:attribute``."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppImportError(f"app: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attribute):
        raise AppImportError(f"app: {module_name} has no attribute {attribute!r}")
    app = getattr(module, attribute)
    if not isinstance(app, App):
        raise AppImportError(f"app: {spec!r} is {type(app).__name__}, expected a hub.App")
    return app
