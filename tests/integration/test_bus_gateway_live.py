"""`optrunner service gateway --broker kite` against the fake Kite through the real Redis:
validated signals become orders at the broker (the real kiteconnect SDK's requests), the
answers come back on `kite.orders.updates`, and a gateway killed with -9 after the order
reached Kite but before Kite's answer reached the gateway is restarted without sending the
order again (it finds it by its tag) — exactly one order at the broker, answered once.
Without a valid session the gateway refuses to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kite_cases import settings_env

from fakes.kite_server import FakeKite, instrument_csv
from optrunner.bus import messages as m
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderType, Right, Side, Tag
from optrunner.execution.brokers.base import BrokerEventKind
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract

pytestmark = [pytest.mark.slow, pytest.mark.services]
ROOT = Path(__file__).resolve().parents[2]
ACCESS = "fake-access-token-000000000777"
TODAY = datetime.now(IST).date()
CE = OptionContract("NIFTY", TODAY + timedelta(days=9), 24000.0, Right.CE)
K = BrokerEventKind


class KiteGateway:
    """A fake Kite, a logged-in token folder and `python -m optrunner.bus gateway --broker kite`."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.tmp, self.redis_url = tmp, redis_url
        self.fake = FakeKite(instrument_csv([CE])).start()
        self.fake.fill_at_limit = True  # no replayed quotes: a limit order fills at its limit
        self.ns = f"t-gwlive-{uuid.uuid4().hex[:6]}"
        self.bus = StreamBus(connect(redis_url), Topics("kite", self.ns))
        self.proc: subprocess.Popen | None = None
        self.origin, self.seq = f"test-{uuid.uuid4().hex[:6]}", 0

    def login(self, expires: datetime | None = None) -> None:
        self.fake.issue_token(ACCESS)
        TokenStore(self.tmp / "tokens").save(SessionToken("kite", Secret(ACCESS), expires or datetime.now(UTC) + timedelta(hours=20)))

    def env(self) -> dict[str, str]:
        return os.environ | settings_env(self.fake, self.tmp) | {
            "OPTRUNNER_TOKEN_DIR": str(self.tmp / "tokens"), "XDG_CONFIG_HOME": str(self.tmp / "xdg"),
            "PYTHONPATH": str(ROOT / "src")}  # fmt: skip

    def start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "optrunner.bus", "gateway", "--broker", "kite", "--broker-state",
             str(self.tmp / "kite-tags.txt"), "--redis", self.redis_url, "--namespace", self.ns],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env())  # fmt: skip
        return self.proc

    def submit(self, n: int, price: float = 100.0) -> str:
        self.seq += 1
        ts = datetime.now(IST)
        order = Order(f"KGW{n:03d}", "KITE1", Tag.ENTRY, CE, Side.SELL, 65, OrderType.LIMIT, price, created_ts=ts)
        self.bus.publish("signals.validated", m.Submit(self.origin, self.seq, ts, m.OrderMsg.of(order)))
        return order.client_id

    def answers(self) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = {}
        for _, msg in self.bus.read_all("orders.updates"):
            if isinstance(msg, m.Answer) and msg.origin == self.origin:
                out.setdefault(msg.seq, []).append([e.event() for e in msg.events])
        return out

    def wait_answer(self, seq: int, timeout: float = 30) -> list[Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.answers().get(seq)
            if got:
                return got
            assert self.proc is not None and self.proc.poll() is None, self.proc.communicate()[0][-3000:]
            time.sleep(0.05)
        raise AssertionError(f"no answer to command {seq} in {timeout}s")

    def kill9(self) -> str:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        out = self.proc.communicate(timeout=30)[0]
        assert self.proc.returncode == -signal.SIGKILL
        return out

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out = self.proc.communicate(timeout=30)[0]
        assert self.proc.returncode == 0, out[-3000:]
        return out

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.bus.reset()
        self.fake.stop()


@pytest.fixture
def kite_gw(tmp_path: Path, redis_url: str):
    g = KiteGateway(tmp_path, redis_url)
    yield g
    g.close()


def kinds(events: list[Any]) -> list[BrokerEventKind]:
    return [e.kind for e in events]


def test_validated_signals_become_kite_orders_and_a_kill_9_before_the_ack_sends_nothing_twice(kite_gw):
    g = kite_gw
    g.login()
    g.start()
    first = g.submit(1)
    [events] = g.wait_answer(1, timeout=60)  # the first start loads the SDK and the instrument master
    assert kinds(events) == [K.ACK, K.FILL] and events[1].quantity == 65 and events[1].price == 100.0
    fill1 = events[1]
    assert [o.form["tag"] for o in g.fake.orders.values()] == [first]
    # the next order reaches Kite, but Kite's answer is late: the gateway dies waiting for it
    g.fake.delay_seconds = 60
    g.fake.script("place", "timeout_after")
    second = g.submit(2)
    end = time.monotonic() + 30
    while len(g.fake.orders) < 2:
        assert time.monotonic() < end, "the second order never reached the fake Kite"
        time.sleep(0.01)
    assert 2 not in g.answers()
    g.kill9()
    g.start()  # the same consumer name: it re-reads its pending command
    [events] = g.wait_answer(2, timeout=60)
    assert kinds([e for e in events if e.client_id == second]) == [K.ACK, K.FILL]
    # a redelivered command's answer also carries the trade book (the order manager skips known exec ids)
    assert {(e.kind, e.exec_id) for e in events if e.client_id != second} <= {(K.FILL, f.exec_id) for f in [fill1]}
    tags = [o.form["tag"] for o in g.fake.orders.values()]
    assert tags == [first, second]  # exactly one broker order per signal
    assert [f["tag"] for f in g.fake.placed_forms] == [first, second]  # and one place request each
    third = g.submit(3)  # and it goes on trading
    [events] = g.wait_answer(3)
    assert kinds(events) == [K.ACK, K.FILL] and len(g.fake.orders) == 3 and g.fake.placed_forms[-1]["tag"] == third
    out = g.stop()
    assert "already at the broker" in out and ACCESS not in out
    assert g.answers().keys() == {1, 2, 3} and all(len(v) == 1 for v in g.answers().values())  # answered once
    fills = [msg.event for _, msg in g.bus.read_all("orders.fills")]
    assert sorted({f.exec_id for f in fills}) == sorted(t["trade_id"] for t in g.fake.trades)
    assert g.bus.read_all("gateway.dlq") == []


def test_a_gateway_without_a_valid_session_refuses_to_start(kite_gw):
    g = kite_gw
    g.login(expires=datetime(2026, 1, 2, 0, 30, tzinfo=UTC))
    out, _ = g.start().communicate(timeout=60)
    assert g.proc is not None and g.proc.returncode == 2, out
    assert "the kite session expired at 2026-01-02 06:00 IST" in out and "optrunner broker login kite" in out
    (g.tmp / "tokens" / "kite.json").unlink()
    out, _ = g.start().communicate(timeout=60)
    assert g.proc.returncode == 2 and "no kite session: log in first (optrunner broker login kite)" in out, out
    assert not g.fake.orders and ACCESS not in out


def test_an_unknown_broker_is_refused(kite_gw, tmp_path: Path):
    p = subprocess.run([sys.executable, "-m", "optrunner.bus", "gateway", "--broker", "fyers", "--broker-state",
                        str(tmp_path / "x"), "--redis", kite_gw.redis_url, "--namespace", kite_gw.ns],
                       capture_output=True, text=True, env=kite_gw.env(), timeout=60)  # fmt: skip
    assert p.returncode == 2 and "--broker 'fyers': a gateway runs one of paper, dhan, kite, shoonya" in p.stdout + p.stderr
