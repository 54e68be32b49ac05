"""Invariants every session must end with, whatever faults it met (issue 11).

Checked at the end of every backtest and ``optrunner run`` (reported in ``summary.json`` and on
the console) and by the reliability tests, after every simulated day:

* ``duplicate_client_id`` — no client id accepted twice by the broker;
* ``fill_without_order`` — every execution the broker made belongs to an order we created;
* ``position_unexplained`` — every position equals its orders' fills + expiry settlements +
  reconciliation adjustments (nothing booked twice, nothing booked from nowhere);
* ``rejection_without_reason`` — every REJECTED order says why;
* ``unintended_position`` — no strategy holds what it does not mean to: a halted strategy
  under the ``flatten`` policy holds nothing tradable, and a strategy that can say what it
  holds (``intended_positions()``, or DNSS's leg book) holds exactly that — e.g. never the
  lone short leg of a strangle.

Duck-typed on the kernel so ``core`` imports nothing above it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from optrunner.core.types import OrderState


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def check_invariants(kernel: Any, *, today: date | None = None) -> list[Violation]:
    """Every violation of the rules above in ``kernel`` (and its broker), sorted; [] when all hold.

    ``today``: positions in contracts expiring before it are left to settlement."""
    out: list[Violation] = []
    om, broker, pf = kernel.om, kernel.broker, kernel.portfolio
    accepted = getattr(broker, "accepted", None)
    if accepted:
        out += [Violation("duplicate_client_id", f"{cid} accepted {n} times") for cid, n in accepted.items() if n > 1]
    executions = getattr(broker, "executions", None)
    if executions is None and callable(getattr(broker, "trades", None)):
        executions = broker.trades()
    for e in executions or ():
        if getattr(e, "contract", None) is None and om.get(e.client_id) is None:  # settlements carry a contract
            out.append(Violation("fill_without_order", f"execution {e.exec_id} of unknown order {e.client_id}"))
    out += _unexplained(kernel)
    for o in om.orders():
        if o.state is OrderState.REJECTED and not (o.reason or "").strip():
            out.append(Violation("rejection_without_reason", f"order {o.client_id} ({o.strategy}) was rejected silently"))
    out += _unintended(kernel, pf, today)
    return sorted(out, key=lambda v: (v.rule, v.detail))


def _unexplained(kernel: Any) -> list[Violation]:
    expected: Counter[tuple[str, str]] = Counter()
    for o in kernel.om.orders():
        if o.filled_qty:
            expected[(o.strategy, o.contract.id)] += o.side.sign * o.filled_qty
    rec = getattr(kernel, "reconciler", None)
    if rec is not None:
        for source in (rec.settled, rec.adjusted):
            for key, q in source.items():
                expected[key] += q
    held = {(p.strategy, p.contract.id): p.quantity for p in kernel.portfolio.positions(open_only=False)}
    out = []
    for key in sorted(expected.keys() | held.keys()):
        if expected.get(key, 0) != held.get(key, 0):
            out.append(Violation("position_unexplained", f"{key[0]} {key[1]}: book {held.get(key, 0):+d}, "
                                 f"fills+settlements+adjustments {expected.get(key, 0):+d}"))  # fmt: skip
    return out


def _unintended(kernel: Any, pf: Any, today: date | None) -> list[Violation]:
    out = []
    safety = getattr(kernel, "safety", None)
    flatten = safety is None or safety.policy == "flatten"
    halted = set(kernel.om.halted()) | set(kernel.runner.get_status()["halted"])
    for name in sorted({p.strategy for p in pf.positions()} | set(getattr(kernel, "strategies", {}))):
        held = {p.contract.id: p.quantity for p in pf.positions(name) if today is None or p.contract.expiry >= today}
        if name in halted:
            if held and flatten:
                out.append(Violation("unintended_position", f"{name} is halted but holds {_fmt(held)}"))
            continue
        intended = _intended(getattr(kernel, "strategies", {}).get(name))
        if intended is not None and held != intended:
            out.append(Violation("unintended_position", f"{name} holds {_fmt(held)} but means {_fmt(intended)}"))
    return out


def _intended(strategy: Any) -> dict[str, int] | None:
    """What ``strategy`` says it holds (contract id -> signed units), or None if it cannot say."""
    if strategy is None:
        return None
    fn = getattr(strategy, "intended_positions", None)
    if callable(fn):
        return {c: q for c, q in fn().items() if q}
    book = getattr(strategy, "book", None)
    legs = getattr(book, "legs", None)
    if isinstance(legs, dict):  # DNSS: short legs, qty counts units sold
        return {leg.contract.id: -leg.qty for leg in legs.values() if leg.qty}
    return None


def _fmt(held: dict[str, int]) -> str:
    return ", ".join(f"{c} {q:+d}" for c, q in sorted(held.items())) or "nothing"
