"""The Dhan adapter: DhanHQ v2 REST behind the ``Broker`` and ``ReconcilableBroker`` protocols.

Direct httpx calls (:class:`~optrunner.execution.brokers.live.http.RestClient`), not the
``dhanhq`` SDK: the SDK's ``DhanHTTP._send_request`` catches every exception and answers
``{"status": "failure", "remarks": str(e)}`` — a refused connection (certainly not sent),
a read timeout (possibly sent), a 429 and a 500 all look alike, and the HTTP status is
dropped — while the order manager's safety rests on exactly that difference. It also pulls
pandas and pyOpenSSL into the trading process. The request and answer shapes are the SDK's
(``dhanhq/_order.py``), so nothing is lost; the SDK stays usable for a user's own scripts.

What is Dhan's here (the rest is :class:`~optrunner.execution.brokers.live.adapter.LiveBroker`):
``correlationId`` carries our client id (``tag_for`` digest when longer than 25 characters),
``orderId`` is the broker id, fills come from ``GET /v2/trades/{order-id}`` with the
exchange's trade id, positions from ``GET /v2/positions`` (one book per account).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from optrunner.core.clock import Clock
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.base import BrokerPosition
from optrunner.execution.brokers.dhan import orders as fmt
from optrunner.execution.brokers.dhan.auth import headers
from optrunner.execution.brokers.dhan.config import (
    BROKER,
    CORRELATION_ID_MAX,
    MODIFICATIONS_PER_ORDER,
    ORDERS_PER_SECOND,
    instruments_url,
)
from optrunner.execution.brokers.dhan.errors import error_text, refine
from optrunner.execution.brokers.dhan.feed import DhanOrderUpdates, alert_ids
from optrunner.execution.brokers.dhan.symbols import DhanInstrument, parse_scrip_master
from optrunner.execution.brokers.live import fields
from optrunner.execution.brokers.live.adapter import LiveBroker, OrderView, TradeView
from optrunner.execution.brokers.live.errors import BadAnswer, BrokerRefused, LiveBrokerError
from optrunner.execution.brokers.live.http import RestClient
from optrunner.execution.brokers.live.master import InstrumentMasterCache, http_download
from optrunner.execution.brokers.live.relogin import StoreRelogin
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.execution.rate_limit import TokenBucket
from optrunner.instruments.contracts import OptionContract


class DhanBroker(StoreRelogin, LiveBroker):
    name = BROKER
    tag_max_len = CORRELATION_ID_MAX

    def __init__(
        self,
        settings: LiveBrokerSettings,
        token: SessionToken,
        instruments: dict[OptionContract, DhanInstrument],
        clock: Clock,
        *,
        tag_file: Path | None = None,
        poll_seconds: float | None = 1.0,
        transport: httpx.BaseTransport | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        """``token_store``: where ``optrunner broker login`` writes; an expired session picks up
        a new token from it (:class:`StoreRelogin`)."""
        super().__init__(clock, tag_file=tag_file, poll_seconds=poll_seconds)
        self.token_store = token_store
        self.order_updates: DhanOrderUpdates | None = None
        self.settings = settings
        self.client_id = settings.user_id
        self._token: Secret = token.access_token
        self.instruments = instruments
        self._modifications: Counter[str] = Counter()  # broker order id -> modify requests sent
        self.api_errors: Counter[str] = Counter()  # "429", "500", "PossiblySent" (timeout)... -> count
        self._by_security = {i.security_id: i.contract for i in instruments.values()}
        self.http = RestClient(settings.api_root, timeout=settings.timeout_seconds, error_text=error_text,
                               headers=lambda: headers(self._token, self.client_id), transport=transport)  # fmt: skip

    def relogin(self, token: SessionToken) -> None:
        """A new access token (``optrunner broker login dhan`` ran): orders flow again."""
        self._token = token.access_token
        if self.order_updates is not None:
            self.order_updates.set_token(token.access_token)
        self.session_restored()

    def start_order_updates(self, ws_root: str) -> DhanOrderUpdates:
        """Listen to Dhan's Live Order Update WebSocket (its alerts trigger a read of the books)."""
        self.order_updates = DhanOrderUpdates(ws_root, self.client_id, self._token, self.on_order_alert).start()
        return self.order_updates

    def _session_token(self) -> str:
        return self._token.value

    def close(self) -> None:
        if self.order_updates is not None:
            self.order_updates.stop()
        self.http.close()

    def order_rate_limit(self) -> TokenBucket:
        """Dhan's documented cap of 10 order requests per second (config.py); the
        order manager queues the rest."""
        return TokenBucket(ORDERS_PER_SECOND, ORDERS_PER_SECOND)

    # --- symbols ---------------------------------------------------------------------------

    def instrument(self, contract: OptionContract) -> DhanInstrument:
        """Dhan's instrument for ``contract``; refuses a contract not in today's master or expired."""
        today = self._clock.now().astimezone(IST).date()
        if contract.expiry < today:
            raise BrokerRefused(f"{contract.id} expired on {contract.expiry}: not sent")
        inst = self.instruments.get(contract)
        if inst is None:
            raise BrokerRefused(f"{contract.id} is not in Dhan's instrument master: not sent")
        return inst

    # --- requests --------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        """One REST call; a failure is counted in ``api_errors`` by HTTP status (or kind, for a
        timeout / refused connection / unparseable body) and raised in the shared taxonomy."""
        try:
            return self.http.request(method, path, **kw)
        except LiveBrokerError as exc:
            self.api_errors[str(exc.status) if exc.status else type(exc).__name__] += 1
            raise refine(exc) from None

    def _place(self, order: Order, tag: str) -> str:
        inst = self.instrument(order.contract)
        if order.quantity % inst.lot_size:
            raise BrokerRefused(f"{order.quantity} is not a whole number of lots of {inst.lot_size}: not sent")
        try:
            body = fmt.place_body(order, inst, self.client_id, tag)
        except ValueError as exc:
            raise BrokerRefused(str(exc)) from None
        answer = self._call("POST", "/orders", json=body)
        if not isinstance(answer, dict) or not answer.get("orderId"):
            raise BadAnswer(f"POST /orders answered without an orderId: {str(answer)[:200]}")
        return str(answer["orderId"])

    def _cancel_at(self, broker_id: str) -> None:
        self._call("DELETE", f"/orders/{broker_id}")

    def _modify_at(self, broker_id: str, limit_price: float) -> None:
        if self._modifications[broker_id] >= MODIFICATIONS_PER_ORDER:
            raise BrokerRefused(f"Dhan allows {MODIFICATIONS_PER_ORDER} modifications per order: not sent")
        self._modifications[broker_id] += 1
        row = self._one(self._call("GET", f"/orders/{broker_id}"), broker_id)
        self._call("PUT", f"/orders/{broker_id}", json=fmt.modify_body(self.client_id, row, limit_price))

    # --- books -----------------------------------------------------------------------------

    def _order_book(self) -> list[OrderView]:
        rows = self._rows("GET", "/orders")
        return [self._view(r) for r in rows]

    def _trade_book(self) -> list[TradeView]:
        return self._trades(self._rows("GET", "/trades"))

    def _order_trades(self, broker_id: str) -> list[TradeView]:
        return self._trades(self._rows("GET", f"/trades/{broker_id}"))

    def _net_positions(self) -> list[BrokerPosition]:
        out = []
        for row in self._rows("GET", "/positions"):
            contract = self._by_security.get(str(row.get("securityId"))) or fmt.contract_of(row)
            if contract is None:
                continue  # not an index option (equity, futures): not ours to reconcile
            net = fmt.net_quantity(row)
            out.append(BrokerPosition("", contract, net, fields.price_or_none(row.get("buyAvg" if net > 0 else "sellAvg"))))
        return out

    def on_order_alert(self, data: dict[str, Any]) -> None:
        """A Live Order Update alert (feed thread): about an order of ours, the books are read at
        the next ``events()`` instead of at the next polling interval (see feed.py for why the
        alert's own fields are not applied)."""
        broker_id, tag = alert_ids(data)
        with self._lock:
            ours = broker_id in self._by_broker_id or (tag and tag in self.tags.tags)
        if ours:
            self.counters["order_alerts"] += 1
            self._last_poll = float("-inf")

    def funds(self) -> dict[str, Any]:
        """``GET /v2/fundlimit`` as Dhan answers it (note Dhan's spelling ``availabelBalance``)."""
        answer = self._call("GET", "/fundlimit")
        if not isinstance(answer, dict):
            raise BadAnswer(f"GET /fundlimit answered {type(answer).__name__}")
        return answer

    # --- parsing ---------------------------------------------------------------------------

    def _rows(self, method: str, path: str) -> list[dict[str, Any]]:
        answer = self._call(method, path)
        if isinstance(answer, dict) and not answer:
            return []
        if not isinstance(answer, list) or not all(isinstance(r, dict) for r in answer):
            raise BadAnswer(f"{method} {path} answered {type(answer).__name__}, not a list of records")
        return answer

    @staticmethod
    def _one(answer: Any, broker_id: str) -> dict[str, Any]:
        if isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        if not isinstance(answer, dict) or str(answer.get("orderId")) != broker_id:
            raise BadAnswer(f"GET /orders/{broker_id} did not answer that order")
        return answer

    def _view(self, row: dict[str, Any]) -> OrderView:
        def build(r: dict[str, Any]) -> OrderView:
            st = fmt.order_status(r, "", [], self._now())
            contract = self._by_security.get(str(r.get("securityId"))) or fmt.contract_of(r)
            return OrderView(st.broker_id or "", str(r.get("correlationId") or ""), st.state, fmt.quantity(r),
                             st.filled_qty, st.avg_price, st.limit_price, st.reason, contract,
                             fmt.parse_time(r.get("updateTime")))  # fmt: skip

        return build(row)

    def _trades(self, rows: list[dict[str, Any]]) -> list[TradeView]:
        now = self._now()

        def build(t: dict[str, Any]) -> TradeView:
            ev = fmt.fill_event(t, "", now)
            return TradeView(ev.exec_id, ev.broker_id or "", ev.quantity, ev.price, ev.ts)

        return [build(t) for t in rows]



def load_instruments(settings: LiveBrokerSettings, cache: InstrumentMasterCache | None = None,
                     now: datetime | None = None) -> dict[OptionContract, DhanInstrument]:  # fmt: skip
    """Today's Dhan index options, from the daily cache (downloaded once per IST day)."""
    cache = cache or InstrumentMasterCache(BROKER, http_download(instruments_url(settings)))
    return parse_scrip_master(cache.get(now).decode("utf-8-sig")).instruments


def open_dhan(settings: LiveBrokerSettings, clock: Clock, *, store: TokenStore | None = None,
              tag_file: Path | None = None, cache: InstrumentMasterCache | None = None) -> DhanBroker:  # fmt: skip
    """A ready adapter: the stored session (refused when expired) and today's instruments."""
    token = (store or TokenStore()).require_valid(BROKER, clock.now())
    return DhanBroker(settings, token, load_instruments(settings, cache, clock.now()), clock, tag_file=tag_file)


__all__ = ["DhanBroker", "load_instruments", "open_dhan"]
