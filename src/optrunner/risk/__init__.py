"""Risk: pre-trade checks (fail closed), per-strategy limits, capital allocator, account limits, kill switch."""

from optrunner.risk.account import AccountRisk
from optrunner.risk.allocator import CapitalAllocator, Sizing
from optrunner.risk.engine import Decision, RiskEngine, is_reducing
from optrunner.risk.kill_switch import KillSwitch, TradingState
from optrunner.risk.limits import StrategyLimits
from optrunner.risk.settings import AccountRiskSettings, EntryGuardSettings, RiskSettings
from optrunner.risk.view import PositionInfo, RiskView

__all__ = [
    "AccountRisk", "AccountRiskSettings", "CapitalAllocator", "Decision", "EntryGuardSettings",
    "KillSwitch", "PositionInfo", "RiskEngine", "RiskSettings", "RiskView", "Sizing",
    "StrategyLimits", "TradingState", "is_reducing",
]  # fmt: skip
