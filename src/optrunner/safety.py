"""One halt path for the kernel, and the flatten that follows it (issue 11, defects 4 and 5).

Before this, a strategy could be halted in two places that did not meet: the runner (its
handler kept failing; the kernel flattened it) and the order manager (an unknown order, a
failed unwind; entries were blocked but the other legs stayed open — a naked short
overnight). Now every halt goes through :meth:`SafetyDesk.halt` or reaches it:

    order manager halt ──(on_halt hook)──> runner.halt ──(critical alert)──> request flatten
    kernel / risk / reconciliation ──> SafetyDesk.halt ──> the same

A halted strategy holding positions is then treated by its halt policy (``RiskSettings
.on_halt``): ``flatten`` (the default: an unmanaged short option is the worst case) or
``hold_and_alert`` (working entries are cancelled, a critical alert lists what is held; a
human decides).

The flatten itself runs only when the order manager is quiescent — never from inside the
answer handling that caused the halt, where the portfolio may not yet hold fills already
journaled — and in passes, at most one per kernel input:

1. cancel the strategy's working orders, except the router's unwinds and earlier flatten
   orders (they already close: one close owner per leg, execution/close_guard.py);
2. for every open position in a tradable contract, send a marketable EXIT for what working
   orders do not already close — short legs (the main legs) first, long legs (their hedges)
   last, so the book is never left naked short by a flatten;
3. flat with nothing working: done. A pass that had to send again (a rejected or expired
   flatten order) counts against ``max_attempts``; past it the desk stops and raises a
   critical alert for a human, never loops.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.core.types import Side, Tag
from optrunner.execution import DEFAULT_UNWIND_POLICY, ExecutionError
from optrunner.execution.close_guard import guard_exit

log = logging.getLogger(__name__)

FLATTEN = "flatten"
HOLD_AND_ALERT = "hold_and_alert"
HALT_POLICIES = (FLATTEN, HOLD_AND_ALERT)

AlertFn = Callable[[datetime, str, str, str], None]


class SafetyDesk:
    """Halts and flattens for one kernel (its order manager, router, portfolio and runner)."""

    def __init__(self, kernel: Any, alert: AlertFn, *, policy: str = FLATTEN, max_attempts: int = 10) -> None:
        if policy not in HALT_POLICIES:
            raise ValueError(f"halt policy must be one of {', '.join(HALT_POLICIES)}, got {policy!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._k = kernel
        self._alert = alert
        self.policy = policy
        self.max_attempts = max_attempts
        self.pending: dict[str, str] = {}  # strategy -> why it is being flattened
        self.own: set[str] = set()  # client ids of flatten orders
        self.cancelled: set[str] = set()  # client ids the desk asked to cancel (asked once)
        self.attempts: Counter[str] = Counter()
        self.held: set[str] = set()  # halted strategies left holding by policy (alerted once)
        self.gave_up: set[str] = set()

    # --- halting ---------------------------------------------------------------------------

    def halt(self, strategy: str, reason: str) -> None:
        """Halt ``strategy`` everywhere (order manager, runner) and flatten it by policy."""
        k = self._k
        if not k.om.is_halted(strategy):
            k.om.halt(strategy, reason)  # its hook brings the runner and the flatten along
        else:
            self.on_om_halt(strategy, reason)

    def on_om_halt(self, strategy: str, reason: str) -> None:
        """The order manager halted ``strategy``: the runner stops it too (which alerts and
        asks for the flatten); a strategy the runner does not know is flattened directly."""
        runner = self._k.runner
        self._k.reconciler.request()  # what did the venue really do? (before the flatten pass)
        if strategy in runner.get_status()["strategy_names"]:
            runner.halt(strategy, reason)  # alerts; the kernel's alert hook asks for the flatten
        self.request(strategy, reason)  # idempotent: also for a strategy the runner lacks

    def request(self, strategy: str | None, reason: str) -> None:
        """Flatten ``strategy`` (every strategy with positions or orders when None) by policy;
        runs now when the order manager is quiescent, else at the end of the current input."""
        k = self._k
        names = [strategy] if strategy is not None else sorted(
            {p.strategy for p in k.portfolio.positions()} | {o.strategy for o in k.om.open_orders()}
        )
        for name in names:
            if self.policy == HOLD_AND_ALERT and strategy is not None:
                for o in k.om.open_orders(name):  # hold what is held; add nothing to it
                    if not o.tag.is_exit and o.client_id not in self.cancelled:
                        self.cancelled.add(o.client_id)
                        k.om.cancel(o.client_id, f"halted (hold_and_alert): {reason}")
                held = k.portfolio.positions(name)
                if held and name not in self.held:
                    self.held.add(name)
                    what = ", ".join(f"{p.contract.id} {p.quantity:+d}" for p in held)
                    self._alert(k.clock.now(), "critical", "halt", f"{name} halted holding {what} (policy hold_and_alert): {reason}")
                continue
            self.pending.setdefault(name, reason)
            self.gave_up.discard(name)
        if not k.om.busy and k.session_open:
            self.run()

    # --- flattening ------------------------------------------------------------------------

    def run(self) -> None:
        """One flatten pass for every pending strategy (see the module docstring); none
        between a session close and the next day's first input."""
        k = self._k
        if not self.pending or not k.session_open:
            return
        with k.om.batch():
            for name in list(self.pending):
                self._pass(name)
        k.om.drain()

    def _pass(self, name: str) -> None:
        k = self._k
        reason = self.pending[name]
        for o in k.om.open_orders(name):
            cid = o.client_id
            if cid not in self.own and cid not in self.cancelled and o.tag is not Tag.UNWIND:
                self.cancelled.add(cid)  # once: a refused cancel is resolved by the order manager
                k.om.cancel(cid, f"flatten: {reason}")
        today = to_ist(k.clock.now()).date()
        positions = [p for p in k.portfolio.positions(name) if p.contract.expiry >= today]
        positions.sort(key=lambda p: p.quantity > 0)  # shorts (main legs) before longs (hedges)
        if not positions and not k.om.open_orders(name):
            del self.pending[name]
            self.attempts.pop(name, None)
            self._alert(k.clock.now(), "info", "flatten", f"{name} is flat")
            return
        sent = False
        for pos in positions:
            leg = self._exit_leg(name, pos, reason)
            if leg is None:  # working orders close it already
                continue
            if self.attempts[name] >= self.max_attempts:
                del self.pending[name]
                self.gave_up.add(name)
                self._alert(k.clock.now(), "critical", "flatten",
                            f"could not flatten {name} after {self.max_attempts} attempts; "
                            f"{pos.contract.id} {pos.quantity:+d} still open: needs a human")  # fmt: skip
                return
            try:
                orders = k.router.submit(leg, DEFAULT_UNWIND_POLICY)
            except ExecutionError as exc:
                self._alert(k.clock.now(), "critical", "flatten", f"could not flatten {pos.contract.id}: {exc}")
                continue
            self.own.update(o.client_id for o in orders)
            sent = True
        if sent:
            self.attempts[name] += 1

    def _exit_leg(self, name: str, pos: Any, reason: str) -> OrderIntent | None:
        """The marketable EXIT closing what working orders do not already close of ``pos``."""
        side = Side.BUY if pos.quantity < 0 else Side.SELL
        intent = OrderIntent(name, Tag.EXIT, pos.contract, side, abs(pos.quantity),
                             leg=f"flatten:{pos.contract.id}", reason=f"FLATTEN: {reason}")  # fmt: skip
        leg, _ = guard_exit(intent, self._k.portfolio, self._k.om)
        return leg

    def exit_positions(self, name: str, contract_ids: set[str], reason: str) -> list[str]:
        """One flatten pass over some of ``name``'s legs (an operator's manual exit): the same
        orders a flatten sends — guarded (one close owner per leg), shorts before longs, at
        market under the unwind policy — but the strategy is not halted and nothing is retried
        (the operator asks again). Returns the client ids sent; none after the close."""
        k = self._k
        if not k.session_open:
            return []
        positions = [p for p in k.portfolio.positions(name) if p.contract.id in contract_ids]
        positions.sort(key=lambda p: p.quantity > 0)  # shorts (main legs) before longs (hedges)
        sent: list[str] = []
        with k.om.batch():
            for pos in positions:
                leg = self._exit_leg(name, pos, reason)
                if leg is None:
                    continue
                try:
                    orders = k.router.submit(leg, DEFAULT_UNWIND_POLICY)
                except ExecutionError as exc:
                    self._alert(k.clock.now(), "critical", "flatten", f"could not exit {pos.contract.id}: {exc}")
                    continue
                self.own.update(o.client_id for o in orders)
                sent.extend(o.client_id for o in orders)
        k.om.drain()
        return sent

    # --- state -------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {"pending": dict(self.pending), "own": sorted(self.own), "cancelled": sorted(self.cancelled),
                "attempts": dict(self.attempts),
                "held": sorted(self.held), "gave_up": sorted(self.gave_up)}  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        self.pending = dict(state.get("pending", {}))
        self.own = set(state.get("own", ()))
        self.cancelled = set(state.get("cancelled", ()))
        self.attempts = Counter({k: int(v) for k, v in state.get("attempts", {}).items()})
        self.held = set(state.get("held", ()))
        self.gave_up = set(state.get("gave_up", ()))
