"""Strategy kinds and their typed parameter sections.

A strategy file names its kind (``"strategy": "momentum"``) and carries that kind's
section under the kind's own name (``"momentum": {...}``). DNSS, the first kind, reads the
seed's ``entry`` / ``adjustment`` / ``exit`` sections instead. Keeping one section per kind
(rather than a free ``parameters`` dict) is what lets ``validate`` report a misspelt
parameter with its JSON path and ``schema`` document every kind.

The models live here, not next to the strategies, because ``config`` sits below
``strategies`` (strategies import their parameter models from here, never the reverse).
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, StrictStr

from optrunner.config.base import (
    HHMM,
    ConfigModel,
    Flag,
    NonNegativeInt,
    NonNegativeNumber,
    PositiveInt,
    PositiveNumber,
    SessionTime,
    one_of,
)
from optrunner.config.sections import ExpirySelector
from optrunner.instruments.contracts import OptionContract

DNSS_SECTIONS = ("entry", "adjustment", "exit")


def _option_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    for text in ids:
        OptionContract.from_id(text)  # raises ValueError naming the bad id
    return ids


OptionIds = Annotated[tuple[str, ...], Field(min_length=1), AfterValidator(_option_ids)]


class MomentumParameters(ConfigModel):
    """Rule-based momentum over the last ``lookback`` ticks of an option."""

    lookback: Annotated[StrictInt, Field(ge=2)] = Field(
        20, description="Ticks spanned by the momentum, the current one included."
    )
    threshold: PositiveNumber = Field(
        0.01, description="Fractional move that triggers (0.01 = 1 %)."
    )
    lots: PositiveInt = Field(1, description="Position size in lots.")


class LowFrequencyDemoParameters(ConfigModel):
    """A slow, predictable signal source that proves the whole path end to end."""

    min_interval_seconds: PositiveNumber = Field(
        900.0, description="Least time between two signals per instrument."
    )
    side: Annotated[Literal["BUY", "SELL", "alternate"], one_of(("BUY", "SELL", "alternate"))] = (
        Field("alternate", description="Signal side; alternate flips each time.")
    )
    lots: PositiveInt = Field(1, description="Position size in lots.")


class MLMomentumParameters(ConfigModel):
    """A classifier's view of the last ``lookback_periods`` ticks (see strategies/ml.py)."""

    model_path: Annotated[StrictStr, Field(min_length=1)] = Field(
        description="joblib file holding a fitted scikit-learn classifier."
    )
    lookback_periods: Annotated[StrictInt, Field(ge=5)] = Field(
        20, description="Ticks in the feature window."
    )
    confidence_threshold: Annotated[StrictFloat, Field(ge=0.5, lt=1.0)] = Field(
        0.6, description="Least class probability to act on."
    )
    lots: PositiveInt = Field(1, description="Position size in lots.")


class CompositionSection(ConfigModel):
    """What every composition kind (processor + validator) trades, and how big."""

    instruments: OptionIds = Field(
        description="Canonical option ids traded, e.g. NIFTY:20260113:25000:CE. Their ticks are "
        "delivered to the strategy (in a backtest, derived from the catalog's chain rows).",
        examples=[["NIFTY:20260113:25000:CE"]],
    )
    allow_short: Flag = Field(
        False, description="false: a SELL signal exits to flat; true: it goes short."
    )
    max_position_size: PositiveInt | None = Field(None, description="Largest signal, in units.")


class MomentumSection(CompositionSection, MomentumParameters):
    """``"strategy": "momentum"``."""


class LowFrequencyDemoSection(CompositionSection, LowFrequencyDemoParameters):
    """``"strategy": "low_frequency_demo"``."""


class MLMomentumSection(CompositionSection, MLMomentumParameters):
    """``"strategy": "ml_momentum"``."""


SIGNAL_NAMES = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8")
STOP_LOSS_TYPES = ("strike", "lock", "trailing")


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} listed more than once")
    return values


def lots_from_units(units: int, lot: int) -> int:
    """``units`` as whole lots of ``lot``; ValueError naming the nearest multiples otherwise
    (the seed's 750 were 10 lots of 75; NIFTY's lot is 65 from the Jan 2026 contracts)."""
    if units % lot:
        below, above = units // lot * lot, (units // lot + 1) * lot
        choices = f"{below} or {above}" if below else f"{above}"
        raise ValueError(f"{units} is not a whole number of lots of {lot} — use {choices}, or give quantity in lots")
    return units // lot


SignalName = Annotated[Literal[SIGNAL_NAMES], one_of(SIGNAL_NAMES, upper=True)]
Percentage = Annotated[StrictFloat, Field(gt=0, le=100)]


