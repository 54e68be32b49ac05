"""Records a run as it happens: fills, orders, the equity curve, days and round-trip trades.

A *trade* is one strategy going from flat to flat: its entry, every adjustment and its exit
(or expiry settlement). At flat, gross P&L is exactly the net premium cash flow of the
cycle, so trades need no average-cost bookkeeping of their own.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from optrunner.backtest.metrics import TradeResult
from optrunner.core.events import AlertEvent, FillEvent, OrderUpdateEvent
from optrunner.core.orders import Fill, Order
from optrunner.core.timeutil import to_ist
from optrunner.core.types import OrderState, Tag

EVENT_TAGS = (Tag.ENTRY, Tag.ADJUST_EXIT, Tag.ADJUST_ENTRY, Tag.EXIT)


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
        }


class Recorder:
    """Collects everything the output folder holds; cheap enough to run on every minute."""

    def __init__(self, capital: float) -> None:
        self.capital = capital
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
        cid = fill.contract.id
        if cid not in trade.legs:
            trade.legs.append(cid)
        trade.gross += fill.premium
        trade.charges += fill.charges.total
        trade.open_qty[cid] = trade.open_qty.get(cid, 0) + fill.signed_quantity
        if fill.tag is Tag.ADJUST_ENTRY:
            trade.adjustments.add(fill.client_id)
        if not trade.is_open:
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
        _csv(
            out / "spot.csv",
            [{"time": to_ist(ts).isoformat(), "symbol": sym, "spot": px} for ts, sym, px in spot],
        )


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
