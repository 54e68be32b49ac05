"""``entry``, ``adjustment`` and ``exit``: when the strategy trades and what makes it act."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from optrunner.config.base import (
    ConfigModel,
    Flag,
    Fraction,
    NonNegativeInt,
    PositiveInt,
    PositiveNumber,
    SessionTime,
    one_of,
    show,
)

DEFAULT_TARGET_DELTA = 0.30  # seed 000's example, used when a file gives no target delta
DEFAULT_LOTS = 1
# A trailing stop enabled without its levels trails the premium collected: starts at 25 % of it
# in profit, exits 10 % of it below the peak (rupee levels would not scale with quantity).
DEFAULT_TRAIL_ACTIVATION_PCT = 25.0
DEFAULT_TRAIL_DISTANCE_PCT = 10.0
DELTA_TOLERANCE_CAP = (
    0.15  # REFERENCE_SYSTEMS §5: never take a strike further than this from target
)
EXPIRY_CHOICES = ("weekly", "next_weekly", "monthly")
ENTRY_TYPES = ("delta_neutral",)
# The strategy a file runs when it names none: entry_type -> registered strategy type.
STRATEGY_FOR_ENTRY_TYPE = {"delta_neutral": "dnss"}
STRATEGY_TYPES = tuple(sorted(set(STRATEGY_FOR_ENTRY_TYPE.values())))


def _expiry(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if value in EXPIRY_CHOICES:
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(
        f'{show(value)} is not an expiry — use weekly, next_weekly, monthly or a date like "2026-02-10"'
    )


ExpirySelector = Annotated[
    Literal["weekly", "next_weekly", "monthly"] | date,
    BeforeValidator(_expiry),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(EXPIRY_CHOICES)},
                {"type": "string", "format": "date"},
            ]
        }
    ),
]


def _within_cap(value: float) -> float:
    if value > DELTA_TOLERANCE_CAP:
        raise ValueError(
            f"{value} is above the {DELTA_TOLERANCE_CAP} hard cap — a strike further than that "
            "from the target delta is never taken"
        )
    return value


class EntryConfig(ConfigModel):
    """When and how the position is opened."""

    entry_time: SessionTime = Field(
        description="Time (IST, 24-hour HH:MM) from which the entry is attempted; 09:15 or later.",
        examples=["09:30"],
    )
    entry_type: Annotated[Literal["delta_neutral"], one_of(ENTRY_TYPES)] = Field(
        "delta_neutral",
        description="Kind of entry. delta_neutral sells a CE and a PE at the target deltas (the dnss strategy).",
    )
    target_ce_delta: Fraction | None = Field(
        None,
        description="Delta of the call to sell (0.30 = 30 delta); 0 < x < 1. Unset: 0.30.",
        examples=[0.25],
    )
    target_pe_delta: Fraction | None = Field(
        None,
        description="Absolute delta of the put to sell (0.30 means a put of delta -0.30); 0 < x < 1. Unset: 0.30.",
        examples=[0.25],
    )
    delta_tolerance: Annotated[PositiveNumber, AfterValidator(_within_cap)] = Field(
        0.05,
        description="How far a strike's |delta| may be from the target and still be taken; at most 0.15.",
        json_schema_extra={"maximum": DELTA_TOLERANCE_CAP},
    )
    quantity: PositiveInt | None = Field(
        None,
        description="Lots per leg (order size = lots x the contract's lot size). Unset: 1.",
        examples=[1],
    )
    max_attempts: PositiveInt = Field(
        3,
        description="Entry attempts (e.g. unfilled or rejected orders) before the strategy gives up for the day.",
    )
    expiry: ExpirySelector = Field(
        "weekly",
        description=(
            "Contract expiry to trade: weekly (nearest weekly), next_weekly, monthly (nearest "
            "monthly) or an ISO date such as 2026-02-10."
        ),
    )
    trade_expiry_day: Flag = Field(
        False,
        description=(
            "false: on the selected expiry's own day, skip it and trade the following expiry; "
            "true: trade the contract that expires today."
        ),
    )


    @property
    def ce_delta(self) -> float:
        return self.target_ce_delta if self.target_ce_delta is not None else DEFAULT_TARGET_DELTA

    @property
    def pe_delta(self) -> float:
        return self.target_pe_delta if self.target_pe_delta is not None else DEFAULT_TARGET_DELTA

    @property
    def lots(self) -> int:
        return self.quantity if self.quantity is not None else DEFAULT_LOTS


class AdjustmentConfig(ConfigModel):
    """The DNSS re-balancing rules: when a leg is closed and re-opened."""

    enabled: Flag = Field(True, description="Whether adjustments are made at all.")
    adjustment_type: Annotated[Literal["delta_drift"], one_of(("delta_drift",))] = Field(
        "delta_drift",
        description="What triggers an adjustment. delta_drift: the net position delta (see delta_drift_trigger).",
    )
    delta_drift_trigger: Fraction | None = Field(
        None,
        description=(
            "Adjust when |delta(CE) + delta(PE)| exceeds this; 0 < x < 1. Unset: no adjustments "
            "(validate warns)."
        ),
        examples=[0.30],
    )
    rebalance_target_delta: Fraction | None = Field(
        None,
        description=(
            "|delta| of the re-opened leg. Unset: match the surviving leg's |delta| (the DNSS rule)."
        ),
    )
    cooldown_seconds: NonNegativeInt = Field(
        60, description="Minimum seconds between two adjustments."
    )
    max_adjustments_per_day: PositiveInt = Field(
        5, description="No more adjustments after this many in one trading day."
    )
    max_leg_delta: Fraction = Field(
        0.65,
        description=(
            "Emergency threshold: when a leg's |delta| exceeds it, that (tested) leg is the one closed "
            "instead of the untested one."
        ),
    )
    max_replacement_attempts: PositiveInt = Field(
        3,
        description=(
            "Tries at selling a bought-back leg's replacement before the whole strangle is closed "
            "(counted apart from entry.max_attempts)."
        ),
    )
    profit_step: PositiveNumber | None = Field(
        None,
        description=(
            "Rupees: also re-centre the strangle each time open-leg profit grows by this much. "
            "Unset: no profit-triggered adjustments."
        ),
        examples=[1500],
    )


class ExitConfig(ConfigModel):
    """What closes the whole position."""

    exit_time: SessionTime = Field(
        description="Time (IST, HH:MM) at which every leg is bought back; after entry_time, 15:30 at the latest.",
        examples=["15:15"],
    )
    exit_type: Annotated[Literal["profit_target"], one_of(("profit_target",))] = Field(
        "profit_target",
        description=(
            "profit_target: exit on whichever of profit target, loss limit, trailing stop or exit_time comes first."
        ),
    )
    profit_target: PositiveNumber | None = Field(
        None,
        description="Rupees: exit when the strategy's P&L reaches this profit.",
        examples=[5000],
    )
    max_loss: PositiveNumber | None = Field(
        None,
        description="Rupees: exit when the strategy's loss reaches this amount (stop loss).",
        examples=[5000],
    )
    profit_target_percent: Annotated[PositiveNumber, Field(le=100)] | None = Field(
        None,
        description=(
            "Exit when profit reaches this percent of the premium collected (at most 100). "
            "May be set together with profit_target: whichever is reached first fires."
        ),
    )
    stop_loss_percent: PositiveNumber | None = Field(
        None,
        description=(
            "Exit when the loss reaches this percent of the premium collected. May be set together "
            "with max_loss: whichever is reached first fires."
        ),
    )
    trailing_stop_enabled: Flag = Field(False, description="Whether the trailing stop is active.")
    trailing_stop_activation: PositiveNumber | None = Field(
        None,
        description="Rupees of profit at which the trailing stop starts to trail. Unset: 25% of the premium collected.",
    )
    trailing_stop_distance: PositiveNumber | None = Field(
        None,
        description="Rupees: exit when profit falls this far below its peak. Unset: 10% of the premium collected.",
    )
    time_exit_override: Flag = Field(
        True,
        description=(
            "true: close everything at exit_time whatever the P&L. false: carry the position past "
            "exit_time (NRML product only)."
        ),
    )
    stale_exit_seconds: PositiveNumber = Field(
        120,
        description="Force an exit after this many seconds without fresh greeks for the open legs.",
    )

    def trail_levels(self, premium: float) -> tuple[float, float]:
        """(activation, distance) in rupees: as set, else the documented share of ``premium``."""
        activation = self.trailing_stop_activation
        distance = self.trailing_stop_distance
        if activation is None:
            activation = premium * DEFAULT_TRAIL_ACTIVATION_PCT / 100
        if distance is None:
            distance = premium * DEFAULT_TRAIL_DISTANCE_PCT / 100
        return activation, distance
