"""The strategies service (seed 004's ``StrategyRunnerService``): market topics in, signals out.

It is ``optrunner run``'s trading node — the same kernel, runner, strategies, pre-trade
checks, order manager and store (journal, checkpoints, crash recovery) — with two parts
swapped: its input is ``market.chains`` (and, with ``ticks``, ``market.ticks``) instead of
a catalog, and its broker is a :class:`StreamBroker`, whose requests are the signals on
``{broker}.signals.raw`` — each strategy's own broker's (``execution.broker``, bus/routing.py).
Routing an input to the strategies that want it is the runner's
dict lookup (instrument -> strategies): a tick costs the same with 1 or 1,000 strategies
that do not want it. A restarted service resumes its session from its store and skips the
inputs its last checkpoint covers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import redis

from optrunner.backtest.commands import load_configs
from optrunner.bus import messages as m
from optrunner.bus.broker import StreamBroker
from optrunner.bus.routing import RoutingBroker, strategy_broker, strategy_brokers
from optrunner.bus.streams import FIELD, StreamBus
from optrunner.bus.topics import Topics
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.live.wiring import attach_kernel
from optrunner.live.commands import open_paper_session
from optrunner.live.node import DEFAULT_RECONCILE_SECONDS, TradingNode

log = logging.getLogger(__name__)


def wire_kernel(broker: StreamBroker, kernel: Any) -> None:
    """A live gateway's alerts and halts, relayed by ``broker``, to ``kernel`` — as ``serve
    --live`` wires its adapter (``attach_kernel``); a halt of a strategy this kernel does not
    trade (no config, no order) is left to the strategies process that does."""
    attach_kernel(broker, kernel)
    broker.owns = lambda strategy: strategy in kernel.runner.configs() or bool(kernel.om.orders(strategy))


@dataclass
class BusConfig:
    """Where the bus is and how this process uses it (seed 004's ``config``)."""

    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "optrunner"
    broker: str = "paper"
    origin: str = "strategies"  # this process's name in its commands
    settle: bool = True  # wait for each request's answer before the next input (replays)
    ticks: bool = False  # also consume market.ticks and market.bars (a live feed)

    def topics(self) -> Topics:
        return Topics(self.broker, self.namespace)


@dataclass
class StrategiesSettings:
    """What the node trades (seed 004's ``settings``): the strategy files and the account."""

    strategy_files: list[Path]
    data: Path  # the catalog the replayed day comes from (checked to hold the day)
    day: str
    account: Path | None = None
    capital: Any = None
    reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS
    extra: dict[str, Any] = field(default_factory=dict)  # more open_paper_session options


class StrategyRunnerService:
    """``StrategyRunnerService(config, settings, redis_client, db_manager)``; ``await start()``
    runs until the replayed day's ``SessionEnd`` (forever on a live feed). ``db_manager``:
    the store URL (SQLite or PostgreSQL) that holds the session."""

    def __init__(self, config: BusConfig, settings: StrategiesSettings, redis_client: redis.Redis | None,
                 db_manager: str) -> None:  # fmt: skip
        self.config, self.settings, self.store_url = config, settings, db_manager
        self.bus = StreamBus(redis_client or redis.Redis.from_url(config.url), config.topics())
        self.broker: StreamBroker | RoutingBroker | None = None
        self.routes: dict[str, str] = {}  # strategy -> broker (execution.broker; else config.broker)
        self._buses = {config.broker: self.bus}
        self.node: TradingNode | None = None
        self.inputs = 0
        self.ticks = 0  # ticks and bars routed from market.ticks / market.bars
        self.ticks_from = "$"  # where market.ticks is read from: new entries (a live feed)
        self.stopping = False  # set from another thread: stop after the entries in hand

    async def start(self) -> int:
        """Load the strategies and process the market until the day ends; the inputs processed."""
        return await asyncio.to_thread(self.run)

    def run(self) -> int:
        s = self.settings
        session = open_paper_session(s.strategy_files, s.data, s.day, self.store_url, recover=None, account=s.account,
                                     capital=s.capital, reconcile_seconds=s.reconcile_seconds,
                                     make_broker=self._make_broker, **s.extra)  # fmt: skip
        self.node = node = session.node
        for b in self._stream_brokers():
            wire_kernel(b, node.kernel)
        if session.recovered:
            log.warning("strategies service resumed its session after %s", node.resume_after or "the start")
        try:
            self.inputs = node.run(self._market(session.day), after_input=self._after_input)
        finally:
            session.store.close()
        return self.inputs

    def _make_broker(self, _path: Path, clock: Any, sim_config: Any, _faults: Any) -> StreamBroker | RoutingBroker:
        """One StreamBroker when every strategy trades on ``config.broker``; else a
        RoutingBroker over one per broker the strategies name (bus/routing.py)."""
        c = self.config
        from_table = self.settings.extra.get("strategies") == "db"
        cfgs = self._table_configs() if from_table else load_configs(self.settings.strategy_files)[0]
        self.routes = strategy_brokers(cfgs, c.broker)
        names = sorted(set(self.routes.values()) or {c.broker})

        def make(name: str) -> StreamBroker:
            b = StreamBroker(self._bus_of(name), clock, name=name, origin=c.origin, config=sim_config, settle=c.settle)
            if self.node is not None:  # a broker first named by a row swapped in mid-session
                wire_kernel(b, self.node.kernel)
            return b

        if names == [c.broker] and not from_table:
            self.broker = make(c.broker)
            return self.broker
        log.warning("strategies trade on %s: %s", ", ".join(names),
                    ", ".join(f"{s} -> {b}" for s, b in sorted(self.routes.items())))  # fmt: skip
        # from the table, a row swapped in later (or moved to another broker) is routed by its config then
        resolve = self._resolve if from_table else None
        self.broker = RoutingBroker({n: make(n) for n in names}, self.routes, c.broker if c.broker in names else names[0],
                                    resolve=resolve, make=make if from_table else None)  # fmt: skip
        return self.broker

    def _stream_brokers(self) -> list[StreamBroker]:
        b = self.broker
        return list(b.brokers.values()) if isinstance(b, RoutingBroker) else [b] if b is not None else []

    def _table_configs(self) -> list[Any]:
        """The active rows' configs now (the session reads them again itself and follows them)."""
        from optrunner.strategy_db.session import open_strategy_table

        watcher, cfgs = open_strategy_table(self.store_url)
        watcher.store.close()
        return cfgs

    def _resolve(self, strategy: str) -> str | None:
        config = self.node.kernel.runner.configs().get(strategy) if self.node is not None else None
        return None if config is None else strategy_broker(config, self.config.broker)

    def _bus_of(self, broker: str) -> StreamBus:
        if broker not in self._buses:
            self._buses[broker] = StreamBus(self.bus.client, Topics(broker, self.config.namespace))
        return self._buses[broker]

    def _market(self, day: date) -> Iterator[ChainSnapshot]:
        """``market.chains`` from its start (the node skips what its checkpoint covers), each
        snapshot once and in time order per symbol, until ``day``'s SessionEnd."""
        assert self.broker is not None and self.node is not None
        keys = {self.bus.topics.key("market.chains"): "0-0"}
        if self.config.ticks:
            keys[self.bus.topics.key("market.ticks")] = self.ticks_from
            keys[self.bus.topics.key("market.bars")] = self.ticks_from
        last: dict[str, datetime] = {}
        kernel, broker = self.node.kernel, self.broker
        broker.fed = not self.config.settle  # live: answers come in the same XREAD as the market
        cursors = keys if not broker.fed else {**keys, **broker.answer_cursors}
        for rows in self._replies(cursors):
            answered = False
            for key, entries in rows or ():
                k = key.decode()
                if k not in keys:
                    broker.ingest(k, entries)
                    answered = True
                    continue
                for entry_id, fields in entries:
                    keys[k] = entry_id.decode()
                    msg = m.decode(fields[FIELD])
                    if isinstance(msg, m.Chain):  # yielded: node.run processes it (checkpointed)
                        if msg.symbol in last and msg.ts <= last[msg.symbol]:
                            continue  # a restarted feed's repeat
                        last[msg.symbol] = msg.ts
                        self.broker.market_ids[(msg.symbol, msg.ts)] = keys[k]
                        yield msg.snapshot()
                    elif isinstance(msg, m.Tick | m.Bar):
                        kernel.on_market_event(msg.event())
                        self.ticks += 1
                    elif isinstance(msg, m.SessionEnd) and msg.day == day:
                        return
            if answered:  # answers on a quiet market: to the order manager (and strategies) now
                with kernel.lock:
                    kernel.om.drain()

    def _replies(self, cursors: dict[str, str], count: int = 500) -> Iterator[Any]:
        """XREAD replies in order, read on this thread. A reader thread that prefetched the
        next reply while this one was processed gained no throughput (~93-95k ticks/s either
        way) and cost latency: each reply crossed threads and the GIL (tick -> signal p50 1.1
        vs 0.85 ms, p99 3.3-4.3 vs 2.8-3.1 ms at 5,000 ticks/s; benchmarks/bench_bus.py)."""
        client = self.bus.client
        while not self.stopping:
            rows = client.xread(cursors, count=count, block=200)
            for key, entries in rows or ():
                cursors[key.decode()] = entries[-1][0].decode()
            if rows:
                yield rows

    def _after_input(self, node: TradingNode) -> None:
        ts = node.clock.now()
        pf = node.kernel.portfolio
        by_broker: dict[str, list[m.PnlSnapshot]] = {}
        for name in pf.strategies():
            s = pf.summary(name)
            by_broker.setdefault(self.routes.get(name, self.config.broker), []).append(
                m.PnlSnapshot(ts, name, s.net, s.realized, s.unrealized, s.charges))
        for broker, snaps in by_broker.items():  # each strategy's P&L on its broker's topic
            self._bus_of(broker).publish_many("pnl.snapshots", snaps)
