"""`optrunner run`: paper-trade a catalog day through the live node (registered in cli_app.py).

Everything the user gives is checked before the session starts — strategy files, the
catalog and the day, the store URL, the store being reachable, ``--recover`` having a
session to resume — so each mistake is one ``error:`` line (exit 2, or 1 for a server
that is down). Ctrl-C stops the session at a checkpoint and exits 130.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from optrunner.backtest.commands import (
    FAULTS_HELP,
    ON_HALT_HELP,
    AccountOpt,
    CapitalOpt,
    HaltPolicy,
    LatencyOpt,
    SlippageOpt,
    account_settings,
    faults_option,
    load_configs,
    open_catalog,
    print_safety,
    with_halt_policy,
)
from optrunner.backtest.engine import merged_snapshots
from optrunner.backtest.report_format import rupees
from optrunner.clikit import Status, examples
from optrunner.core.clock import SimClock
from optrunner.core.errors import EXIT_INTERRUPTED, RunFailed, UserError
from optrunner.core.invariants import check_invariants
from optrunner.core.timeutil import to_ist
from optrunner.data.catalog import Catalog, CatalogError
from optrunner.execution.brokers.faults import FaultInjector
from optrunner.live.node import (
    DEFAULT_KEEP_CHECKPOINTS,
    DEFAULT_RECONCILE_SECONDS,
    INVARIANTS,
    TradingNode,
)
from optrunner.live.paper_broker import PaperBroker
from optrunner.live.recovery import latest_checkpoint
from optrunner.store import Store

console = Console()
SETTINGS = "settings"  # journal kind: the account settings and code version a session started with
RUN_EXAMPLES = examples(
    "optrunner run my_strangle.json --data data/demo --date 2026-10-05 --store sqlite:///paper.sqlite",
    "optrunner run my_strangle.json --data data/demo --date 2026-10-05 --store sqlite:///paper.sqlite --recover",
    "optrunner run my_strangle.json --data data/demo --date 2026-10-05 --store postgresql+psycopg://me@127.0.0.1:5432/paper --broker-state paper.json",
    "optrunner run --strategies db --data data/demo --date 2026-10-05 --store postgresql+psycopg://me@127.0.0.1:5432/paper --broker-state paper.json",
)
STRATEGIES_HELP = ("files: the strategy files given; db: the active rows of --store's strategy_configurations "
                   "table, changes picked up while running (docs/strategies-db.md).")
ON_CHANGE_HELP = ("A strategy removed (or changed, with --strategies db) while it holds positions — by the table "
                  "or by serve's reload — is drained (exits only, swapped when flat) or kept running as it is until flat.")


class StrategySource(StrEnum):
    files = "files"
    db = "db"


class OnChangePolicy(StrEnum):
    drain = "drain"
    keep = "keep"


StrategiesOpt = Annotated[StrategySource, typer.Option("--strategies", help=STRATEGIES_HELP)]
OnChangeOpt = Annotated[OnChangePolicy, typer.Option("--on-change", help=ON_CHANGE_HELP)]


def store_url(text: str) -> Any:
    """The parsed ``--store`` URL, or a message showing how to write one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError:
        hint = f"sqlite:///{text}" if text.endswith((".sqlite", ".db", ".sqlite3")) else "sqlite:///paper.sqlite"
        raise UserError(f"--store {text!r} is not a store URL — write {hint} or "
                        "postgresql+psycopg://user@host:5432/db") from None  # fmt: skip
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(f"--store {text!r}: only sqlite:/// and postgresql+psycopg:// stores are supported")
    return url


