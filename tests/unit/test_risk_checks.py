"""Pre-trade checks: each rejection with its reason code, exits always allowed, fail closed."""

from datetime import datetime, timedelta

import pytest
from _risk_support import NOW, FakeView, contract, intent, position, quote

from optrunner.core.timeutil import IST
from optrunner.core.types import Side, Tag
from optrunner.risk import KillSwitch, RiskEngine, RiskSettings, StrategyLimits, TradingState
from optrunner.risk.settings import EntryGuardSettings


def check(i, view, limits=None, settings=None, switch=None):
    engine = RiskEngine(settings or RiskSettings(), switch or KillSwitch())
    if limits:
        engine.set_limits(i.strategy, limits)
    return engine.check(i, view)


def test_clean_entry_passes():
    d = check(intent(), FakeView())
    assert d.ok and not d.reducing


def test_exit_of_a_short_is_reducing_and_skips_every_entry_limit():
    c = contract()
    view = FakeView(positions=[position(c, -65)], pnl={"S1": (-99_999.0, -99_999.0)}, ages={})
    view.clock = datetime(2026, 11, 16, 20, 0, tzinfo=IST)  # market closed, data stale, loss limits blown
    limits = StrategyLimits(max_total_loss=1000, max_daily_loss=1000)
    d = check(intent(c, Side.BUY, 65, Tag.EXIT), view, limits, switch=KillSwitch(TradingState.REDUCING))
    assert d.ok and d.reducing


def test_buy_larger_than_the_short_is_not_an_exit():
    c = contract()
    view = FakeView(positions=[position(c, -65)])
    view.clock = datetime(2026, 11, 16, 20, 0, tzinfo=IST)
    d = check(intent(c, Side.BUY, 130, Tag.EXIT), view)
    assert not d.ok and d.code == "MARKET_CLOSED"


def test_exit_counts_orders_already_working_so_two_exits_cannot_flip_the_position():
    c = contract()
    view = FakeView(positions=[position(c, -65)], pending={("S1", c): 65})
    view.clock = datetime(2026, 11, 16, 20, 0, tzinfo=IST)
    d = check(intent(c, Side.BUY, 65, Tag.EXIT), view)
    assert not d.ok


@pytest.mark.parametrize(
    "state, code", [(TradingState.HALTED, "KILL_SWITCH_HALTED"), (TradingState.REDUCING, "KILL_SWITCH_REDUCING")]
)
def test_kill_switch_blocks_entries(state, code):
    d = check(intent(), FakeView(), switch=KillSwitch(state))
    assert (d.ok, d.code) == (False, code)


def test_halted_kill_switch_blocks_even_exits():
    c = contract()
    d = check(intent(c, Side.BUY, 65, Tag.EXIT), FakeView(positions=[position(c, -65)]),
              switch=KillSwitch(TradingState.HALTED))  # fmt: skip
    assert d.code == "KILL_SWITCH_HALTED"


def test_halted_strategy_cannot_enter():
    assert check(intent(), FakeView(halted={"S1"})).code == "STRATEGY_HALTED"


def test_market_hours_and_entry_cutoff():
    assert check(intent(), FakeView(clock=NOW.replace(hour=9, minute=0))).code == "MARKET_CLOSED"
    late = FakeView(clock=NOW.replace(hour=14, minute=55))
    assert check(intent(), late).code == "ENTRY_CUTOFF"
    # the cutoff stops new positions, not a strategy's adjustment re-entry
    assert check(intent(tag=Tag.ADJUST_ENTRY), late).ok


def test_stale_or_missing_data_blocks_entries():
    assert check(intent(), FakeView(ages={"NIFTY": 121.0})).code == "STALE_DATA"
    assert check(intent(), FakeView(ages={})).code == "STALE_DATA"


def test_missing_quote_fails_closed():
    view = FakeView()
    view.quote = lambda c: None  # contract vanished from the chain
    assert check(intent(), view).code == "NO_QUOTE"


def test_max_concurrent_legs_counts_open_and_working_legs():
    view = FakeView(positions=[position(contract(26000, "CE"), -65)], pending={("S1", contract(25000, "PE")): -65})
    d = check(intent(contract(26100, "CE"), tag=Tag.ADJUST_ENTRY), view, StrategyLimits(max_concurrent_legs=2))
    assert d.code == "MAX_CONCURRENT_LEGS"
    # adding to a leg already open is not a new leg
    assert check(intent(contract(26000, "CE"), tag=Tag.ADJUST_ENTRY), view, StrategyLimits(max_concurrent_legs=2)).ok


def test_max_position_size_in_lots():
    c = contract()
    view = FakeView(positions=[position(c, -65 * 2)])
    d = check(intent(c, qty=65 * 2, tag=Tag.ADJUST_ENTRY), view, StrategyLimits(max_position_size=3))
    assert d.code == "MAX_POSITION_SIZE"
    assert check(intent(c, qty=65, tag=Tag.ADJUST_ENTRY), view, StrategyLimits(max_position_size=3)).ok


