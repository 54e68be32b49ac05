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
from optrunner.live.commands import (
    OnChangeOpt,
    OnChangePolicy,
    StrategiesOpt,
    StrategySource,
    open_paper_session,
    print_positions,
)
from optrunner.live.service import TradingService

console = Console()
SERVE_EXAMPLES = examples(
    "optrunner serve --config-dir examples/configs --data data/demo --date 2026-10-05 --pace-ms 200",
    "OPTRUNNER_API_TOKEN=... optrunner serve --config-dir my_strategies --data data/q1 --date 2026-01-05 "
    "--store sqlite:///paper.sqlite --port 8080",
    "optrunner serve --strategies db --data data/q1 --date 2026-01-05 --store postgresql+psycopg://me@127.0.0.1:5432/paper "
    "--broker-state paper.json",
)
DEFAULT_STORE = "sqlite:///optrunner-serve.sqlite"


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
    data: Annotated[Path, typer.Option("--data", help="Catalog folder to replay.")],
    day: Annotated[str, typer.Option("--date", help="The trading day to replay, YYYY-MM-DD.")],
    config_dir: Annotated[Path | None, typer.Option("--config-dir", help="Folder of strategy files (one account); not with --strategies db.", show_default=False)] = None,
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
    strategies: StrategiesOpt = StrategySource.files,
    on_change: OnChangeOpt = OnChangePolicy.drain,
) -> None:
    """Run a paper session with the REST + WebSocket API, /metrics and an emergency stop (docs/service.md)."""
    import uvicorn

    if strategies is StrategySource.files:
        if config_dir is None:
            raise UserError("give --config-dir FOLDER of strategy files, or --strategies db to take them from --store")
        if not config_dir.is_dir():
            raise UserError(f"--config-dir {config_dir} is not a folder of strategy files")
    elif config_dir is not None:
        raise UserError("--strategies db takes the strategies from --store's table: leave out --config-dir")
    _free(host, port)
    token, source = load_token(token_file or default_token_file())
    session = open_paper_session([config_dir] if config_dir else [], data, day, store_text, broker_state=broker_state,
                                 recover=None, account=account, capital=capital, slippage=slippage, latency=latency,
                                 on_halt=on_halt, strategies=strategies.value, on_change=on_change.value)  # fmt: skip
    node = session.node
    snapshots = merged_snapshots(session.catalog, session.symbols, session.day, session.day)
    service = TradingService(node, snapshots, pace_ms=pace_ms, quality=session.catalog.quality,
                             catalog=session.catalog)
    from optrunner.api.app import create_app

    app = create_app(service, token)
    where = f"from {TOKEN_ENV}" if source == "env" else f"in {source} (mode 0600)"
    resumed = f", resuming the session in {store_text}" if session.recovered else ""
    console.print(f"optrunner serve: paper, {', '.join(node.kernel.runner.strategies())} on {session.day}{resumed}")
    console.print(f"API on http://{host}:{port} (OpenAPI at /docs); bearer token {where}", soft_wrap=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2,
                            ws="websockets-sansio")  # fmt: skip
    redact = RedactTokens()
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(redact)
    try:
        _server_class()(config).run()
    finally:
        if session.table is not None:
            session.table.watcher.stop()
    print_positions(node)
    console.print(f"stopped ({service.state}); the store holds the session: start again to resume it")
