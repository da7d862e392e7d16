"""The worker pool: a supervisor and the worker processes that run the app's handlers.

    async with Pool(settings, "hub.yaml") as pool:   # binds the HTTP socket, starts workers
        await pool.reset()                            # replace workers one by one

One module per concept: :mod:`.supervisor` (the pool), :mod:`.process` (the
supervisor's handle on one worker process), :mod:`.worker` (a worker's main),
:mod:`.executors` (what runs a call), :mod:`.limits` (when a worker must go),
:mod:`.states`, :mod:`.messages` (the typed wire between them), :mod:`.control`
(the control socket of ``hub workers``), :mod:`.settings` (hub.yaml ``pool:``).

Exports load lazily (PEP 562): a worker, or ``hub workers``, imports only what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .control import Controllable, ControlServer, Inline, control_path
    from .executors import InlineExecutor, SlotExecutor
    from .settings import PoolSettings
    from .states import WorkerState
    from .supervisor import Pool

_EXPORTS = {
    "ControlServer": ".control",
    "Controllable": ".control",
    "Inline": ".control",
    "InlineExecutor": ".executors",
    "Pool": ".supervisor",
    "PoolSettings": ".settings",
    "SlotExecutor": ".executors",
    "WorkerState": ".states",
    "control_path": ".control",
}

__all__ = [
    "ControlServer",
    "Controllable",
    "Inline",
    "InlineExecutor",
    "Pool",
    "PoolSettings",
    "SlotExecutor",
    "WorkerState",
    "control_path",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
