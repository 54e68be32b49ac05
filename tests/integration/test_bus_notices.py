"""A live broker's alerts and halts reach the strategies' kernels over the bus (real Redis, the
fake Kite through the real SDK): the Kite gateway publishes its adapter's notices on
``kite.orders.updates``, and the kernel behind a StreamBroker does what it does in one process
on the adapter itself (``serve --live``).

* The Kite session expires while a strategies service trades a replayed day: its kernel
  raises the critical "session expired, log in again" alert and its new entries are blocked
  (kill switch REDUCING, entries refused from then on; exits alone still go).
* An order is cancelled at the broker by hand: the strategy that sent it is halted on the
  strategies side, the other one trades on — the same alerts and halts as the same story on
  the adapter in one process.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kite_cases import CONTRACTS, EXPIRY, T0, make_broker, settings_env, start_fake
from kite_cases import DAY as KITE_DAY
from test_kite_serve import day_contracts

from fakes.kite_server import FakeKite, instrument_csv
from optrunner.backtest.commands import account_settings, load_configs
from optrunner.bus import messages as m
from optrunner.bus.broker import StreamBroker
from optrunner.bus.feed import replay_day
from optrunner.bus.gateway import Gateway
from optrunner.bus.risk_gate import RiskGate
from optrunner.bus.strategies import (
    BusConfig,
    StrategiesSettings,
    StrategyRunnerService,
    wire_kernel,
)
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderType, Right, Side, Tag
from optrunner.data.catalog import Catalog
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.kite.config import kite_settings
from optrunner.execution.brokers.kite.orders import KiteBroker
from optrunner.execution.brokers.kite.symbols import KiteInstruments
from optrunner.execution.brokers.live.wiring import attach_kernel
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.risk import RiskEngine
from optrunner.risk.kill_switch import TradingState
from service_cases import DAY, STRATEGY, make_case

pytestmark = [pytest.mark.slow, pytest.mark.services]
ACCESS = "fake-access-token-000000000999"
CAPITAL = 50_000_000.0
CE, PE = (OptionContract("NIFTY", EXPIRY, 24000.0, r) for r in (Right.CE, Right.PE))
LOT = 65


class KiteBackend:
    """The risk service and the Kite gateway of one namespace, in a thread (as their processes
    would run them), on a fake Kite whose instrument master lists ``contracts``."""

    def __init__(self, redis_url: str, tmp: Path, contracts: list[Any], day: Any, files: list[Path],
                 account: Path | None = None, now: datetime | None = None) -> None:  # fmt: skip
        tmp.mkdir(exist_ok=True)
        self.fake = FakeKite(instrument_csv(contracts), now=now).start()
        self.fake.fill_at_limit = True
        self.fake.issue_token(ACCESS)
        self.bus = StreamBus(connect(redis_url), Topics("kite", f"t-notice-{uuid.uuid4().hex[:6]}"))
        clock = SimClock()
        settings = kite_settings(environ=settings_env(self.fake, tmp))
        self.adapter = KiteBroker(settings, ACCESS, KiteInstruments.from_csv(self.fake.instruments, day, {"NIFTY"}), clock,
                                  tag_file=tmp / "kite-tags.txt", poll_seconds=0.0)  # fmt: skip
        self.gateway = Gateway(self.bus, self.adapter, clock)
        risk = account_settings(account, capital=CAPITAL)[0].risk
        self.risk = RiskGate(self.bus, RiskEngine(risk), CAPITAL, configs=load_configs(files)[0] if files else ())
        self._stop = threading.Event()
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, name="kite-backend", daemon=True)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self.risk.run_once(block_ms=5)
                self.gateway.run_once(block_ms=5)
        except BaseException as exc:  # handed to the test at stop()
            self._failed.append(exc)

    def start(self) -> KiteBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._failed:
            raise self._failed[0]

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=30)
        self.fake.stop()
        self.bus.reset()

    def notices(self) -> list[m.Notice]:
        return [x for _, x in self.bus.read_all("orders.updates") if isinstance(x, m.Notice)]


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    return make_case(tmp_path)


def roomy_account(tmp: Path) -> Path:
    """Two strangles open on one side at once (LATE's legs beside SVC's, no pyramiding rules)."""
    path = tmp / "account.yaml"
    path.write_text("risk:\n  entry_guard:\n    max_same_side: 4\n")
    return path


def late_strategy(configs: Path) -> Path:
    """LATE: a strangle of other strikes than SVC's, entering at 10:30, long after SVC is in."""
    doc = json.loads((configs / f"{STRATEGY}.json").read_text())
    entry = {**doc["entry"], "entry_time": "10:30", "target_ce_delta": 0.12, "target_pe_delta": 0.12}
    path = configs / "LATE.json"
    path.write_text(json.dumps({**doc, "name": "LATE", "entry": entry}))
    return path


