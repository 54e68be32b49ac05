"""Issue 18 on fixtures shaped like real public files (generated here; no third-party data).

- a minute scrape of NSE's option-chain API: symbol ``NIFTY50``, no bid/ask columns, NSE's IV
  in percent (spot Black-Scholes, r = 10 %, whole days / 365), LTP 0 and IV 0 on untraded
  strikes, gaps of 11 and 80 minutes between snapshots;
- a legacy Feb-2024 F&O bhavcopy (header ending in a comma, 08-FEB-2024 dates, CONTRACTS in
  contracts, VAL_INLAKH premium turnover, FUTIDX rows), traded on a weekly expiry day.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, time

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from optrunner.cli import app
from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderType, Right, Side, Tag
from optrunner.data.catalog import Catalog
from optrunner.data.importers import import_bhavcopy, import_tabular
from optrunner.data.importers.bhavcopy import read_index_closes
from optrunner.execution.brokers import BrokerEventKind, SimConfig, SimulatedExchange
from optrunner.greeks import bs_price, chain_greeks
from optrunner.instruments import OptionContract, get_index

runner = CliRunner()
SPOT, SIGMA, NSE_R = 24_400.0, 0.11, 0.10
DAY, EXPIRY = date(2026, 8, 10), date(2026, 8, 18)  # a Monday; the Tuesday weekly a week later
SCRAPE_TIMES = [time(9, 15), time(9, 26), time(10, 46), time(10, 57)]  # gaps of 11, 80 and 11 minutes
STRIKES = [24_000.0 + 50 * i for i in range(17)]
SCRAPE_HEADER = "timestamp,symbol,expiry,strike,option_type,spot,ltp,volume,oi,oi_chg,iv"


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "220"})


def nse_price(strike: float, is_call: bool, spot: float = SPOT) -> float:
    """A premium on the 0.05 tick priced the way NSE's screen reads IV."""
    t = (EXPIRY - DAY).days / 365.0
    return round(float(bs_price(spot, strike, t, NSE_R, 0.0, SIGMA, is_call)) / 0.05) * 0.05


