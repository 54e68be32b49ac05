"""Hot-path histogram buckets: Prometheus' cumulative form, the runner's inline counting
(integer nanoseconds) agreeing with ``Buckets.observe``, and ``timed`` measuring a source."""

from __future__ import annotations

import time
from bisect import bisect_left

import pytest

from optrunner.core.buckets import MS_BUCKETS, NS_BOUNDS, Buckets, timed


def test_cumulative_counts_are_prometheus_le_buckets() -> None:
    b = Buckets((1, 10))
    for v in (0.5, 1, 2, 10, 11, 100):
        b.observe(v)
    assert b.cumulative() == [("1.0", 2.0), ("10.0", 4.0), ("+Inf", 6.0)]  # le: "less than or equal"
    assert b.count == 6 and b.sum == pytest.approx(124.5)
    with pytest.raises(ValueError):
        Buckets((10, 1))
    with pytest.raises(ValueError):
        Buckets.from_counts((1, 10), [1, 2], 3.0)


@pytest.mark.parametrize("ns", [400, 100_000, 100_001, 5_000_000, 5_000_000_000, 5_000_000_001, 40_000_000_000])
def test_the_runners_inline_count_matches_observe(ns: int) -> None:
    b = Buckets(MS_BUCKETS)
    b.observe(ns / 1e6)  # perf_counter_ns durations are whole nanoseconds
    inline = 0 if ns <= NS_BOUNDS[0] else bisect_left(NS_BOUNDS, ns)  # runner._deliver
    assert b.counts.index(1) == inline


def test_timed_observes_each_items_wait() -> None:
    def slow():
        for i in range(3):
            time.sleep(0.02)
            yield i

    b = Buckets(MS_BUCKETS)
    assert list(timed(slow(), b)) == [0, 1, 2]
    assert b.count == 3 and 55 <= b.sum <= 500  # three waits of ~20 ms
