"""Position truth: the kernel's book checked against the venue's, and the venue wins.

Issue 11, defect 3: an order whose status the broker never reported had filled; at expiry the
settlement of a position our book did not hold raised out of ``Kernel.end_of_day`` and
stopped every strategy. A difference between our book and the venue's is not a crash, it is a
*reconciliation event*:

1. executions in the broker's trade book for orders we know but whose answers were lost are
   applied through the order manager (``OrderManager.adopt_trades``) — the same exec ids, so
   the same fills, prices and charges as if they had been read;
2. what still differs, position by position, is adopted from the venue: an adjustment is
   booked into the portfolio (at the position's last mark: the price of a fill we never
   saw is unknown, so no P&L is invented), recorded (``differences``, the ``record`` hook —
   the trading node journals it), alerted critically, and the strategy is halted and,
   by policy, flattened (safety.py);
3. orders the venue holds that we never created are recorded and alerted, and their
   strategy halted: a human must look.

A live broker keeps one book per *account* (``BrokerPosition.strategy`` is ""): a contract
whose net differs from the sum of our strategies' is alerted with both quantities and halts
the strategies holding it (else those trading its underlying), once while it stays the same;
it is adopted only where it is safe — the book claims more than the venue holds and one
strategy holds it — so a halt's flatten never opens a position. On a live venue a fill only
the trade book showed (``halt_on_lost_fills``) halts its strategy too, and a difference is
confirmed by a second read after the broker's latest order updates. Books that cannot be read
for a transient reason wait for the next run; books that do not parse halt every strategy.
Taking the broker's positions deliberately (``serve --adopt``) is :meth:`adopt_positions`,
driven by live/adopt.py.

Runs at the first input, after recovery, periodically in paper/live (``every_seconds``) and
at each session close (before the venue settles expiring contracts, so the settlement meets
a book that matches). A settlement that still does not match (a broker without position
snapshots) goes through :meth:`Reconciler.settlement_mismatch` instead of raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.core.types import Side, Tag
from optrunner.instruments.contracts import OptionContract

log = logging.getLogger(__name__)

Key = tuple[str, OptionContract]
ACCOUNT_DIFFERS = "the venue's account position differs from the sum of the strategies'"
AlertFn = Callable[[datetime, str, str, str], None]  # (ts, level, source, message)


@dataclass(frozen=True, slots=True)
class Difference:
    """One recorded disagreement and what was done about it."""

    ts: datetime
    when: str  # "start", "periodic", "after recovery", "end of day", "settlement"
    strategy: str
    contract: str  # contract id ("" for an order difference)
    book: int
    venue: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"ts": self.ts.isoformat(), "when": self.when, "strategy": self.strategy, "contract": self.contract,
                "book": self.book, "venue": self.venue, "detail": self.detail}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Difference:
        return cls(datetime.fromisoformat(d["ts"]), d["when"], d["strategy"], d["contract"], int(d["book"]),
                   int(d["venue"]), d["detail"])  # fmt: skip


def position_differences(book: dict[Key, int], venue: dict[Key, int]) -> list[tuple[Key, int, int]]:
    """``(key, book qty, venue qty)`` for every key where they differ, sorted. A venue without
    strategies (keys ``("", contract)``) is compared per contract against the book's sum."""
    if venue and all(s == "" for s, _ in venue):
        summed: dict[Key, int] = {}
        for (_, c), q in book.items():
            summed[("", c)] = summed.get(("", c), 0) + q
        book = summed
    out = []
    for key in book.keys() | venue.keys():
        b, v = book.get(key, 0), venue.get(key, 0)
        if b != v:
            out.append((key, b, v))
    out.sort(key=lambda t: (t[0][0], t[0][1].id))
    return out


