"""Typed, versioned bus messages (msgspec, MessagePack) and their domain conversions.

Every payload is a tagged struct: the tag names its type and version (``tick.1``), so a
consumer refuses a message it does not know with a clear error (it goes to the DLQ) instead
of misreading it. Structs are array-like (field names are not repeated in every message).
Chains carry their columns as raw little-endian NumPy bytes: a 400-row snapshot decodes
with a few ``frombuffer`` calls, no per-row work. benchmarks/bench_bus.py measures sizes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
import numpy as np

from optrunner.core.events import BarEvent, TickEvent
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot
from optrunner.execution.brokers.base import (
    BrokerEvent,
    BrokerEventKind,
    BrokerOrderStatus,
    RejectReason,
)
from optrunner.instruments.contracts import OptionContract

_EPOCH = np.datetime64("1970-01-01", "D")


class Msg(msgspec.Struct, tag_field="t", array_like=True, frozen=True):
    """Base of every bus payload."""


# --- market ------------------------------------------------------------------------------


class Tick(Msg, tag="tick.1"):
    ts: datetime
    instrument: str
    ltp: float
    bid: float = float("nan")
    ask: float = float("nan")
    bid_qty: float = float("nan")
    ask_qty: float = float("nan")
    volume: float = float("nan")
    oi: float = float("nan")

    @classmethod
    def of(cls, e: TickEvent) -> Tick:
        return cls(e.ts, e.instrument, e.ltp, e.bid, e.ask, e.bid_qty, e.ask_qty, e.volume, e.oi)

    def event(self) -> TickEvent:
        return TickEvent(ist(self.ts), self.instrument, self.ltp, self.bid, self.ask,
                         self.bid_qty, self.ask_qty, self.volume, self.oi)  # fmt: skip


class Chain(Msg, tag="chain.1"):
    """A chain snapshot: expiry as int32 days since 1970, strike/floats float64, is_call uint8,
    ``floats`` the FLOAT_COLUMNS stacked row-major (len(FLOAT_COLUMNS) x n), key int64."""

    symbol: str
    ts: datetime
    spot: float
    n: int
    expiry: bytes
    strike: bytes
    is_call: bytes
    floats: bytes
    key: bytes

    @classmethod
    def of(cls, s: ChainSnapshot) -> Chain:
        days = (s.expiry.astype("datetime64[D]") - _EPOCH).astype("<i4")
        floats = np.stack([np.asarray(getattr(s, c), dtype="<f8") for c in FLOAT_COLUMNS])
        key = s.key if s.key is not None else np.zeros(0, dtype=np.int64)
        return cls(s.symbol, s.ts, float(s.spot), len(s.strike), days.tobytes(),
                   np.asarray(s.strike, dtype="<f8").tobytes(), np.asarray(s.is_call, dtype=np.uint8).tobytes(),
                   floats.tobytes(), np.asarray(key, dtype="<i8").tobytes())  # fmt: skip

    def snapshot(self) -> ChainSnapshot:
        n = self.n
        floats = np.frombuffer(self.floats, dtype="<f8").reshape(len(FLOAT_COLUMNS), n)
        cols = {c: floats[i].copy() for i, c in enumerate(FLOAT_COLUMNS)}
        expiry = np.frombuffer(self.expiry, dtype="<i4").astype("timedelta64[D]") + _EPOCH
        key = np.frombuffer(self.key, dtype="<i8").copy() if self.key else None
        return ChainSnapshot(self.symbol, ist(self.ts), self.spot, expiry, np.frombuffer(self.strike, dtype="<f8").copy(),
                             np.frombuffer(self.is_call, dtype=np.uint8).astype(bool), key=key, **cols)  # fmt: skip


class Bar(Msg, tag="bar.1"):
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    @classmethod
    def of(cls, b: BarEvent) -> Bar:
        return cls(b.symbol, b.timeframe, b.start, b.end, b.open, b.high, b.low, b.close, b.volume)

    def event(self) -> BarEvent:
        return BarEvent(self.symbol, self.timeframe, ist(self.start), ist(self.end), self.open, self.high,
                        self.low, self.close, self.volume)  # fmt: skip


class SessionEnd(Msg, tag="session_end.1"):
    """On ``market.chains`` after a replayed day's last snapshot: a replay's end of input."""

    day: date
    symbols: list[str]


# --- broker commands: {broker}.signals.raw -> risk -> {broker}.signals.validated -> gateway ----


class Command(Msg):
    """A request to a broker, numbered by its sender (``origin``) in the order it was made:
    the gateway applies each (origin, seq) once and in order, and answers it once."""

    origin: str
    seq: int


class OrderMsg(msgspec.Struct, array_like=True, frozen=True):
    client_id: str
    strategy: str
    tag: str
    contract: str
    side: str
    quantity: int
    order_type: str
    limit_price: float | None
    trigger_price: float | None
    product: str
    parent_id: str | None
    basket_id: str | None
    leg: str
    created_ts: datetime | None

    @classmethod
    def of(cls, o: Order) -> OrderMsg:
        return cls(o.client_id, o.strategy, o.tag.value, o.contract.id, o.side.value, o.quantity, o.order_type.value,
                   o.limit_price, o.trigger_price, o.product.value, o.parent_id, o.basket_id, o.leg, o.created_ts)  # fmt: skip

    def order(self) -> Order:
        return Order(self.client_id, self.strategy, Tag(self.tag), OptionContract.from_id(self.contract),
                     Side(self.side), self.quantity, OrderType(self.order_type), self.limit_price,
                     self.trigger_price, Product(self.product), OrderState.SUBMITTED, parent_id=self.parent_id,
                     basket_id=self.basket_id, leg=self.leg, created_ts=ist(self.created_ts), updated_ts=ist(self.created_ts))  # fmt: skip


class Submit(Command, tag="submit.1"):
    ts: datetime
    order: OrderMsg


class Cancel(Command, tag="cancel.1"):
    ts: datetime
    client_id: str


class Modify(Command, tag="modify.1"):
    ts: datetime
    client_id: str
    limit_price: float


class MarketAt(Command, tag="market.1"):
    """The sender's kernel moved to this snapshot (``market_id``: its ``market.chains`` entry):
    a market-driven broker executes resting orders against it here, in request order."""

    ts: datetime
    symbol: str
    market_id: str


class SessionClose(Command, tag="close.1"):
    ts: datetime
    day: date


# --- answers ------------------------------------------------------------------------------


class EventMsg(msgspec.Struct, array_like=True, frozen=True):
    kind: str
    client_id: str
    ts: datetime
    broker_id: str | None = None
    quantity: int = 0
    price: float = 0.0
    exec_id: str = ""
    reason: str = ""
    reject_reason: str | None = None
    strategy: str = ""
    contract: str | None = None
    side: str | None = None

    @classmethod
    def of(cls, e: BrokerEvent) -> EventMsg:
        return cls(e.kind.value, e.client_id, e.ts, e.broker_id, e.quantity, e.price, e.exec_id, e.reason,
                   e.reject_reason.value if e.reject_reason else None, e.strategy,
                   e.contract.id if e.contract else None, e.side.value if e.side else None)  # fmt: skip

    def event(self) -> BrokerEvent:
        return BrokerEvent(BrokerEventKind(self.kind), self.client_id, ist(self.ts), self.broker_id, self.quantity,
                           self.price, self.exec_id, self.reason,
                           RejectReason(self.reject_reason) if self.reject_reason else None, self.strategy,
                           OptionContract.from_id(self.contract) if self.contract else None,
                           Side(self.side) if self.side else None)  # fmt: skip


class Answer(Msg, tag="answer.1"):
    """Every broker event a command caused, in order (``{broker}.orders.updates``); a risk
    refusal is an answer too (a REJECT), published by the risk service."""

    origin: str
    seq: int
    events: list[EventMsg]


class Notice(Msg, tag="notice.1"):
    """``{broker}.orders.updates``: a live broker's alert, halt or resume, for every strategies
    process trading on it — what the adapter hands its ``on_alert(level, message)``,
    ``on_halt(strategy or None, reason)`` and ``on_resume()`` hooks in one process. ``id``
    names it (the command it came with, and its place there): the same notice published again
    keeps its id, so a reader applies each id once."""

    id: str
    kind: str  # alert | halt | resume
    ts: datetime
    level: str = ""  # an alert's
    strategy: str | None = None  # a halt's: None halts every new order
    message: str = ""  # an alert's text, a halt's reason

    @classmethod
    def of(cls, notice_id: str, ts: datetime, kind: str, *args: Any) -> Notice:
        """From a hook's call: ``of(notice_id, ts, "halt", strategy, reason)``."""
        if kind == "alert":
            return cls(notice_id, kind, ts, level=args[0], message=args[1])
        if kind == "halt":
            return cls(notice_id, kind, ts, strategy=args[0], message=args[1])
        if kind == "resume":
            return cls(notice_id, kind, ts)
        raise ValueError(f"unknown notice kind {kind!r}")

    def args(self) -> tuple[Any, ...]:
        """The hook's arguments, as the adapter passes them."""
        return {"alert": (self.level, self.message), "halt": (self.strategy, self.message), "resume": ()}[self.kind]


