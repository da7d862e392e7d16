"""Application metrics: counters, gauges and histograms declared in code, summed over the pool.

    messages = app.metrics.counter("chat_messages", "Messages sent, by room.", ["room"])

    @app.rpc("chat.send")
    async def send(request):
        messages.labels("lobby").inc()

Each process (a pooled worker, or the inline service) keeps its own values in memory;
a worker sends them to the supervisor with its heartbeats, and the ops listener's
``/metrics`` serves their sum over every worker, the workers that left included
(gauges too are summed: a gauge is what this worker adds to the whole). Updating
one is a dict lookup and an addition: nothing is shared between processes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:  # prometheus-client loads only in the process that serves /metrics
    from prometheus_client.core import Metric as Exposed

Kind = Literal["counter", "gauge", "histogram"]
#: Default upper bounds (seconds) of a histogram's buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class Series(msgspec.Struct, frozen=True, array_like=True):
    """One label set's value: a number, or a histogram's bucket counts and sum."""

    labels: tuple[str, ...]
    value: float = 0.0
    buckets: tuple[int, ...] = ()


class Family(msgspec.Struct, frozen=True, kw_only=True):
    """A metric's values at one moment, as a heartbeat carries them."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    bounds: tuple[float, ...] = ()
    series: list[Series] = []


class Child:
    """One label set of a metric: what application code updates."""

    __slots__ = ("_counts", "_metric", "_values")

    def __init__(self, metric: Metric, values: tuple[str, ...]) -> None:
        self._metric = metric
        self._values = values
        self._counts: list[int] = []
        if metric.kind == "histogram":
            self._counts = metric.counts[values] = [0] * (len(metric.bounds) + 1)
            metric.values.setdefault(values, 0.0)

    def inc(self, amount: float = 1.0) -> None:
        """Add to a counter or a gauge (a counter only goes up)."""
        if self._metric.kind == "counter" and amount < 0:
            raise ValueError(f"{self._metric.name}: a counter only goes up")
        self._metric.values[self._values] = self._metric.values.get(self._values, 0.0) + amount

    def dec(self, amount: float = 1.0) -> None:
        """Subtract from a gauge."""
        self._gauge_only("dec")
        self._metric.values[self._values] = self._metric.values.get(self._values, 0.0) - amount

    def set(self, value: float) -> None:
        """Set a gauge."""
        self._gauge_only("set")
        self._metric.values[self._values] = value

    def observe(self, value: float) -> None:
        """Count one observation in a histogram."""
        if self._metric.kind != "histogram":
            raise TypeError(f"{self._metric.name}: observe() is for histograms")
        self._counts[bisect.bisect_left(self._metric.bounds, value)] += 1
        self._metric.values[self._values] += value

    def _gauge_only(self, what: str) -> None:
        if self._metric.kind != "gauge":
            raise TypeError(f"{self._metric.name}: {what}() is for gauges")


class Metric:
    """A declared metric; :meth:`labels` gives the child to update."""

    def __init__(
        self, name: str, kind: Kind, help: str, labels: Sequence[str], bounds: Sequence[float]
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r}: expected letters, digits, '_' or ':'")
        self.name, self.kind, self.help = name, kind, help
        self.label_names = tuple(labels)
        self.bounds = tuple(sorted(bounds)) if kind == "histogram" else ()
        #: Label values -> value (a histogram: the sum of its observations).
        self.values: dict[tuple[str, ...], float] = {}
        #: Label values -> bucket counts (histograms only).
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self._children: dict[tuple[str, ...], Child] = {}

    def labels(self, *values: str) -> Child:
        """The child for these label values (as many as the metric has labels)."""
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name}: expected labels {self.label_names}, got {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = Child(self, values)
        return child

    def inc(self, amount: float = 1.0) -> None:
        """A metric without labels: :meth:`Child.inc`."""
        self.labels().inc(amount)

    def set(self, value: float) -> None:
        self.labels().set(value)

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def family(self) -> Family:
        series = [
            Series(labels=v, value=total, buckets=tuple(self.counts.get(v, ())))
            for v, total in self.values.items()
        ]
        return Family(name=self.name, kind=self.kind, help=self.help, labels=self.label_names,
                      bounds=self.bounds, series=series)  # fmt: skip


class Registry:
    """The metrics one application declares (``app.metrics``)."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Metric:
        """A counter (only goes up); exposed as ``<name>_total``."""
        return self._declare(name, "counter", help, labels, ())

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Metric:
        """A gauge (goes up and down); summed over the pool's workers."""
        return self._declare(name, "gauge", help, labels, ())

    def histogram(
        self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = BUCKETS
    ) -> Metric:
        """A histogram of observations (durations in seconds, sizes ...)."""
        return self._declare(name, "histogram", help, labels, buckets)

    def _declare(
        self, name: str, kind: Kind, help: str, labels: Sequence[str], bounds: Sequence[float]
    ) -> Metric:
        existing = self._metrics.get(name)
        if existing is not None:
            if existing.kind != kind or existing.label_names != tuple(labels):
                raise ValueError(
                    f"metric {name!r} is already declared as a {existing.kind} {existing.label_names}"
                )
            return existing
        metric = self._metrics[name] = Metric(name, kind, help, labels, bounds)
        return metric

    def snapshot(self) -> list[Family]:
        """Every metric's values now (what a heartbeat carries)."""
        return [m.family() for m in self._metrics.values()]


def merge(*snapshots: Sequence[Family]) -> list[Family]:
    """The sum of several processes' snapshots, family by family and label set by label set."""
    merged: dict[str, Family] = {}
    totals: dict[str, dict[tuple[str, ...], tuple[float, list[int]]]] = {}
    for snapshot in snapshots:
        for family in snapshot:
            merged.setdefault(family.name, family)
            into = totals.setdefault(family.name, {})
            for s in family.series:
                value, counts = into.get(s.labels, (0.0, [0] * len(s.buckets)))
                into[s.labels] = (
                    value + s.value,
                    [a + b for a, b in zip(counts, s.buckets, strict=False)] or list(s.buckets),
                )
    return [
        msgspec.structs.replace(
            f, series=[Series(labels=k, value=v, buckets=tuple(c)) for k, (v, c) in totals[n].items()]
        )
        for n, f in merged.items()
    ]


def prometheus(families: Sequence[Family]) -> Iterator[Exposed]:
    """The families as prometheus-client metric families (for the ops listener)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    for f in families:
        labels = list(f.labels)
        if f.kind == "histogram":
            histogram = HistogramMetricFamily(f.name, f.help, labels=labels)
            for s in f.series:
                running, cumulative = 0, []
                for bound, count in zip((*map(str, f.bounds), "+Inf"), s.buckets, strict=True):
                    running += count
                    cumulative.append((bound, running))
                histogram.add_metric(list(s.labels), cumulative, sum_value=s.value)
            yield histogram
            continue
        family = (CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily)(
            f.name, f.help, labels=labels
        )
        for s in f.series:
            family.add_metric(list(s.labels), s.value)
        yield family