def test_total_and_daily_loss_limits():
    assert check(intent(), FakeView(pnl={"S1": (-10_000.0, 0.0)}), StrategyLimits(max_total_loss=10_000)).code == "MAX_TOTAL_LOSS"
    assert check(intent(), FakeView(pnl={"S1": (0.0, -5_001.0)}), StrategyLimits(max_daily_loss=5_000)).code == "MAX_DAILY_LOSS"
    assert check(intent(), FakeView(pnl={"S1": (-9_999.0, -4_999.0)}), StrategyLimits(10, None, 10_000, 5_000)).ok


def test_notional_limit_sum_of_qty_times_strike():
    view = FakeView(positions=[position(contract(25000, "PE"), -65)])
    # 65 x 25000 + 65 x 26000 = 3,315,000
    assert check(intent(contract(26000)), view, StrategyLimits(notional_value_limit=3_314_999)).code == "NOTIONAL_LIMIT"
    assert check(intent(contract(26000)), view, StrategyLimits(notional_value_limit=3_315_000)).ok


def test_vega_and_gamma_limits_on_the_resulting_net_position():
    c = contract()
    view = FakeView(greeks={"S1": (-500.0, -0.05)}, quotes={c: quote(c, vega=10.0, gamma=0.001)})
    # selling 65 adds -650 vega and -0.065 gamma
    assert check(intent(c), view, StrategyLimits(vega_limit=1_100)).code == "VEGA_LIMIT"
    assert check(intent(c), view, StrategyLimits(vega_limit=1_200)).ok
    assert check(intent(c), view, StrategyLimits(gamma_limit=0.1)).code == "GAMMA_LIMIT"
    nan_greeks = FakeView(quotes={c: quote(c, vega=float("nan"))})
    assert check(intent(c), nan_greeks, StrategyLimits(vega_limit=1e9)).code == "NO_GREEKS"


def test_entry_guard_max_same_side_and_pyramiding():
    c1, c2 = contract(26000, "CE"), contract(26100, "CE")
    other = "S2"
    young_loser = FakeView(positions=[position(c1, -65, other, unrealized=-10.0)])
    assert check(intent(c2), young_loser).code == "PYRAMID_NOT_PROFITABLE"
    young_winner = FakeView(positions=[position(c1, -65, other, unrealized=10.0, opened=NOW - timedelta(minutes=2))])
    assert check(intent(c2), young_winner).code == "PYRAMID_TOO_YOUNG"
    old_winner = FakeView(positions=[position(c1, -65, other, unrealized=10.0, opened=NOW - timedelta(minutes=6))])
    assert check(intent(c2), old_winner).ok
    # a short put is a different side from a short call
    assert check(intent(contract(25000, "PE")), young_loser).ok
    two = FakeView(positions=[position(c1, -65, other), position(c2, -65, other)])
    assert check(intent(contract(26200)), two).code == "MAX_SAME_SIDE"
    wider = RiskSettings(entry_guard=EntryGuardSettings(max_same_side=3))
    assert check(intent(contract(26200)), two, settings=wider).ok


def test_reentry_cooldown_per_contract():
    c = contract()
    view = FakeView(exits={c: NOW - timedelta(seconds=179)})
    assert check(intent(c), view).code == "REENTRY_COOLDOWN"
    assert check(intent(c), FakeView(exits={c: NOW - timedelta(seconds=181)})).ok


def test_capital_check_for_buys_and_short_margin():
    c = contract()
    # buying 65 at ask 100.5 needs 6,532.5
    assert check(intent(c, Side.BUY), FakeView(capital=6_500.0)).code == "INSUFFICIENT_CAPITAL"
    assert check(intent(c, Side.BUY), FakeView(capital=6_600.0)).ok
    # selling 65 needs 65 x 26000 x 12% = 202,800 of margin
    assert check(intent(c), FakeView(capital=200_000.0)).code == "INSUFFICIENT_CAPITAL"
    # margin already blocked by an open short (another underlying side) counts
    busy = FakeView(capital=400_000.0, positions=[position(contract(25000, "PE"), -65, "S2")])
    assert check(intent(c), busy).code == "INSUFFICIENT_CAPITAL"


@pytest.mark.parametrize("broken", ["position_qty", "strategy_pnl"])
def test_any_exception_inside_a_check_rejects(broken):
    engine = RiskEngine()
    d = engine.check(intent(), FakeView(raise_in=broken))
    assert (d.ok, d.code) == (False, "CHECK_ERROR")
    assert engine.rejected["CHECK_ERROR"] == 1


def test_reason_codes_are_counted():
    engine = RiskEngine()
    engine.check(intent(), FakeView())
    engine.check(intent(), FakeView(ages={}))
    engine.check(intent(), FakeView(ages={}))
    assert engine.metrics() == {"passed": 1, "rejected": {"STALE_DATA": 2}}


def test_non_positive_quantity_rejected():
    assert check(intent(qty=0), FakeView()).code == "BAD_QUANTITY"
