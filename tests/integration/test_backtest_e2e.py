"""The backtest end to end: a hand-computable run, no look-ahead, determinism."""

from __future__ import annotations

import copy
import csv
import json
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from optrunner.backtest.engine import BacktestSpec, merged_snapshots, run_backtest
from optrunner.backtest.recorder import Recorder
from optrunner.config import validate_config
from optrunner.core.clock import SimClock
from optrunner.core.events import FillEvent
from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.execution.brokers.simulated import SimulatedExchange
from optrunner.kernel import Kernel
from optrunner.strategies.dnss import DNSS

DAY = date(2026, 11, 16)  # Monday; NIFTY weekly expires Tuesday 17th; lot 65
EXPIRY = date(2026, 11, 17)
CAPITAL = 1_000_000.0

# (strike, right) -> delta; only 26200 CE and 25800 PE are within 0.05 of a 0.25 target
DELTAS = {(25800, "CE"): 0.80, (26000, "CE"): 0.50, (26200, "CE"): 0.25,
          (25800, "PE"): -0.25, (26000, "PE"): -0.50, (26200, "PE"): -0.80}  # fmt: skip
# time -> {(strike, right): (bid, ask)}; everything else quoted 100/101
QUOTES = {
    (9, 15): {(26200, "CE"): (41.0, 42.0), (25800, "PE"): (39.0, 40.0)},
    (9, 30): {(26200, "CE"): (40.0, 41.0), (25800, "PE"): (38.0, 39.0)},
    (12, 0): {(26200, "CE"): (34.5, 35.5), (25800, "PE"): (32.5, 33.5)},
    (15, 15): {(26200, "CE"): (30.0, 31.0), (25800, "PE"): (28.0, 29.0)},
    (15, 30): {(26200, "CE"): (29.0, 30.0), (25800, "PE"): (27.0, 28.0)},
}

DOC = {
    "name": "HAND", "enabled": True, "strategy": "dnss",
    # a sparse hand-made day: gaps of hours are not stale data here (see test_kernel_time.py for that)
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "catalog",
                      "stale_after_seconds": 30000},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "quantity": 1},
    "adjustment": {"enabled": False},
    "exit": {"exit_time": "15:15", "stale_exit_seconds": 30000},
    "execution": {"order_type": "MARKET", "price_limit_percent": 1.0},
}  # fmt: skip


def hand_catalog(root: Path) -> Catalog:
    rows: dict[str, list] = {k: [] for k in ("ts", "expiry", "strike", "right", "spot", "future", "bid", "ask", "ltp",
                                             "bid_qty", "ask_qty", "volume", "oi", "iv", "delta", "gamma", "theta",
                                             "vega")}  # fmt: skip
    for (hh, mm), quotes in QUOTES.items():
        ts = datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=IST)
        for (strike, right), delta in DELTAS.items():
            bid, ask = quotes.get((strike, right), (100.0, 101.0))
            for k, v in (("ts", ts), ("expiry", EXPIRY), ("strike", float(strike)), ("right", right),
                         ("spot", 26000.0), ("future", 26004.0), ("bid", bid), ("ask", ask), ("ltp", (bid + ask) / 2),
                         ("bid_qty", 1e6), ("ask_qty", 1e6), ("volume", 1e5), ("oi", 1e6), ("iv", 0.12),
                         ("delta", delta), ("gamma", 1e-4), ("theta", -5.0), ("vega", 10.0)):  # fmt: skip
                rows[k].append(v)
    cat = Catalog.create(root / "catalog")
    cat.write_chain("NIFTY", pa.table(rows))
    return cat


def charges(side: str, price: float, qty: int = 65) -> float:
    """MARKET_FACTS.md's table for an NSE index option traded on or after 2026-04-01, from its rates."""
    turnover = price * qty
    brokerage, txn, sebi, ipft = 20.0, 0.0003503 * turnover, 0.000001 * turnover, 0.000005 * turnover
    stt = 0.0015 * turnover if side == "SELL" else 0.0
    stamp = 0.00003 * turnover if side == "BUY" else 0.0
    gst = 0.18 * (brokerage + txn + sebi)
    return brokerage + stt + txn + sebi + stamp + ipft + gst


def spec_for(tmp: Path, doc: dict, **kw) -> BacktestSpec:
    cfg, issues = validate_config(doc, tmp)
    assert not issues, issues
    return BacktestSpec([cfg], tmp / "catalog", capital=CAPITAL, **kw)


