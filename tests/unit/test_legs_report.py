"""The report's ``legs`` section: per-leg P&L, counters, payoff at entry and the timeline."""

from __future__ import annotations

import pytest
from _legs_support import EXAMPLES, MON, build_catalog, steps
from typer.testing import CliRunner

from optrunner.backtest.report_legs import payoff_at_expiry
from optrunner.cli import app

CONDOR = [["short_CE", "NIFTY:20261117:25150:CE", -65, 47.0], ["short_PE", "NIFTY:20261117:24850:PE", -65, 47.0],
          ["wing_CE", "NIFTY:20261117:25350:CE", 65, 13.9], ["wing_PE", "NIFTY:20261117:24650:PE", 65, 13.9]]  # fmt: skip


def test_payoff_at_expiry_of_an_iron_condor_by_hand():
    xs, ys = payoff_at_expiry(CONDOR, 24000.0, 26000.0, n=41)  # every 50 points
    at = dict(zip(xs, ys, strict=True))
    credit = 47 + 47 - 13.9 - 13.9  # 66.2 a unit
    assert at[25000.0] == pytest.approx(65 * credit)  # between the short strikes: keep the credit
    assert at[25500.0] == pytest.approx(65 * (credit - 200))  # beyond a wing: the 200-point width less the credit
    assert at[24000.0] == pytest.approx(65 * (credit - 200))
    assert at[25200.0] == pytest.approx(65 * (credit - 50))


def test_backtest_report_has_the_legs_story(tmp_path):
    data = build_catalog(tmp_path / "catalog", {MON: steps(("09:15", 25000), ("09:40", 25050), ("11:00", 25200))})
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["backtest", str(EXAMPLES / "NIFTY_SHORT_STRADDLE_SL_REENTRY.json"),
                                      "--data", str(data), "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    story = html[html.index("NIFTY_SHORT_STRADDLE_SL_REENTRY: legs</h2>"):]
    assert "Closed P&amp;L" in story and "chart-payoff-NIFTY_SHORT_STRADDLE_SL_REENTRY" in story
    assert story.count("REENTRY_RE_EXECUTE") == 1 and story.count(">STOP_LOSS<") == 2
    assert ">reentries<" in story and "NIFTY:20261117:25050:CE" in story
