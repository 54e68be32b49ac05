"""A chain snapshot as a rich table the way a trader reads one: calls left, strike centre, puts right.

Two IV conventions can be shown (``optrunner chain --iv``): ``black76``, the catalog's own
(Black-76 on each expiry's forward, minutes to 15:30 on expiry day), and ``nse``, what NSE's
option-chain screen publishes (spot Black-Scholes, r = 10 %, q = 0, whole calendar days /
365). They differ most where the spot a source carries is stale or the forward is far from
spot — one IV per call/put pair in black76 against two different ones on NSE's screen.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
from rich.table import Table
from rich.text import Text

from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments import time_to_expiry

IV_CONVENTIONS = {
    "black76": "IV, delta: Black-76 on the forward (catalog)",
    "nse": "IV, delta: NSE convention (spot Black-Scholes, r = 10 %, whole days / 365)",
}

CALL_SIDE = ("oi", "volume", "iv", "delta", "bid", "ask", "ltp")


def compact_qty(v: float) -> str:
    """Indian-style compact quantity: 12,345 / 12.35L (lakh) / 1.23Cr (crore); "-" when unknown."""
    if not math.isfinite(v):
        return "-"
    if abs(v) >= 1e7:
        return f"{v / 1e7:.2f}Cr"
    if abs(v) >= 1e5:
        return f"{v / 1e5:.2f}L"
    return f"{v:,.0f}"


def _cell(name: str, v: float) -> str:
    if not math.isfinite(v):
        return "-"
    if name in ("oi", "volume"):
        return compact_qty(v)
    if name == "iv":
        return f"{100 * v:.1f}"
    if name == "delta":
        return f"{v:+.2f}"
    return f"{v:,.2f}"


def render_chain(snap: ChainSnapshot, expiry: date, strikes_each_side: int, iv: str = "black76") -> Table:
    """Rows for the ``strikes_each_side`` strikes either side of the ATM strike of ``expiry``;
    ``iv`` picks the IV/delta convention (:data:`IV_CONVENTIONS`)."""
    if iv not in IV_CONVENTIONS:
        raise ValueError(f"iv convention must be one of {sorted(IV_CONVENTIONS)}, got {iv!r}")
    if iv == "nse":
        from optrunner.greeks import chain_greeks  # numba kernels: only when asked for

        snap = chain_greeks(snap, mode="nse")
    chain = snap.for_expiry(expiry)
    calls, puts = chain.select(chain.is_call), chain.select(~chain.is_call)
    forward = chain.forward(expiry)
    strikes = np.union1d(calls.strike, puts.strike)
    atm = snap.atm_strike(expiry)
    mid = int(np.searchsorted(strikes, atm))
    shown = strikes[max(0, mid - strikes_each_side) : mid + strikes_each_side + 1]
    days = time_to_expiry(snap.ts, expiry) * 365
    spot = "n/a" if not math.isfinite(snap.spot) else f"{snap.spot:,.2f}"
    table = Table(
        title=f"{snap.symbol}  {snap.ts:%Y-%m-%d %H:%M} IST   spot {spot}   forward {forward:,.2f}\n"
        f"expiry {expiry:%a %d-%b-%Y} ({days:.1f} days)",
        caption=f"OI and volume in units (L = lakh, Cr = crore); IV in %; ITM shaded\n{IV_CONVENTIONS[iv]}"
        + ("; no spot in this catalog, so no NSE-convention IV" if iv == "nse" and spot == "n/a" else ""),
        header_style="bold",
    )
    for name in CALL_SIDE:
        table.add_column(f"CE {name.upper() if name != 'iv' else 'IV%'}", justify="right")
    table.add_column("STRIKE", justify="center", style="bold")
    for name in reversed(CALL_SIDE):
        table.add_column(f"PE {name.upper() if name != 'iv' else 'IV%'}", justify="right")
    for k in shown:
        c = _row(calls, k)
        p = _row(puts, k)
        call_cells = [_cell(n, c[n]) for n in CALL_SIDE]
        put_cells = [_cell(n, p[n]) for n in reversed(CALL_SIDE)]
        call_style = "on grey23" if k < forward else ""
        put_style = "on grey23" if k > forward else ""
        strike = Text(f"{k:,.0f}", style="bold reverse" if k == atm else "bold")
        table.add_row(*[Text(x, style=call_style) for x in call_cells], strike,
                      *[Text(x, style=put_style) for x in put_cells])  # fmt: skip
    return table


def _row(side: ChainSnapshot, strike: float) -> dict[str, float]:
    i = np.flatnonzero(side.strike == strike)
    if not len(i):
        return dict.fromkeys(CALL_SIDE, math.nan)
    return {name: float(getattr(side, name)[i[0]]) for name in CALL_SIDE}
