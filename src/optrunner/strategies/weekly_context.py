"""The previous week's zones and bias that the S1-S8 signals of ``weekly_zones`` read.

From the previous week's session-aligned bars (REFERENCE_SYSTEMS.md §3.2):

- PWH, PWL, PWC: the week's high, low and last close (from its hourly bars);
- max / min 4h *body*: the highest ``max(open, close)`` and lowest ``min(open, close)`` of its
  **exchange-session 4h bars** (09:15-13:15 and 13:15-15:30, as ``data/bars.py`` builds
  them — not the old clock-hour ``hour // 4`` buckets that split the morning session);
- upper zone = [min(PWH, max body), max(PWH, max body)], lower zone = [min(PWL, min body),
  max(PWL, min body)];
- margins: ``max(zone height x margin_multiplier, min_margin)`` (seed: x3, at least 0.25);
- bias: BULLISH when PWC is nearer the min body (support) than the max body (resistance),
  BEARISH when nearer the max body, NEUTRAL when equally far.

A week is an ISO week (Monday first) of the bars' IST dates; it starts at its first session,
whichever day that is (a Monday holiday simply means the first bar is Tuesday's), because
bars exist only for trading sessions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from optrunner.core.events import BarEvent
from optrunner.core.timeutil import to_ist


class Bias(StrEnum):
    BULLISH = "BULLISH"
    BEARISH = "BEARISH"
    NEUTRAL = "NEUTRAL"


@dataclass(frozen=True, slots=True)
class WeeklyContext:
    """Everything the signals need from the previous week, worked out once per week."""

    week: tuple[int, int]  # ISO (year, week) this context is *for*
    prev_high: float
    prev_low: float
    prev_close: float
    max_4h_body: float
    min_4h_body: float
    upper_top: float
    upper_bottom: float
    lower_top: float
    lower_bottom: float
    margin_high: float
    margin_low: float
    bias: Bias

    @classmethod
    def build(
        cls,
        week: tuple[int, int],
        prev_high: float,
        prev_low: float,
        prev_close: float,
        max_4h_body: float,
        min_4h_body: float,
        *,
        margin_multiplier: float = 3.0,
        min_margin: float = 0.25,
    ) -> WeeklyContext:
        upper_top, upper_bottom = max(prev_high, max_4h_body), min(prev_high, max_4h_body)
        lower_top, lower_bottom = max(prev_low, min_4h_body), min(prev_low, min_4h_body)
        dist_res, dist_sup = abs(prev_close - max_4h_body), abs(prev_close - min_4h_body)
        bias = (
            Bias.BULLISH if dist_sup < dist_res else Bias.BEARISH if dist_res < dist_sup else Bias.NEUTRAL
        )
        return cls(
            week, prev_high, prev_low, prev_close, max_4h_body, min_4h_body,
            upper_top, upper_bottom, lower_top, lower_bottom,
            max((upper_top - upper_bottom) * margin_multiplier, min_margin),
            max((lower_top - lower_bottom) * margin_multiplier, min_margin),
            bias,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bias"] = self.bias.value
        d["week"] = f"{self.week[0]}-W{self.week[1]:02d}"
        return d


def iso_week(d: date) -> tuple[int, int]:
    y, w, _ = d.isocalendar()
    return y, w


@dataclass(slots=True)
class WeekAccumulator:
    """One week's running high, low, last close and 4h-body extremes, fed bar by bar."""

    week: tuple[int, int]
    high: float = -math.inf
    low: float = math.inf
    close: float = math.nan
    max_body: float = -math.inf
    min_body: float = math.inf

    def add_hour(self, bar: BarEvent) -> None:
        self.high = max(self.high, bar.high)
        self.low = min(self.low, bar.low)
        self.close = bar.close

    def add_4h(self, bar: BarEvent) -> None:
        self.max_body = max(self.max_body, bar.open, bar.close)
        self.min_body = min(self.min_body, bar.open, bar.close)

    @property
    def complete(self) -> bool:
        """Both hourly and 4h bars were seen (a week joined half-way is still usable: its bars
        are real; a week with no 4h bar is not)."""
        return math.isfinite(self.close) and math.isfinite(self.max_body)

    def context_for(
        self, week: tuple[int, int], margin_multiplier: float, min_margin: float
    ) -> WeeklyContext | None:
        """The context this (finished) week gives the following ``week``."""
        if not self.complete:
            return None
        return WeeklyContext.build(
            week, self.high, self.low, self.close, self.max_body, self.min_body,
            margin_multiplier=margin_multiplier, min_margin=min_margin,
        )  # fmt: skip


class WeeklyContextTracker:
    """Feeds 1h and 4h bars into week accumulators; at each new week it yields the context."""

    def __init__(self, margin_multiplier: float = 3.0, min_margin: float = 0.25) -> None:
        self.margin_multiplier = margin_multiplier
        self.min_margin = min_margin
        self.current: WeekAccumulator | None = None
        self.previous: WeekAccumulator | None = None
        self.context: WeeklyContext | None = None

    def on_bar(self, bar: BarEvent) -> bool:
        """Fold in a closed bar; True when it is the first bar (of any timeframe) of a new week."""
        week = iso_week(to_ist(bar.start).date())
        new_week = self.current is None or week != self.current.week
        if new_week:
            self.previous, self.current = self.current, WeekAccumulator(week)
            self.context = self._context()
        assert self.current is not None
        if bar.timeframe == "4h":
            self.current.add_4h(bar)
        else:
            self.current.add_hour(bar)
        return new_week

    def get_state(self) -> dict[str, Any]:
        return {"current": _acc_to(self.current), "previous": _acc_to(self.previous)}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.current, self.previous = _acc_from(state["current"]), _acc_from(state["previous"])
        self.context = self._context()

    def _context(self) -> WeeklyContext | None:
        if self.previous is None or self.current is None:
            return None
        return self.previous.context_for(self.current.week, self.margin_multiplier, self.min_margin)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _acc_to(acc: WeekAccumulator | None) -> dict[str, Any] | None:
    if acc is None:
        return None
    return {
        "week": list(acc.week), "high": _finite(acc.high), "low": _finite(acc.low), "close": _finite(acc.close),
        "max_body": _finite(acc.max_body), "min_body": _finite(acc.min_body),
    }  # fmt: skip


def _acc_from(d: dict[str, Any] | None) -> WeekAccumulator | None:
    if d is None:
        return None

    def get(key: str, missing: float) -> float:
        return missing if d[key] is None else float(d[key])

    return WeekAccumulator(
        (d["week"][0], d["week"][1]), get("high", -math.inf), get("low", math.inf), get("close", math.nan),
        get("max_body", -math.inf), get("min_body", math.inf),
    )  # fmt: skip


__all__ = ["Bias", "WeekAccumulator", "WeeklyContext", "WeeklyContextTracker", "iso_week"]
