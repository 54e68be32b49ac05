"""The broker protocol: what the order manager sends, and the answers it reads back.

A broker never calls back into the kernel. It pushes every answer (ack, reject, fill,
cancel, expiry, settlement) into an outbox that the order manager drains with
:meth:`Broker.events`, so the kernel stays single-threaded and a replay is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from optrunner.core.fastinit import fast_frozen_init
from optrunner.core.types import OrderState, Side

if TYPE_CHECKING:
    from optrunner.core.orders import Order
    from optrunner.data.snapshot import ChainSnapshot
    from optrunner.instruments.contracts import OptionContract


class BrokerEventKind(StrEnum):
    ACK = "ACK"  # the exchange accepted the order
    REJECT = "REJECT"  # the order was refused before it was accepted
    FILL = "FILL"
    CANCELLED = "CANCELLED"
    CANCEL_REJECTED = "CANCEL_REJECTED"  # the cancel request was refused (order already done...)
    MODIFIED = "MODIFIED"
    MODIFY_REJECTED = "MODIFY_REJECTED"
    EXPIRED = "EXPIRED"  # a DAY order still working at the session end
    SETTLEMENT = "SETTLEMENT"  # expiry cash settlement of a position, not tied to an order


class RejectReason(StrEnum):
    """Why a request was refused. RATE_LIMITED is distinct: the request may be resent as is."""

    RATE_LIMITED = "RATE_LIMITED"
    FREEZE_LIMIT = "FREEZE_LIMIT"
    LOT_SIZE = "LOT_SIZE"
    UNKNOWN_CONTRACT = "UNKNOWN_CONTRACT"
    EXPIRED_CONTRACT = "EXPIRED_CONTRACT"
    OUTSIDE_SESSION = "OUTSIDE_SESSION"
    TICK_SIZE = "TICK_SIZE"
    INVALID_ORDER = "INVALID_ORDER"
    NOT_WORKING = "NOT_WORKING"  # cancel / modify of an order that is no longer working
    BROKER = "BROKER"  # the broker's own refusal (margin, RMS, ...)


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class BrokerEvent:
    """One answer from a broker. Fields beyond ``kind``/``client_id``/``ts`` depend on the kind.

    FILL: ``quantity``, ``price``, ``exec_id`` (unique per execution: the order manager
    de-duplicates on it). REJECT / *_REJECTED: ``reject_reason`` and ``reason``.
    MODIFIED: ``price`` is the new limit. SETTLEMENT: ``strategy``, ``contract``, ``side``,
    ``quantity``, ``price`` (intrinsic value) and ``exec_id``.
    """

    kind: BrokerEventKind
    client_id: str
    ts: datetime
    broker_id: str | None = None
    quantity: int = 0
    price: float = 0.0
    exec_id: str = ""
    reason: str = ""
    reject_reason: RejectReason | None = None
    strategy: str = ""
    contract: OptionContract | None = None
    side: Side | None = None


@dataclass(slots=True, frozen=True)
class BrokerOrderStatus:
    """What the broker knows about one order, used to resolve an order whose answer was lost.

    ``fills`` is the order's trade book (FILL events with their ``exec_id``) when the broker
    provides one; otherwise ``filled_qty``/``avg_price`` are all there is. ``limit_price`` is
    the order's limit as the broker now holds it (a modify whose answer was lost shows here);
    None when the broker does not report it.
    """

    client_id: str
    state: OrderState
    filled_qty: int = 0
    avg_price: float = 0.0
    broker_id: str | None = None
    fills: tuple[BrokerEvent, ...] = ()
    reason: str = ""
    limit_price: float | None = None
    strategy: str = ""  # in an order-book snapshot (``orders()``); "" when the broker cannot tell
    contract: OptionContract | None = None  # in an order-book snapshot, when the broker says (live brokers)


@dataclass(slots=True, frozen=True)
class BrokerPosition:
    """One net position as the venue holds it, in signed units. ``strategy`` is "" for a
    broker that keeps one book per account (reconciliation then compares per contract).
    ``avg_price``: the venue's average price of the net position, when it reports one (what an
    adopted position is booked at)."""

    strategy: str
    contract: OptionContract
    quantity: int
    avg_price: float | None = None


class BrokerUnreachable(Exception):
    """Raised by ``submit``/``cancel``/``modify`` only when the request certainly did not reach
    the broker (connection refused, not logged in). The order manager may then send it again.

    Any other exception is ambiguous (the request may have arrived): the order manager does
    not resend, and resolves the order through :meth:`Broker.order_status` instead.
    """


@runtime_checkable
class Broker(Protocol):
    name: str

    def submit(self, order: Order) -> None: ...

    def cancel(self, client_id: str) -> None: ...

    def modify(self, client_id: str, limit_price: float) -> None: ...

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        """The broker's view of ``client_id``; None when the broker cannot tell (never a guess)."""
        ...

    def events(self) -> list[BrokerEvent]:
        """Every answer pushed since the last call, oldest first; empties the outbox."""
        ...


@runtime_checkable
class MarketDrivenBroker(Broker, Protocol):
    """A broker that executes against market data it is fed (simulated exchange, paper)."""

    def on_snapshot(self, snapshot: ChainSnapshot) -> None: ...


@runtime_checkable
class ReconcilableBroker(Protocol):
    """A broker that can show its books, so the kernel can check its own against them
    (execution/reconcile.py). Snapshots, not streams: each call returns the whole book."""

    def positions(self) -> list[BrokerPosition]:
        """Every non-zero net position."""
        ...

    def orders(self) -> list[BrokerOrderStatus]:
        """The day's order book (without fills)."""
        ...

    def trades(self) -> list[BrokerEvent]:
        """The trade book: every execution (FILL events with their ``exec_id``), oldest first."""
        ...
