"""The Parquet catalog: layout, atomic day writes, snapshot slicing, chain_at, DuckDB views."""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pytest
from _data_support import make_chain

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog, CatalogError
from optrunner.data.schema import CHAIN_SCHEMA, SchemaError
from optrunner.data.snapshot import contract_keys

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)
E1, E2 = date(2026, 1, 6), date(2026, 1, 13)
STRIKES = [25_900.0, 25_950.0, 26_000.0, 26_050.0, 26_100.0]


def at(d: date, hh: int, mm: int) -> datetime:
    return datetime.combine(d, time(hh, mm), IST)


TIMES = [at(D1, 9, 15), at(D1, 9, 16), at(D1, 15, 30), at(D2, 9, 15), at(D2, 9, 16)]


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog.create(tmp_path / "cat")
    cat.write_chain("nifty", make_chain(TIMES, [E1, E2], STRIKES))
    return cat


def test_layout_dates_and_catalog_json(catalog):
    root = catalog.root
    assert (root / "chains/symbol=NIFTY/date=2026-01-05/part-0.parquet").is_file()
    assert catalog.symbols() == ["NIFTY"]
    assert catalog.dates("NIFTY") == [D1, D2]
    assert not list(root.rglob("*.tmp"))
    info = catalog.info()[0]
    per_snapshot = 2 * len(STRIKES) * 2
    assert (info["first"], info["last"], info["days"], info["rows"]) == (D1, D2, 2, 5 * per_snapshot)
    reopened = Catalog(root)  # catalog.json persisted the per-day counts
    assert reopened._meta["symbols"]["NIFTY"]["summary"]["rows"] == 5 * per_snapshot


def test_partition_date_is_the_ist_date_not_the_utc_date(tmp_path):
    cat = Catalog.create(tmp_path)
    early = datetime(2026, 1, 7, 0, 30, tzinfo=IST)  # 2026-01-06 19:00 UTC
    cat.write_chain("NIFTY", make_chain([early], [E2], STRIKES), compute_greeks=False)
    assert cat.dates("NIFTY") == [date(2026, 1, 7)]


def test_day_is_sorted_by_time_then_contract_key_and_slices_into_snapshots(catalog):
    day = catalog.day("NIFTY", D1)
    assert day.n_snapshots == 3
    assert np.all(np.diff(day.ts) >= 0)
    snaps = list(day.snapshots())
    assert [s.ts for s in snaps] == TIMES[:3]
    for s in snaps:
        days = (s.expiry - np.datetime64("1970-01-01", "D")).astype(np.int64)
        np.testing.assert_array_equal(s.key, contract_keys(days, s.strike, s.is_call))
        assert np.all(np.diff(s.key) > 0)
        assert len(s) == 20 and s.spot == 26_000.0
        assert not s.bid.flags.writeable  # views of the day's arrays, not copies


def test_snapshot_rows_match_the_rows_written(tmp_path):
    source = make_chain(TIMES[:1], [E1], STRIKES)
    cat = Catalog.create(tmp_path)
    cat.write_chain("NIFTY", source, compute_greeks=False)
    snap = cat.chain_at("NIFTY", TIMES[0])
    written = {(r["strike"], r["right"]): r["oi"] for r in source.to_pylist()}
    read = {(snap.strike[i], "CE" if snap.is_call[i] else "PE"): snap.oi[i] for i in range(len(snap))}
    assert read == written


def test_chain_at_takes_the_latest_snapshot_at_or_before(catalog):
    assert catalog.chain_at("NIFTY", at(D1, 9, 15)).ts == at(D1, 9, 15)
    assert catalog.chain_at("NIFTY", at(D1, 12, 0)).ts == at(D1, 9, 16)
    assert catalog.chain_at("NIFTY", at(D1, 16, 0)).ts == at(D1, 15, 30)
    assert catalog.chain_at("NIFTY", at(D1, 9, 0)) is None  # before the first
    assert catalog.chain_at("NIFTY", at(date(2026, 1, 7), 10, 0)) is None  # no such day
    utc = (at(D2, 9, 16) + timedelta(seconds=30)).astimezone(UTC)
    assert catalog.chain_at("nifty", utc).ts == at(D2, 9, 16)


