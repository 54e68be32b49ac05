"""Order intents (what strategies ask for), orders (what the order manager tracks) and fills.

These are plain records shared by strategies, risk, execution, portfolio and store; the
behaviour (state machine, routing, checks) lives in those layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from optrunner.core.fastinit import fast_frozen_init
from optrunner.core.types import LegRole, OrderState, OrderType, Product, Side, Tag

if TYPE_CHECKING:  # type-only: core imports nothing of ours at run time
    from optrunner.instruments.contracts import OptionContract


@dataclass(slots=True)
class OrderIntent:
    """One leg a strategy wants traded. Quantity is in units (lots x lot size), always > 0."""

    strategy: str
    tag: Tag
    contract: OptionContract
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    trigger_price: float | None = None
    product: Product = Product.NRML
    role: LegRole = LegRole.MAIN
    leg: str = ""  # the strategy's own name for the leg ("CE", "PE", "hedge-CE", ...)
    reason: str = ""
    client_id: str | None = None  # assigned by the order manager, deterministic per intent

    @property
    def signed_quantity(self) -> int:
        return self.side.sign * self.quantity


@dataclass(slots=True)
class Basket:
    """Legs that must trade together, in a declared order.

    Entry: hedge legs first, each confirmed filled before the main legs are sent.
    Exit: main legs first, then hedges. A failed later leg unwinds the earlier ones.
    """

    legs: list[OrderIntent]
    is_exit: bool = False
    name: str = ""

    @property
    def strategy(self) -> str:
        return self.legs[0].strategy if self.legs else ""

    def ordered_phases(self) -> list[list[OrderIntent]]:
        """Legs grouped into phases sent one after another; legs within a phase go together."""
        hedges = [leg for leg in self.legs if leg.role is LegRole.HEDGE]
        mains = [leg for leg in self.legs if leg.role is LegRole.MAIN]
        phases = [mains, hedges] if self.is_exit else [hedges, mains]
        return [p for p in phases if p]


Intent = OrderIntent | Basket


@dataclass(slots=True)
class Order:
    """An order the order manager tracks from NEW to a terminal state."""

    client_id: str
    strategy: str
    tag: Tag
    contract: OptionContract
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    trigger_price: float | None = None
    product: Product = Product.NRML
    state: OrderState = OrderState.NEW
    filled_qty: int = 0
    avg_price: float = 0.0
    broker_id: str | None = None
    parent_id: str | None = None  # set on freeze-quantity slices
    basket_id: str | None = None
    leg: str = ""
    created_ts: datetime | None = None
    updated_ts: datetime | None = None
    reason: str = ""  # reject / cancel reason

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_qty

    @property
    def is_done(self) -> bool:
        return self.state.is_terminal


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class ChargeBreakdown:
    """Statutory and broker charges on one fill, in rupees."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange: float = 0.0
    sebi: float = 0.0
    stamp: float = 0.0
    ipft: float = 0.0
    gst: float = 0.0

    @property
    def total(self) -> float:
        return self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.ipft + self.gst


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class Fill:
    """An execution (or a part of one). Carries its charges so P&L is net to the rupee."""

    fill_id: str
    client_id: str
    strategy: str
    tag: Tag
    contract: OptionContract
    side: Side
    quantity: int
    price: float
    ts: datetime
    charges: ChargeBreakdown = field(default_factory=ChargeBreakdown)
    leg: str = ""
    is_settlement: bool = False  # expiry cash settlement rather than a trade

    @property
    def signed_quantity(self) -> int:
        return self.side.sign * self.quantity

    @property
    def premium(self) -> float:
        """Cash flow from premium: positive when selling, negative when buying."""
        return -self.side.sign * self.quantity * self.price