def test_hand_computable_backtest(tmp_path):
    hand_catalog(tmp_path)
    result = run_backtest(spec_for(tmp_path, DOC))
    out = tmp_path / "run"
    result.recorder.write(out, result.summary, result.spot)

    fills = list(csv.DictReader((out / "fills.csv").open()))
    assert [(f["tag"], f["side"], f["contract"], float(f["price"])) for f in fills] == [
        ("ENTRY", "SELL", "NIFTY:20261117:26200:CE", 40.0),  # sells at the bid
        ("ENTRY", "SELL", "NIFTY:20261117:25800:PE", 38.0),
        ("EXIT", "BUY", "NIFTY:20261117:26200:CE", 31.0),  # buys back at the ask
        ("EXIT", "BUY", "NIFTY:20261117:25800:PE", 29.0),
    ]
    expected_charges = charges("SELL", 40.0) + charges("SELL", 38.0) + charges("BUY", 31.0) + charges("BUY", 29.0)
    gross = (40.0 - 31.0) * 65 + (38.0 - 29.0) * 65  # 1,170.00
    s = result.summary
    assert s["gross_pnl"] == pytest.approx(gross)
    assert s["charges"] == pytest.approx(expected_charges, abs=1e-9)
    assert s["net_pnl"] == pytest.approx(gross - expected_charges)
    assert s["return_pct"] == pytest.approx(100 * (gross - expected_charges) / CAPITAL)
    assert (s["days"], s["trades"], s["win_rate"], s["orders"]) == (1, 1, 100.0, 4)
    assert s["best_day"] == {"date": "2026-11-16", "pnl": pytest.approx(gross - expected_charges)}

    trades = list(csv.DictReader((out / "trades.csv").open()))
    assert len(trades) == 1 and trades[0]["exit_reason"] == "TIME_EXIT"
    assert float(trades[0]["net_pnl"]) == pytest.approx(gross - expected_charges, abs=1e-3)
    daily = list(csv.DictReader((out / "daily.csv").open()))
    assert float(daily[0]["equity"]) == pytest.approx(CAPITAL + gross - expected_charges, abs=1e-3)
    # equity at 12:00: legs marked at LTP 35 and 33 against sales at 40 and 38, less the two sell charges
    equity = {row["time"][11:16]: float(row["equity"]) for row in csv.DictReader((out / "equity.csv").open())}
    assert equity["12:00"] == pytest.approx(CAPITAL + 5 * 65 + 5 * 65 - charges("SELL", 40.0) - charges("SELL", 38.0))
    assert {r["status"] for r in csv.DictReader((out / "orders.csv").open())} == {"FILLED"}


def test_risk_rejection_is_recorded_and_counted(tmp_path):
    hand_catalog(tmp_path)
    doc = copy.deepcopy(DOC)
    doc["risk_management"] = {"notional_value_limit": 1_000_000}  # one leg is 65 x 26200 = 1.7M
    result = run_backtest(spec_for(tmp_path, doc))
    assert result.summary["trades"] == 0
    assert result.summary["rejected_orders"]["NOTIONAL_LIMIT"] >= 1
    assert result.summary["orders"] == 0


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 18), seed=11, out=root / "catalog", strikes_each_side=15,
             progress=False)  # fmt: skip
    return root


def synth_doc() -> dict:
    doc = copy.deepcopy(DOC)
    doc["adjustment"] = {"enabled": True, "delta_drift_trigger": 0.15, "cooldown_seconds": 60, "max_leg_delta": 0.65}
    doc["entry"]["target_ce_delta"] = doc["entry"]["target_pe_delta"] = 0.3
    doc["entry"]["delta_tolerance"] = 0.1
    return doc


def test_no_look_ahead(synth):
    """Every snapshot a strategy sees, and every fill, is at or before the clock — and fills use that instant's quotes."""
    cfg, _ = validate_config(synth_doc(), synth)
    clock = SimClock()
    kernel = Kernel(SimulatedExchange(clock), clock, capital=CAPITAL, log_alerts=False)
    seen: list[tuple[datetime, datetime]] = []
    latest = {}

    class Spy(DNSS):
        def on_chain(self, snapshot):
            seen.append((snapshot.ts, clock.now()))
            return super().on_chain(snapshot)

    fills = []
    kernel.observe(lambda e: fills.append((e.fill, clock.now(), latest["snap"])) if isinstance(e, FillEvent) else None)
    kernel.add_strategy(Spy(cfg), cfg)
    for snap in merged_snapshots(Catalog(synth / "catalog"), ["NIFTY"], None, None):
        latest["snap"] = snap
        kernel.on_chain(snap)
    assert seen and all(ts <= now for ts, now in seen)
    assert [ts for ts, _ in seen] == sorted(ts for ts, _ in seen)
    assert fills, "the strategy should have traded"
    for fill, now, snap in fills:
        assert fill.ts <= now and fill.ts == snap.ts
        q = snap.quote_for(fill.contract)
        assert fill.price == (q.ask if fill.side.value == "BUY" else q.bid)


def test_two_runs_are_identical(synth, tmp_path):
    outs = []
    for k in range(2):
        result = run_backtest(spec_for(synth, synth_doc()))
        out = tmp_path / f"run{k}"
        result.recorder.write(out, result.summary, result.spot)
        outs.append(out)
    for name in ("fills.csv", "orders.csv", "trades.csv", "equity.csv", "daily.csv", "events.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    a, b = (json.loads((o / "summary.json").read_text()) for o in outs)
    assert a == b
    assert a["trades"] >= 2 and a["adjustments"] >= 1  # the scenario exercises entries, adjustments and exits


def test_recorder_counts_round_trips_flat_to_flat():
    rec = Recorder(CAPITAL)
    assert rec.trades == [] and rec.daily_pnl() == []
