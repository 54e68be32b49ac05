"""``"strategy": "legs"`` — any option structure from a list of legs and rules.

The rules, in the order they are checked on every chain snapshot (one a minute in a backtest):

1. **Day roll.** A new day resets the day's entry count; a structure held overnight
   (``legs_exit.hold_to_expiry``) is kept.
2. **Marks**: each open leg's price from its own contract's row (LTP, else the mid) — O(legs).
3. **Overall exits** (while the structure is open): ``legs_exit.time`` (every day, or only on the
   nearest leg's expiry day with ``hold_to_expiry``), the MTM stop / target in rupees or in % of
   the net premium at entry, and lock-and-trail. They close every leg in one basket: main legs
   first, hedges last. Nothing re-enters after them.
4. **Leg exits**, per open leg: premium stop (trailed ``trail_by`` for every ``trail_every`` of
   favourable move), premium target, underlying-points stop and target. The leg alone is closed
   (``on_stop``/``on_target`` ``"leg"``) or every leg (``"all"``). A stop moves every other
   open leg's stop to its cost when that leg says ``move_sl_to_cost``. A closed leg re-enters
   (at most ``reentry_on_*_count`` times per structure): ``re_execute`` and ``next_strike`` on
   the next snapshot, ``at_cost`` once the same contract's premium is back at the old entry.
5. **Entry**, when flat: from ``legs_entry.time`` until the exit time, on the listed weekdays,
   within the days-to-expiry window (calendar days to the nearest leg's expiry), with the index
   above / below its levels, ``max_entries`` times a day. Every leg's strike is chosen by its
   rule and the legs go as one basket (hedges first, confirmed before the others). With
   wait-and-trade the strikes are chosen at the entry time and the basket goes once their
   combined premium has moved. A hedge that comes out no further out of the money than its
   main leg refuses the entry (counted as ``hedge_not_otm``).
6. **Bounded retries.** An entry that does not fill is tried again after
   ``execution.retry_backoff_seconds`` (doubling), at most ``execution.max_retries`` times a
   day; an exit that does not complete is re-sent the same way and past ``max_retries`` the
   strategy halts (the kernel flattens it). An entry that leaves some legs open and some not is
   closed at once (``ENTRY_INCOMPLETE``): no structure is ever held half-built.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from optrunner.config.legs import LegsExit
from optrunner.core.events import StaleDataEvent
from optrunner.core.orders import Basket, Fill, Order, OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.core.types import Tag
from optrunner.data.snapshot import ChainSnapshot, contract_key
from optrunner.instruments import get_index
from optrunner.instruments.contracts import OptionContract
from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Intents, StrategyHalt, Subscriptions
from optrunner.strategies.legs import slots as S
from optrunner.strategies.legs.entry import EntryPlanner, combined_premium, wait_hit
from optrunner.strategies.legs.slots import LegSlot, mark_price, mtm_reason
from optrunner.strategies.legs.state import LegsState, Phase
from optrunner.strategies.legs.strikes import next_strike, select_strike
from optrunner.strategies.option_book import order_intent

if TYPE_CHECKING:
    from optrunner.config import StrategyConfig

MAX_BACKOFF_SECONDS = 300.0


class LegsStrategy(LegsState, BaseStrategy):
    """The multi-leg builder: a file's legs and rules, on chain snapshots and its own fills."""

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config.name)
        assert config.legs is not None and config.legs_entry is not None, "the legs and legs_entry sections are required"
        self.entry = config.legs_entry
        self.exit = config.legs_exit or LegsExit()
        self.execution = config.execution
        self.symbol = config.market_config.symbol
        self.spec = get_index(self.symbol)
        self.slots = [LegSlot(i, leg.name or f"L{i + 1}", leg) for i, leg in enumerate(config.legs)]
        self._by_name = {s.name: s for s in self.slots}
        x = self.exit
        self._uses_mtm = any(v is not None for v in (x.mtm_stop_loss, x.mtm_target, x.mtm_stop_loss_pct,
                                                      x.mtm_target_pct, x.lock_and_trail))  # fmt: skip
        self._init_state()
        self.last_snapshot: ChainSnapshot | None = None
        self.planner = EntryPlanner(self.entry, self.exit.time, self.slots, self.spec, self.counts)

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={self.symbol}, timer=True)

    # --- events -------------------------------------------------------------------------------

    def on_chain(self, snapshot: ChainSnapshot) -> Intents:
        now = to_ist(snapshot.ts)
        self._roll_day(now.date())
        self.last_snapshot = snapshot
        if snapshot.symbol == self.symbol:  # each held contract's row by its key: one bisect per leg
            keys = memoryview(snapshot.key)  # type: ignore[arg-type]
            n = len(keys)
            for slot in self.slots:
                contract = slot.contract
                if contract is not None and (slot.qty or slot.state == S.WAIT_REENTRY):
                    if slot.keyed is not contract:
                        slot.key, slot.keyed = contract_key(contract), contract
                    i = bisect_left(keys, slot.key)
                    if i < n and keys[i] == slot.key:
                        price = mark_price(snapshot, i)
                        if price == price:  # not NaN
                            slot.price = price
        phase = self.phase
        if phase is Phase.ACTIVE:
            return self._manage(snapshot, now)
        if phase is Phase.IDLE:
            return self._enter_if_due(snapshot, now)
        if phase is Phase.WAITING:
            return self._wait_and_trade(snapshot, now)
        return self._retry_exits(now)

    def on_timer(self, now: datetime) -> Intents:
        """Between snapshots: the time exit and due exit retries still fire."""
        now = to_ist(now)
        if self.phase is Phase.ACTIVE and self._time_exit_due(now):
            return self._exit_all("TIME_EXIT")
        return self._retry_exits(now)

    def on_stale(self, event: StaleDataEvent) -> Intents:
        return NO_INTENTS

    def on_fill(self, fill: Fill) -> Intents:
        slot = self._slot_for(fill.leg, fill.contract)
        if slot is None:
            return NO_INTENTS
        slot.apply_fill(fill)
        if slot.qty == 0 and slot.state == S.OPEN:  # closed by no order of ours: settlement, kernel flatten
            reason = "EXPIRY" if fill.is_settlement else "UNWIND" if self.phase is Phase.ENTERING else "EXTERNAL_EXIT"
            slot.state, slot.exit_reason = S.DONE, reason
            self._event(fill.ts, slot, reason, fill.price)
            if self.phase is Phase.ACTIVE and self._flat():
                self._finish(reason, to_ist(fill.ts))
        return NO_INTENTS

    def on_order_update(self, order: Order) -> Intents:
        slot = self._slot_for(order.leg, order.contract)
        if slot is None:
            return NO_INTENTS
        if not order.state.is_terminal:
            slot.working.add(order.client_id)
            return NO_INTENTS
        slot.working.discard(order.client_id)
        ts = order.updated_ts or (self.last_snapshot.ts if self.last_snapshot else None)
        now = to_ist(ts) if ts else None
        if order.tag is Tag.ENTRY and order.filled_qty < order.quantity and self.phase is Phase.ENTERING:
            self.entry_failed = True  # the router cancels the rest of the basket and unwinds what filled
        out = self._settle(slot, now) if not slot.working else NO_INTENTS
        if self.phase is Phase.ENTERING:
            return self._entry_settled(now)
        return out

    # --- settling a leg's orders --------------------------------------------------------------

    def _settle(self, slot: LegSlot, now: datetime | None) -> Intents:
        spot = self.last_snapshot.spot if self.last_snapshot else math.nan
        if slot.state == S.ENTERING:
            if slot.qty:
                slot.state = S.OPEN
                slot.arm(spot)
                self._event(now, slot, "ENTRY", slot.avg)
            else:
                slot.state = S.IDLE
            if self.phase is Phase.EXITING:  # a re-entry filled while everything is being closed
                if slot.qty:
                    return [self._close(slot, self.exit_reason, self.last_snapshot)]
                slot.state = S.DONE
                if self._flat():
                    self._finish(self.exit_reason, now)
                return NO_INTENTS
            if self.phase is Phase.ACTIVE and not slot.qty:  # a re-entry that did not fill
                slot.state = S.DONE
                self.counts["reentries_failed"] += 1
                if self._flat():
                    self._finish(self.exit_reason or "LEGS_CLOSED", now)
            return NO_INTENTS
        if slot.state == S.EXITING:
            if slot.qty:  # the exit did not complete: retry later, within the budget
                self._schedule_retry(slot, now)
                return NO_INTENTS
            self._event(now, slot, slot.exit_reason, slot.exit_price)
            if self.phase is Phase.EXITING:
                slot.state = S.DONE
                if self._flat():
                    self._finish(self.exit_reason, now)
                return NO_INTENTS
            slot.state = self._after_leg_exit(slot)
            if self._flat():
                self._finish(self.exit_reason or "LEGS_CLOSED", now)
        return NO_INTENTS

    def _entry_settled(self, now: datetime | None) -> Intents:
        """The entry basket is decided once every leg is open, or — after a leg failed — once the
        router has unwound what filled (it guarantees that, or halts the strategy): flat again."""
        if any(s.working for s in self.slots):
            return NO_INTENTS
        if not self.entry_failed:
            if all(s.state == S.OPEN and s.qty for s in self.slots):
                self.phase = Phase.ACTIVE
                self.entries_today += 1
                self.counts["entries"] += 1
                self.net_premium = abs(sum(s.avg * s.qty for s in self.slots))
                self.peak_mtm = -math.inf
                spot = self.last_snapshot.spot if self.last_snapshot else math.nan
                self.last_structure = {  # the report's payoff at entry
                    "ts": now.isoformat() if now else None, "spot": spot if math.isfinite(spot) else None,
                    "legs": [[s.name, s.contract.id if s.contract else None, s.qty, round(s.avg, 2)] for s in self.slots],
                }  # fmt: skip
                self.failed_today, self.retry_at = 0, None
            return NO_INTENTS
        if any(s.qty for s in self.slots):
            return NO_INTENTS  # the unwind is still to come
        self.entry_failed = False
        for s in self.slots:
            self.structure_pnl += s.realized - s.charges  # what the unwind cost
            s.state, s.contract, s.realized, s.charges = S.IDLE, None, 0.0, 0.0
        self.phase = Phase.IDLE
        self.failed_today += 1
        self.counts["entries_failed"] += 1
        x = self.execution
        delay = min(x.retry_backoff_seconds * 2 ** (self.failed_today - 1), MAX_BACKOFF_SECONDS)
        self.retry_at = (now or datetime.min) + timedelta(seconds=delay)
        if self.failed_today > x.max_retries:
            self.phase = Phase.DONE
        return NO_INTENTS

    def _after_leg_exit(self, slot: LegSlot) -> str:
        """The state a leg closed by its own stop or target goes to: a pending re-entry or done."""
        c = slot.cfg
        if slot.exit_reason == "STOP_LOSS" and c.reentry_on_stop and slot.reentries_stop < c.reentry_on_stop_count:
            slot.reentries_stop += 1
            slot.reentry_mode = c.reentry_on_stop
            return S.WAIT_REENTRY
        if slot.exit_reason == "TARGET" and c.reentry_on_target and slot.reentries_target < c.reentry_on_target_count:
            slot.reentries_target += 1
            slot.reentry_mode = c.reentry_on_target
            return S.WAIT_REENTRY
        return S.DONE

    def _flat(self) -> bool:
        return all(s.state in (S.IDLE, S.DONE) and not s.qty and not s.working for s in self.slots)

    def _finish(self, reason: str, now: datetime | None) -> None:
        """The structure is closed: book its P&L, and go back to IDLE while entries are left today."""
        for s in self.slots:
            self.leg_pnl[s.name] += s.realized - s.charges
            self.structure_pnl += s.realized - s.charges
        self.counts[f"exit_{reason.lower()}"] += 1
        for s in self.slots:
            s.realized = s.charges = 0.0
            s.reentries_stop = s.reentries_target = 0
            s.state, s.contract, s.price = S.IDLE, None, math.nan
        late = now is not None and now.time() >= self.exit.time
        more = self.entries_today < self.entry.max_entries and reason != "TIME_EXIT"
        self.phase = Phase.IDLE if more and not late else Phase.DONE
        self.exit_reason = ""

    # --- the open structure -------------------------------------------------------------------

    def _mtm(self) -> float:
        total = 0.0
        for s in self.slots:  # LegSlot.pnl, inlined: this runs on every snapshot
            total += s.realized - s.charges
            if s.qty and s.price == s.price:
                total += (s.price - s.avg) * s.qty
        return total

    def _time_exit_due(self, now: datetime) -> bool:
        if now.time() < self.exit.time:
            return False
        if not self.exit.hold_to_expiry:
            return True
        held = [s.contract.expiry for s in self.slots if s.qty and s.contract is not None]
        return bool(held) and now.date() >= min(held)

    def _overall_reason(self, now: datetime) -> str:
        x = self.exit
        if self._time_exit_due(now):
            return "TIME_EXIT"
        if not self._uses_mtm:
            return ""
        mtm = self._mtm()
        self.peak_mtm = max(self.peak_mtm, mtm)
        return mtm_reason(x, mtm, self.peak_mtm, self.net_premium)

    def _manage(self, snapshot: ChainSnapshot, now: datetime) -> Intents:
        reason = self._overall_reason(now)
        if reason:
            return self._exit_all(reason)
        out: list[OrderIntent] = []
        spot = snapshot.spot
        for slot in self.slots:
            if slot.state == S.OPEN:
                why = slot.exit_reason_now(spot)
                if not why:
                    continue
                square = slot.cfg.on_stop if why == "STOP_LOSS" else slot.cfg.on_target
                self.counts[f"leg_{why.lower()}"] += 1
                if square == "all":
                    self._event(now, slot, why, slot.price)
                    return self._exit_all(f"LEG_{why}_ALL")
                if why == "STOP_LOSS":
                    for other in self.slots:
                        if other is not slot and other.state == S.OPEN and other.cfg.move_sl_to_cost:
                            other.move_stop_to_cost()
                            self._event(now, other, "SL_TO_COST", other.entry_price)
                out.append(self._close(slot, why, snapshot))
            elif slot.state == S.WAIT_REENTRY and not slot.working:
                intent = self._reenter(slot, snapshot, now)
                if intent is not None:
                    out.append(intent)
            elif slot.state == S.EXITING and slot.retry_at is not None and now >= slot.retry_at:
                out.append(self._close(slot, slot.exit_reason, snapshot))
        return out

    def _close(self, slot: LegSlot, reason: str, snapshot: ChainSnapshot | None) -> OrderIntent:
        assert slot.contract is not None
        slot.state, slot.exit_reason, slot.retry_at = S.EXITING, reason, None
        return self._order(Tag.EXIT, slot, slot.contract, slot.close_side, abs(slot.qty), snapshot, reason)

    def _reenter(self, slot: LegSlot, snapshot: ChainSnapshot, now: datetime) -> OrderIntent | None:
        if now.time() >= self.exit.time or slot.contract is None:
            return None
        mode = slot.reentry_mode
        if mode == "at_cost":
            if not slot.back_at_cost():
                return None
            contract: OptionContract | None = slot.contract
        elif mode == "next_strike":
            contract = next_strike(snapshot, slot.contract, self.spec.strike_step)
        else:
            contract = select_strike(snapshot, slot.cfg.strike, slot.right, slot.contract.expiry,
                                     self.spec.strike_step, allow_expiry_day=True)  # fmt: skip
        if contract is None:
            slot.state = S.DONE
            self.counts["reentries_no_strike"] += 1
            return None
        self.counts["reentries"] += 1
        self._event(now, slot, f"REENTRY_{mode.upper()}", math.nan)
        slot.state = S.ENTERING
        qty = slot.cfg.lots * self.spec.lot_size(contract.expiry)
        return self._order(Tag.ENTRY, slot, contract, slot.side, qty, snapshot, f"REENTRY {mode}")

    def _exit_all(self, reason: str) -> Intents:
        self.phase, self.exit_reason = Phase.EXITING, reason
        legs = []
        for slot in self.slots:
            if slot.qty and not slot.working:
                legs.append(self._close(slot, reason, self.last_snapshot))
            elif not slot.qty and not slot.working:
                slot.state = S.DONE
        if not legs:
            if self._flat():
                self._finish(reason, to_ist(self.last_snapshot.ts) if self.last_snapshot else None)
            return NO_INTENTS
        return [Basket(legs, is_exit=True, name=f"{self.name}-exit")]

    def _schedule_retry(self, slot: LegSlot, now: datetime | None) -> None:
        x = self.execution
        if slot.retries >= x.max_retries:
            raise StrategyHalt(
                f"exit ({slot.exit_reason}) of leg {slot.name} failed {slot.retries + 1} times — "
                f"still open: {slot.contract.id if slot.contract else '?'}"
            )
        delay = min(x.retry_backoff_seconds * 2**slot.retries, MAX_BACKOFF_SECONDS)
        slot.retry_at = (now or datetime.min) + timedelta(seconds=delay)
        slot.retries += 1

    def _retry_exits(self, now: datetime) -> Intents:
        due = [s for s in self.slots if s.state == S.EXITING and s.qty and not s.working
               and s.retry_at is not None and now >= s.retry_at]  # fmt: skip
        return [self._close(s, s.exit_reason, self.last_snapshot) for s in due]

    # --- entry --------------------------------------------------------------------------------

    def _roll_day(self, today: date) -> None:
        if self.day == today:
            return
        self.day = today
        self.entries_today = self.failed_today = 0
        self.retry_at = None
        if self.phase in (Phase.DONE, Phase.WAITING) and not any(s.qty for s in self.slots):
            self.phase = Phase.IDLE
            self.pending = []

    def _enter_if_due(self, snapshot: ChainSnapshot, now: datetime) -> Intents:
        expiries = self.planner.allowed(snapshot, now, self.entries_today, self.retry_at)
        if expiries is None:
            return NO_INTENTS
        chosen = self.planner.choose(snapshot, expiries)
        if chosen is None:
            return NO_INTENTS
        w = self.entry.wait_and_trade
        if w is not None:
            self.pending, self.phase = chosen, Phase.WAITING
            self.reference = combined_premium(snapshot, chosen)
            return NO_INTENTS
        return self._send_entry(chosen, snapshot)

    def _wait_and_trade(self, snapshot: ChainSnapshot, now: datetime) -> Intents:
        w = self.entry.wait_and_trade
        assert w is not None
        if now.time() >= self.exit.time:
            self.phase, self.pending = Phase.DONE, []
            return NO_INTENTS
        if not math.isfinite(self.reference):  # a leg was unpriced at the entry time: take the first full reading
            self.reference = combined_premium(snapshot, self.pending)
            return NO_INTENTS
        if not wait_hit(w, self.reference, combined_premium(snapshot, self.pending)):
            return NO_INTENTS
        self.counts["wait_and_trade_hits"] += 1
        return self._send_entry(self.pending, snapshot)

    def _send_entry(self, contracts: list[OptionContract], snapshot: ChainSnapshot) -> Intents:
        legs = []
        for slot, contract in zip(self.slots, contracts, strict=True):
            slot.state, slot.contract, slot.price = S.ENTERING, contract, math.nan
            slot.qty, slot.avg, slot.realized, slot.charges = 0, 0.0, 0.0, 0.0
            qty = slot.cfg.lots * self.spec.lot_size(contract.expiry)
            legs.append(self._order(Tag.ENTRY, slot, contract, slot.side, qty, snapshot, "ENTRY"))
        self.phase, self.pending = Phase.ENTERING, []
        return [Basket(legs, is_exit=False, name=f"{self.name}-entry")]

    # --- helpers ------------------------------------------------------------------------------

    def _order(self, tag: Tag, slot: LegSlot, contract: OptionContract, side: Any, qty: int,
               snapshot: ChainSnapshot | None, reason: str) -> OrderIntent:  # fmt: skip
        return order_intent(self.name, self.execution, self.spec.tick_size, tag, contract, side, qty, snapshot,
                            leg=slot.name, role=slot.role, reason=f"{slot.name} {reason}")  # fmt: skip

    def _slot_for(self, leg: str, contract: OptionContract) -> LegSlot | None:
        slot = self._by_name.get(leg)
        if slot is not None:
            return slot
        # an order or fill without our leg name (a settlement, a kernel flatten): match the contract
        return next((s for s in self.slots if s.contract == contract and (s.qty or s.working)), None)


__all__ = ["LegsStrategy", "Phase"]
