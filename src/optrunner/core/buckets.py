"""Cumulative histogram buckets cheap enough for the hot path.

A strategy's evaluation time, the allocator's quantities and the option-chain fetch
latency are observed where they happen (one ``bisect`` and two additions, no lock, no
allocation); Prometheus and the in-process alert rules read the counts later, from another
thread. One thread writes each instance; a reader may see a count one observation behind,
never a torn value (ints and floats are replaced whole under the GIL).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Milliseconds, for durations: up to and past seed 001's 5 s evaluation alert.
MS_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
#: ``MS_BUCKETS`` in integer nanoseconds, for counting on the hot path without a division.
NS_BOUNDS: tuple[int, ...] = tuple(round(b * 1_000_000) for b in MS_BUCKETS)
#: Units (contracts), for the allocator's quantities: NIFTY/BANKNIFTY/SENSEX lots up to a few hundred lots.
QTY_BUCKETS: tuple[float, ...] = (0, 15, 20, 30, 65, 75, 130, 150, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)


class Buckets:
    """Counts of observations per upper bound ``le`` (the last bucket is +Inf), and their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = MS_BUCKETS) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError("bucket bounds must be strictly increasing")
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    @classmethod
    def from_counts(cls, bounds: Sequence[float], counts: Sequence[int], total: float) -> Buckets:
        """A copy of counts kept elsewhere (one per bucket, the last for +Inf) and their sum."""
        b = cls(bounds)
        if len(counts) != len(b.counts):
            raise ValueError(f"{len(counts)} counts for {len(b.counts)} buckets")
        b.counts, b.sum = list(counts), float(total)
        return b

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """``[(le, count of observations <= le), ..., ("+Inf", total)]`` as Prometheus exposes them."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), list(self.counts), strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


def quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float:
    """The ``q`` quantile of per-bucket ``counts`` (not cumulative; one more than ``bounds``),
    interpolated inside its bucket the way PromQL's ``histogram_quantile`` does, so the
    in-process rule and the Prometheus rule agree. NaN without observations; a quantile in the
    +Inf bucket is the largest finite bound."""
    total = sum(counts)
    if total == 0:
        return float("nan")
    rank = q * total
    running = 0.0
    for i, n in enumerate(counts):
        if n and running + n >= rank:
            if i == len(bounds):  # +Inf bucket
                return float(bounds[-1])
            lower = 0.0 if i == 0 else float(bounds[i - 1])
            upper = float(bounds[i])
            if i == 0 and upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - running) / n
        running += n
    return float(bounds[-1])


def timed(items: Iterable[T], buckets: Buckets) -> Iterator[T]:
    """``items``, observing in ``buckets`` how many milliseconds each one took to arrive
    (for a market source: the option-chain fetch latency)."""
    it = iter(items)
    clock = time.perf_counter
    while True:
        t0 = clock()
        try:
            item = next(it)
        except StopIteration:
            return
        buckets.observe((clock() - t0) * 1000.0)
        yield item
