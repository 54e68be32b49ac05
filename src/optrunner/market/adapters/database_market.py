"""``database_market``: option chains from disk — a catalog replay, or the seed's live SQLite file.

Two sources share the market type because the seed's config names both by a ``db_path``:

* ``ChainReplayAdapter`` walks snapshots (a Parquet catalog, or any iterable) in time order
  for a backtest. It yields each snapshot exactly when it is delivered and refuses one that
  is not later than the previous, so nothing downstream can see the future.
* ``SeedDbPollingAdapter`` polls a seed-format chain file that a supervisor rewrites every
  second. The old adapter accepted a ``max_age_seconds`` and never checked it; this one
  refuses a snapshot whose own timestamp is older than ``stale_after_seconds`` (it raises a
  ``StaleDataEvent`` instead, so strategies stop entering), does not re-deliver a snapshot it
  has already delivered, and treats a missing or corrupt file as stale data and a counted
  error — never as a crash. Rows that fail the data-quality door (zero, negative, crossed,
  absurd prices, impossible greeks: ``optrunner.data.quality``) are dropped and counted in
  ``quality``; a snapshot left with too few valid rows, or with no usable spot, is stale.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from optrunner.core.clock import Clock, LiveClock
from optrunner.core.events import ChainEvent, Event, StaleDataEvent
from optrunner.data.catalog import Catalog
from optrunner.data.quality import DataQuality, check_snapshot
from optrunner.data.seed_db import SeedDbError, read_seed_db
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters.protocol import (
    AdapterStats,
    EventSink,
    check_instrument,
    seed_snapshot_dict,
    ticks_from_snapshot,
)

log = logging.getLogger(__name__)


class ReplayOrderError(ValueError):
    """A replay source produced a snapshot that is not strictly later than the previous one."""


class ChainReplayAdapter:
    """Replays snapshots of one underlying in time order (a backtest's market)."""

    market_type = "database_market"
    is_live = False

    def __init__(
        self,
        symbol: str,
        snapshots: Iterable[ChainSnapshot],
        *,
        exchange: str = "NFO",
        source: str = "",
    ) -> None:
        self.symbol = symbol.upper()
        self.exchange = exchange
        self._snapshots = snapshots
        self._source = source or f"iterable@{id(snapshots):x}"
        self._instruments: set[str] = set()
        self._current: ChainSnapshot | None = None
        self._stats = AdapterStats()

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog | str | Path,
        symbol: str,
        start: date | None = None,
        end: date | None = None,
        *,
        exchange: str = "NFO",
    ) -> ChainReplayAdapter:
        """Replay ``symbol``'s snapshots in ``[start, end]`` (all dates when None), streamed."""
        cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        source = f"catalog:{cat.root.resolve()}:{start}:{end}"
        return cls(symbol, cat.snapshots(symbol, start, end), exchange=exchange, source=source)

    @property
    def source_key(self) -> tuple[str, ...]:
        return (self.market_type, self._source, self.symbol)

    def subscribe(self, instruments: Iterable[str]) -> None:
        self._instruments.update(check_instrument(i) for i in instruments)

    def events(self) -> Iterator[Event]:
        """ChainEvent for each snapshot, then the ticks it implies for subscribed instruments."""
        last: datetime | None = None
        for snapshot in self._snapshots:
            if snapshot.symbol != self.symbol:
                raise ReplayOrderError(
                    f"replay of {self.symbol} produced a {snapshot.symbol} snapshot at {snapshot.ts}"
                )
            if last is not None and snapshot.ts <= last:
                self._stats.rejected += 1
                raise ReplayOrderError(
                    f"{self.symbol} replay out of order: snapshot at {snapshot.ts} follows {last} — "
                    "the source must be sorted by time with one snapshot per instant"
                )
            last = snapshot.ts
            self._current = snapshot
            self._stats.snapshots += 1
            yield ChainEvent(snapshot)
            if self._instruments:
                ticks = ticks_from_snapshot(snapshot, self._instruments)
                self._stats.ticks += len(ticks)
                yield from ticks

    def start(self, sink: EventSink) -> None:
        raise TypeError(
            f"{self.symbol} {self.market_type} replay is not a live source: iterate events() "
            "(StrategyRunner.run) instead of start()"
        )

    def stop(self) -> None:
        """Nothing runs in the background; present for the protocol."""

    def get_market_snapshot(self) -> dict[str, Any]:
        """The snapshot delivered last (never one ahead of the replay)."""
        return seed_snapshot_dict(
            self._current, symbol=self.symbol, exchange=self.exchange, stale=False
        )

    def stats(self) -> dict[str, int]:
        return self._stats.as_dict()