def default_broker_state(url: Any) -> Path:
    """Next to a SQLite store: ``<store>.paper-broker.json``; other stores need the option."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise UserError("give --broker-state FILE (the paper broker's book; the store is not a SQLite file)")
    db = Path(url.database)
    return db.with_name(db.name + ".paper-broker.json")


def open_store(text: str, url: Any, *, recover: bool, durable: bool = False) -> Store:
    """The store, its tables created; a server that is down or refuses us is one message."""
    from sqlalchemy.exc import SQLAlchemyError

    if recover and url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise UserError(f"--recover: there is no store at {url.database}, so no session to resume — "
                        "run without --recover to start one")  # fmt: skip
    try:
        store = Store(text, durable=durable)
        store.create_schema()
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise RunFailed(f"cannot open the store {url.render_as_string(hide_password=True)}: {first} — "
                        "is the database server running and the URL right?") from None  # fmt: skip
    return store


@dataclass
class PaperSession:
    """A trading node on the paper broker, ready to replay ``day`` of ``catalog`` (``run``, ``serve``)."""

    node: TradingNode
    catalog: Catalog | None  # None: a live feed brings the chains
    store: Store
    symbols: list[str]
    day: date | None  # None: the feed's days
    injector: FaultInjector | None
    recovered: bool
    table: Any = None  # --strategies db: the StrategyTableSync following strategy_configurations

    def close(self) -> None:
        """Stop following the strategy table (if any) and close the store."""
        if self.table is not None:
            self.table.watcher.stop()
        self.store.close()


def open_paper_session(
    configs: list[Path],
    data: Path | None,
    day: str | None,
    store_text: str,
    *,
    broker_state: Path | None = None,
    recover: bool | None = False,
    account: Path | None = None,
    capital: Any = None,
    slippage: Any = None,
    latency: Any = None,
    faults: str | None = None,
    on_halt: Any = None,
    durable: bool = False,
    keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS,
    reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS,
    make_broker: Callable[[Path, SimClock, Any, FaultInjector | None], Any] | None = None,
    strategies: str = "files",
    on_change: str = "drain",
) -> PaperSession:
    """Check everything the user gave (one ``error:`` line per mistake), then build the node:
    a fresh session, or — ``recover`` True, or None and the store already holds one — the
    session in the store resumed. The effective settings are journaled.

    ``make_broker``: another broker than the paper one, built like it (a live broker for
    ``serve --live``, a StreamBroker for the bus services). ``data`` None: no catalog (the
    snapshots come from a live feed; ``day`` defaults to today). ``strategies="db"``: the
    strategies are the active rows of the store's ``strategy_configurations`` (``configs`` must
    be empty), followed while the session runs and swapped between inputs (strategy_db/,
    docs/strategies-db.md; ``on_change`` drain|keep)."""
    fault_config, fault_seed = faults_option(faults)  # a bad option is reported before anything runs
    settings, record = account_settings(account, capital=capital, slippage=slippage, latency=latency)
    settings, record = with_halt_policy(settings, record, on_halt)
    watcher = None
    if strategies == "db":
        if configs:
            raise UserError("--strategies db takes the strategies from --store's table: give no strategy files")
        from optrunner.strategy_db.session import config_symbol, open_strategy_table

        store_url(store_text)
        watcher, cfgs = open_strategy_table(store_text)
        files = [f"strategy_configurations:{c.name}" for c in cfgs]
        symbols = sorted({config_symbol(c) for c in cfgs})
    elif strategies == "files":
        if not configs:
            raise UserError("give strategy files or folders, or --strategies db to take them from --store")
        cfgs, files = load_configs(configs)
        symbols = sorted({c.market_config.symbol for c in cfgs})
    else:
        raise UserError(f"--strategies {strategies!r}: choose files or db")
    try:
        d = date.fromisoformat(day) if day is not None else to_ist(datetime.now(UTC)).date()
    except ValueError:
        raise UserError(f"--date {day!r} is not a date like 2026-11-16") from None
    try:
        return _open_session(cfgs, files, symbols, data, d, store_text, broker_state, recover, settings,
                             record, fault_config, fault_seed, faults, durable, keep_checkpoints,
                             reconcile_seconds, watcher, on_change, make_broker)  # fmt: skip
    except BaseException:
        if watcher is not None:
            watcher.store.close()
        raise


def _open_session(cfgs: list[Any], files: list[str], symbols: list[str], data: Path | None, d: date,
                  store_text: str, broker_state: Path | None, recover: bool | None, settings: Any,
                  record: dict[str, Any], fault_config: Any, fault_seed: Any, faults: str | None,
                  durable: bool, keep_checkpoints: int, reconcile_seconds: float, watcher: Any,
                  on_change: str, make_broker: Any) -> PaperSession:  # fmt: skip
    catalog: Catalog | None = None
    if data is not None:
        if watcher is None:
            catalog = open_catalog(data, cfgs, files)
        else:
            catalog = Catalog(data)
            absent = [s for s in symbols if s not in catalog.symbols()]
            if absent:
                raise UserError(f"{data} has no {', '.join(absent)} chains, which strategies in the table trade")
        missing = [s for s in symbols if d not in catalog.dates(s)]
        if missing:
            raise UserError(f"{data} has no {', '.join(missing)} data on {d}; pick a day it holds (optrunner data info --data {data})")
    url = store_url(store_text)
    broker_path = broker_state or default_broker_state(url)
    store = open_store(store_text, url, recover=bool(recover), durable=durable)
    has_session = latest_checkpoint(store) is not None or bool(store.load_orders())
    if recover is None:
        recover = has_session
    if not recover and (has_session or broker_path.exists()):
        store.close()
        raise UserError(f"{store_text} or {broker_path} already holds a session: resume it with --recover, "
                        "or use a new store and broker state")  # fmt: skip
    if recover and not has_session:
        store.close()
        raise UserError(f"--recover: {store_text} holds no session (no checkpoint, no orders) — "
                        "run without --recover to start one")  # fmt: skip
    clock = SimClock()
    injector = FaultInjector(fault_config, fault_seed) if fault_config is not None else None
    make_broker = make_broker or PaperBroker  # the services pass a StreamBroker (optrunner.bus.broker)
    broker = make_broker(broker_path, clock, settings.sim_config(), injector)  # a resumed book carries its RNG state
    make = TradingNode.recover if recover else TradingNode
    node = make(cfgs, store, broker, clock, capital=settings.capital, risk=settings.risk,
                charges=settings.charge_schedule(),
                freeze_inclusive=getattr(getattr(broker, "config", None), "freeze_inclusive", False),
                reconcile_seconds=reconcile_seconds, keep_checkpoints=keep_checkpoints,
                skip_broken=watcher is not None)  # fmt: skip
    record.update({"data": str(data) if data is not None else "live feed", "date": d.isoformat(),
                   "strategy_files": files, "recover": recover, "faults": faults})  # fmt: skip
    table = None
    if watcher is not None:
        from optrunner.strategy_db.session import follow_table

        record.update({"strategies": "db", "on_change": on_change})
        table = follow_table(node, watcher, on_change)
    store.append(SETTINGS, record, datetime.now(UTC))  # each session's effective settings, journaled
    return PaperSession(node, catalog, store, symbols, d, injector, bool(recover), table)


def _clock_text(node: TradingNode) -> str:
    """The session time reached, or "start" before the first snapshot (the clock has none yet)."""
    if node.inputs == 0 and node.resume_after is None:
        return "start"
    return f"{to_ist(node.clock.now()):%Y-%m-%d %H:%M}"


def _status(node: TradingNode) -> str:
    """One plain-text status line (no markup: it also goes to logs and pipes)."""
    k = node.kernel
    pf = k.portfolio
    orders = k.om.orders()
    working = sum(1 for o in orders if not o.state.is_terminal)
    return (f"{_clock_text(node)}  snapshots {node.inputs}  orders {len(orders)} "
            f"({working} working)  open legs {len(pf.positions())}  P&L {rupees(pf.realized + pf.unrealized - pf.charges)}")  # fmt: skip


def print_positions(node: TradingNode) -> None:
    pf = node.kernel.portfolio
    t = Table("strategy", "contract", "qty", "avg", "mark", "unrealized", title="Open positions", title_justify="left")
    for p in pf.positions():
        mark = "—" if p.mark_price is None else f"{p.mark_price:.2f}"
        t.add_row(p.strategy, p.contract.id, f"{p.quantity:+d}", f"{p.avg_price:.2f}", mark, rupees(p.unrealized))
    console.print(t if pf.positions() else "No open positions.")
    s = pf.summary()
    fills = sum(1 for _ in node.store.load_fills())
    console.print(f"Realized {rupees(s.realized)}  unrealized {rupees(s.unrealized)}  charges {rupees(s.charges)}  "
                  f"net [bold]{rupees(s.net)}[/]  ({len(node.kernel.om.orders())} orders, {fills} fills)")  # fmt: skip
    for a in node.kernel.alerts[-5:]:
        console.print(f"[yellow]alert[/] {a.level}: {a.source}: {a.message}")


def run_command(
    data: Annotated[Path, typer.Option("--data", help="Catalog folder to replay.")],
    day: Annotated[str, typer.Option("--date", help="The trading day to replay, YYYY-MM-DD.")],
    store_text: Annotated[str, typer.Option("--store", help="Store URL: sqlite:///file.sqlite or postgresql+psycopg://...")],
    broker_state: Annotated[Path | None, typer.Option("--broker-state", help="Paper broker book (default: next to a SQLite store).", show_default=False)] = None,
    pace_ms: Annotated[float, typer.Option("--pace-ms", help="Wait this long after each snapshot (to watch it).")] = 0.0,
    recover: Annotated[bool, typer.Option("--recover", help="Resume the session in --store (after a crash, or on a later --date).")] = False,
    account: AccountOpt = None,
    capital: CapitalOpt = None,
    slippage: SlippageOpt = None,
    latency: LatencyOpt = None,
    faults: Annotated[str | None, typer.Option("--faults", help=FAULTS_HELP)] = None,
    on_halt: Annotated[HaltPolicy | None, typer.Option("--on-halt", help=ON_HALT_HELP, show_default=False)] = None,
    durable: Annotated[bool, typer.Option("--durable", help="SQLite store: sync every commit to disk "
                                          "(synchronous=FULL), so it survives an OS crash or power cut; slower.")] = False,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints", min=2, help="Keep only the newest N checkpoints in the store.")] = DEFAULT_KEEP_CHECKPOINTS,
    reconcile_seconds: Annotated[float, typer.Option("--reconcile-seconds", min=1.0, help="Reconcile positions and orders with the broker this often.")] = DEFAULT_RECONCILE_SECONDS,
    configs: Annotated[list[Path] | None, typer.Argument(help="Strategy files or folders of them (one account); none with --strategies db.", show_default=False)] = None,
    strategies: StrategiesOpt = StrategySource.files,
    on_change: OnChangeOpt = OnChangePolicy.drain,
) -> None:
    """Paper-trade a catalog day through the live node: journaled, checkpointed, resumable with --recover."""
    session = open_paper_session(
        configs or [], data, day, store_text, broker_state=broker_state, recover=recover, account=account,
        capital=capital, slippage=slippage, latency=latency, faults=faults, on_halt=on_halt, durable=durable,
        keep_checkpoints=keep_checkpoints, reconcile_seconds=reconcile_seconds, strategies=strategies.value,
        on_change=on_change.value,
    )  # fmt: skip
    node, catalog, store, injector = session.node, session.catalog, session.store, session.injector
    symbols, d = session.symbols, session.day
    if recover:
        console.print(f"Resuming after {node.resume_after or 'the start'}; "
                      f"{len(node.possibly_sent)} order(s) possibly sent before the crash")  # fmt: skip
    interrupted = False
    with Status("paper", console=console, text=_status(node)) as status:

        def after(n: TradingNode) -> None:
            status.update(_status(n))
            if pace_ms > 0:
                time.sleep(pace_ms / 1000.0)

        failed: CatalogError | None = None
        try:
            node.run(merged_snapshots(catalog, symbols, d, d), after_input=after)
        except KeyboardInterrupt:  # every processed snapshot is checkpointed: nothing to undo
            interrupted = True
        except CatalogError as exc:  # a truncated or corrupt day file: name it, keep what was done
            failed = exc
        status.update(_status(node))
    print_positions(node)
    if catalog.quality.rows_dropped or catalog.quality.stale_snapshots:
        console.print(f"[yellow]data quality[/]: {catalog.quality.describe()}")
    k = node.kernel
    violations = [str(v) for v in check_invariants(k)]
    print_safety(dict(sorted(injector.injected.items())) if injector else {}, k.reconciler.differences, violations)
    store.append(INVARIANTS, {"violations": violations}, datetime.now(UTC))  # on the record, like the session
    session.close()
    if failed is not None:
        raise UserError(f"{failed}; the session stopped at {_clock_text(node)} — "
                        "replace the file and resume with --recover")  # fmt: skip
    if interrupted:
        console.print(f"[yellow]stopped[/] (Ctrl-C); resume with --recover (stopped at {_clock_text(node)})")
        raise typer.Exit(EXIT_INTERRUPTED)
