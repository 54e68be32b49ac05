"""Bars, ticks, timers and stale data reach every strategy kind through the kernel, in a
backtest exactly as live: closed session-aligned bars once, ticks derived from the chain,
minutes without a snapshot fired as timers, a data gap reported stale."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from optrunner.config import validate_config
from optrunner.core.clock import SimClock
from optrunner.core.events import BarEvent, FillEvent, StaleDataEvent, TickEvent
from optrunner.core.timeutil import IST, to_ist
from optrunner.core.types import Tag
from optrunner.data.bars import resample
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.kernel import Kernel
from optrunner.strategies.base import BaseStrategy, Subscriptions
from optrunner.strategies.dnss import DNSS

DAY = date(2026, 11, 16)  # a Monday session


class Listener(BaseStrategy):
    """Records what it is given and when the kernel's clock says it was given."""

    def __init__(self, clock: SimClock, subs: Subscriptions) -> None:
        super().__init__("LISTEN")
        self.clock, self.subs = clock, subs
        self.bars: list[tuple[BarEvent, datetime]] = []
        self.ticks: list[TickEvent] = []
        self.stale: list[StaleDataEvent] = []
        self.timers: list[datetime] = []

    def subscriptions(self) -> Subscriptions:
        return self.subs

    def on_bar(self, bar):
        self.bars.append((bar, self.clock.now()))
        return ()

    def on_tick(self, tick):
        self.ticks.append(tick)
        return ()

    def on_stale(self, event):
        self.stale.append(event)
        return ()

    def on_timer(self, now):
        self.timers.append(to_ist(now))
        return ()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    root = tmp_path_factory.mktemp("kt") / "catalog"
    generate("NIFTY", DAY, DAY, out=root, strikes_each_side=8, progress=False)
    return Catalog(root)


def kernel() -> tuple[Kernel, SimClock]:
    clock = SimClock()
    return Kernel(
        SimulatedExchange(clock, SimConfig()), clock, capital=1_000_000.0, log_alerts=False
    ), clock


def replay(k: Kernel, snapshots) -> None:
    for snap in snapshots:
        k.on_chain(snap)
    k.end_of_day(DAY)


def test_closed_session_bars_once_each_equal_to_a_resample_of_the_spot(catalog):
    snaps = list(catalog.snapshots("NIFTY"))
    k, clock = kernel()
    s = Listener(clock, Subscriptions(bars={("NIFTY", "1h"), ("NIFTY", "4h")}))
    k.add_strategy(s)
    replay(k, snaps)
    hourly = [b for b, _ in s.bars if b.timeframe == "1h"]
    starts = [to_ist(b.start).time() for b in hourly]
    assert starts == [time(h, 15) for h in range(9, 16)]  # 09:15 ... 14:15, then 15:15
    assert [to_ist(b.end).time() for b in hourly][-2:] == [time(15, 15), time(15, 30)]
    assert all(delivered >= bar.end for bar, delivered in s.bars)  # never a bar still forming
    four = [
        (to_ist(b.start).time(), to_ist(b.end).time()) for b, _ in s.bars if b.timeframe == "4h"
    ]
    assert four == [(time(9, 15), time(13, 15)), (time(13, 15), time(15, 30))]
    # the same bars by data/bars.py's vectorised resample of one-minute spot bars (the 15:30
    # closing snapshot starts no minute of the session)
    inside = [snap for snap in snaps if to_ist(snap.ts).time() < time(15, 30)]
    spot = np.array([snap.spot for snap in inside])
    minutes = pa.table({"ts": pa.array([snap.ts for snap in inside], pa.timestamp("ns", tz="UTC")),
                        "open": spot, "high": spot, "low": spot, "close": spot})  # fmt: skip
    ref = resample(minutes, "1h")
    for name in ("open", "high", "low", "close"):
        assert [getattr(b, name) for b in hourly] == pytest.approx(ref[name].to_numpy())


