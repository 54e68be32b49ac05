"""Weekly zones — the S1-S8 hourly-close NIFTY option seller of seeds/002.

The rules, in the order they apply:

1. **Weekly context.** From the previous week's hourly and exchange-session 4h bars: PWH,
   PWL, PWC, the max/min 4h body, the two zones, their margins and the bias
   (``weekly_context.py``). The first week the strategy sees only builds a context.
2. **Stop loss, only on an hourly close.** At each closed hourly bar, a position whose sold
   PE has ``close < strike`` or whose sold CE has ``close > strike`` is closed at the next
   snapshot (the kernel delivers a bar just before the snapshot that closes it; the
   15:15-15:30 bar closes with the session, so its stop goes out at the next open). A close
   exactly at the strike is not a breach, and an intrabar breach that closes back inside is
   not either; the same strict inequality in backtest, paper and live (the older system
   used ``<=`` in its backtest and ``<`` live).
3. **Signals.** At each closed hourly bar, S1..S8 in priority order, at most one a week,
   only those in ``signal_types`` (``weekly_signals.py``). Each fired signal is recorded
   with its inputs.
4. **Entry guard.** A signal trades unless: it fired at or after ``entry_cutoff`` (it would
   otherwise meet the next morning's gap), an entry happened within ``cooldown_minutes``,
   ``max_positions`` are open, or the day's loss limit was hit. Skips are counted by reason.
5. **Trade**, on the next chain snapshot: bullish signals sell a PE at the stop loss
   floored to the index's strike step, bearish ones a CE at the stop ceiled to it (the
   strike is the stop). The hedge (same type) is bought ``hedge_offset`` further out of the
   money. One basket: hedge first, each step fill-confirmed, a failed main unwinds the
   hedge (the router does this); freeze-limit slicing is the router's too. Quantity:
   ``quantity`` lots, or ``quantity_units`` when it is a whole number of lots.
6. **Other exits** on every snapshot (main leg first, then the hedge; a long hedge nobody
   bids for is worth next to nothing and is held to expiry rather than retried): the time square-off
   at ``square_off_time`` on the contract's expiry day, or T+``square_off_after_days``
   trading days if earlier; ``lock`` — once profit reaches ``profit_lock_activate_pct`` % of
   the net premium, exit when it falls below ``profit_lock_exit_pct`` %; ``trailing`` — exit
   when profit falls ``trailing_stop_pct`` points of the premium below its peak; the daily
   loss limit closes everything for the day.
7. **Bounded retries.** An exit that does not complete is re-sent on a later snapshot after
   ``execution.retry_backoff_seconds`` (doubling); past ``execution.max_retries`` the strategy
   halts with a critical alert and the kernel flattens.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from optrunner.config.kinds import lots_from_units
from optrunner.core.events import BarEvent
from optrunner.core.orders import Basket, Fill, Order
from optrunner.core.timeutil import SESSION_CLOSE, to_ist
from optrunner.core.types import LegRole, Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments import calendar_for, get_index
from optrunner.instruments.contracts import OptionContract
from optrunner.market.lookup import resolve_expiry
from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Intents, StrategyHalt, Subscriptions
from optrunner.strategies.option_book import BookLeg, OptionBook, order_intent
from optrunner.strategies.registry import register_strategy
from optrunner.strategies.weekly_context import WeeklyContextTracker
from optrunner.strategies.weekly_signals import Signal, SignalEvaluator

if TYPE_CHECKING:
    from optrunner.config import StrategyConfig

MAX_BACKOFF_SECONDS = 300.0
log = logging.getLogger(__name__)
ZONE_KEYS = ("upper_top", "upper_bottom", "lower_top", "lower_bottom")  # as listed in metrics()["fired"]


class PositionState(StrEnum):
    ENTERING = "ENTERING"
    OPEN = "OPEN"
    EXITING = "EXITING"
    CLOSED = "CLOSED"


@dataclass(slots=True)
class Position:
    """One signal's trade: the sold main leg and its hedge."""

    pid: str
    signal: str
    right: Right
    main: OptionContract
    hedge: OptionContract | None
    qty: int
    entered: datetime
    state: PositionState = PositionState.ENTERING
    book: OptionBook = field(default_factory=OptionBook)
    credit: float = 0.0  # net premium received at entry, rupees
    peak_pct: float = -math.inf
    lock_armed: bool = False
    day_start_pnl: float = 0.0
    exit_reason: str = ""
    retries: int = 0
    retry_at: datetime | None = None
    working: set[str] = field(default_factory=set)
    stop_due: bool = False  # an hourly close breached the strike: exit at the next snapshot
    entry_decided: bool = False  # ENTERING waits for this: the router sends the main after the hedge fills

    @property
    def strike(self) -> float:
        return self.main.strike

    def breached(self, close: float) -> bool:
        """The stop on an hourly close: sold PE ``close < strike``, sold CE ``close > strike``."""
        return close < self.strike if self.right is Right.PE else close > self.strike

    @property
    def profit_pct(self) -> float:
        return 100.0 * self.book.pnl / self.credit if self.credit > 0 else 0.0


