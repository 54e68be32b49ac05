"""A closed-form chain and a tiny fill loop for driving DNSS by hand.

Chain model (zero rates): CE delta = 1 / (1 + exp((K - S) / w)), CE price = w * ln(1 + exp((S - K) / w))
(its integral, so delta really is the price's slope), PE = CE - (S - K) by parity, PE delta = CE delta - 1.
Every strike and delta a test expects can be worked out from these two lines.
"""

from __future__ import annotations

import copy
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optrunner.config import validate_config
from optrunner.core.orders import Basket, Fill, Order, OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState
from optrunner.data.seed_db import write_seed_db
from optrunner.data.snapshot import ChainSnapshot

EXPIRY = date(2026, 11, 17)  # Tuesday weekly, NIFTY lot 65
DAY = date(2026, 11, 16)
STRIKES = np.arange(23500.0, 26501.0, 50.0)

BASE: dict[str, Any] = {
    "name": "T_DNSS", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "chain.sqlite"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "delta_tolerance": 0.05,
              "quantity": 1, "max_attempts": 2},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.30, "cooldown_seconds": 60,
                   "max_adjustments_per_day": 2, "max_leg_delta": 0.65},
    "exit": {"exit_time": "15:15", "stale_exit_seconds": 120},
}  # fmt: skip


def at(hh: int, mm: int, ss: int = 0, d: date = DAY) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, ss, tzinfo=IST)


def chain(ts: datetime, spot: float, w: float = 150.0, drop: set[tuple[float, str]] | None = None,
          expiry: date = EXPIRY, nan_delta: bool = False) -> ChainSnapshot:  # fmt: skip
    k = STRIKES
    x = (spot - k) / w
    ce_delta = 1.0 / (1.0 + np.exp(-x))
    ce = w * np.logaddexp(0.0, x)
    pe = ce - (spot - k)
    rows = []
    for i, strike in enumerate(k):
        for right, price, delta in (("CE", ce[i], ce_delta[i]), ("PE", pe[i], ce_delta[i] - 1.0)):
            if drop and (strike, right) in drop:
                continue
            p = round(max(price, 0.05) / 0.05) * 0.05
            rows.append(dict(strike=strike, expiry=expiry, option_type=right, ltp=p, bid=max(p - 0.05, 0.05),
                             ask=p + 0.05, delta=math.nan if nan_delta else delta, iv=0.12, gamma=1e-4,
                             theta=-1.0, vega=5.0))  # fmt: skip
    return ChainSnapshot.from_quotes("NIFTY", ts, spot, rows)


def ce_delta(spot: float, strike: float, w: float = 150.0) -> float:
    return 1.0 / (1.0 + math.exp((strike - spot) / w))


def make_config(tmp_path: Path, **overrides: Any):
    doc = copy.deepcopy(BASE)
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        doc.setdefault(section, {})[key] = value
    write_seed_db(tmp_path / "chain.sqlite", chain(at(9, 15), 25000.0))
    cfg, issues = validate_config(doc, tmp_path)
    assert not issues, issues
    return cfg


def legs_of(intents) -> list[OrderIntent]:
    out: list[OrderIntent] = []
    for i in intents:
        out.extend(i.legs if isinstance(i, Basket) else [i])
    return out


class Exchange:
    """Fills every leg in full at the snapshot's LTP (or rejects everything), feeding the strategy back."""

    def __init__(self) -> None:
        self.n = 0
        self.sent: list[OrderIntent] = []
        self.reject = False
        self.refuse: Any = None  # leg -> True to reject just that leg

    def run(self, strategy, intents, snapshot: ChainSnapshot) -> None:
        """Like the kernel: every leg of a batch is acknowledged before any of them fills."""
        batch = list(legs_of(intents))
        while batch:
            orders, follow = [], []
            for leg in batch:
                self.sent.append(leg)
                self.n += 1
                order = Order(f"{leg.strategy}-{self.n:06d}", leg.strategy, leg.tag, leg.contract, leg.side,
                              leg.quantity, created_ts=snapshot.ts, updated_ts=snapshot.ts, reason=leg.reason)  # fmt: skip
                order.state = OrderState.SUBMITTED
                follow += legs_of(strategy.on_order_update(copy.copy(order)))
                orders.append((leg, order))
            for leg, order in orders:
                if self.reject or (self.refuse is not None and self.refuse(leg)):
                    order.state = OrderState.REJECTED
                else:
                    q = snapshot.quote_for(leg.contract)
                    fill = Fill(f"F{order.client_id}", order.client_id, leg.strategy, leg.tag, leg.contract,
                                leg.side, leg.quantity, q.ltp, snapshot.ts, leg=leg.leg)  # fmt: skip
                    follow += legs_of(strategy.on_fill(fill))
                    order.state, order.filled_qty, order.avg_price = OrderState.FILLED, leg.quantity, q.ltp
                follow += legs_of(strategy.on_order_update(order))
            batch = follow

    def step(self, strategy, snapshot: ChainSnapshot) -> list[OrderIntent]:
        """Deliver a snapshot, execute what it asks for, return the legs sent."""
        before = len(self.sent)
        self.run(strategy, strategy.on_chain(snapshot), snapshot)
        return self.sent[before:]
