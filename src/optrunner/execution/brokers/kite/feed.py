"""Live option chains from Kite Ticker: subscribe ATM ± N strikes, re-centre as spot moves,
build ``ChainSnapshot``s with greeks from our engine, reconnect and resubscribe, flag staleness.

One asyncio thread owns the WebSocket (``websockets``, not the SDK's Twisted client — see
ticks.py for why); it parses binary frames into :class:`LiveChain` state and hands text
order updates to ``on_order`` (the :class:`~.orders.KiteBroker`). The kernel thread takes
snapshots (:meth:`LiveChain.snapshot`) under the chain's lock. A dropped connection is
retried with a capped backoff and every subscription is sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from optrunner.data.snapshot import ChainSnapshot, contract_keys
from optrunner.execution.brokers.kite.symbols import KiteInstruments
from optrunner.execution.brokers.kite.ticks import TickParseError, Ticks, parse_frame
from optrunner.execution.brokers.live.secrets import redact
from optrunner.greeks.chain import chain_greeks

log = logging.getLogger(__name__)
_COLS = ("ltp", "bid", "ask", "oi", "volume", "bid_qty", "ask_qty")  # LiveChain's quote block, in this order


class LiveChain:
    """One underlying's chain for one expiry, from ticks of the subscribed window of strikes."""

    def __init__(self, underlying: str, expiry: date, instruments: KiteInstruments, *, width: int = 20,
                 recentre_steps: int = 2, greeks: bool = True) -> None:  # fmt: skip
        self.underlying, self.expiry, self.width, self.recentre_steps = underlying, expiry, width, recentre_steps
        self.greeks = greeks
        self.spot_token = instruments.index_token.get(underlying)
        if self.spot_token is None:
            raise ValueError(f"the Kite instrument master has no index row for {underlying}")
        self.all_strikes = np.asarray(instruments.strikes(underlying, expiry))
        if not len(self.all_strikes):
            raise ValueError(f"the Kite instrument master lists no {underlying} options expiring {expiry}")
        self._inst = instruments
        self._lock = threading.Lock()
        self.spot = float("nan")
        self.spot_ts = 0.0  # monotonic time of the last spot tick
        self.centre: float | None = None
        self._rows(self.all_strikes[: 0])
        self.last_tick = 0.0

    def _rows(self, strikes: np.ndarray) -> None:
        """Allocate quote arrays for ``strikes`` x (CE, PE), keeping quotes of strikes kept."""
        old = getattr(self, "_token_row", {})
        old_q: np.ndarray | None = getattr(self, "_q", None)
        n = 2 * len(strikes)
        # rows in ChainSnapshot's key order (puts then calls, strikes ascending), so a snapshot
        # is built with its keys as they are: no sort, no key computation per update
        self.strike = np.tile(np.asarray(strikes, np.float64), 2)
        self.is_call = np.repeat([False, True], len(strikes))
        self._expiry_col = np.full(n, np.datetime64(self.expiry, "D"))
        days = (self._expiry_col - np.datetime64("1970-01-01", "D")).astype(np.int64)
        self._key = contract_keys(days, self.strike, self.is_call)
        keys = self._by_key()
        self.tokens = np.asarray([keys[(float(k), bool(c))].token for k, c in zip(self.strike, self.is_call, strict=True)],
                                 np.int64)  # fmt: skip
        self._order = np.argsort(self.tokens)
        self._sorted_tokens = self.tokens[self._order]
        self._token_row = {int(t): r for r, t in enumerate(self.tokens)}
        # one (columns x rows) block, so a frame updates every column in a few NumPy calls
        self._q = np.full((len(_COLS), n), np.nan)
        if old_q is not None:
            for t, r in self._token_row.items():
                if t in old:
                    self._q[:, r] = old_q[:, old[t]]
        for i, name in enumerate(_COLS):
            setattr(self, name, self._q[i])

    def _by_key(self) -> dict[tuple[float, bool], Any]:
        if not hasattr(self, "_key_cache"):
            self._key_cache = {(c.strike, c.is_call): i for c, i in self._inst.by_contract.items()
                               if c.underlying == self.underlying and c.expiry == self.expiry}  # fmt: skip
        return self._key_cache

    def window(self, spot: float) -> np.ndarray:
        i = int(np.abs(self.all_strikes - spot).argmin())
        return self.all_strikes[max(0, i - self.width): i + self.width + 1]

    def recentre(self) -> tuple[set[int], set[int]]:
        """(tokens to subscribe, tokens to drop) when spot moved ``recentre_steps`` strikes from
        the window's centre (or the first time spot is known); else two empty sets."""
        with self._lock:
            if self.spot != self.spot:  # NaN: no spot yet
                return set(), set()
            i = int(np.abs(self.all_strikes - self.spot).argmin())
            if self.centre is not None:
                c = int(np.abs(self.all_strikes - self.centre).argmin())
                if abs(i - c) < self.recentre_steps:
                    return set(), set()
            before = set(self._token_row)
            self.centre = float(self.all_strikes[i])
            self._rows(self.window(self.spot))
            after = set(self._token_row)
        return after - before, before - after

    def apply(self, t: Ticks) -> None:
        """Take a frame's ticks (vectorised: token -> row by binary search)."""
        with self._lock:
            now = time.monotonic()
            spot = t.ltp[t.token == self.spot_token]
            if len(spot):
                self.spot, self.spot_ts, self.last_tick = float(spot[-1]), now, now
            if not len(self.tokens):
                return
            pos = np.searchsorted(self._sorted_tokens, t.token)
            pos[pos >= len(self._sorted_tokens)] = 0
            hit = self._sorted_tokens[pos] == t.token
            if not hit.any():
                return
            rows = self._order[pos[hit]]
            v = np.stack([t.ltp, t.bid, t.ask, t.oi, t.volume, t.bid_qty, t.ask_qty])[:, hit]
            q = self._q
            q[:, rows] = np.where(np.isnan(v), q[:, rows], v)  # a field the packet lacks keeps its value
            self.last_tick = now

    def snapshot(self, ts: datetime | None = None) -> ChainSnapshot | None:
        """The chain now, greeks from our engine (black76 on parity forwards); None before spot."""
        with self._lock:
            if self.spot != self.spot or not len(self.tokens):
                return None
            nan = np.full(len(self.tokens), np.nan)
            snap = ChainSnapshot(
                self.underlying, ts or datetime.now(UTC), self.spot, self._expiry_col, self.strike, self.is_call,
                self.bid.copy(), self.ask.copy(), self.ltp.copy(), self.bid_qty.copy(), self.ask_qty.copy(),
                self.volume.copy(), self.oi.copy(), nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                key=self._key,
            )  # fmt: skip
        return chain_greeks(snap) if self.greeks else snap

    def age(self) -> float:
        """Seconds since the last tick (inf before any)."""
        return time.monotonic() - self.last_tick if self.last_tick else float("inf")


