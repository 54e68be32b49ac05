"""Records a run as it happens: fills, orders, the equity curve, days and round-trip trades.

A *trade* is one strategy going from flat to flat: its entry, every adjustment and its exit
(or expiry settlement). At flat, gross P&L is exactly the net premium cash flow of the
cycle, so trades need no average-cost bookkeeping of their own.

Given the portfolio, the recorder also keeps what a trader audits a trade by (the report's
trade sections, docs/metrics.md): each leg's entry and exit prices, every trade's minute
mark-to-market path (premium cash so far + open legs at their marks − charges so far), and an
adjustment log with the strategy's net delta at the mark before the adjustment and at the
first mark after its replacement leg filled. Only what is already in memory is read, so this
costs a few dictionary look-ups per minute.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optrunner.backtest.metrics import TradeResult, excursions
from optrunner.core.events import AlertEvent, FillEvent, OrderUpdateEvent
from optrunner.core.orders import Fill, Order
from optrunner.core.timeutil import to_ist
from optrunner.core.types import OrderState, Side, Tag
from optrunner.instruments.contracts import OptionContract

if TYPE_CHECKING:
    from optrunner.portfolio.book import Portfolio

EVENT_TAGS = (Tag.ENTRY, Tag.ADJUST_EXIT, Tag.ADJUST_ENTRY, Tag.EXIT)


@dataclass(slots=True)
class Leg:
    """One contract within one trade: what was opened (the side of its first fill) and what
    closed it. A contract opened, closed and opened again inside one trade is one leg with
    averaged prices; its P&L is still exact (the premium cash flow)."""

    contract: OptionContract
    side: Side  # side of the opening fill(s)
    at_entry: bool  # opened by the trade's ENTRY order(s): part of the position the payoff shows
    entry_ts: datetime
    exit_ts: datetime | None = None
    opened: int = 0
    opened_value: float = 0.0
    closed: int = 0
    closed_value: float = 0.0
    gross: float = 0.0
    charges: float = 0.0
    exit_kind: str = ""  # tag of the closing fill, or EXPIRY

    def add(self, fill: Fill) -> None:
        value = fill.quantity * fill.price
        if fill.side is self.side:
            self.opened += fill.quantity
            self.opened_value += value
        else:
            self.closed += fill.quantity
            self.closed_value += value
            self.exit_ts = fill.ts
            self.exit_kind = "EXPIRY" if fill.is_settlement else fill.tag.value
        self.gross += fill.premium
        self.charges += fill.charges.total

    def row(self, trade: int, strategy: str) -> dict[str, Any]:
        return {
            "trade": trade, "strategy": strategy, "contract": self.contract.id, "side": self.side.value,
            "quantity": self.opened, "entry_time": to_ist(self.entry_ts).isoformat(),
            "entry_price": round(self.opened_value / self.opened, 4) if self.opened else "",
            "exit_time": to_ist(self.exit_ts).isoformat() if self.exit_ts else "",
            "exit_price": round(self.closed_value / self.closed, 4) if self.closed else "",
            "exit": self.exit_kind, "gross_pnl": round(self.gross, 4), "charges": round(self.charges, 4),
            "net_pnl": round(self.gross - self.charges, 4), "at_entry": int(self.at_entry),
        }  # fmt: skip


@dataclass(slots=True)
class Adjustment:
    """Legs bought back and their replacements, with the net delta (units) around them."""

    strategy: str
    trade: Trade
    ts: datetime
    trigger: str
    delta_before: float | None
    delta_after: float | None = None
    closed: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    last_fill: datetime | None = None

    def row(self, trade: int | str) -> dict[str, Any]:
        return {
            "time": to_ist(self.ts).isoformat(), "strategy": self.strategy, "trade": trade,
            "trigger": self.trigger, "delta_before": _round(self.delta_before),
            "delta_after": _round(self.delta_after), "closed": " ".join(self.closed), "opened": " ".join(self.opened),
        }  # fmt: skip


@dataclass(slots=True)
class Trade:
    strategy: str
    entry_ts: datetime
    exit_ts: datetime | None = None
    gross: float = 0.0
    charges: float = 0.0
    legs: list[str] = field(default_factory=list)  # canonical ids in order of first fill
    adjustments: set[str] = field(default_factory=set)  # ADJUST_ENTRY client ids
    exit_reason: str = ""
    open_qty: dict[str, int] = field(default_factory=dict)  # contract id -> signed units
    book: dict[str, Leg] = field(default_factory=dict)  # contract id -> leg
    mtm: list[tuple[datetime, float]] = field(default_factory=list)  # net mark-to-market path

    @property
    def net(self) -> float:
        return self.gross - self.charges

    @property
    def is_open(self) -> bool:
        return any(self.open_qty.values())

    def row(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "entry_time": to_ist(self.entry_ts).isoformat(),
            "exit_time": to_ist(self.exit_ts).isoformat() if self.exit_ts else "",
            "legs": " ".join(self.legs),
            "adjustments": len(self.adjustments),
            "gross_pnl": round(self.gross, 4),
            "charges": round(self.charges, 4),
            "net_pnl": round(self.net, 4),
            "exit_reason": self.exit_reason,
            **dict(zip(("mae", "mfe"), (round(x, 4) for x in excursions([v for _, v in self.mtm])), strict=True)),
        }


class Recorder:
    """Collects everything the output folder holds; cheap enough to run on every minute."""

    def __init__(self, capital: float, portfolio: Portfolio | None = None) -> None:
        self.capital = capital
        self.portfolio = portfolio  # marks and greeks for trade MTM paths and the adjustment log
        self.adjustments: list[Adjustment] = []
        self._pending: dict[str, Adjustment] = {}  # strategy -> adjustment awaiting its after-delta
        self._delta: dict[str, float | None] = {}  # strategy -> net delta at the last mark
        self.fills: list[Fill] = []
        self.orders: dict[str, Order] = {}
        self.trades: list[Trade] = []
        self._open: dict[str, Trade] = {}
        self.equity: list[tuple[datetime, float, float, float]] = []  # ts, equity, gross, charges
        self.days: list[tuple[date, float]] = []  # day, closing equity
        self.rejections: Counter[str] = Counter()
        self.submitted: set[str] = set()  # client ids that reached the exchange
        self.alerts: list[AlertEvent] = []

    def on_event(self, event: FillEvent | OrderUpdateEvent | AlertEvent) -> None:
        """The kernel's observer hook."""
        if isinstance(event, FillEvent):
            self.on_fill(event.fill)
        elif isinstance(event, OrderUpdateEvent):
            self.on_order(event.order)
        else:
            self.alerts.append(event)

    # --- events ------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        trade = self._open.get(fill.strategy)
        if trade is None:
            trade = self._open[fill.strategy] = Trade(fill.strategy, fill.ts)
            self._delta.pop(fill.strategy, None)  # the last trade's delta says nothing about this one
        cid = fill.contract.id
        if cid not in trade.legs:
            trade.legs.append(cid)
        leg = trade.book.get(cid)
        if leg is None:
            leg = trade.book[cid] = Leg(fill.contract, fill.side, fill.tag is Tag.ENTRY, fill.ts)
        leg.add(fill)
        self._log_adjustment(trade, fill)
        trade.gross += fill.premium
        trade.charges += fill.charges.total
        trade.open_qty[cid] = trade.open_qty.get(cid, 0) + fill.signed_quantity
        if fill.tag is Tag.ADJUST_ENTRY:
            trade.adjustments.add(fill.client_id)
        if not trade.is_open:
            self._settle_adjustment(fill.strategy)
            trade.mtm.append((fill.ts, trade.net))
            trade.exit_ts = fill.ts
            trade.exit_reason = (
                "EXPIRY" if fill.is_settlement else (self._reason(fill) or fill.tag.value)
            )
            self.trades.append(trade)
            del self._open[fill.strategy]

    def _reason(self, fill: Fill) -> str:
        order = self.orders.get(fill.client_id)
        return order.reason if order is not None else ""

    def on_order(self, order: Order) -> None:
        """Called on every update; the latest state of each order wins."""
        self.orders[order.client_id] = order
        if order.state is OrderState.SUBMITTED:
            self.submitted.add(order.client_id)
        elif order.state is OrderState.REJECTED:
            self.rejections[_reason_code(order.reason)] += 1

    def on_mark(self, ts: datetime, equity: float, gross: float, charges: float) -> None:
        self.equity.append((ts, equity, gross, charges))
        if self.portfolio is None:
            return
        for strategy, trade in self._open.items():
            value, delta = self._mark_trade(trade)
            trade.mtm.append((ts, trade.net + value))
            self._delta[strategy] = delta
            pending = self._pending.get(strategy)
            if pending is not None and pending.opened and pending.last_fill is not None and ts > pending.last_fill:
                self._settle_adjustment(strategy)  # the replacement has had a mark of its own

    def _mark_trade(self, trade: Trade) -> tuple[float, float | None]:
        """Open legs at their marks (rupees) and the trade's net delta in units (None when a
        leg's greeks are unknown)."""
        assert self.portfolio is not None
        value, delta = 0.0, 0.0
        for cid, qty in trade.open_qty.items():
            if not qty:
                continue
            pos = self.portfolio.position_by_id(trade.strategy, cid)
            if pos is None or pos.mark_price is None:
                continue
            value += qty * pos.mark_price
            if delta is not None:
                delta = None if pos.delta is None else delta + qty * pos.delta
        return value, delta

    # --- adjustments ----------------------------------------------------------------------
    # An adjustment starts at its first ADJUST_* fill (the delta before is the one the strategy
    # saw at the last mark) and gathers the strategy's ADJUST_* fills until its replacement
    # leg has been marked once (the delta after) or another kind of fill ends it.

    def _log_adjustment(self, trade: Trade, fill: Fill) -> None:
        pending = self._pending.get(fill.strategy)
        if fill.tag not in (Tag.ADJUST_EXIT, Tag.ADJUST_ENTRY):
            if pending is not None:
                self._settle_adjustment(fill.strategy)
            return
        if pending is not None and fill.tag is Tag.ADJUST_EXIT and pending.opened:
            self._settle_adjustment(fill.strategy)
            pending = None
        if pending is None:
            pending = self._pending[fill.strategy] = Adjustment(
                fill.strategy, trade, fill.ts, self._reason(fill) or fill.tag.value, self._delta.get(fill.strategy))
        pending.last_fill = fill.ts
        names = pending.closed if fill.tag is Tag.ADJUST_EXIT else pending.opened
        if fill.contract.id not in names:
            names.append(fill.contract.id)

    def _settle_adjustment(self, strategy: str) -> None:
        pending = self._pending.pop(strategy, None)
        if pending is None:
            return
        if self.portfolio is not None and strategy in self._open:
            pending.delta_after = self._mark_trade(self._open[strategy])[1]
        self.adjustments.append(pending)

    def on_day_end(self, d: date, equity: float) -> None:
        self.days.append((d, equity))

    # --- results ------------------------------------------------------------------------

    def trade_results(self, strategy: str | None = None) -> list[TradeResult]:
        return [
            TradeResult(t.strategy, t.gross, t.charges)
            for t in self.trades
            if strategy in (None, t.strategy)
        ]

    def daily_pnl(self) -> list[float]:
        out, prev = [], self.capital
        for _, eq in self.days:
            out.append(eq - prev)
            prev = eq
        return out

    def open_trades(self) -> list[Trade]:
        return list(self._open.values())

    # --- files --------------------------------------------------------------------------

    def _write_trade_detail(self, out: Path) -> None:
        """legs.csv, trade_mtm.csv and adjustments.csv; ``trade`` is the 1-based row of trades.csv."""
        number = {id(t): i for i, t in enumerate(self.trades, start=1)}
        _csv(out / "legs.csv", [leg.row(number[id(t)], t.strategy) for t in self.trades for leg in t.book.values()])
        _csv(out / "trade_mtm.csv", [
            {"trade": number[id(t)], "time": to_ist(ts).isoformat(), "mtm": round(v, 4)}
            for t in self.trades for ts, v in t.mtm
        ])  # fmt: skip
        for strategy in list(self._pending):
            self._settle_adjustment(strategy)
        _csv(out / "adjustments.csv", [a.row(number.get(id(a.trade), "")) for a in self.adjustments])

    def events(self) -> list[dict[str, Any]]:
        """Executed entries, adjustments and exits, one row per (slice of an) order: the chart markers."""
        rows = [
            {"time": to_ist(o.updated_ts).isoformat() if o.updated_ts else "", "strategy": o.strategy,
             "tag": o.tag.value, "contract": o.contract.id, "side": o.side.value,
             "price": round(o.avg_price, 4), "quantity": o.filled_qty}
            for o in self.orders.values() if o.filled_qty > 0 and o.tag in EVENT_TAGS
        ]  # fmt: skip
        return sorted(rows, key=lambda r: r["time"])

    def write(
        self, out: Path, summary: dict[str, Any], spot: list[tuple[datetime, str, float]] = ()
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, default=_json_default) + "\n"
        )
        _csv(out / "trades.csv", [t.row() for t in self.trades])
        _csv(out / "orders.csv", [_order_row(o) for o in self.orders.values()])
        _csv(out / "fills.csv", [_fill_row(f) for f in self.fills])
        peak = -math.inf
        rows = []
        for ts, eq, gross, charges in self.equity:
            peak = max(peak, eq)
            rows.append({"time": to_ist(ts).isoformat(), "equity": round(eq, 4), "drawdown": round(peak - eq, 4),
                         "gross_pnl": round(gross, 4), "charges": round(charges, 4)})  # fmt: skip
        _csv(out / "equity.csv", rows)
        daily, prev = [], self.capital
        for d, eq in self.days:
            daily.append(
                {"date": d.isoformat(), "pnl": round(eq - prev, 4), "equity": round(eq, 4)}
            )
            prev = eq
        _csv(out / "daily.csv", daily)
        _csv(out / "events.csv", self.events())
        self._write_trade_detail(out)
        _csv(
            out / "spot.csv",
            [{"time": to_ist(ts).isoformat(), "symbol": sym, "spot": px} for ts, sym, px in spot],
        )


