"""``live_feed_market``: a WebSocket client for the optrunner feed protocol (docs/feed-protocol.md).

The old "live feed adapter" was a stub that returned no chain. This one connects, subscribes
to its symbol's chains and to tick instruments, and hands ``ChainEvent``/``TickEvent``s to a
sink from a background thread running an asyncio loop. It is built to survive a real feed:

* a dropped or refused connection is retried with exponential backoff (capped, with
  jitter from a seeded RNG so tests are reproducible) and the subscriptions are re-sent;
* a malformed or hostile frame (bad JSON, unknown type, missing or invalid fields, NaN
  prices, deep nesting, >4,300-digit or 1e400-scale numbers, wrong types, oversized frames)
  is rejected and counted by reason (``violations()``) — it never reaches a strategy and
  never kills the client; chain rows that pass the protocol but not the data-quality door
  (crossed, absurd, impossible greeks: ``optrunner.data.quality``) are dropped and counted;
* a supervisor thread, independent of the reader, restarts a reader that died anyway (a bug
  nobody foresaw) with backoff and raises an ``AlertEvent``, and runs the staleness watch:
  no market data for ``stale_after_seconds`` (heartbeats do not count) raises a
  ``StaleDataEvent`` so strategies stop entering, whether the feed went quiet, away, or the
  reader is being restarted.

Broker feeds will implement the same adapter shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from optrunner.core.clock import Clock, LiveClock
from optrunner.core.events import AlertEvent, ChainEvent, Event, StaleDataEvent
from optrunner.data.quality import DataQuality, check_snapshot
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters.feed_codec import (
    MAX_FRAME_CHARS,
    OVERSIZED,
    FeedError,
    FeedProtocolError,
    Heartbeat,
    decode_server_message,
    encode_subscription,
)
from optrunner.market.adapters.protocol import (
    AdapterStats,
    EventSink,
    check_instrument,
    seed_snapshot_dict,
)

log = logging.getLogger(__name__)

_REJECT_LOG_FIRST = 10  # log the first rejections in full, then one in _REJECT_LOG_EVERY
_REJECT_LOG_EVERY = 1000
_HARD_SIZE_FACTOR = 4  # the WebSocket layer closes the connection on frames this much larger
_CLOSE_MESSAGE_TOO_BIG = 1009


def backoff_delay(failures: int, initial: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before the next attempt after ``failures`` consecutive failures.

    ``min(cap, initial * 2**failures)`` scaled by a factor in [0.5, 1): never zero (no
    reconnect storm), never above the cap, and spread out so many clients do not retry in step.
    """
    base = min(cap, initial * (2.0 ** min(failures, 30)))
    return base * (0.5 + 0.5 * rng.random())


