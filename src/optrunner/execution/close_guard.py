"""Close-only guard: an exit may shrink a position, never open or flip one.

Issue 11, defect 1: one leg of an entry basket was rejected, the router unwound the filled
leg (UNWIND) *and* the strategy sent its own exit for the same leg; both filled and the
strategy was left long, unhedged, overnight. A leg has one close owner at a time:

* the router's unwind owns closing the filled legs of a failed basket;
* anything else that asks to close (a strategy's EXIT / ADJUST_EXIT, the kernel's flatten)
  is measured against the position *net of what working orders are already closing*, and
  only that remainder may go. An exit asking for more is trimmed; one with nothing left to
  close is refused with reason ``ALREADY_CLOSING`` (a REJECTED record the strategy hears,
  after it has heard of the working close that owns the leg).

Kept out of the risk engine on purpose: risk decides whether a trade is allowed, this decides
how much of a close is still needed, and it must hold even when risk is bypassed (flatten).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from optrunner.core.orders import OrderIntent
from optrunner.instruments.contracts import OptionContract

ALREADY_CLOSING = "ALREADY_CLOSING"
NOTHING_TO_CLOSE = "NOTHING_TO_CLOSE"


def closing_qty(om: Any, strategy: str, contract: OptionContract, held: int) -> int:
    """Units of ``held`` (signed) that ``strategy``'s working orders on ``contract`` would close."""
    if held == 0:
        return 0
    sign = 1 if held > 0 else -1
    total = 0
    for o in om.open_orders(strategy):
        if o.contract == contract and o.side.sign == -sign:
            total += o.quantity - o.filled_qty
    return total


def guard_exit(leg: OrderIntent, portfolio: Any, om: Any) -> tuple[OrderIntent | None, str]:
    """``(leg to send, "")`` — ``leg`` itself or trimmed — or ``(None, reason)`` to refuse it.

    Applies to exit-tagged legs only; entries are the risk engine's business. The position is
    the portfolio's plus fills the order manager has journaled but not yet published: a
    strategy reacting to one answer of a batch must not close again what a later one closed."""
    if not leg.tag.is_exit:
        return leg, ""
    pos = portfolio.position(leg.strategy, leg.contract)
    held = (0 if pos is None else pos.quantity) + om.unpublished_qty(leg.strategy, leg.contract)
    if held == 0 or (held > 0) == (leg.side.sign > 0):
        return None, (
            f"{NOTHING_TO_CLOSE}: {leg.tag} {leg.side} {leg.quantity} {leg.contract.id} "
            f"would open a position (held {held:+d})"
        )
    left = abs(held) - closing_qty(om, leg.strategy, leg.contract, held)
    if left <= 0:
        return None, (
            f"{ALREADY_CLOSING}: {leg.contract.id} position {held:+d} is already being closed "
            "by working orders (one close owner per leg)"
        )
    if leg.quantity > left:
        return replace(leg, quantity=left), ""
    return leg, ""
