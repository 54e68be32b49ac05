"""Generic CSV/Parquet chains through a column mapping, and the built-in nse_minute mapping."""

import json
from datetime import UTC, date, datetime, time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _data_support import make_chain

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.importers import DataImportError, import_tabular, load_mapping
from optrunner.instruments import get_index

D = date(2026, 1, 6)
E = date(2026, 1, 13)
STRIKES = [25_950.0, 26_000.0, 26_050.0, 26_100.0]
TIMES = [datetime.combine(D, time(9, 20), IST), datetime.combine(D, time(9, 21), IST)]
LOT = get_index("NIFTY").lot_size(E)

NSE_HEADER = "timestamp,expiry,strike,option_type,spot,ltp,volume,oi,oi_chg,iv,bid,ask,bid_qty,ask_qty"


def nse_rows() -> list[str]:
    """A scrape in NSE's style: IST times, 13-Jan-2026 expiries, IV in percent, OI in contracts."""
    lines = []
    for r in make_chain(TIMES, [E], STRIKES).to_pylist():
        ts = r["ts"].astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"{ts},{r['expiry']:%d-%b-%Y},{r['strike']:.0f},{r['right']},{r['spot']},{r['ltp']:.4f},"
            f'"1,200",{r["oi"]:.0f},-,14.5,{r["bid"]:.4f},{r["ask"]:.4f},650,1300'
        )
    return lines


def write_csv(path, header, lines):
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_nse_minute_scrape_imports_with_units_and_greeks(tmp_path):
    path = write_csv(tmp_path / "chain.csv", NSE_HEADER, nse_rows())
    cat = Catalog.create(tmp_path / "cat")
    report = import_tabular(cat, [path], "nse_minute", symbol="NIFTY")
    assert (report.files, report.rows_read, report.rows_imported, report.rows_rejected) == (1, 16, 16, 0)
    snaps = list(cat.snapshots("NIFTY"))
    assert [s.ts for s in snaps] == TIMES
    first = snaps[0]
    assert np.all(first.volume == 1200 * LOT)  # "1,200" contracts
    assert np.all(first.bid_qty == 650)  # displayed sizes are already units
    source = {(r["strike"], r["right"]): r["oi"] for r in make_chain(TIMES[:1], [E], STRIKES).to_pylist()}
    for i in range(len(first)):
        assert first.oi[i] == source[(first.strike[i], "CE" if first.is_call[i] else "PE")] * LOT
    # the file's IV came without greeks, so all five are Black-76 from the quoted mid
    np.testing.assert_allclose(first.iv, 0.15, atol=1e-4)
    assert np.all(np.isfinite(first.delta))


def test_bad_rows_are_reported_per_reason_and_the_rest_imported(tmp_path):
    good = nse_rows()
    bad = [
        good[0].replace("2026-01-06 09:20:00", "06/01/2026 9.20"),  # time format
        good[1].replace(",CE,", ",XX,", 1).replace(",PE,", ",XX,", 1),  # option type
        good[2].replace(",25950,", ",abc,").replace(",26000,", ",abc,"),  # strike not a number
        good[3].replace("13-Jan-2026", "13-Jan-2025"),  # expiry before trade date
        good[4].replace(",14.5,", ",900,"),  # iv 900 %
    ]
    path = write_csv(tmp_path / "chain.csv", NSE_HEADER, bad + good[5:])
    cat = Catalog.create(tmp_path / "cat")
    report = import_tabular(cat, [path], "nse_minute", symbol="NIFTY")
    assert report.rows_rejected == 5 and report.rows_imported == 11
    assert set(report.rejected) == {
        "time in column 'timestamp' is not like %Y-%m-%d %H:%M:%S",
        "option type in column 'option_type' is not one of ['C', 'CALL', 'CE', 'P', 'PE', 'PUT']",
        "not a number in column 'strike'",
        "expiry before the trade date",
        "iv_source above 500 % (is the IV column in percent? set iv_percent)",
    }
    assert report.examples["not a number in column 'strike'"] == ["chain.csv:4: 'abc'"]
    assert report.examples["time in column 'timestamp' is not like %Y-%m-%d %H:%M:%S"] == ["chain.csv:2: '06/01/2026 9.20'"]


