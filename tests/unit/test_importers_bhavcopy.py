"""NSE F&O bhavcopies (legacy and UDiFF) as end-of-day snapshots at 15:30 IST."""

import math
from datetime import date, datetime, time

import numpy as np
import pytest

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.importers import DataImportError, import_bhavcopy
from optrunner.greeks import black76_price
from optrunner.instruments import get_index, time_to_expiry

SIGMA, RATE = 0.14, 0.055
STRIKES = [21_500.0, 21_600.0, 21_700.0, 21_800.0, 21_900.0]


def closes(trade: date, expiry: date, forward: float, strikes=STRIKES) -> dict[tuple[float, str], float]:
    """Closes on the tick of a Black-76 market with vol SIGMA around ``forward``."""
    t = time_to_expiry(datetime.combine(trade, time(15, 30), IST), expiry)
    out = {}
    for k in strikes:
        for right in ("CE", "PE"):
            price = float(black76_price(forward, k, t, RATE, SIGMA, right == "CE"))
            out[(k, right)] = round(price / 0.05) * 0.05
    return out


LEGACY_HEADER = "INSTRUMENT,SYMBOL,EXPIRY_DT,STRIKE_PR,OPTION_TYP,OPEN,HIGH,LOW,CLOSE,SETTLE_PR,CONTRACTS,VAL_INLAKH,OPEN_INT,CHG_IN_OI,TIMESTAMP,"
TRADE = date(2024, 1, 4)
WEEKLY, MONTHLY = date(2024, 1, 11), date(2024, 1, 25)


def legacy_file(tmp_path):
    lines = [LEGACY_HEADER]
    for expiry, fwd in ((WEEKLY, 21_660.0), (MONTHLY, 21_700.0)):
        for (k, right), c in closes(TRADE, expiry, fwd).items():
            contracts = 0 if (expiry, k, right) == (MONTHLY, 21_900.0, "PE") else 1000
            lines.append(f"OPTIDX,NIFTY,{expiry:%d-%b-%Y},{k:.2f},{right},1,1,1,{c:.2f},{c:.2f},{contracts},1,{int(k)},0,{TRADE:%d-%b-%Y},")
    lines += [
        f"FUTIDX,NIFTY,{MONTHLY:%d-%b-%Y},0,XX,1,1,1,21700.00,21700.00,5000,1,100,0,{TRADE:%d-%b-%Y},",
        f"OPTSTK,RELIANCE,{MONTHLY:%d-%b-%Y},2600,CE,1,1,1,30.00,30.00,10,1,100,0,{TRADE:%d-%b-%Y},",
        f"OPTSTK,RELIANCE,{MONTHLY:%d-%b-%Y},2600,PE,1,1,1,30.00,30.00,10,1,100,0,{TRADE:%d-%b-%Y},",
        f"OPTIDX,BANKNIFTY,{MONTHLY:%d-%b-%Y},48000,CE,1,1,1,300.00,300.00,10,1,100,0,{TRADE:%d-%b-%Y},",
        f"OPTIDX,NIFTY,{MONTHLY:%d-%b-%Y},abc,CE,1,1,1,300.00,300.00,10,1,100,0,{TRADE:%d-%b-%Y},",
    ]
    path = tmp_path / f"fo{TRADE.strftime('%d%b%Y').upper()}bhav.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_legacy_bhavcopy_becomes_a_1530_snapshot(tmp_path):
    path = legacy_file(tmp_path)
    cat = Catalog.create(tmp_path / "cat", rate=RATE)
    report = import_bhavcopy(cat, [path], symbol="NIFTY")
    assert report.rows_imported == 20
    assert report.rejected == {"not a number in column 'STRIKE_PR'": 1}
    assert report.skipped == {"not an index option (INSTRUMENT OPTSTK)": 2, "index future: its close is the forward, not stored (INSTRUMENT FUTIDX)": 1,
                              "symbol BANKNIFTY (importing NIFTY)": 1}  # fmt: skip
    snap = cat.chain_at("NIFTY", datetime.combine(TRADE, time(23, 0), IST))
    assert snap.ts == datetime.combine(TRADE, time(15, 30), IST)
    # no index level in a legacy file: spot is the near-month future's close discounted at r
    assert snap.spot == pytest.approx(21_700.0 * math.exp(-RATE * (MONTHLY - TRADE).days / 365))
    assert np.isnan(snap.bid).all() and np.isnan(snap.ask).all()
    lot = get_index("NIFTY").lot_size(MONTHLY)
    assert set(snap.volume) == {1000.0 * lot, 0.0}
    assert snap.oi[snap.index_of(snap.contract(0))] == snap.strike[0]  # OPEN_INT (units) as given
    monthly = snap.for_expiry(MONTHLY)
    untraded = (monthly.strike == 21_900.0) & ~monthly.is_call
    assert np.isnan(monthly.ltp[untraded]).all() and np.isnan(monthly.iv[untraded]).all()
    assert monthly.forward(MONTHLY) == 21_700.0  # the FUTIDX close
    assert snap.forward(WEEKLY) == pytest.approx(21_660.0, abs=0.5)  # put-call parity on closes
    near = snap.for_expiry(WEEKLY)
    np.testing.assert_allclose(near.iv[np.abs(near.strike - 21_660) < 150], SIGMA, atol=2e-3)
    assert any("near-month future" in n for n in report.notes)


