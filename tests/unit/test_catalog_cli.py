"""`optrunner data synth|import|info` and `optrunner chain` end to end (real catalog, no mocks)."""

import re

import pytest
from typer.testing import CliRunner

from optrunner.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "220"})


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "cat"
    result = run("data", "synth", "--symbol", "NIFTY", "--from", "2026-01-05", "--to", "2026-01-06",
                 "--data", str(root), "--strikes-each-side", "4", "--seed", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 day(s)" in result.output
    return root


def test_info_lists_the_symbol_range_and_rows(root):
    result = run("data", "info", "--data", str(root))
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if "NIFTY" in line)
    assert "2026-01-05" in row and "2026-01-06" in row
    rows = 2 * 376 * 5 * 18  # days x snapshots x expiries x (9 strikes x 2 rights)
    assert f"{rows:,}" in row


def test_chain_shows_the_atm_strike_centred_with_both_sides(root):
    result = run("chain", "--data", str(root), "--symbol", "NIFTY", "--at", "2026-01-06 09:20", "--strikes", "2")
    assert result.exit_code == 0, result.output
    assert "NIFTY  2026-01-06 09:20 IST" in result.output and "expiry Tue 06-Jan-2026" in result.output
    rows = [line.split() for line in result.output.splitlines() if len(line.split()) == 13]
    strikes = [int(r[6].replace(",", "")) for r in rows]  # the centre column
    assert len(strikes) == 5 and strikes == sorted(strikes)
    header = next(line for line in result.output.splitlines() if "CE STRIKE PE" in line).split()
    assert header == ["OI", "IV%", "DELTA", "BID", "ASK", "LTP", "CE", "STRIKE", "PE", "LTP", "ASK", "BID", "DELTA", "IV%", "OI"]
    assert "other expiries: 2026-01-13" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "2026-02-02 10:00"], "no NIFTY chain on 2026-02-02 .* NIFTY has 2 day(s) from 2026-01-05 to 2026-01-06"),
        (["--at", "2026-01-06 09:00"], "starts at 09:15 IST; ask for a later time"),
        (["--at", "2026-01-06 10:00", "--expiry", "2026-01-14"], "expiry 2026-01-14 is not in this chain; listed: 2026-01-06"),
        (["--at", "noon"], "is not a time like"),
    ],
)
def test_chain_errors_say_what_to_do(root, args, message):
    result = run("chain", "--data", str(root), "--symbol", "NIFTY", *args)
    assert result.exit_code == 2
    assert re.search(message.replace("(s)", r"\(s\)"), " ".join(result.output.split()))
    assert "Traceback" not in result.output


def test_chain_fits_100_columns_and_takes_columns_and_json(root):
    import json

    narrow = runner.invoke(app, ["chain", "--data", str(root), "--symbol", "NIFTY", "--at", "2026-01-06 10:00"],
                           env={"COLUMNS": "100"})  # fmt: skip
    assert narrow.exit_code == 0, narrow.output
    assert max(len(line) for line in narrow.output.splitlines()) <= 100
    assert "…" not in narrow.output  # nothing cut
    few = run("chain", "--data", str(root), "--symbol", "NIFTY", "--at", "2026-01-06 10:00", "--columns", "iv,ltp")
    header = next(line for line in few.output.splitlines() if "STRIKE" in line).split()
    assert header == ["IV%", "LTP", "CE", "STRIKE", "PE", "LTP", "IV%"]
    bad = run("chain", "--data", str(root), "--symbol", "NIFTY", "--at", "2026-01-06 10:00", "--columns", "gamma")
    assert bad.exit_code == 2 and "choose from oi,volume,iv,delta,bid,ask,ltp" in bad.output
    doc = json.loads(run("chain", "--data", str(root), "--symbol", "NIFTY", "--at", "2026-01-06 10:00",
                         "--strikes", "1", "--json").output)  # fmt: skip
    assert doc["expiry"] == "2026-01-06" and len(doc["rows"]) == 6  # 3 strikes x CE/PE
    assert {r["option_type"] for r in doc["rows"]} == {"CE", "PE"}


def test_missing_catalog_is_one_line_with_the_next_step(tmp_path):
    result = run("data", "info", "--data", str(tmp_path / "none"))
    assert result.exit_code == 2 and "optrunner data synth" in result.output


def test_import_prints_a_summary_with_rejections(tmp_path):
    csv = tmp_path / "chain.csv"
    csv.write_text(
        "timestamp,expiry,strike,option_type,spot,ltp,volume,oi,oi_chg,iv,bid,ask,bid_qty,ask_qty\n"
        "2026-01-06 10:00:00,13-Jan-2026,26000,CE,26000,150.5,10,100,0,14,150,151,65,130\n"
        "2026-01-06 10:00:00,13-Jan-2026,26000,PE,26000,110.5,10,100,0,14,110,111,65,130\n"
        "2026-01-06 10:00:00,13-Jan-2026,26000,XX,26000,110.5,10,100,0,14,110,111,65,130\n"
    )
    result = run("data", "import", "tabular", str(csv), "--data", str(tmp_path / "cat"), "--symbol", "NIFTY",
                 "--mapping", "nse_minute")  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert re.search(r"rows imported │ 2", text) and re.search(r"rows rejected │ 1", text)
    assert "option type in column 'option_type'" in text and "chain.csv:4: 'XX'" in text


def test_import_errors_are_one_line(tmp_path):
    result = run("data", "import", "bhavcopy", str(tmp_path / "nope.csv"), "--data", str(tmp_path / "cat"))
    assert result.exit_code == 2 and "nope.csv: no such file or folder" in result.output
    result = run("data", "import", "tabular", str(tmp_path), "--data", str(tmp_path / "cat"))
    assert result.exit_code == 2 and "needs --mapping" in result.output