class Rejected(Msg, tag="rejected.1"):
    """``{broker}.signals.rejected``: an order the risk service refused, and why."""

    origin: str
    seq: int
    ts: datetime
    client_id: str
    strategy: str
    code: str
    reason: str


class Submitted(Msg, tag="submitted.1"):
    """``{broker}.orders.submitted``: an order the gateway handed to its broker (once per client id)."""

    ts: datetime
    order: OrderMsg


class FillMsg(Msg, tag="fill.1"):
    """``{broker}.orders.fills``: one execution (or settlement) as the broker reported it."""

    event: EventMsg


class StatusMsg(msgspec.Struct, array_like=True, frozen=True):
    """A broker's view of one order (the gateway keeps one per client id in a Redis hash)."""

    client_id: str
    state: str
    filled_qty: int
    avg_price: float
    broker_id: str | None
    fills: list[EventMsg]
    reason: str
    limit_price: float | None
    strategy: str

    @classmethod
    def of(cls, s: BrokerOrderStatus) -> StatusMsg:
        return cls(s.client_id, s.state.value, s.filled_qty, s.avg_price, s.broker_id,
                   [EventMsg.of(f) for f in s.fills], s.reason, s.limit_price, s.strategy)  # fmt: skip

    def status(self) -> BrokerOrderStatus:
        return BrokerOrderStatus(self.client_id, OrderState(self.state), self.filled_qty, self.avg_price,
                                 self.broker_id, tuple(f.event() for f in self.fills), self.reason,
                                 self.limit_price, self.strategy)  # fmt: skip


