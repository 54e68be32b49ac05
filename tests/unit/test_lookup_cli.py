"""`optrunner find-option` on a seed chain file written in the test."""

import math
import re
from datetime import date, datetime

import pytest
from typer.testing import CliRunner

from optrunner.cli import app
from optrunner.core.timeutil import IST
from optrunner.data.seed_db import write_seed_db
from optrunner.data.snapshot import ChainSnapshot

RUN = CliRunner()


@pytest.fixture
def seed(tmp_path):
    rows = []
    for k in range(24_000, 26_001, 100):
        call = 1.0 / (1.0 + math.exp((k - 25_000) / 300.0))
        for right, d in (("CE", call), ("PE", call - 1.0)):
            rows.append(dict(strike=k, expiry=date(2026, 1, 13), option_type=right, delta=d, ltp=50.0,
                             bid=49.5, ask=50.5, iv=0.14, gamma=0.0004, theta=-9.0, vega=12.0, oi=123_400))  # fmt: skip
    chain = ChainSnapshot.from_quotes(
        "NIFTY", datetime(2026, 1, 6, 10, 30, tzinfo=IST), 25_000.0, rows
    )
    path = tmp_path / "NFO_NIFTY_13-Jan-2026.sqlite"
    write_seed_db(path, chain)
    return path


# CliRunner's output is not a terminal (80 columns): numbers must still print in full.
def _data_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│") and re.search(r"\b2026-01-13\b", line)]


def test_finds_the_030_delta_put(seed):
    res = RUN.invoke(
        app,
        ["find-option", "--db", str(seed), "--field", "delta", "--value", "0.3", "--type", "PE"],
    )
    assert res.exit_code == 0, res.output
    (line,) = _data_rows(res.output)
    # |delta| of the 24,700 put: 1 - 1/(1+e^(-1)) = 0.2689, the closest to 0.30 of this strip.
    assert "24700" in line and "PE" in line and "-0.2689" in line
    assert "14.00" in line and "123,400" in line  # iv shown in percent, oi with separators


def test_limit_lists_nearest_first(seed):
    res = RUN.invoke(
        app,
        ["find-option", "--db", str(seed), "--type", "PE", "--limit", "3", "--tolerance", "0.15"],
    )
    assert res.exit_code == 0, res.output
    # |put delta| = 1/(1+e^((25000-K)/300)): 24700 -> 0.2689 (0.031 away), 24800 -> 0.3392
    # (0.039), 24600 -> 0.2086 (0.091), 24900 -> 0.4174 (0.117)
    assert [line.split()[1] for line in _data_rows(res.output)] == ["24700", "24800", "24600"]


def test_no_match_exits_1_with_a_reason(seed):
    res = RUN.invoke(app, ["find-option", "--db-path", str(seed), "--field", "ltp", "--value", "900", "--tolerance", "1"])
    assert res.exit_code == 1
    assert "no CE option with ltp near 900.0" in res.output and "expiry 2026-01-13 (nearest" in res.output


def test_an_expiry_the_chain_does_not_list_is_bad_input(seed):
    res = RUN.invoke(app, ["find-option", "--db-path", str(seed), "--expiry", "2026-01-20"])
    assert res.exit_code == 2
    assert "lists no such expiry; it has 2026-01-13" in res.output


def test_default_is_the_nearest_expiry_and_says_so(seed):
    res = RUN.invoke(app, ["find-option", "--db-path", str(seed), "--option-type", "PE"])
    assert res.exit_code == 0, res.output
    assert "expiry 2026-01-13 (nearest; --expiry to choose another)" in " ".join(res.output.split())


def test_json_output_is_one_document_with_seed_style_rows(seed):
    import json

    res = RUN.invoke(app, ["find-option", "--db-path", str(seed), "--option-type", "PE", "--limit", "2",
                           "--tolerance", "0.15", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["expiry"] == "2026-01-13" and [m["strike"] for m in doc["matches"]] == [24700.0, 24800.0]
    assert doc["matches"][0]["option_type"] == "PE" and doc["matches"][0]["symbol"] == "NIFTY"


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give exactly one of --db"),
        (["--db", "SEED", "--data", "root"], "give exactly one of --db"),
        (["--data", "root", "--symbol", "NIFTY"], "--data needs --symbol"),
        (["--db", "missing.sqlite"], "no such option-chain file"),
        (["--db", "SEED", "--tolerance", "0.2"], "exceeds the hard cap 0.15"),
        (["--db", "SEED", "--expiry", "someday"], "use YYYY-MM-DD, all, or one of"),
        (["--db", "SEED", "--type", "XE"], "option_type 'XE' is not CE or PE"),
    ],
)
def test_bad_invocations_are_explained(args, message, seed):
    args = [str(seed) if a == "SEED" else a for a in args]
    res = RUN.invoke(app, ["find-option", *args])
    assert res.exit_code != 0
    assert message in res.output


def test_data_catalog_chain_at_a_time(tmp_path):
    import pyarrow as pa

    from optrunner.data.catalog import Catalog
    from optrunner.data.schema import CHAIN_SCHEMA

    ts = datetime(2026, 1, 6, 10, 30, tzinfo=IST)
    cols: dict[str, list] = {name: [] for name in CHAIN_SCHEMA.names}
    for k in range(24_000, 26_001, 100):
        call = 1.0 / (1.0 + math.exp((k - 25_000) / 300.0))
        for right, d in (("CE", call), ("PE", call - 1.0)):
            row = dict(ts=ts, expiry=date(2026, 1, 13), strike=float(k), right=right, spot=25_000.0,
                       future=25_000.0, bid=49.5, ask=50.5, ltp=50.0, bid_qty=100.0, ask_qty=100.0,
                       volume=1_000.0, oi=5_000.0, iv=0.14, delta=d, gamma=0.0004, theta=-9.0, vega=12.0,
                       iv_source=math.nan)  # fmt: skip
            for name in cols:
                cols[name].append(row[name])
    Catalog.create(tmp_path).write_chain(
        "NIFTY", pa.table(cols, schema=CHAIN_SCHEMA), compute_greeks=False
    )
    args = ["find-option", "--data", str(tmp_path), "--symbol", "NIFTY", "--type", "PE"]
    res = RUN.invoke(app, [*args, "--at", "2026-01-06 10:45"])  # the 10:30 snapshot is the latest
    assert res.exit_code == 0, res.output
    (line,) = _data_rows(res.output)
    assert "24700" in line and "-0.2689" in line
    res = RUN.invoke(app, [*args, "--at", "2026-01-06 10:00"])
    assert res.exit_code == 2
    assert "no NIFTY snapshot at or before 2026-01-06 10:00" in res.output
