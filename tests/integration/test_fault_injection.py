"""10,000 intents through router -> order manager -> simulated exchange with faults on.

Mix: single orders, freeze-sliced orders and 2-leg hedged entry baskets, for 100 strategies,
against a moving NIFTY chain with limited displayed size. Faults: broker rejects, lost
answers (some never resolvable), injected partial fills and rate-limit bursts, plus the
order manager's own token bucket and resting-order timeouts.

What must hold (the platform's promise, "impossible to lose an order"):
* no client id is ever accepted twice by the exchange, and every execution the exchange
  made is known to the order manager, except for orders it has explicitly flagged unknown;
* no basket ever leaves an unhedged short (checked on the exchange's own fills, throughout);
* every order ends terminal, or flagged unknown with its strategy halted;
* every intent has exactly one outcome: the table sums to 10,000.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest

from optrunner.core.clock import SimClock
from optrunner.core.orders import Basket, OrderIntent
from optrunner.core.timeutil import ist
from optrunner.core.types import LegRole, OrderState, Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution import (
    BasketState,
    ExecutionPolicy,
    ExponentialBackoff,
    MemoryJournal,
    OrderManager,
    Router,
    StrategyHalted,
    TokenBucket,
)
from optrunner.execution.brokers import FaultConfig, FaultInjector, SimConfig, SimulatedExchange
from optrunner.instruments.contracts import OptionContract

pytestmark = pytest.mark.slow

S = OrderState
N_INTENTS = 10_000
EXPIRY = date(2026, 1, 13)
START = ist(date(2026, 1, 5), time(9, 30))
STEP = timedelta(milliseconds=250)
LOT = 65
# (strike, right, mid)
ROWS = [(24800.0, Right.PE, 50.0), (25000.0, Right.PE, 140.0), (25000.0, Right.CE, 150.0), (25200.0, Right.CE, 60.0)]
CONTRACTS = [OptionContract("NIFTY", EXPIRY, k, r) for k, r, _ in ROWS]
PAIRS = [(CONTRACTS[2], CONTRACTS[3]), (CONTRACTS[1], CONTRACTS[0])]  # (short main, long hedge)
SIZES = [np.nan, np.nan, 3250.0, 1300.0, 650.0, 130.0, 0.0]


def snapshot(ts: datetime, rng: random.Random) -> ChainSnapshot:
    mids = [round(m + rng.choice((-1, 0, 1)) * 0.5, 2) for _, _, m in ROWS]
    return ChainSnapshot.from_columns("NIFTY", ts, 25010.0, {
        "strike": [k for k, _, _ in ROWS], "right": [r.value for _, r, _ in ROWS], "expiry": [EXPIRY] * 4,
        "bid": [m - 0.5 for m in mids], "ask": [m + 0.5 for m in mids], "ltp": mids,
        "bid_qty": [rng.choice(SIZES) for _ in ROWS], "ask_qty": [rng.choice(SIZES) for _ in ROWS],
    })  # fmt: skip


class Run:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = SimClock(START)
        self.faults = FaultInjector(
            FaultConfig(
                reject_rate=0.03, timeout_rate=0.02, status_unknown_rate=0.1,
                partial_fill_rate=0.1, rate_limit_burst_rate=0.003, rate_limit_burst_seconds=0.5,
            ),
            seed,
        )  # fmt: skip
        self.exchange = SimulatedExchange(self.clock, SimConfig(latency_ms=0), self.faults)
        self.om = OrderManager(
            self.exchange, self.clock, journal=MemoryJournal(),
            default_policy=ExecutionPolicy(timeout_seconds=3.0, on_timeout="reprice", max_reprices=2),
            rate_limit=TokenBucket(rate=40.0, burst=20), backoff=ExponentialBackoff(initial=0.25, max_attempts=6),
            ack_query_seconds=1.0, ack_timeout_seconds=5.0,
        )  # fmt: skip
        self.router = Router(self.om)
        self.outcomes: list[tuple[str, object]] = []  # (kind, handle) per intent

    def step(self) -> None:
        self.clock.advance(self.clock.now() + STEP)
        snap = snapshot(self.clock.now(), self.rng)
        self.exchange.on_snapshot(snap)
        self.om.on_snapshot(snap)
        self.om.check_timers()

    def new_intent(self, k: int) -> None:
        rng = self.rng
        strategy = f"f{k % 100:03d}"
        roll = rng.random()
        try:
            if roll < 0.2:
                main, hedge = rng.choice(PAIRS)
                q = rng.randint(1, 40) * LOT  # up to 2,600 units: legs slice too
                basket = Basket([
                    OrderIntent(strategy, Tag.ENTRY, main, Side.SELL, q, leg="main"),
                    OrderIntent(strategy, Tag.ENTRY, hedge, Side.BUY, q, role=LegRole.HEDGE, leg="hedge"),
                ])  # fmt: skip
                self.outcomes.append(("basket", self.router.submit_basket(basket)))
            else:
                lots = rng.randint(28, 60) if roll < 0.4 else rng.randint(1, 10)
                i = OrderIntent(strategy, Tag.ENTRY, rng.choice(CONTRACTS), rng.choice(list(Side)), lots * LOT)
                self.outcomes.append(("order", self.router.submit(i)))
        except StrategyHalted:
            self.outcomes.append(("refused", None))
        self.om.drain()

    # --- checks ------------------------------------------------------------------------------

    def exchange_fills(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for e in self.exchange.executions:
            out[e.client_id] += e.quantity
        return out

    def assert_no_naked_short(self) -> None:
        """Per basket, from the exchange's fills: short main quantity never exceeds long hedge."""
        net: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for e in self.exchange.executions:
            o = self.om.get(e.client_id)
            if o is not None and o.basket_id is not None:
                net[o.basket_id][o.contract.id] += o.side.sign * e.quantity
        for basket_id, pos in net.items():
            short = sum(-q for q in pos.values() if q < 0)
            long = sum(q for q in pos.values() if q > 0)
            assert short <= long, f"basket {basket_id} is net short {short} against {long} long: {dict(pos)}"