def test_a_session_that_expires_mid_day_alerts_the_strategies_kernel_and_blocks_its_entries(
        tmp_path: Path, redis_url: str, case: tuple[Path, Path]) -> None:  # fmt: skip
    catalog, configs = case
    files = [configs / f"{STRATEGY}.json", late_strategy(configs)]
    account = roomy_account(tmp_path)
    backend = KiteBackend(redis_url, tmp_path, day_contracts(catalog), DAY, files, account)
    try:
        backend.fake.script("place", "", "", "token")  # SVC's two legs go in; its next order meets an expired token
        replay_day(backend.bus, Catalog(catalog), ["NIFTY"], DAY)
        backend.start()
        service = StrategyRunnerService(
            BusConfig(redis_url, backend.bus.topics.namespace, "kite"),
            StrategiesSettings(files, catalog, DAY.isoformat(), account, capital=CAPITAL), backend.bus.client,
            f"sqlite:///{tmp_path / 's.sqlite'}")  # fmt: skip
        service.run()
        backend.stop()
        kernel = service.node.kernel
        notices = backend.notices()
        sent = [x.order for _, x in backend.bus.read_all("signals.raw") if isinstance(x, m.Submit)]
    finally:
        backend.close()
    # the gateway heard it from its adapter and told every strategies process on kite, once
    assert [(n.kind, n.level, n.strategy) for n in notices] == [("alert", "critical", None), ("halt", "", None)]
    # the kernel behind the StreamBroker raised the adapter's alert (once) and stopped new entries
    [expired] = [a for a in kernel.alerts if a.source == "broker:kite"]
    assert expired.level == "critical" and expired.message.startswith("kite session expired (place SVC-000003")
    assert "log in again (optrunner broker login kite); new orders halted" in expired.message
    switch = kernel.risk.kill_switch
    assert switch.state is TradingState.REDUCING
    assert [(c.source, c.reason) for c in switch.history] == [("broker:kite", "kite session expired")]
    # LATE's entry at 10:30 never left the kernel (without the notice it goes to the gateway,
    # which refuses it); SVC's exits still did, each refused by Kite's expired session
    assert kernel.risk.rejected["KILL_SWITCH_REDUCING"] == 6  # 3 attempts of 2 legs
    assert {o.strategy for o in sent} == {STRATEGY}
    after = [o for o in sent if o.created_ts >= expired.ts]
    assert after and all(Tag(o.tag).is_exit for o in after)
    assert len(backend.fake.placed_forms) == 2  # only SVC's entry reached Kite



def chain(ts: datetime) -> ChainSnapshot:
    """A quiet NIFTY chain at ``ts`` (the market input that carries the broker's news)."""
    rows = [dict(strike=c.strike, expiry=c.expiry, right=c.right.value, ltp=100.0, bid=99.5, ask=100.5, oi=2e5,
                 volume=1e5, delta=0.5 if c.right is Right.CE else -0.5, iv=0.15, gamma=0.001, vega=5.0)
            for c in (CE, PE)]  # fmt: skip
    return ChainSnapshot.from_quotes("NIFTY", ts, 24000.0, rows)


def cancelled_by_hand(kernel: Kernel, clock: SimClock, fake: FakeKite) -> None:
    """Strategies a (short the call) and b (short the put) fill; a rests one more lot, which the
    broker's risk system cancels behind our back; the next market input carries the news."""
    kernel.safety.policy = "hold_and_alert"  # halted strategies hold: no flatten orders muddle the story
    kernel.on_chain(chain(T0))
    fake.fill_at_limit = True
    for name, contract in (("a", CE), ("b", PE)):
        kernel.router.submit(OrderIntent(name, Tag.ENTRY, contract, Side.SELL, LOT, OrderType.LIMIT, 100.0))
    kernel.om.drain()
    assert kernel.portfolio.position("a", CE).quantity == -LOT and kernel.portfolio.position("b", PE).quantity == -LOT
    fake.fill_at_limit = False
    (order,) = kernel.router.submit(OrderIntent("a", Tag.ENTRY, CE, Side.SELL, LOT, OrderType.LIMIT, 100.0))
    kernel.om.drain()
    assert order.broker_id, "the order rests at the broker"
    with fake._lock:
        o = fake.orders[order.broker_id]
        o.status, o.status_message = "CANCELLED", "Cancelled by RMS"
    clock.advance(T0 + timedelta(minutes=1))
    kernel.on_chain(chain(T0 + timedelta(minutes=1)))


def story(kernel: Kernel) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    return [(a.level, a.source, a.message) for a in kernel.alerts], kernel.om.halted()


def test_an_order_cancelled_at_the_broker_halts_its_strategy_on_the_strategies_side_as_in_one_process(
        tmp_path: Path, redis_url: str) -> None:  # fmt: skip
    # one process: the kernel on the Kite adapter itself (serve --live)
    fake = start_fake()
    try:
        fake.issue_token(ACCESS)
        clock = SimClock(T0)
        (tmp_path / "one").mkdir()
        adapter = make_broker(fake, tmp_path / "one", ACCESS, clock)
        alone = Kernel(adapter, clock, capital=CAPITAL, log_alerts=False)
        attach_kernel(adapter, alone)
        cancelled_by_hand(alone, clock, fake)
    finally:
        fake.stop()
    # the bus: the kernel on a StreamBroker, the adapter in the Kite gateway
    backend = KiteBackend(redis_url, tmp_path / "bus", CONTRACTS, KITE_DAY, [], roomy_account(tmp_path), T0).start()
    try:
        clock = SimClock(T0)
        broker = StreamBroker(backend.bus, clock, name="kite")
        kernel = Kernel(broker, clock, capital=CAPITAL, log_alerts=False)
        wire_kernel(broker, kernel)  # as the strategies service does
        cancelled_by_hand(kernel, clock, backend.fake)
        backend.stop()
        notices = backend.notices()
    finally:
        backend.close()
    assert [(n.kind, n.strategy) for n in notices] == [("alert", None), ("halt", "a")]
    alerts, halted = story(kernel)
    assert halted == {"a": "kite: order a-000002 cancelled at the broker"}  # a alone: b trades on
    assert ("critical", "broker:kite", "kite: order a-000002 (NIFTY:20261229:24000:CE, 0/65 filled) was cancelled "
            "at the broker, not by us: Cancelled by RMS") in alerts  # fmt: skip
    assert story(kernel) == story(alone)  # the same alerts and halts as on the adapter in one process
    assert kernel.risk.kill_switch.state is TradingState.ACTIVE
