"""The risk engine: runs the pre-trade checks on every leg, fails closed, counts reasons.

Any exception inside a check rejects the order (``CHECK_ERROR``) — the old guard that let
errors through ("fail open") is the bug this layer exists to not have.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from optrunner.core.orders import OrderIntent
from optrunner.risk import checks
from optrunner.risk.account import AccountRisk
from optrunner.risk.kill_switch import KillSwitch, TradingState
from optrunner.risk.limits import StrategyLimits
from optrunner.risk.settings import RiskSettings
from optrunner.risk.view import RiskView

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    code: str = "OK"
    message: str = ""
    reducing: bool = False


def is_reducing(intent: OrderIntent, view: RiskView) -> bool:
    """True when the order only shrinks the strategy's position (net of working orders)."""
    held = view.position_qty(intent.strategy, intent.contract) + view.pending_qty(
        intent.strategy, intent.contract
    )
    s = intent.signed_quantity
    return held != 0 and (held > 0) != (s > 0) and abs(s) <= abs(held)


class RiskEngine:
    def __init__(
        self,
        settings: RiskSettings | None = None,
        kill_switch: KillSwitch | None = None,
        account: AccountRisk | None = None,
    ) -> None:
        self.settings = settings or RiskSettings()
        self.kill_switch = kill_switch or KillSwitch()
        self.account = account or AccountRisk(self.settings.account, self.kill_switch)
        self.limits: dict[str, StrategyLimits] = {}
        # strategies being drained (changed or removed in strategy_configurations while they
        # hold positions, runner_reload.py): exits only until they are flat
        self.draining: set[str] = set()
        self.passed = 0
        self.rejected: Counter[str] = Counter()

    def set_limits(self, strategy: str, limits: StrategyLimits) -> None:
        self.limits[strategy] = limits

    def check(self, intent: OrderIntent, view: RiskView) -> Decision:
        try:
            decision = self._check(intent, view)
        except Exception as exc:  # fail closed
            log.exception(
                "risk check crashed on %s %s %s", intent.strategy, intent.side, intent.contract
            )
            decision = Decision(False, "CHECK_ERROR", f"risk check failed: {exc!r}")
        if decision.ok:
            self.passed += 1
        else:
            self.rejected[decision.code] += 1
        return decision

    def _check(self, intent: OrderIntent, view: RiskView) -> Decision:
        if intent.quantity <= 0:
            return Decision(False, "BAD_QUANTITY", f"quantity {intent.quantity} must be positive")
        state = self.kill_switch.state
        if state is TradingState.HALTED:
            return Decision(False, "KILL_SWITCH_HALTED", "trading is halted")
        if is_reducing(intent, view):
            return Decision(True, reducing=True)
        if state is TradingState.REDUCING:
            return Decision(False, "KILL_SWITCH_REDUCING", "kill switch allows exits only")
        if view.is_strategy_halted(intent.strategy):
            return Decision(False, "STRATEGY_HALTED", f"strategy {intent.strategy} is halted")
        if intent.strategy in self.draining:
            return Decision(False, "STRATEGY_DRAINING", f"strategy {intent.strategy} is being drained "
                            "(removed or changed by a hot reload): exits only until it is flat")
        blocked = self.account.blocks_entries()
        if blocked:
            return Decision(False, "ACCOUNT_LIMIT", blocked)
        s = self.settings
        for rejection in (
            checks.market_hours(intent, view, s),
            checks.entry_cutoff(intent, view, s),
            checks.stale_data(intent, view, s),
            checks.strategy_limits(
                intent, view, self.limits.get(intent.strategy, StrategyLimits())
            ),
            checks.entry_guard(intent, view, s),
        ):
            if rejection is not None:
                return Decision(False, rejection.code, rejection.message)
        return Decision(True)

    def metrics(self) -> dict[str, object]:
        return {"passed": self.passed, "rejected": dict(self.rejected)}