def test_ticks_of_the_index_and_an_option_are_derived_from_each_snapshot(catalog):
    snaps = list(catalog.snapshots("NIFTY"))
    first = snaps[0]
    i = int(np.argmin(np.abs(first.strike - first.spot)))
    option = first.contract(i).id
    k, clock = kernel()
    s = Listener(clock, Subscriptions(ticks={"NIFTY", option}))
    k.add_strategy(s)
    replay(k, snaps)
    index_ticks = [t for t in s.ticks if t.instrument == "NIFTY"]
    option_ticks = [t for t in s.ticks if t.instrument == option]
    assert [t.ltp for t in index_ticks] == [snap.spot for snap in snaps]
    assert len(option_ticks) == len(snaps)
    assert option_ticks[0].ltp == pytest.approx(float(first.ltp[i]))


def test_minutes_without_snapshots_fire_timers_and_a_gap_is_stale_data(catalog):
    cut = datetime(DAY.year, DAY.month, DAY.day, 15, 4, tzinfo=IST)
    snaps = [snap for snap in catalog.snapshots("NIFTY") if snap.ts <= cut]
    k, clock = kernel()
    s = Listener(clock, Subscriptions(chains={"NIFTY"}, timer=True))
    k.add_strategy(s)
    replay(k, snaps)
    assert [t.time() for t in s.timers] == [
        time(15, m) for m in range(5, 30)
    ]  # never past the close
    assert [(to_ist(e.ts).time(), e.age_seconds) for e in s.stale] == [(time(15, 7), 180.0)]


def dnss(catalog: Catalog, tmp_path: Path, stale_after: int):
    doc = {
        "name": "GAP", "enabled": True, "strategy": "dnss",
        "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY",
                          "db_path": str(catalog.root), "stale_after_seconds": stale_after},
        "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "quantity": 1,
                  "delta_tolerance": 0.15},
        "exit": {"exit_time": "15:15", "stale_exit_seconds": stale_after},
    }  # fmt: skip
    config, issues = validate_config(doc, tmp_path)
    assert not issues, issues
    return config


@pytest.mark.parametrize(
    ("stale_after", "reason", "at"),
    [(3600, "TIME_EXIT", time(15, 15)), (120, "STALE_GREEKS", time(15, 7))],
)
def test_a_day_whose_data_ends_early_closes_by_timer_not_overnight(
    catalog, tmp_path, stale_after, reason, at
):
    """Data ends at 15:04: the 15:15 time exit (or, sooner, the stale-data exit) still fires."""
    config = dnss(catalog, tmp_path, stale_after)
    cut = datetime(DAY.year, DAY.month, DAY.day, 15, 4, tzinfo=IST)
    k, _ = kernel()
    k.add_strategy(DNSS(config), config)
    fills = []
    k.observe(lambda e: fills.append(e.fill) if isinstance(e, FillEvent) else None)
    replay(k, (snap for snap in catalog.snapshots("NIFTY") if snap.ts <= cut))
    exits = [f for f in fills if f.tag is Tag.EXIT]
    assert len(exits) == 2 and {to_ist(f.ts).time() for f in exits} == {at}
    assert k.portfolio.positions() == []
    assert k.runner.states()["GAP"]["exit_reason"] == reason


def test_a_backtest_that_ends_holding_options_says_so_loudly(catalog, tmp_path):
    import json

    from typer.testing import CliRunner

    from optrunner.cli import app

    doc = {
        "name": "CARRY", "enabled": True, "strategy": "dnss",
        "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"},
        "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "quantity": 1,
                  "delta_tolerance": 0.15},
        "exit": {"exit_time": "15:15", "time_exit_override": False},  # carried past the close
        "execution": {"product": "NRML"},
    }  # fmt: skip
    (tmp_path / "carry.json").write_text(json.dumps(doc))
    out = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        ["backtest", str(tmp_path / "carry.json"), "--data", str(catalog.root), "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["open_positions"] == 2
    assert "ended with 2 open position(s)" in " ".join(r.output.split())
    assert "The run ended with 2 open position(s)" in (out / "report.html").read_text()
