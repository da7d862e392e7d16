"""The reconnect storm's figures over two load generators (one per Centrifugo node) combine
as if one generator had watched every client."""

from __future__ import annotations

from typing import Any

from bench.bench_reconnect import combined


def output(first_drop: float, back: list[float], *, not_back: int = 0, **more: Any) -> dict[str, Any]:
    """What ``load reconnect`` prints (bench/go/load), for ``len(back) + not_back`` clients."""
    return {
        "clients": len(back) + not_back, "first_connect_s": 1.0, "fewest_connected": 0,
        "reconnected": len(back), "not_reconnected": not_back, "errors": 0,
        "all_back_s": back[-1] if back and not not_back else 0.0,
        "first_drop_unix": first_drop, "back_s": back, "error_kinds": None, "cpu": 0.5, **more,
    }  # fmt: skip


def test_times_run_from_the_earliest_drop_to_the_latest_return_over_both_generators() -> None:
    first = output(1000.0, [0.1, 0.2, 3.0], errors=4, error_kinds={"connection refused": 4})
    second = output(1000.5, [0.1, 4.0], errors=2, error_kinds={"connection refused": 1, "timeout": 1})

    figures = combined([first, second])

    # The second generator's clients lost their connection 0.5 s after the first's.
    assert figures["all_back_s"] == 4.5
    assert figures["first_drop_unix"] == 1000.0
    assert (figures["p50_s"], figures["p99_s"]) == (0.6, 3.0)  # of 0.1, 0.2, 0.6, 3.0, 4.5
    assert (figures["clients"], figures["reconnected"], figures["not_reconnected"]) == (5, 5, 0)
    assert figures["errors"] == 6
    assert figures["error_kinds"] == {"connection refused": 5, "timeout": 1}
    assert figures["cpu"] == 1.0


def test_not_all_back_when_one_generator_still_misses_a_client() -> None:
    figures = combined([output(1000.0, [0.1, 0.2]), output(1000.0, [0.3], not_back=1)])

    assert figures["all_back_s"] == 0.0
    assert (figures["clients"], figures["reconnected"], figures["not_reconnected"]) == (4, 3, 1)
