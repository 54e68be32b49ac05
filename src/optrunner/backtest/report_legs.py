"""The ``legs`` kind's story in the report, from its ``metrics``: closed P&L per leg, the counters
(stops, targets, re-entries, exits by reason), the payoff at expiry of the structure as last
entered, and the timeline of entries, stops, targets, stop-to-cost moves and re-entries.

Per-month and per-weekday P&L are the report's own breakdowns (``report_breakdowns.py``).
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

import plotly.graph_objects as go

from optrunner.backtest.report_data import ist_text
from optrunner.backtest.report_format import count, minute, number, rupees, table, td
from optrunner.backtest.report_template import chart
from optrunner.instruments.contracts import OptionContract

TIMELINE_ROWS = 500  # shown in the page; the full list is in summary.json
PAYOFF_POINTS = 201


def is_legs(m: dict[str, Any]) -> bool:
    return isinstance(m.get("leg_pnl"), dict) and isinstance(m.get("timeline"), list)


def payoff_at_expiry(legs: list[list[Any]], lo: float, hi: float, n: int = PAYOFF_POINTS) -> tuple[list[float], list[float]]:
    """Rupee P&L of the entered legs (``[name, contract id, signed qty, price]``) at expiry, over
    index levels ``lo``..``hi``: sum of qty x (intrinsic value - entry price). Every leg is valued
    at intrinsic, also one of a later expiry (a calendar's far leg: the line is a floor for it)."""
    parsed = [(OptionContract.from_id(cid), qty, price) for _, cid, qty, price in legs if cid]
    xs = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
    ys = []
    for s in xs:
        total = 0.0
        for c, qty, price in parsed:
            intrinsic = max(s - c.strike, 0.0) if c.right.is_call else max(c.strike - s, 0.0)
            total += qty * (intrinsic - price)
        ys.append(total)
    return xs, ys


def _payoff(name: str, structure: dict[str, Any]) -> str:
    legs = structure.get("legs") or []
    strikes = [OptionContract.from_id(cid).strike for _, cid, _, _ in legs if cid]
    if not strikes:
        return ""
    spot = structure.get("spot")
    centre = spot if isinstance(spot, int | float) and math.isfinite(spot) else sum(strikes) / len(strikes)
    half = max(max(strikes) - min(strikes), 0.03 * centre)
    xs, ys = payoff_at_expiry(legs, min(min(strikes), centre) - half, max(max(strikes), centre) + half)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", name="P&L at expiry", line={"color": "#2563eb"}))
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    if spot is not None:
        fig.add_vline(x=centre, line={"color": "#d73027", "dash": "dot", "width": 1})
    when = minute(ist_text(structure["ts"], "structure")) if structure.get("ts") else ""
    fig.update_layout(title=f"Payoff at expiry of the structure entered {when} IST (spot dotted; rupees)",
                      xaxis_title="index at expiry", yaxis_title="P&L (₹)")  # fmt: skip
    rows = [[td(str(leg), "text"), td(str(cid), "text"), td(count(qty)), td(number(price))] for leg, cid, qty, price in legs]
    return (chart(fig, "chart-payoff-" + re.sub(r"[^A-Za-z0-9_-]", "_", name))
            + table(["Leg", "Contract", "Quantity (+ bought, − sold)", "Entry price"], rows))  # fmt: skip


def legs_story(name: str, m: dict[str, Any]) -> str:
    out = f"<h2>{escape(name)}: legs</h2>"
    leg_pnl = m["leg_pnl"]
    out += table(["Leg", "Closed P&L"], [[td(str(k), "text"), td(rupees(v))] for k, v in leg_pnl.items()]
                 + [[td("all legs", "text"), td(rupees(m.get("closed_pnl")))]])  # fmt: skip
    counters = {k: v for k, v in m.items() if isinstance(v, int) and not isinstance(v, bool)}
    if counters:
        out += table(["Event", "Count"], [[td(k, "text"), td(count(v))] for k, v in sorted(counters.items())])
    out += _payoff(name, m.get("last_structure") or {})
    timeline = m["timeline"]
    rows = [[td(minute(ist_text(ts, "timeline")) if ts else "", sort=ts), td(str(leg), "text"), td(str(event), "text"),
             td(number(price)), td(str(contract or ""), "text")]
            for ts, leg, event, price, contract in timeline[:TIMELINE_ROWS]]  # fmt: skip
    if rows:
        more = len(timeline) - TIMELINE_ROWS
        note = f'<p class="note">First {TIMELINE_ROWS} of {len(timeline)} events (all in summary.json).</p>' if more > 0 else ""
        out += "<h3>Entries, stops, targets and re-entries</h3>" + note
        out += table(["Time (IST)", "Leg", "Event", "Price", "Contract"], rows, "sortable")
    return out


__all__ = ["is_legs", "legs_story", "payoff_at_expiry"]
