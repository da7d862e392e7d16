"""Application metrics: declared once, updated in a process, summed over processes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from hub.metrics import Registry, merge, prometheus


def exposed(families: list) -> str:  # type: ignore[type-arg]
    class Fixed(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            return prometheus(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_counters_gauges_and_histograms_sum_over_processes() -> None:
    one, two = Registry(), Registry()
    for r, n in ((one, 2), (two, 3)):
        hits = r.counter("hits", "Hits by room.", ["room"])
        for _ in range(n):
            hits.labels("lobby").inc()
        r.gauge("open", "Open things.").set(n)
        r.histogram("took", "Seconds.", buckets=(0.1, 1.0)).observe(0.05 * n)
    text = exposed(merge(one.snapshot(), two.snapshot()))
    assert 'hits_total{room="lobby"} 5.0' in text
    assert "open 5.0" in text
    assert 'took_bucket{le="0.1"} 1.0' in text  # 0.1 from one; 0.15 from two is above it
    assert 'took_bucket{le="+Inf"} 2.0' in text
    assert "took_sum 0.25" in text
    assert "# HELP hits_total Hits by room." in text


def test_mistakes_are_loud() -> None:
    r = Registry()
    hits = r.counter("hits", "Hits.", ["room"])
    assert r.counter("hits", "Hits.", ["room"]) is hits  # declaring again (a reloaded module) is fine
    with pytest.raises(ValueError, match="already declared as a counter"):
        r.gauge("hits", "Hits.", ["room"])
    with pytest.raises(ValueError, match="expected labels"):
        hits.labels("a", "b")
    with pytest.raises(ValueError, match="only goes up"):
        hits.labels("a").inc(-1)
    with pytest.raises(TypeError, match="for gauges"):
        hits.labels("a").set(3)
    with pytest.raises(ValueError, match="metric name"):
        r.counter("bad name", "x")
