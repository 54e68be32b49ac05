"""The router: the front door for intents. Slices above-freeze orders and works baskets.

It sits on the order manager (which owns ids, the state machine, the journal and the
broker's rate limit) and listens to its order updates to move baskets along. It never
sleeps or waits: each phase of a basket is sent from the update that completes the one
before, inside the kernel's single-threaded loop.
"""

from __future__ import annotations

from typing import Any

from optrunner.core.events import AlertEvent, FillEvent, OrderUpdateEvent
from optrunner.core.orders import Basket, Order, OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.execution.baskets import BasketEngine, BasketRun, BasketStatus, LegPlan
from optrunner.execution.ids import ClientIds
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy
from optrunner.execution.slicing import slices_for
from optrunner.execution.states import InvalidOrder

#: Unwinds must get done: marketable with a wide buffer, repriced on a short timer.
DEFAULT_UNWIND_POLICY = ExecutionPolicy(
    market_as_limit=True, price_limit_percent=5.0, timeout_seconds=15.0, on_timeout="reprice", max_reprices=5
)


class Router:
    def __init__(
        self,
        om: OrderManager,
        *,
        freeze_inclusive: bool = False,
        unwind_policy: ExecutionPolicy = DEFAULT_UNWIND_POLICY,
    ) -> None:
        self.om = om
        self.freeze_inclusive = freeze_inclusive
        self._children: dict[str, list[tuple[str, int]]] = {}
        self._baskets = BasketEngine(om, self._plan, unwind_policy)
        om.add_listener(self._on_event)

    # --- single orders --------------------------------------------------------------------

    def submit(self, intent: OrderIntent, policy: ExecutionPolicy | None = None) -> list[Order]:
        """Send ``intent``, sliced below the freeze limit when needed; returns its orders.

        Idempotent: submitting the same intent again (its ``client_id`` is now set) returns the
        same orders, resending only those the broker rejected before accepting them.
        """
        if intent.client_id is not None and intent.client_id in self._children:
            plan = LegPlan(intent, self._children[intent.client_id])
        elif intent.client_id is not None and self.om.get(intent.client_id) is not None:
            return [self.om.place(intent, policy)]
        else:
            self.om.check_allowed(intent)
            plan = self._plan(intent)
        if len(plan.slices) > 1:
            self._children[intent.client_id] = plan.slices  # type: ignore[index]
        with self.om.batch():
            return [
                self.om.place(intent, policy, client_id=cid, quantity=q, parent_id=plan.parent_id)
                for cid, q in plan.slices
            ]

    def children(self, parent_id: str) -> list[Order]:
        """The slices of a sliced order (or the order itself when it was not sliced)."""
        ids = [cid for cid, _ in self._children.get(parent_id, [(parent_id, 0)])]
        return [o for o in (self.om.get(c) for c in ids) if o is not None]

    # --- baskets ------------------------------------------------------------------------------

    def submit_basket(self, basket: Basket, policy: ExecutionPolicy | None = None) -> str:
        """Start ``basket``; returns its id. Every leg is validated and sliced before anything is sent."""
        if not basket.legs:
            raise InvalidOrder(f"basket {basket.name!r} has no legs")
        strategies = {leg.strategy for leg in basket.legs}
        if len(strategies) != 1:
            raise InvalidOrder(f"basket {basket.name!r} mixes strategies {sorted(strategies)}")
        for leg in basket.legs:
            self.om.check_allowed(leg)
        phases = [[self._plan(leg) for leg in phase] for phase in basket.ordered_phases()]
        basket_id = self.om.ids.next_basket(basket.strategy)
        run = BasketRun(basket_id, basket.is_exit, policy or self.om.default_policy, phases)
        self._baskets.start(run)
        return basket_id

    def basket(self, basket_id: str) -> BasketStatus:
        if basket_id not in self._baskets.runs:
            raise KeyError(f"no basket {basket_id!r}")
        return self._baskets.status(basket_id)

    def baskets(self) -> list[BasketStatus]:
        return [self._baskets.status(b) for b in self._baskets.runs]

    # --- internals --------------------------------------------------------------------------

    def _plan(self, intent: OrderIntent) -> LegPlan:
        """Slice ``intent`` and give it (and its slices) client ids."""
        if intent.client_id is not None:
            raise InvalidOrder(
                f"intent carries client id {intent.client_id}, which this router never issued or sent"
            )
        trade_date = to_ist(self.om.now()).date()
        qtys = slices_for(intent.contract, intent.quantity, trade_date, freeze_inclusive=self.freeze_inclusive)
        parent = intent.client_id = self.om.ids.next(intent.strategy)
        if len(qtys) == 1:
            return LegPlan(intent, [(parent, qtys[0])])
        return LegPlan(intent, [(ClientIds.slice_id(parent, k), q) for k, q in enumerate(qtys, 1)])

    def _on_event(self, event: OrderUpdateEvent | FillEvent | AlertEvent) -> None:
        if isinstance(event, OrderUpdateEvent) and event.order.basket_id is not None:
            run = self._baskets.runs.get(event.order.basket_id)
            if run is not None:
                self._baskets.advance(run)

    def to_state(self, baskets: bool = True) -> dict[str, Any]:
        """Slices and basket runs as plain JSON types (without ``baskets``: no runs)."""
        return {
            "children": {p: [list(s) for s in sl] for p, sl in self._children.items()},
            "baskets": self._baskets.to_state() if baskets else [],
        }

    # Finished basket runs never change again: saved once each for an incremental
    # checkpoint, like finished orders (core/saved_once.py, live/recovery.py).

    def track_final(self, unsaved: bool = True) -> None:
        """Note finished basket runs not saved yet; ``unsaved``: every run finished so far."""
        self._baskets.track_final(unsaved)

    def final_state(self) -> list[list[Any]]:
        """Finished basket runs not saved yet, as ``[rank, run]``."""
        return self._baskets.final_state()

    def final_saved(self) -> None:
        if self._baskets.final is not None:
            self._baskets.final.saved()

    def live_state(self) -> dict[str, Any]:
        """:meth:`to_state` with only the runs still going, as ``[rank, run]``."""
        state = self.to_state(baskets=False)
        state["baskets"] = self._baskets.live_state()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore after a restart (the order manager first, then this)."""
        self._children = {p: [(c, int(q)) for c, q in sl] for p, sl in state["children"].items()}
        self._baskets.load_state(state["baskets"])