class KiteTickerFeed:
    """The ticker connection in its own thread (see the module docstring)."""

    def __init__(self, ws_root: str, api_key: str, access_token: str, chains: list[LiveChain], *,
                 on_order: Callable[[dict[str, Any]], None] | None = None, mode: str = "full",
                 max_backoff: float = 5.0, stale_seconds: float = 5.0) -> None:  # fmt: skip
        self.url = f"{ws_root}?api_key={api_key}&access_token={access_token}"
        self.chains = chains
        self.on_order = on_order
        self.mode = mode
        self.max_backoff = max_backoff
        self.stale_seconds = stale_seconds
        self.connects = 0
        self.frames = 0
        self.errors = 0
        self.subscribed: set[int] = set()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: Any = None
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> KiteTickerFeed:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="kite-ticker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._loop is not None and self._ws is not None:
            asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop)
        if self._thread is not None:
            self._thread.join(timeout)

    def stale(self) -> bool:
        return any(c.age() > self.stale_seconds for c in self.chains)

    def _wanted(self) -> set[int]:
        out: set[int] = set()
        for c in self.chains:
            out.add(int(c.spot_token))  # type: ignore[arg-type]
            out.update(int(t) for t in c.tokens)
        return out

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        if tokens:
            v = sorted(tokens)
            await ws.send(json.dumps({"a": "subscribe", "v": v}))
            await ws.send(json.dumps({"a": "mode", "v": [self.mode, v]}))

    async def _run(self) -> None:
        import websockets

        self._loop = asyncio.get_running_loop()
        backoff = 0.1
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, max_size=2**22, open_timeout=5) as ws:
                    self._ws = ws
                    self.connects += 1
                    backoff = 0.1
                    self.subscribed = self._wanted()
                    await self._send_subscribe(ws, self.subscribed)  # (re)subscribe everything
                    self.connected.set()
                    async for msg in ws:
                        await self._on_message(ws, msg)
            except Exception as exc:  # closed, refused, reset: reconnect
                self.errors += 1
                log.warning("kite ticker: %s; reconnecting in %.1fs", redact(f"{type(exc).__name__}: {exc}"), backoff)
            finally:
                self.connected.clear()
                self._ws = None
            if self._stop.is_set():
                break
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        if isinstance(msg, str):
            if self.on_order is not None:
                try:
                    self.on_order(json.loads(msg))
                except ValueError:
                    log.warning("kite ticker: a text message that is not JSON was ignored")
            return
        try:
            ticks = parse_frame(msg)
        except TickParseError as exc:
            self.errors += 1
            log.warning("kite ticker: %s", exc)
            return
        self.frames += 1
        if not len(ticks):
            return
        for c in self.chains:
            c.apply(ticks)
            add, drop = c.recentre()
            if drop:
                await ws.send(json.dumps({"a": "unsubscribe", "v": sorted(drop)}))
                self.subscribed -= drop
            if add:
                await self._send_subscribe(ws, add)
                self.subscribed |= add

    def snapshots(self, every_seconds: float = 1.0, until: Callable[[], bool] | None = None) -> Iterator[ChainSnapshot]:
        """Snapshots for a trading node, every ``every_seconds`` of wall time; stale chains
        are skipped (a strategy never trades on a frozen quote) and logged."""
        while not self._stop.is_set() and not (until and until()):
            for c in self.chains:
                if c.age() > self.stale_seconds:
                    log.warning("kite feed: %s is stale (%.1fs since the last tick)", c.underlying, c.age())
                    continue
                snap = c.snapshot()
                if snap is not None:
                    yield snap
            time.sleep(every_seconds)