class LiveFeedMarketAdapter:
    """Chains of ``symbol`` (and ticks of subscribed instruments) from a feed at ``feed_url``."""

    market_type = "live_feed_market"
    is_live = True

    def __init__(
        self,
        feed_url: str,
        symbol: str,
        *,
        exchange: str = "NFO",
        stale_after_seconds: float = 120.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        seed: int = 0,
        open_timeout: float = 10.0,
        max_frame_chars: int = MAX_FRAME_CHARS,
        clock: Clock | None = None,
    ) -> None:
        if not stale_after_seconds > 0:
            raise ValueError(f"stale_after_seconds must be positive, got {stale_after_seconds}")
        if not 0 < backoff_initial <= backoff_max:
            raise ValueError(
                f"need 0 < backoff_initial <= backoff_max, got {backoff_initial}, {backoff_max}"
            )
        self.feed_url = feed_url
        self.symbol = symbol.upper()
        self.exchange = exchange
        self.stale_after_seconds = float(stale_after_seconds)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.max_frame_chars = max_frame_chars  # larger frames are dropped and counted
        self.clock: Clock = clock or LiveClock()
        self._rng = random.Random(seed)
        self._instruments: frozenset[str] = (
            frozenset()
        )  # replaced, never mutated: read across threads
        self._stats = AdapterStats()
        self._violations: Counter[str] = Counter()  # rejected frames by reason
        self.quality = DataQuality()  # chain rows the data-quality door dropped
        self.restarts = 0  # readers the supervisor had to restart
        self._sink: EventSink | None = None
        self._thread: threading.Thread | None = None  # the reader: asyncio loop, connection
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ws: ClientConnection | None = None
        self._sessions = 0
        self._state = threading.Lock()  # the reader and the supervisor both touch staleness
        self._last_data = time.monotonic()
        self._is_stale = False
        self._last_chain: ChainSnapshot | None = None
        self._last_tick_ts: dict[str, Any] = {}
        self.last_heartbeat: float | None = None  # monotonic time of the last heartbeat

    # --- public API ---------------------------------------------------------------------

    @property
    def source_key(self) -> tuple[str, ...]:
        return (self.market_type, self.feed_url, self.symbol)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def instruments(self) -> frozenset[str]:
        return self._instruments

    def subscribe(self, instruments: Iterable[str]) -> None:
        """Ticks for more instruments; sent now when connected, and again after every reconnect."""
        new = frozenset(check_instrument(i) for i in instruments) - self._instruments
        if new:
            self._instruments = self._instruments | new
            self._send_soon(encode_subscription("subscribe", (), new))

    def unsubscribe(self, instruments: Iterable[str]) -> None:
        gone = frozenset(instruments) & self._instruments
        if gone:
            self._instruments = self._instruments - gone
            self._send_soon(encode_subscription("unsubscribe", (), gone))

    def start(self, sink: EventSink) -> None:
        """Connect and deliver events to ``sink`` from background threads (idempotent)."""
        if self._supervisor is not None and self._supervisor.is_alive():
            return
        self._sink = sink
        self._sessions = 0  # a restart is not a reconnect
        self._stopping.clear()
        with self._state:
            self._last_data = time.monotonic()
            self._is_stale = False
        self._start_reader()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"feed-supervisor-{self.symbol}", daemon=True
        )
        self._supervisor.start()

    def _start_reader(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name=f"feed-{self.symbol}", daemon=True
        )
        self._thread.start()
        ready.wait(5.0)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and join the threads (idempotent)."""
        self._stopping.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout)
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            with contextlib.suppress(
                RuntimeError
            ):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(stop_event.set)
        if thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def events(self) -> Iterator[Event]:
        """Events as they arrive, until ``stop()`` (runs the client for as long as it is iterated).

        Never blocks for good: while the feed is silent or broken the supervisor still
        delivers StaleDataEvents and alerts, and ``stop()`` ends the iteration.
        """
        q: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.start(q.put)
        try:
            while not self._stopping.is_set():
                try:
                    yield q.get(timeout=0.2)
                except queue.Empty:
                    continue
        finally:
            self.stop()

    def get_market_snapshot(self) -> dict[str, Any]:
        stale = self._is_stale or self._last_chain is None
        return seed_snapshot_dict(
            self._last_chain, symbol=self.symbol, exchange=self.exchange, stale=stale
        )

    def stats(self) -> dict[str, int]:
        """AdapterStats counters, plus ``restarts`` (readers restarted by the supervisor) and
        ``dropped_rows`` (chain rows the data-quality door dropped)."""
        return {
            **self._stats.as_dict(),
            "restarts": self.restarts,
            "dropped_rows": self.quality.rows_dropped,
        }

    def violations(self) -> dict[str, int]:
        """Rejected frames by reason (feed_codec's reasons, plus unsubscribed / out_of_order)."""
        return dict(self._violations)

    # --- the loop thread ----------------------------------------------------------------

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop_event = asyncio.Event()
        ready.set()
        try:
            loop.run_until_complete(self._run())
        except Exception:  # the supervisor restarts the reader; say why it stopped
            self._stats.errors += 1
            log.exception("feed client %s: the reader stopped unexpectedly", self.feed_url)
        finally:
            self._ws = None
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None

    async def _run(self) -> None:
        assert self._stop_event is not None
        stop = asyncio.ensure_future(self._stop_event.wait())
        failures = 0
        try:
            while not stop.done():
                session = asyncio.ensure_future(self._session())
                await asyncio.wait({session, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop.done():
                    session.cancel()
                    await asyncio.gather(session, return_exceptions=True)
                    break
                if session.result():
                    failures = 0
                delay = backoff_delay(failures, self.backoff_initial, self.backoff_max, self._rng)
                failures += 1
                log.info("feed %s: reconnecting in %.2fs", self.feed_url, delay)
                await asyncio.wait({stop}, timeout=delay)
        finally:
            stop.cancel()
            await asyncio.gather(stop, return_exceptions=True)

    async def _session(self) -> bool:
        """One connection, from open to close. True when it delivered market data."""
        got_data = False
        try:
            async with connect(
                self.feed_url,
                open_timeout=self.open_timeout,
                max_size=_HARD_SIZE_FACTOR * self.max_frame_chars,
            ) as ws:
                self._ws = ws
                self._sessions += 1
                if self._sessions > 1:
                    self._stats.reconnects += 1
                log.info("feed %s: connected (session %d)", self.feed_url, self._sessions)
                await ws.send(encode_subscription("subscribe", (self.symbol,), self._instruments))
                async for frame in ws:
                    got_data = self._handle(frame) or got_data
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == _CLOSE_MESSAGE_TOO_BIG:
                self._violation(
                    OVERSIZED, "frame over the WebSocket size limit (connection closed)", b""
                )
            log.warning("feed %s: connection lost (%s)", self.feed_url, exc)
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._stats.errors += 1
            log.warning("feed %s: cannot connect (%s: %s)", self.feed_url, type(exc).__name__, exc)
        finally:
            self._ws = None
        return got_data

    def _handle(self, frame: str | bytes) -> bool:
        """Decode and deliver one frame; True when it was market data. Never raises."""
        try:
            return self._deliver(frame)
        except FeedProtocolError as exc:
            self._violation(exc.reason, str(exc), frame)
        except Exception as exc:  # a frame must never end the session: count it, keep reading
            self._violation("internal", f"{type(exc).__name__}: {exc}", frame)
            log.exception("feed %s: handling a frame failed", self.feed_url)
        return False

    def _deliver(self, frame: str | bytes) -> bool:
        message = decode_server_message(frame, self.max_frame_chars)
        if isinstance(message, Heartbeat):
            self.last_heartbeat = time.monotonic()
            return False
        if isinstance(message, FeedError):
            self._stats.errors += 1
            log.warning(
                "feed %s refused a request: %s %s", self.feed_url, message.code, message.message
            )
            return False
        if isinstance(message, ChainEvent):
            snapshot = message.snapshot
            if snapshot.symbol != self.symbol:
                raise FeedProtocolError(
                    f"chain for {snapshot.symbol}, subscribed to {self.symbol}", "unsubscribed"
                )
            if self._last_chain is not None and snapshot.ts <= self._last_chain.ts:
                raise FeedProtocolError(
                    f"chain at {snapshot.ts} is not after the last one ({self._last_chain.ts})",
                    "out_of_order",
                )
            checked = check_snapshot(snapshot, self.quality)
            if checked is None:  # too few valid rows: not market data; staleness may follow
                log.warning(
                    "feed %s: chain at %s has too few valid rows", self.feed_url, snapshot.ts
                )
                return False
            if checked is not snapshot:
                message = ChainEvent(checked)
            self._last_chain = checked
            self._stats.snapshots += 1
        else:
            if message.instrument not in self._instruments:
                raise FeedProtocolError(
                    f"tick for {message.instrument}, which is not subscribed", "unsubscribed"
                )
            last = self._last_tick_ts.get(message.instrument)
            if last is not None and message.ts < last:
                raise FeedProtocolError(
                    f"tick for {message.instrument} at {message.ts} is older than {last}",
                    "out_of_order",
                )
            self._last_tick_ts[message.instrument] = message.ts
            self._stats.ticks += 1
        with self._state:
            self._last_data = time.monotonic()
            self._is_stale = False
        self._emit(message)
        return True

    def _violation(self, reason: str, why: str, frame: str | bytes) -> None:
        self._stats.rejected += 1
        self._violations[reason] += 1
        n = self._stats.rejected
        if n <= _REJECT_LOG_FIRST or n % _REJECT_LOG_EVERY == 0:
            log.warning("feed %s: rejected frame #%d (%s): %s: %r%s", self.feed_url, n, reason,
                        why, frame[:120], "..." if len(frame) > 120 else "")  # fmt: skip

    def _emit(self, event: Event) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            sink(event)
        except Exception:
            self._stats.errors += 1
            log.exception(
                "feed %s: the event sink failed on %s", self.feed_url, type(event).__name__
            )

    def _supervise(self) -> None:
        """The supervisor thread: staleness watch and reader restarts, until ``stop()``."""
        period = min(0.5, self.stale_after_seconds / 4.0)
        restart_failures = 0
        next_restart = 0.0
        while not self._stopping.wait(period):
            self._check_staleness()
            reader = self._thread
            if reader is not None and reader.is_alive():
                if self._sessions:  # the restarted reader got a connection up: budget refilled
                    restart_failures = 0
                continue
            now = time.monotonic()
            if now < next_restart:
                continue
            self.restarts += 1
            message = (
                f"feed reader for {self.symbol} ({self.feed_url}) died; restart #{self.restarts}"
            )
            log.error("%s", message)
            self._emit(AlertEvent(self.clock.now(), "critical", f"feed:{self.symbol}", message))
            next_restart = now + backoff_delay(
                restart_failures, self.backoff_initial, self.backoff_max, self._rng
            )
            restart_failures += 1
            self._sessions = 0
            if not self._stopping.is_set():
                self._start_reader()

    def _check_staleness(self) -> None:
        with self._state:
            age = time.monotonic() - self._last_data
            if age <= self.stale_after_seconds or self._is_stale:
                return
            self._is_stale = True
            self._stats.stale += 1
        log.warning("feed %s: no %s data for %.1fs — stale", self.feed_url, self.symbol, age)
        self._emit(StaleDataEvent(self.clock.now(), self.symbol, age))

    def _send_soon(self, text: str) -> None:
        loop = self._loop
        if loop is None or self._ws is None:
            return  # sent with the full subscription on the next connect
        coro = self._send(text)
        try:
            asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop is closing; the next connect re-subscribes anyway
            coro.close()

    async def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):  # the reconnect re-sends every subscription
            await ws.send(text)
