"""A SPAN-like margin estimate for index option positions, and their expiry payoff.

The exchange's SPAN needs the day's risk-parameter files; a backtest report needs a margin
figure that is stable, explainable and close enough to compare strategies' return on margin.
So this is an approximation (docs/metrics.md, "Margin estimate"), with its constants in
``backtest/data/margin.json`` (fractions of notional = spot x units):

* a short option's scan part is ``max(scan_pct x notional - OTM amount, floor_pct x notional)``,
  its exposure margin ``exposure_pct x notional`` (plus ``expiry_day_extra_pct x notional`` on
  its expiry day, the extra ELM of SEBI's 2024 circular);
* a long option costs its premium (paid in full, no margin);
* legs of one underlying and expiry form a group: the scan part is the larger of the short
  calls' and short puts' sums (the index moves one way at a time), and the group's total is
  capped at its worst expiry loss (premiums included) when that loss is bounded, so a credit
  spread or an iron condor blocks at most what it can lose. Different expiries offset nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from optrunner.instruments.contracts import OptionContract

KEYS = ("scan_pct", "floor_pct", "exposure_pct", "expiry_day_extra_pct")


@dataclass(frozen=True, slots=True)
class MarginRates:
    scan_pct: float = 0.10
    floor_pct: float = 0.05
    exposure_pct: float = 0.02
    expiry_day_extra_pct: float = 0.02


@dataclass(frozen=True, slots=True)
class MarginModel:
    """Rates per underlying, ``default`` for any index the file does not name."""

    default: MarginRates
    indices: dict[str, MarginRates]
    source: str

    def rates(self, underlying: str) -> MarginRates:
        return self.indices.get(underlying, self.default)


def _rates(raw: Any, where: str, base: MarginRates | None = None) -> MarginRates:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with {', '.join(KEYS)}")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(KEYS)}")
    values = {k: getattr(base, k) for k in KEYS} if base else {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ValueError(f"{where}.{k}: {v!r} is not a fraction in [0, 1)")
        values[k] = float(v)
    missing = [k for k in KEYS if k not in values]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    return MarginRates(**values)


def load_margin_model(path: str | Path | None = None) -> MarginModel:
    """The bundled constants, or a user's copy of the file (a bad file raises ValueError)."""
    if path is None:
        text, source = resources.files("optrunner.backtest").joinpath("data/margin.json").read_text("utf-8"), "bundled"
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: line {exc.lineno}: {exc.msg}") from None
    default = _rates(raw.get("default"), f"{source}: default")
    indices = {k: _rates(v, f"{source}: indices.{k}", default) for k, v in (raw.get("indices") or {}).items()}
    return MarginModel(default, indices, source)


@dataclass(frozen=True, slots=True)
class PositionLeg:
    """``quantity`` signed units (negative = short) of ``contract`` opened at ``price``."""

    contract: OptionContract
    quantity: int
    price: float


def expiry_payoff(legs: Sequence[PositionLeg], spots: Iterable[float]) -> np.ndarray:
    """P&L at expiry (rupees, before charges) of the legs at each underlying level:
    sum of quantity x (intrinsic value - entry price)."""
    s = np.asarray(list(spots), dtype=float)
    out = np.zeros_like(s)
    for leg in legs:
        k = leg.contract.strike
        intrinsic = np.maximum(s - k, 0.0) if leg.contract.is_call else np.maximum(k - s, 0.0)
        out += leg.quantity * (intrinsic - leg.price)
    return out


def payoff_points(legs: Sequence[PositionLeg], lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The expiry payoff over [lo, hi] as its corner points: it is piecewise linear with kinks
    only at strikes, so a line through these points is exact."""
    strikes = [leg.contract.strike for leg in legs if lo < leg.contract.strike < hi]
    x = np.unique(np.array([lo, hi, *strikes], dtype=float))
    return x, expiry_payoff(legs, x)


def worst_expiry_loss(legs: Sequence[PositionLeg]) -> float:
    """The largest expiry loss over every underlying level >= 0 (a positive number, 0 if the
    legs cannot lose), or infinity when it is unbounded (net short calls)."""
    if not legs:
        return 0.0
    if sum(leg.quantity for leg in legs if leg.contract.is_call) < 0:
        return float("inf")
    x = np.unique(np.array([0.0, *(leg.contract.strike for leg in legs)]))
    return max(0.0, -float(expiry_payoff(legs, x).min()))


def scan_margin(leg: PositionLeg, spot: float, rates: MarginRates) -> float:
    """SPAN-like part of a short leg: max(scan_pct x notional - OTM amount, floor_pct x notional)."""
    units, c = abs(leg.quantity), leg.contract
    notional = spot * units
    otm = units * max(c.strike - spot if c.is_call else spot - c.strike, 0.0)
    return max(rates.scan_pct * notional - otm, rates.floor_pct * notional)


def exposure_margin(leg: PositionLeg, spot: float, on: date | None, rates: MarginRates) -> float:
    """Exposure margin of a short leg (plus the expiry-day extra ELM when ``on`` is its expiry)."""
    extra = rates.expiry_day_extra_pct if on is not None and on == leg.contract.expiry else 0.0
    return (rates.exposure_pct + extra) * spot * abs(leg.quantity)


def group_margin(legs: Sequence[PositionLeg], spot: float, on: date | None, rates: MarginRates) -> float:
    """Legs of one underlying and expiry. The market moves one way at a time, so the scan part
    is the larger of the short calls' and the short puts' (a short strangle is charged for one
    side, as SPAN does); exposure is on every short leg; long legs cost their premium. The sum
    is capped at the legs' worst expiry loss when that is bounded (spreads, condors)."""
    shorts = [leg for leg in legs if leg.quantity < 0]
    calls = sum(scan_margin(leg, spot, rates) for leg in shorts if leg.contract.is_call)
    puts = sum(scan_margin(leg, spot, rates) for leg in shorts if not leg.contract.is_call)
    exposure = sum(exposure_margin(leg, spot, on, rates) for leg in shorts)
    premium = sum(leg.quantity * leg.price for leg in legs if leg.quantity > 0)
    return min(max(calls, puts) + exposure + premium, worst_expiry_loss(legs))


def position_margin(legs: Sequence[PositionLeg], spot: float, on: date | None, model: MarginModel) -> float:
    """Margin (rupees) a position blocks: the sum of its (underlying, expiry) groups' margins;
    different expiries offset nothing."""
    groups: dict[tuple[str, date], list[PositionLeg]] = {}
    for leg in legs:
        if leg.quantity:
            groups.setdefault((leg.contract.underlying, leg.contract.expiry), []).append(leg)
    return sum(group_margin(group, spot, on, model.rates(und)) for (und, _), group in groups.items())


__all__ = [
    "MarginModel",
    "MarginRates",
    "PositionLeg",
    "expiry_payoff",
    "exposure_margin",
    "group_margin",
    "load_margin_model",
    "payoff_points",
    "position_margin",
    "scan_margin",
    "worst_expiry_loss",
]  # fmt: skip
