"""The states of a pooled worker and the only transitions allowed between them.

    starting ──► ready ◄──► working
       │          │            │
       │          ├──► recycling ◄──┘      (soft limit: finish current calls, then go)
       │          │        │
       │          └──► stopping ◄── (shutdown, reset; from any live state)
       ▼                   ▼
      dead ◄───────────────┘               (exit, crash, kill: from any state)

``dead`` is final. A busy worker is never stopped for a soft limit: it goes to
``recycling``, stops taking calls and leaves when its calls are done; only an
exec timeout kills a worker mid-call.
"""

from __future__ import annotations

import enum

from ..errors import PoolError


class WorkerState(enum.Enum):
    """Where a worker is in its life."""

    STARTING = "starting"
    READY = "ready"
    WORKING = "working"
    RECYCLING = "recycling"
    STOPPING = "stopping"
    DEAD = "dead"

    @property
    def serving(self) -> bool:
        """True while the worker takes new calls."""
        return self in (WorkerState.READY, WorkerState.WORKING)


S = WorkerState
TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = {
    S.STARTING: frozenset({S.READY, S.STOPPING, S.DEAD}),
    S.READY: frozenset({S.WORKING, S.RECYCLING, S.STOPPING, S.DEAD}),
    S.WORKING: frozenset({S.READY, S.RECYCLING, S.STOPPING, S.DEAD}),
    S.RECYCLING: frozenset({S.STOPPING, S.DEAD}),
    S.STOPPING: frozenset({S.DEAD}),
    S.DEAD: frozenset(),
}


def check_transition(current: WorkerState, new: WorkerState) -> WorkerState:
    """``new`` if the move from ``current`` is allowed; :class:`PoolError` otherwise.

    >>> check_transition(WorkerState.READY, WorkerState.WORKING)
    <WorkerState.WORKING: 'working'>
    """
    if new not in TRANSITIONS[current]:
        raise PoolError(f"worker cannot go from {current.value} to {new.value}")
    return new