class WeeklyZonesSection(ConfigModel):
    """``"strategy": "weekly_zones"``: the S1-S8 hourly-close option seller (docs/strategies.md)."""

    signal_types: Annotated[tuple[SignalName, ...], Field(min_length=1), AfterValidator(_distinct)] = Field(
        SIGNAL_NAMES, description="Signals that may trade, a subset of S1..S8 (checked in that priority order)."
    )
    quantity: PositiveInt = Field(10, description="Lots sold per signal (the hedge buys as many).")
    quantity_units: PositiveInt | None = Field(
        None,
        description="Units instead of lots, as the seed's start payload gives them (750 = 10 lots of 75). Must be "
        "a whole number of lots of the traded contract; unset: quantity (lots) is used.",
    )
    hedge_offset: NonNegativeNumber = Field(
        200.0, description="Index points further out of the money at which the hedge is bought; 0 = unhedged."
    )
    allow_unhedged: Flag = Field(False, description="true: hedge_offset 0 (a naked short) is allowed.")
    stop_loss_type: Annotated[Literal[STOP_LOSS_TYPES], one_of(STOP_LOSS_TYPES)] = Field(
        "lock",
        description="Exits besides the hourly-close stop at the strike: strike (none), lock (profit lock) or "
        "trailing (trailing stop on the profit).",
    )
    profit_lock_activate_pct: Percentage = Field(
        10.0, description="lock: arms once profit reaches this % of the net premium collected."
    )
    profit_lock_exit_pct: Percentage = Field(
        5.0, description="lock: once armed, exit when profit falls below this % of the net premium."
    )
    trailing_stop_pct: Percentage = Field(
        5.0, description="trailing: exit when profit falls this many % of the net premium below its peak."
    )
    entry_cutoff: SessionTime = Field(
        time(14, 50),
        description="A signal is traded only before this time (HH:MM); one fired later (the 15:15 and 15:30 bar "
        "closes) is recorded and skipped, never carried to the next morning's gap.",
    )
    square_off_time: SessionTime = Field(time(15, 15), description="Time of day of the time square-off (HH:MM).")
    square_off_after_days: NonNegativeInt | None = Field(
        None,
        description="Square off this many trading days after entry (T+N) at square_off_time; unset: on the "
        "contract's expiry day (the weekly-expiry exit).",
    )
    expiry: ExpirySelector = Field("weekly", description="Expiry sold: weekly, next_weekly, monthly or a date.")
    trade_expiry_day: Flag = Field(
        False, description="false: on the selected expiry's own day, sell the following expiry instead."
    )
    cooldown_minutes: NonNegativeInt = Field(120, description="Least minutes between two entries.")
    max_positions: PositiveInt = Field(3, description="Most positions (main + hedge) open at once.")
    daily_loss_limit: PositiveNumber | None = Field(
        50_000.0,
        description="Rupees: when the day's P&L (closed + open) reaches -this, close everything and enter no "
        "more that day. Unset: no limit.",
    )
    s7_resistance_buffer_pct: NonNegativeNumber = Field(
        0.4, description="S7 is skipped when the close is below PWH by less than this % of the close."
    )
    zone_margin_multiplier: PositiveNumber = Field(
        3.0, description="Zone margins are the zone's height times this (S2/S3 proximity tests)."
    )
    min_zone_margin: PositiveNumber = Field(0.25, description="Least zone margin, in index points.")


Tiers = tuple[tuple[StrictFloat, StrictFloat], ...]