def test_snapshots_stream_in_time_order_over_a_range(catalog):
    assert [s.ts for s in catalog.snapshots("NIFTY")] == TIMES
    assert [s.ts for s in catalog.snapshots("NIFTY", start=D2)] == TIMES[3:]
    assert [s.ts for s in catalog.snapshots("NIFTY", end=D1)] == TIMES[:3]
    assert list(catalog.snapshots("NIFTY", start=date(2026, 2, 1))) == []


def test_reading_a_subset_of_columns_leaves_the_others_nan(catalog):
    snap = next(catalog.snapshots("NIFTY", columns=["bid"]))
    assert np.isfinite(snap.bid).all()
    assert np.isnan(snap.oi).all() and np.isnan(snap.delta).all()
    with pytest.raises(CatalogError, match="unknown chain column"):
        catalog.day("NIFTY", D1, columns=["gamma_x"])


def test_rewriting_a_day_replaces_it_and_merge_keeps_other_rows(catalog):
    one = make_chain([at(D1, 10, 0)], [E1], STRIKES[:1])
    catalog.write_chain("NIFTY", one)
    assert catalog.day("NIFTY", D1).n_snapshots == 1
    assert catalog.day("NIFTY", D2).n_snapshots == 2  # other days untouched
    catalog.write_chain("NIFTY", make_chain([at(D1, 9, 15), at(D1, 10, 0)], [E1], STRIKES[:1]), merge=True)
    day = catalog.day("NIFTY", D1)
    assert day.n_snapshots == 2 and len(day) == 4  # the 10:00 rows replaced, not duplicated
    assert not list(catalog.root.rglob("*.tmp"))


def test_bad_tables_are_refused_with_the_reason(tmp_path):
    cat = Catalog.create(tmp_path)
    table = make_chain(TIMES[:1], [E1], STRIKES)
    with pytest.raises(SchemaError, match="duplicate"):
        cat.write_chain("NIFTY", pa.concat_tables([table, table.slice(0, 1)]))
    naive = table.set_column(0, "ts", table["ts"].cast(pa.timestamp("ns")))
    with pytest.raises(SchemaError, match="timezone-aware"):
        cat.write_chain("NIFTY", naive)
    bad_right = table.set_column(3, "right", pa.array(["CALL"] * table.num_rows))
    with pytest.raises(SchemaError, match="CE or PE"):
        cat.write_chain("NIFTY", bad_right)
    with pytest.raises(SchemaError, match="lacks column"):
        cat.write_chain("NIFTY", table.drop_columns(["strike"]))
    with pytest.raises(SchemaError, match="does not store"):
        cat.write_chain("NIFTY", table.append_column("token", pa.array(["x"] * table.num_rows)))
    assert cat.dates("NIFTY") == []


def test_missing_catalog_and_missing_day_errors_say_what_to_do(tmp_path, catalog):
    with pytest.raises(CatalogError, match=r"no catalog here.*optrunner data synth"):
        Catalog(tmp_path / "nowhere")
    with pytest.raises(CatalogError, match=r"2 day\(s\) from 2026-01-05 to 2026-01-06"):
        catalog.day("NIFTY", date(2026, 3, 2))


def test_a_corrupt_day_file_is_named(catalog):
    path = catalog.root / "chains/symbol=NIFTY/date=2026-01-06/part-0.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(CatalogError, match=r"date=2026-01-06.*unreadable Parquet"):
        catalog.day("NIFTY", D2)


