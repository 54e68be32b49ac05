"""The backtest report: one self-contained HTML page from a run folder.

A trader shows it to a colleague, so it must open anywhere without network (plotly.js is
embedded once), stay a few MB for a year of minutes (charts are min/max downsampled, the
trade list is capped), and never print "nan": undefined ratios read "—". Everything is read
back from the files the run wrote (docs/metrics.md), so ``optrunner report RUN_DIR``
re-renders any past run the same way the backtest did.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Annotated, Any

import plotly.graph_objects as go
import typer

from optrunner.backtest.report_charts import (
    CHART_CONFIG,
    MAX_POINTS,
    daily_figure,
    equity_figure,
    spot_figure,
)
from optrunner.backtest.report_data import (
    Columns,
    RunData,
    RunFolderError,
    ist_text,
    load_run,
    underlying,
)
from optrunner.backtest.report_format import (
    DASH,
    count,
    day,
    minute,
    percent,
    ratio,
    rupees,
    sign_class,
    table,
    td,
)
from optrunner.backtest.report_story import story_section
from optrunner.backtest.report_template import page

MAX_TRADE_ROWS = 2_000
SPOT_POINTS = 20_000  # shared by the spot charts: 10k points each for two underlyings
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _chart(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CHART_CONFIG)


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _missing(name: str, what: str) -> str:
    return _note(f"No {name} in the run folder: {what} not shown.")


def _money(value: object) -> str:
    """A rupee cell coloured by sign, sortable by its value."""
    return td(rupees(value), sign_class(value), sort=value)


def _days(n: object) -> str:
    return f"{count(n)} trading day" + ("" if n == 1 else "s")


# --- header -----------------------------------------------------------------------------


def title(run: RunData) -> str:
    s = run.summary
    names = ", ".join(s["strategies"]) or "no strategies"
    symbols = ", ".join(run.symbols()) or "no symbols"
    return f"Backtest: {names} · {symbols} · {day(s['start'])} to {day(s['end'])}"


def _card(label: str, value: str, sub: str = "", cls: str = "") -> str:
    sub_html = f'<div class="sub">{escape(sub)}</div>' if sub else ""
    return (f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="value {cls}">{escape(value)}</div>{sub_html}</div>')  # fmt: skip


def cards(s: dict[str, Any]) -> str:
    best, worst = (d if isinstance(d, dict) else {} for d in (s.get("best_day"), s.get("worst_day")))
    items = [
        _card("Net P&L", rupees(s["net_pnl"]), f"gross {rupees(s['gross_pnl'])}", sign_class(s["net_pnl"])),
        _card("Return", percent(s["return_pct"]), f"annualised {percent(s.get('annual_return_pct'))}",
              sign_class(s["return_pct"])),
        _card("Max drawdown", percent(s["max_drawdown_pct"]), rupees(s["max_drawdown"]), "neg" if s["max_drawdown"] else ""),
        _card("Sharpe", ratio(s["sharpe"]), f"risk-free {percent(100 * (s.get('risk_free_rate') or 0))}"),
        _card("Sortino", ratio(s["sortino"])),
        _card("Calmar", ratio(s["calmar"])),
        _card("Win rate", percent(s["win_rate"], 1)),
        _card("Profit factor", ratio(s["profit_factor"])),
        _card("Trades", count(s["trades"]), f"expectancy {rupees(s.get('expectancy'))}"),
        _card("Adjustments", count(s["adjustments"])),
        _card("Charges", rupees(s["charges"])),
        _card("Capital", rupees(s["capital"], 0), _days(s["days"])),
        _card("Best day", rupees(best.get("pnl")), day(best["date"]) if "date" in best else "", sign_class(best.get("pnl"))),
        _card("Worst day", rupees(worst.get("pnl")), day(worst["date"]) if "date" in worst else "", sign_class(worst.get("pnl"))),
    ]  # fmt: skip
    return f'<div class="cards">{"".join(items)}</div>'


def claims_table(s: dict[str, Any]) -> str:
    """What each strategy file claimed next to what this run measured; empty when nothing was claimed.
    Claimed average loss is a positive amount (config docs), so the measured one is shown as one too."""
    rows: list[list[str]] = []
    for name, claim in sorted((s.get("claims") or {}).items()):
        mine: list[list[str]] = []
        got = s["strategies"].get(name) or {}
        loss = got.get("avg_loss")
        measures = [
            ("Win rate", claim.get("backtest_win_rate"), got.get("win_rate"), lambda v: percent(v, 1), " pp"),
            ("Avg profit (winning trade)", claim.get("backtest_avg_profit"), got.get("avg_win"), rupees, ""),
            ("Avg loss (losing trade)", claim.get("backtest_avg_loss"), -loss if loss is not None else None, rupees, ""),
        ]  # fmt: skip
        for label, claimed, measured, fmt, unit in measures:
            if claimed is None:
                continue
            diff = measured - claimed if measured is not None else None
            diff_text = DASH if diff is None else (f"{diff:+.1f}{unit}" if unit else rupees(diff))
            mine.append([td(name), td(label), td(fmt(claimed)), td(fmt(measured)), td(diff_text)])
        if mine and claim.get("backtest_dates"):
            mine.append([td(name), td("Period"), td(str(claim["backtest_dates"])),
                         td(f"{s['start']} to {s['end']}"), td("")])  # fmt: skip
        rows += mine
    if not rows:
        return ""
    head = ["Strategy", "Measure", "Claimed (strategy file)", "Measured (this run)", "Measured − claimed"]
    return f"<section><h2>Claimed vs measured</h2>{table(head, rows)}</section>"


# --- tables -----------------------------------------------------------------------------


def monthly_returns(daily: Columns, capital: float) -> dict[int, dict[int, float]]:
    """{year: {month: % of capital}}: the month's daily P&L summed over starting capital,
    matching the report's non-compounded daily returns (docs/metrics.md)."""
    out: dict[int, dict[int, float]] = defaultdict(dict)
    for d, pnl in zip(daily["date"].tolist(), daily["pnl"].tolist(), strict=True):
        year, month = int(d[:4]), int(d[5:7])
        out[year][month] = out[year].get(month, 0.0) + 100.0 * pnl / capital
    return dict(out)


