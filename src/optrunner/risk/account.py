"""Account risk: a stepped trailing max loss, a daily-loss lock, a losing-streak cool-down.

From the account risk manager of REFERENCE_SYSTEMS.md §1.6:
``max_loss_level = -base_max_loss + floor(best_day_profit / trail_step) x trail_step`` — it
only moves up as the day's best profit grows. Touching it halts trading for the rest of the
day (kill switch HALTED, which flattens). After ``max_consecutive_loss_days`` losing days in a
row, entries stay blocked (REDUCING) until the next Monday. Limits the account sets itself
are lifted by the account itself when their time is over; an operator's halt is never lifted
automatically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from optrunner.risk.kill_switch import KillSwitch, TradingState
from optrunner.risk.settings import AccountRiskSettings

SOURCE = "account_risk"


@dataclass(slots=True)
class AccountStatus:
    day: date | None
    day_pnl: float
    best_day_pnl: float
    max_loss_level: float
    locked_for_day: bool
    loss_streak: int
    cooldown_until: date | None
    warning: bool


class AccountRisk:
    def __init__(self, settings: AccountRiskSettings, kill_switch: KillSwitch, capital: float | None = None) -> None:
        self.s = settings
        self.switch = kill_switch
        self.capital = capital  # sets the default base max loss when the settings give none
        self.day: date | None = None
        self.day_pnl = 0.0
        self.best_day_pnl = 0.0
        self.locked_for_day = False
        self.loss_streak = 0
        self.cooldown_until: date | None = None
        self.warned = False

    @property
    def base_max_loss(self) -> float:
        if self.s.base_max_loss is not None:
            return self.s.base_max_loss
        if self.capital is None:
            raise ValueError("account risk needs base_max_loss or the account's capital to derive it from")
        return self.capital * self.s.base_max_loss_pct

    @property
    def max_loss_level(self) -> float:
        """The day P&L at which trading halts (negative until profit trails it above zero)."""
        trail = math.floor(max(self.best_day_pnl, 0.0) / self.s.trail_step) * self.s.trail_step
        return -self.base_max_loss + trail

    def start_day(self, d: date, ts: datetime | None = None) -> None:
        """Close the previous day (streak bookkeeping) and lift this module's own expired limits."""
        if self.day is not None and d <= self.day:
            return
        if self.day is not None:
            self.loss_streak = self.loss_streak + 1 if self.day_pnl < 0 else 0
            limit = self.s.max_consecutive_loss_days
            if limit is not None and self.loss_streak >= limit:
                last_loss = (
                    self.day
                )  # the streak's last losing day: blocked until the Monday after it
                self.cooldown_until = last_loss + timedelta(days=7 - last_loss.weekday())
                self.loss_streak = 0
        self.day, self.day_pnl, self.best_day_pnl = d, 0.0, 0.0
        self.locked_for_day = False
        self.warned = False
        in_cooldown = self.cooldown_until is not None and d < self.cooldown_until
        own = self.switch.history and self.switch.history[-1].source == SOURCE
        if in_cooldown:
            self.switch.escalate(
                TradingState.REDUCING, source=SOURCE, ts=ts,
                reason=f"{self.s.max_consecutive_loss_days} losing days in a row: entries blocked until {self.cooldown_until}",
            )  # fmt: skip
        elif own and self.switch.state is not TradingState.ACTIVE:
            self.cooldown_until = None
            self.switch.set(
                TradingState.ACTIVE, source=SOURCE, reason=f"new trading day {d}", ts=ts
            )

    def update(self, day_pnl: float, ts: datetime | None = None) -> str | None:
        """Feed the account's net P&L for the day; returns an alert message when a limit is hit."""
        self.day_pnl = day_pnl
        self.best_day_pnl = max(self.best_day_pnl, day_pnl)
        level = self.max_loss_level
        if not self.locked_for_day and day_pnl <= level:
            self.locked_for_day = True
            self.switch.escalate(
                TradingState.HALTED, source=SOURCE, ts=ts,
                reason=f"day P&L {day_pnl:,.2f} reached the max-loss level {level:,.2f}: flatten and stop for the day",
            )  # fmt: skip
            return f"account max loss hit: day P&L {day_pnl:,.2f} <= {level:,.2f}"
        if not self.warned and level < 0 and day_pnl <= level * self.s.warn_fraction:
            self.warned = True
            return (
                f"account at {day_pnl / level:.0%} of its max loss ({day_pnl:,.2f} of {level:,.2f})"
            )
        return None

    def blocks_entries(self) -> str | None:
        if self.locked_for_day:
            return "account max loss hit today"
        if (
            self.cooldown_until is not None
            and self.day is not None
            and self.day < self.cooldown_until
        ):
            return f"losing-streak cool-down until {self.cooldown_until}"
        return None

    def status(self) -> AccountStatus:
        return AccountStatus(
            self.day, self.day_pnl, self.best_day_pnl, self.max_loss_level, self.locked_for_day,
            self.loss_streak, self.cooldown_until, self.warned,
        )  # fmt: skip

    def to_state(self) -> dict:
        return {
            "day": self.day.isoformat() if self.day else None, "day_pnl": self.day_pnl,
            "best_day_pnl": self.best_day_pnl, "locked_for_day": self.locked_for_day,
            "loss_streak": self.loss_streak,
            "cooldown_until": self.cooldown_until.isoformat() if self.cooldown_until else None,
        }  # fmt: skip

    def restore(self, d: dict) -> None:
        self.day = date.fromisoformat(d["day"]) if d["day"] else None
        self.day_pnl, self.best_day_pnl = d["day_pnl"], d["best_day_pnl"]
        self.locked_for_day, self.loss_streak = d["locked_for_day"], d["loss_streak"]
        self.cooldown_until = (
            date.fromisoformat(d["cooldown_until"]) if d["cooldown_until"] else None
        )
