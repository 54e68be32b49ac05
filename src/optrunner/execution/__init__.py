"""Execution: the order manager (state machine, idempotent client ids, write-ahead journal),
the router (freeze-quantity slicing, fill-confirmed baskets with unwinding, rate limits) and
the brokers (protocol, simulated exchange, fault injection).
"""

from optrunner.execution.baskets import BasketState, BasketStatus, LegStatus
from optrunner.execution.ids import ClientIds
from optrunner.execution.journal import Journal, MemoryJournal, NullJournal, Transition
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy, marketable_limit_price
from optrunner.execution.rate_limit import ExponentialBackoff, TokenBucket
from optrunner.execution.router import DEFAULT_UNWIND_POLICY, Router
from optrunner.execution.slicing import slice_quantities, slices_for
from optrunner.execution.states import (
    LEGAL_TRANSITIONS,
    ExecutionError,
    IllegalTransition,
    InvalidOrder,
    OverfillError,
    StrategyHalted,
)

__all__ = [
    "DEFAULT_UNWIND_POLICY",
    "LEGAL_TRANSITIONS",
    "BasketState",
    "BasketStatus",
    "ClientIds",
    "ExecutionError",
    "ExecutionPolicy",
    "ExponentialBackoff",
    "IllegalTransition",
    "InvalidOrder",
    "Journal",
    "LegStatus",
    "MemoryJournal",
    "NullJournal",
    "OrderManager",
    "OverfillError",
    "Router",
    "StrategyHalted",
    "TokenBucket",
    "Transition",
    "marketable_limit_price",
    "slice_quantities",
    "slices_for",
]