class MomentumBuyerSection(ConfigModel):
    """``"strategy": "momentum_buyer"``: seed 001's option buyer (docs/strategies.md)."""

    timeframe: Annotated[Literal["1m", "3m", "5m", "15m", "1h"], one_of(("1m", "3m", "5m", "15m", "1h"))] = Field(
        "5m", description="Index bars the direction is read from."
    )
    supertrend_period: Annotated[StrictInt, Field(ge=2)] = Field(10, description="Supertrend ATR period.")
    supertrend_multiplier: PositiveNumber = Field(3.0, description="Supertrend band width in ATRs.")
    adx_period: Annotated[StrictInt, Field(ge=2)] = Field(14, description="ADX period.")
    min_adx: NonNegativeNumber = Field(20.0, description="Least ADX for a trend to count.")
    expiry: ExpirySelector = Field("weekly", description="Expiry bought: weekly, next_weekly, monthly or a date.")
    trade_expiry_day: Flag = Field(False, description="false: on expiry day, buy the following expiry.")
    max_otm: NonNegativeInt = Field(2, description="Strikes beyond ATM on the OTM side that are candidates.")
    premium_min: PositiveNumber | None = Field(None, description="Least premium; unset: the index's band.")
    premium_max: PositiveNumber | None = Field(None, description="Most premium; unset: the index's band.")
    min_oi: NonNegativeNumber | None = Field(None, description="Least open interest; unset: the index's.")
    min_volume: NonNegativeNumber | None = Field(None, description="Least volume; unset: the index's.")
    max_spread_pct: PositiveNumber | None = Field(
        None, description="Widest bid/ask spread, % of mid; unset: the index's."
    )
    delta_floors: tuple[tuple[HHMM, StrictFloat], ...] = Field(
        ((time(9, 15), 0.08), (time(11, 0), 0.10), (time(13, 0), 0.12), (time(14, 0), 0.15)),
        description="[time, least |delta|] from that time of day on (the index's own minimum still applies).",
    )
    atm_range_pct: PositiveNumber = Field(
        1.5, description="ATM range as % of the ATM strike; a candidate's distance is scored as a fraction of it."
    )
    atm_tiers: Tiers = Field(
        ((0.1, 100.0), (0.3, 80.0), (0.6, 50.0)), description="[distance fraction up to, points] for ATM preference."
    )
    atm_else: NonNegativeNumber = Field(20.0, description="ATM points beyond the last tier.")
    itm_factor: PositiveNumber = Field(0.7, description="ATM points multiplier for an in-the-money strike.")
    oi_tiers: Tiers = Field(
        ((1_000_000.0, 50.0), (500_000.0, 40.0), (100_000.0, 30.0)), description="[OI at least, liquidity points]."
    )
    oi_else: NonNegativeNumber = Field(20.0, description="Liquidity points below the last OI tier.")
    spread_penalties: Tiers = Field(
        ((2.0, 0.8), (1.0, 0.9)), description="[spread % above, liquidity multiplier], first match applies."
    )
    delta_tiers: Tiers = Field(
        ((0.5, 30.0), (0.4, 25.0), (0.3, 20.0)), description="[|delta| at least, delta points]."
    )
    delta_else: NonNegativeNumber = Field(10.0, description="Delta points below the last tier.")
    iv_bands: tuple[tuple[StrictFloat, StrictFloat, StrictFloat], ...] = Field(
        ((15.0, 25.0, 20.0), (10.0, 30.0, 15.0), (5.0, 40.0, 10.0)),
        description="[IV % from, IV % to, IV points], first match applies.",
    )
    iv_else: NonNegativeNumber = Field(5.0, description="IV points outside every band.")
    low_iv_atm_bonus: NonNegativeNumber = Field(
        5.0, description="Extra points for a near-ATM strike (first ATM tier) with IV between 5 and 10 %."
    )
    efficiency_tiers: Tiers = Field(
        ((200.0, 10.0), (300.0, 8.0), (500.0, 6.0)), description="[LTP / |delta| up to, price-efficiency points]."
    )
    efficiency_else: NonNegativeNumber = Field(4.0, description="Price-efficiency points beyond the last tier.")
    breakout_lookback: Annotated[StrictInt, Field(ge=1)] = Field(
        15, description="Breakout: the option's price above its highest of the previous this-many minutes."
    )
    rsi_period: Annotated[StrictInt, Field(ge=2)] = Field(14, description="RSI period, on the option's minutes.")
    min_rsi: Annotated[StrictFloat, Field(ge=0, lt=100)] | None = Field(
        60.0, description="Least RSI of the option for a breakout to count; unset: no RSI floor."
    )
    lots: PositiveInt = Field(1, description="Lots per entry (the kernel's capital allocator may resize it).")
    max_same_side: PositiveInt = Field(1, description="Most entries open on one side (CE or PE); >1 allows pyramiding.")
    cooldown_seconds: NonNegativeNumber = Field(180.0, description="Least seconds between entries on one side.")
    pyramid_delay_seconds: NonNegativeNumber = Field(
        300.0, description="A pyramid entry needs the side in profit and its last entry at least this old."
    )
    stop_loss_pct: Percentage = Field(3.0, description="Exit a side when its premium falls this % below cost.")
    target_pct: Percentage = Field(5.0, description="Exit a side when its premium rises this % above cost.")
    trailing_stop_pct: Percentage | None = Field(
        5.0, description="Once above cost, exit when the premium falls this % below its peak; unset: off."
    )
    entry_cutoff: SessionTime = Field(time(14, 50), description="No new entries from this time (HH:MM).")
    exit_time: SessionTime = Field(time(15, 15), description="Close everything at this time (HH:MM).")


# kind -> (the model of its section, the processor-parameter model inside it)
COMPOSITION_KINDS: dict[str, tuple[type[CompositionSection], type[ConfigModel]]] = {
    "momentum": (MomentumSection, MomentumParameters),
    "low_frequency_demo": (LowFrequencyDemoSection, LowFrequencyDemoParameters),
    "ml_momentum": (MLMomentumSection, MLMomentumParameters),
}
# Every kind a file may name, and the section(s) each reads.
KIND_SECTIONS: dict[str, tuple[str, ...]] = {
    "dnss": DNSS_SECTIONS,
    **{kind: (kind,) for kind in COMPOSITION_KINDS},
    "weekly_zones": ("weekly_zones",),
    "momentum_buyer": ("momentum_buyer",),
    "legs": ("legs", "legs_entry", "legs_exit"),
}
# Sections a kind reads that a file may leave out (their defaults apply).
OPTIONAL_SECTIONS = frozenset({"adjustment", "legs_exit"})
STRATEGY_KINDS = tuple(KIND_SECTIONS)


def kind_sections() -> set[str]:
    """Every section that belongs to one kind only (using it with another kind is an error)."""
    return {s for sections in KIND_SECTIONS.values() for s in sections}
