"""Per-call metrics of the proxy service: counters and a latency histogram per kind.

Recording a call is a few dict and list updates (about 0.2 µs), nothing shared
between processes: a pooled worker sends its cumulative stats to the supervisor
with every heartbeat, and the supervisor's ops listener serves the sum over the
pool (:mod:`hub.ops`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

#: Upper bounds (seconds) of the latency histogram's buckets.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OUTCOMES = ("ok", "refused", "failed")


@dataclass(slots=True)
class KindStats:
    """Counters and a latency histogram of one proxy kind."""

    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    seconds: float = 0.0


@dataclass(slots=True)
class CallStats:
    """What the proxy has answered since it started."""

    kinds: dict[str, KindStats] = field(default_factory=dict)
    #: Calls refused for a missing or wrong shared secret.
    refused: int = 0
    #: Calls that could not be decoded.
    malformed: int = 0

    def record(self, kind: str, outcome: str, seconds: float) -> None:
        """Count one finished call."""
        stats = self.kinds.get(kind)
        if stats is None:
            stats = self.kinds[kind] = KindStats()
        stats.outcomes[outcome] += 1
        stats.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        stats.seconds += seconds

    def merged(self, other: CallStats) -> CallStats:
        """A new CallStats holding the sum of both (the pool's view of its workers)."""
        total = CallStats(refused=self.refused + other.refused, malformed=self.malformed + other.malformed)
        for source in (self, other):
            for kind, stats in source.kinds.items():
                into = total.kinds.setdefault(kind, KindStats())
                for outcome, n in stats.outcomes.items():
                    into.outcomes[outcome] = into.outcomes.get(outcome, 0) + n
                into.buckets = [a + b for a, b in zip(into.buckets, stats.buckets, strict=True)]
                into.seconds += stats.seconds
        return total
