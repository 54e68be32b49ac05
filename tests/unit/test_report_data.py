"""Reading a run folder back: bad files are refused with the file, line and column named."""

from __future__ import annotations

import json

import pytest
from _report_support import small_run, write_summary

from optrunner.backtest.report_data import RunFolderError, load_run


def _replace_line(path, line, text):
    rows = path.read_text(encoding="utf-8").splitlines()
    rows[line - 1] = text
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_reads_what_the_backtest_wrote(tmp_path):
    run = load_run(small_run(tmp_path / "run"))
    assert len(run.equity["time"]) == 3 * 375 and run.equity["time"][0] == "2026-01-30T09:15:00"
    assert run.symbols() == ["BANKNIFTY", "NIFTY"]
    assert run.order_count is None and run.missing == []
    # spot.csv interleaves the underlyings; each comes back as its own time-ordered block.
    assert run.spot["symbol"][:2].tolist() == ["BANKNIFTY", "BANKNIFTY"]
    assert run.events["time"][5] == "2026-02-03T11:00:00"  # 05:30Z, in IST, sorted among the rest


@pytest.mark.parametrize(
    ("file", "line", "text", "message"),
    [
        ("equity.csv", 3, "2026-01-30T09:16:00+05:30,abc,0,0,0",
         "equity.csv line 3, column equity: 'abc' is not a finite number"),
        ("equity.csv", 4, "2026-01-30T09:15:30+05:30,1000000,0,0,0",
         "equity.csv line 4: time 2026-01-30T09:15:30 is earlier than the one before (2026-01-30T09:16:00)"),
        ("equity.csv", 2, "2026-01-30T09:15:00+05:30,nan,0,0,0",
         "equity.csv line 2, column equity: 'nan' is not a finite number"),
        ("events.csv", 2, "yesterday,dnss,ENTRY,NIFTY:20260203:25000:CE,SELL,120.5,65",
         "events.csv line 2, column time: 'yesterday' is not an ISO date-time"),
        ("events.csv", 3, "2026-01-30T15:20:00+05:30,dnss,EXIT,NIFTY:20260203:25000:CE,BUY,80.25,65.5",
         "events.csv line 3, column quantity: '65.5' is not a whole number"),
        ("events.csv", 3, "2026-01-30T15:20:00+05:30,dnss,HEDGE,NIFTY:20260203:25000:CE,BUY,80.25,65",
         "events.csv: unknown tag(s) HEDGE"),
        ("trades.csv", 1, "strategy,entry_time,exit_time,legs,adjustments,gross_pnl,charges,exit_reason",
         "trades.csv: missing column(s) net_pnl"),
        ("trades.csv", 2, "dnss,2026-01-30T09:20:00+05:30", "trades.csv line 2: 2 fields, the header has 9"),
        ("daily.csv", 3, "02-02-2026,100000,1090000", "daily.csv line 3, column date: '02-02-2026' is not a YYYY-MM-DD"),
        ("spot.csv", 4, "2026-01-30T09:14:00+05:30,BANKNIFTY,55000",
         "spot.csv (BANKNIFTY) line 4: time 2026-01-30T09:14:00 is earlier"),
    ],
)  # fmt: skip
def test_bad_rows_are_named(tmp_path, file, line, text, message):
    run = small_run(tmp_path / "run")
    _replace_line(run / file, line, text)
    with pytest.raises(RunFolderError) as err:
        load_run(run)
    assert message in str(err.value)


def test_summary_problems_are_named(tmp_path):
    with pytest.raises(RunFolderError, match="no such folder"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(RunFolderError, match=r"no summary\.json"):
        load_run(tmp_path)
    write_summary(tmp_path)
    doc = json.loads((tmp_path / "summary.json").read_text())
    del doc["sharpe"], doc["calmar"]
    (tmp_path / "summary.json").write_text(json.dumps(doc))
    with pytest.raises(RunFolderError, match=r"missing field\(s\) sharpe, calmar"):
        load_run(tmp_path)
    write_summary(tmp_path, capital=0)
    with pytest.raises(RunFolderError, match="capital must be a positive number"):
        load_run(tmp_path)
    write_summary(tmp_path, strategies=["dnss"])
    with pytest.raises(RunFolderError, match="strategies must map"):
        load_run(tmp_path)
    (tmp_path / "summary.json").write_text('{"start": ')
    with pytest.raises(RunFolderError, match=r"summary\.json line 1"):
        load_run(tmp_path)