class PnlSnapshot(Msg, tag="pnl.1"):
    ts: datetime
    strategy: str
    net: float
    realized: float
    unrealized: float
    charges: float


class DeadLetter(Msg, tag="dlq.1"):
    """``{group}.dlq``: a message its consumer group failed on ``failures`` times, kept whole."""

    ts: datetime
    stream: str
    entry_id: str
    group: str
    consumer: str
    failures: int
    error: str
    payload: bytes


AnyMsg = (
    Tick | Chain | Bar | SessionEnd | Submit | Cancel | Modify | MarketAt | SessionClose | Answer | Notice
    | Rejected | Submitted | FillMsg | PnlSnapshot | DeadLetter
)  # fmt: skip

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyMsg)  # type: ignore[arg-type]
_status_decoder = msgspec.msgpack.Decoder(StatusMsg)


def ist(ts: Any) -> Any:
    """MessagePack times come back in UTC; the platform keeps exchange times in IST (same instant)."""
    return ts.astimezone(IST) if ts is not None else None


class MessageError(ValueError):
    """A payload that is not a message this version knows (a poison message)."""


def encode(msg: Any) -> bytes:
    return _encoder.encode(msg)


def decode(data: bytes) -> Msg:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise MessageError(f"undecodable bus message ({len(data)} bytes): {exc}") from exc


def decode_status(data: bytes) -> StatusMsg:
    return _status_decoder.decode(data)


def utc_now() -> datetime:
    return datetime.now(UTC)

