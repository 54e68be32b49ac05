"""database_market adapters (catalog replay, seed DB polling with staleness) and the factory."""

from __future__ import annotations

import itertools
import math
import queue
import random
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from optrunner.core.clock import SimClock
from optrunner.core.events import ChainEvent, StaleDataEvent, TickEvent
from optrunner.core.timeutil import IST
from optrunner.data.seed_db import write_seed_db
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract
from optrunner.market.adapters import (
    ChainReplayAdapter,
    LiveFeedMarketAdapter,
    ReplayOrderError,
    SeedDbPollingAdapter,
    create_market_adapter,
)
from optrunner.market.adapters.live_feed_market import backoff_delay

T0 = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
CE = "NIFTY:20260113:25000:CE"


def snap(
    ts: datetime, spot: float = 25010.0, ce_ltp: float = 120.0, symbol: str = "NIFTY"
) -> ChainSnapshot:
    return ChainSnapshot.from_columns(
        symbol, ts, spot,
        {"strike": [25000.0, 25000.0, 25100.0], "right": ["CE", "PE", "CE"],
         "expiry": np.datetime64("2026-01-13"), "ltp": [ce_ltp, 110.0, float("nan")],
         "bid": [119.5, 109.5, 70.0], "ask": [120.5, 110.5, 71.0]},
    )  # fmt: skip


# --- replay -----------------------------------------------------------------------------------


def test_replay_delivers_in_time_order_and_never_shows_a_later_snapshot():
    snaps = [snap(T0 + timedelta(minutes=i), ce_ltp=100.0 + i) for i in range(5)]
    adapter = ChainReplayAdapter("NIFTY", snaps)
    assert adapter.get_market_snapshot()["snapshot_ts"] is None
    seen = []
    for event in adapter.events():
        # while an event is being handled, the adapter's view is exactly that snapshot
        assert adapter.get_market_snapshot()["snapshot_ts"] == event.ts
        seen.append(event.ts)
    assert seen == [s.ts for s in snaps]
    assert adapter.stats()["snapshots"] == 5 and not adapter.is_live


def test_replay_refuses_out_of_order_or_repeated_snapshots():
    adapter = ChainReplayAdapter(
        "NIFTY", [snap(T0), snap(T0 + timedelta(minutes=2)), snap(T0 + timedelta(minutes=1))]
    )
    events = adapter.events()
    next(events), next(events)
    with pytest.raises(ReplayOrderError, match="out of order"):
        next(events)
    with pytest.raises(ReplayOrderError):
        list(ChainReplayAdapter("NIFTY", [snap(T0), snap(T0)]).events())
    with pytest.raises(ReplayOrderError, match="BANKNIFTY"):
        list(ChainReplayAdapter("NIFTY", [snap(T0, symbol="BANKNIFTY")]).events())


def test_replay_derives_ticks_for_subscribed_instruments_from_each_chain():
    adapter = ChainReplayAdapter(
        "NIFTY", [snap(T0), snap(T0 + timedelta(minutes=1), spot=25020.0, ce_ltp=125.0)]
    )
    adapter.subscribe([CE, "NIFTY", "NIFTY:20260113:25100:CE", "NIFTY:20260113:26000:CE"])
    events = list(adapter.events())
    assert isinstance(events[0], ChainEvent)
    ticks = [e for e in events if isinstance(e, TickEvent)]
    # 25100 CE has no last price and 26000 CE is not listed: no ticks for them
    assert sorted((t.instrument, t.ltp) for t in ticks[:2]) == [("NIFTY", 25010.0), (CE, 120.0)]
    ce = next(t for t in ticks[2:] if t.instrument == CE)
    assert (ce.ts, ce.ltp, ce.bid, ce.ask) == (T0 + timedelta(minutes=1), 125.0, 119.5, 120.5)
    with pytest.raises(ValueError, match="canonical option id"):
        adapter.subscribe(["NIFTY:bad"])


def test_replay_from_a_catalog_is_time_ordered(tmp_path):
    from optrunner.data.synthetic import generate

    generate("NIFTY", date(2026, 1, 13), date(2026, 1, 14), seed=5, out=tmp_path, strikes_each_side=2,
             horizon_days=7, progress=False)  # fmt: skip
    adapter = create_market_adapter(
        "database_market", SimpleNamespace(symbol="NIFTY", db_path=tmp_path)
    )
    assert isinstance(adapter, ChainReplayAdapter)
    ts = [e.ts for e in adapter.events()]
    assert len(ts) == 2 * 376 and all(a < b for a, b in itertools.pairwise(ts))
    assert {t.date() for t in ts} == {date(2026, 1, 13), date(2026, 1, 14)}