class WeeklyZones(BaseStrategy):
    """S1-S8 weekly-zone option seller driven by closed hourly/4h bars and chain snapshots."""

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config.name)
        assert config.weekly_zones is not None, "the weekly_zones section is required"
        self.cfg = config.weekly_zones
        self.execution = config.execution
        self.symbol = config.market_config.symbol
        self.spec = get_index(self.symbol)
        self.calendar = calendar_for(self.symbol)
        self.context = WeeklyContextTracker(self.cfg.zone_margin_multiplier, self.cfg.min_zone_margin)
        self.signals = SignalEvaluator(tuple(self.cfg.signal_types), self.cfg.s7_resistance_buffer_pct)
        self.positions: dict[str, Position] = {}
        self.pending: Signal | None = None  # fired at a bar close, traded on the next snapshot
        self.last_entry: datetime | None = None
        self.day: date | None = None
        self.day_closed_pnl = 0.0
        self.closed_pnl = 0.0
        self.day_halted = False
        self.seq = 0
        self.last_snapshot: ChainSnapshot | None = None
        self.fired: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.exits: Counter[str] = Counter()
        self.history: list[dict[str, Any]] = []  # every fired signal with its inputs and outcome

    # --- protocol ---------------------------------------------------------------------------

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={self.symbol}, bars={(self.symbol, "1h"), (self.symbol, "4h")})

    def on_bar(self, bar: BarEvent) -> Intents:
        if bar.symbol != self.symbol or bar.timeframe not in ("1h", "4h"):
            return NO_INTENTS
        if self.context.on_bar(bar):
            self.signals.new_week()
        if bar.timeframe == "4h":
            return NO_INTENTS
        for p in self._open():
            if p.breached(bar.close):
                p.stop_due = True
        signal = self.signals.on_hour(bar, self.context.context)
        if signal is not None:
            self._on_signal(signal, to_ist(bar.end))
        return NO_INTENTS

    def on_chain(self, snapshot: ChainSnapshot) -> Intents:
        now = to_ist(snapshot.ts)
        self._roll_day(now.date())
        self.last_snapshot = snapshot
        for p in self.positions.values():
            if p.state is not PositionState.CLOSED:
                p.book.mark(snapshot)
        if now.time() >= SESSION_CLOSE:  # the close snapshot: nothing can trade until the next open
            return NO_INTENTS
        out = list(self._exits_due(now))
        if self.pending is not None:
            signal, self.pending = self.pending, None
            out += self._enter(signal, snapshot, now)
        return out

    def on_fill(self, fill: Fill) -> Intents:
        p = self._position_of(fill)
        if p is None:
            return NO_INTENTS
        p.book.apply_fill(fill)
        if fill.is_settlement and p.book.is_flat and p.state is not PositionState.CLOSED:
            self._close(p, p.exit_reason or "EXPIRY")
        return NO_INTENTS

    def on_order_update(self, order: Order) -> Intents:
        p = self._position_of(order)
        if p is None:
            return NO_INTENTS
        if not order.state.is_terminal:
            p.working.add(order.client_id)
            return NO_INTENTS
        p.working.discard(order.client_id)
        if order.contract == p.main or order.filled_qty < order.quantity:
            p.entry_decided = True  # the main has ended, or a hedge ended unfilled: no main will follow
        if not p.working and (p.entry_decided or p.state is not PositionState.ENTERING):
            self._settled(p, to_ist(order.updated_ts) if order.updated_ts else None)
        return NO_INTENTS

    # --- rules ------------------------------------------------------------------------------

    def _on_signal(self, signal: Signal, now: datetime) -> None:
        self.fired[signal.name] += 1
        record = {"signal": signal.name, "bullish": signal.bullish, "stop_loss": signal.stop_loss,
                  "ts": now.isoformat(), "inputs": signal.inputs, "outcome": ""}  # fmt: skip
        self.history.append(record)
        log.info("%s: %s fired at %s, stop %.2f — inputs %s", self.name, signal.name, now, signal.stop_loss,
                 signal.inputs)  # fmt: skip
        reason = self._guard(now)
        if reason:
            self.skipped[reason] += 1
            record["outcome"] = f"skipped: {reason}"
            return
        self.pending = signal

    def _guard(self, now: datetime) -> str:
        c = self.cfg
        if now.time() >= c.entry_cutoff:
            return "after_entry_cutoff"
        if self.day_halted:
            return "daily_loss_limit"
        if sum(1 for p in self.positions.values() if p.state is not PositionState.CLOSED) >= c.max_positions:
            return "max_positions"
        if self.last_entry is not None and now - self.last_entry < timedelta(minutes=c.cooldown_minutes):
            return "cooldown"
        return ""

    def strikes(self, signal: Signal) -> tuple[Right, float, float | None]:
        """(option type, main strike, hedge strike): the stop floored (PE) / ceiled (CE) to the step."""
        step = self.spec.strike_step
        if signal.bullish:
            strike = math.floor(signal.stop_loss / step + 1e-9) * step
            hedge = strike - self.cfg.hedge_offset
            right = Right.PE
        else:
            strike = math.ceil(signal.stop_loss / step - 1e-9) * step
            hedge = strike + self.cfg.hedge_offset
            right = Right.CE
        return right, float(strike), (float(hedge) if self.cfg.hedge_offset > 0 else None)

    def _enter(self, signal: Signal, snapshot: ChainSnapshot, now: datetime) -> Intents:
        record = self.history[-1]
        expiry = resolve_expiry(snapshot, self.cfg.expiry, allow_expiry_day=self.cfg.trade_expiry_day)
        right, strike, hedge_strike = self.strikes(signal)
        record.update(strike=strike, hedge_strike=hedge_strike, right=right.value)
        if expiry is None:
            return self._skip(record, "no_expiry")
        main = OptionContract(self.symbol, expiry, strike, right)
        hedge = None if hedge_strike is None else OptionContract(self.symbol, expiry, hedge_strike, right)
        if any(c is not None and snapshot.index_of(c) is None for c in (main, hedge)):
            return self._skip(record, "not_in_chain")
        qty = self._quantity(expiry)
        self.seq += 1
        pid = f"P{self.seq}"
        self.positions[pid] = Position(pid, signal.name, right, main, hedge, qty, now)
        self.last_entry = now
        record.update(outcome="entered", position=pid, expiry=expiry.isoformat(), qty=qty)
        legs = [self._intent(Tag.ENTRY, main, Side.SELL, qty, snapshot, f"{pid}:main", LegRole.MAIN, signal.name)]
        if hedge is not None:
            legs.insert(0, self._intent(Tag.HEDGE, hedge, Side.BUY, qty, snapshot, f"{pid}:hedge", LegRole.HEDGE,
                                        signal.name))  # fmt: skip
        return [Basket(legs, is_exit=False, name=f"{self.name}-{pid}-entry")]

    def _skip(self, record: dict[str, Any], reason: str) -> Intents:
        self.skipped[reason] += 1
        record["outcome"] = f"skipped: {reason}"
        return NO_INTENTS

    def _quantity(self, expiry: date) -> int:
        lot = self.spec.lot_size(expiry)
        units = self.cfg.quantity_units
        if units is None:
            return self.cfg.quantity * lot
        try:
            return lots_from_units(units, lot) * lot
        except ValueError as exc:
            raise StrategyHalt(
                f"weekly_zones.quantity_units for {self.symbol} contracts expiring {expiry}: {exc}"
            ) from None

    def _exits_due(self, now: datetime) -> Intents:
        out: list[Basket] = []
        for p in list(self.positions.values()):
            if p.state is PositionState.EXITING and not p.working and p.retry_at and now >= p.retry_at:
                out += self._exit(p, p.exit_reason, retry=True)
        open_ = self._open()
        if self.cfg.daily_loss_limit is not None and not self.day_halted:
            day_pnl = self.day_closed_pnl + sum(p.book.pnl - p.day_start_pnl for p in open_)
            if day_pnl <= -self.cfg.daily_loss_limit:
                self.day_halted = True
                for p in open_:
                    out += self._exit(p, "DAILY_LOSS_LIMIT")
                return out
        for p in open_:
            reason = self._exit_reason(p, now)
            if reason:
                out += self._exit(p, reason)
        return out

    def _exit_reason(self, p: Position, now: datetime) -> str:
        c = self.cfg
        if p.stop_due:
            return "STOP_LOSS_ON_CLOSE"
        if now.time() >= c.square_off_time and now.date() >= self._square_off_day(p):
            return "TIME_SQUARE_OFF"
        pct = p.profit_pct
        p.peak_pct = max(p.peak_pct, pct)
        if c.stop_loss_type == "lock":
            if pct >= c.profit_lock_activate_pct:
                p.lock_armed = True
            if p.lock_armed and pct < c.profit_lock_exit_pct:
                return "PROFIT_LOCK"
        elif c.stop_loss_type == "trailing" and p.peak_pct > 0 and pct <= p.peak_pct - c.trailing_stop_pct:
            return "TRAILING_STOP"
        return ""

    def _square_off_day(self, p: Position) -> date:
        day = p.main.expiry
        n = self.cfg.square_off_after_days
        if n is not None:
            d = to_ist(p.entered).date()
            for _ in range(n):
                d = self.calendar.next_trading_day(d)
            day = min(day, d)
        return day

    def _exit(self, p: Position, reason: str, retry: bool = False) -> list[Basket]:
        if p.state is PositionState.EXITING and not retry:
            return []
        p.state, p.exit_reason, p.retry_at = PositionState.EXITING, reason, None
        open_legs = p.book.open_legs()
        if not open_legs:
            self._close(p, reason)
            return []
        legs = []
        for leg in open_legs:
            if self._unsellable(leg):
                continue  # a long hedge nobody bids for: worth ~0, it is held to expiry (no risk)
            side = Side.BUY if leg.qty < 0 else Side.SELL
            role = LegRole.MAIN if leg.contract == p.main else LegRole.HEDGE
            name = f"{p.pid}:{'main' if role is LegRole.MAIN else 'hedge'}"
            legs.append(self._intent(Tag.EXIT, leg.contract, side, abs(leg.qty), self.last_snapshot, name, role,
                                     reason))  # fmt: skip
        if not legs:
            self.exits["hedge_held_to_expiry"] += 1
            return []
        legs.sort(key=lambda leg: leg.role is not LegRole.MAIN)  # listed as sent: main first
        return [Basket(legs, is_exit=True, name=f"{self.name}-{p.pid}-exit")]

    def _unsellable(self, leg: BookLeg) -> bool:
        snap = self.last_snapshot
        if leg.qty <= 0 or snap is None:
            return False
        i = snap.index_of(leg.contract)
        return i is None or not float(snap.bid[i]) > 0

    def _settled(self, p: Position, now: datetime | None) -> None:
        """Every order of ``p`` has ended: move it on from what actually filled."""
        if p.state is PositionState.ENTERING:
            main_in = p.book.qty(p.main) != 0
            hedge_in = p.hedge is None or p.book.qty(p.hedge) != 0
            if main_in and hedge_in:
                p.state, p.credit = PositionState.OPEN, -p.book.cost
            elif p.book.is_flat:
                self._close(p, "ENTRY_NOT_FILLED")
            else:  # a leg stuck open: never hold half a position
                p.state = PositionState.OPEN
                self._schedule(p, "ENTRY_INCOMPLETE", now)
        elif p.state is PositionState.EXITING:
            if p.book.is_flat:
                self._close(p, p.exit_reason)
            elif not all(self._unsellable(leg) for leg in p.book.open_legs()):
                self._schedule(p, p.exit_reason, now)

    def _schedule(self, p: Position, reason: str, now: datetime | None) -> None:
        x = self.execution
        if p.retries >= x.max_retries:
            legs = ", ".join(leg.contract.id for leg in p.book.open_legs())
            raise StrategyHalt(f"{p.pid} exit ({reason}) failed {p.retries + 1} times — still open: {legs}")
        p.state, p.exit_reason = PositionState.EXITING, reason
        p.retry_at = (now or datetime.min) + timedelta(
            seconds=min(x.retry_backoff_seconds * 2**p.retries, MAX_BACKOFF_SECONDS)
        )
        p.retries += 1

    def _close(self, p: Position, reason: str) -> None:
        p.state, p.exit_reason = PositionState.CLOSED, reason
        self.exits[reason] += 1
        self.day_closed_pnl += p.book.pnl - p.day_start_pnl
        self.closed_pnl += p.book.pnl
        del self.positions[p.pid]

    def _roll_day(self, today: date) -> None:
        if self.day == today:
            return
        self.day, self.day_closed_pnl, self.day_halted = today, 0.0, False
        for p in self.positions.values():
            p.day_start_pnl = p.book.pnl

    # --- helpers ----------------------------------------------------------------------------

    def _open(self) -> list[Position]:
        return [p for p in self.positions.values() if p.state is PositionState.OPEN]

    def _position_of(self, item: Fill | Order) -> Position | None:
        pid = item.leg.removeprefix("unwind:").split(":", 1)[0]
        p = self.positions.get(pid)
        if p is not None:
            return p
        for p in self.positions.values():  # no leg name (a settlement, an outside fill): by contract
            if item.contract in (p.main, p.hedge):
                return p
        return None

    def _intent(self, tag: Tag, contract: OptionContract, side: Side, qty: int, snapshot: ChainSnapshot | None,
                leg: str, role: LegRole, reason: str):  # fmt: skip
        return order_intent(self.name, self.execution, self.spec.tick_size, tag, contract, side, qty, snapshot,
                            leg=leg, role=role, reason=reason)  # fmt: skip

    def metrics(self) -> dict[str, Any]:
        """Counters for the backtest summary: signals fired per type, skips, exits by reason."""
        return {
            "signals": {name: self.fired.get(name, 0) for name in self.cfg.signal_types},
            "skipped": dict(self.skipped), "exits": dict(self.exits),
            "entries": sum(1 for r in self.history if r["outcome"] == "entered"),
            "fired": [{**{k: r.get(k) for k in ("signal", "ts", "stop_loss", "strike", "hedge_strike", "outcome")},
                       "week": r["inputs"]["context"]["week"], "bias": r["inputs"]["context"]["bias"],
                       "zones": [r["inputs"]["context"][k] for k in ZONE_KEYS]} for r in self.history],
        }  # fmt: skip

    # --- state for crash recovery -----------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {
            "context": self.context.get_state(), "signals": self.signals.get_state(),
            "positions": [_pos_to(p) for p in self.positions.values()],
            "last_entry": self.last_entry.isoformat() if self.last_entry else None,
            "day": self.day.isoformat() if self.day else None, "day_closed_pnl": self.day_closed_pnl,
            "day_halted": self.day_halted, "seq": self.seq,
            "fired": dict(self.fired), "skipped": dict(self.skipped), "exits": dict(self.exits),
        }  # fmt: skip

    def restore_state(self, state: dict[str, Any]) -> None:
        self.context.restore_state(state["context"])
        self.signals.restore_state(state["signals"])
        self.positions = {d["pid"]: _pos_from(d) for d in state["positions"]}
        self.last_entry = datetime.fromisoformat(state["last_entry"]) if state["last_entry"] else None
        self.day = date.fromisoformat(state["day"]) if state["day"] else None
        self.day_closed_pnl, self.day_halted, self.seq = state["day_closed_pnl"], state["day_halted"], state["seq"]
        self.fired, self.skipped = Counter(state["fired"]), Counter(state["skipped"])
        self.exits = Counter(state["exits"])


