"""A chain snapshot as a rich table the way a trader reads one: calls left, strike centre, puts right.

Two IV conventions can be shown (``optrunner chain --iv``): ``black76``, the catalog's own
(Black-76 on each expiry's forward, minutes to 15:30 on expiry day), and ``nse``, what NSE's
option-chain screen publishes (spot Black-Scholes, r = 10 %, q = 0, whole calendar days /
365). They differ most where the spot a source carries is stale or the forward is far from
spot — one IV per call/put pair in black76 against two different ones on NSE's screen.

It must stay readable in a 100-column terminal: numbers are compact (prices lose decimals
as they grow, OI in lakh/crore), headers are short, padding collapses, and the columns
shown are a choice (``--columns``); the default leaves out volume.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
from rich import box
from rich.table import Table
from rich.text import Text

from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments import time_to_expiry

IV_CONVENTIONS = {
    "black76": "IV, delta: Black-76 on the forward (catalog)",
    "nse": "IV, delta: NSE convention (spot Black-Scholes, r = 10 %, whole days / 365)",
}
COLUMNS = ("oi", "volume", "iv", "delta", "bid", "ask", "ltp")  # every column a side can show
DEFAULT_COLUMNS = ("oi", "iv", "delta", "bid", "ask", "ltp")
_HEADERS = {"oi": "OI", "volume": "VOL", "iv": "IV%", "delta": "DELTA", "bid": "BID", "ask": "ASK", "ltp": "LTP"}


def parse_columns(text: str | None) -> tuple[str, ...]:
    """``"oi,iv,ltp"`` -> the columns each side shows (ValueError naming the valid ones)."""
    if text is None:
        return DEFAULT_COLUMNS
    chosen = tuple(c.strip().lower() for c in text.split(",") if c.strip())
    unknown = [c for c in chosen if c not in COLUMNS]
    if unknown or not chosen:
        raise ValueError(f"--columns {text!r}: choose from {','.join(COLUMNS)}")
    return chosen


def compact_price(v: float) -> str:
    """4 significant-ish characters of a premium: 0.85, 12.35, 245.5, 1,234."""
    if not math.isfinite(v):
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


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
    return compact_price(v)


def shown_strikes(snap: ChainSnapshot, expiry: date, strikes_each_side: int) -> np.ndarray:
    """The ``strikes_each_side`` strikes either side of ``expiry``'s ATM strike."""
    chain = snap.for_expiry(expiry)
    strikes = np.unique(chain.strike)
    mid = int(np.searchsorted(strikes, snap.atm_strike(expiry)))
    return strikes[max(0, mid - strikes_each_side) : mid + strikes_each_side + 1]


def render_chain(
    snap: ChainSnapshot, expiry: date, strikes_each_side: int,
    columns: tuple[str, ...] = DEFAULT_COLUMNS, iv: str = "black76",
) -> Table:  # fmt: skip
    """Rows for the ``strikes_each_side`` strikes either side of the ATM strike of ``expiry``;
    ``iv`` picks the IV/delta convention (:data:`IV_CONVENTIONS`)."""
    snap = with_iv_convention(snap, iv)
    chain = snap.for_expiry(expiry)
    calls, puts = chain.select(chain.is_call), chain.select(~chain.is_call)
    forward = chain.forward(expiry)
    atm = snap.atm_strike(expiry)
    shown = shown_strikes(snap, expiry, strikes_each_side)
    days = time_to_expiry(snap.ts, expiry) * 365
    spot = "n/a" if not math.isfinite(snap.spot) else f"{snap.spot:,.2f}"
    table = Table(
        title=f"{snap.symbol}  {snap.ts:%Y-%m-%d %H:%M} IST   spot {spot}   forward {forward:,.2f}\n"
        f"expiry {expiry:%a %d-%b-%Y} ({days:.1f} days)",
        caption="calls (CE) left, puts (PE) right; OI in units (L = lakh, Cr = crore); IV in %; ITM shaded\n"
        + IV_CONVENTIONS[iv] + ("; no spot in this catalog, so no NSE-convention IV" if iv == "nse" and spot == "n/a" else ""),
        header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False,
    )  # fmt: skip
    for name in columns:
        table.add_column(_HEADERS[name], justify="right")
    table.add_column("CE STRIKE PE", justify="center", style="bold")
    for name in reversed(columns):
        table.add_column(_HEADERS[name], justify="right")
    for k in shown:
        c = _row(calls, k)
        p = _row(puts, k)
        call_cells = [_cell(n, c[n]) for n in columns]
        put_cells = [_cell(n, p[n]) for n in reversed(columns)]
        call_style = "on grey23" if k < forward else ""
        put_style = "on grey23" if k > forward else ""
        strike = Text(f"{k:,.0f}", style="bold reverse" if k == atm else "bold")
        table.add_row(*[Text(x, style=call_style) for x in call_cells], strike,
                      *[Text(x, style=put_style) for x in put_cells])  # fmt: skip
    return table


def with_iv_convention(snap: ChainSnapshot, iv: str) -> ChainSnapshot:
    """``snap`` with its IV and greeks in convention ``iv`` (the catalog's are black76)."""
    if iv not in IV_CONVENTIONS:
        raise ValueError(f"iv convention must be one of {sorted(IV_CONVENTIONS)}, got {iv!r}")
    if iv == "nse":
        from optrunner.greeks import chain_greeks  # numba kernels: only when asked for

        return chain_greeks(snap, mode="nse")
    return snap


def _row(side: ChainSnapshot, strike: float) -> dict[str, float]:
    i = np.flatnonzero(side.strike == strike)
    if not len(i):
        return dict.fromkeys(COLUMNS, math.nan)
    return {name: float(getattr(side, name)[i[0]]) for name in COLUMNS}
