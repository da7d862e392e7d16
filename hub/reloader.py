"""``hub serve --reload``: replace the pooled workers when the app's files change.

Watches the app's ``.py`` files with watchfiles, as uvicorn does (the app's
top-level package when it is one, else ``app_dir``), and runs the pool's rolling
reset: a new worker starts and listens before an old one drains, so no call fails. An edit that cannot be
imported stops the reset at its first new worker, which logs the error with file
and line; the old workers keep serving.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from pathlib import Path

import watchfiles

from .errors import PoolError
from .pool import Pool
from .settings import Settings

log = logging.getLogger(__name__)


async def watch_and_reset(settings: Settings, pool: Pool | None, stop: asyncio.Event) -> None:
    """Until ``stop`` is set: on every change of a ``.py`` file under ``app_dir``, reset the pool."""
    if pool is None:
        log.warning("--reload needs pooled workers (pool.workers > 0); not watching")
        return
    roots = watched(settings)
    log.info("reload: watching %s", ", ".join(map(str, roots)))
    async for changes in watchfiles.awatch(*roots, watch_filter=watchfiles.PythonFilter(), stop_event=stop):
        names = ", ".join(sorted({Path(path).name for _, path in changes}))
        log.info("reload: %s changed; replacing the workers", names)
        try:
            done = await pool.reset()
        except PoolError as exc:
            # The new worker logged why (the import error, with file and line) before it left.
            log.error("reload: the edited code did not start (%s); the old workers keep serving", exc)
        else:
            log.info("reload: %d workers replaced", done.replaced)


def watched(settings: Settings) -> list[Path]:
    """The folders to watch: the app's top-level package (``demo`` for ``demo.app:app``) if it
    is one, else ``app_dir`` (a single-module app); never a whole repository with its .venv.
    The web app's (hub.yaml ``web.app``) too, when it lives in another package."""
    roots: list[Path] = []
    for spec in (settings.app, settings.web.app):
        top = spec.partition(":")[0].partition(".")[0]
        if not top:
            continue
        module = sys.modules.get(top)
        found = importlib.util.find_spec(top) if module is None else None
        paths = getattr(module, "__path__", None) or (found and found.submodule_search_locations)
        for path in [Path(p) for p in paths or []] or [Path(settings.app_dir)]:
            if not any(path == root or root in path.parents for root in roots):
                roots.append(path)
    return roots
