"""`optrunner serve --feed shoonya`: a paper session on live Shoonya data — the Noren WebSocket
of the fake Shoonya pushes touchline quotes, the session subscribes the index and ATM ± 20
strikes of the nearest expiry and trades on the chains it builds (paper fills)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fakes.server_thread import ServerThread
from fakes.shoonya_server import ShoonyaFake, create_app, symbol_row
from optrunner.core.clock import LiveClock
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from service_cases import make_case

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SPOT = "NSE|26000"
KEY = "shoonya-session-key-feed-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_paper_on_live_shoonya_data(tmp_path: Path) -> None:
    _, configs = make_case(tmp_path)
    expiry = LiveClock().now().date() + timedelta(days=6)
    rows = [symbol_row(str(50000 + 2 * i + j), "NIFTY", expiry.isoformat(), 23000.0 + 50 * i, r, 65)
            for i in range(81) for j, r in enumerate(("CE", "PE"))]  # fmt: skip
    fake = ShoonyaFake(instruments=rows)
    fake.tokens.add(KEY)
    TokenStore(tmp_path / "tokens").save(SessionToken("shoonya", Secret(KEY), datetime.now(UTC) + timedelta(hours=20),
                                                      fake.uid, extra={"actid": fake.uid}))  # fmt: skip
    stop = threading.Event()
    with ServerThread(create_app(fake)) as server:

        def market() -> None:  # spot and every subscribed option, ten times a second
            while not stop.wait(0.1):
                fake.push_quote(SPOT, lp="25010.00")
                for key in sorted(fake.subscribed - {SPOT}):
                    fake.push_quote(key, lp="50.00", bp1="49.50", sp1="50.50", bq1="650", sq1="650", oi="100")

        threading.Thread(target=market, daemon=True).start()
        port = free_port()
        env = os.environ | {
            "OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_WS_ROOT": server.ws_url + "/NorenWSTP/",
            "OPTRUNNER_SHOONYA_USER_ID": fake.uid, "OPTRUNNER_SHOONYA_INSTRUMENTS_URL": server.url + "/NFO_symbols.txt.zip",
            "OPTRUNNER_TOKEN_DIR": str(tmp_path / "tokens"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "OPTRUNNER_SECRETS_FILE": str(tmp_path / "none.json"), "OPTRUNNER_API_TOKEN": "shoonya-feed-api-token-1",
            "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "optrunner.cli", "serve", "--feed", "shoonya", "--config-dir", str(configs),
             "--store", f"sqlite:///{tmp_path / 'p.sqlite'}", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                end = time.monotonic() + 60
                health = None
                while time.monotonic() < end:
                    try:
                        health = http.get("/api/health").json()
                        if health["feed"]["inputs"] >= 3:
                            break
                    except httpx.TransportError:
                        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                    time.sleep(0.2)
                assert health is not None and health["feed"]["inputs"] >= 3, health
                assert (health["mode"], health["broker"]) == ("paper", "paper")
            assert len(fake.subscribed) == 1 + 2 * 41  # the index and ATM +- 20 strikes, CE and PE
            assert fake.ws_connects == 1 and len(fake._order_sockets) == 1
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
            assert proc.returncode == 0, out
            assert KEY not in out
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
