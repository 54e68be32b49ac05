"""The HTML backtest report rendered from run folders written by hand (tests/unit/_report_support.py)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time

import pytest
from _report_support import (
    EVENTS_HEADER,
    TRADES_HEADER,
    cards,
    small_run,
    strategy_figures,
    table_with,
    write_csv,
    write_summary,
    year_run,
)
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from optrunner.backtest.report import MAX_TRADE_ROWS, render_report
from optrunner.cli import app

DASH = "—"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    run = small_run(tmp_path_factory.mktemp("small") / "run")
    return run, render_report(run).read_text(encoding="utf-8")


def test_writes_one_self_contained_page_next_to_the_run(small):
    run, html = small
    assert (run / "report.html").is_file()
    assert html.startswith("<!DOCTYPE html>") and html.count("<html") == 1 and html.rstrip().endswith("</html>")
    # Nothing fetched from anywhere: no script or stylesheet by address, no web fonts, no CSS imports.
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "<link" not in html and "@import" not in html and "url(http" not in html
    # The library once (gzip + base64, unpacked in the browser), not once per chart.
    packed = re.findall(r'<script type="application/octet-stream" id="plotly-gz">([^<]*)</script>', html)
    assert len(packed) == 1
    assert gzip.decompress(base64.b64decode(packed[0])).decode() == get_plotlyjs()
    assert html.count('class="chart-data"') == 4  # equity+drawdown, daily P&L, a spot chart per underlying


def test_title_names_strategies_symbols_and_dates(small):
    _, html = small
    h1 = re.search(r"<h1>(.*?)</h1>", html).group(1)
    assert h1 == "Backtest: dnss, zones, idle · BANKNIFTY, NIFTY · 30 Jan 2026 to 03 Feb 2026"


def test_headline_cards_in_rupees_indian_style(small):
    _, html = small
    got = cards(html)
    assert got["Net P&L"] == "₹1,23,456.78"
    assert got["Return"] == "12.35%"
    assert got["Max drawdown"] == "1.23%"
    assert '<div class="sub">₹12,345.50</div>' in html  # the drawdown in rupees under its %
    assert got["Sharpe"] == DASH and got["Calmar"] == DASH  # None in summary.json
    assert got["Sortino"] == "5.12"
    assert got["Win rate"] == "66.7%"
    assert got["Profit factor"] == "13.35"
    assert got["Trades"] == "3" and got["Adjustments"] == "1"
    assert got["Charges"] == "₹5,543.22"
    assert got["Capital"] == "₹10,00,000"
    assert got["Best day"] == "₹1,00,000.00" and got["Worst day"] == "-₹10,000.00"


def test_monthly_returns_are_month_pnl_over_starting_capital(small):
    _, html = small
    head, *rows = table_with(html, "Year", "Jan")
    assert head == ["Year", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Year"]
    # Jan: -10,000 / 10,00,000 = -1.00%. Feb: (1,00,000 + 33,456.78) / 10,00,000 = 13.345678%.
    # Year: 1,23,456.78 / 10,00,000 = 12.345678%. Months without trading days stay blank.
    assert rows == [["2026", "-1.00%", "+13.35%", *[""] * 10, "+12.35%"]]


def test_monthly_table_splits_years(tmp_path):
    run = tmp_path / "run"
    write_summary(run, start="2025-12-31", end="2026-01-01", days=2)
    write_csv(run / "daily.csv", ["date", "pnl", "equity"],
              [["2025-12-31", 2_500.0, 1_002_500.0], ["2026-01-01", -500.0, 1_002_000.0]])  # fmt: skip
    _, *rows = table_with(render_report(run).read_text(encoding="utf-8"), "Year", "Jan")
    assert rows == [["2025", *[""] * 11, "+0.25%", "+0.25%"], ["2026", "-0.05%", *[""] * 11, "-0.05%"]]


def test_trade_list_rows(small):
    _, html = small
    head, *rows = table_with(html, "#", "Strategy")
    assert head == ["#", "Strategy", "Entry (IST)", "Exit (IST)", "Legs", "Adj.", "Gross P&L", "Charges", "Net P&L",
                    "MAE", "MFE", "Margin (est.)", "Return on margin", "Exit reason"]  # fmt: skip
    # Contracts read as a trader names them, one per line. MAE/MFE: extremes of SMALL_MTM with the flat start.
    # Margin at entry (spot = base + minute of the run; docs/metrics.md):
    # 1: NIFTY 25000 straddle, 75 units, spot 25,005: max(CE 10% x 18,75,375 = 1,87,537.5, PE 1,87,537.5 - 5 x 75)
    #    + exposure 2% x 18,75,375 x 2 = 2,62,552.5; return -10,000 / 2,62,552.5 = -3.81%.
    # 2: 25100 CE / 24900 PE, 100 units, spot 25,390: max(2,53,900, 2,53,900 - 49,000) + 1,01,560 = 3,55,460.
    # 3: only the 57000 PE was opened at entry (50 units, ITM, spot 55,795): 2,78,975 + 55,795 = 3,34,770.
    assert rows == [
        ["1", "dnss", "30 Jan 2026 09:20", "30 Jan 2026 15:20", "NIFTY 03 Feb 26 25000 CENIFTY 03 Feb 26 25000 PE",
         "0", "-₹9,000.00", "₹1,000.00", "-₹10,000.00", "-₹12,000.00", "₹500.00", "₹2,62,552", "-3.81%", "STOP_LOSS"],
        ["2", "dnss", "02 Feb 2026 09:30", "02 Feb 2026 15:15", "NIFTY 03 Feb 26 25100 CENIFTY 03 Feb 26 24900 PE",
         "0", "₹1,01,000.00", "₹1,000.00", "₹1,00,000.00", "-₹1,000.00", "₹1,10,000.00", "₹3,55,460", "+28.13%",
         "EXIT"],
        ["3", "zones", "03 Feb 2026 10:00", "03 Feb 2026 14:00",
         "BANKNIFTY 24 Feb 26 57000 PEBANKNIFTY 24 Feb 26 56500 PE", "1", "₹37,000.00", "₹3,543.22", "₹33,456.78",
         "-₹3,000.00", "₹36,000.00", "₹3,34,770", "+9.99%", "TARGET"],
    ]  # fmt: skip
    assert "Showing the first" not in html


def test_strategy_breakdown_shows_dash_for_undefined_ratios(small):
    _, html = small
    head, *rows = table_with(html, "Strategy", "Trades")
    by_name = {r[0]: dict(zip(head, r, strict=True)) for r in rows}
    idle = by_name["idle"]
    assert idle["Trades"] == "0" and idle["Net P&L"] == "₹0.00"
    assert [idle[k] for k in ("Win rate", "Avg win", "Avg loss", "Expectancy", "Profit factor")] == [DASH] * 5
    assert by_name["zones"]["Profit factor"] == DASH and by_name["zones"]["Avg loss"] == DASH  # no losing trade
    assert by_name["dnss"]["Net P&L"] == "₹90,000.00" and by_name["dnss"]["Profit factor"] == "10.00"
    assert by_name["All strategies"]["Net P&L"] == "₹1,23,456.78" and by_name["All strategies"]["Trades"] == "3"


def test_claimed_vs_measured(small):
    _, html = small
    _, *rows = table_with(html, "Strategy", "Measure")
    assert rows == [
        ["dnss", "Win rate", "72.5%", "50.0%", "-22.5 pp"],
        ["dnss", "Avg profit (winning trade)", "₹4,500.00", "₹1,00,000.00", "₹95,500.00"],
        # The strategy file states its average loss as a positive amount; the measured -10,000 is shown alike.
        ["dnss", "Avg loss (losing trade)", "₹1,800.00", "₹10,000.00", "₹8,200.00"],
        ["dnss", "Period", "2025-01-01 to 2025-12-31", "2026-01-30 to 2026-02-03", ""],
    ]


def test_no_claims_no_claims_table(tmp_path):
    html = render_report(small_run(tmp_path / "run", claims={})).read_text(encoding="utf-8")
    assert "Claimed vs measured" not in html


def test_rejected_orders_by_reason(small):
    _, html = small
    _, *rows = table_with(html, "Reason")
    assert rows == [["FREEZE_QTY", "5"], ["MARGIN", "2"], ["Total", "7"]]
    assert "Orders sent: 14." in html


def test_spot_charts_carry_a_marker_trace_per_tag(small):
    _, html = small
    for name in ("Entry (2)", "Exit (2)", "Entry (1)", "Adjustment exit (1)", "Adjustment entry (1)", "Exit (1)"):
        assert f'"name":"{name}"' in html
    assert '"symbol":"triangle-up"' in html and '"symbol":"diamond"' in html


def test_a_run_with_no_trades_renders(tmp_path):
    """One flat day, nothing traded: the recorder writes an empty trades.csv (no header)."""
    run = tmp_path / "run"
    write_summary(run, strategies={"dnss": strategy_figures()})
    minutes = [f"2026-01-05T{(555 + m) // 60:02d}:{(555 + m) % 60:02d}:00+05:30" for m in range(375)]
    write_csv(run / "equity.csv", ["time", "equity", "drawdown", "gross_pnl", "charges"],
              [[t, 1_000_000.0, 0.0, 0.0, 0.0] for t in minutes])  # fmt: skip
    write_csv(run / "daily.csv", ["date", "pnl", "equity"], [["2026-01-05", 0.0, 1_000_000.0]])
    write_csv(run / "spot.csv", ["time", "symbol", "spot"], [[t, "NIFTY", 25_000.0] for t in minutes])
    (run / "trades.csv").write_text("")
    write_csv(run / "events.csv", EVENTS_HEADER, [])
    html = render_report(run).read_text(encoding="utf-8")
    got = cards(html)
    assert got["Net P&L"] == "₹0.00" and got["Trades"] == "0"
    assert [got[k] for k in ("Sharpe", "Sortino", "Calmar", "Win rate", "Profit factor")] == [DASH] * 5
    assert "No trades" in html and "Claimed vs measured" not in html
    assert '"name":"Entry' not in html
    _, *rows = table_with(html, "Year", "Jan")
    assert rows == [["2026", "0.00%", *[""] * 11, "0.00%"]]


def test_files_the_run_did_not_write_are_named(tmp_path):
    run = tmp_path / "run"
    write_summary(run)
    html = render_report(run).read_text(encoding="utf-8")
    for name in ("equity.csv", "daily.csv", "trades.csv", "spot.csv"):
        assert f"No {name} in the run folder" in html
    assert "equity.csv, daily.csv, trades.csv, spot.csv, events.csv" in html


def test_trade_list_is_capped_with_a_note(tmp_path):
    run = tmp_path / "run"
    write_summary(run)
    row = ["dnss", "2026-01-05T09:20:00+05:30", "2026-01-05T15:00:00+05:30", "NIFTY:20260113:25000:CE", 0, 10.0,
           1.0, 9.0, "EXIT"]  # fmt: skip
    write_csv(run / "trades.csv", TRADES_HEADER, [row] * (MAX_TRADE_ROWS + 1))
    html = render_report(run).read_text(encoding="utf-8")
    assert len(table_with(html, "#", "Strategy")) == 1 + MAX_TRADE_ROWS
    assert "Showing the first 2,000 of 2,001 trades; all are in trades.csv." in html


def test_cli_report_rerenders_a_run_folder(small, tmp_path):
    run, _ = small
    out = tmp_path / "elsewhere" / "r.html"
    res = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and str(out) in res.output
    assert cards(out.read_text(encoding="utf-8"))["Net P&L"] == "₹1,23,456.78"


def test_cli_report_names_what_is_wrong(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 1
    assert "no summary.json" in res.output and str(tmp_path) in res.output


@pytest.mark.slow
def test_a_year_of_minutes_renders_small_and_fast(tmp_path):
    run = year_run(tmp_path / "year")  # 250 days x 375 minutes = 93,750 equity rows, two underlyings
    began = time.perf_counter()
    out = render_report(run)
    seconds = time.perf_counter() - began
    size = out.stat().st_size
    assert size < 8_000_000, f"{size / 1e6:.1f} MB"
    assert seconds < 15, f"{seconds:.1f} s"  # ~1.5 s here; generous for a noisy 2-core machine
    # Each chart states its downsampling; three series (equity, drawdown, spot x2) of <= 10k points.
    kept = re.findall(r"min and max of each 19-minute bucket, ([\d,]+) of 93,750 points", out.read_text(encoding="utf-8"))
    assert len(kept) >= 3 and all(int(k.replace(",", "")) <= 10_000 for k in kept)


def test_every_section_is_there_with_its_heading(small):
    _, html = small
    from optrunner.backtest.report import SECTIONS

    for key, heading in SECTIONS:
        assert f'<section id="{key}"' in html, key
        assert key == "overview" or f"<h2>{heading.replace('&', '&amp;')}</h2>" in html, heading


def test_charges_per_day_by_component_sum_to_the_total(small):
    _, html = small
    head, *rows = table_with(html, "Date", "Brokerage")
    assert head == ["Date", "Brokerage", "STT", "Exchange txn", "SEBI fee", "Stamp duty", "IPFT", "GST", "Total"]
    assert [r[0] for r in rows] == ["30 Jan 2026", "02 Feb 2026", "03 Feb 2026", "Total"]
    assert [r[-1] for r in rows] == ["₹1,000.00", "₹1,000.00", "₹3,543.22", "₹5,543.22"]
    assert rows[-1][1] == "₹240.00"  # 12 fills x ₹20 brokerage


def test_day_by_day_weekday_and_expiry_tables(small):
    _, html = small
    _, *days = table_with(html, "Date", "Day")
    assert days[0] == ["30 Jan 2026", "Fri", "-₹10,000.00", "₹1,000.00", "1", "0", "₹9,90,000.00", "-₹10,000.00"]
    assert days[-1] == ["Total", "", "₹1,23,456.78", "₹5,543.22", "3", "2", "", ""]
    _, *weekdays = table_with(html, "Weekday")
    assert weekdays == [["Monday", "1", "100.0%", "₹1,00,000.00", "₹1,00,000.00"],
                        ["Tuesday", "1", "100.0%", "₹33,456.78", "₹33,456.78"],
                        ["Friday", "1", "0.0%", "-₹10,000.00", "-₹10,000.00"],
                        ["All", "3", "66.7%", "₹1,23,456.78", "₹41,152.26"]]  # fmt: skip
    _, *dte = table_with(html, "Days to expiry at entry")
    assert [r[0] for r in dte] == ["1 day", "4 days", "21 days", "All"] and dte[-1][3] == "₹1,23,456.78"


def test_streaks_and_worst_drawdowns(small):
    _, html = small
    _, *rows = table_with(html, "Streaks of")
    # Trades -10,000, +1,00,000, +33,456.78; days the same.
    assert rows[0] == ["Trades", "2", "₹1,33,456.78", "1", "-₹10,000.00", "2 win(s)"]
    _, *dd = table_with(html, "Rank", "Depth")
    # The first day falls in a straight line from 10,00,000 to 9,90,000; the next climbs 1,00,000 over 374
    # minute steps from 09:15, so it is back at 10,00,000 at step ceil(37.4) = 38: 09:53.
    assert dd[0][:3] == ["1", "-₹10,000.00", "-1.00%"] and dd[0][3:6] == [
        "30 Jan 2026 09:15", "30 Jan 2026 15:29", "02 Feb 2026 09:53"]


def test_legs_and_adjustment_log_name_contracts_for_people(small):
    _, html = small
    _, *legs = table_with(html, "Trade", "Strategy", "Contract")
    assert legs[0] == ["1", "dnss", "NIFTY 03 Feb 26 25000 CE", "SELL", "75", "30 Jan 2026 09:20", "120.00",
                       "30 Jan 2026 15:20", "80.00", "EXIT", "₹3,000.00", "₹500.00", "₹2,500.00"]  # fmt: skip
    _, *adj = table_with(html, "Time (IST)", "Trade")
    assert adj == [["03 Feb 2026 11:00", "3", "zones", "DELTA_DRIFT", "-150.50", "3.25", "BANKNIFTY 24 Feb 26 57000 PE",
                    "BANKNIFTY 24 Feb 26 56500 PE"]]  # fmt: skip
    assert "NIFTY:2026" not in re.sub(r"<script.*?</script>", "", html, flags=re.S).split('id="settings"')[0]


def test_inspector_ships_each_trades_path_and_entry_payoff(small):
    _, html = small
    data = json.loads(re.search(r'id="trade-data">(.*?)</script>', html).group(1).replace("<\\/", "</"))
    first = data[0]
    assert first["m"] == [0, 40, 160, 360] and first["y"] == [-1000.0, 500.0, -12000.0, -10000.0]
    assert (first["mae"], first["mfe"], first["spot"], first["margin"]) == (-12000.0, 500.0, 25005.0, 262552)
    # Straddle at 25000 with 220 x 75 credit: breakevens 24,780 and 25,220; the corner at the strike is +16,500.
    assert first["be"] == [24780.0, 25220.0] and 16500.0 in first["py"]


def test_run_settings_render_whatever_the_run_recorded(tmp_path):
    settings = {"capital": 500000, "slippage": {"ticks": 2, "pct": 0.0}, "latency_ms": 250,
                "risk": {"day_loss_halt_pct": 2.0, "entry_cutoff": "14:50"}, "code_version": "0.1.0+abc123"}  # fmt: skip
    html = render_report(small_run(tmp_path / "run", settings=settings)).read_text(encoding="utf-8")
    _, *rows = table_with(html, "Setting", "Value")
    assert rows == [["capital", "500000"], ["slippage.ticks", "2"], ["slippage.pct", "0.0"], ["latency_ms", "250"],
                    ["risk.day_loss_halt_pct", "2.0"], ["risk.entry_cutoff", "14:50"],
                    ["code_version", "0.1.0+abc123"]]  # fmt: skip
    details = dict(table_with(html, "Run detail", "Value")[1:])
    assert details["Run written"] == "01 Feb 2026 10:00 IST"  # summary "generated" 04:30 UTC
    assert details["Report rendered"].endswith("IST") and "Generated —" not in html
    assert details["Dates"] == "30 Jan 2026 to 03 Feb 2026 (3 trading days)"


def test_without_settings_the_report_says_so(small):
    _, html = small
    assert "records no run settings" in html


def test_cli_report_takes_the_users_margin_constants(small, tmp_path):
    run, _ = small
    f = tmp_path / "margin.json"
    f.write_text(json.dumps({"default": {"scan_pct": 0.2, "floor_pct": 0.05, "exposure_pct": 0.02,
                                         "expiry_day_extra_pct": 0.02}}))  # fmt: skip
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(run), "--out", str(out), "--margin", str(f)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    # Trade 1 at 20%: 20% x 18,75,375 + 2 x 2% x 18,75,375 = 4,50,090 (it was 2,62,552.5 at the bundled 10%).
    assert table_with(html, "#", "Strategy")[1][11] == "₹4,50,090" and str(f) in html
    f.write_text("{")
    res = CliRunner().invoke(app, ["report", str(run), "--out", str(out), "--margin", str(f)])
    assert res.exit_code == 1 and "margin.json" in res.output and "Traceback" not in res.output
