"""One strategy's holding in one contract, and its P&L under the average-cost method.

Why average cost: it is what Indian brokers show in their position books (net quantity
and an average price), so a live position reconciles with the broker's screen line by
line. The seed's formula ``(ltp - entry) x qty - fees`` (REFERENCE_SYSTEMS.md §2.2-8) is
the special case of one entry and one exit; this handles adding, partial exits and
flips through zero as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.instruments.contracts import OptionContract

GREEK_NAMES = ("delta", "gamma", "vega", "theta")
_CHARGE_FIELDS = tuple(f.name for f in fields(ChargeBreakdown))


def add_charges(a: ChargeBreakdown, b: ChargeBreakdown) -> ChargeBreakdown:
    """Component-wise sum, so reports can show STT, GST, ... separately over any period."""
    return ChargeBreakdown(*(getattr(a, n) + getattr(b, n) for n in _CHARGE_FIELDS))


def charges_to_dict(c: ChargeBreakdown) -> dict[str, float]:
    return {n: getattr(c, n) for n in _CHARGE_FIELDS}


def charges_from_dict(d: dict[str, Any]) -> ChargeBreakdown:
    return ChargeBreakdown(**{n: float(d[n]) for n in _CHARGE_FIELDS})


@dataclass(slots=True, frozen=True)
class Greeks:
    """Position greeks in rupees per unit move: delta per index point, gamma per point²,
    vega per vol point, theta per calendar day (the chain's conventions x signed units)."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


@dataclass(slots=True, frozen=True)
class FillEffect:
    """What one fill did to a position, for the portfolio's running totals."""

    realized: float
    charges: ChargeBreakdown
    premium: float
    was_open: bool
    is_open: bool


@dataclass(slots=True)
class Position:
    """Signed net ``quantity`` in units (negative = short) of ``contract`` held by ``strategy``.

    ``premium_collected`` is the premium received on sells minus premium paid on buys
    over the strategy's trades in this contract; expiry settlement is not a trade, so it
    shows in ``realized`` but not here. Per-unit greeks come from the last chain row the
    position was marked with (None until one had them).
    """

    strategy: str
    contract: OptionContract
    quantity: int = 0
    avg_price: float = 0.0
    realized: float = 0.0
    charges: ChargeBreakdown = field(default_factory=ChargeBreakdown)
    premium_collected: float = 0.0
    mark_price: float | None = None
    mark_ts: datetime | None = None
    delta: float | None = None
    gamma: float | None = None
    vega: float | None = None
    theta: float | None = None
    fills: int = 0
    missed_marks: int = 0

    # --- derived ------------------------------------------------------------------------

    @property
    def key(self) -> tuple[str, str]:
        return (self.strategy, self.contract.id)

    @property
    def is_open(self) -> bool:
        return self.quantity != 0

    @property
    def charges_paid(self) -> float:
        return self.charges.total

    @property
    def unrealized(self) -> float:
        """(mark - average price) x signed quantity; 0 when flat or never priced."""
        if not self.quantity or self.mark_price is None:
            return 0.0
        return (self.mark_price - self.avg_price) * self.quantity

    @property
    def gross_pnl(self) -> float:
        return self.realized + self.unrealized

    @property
    def net_pnl(self) -> float:
        return self.gross_pnl - self.charges.total

    @property
    def notional(self) -> float:
        """|quantity| x strike: the index exposure the contracts are written on, not margin."""
        return abs(self.quantity) * self.contract.strike

    @property
    def has_greeks(self) -> bool:
        """All four per-unit greeks known (from some mark)."""
        return None not in (self.delta, self.gamma, self.vega, self.theta)

    def greeks(self) -> Greeks | None:
        """Signed contribution quantity x per-unit greek (a short put has positive delta).

        Zero when flat; None while the greeks are unknown, so callers can count the gap
        instead of summing a silent zero.
        """
        if not self.quantity:
            return Greeks()
        d, g, v, t = self.delta, self.gamma, self.vega, self.theta
        if d is None or g is None or v is None or t is None:
            return None
        q = self.quantity
        return Greeks(q * d, q * g, q * v, q * t)

    # --- changes ------------------------------------------------------------------------

    def apply(self, fill: Fill) -> FillEffect:
        """Book ``fill`` by average cost: adding re-averages; reducing realises
        (price - avg) x closed units x sign; crossing zero realises the closed part and
        opens the remainder at the fill price."""
        was_open = self.is_open
        old, delta_q, price = self.quantity, int(fill.signed_quantity), float(fill.price)
        new = old + delta_q
        realized = 0.0
        if old == 0 or (old > 0) == (delta_q > 0):
            self.avg_price = (abs(old) * self.avg_price + abs(delta_q) * price) / abs(new)
        else:
            closed = min(abs(delta_q), abs(old))
            realized = (price - self.avg_price) * closed * (1 if old > 0 else -1)
            if new == 0:
                self.avg_price = 0.0
            elif (new > 0) != (old > 0):
                self.avg_price = price
        self.quantity = new
        self.realized += realized
        self.charges = add_charges(self.charges, fill.charges)
        premium = 0.0 if fill.is_settlement else float(fill.premium)
        self.premium_collected += premium
        self.fills += 1
        stale = self.mark_ts is None or fill.ts > self.mark_ts
        if old == 0 and stale:
            # reopened after being flat: the old per-unit greeks belong to another time
            for name in GREEK_NAMES:
                setattr(self, name, None)
        if fill.is_settlement or self.mark_price is None or stale:
            # a fill is a newer price than an older mark (a position reopened days after it
            # was closed must not be valued at its old last mark until the next snapshot)
            self.mark_price, self.mark_ts = price, fill.ts
        return FillEffect(realized, fill.charges, premium, was_open, self.is_open)

    def set_mark(
        self, price: float, ts: datetime, greeks: tuple[float, float, float, float]
    ) -> None:
        """Take a new mark; a NaN greek keeps the last known one (rows at or below
        intrinsic carry no IV, hence no greeks, yet the position still has them)."""
        self.mark_price, self.mark_ts = price, ts
        for name, value in zip(GREEK_NAMES, greeks, strict=True):
            if math.isfinite(value):
                setattr(self, name, value)

    # --- state --------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "contract": self.contract.id,
            "quantity": self.quantity,
            "avg_price": self.avg_price,
            "realized": self.realized,
            "charges": charges_to_dict(self.charges),
            "premium_collected": self.premium_collected,
            "mark_price": self.mark_price,
            "mark_ts": None if self.mark_ts is None else self.mark_ts.isoformat(),
            **{name: getattr(self, name) for name in GREEK_NAMES},
            "fills": self.fills,
            "missed_marks": self.missed_marks,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Position:
        ts = d["mark_ts"]
        return cls(
            strategy=str(d["strategy"]),
            contract=OptionContract.from_id(d["contract"]),
            quantity=int(d["quantity"]),
            avg_price=float(d["avg_price"]),
            realized=float(d["realized"]),
            charges=charges_from_dict(d["charges"]),
            premium_collected=float(d["premium_collected"]),
            mark_price=_opt_float(d["mark_price"]),
            mark_ts=None if ts is None else datetime.fromisoformat(ts),
            **{name: _opt_float(d[name]) for name in GREEK_NAMES},
            fills=int(d["fills"]),
            missed_marks=int(d["missed_marks"]),
        )


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)
