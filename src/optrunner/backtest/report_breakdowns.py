"""The report's breakdown tables: worst drawdowns, day by day, weekday, days to expiry, streaks,
charges per day, and the margin summary. Numbers come from report_analysis / metrics; this
module only lays them out (docs/metrics.md, "Report tables")."""

from __future__ import annotations

from datetime import date

import numpy as np

from optrunner.backtest.margin import MarginModel
from optrunner.backtest.metrics import drawdown_episodes, streaks
from optrunner.backtest.report_analysis import (
    Bucket,
    TradeDetail,
    by_days_to_expiry,
    by_weekday,
    charges_by_day,
)
from optrunner.backtest.report_data import CHARGES, RunData
from optrunner.backtest.report_format import (
    DASH,
    count,
    day,
    minute,
    percent,
    rupees,
    sign_class,
    table,
    td,
)
from optrunner.backtest.report_trades import money, note

CHARGE_NAMES = {"brokerage": "Brokerage", "stt": "STT", "exchange": "Exchange txn", "sebi": "SEBI fee",
                "stamp": "Stamp duty", "ipft": "IPFT", "gst": "GST"}  # fmt: skip


def _table_total(head: list[str], rows: list[list[str]], total: list[str], cls: str = "") -> str:
    """A table whose last row is a bold total, in the table's footer so sorting leaves it last."""
    html = table(head, rows, cls)
    return html.replace("</tbody>", '</tbody><tfoot><tr class="total">' + "".join(total) + "</tr></tfoot>")


def drawdowns_table(run: RunData, n: int = 5) -> str:
    if run.equity is None or not len(run.equity["time"]):
        return note("No equity curve: drawdowns not shown.")
    times, eq = run.equity["time"], run.equity["equity"]
    found = drawdown_episodes(np.concatenate([[run.capital], eq]), n)  # starts from the capital
    if not found:
        return note("Equity never fell below a previous peak.")

    def at(i: int | None) -> str:
        return minute(str(times[max(i - 1, 0)])) if i is not None else "not recovered"

    rows = []
    for k, e in enumerate(found, start=1):
        days = len(set(times[max(e.peak - 1, 0) : (e.recovery or len(times) + 1) - 1].astype("U10").tolist()))
        rows.append([td(str(k)), td(rupees(-e.depth), "neg"), td(percent(-e.depth_pct, signed=True), "neg"),
                     td(at(e.peak)), td(at(e.trough)), td(at(e.recovery)), td(count(days))])  # fmt: skip
    head = ["Rank", "Depth", "Depth % of peak", "Peak (IST)", "Trough (IST)", "Recovered (IST)", "Trading days"]
    return table(head, rows) + note("The deepest falls of the minute equity curve below a previous peak; "
                                    "each runs from the peak until equity regains it.")


def day_table(run: RunData) -> str:
    if run.daily is None or not len(run.daily["date"]):
        return note("No daily.csv rows: day-wise table not shown.")
    d = run.daily
    charges = charges_by_day(run.fills) if run.fills is not None else {}
    closed: dict[str, list[float]] = {}
    if run.trades is not None:
        for exit_, net in zip(run.trades["exit_time"].tolist(), run.trades["net_pnl"].tolist(), strict=True):
            closed.setdefault(str(exit_)[:10], []).append(net)
    peak = np.maximum.accumulate(np.concatenate([[run.capital], d["equity"]]))[1:]
    rows = []
    for i, ds in enumerate(d["date"].tolist()):
        c = charges.get(ds, {}).get("total", 0.0) if run.fills is not None else None
        trades = closed.get(ds, [])
        rows.append([td(day(ds), sort=ds), td(f"{date.fromisoformat(ds):%a}"), money(d["pnl"][i]),
                     td(rupees(c)), td(str(len(trades))),
                     td(str(sum(t > 0 for t in trades))), td(rupees(d["equity"][i])),
                     td(rupees(-(peak[i] - d["equity"][i])), sign_class(-(peak[i] - d["equity"][i])))])  # fmt: skip
    total = [td("Total"), td(""), money(float(d["pnl"].sum())),
             td(rupees(sum(v["total"] for v in charges.values())) if run.fills is not None else DASH),
             td(str(sum(len(v) for v in closed.values()))), td(str(sum(t > 0 for v in closed.values() for t in v))),
             td(""), td("")]  # fmt: skip
    head = ["Date", "Day", "Net P&L", "Charges", "Trades closed", "Winners", "Equity at close", "Below best close"]
    return f'<div class="scroll">{_table_total(head, rows, total, "sortable")}</div>'