def test_repeated_rows_are_reported_and_the_last_kept(tmp_path):
    rows = nse_rows()
    changed = rows[0].replace(",650,1300", ",1950,1300")
    path = write_csv(tmp_path / "chain.csv", NSE_HEADER, [*rows, changed])
    cat = Catalog.create(tmp_path / "cat")
    report = import_tabular(cat, [path], "nse_minute", symbol="NIFTY")
    reason = "duplicate (same time and contract; the last one read is kept)"
    assert report.rejected == {reason: 1} and report.rows_imported == 16
    assert report.examples[reason][0].startswith("2026-01-06 09:20:00 2026-01-13")
    assert 1950 in cat.day("NIFTY", D).columns["bid_qty"]


def test_parquet_with_a_custom_mapping_file(tmp_path):
    chain = make_chain(TIMES, [E], STRIKES)
    utc = [t.astimezone(UTC) for t in chain["ts"].to_pylist()]
    table = pa.table({
        "day": [t.strftime("%d/%m/%Y") for t in utc], "clock": [t.strftime("%H%M") for t in utc],
        "sym": ["nifty"] * chain.num_rows, "k": chain["strike"],
        # expiry as an IST-midnight timestamp: its date is the IST date, not the UTC one
        "exp": pa.array([datetime.combine(e, time(0, 0), IST) for e in chain["expiry"].to_pylist()],
                        pa.timestamp("ns", tz="Asia/Kolkata")),
        "type": ["Call" if r == "CE" else "Put" for r in chain["right"].to_pylist()],
        "last": chain["ltp"], "underlying": chain["spot"],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "x.parquet")
    mapping = {
        "columns": {"date": "day", "time": "clock", "symbol": "sym", "expiry": "exp", "strike": "k",
                    "right": "type", "ltp": "last", "spot": "underlying"},
        "date_format": "%d/%m/%Y", "time_format": "%H%M", "timezone": "UTC",
    }  # fmt: skip
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    cat = Catalog.create(tmp_path / "cat")
    report = import_tabular(cat, [tmp_path / "x.parquet"], tmp_path / "map.json")
    assert report.rows_imported == 16 and report.rows_rejected == 0
    snap = cat.chain_at("NIFTY", TIMES[1])
    assert snap.ts == TIMES[1] and np.isnan(snap.bid).all() and snap.expiries() == [E]
    np.testing.assert_allclose(snap.iv, 0.15, atol=1e-6)  # from ltp, on the parity forward
    assert snap.forward(E) == pytest.approx(26_040.0)


def test_mapping_problems_are_listed_at_once(tmp_path):
    with pytest.raises(DataImportError) as err:
        load_mapping({"columns": {"strike": "k", "colour": "c"}, "iv_percnt": True})
    text = str(err.value)
    assert "unknown catalog column(s) ['colour']" in text and "iv_percnt" in text
    with pytest.raises(DataImportError, match=r"columns must map \['ts \(or date and time\)', 'expiry', 'right'\]"):
        load_mapping({"columns": {"strike": "k"}})
    with pytest.raises(DataImportError, match=r"no such mapping file.*nse_minute"):
        load_mapping(tmp_path / "missing.yaml")
    (tmp_path / "m.yaml").write_text("columns: {ts: t, expiry: e, strike: k, right: r}\nright_values: {C: CALL}\n")
    with pytest.raises(DataImportError, match="must map to CE or PE"):
        load_mapping(tmp_path / "m.yaml")


def test_missing_columns_and_symbol_are_errors_naming_the_file(tmp_path):
    path = write_csv(tmp_path / "chain.csv", NSE_HEADER.replace("option_type", "type"), nse_rows())
    cat = Catalog.create(tmp_path / "cat")
    with pytest.raises(DataImportError, match=r"chain\.csv: column\(s\) \['option_type'\] .*not found"):
        import_tabular(cat, [path], "nse_minute", symbol="NIFTY")
    good = write_csv(tmp_path / "good.csv", NSE_HEADER, nse_rows())
    with pytest.raises(DataImportError, match=r"good\.csv: no symbol column is mapped; pass --symbol"):
        import_tabular(cat, [good], "nse_minute")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataImportError, match=r"bin\.csv"):
        import_tabular(cat, [tmp_path / "bin.csv"], "nse_minute", symbol="NIFTY")
