"""A position of one or more option legs, long or short, built from its own fills.

Shared by ``weekly_zones`` (a short main leg plus a long hedge) and ``momentum_buyer``
(long legs, pyramided). Quantities are signed units (+ long, - short); a fill that moves a
leg toward zero realizes P&L at the leg's average price; charges are kept apart so P&L is
net to the rupee. Marks come from each leg's own contract row (LTP, else the mid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from optrunner.core.orders import Fill, OrderIntent
from optrunner.core.types import LegRole, OrderType, Product, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract

if TYPE_CHECKING:
    from optrunner.config.operations import ExecutionConfig


@dataclass(slots=True)
class BookLeg:
    contract: OptionContract
    qty: int = 0  # signed units
    avg_price: float = 0.0
    price: float = math.nan  # latest mark

    @property
    def unrealized(self) -> float:
        if self.qty == 0 or not math.isfinite(self.price):
            return 0.0
        return (self.price - self.avg_price) * self.qty


class OptionBook:
    """Legs by contract id, realized P&L and charges; ``opened`` is the first fill's time."""

    __slots__ = ("charges", "legs", "opened", "realized")

    def __init__(self) -> None:
        self.legs: dict[str, BookLeg] = {}
        self.realized = 0.0
        self.charges = 0.0
        self.opened: datetime | None = None

    def apply_fill(self, fill: Fill) -> None:
        c = fill.contract
        leg = self.legs.get(c.id)
        if leg is None:
            leg = self.legs[c.id] = BookLeg(c, price=fill.price)
        if self.opened is None:
            self.opened = fill.ts
        self.charges += fill.charges.total
        signed = fill.signed_quantity
        if leg.qty == 0 or (leg.qty > 0) == (signed > 0):  # opening or adding
            leg.avg_price = (leg.avg_price * abs(leg.qty) + fill.price * abs(signed)) / (abs(leg.qty) + abs(signed))
            leg.qty += signed
            return
        closing = min(abs(signed), abs(leg.qty))
        self.realized += (fill.price - leg.avg_price) * closing * (1 if leg.qty > 0 else -1)
        rest = abs(signed) - closing
        leg.qty += signed
        if rest:  # flipped through zero: the remainder opens at the fill price
            leg.avg_price = fill.price
        elif leg.qty == 0:
            leg.avg_price = 0.0

    def mark(self, snapshot: ChainSnapshot) -> None:
        for leg in self.legs.values():
            if leg.qty == 0:
                continue
            i = snapshot.index_of(leg.contract)
            if i is None:
                continue
            ltp = float(snapshot.ltp[i])
            if math.isfinite(ltp) and ltp > 0:
                leg.price = ltp
            else:
                bid, ask = float(snapshot.bid[i]), float(snapshot.ask[i])
                if bid > 0 and ask > 0:
                    leg.price = 0.5 * (bid + ask)

    def open_legs(self) -> list[BookLeg]:
        return [leg for leg in self.legs.values() if leg.qty]

    def qty(self, contract: OptionContract) -> int:
        leg = self.legs.get(contract.id)
        return leg.qty if leg else 0

    @property
    def is_flat(self) -> bool:
        return not any(leg.qty for leg in self.legs.values())

    @property
    def cost(self) -> float:
        """Premium of the open legs at their average prices: + paid (net long), - received."""
        return sum(leg.avg_price * leg.qty for leg in self.legs.values())

    @property
    def pnl(self) -> float:
        """Realized + unrealized - charges."""
        return self.realized + sum(leg.unrealized for leg in self.legs.values()) - self.charges

    def to_dict(self) -> dict[str, Any]:
        return {
            "legs": [[leg.contract.id, leg.qty, leg.avg_price, leg.price if math.isfinite(leg.price) else None]
                     for leg in self.legs.values()],
            "realized": self.realized, "charges": self.charges,
            "opened": self.opened.isoformat() if self.opened else None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OptionBook:
        book = cls()
        for cid, qty, avg, price in d["legs"]:
            book.legs[cid] = BookLeg(OptionContract.from_id(cid), qty, avg, math.nan if price is None else price)
        book.realized, book.charges = d["realized"], d["charges"]
        book.opened = datetime.fromisoformat(d["opened"]) if d["opened"] else None
        return book




def order_intent(
    strategy: str,
    execution: ExecutionConfig,
    tick_size: float,
    tag: Tag,
    contract: OptionContract,
    side: Side,
    qty: int,
    snapshot: ChainSnapshot | None,
    *,
    leg: str,
    role: LegRole = LegRole.MAIN,
    reason: str = "",
) -> OrderIntent:
    """One leg as the file's ``execution`` section says: LIMIT at the LTP on the tick, else MARKET
    (which the order manager sends as a marketable limit)."""
    limit = None
    if execution.order_type is OrderType.LIMIT and snapshot is not None:
        i = snapshot.index_of(contract)
        ltp = float(snapshot.ltp[i]) if i is not None else math.nan
        if math.isfinite(ltp) and ltp > 0:
            limit = round(round(ltp / tick_size) * tick_size, 2)
    return OrderIntent(
        strategy=strategy, tag=tag, contract=contract, side=side, quantity=qty,
        order_type=execution.order_type, limit_price=limit, product=Product(execution.product),
        role=role, leg=leg, reason=reason or tag.value,
    )  # fmt: skip


__all__ = ["BookLeg", "OptionBook", "order_intent"]
