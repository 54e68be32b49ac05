"""Signals S1-S8 of the weekly-zone seller, evaluated at each closed 09:15-based hourly bar.

Notation (REFERENCE_SYSTEMS.md §3.3): F = the week's first hourly bar (also "FH", the first
hour), C = the bar that just closed, "prior" = this week's bars before C, "second" = C is
the week's second bar, PWH/PWL/PWC and the zones come from ``WeeklyContext``. Checked in
priority order; the first that holds fires, and at most one fires per week:

- **S1 Bear Trap** (bull): second; F.open >= lower bottom; F.close < lower bottom;
  C.close > F.low. Stop: F.low - |F.open - F.close|.
- **S2 Support Hold** (bull): second; bias BULLISH; F.open > PWL; unless F.low <= lower top,
  both |PWC - lower bottom| and |F.open - lower bottom| are within ``margin_low``;
  F.close >= lower bottom; F.close >= PWC; C.close >= F.low; C.close > PWC;
  C.close > lower bottom. Stop: lower bottom.
- **S3 Resistance Hold** (bear): bias BEARISH; unless F.high >= upper bottom, both
  |PWC - upper bottom| and |F.open - upper bottom| are within ``margin_high``;
  F.close <= PWH; then scenario A (second; C.close < F.high; C.close < upper bottom; F or C
  reached the upper bottom) or scenario B (C.close below F.low, the upper bottom, every
  prior low and every prior close). Stop: PWH.
- **S4 Bias Failure Bull**: bias BEARISH; F.open > upper top (a gap up); the breakout's
  first trigger (below). Stop: FH.low.
- **S5 Bias Failure Bear**: bias BULLISH; F.open < lower bottom (a gap down);
  FH.close < lower bottom; FH.close < PWL; C.close < FH.low. Stop: FH.high.
- **S6 Weakness Confirmed** (bear): bias BEARISH; F.high >= upper bottom; F.close <= upper
  top; F.close <= PWH; then S3's scenario A without the touch clause, or scenario B. Stop: PWH.
- **S7 1H Breakout** (bull): the breakout's first trigger; not when C.close is below PWH by
  less than ``s7_resistance_buffer_pct`` % of C.close; C.close above every prior high and
  every prior close. Stop: FH.low.
- **S8 1H Breakdown** (bear): the breakdown's first trigger; some bar this week reached the
  upper bottom (high >= it) and C.close < upper bottom; C.close below every prior low and
  every prior close. Stop: FH.high.

**Stateful breakout** (Pine ``f_s4_logic``): on FH's own day it triggers on a close above
FH.high. On a later day, the first bullish bar (close > open) closing above FH.high with a
high at or above every prior high sets the breakout level to its high; a later close above
that level triggers. Only the *first* trigger of a week counts: if S4/S7 do not take it, the
breakout is spent. The breakdown is the mirror image (FH.low, bearish bar, lows).

Each fired signal carries its inputs (F, C, zones, bias, the prior extremes) so a user can
see why it fired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from optrunner.core.events import BarEvent
from optrunner.core.timeutil import to_ist
from optrunner.strategies.weekly_context import Bias, WeeklyContext

SIGNALS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8")
BULLISH_SIGNALS = frozenset({"S1", "S2", "S4", "S7"})  # sell a PE; the others sell a CE


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    bullish: bool
    stop_loss: float  # index level
    ts: Any  # the closing time of C
    inputs: dict[str, Any]


@dataclass(slots=True)
class _Bar:
    open: float
    high: float
    low: float
    close: float
    day: date

    @classmethod
    def of(cls, b: BarEvent) -> _Bar:
        return cls(b.open, b.high, b.low, b.close, to_ist(b.start).date())

    def as_dict(self) -> dict[str, float]:
        return {"open": self.open, "high": self.high, "low": self.low, "close": self.close}


@dataclass(slots=True)
class WeekState:
    """This week's bars so far, boiled down to what the rules read (O(1) per bar)."""

    first: _Bar | None = None
    count: int = 0
    max_high: float = -math.inf  # over the prior bars (before C)
    max_close: float = -math.inf
    min_low: float = math.inf
    min_close: float = math.inf
    touched_upper_bottom: bool = False
    breakout_level: float = math.nan
    breakdown_level: float = math.nan
    breakout_spent: bool = False
    breakdown_spent: bool = False
    fired: str = ""