# --- seed DB polling ----------------------------------------------------------------------------


@pytest.fixture
def seed_file(tmp_path):
    path = tmp_path / "NFO_NIFTY_13-Jan-2026.sqlite"
    write_seed_db(path, snap(T0))
    return path


def poller(
    path, now: datetime, stale_after: float = 120.0
) -> tuple[SeedDbPollingAdapter, SimClock]:
    clock = SimClock(now)
    return SeedDbPollingAdapter(path, "NIFTY", stale_after_seconds=stale_after, clock=clock), clock


def test_a_fresh_snapshot_is_delivered_once(seed_file):
    adapter, clock = poller(seed_file, T0 + timedelta(seconds=5))
    first = adapter.poll()
    assert len(first) == 1 and isinstance(first[0], ChainEvent) and first[0].ts == T0
    assert first[0].snapshot.quote_for(OptionContract.from_id(CE)).ltp == 120.0
    assert adapter.poll() == [] and adapter.poll() == []  # unchanged: not re-delivered
    write_seed_db(seed_file, snap(T0 + timedelta(seconds=1), ce_ltp=121.0))
    clock.advance(T0 + timedelta(seconds=6))
    again = adapter.poll()
    assert [e.ts for e in again] == [T0 + timedelta(seconds=1)]
    assert adapter.stats()["snapshots"] == 2


def test_an_old_snapshot_is_stale_not_delivered(seed_file):
    adapter, _ = poller(seed_file, T0 + timedelta(seconds=121))
    events = adapter.poll()
    assert len(events) == 1 and isinstance(events[0], StaleDataEvent)
    stale = events[0]
    assert (stale.symbol, stale.ts, stale.age_seconds) == (
        "NIFTY",
        T0 + timedelta(seconds=121),
        121.0,
    )
    assert adapter.poll() == []  # one event per stale episode
    assert adapter.stats()["stale"] == 1 and adapter.stats()["snapshots"] == 0
    assert adapter.get_market_snapshot()["stale"] is True


def test_an_unchanged_snapshot_turns_stale_and_fresh_data_ends_the_episode(seed_file):
    adapter, clock = poller(seed_file, T0 + timedelta(seconds=1), stale_after=30)
    assert isinstance(adapter.poll()[0], ChainEvent)
    clock.advance(T0 + timedelta(seconds=30))
    assert adapter.poll() == []
    clock.advance(T0 + timedelta(seconds=31))
    events = adapter.poll()
    assert isinstance(events[0], StaleDataEvent) and events[0].age_seconds == 31.0
    write_seed_db(seed_file, snap(T0 + timedelta(seconds=30)))
    assert isinstance(adapter.poll()[0], ChainEvent)
    clock.advance(T0 + timedelta(seconds=70))
    assert isinstance(adapter.poll()[0], StaleDataEvent)  # a new episode, a new event
    assert adapter.stats()["stale"] == 2


def test_a_snapshot_older_than_the_delivered_one_is_rejected(seed_file):
    adapter, _ = poller(seed_file, T0 + timedelta(seconds=10))
    adapter.poll()
    write_seed_db(seed_file, snap(T0 - timedelta(seconds=5)))
    assert adapter.poll() == []
    assert adapter.stats()["rejected"] == 1


@pytest.mark.parametrize("damage", ["missing", "garbage", "empty_tables", "wrong_symbol"])
def test_a_missing_or_corrupt_file_is_stale_and_an_error_never_a_crash(tmp_path, damage):
    path = tmp_path / "chain.sqlite"
    if damage == "garbage":
        path.write_bytes(
            b"SQLite format 3\x00" + bytes(random.Random(1).randrange(256) for _ in range(3000))
        )
    elif damage == "empty_tables":
        import sqlite3

        sqlite3.connect(path).executescript("CREATE TABLE meta (key TEXT, value TEXT);").close()
    elif damage == "wrong_symbol":
        write_seed_db(path, snap(T0, symbol="BANKNIFTY"))
    adapter, _ = poller(path, T0 + timedelta(seconds=1))
    events = adapter.poll()
    assert (
        len(events) == 1
        and isinstance(events[0], StaleDataEvent)
        and math.isinf(events[0].age_seconds)
    )
    assert adapter.poll() == []
    assert adapter.stats()["errors"] == 2 and adapter.stats()["stale"] == 1
    snapshot = adapter.get_market_snapshot()
    assert snapshot["stale"] is True and snapshot["option_chain"] == [] and snapshot["count"] == 0


