"""Strike rules of the ``legs`` kind: one leg's contract on one snapshot.

Runs only when a leg is entered (never per tick), so plain NumPy masks over the chain are fine.
Every rule returns a listed contract with a positive price on the leg's expiry, or None.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from optrunner.config.legs import StrikeRule
from optrunner.core.types import Right
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract
from optrunner.market.lookup import find_option, find_option_by_premium


def _rows(snapshot: ChainSnapshot, expiry: date, right: Right) -> np.ndarray:
    """Rows of ``right`` on ``expiry`` with a positive LTP."""
    mask = (snapshot.expiry == np.datetime64(expiry, "D")) & (snapshot.is_call == right.is_call)
    mask &= snapshot.ltp > 0  # NaN compares False
    return np.flatnonzero(mask)


def _listed(snapshot: ChainSnapshot, expiry: date, strike: float, right: Right) -> OptionContract | None:
    contract = OptionContract(snapshot.symbol, expiry, strike, right)
    i = snapshot.index_of(contract)
    return contract if i is not None and snapshot.ltp[i] > 0 else None


def _nearest_strike(snapshot: ChainSnapshot, expiry: date, right: Right, price: float) -> OptionContract | None:
    rows = _rows(snapshot, expiry, right)
    if not len(rows):
        return None
    strikes = snapshot.strike[rows]
    return snapshot.contract(int(rows[np.argmin(np.abs(strikes - price))]))


def straddle_price(snapshot: ChainSnapshot, expiry: date) -> float:
    """CE + PE LTP at the ATM strike of ``expiry``; NaN when either is missing."""
    atm = snapshot.atm_strike(expiry)
    total = 0.0
    for right in (Right.CE, Right.PE):
        i = snapshot.index_of(OptionContract(snapshot.symbol, expiry, atm, right))
        price = float(snapshot.ltp[i]) if i is not None else math.nan
        if not price > 0:
            return math.nan
        total += price
    return total


def select_strike(
    snapshot: ChainSnapshot, rule: StrikeRule, right: Right, expiry: date, step: float, *, allow_expiry_day: bool
) -> OptionContract | None:
    """The contract ``rule`` names for a ``right`` leg on ``expiry`` (``step``: the index's strike step)."""
    r = rule.rule
    if r == "atm_offset":
        sign = 1 if right is Right.CE else -1
        return _listed(snapshot, expiry, snapshot.atm_strike(expiry) + sign * (rule.steps or 0) * step, right)
    if r == "fixed":
        return _listed(snapshot, expiry, float(rule.strike or 0.0), right)
    if r == "closest_delta":
        q = find_option(snapshot, "delta", float(rule.delta or 0.0), right, expiry=expiry,
                        allow_expiry_day=allow_expiry_day)  # fmt: skip
        return None if q is None else q.contract
    if r == "closest_premium":
        q = find_option_by_premium(snapshot, float(rule.premium or 0.0), right, expiry=expiry,
                                   allow_expiry_day=allow_expiry_day)  # fmt: skip
        return None if q is None else q.contract
    if r in ("premium_gte", "premium_lte"):
        rows = _rows(snapshot, expiry, right)
        ltp = snapshot.ltp[rows]
        want = float(rule.premium or 0.0)
        ok = ltp >= want if r == "premium_gte" else ltp <= want
        if not ok.any():
            return None
        dist = np.where(ok, np.abs(ltp - want), np.inf)
        return snapshot.contract(int(rows[int(np.argmin(dist))]))
    # straddle_width: ATM +/- width x the ATM straddle price, the nearest listed strike
    straddle = straddle_price(snapshot, expiry)
    if not math.isfinite(straddle):
        return None
    sign = 1 if right is Right.CE else -1
    return _nearest_strike(snapshot, expiry, right, snapshot.atm_strike(expiry) + sign * (rule.width or 0.0) * straddle)


def next_strike(snapshot: ChainSnapshot, contract: OptionContract, step: float) -> OptionContract | None:
    """One strike step further out of the money than ``contract``, if listed with a price."""
    sign = 1 if contract.right is Right.CE else -1
    return _listed(snapshot, contract.expiry, contract.strike + sign * step, contract.right)


def further_out(hedge: OptionContract, main: OptionContract) -> bool:
    """A hedge protects only from further out of the money: above a CE, below a PE."""
    return hedge.strike > main.strike if hedge.right is Right.CE else hedge.strike < main.strike


__all__ = ["further_out", "next_strike", "select_strike", "straddle_price"]
