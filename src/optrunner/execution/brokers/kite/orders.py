"""Orders on Zerodha Kite through the official ``kiteconnect`` SDK (its ``root`` pointed at
``api_root``, so tests run the SDK's real request code against a fake on 127.0.0.1).

Endpoints used (Kite Connect v3): ``POST /orders/regular`` (place, our client id in
``tag``), ``PUT``/``DELETE /orders/regular/{id}`` (modify/cancel), ``GET /orders``,
``GET /orders/{id}/trades``, ``GET /trades``, ``GET /portfolio/positions``,
``GET /user/margins``. Order updates also arrive on the ticker WebSocket as text messages
``{"type": "order", "data": {...}}``: :meth:`KiteBroker.on_order_message` feeds them to the
same de-duplicating path as polling (execution/brokers/live/adapter.py).

Kite's status words -> ours: ``OPEN``/``TRIGGER PENDING``/``MODIFY*``/``CANCEL PENDING`` are
working (ACCEPTED, or PARTIALLY_FILLED with a filled quantity); ``COMPLETE`` FILLED;
``CANCELLED`` CANCELLED (Kite has no expiry state: an unfilled DAY order is cancelled by the
exchange at the close); ``REJECTED`` REJECTED with ``status_message``; the request stages
(``PUT ORDER REQ RECEIVED``, ``VALIDATION PENDING``, ``OPEN PENDING``, ``AMO REQ RECEIVED``)
are still SUBMITTED. Any other word is an answer we do not understand: alert and halt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from optrunner.core.clock import Clock
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType
from optrunner.execution.brokers.base import BrokerPosition
from optrunner.execution.brokers.kite.config import ORDERS_PER_SECOND, TAG_MAX_LEN
from optrunner.execution.brokers.kite.errors import map_kite_error
from optrunner.execution.brokers.kite.symbols import KiteInstruments, UnknownInstrument
from optrunner.execution.brokers.live.adapter import LiveBroker, OrderView, TradeView
from optrunner.execution.brokers.live.errors import BadAnswer, BrokerRefused, LiveBrokerError
from optrunner.execution.brokers.live.fields import price_or_none
from optrunner.execution.brokers.live.secrets import register
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.rate_limit import TokenBucket

S = OrderState
VARIETY = "regular"
_WORKING = {"OPEN", "TRIGGER PENDING", "MODIFY VALIDATION PENDING", "MODIFY PENDING", "CANCEL PENDING", "MODIFIED"}
_PENDING = {"PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "AMO REQ RECEIVED"}
_DONE = {"COMPLETE": S.FILLED, "CANCELLED": S.CANCELLED, "CANCELLED AMO": S.CANCELLED, "REJECTED": S.REJECTED}


def kite_client(settings: LiveBrokerSettings, access_token: str | None) -> Any:
    """A ``KiteConnect`` pointed at ``settings.api_root`` (the SDK is imported here, lazily)."""
    try:
        from kiteconnect import KiteConnect
    except ImportError:  # pragma: no cover - depends on the environment
        from optrunner.core.errors import UserError

        raise UserError("the Kite adapter needs the kiteconnect SDK: pip install 'optrunner[kite]'") from None
    return KiteConnect(settings.api_key, access_token=access_token, root=settings.api_root,
                       timeout=settings.timeout_seconds)  # fmt: skip


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=IST)
    if isinstance(value, str) and value:
        d = datetime.fromisoformat(value)
        return d if d.tzinfo else d.replace(tzinfo=IST)
    return None


def order_view(raw: dict[str, Any], instruments: KiteInstruments | None = None) -> OrderView:
    """One Kite order (REST or WebSocket) in our terms; :class:`BadAnswer` when it does not fit."""
    try:
        status = str(raw["status"])
        filled = int(raw.get("filled_quantity") or 0)
        if status in _DONE:
            state = _DONE[status]
        elif status in _WORKING:
            state = S.PARTIALLY_FILLED if filled else S.ACCEPTED
        elif status in _PENDING:
            state = S.SUBMITTED
        else:
            raise BadAnswer(f"order {raw.get('order_id')}: unknown Kite status {status!r}")
        price = float(raw.get("price") or 0)
        contract = None if instruments is None else instruments.contract_of(raw.get("exchange", ""), raw.get("tradingsymbol", ""))
        return OrderView(
            broker_id=str(raw["order_id"]), tag=str(raw.get("tag") or ""), state=state, quantity=int(raw["quantity"]),
            filled_qty=filled, avg_price=float(raw.get("average_price") or 0),
            limit_price=price if raw.get("order_type") in ("LIMIT", "SL") and price > 0 else None,
            reason=str(raw.get("status_message") or ""), contract=contract, ts=_ts(raw.get("order_timestamp")),
        )  # fmt: skip
    except BadAnswer:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BadAnswer(f"a Kite order did not parse ({type(exc).__name__}: {exc})") from None


def trade_view(raw: dict[str, Any]) -> TradeView:
    try:
        ts = _ts(raw.get("fill_timestamp")) or _ts(raw.get("exchange_timestamp"))
        if ts is None:
            raise ValueError("no fill_timestamp")
        return TradeView(str(raw["trade_id"]), str(raw["order_id"]), int(raw["quantity"]), float(raw["average_price"]), ts)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadAnswer(f"a Kite trade did not parse ({type(exc).__name__}: {exc})") from None


class KiteBroker(LiveBroker):
    """The ``Broker`` + ``ReconcilableBroker`` protocols on Kite Connect."""

    name = "kite"
    tag_max_len = TAG_MAX_LEN

    def __init__(
        self,
        settings: LiveBrokerSettings,
        access_token: str,
        instruments: KiteInstruments,
        clock: Clock,
        *,
        tag_file: Path | None = None,
        poll_seconds: float | None = 1.0,
        today: Callable[[], date] | None = None,
    ) -> None:
        super().__init__(clock, tag_file=tag_file, poll_seconds=poll_seconds)
        register(access_token)
        self.settings = settings
        self.instruments = instruments
        self.kite = kite_client(settings, access_token)
        self._today = today or (lambda: clock.now().astimezone(IST).date())

    def order_rate_limit(self) -> TokenBucket:
        """Kite's documented cap: 10 order requests per second (the order manager queues the rest)."""
        return TokenBucket(ORDERS_PER_SECOND, ORDERS_PER_SECOND)

    def set_access_token(self, access_token: str) -> None:
        """After a re-login: use the new token and let orders flow again."""
        register(access_token)
        self.kite.set_access_token(access_token)
        self.session_restored()

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except LiveBrokerError:
            raise
        except Exception as exc:
            raise map_kite_error(exc, what) from None

    # --- requests ------------------------------------------------------------------------------

    def _place(self, order: Order, tag: str) -> str:
        try:
            inst = self.instruments.instrument(order.contract, self._today())
        except UnknownInstrument as exc:
            raise BrokerRefused(str(exc)) from None
        params: dict[str, Any] = {
            "variety": VARIETY, "exchange": inst.exchange, "tradingsymbol": inst.tradingsymbol,
            "transaction_type": order.side.value, "quantity": order.quantity, "product": order.product.value,
            "order_type": order.order_type.value, "validity": "DAY", "tag": tag,
        }  # fmt: skip
        if order.order_type in (OrderType.LIMIT, OrderType.SL):
            params["price"] = order.limit_price
        if order.order_type in (OrderType.SL, OrderType.SL_M):
            params["trigger_price"] = order.trigger_price
        order_id = self._call(f"place {order.client_id}", self.kite.place_order, **params)
        if not isinstance(order_id, str | int) or not str(order_id):
            raise BadAnswer(f"place {order.client_id}: no order_id in the answer")
        return str(order_id)

    def _cancel_at(self, broker_id: str) -> None:
        self._call(f"cancel {broker_id}", self.kite.cancel_order, VARIETY, broker_id)

    def _modify_at(self, broker_id: str, limit_price: float) -> None:
        self._call(f"modify {broker_id}", self.kite.modify_order, VARIETY, broker_id, price=limit_price)

    # --- books ---------------------------------------------------------------------------------

    def _order_book(self) -> list[OrderView]:
        raw = self._call("GET /orders", self.kite.orders)
        if not isinstance(raw, list):
            raise BadAnswer("GET /orders: the answer is not a list")
        return [order_view(r, self.instruments) for r in raw]

    def _trade_book(self) -> list[TradeView]:
        raw = self._call("GET /trades", self.kite.trades)
        if not isinstance(raw, list):
            raise BadAnswer("GET /trades: the answer is not a list")
        return [trade_view(r) for r in raw]

    def _order_trades(self, broker_id: str) -> list[TradeView]:
        raw = self._call(f"GET /orders/{broker_id}/trades", self.kite.order_trades, broker_id)
        if not isinstance(raw, list):
            raise BadAnswer(f"GET /orders/{broker_id}/trades: the answer is not a list")
        return [trade_view(r) for r in raw]

    def _net_positions(self) -> list[BrokerPosition]:
        raw = self._call("GET /portfolio/positions", self.kite.positions)
        try:
            net = raw["net"]
            out = []
            for p in net:
                contract = self.instruments.contract_of(p["exchange"], p["tradingsymbol"])
                if contract is None:
                    continue  # not an index option we know (equity, futures): not ours to reconcile
                out.append(BrokerPosition("", contract, int(p["quantity"]), price_or_none(p.get("average_price"))))
            return out
        except (KeyError, TypeError, ValueError) as exc:
            raise BadAnswer(f"GET /portfolio/positions did not parse ({type(exc).__name__}: {exc})") from None

    def margins(self) -> dict[str, float]:
        """Equity segment funds: ``net``, ``available_cash``, ``utilised_debits``."""
        raw = self._call("GET /user/margins", self.kite.margins)
        try:
            eq = raw["equity"]
            return {"net": float(eq["net"]), "available_cash": float(eq["available"]["live_balance"]),
                    "utilised_debits": float(eq["utilised"]["debits"])}  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise BadAnswer(f"GET /user/margins did not parse ({type(exc).__name__}: {exc})") from None

    # --- pushed updates --------------------------------------------------------------------------

    def on_order_message(self, message: dict[str, Any]) -> None:
        """A ticker text message; ``{"type": "order", "data": {...}}`` is an order update."""
        if message.get("type") != "order":
            return
        try:
            view = order_view(message["data"], self.instruments)
        except (BadAnswer, KeyError, TypeError) as exc:
            self._bad_answer(None, f"order update: {exc}")
            return
        self.apply_update(view, "push")