def test_legacy_without_a_symbol_imports_every_index(tmp_path):
    cat = Catalog.create(tmp_path / "cat", rate=RATE)
    report = import_bhavcopy(cat, [legacy_file(tmp_path)])
    assert cat.symbols() == ["BANKNIFTY", "NIFTY"]
    assert report.rows_imported == 21


UDIFF_HEADER = ("TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,FininstrmActlXpryDt,"
                "StrkPric,OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,PrvsClsgPric,UndrlygPric,"
                "SttlmPric,OpnIntrst,ChngInOpnIntrst,TtlTradgVol,TtlTrfVal,TtlNbOfTxsExctd,SsnId,NewBrdLotQty,"
                "Rmks,Rsvd1,Rsvd2,Rsvd3,Rsvd4")  # fmt: skip


def udiff_line(trade, kind, sym, expiry, strike, right, close, oi, volume, underlying=26_000.0):
    return (f"{trade:%Y-%m-%d},{trade:%Y-%m-%d},FO,NSE,{kind},1,,{sym},,{expiry:%Y-%m-%d},{expiry:%Y-%m-%d},"
            f"{strike},{right},X,1,1,1,{close},{close},1,{underlying},{close},{oi},0,{volume},1,1,F1,65,,,,,")  # fmt: skip


def test_udiff_bhavcopy_uses_the_underlying_price_and_units(tmp_path):
    trade, weekly, monthly = date(2026, 1, 6), date(2026, 1, 13), date(2026, 1, 27)
    lines = [UDIFF_HEADER]
    for expiry, fwd in ((weekly, 26_050.0), (monthly, 26_120.0)):
        for (k, right), c in closes(trade, expiry, fwd, [k + 4_500 for k in STRIKES]).items():
            lines.append(udiff_line(trade, "IDO", "NIFTY", expiry, k, right, f"{c:.2f}", 650_000, 1_300))
    lines.append(udiff_line(trade, "IDF", "NIFTY", monthly, "", "", "26120.00", 1, 1))
    lines.append(udiff_line(trade, "STO", "TCS", monthly, 4000, "CE", "10", 1, 1))
    path = tmp_path / f"BhavCopy_NSE_FO_0_0_0_{trade:%Y%m%d}_F_0000.csv"
    path.write_text("\n".join(lines) + "\n")
    cat = Catalog.create(tmp_path / "cat", rate=RATE)
    report = import_bhavcopy(cat, [path])
    assert report.rows_imported == 20 and report.rows_rejected == 0
    assert report.skipped == {"index future: its close is the forward, not stored (FinInstrmTp IDF)": 1, "not an index option (FinInstrmTp STO)": 1}
    snap = cat.chain_at("NIFTY", datetime.combine(trade, time(15, 30), IST))
    assert snap.spot == 26_000.0
    assert np.all(snap.volume == 1_300) and np.all(snap.oi == 650_000)
    assert snap.forward(monthly) == 26_120.0
    assert snap.forward(weekly) == pytest.approx(26_050.0, abs=0.5)
    np.testing.assert_allclose(snap.iv[np.abs(snap.strike - 26_080) < 150], SIGMA, atol=2e-3)


def test_a_file_that_is_not_a_bhavcopy_is_named(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataImportError, match=r"other\.csv: not an NSE F&O bhavcopy"):
        import_bhavcopy(Catalog.create(tmp_path / "cat"), [path])
    partial = tmp_path / "partial.csv"
    partial.write_text("INSTRUMENT,SYMBOL\nOPTIDX,NIFTY\n")
    with pytest.raises(DataImportError, match=r"partial\.csv: legacy bhavcopy without column\(s\) \['EXPIRY_DT'"):
        import_bhavcopy(Catalog.create(tmp_path / "cat"), [partial])
