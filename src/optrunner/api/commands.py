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
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from optrunner.api.auth import TOKEN_ENV, RedactTokens, default_token_file, load_token
from optrunner.backtest.commands import AccountOpt, CapitalOpt, HaltPolicy, LatencyOpt, SlippageOpt
from optrunner.backtest.engine import merged_snapshots
from optrunner.clikit import examples
from optrunner.core.errors import UserError
from optrunner.live.commands import open_paper_session, print_positions
from optrunner.live.node import DEFAULT_RECONCILE_SECONDS
from optrunner.live.service import TradingService

console = Console()
SERVE_EXAMPLES = examples(
    "optrunner serve --config-dir examples/configs --data data/demo --date 2026-10-05 --pace-ms 200",
    "OPTRUNNER_API_TOKEN=... optrunner serve --config-dir my_strategies --data data/q1 --date 2026-01-05 "
    "--store sqlite:///paper.sqlite --port 8080",
    "optrunner serve --live --broker kite --config-dir my_strategies --data data/today --date 2026-12-04",
    "optrunner serve --feed kite --config-dir my_strategies      # paper fills on live Kite data",
    "optrunner serve --feed kite --live --broker kite --config-dir my_strategies",
)
DEFAULT_STORE = "sqlite:///optrunner-serve.sqlite"


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


def serve_command(
    config_dir: Annotated[Path, typer.Option("--config-dir", help="Folder of strategy files (one account).")],
    data: Annotated[Path | None, typer.Option("--data", help="Catalog folder to replay (not with --feed kite).", show_default=False)] = None,
    day: Annotated[str | None, typer.Option("--date", help="The trading day to replay, YYYY-MM-DD.", show_default=False)] = None,
    store_text: Annotated[str, typer.Option("--store", help="Store URL; a store holding this session resumes it.")] = DEFAULT_STORE,
    broker_state: Annotated[Path | None, typer.Option("--broker-state", help="Paper broker book (default: next to a SQLite store).", show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default: the API trades).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    pace_ms: Annotated[float, typer.Option("--pace-ms", min=0.0, help="Wait this long after each snapshot (0: full speed).")] = 0.0,
    token_file: Annotated[Path | None, typer.Option("--token-file", help=f"API token file, made (mode 0600) when missing; {TOKEN_ENV} overrides it.", show_default=False)] = None,
    account: AccountOpt = None,
    capital: CapitalOpt = None,
    slippage: SlippageOpt = None,
    latency: LatencyOpt = None,
    on_halt: Annotated[HaltPolicy | None, typer.Option("--on-halt", help="What a halted strategy does with its positions.", show_default=False)] = None,
    reconcile_seconds: Annotated[float, typer.Option("--reconcile-seconds", min=1.0, help="Reconcile positions and orders with the broker this often (session time).")] = DEFAULT_RECONCILE_SECONDS,
    live: Annotated[bool, typer.Option("--live", help="Send real orders to --broker (needs today's login: optrunner broker login).")] = False,
    broker: Annotated[str, typer.Option("--broker", help="paper, or with --live: kite, dhan or shoonya.")] = "paper",
    yes: Annotated[bool, typer.Option("--yes", help="With --live: do not ask for confirmation.")] = False,
    feed: Annotated[str, typer.Option("--feed", help="catalog (replay --data on --date), kite (live Kite Ticker chains) or shoonya (live Noren WebSocket chains); live feeds need today's login.")] = "catalog",
) -> None:
    """Run a paper session with the REST + WebSocket API, /metrics and an emergency stop (docs/service.md)."""
    import uvicorn

    if not config_dir.is_dir():
        raise UserError(f"--config-dir {config_dir} is not a folder of strategy files")
    if feed not in ("catalog", "kite", "shoonya"):
        raise UserError(f"--feed {feed!r}: one of catalog, kite, shoonya")
    if feed == "catalog" and (data is None or day is None):
        raise UserError("give --data DIR and --date YYYY-MM-DD to replay a catalog day (or --feed kite for live data)")
    if feed != "catalog" and (data is not None or day is not None):
        raise UserError(f"--feed {feed} trades today on live data: drop --data and --date")
    _free(host, port)
    token, source = load_token(token_file or default_token_file())
    make_broker, mode = None, "paper"
    if live or broker != "paper":
        if not live:
            raise UserError(f"--broker {broker} sends real orders: add --live (paper trading uses --broker paper)")
        if broker == "paper":
            raise UserError("--live needs a real broker: --broker kite, dhan or shoonya")
        from optrunner.live.live_brokers import live_broker_factory

        tags = broker_state or live_tag_file(store_text, broker)
        make_broker, mode, broker_state = live_broker_factory(broker, tags), "live", tags
    session = open_paper_session([config_dir], data, day, store_text, broker_state=broker_state, recover=None,
                                 account=account, capital=capital, slippage=slippage, latency=latency,
                                 on_halt=on_halt, make_broker=make_broker, reconcile_seconds=reconcile_seconds)  # fmt: skip
    node = session.node
    if make_broker is not None:
        from optrunner.live.live_brokers import attach, confirm_live

        attach(node.kernel.broker, node)
        try:
            confirm_live(broker, node.kernel.broker.settings.api_root, node.kernel.runner.strategies(), yes)
        except UserError:
            session.store.close()
            raise
    live_feed = None
    if session.catalog is None:  # --feed kite|shoonya: live chains; that broker's live orders also hear its updates
        from optrunner.live.live_brokers import LIVE_FEEDS

        try:
            live_feed, snapshots = LIVE_FEEDS[feed](session.symbols)
        except UserError:
            session.store.close()
            raise
        hook = getattr(node.kernel.broker, {"kite": "on_order_message", "shoonya": "on_order_update"}[feed], None)
        if hook is not None and broker == feed:
            live_feed.on_order = hook
    else:
        snapshots = merged_snapshots(session.catalog, session.symbols, session.day, session.day)
    quality = session.catalog.quality if session.catalog is not None else None
    service = TradingService(node, snapshots, pace_ms=pace_ms, quality=quality,
                             catalog=session.catalog, mode=mode, broker=broker)
    from optrunner.api.app import create_app

    app = create_app(service, token)
    where = f"from {TOKEN_ENV}" if source == "env" else f"in {source} (mode 0600)"
    resumed = f", resuming the session in {store_text}" if session.recovered else ""
    console.print(f"optrunner serve: {mode} ({broker}), {', '.join(node.kernel.runner.strategies())} on {session.day}{resumed}")
    console.print(f"API on http://{host}:{port} (OpenAPI at /docs); bearer token {where}", soft_wrap=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2,
                            ws="websockets-sansio")  # fmt: skip
    redact = RedactTokens()
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(redact)
    _server_class()(config).run()
    if live_feed is not None:
        live_feed.stop()
    print_positions(node)
    console.print(f"stopped ({service.state}); the store holds the session: start again to resume it")
