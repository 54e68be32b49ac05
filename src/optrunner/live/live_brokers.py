"""Opening a real broker for ``optrunner serve --live --broker <name>``.

Checks before anything trades, each one ``error:`` line: the broker is known, its
credentials are set, today's session token exists and has not expired (a token that
expires before today's close is warned about), the instrument master loads; then the
user confirms that real orders will be sent (``--yes`` skips the question; without a
terminal it is required). Brokers register a factory in ``LIVE_BROKERS``. ``LIVE_FEEDS``
opens a broker's live chains for ``serve --feed kite|shoonya|dhan|breeze`` (paper or live
orders on live data; Breeze is data only).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from rich.console import Console

from optrunner.core.errors import RunFailed, UserError
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.live.errors import LiveBrokerError
from optrunner.execution.brokers.live.secrets import install_log_redaction
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.specs import known_indices

console = Console(stderr=True)
SESSION_CLOSE = time(15, 30)


def check_token(broker: str, store: TokenStore | None = None, now: datetime | None = None) -> SessionToken:
    """The stored session, refused when missing or expired; warns when it ends before the close."""
    now = now or datetime.now(UTC)
    tok = (store or TokenStore()).require_valid(broker, now)
    close = datetime.combine(now.astimezone(IST).date(), SESSION_CLOSE, IST)
    if now < close and tok.expires_at < close:
        console.print(f"[yellow]warning[/]: the {broker} session expires at "
                      f"{tok.expires_at.astimezone(IST):%H:%M} IST, before today's close: log in again first")  # fmt: skip
    return tok


def confirm_live(broker: str, where: str, strategies: list[str], yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("--live sends real orders: confirm with --yes (no terminal to ask on)")
    console.print(f"[bold red]LIVE[/]: real orders will go to {broker} at {where} for {', '.join(strategies)}.")
    if input("Type 'live' to start: ").strip() != "live":
        raise UserError("not confirmed: nothing was started")


def kite_session() -> tuple[Any, SessionToken, Any]:
    """(settings, today's session, instrument master) — each problem one clear error."""
    from optrunner.execution.brokers.kite.config import kite_settings
    from optrunner.execution.brokers.kite.symbols import KiteInstruments
    from optrunner.execution.brokers.live.http import RestClient
    from optrunner.execution.brokers.live.master import InstrumentMasterCache

    settings = kite_settings()
    settings.require("api_key")
    tok = check_token("kite")
    rest = RestClient(settings.api_root, timeout=30, headers=lambda: {
        "X-Kite-Version": "3", "Authorization": f"token {settings.api_key}:{tok.access_token.value}"})  # fmt: skip
    try:
        csv = InstrumentMasterCache("kite", lambda: rest.request("GET", "/instruments")).get()
        instruments = KiteInstruments.from_csv(csv, datetime.now(IST).date(), set(known_indices()))  # index options only
    except (LiveBrokerError, ValueError) as exc:
        raise RunFailed(f"cannot load Kite's instrument master from {settings.api_root}: {exc}") from None
    finally:
        rest.close()
    return settings, tok, instruments


def _kite(clock: Any, tag_file: Path) -> Any:
    from optrunner.execution.brokers.kite.orders import KiteBroker

    settings, tok, instruments = kite_session()
    instruments.as_of = None  # the session's own clock says which contracts have expired
    # the replayed clock moves fast: poll the books at every drain (a real-time session polls each second)
    return KiteBroker(settings, tok.access_token.value, instruments, clock, tag_file=tag_file, poll_seconds=0.0)


def _session(broker: str, settings: Any, what: str, load: Callable[[Any], Any]) -> tuple[Any, SessionToken, Any]:
    """(settings, today's session, instruments) of a broker whose master ``load`` downloads:
    each problem one clear error (the Dhan and Shoonya orders and feeds share it)."""
    import httpx

    settings.require("user_id")
    tok = check_token(broker)
    try:
        instruments = load(settings)
    except (httpx.HTTPError, ValueError) as exc:
        raise RunFailed(f"cannot load {what}: {exc}") from None
    return settings, tok, instruments


def dhan_session() -> tuple[Any, SessionToken, Any]:
    from optrunner.execution.brokers.dhan.adapter import load_instruments
    from optrunner.execution.brokers.dhan.config import dhan_settings

    return _session("dhan", dhan_settings(), "Dhan's scrip master", load_instruments)


def shoonya_session() -> tuple[Any, SessionToken, Any]:
    from optrunner.execution.brokers.shoonya.adapter import load_instruments
    from optrunner.execution.brokers.shoonya.config import shoonya_settings

    return _session("shoonya", shoonya_settings(), "Shoonya's NFO symbols", load_instruments)


def _dhan(clock: Any, tag_file: Path) -> Any:
    from optrunner.execution.brokers.dhan.adapter import DhanBroker
    from optrunner.execution.brokers.dhan.config import order_ws_root

    settings, tok, instruments = dhan_session()
    broker = DhanBroker(settings, tok, instruments, clock, tag_file=tag_file, poll_seconds=0.0, token_store=TokenStore())
    broker.start_order_updates(order_ws_root(settings))  # alerts make the adapter read its books sooner
    return broker


def _shoonya(clock: Any, tag_file: Path) -> Any:
    from optrunner.execution.brokers.shoonya.adapter import ShoonyaBroker

    settings, tok, instruments = shoonya_session()
    return ShoonyaBroker(settings, tok, instruments, clock, tag_file=tag_file, poll_seconds=0.0,
                         token_store=TokenStore())


def open_kite_feed(symbols: list[str], *, width: int = 20, every_seconds: float = 1.0,
                   stale_seconds: float = 5.0) -> tuple[Any, Iterator[Any]]:  # fmt: skip
    """Kite Ticker chains (nearest expiry, ATM +- ``width`` strikes) for ``symbols``:
    (the running feed, its snapshots for a trading node)."""
    from optrunner.execution.brokers.kite.feed import KiteTickerFeed
    from optrunner.execution.brokers.live.chain import LiveChain

    settings, tok, instruments = kite_session()
    today = datetime.now(IST).date()
    chains = []
    for sym in symbols:
        expiries = [e for e in instruments.expiries(sym) if e >= today]
        if not expiries:
            raise RunFailed(f"Kite's instrument master lists no {sym} options expiring on or after {today}")
        chains.append(LiveChain(sym, expiries[0], instruments, width=width))
    feed = KiteTickerFeed(settings.ws_root, settings.api_key, tok.access_token.value, chains,
                          stale_seconds=stale_seconds).start()  # fmt: skip
    return feed, feed.snapshots(every_seconds)


def nearest_chains(broker: str, symbols: list[str], contracts: Any, view: Any, width: int) -> list[Any]:
    """One :class:`LiveChain` per symbol on its nearest expiry (today or later) — for brokers
    whose instruments are a dict of contracts read through a token ``view``."""
    from optrunner.execution.brokers.live.chain import LiveChain

    today = datetime.now(IST).date()
    chains = []
    for sym in symbols:
        expiries = sorted({c.expiry for c in contracts if c.underlying == sym and c.expiry >= today})
        if not expiries:
            raise RunFailed(f"{broker}'s instruments list no {sym} options expiring on or after {today}")
        try:
            chains.append(LiveChain(sym, expiries[0], view, width=width))
        except ValueError as exc:
            raise RunFailed(f"--feed {broker.lower()}: {exc}") from None
    return chains


def open_shoonya_feed(symbols: list[str], *, width: int = 20, every_seconds: float = 1.0,
                      stale_seconds: float = 5.0) -> tuple[Any, Iterator[Any]]:  # fmt: skip
    """Noren WebSocket touchline chains (nearest expiry, ATM +- ``width`` strikes) for ``symbols``:
    (the running feed, its snapshots for a trading node)."""
    from optrunner.execution.brokers.shoonya.config import account
    from optrunner.execution.brokers.shoonya.feed import ChainInstruments, ShoonyaFeed

    settings, tok, instruments = shoonya_session()
    chains = nearest_chains("Shoonya", symbols, instruments, ChainInstruments(instruments), width)
    feed = ShoonyaFeed(settings.ws_root, settings.user_id, tok.extra.get("actid") or account(settings),
                       tok.access_token, chains, stale_seconds=stale_seconds).start()  # fmt: skip
    return feed, feed.snapshots(every_seconds)


def open_dhan_feed(symbols: list[str], *, width: int = 20, every_seconds: float = 1.0,
                   stale_seconds: float = 5.0) -> tuple[Any, Iterator[Any]]:  # fmt: skip
    """Dhan Live Market Feed chains (nearest expiry, ATM +- ``width`` strikes, full packets) for
    ``symbols``: (the running feed, its snapshots for a trading node)."""
    from optrunner.execution.brokers.dhan.marketfeed import ChainInstruments, DhanMarketFeed

    settings, tok, instruments = dhan_session()
    chains = nearest_chains("Dhan", symbols, instruments, ChainInstruments(instruments), width)
    feed = DhanMarketFeed(settings.ws_root, settings.user_id, tok.access_token, chains,
                          stale_seconds=stale_seconds, token_store=TokenStore()).start()  # fmt: skip
    return feed, feed.snapshots(every_seconds)


def open_breeze_feed(symbols: list[str], *, width: int = 20, every_seconds: float = 1.0,
                     stale_seconds: float = 5.0) -> tuple[Any, Iterator[Any]]:  # fmt: skip
    """Breeze (ICICI Direct) socket.io quote chains (nearest expiry, ATM +- ``width`` strikes)
    for ``symbols``: (the running feed, its snapshots). Market data only: orders stay paper
    (or go to another broker with --live --broker)."""
    import httpx

    from optrunner.execution.brokers.breeze.config import breeze_settings
    from optrunner.execution.brokers.breeze.feed import BreezeFeed
    from optrunner.execution.brokers.breeze.symbols import InstrumentMasterError, load_instruments

    settings = breeze_settings()
    settings.require("api_key")
    tok = check_token("breeze")
    try:
        instruments = load_instruments(settings)
    except (httpx.HTTPError, InstrumentMasterError) as exc:
        raise RunFailed(f"cannot load Breeze's security master: {exc}") from None
    chains = nearest_chains("Breeze", symbols, instruments.by_contract, instruments, width)
    feed = BreezeFeed(settings.ws_root, tok.user_id, tok.access_token, instruments, chains,
                      stale_seconds=stale_seconds).start()  # fmt: skip
    return feed, feed.snapshots(every_seconds)


#: --feed name -> (symbols -> (running feed, snapshots))
LIVE_FEEDS: dict[str, Callable[[list[str]], tuple[Any, Iterator[Any]]]] = {
    "kite": open_kite_feed, "shoonya": open_shoonya_feed, "dhan": open_dhan_feed, "breeze": open_breeze_feed,
}  # fmt: skip


LIVE_BROKERS: dict[str, Callable[[Any, Path], Any]] = {"kite": _kite, "dhan": _dhan, "shoonya": _shoonya}


def live_broker_factory(name: str, tag_file: Path) -> Callable[..., Any]:
    """``(path, clock, sim_config, faults) -> broker`` for ``open_paper_session(make_broker=...)``
    (the paper broker's signature; a live broker keeps its own state, so only the clock is used);
    checks the name now."""
    key = name.lower()
    if key not in LIVE_BROKERS:
        raise UserError(f"--broker {name!r}: live trading supports {', '.join(sorted(LIVE_BROKERS))}")
    install_log_redaction()
    return lambda _path, clock, _sim, _faults: LIVE_BROKERS[key](clock, tag_file)


def attach(broker: Any, node: Any) -> None:
    """Wire a live broker to a node's kernel and, after a restart, hand it the open orders."""
    from optrunner.execution.brokers.live.wiring import attach_kernel

    attach_kernel(broker, node.kernel)
    if hasattr(broker, "resume_orders"):
        om = node.kernel.om
        broker.resume_orders(om.open_orders(), om.cancelling())


__all__ = ["LIVE_BROKERS", "LIVE_FEEDS", "attach", "check_token", "confirm_live", "dhan_session", "kite_session", "live_broker_factory",
           "nearest_chains", "open_breeze_feed", "open_dhan_feed", "open_kite_feed", "open_shoonya_feed", "shoonya_session"]