def _bucket_table(first: str, buckets: dict[str, Bucket], unit: str) -> str:
    rows = [[td(k), td(count(b.count)), td(percent(100.0 * b.wins / b.count, 1) if b.count else DASH),
             money(b.pnl), money(b.pnl / b.count if b.count else None)] for k, b in buckets.items()]  # fmt: skip
    n = sum(b.count for b in buckets.values())
    wins = sum(b.wins for b in buckets.values())
    pnl = sum(b.pnl for b in buckets.values())
    total = [td("All"), td(count(n)), td(percent(100.0 * wins / n, 1) if n else DASH), money(pnl),
             money(pnl / n if n else None)]  # fmt: skip
    return _table_total([first, unit, f"{'Winning ' + unit.lower()}", "Net P&L", f"Per {unit.lower()[:-1]}"],
                        rows, total)  # fmt: skip


def weekday_table(run: RunData) -> str:
    if run.daily is None or not len(run.daily["date"]):
        return note("No daily P&L.")
    return _bucket_table("Weekday", by_weekday(run.daily), "Days")


def expiry_table(run: RunData) -> str:
    if run.trades is None or not len(run.trades["strategy"]):
        return note("No trades.")
    buckets = {("unknown" if k is None else ("expiry day" if k == 0 else f"{k} day" + ("s" if k > 1 else ""))): b
               for k, b in by_days_to_expiry(run.trades).items()}  # fmt: skip
    return _bucket_table("Days to expiry at entry", buckets, "Trades")


def streaks_table(run: RunData) -> str:
    rows = []
    for label, values in (("Trades", run.trades["net_pnl"].tolist() if run.trades is not None else None),
                          ("Days", run.daily["pnl"].tolist() if run.daily is not None else None)):  # fmt: skip
        if values is None:
            continue
        s = streaks(values)
        current = DASH if not s.current else (f"{s.current} win(s)" if s.current > 0 else f"{-s.current} loss(es)")
        rows.append([td(label), td(count(s.longest_win)), money(s.longest_win_sum), td(count(s.longest_loss)),
                     money(s.longest_loss_sum), td(current)])  # fmt: skip
    if not rows:
        return note("No trades or days.")
    head = ["Streaks of", "Longest winning", "It made", "Longest losing", "It lost", "At the end"]
    return table(head, rows) + note("A win is P&L > 0, a loss < 0; a zero ends a streak.")


def charges_table(run: RunData) -> str:
    if run.fills is None:
        return note("No fills.csv in the run folder: the charges breakdown is not shown.")
    per_day = charges_by_day(run.fills)
    if not per_day:
        return note("No fills, no charges.")
    keys = [*CHARGES, "total"]
    rows = [[td(day(d), sort=d), *(td(rupees(v[k])) for k in keys)] for d, v in per_day.items()]
    total = [td("Total"), *(td(rupees(sum(v[k] for v in per_day.values()))) for k in keys)]
    head = ["Date", *(CHARGE_NAMES[k] for k in CHARGES), "Total"]
    return (f'<div class="scroll">{_table_total(head, rows, total, "sortable")}</div>'
            + note("From the charges carried by every fill (fills.csv), expiry settlements included; rates in "
                   "portfolio/data (MARKET_FACTS.md)."))  # fmt: skip


def margin_summary(run: RunData, details: list[TradeDetail], model: MarginModel) -> tuple[str, float | None]:
    """The margin table and the peak margin (None when no trade had one)."""
    margins = [d.margin for d in details if d.margin]
    r = model.default
    constants = (f"scan {percent(100 * r.scan_pct, 1)}, floor {percent(100 * r.floor_pct, 1)}, exposure "
                 f"{percent(100 * r.exposure_pct, 1)}, expiry-day ELM {percent(100 * r.expiry_day_extra_pct, 1)}"
                 + (f" (own rates for {', '.join(sorted(model.indices))})" if model.indices else "")
                 + f"; constants: {model.source}")  # fmt: skip
    text = note("Margin is an estimate: a SPAN-like approximation for short index options with hedge benefit "
                "(docs/metrics.md, “Margin estimate”), applied to each trade's position at entry at the spot of "
                "its entry minute — not the exchange's SPAN. " + constants + ".")  # fmt: skip
    if not margins:
        return text + note("No trade had legs and spot to estimate a margin from (legs.csv, spot.csv)."), None
    net = float(run.summary["net_pnl"])
    peak = max(margins)
    rows = [[td("Peak margin at entry (est.)"), td(rupees(peak, 0))],
            [td("Average margin at entry (est.)"), td(rupees(sum(margins) / len(margins), 0))],
            [td("Net P&L / peak margin"), td(percent(100 * net / peak, 2, signed=True), sign_class(net))],
            [td("Trades with a margin estimate"), td(f"{count(len(margins))} of {count(len(details))}")]]  # fmt: skip
    return table(["Margin", "Value"], rows) + text, peak


__all__ = ["charges_table", "day_table", "drawdowns_table", "expiry_table", "margin_summary", "streaks_table",
           "weekday_table"]  # fmt: skip
