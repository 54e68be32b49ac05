"""`optrunner serve`: a paper session replayed in the background, operated over HTTP.

Same session as ``optrunner run`` (live/commands.py builds both), same checks before
anything starts; a store that already holds the session is resumed (no ``--recover``
flag: a service restarted after a crash carries on). SIGTERM or SIGINT stops the replay
between two inputs, flushes the journal, closes the store and exits 0; positions are kept,
so the next start resumes them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from optrunner.alerts.router import alert_channels_line, service_router
from optrunner.alerts.settings import resolve as resolve_alert_secrets
from optrunner.api.auth import TOKEN_ENV, RedactTokens, default_token_file, load_token
from optrunner.backtest.commands import (
    DEMO_CONFIG,
    DEMO_DATA,
    AccountOpt,
    CapitalOpt,
    HaltPolicy,
    LatencyOpt,
    SlippageOpt,
    ensure_demo_data,
)
from optrunner.backtest.engine import merged_snapshots
from optrunner.clikit import examples
from optrunner.config.account import load_account
from optrunner.core.errors import UserError
from optrunner.live.commands import (
    OnChangeOpt,
    OnChangePolicy,
    StrategiesOpt,
    StrategySource,
    open_paper_session,
    print_positions,
    store_url,
)
from optrunner.live.feed_source import FeedSnapshots, check_feed_url
from optrunner.live.node import DEFAULT_RECONCILE_SECONDS
from optrunner.live.service import TradingService

console = Console()
SERVE_EXAMPLES = examples(
    "optrunner serve --demo",
    "optrunner serve --config-dir my_strategies --feed ws://127.0.0.1:8765 --on-stop flatten",
    "optrunner serve --config-dir examples/configs --data data/demo --date 2026-10-05 --pace-ms 200",
    "OPTRUNNER_API_TOKEN=... optrunner serve --config-dir my_strategies --data data/q1 --date 2026-01-05 "
    "--store sqlite:///paper.sqlite --port 8080",
    "optrunner serve --live --broker kite --config-dir my_strategies --data data/today --date 2026-12-04",
    "optrunner serve --feed kite --config-dir my_strategies      # paper fills on live Kite data",
    "optrunner serve --feed kite --live --broker kite --config-dir my_strategies",
    "optrunner serve --feed breeze --config-dir my_strategies    # paper fills on live ICICI Breeze data",
    "optrunner serve --strategies db --data data/q1 --date 2026-01-05 --store postgresql+psycopg://me@127.0.0.1:5432/paper "
    "--broker-state paper.json",
)
DEFAULT_STORE = "sqlite:///optrunner-serve.sqlite"
# No permessage-deflate: compressing every message once per client cost the kernel a third of
# its replay speed with 50 dashboard clients (one interpreter: the compression and the kernel
# share the CPU); the messages are small JSON (benchmarks/bench_service.py).
UVICORN_SETTINGS: dict[str, Any] = {"ws": "websockets-sansio", "ws_per_message_deflate": False,
                                    "timeout_graceful_shutdown": 2}  # fmt: skip


BROKER_FEEDS = ("kite", "shoonya", "dhan", "breeze")  # --feed names served by a broker's own market data


def live_tag_file(store_text: str, broker: str) -> Path:
    """Next to a SQLite store: ``<store>.<broker>-tags.txt`` (client id <-> broker tag)."""
    from sqlalchemy.engine import make_url

    url = make_url(store_text)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise UserError("give --broker-state FILE (where the live broker's client-id tags are kept)")
    db = Path(url.database)
    return db.with_name(f"{db.name}.{broker}-tags.txt")


def _free(host: str, port: int) -> None:
    """Refuse a port already taken before the session starts (uvicorn would exit mid-start)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror} — pick another --port") from None


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown (the process then dies
        of the signal); a service stopped on purpose exits 0 instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def handle(_sig: int, _frame: Any) -> None:
                if self.should_exit:  # a second signal: stop waiting for connections
                    self.force_exit = True
                self.should_exit = True

            previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in previous.items():
                    signal.signal(s, h)

    return Server