class Reconciler:
    """Reconciles one kernel with its broker (see the module docstring)."""

    def __init__(self, kernel: Any, alert: AlertFn, *, every_seconds: float | None = None) -> None:
        if every_seconds is not None and every_seconds <= 0:
            raise ValueError(f"reconciliation interval must be > 0 seconds, got {every_seconds}")
        self._k = kernel
        self._alert = alert
        self.every = None if every_seconds is None else timedelta(seconds=every_seconds)
        self.last_run: datetime | None = None
        self.differences: list[Difference] = []
        self.adjusted: dict[tuple[str, str], int] = {}  # (strategy, contract id) -> signed units adopted
        self.settled: dict[tuple[str, str], int] = {}  # (strategy, contract id) -> signed units settled
        self.flagged_orders: set[str] = set()  # venue orders unknown to the book, reported once
        self.adopted_trades = 0
        self.runs = 0
        self.record: Callable[[Difference], None] | None = None
        self.wanted: str | None = None  # why a reconciliation is wanted at the end of the input
        self._account_seen: dict[str, tuple[int, int]] = {}  # contract id -> (book, venue) reported
        self._seq = 0
        self._warned = False

    @property
    def supported(self) -> bool:
        b = self._k.broker
        return all(callable(getattr(b, m, None)) for m in ("positions", "orders", "trades"))

    def request(self, when: str = "after a halt") -> None:
        """Reconcile at the end of the current input (a strategy was halted: an order's state
        is unknown, a basket failed... the venue's positions say what really happened)."""
        self.wanted = self.wanted or when

    def due(self, now: datetime) -> bool:
        return self.every is not None and (self.last_run is None or now - self.last_run >= self.every)

    def run(self, when: str) -> list[Difference]:
        """Reconcile now (the kernel must be between inputs); returns the new differences."""
        k = self._k
        now = k.clock.now()
        if not self.supported:
            if not self._warned:
                self._warned = True
                self._alert(now, "warning", "reconcile", f"broker {k.broker.name} cannot show its books: not reconciled")
            return []
        if k.om.restarting:  # the restart's adoption owns the gap; try again at the next input
            return []
        self.runs += 1
        self.last_run = now
        try:
            trades = k.broker.trades()
        except Exception as exc:
            self._unreadable(now, when, "trade book", exc)
            return []
        poll = getattr(k.broker, "poll", None)
        if callable(poll):  # a live venue: its order updates first (read after the trade book, so a
            poll()  # fill in it is one the updates could show; only what they still miss is "lost")
        k.om.drain()
        before = self._book()
        adopted = k.om.adopt_trades(trades)
        if adopted:
            k.om.drain()  # their fills reach the portfolio
            self._lost_fills(now, when, adopted, before)
        try:
            book, venue = self._book(), self._venue()
            diffs = position_differences(book, venue)
            if diffs and callable(poll):  # a live venue moves while we read it: confirm once, after
                poll()  # its latest updates, so a fill landing between two reads is no difference
                k.om.drain()
                book, venue = self._book(), self._venue()
                diffs = position_differences(book, venue)
            venue_orders = k.broker.orders()
        except Exception as exc:
            self._unreadable(now, when, "positions or order book", exc)
            return []
        found: list[Difference] = []
        halt: dict[str, None] = {}  # strategies to halt, in order
        seen, self._account_seen = self._account_seen, {}  # a difference that went away is reported anew
        for (strategy, contract), b, v in diffs:
            if strategy:
                self._adopt(strategy, contract, b, v, now)
                found.append(self._note(now, when, strategy, contract.id, b, v,
                                        f"position adopted from the venue: {b:+d} -> {v:+d}"))  # fmt: skip
                halt[strategy] = None
                continue
            self._account_seen[contract.id] = (b, v)
            if seen.get(contract.id) == (b, v):
                continue  # reported (and its strategies halted) already: not every interval again
            names = self.affected(contract)
            detail = ACCOUNT_DIFFERS
            holders = [(s, q) for (s, c), q in book.items() if c == contract and q]
            if len(holders) == 1 and (v == 0 or (v > 0) == (b > 0)) and abs(v) < abs(b):
                # the book claims more than the venue holds (closed by hand...): its holder's book
                # follows the venue, so a halt's flatten never sends what would open a new position
                self._adopt(holders[0][0], contract, b, v, now)
                detail += f"; {holders[0][0]}'s position reduced to the venue's"
            found.append(self._note(now, when, "", contract.id, b, v, detail, halted=names))
            halt.update(dict.fromkeys(names))
        known = k.om.get
        for st in venue_orders:
            if known(st.client_id) is None and st.client_id not in self.flagged_orders:
                self.flagged_orders.add(st.client_id)
                contract = st.contract
                names = self.affected(contract) if contract is not None and not st.strategy else []
                found.append(self._note(now, when, st.strategy, contract.id if contract else "", 0, st.filled_qty,
                                        f"venue order {st.client_id} ({st.state}) unknown to the book",
                                        halted=names))  # fmt: skip
                halt.update(dict.fromkeys([st.strategy] if st.strategy else names))
        if not halt and any(not d.strategy for d in found) and not self.scoped:
            halt.update(dict.fromkeys(p.strategy for p in k.portfolio.positions()))  # no owner: every holder
        for name in halt:
            k.safety.halt(name, f"reconciliation ({when}): book differs from the venue")
        self.wanted = None  # the halts above need no reconciliation of their own
        return found

    def affected(self, contract: OptionContract) -> list[str]:
        """Whose strategy an account-level difference in ``contract`` concerns: the strategies
        holding it; else those trading its underlying (a position opened by hand in a contract
        they may trade next); else none (reported, nobody's to halt)."""
        k = self._k
        holders = sorted({p.strategy for p in k.portfolio.positions() if p.contract == contract and p.quantity})
        if holders:
            return holders
        return sorted(n for n, u in self.underlyings().items() if u == contract.underlying)

    @property
    def scoped(self) -> bool:
        """True when the strategies' underlyings are known (differences are then attributed)."""
        return bool(self.underlyings())

    def adopt_positions(self, assignments: list[tuple[str, OptionContract, int, float]], orders: Iterable[str] = (),
                        when: str = "start (adopted)") -> list[Difference]:  # fmt: skip
        """``--adopt``: book the venue's positions deliberately — ``(strategy, contract, signed
        units to add, price)`` each — recorded (journaled by the node) and alerted, no halt.
        ``orders``: the venue's orders (client ids) that made them, known from now on (not
        reported as unknown to the book)."""
        self.flagged_orders.update(orders)
        now = self._k.clock.now()
        found = []
        for strategy, contract, delta, price in assignments:
            pos = self._k.portfolio.position(strategy, contract)
            b = 0 if pos is None else pos.quantity
            self._adopt(strategy, contract, b, b + delta, now, price=price)
            found.append(self._note(now, when, strategy, contract.id, b, b + delta,
                                    f"adopted from the venue at {price:g} (--adopt)", level="warning"))  # fmt: skip
        return found

    def _book(self) -> dict[Key, int]:
        return {(p.strategy, p.contract): p.quantity for p in self._k.portfolio.positions()}

    def _venue(self) -> dict[Key, int]:
        """The venue's non-zero positions in the underlyings our strategies trade (an account
        may also hold others: not ours to reconcile)."""
        unders = set(self.underlyings().values())
        return {(p.strategy, p.contract): p.quantity for p in self._k.broker.positions()
                if p.quantity and (not unders or p.contract.underlying in unders)}  # fmt: skip

    def underlyings(self) -> dict[str, str]:
        """strategy -> the underlying it trades (from its config; none for a bare kernel)."""
        out = {}
        for name, cfg in self._k.runner.configs().items():
            symbol = getattr(getattr(cfg, "market_config", None), "symbol", None)
            if isinstance(symbol, str):
                out[name] = symbol
        return out

    def _lost_fills(self, now: datetime, when: str, exec_ids: list[str], before: dict[Key, int]) -> None:
        """Executions only the trade book showed were applied: alerted per position they moved.
        A live venue (``halt_on_lost_fills``) also halts the strategy — its order updates missed
        a fill, and it may have acted as if unfilled (re-priced, resent) meanwhile — except
        after a recovery, where the crash lost them."""
        after = self._book()
        self.adopted_trades += len(exec_ids)
        moved = [(key, before.get(key, 0), after.get(key, 0)) for key in after.keys() | before.keys()
                 if before.get(key, 0) != after.get(key, 0)]  # fmt: skip
        moved.sort(key=lambda t: (t[0][0], t[0][1].id))
        if not getattr(self._k.broker, "halt_on_lost_fills", False) or when == "after recovery":
            # (after a restart, answers lost in the crash are expected: recovery reads them so)
            parts = "; ".join(f"{s} {c.id}: book {b:+d}, venue {v:+d}" for (s, c), b, v in moved)
            self._alert(now, "warning", "reconcile", f"{when}: {len(exec_ids)} execution(s) read from the trade book ({parts})")
            return
        for (strategy, contract), b, v in moved:
            self._note(now, when, strategy, contract.id, b, v, "fill missed by the order updates, read from the trade book")
        for strategy in sorted({s for (s, _), _, _ in moved}):
            self._k.safety.halt(strategy, f"reconciliation ({when}): a fill was missed")

    def _unreadable(self, now: datetime, when: str, what: str, exc: Exception) -> None:
        """The venue's books could not be read. A transient failure (timeout, 5xx, 429) waits
        for the next reconciliation (not the next input: a broker that is down would stall
        every input on its timeouts); anything else — an answer that does not parse — fails
        closed: every strategy is halted, since nobody can tell whose book is wrong."""
        if getattr(exc, "transient", False):
            self.wanted = None
            self._alert(now, "warning", "reconcile",
                        f"{when}: the venue's {what} could not be read ({exc}); tried again at the next reconciliation")  # fmt: skip
            return
        self._alert(now, "critical", "reconcile",
                    f"{when}: the venue's {what} did not parse ({type(exc).__name__}: {exc}): every strategy halted")  # fmt: skip
        names = set(self._k.runner.strategies()) | {p.strategy for p in self._k.portfolio.positions()}
        for name in sorted(names | {o.strategy for o in self._k.om.open_orders()}):
            self._k.safety.halt(name, f"reconciliation ({when}): the venue's books are unreadable")
        self.wanted = None

    def note_settlement(self, fill: Fill) -> None:
        """Count a booked settlement (the invariants explain positions by fills + settlements)."""
        key = (fill.strategy, fill.contract.id)
        self.settled[key] = self.settled.get(key, 0) + fill.signed_quantity

    def settlement_mismatch(self, fill: Fill, problem: str) -> None:
        """A settlement for a position the book does not hold as the venue did: adopt the
        venue's position before settlement, then book the settlement; record, alert, halt."""
        k = self._k
        pos = k.portfolio.position(fill.strategy, fill.contract)
        b = 0 if pos is None else pos.quantity
        v = fill.quantity if fill.side is Side.SELL else -fill.quantity  # what the settlement closes
        self._adopt(fill.strategy, fill.contract, b, v, fill.ts, price=fill.price)
        self._note(fill.ts, "settlement", fill.strategy, fill.contract.id, b, v, f"settled as the venue held it ({problem})")
        k.safety.halt(fill.strategy, f"settlement of {fill.contract.id} did not match the book")

    # --- internals -----------------------------------------------------------------------------

    def _adopt(self, strategy: str, contract: OptionContract, book: int, venue: int, ts: datetime,
               price: float | None = None) -> None:  # fmt: skip
        """Book ``venue - book`` units so the portfolio holds what the venue does."""
        k = self._k
        delta = venue - book
        pos = k.portfolio.position(strategy, contract)
        if price is None:
            price = 0.0 if pos is None else (pos.mark_price if pos.mark_price is not None else pos.avg_price)
        self._seq += 1
        side = Side.BUY if delta > 0 else Side.SELL
        tag = Tag.EXIT if book and abs(venue) < abs(book) and (venue == 0 or (venue > 0) == (book > 0)) else Tag.ENTRY
        fill = Fill(f"recon-{to_id(ts)}-{self._seq}", "", strategy, tag, contract, side, abs(delta), float(price), ts,
                    ChargeBreakdown(), "reconciliation")  # fmt: skip
        k.book_fill(fill)
        key = (strategy, contract.id)
        self.adjusted[key] = self.adjusted.get(key, 0) + delta

    def _note(self, ts: datetime, when: str, strategy: str, contract: str, book: int, venue: int,
              detail: str, *, halted: list[str] | None = None, level: str = "critical") -> Difference:  # fmt: skip
        d = Difference(ts, when, strategy, contract, book, venue, detail)
        self.differences.append(d)
        where = f"{strategy or 'account'} {contract}".strip()
        who = f" (halted: {', '.join(halted)})" if halted else ""
        self._alert(ts, level, "reconcile", f"{when}: {where}: book {book:+d}, venue {venue:+d}: {detail}{who}")
        if self.record is not None:
            self.record(d)
        return d

    # --- state -------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """What was found and adopted. When it last ran is left out on purpose: a restart
        reconciles again anyway, and a resumed session must end like an uninterrupted one."""
        return {
            "differences": [d.to_dict() for d in self.differences],
            "adjusted": [[s, c, q] for (s, c), q in self.adjusted.items()],
            "settled": [[s, c, q] for (s, c), q in self.settled.items()],
            "flagged_orders": sorted(self.flagged_orders),
            "adopted_trades": self.adopted_trades, "seq": self._seq,
        }  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        self.differences = [Difference.from_dict(d) for d in state["differences"]]
        self.adjusted = {(s, c): int(q) for s, c, q in state["adjusted"]}
        self.settled = {(s, c): int(q) for s, c, q in state["settled"]}
        self.flagged_orders = set(state["flagged_orders"])
        self.adopted_trades, self._seq = int(state["adopted_trades"]), int(state["seq"])


def to_id(ts: datetime) -> str:
    return f"{ts:%Y%m%d%H%M%S}"