class SignalEvaluator:
    """Feeds the week's hourly bars through S1-S8; ``on_hour`` returns the signal that fired."""

    def __init__(self, enabled: tuple[str, ...] = SIGNALS, s7_resistance_buffer_pct: float = 0.4) -> None:
        self.enabled = frozenset(enabled)
        self.buffer = s7_resistance_buffer_pct / 100.0
        self.week = WeekState()

    def new_week(self) -> None:
        self.week = WeekState()

    def on_hour(self, bar: BarEvent, ctx: WeeklyContext | None) -> Signal | None:
        """Evaluate the rules at C = ``bar`` (then fold C into the week's prior extremes)."""
        w = self.week
        c = _Bar.of(bar)
        w.count += 1
        if w.first is None:
            w.first = c
        if ctx is not None and c.high >= ctx.upper_bottom:
            w.touched_upper_bottom = True
        signal = None
        if w.count > 1 and ctx is not None:
            up, down = self._breakout(c), self._breakdown(c)
            if not w.fired:
                signal = self._evaluate(c, ctx, up, down, bar)
                if signal is not None:
                    w.fired = signal.name
        w.max_high, w.max_close = max(w.max_high, c.high), max(w.max_close, c.close)
        w.min_low, w.min_close = min(w.min_low, c.low), min(w.min_close, c.close)
        return signal

    # --- the stateful breakout / breakdown ----------------------------------------------

    def _breakout(self, c: _Bar) -> bool:
        w = self.week
        f = w.first
        assert f is not None
        if w.breakout_spent:
            return False
        if c.day == f.day:
            hit = c.close > f.high
        elif math.isnan(w.breakout_level):
            if c.close > c.open and c.close > f.high and c.high >= w.max_high:
                w.breakout_level = c.high
            hit = False
        else:
            hit = c.close > w.breakout_level
        w.breakout_spent = hit
        return hit

    def _breakdown(self, c: _Bar) -> bool:
        w = self.week
        f = w.first
        assert f is not None
        if w.breakdown_spent:
            return False
        if c.day == f.day:
            hit = c.close < f.low
        elif math.isnan(w.breakdown_level):
            if c.close < c.open and c.close < f.low and c.low <= w.min_low:
                w.breakdown_level = c.low
            hit = False
        else:
            hit = c.close < w.breakdown_level
        w.breakdown_spent = hit
        return hit

    # --- the rules, in priority order ----------------------------------------------------

    def _evaluate(self, c: _Bar, z: WeeklyContext, up: bool, down: bool, bar: BarEvent) -> Signal | None:
        w = self.week
        f = w.first
        assert f is not None
        second = w.count == 2
        pwh, pwl, pwc = z.prev_high, z.prev_low, z.prev_close
        bull, bear = z.bias is Bias.BULLISH, z.bias is Bias.BEARISH
        below_all = c.close < w.min_low and c.close < w.min_close  # under every prior low and close
        scenario_b = c.close < f.low and c.close < z.upper_bottom and below_all
        scenario_a = second and c.close < f.high and c.close < z.upper_bottom
        near_high = f.high >= z.upper_bottom or (
            abs(pwc - z.upper_bottom) <= z.margin_high and abs(f.open - z.upper_bottom) <= z.margin_high
        )
        near_low = f.low <= z.lower_top or (
            abs(pwc - z.lower_bottom) <= z.margin_low and abs(f.open - z.lower_bottom) <= z.margin_low
        )
        rules: tuple[tuple[str, bool, float], ...] = (
            ("S1", second and f.open >= z.lower_bottom and f.close < z.lower_bottom and c.close > f.low,
             f.low - abs(f.open - f.close)),
            ("S2", second and bull and f.open > pwl and near_low and f.close >= z.lower_bottom
             and f.close >= pwc and c.close >= f.low and c.close > pwc and c.close > z.lower_bottom,
             z.lower_bottom),
            ("S3", bear and near_high and f.close <= pwh
             and ((scenario_a and (f.high >= z.upper_bottom or c.high >= z.upper_bottom)) or scenario_b),
             pwh),
            ("S4", bear and f.open > z.upper_top and up, f.low),
            ("S5", bull and f.open < z.lower_bottom and f.close < z.lower_bottom and f.close < pwl
             and c.close < f.low, f.high),
            ("S6", bear and f.high >= z.upper_bottom and f.close <= z.upper_top and f.close <= pwh
             and (scenario_a or scenario_b), pwh),
            ("S7", up and not (c.close < pwh and (pwh - c.close) / c.close < self.buffer)
             and c.close > w.max_high and c.close > w.max_close, f.low),
            ("S8", down and w.touched_upper_bottom and c.close < z.upper_bottom and below_all, f.high),
        )  # fmt: skip
        for name, holds, stop in rules:
            if holds and name in self.enabled:
                return Signal(name, name in BULLISH_SIGNALS, stop, bar.end, self._inputs(f, c, z, bar))
        return None

    def _inputs(self, f: _Bar, c: _Bar, z: WeeklyContext, bar: BarEvent) -> dict[str, Any]:
        w = self.week
        return {
            "bar": w.count, "bar_end": to_ist(bar.end).isoformat(), "F": f.as_dict(), "C": c.as_dict(),
            "prior_max_high": w.max_high, "prior_max_close": w.max_close, "prior_min_low": w.min_low,
            "prior_min_close": w.min_close, "context": z.as_dict(),
        }  # fmt: skip

    # --- state ---------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        w = self.week
        return {
            "first": None if w.first is None else [*w.first.as_dict().values(), w.first.day.isoformat()],
            "count": w.count, "fired": w.fired, "touched": w.touched_upper_bottom,
            "ext": [_j(w.max_high), _j(w.max_close), _j(w.min_low), _j(w.min_close)],
            "levels": [_j(w.breakout_level), _j(w.breakdown_level)],
            "spent": [w.breakout_spent, w.breakdown_spent],
        }  # fmt: skip

    def restore_state(self, s: dict[str, Any]) -> None:
        w = self.week = WeekState()
        if s["first"] is not None:
            o, h, lo, c, d = s["first"]
            w.first = _Bar(o, h, lo, c, date.fromisoformat(d))
        w.count, w.fired, w.touched_upper_bottom = s["count"], s["fired"], s["touched"]
        defaults = (-math.inf, -math.inf, math.inf, math.inf)
        w.max_high, w.max_close, w.min_low, w.min_close = (
            d if v is None else v for v, d in zip(s["ext"], defaults, strict=True)
        )
        w.breakout_level, w.breakdown_level = (math.nan if v is None else v for v in s["levels"])
        w.breakout_spent, w.breakdown_spent = s["spent"]


def _j(x: float) -> float | None:
    return x if math.isfinite(x) else None


__all__ = ["BULLISH_SIGNALS", "SIGNALS", "Signal", "SignalEvaluator"]
