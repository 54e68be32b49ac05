"""The WebSocket thread every broker feed shares: connect, (re)subscribe everything, reconnect
with a capped backoff, feed ticks into :class:`~.chain.LiveChain` s, re-centre their windows,
skip stale chains, and yield snapshots to a trading node.

A broker's feed overrides only its wire format: :meth:`ChainFeed._send_subscribe`,
:meth:`ChainFeed._send_unsubscribe` and :meth:`ChainFeed._on_message` (which parses and
calls :meth:`ChainFeed._apply`). One asyncio loop in one daemon thread owns the socket, so a
slow kernel never blocks a read and a dropped connection never blocks the kernel.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.kite.ticks import Ticks
from optrunner.execution.brokers.live.chain import QUOTE_FIELDS, LiveChain
from optrunner.execution.brokers.live.secrets import redact

log = logging.getLogger(__name__)
TICK_FIELDS = ("ltp", "volume", "oi", "bid", "ask", "bid_qty", "ask_qty")  # Ticks' float columns, in order


class ChainFeed:
    """A broker's market-data connection in its own thread (see the module docstring)."""

    name = "feed"  # in log lines and the thread's name

    def __init__(self, url: str, chains: list[LiveChain], *, on_order: Callable[[dict[str, Any]], None] | None = None,
                 max_backoff: float = 5.0, stale_seconds: float = 5.0) -> None:  # fmt: skip
        self.url = url
        self.chains = chains
        self.on_order = on_order
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

    def start(self) -> ChainFeed:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name=self.name, daemon=True)
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

    # -- the wire format: a broker's feed overrides these ------------------------------------
    async def _connect(self) -> Any:
        import websockets

        return websockets.connect(self.url, max_size=2**22, open_timeout=5)

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        raise NotImplementedError

    async def _send_unsubscribe(self, ws: Any, tokens: set[int]) -> None:
        raise NotImplementedError

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = 0.1
        while not self._stop.is_set():
            try:
                async with await self._connect() as ws:
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
                log.warning("%s: %s; reconnecting in %.1fs", self.name, redact(f"{type(exc).__name__}: {exc}"), backoff)
            finally:
                self.connected.clear()
                self._ws = None
            if self._stop.is_set():
                break
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    async def _apply(self, ws: Any, ticks: Ticks) -> None:
        """Parsed ticks into every chain; a window that moved changes the subscriptions."""
        self.frames += 1
        for c in self.chains:
            c.apply(ticks)
            add, drop = c.recentre()
            if drop:
                await self._send_unsubscribe(ws, drop)
                self.subscribed -= drop
            if add:
                await self._send_subscribe(ws, add)
                self.subscribed |= add

    async def _apply_quote(self, ws: Any, token: int, fields: Mapping[str, float]) -> None:
        """One instrument's quote (feeds that push one per message: Shoonya, Breeze); a field
        it lacks keeps its value. An option goes straight into its row; spot goes through
        :meth:`_apply`, since only spot moves the window."""
        if any(c.spot_token == token for c in self.chains):
            ticks = Ticks(np.asarray([token], np.int64), *(np.asarray([fields.get(f, np.nan)]) for f in TICK_FIELDS),
                          np.zeros(1, np.int64), np.asarray([True]))  # fmt: skip
            await self._apply(ws, ticks)
            return
        values = tuple(fields.get(f, np.nan) for f in QUOTE_FIELDS)
        self.frames += 1
        for c in self.chains:
            c.apply_quote(token, values)

    def snapshots(self, every_seconds: float = 1.0, until: Callable[[], bool] | None = None) -> Iterator[ChainSnapshot]:
        """Snapshots for a trading node, every ``every_seconds`` of wall time; stale chains
        are skipped (a strategy never trades on a frozen quote) and logged."""
        while not self._stop.is_set() and not (until and until()):
            for c in self.chains:
                if c.age() > self.stale_seconds:
                    log.warning("%s: %s is stale (%.1fs since the last tick)", self.name, c.underlying, c.age())
                    continue
                snap = c.snapshot()
                if snap is not None:
                    yield snap
            time.sleep(every_seconds)


__all__ = ["ChainFeed"]
