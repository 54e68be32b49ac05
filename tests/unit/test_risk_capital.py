"""Capital allocator (corrected risk formula), account limits and the kill switch."""

from datetime import date

import pytest

from optrunner.risk import (
    AccountRisk,
    AccountRiskSettings,
    CapitalAllocator,
    KillSwitch,
    TradingState,
)
from optrunner.risk.allocator import ENV_ALLOC, ENV_RISK


def test_allocator_risk_cap_is_in_lots_not_units():
    # balance 100k -> band 2: alloc 25%, risk 3.5%. price 100, lot 65, stop 30%
    # by_alloc = floor(25,000 / 6,500) = 3 lots; by_risk = floor(3,500 / (100 x 0.3 x 65)) = floor(1.79) = 1 lot
    s = CapitalAllocator().size(100_000, 100.0, 65)
    assert (s.by_alloc_lots, s.by_risk_lots, s.lots, s.quantity) == (3, 1, 1, 65)


def test_allocator_never_forces_a_lot_that_breaks_the_risk_budget():
    # balance 50k: risk 5% = 2,500; one lot risks 200 x 0.3 x 65 = 3,900 > 2,500
    s = CapitalAllocator().size(50_000, 200.0, 65)
    assert s.quantity == 0 and "risk budget" in s.reason


def test_allocator_bands_by_balance():
    a = CapitalAllocator()
    assert a.band(75_000).alloc_pct == 0.30
    assert a.band(75_001).alloc_pct == 0.25
    assert a.band(300_000).risk_per_trade_pct == 0.030
    assert a.band(10_000_000).risk_per_trade_pct == 0.025
    assert a.daily_max_loss(100_000) == pytest.approx(6_000)


