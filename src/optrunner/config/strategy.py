"""``StrategyConfig``: one strategy file, as the seed documented it plus what DNSS needs."""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from optrunner.config.base import ConfigModel, Flag, Name, Text, one_of
from optrunner.config.kinds import (
    STRATEGY_KINDS,
    LowFrequencyDemoSection,
    MLMomentumSection,
    MomentumBuyerSection,
    MomentumSection,
    WeeklyZonesSection,
)
from optrunner.config.legs import LegConfig, LegsEntry, LegsExit
from optrunner.config.market import MarketConfig
from optrunner.config.operations import (
    BacktestingConfig,
    ExecutionConfig,
    MonitoringConfig,
    RiskManagementConfig,
)
from optrunner.config.rules import INVALID, check_rules
from optrunner.config.sections import (
    STRATEGY_FOR_ENTRY_TYPE,
    AdjustmentConfig,
    EntryConfig,
    ExitConfig,
)

RULES_ERROR = "cross_field_rules"  # pydantic error type of a rule violation (reported per path by validate_config)


class StrategyConfig(ConfigModel):
    """A strategy file. Build it with ``validate_config`` / ``load_config_file`` to get every
    problem reported at once, in plain words. ``StrategyConfig.model_validate`` works too but
    raises pydantic's ValidationError (cross-field problems as one combined error)."""

    name: Name = Field(
        description="Unique strategy identifier, e.g. NIFTY_DNSS. Must not be empty.",
        examples=["NIFTY_DNSS"],
    )
    enabled: Flag = Field(description="true: the runner loads this strategy; false: it is skipped.")
    description: Text = Field("", description="Free text describing the strategy.")
    version: Text = Field("1.0.0", description="Your version label for this file, e.g. 1.0.0.")
    strategy: Annotated[Literal[STRATEGY_KINDS], one_of(STRATEGY_KINDS)] | None = Field(
        None,
        description=(
            "The strategy kind that runs this file; it reads its own section (dnss: entry, "
            "adjustment, exit; legs: legs, legs_entry, legs_exit; every other kind: the section named "
            "after it). Unset: derived "
            "from entry.entry_type (delta_neutral -> dnss)."
        ),
    )
    market_config: MarketConfig = Field(description="Where the option chain comes from.")
    entry: EntryConfig | None = Field(
        None,
        description="dnss: entry time, target deltas, lots per leg and expiry of the position.",
    )
    adjustment: AdjustmentConfig | None = Field(
        None,
        description="dnss: when a leg is closed and re-opened (re-balancing). Unset: no adjustments.",
    )
    exit: ExitConfig | None = Field(
        None, description="dnss: exit time, profit targets, loss limits and trailing stop."
    )
    momentum: MomentumSection | None = Field(
        None, description="momentum: the options traded and the momentum rule's parameters."
    )
    low_frequency_demo: LowFrequencyDemoSection | None = Field(
        None, description="low_frequency_demo: the options traded and the signal schedule."
    )
    ml_momentum: MLMomentumSection | None = Field(
        None, description="ml_momentum: the options traded, the model file and its thresholds."
    )
    weekly_zones: WeeklyZonesSection | None = Field(
        None, description="weekly_zones: the S1-S8 signals traded, size, hedge, exits and limits."
    )
    momentum_buyer: MomentumBuyerSection | None = Field(
        None, description="momentum_buyer: direction, strike choice, breakout, entry guard and exits."
    )
    legs: Annotated[tuple[LegConfig, ...], Field(min_length=1, max_length=12)] | None = Field(
        None,
        description="legs: the option legs, each with action, type, lots, expiry, strike rule and its own exits "
        "(docs/strategies.md).",
    )
    legs_entry: LegsEntry | None = Field(
        None, description="legs: entry time, weekdays, days to expiry, spot and wait-and-trade conditions."
    )
    legs_exit: LegsExit | None = Field(
        None, description="legs: overall exits (MTM stop and target, lock-and-trail, time, hold to expiry)."
    )
    execution: ExecutionConfig = Field(
        default_factory=ExecutionConfig, description="How orders are sent."
    )
    risk_management: RiskManagementConfig = Field(
        default_factory=RiskManagementConfig, description="Limits checked before every order."
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig,
        description="Evaluation interval, logging, alerts and metrics.",
    )
    backtesting: BacktestingConfig = Field(
        default_factory=BacktestingConfig, description="What the strategy's backtest claimed."
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_strategy(cls, data: Any) -> Any:
        """Fill ``strategy`` from ``entry.entry_type`` when the file does not name one."""
        if not isinstance(data, dict) or data.get("strategy") is not None:
            return data
        entry = data.get("entry")
        entry_type = entry.get("entry_type", "delta_neutral") if isinstance(entry, dict) else None
        derived = STRATEGY_FOR_ENTRY_TYPE.get(entry_type) if isinstance(entry_type, str) else None
        return {**data, "strategy": derived} if derived else data

    def _lookup(self, path: str) -> Any:
        """A field's value by dotted path; INVALID inside an absent section (rules stay silent)."""
        try:
            return attrgetter(path)(self)
        except AttributeError:
            return INVALID

    @model_validator(mode="after")
    def _cross_field(self) -> StrategyConfig:
        issues = check_rules(self._lookup)
        if issues:
            raise PydanticCustomError(
                RULES_ERROR, "{issues}", {"issues": "; ".join(map(str, issues))}
            )
        return self
