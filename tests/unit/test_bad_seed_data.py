"""Garbage in seed SQLite chain files: the poller never passes it to a strategy, the importer
never stores it, and neither ever raises a traceback at the user."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import numpy as np
import pytest
from test_adapters import T0, poller
from test_importers import E1, T1, T2, D, seed_files
from typer.testing import CliRunner

from optrunner.cli import app
from optrunner.core.events import ChainEvent, StaleDataEvent
from optrunner.data.catalog import Catalog
from optrunner.data.importers import import_seed_sqlite
from optrunner.data.seed_db import write_seed_db
from optrunner.data.snapshot import ChainSnapshot

GARBAGE_ROWS = [  # (SQL SET clause, strike, option_type): one bad row each
    ("bid = 'abc'", 25_900, "CE"),  # text in a numeric column
    ("bid = 0", 25_900, "PE"),  # zero price
    ("ltp = 1e300", 25_950, "CE"),  # absurd price
    ("delta = 5", 25_950, "PE"),  # impossible greek
    ("delta = -5", 26_000, "CE"),
    ("gamma = -0.01", 26_000, "PE"),
]


def damage(path, sets=GARBAGE_ROWS, meta=None) -> None:
    con = sqlite3.connect(path)
    for clause, strike, right in sets:
        con.execute(
            f"UPDATE option_chain SET {clause} WHERE strike = ? AND option_type = ?",
            (strike, right),
        )
    for key, value in (meta or {}).items():
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
    con.commit()
    con.close()


# --- the live poller ---------------------------------------------------------------------------


def twelve_rows(ts):
    strikes = np.repeat([25_900.0, 25_950.0, 26_000.0, 26_050.0, 26_100.0, 26_150.0], 2)
    n = len(strikes)
    return ChainSnapshot.from_columns(
        "NIFTY", ts, 26_010.0,
        {"strike": strikes, "right": np.tile(["CE", "PE"], 6), "expiry": np.datetime64("2026-01-13"),
         "bid": np.full(n, 100.0), "ask": np.full(n, 101.0), "ltp": np.full(n, 100.5),
         "delta": np.tile([0.5, -0.5], 6), "gamma": np.full(n, 1e-4)},
    )  # fmt: skip


def test_the_poller_drops_garbage_rows_and_counts_them(tmp_path):
    path = tmp_path / "chain.sqlite"
    write_seed_db(path, twelve_rows(T0))
    damage(path)
    adapter, _ = poller(path, T0 + timedelta(seconds=2))
    (event,) = adapter.poll()
    chain = event.snapshot
    assert isinstance(event, ChainEvent) and len(chain) == 12 - len(
        GARBAGE_ROWS
    )  # the text row: unreadable
    assert (chain.bid > 0).all() and (chain.ltp < 1e6).all() and (np.abs(chain.delta) <= 1).all()
    assert (chain.gamma >= 0).all()
    assert adapter.quality.as_dict() == {
        "dropped": {"absurd": 1, "impossible_greeks": 3, "non_positive": 1}, "stale_snapshots": 0,
    }  # fmt: skip
    assert adapter.stats()["dropped_rows"] == 5


@pytest.mark.parametrize(
    "meta",
    [{"spot_ltp": "abc"}, {"spot_ltp": "NaN"}, {"spot_ltp": "-5"}, {"snapshot_ts": "yesterday"}],
)
def test_the_poller_turns_stale_on_garbage_meta_never_delivering_it(tmp_path, meta):
    path = tmp_path / "chain.sqlite"
    write_seed_db(path, twelve_rows(T0))
    damage(path, [], meta)
    adapter, _ = poller(path, T0 + timedelta(seconds=2))
    events = adapter.poll()
    assert len(events) == 1 and isinstance(events[0], StaleDataEvent)
    assert adapter.get_market_snapshot()["stale"] is True


def test_a_mostly_crossed_chain_is_stale(tmp_path):
    path = tmp_path / "chain.sqlite"
    write_seed_db(path, twelve_rows(T0))
    damage(
        path, [("bid = 105", k, r) for k in (25_900, 25_950, 26_000, 26_050) for r in ("CE", "PE")]
    )
    adapter, _ = poller(path, T0 + timedelta(seconds=2))
    (event,) = adapter.poll()
    assert isinstance(event, StaleDataEvent)
    assert adapter.quality.as_dict() == {"dropped": {"crossed": 8}, "stale_snapshots": 1}


# --- the importer ----------------------------------------------------------------------------


def test_the_importer_rejects_garbage_rows_by_reason_and_stores_none_of_them(tmp_path):
    (path,) = seed_files(tmp_path / "seed", times=(T1,), expiries=(E1,))
    damage(path)
    cat = Catalog.create(tmp_path / "cat")
    report = import_seed_sqlite(cat, [path])
    assert report.rejected == {
        "not a number in column 'bid'": 1,
        "absurd price (above 10x the larger of spot and strike)": 1,
        "impossible greek (|delta| > 1, or a negative gamma, vega or iv)": 3,
    }
    # a bid of 0 means "no bid" (sources write 0 for no quote): stored as unknown, never as 0
    assert report.zeros_as_nan["bid"] == 1
    day = cat.day("NIFTY", D)
    assert len(day) == 12 - len(GARBAGE_ROWS) + 1
    cols = day.columns
    assert np.isnan(cols["bid"]).sum() == 1 and (cols["bid"][~np.isnan(cols["bid"])] > 0).all()
    assert (cols["ltp"] < 1e6).all() and (np.abs(cols["delta"]) <= 1).all()


def test_files_with_garbage_meta_are_rejected_whole_and_the_import_goes_on(tmp_path):
    paths = seed_files(tmp_path / "seed", times=(T1, T2), expiries=(E1,))
    damage(paths[0], [], {"spot_ltp": "abc"})
    (third,) = seed_files(tmp_path / "more", times=(T1,), expiries=(E1,))
    damage(third, [], {"snapshot_ts": "yesterday"})
    cat = Catalog.create(tmp_path / "cat")
    report = import_seed_sqlite(cat, [*paths, third])
    assert report.rejected == {
        "unusable file: meta.spot_ltp is not a number": 12,
        "unusable file: meta.snapshot_ts is neither epoch seconds nor an ISO time": 12,
    }
    assert report.examples["unusable file: meta.spot_ltp is not a number"] == [
        f"{paths[0].name}: 'abc'"
    ]
    assert report.rows_imported == 12 and cat.day("NIFTY", D).n_snapshots == 1


def test_the_import_command_prints_reasons_not_a_traceback(tmp_path):
    paths = seed_files(tmp_path / "seed", times=(T1, T2), expiries=(E1,))
    damage(paths[0])
    damage(paths[1], [], {"spot_ltp": "abc", "snapshot_ts": "yesterday"})
    result = CliRunner().invoke(app, ["data", "import", "seed-sqlite", str(tmp_path / "seed"),
                                      "--data", str(tmp_path / "cat")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "not a number in column 'bid'" in text and "unusable file" in text
