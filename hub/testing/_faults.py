"""The user's app, wrapped for fault injection by :class:`hub.testing.HubServer`.

``HubServer`` serves ``hub.testing._faults:app``, which imports the app named by
``HUB_TESTING_APP`` and, before every call, reads the faults file named by
``HUB_TESTING_FAULTS`` (JSON: {"slow": {"rpc:chat.send": 2.0}}) to delay matching calls.
Every pooled worker reads the same file, so a fault applies to the whole pool at once.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from hub.app import App
from hub.centrifugo import Outcome, Request
from hub.loader import import_app

APP_VARIABLE = "HUB_TESTING_APP"
FAULTS_VARIABLE = "HUB_TESTING_FAULTS"


def key_of(request: Request) -> str:
    """``rpc:chat.send``, ``subscribe:chat:lobby``, ``connect``: what a fault is keyed on."""
    name = getattr(request, "method", "") or getattr(request, "channel", "")
    return f"{request.kind}:{name}" if name else request.kind


def _faults(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _delay(faults: dict[str, Any], request: Request) -> float:
    slow = faults.get("slow", {})
    key = key_of(request)
    return float(slow.get(key, slow.get(request.kind, 0.0)))


def wrap(real: App, faults: Path) -> App:
    """Make ``real`` consult ``faults`` before every call."""
    run = real.run

    async def run_with_faults(request: Request) -> Outcome:
        delay = _delay(_faults(faults), request)
        if delay:
            await asyncio.sleep(delay)
        return await run(request)

    real.run = run_with_faults  # type: ignore[method-assign]
    return real


_wrapped: list[App] = []


def __getattr__(name: str) -> App:
    """``app``, built on first use (only a served process has the variables)."""
    if name != "app":
        raise AttributeError(name)
    if not _wrapped:
        _wrapped.append(wrap(import_app(os.environ[APP_VARIABLE]), Path(os.environ[FAULTS_VARIABLE])))
    return _wrapped[0]
