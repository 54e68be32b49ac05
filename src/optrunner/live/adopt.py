"""Before a live session trades: our book against the broker's, and ``--adopt``.

``optrunner serve --live`` reads the broker's net positions and order book once its node is
built (fresh, or recovered from the store) and compares them, contract by contract, with the
book — only contracts of the underlyings our strategies trade (an account may hold others).

* They agree: the session starts.
* They differ and ``--adopt`` was not given: the session refuses to go live (fail closed) and
  says which contracts differ, by how much, and to use ``--adopt``.
* ``--adopt``: each differing position is booked into one strategy, deliberately — the
  strategy whose orders (by our client id, carried in the broker's tag field) made the fills on
  that contract, when the broker's order book shows exactly one; else the one held in the book;
  else the strategy named by ``--adopt-strategy``; else it refuses, naming the contract. The
  adoption is recorded (journal kind ``reconciliation``), alerted and checkpointed, so a
  restart resumes with it instead of adopting again.
* The broker's books cannot be read, or do not parse: the session refuses to go live.

Fills of our own orders the book has not applied yet (answers lost in a crash; the restart's
reconciliation reads them from the trade book at the first input) explain a difference: they
are not adopted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from optrunner.core.errors import RunFailed, UserError
from optrunner.core.timeutil import IST
from optrunner.core.types import Side
from optrunner.execution.ids import strategy_of
from optrunner.instruments.contracts import OptionContract


@dataclass(frozen=True, slots=True)
class StartDifference:
    """One contract whose net position differs between our book and the broker's."""

    contract: OptionContract
    book: int
    broker: int

    def __str__(self) -> str:
        return f"{self.contract.id}: book {self.book:+d}, broker {self.broker:+d}"


def start_differences(kernel: Any) -> tuple[list[StartDifference], list[Any], dict[OptionContract, float]]:
    """(differences, the broker's order book, the broker's average price per contract).
    Raises :class:`RunFailed` when the broker's books cannot be read or do not parse."""
    b = kernel.broker
    try:
        positions, orders = b.positions(), b.orders()
    except Exception as exc:
        raise RunFailed(f"cannot read {b.name}'s positions and orders to reconcile at start "
                        f"({type(exc).__name__}: {exc}): not going live") from None  # fmt: skip
    unders = set(kernel.reconciler.underlyings().values())
    ours = lambda c: not unders or c.underlying in unders  # noqa: E731
    book: dict[OptionContract, int] = {}
    for p in kernel.portfolio.positions():
        book[p.contract] = book.get(p.contract, 0) + p.quantity
    for st in orders:  # fills of our orders the book has not applied yet are not differences
        o = kernel.om.get(st.client_id)
        if o is not None and st.filled_qty > o.filled_qty:
            sign = 1 if o.side is Side.BUY else -1
            book[o.contract] = book.get(o.contract, 0) + sign * (st.filled_qty - o.filled_qty)
    venue: dict[OptionContract, int] = {}
    prices: dict[OptionContract, float] = {}
    for p in positions:
        if ours(p.contract):
            venue[p.contract] = venue.get(p.contract, 0) + p.quantity
            if p.avg_price:
                prices[p.contract] = p.avg_price
    diffs = [StartDifference(c, book.get(c, 0), venue.get(c, 0)) for c in sorted(book.keys() | venue.keys(), key=lambda c: c.id)
             if book.get(c, 0) != venue.get(c, 0) and ours(c)]  # fmt: skip
    return diffs, orders, prices


def owner_of(contract: OptionContract, orders: list[Any], kernel: Any, strategies: set[str]) -> str | None:
    """The one strategy of ours whose orders filled on ``contract`` at the broker (by client id),
    or the one holding it in the book; None when none or several could be, or when someone else's
    order (by hand: no tag of ours) filled on it too."""
    names: set[str] = set()
    for st in orders:
        if st.contract != contract or not st.filled_qty:
            continue
        o = kernel.om.get(st.client_id)
        name = o.strategy if o is not None else strategy_of(st.client_id)
        if name not in strategies:
            return None  # a fill nobody of ours made: the position is not one strategy's to claim
        names.add(name)
    if not names:
        names = {p.strategy for p in kernel.portfolio.positions() if p.contract == contract and p.quantity}
    return names.pop() if len(names) == 1 else None


def reconcile_at_start(node: Any, *, adopt: bool, adopt_strategy: str | None, day: date | None) -> list[str]:
    """Compare, then refuse or adopt (see the module docstring). Returns the lines to print
    (empty when the books agree). ``day``: the replayed day (None for a live feed), which dates
    an adoption made before the session's first input."""
    k = node.kernel
    strategies = set(k.runner.strategies())
    if adopt_strategy is not None and adopt_strategy not in strategies:
        raise UserError(f"--adopt-strategy {adopt_strategy!r} is not a loaded strategy ({', '.join(sorted(strategies)) or 'none'})")
    diffs, orders, prices = start_differences(k)
    if not diffs:
        return []
    listed = "\n".join(f"  {d}" for d in diffs)
    name = k.broker.name
    if not adopt:
        raise UserError(f"our book differs from {name}'s at start:\n{listed}\nnot going live. If the broker's positions "
                        "are right, start again with --adopt to take them into the book (with --adopt-strategy NAME "
                        "for positions no order of ours explains); otherwise fix them at the broker first.")  # fmt: skip
    plan, refused = [], []
    for d in diffs:
        owner = owner_of(d.contract, orders, k, strategies) or adopt_strategy
        if owner is None:
            refused.append(f"  {d}: no order of ours explains it")
            continue
        plan.append((owner, d.contract, d.broker - d.book, prices.get(d.contract) or _order_price(d.contract, orders)))
    if refused:
        raise UserError(f"--adopt: cannot tell which strategy {name}'s positions belong to:\n" + "\n".join(refused)
                        + "\nname one with --adopt-strategy NAME (nothing was adopted)")  # fmt: skip
    _date_the_start(k.clock, day)
    adopted = {c for _, c, _, _ in plan}
    k.reconciler.adopt_positions(plan, [st.client_id for st in orders if st.contract in adopted and k.om.get(st.client_id) is None])
    node.checkpoint()  # journaled: a restart resumes with the adopted positions
    return [f"adopted from {name}: {owner} {c.id} {q:+d} @ {px:g}" for owner, c, q, px in plan]


def _order_price(contract: OptionContract, orders: list[Any]) -> float:
    """The average fill price of the broker's orders on ``contract`` (0.0 when none filled)."""
    filled = [(st.filled_qty, st.avg_price) for st in orders if st.contract == contract and st.filled_qty]
    qty = sum(q for q, _ in filled)
    return round(sum(q * p for q, p in filled) / qty, 4) if qty else 0.0


def _date_the_start(clock: Any, day: date | None) -> None:
    """A fresh session's simulated clock has not moved yet: set it no later than the first
    input can be (the replayed day's 09:00 IST; for a live feed, today's 09:00 IST or now if
    earlier) so the adoption has a time."""
    try:
        clock.now()
    except RuntimeError:
        now = datetime.now(UTC)
        start = datetime.combine(day or now.astimezone(IST).date(), time(9, 0), IST)
        clock.advance(start if day is not None else min(now, start))


__all__ = ["StartDifference", "owner_of", "reconcile_at_start", "start_differences"]
