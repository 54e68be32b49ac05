"""Account-level risk settings (platform settings, not per strategy file).

Defaults follow the systems behind our requirements (REFERENCE_SYSTEMS.md §1.6, §2.2);
every field is used by a check below.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EntryGuardSettings(BaseModel):
    """seeds/001's entry guard: exposure, pyramiding, re-entry cooldown, capital."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_same_side: int = Field(
        1, ge=1, description="open positions per (underlying, direction, option type)"
    )
    pyramid_min_age_seconds: float = Field(
        300, ge=0, description="an add-on needs the open position this old"
    )
    pyramid_requires_profit: bool = True
    reentry_cooldown_seconds: float = Field(
        180, ge=0, description="after exiting a contract, wait this long"
    )
    short_margin_pct: float = Field(
        0.12,
        gt=0,
        le=1,
        description="margin estimate for a short option: this fraction of underlying notional",
    )


class AccountRiskSettings(BaseModel):
    """Account limits: trailing max loss, daily lock, consecutive loss-day cool-down."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    base_max_loss: float | None = Field(
        None, gt=0, description="rupees: day loss that halts trading (default: base_max_loss_pct of capital)"
    )
    base_max_loss_pct: float = Field(0.02, gt=0, lt=1, description="default day loss limit as a fraction of capital")
    trail_step: float = Field(
        100, gt=0, description="max loss trails up by whole steps of the day's best profit"
    )
    warn_fraction: float = Field(0.8, gt=0, lt=1)
    max_consecutive_loss_days: int | None = Field(
        3, ge=1, description="then no entries until next Monday (null: no cool-down)"
    )


class RiskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    no_new_entries_after: time = time(14, 50)
    stale_after_seconds: float = Field(
        120, gt=0, description="market data older than this blocks entries"
    )
    enforce_market_hours: bool = True
    on_halt: Literal["flatten", "hold_and_alert"] = Field(
        "flatten",
        description="a halted strategy's positions: flatten them (default; an unmanaged short "
        "option is the worst case) or hold them and raise a critical alert",
    )
    entry_guard: EntryGuardSettings = EntryGuardSettings()
    account: AccountRiskSettings = AccountRiskSettings()
