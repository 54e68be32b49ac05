"""The live feed client against the real replay server over a real WebSocket on 127.0.0.1."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import pytest

from optrunner.core.events import ChainEvent, StaleDataEvent, TickEvent
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.instruments.contracts import OptionContract
from optrunner.live.feed_server import FeedServer
from optrunner.market.adapters import LiveFeedMarketAdapter
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import BaseStrategy, Subscriptions

DAY = date(2026, 1, 13)
SPEED = 1200.0  # one market minute every 50 ms


@pytest.fixture(scope="module")
def catalog_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed_catalog")
    generate(
        "NIFTY", DAY, DAY, seed=9, out=root, strikes_each_side=4, horizon_days=7, progress=False
    )
    return root


@pytest.fixture(scope="module")
def snapshots(catalog_root):
    return list(Catalog(catalog_root).snapshots("NIFTY", DAY, DAY))


@pytest.fixture
def option_id(snapshots):
    first = snapshots[0]
    return first.contract(int(np.argmin(np.abs(first.strike - first.spot)))).id


@pytest.fixture
def server(snapshots):
    srv = FeedServer(snapshots, speed=SPEED, heartbeat_interval=0.1)
    srv.start()
    yield srv
    srv.stop()


def make_client(url: str, **kw) -> LiveFeedMarketAdapter:
    kw.setdefault("stale_after_seconds", 5.0)
    return LiveFeedMarketAdapter(url, "NIFTY", backoff_initial=0.05, backoff_max=0.4, seed=1, **kw)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)


class Collector:
    def __init__(self) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.events: list = []

    def __call__(self, event) -> None:
        self.q.put(event)

    def drain(self) -> list:
        while True:
            try:
                self.events.append(self.q.get_nowait())
            except queue.Empty:
                return self.events

    def of(self, kind) -> list:
        return [e for e in self.drain() if isinstance(e, kind)]


def test_the_client_receives_chains_and_ticks_equal_to_the_source(server, snapshots, option_id):
    by_ts = {s.ts: s for s in snapshots}
    client = make_client(server.url)
    client.subscribe([option_id, "NIFTY"])
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(ChainEvent)) >= 3 and len(sink.of(TickEvent)) >= 6)
    finally:
        client.stop()
    for event in sink.of(ChainEvent):
        source = by_ts[event.ts]
        np.testing.assert_array_equal(event.snapshot.key, source.key)
        np.testing.assert_array_equal(event.snapshot.ltp, source.ltp)
        np.testing.assert_array_equal(event.snapshot.delta, source.delta)
        assert event.snapshot.spot == source.spot
    for tick in sink.of(TickEvent):
        source = by_ts[tick.ts]
        if tick.instrument == "NIFTY":
            assert tick.ltp == source.spot
        else:
            i = source.index_of(OptionContract.from_id(option_id))
            assert (tick.ltp, tick.bid, tick.ask) == (source.ltp[i], source.bid[i], source.ask[i])
    ts = [e.ts for e in sink.of(ChainEvent)]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert client.stats()["rejected"] == 0 and client.get_market_snapshot()["snapshot_ts"] == ts[-1]


def test_after_a_dropped_connection_the_client_reconnects_and_resubscribes(server, option_id):
    client = make_client(server.url)
    client.subscribe([option_id])
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(ChainEvent)) >= 2)
        before = len(sink.of(ChainEvent))
        server.disconnect_all()
        wait_for(lambda: client.stats()["reconnects"] >= 1)
        wait_for(lambda: len(sink.of(ChainEvent)) >= before + 3)
        ticks_seen = len(sink.of(TickEvent))
        wait_for(
            lambda: len(sink.of(TickEvent)) > ticks_seen
        )  # the instrument was subscribed again
        assert server.subscribed_instruments() == {option_id}
    finally:
        client.stop()
    ts = [e.ts for e in sink.of(ChainEvent)]
    assert ts == sorted(ts) and len(set(ts)) == len(
        ts
    )  # no repeats, no time travel across the drop


def test_subscribing_and_unsubscribing_while_connected(server, option_id):
    client = make_client(server.url)
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(ChainEvent)) >= 1)
        assert sink.of(TickEvent) == [] and server.subscribed_instruments() == set()
        client.subscribe([option_id])
        wait_for(lambda: len(sink.of(TickEvent)) >= 2)
        client.unsubscribe([option_id])
        wait_for(lambda: server.subscribed_instruments() == set())
        time.sleep(0.1)  # ticks already on the wire may still arrive (and are refused)
        ticks = len(sink.of(TickEvent))
        chains = len(sink.of(ChainEvent))
        wait_for(lambda: len(sink.of(ChainEvent)) >= chains + 3)
        assert len(sink.of(TickEvent)) == ticks
    finally:
        client.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_retries_back_off_while_nothing_listens_then_connect(snapshots):
    port = free_port()
    client = make_client(f"ws://127.0.0.1:{port}")
    sink = Collector()
    client.start(sink)
    late = None
    try:
        time.sleep(1.0)
        failures = client.stats()["errors"]
        # delays 0.025-0.05, 0.05-0.1, 0.1-0.2, then 0.2-0.4 each: 4 to 8 attempts in a second
        assert 3 <= failures <= 9
        late = FeedServer(snapshots, port=port, speed=SPEED, heartbeat_interval=0.1)
        late.start()
        wait_for(lambda: len(sink.of(ChainEvent)) >= 1)
    finally:
        client.stop()
        if late is not None:
            late.stop()


GARBAGE = [
    "not json at all",
    json.dumps({"v": 1, "type": "quote", "ltp": 1}),
    '{"v": 1, "type": "tick", "ts": "2026-01-13T09:30:00+05:30", "instrument": "NIFTY", "ltp": NaN}',
    json.dumps(
        {
            "v": 1,
            "type": "tick",
            "ts": "2026-01-13T09:30:00+05:30",
            "instrument": "NIFTY",
            "ltp": -3,
        }
    ),
    json.dumps(
        {"v": 1, "type": "chain", "ts": "2026-01-13T09:30:00+05:30", "symbol": "NIFTY", "spot": 1}
    ),
    json.dumps({"v": 2, "type": "heartbeat", "ts": "2026-01-13T09:30:00+05:30"}),
    b"\x00\x01binary",
]


def test_garbage_frames_are_rejected_and_counted_and_the_client_keeps_going(server):
    client = make_client(server.url)
    client.subscribe(["NIFTY"])
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(ChainEvent)) >= 1)
        for frame in GARBAGE:
            server.broadcast_raw(frame)
        wait_for(lambda: client.stats()["rejected"] >= len(GARBAGE))
        after = len(sink.of(ChainEvent))
        wait_for(lambda: len(sink.of(ChainEvent)) >= after + 2)
        assert client.connected and client.stats()["reconnects"] == 0
    finally:
        client.stop()
    assert client.stats()["rejected"] == len(GARBAGE)
    assert all(isinstance(e, ChainEvent | TickEvent) for e in sink.drain())


def test_stale_detection_fires_when_the_feed_goes_quiet_even_with_heartbeats(server):
    client = make_client(server.url, stale_after_seconds=1.0)  # data comes every 50 ms
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(ChainEvent)) >= 1)
        server.pause()
        paused_at = time.monotonic()
        wait_for(lambda: len(sink.of(StaleDataEvent)) == 1, timeout=5.0)
        assert time.monotonic() - paused_at >= 0.95
        assert (
            client.last_heartbeat is not None and client.last_heartbeat > paused_at
        )  # heartbeats went on
        stale = sink.of(StaleDataEvent)[0]
        assert stale.symbol == "NIFTY" and stale.age_seconds > 1.0
        assert client.get_market_snapshot()["stale"] is True
        time.sleep(1.2)
        assert len(sink.of(StaleDataEvent)) == 1  # once per quiet spell
        chains = len(sink.of(ChainEvent))
        server.resume()
        wait_for(lambda: len(sink.of(ChainEvent)) > chains)
        assert client.get_market_snapshot()["stale"] is False
    finally:
        client.stop()
    assert client.stats()["stale"] == 1


def test_the_runner_trades_off_the_live_feed_in_its_own_thread(server, option_id):
    class Watcher(BaseStrategy):
        def __init__(self) -> None:
            super().__init__("WATCH")
            self.chains, self.ticks = [], []

        def subscriptions(self) -> Subscriptions:
            return Subscriptions(chains={"NIFTY"}, ticks={option_id})

        def on_chain(self, snapshot):
            self.chains.append(snapshot.ts)
            return ()

        def on_tick(self, tick):
            self.ticks.append(tick.ts)
            return ()

    runner = StrategyRunner(poll_interval=0.1)
    watcher = Watcher()
    client = make_client(server.url)
    runner.register("WATCH", watcher, market=client)  # subscribes the option on the client
    runner.start()
    try:
        wait_for(lambda: len(watcher.chains) >= 3 and len(watcher.ticks) >= 3)
    finally:
        runner.stop()
    assert not client.connected
    metrics = runner.get_metrics()["strategies"]["WATCH"]
    assert (
        metrics["total_ticks"] == len(watcher.chains) + len(watcher.ticks)
        and metrics["total_errors"] == 0
    )
    market_stats = next(iter(runner.get_status()["markets"].values()))
    assert market_stats["snapshots"] >= len(watcher.chains)


def test_the_feed_serve_command_serves_a_catalog_day(catalog_root):
    port = free_port()
    cmd = [sys.executable, "-m", "optrunner.cli", "feed", "serve", "--data", str(catalog_root),
           "--symbol", "nifty", "--date", DAY.isoformat(), "--speed", "600", "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = make_client(f"ws://127.0.0.1:{port}")
    sink = Collector()
    try:
        client.start(sink)
        wait_for(lambda: len(sink.of(ChainEvent)) >= 2, timeout=30)
    finally:
        client.stop()
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert f"Serving NIFTY {DAY} at x600 on ws://127.0.0.1:{port}" in out
    assert sink.of(ChainEvent)[0].ts.date() == DAY


def test_the_feed_serve_command_refuses_a_day_the_catalog_lacks(catalog_root):
    from typer.testing import CliRunner

    from optrunner.cli import app

    result = CliRunner().invoke(
        app,
        ["feed", "serve", "--data", str(catalog_root), "--symbol", "NIFTY", "--date", "2026-01-14"],
    )
    assert result.exit_code == 2 and "no NIFTY chain for 2026-01-14" in result.output