def monthly_table(months: dict[int, dict[int, float]]) -> str:
    """Years down, months across, each cell shaded by its size relative to the largest month."""
    scale = max(abs(v) for m in months.values() for v in m.values()) or 1.0

    def cell(v: float | None) -> str:
        if v is None:
            return "<td></td>"
        rgb = "21,128,61" if v >= 0 else "185,28,28"
        return f'<td style="background: rgba({rgb},{0.08 + 0.55 * abs(v) / scale:.2f})">{percent(v, signed=True)}</td>'

    rows = [[td(str(y)), *(cell(m.get(k)) for k in range(1, 13)), td(percent(sum(m.values()), signed=True),
             sign_class(sum(m.values())))] for y, m in sorted(months.items())]  # fmt: skip
    return table(["Year", *MONTHS, "Year"], rows, "monthly")


def strategy_table(s: dict[str, Any]) -> str:
    def row(name: str, m: dict[str, Any]) -> list[str]:
        return [td(name), td(count(m.get("trades"))), td(percent(m.get("win_rate"), 1)), _money(m.get("avg_win")),
                _money(m.get("avg_loss")), _money(m.get("expectancy")), td(ratio(m.get("profit_factor"))),
                _money(m.get("gross_pnl")), td(rupees(m.get("charges"))), _money(m.get("net_pnl")),
                td(count(m.get("adjustments")))]  # fmt: skip

    rows = [row(name, m or {}) for name, m in s["strategies"].items()]
    if len(rows) != 1:
        rows.append(row("All strategies", s))
    head = ["Strategy", "Trades", "Win rate", "Avg win", "Avg loss", "Expectancy", "Profit factor",
            "Gross P&L", "Charges", "Net P&L", "Adjustments"]  # fmt: skip
    return table(head, rows)


def rejections_table(run: RunData) -> str:
    s = run.summary
    rejected = s.get("rejected_orders") or {}
    orders = s.get("orders", run.order_count)
    sent = _note(f"Orders sent: {count(orders)}.")
    if not rejected:
        return sent + _note("No orders were rejected.")
    rows = [[td(reason), td(count(n))] for reason, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))]
    rows.append([td("Total"), td(count(sum(rejected.values())))])
    return sent + table(["Reason", "Rejected orders"], rows)


def trades_table(run: RunData) -> str:
    t = run.trades
    if t is None:
        return _missing("trades.csv", "the trade list is")
    n = len(t["strategy"])
    if not n:
        return _note("No trades: no strategy went from flat to a position and back in this run.")
    shown = min(n, MAX_TRADE_ROWS)
    rows = []
    for i in range(shown):
        entry, exit_ = str(t["entry_time"][i]), str(t["exit_time"][i])
        rows.append([
            td(str(i + 1), sort=i + 1), td(str(t["strategy"][i])), td(minute(entry), sort=entry),
            td(minute(exit_), sort=exit_), td(str(t["legs"][i]), "legs"), td(str(t["adjustments"][i])),
            _money(t["gross_pnl"][i]), td(rupees(t["charges"][i]), sort=t["charges"][i]), _money(t["net_pnl"][i]),
            td(str(t["exit_reason"][i]), "text"),
        ])  # fmt: skip
    head = ["#", "Strategy", "Entry (IST)", "Exit (IST)", "Legs", "Adj.", "Gross P&L", "Charges", "Net P&L", "Exit reason"]
    cap = _note(f"Showing the first {count(shown)} of {count(n)} trades; all are in trades.csv.") if shown < n else ""
    return f'{cap}<div class="trades">{table(head, rows, "sortable")}</div>' + _note("Click a heading to sort.")


