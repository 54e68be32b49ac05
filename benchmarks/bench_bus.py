"""The bus: market.ticks -> a strategies service -> {broker}.signals.raw, on loopback Redis.

Drives the strategies service's own input loop (``StrategyRunnerService._market``: XREAD of
500 entries at a time, msgspec decode, ``Kernel.on_market_event`` -> the runner's dict
routing -> the strategy -> the kernel's pre-trade checks -> order manager -> StreamBroker
XADD to signals.raw) with the kernel of a paper session (no store: journal writes are
measured by bench_journal.py). Reports medians over ``--repeats``:

1. message sizes and encode/decode cost (msgspec MessagePack vs the JSON feed codec);
2. throughput: ticks/s of one service process over pre-published ticks (target >= 50,000),
   one interested strategy signalling on every 1,000th of its ticks;
3. routing flatness: the same with 1, 10, 100 and 1,000 strategies subscribed to other
   instruments (seed 004's O(1) claim: the ratio 1,000 vs 1 should be ~1);
4. latency: ticks published by another process at 5,000/s (the ticks due each millisecond
   in one pipeline, as ``optrunner service feed`` publishes a frame's; that load generator at
   nice 10), every 10th tick of the interested instrument (half the ticks) signalling, the
   risk service and a gateway (simulated exchange) answering in a third process; tick XADD
   -> signal XADD done (wall clock, same machine), p50/p99 (target p99 <= 5 ms).

Run: .venv/bin/python benchmarks/bench_bus.py [--ticks 200000] [--repeats 3] [--redis URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import threading
import time
import timeit
import types
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from optrunner.bus import messages as m
from optrunner.bus import topics
from optrunner.bus.broker import StreamBroker
from optrunner.bus.gateway import Gateway
from optrunner.bus.risk_gate import RiskGate
from optrunner.bus.strategies import BusConfig, StrategiesSettings, StrategyRunnerService
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.clock import SimClock
from optrunner.core.events import TickEvent
from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderType, Side, Tag
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot
from optrunner.execution.brokers.simulated import SimulatedExchange
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.market.adapters.feed_codec import encode_chain, encode_tick
from optrunner.risk import RiskEngine, RiskSettings
from optrunner.risk.settings import EntryGuardSettings
from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Subscriptions

DAY = date(2026, 1, 12)
TS = datetime(2026, 1, 12, 10, 0, tzinfo=IST)
EXPIRY = np.datetime64("2026-01-13")
HOT = "NIFTY:20260113:25000:CE"


def chain(n_strikes: int = 200) -> ChainSnapshot:
    strikes = np.repeat(25000 + 50.0 * (np.arange(n_strikes) - n_strikes // 2), 2)
    n = len(strikes)
    rng = np.random.default_rng(1)
    cols = {c: rng.uniform(50, 99, n) for c in FLOAT_COLUMNS}  # asks under the signals' limit of 100: they fill
    cols["bid"], cols["ask"], cols["ltp"] = cols["ltp"] - 0.5, cols["ltp"] + 0.5, cols["ltp"]
    cols["bid_qty"] = cols["ask_qty"] = np.full(n, 1e9)  # deep books: every signal fills at once, none rests
    return ChainSnapshot.from_columns("NIFTY", TS, 25010.0, {
        "strike": strikes, "is_call": np.tile([True, False], n // 2), "expiry": EXPIRY, **cols})  # fmt: skip


class Signaller(BaseStrategy):
    """Buys one lot of its instrument on every ``every``-th tick of it (the leg names the tick)."""

    def __init__(self, name: str, instrument: str, every: int) -> None:
        super().__init__(name)
        self.instrument, self.every, self.n = instrument, every, 0
        self.contract = OptionContract.from_id(instrument)

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(ticks={self.instrument})

    def on_tick(self, tick: TickEvent):
        self.n += 1
        if self.n % self.every:
            return NO_INTENTS
        return [OrderIntent(self.name, Tag.EXIT if self.n % 2 else Tag.ENTRY, self.contract, Side.BUY, 65,
                            OrderType.LIMIT, 100.0, leg=f"{tick.volume:.0f}")]  # fmt: skip


def pyramiding() -> RiskEngine:
    """Risk settings under which the benchmark's repeated buys stay allowed (the checks still run)."""
    guard = EntryGuardSettings(max_same_side=1_000_000, pyramid_requires_profit=False, pyramid_min_age_seconds=0)
    return RiskEngine(RiskSettings(entry_guard=guard))