def _pos_to(p: Position) -> dict[str, Any]:
    return {
        "pid": p.pid, "signal": p.signal, "right": p.right.value, "main": p.main.id,
        "hedge": p.hedge.id if p.hedge else None, "qty": p.qty, "entered": p.entered.isoformat(),
        "state": p.state.value, "book": p.book.to_dict(), "credit": p.credit,
        "peak_pct": p.peak_pct if math.isfinite(p.peak_pct) else None, "lock_armed": p.lock_armed,
        "day_start_pnl": p.day_start_pnl, "exit_reason": p.exit_reason, "retries": p.retries,
        "retry_at": p.retry_at.isoformat() if p.retry_at else None, "working": sorted(p.working),
        "stop_due": p.stop_due, "entry_decided": p.entry_decided,
    }  # fmt: skip


def _pos_from(d: dict[str, Any]) -> Position:
    return Position(
        d["pid"], d["signal"], Right(d["right"]), OptionContract.from_id(d["main"]),
        OptionContract.from_id(d["hedge"]) if d["hedge"] else None, d["qty"], datetime.fromisoformat(d["entered"]),
        PositionState(d["state"]), OptionBook.from_dict(d["book"]), d["credit"],
        -math.inf if d["peak_pct"] is None else d["peak_pct"], d["lock_armed"], d["day_start_pnl"],
        d["exit_reason"], d["retries"], datetime.fromisoformat(d["retry_at"]) if d["retry_at"] else None,
        set(d["working"]), d["stop_due"], d["entry_decided"],
    )  # fmt: skip


@register_strategy("weekly_zones")
def create_weekly_zones(config: StrategyConfig) -> WeeklyZones:
    return WeeklyZones(config)


__all__ = ["Position", "PositionState", "WeeklyZones", "create_weekly_zones"]
