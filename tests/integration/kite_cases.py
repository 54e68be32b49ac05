"""Shared set-up for the Kite adapter tests: a fake Kite, the real SDK pointed at it, and an
order manager on a simulated clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fakes.kite_server import API_KEY, API_SECRET, FakeKite, instrument_csv
from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderType, Right, Side, Tag
from optrunner.execution.brokers.kite.config import kite_settings
from optrunner.execution.brokers.kite.orders import KiteBroker
from optrunner.execution.brokers.kite.symbols import KiteInstruments
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy
from optrunner.execution.rate_limit import ExponentialBackoff
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import format_symbol

EXPIRY = date(2026, 12, 29)
DAY = date(2026, 12, 4)
T0 = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)  # 09:30 IST
STRIKES = [24000.0 + 50 * i for i in range(-40, 41)]
CONTRACTS = [OptionContract("NIFTY", EXPIRY, k, r) for k in STRIKES for r in (Right.CE, Right.PE)]
CE = OptionContract("NIFTY", EXPIRY, 24000.0, Right.CE)
SYM = format_symbol(CE, "kite")
POLICY = ExecutionPolicy(market_as_limit=False)


def settings_env(fake: FakeKite, tmp: Path) -> dict[str, str]:
    return {"OPTRUNNER_KITE_API_ROOT": fake.api_root, "OPTRUNNER_KITE_WS_ROOT": fake.ws_root,
            "OPTRUNNER_KITE_API_KEY": API_KEY, "OPTRUNNER_KITE_API_SECRET": API_SECRET,
            "OPTRUNNER_SECRETS_FILE": str(tmp / "no-secrets.json")}  # fmt: skip


def start_fake() -> FakeKite:
    return FakeKite(instrument_csv(CONTRACTS), now=T0).start()


def make_broker(fake: FakeKite, tmp: Path, token: str, clock: SimClock, **kw: Any) -> KiteBroker:
    settings = kite_settings(environ=settings_env(fake, tmp) | kw.pop("env", {}))
    inst = KiteInstruments.from_csv(fake.instruments, DAY, {"NIFTY"})
    return KiteBroker(settings, token, inst, clock, tag_file=tmp / "kite-tags.txt", poll_seconds=kw.pop("poll", 0.0), **kw)


def make_om(broker: KiteBroker, clock: SimClock) -> OrderManager:
    return OrderManager(broker, clock, default_policy=POLICY, backoff=ExponentialBackoff(initial=0.5, max_delay=2.0),
                        ack_query_seconds=1.0, ack_timeout_seconds=10.0)  # fmt: skip


def intent(side: Side = Side.SELL, qty: int = 65, price: float | None = 100.0, tag: Tag = Tag.ENTRY,
           strategy: str = "STRANGLE") -> OrderIntent:  # fmt: skip
    ot = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderIntent(strategy, tag, CE, side, qty, ot, price)


def step(om: OrderManager, clock: SimClock, seconds: float = 1.0, times: int = 1) -> None:
    """Let time pass on the order manager's clock: timers fire, queued resends go, answers drain."""
    for _ in range(times):
        clock.advance(clock.now() + timedelta(seconds=seconds))
        om.check_timers()
        om.drain()
