"""Backtest wiring: the live kernel on a simulated clock and the simulated exchange.

Snapshots of every underlying the configs trade are merged in time order and fed to the
kernel one by one; the clock only moves forward with them, so no strategy can see a
snapshot later than "now". At each session close the exchange expires DAY orders and
cash-settles the contracts expiring that day.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from optrunner.backtest.metrics import summarise, trade_stats
from optrunner.backtest.recorder import Recorder
from optrunner.core.clock import SimClock
from optrunner.core.collector import session_collector
from optrunner.core.invariants import check_invariants
from optrunner.core.timeutil import to_ist
from optrunner.data.catalog import Catalog
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.faults import FaultConfig, FaultInjector
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.kernel import Kernel
from optrunner.risk import RiskEngine, RiskSettings
from optrunner.strategies.registry import create_strategy


@dataclass(slots=True)
class BacktestSpec:
    configs: Sequence[Any]  # validated StrategyConfig objects
    data: Path
    start: date | None = None
    end: date | None = None
    capital: float = 1_000_000.0
    sim: SimConfig = field(default_factory=SimConfig)
    risk: RiskSettings = field(default_factory=RiskSettings)
    risk_free: float = 0.0
    config_files: Sequence[str] = ()
    charges: Any = None  # a ChargeSchedule (None: the packaged table)
    settings: dict[str, Any] = field(default_factory=dict)  # effective account settings, recorded in the summary
    faults: FaultConfig | None = None  # chaos mode (--faults): the simulated exchange misbehaves
    fault_seed: int = 0


@dataclass(slots=True)
class BacktestResult:
    summary: dict[str, Any]
    recorder: Recorder
    kernel: Kernel
    spot: list[tuple[datetime, str, float]]
    snapshots: int


def merged_snapshots(
    catalog: Catalog, symbols: Sequence[str], start: date | None, end: date | None
) -> Iterator[ChainSnapshot]:
    """Every snapshot of ``symbols`` in time order, streamed a day at a time per symbol."""
    streams = [catalog.snapshots(s, start, end) for s in sorted(symbols)]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda snap: snap.ts)


def run_backtest(spec: BacktestSpec, *, on_day: Callable[[date], None] | None = None) -> BacktestResult:
    return run_backtests([spec], on_day=on_day)[0]


@dataclass(slots=True)
class _Run:
    spec: BacktestSpec
    kernel: Kernel
    recorder: Recorder


def _start(spec: BacktestSpec) -> _Run:
    clock = SimClock()
    injector = FaultInjector(spec.faults, spec.fault_seed) if spec.faults is not None else None
    exchange = SimulatedExchange(clock, spec.sim, injector)
    kernel = Kernel(exchange, clock, capital=spec.capital, risk=RiskEngine(spec.risk), charges=spec.charges,
                    freeze_inclusive=spec.sim.freeze_inclusive, log_alerts=False)  # fmt: skip
    recorder = Recorder(spec.capital, kernel.portfolio)
    kernel.observe(recorder.on_event)
    for config in spec.configs:
        kernel.add_strategy(create_strategy(config), config)
    return _Run(spec, kernel, recorder)


@session_collector()  # a backtest keeps every order, fill and mark: see core/collector.py
def run_backtests(specs: Sequence[BacktestSpec], *, on_day: Callable[[date], None] | None = None) -> list[BacktestResult]:
    """Backtests of ``specs`` — the same data, range and underlyings, e.g. a sweep's parameter
    sets — fed from one pass over the catalog: each snapshot is read once and given to every
    spec's own kernel in turn (each has its own clock, exchange and account, so they never
    meet). Reading and building snapshots is about half a backtest's cost, so K specs cost
    about 0.55x K backtests in one process (benchmarks/bench_sweep.py --shared-pass)."""
    if not specs:
        raise ValueError("no backtest to run")
    first = specs[0]
    symbols = sorted({c.market_config.symbol for c in first.configs})
    for spec in specs[1:]:
        if (spec.data, spec.start, spec.end) != (first.data, first.start, first.end) or symbols != sorted(
            {c.market_config.symbol for c in spec.configs}
        ):
            raise ValueError("backtests sharing one pass need the same data, range and underlyings")
    catalog = Catalog(first.data)
    runs = [_start(spec) for spec in specs]
    missing = [s for s in symbols if not catalog.dates(s)]
    if missing:
        raise ValueError(
            f"catalog {first.data} has no data for {', '.join(missing)}; generate or import it first"
        )

    spot: list[tuple[datetime, str, float]] = []
    day: date | None = None
    n = 0
    for snap in merged_snapshots(catalog, symbols, first.start, first.end):
        d = to_ist(snap.ts).date()
        if day is not None and d != day:
            _close_days(runs, day, on_day)
        day = d
        for run in runs:
            run.kernel.on_chain(snap)
            pf = run.kernel.portfolio
            run.recorder.on_mark(snap.ts, pf.equity, pf.realized + pf.unrealized, pf.charges)
        spot.append((snap.ts, snap.symbol, snap.spot))
        n += 1
    if day is None:
        raise ValueError(
            f"no {', '.join(symbols)} data in {first.data} between {first.start} and {first.end}"
        )
    _close_days(runs, day, on_day)
    results = []
    for run in runs:
        summary = build_summary(run.spec, run.kernel, run.recorder)
        summary["data_quality"] = catalog.quality.as_dict()  # rows the replay dropped, stale snapshots
        results.append(BacktestResult(summary, run.recorder, run.kernel, spot, n))
    return results


def _close_days(runs: list[_Run], d: date, on_day: Callable[[date], None] | None) -> None:
    for run in runs:
        _close_day(run.kernel, run.recorder, d, None)
    if on_day is not None:
        on_day(d)


def _close_day(
    kernel: Kernel, recorder: Recorder, d: date, on_day: Callable[[date], None] | None
) -> None:
    kernel.end_of_day(d)
    recorder.on_day_end(d, kernel.portfolio.equity)
    if on_day is not None:
        on_day(d)


def build_summary(spec: BacktestSpec, kernel: Kernel, rec: Recorder) -> dict[str, Any]:
    pf = kernel.portfolio
    faults = getattr(kernel.broker, "faults", None)
    days = [d for d, _ in rec.days]
    summary = summarise(
        start=days[0], end=days[-1], capital=spec.capital, days=days, daily_pnl=rec.daily_pnl(),
        equity=[spec.capital, *(e for _, e, _, _ in rec.equity)], trades=rec.trade_results(),
        gross_pnl=pf.realized + pf.unrealized, charges=pf.charges, risk_free=spec.risk_free,
    )  # fmt: skip
    strategies: dict[str, Any] = {}
    for config in spec.configs:
        name = config.name
        s = pf.summary(name) if name in pf.strategies() else None
        trades = [t for t in rec.trades if t.strategy == name]
        strategies[name] = {
            "symbol": config.market_config.symbol, "gross_pnl": s.gross if s else 0.0,
            "charges": s.charges if s else 0.0, "net_pnl": s.net if s else 0.0,
            **trade_stats(rec.trade_results(name)),
            "adjustments": sum(len(t.adjustments) for t in trades + [t for t in rec.open_trades() if t.strategy == name]),
            "open_legs": s.open_legs if s else 0,
        }  # fmt: skip
        own = kernel.runner.strategy_metrics(name)  # hook: a strategy's own counters (metrics())
        if own:
            strategies[name]["metrics"] = own
    summary.update(
        adjustments=sum(v["adjustments"] for v in strategies.values()),
        orders=len(rec.submitted),
        rejected_orders=dict(sorted(rec.rejections.items())),
        risk_checks=kernel.risk.metrics(),
        open_positions=len(pf.positions()),
        strategies=strategies,
        claims={c.name: _claims(c) for c in spec.configs if _claims(c)},
        config_files=list(spec.config_files),
        data=str(spec.data),
        alerts=[f"{a.level}: {a.source}: {a.message}" for a in kernel.alerts],
        settings=spec.settings or _settings_of(spec),
        invariants=[str(v) for v in check_invariants(kernel)],
        reconciliation=[d.to_dict() for d in kernel.reconciler.differences],
        faults_injected=dict(sorted(faults.injected.items())) if faults is not None else {},
    )
    return summary


def _settings_of(spec: BacktestSpec) -> dict[str, Any]:
    """The settings record of a spec built in Python (the CLI passes the account file's own)."""
    from optrunner.config.account import AccountSettings, FillSettings

    sim = spec.sim
    slippage = f"{sim.slippage_pct:g}%" if sim.slippage_pct else f"{sim.slippage_ticks}t"
    account = AccountSettings(capital=spec.capital, risk_free_rate=spec.risk_free, risk=spec.risk,
                              fills=FillSettings(slippage=slippage, latency_ms=sim.latency_ms))  # fmt: skip
    record = account.record(None)
    if spec.charges is not None:
        record["charges"] = {"source": getattr(spec.charges, "source", None), "broker": getattr(spec.charges, "broker", None)}
    return {**record, "data": str(spec.data), "strategy_files": list(spec.config_files)}




def _claims(config: Any) -> dict[str, Any]:
    b = getattr(config, "backtesting", None)
    if b is None:
        return {}
    out = {
        k: getattr(b, k, None)
        for k in ("backtest_win_rate", "backtest_avg_profit", "backtest_avg_loss")
    }
    dates = getattr(b, "backtest_dates", None)
    if dates is not None:
        out["backtest_dates"] = str(dates)
    return {k: v for k, v in out.items() if v is not None}