class OnStop(StrEnum):
    keep = "keep"
    flatten = "flatten"


DEMO_DAY = "2026-10-05"  # a Monday of the demo month: the example strangle enters, adjusts and exits
DEMO_PACE_MS = 300.0  # about two minutes for the day: a session a newcomer can watch unfold
DEMO_STORE = Path("runs/serve-demo/session.sqlite")


def _demo_session(*, fresh: bool) -> tuple[list[Path], Path, str, str]:
    """``--demo``: (strategy files, catalog, day, store) — the bundled NIFTY month (generated
    once, shared with ``optrunner demo``), its example strangle and, ``fresh``, its own SQLite
    store emptied (a ``--store`` given with ``--demo`` is resumed like any other)."""
    if not DEMO_CONFIG.is_file():
        raise UserError(f"{DEMO_CONFIG} not found — run `optrunner serve --demo` from the repository root (make serve)")
    ensure_demo_data(DEMO_DATA)
    DEMO_STORE.parent.mkdir(parents=True, exist_ok=True)
    if fresh:  # the demo's own files: each run replays the day from its start
        for old in (DEMO_STORE, DEMO_STORE.with_name(DEMO_STORE.name + ".paper-broker.json")):
            old.unlink(missing_ok=True)
    return [DEMO_CONFIG], DEMO_DATA, DEMO_DAY, f"sqlite:///{DEMO_STORE}"



