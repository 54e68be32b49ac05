"""Capital allocator: how many lots a trade may have, from the balance, price and stop.

Balance bands come from the momentum-buying system behind seeds/001 (REFERENCE_SYSTEMS.md
§2.2-5). Two of its bugs are fixed here: the risk cap was computed in *units* and then
multiplied by the lot size again (so it almost never bound), and a 1-lot minimum was forced
even when one lot broke the risk budget. Here the risk cap is
``floor(risk_capital / (price x stop_fraction x lot)) x lot`` and an unaffordable trade gets 0.
Overrides really apply, in order: environment > explicit config > band.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

ENV_ALLOC = "OPTRUNNER_ALLOC_PCT"
ENV_RISK = "OPTRUNNER_RISK_PER_TRADE_PCT"
ENV_DAILY = "OPTRUNNER_DAILY_MAX_LOSS_PCT"


@dataclass(frozen=True, slots=True)
class Band:
    up_to: float  # balance up to and including this (inf for the last band)
    alloc_pct: float
    risk_per_trade_pct: float
    daily_max_loss_pct: float


DEFAULT_BANDS: tuple[Band, ...] = (
    Band(75_000, 0.30, 0.050, 0.05),
    Band(150_000, 0.25, 0.035, 0.06),
    Band(300_000, 0.20, 0.030, 0.06),
    Band(math.inf, 0.20, 0.025, 0.05),
)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The allocator's answer with its working, so a rejection can say why."""

    quantity: int  # units, a whole number of lots; 0 = do not trade
    lots: int
    by_alloc_lots: int
    by_risk_lots: int
    alloc_pct: float
    risk_pct: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CapitalAllocator:
    bands: tuple[Band, ...] = DEFAULT_BANDS
    alloc_pct: float | None = None  # config override
    risk_per_trade_pct: float | None = None
    daily_max_loss_pct: float | None = None
    max_lots: int = 100

    def band(self, balance: float) -> Band:
        for b in self.bands:
            if balance <= b.up_to:
                return b
        return self.bands[-1]

    def _pct(self, env_name: str, configured: float | None, band_value: float) -> float:
        raw = os.environ.get(env_name)
        if raw not in (None, ""):
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(
                    f"{env_name}={raw!r} is not a number (use a fraction like 0.25)"
                ) from None
            if not 0 < value <= 1:
                raise ValueError(f"{env_name}={raw!r} must be a fraction in (0, 1]")
            return value
        return configured if configured is not None else band_value

    def daily_max_loss(self, balance: float) -> float:
        """Rupees the account may lose in a day at this balance."""
        pct = self._pct(ENV_DAILY, self.daily_max_loss_pct, self.band(balance).daily_max_loss_pct)
        return balance * pct

    def size(
        self,
        balance: float,
        price: float,
        lot_size: int,
        *,
        stop_fraction: float = 0.30,
        multiplier: int = 1,
    ) -> Sizing:
        """Lots for a premium-buying trade at ``price`` with a stop ``stop_fraction`` below it."""
        if balance <= 0 or price <= 0 or lot_size <= 0 or stop_fraction <= 0:
            return Sizing(
                0, 0, 0, 0, 0.0, 0.0, "balance, price, lot size and stop must be positive"
            )
        if multiplier < 1 or int(multiplier) != multiplier:
            raise ValueError(f"multiplier {multiplier!r} must be an integer >= 1")
        band = self.band(balance)
        alloc = self._pct(ENV_ALLOC, self.alloc_pct, band.alloc_pct)
        risk = self._pct(ENV_RISK, self.risk_per_trade_pct, band.risk_per_trade_pct)
        alloc_capital = min(balance * alloc * multiplier, balance)
        risk_capital = min(balance * risk * multiplier, balance)
        by_alloc = math.floor(alloc_capital / (price * lot_size))
        by_risk = math.floor(risk_capital / (price * stop_fraction * lot_size))
        lots = min(by_alloc, by_risk, self.max_lots)
        reason = ""
        if lots < 1:
            binding = "risk budget" if by_risk < by_alloc else "allocation"
            reason = (
                f"one lot ({price * lot_size:,.0f}) exceeds the {binding} at balance {balance:,.0f}"
            )
            lots = 0
        return Sizing(lots * lot_size, lots, by_alloc, by_risk, alloc, risk, reason)
