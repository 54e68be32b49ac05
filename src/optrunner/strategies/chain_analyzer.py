"""ChainAnalyzer: which option a momentum buyer buys (REFERENCE_SYSTEMS.md §2.2-3).

1. **Candidates**: the ATM strike (listed strike nearest spot for the expiry) and up to
   ``max_otm`` listed strikes beyond it on the out-of-the-money side (higher for a CE, lower
   for a PE).
2. **Filters**: premium (LTP) inside the index's band; OI >= ``min_oi``; volume >=
   ``min_volume``; bid/ask spread <= ``max_spread_pct`` % of the mid; |delta| at least the
   time-of-day floor (``delta_floors``) and the index's own minimum. A row missing any of
   these numbers is not a candidate. Unset thresholds take the index's defaults below.
3. **Score** = ATM preference + liquidity + delta + IV + price efficiency:
   ATM points by distance as a fraction of ``atm_range_pct`` % of the ATM strike (x
   ``itm_factor`` when in the money); OI points times the first matching spread penalty;
   |delta| points; IV points (IV in %), plus ``low_iv_atm_bonus`` for a near-ATM strike with
   IV of 5-10 %; price-efficiency points for LTP / |delta|. Every weight is a config value
   with the seed's default.
4. **Order**: score descending, then distance from ATM ascending, then strike ascending —
   deterministic, so a backtest and its replay pick the same option.

The seed hard-coded its IV rank at 0.5, which made its ATM range 1.5 %; here the range is
the config value ``atm_range_pct`` (default 1.5) rather than a rank nobody computed.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, time
from typing import TYPE_CHECKING, Any

from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract

if TYPE_CHECKING:
    from optrunner.config.kinds import MomentumBuyerSection
    from optrunner.data.snapshot import ChainSnapshot


@dataclass(frozen=True, slots=True)
class IndexFilters:
    premium_min: float
    premium_max: float
    min_oi: float
    min_volume: float
    max_spread_pct: float
    min_delta: float


# Seed 001's per-index values; any other index gets GENERIC.
INDEX_FILTERS = {
    "NIFTY": IndexFilters(30.0, 120.0, 100_000, 50_000, 3.0, 0.0),
    "BANKNIFTY": IndexFilters(60.0, 180.0, 75_000, 30_000, 3.0, 0.10),
    "SENSEX": IndexFilters(40.0, 150.0, 50_000, 25_000, 3.5, 0.0),
}
GENERIC = IndexFilters(0.0, math.inf, 50_000, 10_000, 3.0, 0.0)
_EPOCH = date(1970, 1, 1)
_KEY_SPAN = 100_000_000  # data/snapshot.contract_keys: (days * 2 + is_call) * span + strike in paise


@dataclass(frozen=True, slots=True)
class Pick:
    """A scored candidate and the breakdown of its score (for the report and the log)."""

    contract: OptionContract
    row: int
    key: int  # the snapshot's contract key (data/snapshot.contract_keys)
    score: float
    parts: dict[str, float]
    distance: float  # |strike - ATM| as a fraction of the ATM range
    ltp: float
    delta: float
    iv: float
    oi: float
    spread_pct: float

    def as_dict(self) -> dict[str, Any]:
        return {"contract": self.contract.id, "score": self.score, **self.parts, "distance": self.distance,
                "ltp": self.ltp, "delta": self.delta, "iv": self.iv, "oi": self.oi, "spread_pct": self.spread_pct}  # fmt: skip


def _tier(value: float, tiers: tuple[tuple[float, float], ...], otherwise: float, *, at_least: bool) -> float:
    for threshold, points in tiers:
        if (value >= threshold) if at_least else (value <= threshold):
            return points
    return otherwise


class ChainAnalyzer:
    """Scores the candidates of one expiry and option type from a chain snapshot."""

    def __init__(self, cfg: MomentumBuyerSection, symbol: str) -> None:
        self.cfg = cfg
        self.symbol = symbol
        base = INDEX_FILTERS.get(symbol, GENERIC)
        self.filters = IndexFilters(
            cfg.premium_min if cfg.premium_min is not None else base.premium_min,
            cfg.premium_max if cfg.premium_max is not None else base.premium_max,
            cfg.min_oi if cfg.min_oi is not None else base.min_oi,
            cfg.min_volume if cfg.min_volume is not None else base.min_volume,
            cfg.max_spread_pct if cfg.max_spread_pct is not None else base.max_spread_pct,
            base.min_delta,
        )
        self._floor_times = [t for t, _ in cfg.delta_floors]
        self._floors = [f for _, f in cfg.delta_floors]

    def delta_floor(self, now: time) -> float:
        i = bisect_right(self._floor_times, now) - 1
        return max(self._floors[i] if i >= 0 else 0.0, self.filters.min_delta)

    def window(self, snapshot: ChainSnapshot, expiry: date, right: Right, beyond: int) -> tuple[list[int], int]:
        """Rows of ``expiry``/``right`` from ATM to ``beyond`` strikes OTM (ATM first), and the ATM row.

        Bisects over memoryviews of the sorted keys and strikes (a few µs; NumPy calls on
        these small slices cost more in overhead than they save).
        """
        block = ((expiry - _EPOCH).days * 2 + (right is Right.CE)) * _KEY_SPAN  # keys sort by expiry, right, strike
        key = memoryview(snapshot.key)  # type: ignore[arg-type]
        lo, hi = bisect_left(key, block), bisect_left(key, block + _KEY_SPAN)
        if lo == hi:
            return [], -1
        strikes = memoryview(snapshot.strike)[lo:hi]
        spot = snapshot.spot
        j = bisect_left(strikes, spot)
        if j == len(strikes) or (j > 0 and spot - strikes[j - 1] <= strikes[j] - spot):
            j -= 1  # the nearer neighbour; a tie goes to the lower strike
        atm = lo + j
        rows = list(range(atm, min(atm + beyond + 1, hi))) if right is Right.CE else list(range(atm, max(atm - beyond - 1, lo - 1), -1))
        return rows, atm

    def candidates(
        self, snapshot: ChainSnapshot, expiry: date, right: Right, now: time, rows: list[int] | None = None
    ) -> list[Pick]:
        """Scored candidates, best first; ``rows`` = a ``window`` already computed (ATM first)."""
        c, f = self.cfg, self.filters
        rows = self.window(snapshot, expiry, right, c.max_otm)[0] if rows is None else rows[: c.max_otm + 1]
        if not rows:
            return []
        atm_row = rows[0]
        atm = float(snapshot.strike[atm_row])
        atm_range = atm * c.atm_range_pct / 100.0
        floor = self.delta_floor(now)
        near = c.atm_tiers[0][0] if c.atm_tiers else 0.0
        picks = []
        col = {name: memoryview(getattr(snapshot, name)) for name in ("ltp", "bid", "ask", "oi", "volume", "delta", "iv", "strike", "key")}
        for i in rows:
            ltp, bid, ask = col["ltp"][i], col["bid"][i], col["ask"][i]
            oi, vol, delta = col["oi"][i], col["volume"][i], abs(col["delta"][i])
            iv = col["iv"][i] * 100.0
            mid = 0.5 * (bid + ask)
            spread = (ask - bid) / mid * 100.0 if mid > 0 else math.nan
            if not (f.premium_min <= ltp <= f.premium_max and oi >= f.min_oi and vol >= f.min_volume
                    and spread <= f.max_spread_pct and delta >= floor and delta > 0):  # fmt: skip
                continue  # NaN in any of them fails its comparison: not a candidate
            strike = col["strike"][i]
            distance = abs(strike - atm) / atm_range
            itm = strike < snapshot.spot if right is Right.CE else strike > snapshot.spot
            atm_pts = _tier(distance, c.atm_tiers, c.atm_else, at_least=False) * (c.itm_factor if itm else 1.0)
            liquidity = _tier(oi, c.oi_tiers, c.oi_else, at_least=True)
            for above, factor in c.spread_penalties:
                if spread > above:
                    liquidity *= factor
                    break
            delta_pts = _tier(delta, c.delta_tiers, c.delta_else, at_least=True)
            iv_pts = next((p for lo_, hi_, p in c.iv_bands if lo_ <= iv <= hi_), c.iv_else) if math.isfinite(iv) else c.iv_else
            if distance <= near and 5.0 <= iv <= 10.0:
                iv_pts += c.low_iv_atm_bonus
            eff = _tier(ltp / delta, c.efficiency_tiers, c.efficiency_else, at_least=False)
            parts = {"atm": atm_pts, "liquidity": liquidity, "delta_points": delta_pts, "iv_points": iv_pts,
                     "efficiency": eff}  # fmt: skip
            picks.append(Pick(snapshot.contract(i), i, col["key"][i], sum(parts.values()), parts, distance, ltp, delta,
                              iv, oi, spread))  # fmt: skip
        picks.sort(key=lambda p: (-p.score, p.distance, p.contract.strike))
        return picks

    def pick(
        self, snapshot: ChainSnapshot, expiry: date, right: Right, now: time, rows: list[int] | None = None
    ) -> Pick | None:
        found = self.candidates(snapshot, expiry, right, now, rows)
        return found[0] if found else None


__all__ = ["GENERIC", "INDEX_FILTERS", "ChainAnalyzer", "IndexFilters", "Pick"]