class SeedDbPollingAdapter:
    """Polls a seed-format live chain file every ``poll_interval`` seconds, refusing stale data.

    One ``StaleDataEvent`` is raised when the data turns stale (too old, unreadable, wrong
    symbol); the next fresh snapshot ends the episode. ``poll()`` is the synchronous step,
    ``start(sink)`` runs it on a background thread.
    """

    market_type = "database_market"
    is_live = True

    def __init__(
        self,
        db_path: str | Path,
        symbol: str,
        *,
        exchange: str = "NFO",
        stale_after_seconds: float = 120.0,
        poll_interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        if not stale_after_seconds > 0:
            raise ValueError(f"stale_after_seconds must be positive, got {stale_after_seconds}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.db_path = Path(db_path)
        self.symbol = symbol.upper()
        self.exchange = exchange
        self.stale_after_seconds = float(stale_after_seconds)
        self.poll_interval = float(poll_interval)
        self.clock: Clock = clock or LiveClock()
        self._instruments: set[str] = set()
        self._delivered: ChainSnapshot | None = None
        self._is_stale = False
        self._stats = AdapterStats()
        self.quality = DataQuality()  # rows dropped and snapshots refused at the door
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def source_key(self) -> tuple[str, ...]:
        return (self.market_type, str(self.db_path.resolve()), self.symbol)

    def subscribe(self, instruments: Iterable[str]) -> None:
        self._instruments.update(check_instrument(i) for i in instruments)

    def _read(self, quality: DataQuality | None = None) -> tuple[ChainSnapshot | None, str]:
        """The file's snapshot with its bad rows dropped (counted in ``quality``), or None and
        why it could not be used (an unreadable file is a counted error)."""
        try:
            snapshot, _meta = read_seed_db(self.db_path)
        except (SeedDbError, sqlite3.Error, OSError, ValueError) as exc:
            self._stats.errors += 1
            return None, str(exc)
        if snapshot.symbol != self.symbol:
            self._stats.errors += 1
            return None, f"{self.db_path} holds {snapshot.symbol}, not {self.symbol}"
        checked = check_snapshot(snapshot, DataQuality() if quality is None else quality)
        if checked is None:
            return None, f"snapshot at {snapshot.ts} has too few valid rows or no usable spot"
        return checked, ""

    def poll(self) -> list[Event]:
        """One look at the file: [ChainEvent, ticks...] when fresh and new, [StaleDataEvent] when
        it turns stale, [] when nothing changed."""
        now = self.clock.now()
        snapshot, problem = self._read(self.quality)
        last = self._delivered
        if snapshot is None:
            age = (now - last.ts).total_seconds() if last is not None else math.inf
            return self._turn_stale(now, age, problem)
        if last is not None and snapshot.ts <= last.ts:  # nothing new to deliver
            if snapshot.ts < last.ts:
                self._stats.rejected += 1
                log.warning("%s: snapshot at %s is older than the one delivered (%s); ignored",
                            self.db_path, snapshot.ts, last.ts)  # fmt: skip
            age = (now - last.ts).total_seconds()
            if age > self.stale_after_seconds:
                return self._turn_stale(now, age, f"no new snapshot since {last.ts} ({age:.0f}s)")
            return []
        age = (now - snapshot.ts).total_seconds()
        if age > self.stale_after_seconds:
            return self._turn_stale(now, age, f"snapshot at {snapshot.ts} is {age:.0f}s old")
        self._delivered = snapshot
        if self._is_stale:
            log.info("%s: fresh data again (snapshot at %s)", self.db_path, snapshot.ts)
        self._is_stale = False
        self._stats.snapshots += 1
        ticks = ticks_from_snapshot(snapshot, self._instruments) if self._instruments else []
        self._stats.ticks += len(ticks)
        return [ChainEvent(snapshot), *ticks]

    def _turn_stale(self, now: datetime, age: float, why: str) -> list[Event]:
        if self._is_stale:
            return []
        self._is_stale = True
        self._stats.stale += 1
        log.warning(
            "%s %s data is stale (limit %.0fs): %s",
            self.symbol,
            self.db_path,
            self.stale_after_seconds,
            why,
        )
        return [StaleDataEvent(now, self.symbol, age)]

    def events(self) -> Iterator[Event]:
        """Poll until ``stop()``; yields what each poll produced."""
        self._stop.clear()
        while not self._stop.is_set():
            yield from self.poll()
            self._stop.wait(self.poll_interval)

    def start(self, sink: EventSink) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(sink,), name=f"seed-db-poll-{self.symbol}", daemon=True
        )
        self._thread.start()

    def _run(self, sink: EventSink) -> None:
        while not self._stop.is_set():
            try:
                for event in self.poll():
                    sink(event)
            except Exception:  # keep polling: a live source must outlive one bad cycle
                self._stats.errors += 1
                log.exception("%s: poll cycle failed", self.db_path)
            self._stop.wait(self.poll_interval)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, 2 * self.poll_interval))

    def get_market_snapshot(self) -> dict[str, Any]:
        """The file's snapshot now, flagged stale when too old; an empty stale chain when unreadable."""
        snapshot, _problem = self._read()
        stale = (
            snapshot is None
            or (self.clock.now() - snapshot.ts).total_seconds() > self.stale_after_seconds
        )
        return seed_snapshot_dict(snapshot, symbol=self.symbol, exchange=self.exchange, stale=stale)

    def stats(self) -> dict[str, int]:
        """AdapterStats counters plus ``dropped_rows`` (rows the data-quality door dropped)."""
        return {**self._stats.as_dict(), "dropped_rows": self.quality.rows_dropped}