def test_get_market_snapshot_keeps_the_seed_shape(seed_file):
    adapter, _ = poller(seed_file, T0 + timedelta(seconds=3))
    d = adapter.get_market_snapshot()
    assert set(d) == {
        "option_chain",
        "symbol",
        "exchange",
        "spot_price",
        "expiry",
        "count",
        "snapshot_ts",
        "stale",
    }
    assert (d["symbol"], d["exchange"], d["spot_price"], d["count"]) == ("NIFTY", "NFO", 25010.0, 3)
    assert d["expiry"] == date(2026, 1, 13) and d["snapshot_ts"] == T0 and d["stale"] is False
    row = next(r for r in d["option_chain"] if r["strike"] == 25000.0 and r["option_type"] == "CE")
    assert row["ltp"] == 120.0 and row["bid"] == 119.5


def test_polling_thread_delivers_to_the_sink_and_stops(seed_file):
    clock = SimClock(T0 + timedelta(seconds=2))
    adapter = SeedDbPollingAdapter(seed_file, "NIFTY", poll_interval=0.02, clock=clock)
    adapter.subscribe([CE])
    q: queue.SimpleQueue = queue.SimpleQueue()
    adapter.start(q.put)
    adapter.start(q.put)  # idempotent
    first, second = q.get(timeout=5), q.get(timeout=5)
    adapter.stop()
    adapter.stop()
    assert (
        isinstance(first, ChainEvent) and isinstance(second, TickEvent) and second.instrument == CE
    )
    assert adapter._thread is None


# --- factory ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "market_type", ["websocket", "live_feed", "database", "", "Database_Market"]
)
def test_factory_accepts_only_the_exact_market_types(market_type):
    with pytest.raises(ValueError, match="database_market, live_feed_market"):
        create_market_adapter(market_type, SimpleNamespace(symbol="NIFTY"))


def test_factory_builds_each_adapter_and_requires_its_source(seed_file):
    db = create_market_adapter(
        "database_market", SimpleNamespace(symbol="NIFTY", exchange="NFO", db_path=seed_file, stale_after_seconds=30),
        poll_interval=0.5,
    )  # fmt: skip
    assert (
        isinstance(db, SeedDbPollingAdapter)
        and db.stale_after_seconds == 30
        and db.poll_interval == 0.5
    )
    live = create_market_adapter(
        "live_feed_market", SimpleNamespace(symbol="NIFTY", feed_url="ws://127.0.0.1:1", stale_after_seconds=10),
        seed=3,
    )  # fmt: skip
    assert isinstance(live, LiveFeedMarketAdapter) and live.source_key == (
        "live_feed_market",
        "ws://127.0.0.1:1",
        "NIFTY",
    )
    with pytest.raises(ValueError, match="db_path is required"):
        create_market_adapter("database_market", SimpleNamespace(symbol="NIFTY", db_path=None))
    with pytest.raises(ValueError, match="feed_url is required"):
        create_market_adapter("live_feed_market", SimpleNamespace(symbol="NIFTY"))


# --- reconnect backoff --------------------------------------------------------------------------


def test_backoff_doubles_is_capped_jittered_and_reproducible():
    delays = [backoff_delay(n, 0.5, 8.0, random.Random(42)) for n in range(8)]
    for n, d in enumerate(delays):
        base = min(8.0, 0.5 * 2**n)
        assert 0.5 * base <= d < base
    rng1, rng2 = random.Random(7), random.Random(7)
    assert [backoff_delay(n, 0.5, 8.0, rng1) for n in range(10)] == [
        backoff_delay(n, 0.5, 8.0, rng2) for n in range(10)
    ]
    spread = {round(backoff_delay(3, 0.5, 8.0, random.Random(s)), 6) for s in range(20)}
    assert len(spread) > 10  # jitter really spreads clients out
    assert backoff_delay(1000, 0.5, 8.0, random.Random(0)) < 8.0
