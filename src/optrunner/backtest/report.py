"""The backtest report: one self-contained HTML page from a run folder.

A trader shows it to a colleague, so it must open anywhere without network (plotly.js is
embedded once, compressed), stay a few MB for a year of minutes (charts are min/max
downsampled, the trade list is capped), and never print "nan": undefined ratios read "—".
Everything is read back from the files the run wrote (docs/metrics.md), so ``optrunner report
RUN_DIR`` re-renders any past run the same way the backtest did; a run folder written before a
file existed (legs.csv, say) renders with that section saying so.

This module lays out the page (headline, equity, daily, strategy, spot and settings
sections); the trade sections are in report_trades.py, the breakdown tables in
report_breakdowns.py, their numbers in report_analysis.py and the margin model in margin.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any

import typer

from optrunner.backtest.margin import MarginModel, load_margin_model
from optrunner.backtest.report_analysis import TradeDetail, trade_details
from optrunner.backtest.report_breakdowns import (
    charges_table,
    day_table,
    drawdowns_table,
    expiry_table,
    margin_summary,
    streaks_table,
    weekday_table,
)
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
from optrunner.backtest.report_template import chart, page
from optrunner.backtest.report_trades import (
    MAX_TRADE_ROWS,
    adjustments_table,
    inspector,
    legs_table,
    money,
    note,
    trades_table,
)
from optrunner.core.timeutil import IST

SPOT_POINTS = 20_000  # shared by the spot charts: 10k points each for two underlyings
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _missing(name: str, what: str) -> str:
    return note(f"No {name} in the run folder: {what} not shown.")


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


def cards(s: dict[str, Any], extra: list[str] = ()) -> str:
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
    return f'<div class="cards">{"".join([*items, *extra])}</div>'


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
        return [td(name), td(count(m.get("trades"))), td(percent(m.get("win_rate"), 1)), money(m.get("avg_win")),
                money(m.get("avg_loss")), money(m.get("expectancy")), td(ratio(m.get("profit_factor"))),
                money(m.get("gross_pnl")), td(rupees(m.get("charges"))), money(m.get("net_pnl")),
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
    sent = note(f"Orders sent: {count(orders)}.")
    if not rejected:
        return sent + note("No orders were rejected.")
    rows = [[td(reason), td(count(n))] for reason, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))]
    rows.append([td("Total"), td(count(sum(rejected.values())))])
    return sent + table(["Reason", "Rejected orders"], rows)


# --- charts -----------------------------------------------------------------------------


def equity_section(run: RunData) -> str:
    if run.equity is None:
        return _missing("equity.csv", "the equity curve is")
    if not len(run.equity["time"]):
        return note("The run recorded no equity (no minute was simulated).")
    fig, _ = equity_figure(run.equity)
    return chart(fig, "chart-equity")


def daily_section(run: RunData) -> str:
    if run.daily is None:
        return _missing("daily.csv", "daily P&L and monthly returns are")
    if not len(run.daily["date"]):
        return note("No trading days recorded.")
    return (chart(daily_figure(run.daily), "chart-daily") + "<h2>Monthly returns (% of starting capital)</h2>"
            + monthly_table(monthly_returns(run.daily, run.capital)))  # fmt: skip


def spot_section(run: RunData) -> str:
    if run.spot is None:
        return _missing("spot.csv", "spot charts are")
    symbols = sorted(set(run.spot["symbol"].tolist()))
    parts = [] if run.events is not None else [_missing("events.csv", "entry/adjustment/exit markers are")]
    budget = max(SPOT_POINTS // max(len(symbols), 1), MAX_POINTS // 2)  # bounds the page size
    for symbol in symbols:
        fig, _ = spot_figure(symbol, run.spot, run.events, min(budget, MAX_POINTS))
        parts.append(chart(fig, "chart-spot-" + re.sub(r"[^A-Za-z0-9_-]", "_", symbol)))
    if run.events is not None:
        unplaced = sorted({underlying(c) for c in run.events["contract"].tolist()} - set(symbols))
        for symbol in unplaced:
            k = sum(underlying(c) == symbol for c in run.events["contract"].tolist())
            parts.append(note(f"{count(k)} order mark(s) on {symbol} not drawn: spot.csv has no {symbol} series."))
    return "".join(parts) or note("spot.csv holds no rows.")


def _setting_rows(value: Any, path: str = "") -> list[tuple[str, str]]:
    """A nested settings dict as (dotted key, text) rows, in the order the run wrote them."""
    if isinstance(value, dict):
        if not value:
            return [(path, "(none)")] if path else []
        return [row for k, v in value.items() for row in _setting_rows(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value) or "(none)"
    else:
        text = DASH if value is None else str(value)
    return [(path, text)]


def _file_time(path: Path) -> str:
    return f"{datetime.fromtimestamp(path.stat().st_mtime, UTC).astimezone(IST):%d %b %Y %H:%M:%S} IST"


def settings_section(run: RunData) -> str:
    """What the run was given (summary["settings"], whatever its shape) and what the report knows."""
    s = run.summary
    generated = s.get("generated")
    written = (minute(ist_text(generated, "summary.json generated")) + " IST" if generated
               else _file_time(run.run_dir / "summary.json"))  # fmt: skip
    items = [
        ("Run folder", str(run.run_dir)), ("Data", str(s.get("data") or DASH)),
        ("Config files", ", ".join(map(str, s.get("config_files") or [])) or DASH),
        ("Dates", f"{day(s['start'])} to {day(s['end'])} ({_days(s['days'])})"),
        ("Starting capital", rupees(s["capital"], 0)),
        ("Run written", written),
        ("Report rendered", f"{datetime.now(IST):%d %b %Y %H:%M:%S} IST"),
        ("Risk-free rate", percent(100 * (s.get("risk_free_rate") or 0))),
        ("Backtest time", f"{s['elapsed_seconds']:.1f} s, {count(s.get('snapshots'))} snapshots"
         if isinstance(s.get("elapsed_seconds"), (int, float)) else DASH),
        ("Files not in the run folder", ", ".join(run.missing) or "none"),
    ]  # fmt: skip
    settings = s.get("settings")
    rows = [[td(k), td(v, "text")] for k, v in items]
    html = table(["Run detail", "Value"], rows)
    if isinstance(settings, dict) and settings:
        html += "<h2>Settings the run used</h2>" + table(
            ["Setting", "Value"], [[td(k), td(v, "text")] for k, v in _setting_rows(settings)])
    else:
        html += note("summary.json records no run settings (slippage, latency, risk limits, code version): "
                     "this run predates them.")  # fmt: skip
    return html


SECTIONS = (  # id, heading: the table of contents and the screenshot test's checklist
    ("overview", "Overview"), ("equity", "Equity and drawdown"), ("daily", "Daily P&L"),
    ("days", "Day by day"), ("breakdowns", "Breakdowns"), ("trades", "Trades"), ("inspector", "Trade inspector"),
    ("legs", "Trade legs"), ("adjustments", "Adjustments"), ("charges", "Charges"), ("margin", "Margin"),
    ("strategies", "By strategy"), ("spot", "Spot and orders"), ("settings", "Run settings"),
)  # fmt: skip


def _section(key: str, body: str) -> str:
    heading = dict(SECTIONS)[key]
    return f'<section id="{key}"><h2>{escape(heading)}</h2>{body}</section>'


def open_positions_alarm(s: dict) -> str:
    """A run that ended holding options: its P&L is partly a mark, not a result — said up top."""
    n = s.get("open_positions") or 0
    if not n:
        return ""
    return (f'<div class="alarm">The run ended with {n} open position(s): their P&L is marked at the last '
            "price, not realised or settled. See the legs still open in Trade legs.</div>")  # fmt: skip


def build_html(run: RunData, model: MarginModel | None = None) -> str:
    s = run.summary
    model = model or load_margin_model()
    head = title(run)
    details: list[TradeDetail] = trade_details(run, model)
    margin_html, peak = margin_summary(run, details, model)
    extra = [_card("Peak margin (est.)", rupees(peak, 0), "SPAN-like estimate at entry"),
             _card("Return on margin", percent(100 * s["net_pnl"] / peak if peak else None, signed=True),
                   "net P&L / peak margin", sign_class(s["net_pnl"]) if peak else "")]  # fmt: skip
    toc = " ".join(f'<a href="#{k}">{escape(h)}</a>' for k, h in SECTIONS if k != "overview")
    body = [
        f"<h1>{escape(head)}</h1>",
        f'<div class="meta">Starting capital {escape(rupees(s["capital"], 0))} · {escape(_days(s["days"]))} '
        f"· all times IST (Asia/Kolkata) · money in ₹, net of charges unless marked gross</div>",
        open_positions_alarm(s),
        f'<nav class="toc">{toc}</nav>',
        f'<section id="overview" class="bare">{cards(s, extra)}</section>',
        claims_table(s),
        _section("equity", equity_section(run) + "<h2>Worst drawdowns</h2>" + drawdowns_table(run)),
        _section("daily", daily_section(run)),
        _section("days", day_table(run)),
        _section("breakdowns", '<div class="grid"><div><h2>By weekday</h2>' + weekday_table(run)
                 + "</div><div><h2>By days to expiry</h2>" + expiry_table(run) + "</div></div>"
                 + "<h2>Win and loss streaks</h2>" + streaks_table(run)),
        _section("trades", trades_table(run, details)),
        _section("inspector", inspector(run, details)),
        _section("legs", legs_table(run)),
        _section("adjustments", adjustments_table(run)),
        _section("charges", charges_table(run)),
        _section("margin", margin_html),
        _section("strategies", strategy_table(s) + "<h2>Orders and rejections</h2>" + rejections_table(run)),
        _section("spot", spot_section(run)),
        story_section(run),  # hook: each strategy's own story from its metrics (report_story.py)
        _section("settings", settings_section(run)),
    ]  # fmt: skip
    return page(head, "\n".join(body), CHART_CONFIG)


def render_report(run_dir: Path, out: Path | None = None, margin_file: Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default ``run_dir/report.html``);
    ``margin_file`` replaces the bundled margin constants (backtest/data/margin.json)."""
    run = load_run(Path(run_dir))
    model = load_margin_model(margin_file)
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_html(run, model), encoding="utf-8")
    return out


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A backtest run folder (holds summary.json).")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default RUN_DIR/report.html).")] = None,
    margin: Annotated[Path | None, typer.Option("--margin", help="Margin constants file (a copy of backtest/data/margin.json).")] = None,
) -> None:
    """Re-render the HTML report of a backtest run folder."""
    try:
        path = render_report(run_dir, out, margin)
    except (RunFolderError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


__all__ = ["MAX_TRADE_ROWS", "SECTIONS", "build_html", "monthly_returns", "render_report", "report_command"]
