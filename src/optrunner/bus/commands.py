"""`optrunner service feed|strategies|risk|gateway`: the scale-out processes (docs/deploy.md).

Each runs until its work is done (the feed: the day is published; strategies: the replayed
day is closed) or, for risk and the gateway, until SIGTERM/Ctrl-C (exit 0). Every one of
them may be killed at any moment and started again with the same arguments.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from optrunner.backtest.commands import AccountOpt, CapitalOpt, account_settings, load_configs
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.clikit import examples, new_app
from optrunner.core.errors import UserError

log = logging.getLogger(__name__)

RedisOpt = Annotated[str, typer.Option("--redis", help="Redis URL of the bus.")]
NamespaceOpt = Annotated[str, typer.Option("--namespace", help="Prefix of every bus key (one per deployment).")]
BrokerOpt = Annotated[str, typer.Option("--broker", help="Which broker's topics ({broker}.signals.*, {broker}.orders.*).")]
DataOpt = Annotated[Path, typer.Option("--data", help="Catalog folder (optrunner data ...).")]
DateOpt = Annotated[str, typer.Option("--date", help="The day to replay, e.g. 2026-11-16.")]
FilesArg = Annotated[list[Path], typer.Argument(help="Strategy files or folders.")]
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

service_app = new_app("Scale-out services joined by Redis Streams (docs/deploy.md).")


def _bus(url: str, namespace: str, broker: str) -> StreamBus:
    try:
        return StreamBus(connect(url), Topics(broker, namespace))
    except ConnectionError as exc:
        raise UserError(str(exc)) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--date {text!r} is not a date like 2026-11-16") from None


class _Stop:
    """SIGTERM / SIGINT ask the loop to stop after the entry in hand (exit 0)."""

    def __init__(self) -> None:
        self.asked = False
        signal.signal(signal.SIGTERM, self._ask)
        signal.signal(signal.SIGINT, self._ask)

    def _ask(self, *_: Any) -> None:
        self.asked = True


def _serve(step: Any, consumer: Any) -> None:
    """Run ``step`` until SIGTERM/SIGINT; drop week-old dedupe keys once an hour."""
    stop, pruned = _Stop(), 0.0
    while not stop.asked:
        step()
        if time.monotonic() - pruned > 3600:
            pruned = time.monotonic()
            consumer.forget_old_keys()


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@service_app.command("feed", epilog=examples("optrunner service feed --data data/demo --symbol NIFTY --date 2026-10-05"))
def feed_command(
    data: DataOpt, day: DateOpt,
    symbol: Annotated[list[str], typer.Option("--symbol", help="Underlying(s) to replay.")],
    ticks: Annotated[bool, typer.Option("--ticks", help="Also publish every option's quote on market.ticks.")] = False,
    pace_ms: Annotated[float, typer.Option("--pace-ms", help="Sleep between snapshots (a slower replay).")] = 0.0,
    redis_url: RedisOpt = DEFAULT_REDIS, namespace: NamespaceOpt = "optrunner",
) -> None:  # fmt: skip
    """Replay a catalog day onto market.chains (and market.ticks); resumes where a killed feed stopped."""
    from optrunner.bus.feed import replay_day
    from optrunner.data.catalog import Catalog

    d = _day(day)
    catalog = Catalog(data)
    missing = [s for s in symbol if d not in catalog.dates(s)]
    if missing:
        raise UserError(f"{data} has no {', '.join(missing)} data on {d}")
    n = replay_day(_bus(redis_url, namespace, "paper"), catalog, symbol, d, ticks=ticks, pace_ms=pace_ms)
    typer.echo(f"published {n} snapshot(s) of {d}")


@service_app.command("strategies", epilog=examples(
    "optrunner service strategies my_strangle.json --data data/demo --date 2026-10-05 --store sqlite:///s.sqlite",
    "optrunner service strategies --strategies db --data data/demo --date 2026-10-05 --store postgresql+psycopg://me@127.0.0.1:5432/paper"))
def strategies_command(
    data: DataOpt, day: DateOpt,
    store: Annotated[str, typer.Option("--store", envvar="OPTRUNNER_STORE", help=(
        "Store URL of the session (resumed when it holds one); or env OPTRUNNER_STORE (keeps a password off the command line)."))],
    configs: Annotated[list[Path] | None, typer.Argument(help="Strategy files or folders (none with --strategies db).")] = None,
    account: AccountOpt = None, capital: CapitalOpt = None,
    ticks: Annotated[bool, typer.Option("--ticks", help="Also consume market.ticks (a live tick feed).")] = False,
    no_settle: Annotated[bool, typer.Option("--no-settle", help="Do not wait for answers before the next input (live).")] = False,
    name: Annotated[str, typer.Option("--name", help="This process's name in its commands.")] = "strategies",
    source: Annotated[str, typer.Option("--strategies", help=(
        "files: the strategy files given; db: the active rows of --store's strategy_configurations, "
        "followed while it runs (zerodha_trading_enabled rows trade on kite)."))] = "files",
    redis_url: RedisOpt = DEFAULT_REDIS, namespace: NamespaceOpt = "optrunner", broker: BrokerOpt = "paper",
) -> None:  # fmt: skip
    """Run strategies on the market topics; each one's orders go to its broker's signals.raw
    (execution.broker; else --broker)."""
    import asyncio

    from optrunner.bus.strategies import BusConfig, StrategiesSettings, StrategyRunnerService

    _setup_logging()
    bus = _bus(redis_url, namespace, broker)
    config = BusConfig(redis_url, namespace, broker, name, settle=not no_settle, ticks=ticks)
    settings = StrategiesSettings(configs or [], data, day, account, capital,
                                  extra={"strategies": source} if source != "files" else {})  # fmt: skip
    service = StrategyRunnerService(config, settings, bus.client, store)
    n = asyncio.run(service.start())
    typer.echo(f"processed {n} snapshot(s)")


@service_app.command("risk", epilog=examples("optrunner service risk my_strangle.json --account account.yaml"))
def risk_command(
    configs: FilesArg, account: AccountOpt = None, capital: CapitalOpt = None,
    name: Annotated[str, typer.Option("--name", help="Consumer name in the risk group.")] = "risk-1",
    redis_url: RedisOpt = DEFAULT_REDIS, namespace: NamespaceOpt = "optrunner", broker: BrokerOpt = "paper",
) -> None:  # fmt: skip
    """Check {broker}.signals.raw with the risk engine: -> signals.validated or signals.rejected."""
    from optrunner.bus.risk_gate import RiskGate
    from optrunner.risk import RiskEngine

    _setup_logging()
    settings, _ = account_settings(account, capital=capital)
    cfgs, _ = load_configs(configs)
    gate = RiskGate(_bus(redis_url, namespace, broker), RiskEngine(settings.risk), settings.capital, configs=cfgs,
                    consumer=name, charges=settings.charge_schedule())  # fmt: skip
    gate.engine.kill_switch.apply_env()
    _serve(gate.run_once, gate.consumer)


@service_app.command("gateway", epilog=examples(
    "optrunner service gateway --broker paper --broker-state paper.json",
    "optrunner service gateway --broker kite --broker-state kite-tags.txt   # after: optrunner broker login kite"))
def gateway_command(
    broker_state: Annotated[Path, typer.Option("--broker-state", help=(
        "paper: the broker's durable book (JSON). kite/dhan/shoonya: the tag file (client id <-> "
        "broker tag, appended before each order leaves) — keep it across restarts."))],
    account: AccountOpt = None,
    name: Annotated[str, typer.Option("--name", help="Consumer name in the gateway group.")] = "gateway-1",
    redis_url: RedisOpt = DEFAULT_REDIS, namespace: NamespaceOpt = "optrunner", broker: BrokerOpt = "paper",
) -> None:  # fmt: skip
    """Execute {broker}.signals.validated on the broker; answers on {broker}.orders.*.

    paper: the simulated exchange. kite, dhan, shoonya: real orders, with today's session
    from `optrunner broker login NAME` (refused when missing or expired)."""
    from optrunner.bus.gateway import Gateway
    from optrunner.core.clock import SimClock

    _setup_logging()
    clock = SimClock()
    gateway = Gateway(_bus(redis_url, namespace, broker), open_gateway_broker(broker, broker_state, clock, account),
                      clock, consumer=name)  # fmt: skip
    _serve(gateway.run_once, gateway.consumer)


def open_gateway_broker(broker: str, state: Path, clock: Any, account: Path | None = None) -> Any:
    """The broker a gateway executes on: the paper broker on its durable book, or a live
    adapter (the same checks as ``serve --live``: credentials, a valid session, the
    instrument master) whose tag file is ``state``."""
    if broker == "paper":
        from optrunner.live.paper_broker import PaperBroker

        settings, _ = account_settings(account)
        return PaperBroker(state, clock, settings.sim_config())
    from optrunner.live.live_brokers import LIVE_BROKERS, live_broker_factory

    if broker not in LIVE_BROKERS:
        raise UserError(f"--broker {broker!r}: a gateway runs one of paper, {', '.join(sorted(LIVE_BROKERS))}")
    return live_broker_factory(broker, state)(None, clock, None, None)


__all__ = ["open_gateway_broker", "service_app"]