def serve_command(
    config_dir: Annotated[Path | None, typer.Option("--config-dir", help="Folder of strategy files (one account).", show_default=False)] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Catalog folder to replay (or --feed).", show_default=False)] = None,
    day: Annotated[str | None, typer.Option("--date", help="The trading day to replay from --data, YYYY-MM-DD.", show_default=False)] = None,
    demo: Annotated[bool, typer.Option("--demo", help="The bundled demo: a synthetic NIFTY day replayed at a watchable pace, a fresh store.")] = False,
    store_text: Annotated[str | None, typer.Option("--store", envvar="OPTRUNNER_STORE", help=f"Store URL (or env OPTRUNNER_STORE: keeps a password off the command line); a store holding this session resumes it. [default: {DEFAULT_STORE}]", show_default=False)] = None,
    broker_state: Annotated[Path | None, typer.Option("--broker-state", help="Paper broker book (default: next to a SQLite store).", show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default: the API trades).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    pace_ms: Annotated[float | None, typer.Option("--pace-ms", min=0.0, help=f"Wait this long after each snapshot (default 0: full speed; {DEMO_PACE_MS:g} with --demo).", show_default=False)] = None,
    token_file: Annotated[Path | None, typer.Option("--token-file", help=f"API token file, made (mode 0600) when missing; {TOKEN_ENV} overrides it.", show_default=False)] = None,
    on_stop: Annotated[OnStop, typer.Option("--on-stop", help="On SIGTERM/SIGINT: keep positions (a restart resumes them) or flatten them at market.")] = OnStop.keep,
    account: AccountOpt = None,
    capital: CapitalOpt = None,
    slippage: SlippageOpt = None,
    latency: LatencyOpt = None,
    on_halt: Annotated[HaltPolicy | None, typer.Option("--on-halt", help="What a halted strategy does with its positions.", show_default=False)] = None,
    reconcile_seconds: Annotated[float, typer.Option("--reconcile-seconds", min=1.0, help="Reconcile positions and orders with the broker this often (session time).")] = DEFAULT_RECONCILE_SECONDS,
    live: Annotated[bool, typer.Option("--live", help="Send real orders to --broker (needs today's login: optrunner broker login).")] = False,
    broker: Annotated[str, typer.Option("--broker", help="paper, or with --live: kite, dhan or shoonya.")] = "paper",
    yes: Annotated[bool, typer.Option("--yes", help="With --live: do not ask for confirmation.")] = False,
    adopt: Annotated[bool, typer.Option("--adopt", help="With --live: take the broker's open positions into the book when they differ from it at start (else a difference refuses to go live).")] = False,
    adopt_strategy: Annotated[str | None, typer.Option("--adopt-strategy", help="With --adopt: the strategy that takes positions no order of ours explains.", show_default=False)] = None,
    feed: Annotated[str | None, typer.Option("--feed", help="Live data instead of --data: ws://HOST:PORT (docs/feed-protocol.md), kite (Kite Ticker chains), shoonya (Noren WebSocket chains), dhan (Dhan Live Market Feed chains) or breeze (ICICI Breeze socket.io quotes, data only); brokers need today's login.", show_default=False)] = None,
    strategies: StrategiesOpt = StrategySource.files,
    on_change: OnChangeOpt = OnChangePolicy.drain,
) -> None:
    """Run a paper session with the REST + WebSocket API, /metrics and an emergency stop (docs/service.md)."""
    import uvicorn

    configs: list[Path]
    if demo:
        if config_dir or data or day or feed:
            raise UserError("--demo picks its own strategy, data and day: drop --config-dir/--data/--date/--feed")
        configs, data, day, demo_store = _demo_session(fresh=store_text is None)
        store_text = store_text or demo_store
        pace_ms = DEMO_PACE_MS if pace_ms is None else pace_ms
    else:
        if strategies is StrategySource.files:
            if config_dir is None:
                raise UserError("give --config-dir FOLDER of strategy files, or --strategies db to take them from --store; or --demo for the bundled demo")
            if not config_dir.is_dir():
                raise UserError(f"--config-dir {config_dir} is not a folder of strategy files")
        elif config_dir is not None:
            raise UserError("--strategies db takes the strategies from --store's table: leave out --config-dir")
        configs = [config_dir] if config_dir is not None else []
        if (data is None) == (feed is None):
            raise UserError("give either --data CATALOG --date DAY (replay a day) or --feed ws://HOST:PORT|kite|shoonya|dhan|breeze (live data)")
        if data is not None and day is None:
            raise UserError("--data needs --date DAY: the trading day to replay")
        if feed is not None:
            if day is not None:
                raise UserError("--date goes with --data; a --feed brings its own days")
            if feed not in BROKER_FEEDS:
                check_feed_url(feed)
    store_text = store_text or DEFAULT_STORE
    _free(host, port)
    token, source = load_token(token_file or default_token_file())
    alert_settings = load_account(account)[0].alerts
    resolve_alert_secrets(alert_settings)  # a missing variable stops us before the session opens
    make_broker, mode = None, "paper"
    if (adopt or adopt_strategy) and not live:
        raise UserError("--adopt takes a live broker's positions into the book: use it with --live --broker NAME")
    if live or broker != "paper":
        if not live:
            raise UserError(f"--broker {broker} sends real orders: add --live (paper trading uses --broker paper)")
        if broker == "paper":
            raise UserError("--live needs a real broker: --broker kite, dhan or shoonya")
        from optrunner.live.live_brokers import live_broker_factory

        tags = broker_state or live_tag_file(store_text, broker)
        make_broker, mode, broker_state = live_broker_factory(broker, tags), "live", tags
    session = open_paper_session(configs, data, day, store_text, broker_state=broker_state, recover=None,
                                 account=account, capital=capital, slippage=slippage, latency=latency,
                                 on_halt=on_halt, make_broker=make_broker, reconcile_seconds=reconcile_seconds,
                                 strategies=strategies.value, on_change=on_change.value)  # fmt: skip
    node = session.node
    if make_broker is not None:
        from optrunner.live.adopt import reconcile_at_start
        from optrunner.live.live_brokers import attach, confirm_live

        attach(node.kernel.broker, node)
        try:
            confirm_live(broker, node.kernel.broker.settings.api_root, node.kernel.runner.strategies(), yes)
            for line in reconcile_at_start(node, adopt=adopt, adopt_strategy=adopt_strategy,
                                           day=session.day if session.catalog is not None else None):  # fmt: skip
                console.print(f"[yellow]{line}[/]")
        except UserError:
            session.store.close()
            raise
    live_feed = None
    if session.catalog is not None:
        assert session.day is not None
        snapshots: Any = merged_snapshots(session.catalog, session.symbols, session.day, session.day)
        quality, where_from = session.catalog.quality, f"{session.day} from {data}"
    elif feed in BROKER_FEEDS:  # live chains from the broker; that broker's live orders also hear its updates
        from optrunner.live.live_brokers import LIVE_FEEDS

        try:
            live_feed, snapshots = LIVE_FEEDS[feed](session.symbols)
        except UserError:
            session.store.close()
            raise
        # Kite and Shoonya push order updates on the market socket; Dhan's come on the broker's own one,
        # Breeze is data only
        hook_name = {"kite": "on_order_message", "shoonya": "on_order_update"}.get(feed)
        hook = getattr(node.kernel.broker, hook_name, None) if hook_name else None
        if hook is not None and broker == feed:
            live_feed.on_order = hook
        quality, where_from = None, f"live {feed} data"
    else:
        assert feed is not None
        stale = min((float(getattr(c.market_config, "stale_after_seconds", None) or 120.0)
                     for c in node.kernel.runner.configs().values() if c is not None), default=120.0)  # fmt: skip
        snapshots = FeedSnapshots(feed, session.symbols, clock=node.clock, stale_after_seconds=stale,
                                  on_stale=node.kernel.on_stale)  # fmt: skip
        quality, where_from = snapshots.quality, f"the feed {feed}"
    service = TradingService(node, snapshots, pace_ms=pace_ms or 0.0, quality=quality, catalog=session.catalog,
                             on_stop=on_stop.value, mode=mode, broker=broker, config_dir=config_dir, symbols=session.symbols,
                             strategy_source="store" if strategies is StrategySource.db else "files",
                             on_change=on_change.value)  # fmt: skip
    from optrunner.api.app import create_app

    try:
        router = service_router(alert_settings, node.kernel.runner.configs(), node.kernel.runner)
    except UserError:
        session.store.close()
        raise
    app = create_app(service, token, alerts=router)
    where = f"from {TOKEN_ENV}" if source == "env" else f"in {source} (mode 0600)"
    shown_store = store_url(store_text).render_as_string(hide_password=True)
    resumed = f", resuming the session in {shown_store}" if session.recovered else ""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"optrunner serve: {mode} ({broker}), {', '.join(node.kernel.runner.strategies())} on {where_from}{resumed}", soft_wrap=True)
    console.print(f"API on http://{host}:{port} (OpenAPI at /docs); bearer token {where}", soft_wrap=True)
    console.print(f"alerts: {alert_channels_line(router)}", soft_wrap=True)
    paste = f"the value of {TOKEN_ENV}" if source == "env" else f"the token: cat {source}"
    console.print(f"Dashboard: http://{shown}:{port}/ — paste {paste}", soft_wrap=True)
    config = uvicorn.Config(app, **UVICORN_SETTINGS, host=host, port=port, log_level="info")
    redact = RedactTokens()
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(redact)
    try:
        _server_class()(config).run()
    finally:
        if session.table is not None:
            session.table.watcher.stop()
        if live_feed is not None:
            live_feed.stop()
    print_positions(node)
    if service.stop_result is not None:
        r = service.stop_result
        console.print(f"on stop: {len(r['flatten_orders'])} flatten order(s) sent, {r['open_positions']} leg(s) still open")
    console.print(f"stopped ({service.state}); the store holds the session: start again to resume it")
