"""The dashboard in a real browser: `optrunner serve` as a subprocess on 127.0.0.1 replaying a
synthetic day (paced, so positions are open while the page is), the page opened in headless
Chromium (Debian's ``chromium`` driven by Playwright). Enter the token, see positions arrive and
update over the WebSocket with their greeks moving, the hourly chart drawn from the replay's bars
and extended by the WebSocket's bar and tick messages (candle pixels on its canvas, entry/exit
markers), the day P&L, then press Emergency Stop, confirm by typing STOP,
and check from the API and then the store that every position is flat. No script error, no
request leaves 127.0.0.1. A screenshot (``dashboard.png``) is kept next to the run.

Chromium or Playwright missing skips the test loudly (fails under OPTRUNNER_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from optrunner.store import Store
from required_services import service_unavailable
from service_cases import DAY, STRATEGY, TOKEN, make_case

CHROMIUM = "/usr/bin/chromium"
ALL_GREEKS = """() => {
  const cells = [...document.querySelectorAll('#positions tbody td[class*=greek-]')];
  return cells.length >= 4 && cells.every((c) => c.textContent !== '—');
}"""
# pixels of the candles' colours (up #2fbf71, down #e5484d) on the chart's canvases
CANDLE_PIXELS = """() => {
  let n = 0;
  for (const c of document.querySelectorAll('#chart canvas')) {
    const ctx = c.getContext('2d');
    if (!ctx || !c.width || !c.height) continue;
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < px.length; i += 4) {
      const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
      if ((Math.abs(r - 47) < 12 && Math.abs(g - 191) < 12 && Math.abs(b - 113) < 12) ||
          (Math.abs(r - 229) < 12 && Math.abs(g - 72) < 12 && Math.abs(b - 77) < 12)) n++;
    }
  }
  return n;
}"""
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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


def test_dashboard_shows_live_positions_and_the_emergency_stop_flattens(browser, tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    env = {**os.environ, "OPTRUNNER_API_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "optrunner.cli", "serve", "--config-dir", str(configs), "--data", str(catalog),
           "--date", DAY.isoformat(), "--store", store_url, "--port", str(port), "--pace-ms", "60"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    problems: list[str] = []
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
            assert http.get("/").status_code == 200 and "Emergency" in http.get("/").text
            assert http.get("/api/bars").status_code == 401

            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("websocket", lambda w: None if w.url.startswith(f"ws://127.0.0.1:{port}/")
                    else problems.append(f"websocket: {w.url}"))  # fmt: skip
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base + "/")
                       else (problems.append(f"network: {route.request.url}"), route.abort()))  # fmt: skip
            page.goto(base + "/")
            assert page.locator("#estop").is_visible()  # always there, even before the token
            page.fill("#token", TOKEN)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("body[data-state=ready]", timeout=10_000)

            # positions arrive, then keep coming over the WebSocket (one message a second)
            page.wait_for_function("Number(document.body.dataset.openLegs || 0) >= 1", timeout=30_000)
            first = int(page.evaluate("Number(document.body.dataset.wsPositions || 0)"))
            page.wait_for_function(f"Number(document.body.dataset.wsPositions || 0) >= {first + 2}", timeout=10_000)
            assert page.locator("#positions tbody tr").count() >= 1
            marks = page.locator("#positions tbody tr td:nth-child(5)").all_inner_texts()
            assert all(m != "—" for m in marks), marks
            assert page.locator(f"#strategies input[data-strategy={STRATEGY}]").is_checked()
            page.wait_for_function("Number(document.body.dataset.bars || 0) >= 2", timeout=30_000)
            page.wait_for_selector("#fills tbody tr", timeout=10_000)
            assert page.locator("#chart canvas").count() >= 1

            # greeks: every open leg's four, moving with the market over the WebSocket
            page.wait_for_function("Number(document.body.dataset.greekUpdates || 0) >= 2", timeout=20_000)
            # a leg opened by an adjustment has greeks from its first mark, one input later
            page.wait_for_function(ALL_GREEKS, timeout=10_000)
            for g in ("delta", "gamma", "vega", "theta"):
                assert page.locator(f"#g-{g}").inner_text() != "—"
            assert page.locator("#positions tfoot td.greek-delta").inner_text() != "—"

            # the chart: the replay's hourly bars, extended by bar and tick messages, with markers
            page.wait_for_function("Number(document.body.dataset.wsBars || 0) >= 1 && "
                                   "Number(document.body.dataset.wsTicks || 0) >= 2", timeout=20_000)  # fmt: skip
            rest = http.get("/api/bars", headers=auth).json()["bars"]
            drawn = int(page.evaluate("Number(document.body.dataset.chartBars || 0)"))
            assert drawn >= 2 and abs(drawn - len(rest)) <= 1, (drawn, len(rest))
            assert page.locator("#spot").inner_text() != "—"
            assert int(page.evaluate("Number(document.body.dataset.markers || 0)")) >= 1
            # a dropped connection comes back resuming after its last seq: no snapshot, no gap
            assert page.evaluate("document.body.dataset.wsStart") == "snapshot"
            page.wait_for_function("ws !== null && ws.readyState === WebSocket.OPEN", timeout=10_000)
            seq = int(page.evaluate("ws.close(); Number(document.body.dataset.wsSeq)"))
            page.wait_for_function("document.body.dataset.wsStart === 'resumed'", timeout=10_000)
            page.wait_for_function(f"Number(document.body.dataset.wsSeq) > {seq}", timeout=10_000)
            page.wait_for_timeout(300)  # the chart paints on the next animation frame
            assert page.evaluate(CANDLE_PIXELS) > 200  # candles really drawn, not just handed to the chart
            assert page.locator("#day-pnl").inner_text() != "—"
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            # the emergency stop: a click opens the confirmation; it needs STOP typed
            page.click("#estop")
            assert page.locator("#confirm").is_visible()
            assert page.locator("#confirm-go").is_disabled()
            page.fill("#confirm-text", "stop")
            assert page.locator("#confirm-go").is_disabled()
            page.fill("#confirm-text", "STOP")
            page.click("#confirm-go")
            page.wait_for_selector("body[data-stopped='1']", timeout=10_000)
            wait_until(lambda: http.get("/integrated/trading/positions", headers=auth).json()["open_legs"] == 0,
                       10, "flat after the emergency stop")  # fmt: skip
            page.wait_for_function("document.body.dataset.openLegs === '0'", timeout=10_000)
            page.wait_for_function("document.body.dataset.killSwitch === 'HALTED'", timeout=10_000)
            assert page.locator("#positions-empty").is_visible()
            page.wait_for_timeout(800)
            page.screenshot(path=str(tmp_path / "dashboard-stopped.png"), full_page=True)
            page.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"screenshots: {tmp_path / 'dashboard.png'}, {tmp_path / 'dashboard-stopped.png'}")
    assert problems == [], (problems, out[-3000:])
    assert proc.returncode == 0, out
    assert TOKEN not in out

    store = Store(store_url)
    try:  # every position flat in the journal
        net: dict[str, int] = {}
        for f in store.load_fills():
            net[f.contract.id] = net.get(f.contract.id, 0) + f.signed_quantity
        assert net and all(q == 0 for q in net.values()), net
        assert not store.load_orders(open_only=True)
    finally:
        store.close()