def service(bus: StreamBus, n_strategies: int, every: int) -> tuple[StrategyRunnerService, StreamBroker]:
    """A strategies service whose node is a bare paper kernel with ``n_strategies`` strategies."""
    config = BusConfig(namespace=bus.topics.namespace, settle=False, ticks=True)
    svc = StrategyRunnerService(config, StrategiesSettings([], Path("."), DAY.isoformat()), bus.client, "sqlite://")
    clock = SimClock()
    broker = StreamBroker(bus, clock, settle=False)
    kernel = Kernel(broker, clock, capital=1e12, risk=pyramiding())
    kernel.add_strategy(Signaller("HOT", HOT, every))
    for i in range(n_strategies - 1):  # not interested in HOT: subscribed to other contracts
        kernel.add_strategy(Signaller(f"S{i}", f"NIFTY:20260113:{30000 + 50 * i}:PE", every))
    kernel.on_chain(chain())  # quotes for the checks, the clock inside the session
    svc.node, svc.broker = types.SimpleNamespace(kernel=kernel), broker  # type: ignore[assignment]
    svc.ticks_from = "0-0"
    return svc, broker


def ticks(n: int) -> list[m.Tick]:
    others = [f"NIFTY:20260113:{25000 + 50 * (i % 40)}:PE" for i in range(40)]
    return [m.Tick(TS, HOT if i % 2 == 0 else others[i % 40], 100.0, 99.5, 100.5, 75, 75, float(i), 1e5)
            for i in range(n)]  # fmt: skip


def drain(svc: StrategyRunnerService, n: int) -> float:
    """Ticks/s of the service's loop until it has routed ``n`` ticks."""
    gen = svc._market(DAY)
    t0 = time.perf_counter()
    done = threading.Event()

    def watch() -> None:
        while svc.ticks < n:
            time.sleep(0.001)
        svc.stopping = True
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    for _ in gen:  # no chains are published: the loop only routes ticks
        pass
    return n / (time.perf_counter() - t0)


def fresh_bus(url: str) -> StreamBus:
    return StreamBus(connect(url), Topics("paper", f"bench-{uuid.uuid4().hex[:6]}"))


def throughput(url: str, n_ticks: int, n_strategies: int, every: int = 1000) -> tuple[float, int]:
    topics.DEFAULT_RETENTION["market.ticks"] = max(topics.DEFAULT_RETENTION["market.ticks"], 2 * n_ticks)  # keep them all
    bus = fresh_bus(url)
    try:
        bus.publish_many("market.ticks", ticks(n_ticks))
        svc, broker = service(bus, n_strategies, every)
        rate = drain(svc, n_ticks)
        return rate, broker.sent
    finally:
        bus.reset()


def _produce(url: str, ns: str, rate: float, n: int, start: float) -> None:
    """Ticks at ``rate``/s as a feed publishes them: the ticks due are sent together once a
    millisecond (one pipeline, as ``optrunner service feed`` publishes a frame's ticks), each
    stamped with the time it is sent. The producer is the load, not the system measured: it
    runs at a lower CPU priority, as a feed handler on its own core would not compete."""
    os.nice(10)
    bus = StreamBus(connect(url), Topics("paper", ns))
    while time.time() < start:
        time.sleep(0.0005)
    start = time.time()  # a late start is not a backlog to burst out
    i = 0
    while i < n:
        now = time.time()
        due = min(n, int((now - start) * rate) + 1)
        if due > i:
            sent = time.time()  # the send time travels in the volume field (microseconds)
            bus.publish_many("market.ticks", [
                m.Tick(TS, HOT if k % 2 == 0 else "NIFTY:20260113:25100:PE", 100.0, 99.5, 100.5, 75, 75,
                       float(int(sent * 1e6)), 1e5) for k in range(i, due)])  # fmt: skip
            i = due
        wake = max(start + i / rate, now + 0.001)  # once a millisecond at most
        time.sleep(max(0.0, wake - time.time()))  # sleep, not spin: leave the cores to the service


def _back_office(url: str, ns: str, seconds: float) -> None:
    """The risk service and a gateway on a simulated exchange, so every signal is answered
    (filled) as in a deployment and no order stays open in the strategies' kernel."""
    bus = StreamBus(connect(url), Topics("paper", ns))
    clock = SimClock()
    gate, gateway = RiskGate(bus, pyramiding(), 1e12), Gateway(bus, SimulatedExchange(clock), clock)
    end = time.time() + seconds
    while time.time() < end:
        gate.run_once(block_ms=5)
        gateway.run_once(block_ms=5)


