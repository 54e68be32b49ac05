"""Capital allocation of entries, from a strategy file's ``risk_management`` section.

A strategy never sees the account (it cannot size a trade from cash it does not know about);
the kernel sizes its premium-buying ENTRY legs here, before the risk checks, with the capital
allocator of ``allocator.py`` (seed 001's bands, whole lots, no units-squared bug). A leg is
cut down to what the budget allows, never up; one that cannot have a single lot is refused
as INSUFFICIENT_CAPITAL, a counted rejection the strategy hears about.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from optrunner.core.buckets import QTY_BUCKETS, Buckets
from optrunner.core.orders import Basket, Intent, OrderIntent
from optrunner.core.types import Side, Tag
from optrunner.instruments import get_index
from optrunner.risk.allocator import CapitalAllocator


@dataclass(frozen=True, slots=True)
class EntrySizer:
    allocator: CapitalAllocator
    multiplier: int = 1
    stop_fraction: float = 0.30
    #: every quantity the allocator calculated (0: refused), for ``allocator_qty_calculated``
    quantities: Buckets = field(default_factory=lambda: Buckets(QTY_BUCKETS), compare=False, repr=False)

    @classmethod
    def from_config(cls, risk_management: Any) -> EntrySizer | None:
        """The sizer a file asks for (``capital_alloc_pct`` set), else None."""
        pct = getattr(risk_management, "capital_alloc_pct", None)
        if pct is None:
            return None
        risk = risk_management.risk_per_trade_pct
        allocator = CapitalAllocator(
            alloc_pct=pct / 100, risk_per_trade_pct=None if risk is None else risk / 100
        )
        return cls(
            allocator, risk_management.capital_multiplier, risk_management.premium_stop_pct / 100
        )

    def apply(self, intent: Intent, view: Any) -> tuple[Intent, str]:
        """``intent`` with its buying entry legs sized; a non-empty reason means refuse it."""
        if isinstance(intent, Basket):
            legs = []
            for leg in intent.legs:
                sized, problem = self._leg(leg, view)
                if problem:
                    return intent, problem
                legs.append(sized)
            return Basket(legs, intent.is_exit, intent.name), ""
        return self._leg(intent, view)

    def _leg(self, leg: OrderIntent, view: Any) -> tuple[OrderIntent, str]:
        if leg.tag is not Tag.ENTRY or leg.side is not Side.BUY:
            return leg, ""
        q = view.quote(leg.contract)
        price = (
            q.ask
            if q is not None and math.isfinite(q.ask) and q.ask > 0
            else (q.ltp if q else math.nan)
        )
        if not (math.isfinite(price) and price > 0):
            return leg, f"no price for {leg.contract.id} to size the entry from"
        lot = get_index(leg.contract.underlying).lot_size(leg.contract.expiry)
        s = self.allocator.size(view.available_capital(), price, lot,
                                stop_fraction=self.stop_fraction, multiplier=self.multiplier)  # fmt: skip
        self.quantities.observe(s.quantity)
        if s.quantity == 0:
            return leg, s.reason or "the capital allocation allows no lot"
        if s.quantity < leg.quantity:
            return dataclasses.replace(leg, quantity=s.quantity), ""
        return leg, ""
