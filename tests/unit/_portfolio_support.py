"""Builders shared by the portfolio tests: contracts, fills and small chain snapshots."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time

from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.core.timeutil import ist
from optrunner.core.types import Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract

EXPIRY = date(2026, 11, 17)  # a NIFTY weekly (Tuesday)
DAY = date(2026, 11, 2)
NAN = float("nan")
_ids = itertools.count(1)


def nifty(strike: float, right: str, expiry: date = EXPIRY) -> OptionContract:
    return OptionContract("NIFTY", expiry, strike, Right(right))


def at(hh: int, mm: int, day: date = DAY) -> datetime:
    return ist(day, time(hh, mm))


def fill(
    contract: OptionContract,
    side: str,
    qty: int,
    price: float,
    *,
    strategy: str = "strangle",
    charges: ChargeBreakdown | None = None,
    settlement: bool = False,
    ts: datetime | None = None,
) -> Fill:
    n = next(_ids)
    return Fill(
        fill_id=f"F{n}",
        client_id=f"C{n}",
        strategy=strategy,
        tag=Tag.EXIT if settlement else Tag.ENTRY,
        contract=contract,
        side=Side(side),
        quantity=qty,
        price=price,
        ts=ts or at(10, 0),
        charges=charges or ChargeBreakdown(),
        is_settlement=settlement,
    )


def chain(
    ts: datetime, rows: list[dict], spot: float = 25500.0, symbol: str = "NIFTY"
) -> ChainSnapshot:
    """rows: dicts with contract and any of ltp/bid/ask/delta/gamma/vega/theta."""
    quotes = []
    for r in rows:
        c = r["contract"]
        q = {"strike": c.strike, "expiry": c.expiry, "right": c.right.value}
        q.update({k: v for k, v in r.items() if k != "contract"})
        quotes.append(q)
    return ChainSnapshot.from_quotes(symbol, ts, spot, quotes)
