"""Per-call metrics of the proxy service, exposed in Prometheus' text format."""

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

    def prometheus(self) -> str:
        """The counters in Prometheus' text exposition format."""
        lines = [
            "# TYPE hub_proxy_calls_total counter",
            *(
                f'hub_proxy_calls_total{{kind="{k}",outcome="{o}"}} {n}'
                for k, s in sorted(self.kinds.items())
                for o, n in s.outcomes.items()
            ),
            "# TYPE hub_proxy_unauthenticated_total counter",
            f"hub_proxy_unauthenticated_total {self.refused}",
            "# TYPE hub_proxy_malformed_total counter",
            f"hub_proxy_malformed_total {self.malformed}",
            "# TYPE hub_proxy_call_seconds histogram",
        ]
        for kind, s in sorted(self.kinds.items()):
            running = 0
            for bound, count in zip((*BUCKETS, "+Inf"), s.buckets, strict=True):
                running += count
                lines.append(f'hub_proxy_call_seconds_bucket{{kind="{kind}",le="{bound}"}} {running}')
            lines.append(f'hub_proxy_call_seconds_sum{{kind="{kind}"}} {s.seconds:.6f}')
            lines.append(f'hub_proxy_call_seconds_count{{kind="{kind}"}} {running}')
        return "\n".join(lines) + "\n"