def latency(url: str, rate: float = 5000.0, seconds: float = 4.0) -> tuple[float, float, int]:
    """p50/p99 ms from a tick's XADD to its signal's XADD, ticks at ``rate``/s from another process."""
    bus = fresh_bus(url)
    n = int(rate * seconds)
    try:
        svc, broker = service(bus, 1, every=10)
        svc.ticks_from = "$"
        lat: list[float] = []
        publish_many = broker.bus.publish_many

        def timed(topic: str, msgs: list[m.Msg]) -> list[str]:
            ids = publish_many(topic, msgs)
            done = time.time()
            lat.extend(done - int(x.order.leg) / 1e6 for x in msgs if isinstance(x, m.Submit))
            return ids

        broker.bus = types.SimpleNamespace(publish_many=timed, publish=broker.bus.publish)  # type: ignore[assignment]
        start = time.time() + 1.0
        spawn = mp.get_context("spawn")
        office = spawn.Process(target=_back_office, args=(url, bus.topics.namespace, seconds + 3.0))
        office.start()
        p = spawn.Process(target=_produce, args=(url, bus.topics.namespace, rate, n, start))
        p.start()
        gen = svc._market(DAY)

        def watch() -> None:
            while svc.ticks < n and p.is_alive():
                time.sleep(0.01)
            time.sleep(0.2)
            svc.stopping = True

        threading.Thread(target=watch, daemon=True).start()
        for _ in gen:
            pass
        p.join()
        office.join()
        lat_ms = np.array(lat[len(lat) // 10 :]) * 1e3  # the first 10% warm up
        return float(np.percentile(lat_ms, 50)), float(np.percentile(lat_ms, 99)), len(lat)
    finally:
        bus.reset()


def codec_costs() -> None:
    t = m.Tick(TS, HOT, 101.5, 101.0, 102.0, 75.0, 150.0, 1e4, 2e5)
    c = chain(200)
    cm = m.Chain.of(c)
    ev = TickEvent(TS, HOT, 101.5, 101.0, 102.0, 75.0, 150.0, 1e4, 2e5)
    rows = [
        ("tick msgpack", len(m.encode(t)), lambda: m.encode(m.Tick.of(ev)), lambda b: m.decode(b).event(), m.encode(t)),
        ("tick JSON (feed codec)", len(encode_tick(ev)), lambda: encode_tick(ev), None, None),
        (f"chain msgpack ({len(c)} rows)", len(m.encode(cm)), lambda: m.encode(m.Chain.of(c)),
         lambda b: m.decode(b).snapshot(), m.encode(cm)),
        (f"chain JSON (feed codec, {len(c)} rows)", len(encode_chain(c)), lambda: encode_chain(c), None, None),
    ]  # fmt: skip
    print(f"{'message':38} {'bytes':>8} {'encode us':>10} {'decode us':>10}")
    for name, size, enc, dec, data in rows:
        n = 2000 if "chain" in name else 100_000
        e = min(timeit.repeat(enc, number=n, repeat=3)) / n * 1e6
        d = min(timeit.repeat(lambda dec=dec, data=data: dec(data), number=n, repeat=3)) / n * 1e6 if dec else float("nan")
        print(f"{name:38} {size:8d} {e:10.2f} {d:10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    print(f"bench_bus on {args.redis} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC), medians of {args.repeats}\n")
    codec_costs()
    print("\nmarket.ticks -> signals.raw through one strategies service process")
    base = None
    for n in (1, 10, 100, 1000):
        runs = [throughput(args.redis, args.ticks, n) for _ in range(args.repeats)]
        rate = statistics.median(r for r, _ in runs)
        base = base or rate
        print(f"  {n:5d} strategies (1 interested): {rate:10,.0f} ticks/s  ({runs[0][1]} signals/run)  "
              f"ratio to 1 strategy {base / rate:.2f}x cost")  # fmt: skip
    lats = [latency(args.redis) for _ in range(args.repeats)]
    p50, p99 = statistics.median(x[0] for x in lats), statistics.median(x[1] for x in lats)
    print(f"\nlatency at 5,000 ticks/s (every 10th tick of the interested instrument signals, {lats[0][2]} signals/run):"
          f"\n  tick XADD -> signal XADD p50 {p50:.2f} ms, p99 {p99:.2f} ms (runs: p99 {[round(x[1], 2) for x in lats]}) "
          f"(target p99 <= 5 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
