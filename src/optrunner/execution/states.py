"""The order state machine: the one table of legal transitions, and the errors of execution.

The table is explicit so that an impossible answer from a broker (a fill on a cancelled
order, an ack for an order we never sent) stops the kernel loudly instead of being folded
into some state. Self-loops record an action or a partial fill without a state change
(a cancel or modify request, a further partial fill) so the journal sees every one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optrunner.core.types import OrderState, OrderType
from optrunner.instruments.specs import get_index

if TYPE_CHECKING:
    from optrunner.core.orders import Order, OrderIntent

S = OrderState

#: from-state -> the states it may move to.
LEGAL_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    # NEW: created, not at the broker. REJECTED/CANCELLED here are local (no quote to price
    # a marketable limit, resends exhausted, cancelled while waiting for a rate-limit token).
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELLED}),
    # SUBMITTED -> NEW: the broker answered "rate limited" or the request never reached it;
    # the order waits to be resent under the same client id.
    S.SUBMITTED: frozenset({S.SUBMITTED, S.ACCEPTED, S.REJECTED, S.NEW}),
    S.ACCEPTED: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
    # A rejection before acknowledgement does not consume the client id: a retry reopens it.
    S.REJECTED: frozenset({S.NEW}),
}


class ExecutionError(Exception):
    """Base class of order-manager and router errors."""


class IllegalTransition(ExecutionError):
    def __init__(self, client_id: str, from_state: OrderState, to_state: OrderState, why: str) -> None:
        super().__init__(f"order {client_id}: illegal transition {from_state} -> {to_state} ({why})")
        self.client_id = client_id
        self.from_state = from_state
        self.to_state = to_state


class OverfillError(ExecutionError):
    """A fill would take an order above its quantity: the broker and we disagree. Never absorbed."""


class InvalidOrder(ExecutionError, ValueError):
    """The intent cannot become an order (bad quantity, missing price, unknown instrument...)."""


class StrategyHalted(ExecutionError):
    """The strategy is halted (unknown broker state, failed unwind): only exits may be sent."""


def check_transition(order: Order, to_state: OrderState, why: str) -> None:
    """Raise :class:`IllegalTransition` unless ``order`` may move to ``to_state``."""
    if to_state not in LEGAL_TRANSITIONS[order.state]:
        raise IllegalTransition(order.client_id, order.state, to_state, why)


def validate_intent(intent: OrderIntent, qty: int) -> None:
    """Every problem of an intent at once (InvalidOrder), before it costs a client id."""
    problems = []
    if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
        problems.append(f"quantity must be a positive integer number of units, got {qty!r}")
    t = intent.order_type
    if t in (OrderType.LIMIT, OrderType.SL) and not (intent.limit_price and intent.limit_price > 0):
        problems.append(f"{t} needs a limit_price > 0, got {intent.limit_price!r}")
    if t in (OrderType.SL, OrderType.SL_M) and not (intent.trigger_price and intent.trigger_price > 0):
        problems.append(f"{t} needs a trigger_price > 0, got {intent.trigger_price!r}")
    try:
        get_index(intent.contract.underlying)
    except KeyError as exc:
        problems.append(str(exc.args[0]))
    if problems:
        what = f"{intent.strategy}/{intent.leg or intent.contract.id}"
        raise InvalidOrder(f"intent {what}: " + "; ".join(problems))
