"""The report of a synthetic month, rendered in headless Chromium (Debian's ``chromium`` driven by
Playwright): every section is on the page and visible, every chart drew, the trade picker
redraws, no script error, nothing fetched from the network, under 5 MB, drawn in under 3 s.

A screenshot of the page is kept next to the run (``report.png``) for a person to look at.
Chromium or Playwright missing skips the test loudly (fails under OPTRUNNER_REQUIRE_SERVICES=1,
as in .ci/run, which installs chromium)."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date
from pathlib import Path

import pytest

from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.backtest.report import SECTIONS, render_report
from optrunner.config import validate_config
from optrunner.data.synthetic import generate
from required_services import service_unavailable

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "configs" / "NIFTY_DNSS.json"
MONTH = (date(2026, 10, 1), date(2026, 10, 30))  # the demo's month: 20 trading days
MAX_BYTES = 5_000_000
MAX_SECONDS = 3.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_unavailable("Playwright", "pip install playwright (the dev extra)")
    if not shutil.which(CHROMIUM):
        service_unavailable("Chromium", f"{CHROMIUM} missing: apt-get install -y chromium (see .ci/run)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def month_report(tmp_path_factory) -> Path:
    """The example DNSS backtested on a synthetic month of NIFTY chains, with its report."""
    root = tmp_path_factory.mktemp("month")
    generate("NIFTY", *MONTH, seed=7, out=root / "catalog", strikes_each_side=15, progress=False)
    doc = json.loads(EXAMPLE.read_text())
    doc["market_config"]["db_path"] = "catalog"  # the example's own data path is relative to its folder
    cfg, issues = validate_config(doc, root)
    assert not issues, issues
    result = run_backtest(BacktestSpec([cfg], root / "catalog", *MONTH))
    out = root / "run"
    result.recorder.write(out, result.summary, result.spot)
    assert result.summary["trades"] >= 5 and result.summary["adjustments"] >= 1  # every section has content
    return render_report(out)


def _load(browser, path: Path):
    """Open the report with the network cut off; returns the page, its load time and what went wrong."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
               else (problems.append(f"network: {route.request.url}"), route.abort()))  # fmt: skip
    began = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-charts=ready], body[data-charts=failed]", timeout=30_000)
    return page, time.perf_counter() - began, problems


def test_a_month_report_is_small(month_report):
    size = month_report.stat().st_size
    assert size < MAX_BYTES, f"{size / 1e6:.2f} MB"


def test_every_section_renders_visibly_without_errors(browser, month_report):
    page, _, problems = _load(browser, month_report)
    assert page.evaluate("document.body.dataset.charts") == "ready", page.inner_text("#chart-status")
    for key, heading in SECTIONS:
        section = page.locator(f"section#{key}")
        assert section.is_visible(), key
        box = section.bounding_box()
        assert box is not None and box["height"] > 40 and box["width"] > 600, (key, box)
        if key != "overview":
            assert section.locator("h2").first.inner_text() == heading
    charts = page.locator("div.chart")
    assert charts.count() >= 6  # equity, daily, spot, all trades' paths, the picked trade's MTM and payoff
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.locator("svg.main-svg").count() >= 1, chart.get_attribute("id")
        assert chart.bounding_box()["height"] > 200, chart.get_attribute("id")
    assert page.locator("#chart-trade-payoff .scatterlayer .trace").count() >= 1  # the payoff line was drawn
    # Contracts read as people say them, nowhere as canonical ids in the visible text.
    text = page.inner_text("body")
    assert " Oct 26 " in text and "NIFTY:2026" not in text.split("Run settings")[0]
    assert problems == []
    page.screenshot(path=str(month_report.with_name("report.png")), full_page=True)
    assert month_report.with_name("report.png").stat().st_size > 100_000  # a drawn page, not a blank one
    page.close()


def test_the_trade_picker_redraws_both_trade_charts(browser, month_report):
    page, _, problems = _load(browser, month_report)
    title = "#chart-trade-mtm .gtitle"
    assert page.text_content(title).startswith("Trade #1:")
    page.select_option("#trade-pick", "1")
    page.wait_for_function("document.querySelector('#chart-trade-mtm .gtitle').textContent.startsWith('Trade #2:')")
    assert page.text_content("#chart-trade-payoff .gtitle").startswith("Trade #2:")
    assert "Position at entry: Short" in page.inner_text("#trade-legs")
    assert problems == []
    page.close()


def test_renders_in_under_three_seconds(browser, month_report):
    """Load to every chart drawn. Up to five tries, stopping at the first under budget, so a stall of
    a shared machine (2 cores, many jobs) does not decide it; every try is reported on failure."""
    times = []
    for _ in range(5):
        page, seconds, problems = _load(browser, month_report)
        page.close()
        assert problems == []
        times.append(seconds)
        if seconds < MAX_SECONDS:
            break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    assert min(times) < MAX_SECONDS, f"load to charts drawn: {', '.join(f'{t:.2f}' for t in times)} s (load {load})"


def test_sorting_a_table_keeps_its_total_row_last(browser, month_report):
    page, _, problems = _load(browser, month_report)
    days = page.locator("section#days table")
    days.locator("th", has_text="Net P&L").click()
    pnl = days.locator("tbody tr td:nth-child(3)").evaluate_all("cells => cells.map(c => Number(c.dataset.v))")
    assert pnl == sorted(pnl) and len(pnl) == 20
    assert days.locator("tr").last.locator("td").first.inner_text() == "Total"
    assert problems == []
    page.close()
