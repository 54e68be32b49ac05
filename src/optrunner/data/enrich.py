"""Fill a chain table's forward, IV and greeks once, when it is written.

Black-76 on the forward of each (ts, expiry): the row's ``future`` when the source gives one,
else the put-call-parity forward of that (ts, expiry). The forward used is written back into
``future`` so that readers (``ChainSnapshot.forward``, ATM selection) see the forward the
greeks were computed on. An expiry with no strike quoted on both sides keeps a NaN forward
and NaN greeks rather than a forward guessed from spot (as ``optrunner.greeks.chain_greeks``).

The parity forward is computed for all groups at once (matching calls to puts by a sorted
(group, strike) code and ranking pairs within groups with one lexsort), because a year's
import has ~500k (ts, expiry) groups and a Python loop over them would dominate the import.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from optrunner.data.schema import (
    EXPIRY_CLOSE_UTC_NS,
    GREEK_COLUMNS,
    NS_PER_DAY,
    NS_PER_MINUTE,
    expiry_days,
    is_call_array,
    ts_ns,
)
from optrunner.greeks import chain_iv_greeks
from optrunner.instruments.calendar import MINUTES_PER_YEAR

PARITY_PAIRS = 3  # strikes nearest the money averaged into the parity forward


def years_to_expiry(ts: np.ndarray, exp_days: np.ndarray) -> np.ndarray:
    """Minutes from ``ts`` (int64 ns) to 15:30 IST on the expiry date / (365 x 1440), floored at 0."""
    close = np.asarray(exp_days, np.int64) * NS_PER_DAY + EXPIRY_CLOSE_UTC_NS
    return np.maximum(close - np.asarray(ts, np.int64), 0) / (
        NS_PER_MINUTE * float(MINUTES_PER_YEAR)
    )


def option_price(bid: np.ndarray, ask: np.ndarray, ltp: np.ndarray) -> np.ndarray:
    """The price IV is read from: the mid of a valid two-sided quote, else the last trade."""
    two_sided = (bid > 0) & (ask >= bid)  # False for NaN too
    mid = np.where(two_sided, 0.5 * (bid + ask), np.nan)
    last = np.where(ltp > 0, ltp, np.nan)
    return np.where(two_sided, mid, last)


def grouped_parity_forward(
    group: np.ndarray, strike: np.ndarray, is_call: np.ndarray, price: np.ndarray,
    t_years: np.ndarray, rate: float, n: int = PARITY_PAIRS,
) -> np.ndarray:  # fmt: skip
    """Per row, the put-call-parity forward of its group (NaN when the group has no pair).

    ``group`` is a non-decreasing int64 group id per row (one per (ts, expiry)). For each
    strike with both a call and a put price, F_K = K + e^{rT}(C - P); the forward is the
    median F_K over the ``n`` strikes where |C - P| is smallest — the same rule as
    :func:`optrunner.greeks.parity_forward`, applied to every group at once.
    """
    group = np.asarray(group, np.int64)
    n_groups = int(group[-1]) + 1 if len(group) else 0
    code = group * 10_000_000_000 + np.rint(strike * 100.0).astype(np.int64)
    ok = np.isfinite(price) & (price > 0)
    puts, calls = np.flatnonzero(ok & ~is_call), np.flatnonzero(ok & is_call)
    put_code = code[puts]
    if len(put_code) > 1 and np.any(put_code[1:] < put_code[:-1]):
        order = np.argsort(put_code, kind="stable")
        puts, put_code = puts[order], put_code[order]
    pos = np.minimum(np.searchsorted(put_code, code[calls]), max(len(puts) - 1, 0))
    matched = (put_code[pos] == code[calls]) if len(puts) else np.zeros(len(calls), bool)
    c, p = calls[matched], puts[pos[matched]]
    diff = price[c] - price[p]
    g = group[c]
    fwd = strike[c] + np.exp(rate * t_years[c]) * diff
    nearest = np.lexsort((np.abs(diff), g))
    chosen = nearest[_rank_in_group(g[nearest]) < n]
    # median of each group's chosen forwards: sort them within the group, take the middle
    chosen = chosen[np.lexsort((fwd[chosen], g[chosen]))]
    gc, fc = g[chosen], fwd[chosen]
    count = np.bincount(gc, minlength=n_groups)
    first = np.concatenate(([0], np.cumsum(count)[:-1]))
    per_group = np.full(n_groups, np.nan)
    has = np.flatnonzero(count)
    lo, hi = first[has] + (count[has] - 1) // 2, first[has] + count[has] // 2
    per_group[has] = 0.5 * (fc[lo] + fc[hi])
    return per_group[group]


def _rank_in_group(sorted_groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted group-id array."""
    return np.arange(len(sorted_groups)) - np.searchsorted(
        sorted_groups, sorted_groups, side="left"
    )


def add_greeks(table: pa.Table, *, rate: float, recompute: bool = False, min_t_years: float = 0.0) -> pa.Table:
    """``table`` (catalog schema, sorted by ts then contract) with forward, iv and greeks filled.

    A row keeps its source iv/greeks only when all five are present (so the five always come
    from one model); otherwise, or with ``recompute``, all five come from ``chain_iv_greeks``
    (Black-76; delta signed, vega per vol point, theta per calendar day). Rows at or below
    intrinsic, or with no usable price, get NaN. ``min_t_years`` floors time to expiry for
    prices that are averages before the stamped instant (a bhavcopy close on expiry day).
    """
    if table.num_rows == 0:
        return table
    cols = {
        name: table[name].to_numpy()
        for name in ("strike", "future", "bid", "ask", "ltp", *GREEK_COLUMNS)
    }
    greeks_known = np.logical_and.reduce([np.isfinite(cols[g]) for g in GREEK_COLUMNS])
    need = np.ones(table.num_rows, bool) if recompute else ~greeks_known
    future = cols["future"]
    if not need.any() and np.isfinite(future).all():
        return table
    ts = ts_ns(table["ts"])
    days = expiry_days(table["expiry"])
    is_call = is_call_array(table["right"])
    t_years = years_to_expiry(ts, days)
    if min_t_years > 0:
        t_years = np.maximum(t_years, min_t_years)
    price = option_price(cols["bid"], cols["ask"], cols["ltp"])
    forward = future.copy()
    missing = ~np.isfinite(forward)
    if missing.any():
        new_group = np.concatenate(([False], (ts[1:] != ts[:-1]) | (days[1:] != days[:-1])))
        group = np.cumsum(new_group)
        parity = grouped_parity_forward(group, cols["strike"], is_call, price, t_years, rate)
        forward[missing] = parity[missing]
    out = {name: cols[name].copy() for name in GREEK_COLUMNS}
    if need.any():
        results = chain_iv_greeks(
            price[need], cols["strike"][need], is_call[need], t_years[need], forward[need], rate
        )
        for name, values in zip(GREEK_COLUMNS, results, strict=True):
            out[name][need] = values
    table = table.set_column(table.schema.get_field_index("future"), "future", pa.array(forward))
    for name in GREEK_COLUMNS:
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(out[name]))
    return table
