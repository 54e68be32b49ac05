"""``"strategy": "legs"``: any option structure as a list of legs plus entry and exit rules.

A file of this kind carries three sections: ``legs`` (the list; each leg names its action,
option type, lots, expiry, strike rule and its own stop/target/trail/re-entry), ``legs_entry``
(when the structure is entered) and ``legs_exit`` (the overall exits). The list sits at the top
level so a sweep addresses a leg field as ``legs[0].stop_loss_pct``.

Contradictions that involve more than one field (a hedge nearer the money than the leg it
protects, a trailing step larger than its trigger, an exit before the entry) are rules in
``legs_rules.py``, reported all at once with their JSON paths.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, StrictStr

from optrunner.config.base import (
    ConfigModel,
    Flag,
    Fraction,
    NonNegativeInt,
    PositiveInt,
    PositiveNumber,
    SessionTime,
    one_of,
)
from optrunner.config.sections import ExpirySelector

ACTIONS = ("BUY", "SELL")
OPTION_TYPES = ("CE", "PE")
STRIKE_RULES = (
    "atm_offset", "closest_delta", "closest_premium", "premium_gte", "premium_lte", "straddle_width", "fixed",
)  # fmt: skip
# The one value field each strike rule reads.
STRIKE_RULE_FIELD = {
    "atm_offset": "steps", "closest_delta": "delta", "closest_premium": "premium", "premium_gte": "premium",
    "premium_lte": "premium", "straddle_width": "width", "fixed": "strike",
}  # fmt: skip
REENTRY_MODES = ("re_execute", "at_cost", "next_strike")
SQUARE_OFF = ("leg", "all")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI")
MOVES = ("up", "down")


class StrikeRule(ConfigModel):
    """How a leg's strike is chosen at entry (on the leg's expiry)."""

    rule: Annotated[Literal[STRIKE_RULES], one_of(STRIKE_RULES)] = Field(
        description="atm_offset (steps from ATM, + out of the money), closest_delta, closest_premium, "
        "premium_gte / premium_lte (the strike whose premium is nearest that bound on its side), "
        "straddle_width (ATM +/- width x the ATM straddle's price) or fixed (a strike price)."
    )
    steps: StrictInt | None = Field(
        None, description="atm_offset: strike steps from ATM; positive = out of the money, negative = in it."
    )
    delta: Fraction | None = Field(None, description="closest_delta: the |delta| wanted, e.g. 0.25.")
    premium: PositiveNumber | None = Field(
        None, description="closest_premium / premium_gte / premium_lte: the premium in rupees per unit."
    )
    width: Annotated[StrictFloat, Field(ge=0, le=5)] | None = Field(
        None,
        description="straddle_width: the multiple of the ATM straddle price added to ATM (CE) or taken "
        "from it (PE); the listed strike nearest that price is taken.",
    )
    strike: PositiveNumber | None = Field(None, description="fixed: the strike price, e.g. 25000.")


Percent100 = Annotated[StrictFloat, Field(gt=0, le=1000)]


class LegConfig(ConfigModel):
    """One leg of the structure, with its own exits."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = Field(
        None, description="A label for reports and order reasons; unset: L1, L2, ... by position."
    )
    action: Annotated[Literal[ACTIONS], one_of(ACTIONS, upper=True)] = Field(description="BUY or SELL.")
    option_type: Annotated[Literal[OPTION_TYPES], one_of(OPTION_TYPES, upper=True)] = Field(
        description="CE or PE."
    )
    lots: PositiveInt = Field(1, description="Size in lots (the lot size of the leg's contract).")
    expiry: ExpirySelector = Field(
        "weekly", description="weekly, next_weekly, monthly or a date like \"2026-02-10\"."
    )
    strike: StrikeRule = Field(description="How the strike is chosen at entry.")
    hedge: Flag = Field(
        False,
        description="true: a protective BUY, further out of the money than the SELL leg of its type; "
        "entered before and exited after the other legs (the router's basket order).",
    )
    stop_loss_pct: Percent100 | None = Field(
        None, description="Exit the leg when its premium moves this % of its entry price against it."
    )
    stop_loss_points: PositiveNumber | None = Field(
        None, description="Exit the leg when its premium moves this many rupees against it."
    )
    stop_loss_underlying_points: PositiveNumber | None = Field(
        None,
        description="Exit the leg when the index moves this many points against it from the entry spot "
        "(up for a short CE or a long PE, down for a short PE or a long CE).",
    )
    target_pct: Percent100 | None = Field(
        None, description="Exit the leg when its premium moves this % of its entry price in its favour."
    )
    target_points: PositiveNumber | None = Field(
        None, description="Exit the leg when its premium moves this many rupees in its favour."
    )
    target_underlying_points: PositiveNumber | None = Field(
        None, description="Exit the leg when the index moves this many points in its favour from the entry spot."
    )
    trail_every: PositiveNumber | None = Field(
        None,
        description="Trailing stop: for every this much favourable premium move (in the unit of the leg's "
        "stop: % of entry or rupees) ...",
    )
    trail_by: PositiveNumber | None = Field(
        None, description="... move the premium stop this much in the same direction (same unit)."
    )
    move_sl_to_cost: Flag = Field(
        False, description="true: when another leg's stop loss hits, this leg's stop moves to its entry price."
    )
    on_stop: Annotated[Literal[SQUARE_OFF], one_of(SQUARE_OFF)] = Field(
        "leg", description="What a stop loss of this leg squares off: the leg alone, or all legs."
    )
    on_target: Annotated[Literal[SQUARE_OFF], one_of(SQUARE_OFF)] = Field(
        "leg", description="What a target of this leg squares off: the leg alone, or all legs."
    )
    reentry_on_stop: Annotated[Literal[REENTRY_MODES], one_of(REENTRY_MODES)] | None = Field(
        None,
        description="After a stop loss: re_execute (choose the strike again by the rule, at once), at_cost "
        "(the same contract, once its premium is back at the old entry price) or next_strike (one step further "
        "out of the money, at once). Unset: no re-entry.",
    )
    reentry_on_stop_count: PositiveInt = Field(1, description="Most re-entries after stop losses, per entry.")
    reentry_on_target: Annotated[Literal[REENTRY_MODES], one_of(REENTRY_MODES)] | None = Field(
        None, description="After a target: re_execute, at_cost or next_strike as for reentry_on_stop."
    )
    reentry_on_target_count: PositiveInt = Field(1, description="Most re-entries after targets, per entry.")