def test_allocator_multiplier_and_caps():
    # 1M balance: alloc 20% = 200k, risk 2.5% = 25k; price 50, lot 65
    a = CapitalAllocator()
    assert a.size(1_000_000, 50.0, 65).lots == min(200_000 // 3250, int(25_000 // (50 * 0.3 * 65)))
    assert a.size(1_000_000, 50.0, 65, multiplier=2).lots == min(400_000 // 3250, int(50_000 // (50 * 0.3 * 65)))
    with pytest.raises(ValueError):
        a.size(1_000_000, 50.0, 65, multiplier=0)


def test_allocator_overrides_env_beats_config_beats_band(monkeypatch):
    base = CapitalAllocator().size(1_000_000, 10.0, 65)
    configured = CapitalAllocator(alloc_pct=0.05, risk_per_trade_pct=0.5).size(1_000_000, 10.0, 65)
    assert configured.alloc_pct == 0.05 and configured.lots == 50_000 // 650
    assert configured.lots != base.lots
    monkeypatch.setenv(ENV_ALLOC, "0.01")
    monkeypatch.setenv(ENV_RISK, "0.5")
    env = CapitalAllocator(alloc_pct=0.05, risk_per_trade_pct=0.5).size(1_000_000, 10.0, 65)
    assert env.alloc_pct == 0.01 and env.lots == 10_000 // 650
    monkeypatch.setenv(ENV_ALLOC, "lots")
    with pytest.raises(ValueError, match=ENV_ALLOC):
        CapitalAllocator().size(1_000_000, 10.0, 65)


def test_trailing_max_loss_steps_up_with_the_days_best_profit():
    switch = KillSwitch()
    acct = AccountRisk(AccountRiskSettings(base_max_loss=2000, trail_step=100), switch, capital=100_000)
    acct.start_day(date(2026, 11, 16))
    assert acct.max_loss_level == -2000
    acct.update(1_250.0)
    assert acct.max_loss_level == -800  # -2000 + floor(1250/100)*100
    acct.update(300.0)
    assert acct.max_loss_level == -800  # never moves down
    assert switch.state is TradingState.ACTIVE
    msg = acct.update(-800.0)
    assert msg and "max loss" in msg
    assert switch.state is TradingState.HALTED and acct.blocks_entries()
    acct.start_day(date(2026, 11, 17))  # its own lock ends with the day
    assert switch.state is TradingState.ACTIVE and acct.blocks_entries() is None


def test_warning_at_80_percent_of_the_limit():
    acct = AccountRisk(AccountRiskSettings(base_max_loss=2000), KillSwitch(), capital=100_000)
    acct.start_day(date(2026, 11, 16))
    assert acct.update(-1500.0) is None
    assert "80%" in acct.update(-1600.0)
    assert acct.update(-1700.0) is None  # warned once


def test_operator_halt_is_not_lifted_by_a_new_day():
    switch = KillSwitch()
    acct = AccountRisk(AccountRiskSettings(), switch, capital=100_000)
    acct.start_day(date(2026, 11, 16))
    switch.set(TradingState.HALTED, source="api", reason="operator pressed stop")
    acct.start_day(date(2026, 11, 17))
    assert switch.state is TradingState.HALTED


def test_three_losing_days_block_entries_until_the_next_monday():
    switch = KillSwitch()
    acct = AccountRisk(AccountRiskSettings(max_consecutive_loss_days=3), switch, capital=100_000)
    for d in (date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)):  # Mon, Tue, Wed losses
        acct.start_day(d)
        acct.update(-100.0)
    acct.start_day(date(2026, 11, 19))
    assert acct.cooldown_until == date(2026, 11, 23)
    assert switch.state is TradingState.REDUCING and "cool-down" in acct.blocks_entries()
    acct.start_day(date(2026, 11, 20))
    assert acct.blocks_entries()
    acct.start_day(date(2026, 11, 23))
    assert switch.state is TradingState.ACTIVE and acct.blocks_entries() is None


def test_a_winning_day_resets_the_streak():
    acct = AccountRisk(AccountRiskSettings(max_consecutive_loss_days=3), KillSwitch(), capital=100_000)
    for d, pnl in ((16, -1.0), (17, -1.0), (18, 5.0), (19, -1.0), (20, -1.0)):
        acct.start_day(date(2026, 11, d))
        acct.update(pnl)
    acct.start_day(date(2026, 11, 23))
    assert acct.cooldown_until is None and acct.loss_streak == 2


def test_account_state_round_trip():
    acct = AccountRisk(AccountRiskSettings(), KillSwitch(), capital=100_000)
    acct.start_day(date(2026, 11, 16))
    acct.update(700.0)
    other = AccountRisk(AccountRiskSettings(), KillSwitch(), capital=100_000)
    other.restore(acct.to_state())
    assert other.status() == acct.status()


@pytest.mark.parametrize("name", ["OPTRUNNER_DISABLE_TRADING", "DISABLE_TRADING_SUPERVISOR"])
def test_kill_switch_from_environment_blocks_entries_but_not_exits(name):
    s = KillSwitch()
    assert s.apply_env({name: "true"}) == f"{name}=true"
    assert s.state is TradingState.REDUCING and s.allows_exits and not s.allows_entries
    assert s.reason == f"{name}=true"
    assert s.apply_env({name: "false"}) is None and s.state is TradingState.ACTIVE


def test_clearing_the_environment_never_relaxes_what_an_operator_set():
    s = KillSwitch()
    s.set(TradingState.REDUCING, source="api", reason="manual")
    s.apply_env({})
    assert s.state is TradingState.REDUCING and s.reason == "manual"


def test_kill_switch_history_listeners_and_escalate_never_relaxes():
    seen = []
    s = KillSwitch()
    s.on_change(seen.append)
    s.set(TradingState.REDUCING, source="api", reason="manual")
    assert not s.escalate(TradingState.ACTIVE, source="account_risk", reason="x")
    assert s.escalate(TradingState.HALTED, source="account_risk", reason="limit")
    assert [c.new for c in seen] == [TradingState.REDUCING, TradingState.HALTED]
    assert s.history[-1].source == "account_risk" and not s.allows_exits


def test_default_day_loss_limit_is_two_percent_of_capital():
    acct = AccountRisk(AccountRiskSettings(), KillSwitch(), capital=1_000_000)
    acct.start_day(date(2026, 11, 16))
    assert acct.max_loss_level == -20_000
    assert AccountRisk(AccountRiskSettings(base_max_loss=5_000), KillSwitch(), capital=1_000_000).max_loss_level == -5_000
    with pytest.raises(ValueError, match="capital"):
        _ = AccountRisk(AccountRiskSettings(), KillSwitch()).max_loss_level
