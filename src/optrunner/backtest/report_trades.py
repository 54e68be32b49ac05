"""The report's trade sections: the trade list, every leg's prices, the adjustment log, and the
trade inspector (each trade's minute mark-to-market path and the expiry payoff of the position
it opened with, chosen from a list).

Per-trade paths and payoffs are shipped once as a JSON block and drawn by a few lines of
JavaScript, so a year of trades costs one small array per trade rather than a chart each.
Contracts are named as a trader reads them (``NIFTY 06 Oct 26 26250 CE``).
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from optrunner.backtest.report_analysis import TradeDetail, breakevens
from optrunner.backtest.report_charts import minmax_indices
from optrunner.backtest.report_data import RunData
from optrunner.backtest.report_format import (
    DASH,
    count,
    minute,
    number,
    percent,
    rupees,
    sign_class,
    table,
    td,
)
from optrunner.backtest.report_template import json_block
from optrunner.instruments.names import contract_name

MAX_TRADE_ROWS = 2_000
MAX_LEG_ROWS = 6_000
PATH_POINTS = 120  # per trade in the inspector: min/max downsampled, every extreme kept


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def money(value: object) -> str:
    """A rupee cell coloured by sign, sortable by its value."""
    return td(rupees(value), sign_class(value), sort=value)


def legs_cell(ids: str) -> str:
    """Contracts one per line, as a trader reads them."""
    return '<td class="legs">' + "<br>".join(escape(contract_name(c)) for c in ids.split()) + "</td>"


def _capped(shown: int, n: int, what: str, file: str) -> str:
    return note(f"Showing the first {count(shown)} of {count(n)} {what}; all are in {file}.") if shown < n else ""


def trades_table(run: RunData, details: list[TradeDetail]) -> str:
    t = run.trades
    if t is None:
        return note("No trades.csv in the run folder: the trade list is not shown.")
    n = len(t["strategy"])
    if not n:
        return note("No trades: no strategy went from flat to a position and back in this run.")
    shown = min(n, MAX_TRADE_ROWS)
    rows = []
    for i in range(shown):
        d = details[i] if i < len(details) else TradeDetail(i + 1)
        entry, exit_, net = str(t["entry_time"][i]), str(t["exit_time"][i]), float(t["net_pnl"][i])
        rom = 100.0 * net / d.margin if d.margin else None
        rows.append([
            td(str(i + 1), sort=i + 1), td(str(t["strategy"][i]), "text"), td(minute(entry), sort=entry),
            td(minute(exit_), sort=exit_), legs_cell(str(t["legs"][i])), td(str(t["adjustments"][i])),
            money(t["gross_pnl"][i]), td(rupees(t["charges"][i]), sort=t["charges"][i]), money(net),
            money(d.mae), money(d.mfe), td(rupees(d.margin, 0), sort=d.margin if d.margin else ""),
            td(percent(rom, 2, signed=True), sign_class(rom), sort=rom if rom is not None else ""),
            td(str(t["exit_reason"][i]), "text"),
        ])  # fmt: skip
    head = ["#", "Strategy", "Entry (IST)", "Exit (IST)", "Legs", "Adj.", "Gross P&L", "Charges", "Net P&L", "MAE",
            "MFE", "Margin (est.)", "Return on margin", "Exit reason"]  # fmt: skip
    return (_capped(shown, n, "trades", "trades.csv") + f'<div class="trades">{table(head, rows, "sortable")}</div>'
            + note("MAE / MFE: the worst and best net mark-to-market while the trade was open (0 if it never "
                   "went below / above zero). Margin: the model's estimate for the position at entry (see "
                   "Margin). Click a heading to sort."))  # fmt: skip


def legs_table(run: RunData) -> str:
    g = run.legs
    if g is None:
        return note("No legs.csv in the run folder (written by runs since the report showed legs): legs not shown.")
    n = len(g["trade"])
    if not n:
        return note("No legs: no trade was completed.")
    shown = min(n, MAX_LEG_ROWS)
    rows = [[
        td(str(g["trade"][i]), sort=int(g["trade"][i])), td(str(g["strategy"][i]), "text"),
        td(contract_name(str(g["contract"][i])), "text"), td(str(g["side"][i])), td(count(g["quantity"][i])),
        td(minute(str(g["entry_time"][i])), sort=str(g["entry_time"][i])), td(number(g["entry_price"][i])),
        td(minute(str(g["exit_time"][i])), sort=str(g["exit_time"][i])), td(number(g["exit_price"][i])),
        td(str(g["exit"][i]) or DASH, "text"), money(g["gross_pnl"][i]), td(rupees(g["charges"][i])),
        money(g["net_pnl"][i]),
    ] for i in range(shown)]  # fmt: skip
    head = ["Trade", "Strategy", "Contract", "Side", "Qty", "Entry (IST)", "Entry price", "Exit (IST)", "Exit price",
            "Closed by", "Gross P&L", "Charges", "Net P&L"]  # fmt: skip
    return (_capped(shown, n, "legs", "legs.csv") + f'<div class="scroll">{table(head, rows, "sortable")}</div>'
            + note("Side and quantity (units) of the opening fills; prices are volume-weighted averages of the "
                   "opening and closing fills; a contract sold, bought back and sold again within one trade is one row "
                   "with its totals. Closed by EXPIRY: cash-settled at intrinsic value."))  # fmt: skip


def _trigger(reason: str) -> str:
    return "not stated by the strategy" if reason in ("", "ADJUST_EXIT", "ADJUST_ENTRY") else reason


def adjustments_table(run: RunData) -> str:
    a = run.adjustments
    if a is None:
        return note("No adjustments.csv in the run folder: the adjustment log is not shown.")
    n = len(a["time"])
    if not n:
        return note("No adjustments in this run.")
    rows = [[
        td(minute(str(a["time"][i])), sort=str(a["time"][i])), td(str(a["trade"][i]) or DASH), td(str(a["strategy"][i]), "text"),
        td(_trigger(str(a["trigger"][i])), "text"), td(number(a["delta_before"][i])), td(number(a["delta_after"][i])),
        legs_cell(str(a["closed"][i])), legs_cell(str(a["opened"][i])),
    ] for i in range(n)]  # fmt: skip
    head = ["Time (IST)", "Trade", "Strategy", "Trigger", "Net delta before", "Net delta after", "Legs closed",
            "Legs opened"]  # fmt: skip
    return (f'<div class="scroll">{table(head, rows, "sortable")}</div>'
            + note("Net delta in units of the index (Σ quantity × option delta) at the last mark before the "
                   "adjustment and at the first mark after its replacement leg filled."))  # fmt: skip


# --- trade inspector ------------------------------------------------------------------------


def _minutes(times: np.ndarray) -> np.ndarray:
    t = times.astype("datetime64[m]")
    return (t - t[0]).astype(np.int64)


def _trade_data(run: RunData, d: TradeDetail) -> dict[str, Any]:
    t = run.trades
    assert t is not None
    i = d.number - 1
    out: dict[str, Any] = {
        "n": d.number, "label": f"#{d.number} · {t['strategy'][i]} · {minute(str(t['entry_time'][i]))} · "
        f"net {rupees(t['net_pnl'][i])}", "t0": str(t["entry_time"][i]), "net": round(float(t["net_pnl"][i]), 2),
    }  # fmt: skip
    if d.mtm is not None and len(d.mtm):
        keep = minmax_indices(d.mtm, PATH_POINTS).index
        out.update(m=_minutes(d.mtm_time)[keep].tolist(), y=np.round(d.mtm[keep], 2).tolist(),
                   mae=round(d.mae or 0.0, 2), mfe=round(d.mfe or 0.0, 2))  # fmt: skip
    if d.payoff_x is not None and d.payoff_y is not None and d.entry:
        be = breakevens(d.payoff_x, d.payoff_y)
        # Breakevens join the corners (at 0) so the profit and loss areas can be shaded exactly.
        x = np.concatenate([d.payoff_x, be])
        order = np.argsort(x, kind="stable")
        y = np.concatenate([d.payoff_y, np.zeros(len(be))])
        out.update(px=np.round(x[order], 2).tolist(), py=np.round(y[order], 2).tolist(), spot=d.spot,
                   be=[round(b, 2) for b in be], margin=round(d.margin or 0.0),
                   legs=[f"{'Short' if leg.quantity < 0 else 'Long'} {abs(leg.quantity):,} "
                         f"{contract_name(leg.contract)} @ {number(leg.price)}" for leg in d.entry])  # fmt: skip
    return out


def inspector(run: RunData, details: list[TradeDetail]) -> str:
    """A trade picker with the chosen trade's MTM path and entry payoff, plus every trade's path
    on one chart (minutes since entry) to see how trades typically evolve."""
    if run.trades is None or not len(run.trades["strategy"]):
        return note("No trades to inspect.")
    shown = details[:MAX_TRADE_ROWS]
    data = [_trade_data(run, d) for d in shown]
    options = "".join(f'<option value="{k}">{escape(x["label"])}</option>' for k, x in enumerate(data))
    missing = "" if any("m" in x for x in data) else note(
        "No trade_mtm.csv in the run folder: MTM paths are not shown.")
    return (
        f'{missing}<div class="chart" id="chart-trade-paths"></div>'
        f'<div class="inspect"><label>Trade <select id="trade-pick">{options}</select></label>'
        f'<div class="note" id="trade-legs"></div><div class="grid">'
        f'<div class="chart" id="chart-trade-mtm"></div><div class="chart" id="chart-trade-payoff"></div></div></div>'
        + json_block(data, 'id="trade-data"') + f"<script>{INSPECT_JS}</script>"
    )


INSPECT_JS = """
document.addEventListener("charts-ready", (ev) => {
  const {config, wait} = ev.detail, trades = JSON.parse(document.getElementById("trade-data").textContent);
  const money = {tickformat: "$,.0f", hoverformat: "$,.2f", zeroline: true, zerolinecolor: "#9ca3af"};
  const base = (title, extra) => Object.assign({title: {text: title, x: 0.01, font: {size: 15}},
    template: "plotly_white", height: 380, margin: {l: 80, r: 20, t: 50, b: 45}, showlegend: false}, extra);
  const paths = (win) => { const x = [], y = [], text = [];
    for (const t of trades) if (t.m && (t.net > 0) === win) {
      x.push(...t.m, null); y.push(...t.y, null); text.push(...t.m.map(() => t.label), null); }
    return {x, y, text, mode: "lines", name: win ? "Winners" : "Losers", line: {width: 1.2,
      color: win ? "rgba(26,152,80,.55)" : "rgba(215,48,39,.55)"},
      hovertemplate: "%{text}<br>%{x} min after entry: %{y:$,.2f}<extra></extra>"}; };
  wait.push(Plotly.newPlot("chart-trade-paths", [paths(true), paths(false)], base(
    "Every trade's net MTM path (minutes since entry; green: winners, red: losers)",
    {showlegend: true, xaxis: {title: {text: "minutes since entry"}}, yaxis: money}), config));
  const draw = (k) => {
    const t = trades[k], inr = (v) => (v < 0 ? "-₹" : "₹") +
      Math.abs(v ?? 0).toLocaleString("en-IN", {minimumFractionDigits: 2, maximumFractionDigits: 2});
    document.getElementById("trade-legs").textContent = t.legs ? "Position at entry: " + t.legs.join(" · ") +
      " · spot " + t.spot.toLocaleString("en-IN") + " · margin (est.) " + inr(t.margin) : "";
    const start = new Date(t.t0.slice(0, 16) + ":00Z").getTime();
    const when = (t.m || []).map(m => new Date(start + m * 60000).toISOString().slice(0, 16).replace("T", " "));
    const span = [when[0], when[when.length - 1]];
    const level = (y, name, color) => ({x: span, y: [y, y], mode: "lines", name, line: {dash: "dot", color}});
    const mtm = [{x: when, y: t.y || [], mode: "lines", name: "net MTM", line: {color: "#2563eb"},
      hovertemplate: "%{x}<br>%{y:$,.2f}<extra></extra>"}];
    if (t.m) mtm.push(level(t.mae, "MAE", "#d73027"), level(t.mfe, "MFE", "#1a9850"));
    const area = (keep, name, color) => ({x: t.px || [], y: (t.py || []).map(keep), mode: "lines", name,
      fill: "tozeroy", fillcolor: color, line: {width: 0}, hoverinfo: "skip"});
    const payoff = [area(v => Math.max(v, 0), "profit", "rgba(26,152,80,.25)"),
      area(v => Math.min(v, 0), "loss", "rgba(215,48,39,.2)"),
      {x: t.px || [], y: t.py || [], mode: "lines", name: "payoff at expiry", line: {color: "#111827", width: 2},
       hovertemplate: "spot %{x:,.0f}<br>%{y:$,.2f}<extra></extra>"}];
    if (t.px) payoff.push({x: [t.spot], y: [0], mode: "markers", name: "spot at entry",
        marker: {symbol: "triangle-up", size: 12, color: "#2563eb"}},
      {x: t.be, y: t.be.map(() => 0), mode: "markers", name: "breakeven", marker: {size: 9, color: "#111827"}});
    return Promise.all([
      Plotly.react("chart-trade-mtm", mtm, base(`Trade #${t.n}: net MTM (IST) · MAE ${inr(t.mae)} · MFE ${inr(t.mfe)}`,
        {showlegend: true, yaxis: money}), config),
      Plotly.react("chart-trade-payoff", payoff, base(`Trade #${t.n}: expiry payoff of the position at entry`,
        {showlegend: true, xaxis: {title: {text: "underlying at expiry (before charges)"}, tickformat: ",.0f"},
         yaxis: money}), config),
    ]);
  };
  const pick = document.getElementById("trade-pick");
  pick.addEventListener("change", () => draw(Number(pick.value)));
  wait.push(draw(0));
});
"""


__all__ = ["MAX_TRADE_ROWS", "adjustments_table", "inspector", "legs_table", "trades_table"]