class WaitAndTrade(ConfigModel):
    """Enter only once the combined premium of the chosen legs moves from its value at entry time."""

    move: Annotated[Literal[MOVES], one_of(MOVES)] = Field(
        description="up or down: the direction the combined premium must move."
    )
    pct: PositiveNumber | None = Field(None, description="The move, in % of the premium at entry time.")
    points: PositiveNumber | None = Field(None, description="The move, in rupees per unit.")


def _distinct_days(days: tuple[str, ...]) -> tuple[str, ...]:
    twice = sorted({d for d in days if days.count(d) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} listed more than once")
    return days


Weekday = Annotated[Literal[WEEKDAYS], one_of(WEEKDAYS, upper=True)]


class LegsEntry(ConfigModel):
    """When the legs are entered."""

    time: SessionTime = Field(description="Entry time (IST, HH:MM); the first snapshot at or after it enters.")
    days_of_week: Annotated[tuple[Weekday, ...], Field(min_length=1), AfterValidator(_distinct_days)] = Field(
        WEEKDAYS, description="Weekdays that may enter: MON, TUE, WED, THU, FRI."
    )
    dte_min: NonNegativeInt | None = Field(
        None, description="Least calendar days to the nearest leg's expiry on the entry day; unset: no floor."
    )
    dte_max: NonNegativeInt | None = Field(
        None, description="Most calendar days to the nearest leg's expiry on the entry day; unset: no cap."
    )
    spot_above: PositiveNumber | None = Field(None, description="Enter only while the index is above this level.")
    spot_below: PositiveNumber | None = Field(None, description="Enter only while the index is below this level.")
    wait_and_trade: WaitAndTrade | None = Field(
        None, description="Wait for the combined premium to move before entering; unset: enter at once."
    )
    max_entries: PositiveInt = Field(
        1,
        description="Entries per day: 1 = once; more = enter again after every leg is closed (before the "
        "exit time). Leg re-entries do not count.",
    )
    trade_expiry_day: Flag = Field(
        False, description="false: on a weekly leg's expiry day, the following expiry is traded instead."
    )


class LockAndTrail(ConfigModel):
    """Protect a profit once it is reached, and raise the protection as the profit grows."""

    at: PositiveNumber = Field(description="Rupees of profit (MTM) that arm the lock.")
    lock: Annotated[StrictFloat, Field(ge=0)] = Field(
        description="Rupees of profit kept once armed: exit everything when the MTM falls to it."
    )
    every: PositiveNumber | None = Field(None, description="After arming, for every this many rupees of further profit ...")
    by: PositiveNumber | None = Field(None, description="... raise the locked profit by this many rupees.")


class LegsExit(ConfigModel):
    """Exits of the whole structure."""

    time: SessionTime = Field(time(15, 15), description="Square off everything at this time (HH:MM).")
    mtm_stop_loss: PositiveNumber | None = Field(
        None, description="Rupees: exit everything when the MTM (net of charges) reaches -this."
    )
    mtm_target: PositiveNumber | None = Field(None, description="Rupees: exit everything when the MTM reaches this.")
    mtm_stop_loss_pct: PositiveNumber | None = Field(
        None, description="Exit everything when the MTM loss reaches this % of the net premium at entry."
    )
    mtm_target_pct: PositiveNumber | None = Field(
        None, description="Exit everything when the MTM profit reaches this % of the net premium at entry."
    )
    lock_and_trail: LockAndTrail | None = Field(None, description="Lock-and-trail of the MTM profit; unset: off.")
    hold_to_expiry: Flag = Field(
        False,
        description="false: square off every day at time. true: carry overnight (NRML) and square off at time "
        "on the nearest leg's expiry day.",
    )


__all__ = [
    "ACTIONS", "REENTRY_MODES", "STRIKE_RULES", "STRIKE_RULE_FIELD", "WEEKDAYS",
    "LegConfig", "LegsEntry", "LegsExit", "LockAndTrail", "StrikeRule", "WaitAndTrade",
]  # fmt: skip