def classify_orders(run: Run, orders) -> str:
    om = run.om
    if any(om.is_unknown(o.client_id) for o in orders):
        return "unknown: strategy halted"
    if all(o.state is S.FILLED for o in orders):
        return "filled"
    filled = sum(o.filled_qty for o in orders)
    worst = next(o for o in orders if o.state is not S.FILLED)
    return f"{'partly filled, then ' if filled else ''}{worst.state.value.lower()}"


def test_ten_thousand_intents_with_faults():
    run = Run(seed=20260105)
    for k in range(N_INTENTS):
        run.step()
        run.new_intent(k)
        if k % 500 == 0:
            run.assert_no_naked_short()
    for _ in range(int(timedelta(minutes=3) / STEP)):  # let every timer run out
        run.step()
    om, ex = run.om, run.exchange

    # 1. no duplicates at the exchange; every execution known, or its order flagged unknown
    assert max(ex.accepted.values()) == 1
    ex_fills = run.exchange_fills()
    unknown = {o.client_id for o in om.unknown_orders()}
    for cid, qty in ex_fills.items():
        o = om.get(cid)
        assert o is not None, f"the exchange executed {cid}, which the order manager never created"
        assert o.filled_qty == qty or cid in unknown, f"{cid}: exchange filled {qty}, OM knows {o.filled_qty}"
    executed_known = {c for c in ex_fills if c not in unknown}
    assert executed_known == {o.client_id for o in om.orders() if o.filled_qty} - unknown

    # 2. no basket ever leaves an unhedged short
    run.assert_no_naked_short()

    # 3. every order terminal, or unknown with its strategy halted
    for o in om.orders():
        assert o.state.is_terminal or (o.client_id in unknown and om.is_halted(o.strategy)), o

    # 4. one outcome per intent, summing to 10,000
    table: Counter[str] = Counter()
    for kind, handle in run.outcomes:
        if kind == "refused":
            table["refused: strategy halted"] += 1
        elif kind == "basket":
            st = run.router.basket(handle)
            table[f"basket {st.state.value.lower()}"] += 1
            if st.state is BasketState.FAILED:
                assert om.is_halted(st.strategy)
        else:
            table[("sliced " if len(handle) > 1 else "single ") + classify_orders(run, handle)] += 1
    by_state = Counter(("UNKNOWN" if o.client_id in unknown else o.state.value) for o in om.orders())
    print("\nintent outcomes:")
    for name, n in sorted(table.items()):
        print(f"  {name:<45} {n:>6}")
    print(f"  {'total':<45} {sum(table.values()):>6}")
    print("order states:", dict(sorted(by_state.items())), "of", len(om.orders()), "orders")
    print("faults injected:", dict(run.faults.injected), "| OM counters:", dict(om.counters))
    assert sum(table.values()) == N_INTENTS
    assert sum(by_state.values()) == len(om.orders())
    # the faults really happened and were absorbed
    assert table["single filled"] and table["sliced filled"] and table["basket completed"]
    assert table["basket unwound"] and any("rejected" in k for k in table)
    assert by_state["UNKNOWN"] > 0 and table["refused: strategy halted"] > 0
    assert om.counters["rate_limited"] > 0 and om.counters["status_queries"] > 0
    assert any("partly filled" in k for k in table)
