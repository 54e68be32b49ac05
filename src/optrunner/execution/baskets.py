"""Multi-leg baskets worked phase by phase, fill-confirmed, with unwinding on failure.

The reference iceberg service sent the main leg 0.3 s after the hedge without checking the
hedge had filled, and never rolled back (REFERENCE_SYSTEMS §3.4). Here:

* phases follow ``Basket.ordered_phases()`` (entry: hedges first; exit: mains first) and a
  phase is sent only when every order of the previous one is FILLED;
* when a leg fails (rejected, cancelled, expired, timed out), the rest of its phase is
  cancelled and, once everything is final, an *entry* basket is unwound: UNWIND orders
  reverse every filled quantity, buying back shorts first and only then selling longs, so
  no step leaves a naked short. An *exit* basket is not reversed (that would re-open the
  risk it was closing; stopping mains-first never leaves a naked short): it stops, and the
  strategy is halted with a critical alert;
* a failed unwind halts the strategy with a critical alert; an order whose broker state is
  unknown parks the basket as UNKNOWN (the order manager has already halted the strategy)
  until the order is resolved — nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from optrunner.core.orders import OrderIntent
from optrunner.core.saved_once import SavedOnce
from optrunner.core.types import LegRole, OrderState, OrderType, Product, Side, Tag
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy
from optrunner.execution.states import ExecutionError
from optrunner.instruments.contracts import OptionContract

S = OrderState


class BasketState(StrEnum):
    WORKING = "WORKING"
    CANCELLING = "CANCELLING"  # a leg failed: waiting for the rest of the phase to finish
    UNWINDING = "UNWINDING"
    COMPLETED = "COMPLETED"  # every leg filled
    UNWOUND = "UNWOUND"  # failed, and everything that filled was reversed: flat again
    FAILED = "FAILED"  # failed and not (fully) reversed: strategy halted, critical alert
    UNKNOWN = "UNKNOWN"  # an order's broker state is unknown: strategy halted

    @property
    def is_final(self) -> bool:
        return self in (BasketState.COMPLETED, BasketState.UNWOUND, BasketState.FAILED)


@dataclass(slots=True)
class LegPlan:
    """One intent and the (client id, quantity) of each order it becomes after slicing."""

    intent: OrderIntent
    slices: list[tuple[str, int]]

    @property
    def parent_id(self) -> str | None:
        return self.intent.client_id if len(self.slices) > 1 else None


@dataclass(slots=True)
class BasketRun:
    basket_id: str
    is_exit: bool
    policy: ExecutionPolicy
    phases: list[list[LegPlan]]
    phase: int = 0
    state: BasketState = BasketState.WORKING
    resume_state: BasketState = BasketState.WORKING  # where UNKNOWN returns once resolved
    reason: str = ""
    unwind: list[list[LegPlan]] = field(default_factory=list)
    unwind_phase: int = 0
    sent: list[str] = field(default_factory=list)  # client ids placed, in order

    @property
    def strategy(self) -> str:
        return self.phases[0][0].intent.strategy


@dataclass(frozen=True, slots=True)
class LegStatus:
    leg: str
    role: LegRole
    contract: str
    side: Side
    quantity: int
    filled_qty: int
    client_ids: tuple[str, ...]
    states: tuple[OrderState | None, ...]  # None: not sent yet


@dataclass(frozen=True, slots=True)
class BasketStatus:
    basket_id: str
    strategy: str
    state: BasketState
    phase: int
    phases: int
    legs: tuple[LegStatus, ...]
    unwind_legs: tuple[LegStatus, ...]
    reason: str


Planner = Callable[[OrderIntent], LegPlan]


class BasketEngine:
    """Drives every basket of one order manager; fed with order updates by the router."""

    def __init__(self, om: OrderManager, plan: Planner, unwind_policy: ExecutionPolicy) -> None:
        self._om = om
        self._plan = plan
        self._unwind_policy = unwind_policy
        self.runs: dict[str, BasketRun] = {}
        # finished runs (which never change again) not saved yet: see Router.track_final
        self.final: SavedOnce[str, BasketRun] | None = None

    def start(self, run: BasketRun) -> None:
        self.runs[run.basket_id] = run
        if self.final is not None:
            self.final.added(run.basket_id)
        with self._om.batch():
            self._send(run, run.phases[0], run.policy)
        self.advance(run)
        if self.final is not None and run.state.is_final:  # it may have failed while sending
            self.final.unsaved[run.basket_id] = run

    def advance(self, run: BasketRun) -> None:
        """Re-evaluate ``run`` against the current order states (idempotent)."""
        was_final = run.state.is_final
        self._advance(run)
        if not was_final and run.state.is_final and self.final is not None:
            self.final.unsaved[run.basket_id] = run

    def _advance(self, run: BasketRun) -> None:
        om = self._om
        if run.state is BasketState.UNKNOWN:
            if any(om.is_unknown(c) for c in run.sent):
                return
            run.state = run.resume_state
        elif run.state.is_final:
            return
        if any(om.is_unknown(c) for c in run.sent):
            run.resume_state, run.state = run.state, BasketState.UNKNOWN
            om.alert("critical", f"basket {run.basket_id}: an order's broker state is unknown; parked")
            return
        if run.state is BasketState.WORKING:
            orders = [om.get(c) for c in self._ids(run.phases[run.phase])]
            failed = [o for o in orders if o is not None and o.state.is_terminal and o.state is not S.FILLED]
            if failed:
                o = failed[0]
                self._fail(run, f"leg {o.leg or o.contract.id} order {o.client_id} {o.state}: {o.reason}")
            elif all(o is not None and o.state is S.FILLED for o in orders):
                run.phase += 1
                if run.phase == len(run.phases):
                    run.state = BasketState.COMPLETED
                    return
                with om.batch():
                    self._send(run, run.phases[run.phase], run.policy)
                return
        if run.state is BasketState.CANCELLING and all(
            om.get(c).state.is_terminal  # type: ignore[union-attr]
            for c in run.sent
        ):
            self._after_failure(run)
        if run.state is BasketState.UNWINDING:
            self._advance_unwind(run)

    def status(self, basket_id: str) -> BasketStatus:
        run = self.runs[basket_id]
        legs = tuple(self._leg_status(p) for phase in run.phases for p in phase)
        unwind = tuple(self._leg_status(p) for phase in run.unwind for p in phase)
        return BasketStatus(
            run.basket_id, run.strategy, run.state, run.phase, len(run.phases), legs, unwind, run.reason
        )

    # --- internals ----------------------------------------------------------------------

    @staticmethod
    def _ids(phase: list[LegPlan]) -> list[str]:
        return [cid for plan in phase for cid, _ in plan.slices]

    def _send(self, run: BasketRun, phase: list[LegPlan], policy: ExecutionPolicy) -> None:
        for plan in phase:
            for cid, qty in plan.slices:
                try:
                    self._om.place(
                        plan.intent, policy, client_id=cid, quantity=qty,
                        parent_id=plan.parent_id, basket_id=run.basket_id,
                    )  # fmt: skip
                except ExecutionError as exc:
                    if run.state is BasketState.UNWINDING:
                        self._give_up(run, f"unwind order {cid} could not be placed: {exc}")
                    else:
                        self._fail(run, f"leg {plan.intent.leg or cid} could not be placed: {exc}")
                    return
                run.sent.append(cid)

    def _fail(self, run: BasketRun, reason: str) -> None:
        run.reason = reason
        run.state = BasketState.CANCELLING
        for cid in run.sent:
            self._om.cancel(cid, f"basket {run.basket_id} failed")

    def _after_failure(self, run: BasketRun) -> None:
        om = self._om
        net: dict[OptionContract, int] = {}
        source: dict[OptionContract, OrderIntent] = {}
        for plan in (p for phase in run.phases for p in phase):
            for cid, _ in plan.slices:
                o = om.get(cid)
                if o is not None and o.filled_qty:
                    net[o.contract] = net.get(o.contract, 0) + o.side.sign * o.filled_qty
                    source[o.contract] = plan.intent
        left = {c: q for c, q in net.items() if q}
        if run.is_exit:
            held = ", ".join(f"{c.id} {q:+d}" for c, q in sorted(left.items())) or "nothing"
            self._give_up(run, f"exit stopped ({run.reason}); filled so far: {held}")
            return
        if not left:
            run.state = BasketState.UNWOUND
            om.alert("warning", f"basket {run.basket_id} failed with nothing filled: {run.reason}")
            return
        buys = [self._unwind_plan(run, source[c], c, -q) for c, q in sorted(left.items()) if q < 0]
        sells = [self._unwind_plan(run, source[c], c, -q) for c, q in sorted(left.items()) if q > 0]
        run.unwind = [p for p in (buys, sells) if p]
        run.state = BasketState.UNWINDING
        om.alert("warning", f"basket {run.basket_id} failed ({run.reason}); unwinding")
        with om.batch():
            self._send(run, run.unwind[0], self._unwind_policy)

    def _unwind_plan(self, run: BasketRun, leg: OrderIntent, contract: OptionContract, signed: int) -> LegPlan:
        intent = OrderIntent(
            strategy=leg.strategy, tag=Tag.UNWIND, contract=contract,
            side=Side.BUY if signed > 0 else Side.SELL, quantity=abs(signed),
            order_type=OrderType.MARKET, product=leg.product,
            role=LegRole.MAIN if signed > 0 else LegRole.HEDGE,
            leg=f"unwind:{leg.leg or contract.id}", reason=f"unwind basket {run.basket_id}",
        )  # fmt: skip
        return self._plan(intent)

    def _advance_unwind(self, run: BasketRun) -> None:
        orders = [self._om.get(c) for c in self._ids(run.unwind[run.unwind_phase])]
        bad = [o for o in orders if o is not None and o.state.is_terminal and o.state is not S.FILLED]
        if bad:
            o = bad[0]
            self._give_up(run, f"unwind order {o.client_id} {o.state}: {o.reason} (after: {run.reason})")
        elif all(o is not None and o.state is S.FILLED for o in orders):
            run.unwind_phase += 1
            if run.unwind_phase == len(run.unwind):
                run.state = BasketState.UNWOUND
                return
            with self._om.batch():
                self._send(run, run.unwind[run.unwind_phase], self._unwind_policy)

    def _give_up(self, run: BasketRun, reason: str) -> None:
        run.state = BasketState.FAILED
        run.reason = reason
        self._om.halt(run.strategy, f"basket {run.basket_id}: {reason}")

    def _leg_status(self, plan: LegPlan) -> LegStatus:
        orders = [self._om.get(cid) for cid, _ in plan.slices]
        i = plan.intent
        return LegStatus(
            i.leg, i.role, i.contract.id, i.side, i.quantity,
            sum(o.filled_qty for o in orders if o is not None),
            tuple(cid for cid, _ in plan.slices),
            tuple(None if o is None else o.state for o in orders),
        )  # fmt: skip

    # --- state --------------------------------------------------------------------------

    def to_state(self) -> list[dict[str, Any]]:
        return [_run_to_dict(r) for r in self.runs.values()]

    def track_final(self, unsaved: bool = True) -> None:
        """Note finished runs not saved yet (core/saved_once.py); ``unsaved``: all finished so far."""
        self.final = SavedOnce(self.runs, _is_final, unsaved=unsaved)

    def final_state(self) -> list[list[Any]]:
        """The finished runs not saved yet, as ``[rank, run]``."""
        return [] if self.final is None else self.final.pending(_run_to_dict)

    def live_state(self) -> list[list[Any]]:
        """The runs still going, as ``[rank, run]`` (tracking must be on)."""
        if self.final is None:
            raise RuntimeError("finished basket runs are not tracked: call track_final() first")
        return self.final.ranked(((b, r) for b, r in self.runs.items() if not r.state.is_final), _run_to_dict)

    def load_state(self, state: list[dict[str, Any]]) -> None:
        self.runs = {d["basket_id"]: _run_from_dict(d) for d in state}
        if self.final is not None:
            self.track_final(unsaved=False)


def _is_final(run: BasketRun) -> bool:
    return run.state.is_final


def intent_to_dict(i: OrderIntent) -> dict[str, Any]:
    return {
        "strategy": i.strategy, "tag": i.tag.value, "contract": i.contract.id, "side": i.side.value,
        "quantity": i.quantity, "order_type": i.order_type.value, "limit_price": i.limit_price,
        "trigger_price": i.trigger_price, "product": i.product.value, "role": i.role.value,
        "leg": i.leg, "reason": i.reason, "client_id": i.client_id,
    }  # fmt: skip


def intent_from_dict(d: dict[str, Any]) -> OrderIntent:
    return OrderIntent(
        strategy=d["strategy"], tag=Tag(d["tag"]), contract=OptionContract.from_id(d["contract"]),
        side=Side(d["side"]), quantity=int(d["quantity"]), order_type=OrderType(d["order_type"]),
        limit_price=d["limit_price"], trigger_price=d["trigger_price"], product=Product(d["product"]),
        role=LegRole(d["role"]), leg=d["leg"], reason=d["reason"], client_id=d["client_id"],
    )  # fmt: skip


def _plans_to(phases: list[list[LegPlan]]) -> list[list[dict[str, Any]]]:
    return [[{"intent": intent_to_dict(p.intent), "slices": [list(s) for s in p.slices]} for p in ph] for ph in phases]


def _plans_from(raw: list[list[dict[str, Any]]]) -> list[list[LegPlan]]:
    return [[LegPlan(intent_from_dict(p["intent"]), [(c, int(q)) for c, q in p["slices"]]) for p in ph] for ph in raw]


def _run_to_dict(r: BasketRun) -> dict[str, Any]:
    return {
        "basket_id": r.basket_id, "is_exit": r.is_exit, "policy": r.policy.to_dict(),
        "phases": _plans_to(r.phases), "phase": r.phase, "state": r.state.value,
        "resume_state": r.resume_state.value, "reason": r.reason, "unwind": _plans_to(r.unwind),
        "unwind_phase": r.unwind_phase, "sent": list(r.sent),
    }  # fmt: skip


def _run_from_dict(d: dict[str, Any]) -> BasketRun:
    return BasketRun(
        basket_id=d["basket_id"], is_exit=d["is_exit"], policy=ExecutionPolicy.from_dict(d["policy"]),
        phases=_plans_from(d["phases"]), phase=d["phase"], state=BasketState(d["state"]),
        resume_state=BasketState(d["resume_state"]), reason=d["reason"],
        unwind=_plans_from(d["unwind"]), unwind_phase=d["unwind_phase"], sent=list(d["sent"]),
    )  # fmt: skip