def _round(x: float | None) -> float | str:
    return "" if x is None else round(x, 4)


def _reason_code(reason: str) -> str:
    """Rejections carry "CODE: message"; the code is what gets counted."""
    head = reason.split(":", 1)[0].strip()
    return head if head and head.replace("_", "").isalnum() and head.upper() == head else "OTHER"


def _order_row(o: Order) -> dict[str, Any]:
    return {
        "client_id": o.client_id, "parent_id": o.parent_id or "", "basket_id": o.basket_id or "",
        "strategy": o.strategy, "tag": o.tag.value, "contract": o.contract.id, "side": o.side.value,
        "quantity": o.quantity, "order_type": o.order_type.value, "limit_price": o.limit_price,
        "status": o.state.value, "filled_qty": o.filled_qty, "avg_price": round(o.avg_price, 4),
        "created": to_ist(o.created_ts).isoformat() if o.created_ts else "",
        "updated": to_ist(o.updated_ts).isoformat() if o.updated_ts else "", "reason": o.reason,
    }  # fmt: skip


def _fill_row(f: Fill) -> dict[str, Any]:
    c = f.charges
    return {
        "time": to_ist(f.ts).isoformat(), "fill_id": f.fill_id, "client_id": f.client_id,
        "strategy": f.strategy, "tag": f.tag.value, "contract": f.contract.id, "side": f.side.value,
        "quantity": f.quantity, "price": f.price, "settlement": f.is_settlement,
        "brokerage": c.brokerage, "stt": c.stt, "exchange": c.exchange, "sebi": c.sebi, "stamp": c.stamp,
        "ipft": c.ipft, "gst": c.gst, "charges": c.total,
    }  # fmt: skip


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        if not rows:
            fh.write("")
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _json_default(o: Any) -> Any:
    if isinstance(o, (date, datetime)):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


__all__ = ["Recorder", "Trade"]
