"""momentum_buyer: direction from Supertrend + ADX, the corrected breakout, the entry guard's
rejections by reason, and the premium exits — driven by hand with bars and snapshots."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from _dnss_support import Exchange, at
from test_chain_analyzer import CE_ROWS, snapshot

from optrunner.config import validate_config
from optrunner.core.events import BarEvent
from optrunner.core.types import Right, Side, Tag
from optrunner.data.seed_db import write_seed_db
from optrunner.strategies.momentum_buyer import MomentumBuyer

DOC = {
    "name": "T_MB", "enabled": True, "strategy": "momentum_buyer",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "chain.sqlite"},
    "momentum_buyer": {"breakout_lookback": 5, "min_rsi": None},
}  # fmt: skip


def buyer(tmp_path, **section) -> MomentumBuyer:
    doc = copy.deepcopy(DOC)
    doc["momentum_buyer"].update(section)
    write_seed_db(tmp_path / "chain.sqlite", snapshot())
    cfg, issues = validate_config(doc, tmp_path)
    assert not issues, issues
    return MomentumBuyer(cfg)


def atm_ce(ltp: float, ts: datetime, spot: float = 25010.0):
    rows = dict(CE_ROWS)
    rows[25000.0] = (ltp, ltp - 0.5, ltp + 0.5, 1.2e6, 1e5, 0.52, 0.14)
    return snapshot(rows, spot, ts)


def minutes(start: datetime, prices: list[float]):
    return [atm_ce(p, start + timedelta(minutes=k)) for k, p in enumerate(prices)]


def bars(closes: list[float], start: datetime) -> list[BarEvent]:
    out, prev = [], closes[0]
    for k, c in enumerate(closes):
        t = start + timedelta(minutes=5 * k)
        out.append(BarEvent("NIFTY", "5m", t, t + timedelta(minutes=5), prev, max(prev, c) + 2, min(prev, c) - 2, c))
        prev = c
    return out


def test_direction_needs_supertrend_and_adx(tmp_path):
    s = buyer(tmp_path)
    for b in bars([25000 + 10 * k for k in range(40)], at(9, 15)):
        s.on_bar(b)
    assert s.direction == 1 and s.adx_value > 20  # a steady climb: trend up, strong
    s = buyer(tmp_path)
    for b in bars([25000 - 10 * k for k in range(40)], at(9, 15)):
        s.on_bar(b)
    assert s.direction == -1
    for floor, expected in ((99.9, 1), (100.1, 0)):  # a clean climb has no -DM at all: ADX = 100
        s = buyer(tmp_path, min_adx=floor)
        for b in bars([25000 + 10 * k for k in range(40)], at(9, 15)):
            s.on_bar(b)
        assert s.adx_value == pytest.approx(100.0) and s.direction == expected
    s = buyer(tmp_path)
    s.on_bar(bars([25000.0], at(9, 15))[0])
    assert s.direction == 0  # too few bars: no trade, never a guess


def test_breakout_is_a_close_above_the_prior_minutes_high_not_the_day_high(tmp_path):
    s = buyer(tmp_path)
    s.direction = 1
    ex = Exchange()
    for snap in minutes(at(10, 0), [100, 102, 101, 100, 101]):
        assert ex.step(s, snap) == []  # building 5 minutes of history
    assert ex.step(s, atm_ce(102.0, at(10, 5))) == []  # equal to the prior high: not above it
    legs = ex.step(s, atm_ce(102.5, at(10, 6)))
    assert [(leg.contract.id, leg.side, leg.tag, leg.quantity) for leg in legs] == [
        ("NIFTY:20261117:25000:CE", Side.BUY, Tag.ENTRY, 65)]  # fmt: skip
    assert s.metrics()["signals"] == 1 and s.last_pick["score"] == 175.0


@pytest.mark.parametrize(("floor", "enters"), [(60.0, False), (55.0, True)])
def test_rsi_floor(tmp_path, floor, enters):
    # RSI(3) of 104, 100, 104, 100, 104, 100, 104.5: seed gains/losses 4/3 and 8/3, then Wilder:
    # (2.222, 1.778), (1.481, 2.519), (2.488, 1.679) -> RS 1.482 -> RSI 59.7
    s = buyer(tmp_path, min_rsi=floor, rsi_period=3)
    s.direction = 1
    ex = Exchange()
    for snap in minutes(at(10, 0), [104, 100, 104, 100, 104, 100]):
        ex.step(s, snap)
    legs = ex.step(s, atm_ce(104.5, at(10, 6)))  # above the prior 5 minutes' 104: a breakout
    assert bool(legs) is enters
    assert s.metrics().get("signals", 0) == int(enters)


def test_guard_exposure_then_cooldown_after_the_exit(tmp_path):
    s = buyer(tmp_path, stop_loss_pct=3.0, cooldown_seconds=180.0)
    s.direction = 1
    ex = Exchange()
    for snap in minutes(at(10, 0), [100, 100, 100, 100, 100, 101]):
        ex.step(s, snap)
    assert s.sides[Right.CE].entries == 1
    assert ex.step(s, atm_ce(101.5, at(10, 6))) == []  # another breakout while one entry is open
    assert s.rejected == {"exposure_limit": 1}
    legs = ex.step(s, atm_ce(97.0, at(10, 7)))  # 97 / 101 - 1 = -4 %: stop loss
    assert [(leg.side, leg.tag, leg.reason) for leg in legs] == [(Side.SELL, Tag.EXIT, "STOP_LOSS")]
    assert s.sides[Right.CE].book.is_flat and s.metrics()["exit_stop_loss"] == 1
    assert ex.step(s, atm_ce(102.0, at(10, 8))) == []  # above the prior 101.5, 60 s after the exit
    assert s.rejected == {"exposure_limit": 1, "cooldown": 1}
    assert ex.step(s, atm_ce(102.0, at(10, 9))) == [] and ex.step(s, atm_ce(102.0, at(10, 10))) == []
    assert ex.step(s, atm_ce(103.0, at(10, 11)))  # 240 s after the exit: allowed
    assert s.metrics()["entry_guard_rejected"] == {"exposure_limit": 1, "pyramid_not_in_profit": 0,
                                                   "pyramid_too_soon": 0, "cooldown": 1}  # fmt: skip


def test_guard_pyramiding_needs_profit_and_a_delay(tmp_path):
    s = buyer(tmp_path, max_same_side=2, pyramid_delay_seconds=300.0, cooldown_seconds=0.0,
              stop_loss_pct=50.0, target_pct=90.0, trailing_stop_pct=None)  # fmt: skip
    s.direction = 1
    ex = Exchange()
    for snap in minutes(at(10, 0), [100, 100, 100, 100, 100, 101]):
        ex.step(s, snap)
    side = s.sides[Right.CE]
    now = at(10, 6)
    assert s.guard(side, now) == "pyramid_not_in_profit"  # bought at 101, marked 101: no profit (charges aside)
    side.book.mark(atm_ce(110.0, now))
    assert s.guard(side, now) == "pyramid_too_soon"  # 60 s after the entry, 300 needed
    assert s.guard(side, at(10, 10)) == ""
    side.entries = 2
    assert s.guard(side, at(10, 30)) == "exposure_limit"


@pytest.mark.parametrize(("price", "reason"), [(106.1, "TARGET"), (97.9, "STOP_LOSS")])
def test_target_and_stop_on_the_premium(tmp_path, price, reason):
    s = buyer(tmp_path, trailing_stop_pct=None)
    s.direction = 1
    ex = Exchange()
    for snap in minutes(at(10, 0), [100, 100, 100, 100, 100, 101]):
        ex.step(s, snap)
    assert ex.step(s, atm_ce(101.5, at(10, 6)))  == []
    (leg,) = ex.step(s, atm_ce(price, at(10, 7)))
    assert leg.reason == reason and s.sides[Right.CE].book.is_flat


def test_no_entries_from_the_cutoff_and_the_time_exit(tmp_path):
    s = buyer(tmp_path)
    s.direction = 1
    ex = Exchange()
    for snap in minutes(at(14, 45), [100, 100, 100, 100, 100, 101]):
        ex.step(s, snap)
    assert "entries" not in s.metrics()  # the breakout came at 14:50, the cutoff
    s = buyer(tmp_path, stop_loss_pct=90.0, target_pct=90.0, trailing_stop_pct=None)
    s.direction = 1
    for snap in minutes(at(14, 44), [100, 100, 100, 100, 100, 101]):
        ex.step(s, snap)
    assert s.metrics()["entries"] == 1
    assert ex.step(s, atm_ce(101.0, at(15, 14))) == []
    (leg,) = ex.step(s, atm_ce(101.0, at(15, 15)))
    assert leg.reason == "TIME_EXIT"


def test_refused_entries_are_counted_by_code_and_the_state_round_trips(tmp_path):
    import json

    s = buyer(tmp_path)
    s.direction = 1
    ex = Exchange()
    ex.reject = True  # every order refused: the entry never trades
    for snap in minutes(at(10, 0), [100, 100, 100, 100, 100, 101]):
        ex.step(s, snap)
    assert s.sides[Right.CE].entries == 0  # a refused entry is not an open one
    assert s.metrics()["entries_refused"] == {"other": 1}
    from optrunner.core.orders import Order
    from optrunner.core.types import OrderState

    o = Order("x", "T_MB", Tag.ENTRY, ex.sent[-1].contract, Side.BUY, 65, reason="INSUFFICIENT_CAPITAL: needs 7,000")
    o.state = OrderState.REJECTED
    s.on_order_update(o)
    assert s.metrics()["entries_refused"] == {"other": 1, "insufficient_capital": 1}
    for b in bars([25000 + 10 * k for k in range(40)], at(9, 15)):
        s.on_bar(b)
    state = json.loads(json.dumps(s.get_state()))
    fresh = buyer(tmp_path)
    fresh.restore_state(state)
    assert fresh.get_state() == state and fresh.direction == s.direction == 1
