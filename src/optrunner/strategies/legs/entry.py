"""When a ``legs`` structure may enter, and which contracts it enters: the entry conditions of
``legs_entry`` and the legs' strike rules, on one snapshot. Kept apart from the strategy's state
machine; nothing here sends orders or changes the strategy's phase."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, time

from optrunner.config.legs import WEEKDAYS, LegsEntry, WaitAndTrade
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import IndexSpec
from optrunner.market.lookup import resolve_expiry
from optrunner.strategies.legs.slots import LegSlot, mark_price
from optrunner.strategies.legs.strikes import further_out, select_strike


class EntryPlanner:
    """The entry conditions and the strike choice of one strategy's legs."""

    def __init__(self, entry: LegsEntry, exit_time: time, slots: list[LegSlot], spec: IndexSpec,
                 counts: Counter[str]) -> None:  # fmt: skip
        self.entry, self.exit_time, self.slots, self.spec, self.counts = entry, exit_time, slots, spec, counts
        self._weekdays = {WEEKDAYS.index(d) for d in entry.days_of_week}
        self._expiries: tuple[date, list[date | None]] | None = None  # resolved once a day

    def expiries_for(self, snapshot: ChainSnapshot, today: date) -> list[date | None]:
        if self._expiries is None or self._expiries[0] != today:
            allow = self.entry.trade_expiry_day
            found = [resolve_expiry(snapshot, s.cfg.expiry, allow_expiry_day=allow) for s in self.slots]
            self._expiries = (today, found)
        return self._expiries[1]

    def allowed(self, snapshot: ChainSnapshot, now: datetime, entries_today: int,
                retry_at: datetime | None) -> list[date] | None:  # fmt: skip
        """Each leg's expiry when every entry condition holds now; None otherwise."""
        e = self.entry
        t = now.time()
        if t < e.time or t >= self.exit_time or entries_today >= e.max_entries:
            return None
        if now.weekday() not in self._weekdays or (retry_at is not None and now < retry_at):
            return None
        spot = snapshot.spot
        if (e.spot_above is not None and not spot > e.spot_above) or (e.spot_below is not None and not spot < e.spot_below):
            return None
        expiries = self.expiries_for(snapshot, now.date())
        found = [x for x in expiries if x is not None]
        if len(found) < len(expiries):
            return None
        dte = (min(found) - now.date()).days
        if (e.dte_min is not None and dte < e.dte_min) or (e.dte_max is not None and dte > e.dte_max):
            return None
        return found

    def choose(self, snapshot: ChainSnapshot, expiries: list[date]) -> list[OptionContract] | None:
        """Every leg's contract by its rule; None (counted) when a rule finds none or a hedge
        comes out no further out of the money than a SELL leg of its type and expiry."""
        step, allow = self.spec.strike_step, self.entry.trade_expiry_day
        chosen = []
        for slot, expiry in zip(self.slots, expiries, strict=True):
            contract = select_strike(snapshot, slot.cfg.strike, slot.right, expiry, step, allow_expiry_day=allow)
            if contract is None:
                self.counts["no_strike"] += 1
                return None
            chosen.append(contract)
        for slot, contract in zip(self.slots, chosen, strict=True):
            if not slot.cfg.hedge:
                continue
            mains = [c for s, c in zip(self.slots, chosen, strict=True) if not s.cfg.hedge and s.d < 0
                     and s.right is slot.right and c.expiry == contract.expiry]  # fmt: skip
            if any(not further_out(contract, m) for m in mains):
                self.counts["hedge_not_otm"] += 1
                return None
        return chosen


def combined_premium(snapshot: ChainSnapshot, contracts: list[OptionContract]) -> float:
    """Sum of the contracts' prices (NaN when one is missing): wait-and-trade's reference."""
    total = 0.0
    for c in contracts:
        i = snapshot.index_of(c)
        total += mark_price(snapshot, i) if i is not None else math.nan
    return total


def wait_hit(w: WaitAndTrade, reference: float, now_premium: float) -> bool:
    move = w.points if w.points is not None else reference * (w.pct or 0.0) / 100
    return now_premium >= reference + move if w.move == "up" else now_premium <= reference - move


__all__ = ["EntryPlanner", "combined_premium", "wait_hit"]
