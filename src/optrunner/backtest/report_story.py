"""Each strategy's own story in the report, from the ``metrics`` it put in summary.json.

weekly_zones: its signal counts, and the spot chart with each fired week's zones drawn
across that week and each signal labelled S1..S8 where it fired (table of the same below).
momentum_buyer: the entry guard's rejections by reason and the last chosen strike's score
breakdown. legs: P&L per leg, counters, payoff at entry and the timeline (report_legs.py).
A strategy without such metrics adds nothing.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any

import numpy as np
import plotly.graph_objects as go

from optrunner.backtest.report_charts import MAX_POINTS, spot_figure
from optrunner.backtest.report_data import RunData, ist_text
from optrunner.backtest.report_format import count, minute, number, table, td
from optrunner.backtest.report_legs import is_legs, legs_story
from optrunner.backtest.report_template import chart

ZONE_STYLE = (("upper top", "#d73027", "dash"), ("upper bottom", "#d73027", "dot"),
              ("lower top", "#1a9850", "dot"), ("lower bottom", "#1a9850", "dash"))  # fmt: skip


def story_section(run: RunData) -> str:
    parts = []
    for name, figures in run.summary["strategies"].items():
        m = (figures or {}).get("metrics") or {}
        if isinstance(m.get("signals"), dict) and isinstance(m.get("fired"), list):
            parts.append(_weekly_zones(run, name, figures.get("symbol", ""), m))
        elif isinstance(m.get("entry_guard_rejected"), dict):
            parts.append(_momentum_buyer(name, m))
        elif is_legs(m):
            parts.append(legs_story(name, m))
    return "".join(f"<section>{p}</section>" for p in parts)


def _week_span(week: str) -> tuple[str, str]:
    """ISO week "2026-W47" -> its Monday 09:15 and Friday 15:30 as IST wall-clock text."""
    monday = date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
    start = datetime.combine(monday, time(9, 15))
    return start.isoformat(), (datetime.combine(monday + timedelta(days=4), time(15, 30))).isoformat()


def _weekly_zones(run: RunData, name: str, symbol: str, m: dict[str, Any]) -> str:
    counts = table(list(m["signals"]), [[td(count(n)) for n in m["signals"].values()]])
    fired = m["fired"]
    rows = [[td(minute(ist_text(f["ts"], "fired signal")), sort=f["ts"]), td(f["signal"]), td(f.get("bias") or ""),
             td(number(f["stop_loss"])), td(number(f.get("strike"))), td(number(f.get("hedge_strike"))),
             td(escape(str(f.get("outcome") or "")), "text")] for f in fired]  # fmt: skip
    out = f"<h2>{escape(name)}: weekly zones and signals</h2>{counts}"
    if run.spot is not None and symbol and fired:
        fig, _ = spot_figure(symbol, run.spot, None, MAX_POINTS)
        mine = run.spot["symbol"] == symbol
        times, level = run.spot["time"][mine], run.spot["spot"][mine]
        for k, (label, colour, dash) in enumerate(ZONE_STYLE):
            xs: list[str | None] = []
            ys: list[float | None] = []
            for f in fired:
                x0, x1 = _week_span(f["week"])
                xs += [x0, x1, None]
                ys += [f["zones"][k], f["zones"][k], None]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=label, line={"color": colour, "dash": dash, "width": 1}))
        at_text = [ist_text(f["ts"], "fired signal") for f in fired]
        at = np.maximum(np.searchsorted(times, np.array(at_text, dtype=str), side="right") - 1, 0)
        fig.add_trace(go.Scatter(x=at_text, y=level[at] if len(level) else [f["stop_loss"] for f in fired],
                                 mode="markers+text", text=[f["signal"] for f in fired], textposition="top center",
                                 name="signals", marker={"size": 9, "color": "#2563eb"}))  # fmt: skip
        fig.update_layout(title=f"{symbol} spot, the fired weeks' zones and signals (IST)")
        out += chart(fig, "chart-story-" + re.sub(r"[^A-Za-z0-9_-]", "_", name))
    head = ["Fired (IST)", "Signal", "Bias", "Stop loss", "Strike sold", "Hedge", "Outcome"]
    return out + (table(head, rows, "sortable") if rows else '<p class="note">No signal fired.</p>')


def _momentum_buyer(name: str, m: dict[str, Any]) -> str:
    guard = m["entry_guard_rejected"]
    out = f"<h2>{escape(name)}: entry guard and strike choice</h2>"
    out += table(["Entry guard rejection", "Count"], [[td(k), td(count(v))] for k, v in guard.items()])
    refused = m.get("entries_refused") or {}
    if refused:
        out += table(["Entry refused downstream", "Count"], [[td(k), td(count(v))] for k, v in refused.items()])
    pick = m.get("last_pick") or {}
    if pick:
        parts = ("atm", "liquidity", "delta_points", "iv_points", "efficiency")
        out += f'<p class="note">Last chosen strike: {escape(str(pick.get("contract")))} at {escape(minute(ist_text(str(pick.get("ts")), "last_pick")))} IST</p>'
        out += table(["ATM", "Liquidity", "Delta", "IV", "Price efficiency", "Score"],
                     [[td(number(pick.get(p))) for p in parts] + [td(number(pick.get("score")))]])  # fmt: skip
    return out


__all__ = ["story_section"]
