"""DNSS — delta-neutral short strangle.

The rules, in the order they are checked on every chain snapshot:

1. **Day roll.** A new trading day clears the daily counters; a strategy that finished
   (or failed) yesterday may enter again.
2. **Exit.** At ``exit_time`` (when ``time_exit_override``), on ``profit_target`` /
   ``max_loss`` in rupees, on ``profit_target_percent`` / ``stop_loss_percent`` of the premium
   collected, on the trailing stop, or when greeks have been stale for ``stale_exit_seconds``:
   buy back every leg (main legs first). P&L is net of charges.
3. **Entry**, once a day in ``[entry_time, exit_time)``, with fresh greeks: sell a CE and a PE
   nearest ``target_ce_delta`` / ``target_pe_delta`` by *absolute* delta within
   ``delta_tolerance``, ``quantity`` lots each (lot size of the contract's expiry), on the
   configured expiry. A basket that does not fill counts as an attempt; ``max_attempts`` per day.
4. **Adjustment** (when enabled), in two fill-driven phases. Trigger: the strangle's net delta
   ``|d_CE + d_PE|`` exceeds ``delta_drift_trigger``, or P&L since the last re-centre reaches
   ``profit_step`` (the level then steps up from where the re-centre happened). Not within
   ``cooldown_seconds`` of the last adjustment, at most ``max_adjustments_per_day``.
   Leg rule: if a leg's |delta| exceeds ``max_leg_delta``, buy back that tested leg; otherwise
   buy back the untested (lower-|delta|) leg. Only after that buy has filled is the same option
   type sold again, at ``rebalance_target_delta`` or, when unset, at the surviving leg's |delta|;
   at most ``max_replacement_attempts`` sends, then the whole strangle is closed.
5. **Bounded retries.** An exit or replacement that is refused or cannot be priced is tried
   again only on a later snapshot or timer, after ``retry_backoff_seconds`` doubling each time;
   an exit that still fails after ``max_retries`` halts the strategy with a critical alert
   (the kernel then flattens what it can). No input makes the strategy loop.

Fixed from the system this replaces: puts are chosen by absolute delta; a fill's leg is its
contract's parsed option type; the profit step really steps; a leg missing from the chain is
looked up by its own contract and never replaced by "the first row of the same type";
adjustments are capped per day; entries and adjustments are refused on stale greeks.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from optrunner.config.sections import AdjustmentConfig
from optrunner.core.events import StaleDataEvent
from optrunner.core.orders import Basket, Fill, Order, OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.core.types import OrderType, Product, Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments import get_index
from optrunner.instruments.contracts import OptionContract
from optrunner.market.lookup import find_option
from optrunner.strategies.base import (
    NO_INTENTS,
    BaseStrategy,
    Intents,
    StrategyHalt,
    Subscriptions,
)
from optrunner.strategies.dnss_legs import Leg, StrangleBook
from optrunner.strategies.registry import register_strategy

if TYPE_CHECKING:
    from optrunner.config import StrategyConfig

MAX_BACKOFF_SECONDS = 300.0
NO_ADJUSTMENTS = AdjustmentConfig(enabled=False)


class Phase(StrEnum):
    IDLE = "IDLE"  # flat, may enter
    ENTERING = "ENTERING"  # entry basket working
    ACTIVE = "ACTIVE"  # both legs open, monitoring
    ADJUST_EXIT = "ADJUST_EXIT"  # buying back one leg
    ADJUST_ENTRY = "ADJUST_ENTRY"  # selling its replacement
    EXITING = "EXITING"  # buying back everything
    DONE = "DONE"  # finished for the day
    FAILED = "FAILED"  # gave up for the day (attempts exhausted, no replacement found)


class DNSS(BaseStrategy):
    """Delta-neutral short strangle driven by chain snapshots and its own fills."""

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config.name)
        self.cfg = config
        self.symbol = config.market_config.symbol
        self.spec = get_index(self.symbol)
        self.book = StrangleBook()
        self.phase = Phase.IDLE
        self.day: date | None = None
        self.attempts_today = 0
        self.adjustments_today = 0
        self.adjustments_total = 0
        self.last_adjustment: datetime | None = None
        self.recentre_pnl = (
            0.0  # P&L at the last entry / re-centre: the profit step counts from here
        )
        self.peak_pnl = -math.inf  # for the trailing stop
        self.adjust_right: Right | None = None  # leg being replaced
        self.adjust_target: float = math.nan  # |delta| its replacement is chosen at
        self.replacement_attempts = 0
        self.retry_action = ""  # "EXIT" | "REPLACE": what to try again at retry_at
        self.retry_at: datetime | None = None
        self.retries = 0  # failed tries of the current exit since it was first sent
        self.working: set[str] = set()  # client ids of our orders not yet terminal
        self.last_fresh: datetime | None = None  # last snapshot with usable greeks on our legs
        self.stale = False
        self.exit_reason = ""
        self.last_snapshot: ChainSnapshot | None = None

    # --- protocol ---------------------------------------------------------------------------

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={self.symbol}, timer=True)

    def on_chain(self, snapshot: ChainSnapshot) -> Intents:
        now = to_ist(snapshot.ts)
        self._roll_day(now.date())
        self.last_snapshot = snapshot
        self.stale = False
        missing = self.book.mark(snapshot)
        legs = self.book.legs.values()
        fresh = (
            not missing and all(math.isfinite(leg.delta) for leg in legs)
            if legs
            else _has_greeks(snapshot)
        )
        if fresh:
            self.last_fresh = now
        if legs:
            self.peak_pnl = max(self.peak_pnl, self.book.pnl)

        if self.phase is Phase.ACTIVE:
            return self._exit_if_due(now) or self._adjust_if_due(snapshot, now)
        if self.phase is Phase.IDLE:
            return self._enter_if_due(snapshot, now)
        # orders are working: the next move comes from their fills and updates, or a retry
        return self._retry_if_due(now)

    def on_timer(self, now: datetime) -> Intents:
        """Between snapshots: time exits, stale-greeks exits and due retries still fire."""
        if self.phase is Phase.ACTIVE:
            return self._exit_if_due(to_ist(now))
        return self._retry_if_due(to_ist(now))

    def on_stale(self, event: StaleDataEvent) -> Intents:
        self.stale = True
        if self.phase is Phase.ACTIVE:
            return self._exit_if_due(to_ist(event.ts))
        return NO_INTENTS

    def on_fill(self, fill: Fill) -> Intents:
        self.book.apply_fill(fill)
        if (
            fill.tag is Tag.ADJUST_EXIT
            and self.phase is Phase.ADJUST_EXIT
            and self.book.leg(fill.contract.right) is None
        ):
            self.phase = (
                Phase.ADJUST_ENTRY
            )  # the old leg is fully bought back: now sell its replacement
        elif self.phase is Phase.ACTIVE and not self.book.legs:
            # flattened from outside (kill switch, operator, expiry settlement): done for the day
            self.phase = Phase.DONE
            self.exit_reason = "EXPIRY" if fill.is_settlement else "EXTERNAL_EXIT"
        return NO_INTENTS

    def on_order_update(self, order: Order) -> Intents:
        if not order.state.is_terminal:
            self.working.add(order.client_id)
            return NO_INTENTS
        self.working.discard(order.client_id)
        if self.working:
            return NO_INTENTS
        return self._on_orders_settled(order)

    # --- phase transitions once every working order has ended -----------------------------

    def _on_orders_settled(self, last: Order) -> Intents:
        ts = last.updated_ts or (self.last_snapshot.ts if self.last_snapshot else None)
        now = to_ist(ts) if ts else None
        has_ce, has_pe = self.book.leg(Right.CE) is not None, self.book.leg(Right.PE) is not None
        if self.phase is Phase.ENTERING:
            if has_ce and has_pe:
                self.phase = Phase.ACTIVE
                self.recentre_pnl = self.book.pnl
                self.peak_pnl = self.book.pnl
                self.retries = 0
            elif not self.book.legs:  # basket failed and was unwound
                self.phase = (
                    Phase.FAILED
                    if self.attempts_today >= self.cfg.entry.max_attempts
                    else Phase.IDLE
                )
            else:  # one leg stuck open: never hold a naked leg
                return self._exit_all("ENTRY_INCOMPLETE")
        elif self.phase is Phase.ADJUST_EXIT:  # buy-back did not complete: keep the strangle
            self.phase, self.last_adjustment = Phase.ACTIVE, now
        elif self.phase is Phase.ADJUST_ENTRY:
            if has_ce and has_pe:  # the replacement is in: re-centred
                self.phase = Phase.ACTIVE
                self.adjustments_today += 1
                self.adjustments_total += 1
                self.last_adjustment = now
                self.recentre_pnl = self.book.pnl
                self.retries = 0
            elif self.replacement_attempts >= self._adjustment.max_replacement_attempts:
                return self._exit_all("REPLACEMENT_NOT_FILLED")
            elif self.replacement_attempts == 0 and self.last_snapshot is not None:
                return self._sell_replacement(self.last_snapshot)  # the first one goes at once
            else:
                self._schedule_retry("REPLACE", now)
        elif self.phase is Phase.EXITING:
            if self.book.legs:
                self._schedule_retry("EXIT", now)
            else:
                self.phase = Phase.DONE
                self.retries = 0
        return NO_INTENTS

    def _schedule_retry(self, action: str, now: datetime | None) -> None:
        """Try ``action`` again at a later input, after a doubling backoff; past the exit retry
        budget, halt (raising ends this handler; the runner halts and alerts, the kernel
        flattens what it can)."""
        x = self.cfg.execution
        if action == "EXIT" and self.retries >= x.max_retries:
            self.phase = Phase.FAILED
            legs = ", ".join(leg.contract.id for leg in self.book.legs.values())
            raise StrategyHalt(
                f"exit ({self.exit_reason}) failed {self.retries + 1} times — legs still open: {legs}"
            )
        delay = min(x.retry_backoff_seconds * 2**self.retries, MAX_BACKOFF_SECONDS)
        self.retries += 1
        self.retry_action = action
        self.retry_at = (now or datetime.min) + timedelta(seconds=delay)

    def _retry_if_due(self, now: datetime) -> Intents:
        if not self.retry_action or self.working or self.retry_at is None or now < self.retry_at:
            return NO_INTENTS
        action, self.retry_action, self.retry_at = self.retry_action, "", None
        if action == "EXIT":
            return self._exit_all(self.exit_reason or "EXIT_RETRY")
        if self.last_snapshot is None:
            return NO_INTENTS
        return self._sell_replacement(self.last_snapshot)

    # --- rules --------------------------------------------------------------------------------

    def _roll_day(self, today: date) -> None:
        if self.day == today:
            return
        self.day = today
        self.attempts_today = 0
        self.adjustments_today = 0
        if self.phase in (Phase.DONE, Phase.FAILED) and not self.book.legs:
            self.phase = Phase.IDLE
            self.book.reset()
            self.exit_reason = ""

    def _exit_if_due(self, now: datetime) -> Intents:
        reason = self._exit_reason(now)
        return self._exit_all(reason) if reason else NO_INTENTS

    def _exit_reason(self, now: datetime) -> str:
        x = self.cfg.exit
        if x.time_exit_override and now.time() >= x.exit_time:
            return "TIME_EXIT"
        if (
            self.last_fresh is not None
            and (now - self.last_fresh).total_seconds() > x.stale_exit_seconds
        ):
            return "STALE_GREEKS"
        pnl, premium = self.book.pnl, self.book.premium_collected
        if x.profit_target is not None and pnl >= x.profit_target:
            return "PROFIT_TARGET"
        if x.max_loss is not None and pnl <= -x.max_loss:
            return "MAX_LOSS"
        if (
            premium > 0
            and x.profit_target_percent is not None
            and pnl >= premium * x.profit_target_percent / 100
        ):
            return "PROFIT_TARGET_PERCENT"
        if (
            premium > 0
            and x.stop_loss_percent is not None
            and pnl <= -premium * x.stop_loss_percent / 100
        ):
            return "STOP_LOSS_PERCENT"
        if x.trailing_stop_enabled:
            activation, distance = x.trail_levels(premium)
            if self.peak_pnl >= activation and pnl <= self.peak_pnl - distance:
                return "TRAILING_STOP"
        return ""

    def _enter_if_due(self, snapshot: ChainSnapshot, now: datetime) -> Intents:
        e = self.cfg.entry
        if not (e.entry_time <= now.time() < self.cfg.exit.exit_time):
            return NO_INTENTS
        if self.attempts_today >= e.max_attempts or self.stale or not _has_greeks(snapshot):
            return NO_INTENTS
        ce = self._find(snapshot, Right.CE, e.ce_delta, e.expiry)
        if ce is None:
            return NO_INTENTS
        pe = self._find(snapshot, Right.PE, e.pe_delta, ce.expiry)
        if pe is None:
            return NO_INTENTS
        qty = e.lots * self.spec.lot_size(ce.expiry)
        self.attempts_today += 1
        self.phase = Phase.ENTERING
        self.book.reset()
        legs = [
            self._order(Tag.ENTRY, ce, Side.SELL, qty, snapshot),
            self._order(Tag.ENTRY, pe, Side.SELL, qty, snapshot),
        ]
        return [Basket(legs, is_exit=False, name=f"{self.name}-entry")]

    def _adjust_if_due(self, snapshot: ChainSnapshot, now: datetime) -> Intents:
        a = self._adjustment
        ce, pe = self.book.leg(Right.CE), self.book.leg(Right.PE)
        if not a.enabled or ce is None or pe is None or self.stale:
            return NO_INTENTS
        trigger = a.delta_drift_trigger
        drift = trigger is not None and self.book.net_delta() > trigger
        profit = a.profit_step is not None and self.book.pnl - self.recentre_pnl >= a.profit_step
        if not (drift or profit):
            return NO_INTENTS
        if self.adjustments_today >= a.max_adjustments_per_day:
            return NO_INTENTS
        if (
            self.last_adjustment is not None
            and (now - self.last_adjustment).total_seconds() < a.cooldown_seconds
        ):
            return NO_INTENTS
        tested, untested = (ce, pe) if ce.abs_delta >= pe.abs_delta else (pe, ce)
        closing = (
            tested if tested.abs_delta > a.max_leg_delta else untested
        )  # emergency vs balance rule
        self.adjust_right = closing.contract.right
        self.adjust_target = (
            a.rebalance_target_delta if a.rebalance_target_delta is not None else math.nan
        )
        self.phase = Phase.ADJUST_EXIT
        self.replacement_attempts = 0
        # the trigger, in the order's reason: the report's adjustment log shows why it happened
        why = (f"DELTA_DRIFT {self.book.net_delta():.2f}>{trigger:g}" if drift
               else f"PROFIT_STEP {self.book.pnl - self.recentre_pnl:,.0f}>={a.profit_step:g}")  # fmt: skip
        if closing is tested:
            why += f" TESTED_LEG {tested.abs_delta:.2f}>{a.max_leg_delta:g}"
        return [self._order(Tag.ADJUST_EXIT, closing.contract, Side.BUY, closing.qty, snapshot, why)]

    def _sell_replacement(self, snapshot: ChainSnapshot) -> Intents:
        self.replacement_attempts += 1
        right = self.adjust_right
        assert right is not None
        surviving = self.book.leg(Right.PE if right is Right.CE else Right.CE)
        if surviving is None:
            return self._exit_all("LEG_MISSING")
        target = self.adjust_target if math.isfinite(self.adjust_target) else surviving.abs_delta
        found = self._find(snapshot, right, target, surviving.contract.expiry)
        if found is None:
            return self._exit_all("NO_REPLACEMENT")
        return [self._order(Tag.ADJUST_ENTRY, found, Side.SELL, surviving.qty, snapshot)]

    def _exit_all(self, reason: str) -> Intents:
        self.phase = Phase.EXITING
        self.exit_reason = reason
        snapshot = self.last_snapshot
        legs = [
            self._order(Tag.EXIT, leg.contract, Side.BUY, leg.qty, snapshot, reason)
            for leg in self.book.legs.values()
        ]
        if not legs:
            self.phase = Phase.DONE
            return NO_INTENTS
        return [Basket(legs, is_exit=True, name=f"{self.name}-exit")]

    # --- helpers ------------------------------------------------------------------------------

    @property
    def _adjustment(self) -> AdjustmentConfig:
        """The file's adjustment rules; a file without the section never adjusts."""
        return self.cfg.adjustment or NO_ADJUSTMENTS

    def _find(
        self, snapshot: ChainSnapshot, right: Right, target: float, expiry: Any
    ) -> OptionContract | None:
        q = find_option(
            snapshot, field="delta", value=target, option_type=right.value,
            tolerance=self.cfg.entry.delta_tolerance, expiry=expiry,
            allow_expiry_day=self.cfg.entry.trade_expiry_day,
        )  # fmt: skip
        return None if q is None else q.contract

    def _order(
        self,
        tag: Tag,
        contract: OptionContract,
        side: Side,
        qty: int,
        snapshot: ChainSnapshot | None,
        reason: str = "",
    ) -> OrderIntent:
        x = self.cfg.execution
        limit = None
        if x.order_type is OrderType.LIMIT and snapshot is not None:
            q = snapshot.quote_for(contract)
            if q is not None and math.isfinite(q.ltp) and q.ltp > 0:
                limit = round(round(q.ltp / self.spec.tick_size) * self.spec.tick_size, 2)
        return OrderIntent(
            strategy=self.name, tag=tag, contract=contract, side=side, quantity=qty,
            order_type=x.order_type, limit_price=limit, product=Product(x.product),
            leg=contract.right.value, reason=reason or tag.value,
        )  # fmt: skip

    # --- state for crash recovery -----------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value, "book": self.book.to_dict(),
            "day": self.day.isoformat() if self.day else None,
            "attempts_today": self.attempts_today, "adjustments_today": self.adjustments_today,
            "adjustments_total": self.adjustments_total,
            "last_adjustment": _iso(self.last_adjustment), "recentre_pnl": self.recentre_pnl,
            "peak_pnl": self.peak_pnl if math.isfinite(self.peak_pnl) else None,
            "adjust_right": self.adjust_right.value if self.adjust_right else None,
            "adjust_target": self.adjust_target if math.isfinite(self.adjust_target) else None,
            "replacement_attempts": self.replacement_attempts, "retries": self.retries,
            "retry_action": self.retry_action, "retry_at": _iso(self.retry_at),
            "working": sorted(self.working), "last_fresh": _iso(self.last_fresh), "exit_reason": self.exit_reason,
        }  # fmt: skip

    def restore_state(self, state: dict[str, Any]) -> None:
        self.phase = Phase(state["phase"])
        self.book.restore(state["book"])
        self.day = date.fromisoformat(state["day"]) if state["day"] else None
        self.attempts_today = state["attempts_today"]
        self.adjustments_today = state["adjustments_today"]
        self.adjustments_total = state["adjustments_total"]
        self.last_adjustment = _from_iso(state["last_adjustment"])
        self.recentre_pnl = state["recentre_pnl"]
        self.peak_pnl = state["peak_pnl"] if state["peak_pnl"] is not None else -math.inf
        self.adjust_right = Right(state["adjust_right"]) if state["adjust_right"] else None
        self.adjust_target = (
            state["adjust_target"] if state["adjust_target"] is not None else math.nan
        )
        self.replacement_attempts = state["replacement_attempts"]
        self.retries = state.get("retries", 0)  # absent in checkpoints from before retry budgets
        self.retry_action = state.get("retry_action", "")
        self.retry_at = _from_iso(state.get("retry_at"))
        self.working = set(state["working"])
        self.last_fresh = _from_iso(state["last_fresh"])
        self.exit_reason = state["exit_reason"]

    @property
    def legs(self) -> dict[Right, Leg]:
        return self.book.legs


def _has_greeks(snapshot: ChainSnapshot) -> bool:
    return bool(np.isfinite(snapshot.delta).any())


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@register_strategy("dnss")
def create_dnss(config: StrategyConfig) -> DNSS:
    return DNSS(config)


__all__ = ["DNSS", "Phase", "create_dnss"]