def scrape_csv(path, *, dead_strike: float = 24_800.0):
    """The scrape: every contract each snapshot; one far strike untraded (LTP 0, IV 0)."""
    lines = [SCRAPE_HEADER]
    for i, tm in enumerate(SCRAPE_TIMES):
        for k in STRIKES:
            for right in ("CE", "PE"):
                dead = k == dead_strike and right == "CE"
                ltp = 0.0 if dead else nse_price(k, right == "CE")
                iv = 0.0 if dead else SIGMA * 100
                lines.append(f"{DAY} {tm:%H:%M:%S},NIFTY50,{EXPIRY:%d-%b-%Y},{k:.0f},{right},{SPOT},{ltp:.2f},"
                             f"{10 * i},{100 + i},{i},{iv:.2f}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def scraped(tmp_path):
    cat = Catalog.create(tmp_path / "cat")
    report = import_tabular(cat, [scrape_csv(tmp_path / "NIFTY50_2026-08-10.csv")], "nse_minute", symbol="NIFTY50")
    return cat, report


def test_a_scrape_without_quotes_imports_under_its_nse_name(scraped):
    cat, report = scraped
    assert cat.symbols() == ["NIFTY"]  # NIFTY50 is NSE's name for NIFTY
    assert report.rows_imported == len(SCRAPE_TIMES) * len(STRIKES) * 2 and report.rows_rejected == 0
    assert any("no ask, ask_qty, bid, bid_qty column(s)" in n and "modelled half-spread" in n for n in report.all_notes())
    snaps = list(cat.snapshots("NIFTY"))
    assert [s.ts.time() for s in snaps] == SCRAPE_TIMES  # gaps kept as they are, nothing invented
    assert np.isnan(snaps[0].bid).all() and np.isnan(snaps[0].ask).all()
    assert cat.snapshots_per_day("NIFTY") == {DAY: len(SCRAPE_TIMES)} and not cat.is_daily("NIFTY")


def test_the_simulated_exchange_fills_a_quoteless_scrape_at_ltp_plus_a_modelled_half_spread(scraped):
    cat, _ = scraped
    snap = cat.chain_at("NIFTY", datetime.combine(DAY, time(9, 26), IST))
    clock = SimClock(snap.ts)
    ex = SimulatedExchange(clock, SimConfig())
    ex.on_snapshot(snap)
    lot = get_index("NIFTY").lot_size(EXPIRY, DAY)
    leg = OptionContract("NIFTY", EXPIRY, 24_400.0, Right.CE)
    ex.submit(Order("o1", "s", Tag.ENTRY, leg, Side.BUY, lot, order_type=OrderType.MARKET))
    ltp = nse_price(24_400.0, True)
    fill = [e for e in ex.events() if e.kind is BrokerEventKind.FILL]
    half_spread_up = math.ceil(ltp * 1.005 / 0.05 - 1e-9) * 0.05  # 0.5 % of LTP, on the tick against the buyer
    assert [e.quantity for e in fill] == [lot] and fill[0].price == pytest.approx(half_spread_up)


def test_ltp_and_iv_of_zero_are_stored_as_nan_never_zero(scraped):
    cat, report = scraped
    snap = cat.chain_at("NIFTY", datetime.combine(DAY, time(9, 15), IST))
    dead = (snap.strike == 24_800.0) & snap.is_call
    assert np.isnan(snap.ltp[dead]).all() and not (snap.ltp == 0).any()
    assert np.isnan(snap.iv[dead]).all()
    stored = cat.day("NIFTY", DAY, columns=["iv_source"]).columns["iv_source"]
    assert not (stored == 0).any()
    assert report.zeros_as_nan == {"ltp": len(SCRAPE_TIMES), "iv_source": len(SCRAPE_TIMES)}


def test_nse_iv_is_kept_as_iv_source_and_the_nse_convention_reproduces_it(scraped):
    cat, _ = scraped
    day = cat.day("NIFTY", DAY)
    snap = day.snapshot(0)
    iv_source = day.columns["iv_source"][: len(snap)]
    traded = np.isfinite(snap.ltp)
    np.testing.assert_allclose(iv_source[traded], SIGMA)  # 11.00 % in the file -> 0.11
    # round trip: NSE-convention IV from the stored LTPs gives NSE's number back; premiums
    # under Rs 5 carry several vol points of tick noise (MARKET_FACTS.md), so compare above that
    nse = chain_greeks(snap, mode="nse", price="ltp")
    liquid = traded & (snap.ltp > 5)
    assert liquid.sum() >= 20
    assert np.nanmax(np.abs(nse.iv[liquid] - iv_source[liquid])) < 0.001  # 0.1 vol point
    # the catalog's own iv is Black-76 on the parity forward: another convention, same market
    assert np.isfinite(snap.iv[liquid]).all()
    assert np.nanmedian(np.abs(snap.iv[liquid] - SIGMA)) < 0.01


def test_chain_shows_either_iv_convention(scraped):
    cat, _ = scraped
    args = ["chain", "--data", str(cat.root), "--symbol", "NIFTY", "--at", f"{DAY} 09:30", "--strikes", "2"]
    black = run(*args)
    nse = run(*args, "--iv", "nse")
    assert black.exit_code == 0 and nse.exit_code == 0, black.output + nse.output
    assert "Black-76 on the forward" in black.output and "NSE convention" in nse.output
    atm_row = next(line for line in nse.output.splitlines() if "24,400 " in line and "spot" not in line)
    assert "11.0" in atm_row  # NSE's 11.00 % back from the ltp
    assert run(*args, "--iv", "bsm").exit_code != 0


def test_a_day_file_written_before_iv_source_existed_still_reads(scraped):
    cat, _ = scraped
    base = cat.root / "chains" / "symbol=NIFTY"
    old = base / "date=2026-08-07" / "part-0.parquet"  # an older day, from before the column
    old.parent.mkdir()
    table = pq.read_table(base / f"date={DAY}" / "part-0.parquet")
    pq.write_table(table.drop_columns(["iv_source"]), old)
    assert np.isnan(Catalog(cat.root).day("NIFTY", date(2026, 8, 7)).columns["iv_source"]).all()
    rows = Catalog(cat.root).query("SELECT date, count(*) FILTER (WHERE NOT isnan(iv_source)) AS k FROM chains GROUP BY date ORDER BY date")
    assert rows.to_pylist() == [{"date": date(2026, 8, 7), "k": 0}, {"date": DAY, "k": table.num_rows - 4}]


def test_an_import_that_rejects_every_row_exits_2_and_writes_no_catalog(tmp_path):
    path = scrape_csv(tmp_path / "scrape.csv")
    path.write_text(path.read_text().replace(f"{DAY} ", "10/08/2026 "))  # every time unreadable
    result = run("data", "import", "tabular", str(path), "--data", str(tmp_path / "cat"), "--mapping", "nse_minute",
                 "--symbol", "NIFTY50")  # fmt: skip
    assert result.exit_code == 2  # bad input (core/errors.py)
    assert "nothing imported: every row was rejected" in result.output
    assert "is not like %Y-%m-%d %H:%M:%S" in result.output  # the reasons are still shown
    assert not (tmp_path / "cat" / "catalog.json").exists()


# --- a legacy bhavcopy --------------------------------------------------------------------

BHAV_HEADER = "INSTRUMENT,SYMBOL,EXPIRY_DT,STRIKE_PR,OPTION_TYP,OPEN,HIGH,LOW,CLOSE,SETTLE_PR,CONTRACTS,VAL_INLAKH,OPEN_INT,CHG_IN_OI,TIMESTAMP,"
TRADE = date(2024, 2, 8)  # a Thursday: the weekly's expiry day
WEEKLY, MONTHLY = date(2024, 2, 8), date(2024, 2, 29)
BHAV_FUT, TRUE_LOT = 21_800.0, 50  # turnover is written with the lot NSE used then


def bhavcopy(path, *, weekly_spot: float = 21_720.0):
    """Feb-2024 legacy layout; VAL_INLAKH = CONTRACTS x lot x close / 1e5 (premium turnover)."""
    lines = [BHAV_HEADER]
    t_month = (MONTHLY - TRADE).days / 365.0
    for expiry in (WEEKLY, MONTHLY):
        for k in (21_500.0, 21_600.0, 21_700.0, 21_800.0, 21_900.0):
            for right in ("CE", "PE"):
                if expiry == WEEKLY:  # expiry-day close: near intrinsic plus a little time value
                    intrinsic = max(weekly_spot - k, 0.0) if right == "CE" else max(k - weekly_spot, 0.0)
                    close = intrinsic + 3.0
                else:
                    close = float(bs_price(BHAV_FUT * math.exp(-0.07 * t_month), k, t_month, 0.07, 0.0, 0.13, right == "CE"))
                close = round(close / 0.05) * 0.05
                contracts = 1_000
                lakhs = contracts * TRUE_LOT * close / 1e5
                lines.append(f"OPTIDX,NIFTY,{expiry:%d-%b-%Y},{k:.2f},{right},1,1,1,{close:.2f},{close:.2f},"
                             f"{contracts},{lakhs:.2f},50000,0,{TRADE:%d-%b-%Y},")  # fmt: skip
    lines.append(f"FUTIDX,NIFTY,{MONTHLY:%d-%b-%Y},0,XX,1,1,1,{BHAV_FUT:.2f},{BHAV_FUT:.2f},9000,1,100,0,{TRADE:%d-%b-%Y},")
    lines.append(f"FUTIDX,NIFTY,{date(2024, 3, 28):%d-%b-%Y},0,XX,1,1,1,21900.00,21900.00,900,1,100,0,{TRADE:%d-%b-%Y},")
    path.write_text("\n".join(lines).upper() + "\n")  # NSE writes 08-FEB-2024
    return path


def test_bhavcopy_volume_uses_the_lot_of_its_day_matching_the_turnover(tmp_path):
    path = bhavcopy(tmp_path / "fo08FEB2024bhav.csv")
    cat = Catalog.create(tmp_path / "cat")
    report = import_bhavcopy(cat, [path])
    assert report.rows_imported == 20 and report.rows_rejected == 0
    snap = cat.chain_at("NIFTY", datetime.combine(TRADE, time(15, 30), IST))
    rows = [line.split(",") for line in path.read_text().splitlines()[1:] if line.startswith("OPTIDX")]
    implied = {round(float(r[11]) * 1e5 / (int(r[10]) * float(r[8]))) for r in rows}  # lakhs / (contracts x price)
    assert implied == {TRUE_LOT}
    assert set(snap.volume) == {1_000.0 * TRUE_LOT}  # 50 a lot in Feb 2024, not 25


def test_bhavcopy_spot_comes_from_the_near_future_and_expiry_day_has_ivs(tmp_path):
    cat = Catalog.create(tmp_path / "cat", rate=0.07)
    report = import_bhavcopy(cat, [bhavcopy(tmp_path / "fo08FEB2024bhav.csv")])
    snap = cat.chain_at("NIFTY", datetime.combine(TRADE, time(15, 30), IST))
    near = BHAV_FUT * math.exp(-0.07 * (MONTHLY - TRADE).days / 365)  # the March future is not the near one
    assert snap.spot == pytest.approx(near)
    assert any("near-month future" in n for n in report.all_notes())
    weekly = snap.for_expiry(WEEKLY)
    assert np.isfinite(weekly.iv).sum() >= 4  # expiry-day IVs exist (T floored at the 15-minute close)
    assert cat.is_daily("NIFTY") and cat.snapshots_per_day("NIFTY") == {TRADE: 1}


def test_a_supplied_index_close_becomes_spot_and_find_option_prints_it(tmp_path):
    closes = tmp_path / "NIFTY 50_Historical.csv"
    closes.write_text('"Date ","Open ","High ","Low ","Close "\n"08-FEB-2024","21900","21950","21650","21717.95"\n')
    assert read_index_closes(closes, "NIFTY") == {("NIFTY", (TRADE - date(1970, 1, 1)).days): 21_717.95}
    path = bhavcopy(tmp_path / "fo08FEB2024bhav.csv")
    result = run("data", "import", "bhavcopy", str(path), "--data", str(tmp_path / "cat"),
                 "--index-close", str(closes), "--symbol", "NIFTY")  # fmt: skip
    assert result.exit_code == 0, result.output
    found = run("find-option", "--data", str(tmp_path / "cat"), "--symbol", "NIFTY", "--at", f"{TRADE} 15:30",
                "--type", "PE", "--expiry", str(MONTHLY))  # fmt: skip
    assert found.exit_code == 0, found.output
    assert "spot 21,717.95" in found.output and "nan" not in found.output.lower()


def test_an_index_close_file_without_an_index_column_needs_the_symbol(tmp_path):
    closes = tmp_path / "closes.csv"
    closes.write_text("Date,Close\n2024-02-08,21717.95\n")
    result = run("data", "import", "bhavcopy", str(bhavcopy(tmp_path / "fo.csv")), "--data", str(tmp_path / "cat"),
                 "--index-close", str(closes))  # fmt: skip
    assert result.exit_code == 2 and "pass --symbol" in result.output
    assert not (tmp_path / "cat").exists()


def test_an_intraday_strategy_on_a_daily_catalog_is_refused_before_running(tmp_path):
    data = tmp_path / "cat"
    assert run("data", "import", "bhavcopy", str(bhavcopy(tmp_path / "fo.csv")), "--data", str(data)).exit_code == 0
    doc = json.loads((__import__("pathlib").Path(__file__).parents[2] / "examples/configs/NIFTY_DNSS.json").read_text())
    doc["market_config"]["db_path"] = str(data)
    (tmp_path / "dnss.json").write_text(json.dumps(doc))
    result = run("backtest", str(tmp_path / "dnss.json"), "--data", str(data), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert "one snapshot per day" in result.output and "could never trade" in result.output
    assert not (tmp_path / "run").exists()  # refused up front, nothing ran
