"""The Shoonya (Finvasia) adapter: NorenOMS REST behind ``Broker`` and ``ReconcilableBroker``.

Direct httpx calls, not ``NorenRestApiPy``: that package (0.0.22) declares no dependencies
(it needs requests and websocket-client it does not install), is old, returns None for every
failure (a refused connection, a timeout, "Session Expired" and a rejected order look alike)
and prints/logs its request bodies. The documented REST API is small: every call is ``POST
{api_root}/<Endpoint>`` with ``jData=<json>&jKey=<session key>``.

What is Shoonya's here (the rest is :class:`~optrunner.execution.brokers.live.adapter.LiveBroker`):
``remarks`` carries our client id (``tag_for`` digest when it has symbols or is long),
``norenordno`` is the broker id, fills are the ``TradeBook`` rows of the order with their
fill id (``flid``), positions come from ``PositionBook`` (one book per account).
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
from optrunner.execution.brokers.live import fields
from optrunner.execution.brokers.live.adapter import LiveBroker, OrderView, TradeView
from optrunner.execution.brokers.live.errors import BadAnswer, BrokerRefused, LiveBrokerError
from optrunner.execution.brokers.live.http import RestClient
from optrunner.execution.brokers.live.master import InstrumentMasterCache, http_download
from optrunner.execution.brokers.live.relogin import StoreRelogin
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.execution.brokers.shoonya import orders as fmt
from optrunner.execution.brokers.shoonya.auth import body
from optrunner.execution.brokers.shoonya.config import (
    BROKER,
    ORDERS_PER_SECOND,
    REMARKS_MAX,
    account,
    instruments_url,
)
from optrunner.execution.brokers.shoonya.errors import check, is_no_data
from optrunner.execution.brokers.shoonya.symbols import (
    ShoonyaInstrument,
    parse_symbols,
    unzip_master,
)
from optrunner.execution.rate_limit import TokenBucket
from optrunner.instruments.contracts import OptionContract


class ShoonyaBroker(StoreRelogin, LiveBroker):
    name = BROKER
    tag_max_len = REMARKS_MAX

    def __init__(
        self,
        settings: LiveBrokerSettings,
        token: SessionToken,
        instruments: dict[OptionContract, ShoonyaInstrument],
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
        self.settings = settings
        self.uid = settings.user_id
        self.actid = token.extra.get("actid") or account(settings)
        self._key: Secret = token.access_token
        self.instruments = instruments
        self.api_errors: Counter[str] = Counter()  # "429", "502", "PossiblySent" (timeout)... -> count
        self._by_symbol = {i.trading_symbol: i.contract for i in instruments.values()}
        self.http = RestClient(settings.api_root, timeout=settings.timeout_seconds, transport=transport)

    def relogin(self, token: SessionToken) -> None:
        """A new session key (``optrunner broker login shoonya`` ran): orders flow again."""
        self._key = token.access_token
        self.session_restored()

    def _session_token(self) -> str:
        return self._key.value

    def close(self) -> None:
        self.http.close()

    def order_rate_limit(self) -> TokenBucket:
        """Our cap of 10 order requests per second (config.py); the
        order manager queues the rest."""
        return TokenBucket(ORDERS_PER_SECOND, ORDERS_PER_SECOND)

    # --- symbols ---------------------------------------------------------------------------

    def instrument(self, contract: OptionContract) -> ShoonyaInstrument:
        today = self._clock.now().astimezone(IST).date()
        if contract.expiry < today:
            raise BrokerRefused(f"{contract.id} expired on {contract.expiry}: not sent")
        inst = self.instruments.get(contract)
        if inst is None:
            raise BrokerRefused(f"{contract.id} is not in Shoonya's NFO symbols: not sent")
        return inst

    # --- requests --------------------------------------------------------------------------

    def _request(self, endpoint: str, jdata: dict[str, Any]) -> Any:
        """One NorenOMS call; a transport/HTTP failure is counted in ``api_errors`` by status
        (or kind) and raised in the shared taxonomy; ``stat``/``emsg`` are the caller's to read."""
        try:
            return self.http.request("POST", f"/{endpoint}", content=body(jdata, self._key))
        except LiveBrokerError as exc:
            self.api_errors[str(exc.status) if exc.status else type(exc).__name__] += 1
            raise

    def _post(self, endpoint: str, jdata: dict[str, Any]) -> Any:
        return check(self._request(endpoint, jdata), endpoint)

    def _place(self, order: Order, tag: str) -> str:
        inst = self.instrument(order.contract)
        if order.quantity % inst.lot_size:
            raise BrokerRefused(f"{order.quantity} is not a whole number of lots of {inst.lot_size}: not sent")
        try:
            jdata = fmt.place_jdata(order, inst, self.uid, self.actid, tag)
        except ValueError as exc:
            raise BrokerRefused(str(exc)) from None
        answer = self._post("PlaceOrder", jdata)
        if not isinstance(answer, dict) or not answer.get("norenordno"):
            raise BadAnswer(f"PlaceOrder answered Ok without a norenordno: {str(answer)[:200]}")
        return str(answer["norenordno"])

    def _cancel_at(self, broker_id: str) -> None:
        self._post("CancelOrder", {"uid": self.uid, "norenordno": broker_id})

    def _modify_at(self, broker_id: str, limit_price: float) -> None:
        rows = self._rows("SingleOrdHist", {"uid": self.uid, "norenordno": broker_id})
        if not rows or rows[0].get("norenordno") != broker_id:
            raise BadAnswer(f"SingleOrdHist did not answer order {broker_id}")
        self._post("ModifyOrder", fmt.modify_jdata(rows[0], self.uid, limit_price))

    # --- books -----------------------------------------------------------------------------

    def _order_book(self) -> list[OrderView]:
        return [self._view(r) for r in self._rows("OrderBook", {"uid": self.uid})]

    def _trade_book(self) -> list[TradeView]:
        return self._trades(self._rows("TradeBook", {"uid": self.uid, "actid": self.actid}))

    def _order_trades(self, broker_id: str) -> list[TradeView]:
        # NorenOMS has no per-order trade call: the day's trade book, filtered
        return [t for t in self._trade_book() if t.broker_id == broker_id]

    def _net_positions(self) -> list[BrokerPosition]:
        out = []
        for row in self._rows("PositionBook", {"uid": self.uid, "actid": self.actid}):
            contract = self._by_symbol.get(str(row.get("tsym"))) or fmt.contract_of(row)
            if contract is None:
                continue  # not an index option of ours
            out.append(BrokerPosition("", contract, fmt.net_quantity(row), fields.price_or_none(row.get("netavgprc"))))
        return out

    def on_order_update(self, message: dict[str, Any]) -> None:
        """A pushed ``"om"`` order update (Noren WebSocket, feed thread): applied through the
        shared de-duplication, so a push and a poll of the same state count once."""
        try:
            view = self._view(message)
        except BadAnswer as exc:
            self._bad_answer(None, f"order update: {exc}")
            return
        self.apply_update(view, "push")

    def limits(self) -> dict[str, Any]:
        answer = self._post("Limits", {"uid": self.uid, "actid": self.actid})
        if not isinstance(answer, dict):
            raise BadAnswer(f"Limits answered {type(answer).__name__}")
        return answer

    # --- parsing ---------------------------------------------------------------------------

    def _rows(self, endpoint: str, jdata: dict[str, Any]) -> list[dict[str, Any]]:
        answer = self._request(endpoint, jdata)
        if is_no_data(answer):
            return []
        answer = check(answer, endpoint)
        if not isinstance(answer, list) or not all(isinstance(r, dict) for r in answer):
            raise BadAnswer(f"{endpoint} answered {type(answer).__name__}, not a list of records")
        return answer

    def _view(self, row: dict[str, Any]) -> OrderView:
        def build(r: dict[str, Any]) -> OrderView:
            st = fmt.order_status(r, "", [], self._now())
            contract = self._by_symbol.get(str(r.get("tsym"))) or fmt.contract_of(r)
            ts = fmt.parse_time(r.get("exch_tm"))
            return OrderView(st.broker_id or "", str(r.get("remarks") or ""), st.state, fmt.quantity(r),
                             st.filled_qty, st.avg_price, st.limit_price, st.reason, contract, ts)  # fmt: skip

        return build(row)

    def _trades(self, rows: list[dict[str, Any]]) -> list[TradeView]:
        now = self._now()

        def build(t: dict[str, Any]) -> TradeView:
            ev = fmt.fill_event(t, "", now)
            return TradeView(ev.exec_id, ev.broker_id or "", ev.quantity, ev.price, ev.ts)

        return [build(t) for t in rows]



def load_instruments(settings: LiveBrokerSettings, cache: InstrumentMasterCache | None = None,
                     now: datetime | None = None) -> dict[OptionContract, ShoonyaInstrument]:  # fmt: skip
    """Today's NFO index options from ``NFO_symbols.txt.zip`` (downloaded once per IST day)."""
    cache = cache or InstrumentMasterCache(BROKER, http_download(instruments_url(settings)), ext="zip")
    return parse_symbols(unzip_master(cache.get(now))).instruments


def open_shoonya(settings: LiveBrokerSettings, clock: Clock, *, store: TokenStore | None = None,
                 tag_file: Path | None = None, cache: InstrumentMasterCache | None = None) -> ShoonyaBroker:  # fmt: skip
    token = (store or TokenStore()).require_valid(BROKER, clock.now())
    return ShoonyaBroker(settings, token, load_instruments(settings, cache, clock.now()), clock, tag_file=tag_file)


__all__ = ["ShoonyaBroker", "load_instruments", "open_shoonya"]
