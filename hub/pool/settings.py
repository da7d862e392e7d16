"""hub.yaml ``pool:``: the worker pool's limits, each with a default.

    pool:
      workers: 2            # default: one per core, less one when Centrifugo runs beside;
                            # 0 runs handlers inline, in the service's own process
      max_calls: 10000      # recycle a worker after about this many calls (± jitter)
      exec_timeout: 4.0     # a call running longer fails; its worker is replaced

Durations are float seconds; 0 turns ``ttl``, ``idle_ttl``, ``max_calls`` and
``max_memory`` off.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

Count = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(gt=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
OptionalSeconds = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


def cores() -> int:
    """The cores this process may run on (its affinity: ``taskset`` and cpusets count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PoolSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The worker pool (hub.yaml ``pool:``)."""

    #: Worker processes; ``None``: one per core (see :meth:`beside_centrifugo`); 0: inline mode.
    workers: Count | None = None
    #: Calls a worker serves before it is recycled (0, the default: never, as RoadRunner's max_jobs).
    max_calls: Count = 0
    #: Spread of ``max_calls`` (0.1 = ±10 %) so workers do not all restart together.
    max_calls_jitter: Fraction = 0.1
    #: Calls allowed to wait for a free slot in one worker; beyond it a call fails at once.
    max_queue: Count = 256
    #: How long a call may wait for a free slot in its worker.
    allocate_timeout: Seconds = 2.0
    #: A call running longer fails and its worker is replaced; default: proxy.call_timeout - 0.5.
    exec_timeout: Seconds | None = None
    #: A worker idle this long is replaced (frees what it holds; 0: never).
    idle_ttl: OptionalSeconds = 0.0
    #: A worker older than this is recycled when it is free (0: never).
    ttl: OptionalSeconds = 0.0
    #: Resident memory (MiB) over which a worker is recycled after its current calls (0: no limit).
    max_memory: Count = 512
    #: How long stopping waits for in-flight calls before killing a worker.
    destroy_timeout: Seconds = 5.0
    #: How long a new worker may take to import the app and listen.
    start_timeout: Seconds = 30.0
    #: Calls one worker runs at once (async handlers share its event loop).
    concurrency: Positive = 64
    #: Life of a gRPC connection before a graceful GOAWAY makes the client (Centrifugo)
    #: reconnect, maybe to another worker; what lets a worker stop without cancelling a
    #: gRPC call (0: never, then a reset can fail the few calls that cross the GOAWAY).
    grpc_connection_ttl: OptionalSeconds = 1.0
    #: Life of an HTTP keep-alive connection: the answer after it carries
    #: ``Connection: close``, so Centrifugo reconnects and the kernel may give the new
    #: connection to another worker; what spreads the load again after a worker is
    #: replaced (0: never; connections then stay on the workers that accepted them).
    http_connection_ttl: OptionalSeconds = 2.0

    @property
    def size(self) -> int:
        """The number of workers (0: inline mode)."""
        return cores() if self.workers is None else self.workers

    def beside_centrifugo(self) -> PoolSettings:
        """These limits for a pool that shares its machine with Centrifugo (``--centrifugo``).

        Without ``workers`` set, the pool leaves one core to Centrifugo: one worker per core
        less one, at least one. Measured on 2 cores (docs/benchmarks.md, sections 1 and 2),
        one worker beside Centrifugo served more calls and connects than two, with a shorter
        tail, because a second worker only competes with Centrifugo and itself for the cores;
        a second worker pays when the handlers spend CPU of their own (the same section).
        """
        if self.workers is not None:
            return self
        return msgspec.structs.replace(self, workers=max(cores() - 1, 1))

    def exec_limit(self, call_timeout: float) -> float:
        """The exec timeout in effect: explicit, or just under Centrifugo's call timeout."""
        return self.exec_timeout if self.exec_timeout is not None else max(call_timeout - 0.5, 0.1)

    def problem(self, call_timeout: float) -> str | None:
        """A message naming the key when the pool's limits contradict each other."""
        if self.exec_timeout is not None and self.exec_timeout > call_timeout:
            return (
                f"pool.exec_timeout: expected at most proxy.call_timeout ({call_timeout}s), "
                f"got {self.exec_timeout}s (Centrifugo would give up on the call first)"
            )
        return None
