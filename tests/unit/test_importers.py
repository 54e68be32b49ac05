"""Seed SQLite chain files into the catalog, and the input discovery shared by all importers."""

import sqlite3
from datetime import date, datetime, time

import numpy as np
import pyarrow as pa
import pytest
from _data_support import make_chain

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.importers import DataImportError, expand_inputs, import_seed_sqlite
from optrunner.data.schema import conform_chain, sort_chain
from optrunner.data.seed_db import seed_db_name, write_seed_db
from optrunner.data.snapshot import ChainSnapshot

D = date(2026, 1, 6)
E1, E2 = date(2026, 1, 13), date(2026, 1, 20)
STRIKES = [25_900.0, 25_950.0, 26_000.0, 26_050.0, 26_100.0, 26_150.0]
T1, T2 = datetime.combine(D, time(10, 0), IST), datetime.combine(D, time(10, 1), IST)


def snapshot_of(table: pa.Table, symbol: str = "NIFTY") -> ChainSnapshot:
    table, _, _ = sort_chain(conform_chain(table))
    cols = {name: table[name].to_numpy() for name in table.column_names if name not in ("ts", "spot")}
    cols["expiry"] = table["expiry"].to_numpy()
    cols["right"] = np.asarray(table["right"].to_pylist())
    ts = table["ts"][0].as_py().astimezone(IST)
    return ChainSnapshot.from_columns(symbol, ts, table["spot"][0].as_py(), cols)


def seed_files(folder, times=(T1, T2), expiries=(E1, E2), symbol="NIFTY"):
    """One seed file per (time, expiry), as the seed's supervisor leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, t in enumerate(times):
        for e in expiries:
            path = folder / f"{i}_{seed_db_name('NFO', symbol, e)}"
            write_seed_db(path, snapshot_of(make_chain([t], [e], STRIKES), symbol))
            paths.append(path)
    return paths


def test_a_folder_of_seed_files_becomes_minute_snapshots_with_greeks(tmp_path):
    seed_files(tmp_path / "seed")
    cat = Catalog.create(tmp_path / "cat")
    report = import_seed_sqlite(cat, expand_inputs([tmp_path / "seed"], (".sqlite",)))
    assert (report.files, report.rows_read, report.rows_imported, report.rows_rejected) == (4, 48, 48, 0)
    snaps = list(cat.snapshots("NIFTY"))
    assert [s.ts for s in snaps] == [T1, T2]
    assert snaps[0].expiries() == [E1, E2] and len(snaps[0]) == 24
    np.testing.assert_allclose(snaps[0].iv, 0.15, atol=1e-6)  # files carry no greeks: computed
    assert snaps[0].spot == 26_000.0 and snaps[0].forward(E1) == pytest.approx(26_040.0)
    assert report.days == {"NIFTY": {D}}


def test_reimporting_replaces_rather_than_duplicates(tmp_path):
    paths = seed_files(tmp_path / "seed")
    cat = Catalog.create(tmp_path / "cat")
    import_seed_sqlite(cat, paths)
    import_seed_sqlite(cat, paths[:1])
    assert len(cat.day("NIFTY", D)) == 48


def test_bad_rows_are_counted_per_reason_with_examples(tmp_path):
    (path,) = seed_files(tmp_path / "seed", times=(T1,), expiries=(E1,))
    con = sqlite3.connect(path)
    con.execute("UPDATE option_chain SET bid = ask + 5 WHERE strike = 26000 AND option_type = 'CE'")
    con.execute("UPDATE option_chain SET ltp = -1 WHERE strike = 25900")
    con.commit()
    con.close()
    cat = Catalog.create(tmp_path / "cat")
    report = import_seed_sqlite(cat, [path])
    assert report.rejected == {"crossed quote (bid > ask)": 1, "negative ltp": 2}
    assert report.examples["negative ltp"][0].startswith(path.name + ":")
    assert report.rows_imported == 9 and len(cat.day("NIFTY", D)) == 9


def test_symbol_filter_skips_other_underlyings(tmp_path):
    seed_files(tmp_path / "seed", times=(T1,), expiries=(E1,))
    seed_files(tmp_path / "seed", times=(T1,), expiries=(E1,), symbol="BANKNIFTY")
    cat = Catalog.create(tmp_path / "cat")
    report = import_seed_sqlite(cat, expand_inputs([tmp_path / "seed" / "*.sqlite"], (".sqlite",)), symbol="NIFTY")
    assert report.skipped == {"symbol BANKNIFTY (importing NIFTY)": 12}
    assert cat.symbols() == ["NIFTY"]


def test_missing_and_corrupt_files_are_one_line_errors_naming_them(tmp_path):
    with pytest.raises(DataImportError, match=r"nope\.sqlite: no such file or folder"):
        expand_inputs([tmp_path / "nope.sqlite"], (".sqlite",))
    with pytest.raises(DataImportError, match=r"x_\*\.sqlite: no files match"):
        expand_inputs([str(tmp_path / "x_*.sqlite")], (".sqlite",))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataImportError, match=r"folder holds no \.sqlite files"):
        expand_inputs([tmp_path / "empty"], (".sqlite",))
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage, not sqlite" * 100)
    cat = Catalog.create(tmp_path / "cat")
    with pytest.raises(DataImportError, match=r"bad\.sqlite") as err:
        import_seed_sqlite(cat, [bad])
    assert "\n" not in str(err.value)
    assert cat.symbols() == []  # nothing half-written


def test_expand_inputs_keeps_order_and_drops_repeats(tmp_path):
    paths = seed_files(tmp_path / "seed", times=(T1,))
    got = expand_inputs([paths[1], tmp_path / "seed"], (".sqlite",))
    assert got == [paths[1], paths[0]]
