"""The simulated exchange: fills orders against option-chain snapshots like NSE would.

* Buys fill at the ask, sells at the bid. A missing side (NaN or <= 0) is modelled as LTP
  plus/minus a half-spread of max(1 tick, ``missing_quote_spread_pct`` % of LTP), with
  unlimited size. Slippage (ticks and/or %) is applied against the trader; every fill price
  is on the tick, rounded against the trader.
* LIMIT orders fill only when marketable at their limit, at the better of touch and limit.
  SL / SL-M trigger when the snapshot's LTP crosses the trigger (>= for buys, <= for sells),
  then work as LIMIT / MARKET.
* Latency: an order becomes executable ``latency_ms`` after submission. With 0 it trades
  against the current snapshot (the one the strategy saw), otherwise from the first later
  snapshot at or after that time.
* Partial fills against displayed size (ask_qty for buys, bid_qty for sells, NaN =
  unlimited), in whole lots; size taken by one order is gone for the rest of that snapshot.
* Rejects (in this order): unknown contract, expired contract, outside the session, lot
  multiple, freeze limit (strictly below unless ``freeze_inclusive``), price off the tick.
* Session end: ``end_of_day(date)`` expires every working (DAY) order, then cash-settles
  every position in contracts expiring that day at intrinsic value on that day's last spot,
  as SETTLEMENT answers. The kernel should call it after the day's last snapshot; if it
  does not, the first snapshot or submission of a later day triggers it for the previous
  trading day, before anything of the new day happens.
* Restarts: ``to_state()`` / ``from_state()`` carry the book (orders, executions, positions,
  the session) but not the outbox, like a real broker that keeps its order book while its
  client is down: answers the client never read are found again through ``order_status``
  (with the trade book) and, for settlements, ``republish_settlements``. A snapshot at the
  time of the last one seen (re-fed after a restart) only becomes current again, an older
  one is ignored.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from optrunner.core.clock import Clock
from optrunner.core.orders import Order
from optrunner.core.timeutil import SESSION_CLOSE, ist, to_ist
from optrunner.core.types import OrderState, OrderType, Side
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.base import (
    BrokerEvent,
    BrokerEventKind,
    BrokerOrderStatus,
    BrokerPosition,
    RejectReason,
)
from optrunner.execution.brokers.faults import FaultInjector
from optrunner.execution.brokers.simulated_book import (
    ExchangeOrder,
)
from optrunner.execution.brokers.simulated_state import book_state, load_book
from optrunner.execution.policy import is_on_tick, to_tick
from optrunner.execution.records import copy_order
from optrunner.instruments.calendar import calendar_for
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import get_index

K = BrokerEventKind
R = RejectReason
S = OrderState
_WORKING = (S.ACCEPTED, S.PARTIALLY_FILLED)
# Hot-path constants: an enum member looked up on its class costs ~75 ns in Python 3.11.
_ACK, _FILL = K.ACK, K.FILL
_FILLED, _PARTIALLY_FILLED = S.FILLED, S.PARTIALLY_FILLED
_BUY = Side.BUY
_MARKET, _LIMIT, _SL, _SL_M = OrderType.MARKET, OrderType.LIMIT, OrderType.SL, OrderType.SL_M
_UNSET = object()
# A contract's row in the current snapshot: (row, ltp, bid, bid_qty, ask, ask_qty, touches),
# prices and sizes as Python floats; ``touches`` caches _touch() per (buy, tick).
Quote = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SimConfig:
    name: str = "sim"
    latency_ms: float = 0.0
    slippage_ticks: int = 0
    slippage_pct: float = 0.0
    missing_quote_spread_pct: float = 0.5
    freeze_inclusive: bool = False
    enforce_session: bool = True

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.slippage_ticks < 0 or self.slippage_pct < 0 or self.missing_quote_spread_pct < 0:
            raise ValueError(f"SimConfig: latency, slippage and spread must be >= 0, got {self}")


@dataclass(frozen=True, slots=True)
class _Rules:
    tick: float
    lot: int
    freeze: int
    calendar: str
    session: tuple[datetime, datetime] | None  # None: not a trading day


def _ok(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


class _Refused(Exception):
    """A submission the exchange rejects: ``args`` are (RejectReason, text)."""


class SimulatedExchange:
    """A deterministic exchange + broker for backtests and tests (see the module docstring)."""

    def __init__(self, clock: Clock, config: SimConfig | None = None, faults: FaultInjector | None = None) -> None:
        self.config = config or SimConfig()
        self.name = self.config.name
        self._clock = clock
        self._faults = faults
        self._latency = timedelta(milliseconds=self.config.latency_ms)
        self._out: list[BrokerEvent] = []
        self._by_client: dict[str, ExchangeOrder] = {}
        self._rejected: dict[str, str] = {}
        self._working: dict[str, dict[str, ExchangeOrder]] = {}
        self._snap: dict[str, ChainSnapshot] = {}
        self._seen: dict[str, datetime] = {}  # time of the last snapshot seen, per underlying
        self._rows: dict[str, dict[OptionContract, Quote | None]] = {}  # contract -> quote, per snapshot
        self._clock_seen: tuple[datetime | None, date | None] = (None, None)  # (now, its IST date)
        self._rules_cache: dict[tuple[str, date, date], _Rules | None] = {}
        self._taken: dict[str, dict[tuple[int, Side], int]] = {}  # size used up, per snapshot
        self._close_spot: dict[str, tuple[date, float]] = {}
        self._day: date | None = None
        self._closed: set[date] = set()
        self._n_orders = 0
        self._n_exec = 0
        #: net position per (strategy, contract) from the exchange's own fills
        self.net_positions: dict[tuple[str, OptionContract], int] = {}
        #: how many times each client id was accepted (more than once = a duplicate order)
        self.accepted: Counter[str] = Counter()
        #: every execution, including those whose answer a fault lost
        self.executions: list[BrokerEvent] = []
        # The order and trade books a broker shows are the session's (Kite's, Dhan's...): what
        # reconciliation reads. Without this a year's backtest re-read every order every close.
        self._session_orders: dict[str, ExchangeOrder] = {}
        self._session_exec_from = 0  # index into executions of the session's first

    @property
    def faults(self) -> FaultInjector | None:
        """Chaos mode's injector (None when off): what it injected is in ``faults.injected``."""
        return self._faults

    # --- the broker protocol ------------------------------------------------------------

    def events(self) -> list[BrokerEvent]:
        out, self._out = self._out, []
        return out

    def submit(self, order: Order) -> None:
        now = self._clock.now()
        today = self._today(now)
        if today != self._day:
            self._roll_day(today)
        cid = order.client_id
        fault = self._faults.on_submit(now) if self._faults else None
        if fault is not None:
            why = R.RATE_LIMITED if fault == "rate_limited" else R.BROKER
            self._reject(cid, now, why, "too many requests" if why is R.RATE_LIMITED else "simulated broker rejection")
            return
        try:
            rules, quote = self._check(order, now, today)
        except _Refused as refused:
            self._reject(cid, now, *refused.args)
            return
        self._n_orders += 1
        executable_at = now + self._latency if self._latency else now
        if self._faults is not None:
            spike = self._faults.latency_spike()
            if spike is not None:
                executable_at += spike
        ex = ExchangeOrder(f"{self.name}-{self._n_orders:08d}", copy_order(order), rules.tick, rules.lot, executable_at)
        self._by_client[cid] = ex
        self._session_orders[cid] = ex
        underlying = order.contract.underlying
        working = self._working.get(underlying)
        if working is None:
            working = self._working[underlying] = {}
        working[ex.exchange_id] = ex
        self.accepted[cid] = self.accepted.get(cid, 0) + 1
        mark = len(self._out)
        self._out.append(BrokerEvent(_ACK, cid, now, ex.exchange_id))
        if executable_at <= now:
            self._match(ex, self._snap[underlying], now, quote)
        if self._faults is not None and self._faults.lose_answer(cid):
            self._out[mark:] = [e for e in self._out[mark:] if e.client_id != cid]

    def cancel(self, client_id: str) -> None:
        now = self._clock.now()
        ex = self._by_client.get(client_id)
        if ex is None or ex.state not in _WORKING:
            self._out.append(BrokerEvent(K.CANCEL_REJECTED, client_id, now, reject_reason=R.NOT_WORKING,
                                         reason="order is not working"))  # fmt: skip
            return
        self._finish(ex, S.CANCELLED, now, "cancelled on request")

    def modify(self, client_id: str, limit_price: float) -> None:
        now = self._clock.now()
        ex = self._by_client.get(client_id)
        if ex is None or ex.state not in _WORKING or ex.order.order_type not in (OrderType.LIMIT, OrderType.SL):
            self._out.append(BrokerEvent(K.MODIFY_REJECTED, client_id, now, reject_reason=R.NOT_WORKING,
                                         reason="no working limit order"))  # fmt: skip
            return
        if not (limit_price > 0 and is_on_tick(limit_price, ex.tick)):
            self._out.append(BrokerEvent(K.MODIFY_REJECTED, client_id, now, reject_reason=R.TICK_SIZE,
                                         reason=f"limit {limit_price} is not on the {ex.tick} tick"))  # fmt: skip
            return
        ex.order.limit_price = limit_price
        self._out.append(BrokerEvent(K.MODIFIED, client_id, now, broker_id=ex.exchange_id, price=limit_price))
        snap = self._snap.get(ex.order.contract.underlying)
        if snap is not None and ex.executable_at <= now:
            self._match(ex, snap, now)

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        if self._hides(client_id):
            return None
        ex = self._by_client.get(client_id)
        if ex is not None:
            return BrokerOrderStatus(client_id, ex.state, ex.filled, ex.avg, ex.exchange_id, tuple(self.executions[k] for k in ex.fill_rows),
                                     limit_price=ex.order.limit_price)  # fmt: skip
        if client_id in self._rejected:
            return BrokerOrderStatus(client_id, S.REJECTED, reason=self._rejected[client_id])
        return None

    # --- the books, for reconciliation (an order whose status is hidden is in none of them) --

    def positions(self) -> list[BrokerPosition]:
        return [BrokerPosition(s, c, n) for (s, c), n in self.net_positions.items() if n]

    def orders(self) -> list[BrokerOrderStatus]:
        """The session's order book (orders still working from earlier sessions included)."""
        return [BrokerOrderStatus(cid, ex.state, ex.filled, ex.avg, ex.exchange_id, limit_price=ex.order.limit_price,
                                  strategy=ex.order.strategy)
                for cid, ex in self._session_orders.items() if not self._hides(cid)]  # fmt: skip

    def trades(self) -> list[BrokerEvent]:
        """The session's trade book."""
        return [e for e in self.executions[self._session_exec_from :]
                if e.kind is _FILL and not self._hides(e.client_id)]  # fmt: skip

    def _hides(self, client_id: str) -> bool:
        return self._faults is not None and self._faults.hides_status(client_id)

    # --- market data and the session ------------------------------------------------------

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        """Make ``snapshot`` current for its underlying and work every executable order on it.

        After a restart the kernel feeds snapshots again: the same snapshot (same time) is only
        made current — orders already traded against it, and the size they took stays taken —
        and an older one is ignored (the market does not go back)."""
        sym = snapshot.symbol
        seen = self._seen.get(sym)
        if seen is not None and snapshot.ts < seen:
            return
        repeat = seen == snapshot.ts
        day = to_ist(snapshot.ts).date()
        self._roll_day(day)
        self._snap[sym] = snapshot
        self._seen[sym] = snapshot.ts
        self._rows[sym] = {}
        if repeat:
            return
        self._taken[sym] = {}
        self._close_spot[sym] = (day, snapshot.spot)
        for ex in list(self._working.get(sym, {}).values()):
            if ex.executable_at <= snapshot.ts:
                self._match(ex, snapshot, snapshot.ts)

    def end_of_day(self, day: date) -> None:
        """Expire working DAY orders, then cash-settle positions in contracts expiring ``day``."""
        if day in self._closed:
            return
        self._closed.add(day)
        ts = ist(day, SESSION_CLOSE)
        for working in self._working.values():
            for ex in list(working.values()):
                self._finish(ex, S.EXPIRED, ts, "DAY order expired at the session end")
        for (strategy, contract), net in sorted(self.net_positions.items()):
            if net == 0 or contract.expiry > day:
                continue
            spot_day, spot = self._close_spot.get(contract.underlying, (None, math.nan))
            if not math.isfinite(spot):
                raise RuntimeError(f"cannot settle {contract.id}: no {contract.underlying} spot ever seen")
            k = contract.strike
            intrinsic = round(max(spot - k, 0.0) if contract.is_call else max(k - spot, 0.0), 2)
            side = Side.SELL if net > 0 else Side.BUY
            key = f"{day:%Y%m%d}-{strategy}-{contract.id}"
            note = "" if spot_day == day else f" (no snapshot on {day}: last spot of {spot_day})"
            ev = BrokerEvent(
                K.SETTLEMENT, f"settle-{key}", ts, quantity=abs(net), price=intrinsic,
                exec_id=f"{self.name}-S-{key}", reason=f"cash settlement at spot {spot}{note}",
                strategy=strategy, contract=contract, side=side,
            )  # fmt: skip
            self.net_positions[(strategy, contract)] = 0
            self.executions.append(ev)
            self._out.append(ev)
        self._session_orders = {c: ex for c, ex in self._session_orders.items() if not ex.state.is_terminal}
        self._session_exec_from = len(self.executions)  # the next session's books start empty

    @property
    def closed_days(self) -> frozenset[date]:
        return frozenset(self._closed)

    def republish_settlements(self, day: date) -> None:
        """Push the settlement answers of the closed session ``day`` again, for a client that
        lost them in a crash (the order manager applies each exec id once)."""
        prefix = f"{self.name}-S-{day:%Y%m%d}-"
        self._out.extend(e for e in self.executions if e.kind is K.SETTLEMENT and e.exec_id.startswith(prefix))

    def _roll_day(self, today: date) -> None:
        if self._day is not None and today > self._day:
            self.end_of_day(self._day)
        if self._day is None or today > self._day:
            self._day = today

    # --- internals --------------------------------------------------------------------------

    def _reject(self, client_id: str, now: datetime, why: RejectReason, text: str) -> None:
        self._rejected[client_id] = f"{why}: {text}"
        self._out.append(BrokerEvent(K.REJECT, client_id, now, reject_reason=why, reason=text))

    def _rules(self, c: OptionContract, today: date) -> _Rules | None:
        """Tick, lot, freeze limit and session of ``c`` traded on ``today`` (cached: these are
        dated look-ups that do not change within a day)."""
        key = (c.underlying, c.expiry, today)
        rules = self._rules_cache.get(key)
        if rules is None and key not in self._rules_cache:
            try:
                spec = get_index(c.underlying)
            except KeyError:
                self._rules_cache[key] = None
                return None
            cal = calendar_for(spec.calendar)
            session = cal.session(today) if cal.is_trading_day(today) else None
            rules = _Rules(spec.tick_size, spec.lot_size(c.expiry), spec.freeze_qty(today), spec.calendar, session)
            self._rules_cache[key] = rules
        return rules

    def _today(self, now: datetime) -> date:
        """The IST date of ``now``, remembered for the clock's current instant (a simulated
        clock hands out one ``datetime`` for a whole snapshot)."""
        seen, day = self._clock_seen
        if now is not seen:
            day = to_ist(now).date()
            self._clock_seen = (now, day)
        return day  # type: ignore[return-value]

    def _check(self, o: Order, now: datetime, today: date) -> tuple[_Rules, Quote]:
        """The rules ``o`` trades under and its quote; raises :class:`_Refused` for a reject."""
        c = o.contract
        rules = self._rules(c, today)
        if rules is None:
            raise _Refused(R.UNKNOWN_CONTRACT, f"unknown underlying {c.underlying!r}")
        if c.expiry < today:
            raise _Refused(R.EXPIRED_CONTRACT, f"{c.id} expired on {c.expiry}")
        if self.config.enforce_session and not (rules.session and rules.session[0] <= now < rules.session[1]):
            raise _Refused(R.OUTSIDE_SESSION, f"{rules.calendar} is closed at {to_ist(now):%Y-%m-%d %H:%M:%S}")
        lot, freeze = rules.lot, rules.freeze
        if o.quantity <= 0 or o.quantity % lot:
            raise _Refused(R.LOT_SIZE, f"quantity {o.quantity} is not a positive multiple of the lot {lot}")
        if o.quantity > freeze or (o.quantity == freeze and not self.config.freeze_inclusive):
            raise _Refused(R.FREEZE_LIMIT, f"quantity {o.quantity} is at/above the freeze limit {freeze}")
        t = o.order_type
        if t is not _MARKET:
            for label, p, needed in (
                ("limit", o.limit_price, t is _LIMIT or t is _SL),
                ("trigger", o.trigger_price, t is _SL or t is _SL_M),
            ):
                if needed and not (p is not None and p > 0 and is_on_tick(p, rules.tick)):
                    raise _Refused(R.TICK_SIZE, f"{label} price {p} is not a positive multiple of {rules.tick}")
        snap = self._snap.get(c.underlying)
        quote = None if snap is None else self._quote(snap, c)
        if quote is None:
            raise _Refused(R.UNKNOWN_CONTRACT, f"{c.id} is not in the {c.underlying} chain")
        return rules, quote

    def _match(self, ex: ExchangeOrder, snap: ChainSnapshot, ts: datetime, q: Quote | None = None) -> None:
        """Trade ``ex`` against ``snap`` (its current snapshot; ``q``: its quote there, if known)."""
        o = ex.order
        if q is None:
            q = self._quote(snap, o.contract)
            if q is None:
                return
        buy = o.side is _BUY
        t = o.order_type
        if (t is _SL or t is _SL_M) and not ex.triggered:
            ltp = q[1]
            if not (_ok(ltp) and (ltp >= o.trigger_price if buy else ltp <= o.trigger_price)):
                return
            ex.triggered = True
        tick = ex.tick
        touches, key = q[6], (buy, tick)
        touch = touches.get(key, _UNSET)
        if touch is _UNSET:
            touch = touches[key] = self._touch(q, buy, tick)
        if touch is None:
            return
        touch, size, price = touch
        if t is _LIMIT or t is _SL:
            limit = o.limit_price
            if touch > limit + 1e-9 if buy else touch < limit - 1e-9:
                return
            price = min(price, limit) if buy else max(price, limit)
        price = max(price, tick)
        qty = o.quantity - ex.filled
        if size == size:  # NaN: no displayed size, unlimited
            qty = self._take_size(snap.symbol, q[0], o.side, size, qty, ex.lot)
        if qty > 0 and self._faults is not None:
            qty = self._faults.cap_fill(qty, ex.lot)
        if qty > 0:
            self._fill(ex, qty, price, ts)

    def _touch(self, q: Quote, buy: bool, tick: float) -> tuple[float, float, float] | None:
        """(touch, displayed size, fill price before any limit) of a market order on ``q``'s
        side for ``buy``, or None when there is no price to trade at."""
        _, ltp, bid, bid_qty, ask, ask_qty, _ = q
        quote, size = (ask, ask_qty) if buy else (bid, bid_qty)
        if _ok(quote):
            touch = quote
        elif _ok(ltp):
            half = max(tick, ltp * self.config.missing_quote_spread_pct / 100.0)
            touch, size = (to_tick(ltp + half, tick, "up") if buy else to_tick(ltp - half, tick, "down")), math.nan
        else:
            return None
        slip = self.config.slippage_ticks * tick + touch * self.config.slippage_pct / 100.0
        price = to_tick(touch + slip, tick, "up") if buy else to_tick(touch - slip, tick, "down")
        return touch, size, price

    def _take_size(self, symbol: str, row: int, side: Side, size: float, qty: int, lot: int) -> int:
        """Whole lots of ``qty`` the displayed ``size`` still has this snapshot; takes them."""
        if not math.isfinite(size):
            return qty
        taken = self._taken.setdefault(symbol, {})
        shown = max(0, int(size) - taken.get((row, side), 0))
        qty = min(qty, shown // lot * lot)
        if qty > 0:
            taken[(row, side)] = taken.get((row, side), 0) + qty
        return qty

    def _quote(self, snap: ChainSnapshot, c: OptionContract) -> Quote | None:
        """``c``'s row in ``snap`` (the current snapshot of its underlying) with its prices and
        sizes as Python floats, or None when the chain lacks it; cached per snapshot."""
        rows = self._rows.get(snap.symbol)
        if rows is None:
            rows = self._rows[snap.symbol] = {}
        q = rows.get(c, rows)  # the dict itself: not cached yet
        if q is rows:
            i = snap.index_of(c)
            q = rows[c] = None if i is None else (
                i, float(snap.ltp[i]), float(snap.bid[i]), float(snap.bid_qty[i]),
                float(snap.ask[i]), float(snap.ask_qty[i]), {},
            )  # fmt: skip
        return q  # type: ignore[return-value]

    def _fill(self, ex: ExchangeOrder, qty: int, price: float, ts: datetime) -> None:
        o = ex.order
        self._n_exec += 1
        ev = BrokerEvent(_FILL, o.client_id, ts, ex.exchange_id, qty, price, f"{self.name}-E{self._n_exec:08d}")
        ex.fill_rows += (len(self.executions),)
        self.executions.append(ev)
        ex.avg = (ex.avg * ex.filled + price * qty) / (ex.filled + qty)
        ex.filled += qty
        key = (o.strategy, o.contract)
        self.net_positions[key] = self.net_positions.get(key, 0) + (qty if o.side is _BUY else -qty)
        self._out.append(ev)
        if ex.filled == o.quantity:
            ex.state = _FILLED
            self._working[o.contract.underlying].pop(ex.exchange_id, None)
        else:
            ex.state = _PARTIALLY_FILLED

    def _finish(self, ex: ExchangeOrder, state: OrderState, ts: datetime, reason: str) -> None:
        ex.state = state
        self._working[ex.order.contract.underlying].pop(ex.exchange_id, None)
        kind = K.CANCELLED if state is S.CANCELLED else K.EXPIRED
        self._out.append(BrokerEvent(kind, ex.order.client_id, ts, broker_id=ex.exchange_id, reason=reason))

    # --- state ------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The book in plain JSON types (see the module docstring for what is left out)."""
        return book_state(self)

    @classmethod
    def from_state(
        cls, state: dict[str, Any], clock: Clock, config: SimConfig | None = None, faults: FaultInjector | None = None
    ) -> SimulatedExchange:
        """An exchange with the book of :meth:`to_state`; ``config`` must name the same exchange."""
        ex = cls(clock, config, faults)
        if state["name"] != ex.name:
            raise ValueError(f"exchange state is for {state['name']!r}, not {ex.name!r}: exec ids would collide")
        load_book(ex, state, faults)
        return ex
