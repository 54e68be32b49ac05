"""Momentum buyer — seed 001's index-option buying pipeline.

The rules, in the order they apply:

1. **Direction**, at each closed index bar of ``timeframe``: Supertrend(``supertrend_period``,
   ``supertrend_multiplier``) up and ADX(``adx_period``) >= ``min_adx`` is bullish (buy a CE),
   Supertrend down with the same ADX is bearish (buy a PE), anything else is no trade.
   Indicators follow Wilder (``indicators.py``), updated bar by bar (``TrendStream``).
2. **Strike**: ``ChainAnalyzer`` scores ATM .. ATM + ``max_otm`` on the OTM side of the
   chosen expiry and picks the best (``chain_analyzer.py``).
3. **Momentum breakout**, on each chain snapshot (one a minute): the picked option's LTP
   is *strictly above the highest LTP of the previous* ``breakout_lookback`` *snapshots*
   (the current one excluded), and, when ``min_rsi`` is set, the RSI of those minute prices
   is above it. The seed compared the LTP with a day high that already included that LTP,
   so it could only fire by accident. A contract needs ``breakout_lookback`` contiguous
   minutes in the ATM window before it can break out.
4. **Entry guard** (counted by reason): at most ``max_same_side`` entries open per side
   (``exposure_limit``); a second entry (pyramiding) only while the side is in profit
   (``pyramid_not_in_profit``) and ``pyramid_delay_seconds`` after the side's last entry
   (``pyramid_too_soon``); ``cooldown_seconds`` since the side's last entry or exit
   (``cooldown``); none from ``entry_cutoff``. Capital is not the strategy's to see: the
   ENTRY intent asks for ``lots`` x the contract's lot size and the kernel's capital
   allocator (``risk/allocator.py``) and checks size or refuse it; refusals are counted by
   their code too (``entries_refused``, e.g. ``insufficient_capital``).
5. **Exits**, per side on every snapshot: premium ``stop_loss_pct`` below cost,
   ``target_pct`` above it, the trailing stop (``trailing_stop_pct`` below the peak once above
   cost), and ``exit_time``. An exit that does not complete is re-sent on a later snapshot
   after a doubling backoff; past ``execution.max_retries`` the strategy halts.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from optrunner.core.events import BarEvent
from optrunner.core.orders import Fill, Order, OrderIntent
from optrunner.core.timeutil import SESSION_CLOSE, to_ist
from optrunner.core.types import OrderState, Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments import get_index
from optrunner.market.lookup import resolve_expiry
from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Intents, StrategyHalt, Subscriptions
from optrunner.strategies.chain_analyzer import ChainAnalyzer, Pick
from optrunner.strategies.indicators import TrendStream, rsi
from optrunner.strategies.option_book import OptionBook, order_intent
from optrunner.strategies.registry import register_strategy

if TYPE_CHECKING:
    from optrunner.config import StrategyConfig

MAX_BACKOFF_SECONDS = 300.0
RESTORE_BARS = 300  # recent bars kept in the state: replaying them rebuilds the trend (seed weight < 1e-9)
GUARD_REASONS = ("exposure_limit", "pyramid_not_in_profit", "pyramid_too_soon", "cooldown")


@dataclass(slots=True)
class SideBook:
    """Everything held on one side (CE = bullish, PE = bearish)."""

    book: OptionBook = field(default_factory=OptionBook)
    entries: int = 0  # entries sent and not (yet) known to have failed, since the side was flat
    last_entry: datetime | None = None
    last_exit: datetime | None = None
    peak_value: float = 0.0
    exiting: str = ""  # exit reason while an exit is working or due for a retry
    retries: int = 0
    retry_at: datetime | None = None
    working: set[str] = field(default_factory=set)

    @property
    def value(self) -> float:
        return sum(leg.price * leg.qty for leg in self.book.open_legs() if math.isfinite(leg.price))


class MomentumBuyer(BaseStrategy):
    """Buys the chain analyzer's option on a minute-price breakout in the index's trend."""

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config.name)
        assert config.momentum_buyer is not None, "the momentum_buyer section is required"
        self.cfg = c = config.momentum_buyer
        self.execution = config.execution
        self.symbol = config.market_config.symbol
        self.spec = get_index(self.symbol)
        self.analyzer = ChainAnalyzer(c, self.symbol)
        self.trend = TrendStream(c.supertrend_period, c.supertrend_multiplier, c.adx_period)
        self.bars: deque[tuple[float, float, float]] = deque(maxlen=RESTORE_BARS)  # replayed on restore
        self.direction = 0  # +1 buy CE, -1 buy PE, 0 none
        self.adx_value = math.nan
        self._expiry: tuple[date, date | None] | None = None  # (day, the expiry traded that day)
        self.history: dict[int, deque[float]] = {}  # contract key -> minute LTPs, near the money
        self._windows: dict[Right, list[int]] = {}  # this snapshot's rows, ATM first, per option type
        self.history_len = max(c.breakout_lookback + 1, 4 * c.rsi_period if c.min_rsi is not None else 0)
        self.sides = {Right.CE: SideBook(), Right.PE: SideBook()}
        self.last_snapshot: ChainSnapshot | None = None
        self.rejected: Counter[str] = Counter()  # by this strategy's entry guard
        self.refused: Counter[str] = Counter()  # ENTRY orders refused downstream, by code
        self.counts: Counter[str] = Counter()  # signals, entries, exits by reason, no candidate...
        self.last_pick: dict[str, Any] = {}

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={self.symbol}, bars={(self.symbol, self.cfg.timeframe)})

    # --- 1. direction -------------------------------------------------------------------------

    def on_bar(self, bar: BarEvent) -> Intents:
        if bar.symbol != self.symbol or bar.timeframe != self.cfg.timeframe:
            return NO_INTENTS
        self.bars.append((bar.high, bar.low, bar.close))
        self._direction(bar.high, bar.low, bar.close)
        return NO_INTENTS

    def _direction(self, high: float, low: float, close: float) -> None:
        trend, self.adx_value = self.trend.update(high, low, close)
        self.direction = trend if self.adx_value >= self.cfg.min_adx else 0  # NaN ADX (too few bars): 0

    # --- 2-5 on each snapshot -------------------------------------------------------------------

    def on_chain(self, snapshot: ChainSnapshot) -> Intents:
        now = to_ist(snapshot.ts)
        self.last_snapshot = snapshot
        if self._expiry is None or self._expiry[0] != now.date():  # the choice only changes by day
            found = resolve_expiry(snapshot, self.cfg.expiry, allow_expiry_day=self.cfg.trade_expiry_day)
            self._expiry = (now.date(), found)
        expiry = self._expiry[1]
        if expiry is not None:
            self._record_prices(snapshot, expiry)
        out: list[OrderIntent] = []
        for side in self.sides.values():
            side.book.mark(snapshot)
        if now.time() >= SESSION_CLOSE:  # the close snapshot: nothing can trade until the next open
            return out
        for right, side in self.sides.items():
            out += self._exit_if_due(right, side, now)
        if self.direction and expiry is not None and now.time() < self.cfg.entry_cutoff:
            out += self._enter_if_breakout(snapshot, expiry, now)
        return out

    def _record_prices(self, snapshot: ChainSnapshot, expiry: date) -> None:
        """Keep contiguous minute prices of the strikes around the money, by contract key
        (a contract missing from a minute loses its history: a breakout needs unbroken minutes)."""
        old, new = self.history, {}
        key, ltp = memoryview(snapshot.key), memoryview(snapshot.ltp)  # type: ignore[arg-type]
        for right in (Right.CE, Right.PE):
            rows, _ = self.analyzer.window(snapshot, expiry, right, self.cfg.max_otm + 1)
            self._windows[right] = rows
            for i in rows:
                price = ltp[i]
                if price > 0:  # NaN is not
                    k = key[i]
                    prices = old.get(k)
                    if prices is None:
                        prices = deque(maxlen=self.history_len)
                    prices.append(price)
                    new[k] = prices
        self.history = new

    def _above_prior_high(self, key: int) -> bool:
        """The contract's latest minute price is above every one of the previous ``breakout_lookback``."""
        n = self.cfg.breakout_lookback
        prices = self.history.get(key)
        if prices is None or len(prices) < n + 1:
            return False
        last = prices[-1]
        return all(last > prices[-k] for k in range(2, n + 2))

    def breakout(self, pick: Pick) -> tuple[bool, float]:
        """(LTP above the previous ``breakout_lookback`` minutes' highest [and RSI above min_rsi], RSI)."""
        c = self.cfg
        if not self._above_prior_high(pick.key):
            return False, math.nan
        seq = list(self.history[pick.key])
        if c.min_rsi is None:
            return True, math.nan
        if len(seq) < c.rsi_period + 1:
            return False, math.nan
        value = float(rsi(np.array(seq), c.rsi_period)[-1])
        return value > c.min_rsi, value

    def _enter_if_breakout(self, snapshot: ChainSnapshot, expiry: date, now: datetime) -> list[OrderIntent]:
        right = Right.CE if self.direction > 0 else Right.PE
        side = self.sides[right]
        if side.working or side.exiting:
            return []
        rows = self._windows.get(right, [])[: self.cfg.max_otm + 1]
        key = memoryview(snapshot.key)  # type: ignore[arg-type]
        if not any(self._above_prior_high(key[i]) for i in rows):
            return []  # no candidate broke out: the analyzer's choice would not either (most minutes)
        pick = self.analyzer.pick(snapshot, expiry, right, now.time(), rows)
        if pick is None:
            self.counts["no_candidate"] += 1
            return []
        hit, rsi_value = self.breakout(pick)
        if not hit:
            return []
        self.counts["signals"] += 1
        reason = self.guard(side, now)
        if reason:
            self.rejected[reason] += 1
            return []
        self.counts["entries"] += 1
        side.entries += 1
        side.last_entry = now
        self.last_pick = {**pick.as_dict(), "ts": now.isoformat(), "rsi": rsi_value, "adx": self.adx_value,
                          "direction": self.direction}  # fmt: skip
        qty = self.cfg.lots * self.spec.lot_size(pick.contract.expiry)
        return [order_intent(self.name, self.execution, self.spec.tick_size, Tag.ENTRY, pick.contract, Side.BUY,
                             qty, snapshot, leg=right.value, reason="momentum breakout")]  # fmt: skip

    def guard(self, side: SideBook, now: datetime) -> str:
        """The entry guard's rejection reason for a new entry on ``side``, or "" to pass."""
        c = self.cfg
        if side.entries >= c.max_same_side:
            return "exposure_limit"
        if side.entries >= 1:  # pyramiding
            if side.book.pnl <= 0:
                return "pyramid_not_in_profit"
            if side.last_entry is not None and (now - side.last_entry).total_seconds() < c.pyramid_delay_seconds:
                return "pyramid_too_soon"
        last = max((t for t in (side.last_entry, side.last_exit) if t is not None), default=None)
        if last is not None and (now - last).total_seconds() < c.cooldown_seconds:
            return "cooldown"
        return ""

    def _exit_if_due(self, right: Right, side: SideBook, now: datetime) -> list[OrderIntent]:
        legs = side.book.open_legs()
        if not legs or side.working:
            return []
        if side.exiting:
            if side.retry_at is not None and now >= side.retry_at:
                return self._exit(right, side, side.exiting)
            return []
        cost, value, c = side.book.cost, side.value, self.cfg
        side.peak_value = max(side.peak_value, value)
        reason = ""
        if now.time() >= c.exit_time:
            reason = "TIME_EXIT"
        elif cost > 0 and value <= cost * (1 - c.stop_loss_pct / 100):
            reason = "STOP_LOSS"
        elif cost > 0 and value >= cost * (1 + c.target_pct / 100):
            reason = "TARGET"
        elif (c.trailing_stop_pct is not None and side.peak_value > cost
              and value <= side.peak_value * (1 - c.trailing_stop_pct / 100)):  # fmt: skip
            reason = "TRAILING_STOP"
        return self._exit(right, side, reason) if reason else []

    def _exit(self, right: Right, side: SideBook, reason: str) -> list[OrderIntent]:
        side.exiting, side.retry_at = reason, None
        return [order_intent(self.name, self.execution, self.spec.tick_size, Tag.EXIT, leg.contract, Side.SELL,
                             leg.qty, self.last_snapshot, leg=right.value, reason=reason)
                for leg in side.book.open_legs()]  # fmt: skip

    # --- fills and order updates ----------------------------------------------------------------

    def on_fill(self, fill: Fill) -> Intents:
        right = fill.contract.right
        side = self.sides[right]
        side.book.apply_fill(fill)
        if side.book.is_flat and not side.working:
            self._flat(right, fill.ts, "EXPIRY" if fill.is_settlement else side.exiting or "EXTERNAL_EXIT")
        return NO_INTENTS

    def on_order_update(self, order: Order) -> Intents:
        right = order.contract.right
        side = self.sides[right]
        if not order.state.is_terminal:
            side.working.add(order.client_id)
            return NO_INTENTS
        side.working.discard(order.client_id)
        if order.tag is Tag.ENTRY and order.filled_qty == 0:
            side.entries = max(side.entries - 1, 0)  # it never traded: not an open entry
            if order.state is OrderState.REJECTED:  # by the kernel's checks: INSUFFICIENT_CAPITAL, ...
                code = order.reason.split(":", 1)[0].strip()
                self.refused[code.lower() if code.isupper() else "other"] += 1
        if side.working:
            return NO_INTENTS
        now = to_ist(order.updated_ts) if order.updated_ts else None
        if side.book.is_flat and side.book.legs:
            self._flat(right, now, side.exiting or "EXTERNAL_EXIT")
        elif side.exiting and not side.book.is_flat:
            self._schedule_retry(side, now)
        return NO_INTENTS

    def _flat(self, right: Right, now: datetime | None, reason: str) -> None:
        """The side is flat again: count the exit and start a fresh book (the cooldown remembers)."""
        side = self.sides[right]
        self.counts[f"exit_{reason.lower()}"] += 1
        self.counts["closed_pnl_paise"] += round(side.book.pnl * 100)
        self.sides[right] = SideBook(last_entry=side.last_entry, last_exit=now or side.last_exit)

    def _schedule_retry(self, side: SideBook, now: datetime | None) -> None:
        x = self.execution
        if side.retries >= x.max_retries:
            legs = ", ".join(leg.contract.id for leg in side.book.open_legs())
            raise StrategyHalt(f"exit ({side.exiting}) failed {side.retries + 1} times — still open: {legs}")
        delay = min(x.retry_backoff_seconds * 2**side.retries, MAX_BACKOFF_SECONDS)
        side.retry_at = (now or datetime.min) + timedelta(seconds=delay)
        side.retries += 1

    # --- metrics and state ------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Counters for the backtest summary and the seed's ``entry_guard_rejected_total{reason}``."""
        counts = dict(self.counts)
        pnl = counts.pop("closed_pnl_paise", 0) / 100
        return {"entry_guard_rejected": {r: self.rejected.get(r, 0) for r in GUARD_REASONS},
                "entries_refused": dict(self.refused), **counts,
                "closed_pnl": pnl, "last_pick": self.last_pick}  # fmt: skip

    def get_state(self) -> dict[str, Any]:
        return {
            "bars": [list(b) for b in self.bars], "direction": self.direction,
            "sides": {r.value: _side_to(s) for r, s in self.sides.items()},
            "rejected": dict(self.rejected), "refused": dict(self.refused), "counts": dict(self.counts),
        }  # fmt: skip

    def restore_state(self, state: dict[str, Any]) -> None:
        for h, lo, c in state["bars"]:  # the trend state is replayed from the recent bars
            self.bars.append((h, lo, c))
            self._direction(h, lo, c)
        self.sides = {Right(r): _side_from(d) for r, d in state["sides"].items()}
        self.rejected, self.counts = Counter(state["rejected"]), Counter(state["counts"])
        self.refused = Counter(state.get("refused", {}))


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _side_to(s: SideBook) -> dict[str, Any]:
    return {"book": s.book.to_dict(), "entries": s.entries, "last_entry": _iso(s.last_entry),
            "last_exit": _iso(s.last_exit), "peak_value": s.peak_value, "exiting": s.exiting,
            "retries": s.retries, "retry_at": _iso(s.retry_at), "working": sorted(s.working)}  # fmt: skip


def _side_from(d: dict[str, Any]) -> SideBook:
    return SideBook(OptionBook.from_dict(d["book"]), d["entries"], _dt(d["last_entry"]), _dt(d["last_exit"]),
                    d["peak_value"], d["exiting"], d["retries"], _dt(d["retry_at"]), set(d["working"]))  # fmt: skip


@register_strategy("momentum_buyer")
def create_momentum_buyer(config: StrategyConfig) -> MomentumBuyer:
    return MomentumBuyer(config)


__all__ = ["GUARD_REASONS", "MomentumBuyer", "SideBook", "create_momentum_buyer"]