def test_bars_round_trip(tmp_path):
    cat = Catalog.create(tmp_path)
    ts = [at(D1, 9, 15), at(D1, 9, 16), at(D2, 9, 15)]
    bars = pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "open": [1.0, 2.0, 3.0], "high": [1.5, 2.5, 3.5], "low": [0.5, 1.5, 2.5], "close": [2.0, 3.0, 4.0],
    })  # fmt: skip
    cat.write_bars("NIFTY", bars)
    assert cat.bar_dates("NIFTY") == [D1, D2]
    got = cat.bars("NIFTY", D2, D2)
    assert got["close"].to_pylist() == [4.0] and np.isnan(got["volume"][0].as_py())
    assert cat.bars("NIFTY").num_rows == 3
    assert cat.bars("BANKNIFTY").num_rows == 0


def test_duckdb_views_and_a_nearest_delta_query(catalog):
    counts = catalog.query("SELECT date, count(*) AS n FROM chains WHERE symbol = 'NIFTY' GROUP BY date ORDER BY date")
    assert counts.to_pydict() == {"date": [D1, D2], "n": [60, 40]}
    picked = catalog.query(
        """SELECT ts, strike, delta FROM chains
           WHERE symbol = 'NIFTY' AND date = DATE '2026-01-05' AND expiry = DATE '2026-01-13' AND "right" = 'PE'
           QUALIFY row_number() OVER (PARTITION BY ts ORDER BY abs(delta + 0.25)) = 1 ORDER BY ts"""
    )
    assert picked.num_rows == 3
    table = catalog.day("NIFTY", D1)
    first = next(table.snapshots())
    rows = (first.expiry == np.datetime64(E2)) & ~first.is_call
    want = first.strike[rows][np.argmin(np.abs(first.delta[rows] + 0.25))]
    assert picked["strike"][0].as_py() == want
    same_day = catalog.query("SELECT count(*) AS n FROM chain_day('nifty', '2026-01-05')")
    assert same_day.to_pydict() == {"n": [60]}
    assert catalog.query("SELECT count(*) AS n FROM bars").to_pydict() == {"n": [0]}  # no bars yet
    with pytest.raises(CatalogError, match="query failed"):
        catalog.query("SELECT nope FROM chains")


def test_views_see_files_written_after_the_first_query(tmp_path):
    cat = Catalog.create(tmp_path)
    assert cat.query("SELECT count(*) AS n FROM chains").to_pydict() == {"n": [0]}
    cat.write_chain("NIFTY", make_chain(TIMES[:1], [E1], STRIKES))
    assert cat.query("SELECT count(*) AS n FROM chains").to_pydict() == {"n": [10]}
    cat.write_chain("NIFTY", make_chain(TIMES[3:4], [E1], STRIKES))
    assert cat.query("SELECT count(*) AS n FROM chains").to_pydict() == {"n": [20]}


def test_provenance_is_recorded(catalog):
    catalog.add_provenance({"kind": "test", "files": ["a.csv"]})
    entry = Catalog(catalog.root)._meta["provenance"][-1]
    assert entry["kind"] == "test" and entry["files"] == ["a.csv"] and "at" in entry


def test_schema_order_on_disk(catalog):
    import pyarrow.parquet as pq

    stored = pq.read_schema(catalog.root / "chains/symbol=NIFTY/date=2026-01-05/part-0.parquet")
    assert stored.names == CHAIN_SCHEMA.names
    assert stored.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert stored.field("expiry").type == pa.date32()


def test_snapshots_stream_a_day_at_a_time(catalog, monkeypatch):
    reads = []
    original = Catalog.day

    def counting(self, symbol, d, columns=None):
        reads.append(d)
        return original(self, symbol, d, columns)

    monkeypatch.setattr(Catalog, "day", counting)
    stream = catalog.snapshots("NIFTY")
    assert next(stream).ts == TIMES[0]
    assert len(reads) <= 2  # the current day and at most the one being prefetched
    assert [s.ts for s in stream] == TIMES[1:]
    assert reads == [D1, D2]