# --- charts -----------------------------------------------------------------------------


def equity_section(run: RunData) -> str:
    if run.equity is None:
        return _missing("equity.csv", "the equity curve is")
    if not len(run.equity["time"]):
        return _note("The run recorded no equity (no minute was simulated).")
    fig, _ = equity_figure(run.equity)
    return _chart(fig, "chart-equity")


def daily_section(run: RunData) -> str:
    if run.daily is None:
        return _missing("daily.csv", "daily P&L and monthly returns are")
    if not len(run.daily["date"]):
        return _note("No trading days recorded.")
    return (_chart(daily_figure(run.daily), "chart-daily") + "<h2>Monthly returns (% of starting capital)</h2>"
            + monthly_table(monthly_returns(run.daily, run.capital)))  # fmt: skip


def spot_section(run: RunData) -> str:
    if run.spot is None:
        return _missing("spot.csv", "spot charts are")
    symbols = sorted(set(run.spot["symbol"].tolist()))
    parts = [] if run.events is not None else [_missing("events.csv", "entry/adjustment/exit markers are")]
    budget = max(SPOT_POINTS // max(len(symbols), 1), MAX_POINTS // 2)  # bounds the page size
    for symbol in symbols:
        fig, _ = spot_figure(symbol, run.spot, run.events, min(budget, MAX_POINTS))
        parts.append(_chart(fig, "chart-spot-" + re.sub(r"[^A-Za-z0-9_-]", "_", symbol)))
    if run.events is not None:
        unplaced = sorted({underlying(c) for c in run.events["contract"].tolist()} - set(symbols))
        for symbol in unplaced:
            k = sum(underlying(c) == symbol for c in run.events["contract"].tolist())
            parts.append(_note(f"{count(k)} order mark(s) on {symbol} not drawn: spot.csv has no {symbol} series."))
    return "".join(parts) or _note("spot.csv holds no rows.")


def _details(run: RunData) -> str:
    s = run.summary
    generated = s.get("generated")
    items = [
        ("Run folder", str(run.run_dir)), ("Data", str(s.get("data") or DASH)),
        ("Config files", ", ".join(map(str, s.get("config_files") or [])) or DASH),
        ("Generated", minute(ist_text(generated, "summary.json generated")) + " IST" if generated else DASH),
        ("Risk-free rate", percent(100 * (s.get("risk_free_rate") or 0))),
        ("Files not in the run folder", ", ".join(run.missing) or "none"),
    ]  # fmt: skip
    return table(["Run detail", "Value"], [[td(k), td(v, "text")] for k, v in items])


def build_html(run: RunData) -> str:
    s = run.summary
    head = title(run)
    body = [
        f"<h1>{escape(head)}</h1>",
        f'<div class="meta">Starting capital {escape(rupees(s["capital"], 0))} · {escape(_days(s["days"]))} '
        f"· all times IST (Asia/Kolkata) · money in ₹, net of charges unless marked gross</div>",
        cards(s),
        claims_table(s),
        f"<section><h2>Equity and drawdown</h2>{equity_section(run)}</section>",
        f"<section><h2>Daily P&amp;L</h2>{daily_section(run)}</section>",
        f"<section><h2>By strategy</h2>{strategy_table(s)}<h2>Orders and rejections</h2>{rejections_table(run)}</section>",
        f"<section><h2>Spot, entries, adjustments and exits</h2>{spot_section(run)}</section>",
        story_section(run),  # hook: each strategy's own story from its metrics (report_story.py)
        f"<section><h2>Trades</h2>{trades_table(run)}</section>",
        f"<section><h2>Run</h2>{_details(run)}</section>",
    ]  # fmt: skip
    return page(head, "\n".join(body))


def render_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default ``run_dir/report.html``)."""
    run = load_run(Path(run_dir))
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_html(run), encoding="utf-8")
    return out


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A backtest run folder (holds summary.json).")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default RUN_DIR/report.html).")] = None,
) -> None:
    """Re-render the HTML report of a backtest run folder."""
    try:
        path = render_report(run_dir, out)
    except RunFolderError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


__all__ = ["MAX_TRADE_ROWS", "build_html", "monthly_returns", "render_report", "report_command"]
