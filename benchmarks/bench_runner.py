"""StrategyRunner.dispatch throughput and latency with 1, 10 and 100 strategies.

Every strategy has a no-op ``on_tick``. "1 interested" registers N strategies of which only
one subscribes to the event's instrument (the others to other instruments): the routing cost
must stay flat in N. "all interested" subscribes every strategy, so the cost grows with N by
construction (N handler calls per event). Target: >= 500,000 events/s with one strategy.

Run: .venv/bin/python benchmarks/bench_runner.py [--events 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from datetime import datetime

from optrunner.core.events import TickEvent
from optrunner.core.timeutil import IST
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Subscriptions

INSTRUMENT = "NIFTY:20260113:25000:CE"
TS = datetime(2026, 1, 13, 9, 15, tzinfo=IST)


class NoOp(BaseStrategy):
    def __init__(self, name: str, instrument: str) -> None:
        super().__init__(name)
        self.instrument = instrument

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(ticks={self.instrument})

    def on_tick(self, tick: TickEvent):
        return NO_INTENTS


def build(n: int, interested: int) -> StrategyRunner:
    runner = StrategyRunner()
    for i in range(n):
        instrument = INSTRUMENT if i < interested else f"NIFTY:20260113:{26000 + 50 * i}:CE"
        runner.register(f"S{i}", NoOp(f"S{i}", instrument))
    return runner


def one_pass(runner: StrategyRunner, events: list[TickEvent]) -> float:
    """Events/s of dispatching ``events`` back to back."""
    dispatch = runner.dispatch
    gc.collect()
    t0 = time.perf_counter()
    for e in events:
        dispatch(e)
    return len(events) / (time.perf_counter() - t0)


def latency(runner: StrategyRunner, events: list[TickEvent]) -> tuple[float, float]:
    """p50 and p99 of one dispatch, in microseconds (includes ~0.1 us of timer overhead)."""
    dispatch, clock = runner.dispatch, time.perf_counter_ns
    samples = []
    gc.collect()
    for e in events:
        t0 = clock()
        dispatch(e)
        samples.append(clock() - t0)
    samples.sort()
    return samples[len(samples) // 2] / 1e3, samples[int(len(samples) * 0.99)] / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    events = [TickEvent(TS, INSTRUMENT, 100.0 + (i % 7)) for i in range(args.events)]
    cases = [(1, 1), (10, 1), (100, 1), (10, 10), (100, 100)]
    runners = [build(n, interested) for n, interested in cases]
    rates: list[list[float]] = [[] for _ in cases]
    for _ in range(args.repeats):  # cases interleaved, so machine noise hits them alike
        for i, runner in enumerate(runners):
            rates[i].append(one_pass(runner, events))
    print(f"dispatch of {args.events:,} ticks, median of {args.repeats} interleaved repeats\n")
    print(
        f"{'strategies':>10} {'interested':>10} {'events/s':>12} {'vs 1':>6} {'p50 us':>8} {'p99 us':>8}"
    )
    base = statistics.median(rates[0])
    for (n, interested), runner, case_rates in zip(cases, runners, rates, strict=True):
        rate = statistics.median(case_rates)
        p50, p99 = latency(runner, events)
        print(
            f"{n:>10} {interested:>10} {rate:>12,.0f} {rate / base:>6.2f} {p50:>8.2f} {p99:>8.2f}"
        )
    print(
        "\ntarget: >= 500,000 events/s with 1 strategy; '1 interested' rows flat in the number of strategies"
    )


if __name__ == "__main__":
    main()
