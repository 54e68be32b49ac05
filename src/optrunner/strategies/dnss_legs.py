"""The book of a short strangle: its legs, their fills and the strategy's running P&L.

Kept apart from the DNSS rules so the rules read like the spec and this arithmetic can be
checked on its own. Leg identity is the contract's option type as parsed (``Right``), never a
substring of a broker symbol — the bug that stopped the old strangle from ever confirming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optrunner.core.orders import Fill
from optrunner.core.types import Right, Side
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract


@dataclass(slots=True)
class Leg:
    """One short option leg. ``qty`` counts units currently sold (>= 0)."""

    contract: OptionContract
    qty: int = 0
    avg_price: float = 0.0  # average sell price of the open quantity
    price: float = math.nan  # latest mark
    delta: float = math.nan  # latest per-unit delta (signed)
    seen_ts: datetime | None = None  # the last snapshot that carried this contract

    @property
    def abs_delta(self) -> float:
        return abs(self.delta)

    @property
    def unrealized(self) -> float:
        if self.qty == 0 or not math.isfinite(self.price):
            return 0.0
        return (self.avg_price - self.price) * self.qty

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON (the store refuses NaN): a leg not marked yet has None price/delta."""
        return {
            "contract": self.contract.id, "qty": self.qty, "avg_price": self.avg_price,
            "price": _or_none(self.price), "delta": _or_none(self.delta),
            "seen_ts": self.seen_ts.isoformat() if self.seen_ts else None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Leg:
        return cls(
            OptionContract.from_id(d["contract"]),
            d["qty"],
            d["avg_price"],
            math.nan if d["price"] is None else d["price"],
            math.nan if d["delta"] is None else d["delta"],
            datetime.fromisoformat(d["seen_ts"]) if d["seen_ts"] else None,
        )


def _or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


class StrangleBook:
    """Legs by option type plus realized P&L, charges and premium collected since entry."""

    def __init__(self) -> None:
        self.legs: dict[Right, Leg] = {}
        self.realized = 0.0
        self.charges = 0.0
        self.premium_collected = 0.0

    def reset(self) -> None:
        self.__init__()

    # --- fills --------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> None:
        """Sells open/extend a leg; buys (and expiry settlements) close it."""
        right = fill.contract.right
        self.charges += fill.charges.total
        leg = self.legs.get(right)
        if fill.side is Side.SELL:
            if leg is None or leg.qty == 0 or leg.contract != fill.contract:
                if leg is not None and leg.qty:
                    raise ValueError(
                        f"second open {right} leg {fill.contract.id} while {leg.contract.id} is open"
                    )
                leg = self.legs[right] = Leg(fill.contract)
            leg.avg_price = (leg.avg_price * leg.qty + fill.price * fill.quantity) / (
                leg.qty + fill.quantity
            )
            leg.qty += fill.quantity
            self.premium_collected += fill.price * fill.quantity
            if not math.isfinite(leg.price):
                leg.price = fill.price
            return
        if leg is None or leg.contract != fill.contract or leg.qty < fill.quantity:
            raise ValueError(
                f"buy of {fill.quantity} {fill.contract.id} does not match an open short leg"
            )
        self.realized += (leg.avg_price - fill.price) * fill.quantity
        leg.qty -= fill.quantity
        if leg.qty == 0:
            del self.legs[right]

    # --- marks --------------------------------------------------------------------------

    def mark(self, snapshot: ChainSnapshot) -> list[Leg]:
        """Refresh each leg from its own contract's row; return the legs this snapshot gave no
        usable greeks for (absent from the chain, or a row without a delta). A leg keeps its
        last delta for the book, but a caller must not take that old delta as fresh."""
        stale = []
        for leg in self.legs.values():
            i = snapshot.index_of(leg.contract)
            if i is None:
                stale.append(leg)
                continue
            price = _mark_price(snapshot, i)
            if math.isfinite(price):
                leg.price = price
            d = float(snapshot.delta[i])
            if math.isfinite(d):
                leg.delta = d
                leg.seen_ts = snapshot.ts
            else:
                stale.append(leg)
        return stale

    # --- views --------------------------------------------------------------------------

    def leg(self, right: Right) -> Leg | None:
        return self.legs.get(right)

    @property
    def open_qty(self) -> int:
        return sum(leg.qty for leg in self.legs.values())

    @property
    def unrealized(self) -> float:
        return sum(leg.unrealized for leg in self.legs.values())

    @property
    def pnl(self) -> float:
        """Net P&L since entry: realized + unrealized - charges paid."""
        return self.realized + self.unrealized - self.charges

    def net_delta(self) -> float:
        """|delta_CE + delta_PE| per unit: 0 at a perfectly neutral strangle."""
        return abs(sum(leg.delta for leg in self.legs.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "legs": {r.value: leg.to_dict() for r, leg in self.legs.items()},
            "realized": self.realized, "charges": self.charges, "premium_collected": self.premium_collected,
        }  # fmt: skip

    def restore(self, d: dict[str, Any]) -> None:
        self.legs = {Right(r): Leg.from_dict(v) for r, v in d["legs"].items()}
        self.realized, self.charges = d["realized"], d["charges"]
        self.premium_collected = d["premium_collected"]


def _mark_price(snapshot: ChainSnapshot, i: int) -> float:
    """LTP, falling back to the bid/ask mid when the contract has not traded."""
    ltp = float(snapshot.ltp[i])
    if math.isfinite(ltp) and ltp > 0:
        return ltp
    bid, ask = float(snapshot.bid[i]), float(snapshot.ask[i])
    if bid > 0 and ask > 0:
        return 0.5 * (bid + ask)
    return math.nan
